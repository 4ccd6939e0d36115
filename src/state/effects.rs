//! What a syscall did to the state, applied at its exit.
//!
//! Called once per completed call with the enter arguments, the return value and the
//! user-memory values probes copied during the call (`resolved(i)`: the bytes of argument
//! `i`, exact or absent). I/O-free: the same code runs for live capture and for files.
//!
//! Conventions for resolved bytes, by argument: paths and names are the string bytes (a
//! trailing NUL is allowed); argv (execve arg 1, execveat arg 2) is the arguments joined
//! by NULs as in /proc/PID/cmdline; `struct sockaddr` arguments are the raw structure;
//! `int[2]` (pipe, socketpair) is 8 native-endian bytes; clone3's `clone_args` and
//! openat2's `open_how` are the raw structures (only the leading u64 flags are read).
//! Effects that need a value we do not have keep what is certain (an fd exists, of this
//! kind) and leave names missing; calls whose fds live only in user memory (pipe without
//! the array) add nothing and are counted in `State::stats.unresolved`.

use super::fds::{FdInfo, FdKind, L4Proto, O_CLOEXEC, SockTuple, unspecified_like};
use super::netsock::{SockAddr, decode_sockaddr, kind_of_domain};
use super::{State, paths};

const AT_FDCWD: i32 = -100;
const O_WRONLY: u32 = 0o1;
const O_CREAT: u32 = 0o100;
const O_TRUNC: u32 = 0o1000;
const O_DIRECTORY: u32 = 0o200_000;
const O_NONBLOCK: u32 = 0o4000;
/// Status flags `fcntl(F_SETFL)` may change.
const SETFL_MASK: u32 = 0o2000 | O_NONBLOCK | 0o20000 | 0o40000 | 0o1_000_000;
const EINPROGRESS: i64 = 115;
const F_DUPFD: u64 = 0;
const F_SETFD: u64 = 2;
const F_SETFL: u64 = 4;
const F_DUPFD_CLOEXEC: u64 = 1030;
const FD_CLOEXEC: u64 = 1;
const CLOSE_RANGE_UNSHARE: u64 = 1 << 1;
const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;
const MFD_CLOEXEC: u64 = 1;
const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
const SIGCHLD: u64 = 17;

/// Every system call whose exit changes the state here (or, `listen` and `connect`, whose
/// arguments the socket-state records are matched with: `State::on_tcp_change`). The one
/// list of them: the kernel filters keep these calls when the user's filter would drop
/// them, and a capture that opens per-syscall tracepoints opens these too, so that names
/// stay right. `every_call_that_changes_state_is_listed` holds `apply_exit` to it.
pub const STATE_CALLS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "socket",
    "socketpair",
    "accept",
    "accept4",
    "connect",
    "bind",
    "listen",
    "pipe",
    "pipe2",
    "eventfd",
    "eventfd2",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "inotify_init",
    "inotify_init1",
    "epoll_create",
    "epoll_create1",
    "memfd_create",
    "memfd_secret",
    "pidfd_open",
    "userfaultfd",
    "io_uring_setup",
    "perf_event_open",
    "fanotify_init",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "unshare",
    "execve",
    "execveat",
    "chdir",
    "fchdir",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
];

