//! Socket addresses fetched by probes, decoded.
//!
//! A probe cannot know the address family before reading, so it fetches a fixed window:
//! the first 32 bytes of the `struct sockaddr` (enough for `sockaddr_in6`, 28 bytes) and,
//! separately, the string at offset 2 (`sun_path` of `sockaddr_un`). The resolver joins
//! them into one byte value: for AF_UNIX the family followed by the path, otherwise the
//! 32 raw bytes. This module turns that value into an address. No I/O.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// A decoded socket address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockAddr {
    V4 {
        addr: Ipv4Addr,
        port: u16,
    },
    V6 {
        addr: Ipv6Addr,
        port: u16,
    },
    /// `sun_path` bytes; empty for an unnamed or abstract socket (leading NUL).
    Unix(Vec<u8>),
    /// Another family (its number).
    Other(u16),
}

impl SockAddr {
    /// Decodes a value in the layout described in the module header. `None` when it is
    /// shorter than the family needs.
    pub fn decode(b: &[u8]) -> Option<SockAddr> {
        let family = u16::from_le_bytes([*b.first()?, *b.get(1)?]);
        match family {
            AF_INET => {
                let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
                let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
                Some(SockAddr::V4 {
                    addr: Ipv4Addr::from(a),
                    port,
                })
            }
            AF_INET6 => {
                let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
                let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
                Some(SockAddr::V6 {
                    addr: Ipv6Addr::from(a),
                    port,
                })
            }
            AF_UNIX => {
                let p = &b[2..];
                let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
                Some(SockAddr::Unix(p[..end].to_vec()))
            }
            f => Some(SockAddr::Other(f)),
        }
    }

    /// Joins the probe's two fetches: `raw` (first 32 bytes, may be short when the fetch
    /// faulted) and `sun_path` (the string at offset 2, without NUL).
    pub fn join(raw: &[u8], sun_path: &[u8]) -> Vec<u8> {
        if raw.len() >= 2 && u16::from_le_bytes([raw[0], raw[1]]) == AF_UNIX {
            let mut v = raw[..2].to_vec();
            v.extend_from_slice(sun_path);
            v
        } else {
            raw.to_vec()
        }
    }
}

impl fmt::Display for SockAddr {
    /// sysdig's address notation: `1.2.3.4:80`, `::1:80`, the unix path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockAddr::V4 { addr, port } => write!(f, "{addr}:{port}"),
            SockAddr::V6 { addr, port } => write!(f, "{addr}:{port}"),
            SockAddr::Unix(p) => f.write_str(&String::from_utf8_lossy(p)),
            SockAddr::Other(fam) => write!(f, "<family {fam}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_family() {
        let mut v4 = vec![2, 0, 0x1f, 0x90, 127, 0, 0, 1];
        v4.resize(32, 0);
        assert_eq!(SockAddr::decode(&v4).unwrap().to_string(), "127.0.0.1:8080");
        let mut v6 = vec![10, 0, 0, 80, 0, 0, 0, 0];
        v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        v6.resize(32, 0);
        assert_eq!(SockAddr::decode(&v6).unwrap().to_string(), "::1:80");
        let un = SockAddr::join(&[1, 0, b'/', b'r', 0, 0], b"/run/x.sock");
        assert_eq!(
            SockAddr::decode(&un),
            Some(SockAddr::Unix(b"/run/x.sock".to_vec()))
        );
        assert_eq!(SockAddr::decode(&[16, 0]), Some(SockAddr::Other(16)));
        assert_eq!(SockAddr::decode(&[2, 0, 0]), None);
        assert_eq!(SockAddr::decode(&[]), None);
    }
}
