//! The thread table: tid → process id and command name.
//!
//! Bounded like sysdig's (it caps its table at 131072 threads): when full, entries of threads
//! that exited are already gone, and the oldest-inserted survivors are evicted, so a fork
//! storm cannot grow memory without limit.

use std::collections::HashMap;

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
    /// Thread-group id (the process id users see).
    pub pid: u32,
    pub comm: Comm,
    /// Insertion order, for eviction.
    seq: u64,
}

#[derive(Debug)]
pub struct ThreadTable {
    threads: HashMap<u32, Thread>,
    limit: usize,
    next_seq: u64,
    evicted: u64,
}

impl Default for ThreadTable {
    fn default() -> Self {
        ThreadTable::with_limit(MAX_THREADS)
    }
}

impl ThreadTable {
    pub fn with_limit(limit: usize) -> ThreadTable {
        ThreadTable {
            threads: HashMap::new(),
            limit: limit.max(1),
            next_seq: 0,
            evicted: 0,
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
            if pid != 0 {
                t.pid = pid;
            }
            return;
        }
        self.insert(Thread {
            tid,
            pid,
            comm,
            seq: 0,
        });
    }

    /// Makes sure `tid` is known, without changing a name it already has.
    pub fn touch(&mut self, tid: u32, pid: u32) {
        match self.threads.get_mut(&tid) {
            Some(t) if t.pid == 0 => t.pid = pid,
            Some(_) => {}
            None => self.insert(Thread {
                tid,
                pid,
                comm: Comm::default(),
                seq: 0,
            }),
        }
    }

    pub fn remove(&mut self, tid: u32) {
        self.threads.remove(&tid);
    }

    fn insert(&mut self, mut t: Thread) {
        if self.threads.len() >= self.limit {
            self.evict_oldest();
        }
        t.seq = self.next_seq;
        self.next_seq += 1;
        self.threads.insert(t.tid, t);
    }

    /// Drops the oldest eighth of the table at once, so eviction cost is amortised.
    fn evict_oldest(&mut self) {
        let mut seqs: Vec<u64> = self.threads.values().map(|t| t.seq).collect();
        let cut = (seqs.len() / 8).max(1);
        seqs.select_nth_unstable(cut - 1);
        let threshold = seqs[cut - 1];
        let before = self.threads.len();
        self.threads.retain(|_, t| t.seq > threshold);
        self.evicted += (before - self.threads.len()) as u64;
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
    }
}