/// Applies the effect of syscall `name` made by `tid` of process `pid`, which returned
/// `ret`. `args` are the enter arguments; `resolved(i)` the user-memory bytes of argument
/// `i` if a synchronous source copied them. `_ts` is the exit time (kept for callers that
/// record when an fd was opened).
#[allow(clippy::too_many_arguments)]
pub fn apply_exit<'r>(
    st: &mut State,
    tid: u32,
    pid: u32,
    name: &str,
    args: &[u64; 6],
    ret: i64,
    resolved: &dyn Fn(usize) -> Option<&'r [u8]>,
    _ts: u64,
) {
    st.touch(tid, pid);
    let a = |i: usize| args[i];
    let fd_arg = |i: usize| args[i] as i32;
    let text = |i: usize| resolved(i).map(bytes_text);
    match name {
        "clone" | "fork" | "vfork" | "clone3" => {
            if ret <= 0 {
                return;
            }
            let flags = match name {
                "clone" => Some(a(0)),
                "fork" => Some(SIGCHLD),
                "vfork" => Some(CLONE_VM | CLONE_VFORK | SIGCHLD),
                _ => {
                    resolved(0).and_then(|b| Some(u64::from_ne_bytes(b.get(..8)?.try_into().ok()?)))
                }
            };
            st.on_new_task(tid, pid, ret as u32, flags, None);
        }
        "execve" | "execveat" => {
            if ret != 0 {
                return;
            }
            let (path_i, argv_i) = if name == "execve" { (0, 1) } else { (1, 2) };
            let path = text(path_i);
            let base = if name == "execveat" {
                dir_base(st, pid, fd_arg(0))
            } else {
                cwd(st, pid)
            };
            let argv = resolved(argv_i).map(super::proc_files::parse_cmdline);
            // sched_process_exec normally came first; closing again is a no-op.
            st.on_exec_effects(pid);
            if let Some(p) = st.procs.get_mut(pid) {
                if let Some(abs) = path.and_then(|path| paths::absolute(&path, base.as_deref())) {
                    p.exepath = Some(abs);
                }
                if let Some(argv) = argv {
                    let mut it = argv.into_iter();
                    p.exe = it.next();
                    p.args = Some(it.collect());
                }
            }
        }
        "chdir" => {
            if ret != 0 {
                return;
            }
            let new = text(0).and_then(|p| paths::absolute(&p, cwd(st, pid).as_deref()));
            if new.is_none() {
                st.stats.unresolved += 1;
            }
            if let Some(p) = st.procs.get_mut(pid) {
                p.cwd = new;
            }
        }
        "fchdir" => {
            if ret != 0 {
                return;
            }
            let new = st
                .fd_info(pid, fd_arg(0))
                .filter(|f| f.name_known() && f.name.starts_with('/'))
                .map(|f| f.name.clone());
            if let Some(p) = st.procs.get_mut(pid) {
                p.cwd = new;
            }
        }
        "setuid" | "setreuid" | "setresuid" | "setgid" | "setregid" | "setresgid" => {
            if ret != 0 {
                return;
            }
            set_ids(st, tid, name, args);
        }
        "open" | "openat" | "openat2" | "creat" => {
            if ret < 0 {
                return;
            }
            let (path_i, flags, base) = match name {
                "open" => (0, a(1) as u32, cwd(st, pid)),
                "creat" => (0, O_CREAT | O_WRONLY | O_TRUNC, cwd(st, pid)),
                "openat" => (1, a(2) as u32, dir_base(st, pid, fd_arg(0))),
                _ => {
                    let how = resolved(2)
                        .and_then(|b| Some(u64::from_ne_bytes(b.get(..8)?.try_into().ok()?)));
                    (1, how.unwrap_or(0) as u32, dir_base(st, pid, fd_arg(0)))
                }
            };
            let name = text(path_i).and_then(|p| paths::absolute(&p, base.as_deref()));
            if name.is_none() {
                st.stats.unresolved += 1;
            }
            let kind = if flags & O_DIRECTORY != 0 {
                FdKind::Directory
            } else {
                FdKind::File
            };
            insert(
                st,
                pid,
                ret as i32,
                FdInfo::new(kind, name.unwrap_or_default(), flags),
            );
        }
        "socket" => {
            if ret < 0 {
                return;
            }
            let mut f = FdInfo::new(
                kind_of_domain(a(0)),
                "",
                (a(1) as u32) & (O_CLOEXEC | O_NONBLOCK),
            );
            if matches!(f.kind, FdKind::Ipv4 | FdKind::Ipv6) {
                f.l4 = L4Proto::from_socket(a(1), a(2));
            }
            insert(st, pid, ret as i32, f);
        }
        "connect" => {
            if ret != 0 && ret != -EINPROGRESS {
                return;
            }
            let addr = resolved(1).and_then(decode_sockaddr);
            connect(st, pid, fd_arg(0), addr);
        }
        "bind" => {
            if ret != 0 {
                return;
            }
            let addr = resolved(1).and_then(decode_sockaddr);
            let Some(f) = fd_mut(st, pid, fd_arg(0)) else {
                return;
            };
            match addr {
                Some(SockAddr::Inet(ip, port)) => {
                    f.kind = if ip.is_ipv4() {
                        FdKind::Ipv4
                    } else {
                        FdKind::Ipv6
                    };
                    let t = SockTuple::server(f.l4, ip, port);
                    f.set_tuple(t);
                }
                Some(SockAddr::Unix(path)) => {
                    f.kind = FdKind::Unix;
                    f.name = path;
                }
                _ => {}
            }
        }
        "accept" | "accept4" => {
            if ret < 0 {
                return;
            }
            let flags = if name == "accept4" {
                (a(3) as u32) & (O_CLOEXEC | O_NONBLOCK)
            } else {
                0
            };
            let listener = st.fd_info(pid, fd_arg(0)).cloned();
            // The kernel's handshake records name the connection at the head of this
            // listener's accept queue.
            let queued = listener
                .as_ref()
                .and_then(|l| l.sock)
                .filter(|t| t.is_server_only())
                .and_then(|t| st.tcp.accepted((t.sip, t.sport)));
            if let Some(((sip, sport), (cip, cport))) = queued {
                let mut f = FdInfo::new(
                    if cip.is_ipv4() {
                        FdKind::Ipv4
                    } else {
                        FdKind::Ipv6
                    },
                    "",
                    flags,
                );
                f.l4 = Some(L4Proto::Tcp);
                f.set_tuple(SockTuple {
                    proto: Some(L4Proto::Tcp),
                    sip: cip,
                    sport: cport,
                    dip: sip,
                    dport: sport,
                    partial: false,
                });
                insert(st, pid, ret as i32, f);
                return;
            }
            let peer = resolved(1).and_then(decode_sockaddr);
            let kind = listener.as_ref().map_or(FdKind::Other, |l| l.kind);
            let mut f = FdInfo::new(kind, "", flags);
            f.l4 = listener.as_ref().and_then(|l| l.l4);
            match (peer, listener.as_ref().and_then(|l| l.sock)) {
                (Some(SockAddr::Inet(cip, cport)), server) => {
                    f.kind = if cip.is_ipv4() {
                        FdKind::Ipv4
                    } else {
                        FdKind::Ipv6
                    };
                    let (sip, sport, partial) = match server {
                        Some(s) => (s.sip, s.sport, false),
                        None => (unspecified_like(cip), 0, true),
                    };
                    f.set_tuple(SockTuple {
                        proto: f.l4,
                        sip: cip,
                        sport: cport,
                        dip: sip,
                        dport: sport,
                        partial,
                    });
                }
                (_, Some(server)) => {
                    f.set_tuple(SockTuple {
                        proto: f.l4,
                        sip: unspecified_like(server.sip),
                        sport: 0,
                        dip: server.sip,
                        dport: server.sport,
                        partial: true,
                    });
                }
                (_, None) => {
                    if kind == FdKind::Unix {
                        f.name = listener.map(|l| l.name).unwrap_or_default();
                    }
                }
            }
            insert(st, pid, ret as i32, f);
        }
        "pipe" | "pipe2" | "socketpair" => {
            if ret != 0 {
                return;
            }
            let (arr_i, kind, flags) = match name {
                "pipe" => (0, FdKind::Pipe, 0),
                "pipe2" => (0, FdKind::Pipe, a(1) as u32 & (O_CLOEXEC | O_NONBLOCK)),
                _ => (
                    3,
                    kind_of_domain(a(0)),
                    a(1) as u32 & (O_CLOEXEC | O_NONBLOCK),
                ),
            };
            let Some(fds) = resolved(arr_i).and_then(two_ints) else {
                st.stats.unresolved += 1;
                return;
            };
            for fd in [fds.0, fds.1] {
                insert(st, pid, fd, FdInfo::new(kind, "", flags));
            }
        }
        "eventfd" | "eventfd2" | "signalfd" | "signalfd4" | "timerfd_create" | "inotify_init"
        | "inotify_init1" | "epoll_create" | "epoll_create1" | "pidfd_open" | "userfaultfd"
        | "io_uring_setup" | "perf_event_open" | "fanotify_init" | "memfd_create"
        | "memfd_secret" => {
            if ret < 0 {
                return;
            }
            let (kind, flags_arg) = match name {
                "eventfd2" => (FdKind::Event, Some(1)),
                "eventfd" => (FdKind::Event, None),
                "signalfd" => (FdKind::Signal, None),
                "signalfd4" => (FdKind::Signal, Some(3)),
                "timerfd_create" => (FdKind::Timer, Some(1)),
                "inotify_init" => (FdKind::Inotify, None),
                "inotify_init1" => (FdKind::Inotify, Some(0)),
                "epoll_create" => (FdKind::EventPoll, None),
                "epoll_create1" => (FdKind::EventPoll, Some(0)),
                "pidfd_open" => (FdKind::Pidfd, None),
                "userfaultfd" => (FdKind::Userfault, Some(0)),
                "io_uring_setup" => (FdKind::IoUring, None),
                "memfd_create" | "memfd_secret" => (FdKind::File, None),
                _ => (FdKind::Other, None),
            };
            // signalfd on an existing fd changes its mask and returns that fd.
            if kind == FdKind::Signal && fd_arg(0) != -1 && st.fd_info(pid, ret as i32).is_some() {
                return;
            }
            let mut flags = flags_arg.map_or(0, |i| a(i) as u32 & (O_CLOEXEC | O_NONBLOCK));
            let mut fname = String::new();
            if name == "memfd_create" {
                flags = if a(1) & MFD_CLOEXEC != 0 {
                    O_CLOEXEC
                } else {
                    0
                };
                match text(0) {
                    Some(n) => fname = format!("memfd:{n}"),
                    None => st.stats.unresolved += 1,
                }
            }
            insert(st, pid, ret as i32, FdInfo::new(kind, fname, flags));
        }
        "dup" | "dup2" | "dup3" => {
            if ret < 0 {
                return;
            }
            let flags = if name == "dup3" {
                a(2) as u32 & O_CLOEXEC
            } else {
                0
            };
            dup(st, pid, fd_arg(0), ret as i32, flags);
        }
        "fcntl" => {
            if ret < 0 {
                return;
            }
            match a(1) {
                F_DUPFD => dup(st, pid, fd_arg(0), ret as i32, 0),
                F_DUPFD_CLOEXEC => dup(st, pid, fd_arg(0), ret as i32, O_CLOEXEC),
                F_SETFD => {
                    if let Some(f) = fd_mut(st, pid, fd_arg(0)) {
                        if a(2) & FD_CLOEXEC != 0 {
                            f.flags |= O_CLOEXEC;
                        } else {
                            f.flags &= !O_CLOEXEC;
                        }
                    }
                }
                F_SETFL => {
                    if let Some(f) = fd_mut(st, pid, fd_arg(0)) {
                        f.flags = (f.flags & !SETFL_MASK) | (a(2) as u32 & SETFL_MASK);
                    }
                }
                _ => {}
            }
        }
        "close" => {
            // The fd is released even when close reports an error (except EBADF, where
            // there was nothing to release).
            if let Some(t) = st.fd_table_mut(pid) {
                t.remove(fd_arg(0));
            }
        }
        "close_range" => {
            if ret != 0 {
                return;
            }
            let (first, last) = (
                a(0).min(i32::MAX as u64) as i32,
                a(1).min(i32::MAX as u64) as i32,
            );
            if a(2) & CLOSE_RANGE_UNSHARE != 0 {
                unshare_files(st, pid);
            }
            let cloexec = a(2) & CLOSE_RANGE_CLOEXEC != 0;
            if let Some(t) = st.fd_table_mut(pid) {
                t.retain_range(first, last, |f| {
                    if cloexec {
                        f.flags |= O_CLOEXEC;
                    }
                    cloexec
                });
            }
        }
        "unshare" if ret == 0 && a(0) & super::CLONE_FILES != 0 => unshare_files(st, pid),
        _ => {}
    }
}

