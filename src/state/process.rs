//! Processes: what the threads of one thread group share (exe, arguments, cwd, cgroups,
//! the fd table they point at).
//!
//! Keyed by pid (tgid). A process is bounded like threads: when the table is full the
//! oldest-inserted eighth is dropped, releasing their fd tables, so a fork storm of
//! short-lived processes whose exits we missed cannot grow memory without limit.

use super::fds::{FdTables, TableKey};
use crate::fasthash::IntMap;

/// Default bound on remembered processes (same as threads).
pub const MAX_PROCESSES: usize = super::threads::MAX_THREADS;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// Parent pid; None when unknown.
    pub ppid: Option<u32>,
    /// sysdig's `proc.exe`: argv[0] as the process was started.
    pub exe: Option<String>,
    /// sysdig's `proc.exepath`: the executable's full path.
    pub exepath: Option<String>,
    /// Arguments after argv[0]; None when unknown (exec seen without its argv).
    pub args: Option<Vec<String>>,
    pub cwd: Option<String>,
    /// `(controllers, path)` from /proc/PID/cgroup (v2: empty controllers).
    pub cgroups: Vec<(String, String)>,
    /// 12-hex-digit container id or `host`; None when unknown.
    pub container_id: Option<String>,
    /// Pid in its own namespace.
    pub vpid: Option<u32>,
    /// Start time, nanoseconds since the epoch.
    pub start_ts: Option<u64>,
    /// The fd table this process uses.
    pub fdt: TableKey,
    seq: u64,
}

impl Process {
    /// A process with nothing known but its pid, using fd table `fdt`.
    pub fn new(pid: u32, fdt: TableKey) -> Process {
        Process {
            pid,
            ppid: None,
            exe: None,
            exepath: None,
            args: None,
            cwd: None,
            cgroups: Vec::new(),
            container_id: None,
            vpid: None,
            start_ts: None,
            fdt,
            seq: 0,
        }
    }

    /// A child's record: inherits everything but the ids and the fd table.
    pub fn child_of(parent: &Process, pid: u32, fdt: TableKey) -> Process {
        let mut p = parent.clone();
        p.pid = pid;
        p.ppid = Some(parent.pid);
        p.vpid = None;
        p.fdt = fdt;
        p
    }
}

#[derive(Debug)]
pub struct ProcessTable {
    procs: IntMap<u32, Process>,
    limit: usize,
    next_seq: u64,
    evicted: u64,
}

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable::with_limit(MAX_PROCESSES)
    }
}

impl ProcessTable {
    pub fn with_limit(limit: usize) -> ProcessTable {
        ProcessTable {
            procs: IntMap::default(),
            limit: limit.max(1),
            next_seq: 0,
            evicted: 0,
        }
    }

    pub fn get(&self, pid: u32) -> Option<&Process> {
        self.procs.get(&pid)
    }

    pub fn get_mut(&mut self, pid: u32) -> Option<&mut Process> {
        self.procs.get_mut(&pid)
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn iter(&self) -> impl Iterator<Item = &Process> {
        self.procs.values()
    }

    /// The process `pid`, created bare (with a new empty fd table) when unknown.
    pub fn ensure(&mut self, pid: u32, fds: &mut FdTables) -> &mut Process {
        if !self.procs.contains_key(&pid) {
            let key = fds.create();
            self.insert(Process::new(pid, key), fds);
        }
        self.procs.get_mut(&pid).expect("just inserted")
    }

    /// Inserts `p` (whose `fdt` reference the caller already holds), replacing and
    /// releasing a previous record of the same pid.
    pub fn insert(&mut self, mut p: Process, fds: &mut FdTables) {
        if let Some(old) = self.procs.remove(&p.pid) {
            fds.release(old.fdt);
        } else if self.procs.len() >= self.limit {
            self.evict_oldest(fds);
        }
        p.seq = self.next_seq;
        self.next_seq += 1;
        self.procs.insert(p.pid, p);
    }

    /// Forgets `pid` and releases its fd table.
    pub fn remove(&mut self, pid: u32, fds: &mut FdTables) -> Option<Process> {
        let p = self.procs.remove(&pid)?;
        fds.release(p.fdt);
        Some(p)
    }

    fn evict_oldest(&mut self, fds: &mut FdTables) {
        let mut seqs: Vec<u64> = self.procs.values().map(|p| p.seq).collect();
        let cut = (seqs.len() / 8).max(1);
        seqs.select_nth_unstable(cut - 1);
        let threshold = seqs[cut - 1];
        let gone: Vec<u32> = self
            .procs
            .values()
            .filter(|p| p.seq <= threshold)
            .map(|p| p.pid)
            .collect();
        for pid in gone {
            self.remove(pid, fds);
            self.evicted += 1;
        }
    }
}
