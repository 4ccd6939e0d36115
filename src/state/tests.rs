//! Effects of synthetic call sequences on the state.

use super::effects::apply_exit;
use super::*;

const NONE: [Option<&[u8]>; 6] = [None; 6];

/// Runs one call's exit with resolved values by argument index.
fn call(
    st: &mut State,
    tid: u32,
    pid: u32,
    name: &str,
    args: [u64; 6],
    ret: i64,
    res: [Option<&[u8]>; 6],
) {
    apply_exit(st, tid, pid, name, &args, ret, &|i| res[i], 0);
}

fn at(i: usize, b: &[u8]) -> [Option<&[u8]>; 6] {
    let mut r = NONE;
    r[i] = Some(b);
    r
}

fn proc_with_cwd(cwd: &str) -> State {
    let mut st = State::default();
    st.touch(100, 100);
    st.procs.get_mut(100).unwrap().cwd = Some(cwd.into());
    st
}

const AT_FDCWD: u64 = -100i64 as u64;

#[test]
fn open_dup_close() {
    let mut st = proc_with_cwd("/home/u");
    call(
        &mut st,
        100,
        100,
        "openat",
        [AT_FDCWD, 0, 0o2_000_000, 0, 0, 0],
        3,
        at(1, b"notes.txt\0"),
    );
    let f = st.fd_info(100, 3).unwrap();
    assert_eq!(
        (f.kind.letter(), f.name.as_str()),
        ('f', "/home/u/notes.txt")
    );
    assert!(f.cloexec());
    call(&mut st, 100, 100, "dup", [3, 0, 0, 0, 0, 0], 7, NONE);
    let d = st.fd_info(100, 7).unwrap();
    assert_eq!(d.name, "/home/u/notes.txt");
    assert!(!d.cloexec(), "dup clears close-on-exec");
    call(
        &mut st,
        100,
        100,
        "dup3",
        [3, 9, 0o2_000_000, 0, 0, 0],
        9,
        NONE,
    );
    assert!(st.fd_info(100, 9).unwrap().cloexec());
    call(&mut st, 100, 100, "fcntl", [3, 1030, 20, 0, 0, 0], 20, NONE);
    assert_eq!(st.fd_info(100, 20).unwrap().name, "/home/u/notes.txt");
    call(&mut st, 100, 100, "close", [3, 0, 0, 0, 0, 0], 0, NONE);
    assert!(st.fd_info(100, 3).is_none());
    assert_eq!(st.fd_table_len(100), 3);
    call(
        &mut st,
        100,
        100,
        "close_range",
        [7, u32::MAX as u64, 0, 0, 0, 0],
        0,
        NONE,
    );
    assert_eq!(st.fd_table_len(100), 0);
}

#[test]
fn unknown_path_keeps_the_fd_without_a_name_and_failed_opens_add_nothing() {
    let mut st = proc_with_cwd("/");
    call(
        &mut st,
        100,
        100,
        "openat",
        [AT_FDCWD, 0, 0, 0, 0, 0],
        4,
        NONE,
    );
    let f = st.fd_info(100, 4).unwrap();
    assert_eq!(f.kind, FdKind::File);
    assert!(!f.name_known());
    assert_eq!(st.stats.unresolved, 1);
    call(
        &mut st,
        100,
        100,
        "openat",
        [AT_FDCWD, 0, 0, 0, 0, 0],
        -2,
        at(1, b"/nope"),
    );
    assert_eq!(st.fd_table_len(100), 1);
}

#[test]
fn openat_relative_to_a_directory_fd() {
    let mut st = proc_with_cwd("/");
    call(
        &mut st,
        100,
        100,
        "open",
        [0, 0o200_000, 0, 0, 0, 0],
        5,
        at(0, b"/var/log"),
    );
    assert_eq!(st.fd_info(100, 5).unwrap().kind.letter(), 'd');
    call(
        &mut st,
        100,
        100,
        "openat",
        [5, 0, 0, 0, 0, 0],
        6,
        at(1, b"../lib/x"),
    );
    assert_eq!(st.fd_info(100, 6).unwrap().name, "/var/lib/x");
}