impl State {
    /// The parts of exec that concern fds: private table, close-on-exec fds closed.
    fn on_exec_effects(&mut self, pid: u32) {
        unshare_files(self, pid);
        if let Some(t) = self.fd_table_mut(pid) {
            t.close_cloexec();
        }
    }
}

fn bytes_text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn two_ints(b: &[u8]) -> Option<(i32, i32)> {
    Some((
        i32::from_ne_bytes(b.get(0..4)?.try_into().ok()?),
        i32::from_ne_bytes(b.get(4..8)?.try_into().ok()?),
    ))
}

fn cwd(st: &State, pid: u32) -> Option<String> {
    st.procs.get(pid)?.cwd.clone()
}

/// The directory a `*at` call's relative path starts from.
fn dir_base(st: &State, pid: u32, dirfd: i32) -> Option<String> {
    if dirfd == AT_FDCWD {
        return cwd(st, pid);
    }
    st.fd_info(pid, dirfd)
        .filter(|f| f.name.starts_with('/'))
        .map(|f| f.name.clone())
}

fn fd_mut(st: &mut State, pid: u32, fd: i32) -> Option<&mut FdInfo> {
    let f = st.fd_table_mut(pid).and_then(|t| t.get_mut(fd));
    if f.is_none() {
        st.stats.unknown_fd += 1;
        return None;
    }
    st.fd_table_mut(pid).and_then(|t| t.get_mut(fd))
}

