//! Socket identities: the /proc/net tables (socket inode → family, protocol, endpoints)
//! and `struct sockaddr` bytes as probes copy them from user memory.
//!
//! `/proc/PID/fd/N` names a socket only by inode (`socket:[N]`); the tables under
//! `/proc/PID/net/` (one set per network namespace) give what sysdig shows. Addresses there
//! are the kernel's `__be32` words printed with `%08X` as host integers, so the text of an
//! IPv4 address is its network-order bytes read as a little-endian u32 on the little-endian
//! machines tpdig runs on (x86_64, aarch64). Everything here is I/O-free.

use super::fds::{FdKind, L4Proto, SockTuple};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One socket from a /proc/net table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetSocket {
    pub kind: FdKind,
    pub l4: Option<L4Proto>,
    /// Local and remote endpoints (inet only).
    pub local: Option<(IpAddr, u16)>,
    pub remote: Option<(IpAddr, u16)>,
    /// TCP state 0x0A: listening.
    pub listening: bool,
    /// Unix socket path (`@name` for abstract ones); empty if unnamed.
    pub path: String,
}

/// Which /proc/net file a text came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetTable {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
    Raw,
    Raw6,
    Unix,
    Netlink,
}

impl NetTable {
    pub const ALL: [NetTable; 8] = [
        NetTable::Tcp,
        NetTable::Tcp6,
        NetTable::Udp,
        NetTable::Udp6,
        NetTable::Raw,
        NetTable::Raw6,
        NetTable::Unix,
        NetTable::Netlink,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            NetTable::Tcp => "tcp",
            NetTable::Tcp6 => "tcp6",
            NetTable::Udp => "udp",
            NetTable::Udp6 => "udp6",
            NetTable::Raw => "raw",
            NetTable::Raw6 => "raw6",
            NetTable::Unix => "unix",
            NetTable::Netlink => "netlink",
        }
    }
}

/// A line that could not be parsed: which table, which line (1-based), why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetParseError {
    pub table: &'static str,
    pub line: usize,
    pub what: &'static str,
}

/// Parses a whole /proc/net table into `out` (inode → socket). Bad lines are returned as
/// errors and skipped; inode 0 (sockets being torn down, time-wait) is ignored.
pub fn parse_table(
    table: NetTable,
    text: &[u8],
    out: &mut HashMap<u64, NetSocket>,
) -> Vec<NetParseError> {
    let text = String::from_utf8_lossy(text);
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let r = match table {
            NetTable::Unix => parse_unix_line(line),
            NetTable::Netlink => parse_netlink_line(line),
            _ => parse_inet_line(table, line),
        };
        match r {
            Ok((ino, s)) if ino != 0 => {
                out.insert(ino, s);
            }
            Ok(_) => {}
            Err(what) => errors.push(NetParseError {
                table: table.file_name(),
                line: i + 1,
                what,
            }),
        }
    }
    errors
}

/// One line of tcp/tcp6/udp/udp6/raw/raw6:
/// `0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 12345 ...`.
pub fn parse_inet_line(table: NetTable, line: &str) -> Result<(u64, NetSocket), &'static str> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    if cols.len() < 10 {
        return Err("too few columns");
    }
    let local = parse_hex_endpoint(cols[1]).ok_or("bad local address")?;
    let remote = parse_hex_endpoint(cols[2]).ok_or("bad remote address")?;
    let st = u8::from_str_radix(cols[3], 16).map_err(|_| "bad state")?;
    let ino: u64 = cols[9].parse().map_err(|_| "bad inode")?;
    let (kind, l4) = match table {
        NetTable::Tcp => (FdKind::Ipv4, L4Proto::Tcp),
        NetTable::Tcp6 => (FdKind::Ipv6, L4Proto::Tcp),
        NetTable::Udp => (FdKind::Ipv4, L4Proto::Udp),
        NetTable::Udp6 => (FdKind::Ipv6, L4Proto::Udp),
        NetTable::Raw => (FdKind::Ipv4, raw_proto(local.1)),
        NetTable::Raw6 => (FdKind::Ipv6, raw_proto(local.1)),
        _ => return Err("not an inet table"),
    };
    let listening = matches!(table, NetTable::Tcp | NetTable::Tcp6) && st == 0x0a;
    Ok((
        ino,
        NetSocket {
            kind,
            l4: Some(l4),
            local: Some(local),
            remote: Some(remote),
            listening,
            path: String::new(),
        },
    ))
}

/// Raw sockets show the IP protocol number where the port would be.
fn raw_proto(port: u16) -> L4Proto {
    if port == 1 || port == 58 {
        L4Proto::Icmp
    } else {
        L4Proto::Raw
    }
}

