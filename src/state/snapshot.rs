//! The state as a capture stores it, and back.
//!
//! A capture carries the /proc snapshot taken when it started (or when a rotated file was
//! opened), so that reading it elsewhere shows the same names. The capture format's records
//! have fixed fields for what every reader needs and tagged extras for the rest; this module
//! maps the state onto them and restores it, keeping unknown extras out of the way.

use super::State;
use super::fds::{FdInfo, FdKind, L4Proto, SockTuple};
use super::process::Process;
use super::threads::{Comm, Thread};
use super::users::{Group, User};
use crate::capture::blocks::{ExtraField, FdInfo as FdRec, GroupInfo, ThreadInfo, UserInfo};
use std::net::IpAddr;

// Extra tags on thread records (never reuse a number).
const X_EUID: u64 = 100;
const X_EGID: u64 = 101;
const X_LOGINUID: u64 = 102;
const X_VTID: u64 = 103;
const X_EXEPATH: u64 = 104;
const X_CONTAINER: u64 = 105;
const X_CGROUPS: u64 = 106;
const X_VPID: u64 = 107;
const X_START: u64 = 108;
const X_HAS_ARGS: u64 = 109;
// Extra tags on fd records.
const X_L4: u64 = 200;
const X_INO: u64 = 201;
const X_TUPLE: u64 = 202;

/// The state's tables as capture records.
#[derive(Default, Debug)]
pub struct Snapshot {
    pub threads: Vec<ThreadInfo>,
    pub fds: Vec<FdRec>,
    pub users: Vec<UserInfo>,
    pub groups: Vec<GroupInfo>,
}

fn num(tag: u64, v: u64) -> ExtraField {
    (tag, v.to_le_bytes().to_vec())
}

fn text(tag: u64, v: &str) -> ExtraField {
    (tag, v.as_bytes().to_vec())
}

fn get_num(extra: &[ExtraField], tag: u64) -> Option<u64> {
    let b = &extra.iter().find(|(t, _)| *t == tag)?.1;
    Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?))
}

fn get_text(extra: &[ExtraField], tag: u64) -> Option<String> {
    let b = &extra.iter().find(|(t, _)| *t == tag)?.1;
    Some(String::from_utf8_lossy(b).into_owned())
}

fn l4_code(p: L4Proto) -> u64 {
    match p {
        L4Proto::Tcp => 1,
        L4Proto::Udp => 2,
        L4Proto::Raw => 3,
        L4Proto::Icmp => 4,
    }
}

fn l4_of(code: u64) -> Option<L4Proto> {
    Some(match code {
        1 => L4Proto::Tcp,
        2 => L4Proto::Udp,
        3 => L4Proto::Raw,
        4 => L4Proto::Icmp,
        _ => return None,
    })
}

fn kind_of(letter: u8) -> FdKind {
    match letter {
        b'f' => FdKind::File,
        b'd' => FdKind::Directory,
        b'4' => FdKind::Ipv4,
        b'6' => FdKind::Ipv6,
        b'u' => FdKind::Unix,
        b'p' => FdKind::Pipe,
        b'e' => FdKind::Event,
        b's' => FdKind::Signal,
        b'l' => FdKind::EventPoll,
        b'i' => FdKind::Inotify,
        b't' => FdKind::Timer,
        b'n' => FdKind::Netlink,
        b'b' => FdKind::Bpf,
        b'r' => FdKind::IoUring,
        b'c' => FdKind::Userfault,
        _ => FdKind::Other,
    }
}

/// `proto|sip|sport|dip|dport|partial`
fn tuple_text(t: &SockTuple) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}",
        t.proto.map_or(0, l4_code),
        t.sip,
        t.sport,
        t.dip,
        t.dport,
        u8::from(t.partial)
    )
}

fn tuple_of(s: &str) -> Option<SockTuple> {
    let f: Vec<&str> = s.split('|').collect();
    if f.len() != 6 {
        return None;
    }
    Some(SockTuple {
        proto: l4_of(f[0].parse().ok()?),
        sip: f[1].parse::<IpAddr>().ok()?,
        sport: f[2].parse().ok()?,
        dip: f[3].parse::<IpAddr>().ok()?,
        dport: f[4].parse().ok()?,
        partial: f[5] == "1",
    })
}

