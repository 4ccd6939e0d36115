//! The non-event blocks: machine info, process list (versions 1 to 9), fd lists (1, 2),
//! user and group list (1, 2), interface list (validated, not kept).
//!
//! Newer block versions only append fields; versions 9 (processes) and 2 (fds, users)
//! prefix each entry with its length, so fields a later sysdig adds are skipped.

use super::ScapError;
use super::blocks::{Block, Rd};

pub const MI: u32 = 0x201;
pub const MI_INT: u32 = 0x8002_ABCD;
pub const PL_V1: u32 = 0x202;
pub const PL_V1_INT: u32 = 0x8000_ABCD;
pub const PL_V2: u32 = 0x207;
pub const PL_V2_INT: u32 = 0x8013_ABCD;
pub const PL_V3: u32 = 0x209;
pub const PL_V3_INT: u32 = 0x8014_ABCD;
pub const PL_V4: u32 = 0x210;
pub const PL_V5: u32 = 0x211;
pub const PL_V6: u32 = 0x212;
pub const PL_V7: u32 = 0x213;
pub const PL_V8: u32 = 0x214;
pub const PL_V9: u32 = 0x215;
pub const FDL: u32 = 0x203;
pub const FDL_INT: u32 = 0x8001_ABCD;
pub const FDL_V2: u32 = 0x218;
pub const IL: u32 = 0x205;
pub const IL_INT: u32 = 0x8011_ABCD;
pub const IL_V2: u32 = 0x219;
pub const UL: u32 = 0x206;
pub const UL_INT: u32 = 0x8012_ABCD;
pub const UL_V2: u32 = 0x220;

/// The machine info block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    pub num_cpus: u32,
    pub memory_bytes: u64,
    pub max_pid: u64,
    pub hostname: String,
}

/// One thread of the process list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proc {
    pub tid: u64,
    pub pid: u64,
    pub ptid: u64,
    pub sid: u64,
    pub vpgid: u64,
    pub comm: Vec<u8>,
    pub exe: Vec<u8>,
    pub exepath: Vec<u8>,
    /// NUL-separated arguments after argv[0].
    pub args: Vec<u8>,
    pub cwd: Vec<u8>,
    pub fdlimit: u64,
    pub flags: u32,
    pub uid: u32,
    pub gid: u32,
    pub vmsize_kb: u32,
    pub vmrss_kb: u32,
    pub vmswap_kb: u32,
    pub pfmajor: u64,
    pub pfminor: u64,
    pub env: Vec<u8>,
    pub vtid: i64,
    pub vpid: i64,
    pub cgroups: Vec<u8>,
    pub root: Vec<u8>,
    pub loginuid: i32,
}

/// sysdig's fd types (`scap_fd_type`).
pub mod fd_type {
    pub const UNKNOWN: u8 = 0;
    pub const FILE: u8 = 1;
    pub const DIRECTORY: u8 = 2;
    pub const IPV4_SOCK: u8 = 3;
    pub const IPV6_SOCK: u8 = 4;
    pub const IPV4_SERVSOCK: u8 = 5;
    pub const IPV6_SERVSOCK: u8 = 6;
    pub const FIFO: u8 = 7;
    pub const UNIX_SOCK: u8 = 8;
    pub const EVENT: u8 = 9;
    pub const UNSUPPORTED: u8 = 10;
    pub const SIGNALFD: u8 = 11;
    pub const EVENTPOLL: u8 = 12;
    pub const INOTIFY: u8 = 13;
    pub const TIMERFD: u8 = 14;
    pub const NETLINK: u8 = 15;
    pub const FILE_V2: u8 = 16;
}

/// What an fd entry holds beyond its number, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdDetail {
    Name(Vec<u8>),
    File {
        flags: u32,
        name: Vec<u8>,
        dev: u32,
    },
    Ipv4(InetPair<4>),
    Ipv4Server(InetServer<4>),
    Ipv6(InetPair<16>),
    Ipv6Server(InetServer<16>),
    Unix {
        source: u64,
        dest: u64,
        name: Vec<u8>,
    },
    None,
}