#[test]
fn fork_copies_the_table_and_clone_files_shares_it() {
    let mut st = proc_with_cwd("/srv");
    st.threads.get_mut(100).unwrap().euid = Some(33);
    call(&mut st, 100, 100, "open", [0; 6], 3, at(0, b"/a"));
    // fork: child 200 gets a copy.
    call(&mut st, 100, 100, "fork", [0; 6], 200, NONE);
    let c = st.process(200).unwrap();
    assert_eq!((c.ppid, c.cwd.as_deref()), (Some(100), Some("/srv")));
    assert_eq!(st.thread(200).unwrap().euid, Some(33));
    assert_eq!(st.fd_info(200, 3).unwrap().name, "/a");
    call(&mut st, 200, 200, "close", [3, 0, 0, 0, 0, 0], 0, NONE);
    assert!(
        st.fd_info(100, 3).is_some(),
        "the parent's fd survives the child's close"
    );
    // clone(CLONE_FILES) without CLONE_THREAD: a process sharing the table.
    call(
        &mut st,
        100,
        100,
        "clone",
        [CLONE_FILES | 17, 0, 0, 0, 0, 0],
        300,
        NONE,
    );
    call(&mut st, 300, 300, "open", [0; 6], 4, at(0, b"/b"));
    assert_eq!(st.fd_info(100, 4).unwrap().name, "/b");
    // A thread (CLONE_THREAD) sees the same table through its process.
    call(
        &mut st,
        100,
        100,
        "clone",
        [0x3d0f00, 0, 0, 0, 0, 0],
        101,
        NONE,
    );
    assert_eq!(st.thread(101).unwrap().pid, 100);
    assert_eq!(st.task(101).unwrap().process.unwrap().pid, 100);
    // Threads leaving do not drop the table while others use it.
    st.on_thread_exit(300);
    assert!(st.process(300).is_none());
    assert!(st.fd_info(100, 4).is_some());
    st.on_thread_exit(100);
    assert!(st.process(100).is_some(), "thread 101 still runs");
    st.on_thread_exit(101);
    assert!(st.process(100).is_none());
    assert_eq!(st.fds.len(), 1, "only the fork child's table is left");
}

#[test]
fn a_child_seen_first_through_its_own_events_inherits_from_its_announced_parent() {
    let mut st = proc_with_cwd("/w");
    call(&mut st, 100, 100, "open", [0; 6], 3, at(0, b"/a"));
    st.on_new_task(100, 100, 400, None, None); // sched_process_fork: flags unknown
    st.touch(400, 400); // the child's first record tells its tgid
    assert_eq!(st.process(400).unwrap().cwd.as_deref(), Some("/w"));
    assert_eq!(st.fd_info(400, 3).unwrap().name, "/a");
    call(&mut st, 100, 100, "clone", [17, 0, 0, 0, 0, 0], 400, NONE);
    assert_eq!(st.process(400).unwrap().ppid, Some(100));
}

#[test]
fn clone3_flags_come_from_resolved_clone_args() {
    let mut st = proc_with_cwd("/");
    let ca = (CLONE_THREAD | CLONE_FILES | 0x100).to_ne_bytes();
    call(&mut st, 100, 100, "clone3", [0; 6], 150, at(0, &ca));
    assert_eq!(st.thread(150).unwrap().pid, 100);
    assert!(st.process(150).is_none());
}

#[test]
fn exec_closes_cloexec_and_sets_exe_and_args() {
    let mut st = proc_with_cwd("/home/u");
    call(
        &mut st,
        100,
        100,
        "open",
        [0, 0o2_000_000, 0, 0, 0, 0],
        3,
        at(0, b"/x"),
    );
    call(
        &mut st,
        100,
        100,
        "open",
        [0, 0, 0, 0, 0, 0],
        4,
        at(0, b"/y"),
    );
    st.on_exec(100, 100, "bin/tool");
    assert!(st.fd_info(100, 3).is_none());
    assert!(st.fd_info(100, 4).is_some());
    let p = st.process(100).unwrap();
    assert_eq!(p.exepath.as_deref(), Some("/home/u/bin/tool"));
    assert_eq!(p.args, None, "arguments unknown until resolved");
    call(
        &mut st,
        100,
        100,
        "execve",
        [0; 6],
        0,
        [
            Some(b"bin/tool"),
            Some(b"tool\0-v\0x\0"),
            None,
            None,
            None,
            None,
        ],
    );
    let p = st.process(100).unwrap();
    assert_eq!(p.exe.as_deref(), Some("tool"));
    assert_eq!(
        p.args.as_deref(),
        Some(&["-v".to_string(), "x".to_string()][..])
    );
}