fn insert(st: &mut State, pid: u32, fd: i32, f: FdInfo) {
    if let Some(t) = st.fd_table_mut(pid) {
        t.insert(fd, f);
    }
}

fn dup(st: &mut State, pid: u32, old: i32, new: i32, flags: u32) {
    let Some(t) = st.fd_table_mut(pid) else {
        return;
    };
    match t.get(old).cloned() {
        Some(mut f) => {
            f.flags = (f.flags & !O_CLOEXEC) | flags;
            t.insert(new, f);
        }
        None => {
            // The new fd exists but we never knew what the old one was.
            t.remove(new);
            st.stats.unknown_fd += 1;
        }
    }
}

fn connect(st: &mut State, pid: u32, fd: i32, addr: Option<SockAddr>) {
    let Some(f) = fd_mut(st, pid, fd) else {
        return;
    };
    match addr {
        // The kernel's socket-state record already gave the whole tuple: keep it.
        Some(SockAddr::Inet(_, dport))
            if f.sock
                .is_some_and(|t| !t.partial && t.dport == dport && t.sport != 0) => {}
        None if f
            .sock
            .is_some_and(|t| !t.partial && t.sport != 0 && t.dport != 0) => {}
        Some(SockAddr::Inet(dip, dport)) => {
            f.kind = if dip.is_ipv4() {
                FdKind::Ipv4
            } else {
                FdKind::Ipv6
            };
            // A socket bound before connecting knows its local side.
            let (sip, sport, partial) = match f.sock {
                Some(s) if s.is_server_only() && s.sport != 0 => (s.sip, s.sport, false),
                _ => (unspecified_like(dip), 0, true),
            };
            let t = SockTuple {
                proto: f.l4,
                sip,
                sport,
                dip,
                dport,
                partial,
            };
            f.set_tuple(t);
        }
        Some(SockAddr::Unix(path)) => {
            f.kind = FdKind::Unix;
            f.name = path;
        }
        _ => {}
    }
}

