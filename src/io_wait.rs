//! Holding a read's or write's exit until its data arrives.
//!
//! A call's I/O data is copied by a probe on the instruction after its `syscall`
//! ([`io_data`](crate::probes::io_data)): that record is written after the call's
//! `sys_exit`, so the exit would be shown before its data exists. When data is being
//! copied, the record stream is held from such an exit on, in arrival order, until the
//! thread's data record comes (and is attached to the exit), or until it is clear none
//! will: the thread's next record (other than being switched out) came first, the stream
//! moved [`HOLD_NS`] past the exit, or the queue is full. Records behind a held exit wait
//! with it, so the output stays in time order. Data records are never queued.
//!
//! Only a bookkeeping structure: the pipeline decides what is a data exit and processes
//! what is released. No I/O.

use crate::calls::ValueSource;
use std::collections::{BTreeMap, VecDeque};

/// How far past an exit the stream may move before its data is given up (stream time,
/// ns). A thread preempted between the call's return and its next instruction for longer
/// loses its data (shown as missing, counted).
pub const HOLD_NS: u64 = 2_000_000;

/// Records held at most; beyond, the oldest held exit goes on without its data.
pub const MAX_HELD: usize = 16_384;

/// One record, owned while it waits.
#[derive(Debug, Clone)]
pub struct Held {
    pub ts: u64,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    pub raw: Vec<u8>,
    /// Set on a data call's exit: what it waits for.
    pub wait: Option<Wait>,
}

/// A data exit's wait.
#[derive(Debug, Clone)]
pub struct Wait {
    pub syscall: &'static str,
    pub ret: i64,
    /// Still waiting (false once the data came or was given up).
    pub open: bool,
    /// The data, when it came: (bytes, source).
    pub data: Option<(Vec<u8>, ValueSource)>,
}

/// Per system call: data exits seen, and how many of them got their data.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DataCoverage {
    pub exits: u64,
    pub with_data: u64,
}

#[derive(Debug, Default)]
pub struct IoWait {
    queue: VecDeque<Held>,
    /// The latest stream time seen (records and watermarks).
    now: u64,
    /// Data records that found no held exit of their thread and call.
    pub unmatched: u64,
    pub coverage: BTreeMap<&'static str, DataCoverage>,
}