/// Takes the state apart into capture records.
pub fn take(state: &State) -> Snapshot {
    let mut snap = Snapshot::default();
    for t in state.threads.iter() {
        let p = state.process(t.pid);
        let mut r = ThreadInfo {
            tid: t.tid,
            pid: t.pid,
            ppid: p.and_then(|p| p.ppid),
            comm: t.comm.as_bytes().to_vec(),
            uid: t.uid,
            gid: t.gid,
            ..Default::default()
        };
        let x = &mut r.extra;
        if let Some(v) = t.euid {
            x.push(num(X_EUID, v.into()))
        }
        if let Some(v) = t.egid {
            x.push(num(X_EGID, v.into()))
        }
        if let Some(v) = t.loginuid {
            x.push(num(X_LOGINUID, v.into()))
        }
        if let Some(v) = t.vtid {
            x.push(num(X_VTID, v.into()))
        }
        // Process facts ride on the main thread's record (or the first one seen).
        if let Some(p) = p.filter(|_| t.tid == t.pid || state.thread(t.pid).is_none()) {
            r.exe = p.exe.clone().unwrap_or_default().into_bytes();
            r.cwd = p.cwd.clone().unwrap_or_default().into_bytes();
            if let Some(args) = &p.args {
                r.args = args.iter().map(|a| a.as_bytes().to_vec()).collect();
                x.push(num(X_HAS_ARGS, 1));
            }
            if let Some(v) = p.exepath.as_ref() {
                x.push(text(X_EXEPATH, v))
            }
            if let Some(v) = p.container_id.as_ref() {
                x.push(text(X_CONTAINER, v))
            }
            if !p.cgroups.is_empty() {
                let joined: Vec<String> = p
                    .cgroups
                    .iter()
                    .map(|(c, path)| format!("{c}={path}"))
                    .collect();
                x.push(text(X_CGROUPS, &joined.join("\n")));
            }
            if let Some(v) = p.vpid {
                x.push(num(X_VPID, v.into()))
            }
            if let Some(v) = p.start_ts {
                x.push(num(X_START, v))
            }
            if let Some(table) = state.fd_table(p.pid) {
                for fd in table.fds() {
                    let Some(info) = table.get(fd) else { continue };
                    let mut f = FdRec {
                        pid: p.pid,
                        fd: fd as u32,
                        kind: info.kind.letter() as u8,
                        name: info.name.clone().into_bytes(),
                        flags: info.flags.into(),
                        extra: Vec::new(),
                    };
                    if let Some(l) = info.l4 {
                        f.extra.push(num(X_L4, l4_code(l)))
                    }
                    if let Some(i) = info.ino {
                        f.extra.push(num(X_INO, i))
                    }
                    if let Some(s) = info.sock.as_ref() {
                        f.extra.push(text(X_TUPLE, &tuple_text(s)))
                    }
                    snap.fds.push(f);
                }
            }
        }
        snap.threads.push(r);
    }
    snap.users = user_infos(state.users.iter());
    snap.groups = group_infos(state.groups.iter());
    snap
}

/// The snapshot records of users (the gid as extra field 1).
pub fn user_infos<'a>(users: impl Iterator<Item = &'a User>) -> Vec<UserInfo> {
    users
        .map(|u| UserInfo {
            uid: u.uid,
            name: u.name.clone(),
            home: u.home.clone(),
            shell: u.shell.clone(),
            extra: vec![num(1, u.gid.into())],
        })
        .collect()
}

/// The snapshot records of groups.
pub fn group_infos<'a>(groups: impl Iterator<Item = &'a Group>) -> Vec<GroupInfo> {
    groups
        .map(|g| GroupInfo {
            gid: g.gid,
            name: g.name.clone(),
            extra: Vec::new(),
        })
        .collect()
}