#[test]
fn exec_unshares_a_shared_table() {
    let mut st = proc_with_cwd("/");
    call(
        &mut st,
        100,
        100,
        "clone",
        [CLONE_FILES | 17, 0, 0, 0, 0, 0],
        300,
        NONE,
    );
    st.on_exec(300, 300, "/bin/true");
    call(&mut st, 300, 300, "open", [0; 6], 5, at(0, b"/after"));
    assert!(st.fd_info(100, 5).is_none());
}

#[test]
fn chdir_relative_and_fchdir() {
    let mut st = proc_with_cwd("/home/u");
    call(&mut st, 100, 100, "chdir", [0; 6], 0, at(0, b"../v/./src"));
    assert_eq!(st.process(100).unwrap().cwd.as_deref(), Some("/home/v/src"));
    call(&mut st, 100, 100, "chdir", [0; 6], -2, at(0, b"/nope"));
    assert_eq!(st.process(100).unwrap().cwd.as_deref(), Some("/home/v/src"));
    call(
        &mut st,
        100,
        100,
        "open",
        [0, 0o200_000, 0, 0, 0, 0],
        3,
        at(0, b"/etc"),
    );
    call(&mut st, 100, 100, "fchdir", [3, 0, 0, 0, 0, 0], 0, NONE);
    assert_eq!(st.process(100).unwrap().cwd.as_deref(), Some("/etc"));
    call(&mut st, 100, 100, "chdir", [0; 6], 0, NONE);
    assert_eq!(st.process(100).unwrap().cwd, None, "unknown, not stale");
}

#[test]
fn setuid_family() {
    let mut st = proc_with_cwd("/");
    {
        let t = st.threads.get_mut(100).unwrap();
        t.uid = Some(0);
        t.euid = Some(0);
    }
    call(
        &mut st,
        100,
        100,
        "setresuid",
        [u32::MAX as u64, 1000, u32::MAX as u64, 0, 0, 0],
        0,
        NONE,
    );
    assert_eq!(
        (st.thread(100).unwrap().uid, st.thread(100).unwrap().euid),
        (Some(0), Some(1000))
    );
    call(&mut st, 100, 100, "setuid", [5, 0, 0, 0, 0, 0], -1, NONE);
    assert_eq!(
        st.thread(100).unwrap().euid,
        Some(1000),
        "failed calls change nothing"
    );
    call(&mut st, 100, 100, "setgid", [50, 0, 0, 0, 0, 0], 0, NONE);
    assert_eq!(st.thread(100).unwrap().egid, Some(50));
}

fn sin(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut v = 2u16.to_ne_bytes().to_vec();
    v.extend(port.to_be_bytes());
    v.extend(ip);
    v.extend([0u8; 8]);
    v
}

#[test]
fn sockets_connect_bind_accept() {
    let mut st = proc_with_cwd("/");
    call(&mut st, 100, 100, "socket", [2, 1, 0, 0, 0, 0], 4, NONE);
    let f = st.fd_info(100, 4).unwrap();
    assert_eq!((f.tag().as_str(), f.name.as_str()), ("4", ""));
    let addr = sin([127, 0, 0, 1], 80);
    call(
        &mut st,
        100,
        100,
        "connect",
        [4, 0, 16, 0, 0, 0],
        -115,
        at(1, &addr),
    );
    let f = st.fd_info(100, 4).unwrap();
    assert_eq!(f.tag(), "4t");
    assert_eq!(f.name, "0.0.0.0:0->127.0.0.1:80");
    assert!(f.sock.unwrap().partial, "local side unknown");
    // Server: bind, listen, accept with the peer address.
    call(&mut st, 100, 100, "socket", [2, 1, 0, 0, 0, 0], 5, NONE);
    call(
        &mut st,
        100,
        100,
        "bind",
        [5, 0, 16, 0, 0, 0],
        0,
        at(1, &sin([0, 0, 0, 0], 8080)),
    );
    assert_eq!(st.fd_info(100, 5).unwrap().name, "0.0.0.0:8080");
    call(&mut st, 100, 100, "listen", [5, 128, 0, 0, 0, 0], 0, NONE);
    call(
        &mut st,
        100,
        100,
        "accept4",
        [5, 0, 0, 0o2_000_000, 0, 0],
        6,
        at(1, &sin([10, 0, 0, 2], 5555)),
    );
    let a = st.fd_info(100, 6).unwrap();
    assert_eq!(a.name, "10.0.0.2:5555->0.0.0.0:8080");
    assert!(a.cloexec());
    // Unix.
    call(&mut st, 100, 100, "socket", [1, 1, 0, 0, 0, 0], 7, NONE);
    let mut sun = 1u16.to_ne_bytes().to_vec();
    sun.extend(b"/run/app.sock\0");
    call(
        &mut st,
        100,
        100,
        "connect",
        [7, 0, 0, 0, 0, 0],
        0,
        at(1, &sun),
    );
    let u = st.fd_info(100, 7).unwrap();
    assert_eq!((u.kind.letter(), u.name.as_str()), ('u', "/run/app.sock"));
}

