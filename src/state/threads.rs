//! The thread table: tid → process id, command name and credentials.
//!
//! Credentials are per thread in Linux (each thread makes its own setuid call), so they
//! live here; what threads of a process share (exe, args, cwd, fds) is in `process`.
//! A per-pid count of known threads tells when the last thread of a process left.
//!
//! Bounded like sysdig's (it caps its table at 131072 threads): when full, entries of threads
//! that exited are already gone, and the oldest-inserted survivors are evicted, so a fork
//! storm cannot grow memory without limit.

use crate::fasthash::IntMap;

/// Default bound on remembered threads (sysdig's default thread-table size).
pub const MAX_THREADS: usize = 131_072;

/// A task's comm: at most 15 bytes in the kernel (TASK_COMM_LEN 16 with the NUL). Kept
/// inline so updating it on every context switch does not allocate.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Comm {
    len: u8,
    bytes: [u8; 16],
}

impl Comm {
    /// Takes bytes up to the first NUL, at most 16.
    pub fn from_bytes(raw: &[u8]) -> Comm {
        let end = raw
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(raw.len())
            .min(16);
        let mut bytes = [0u8; 16];
        bytes[..end].copy_from_slice(&raw[..end]);
        Comm {
            len: end as u8,
            bytes,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    pub tid: u32,
    /// Thread-group id (the process id users see); 0 while unknown.
    pub pid: u32,
    pub comm: Comm,
    /// Real and effective user ids (sysdig's `user.uid` is the effective one).
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub gid: Option<u32>,
    pub egid: Option<u32>,
    /// Audit login uid; None when unset or unknown.
    pub loginuid: Option<u32>,
    /// Thread id in its own pid namespace.
    pub vtid: Option<u32>,
    /// Insertion order, for eviction.
    seq: u64,
}

impl Thread {
    /// A thread with nothing known but its ids.
    pub fn new(tid: u32, pid: u32) -> Thread {
        Thread {
            tid,
            pid,
            comm: Comm::default(),
            uid: None,
            euid: None,
            gid: None,
            egid: None,
            loginuid: None,
            vtid: None,
            seq: 0,
        }
    }

    /// Is this the process's main thread?
    pub fn is_main(&self) -> bool {
        self.tid == self.pid
    }
}

#[derive(Debug)]
pub struct ThreadTable {
    threads: IntMap<u32, Thread>,
    limit: usize,
    next_seq: u64,
    evicted: u64,
    /// pid → number of known threads with that pid (pid 0 not counted).
    per_pid: IntMap<u32, u32>,
}

impl Default for ThreadTable {
    fn default() -> Self {
        ThreadTable::with_limit(MAX_THREADS)
    }
}

impl ThreadTable {
    pub fn with_limit(limit: usize) -> ThreadTable {
        ThreadTable {
            threads: IntMap::default(),
            limit: limit.max(1),
            next_seq: 0,
            evicted: 0,
            per_pid: IntMap::default(),
        }
    }

    pub fn get(&self, tid: u32) -> Option<&Thread> {
        self.threads.get(&tid)
    }

    pub fn len(&self) -> usize {
        self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// How many live entries were dropped to respect the bound.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Records that `tid` (of process `pid`) runs under `comm`; inserts it when new.
    pub fn set_comm(&mut self, tid: u32, pid: u32, comm: Comm) {
        if let Some(t) = self.threads.get_mut(&tid) {
            t.comm = comm;
            if pid != 0 && t.pid != pid {
                let old = t.pid;
                t.pid = pid;
                self.recount(old, pid);
            }
            return;
        }
        let mut t = Thread::new(tid, pid);
        t.comm = comm;
        self.insert(t);
    }

    /// Makes sure `tid` is known, without changing a name it already has.
    pub fn touch(&mut self, tid: u32, pid: u32) {
        match self.threads.get_mut(&tid) {
            Some(t) if t.pid == 0 && pid != 0 => {
                t.pid = pid;
                self.recount(0, pid);
            }
            Some(_) => {}
            None => self.insert(Thread::new(tid, pid)),
        }
    }

    pub fn get_mut(&mut self, tid: u32) -> Option<&mut Thread> {
        self.threads.get_mut(&tid)
    }

    /// Inserts or replaces a whole thread record (the snapshot, clone children).
    pub fn put(&mut self, t: Thread) {
        if let Some(old) = self.threads.remove(&t.tid) {
            self.uncount(old.pid);
        }
        self.insert(t);
    }

    /// Moves `tid` to process `pid` (exec by a non-leader thread takes the leader's id).
    pub fn set_pid(&mut self, tid: u32, pid: u32) {
        if let Some(t) = self.threads.get_mut(&tid)
            && t.pid != pid
        {
            let old = t.pid;
            t.pid = pid;
            self.recount(old, pid);
        }
    }

    pub fn remove(&mut self, tid: u32) -> Option<Thread> {
        let t = self.threads.remove(&tid)?;
        self.uncount(t.pid);
        Some(t)
    }

    /// How many known threads belong to process `pid`.
    pub fn count_in(&self, pid: u32) -> u32 {
        self.per_pid.get(&pid).copied().unwrap_or(0)
    }

    /// Tids of the known threads of `pid` (a scan of the table: for rare events only).
    pub fn tids_of(&self, pid: u32) -> Vec<u32> {
        if self.count_in(pid) == 0 {
            return Vec::new();
        }
        let mut v: Vec<u32> = self
            .threads
            .values()
            .filter(|t| t.pid == pid)
            .map(|t| t.tid)
            .collect();
        v.sort_unstable();
        v
    }

    pub fn iter(&self) -> impl Iterator<Item = &Thread> {
        self.threads.values()
    }

    fn count(&mut self, pid: u32) {
        if pid != 0 {
            *self.per_pid.entry(pid).or_insert(0) += 1;
        }
    }

    fn uncount(&mut self, pid: u32) {
        if let Some(n) = self.per_pid.get_mut(&pid) {
            *n -= 1;
            if *n == 0 {
                self.per_pid.remove(&pid);
            }
        }
    }

    fn recount(&mut self, old: u32, new: u32) {
        self.uncount(old);
        self.count(new);
    }

    fn insert(&mut self, mut t: Thread) {
        if self.threads.len() >= self.limit {
            self.evict_oldest();
        }
        t.seq = self.next_seq;
        self.next_seq += 1;
        self.count(t.pid);
        self.threads.insert(t.tid, t);
    }

    /// Drops the oldest eighth of the table at once, so eviction cost is amortised.
    fn evict_oldest(&mut self) {
        let mut seqs: Vec<u64> = self.threads.values().map(|t| t.seq).collect();
        let cut = (seqs.len() / 8).max(1);
        seqs.select_nth_unstable(cut - 1);
        let threshold = seqs[cut - 1];
        let gone: Vec<(u32, u32)> = self
            .threads
            .values()
            .filter(|t| t.seq <= threshold)
            .map(|t| (t.tid, t.pid))
            .collect();
        for (tid, pid) in gone {
            self.threads.remove(&tid);
            self.uncount(pid);
            self.evicted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_stops_at_nul_and_sixteen_bytes() {
        assert_eq!(Comm::from_bytes(b"bash\0junk").as_bytes(), b"bash");
        assert_eq!(Comm::from_bytes(&[b'x'; 40]).as_bytes().len(), 16);
    }

    #[test]
    fn names_update_and_threads_leave() {
        let mut t = ThreadTable::default();
        t.set_comm(10, 10, Comm::from_bytes(b"sh"));
        t.set_comm(10, 10, Comm::from_bytes(b"cat"));
        assert_eq!(t.get(10).unwrap().comm.as_bytes(), b"cat");
        t.touch(10, 10);
        assert_eq!(t.get(10).unwrap().comm.as_bytes(), b"cat");
        t.remove(10);
        assert!(t.get(10).is_none());
    }

    #[test]
    fn a_fork_storm_stays_within_the_bound() {
        let mut t = ThreadTable::with_limit(1000);
        for tid in 0..10_000 {
            t.set_comm(tid, tid, Comm::from_bytes(b"child"));
            assert!(t.len() <= 1000);
        }
        assert!(t.get(9_999).is_some(), "the newest thread is kept");
        assert!(t.get(0).is_none(), "the oldest thread was evicted");
        assert!(t.evicted() >= 9_000);
        assert_eq!(t.count_in(9_999), 1);
        assert_eq!(t.count_in(0), 0);
        assert!(t.per_pid.len() <= 1000, "counts follow evictions");
    }

    #[test]
    fn per_pid_counts_follow_moves_and_removals() {
        let mut t = ThreadTable::default();
        t.touch(5, 0);
        assert_eq!(t.count_in(5), 0);
        t.touch(5, 5);
        t.set_comm(6, 5, Comm::from_bytes(b"w"));
        assert_eq!(t.count_in(5), 2);
        assert_eq!(t.tids_of(5), vec![5, 6]);
        t.set_pid(6, 9);
        assert_eq!((t.count_in(5), t.count_in(9)), (1, 1));
        t.remove(5);
        assert_eq!(t.count_in(5), 0);
    }
}
