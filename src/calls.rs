//! System calls in flight, per thread: what the entry said, for the exit to use.
//!
//! raw_syscalls' exit record carries only the number and the result; sysdig's exit lines
//! show the entry's arguments too (`< openat fd=3(<f>/etc/passwd) dirfd=... flags=...`),
//! effects need them (the fd `close` closed), and `evt.latency` needs the entry time. Exact
//! user-memory values copied by probes during the call are attached here as well.

use crate::fasthash::IntMap;

/// Where an exact user-memory value came from (reported by `-v`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueSource {
    /// A field of a kernel tracepoint record.
    KernelField,
    /// An event probe on a syscalls:sys_enter_* tracepoint.
    Eprobe,
    /// A kprobe event.
    Kprobe,
    /// A uprobe event on a C library function.
    Uprobe,
}

#[derive(Clone, Debug)]
pub struct Call {
    pub nr: i64,
    pub args: [u64; 6],
    /// Wall-clock ns of the entry.
    pub ts: u64,
    /// Exact user-memory values by argument index.
    pub resolved: Vec<(usize, Vec<u8>, ValueSource)>,
}

/// The I/O data of a read or write exit (`ret` its result): as copied during the call; when
/// data is being copied (`captured`) a call that moved nothing has empty data; otherwise
/// none (shown as missing).
pub fn io_data(call: Option<&Call>, ret: Option<i64>, captured: bool) -> Option<&[u8]> {
    if let Some(d) = call.and_then(|c| c.resolved(crate::probes::io_data::DATA_ARG)) {
        return Some(d);
    }
    (captured && ret.is_some_and(|r| r <= 0)).then_some(&[])
}

impl Call {
    pub fn resolved(&self, arg: usize) -> Option<&[u8]> {
        self.resolved
            .iter()
            .find(|(a, _, _)| *a == arg)
            .map(|(_, v, _)| v.as_slice())
    }
}

/// Bounded like the thread table: a thread that never returns (killed mid-call, or whose
/// exit record was dropped) must not keep its entry forever.
#[derive(Debug, Default)]
pub struct InFlight {
    calls: IntMap<u32, Call>,
}

/// More in-flight calls than this means records were lost; start over.
const MAX_IN_FLIGHT: usize = 1 << 17;

impl InFlight {
    pub fn enter(&mut self, tid: u32, call: Call) {
        if self.calls.len() >= MAX_IN_FLIGHT {
            self.calls.clear();
        }
        self.calls.insert(tid, call);
    }

    /// The call the thread is in, if its entry was seen and matches `nr`.
    pub fn current(&self, tid: u32) -> Option<&Call> {
        self.calls.get(&tid)
    }

    pub fn current_mut(&mut self, tid: u32) -> Option<&mut Call> {
        self.calls.get_mut(&tid)
    }

    /// Ends the thread's call: returns it when its number matches the exit's.
    pub fn exit(&mut self, tid: u32, nr: i64) -> Option<Call> {
        let c = self.calls.remove(&tid)?;
        (c.nr == nr).then_some(c)
    }

    pub fn forget(&mut self, tid: u32) {
        self.calls.remove(&tid);
    }
}