/// Both ends of an inet socket; `N` is 4 (IPv4) or 16 (IPv6) address bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InetPair<const N: usize> {
    pub sip: [u8; N],
    pub dip: [u8; N],
    pub sport: u16,
    pub dport: u16,
    pub l4: u8,
}

/// A listening inet socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InetServer<const N: usize> {
    pub ip: [u8; N],
    pub port: u16,
    pub l4: u8,
}

fn ip_of<const N: usize>(b: &[u8; N]) -> std::net::IpAddr {
    match <[u8; 4]>::try_from(&b[..]) {
        Ok(v4) => std::net::Ipv4Addr::from(v4).into(),
        Err(_) => {
            let mut v6 = [0u8; 16];
            v6[..N.min(16)].copy_from_slice(&b[..N.min(16)]);
            std::net::Ipv6Addr::from(v6).into()
        }
    }
}

impl<const N: usize> InetPair<N> {
    fn read(r: &mut Rd<'_>) -> Result<Self, ScapError> {
        let w = "inet fd entry";
        Ok(InetPair {
            sip: r.bytes(N, w)?.try_into().expect("N bytes"),
            dip: r.bytes(N, w)?.try_into().expect("N bytes"),
            sport: r.u16(w)?,
            dport: r.u16(w)?,
            l4: r.u8(w)?,
        })
    }

    fn write(&self, e: &mut Vec<u8>) {
        e.extend_from_slice(&self.sip);
        e.extend_from_slice(&self.dip);
        e.extend_from_slice(&self.sport.to_le_bytes());
        e.extend_from_slice(&self.dport.to_le_bytes());
        e.push(self.l4);
    }

    /// sysdig's fd name: `sip:sport->dip:dport`.
    pub fn name(&self) -> String {
        format!(
            "{}:{}->{}:{}",
            ip_of(&self.sip),
            self.sport,
            ip_of(&self.dip),
            self.dport
        )
    }
}

impl<const N: usize> InetServer<N> {
    fn read(r: &mut Rd<'_>) -> Result<Self, ScapError> {
        let w = "inet fd entry";
        Ok(InetServer {
            ip: r.bytes(N, w)?.try_into().expect("N bytes"),
            port: r.u16(w)?,
            l4: r.u8(w)?,
        })
    }

    fn write(&self, e: &mut Vec<u8>) {
        e.extend_from_slice(&self.ip);
        e.extend_from_slice(&self.port.to_le_bytes());
        e.push(self.l4);
    }