impl IoWait {
    /// Whether nothing is held (a record can then be processed at once).
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The stream reached `ts` (a record's time, or the merger's watermark: nothing
    /// older will come).
    pub fn advance(&mut self, ts: u64) {
        self.now = self.now.max(ts);
    }

    /// A record of thread `tid` that is not a data record: ends the wait of that thread's
    /// held exit unless it is only the thread being switched out (`switch_out`).
    pub fn saw(&mut self, tid: u32, switch_out: bool) {
        if switch_out {
            return;
        }
        if let Some(w) = self.open_wait(tid) {
            w.open = false;
        }
    }

    /// Queues a record (`wait`: it is a data exit and waits for its data).
    pub fn hold(&mut self, mut h: Held, wait: Option<(&'static str, i64)>) {
        self.advance(h.ts);
        h.wait = wait.map(|(syscall, ret)| {
            self.coverage.entry(syscall).or_default().exits += 1;
            Wait {
                syscall,
                ret,
                open: true,
                data: None,
            }
        });
        self.queue.push_back(h);
    }

    /// A data record for thread `tid`'s call `syscall` that returned `ret`: attached to
    /// that thread's held exit when they match; else counted and dropped.
    pub fn data(&mut self, tid: u32, syscall: &str, ret: i64, bytes: Vec<u8>, source: ValueSource) {
        match self.open_wait(tid) {
            Some(w) if w.syscall == syscall && w.ret == ret => {
                w.open = false;
                w.data = Some((bytes, source));
                let s = w.syscall;
                self.coverage.entry(s).or_default().with_data += 1;
            }
            Some(w) => {
                // Not this exit's data: the exit will get none.
                w.open = false;
                self.unmatched += 1;
            }
            None => self.unmatched += 1,
        }
    }

    /// The next record that may go on (`all`: the run ends, everything goes).
    pub fn release(&mut self, all: bool) -> Option<Held> {
        let front = self.queue.front()?;
        let waiting = front.wait.as_ref().is_some_and(|w| w.open);
        let expired = self.now.saturating_sub(front.ts) > HOLD_NS;
        if waiting && !all && !expired && self.queue.len() <= MAX_HELD {
            return None;
        }
        self.queue.pop_front()
    }

    /// The open wait of thread `tid` (a thread has at most one: its next record ends it).
    fn open_wait(&mut self, tid: u32) -> Option<&mut Wait> {
        self.queue
            .iter_mut()
            .rev()
            .filter(|h| h.tid == tid)
            .find_map(|h| h.wait.as_mut().filter(|w| w.open))
    }

    /// `-v` lines: per call, exits that moved data and how many carried it.
    pub fn summary(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .coverage
            .iter()
            .map(|(s, c)| format!("{s} {}/{}", c.with_data, c.exits))
            .collect();
        if self.unmatched > 0 {
            v.push(format!(
                "{} data records without their exit",
                self.unmatched
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: u64, tid: u32) -> Held {
        Held {
            ts,
            cpu: 0,
            pid: tid,
            tid,
            raw: vec![ts as u8],
            wait: None,
        }
    }

    fn drain(w: &mut IoWait) -> Vec<u64> {
        std::iter::from_fn(|| w.release(false))
            .map(|h| h.ts)
            .collect()
    }

    #[test]
    fn exit_waits_for_its_data_and_records_behind_it_wait_too() {
        let mut w = IoWait::default();
        w.hold(rec(10, 1), Some(("read", 5)));
        w.hold(rec(11, 2), None);
        assert!(drain(&mut w).is_empty());
        w.data(1, "read", 5, b"hello".to_vec(), ValueSource::Uprobe);
        let first = w.release(false).unwrap();
        assert_eq!(first.wait.unwrap().data.unwrap().0, b"hello");
        assert_eq!(drain(&mut w), vec![11]);
        assert_eq!(
            w.coverage["read"],
            DataCoverage {
                exits: 1,
                with_data: 1
            }
        );
    }

    #[test]
    fn the_threads_next_record_ends_the_wait_but_a_switch_out_does_not() {
        let mut w = IoWait::default();
        w.hold(rec(10, 1), Some(("write", 3)));
        w.saw(1, true);
        w.hold(rec(12, 1), None);
        assert!(drain(&mut w).is_empty());
        w.saw(1, false);
        w.hold(rec(13, 1), None);
        assert_eq!(drain(&mut w), vec![10, 12, 13]);
        assert_eq!(w.coverage["write"].with_data, 0);
    }

    #[test]
    fn a_wait_expires_when_the_stream_moves_on() {
        let mut w = IoWait::default();
        w.hold(rec(10, 1), Some(("read", 1)));
        w.advance(10 + HOLD_NS);
        assert!(w.release(false).is_none());
        w.advance(11 + HOLD_NS);
        assert_eq!(drain(&mut w), vec![10]);
    }

    #[test]
    fn mismatched_data_is_not_attached() {
        let mut w = IoWait::default();
        w.hold(rec(10, 1), Some(("read", 4)));
        w.data(1, "read", 9, b"x".to_vec(), ValueSource::Uprobe);
        let h = w.release(false).unwrap();
        assert!(h.wait.unwrap().data.is_none());
        assert_eq!(w.unmatched, 1);
        w.data(7, "write", 1, vec![], ValueSource::Uprobe);
        assert_eq!(w.unmatched, 2);
    }

    #[test]
    fn the_end_releases_everything() {
        let mut w = IoWait::default();
        w.hold(rec(10, 1), Some(("read", 4)));
        w.hold(rec(11, 2), Some(("read", 4)));
        assert!(w.release(false).is_none());
        assert!(w.release(true).is_some());
        assert!(w.release(true).is_some());
        assert!(w.release(true).is_none());
    }
}