/// `0100007F:0050` → 127.0.0.1:80; 32 hex digits for IPv6 (four host-order words).
pub fn parse_hex_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(addr, 16).ok()?.to_le_bytes(),
        )),
        32 => {
            let mut b = [0u8; 16];
            for w in 0..4 {
                let word = u32::from_str_radix(addr.get(w * 8..w * 8 + 8)?, 16).ok()?;
                b[w * 4..w * 4 + 4].copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// One line of /proc/net/unix:
/// `0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/x.sock`.
pub fn parse_unix_line(line: &str) -> Result<(u64, NetSocket), &'static str> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    if cols.len() < 7 {
        return Err("too few columns");
    }
    let ino: u64 = cols[6].parse().map_err(|_| "bad inode")?;
    // The path is the rest of the line after the inode (it may contain spaces).
    let path = if cols.len() > 7 {
        let mut rest = line;
        for c in &cols[..7] {
            let at = rest.find(c).ok_or("bad line")? + c.len();
            rest = &rest[at..];
        }
        rest.trim_start().to_string()
    } else {
        String::new()
    };
    // Flags are hex; __SO_ACCEPTCON (0x10000) marks a listening socket.
    let listening = u32::from_str_radix(cols[3], 16).is_ok_and(|f| f & 0x10000 != 0);
    Ok((
        ino,
        NetSocket {
            kind: FdKind::Unix,
            l4: None,
            local: None,
            remote: None,
            listening,
            path,
        },
    ))
}

/// One line of /proc/net/netlink; the inode is the last column.
pub fn parse_netlink_line(line: &str) -> Result<(u64, NetSocket), &'static str> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    if cols.len() < 10 {
        return Err("too few columns");
    }
    let ino: u64 = cols[cols.len() - 1].parse().map_err(|_| "bad inode")?;
    Ok((
        ino,
        NetSocket {
            kind: FdKind::Netlink,
            l4: None,
            local: None,
            remote: None,
            listening: false,
            path: String::new(),
        },
    ))
}

/// A socket address decoded from `struct sockaddr` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockAddr {
    Inet(IpAddr, u16),
    /// A unix path; abstract names start with `@`. Empty for unnamed.
    Unix(String),
    Netlink,
    /// A family we do not decode.
    Other(u16),
}

pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const AF_NETLINK: u16 = 16;