fn unshare_files(st: &mut State, pid: u32) {
    let Some(key) = st.procs.get(pid).map(|p| p.fdt) else {
        return;
    };
    if st.fds.refs(key) > 1 {
        let private = st.fds.copy_of(key);
        st.fds.release(key);
        if let Some(p) = st.procs.get_mut(pid) {
            p.fdt = private;
        }
    }
}

/// The setuid family: -1 leaves an id unchanged. An unprivileged setuid changes only the
/// effective id; a privileged one (effective uid 0) changes all.
fn set_ids(st: &mut State, tid: u32, name: &str, args: &[u64; 6]) {
    let Some(t) = st.threads.get_mut(tid) else {
        return;
    };
    let id = |i: usize| -> Option<u32> {
        let v = args[i] as u32;
        (v != u32::MAX).then_some(v)
    };
    match name {
        "setuid" => {
            if t.euid == Some(0) {
                t.uid = id(0);
            }
            t.euid = id(0);
        }
        "setgid" => {
            if t.euid == Some(0) {
                t.gid = id(0);
            }
            t.egid = id(0);
        }
        "setreuid" | "setresuid" => {
            if let Some(r) = id(0) {
                t.uid = Some(r);
            }
            if let Some(e) = id(1) {
                t.euid = Some(e);
            }
        }
        _ => {
            if let Some(r) = id(0) {
                t.gid = Some(r);
            }
            if let Some(e) = id(1) {
                t.egid = Some(e);
            }
        }
    }
}

