//! Exact TCP endpoints from the kernel's `sock:inet_sock_set_state` tracepoint (4.16+).
//!
//! The addresses connect, accept and getsockname deal in live in user memory, but the kernel
//! reports every TCP state change with both endpoints, synchronously:
//! - `CLOSE → LISTEN` runs inside listen(): the listening fd's local address and port (also
//!   when bind asked for port 0);
//! - `CLOSE → SYN_SENT` runs inside connect(): it names the socket (`skaddr`) the calling
//!   thread's connect is about; its `SYN_SENT → ESTABLISHED` later carries the whole tuple,
//!   local port included;
//! - `SYN_RECV → ESTABLISHED` of a listener's child (in softirq, any task) is a connection
//!   waiting in the accept queue of `saddr:sport`: the kernel queues them first in, first
//!   out, and accept() on that listener takes them in the same order.
//! Only what those records say is recorded; nothing is inferred from timing.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

pub const TCP_ESTABLISHED: i64 = 1;
pub const TCP_SYN_SENT: i64 = 2;
pub const TCP_SYN_RECV: i64 = 3;
pub const TCP_CLOSE: i64 = 7;
pub const TCP_LISTEN: i64 = 10;

/// Bounds: connections that never complete or are never accepted must not pile up.
const MAX_CONNECTING: usize = 65_536;
const MAX_QUEUED: usize = 4096;
const MAX_LISTENERS: usize = 65_536;

/// One endpoint pair as the tracepoint reports it: `s` is the socket's own side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpChange {
    pub skaddr: u64,
    pub oldstate: i64,
    pub newstate: i64,
    pub saddr: IpAddr,
    pub sport: u16,
    pub daddr: IpAddr,
    pub dport: u16,
}

#[derive(Debug, Default)]
pub struct TcpTracker {
    /// Socket → (pid, fd) of the connect() that put it in SYN_SENT.
    connecting: HashMap<u64, (u32, i32)>,
    /// Listener (local address, port) → clients (address, port) waiting to be accepted.
    accept_queue: HashMap<(IpAddr, u16), VecDeque<(IpAddr, u16)>>,
}

impl TcpTracker {
    /// A connect() of `pid`'s `fd` put socket `skaddr` in SYN_SENT.
    pub fn connecting(&mut self, skaddr: u64, pid: u32, fd: i32) {
        if self.connecting.len() >= MAX_CONNECTING {
            self.connecting.clear();
        }
        self.connecting.insert(skaddr, (pid, fd));
    }

    /// The (pid, fd) whose connection on `skaddr` just became established.
    pub fn established(&mut self, skaddr: u64) -> Option<(u32, i32)> {
        self.connecting.remove(&skaddr)
    }

    /// A connection to listener `local` completed its handshake.
    pub fn queue(&mut self, local: (IpAddr, u16), client: (IpAddr, u16)) {
        if self.accept_queue.len() >= MAX_LISTENERS && !self.accept_queue.contains_key(&local) {
            self.accept_queue.clear();
        }
        let q = self.accept_queue.entry(local).or_default();
        if q.len() >= MAX_QUEUED {
            q.pop_front();
        }
        q.push_back(client);
    }

    /// The client of the next connection accepted on listener `local`. A listener bound
    /// to the wildcard address matches connections to any local address on its port.
    pub fn accepted(&mut self, local: (IpAddr, u16)) -> Option<((IpAddr, u16), (IpAddr, u16))> {
        if let Some(c) = self
            .accept_queue
            .get_mut(&local)
            .and_then(VecDeque::pop_front)
        {
            return Some((local, c));
        }
        if local.0.is_unspecified() {
            let key = self
                .accept_queue
                .iter()
                .find(|(k, q)| k.1 == local.1 && !q.is_empty())
                .map(|(k, _)| *k)?;
            let c = self.accept_queue.get_mut(&key)?.pop_front()?;
            return Some((key, c));
        }
        None
    }

    /// The socket `skaddr` is closed: forget its pending connect.
    pub fn closed(&mut self, skaddr: u64) {
        self.connecting.remove(&skaddr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn accept_takes_connections_in_queue_order() {
        let mut t = TcpTracker::default();
        let l = (ip("127.0.0.1"), 80);
        t.queue(l, (ip("127.0.0.1"), 1000));
        t.queue(l, (ip("127.0.0.1"), 1001));
        assert_eq!(t.accepted(l).unwrap().1, (ip("127.0.0.1"), 1000));
        assert_eq!(
            t.accepted((ip("0.0.0.0"), 80)).unwrap(),
            (l, (ip("127.0.0.1"), 1001))
        );
        assert!(t.accepted(l).is_none());
    }

    #[test]
    fn connects_are_found_by_socket() {
        let mut t = TcpTracker::default();
        t.connecting(0xffff_1234, 42, 5);
        assert_eq!(t.established(0xffff_1234), Some((42, 5)));
        assert_eq!(t.established(0xffff_1234), None);
    }
}