/// Adds a capture's records to the state. Entries the state already has are kept: a
/// rotated file's snapshot repeats what the events before it already built.
pub fn restore(state: &mut State, snap: &Snapshot) {
    for r in &snap.threads {
        if state.thread(r.tid).is_some() {
            continue;
        }
        let mut t = Thread::new(r.tid, r.pid);
        t.comm = Comm::from_bytes(&r.comm);
        t.uid = r.uid;
        t.gid = r.gid;
        t.euid = get_num(&r.extra, X_EUID).map(|v| v as u32).or(r.uid);
        t.egid = get_num(&r.extra, X_EGID).map(|v| v as u32).or(r.gid);
        t.loginuid = get_num(&r.extra, X_LOGINUID).map(|v| v as u32);
        t.vtid = get_num(&r.extra, X_VTID).map(|v| v as u32);
        state.threads.put(t);
        let has_process_facts =
            !r.exe.is_empty() || !r.cwd.is_empty() || get_num(&r.extra, X_HAS_ARGS).is_some();
        if state.process(r.pid).is_none() || has_process_facts {
            let p: &mut Process = state.procs.ensure(r.pid, &mut state.fds);
            if r.ppid.is_some() {
                p.ppid = r.ppid;
            }
            if !r.exe.is_empty() {
                p.exe = Some(String::from_utf8_lossy(&r.exe).into_owned());
            }
            if !r.cwd.is_empty() {
                p.cwd = Some(String::from_utf8_lossy(&r.cwd).into_owned());
            }
            if get_num(&r.extra, X_HAS_ARGS).is_some() {
                p.args = Some(
                    r.args
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect(),
                );
            }
            if let Some(v) = get_text(&r.extra, X_EXEPATH) {
                p.exepath = Some(v);
            }
            if let Some(v) = get_text(&r.extra, X_CONTAINER) {
                p.container_id = Some(v);
            }
            if let Some(v) = get_text(&r.extra, X_CGROUPS) {
                p.cgroups = v
                    .lines()
                    .filter_map(|l| {
                        l.split_once('=')
                            .map(|(a, b)| (a.to_string(), b.to_string()))
                    })
                    .collect();
            }
            if let Some(v) = get_num(&r.extra, X_VPID) {
                p.vpid = Some(v as u32);
            }
            if let Some(v) = get_num(&r.extra, X_START) {
                p.start_ts = Some(v);
            }
        }
    }
    for f in &snap.fds {
        let Some(table) = state.fd_table_mut(f.pid) else {
            continue;
        };
        if table.get(f.fd as i32).is_some() {
            continue;
        }
        let mut info = FdInfo::new(
            kind_of(f.kind),
            String::from_utf8_lossy(&f.name).into_owned(),
            f.flags as u32,
        );
        info.l4 = get_num(&f.extra, X_L4).and_then(l4_of);
        info.ino = get_num(&f.extra, X_INO);
        info.sock = get_text(&f.extra, X_TUPLE).and_then(|t| tuple_of(&t));
        table.insert(f.fd as i32, info);
    }
    for u in &snap.users {
        if state.users.get(u.uid).is_none() {
            let gid = get_num(&u.extra, 1).unwrap_or(0) as u32;
            state.users.insert(User {
                uid: u.uid,
                gid,
                name: u.name.clone(),
                home: u.home.clone(),
                shell: u.shell.clone(),
            });
        }
    }
    for g in &snap.groups {
        if state.groups.get(g.gid).is_none() {
            state.groups.insert(Group {
                gid: g.gid,
                name: g.name.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn this_machine_s_state_survives_the_round_trip() {
        let mut live = State::default();
        super::super::proc_scan::scan_state(Path::new("/proc"), Path::new("/etc"), &mut live);
        let snap = take(&live);
        let mut back = State::default();
        restore(&mut back, &snap);
        let me = std::process::id();
        let (a, b) = (live.process(me).unwrap(), back.process(me).unwrap());
        assert_eq!(
            (&a.exe, &a.exepath, &a.cwd, &a.args, a.ppid),
            (&b.exe, &b.exepath, &b.cwd, &b.args, b.ppid)
        );
        assert_eq!(live.thread(me).unwrap().comm, back.thread(me).unwrap().comm);
        assert_eq!(live.fd_table_len(me), back.fd_table_len(me));
        for fd in live.fd_table(me).unwrap().fds() {
            let (x, y) = (live.fd_info(me, fd).unwrap(), back.fd_info(me, fd).unwrap());
            assert_eq!(
                (x.kind, &x.name, x.flags, x.sock, x.l4, x.ino),
                (y.kind, &y.name, y.flags, y.sock, y.l4, y.ino)
            );
        }
        assert_eq!(live.user_name(0), back.user_name(0));
        assert_eq!(live.group_name(0), back.group_name(0));
    }

    #[test]
    fn tuples_round_trip_through_text() {
        let t = SockTuple {
            proto: Some(L4Proto::Tcp),
            sip: "127.0.0.1".parse().unwrap(),
            sport: 40000,
            dip: "::1".parse().unwrap(),
            dport: 80,
            partial: true,
        };
        assert_eq!(tuple_of(&tuple_text(&t)), Some(t));
        assert_eq!(tuple_of("garbage"), None);
    }
}