/// Decodes `sockaddr_in`, `sockaddr_in6`, `sockaddr_un` and `sockaddr_nl` (native-endian
/// family, network-order port). None if the bytes are too short for their family.
pub fn decode_sockaddr(b: &[u8]) -> Option<SockAddr> {
    let family = u16::from_ne_bytes(b.get(..2)?.try_into().ok()?);
    match family {
        AF_INET => {
            let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SockAddr::Inet(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        AF_INET6 => {
            let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(SockAddr::Inet(IpAddr::V6(Ipv6Addr::from(ip)), port))
        }
        AF_UNIX => {
            let path = b.get(2..).unwrap_or(&[]);
            if path.first() == Some(&0) && path.len() > 1 {
                // Abstract: the name is every byte after the NUL, up to the given length.
                let name = &path[1..];
                let end = name.iter().rposition(|&c| c != 0).map_or(0, |e| e + 1);
                Some(SockAddr::Unix(format!(
                    "@{}",
                    String::from_utf8_lossy(&name[..end])
                )))
            } else {
                let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
                Some(SockAddr::Unix(
                    String::from_utf8_lossy(&path[..end]).into_owned(),
                ))
            }
        }
        AF_NETLINK => Some(SockAddr::Netlink),
        f => Some(SockAddr::Other(f)),
    }
}

/// Kind of fd a socket of `domain` is.
pub fn kind_of_domain(domain: u64) -> FdKind {
    match domain as u16 {
        AF_INET => FdKind::Ipv4,
        AF_INET6 => FdKind::Ipv6,
        AF_UNIX => FdKind::Unix,
        AF_NETLINK => FdKind::Netlink,
        _ => FdKind::Other,
    }
}

impl NetSocket {
    /// The tuple sysdig shows for this socket. `accepted` says the socket's local side is a
    /// server (its local port has a listener), so the remote is the client.
    pub fn tuple(&self, accepted: bool) -> Option<SockTuple> {
        let (lip, lport) = self.local?;
        let (rip, rport) = self.remote?;
        if self.listening || (rport == 0 && rip.is_unspecified()) {
            return Some(SockTuple::server(self.l4, lip, lport));
        }
        let t = if accepted {
            SockTuple {
                proto: self.l4,
                sip: rip,
                sport: rport,
                dip: lip,
                dport: lport,
                partial: false,
            }
        } else {
            SockTuple {
                proto: self.l4,
                sip: lip,
                sport: lport,
                dip: rip,
                dport: rport,
                partial: false,
            }
        };
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_lines_decode_little_endian_hex() {
        let l = "   0: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 20 4 30 10 -1";
        let (ino, s) = parse_inet_line(NetTable::Tcp, l).unwrap();
        assert_eq!(ino, 12345);
        assert_eq!(s.local, Some(("127.0.0.1".parse().unwrap(), 80)));
        assert_eq!(s.remote, Some(("127.0.0.1".parse().unwrap(), 40000)));
        assert!(!s.listening);
        assert_eq!(
            s.tuple(true).unwrap().text(),
            "127.0.0.1:40000->127.0.0.1:80"
        );
        assert_eq!(
            s.tuple(false).unwrap().text(),
            "127.0.0.1:80->127.0.0.1:40000"
        );
        let listen = "   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0";
        let (_, s) = parse_inet_line(NetTable::Tcp, listen).unwrap();
        assert!(s.listening);
        assert_eq!(s.tuple(false).unwrap().text(), "0.0.0.0:8080");
        assert!(parse_inet_line(NetTable::Tcp, "   0: zz:0050").is_err());
    }

    #[test]
    fn tcp6_and_udp6_lines() {
        let l = "   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0";
        let (ino, s) = parse_inet_line(NetTable::Tcp6, l).unwrap();
        assert_eq!(ino, 4242);
        assert_eq!(s.kind, FdKind::Ipv6);
        assert_eq!(s.tuple(false).unwrap().text(), "::1:22");
        let mapped = "  5: 0000000000000000FFFF00000100007F:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 99 2 0 0";
        let (_, s) = parse_inet_line(NetTable::Udp6, mapped).unwrap();
        assert_eq!(s.l4, Some(L4Proto::Udp));
        assert_eq!(s.local.unwrap().0.to_string(), "::ffff:127.0.0.1");
        assert_eq!(s.local.unwrap().1, 53);
    }

    #[test]
    fn raw_lines_carry_the_protocol_in_the_port() {
        let l = "   1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5150 2 0000000000000000 0";
        let (ino, s) = parse_inet_line(NetTable::Raw, l).unwrap();
        assert_eq!((ino, s.l4), (5150, Some(L4Proto::Icmp)));
    }

    #[test]
    fn unix_and_netlink_lines() {
        let l = "0000000000000000: 00000002 00000000 00010000 0001 01 20385 /run/systemd/journal/stdout";
        let (ino, s) = parse_unix_line(l).unwrap();
        assert_eq!(
            (ino, s.kind, s.path.as_str()),
            (20385, FdKind::Unix, "/run/systemd/journal/stdout")
        );
        assert!(s.listening);
        let (ino, s) =
            parse_unix_line("00000000e63d3766: 00000003 00000000 00000000 0001 03  1498").unwrap();
        assert_eq!((ino, s.path.as_str(), s.listening), (1498, "", false));
        let (_, s) = parse_unix_line(
            "0000000000000000: 00000002 00000000 00000000 0002 01 30 @abstract name",
        )
        .unwrap();
        assert_eq!(s.path, "@abstract name");
        let n = "00000000b59712e1 4   0          00000000 0        0        0     2        0        1427    ";
        let (ino, s) = parse_netlink_line(n).unwrap();
        assert_eq!((ino, s.kind), (1427, FdKind::Netlink));
    }

    #[test]
    fn whole_tables_skip_header_and_report_bad_lines() {
        let text = b"  sl  local_address rem_address   st\n   0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 11 1 0\n garbage\n";
        let mut m = HashMap::new();
        let errs = parse_table(NetTable::Tcp, text, &mut m);
        assert!(m.contains_key(&11));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 3);
    }

    #[test]
    fn sockaddrs_decode() {
        let mut sin = vec![2u8, 0, 0x1f, 0x90, 127, 0, 0, 1];
        sin.extend([0u8; 8]);
        assert_eq!(
            decode_sockaddr(&sin),
            Some(SockAddr::Inet("127.0.0.1".parse().unwrap(), 8080))
        );
        let mut sin6 = vec![10u8, 0, 0, 80, 0, 0, 0, 0];
        let mut a = [0u8; 16];
        a[15] = 1;
        sin6.extend(a);
        sin6.extend([0u8; 4]);
        assert_eq!(
            decode_sockaddr(&sin6),
            Some(SockAddr::Inet("::1".parse().unwrap(), 80))
        );
        let mut sun = vec![1u8, 0];
        sun.extend(b"/run/x.sock\0\0\0");
        assert_eq!(
            decode_sockaddr(&sun),
            Some(SockAddr::Unix("/run/x.sock".into()))
        );
        let abs = [1u8, 0, 0, b'a', b'b'];
        assert_eq!(decode_sockaddr(&abs), Some(SockAddr::Unix("@ab".into())));
        assert_eq!(decode_sockaddr(&[2u8, 0, 0]), None);
        assert_eq!(decode_sockaddr(&[]), None);
    }
}
