//! The fallback ring: what the kernel would have kept, kept in user space instead.
//!
//! Where the kernel cannot overwrite for us (no `write_backward`, or it is forced off), the
//! rings stream as in a normal capture and every sample lands here, one ring per CPU with
//! the same byte budget as the kernel ring. A sample is charged what its perf record
//! occupies in a kernel ring (header, TID, TIME, CPU, the raw size word and payload, padded
//! to 8 bytes), so both modes cover about the same stretch of time for a given size. When
//! full, the oldest samples go first. No I/O: the live loop feeds it, tests drive it
//! directly.

use crate::perf::Sample;
use std::collections::VecDeque;

/// A sample copied out of a ring, kept until a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedSample {
    /// Perf clock time.
    pub time: u64,
    pub pid: u32,
    pub tid: u32,
    pub cpu: u32,
    pub raw: Box<[u8]>,
}

impl OwnedSample {
    pub fn of(s: &Sample<'_>) -> OwnedSample {
        OwnedSample {
            time: s.time,
            pid: s.pid,
            tid: s.tid,
            cpu: s.cpu,
            raw: s.raw.into(),
        }
    }

    pub fn as_sample(&self) -> Sample<'_> {
        Sample {
            pid: self.pid,
            tid: self.tid,
            time: self.time,
            cpu: self.cpu,
            raw: &self.raw,
            callchain: &[],
            regs_user: &[],
            stack_user: &[],
        }
    }
}

/// The bytes a tpdig sample with a `raw_len`-byte payload occupies in a kernel ring.
pub fn record_bytes(raw_len: usize) -> u64 {
    // header 8 + tid 8 + time 8 + cpu 8 + raw size 4 + payload, padded to 8.
    (36 + raw_len as u64).div_ceil(8) * 8
}

/// One CPU's fallback ring.
#[derive(Debug)]
pub struct UserRing {
    samples: VecDeque<OwnedSample>,
    capacity: u64,
    used: u64,
    /// Samples pushed out to make room.
    pub overwritten: u64,
}

impl UserRing {
    pub fn new(capacity: u64) -> UserRing {
        UserRing {
            samples: VecDeque::new(),
            capacity,
            used: 0,
            overwritten: 0,
        }
    }

    /// Keeps `s`, dropping the oldest samples until it fits. A sample larger than the
    /// whole ring is not kept (the kernel could not have kept it either).
    pub fn push(&mut self, s: &Sample<'_>) {
        let cost = record_bytes(s.raw.len());
        if cost > self.capacity {
            self.overwritten += 1;
            return;
        }
        while self.used + cost > self.capacity {
            let Some(old) = self.samples.pop_front() else {
                break;
            };
            self.used -= record_bytes(old.raw.len());
            self.overwritten += 1;
        }
        self.used += cost;
        self.samples.push_back(OwnedSample::of(s));
    }

    /// The samples kept, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &OwnedSample> {
        self.samples.iter()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Bytes charged for the samples kept.
    pub fn used(&self) -> u64 {
        self.used
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// True once older samples have been dropped: the ring covers less than the run.
    pub fn wrapped(&self) -> bool {
        self.overwritten > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: u64, raw: &[u8]) -> Sample<'_> {
        Sample {
            pid: 1,
            tid: t as u32,
            time: t,
            cpu: 0,
            raw,
            callchain: &[],
            regs_user: &[],
            stack_user: &[],
        }
    }

    #[test]
    fn charges_what_a_kernel_record_takes() {
        // A sys_enter record of raw_syscalls on x86_64: 8 + 8 + 6*8 = 64 bytes of payload
        // plus 4 padding bytes in the kernel, whose perf record is 104 bytes.
        assert_eq!(record_bytes(68), 104);
        assert_eq!(record_bytes(4), 40);
        assert_eq!(record_bytes(12), 48);
    }

    #[test]
    fn drops_the_oldest_to_keep_the_newest_contiguous() {
        let mut r = UserRing::new(48 * 10);
        for t in 0..25u64 {
            r.push(&sample(t, &[0u8; 12]));
        }
        let times: Vec<u64> = r.iter().map(|s| s.time).collect();
        assert_eq!(times, (15..25).collect::<Vec<_>>());
        assert_eq!((r.used(), r.overwritten, r.wrapped()), (480, 15, true));
        // Mixed sizes: a large sample evicts as many small ones as it needs.
        r.push(&sample(25, &[0u8; 100]));
        assert!(r.used() <= r.capacity());
        assert_eq!(r.iter().last().unwrap().time, 25);
        assert_eq!(r.iter().next().unwrap().time, 18);
        let mut small = UserRing::new(40);
        small.push(&sample(1, &[0u8; 100]));
        assert!(small.is_empty() && small.wrapped());
    }
}
