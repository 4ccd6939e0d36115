//! Encoding a .scap file as sysdig 0.29 reads it: section header 1.2, machine info,
//! process list version 9, fd lists version 2, user list version 2, then version-2 event
//! blocks (see [`super::events::encode`]). Pure: every function appends to a buffer.

use super::lists::{self, Fd, Group, Machine, Proc, User};
use crate::params::ParamType as T;

fn block(kind: u32, body: &[u8], out: &mut Vec<u8>) {
    let total = (12 + body.len()).div_ceil(4) * 4;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + total - 12 - body.len(), 0);
    out.extend_from_slice(&(total as u32).to_le_bytes());
}

pub fn section_header(out: &mut Vec<u8>) {
    let mut b = Vec::new();
    b.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&u64::MAX.to_le_bytes());
    block(super::blocks::SHB_TYPE, &b, out);
}

pub fn machine(m: &Machine, out: &mut Vec<u8>) {
    let mut b = Vec::new();
    b.extend_from_slice(&m.num_cpus.to_le_bytes());
    b.extend_from_slice(&m.memory_bytes.to_le_bytes());
    b.extend_from_slice(&m.max_pid.to_le_bytes());
    let mut host = [0u8; 128];
    let h = m.hostname.as_bytes();
    let n = h.len().min(127);
    host[..n].copy_from_slice(&h[..n]);
    b.extend_from_slice(&host);
    b.extend_from_slice(&[0u8; 32]);
    block(lists::MI, &b, out);
}

pub fn proclist(procs: &[Proc], out: &mut Vec<u8>) {
    let mut b = Vec::new();
    for p in procs {
        lists::encode_proc(p, &mut b);
    }
    block(lists::PL_V9, &b, out);
}

pub fn fdlist(tid: u64, fds: &[Fd], out: &mut Vec<u8>) {
    let mut b = tid.to_le_bytes().to_vec();
    for f in fds {
        lists::encode_fd(f, &mut b);
    }
    block(lists::FDL_V2, &b, out);
}

pub fn userlist(users: &[User], groups: &[Group], out: &mut Vec<u8>) {
    let mut b = Vec::new();
    let s = |e: &mut Vec<u8>, t: &str| lists::put_str16(e, t.as_bytes(), lists::MAX_CREDENTIAL);
    for u in users {
        let mut e = vec![0u8];
        e.extend_from_slice(&u.uid.to_le_bytes());
        e.extend_from_slice(&u.gid.to_le_bytes());
        s(&mut e, &u.name);
        s(&mut e, &u.home);
        s(&mut e, &u.shell);
        b.extend_from_slice(&(e.len() as u32 + 4).to_le_bytes());
        b.extend_from_slice(&e);
    }
    for g in groups {
        let mut e = vec![1u8];
        e.extend_from_slice(&g.gid.to_le_bytes());
        s(&mut e, &g.name);
        b.extend_from_slice(&(e.len() as u32 + 4).to_le_bytes());
        b.extend_from_slice(&e);
    }
    block(lists::UL_V2, &b, out);
}

/// Bytes of an integer parameter of type `t` on file.
pub fn int_width(t: T) -> Option<usize> {
    Some(match t {
        T::Int8 | T::Uint8 | T::Flags8 | T::SigType => 1,
        T::Int16 | T::Uint16 | T::Flags16 | T::SyscallId => 2,
        T::Int32 | T::Uint32 | T::Flags32 | T::Mode | T::Uid | T::Gid | T::SigSet => 4,
        T::Int64 | T::Uint64 | T::Fd | T::Pid | T::Errno | T::RelTime | T::AbsTime => 8,
        _ => return None,
    })
}

/// An integer parameter as stored.
pub fn int_param(t: T, v: i64) -> Vec<u8> {
    let w = int_width(t).unwrap_or(8);
    v.to_le_bytes()[..w].to_vec()
}