#[cfg(test)]
mod list_tests {
    use super::*;
    use crate::syscalls::{self, Arch};
    use std::net::{IpAddr, Ipv4Addr};

    /// A process with a cwd, files, a directory, a listening socket, credentials and a child
    /// that shares its fd table.
    fn busy_state() -> State {
        let mut st = State::default();
        st.touch(100, 100);
        st.touch(101, 100);
        st.procs.get_mut(100).unwrap().cwd = Some("/home/u".into());
        for fd in 0..8 {
            insert(
                &mut st,
                100,
                fd,
                FdInfo::new(FdKind::File, format!("/f{fd}"), 0),
            );
        }
        insert(
            &mut st,
            100,
            8,
            FdInfo::new(FdKind::Directory, "/d", O_DIRECTORY),
        );
        let mut s = FdInfo::new(FdKind::Ipv4, "", 0);
        s.set_tuple(SockTuple::server(
            Some(L4Proto::Tcp),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            80,
        ));
        insert(&mut st, 100, 9, s);
        // A child process sharing the fd table (unshare has something to split).
        st.on_new_task(
            100,
            100,
            200,
            Some(super::super::CLONE_FILES | SIGCHLD),
            None,
        );
        let t = st.threads.get_mut(100).unwrap();
        (t.uid, t.euid, t.gid, t.egid) = (Some(0), Some(0), Some(0), Some(0));
        st
    }

    /// Runs every syscall of every table that is not in `STATE_CALLS` with argument and
    /// result patterns that make the listed calls change something, and requires the state
    /// to stay as it was: a call added to `apply_exit` without being listed fails here.
    #[test]
    fn every_call_that_changes_state_is_listed() {
        let sockaddr: Vec<u8> = [2u8, 0, 0, 81, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0].to_vec();
        let resolved: Vec<u8> = b"x/y\0".to_vec();
        let arg_sets: [[u64; 6]; 6] = [
            [3, 4, 5, 6, 7, 8],
            [9, 0, 0, 0, 0, 0],
            [8, 1030, 1, 0, 0, 0],
            [3, 4, 0o200_000, 0, 0, 0],
            [0x400, 0, 0, 0, 0, 0],
            [0, 10, 6, 0, 0, 0],
        ];
        // Whether one exit of `name` changes the state (its Debug text).
        let changes = |name: &str, args: &[u64; 6], ret: i64, res: Option<&Vec<u8>>| {
            let mut st = busy_state();
            let before = format!("{st:?}");
            let resolved = |_| res.map(|v| v.as_slice());
            apply_exit(&mut st, 100, 100, name, args, ret, &resolved, 0);
            before != format!("{st:?}")
        };
        let mut checked = 0;
        for arch in Arch::ALL {
            for (_, name) in syscalls::all(arch) {
                if STATE_CALLS.contains(&name) {
                    continue;
                }
                for args in &arg_sets {
                    for ret in [0, 3, 12, -1] {
                        for res in [None, Some(&resolved), Some(&sockaddr)] {
                            assert!(!changes(name, args, ret, res), "{name} {args:?} {ret}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
        // And each listed call does change something with one of the patterns (the list
        // holds no dead names), except the two `on_tcp_change` reads.
        for name in STATE_CALLS
            .iter()
            .filter(|n| !matches!(**n, "listen" | "connect" | "bind"))
        {
            let changed = arg_sets.iter().any(|args| {
                [0, 3, 12, -1].iter().any(|&ret| {
                    [None, Some(&resolved), Some(&sockaddr)]
                        .iter()
                        .any(|res| changes(name, args, ret, *res))
                })
            });
            assert!(changed, "{name} is listed but changed nothing");
        }
    }
}