    /// sysdig's fd name: `ip:port`.
    pub fn name(&self) -> String {
        format!("{}:{}", ip_of(&self.ip), self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fd {
    pub fd: i64,
    pub ino: u64,
    pub kind: u8,
    pub detail: FdDetail,
}

/// The user and group list entries: the same records /etc/passwd and /etc/group give.
pub use crate::state::users::{Group, User};

/// A block's content, decoded.
pub enum Content {
    Section,
    Machine(Machine),
    Procs(Vec<Proc>),
    /// The tid whose fd table this is, and its entries.
    Fds(u64, Vec<Fd>),
    Users(Vec<User>, Vec<Group>),
    Interfaces,
    /// An event block: decode with [`super::events::ScapEvent::parse`].
    Event,
    Unknown,
}

fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

impl Content {
    pub fn of(b: &Block<'_>) -> Result<Content, ScapError> {
        Ok(match b.kind {
            super::blocks::SHB_TYPE => Content::Section,
            MI | MI_INT => Content::Machine(machine(b)?),
            PL_V1 | PL_V1_INT | PL_V2 | PL_V2_INT | PL_V3 | PL_V3_INT | PL_V4 | PL_V5 | PL_V6
            | PL_V7 | PL_V8 | PL_V9 => Content::Procs(procs(b)?),
            FDL | FDL_INT | FDL_V2 => {
                let (tid, fds) = fds(b)?;
                Content::Fds(tid, fds)
            }
            UL | UL_INT | UL_V2 => {
                let (u, g) = users(b)?;
                Content::Users(u, g)
            }
            IL | IL_INT | IL_V2 => {
                interfaces(b)?;
                Content::Interfaces
            }
            k if super::events::is_event_block(k) => Content::Event,
            _ => Content::Unknown,
        })
    }
}

fn machine(b: &Block<'_>) -> Result<Machine, ScapError> {
    let mut r = Rd::new(b.body, b.at(0));
    let num_cpus = r.u32("machine info")?;
    let memory_bytes = r.u64("machine info")?;
    let max_pid = r.u64("machine info")?;
    let hostname = text(r.bytes(128, "machine info hostname")?);
    Ok(Machine {
        num_cpus,
        memory_bytes,
        max_pid,
        hostname,
    })
}

fn procs(b: &Block<'_>) -> Result<Vec<Proc>, ScapError> {
    let version = match b.kind {
        PL_V1 | PL_V1_INT => 1,
        PL_V2 | PL_V2_INT => 2,
        PL_V3 | PL_V3_INT => 3,
        k => k - PL_V4 + 4,
    };
    let mut r = Rd::new(b.body, b.at(0));
    let mut out = Vec::new();
    while r.left() >= 4 {
        let start = r.pos;
        let sub_len = if version >= 9 {
            r.u32("process entry length")? as usize
        } else {
            0
        };
        let w = "process entry";
        let mut p = Proc {
            vtid: -1,
            vpid: -1,
            loginuid: -1,
            ..Proc::default()
        };
        p.tid = r.u64(w)?;
        p.pid = r.u64(w)?;
        p.ptid = r.u64(w)?;
        if version >= 6 {
            p.sid = r.u64(w)?;
        }
        if version >= 8 {
            p.vpgid = r.u64(w)?;
        }
        p.comm = r.str16("process comm")?.to_vec();
        p.exe = r.str16("process exe")?.to_vec();
        if version >= 7 {
            p.exepath = r.str16("process exepath")?.to_vec();
        }
        p.args = r.str16("process args")?.to_vec();
        p.cwd = r.str16("process cwd")?.to_vec();
        p.fdlimit = r.u64(w)?;
        p.flags = r.u32(w)?;
        p.uid = r.u32(w)?;
        p.gid = r.u32(w)?;
        if version >= 2 {
            p.vmsize_kb = r.u32(w)?;
            p.vmrss_kb = r.u32(w)?;
            p.vmswap_kb = r.u32(w)?;
            p.pfmajor = r.u64(w)?;
            p.pfminor = r.u64(w)?;
        }
        if version >= 3 {
            p.env = r.str16("process env")?.to_vec();
        }
        if version >= 4 {
            p.vtid = r.u64(w)? as i64;
            p.vpid = r.u64(w)? as i64;
            p.cgroups = r.str16("process cgroups")?.to_vec();
        }
        if version >= 5 {
            p.root = r.str16("process root")?.to_vec();
        }
        if sub_len != 0 {
            let read = r.pos - start;
            if read + 4 <= sub_len {
                p.loginuid = r.u32(w)? as i32;
            }
            let read = r.pos - start;
            if read > sub_len {
                return Err(ScapError::at(
                    b.at(start),
                    format!("process entry says {sub_len} bytes but its fields take {read}"),
                ));
            }
            r.bytes(sub_len - read, "process entry")?;
        }
        out.push(p);
    }
    Ok(out)
}

fn fds(b: &Block<'_>) -> Result<(u64, Vec<Fd>), ScapError> {
    let mut r = Rd::new(b.body, b.at(0));
    let tid = r.u64("fd list tid")?;
    let mut out = Vec::new();
    while r.left() >= 4 {
        let start = r.pos;
        let sub_len = if b.kind == FDL_V2 {
            r.u32("fd entry length")? as usize
        } else {
            0
        };
        let w = "fd entry";
        let fd = r.u64(w)? as i64;
        let ino = r.u64(w)?;
        let kind = r.u8(w)?;
        use fd_type::*;
        let detail = match kind {
            IPV4_SOCK => FdDetail::Ipv4(InetPair::read(&mut r)?),
            IPV4_SERVSOCK => FdDetail::Ipv4Server(InetServer::read(&mut r)?),
            IPV6_SOCK => FdDetail::Ipv6(InetPair::read(&mut r)?),
            IPV6_SERVSOCK => FdDetail::Ipv6Server(InetServer::read(&mut r)?),
            UNIX_SOCK => FdDetail::Unix {
                source: r.u64(w)?,
                dest: r.u64(w)?,
                name: r.str16("unix socket name")?.to_vec(),
            },
            FILE_V2 => {
                let flags = r.u32(w)?;
                let name = r.str16("file name")?.to_vec();
                let dev = if sub_len != 0 && sub_len >= r.pos - start + 4 {
                    r.u32(w)?
                } else {
                    0
                };
                FdDetail::File { flags, name, dev }
            }
            FIFO | FILE | DIRECTORY | UNSUPPORTED | EVENT | SIGNALFD | EVENTPOLL | INOTIFY
            | TIMERFD | NETLINK => FdDetail::Name(r.str16("fd name")?.to_vec()),
            UNKNOWN => FdDetail::None,
            k => {
                return Err(ScapError::at(
                    b.at(r.pos - 1),
                    format!("fd {fd} of thread {tid} has unknown type {k}"),
                ));
            }
        };
        if sub_len != 0 {
            let read = r.pos - start;
            if read > sub_len {
                return Err(ScapError::at(
                    b.at(start),
                    format!("fd entry says {sub_len} bytes but its fields take {read}"),
                ));
            }
            r.bytes(sub_len - read, w)?;
        }
        out.push(Fd {
            fd,
            ino,
            kind,
            detail,
        });
    }
    Ok((tid, out))
}

fn users(b: &Block<'_>) -> Result<(Vec<User>, Vec<Group>), ScapError> {
    let mut r = Rd::new(b.body, b.at(0));
    let (mut users, mut groups) = (Vec::new(), Vec::new());
    let s = |r: &mut Rd<'_>, w: &str| -> Result<String, ScapError> { Ok(text(r.str16(w)?)) };
    while r.left() >= 4 {
        let start = r.pos;
        let sub_len = if b.kind == UL_V2 {
            r.u32("user entry length")? as usize
        } else {
            0
        };
        let kind = r.u8("user entry type")?;
        if kind == 0 {
            users.push(User {
                uid: r.u32("user uid")?,
                gid: r.u32("user gid")?,
                name: s(&mut r, "user name")?,
                home: s(&mut r, "user home")?,
                shell: s(&mut r, "user shell")?,
            });
        } else {
            groups.push(Group {
                gid: r.u32("group gid")?,
                name: s(&mut r, "group name")?,
            });
        }
        if sub_len != 0 {
            let read = r.pos - start;
            if read > sub_len {
                return Err(ScapError::at(
                    b.at(start),
                    format!("user entry says {sub_len} bytes but its fields take {read}"),
                ));
            }
            r.bytes(sub_len - read, "user entry")?;
        }
    }
    Ok((users, groups))
}

/// Walks the interface list to check its framing; tpdig does not use the addresses.
fn interfaces(b: &Block<'_>) -> Result<(), ScapError> {
    let mut r = Rd::new(b.body, b.at(0));
    while r.left() >= 4 {
        if b.kind == IL_V2 {
            let n = r.u32("interface entry length")? as usize;
            r.bytes(n, "interface entry")?;
            continue;
        }
        let at = r.offset();
        let kind = r.u16("interface type")?;
        let namelen = usize::from(r.u16("interface name length")?);
        let body = match kind {
            1 => 4 * 3 + 8,  // IPv4: addr, netmask, bcast, linkspeed
            2 => 16 * 3 + 8, // IPv6
            3 => 4 * 3,      // IPv4 without link speed
            4 => 16 * 3,     // IPv6 without link speed
            k => return Err(ScapError::at(at, format!("unknown interface type {k}"))),
        };
        r.bytes(body + namelen, "interface entry")?;
    }
    Ok(())
}

/// The longest strings sysdig's reader takes in list entries (libscap's SCAP_MAX_PATH_SIZE,
/// SCAP_MAX_ARGS_SIZE, SCAP_MAX_ENV_SIZE, SCAP_MAX_CGROUPS_SIZE). A longer one makes it refuse
/// the whole file ("invalid argslen"), so the writer cuts each string to its limit, as
/// sysdig's own capture does. File names must be shorter than the path limit.
pub const MAX_PATH: usize = 1024;
pub const MAX_ARGS: usize = 4096;
pub const MAX_FD_NAME: usize = MAX_PATH - 1;
/// User and group names, homes and shells: shorter than libscap's MAX_CREDENTIALS_STR_LEN.
pub const MAX_CREDENTIAL: usize = 255;

/// Appends `b`, cut to `max` bytes, with its 16-bit length before it.
pub fn put_str16(e: &mut Vec<u8>, b: &[u8], max: usize) {
    let b = &b[..b.len().min(max)];
    e.extend_from_slice(&(b.len() as u16).to_le_bytes());
    e.extend_from_slice(b);
}

/// Writes `p` as sysdig's process list version 9 entry (with its length prefix).
pub fn encode_proc(p: &Proc, out: &mut Vec<u8>) {
    let mut e = Vec::with_capacity(256);
    for v in [p.tid, p.pid, p.ptid, p.sid, p.vpgid] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    put_str16(&mut e, &p.comm, MAX_PATH);
    put_str16(&mut e, &p.exe, MAX_PATH);
    put_str16(&mut e, &p.exepath, MAX_PATH);
    put_str16(&mut e, &p.args, MAX_ARGS);
    put_str16(&mut e, &p.cwd, MAX_PATH);
    e.extend_from_slice(&p.fdlimit.to_le_bytes());
    for v in [p.flags, p.uid, p.gid, p.vmsize_kb, p.vmrss_kb, p.vmswap_kb] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(&p.pfmajor.to_le_bytes());
    e.extend_from_slice(&p.pfminor.to_le_bytes());
    put_str16(&mut e, &p.env, MAX_ARGS);
    e.extend_from_slice(&p.vtid.to_le_bytes());
    e.extend_from_slice(&p.vpid.to_le_bytes());
    put_str16(&mut e, &p.cgroups, MAX_ARGS);
    put_str16(&mut e, &p.root, MAX_PATH);
    e.extend_from_slice(&p.loginuid.to_le_bytes());
    out.extend_from_slice(&(e.len() as u32 + 4).to_le_bytes());
    out.extend_from_slice(&e);
}

/// Writes one fd entry of an fd list version 2 block.
pub fn encode_fd(f: &Fd, out: &mut Vec<u8>) {
    let mut e = Vec::with_capacity(64);
    e.extend_from_slice(&f.fd.to_le_bytes());
    e.extend_from_slice(&f.ino.to_le_bytes());
    e.push(f.kind);
    let s = |e: &mut Vec<u8>, b: &[u8]| put_str16(e, b, MAX_FD_NAME);
    match &f.detail {
        FdDetail::Name(n) => s(&mut e, n),
        FdDetail::File { flags, name, dev } => {
            e.extend_from_slice(&flags.to_le_bytes());
            s(&mut e, name);
            e.extend_from_slice(&dev.to_le_bytes());
        }
        FdDetail::Ipv4(x) => x.write(&mut e),
        FdDetail::Ipv4Server(x) => x.write(&mut e),
        FdDetail::Ipv6(x) => x.write(&mut e),
        FdDetail::Ipv6Server(x) => x.write(&mut e),
        FdDetail::Unix { source, dest, name } => {
            e.extend_from_slice(&source.to_le_bytes());
            e.extend_from_slice(&dest.to_le_bytes());
            s(&mut e, name);
        }
        FdDetail::None => {}
    }
    out.extend_from_slice(&(e.len() as u32 + 4).to_le_bytes());
    out.extend_from_slice(&e);
}