/// A parameter nobody had: zero, an empty string, or no bytes.
pub fn empty_param(t: T) -> Vec<u8> {
    match t {
        T::CharBuf | T::FsPath | T::FsRelPath => vec![0],
        T::Dyn => vec![0; 9],
        T::FdList => vec![0, 0],
        _ => int_width(t).map_or_else(Vec::new, |w| vec![0; w]),
    }
}

/// A kernel `struct sockaddr_*` as sysdig's sockaddr parameter.
pub fn sockaddr_of_kernel(b: &[u8]) -> Option<Vec<u8>> {
    let family = u16::from_le_bytes(b.get(..2)?.try_into().ok()?);
    let mut out = Vec::new();
    match family {
        2 => {
            out.push(2);
            out.extend_from_slice(b.get(4..8)?);
            let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
            out.extend_from_slice(&port.to_le_bytes());
        }
        10 => {
            out.push(10);
            out.extend_from_slice(b.get(8..24)?);
            let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
            out.extend_from_slice(&port.to_le_bytes());
        }
        1 => {
            out.push(1);
            let p = b.get(2..)?;
            let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
            out.extend_from_slice(&p[..end]);
            out.push(0);
        }
        _ => return None,
    }
    Some(out)
}

/// A rendered `a:p->b:p` socket tuple (tpdig's state) as sysdig's tuple parameter.
pub fn socktuple_of_text(t: &str) -> Option<Vec<u8>> {
    let (a, b) = t.split_once("->")?;
    let a: std::net::SocketAddr = a.parse().ok()?;
    let b: std::net::SocketAddr = b.parse().ok()?;
    let mut out = Vec::new();
    match (a.ip(), b.ip()) {
        (std::net::IpAddr::V4(x), std::net::IpAddr::V4(y)) => {
            out.push(2);
            out.extend_from_slice(&x.octets());
            out.extend_from_slice(&a.port().to_le_bytes());
            out.extend_from_slice(&y.octets());
            out.extend_from_slice(&b.port().to_le_bytes());
        }
        (std::net::IpAddr::V6(x), std::net::IpAddr::V6(y)) => {
            out.push(10);
            out.extend_from_slice(&x.octets());
            out.extend_from_slice(&a.port().to_le_bytes());
            out.extend_from_slice(&y.octets());
            out.extend_from_slice(&b.port().to_le_bytes());
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_lists_read_back() {
        let mut f = Vec::new();
        section_header(&mut f);
        machine(
            &Machine {
                num_cpus: 2,
                hostname: "h".into(),
                ..Machine::default()
            },
            &mut f,
        );
        let p = Proc {
            tid: 7,
            pid: 7,
            comm: b"cat".to_vec(),
            args: b"a\0b\0".to_vec(),
            loginuid: -1,
            ..Proc::default()
        };
        proclist(std::slice::from_ref(&p), &mut f);
        let fd = Fd {
            fd: 3,
            ino: 9,
            kind: lists::fd_type::FILE_V2,
            detail: lists::FdDetail::File {
                flags: 1,
                name: b"/etc/hostname".to_vec(),
                dev: 0,
            },
        };
        fdlist(7, std::slice::from_ref(&fd), &mut f);
        userlist(
            &[User {
                uid: 0,
                name: "root".into(),
                ..User::default()
            }],
            &[],
            &mut f,
        );
        super::super::events::encode(1, 5, 7, 3, &[b"\x03\0\0\0\0\0\0\0", b"/x\0"], &mut f);
        let cap = super::super::read_all(&f).unwrap();
        assert_eq!(cap.procs, vec![p]);
        assert_eq!(cap.fds, vec![(7, fd)]);
        assert_eq!(cap.users[0].name, "root");
        assert_eq!(cap.machine.unwrap().num_cpus, 2);
        assert_eq!(cap.events[0].params.get(1), Some(&b"/x\0"[..]));
    }
}
