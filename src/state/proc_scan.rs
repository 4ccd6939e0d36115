//! The /proc snapshot taken at start-up: every thread, process and fd, plus users and
//! groups.
//!
//! Exact for the moment it is read (before the rings are enabled); events keep it current
//! from then on. This is the I/O edge: every text it reads goes through the I/O-free
//! parsers in `proc_files`, `fds`, `netsock`, `users` and `container`. Things that vanish
//! while being read are skipped. Socket inodes are looked up in the /proc/net tables of
//! each network namespace once (read through the first process seen in that namespace).

use super::container;
use super::fds::{FdInfo, TargetType, classify_link, parse_fdinfo_flags};
use super::netsock::{NetSocket, NetTable, parse_table};
use super::proc_files::{
    parse_btime, parse_cgroup, parse_cmdline, parse_loginuid, parse_stat, parse_status,
};
use super::threads::{Comm, Thread, ThreadTable};
use super::users::{Groups, Users};
use super::{Process, State};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

pub use super::proc_files::Status;

/// What a snapshot found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub threads: usize,
    pub processes: usize,
    pub fds: usize,
    pub net_namespaces: usize,
    /// Lines of /proc/net tables, passwd or group that did not parse.
    pub bad_lines: usize,
}

/// Reads every thread under `proc_root` (normally /proc) into `table` (tids, pids, comms
/// only). The count of threads read is returned.
pub fn scan(proc_root: &Path, table: &mut ThreadTable) -> usize {
    let mut count = 0;
    for_each_task(proc_root, |_, tid, pid, st| {
        table.set_comm(tid, pid, Comm::from_bytes(&st.name));
        count += 1;
    });
    count
}

fn for_each_task(proc_root: &Path, mut f: impl FnMut(&Path, u32, u32, &Status)) {
    let Ok(procs) = fs::read_dir(proc_root) else {
        return;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(tasks) = fs::read_dir(p.path().join("task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(text) = fs::read(t.path().join("status")) else {
                continue;
            };
            let st = parse_status(&text);
            let tgid = if st.tgid != 0 { st.tgid } else { pid };
            f(&t.path(), tid, tgid, &st);
        }
    }
}

/// Takes the whole snapshot into `state`: users and groups from `etc_root` (normally
/// /etc), then every thread, process and fd under `proc_root`.
pub fn scan_state(proc_root: &Path, etc_root: &Path, state: &mut State) -> ScanReport {
    let mut report = ScanReport::default();
    if let Ok(t) = fs::read(etc_root.join("passwd")) {
        let (u, errs) = Users::parse(&t);
        state.users = u;
        report.bad_lines += errs.len();
    }
    if let Ok(t) = fs::read(etc_root.join("group")) {
        let (g, errs) = Groups::parse(&t);
        state.groups = g;
        report.bad_lines += errs.len();
    }
    let ticks = clock_ticks();
    let btime = fs::read(proc_root.join("stat"))
        .ok()
        .and_then(|t| parse_btime(&t));
    // Network namespace inode → its sockets.
    let mut netns: HashMap<String, HashMap<u64, NetSocket>> = HashMap::new();

    let mut seen_procs: HashSet<u32> = HashSet::new();
    for_each_task(proc_root, |task_dir, tid, pid, st| {
        let mut t = Thread::new(tid, pid);
        t.comm = Comm::from_bytes(&st.name);
        if let Some((r, e)) = st.uid {
            t.uid = Some(r);
            t.euid = Some(e);
        }
        if let Some((r, e)) = st.gid {
            t.gid = Some(r);
            t.egid = Some(e);
        }
        t.vtid = st.vtid;
        t.loginuid = fs::read(task_dir.join("loginuid"))
            .ok()
            .and_then(|b| parse_loginuid(&b));
        state.threads.put(t);
        report.threads += 1;
        if !seen_procs.insert(pid) {
            return;
        }
        let pdir = proc_root.join(pid.to_string());
        let mut p = Process::new(pid, state.fds.create());
        p.ppid = Some(st.ppid);
        p.vpid = st.vpid;
        let link = |name: &str| {
            fs::read_link(pdir.join(name))
                .ok()
                .map(|l| l.to_string_lossy().into_owned())
        };
        p.exepath = link("exe");
        p.cwd = link("cwd");
        if let Ok(c) = fs::read(pdir.join("cmdline")) {
            let mut argv = parse_cmdline(&c).into_iter();
            p.exe = argv.next();
            p.args = Some(argv.collect());
        }
        if let Ok(c) = fs::read(pdir.join("cgroup")) {
            p.cgroups = parse_cgroup(&c);
            p.container_id = Some(container::container_id(&p.cgroups));
        }
        if let (Some(s), Some(bt), Some(hz)) = (
            fs::read(pdir.join("stat"))
                .ok()
                .and_then(|t| parse_stat(&t)),
            btime,
            ticks,
        ) {
            p.start_ts = Some(bt * 1_000_000_000 + s.start_ticks * (1_000_000_000 / hz));
        }
        // Sockets of this process's network namespace.
        let ns = link("ns/net").unwrap_or_default();
        let socks = netns.entry(ns).or_insert_with(|| {
            let mut m = HashMap::new();
            for tbl in NetTable::ALL {
                if let Ok(text) = fs::read(pdir.join("net").join(tbl.file_name())) {
                    report.bad_lines += parse_table(tbl, &text, &mut m).len();
                }
            }
            m
        });
        let listening_ports: HashSet<u16> = socks
            .values()
            .filter(|s| s.listening)
            .filter_map(|s| s.local.map(|l| l.1))
            .collect();
        let key = p.fdt;
        state.procs.insert(p, &mut state.fds);
        report.processes += 1;
        let Ok(dir) = fs::read_dir(pdir.join("fd")) else {
            return;
        };
        for e in dir.flatten() {
            let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(target) = fs::read_link(e.path()) else {
                continue;
            };
            let target = target.as_os_str().as_encoded_bytes().to_vec();
            let ttype = if target.starts_with(b"/") {
                fs::metadata(e.path()).ok().map(|m| {
                    let ft = m.file_type();
                    if ft.is_dir() {
                        TargetType::Dir
                    } else if ft.is_fifo() {
                        TargetType::Fifo
                    } else {
                        TargetType::Other
                    }
                })
            } else {
                None
            };
            let class = classify_link(&target, ttype);
            let flags = fs::read(pdir.join("fdinfo").join(fd.to_string()))
                .ok()
                .and_then(|t| parse_fdinfo_flags(&t))
                .unwrap_or(0);
            let mut info = FdInfo::new(class.kind, class.name, flags);
            info.ino = class.socket_ino.or(class.pipe_ino);
            if let Some(s) = class.socket_ino.and_then(|i| socks.get(&i)) {
                info.kind = s.kind;
                info.l4 = s.l4;
                let accepted =
                    !s.listening && s.local.is_some_and(|l| listening_ports.contains(&l.1));
                match s.tuple(accepted) {
                    Some(t) => info.set_tuple(t),
                    None => info.name = s.path.clone(),
                }
            }
            if let Some(t) = state.fds.get_mut(key) {
                t.insert(fd, info);
                report.fds += 1;
            }
        }
    });
    report.net_namespaces = netns.len();
    report
}

fn clock_ticks() -> Option<u64> {
    crate::perf::sys::clock_ticks()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanning_this_machine_finds_ourselves() {
        let mut table = ThreadTable::default();
        assert!(scan(Path::new("/proc"), &mut table) > 0);
        let me = std::process::id();
        assert_eq!(table.get(me).map(|t| t.pid), Some(me));
    }
}