#[test]
fn pipes_need_their_array_and_anon_fds_get_their_kind() {
    let mut st = proc_with_cwd("/");
    call(
        &mut st,
        100,
        100,
        "pipe2",
        [0, 0o2_000_000, 0, 0, 0, 0],
        0,
        NONE,
    );
    assert_eq!(st.fd_table_len(100), 0);
    assert_eq!(st.stats.unresolved, 1);
    let mut arr = 3i32.to_ne_bytes().to_vec();
    arr.extend(4i32.to_ne_bytes());
    call(
        &mut st,
        100,
        100,
        "pipe2",
        [0, 0o2_000_000, 0, 0, 0, 0],
        0,
        at(0, &arr),
    );
    assert_eq!(st.fd_info(100, 3).unwrap().kind.letter(), 'p');
    assert!(st.fd_info(100, 4).unwrap().cloexec());
    for (name, ret, letter) in [
        ("eventfd2", 10, 'e'),
        ("signalfd4", 11, 's'),
        ("timerfd_create", 12, 't'),
        ("inotify_init1", 13, 'i'),
        ("epoll_create1", 14, 'l'),
        ("pidfd_open", 15, 'o'),
    ] {
        let args = if name == "signalfd4" {
            [u64::MAX, 0, 8, 0, 0, 0]
        } else {
            [0; 6]
        };
        call(&mut st, 100, 100, name, args, ret, NONE);
        assert_eq!(
            st.fd_info(100, ret as i32).unwrap().kind.letter(),
            letter,
            "{name}"
        );
    }
    call(
        &mut st,
        100,
        100,
        "memfd_create",
        [0, 1, 0, 0, 0, 0],
        16,
        at(0, b"jit\0"),
    );
    let m = st.fd_info(100, 16).unwrap();
    assert_eq!(
        (m.kind.letter(), m.name.as_str(), m.cloexec()),
        ('f', "memfd:jit", true)
    );
    call(
        &mut st,
        100,
        100,
        "socketpair",
        [1, 1, 0, 0, 0, 0],
        0,
        at(3, &{
            let mut v = 20i32.to_ne_bytes().to_vec();
            v.extend(21i32.to_ne_bytes());
            v
        }),
    );
    assert_eq!(st.fd_info(100, 21).unwrap().kind.letter(), 'u');
}

#[test]
fn a_fork_storm_stays_within_bounds() {
    let mut st = State::with_limits(1000, 1000, 64);
    st.touch(1, 1);
    for i in 0..64 {
        st.fd_table_mut(1)
            .unwrap()
            .insert(i, FdInfo::new(FdKind::File, "/f", 0));
    }
    for child in 2..10_002u32 {
        call(&mut st, 1, 1, "fork", [0; 6], child as i64, NONE);
        call(&mut st, child, child, "open", [0; 6], 100, at(0, b"/x"));
        assert!(st.threads.len() <= 1000);
        assert!(st.procs.len() <= 1000);
        assert!(st.fds.len() <= 1000, "fd tables go with their processes");
        assert!(st.fd_table_len(child) <= 64);
    }
    assert!(st.process(10_001).is_some());
    assert!(st.procs.evicted() > 0);
}
