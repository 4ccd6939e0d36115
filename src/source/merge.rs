//! Merging per-ring sample streams into one stream in timestamp order.
//!
//! Each ring is (nearly) in time order, but rings are drained one after another, so the
//! reader sees CPU 1's 10 ms-old samples after CPU 0's fresh ones. The merger keeps one
//! queue per stream and releases samples in global order once no stream can still
//! deliver an older one: the pipeline reads `t = clock.now_perf()`, drains every ring,
//! and calls `pop_ready(watermark(t))`.
//!
//! Why a reorder window (`REORDER_WINDOW_NS`, 20 ms) rather than `t` itself: a sample is
//! stamped before the kernel reserves its ring space, so a sample stamped just before `t`
//! can still be in flight on another CPU while we drain; without use_clockid the perf
//! clock is only calibrated against ours (µs) and per-CPU scheduler clocks may disagree
//! by more on unstable-TSC machines. 20 ms covers all of that with a wide margin, is
//! invisible to a person watching live output, and bounds memory to 20 ms of events
//! (≈ 2 MB at 1 M events/s). A sample that arrives later than that is still emitted, as
//! soon as possible, and counted as `late`.
//!
//! Memory is bounded: a queue above its cap (a stream far ahead of the others, or a
//! watermark that does not advance) forces an early release of everything up to the time
//! that brings it back to half its cap, counted as `early` (a reorder risk).
//!
//! Raw bytes are copied into a per-queue arena (one growing byte vector, compacted when
//! mostly dead), not one allocation per sample; entries index into it. Within a queue,
//! a slightly out-of-order sample is inserted in place (ties keep arrival order), so
//! output is deterministic: by time, then stream index, then arrival.
//!
//! No I/O: the merger is fed by the live engine and by capture-file readers alike.

use crate::perf::record::Sample;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// How far behind "now" the merge watermark trails (see the module docs).
pub const REORDER_WINDOW_NS: u64 = 20_000_000;

/// Default per-queue caps before early release.
pub const DEFAULT_CAP_SAMPLES: usize = 1 << 20;
pub const DEFAULT_CAP_BYTES: usize = 64 << 20;

/// Streams beyond this share the last queue (still correct, only slower); it keeps a
/// corrupt stream index from allocating without bound.
pub const MAX_STREAMS: usize = 1 << 16;

/// The watermark for a drain that started at perf time `now_perf`.
pub fn watermark(now_perf: u64) -> u64 {
    now_perf.saturating_sub(REORDER_WINDOW_NS)
}

/// Counters for `-v` and the end-of-run summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeStats {
    pub pushed: u64,
    pub emitted: u64,
    /// Samples pushed with a time before one already emitted (output order broken).
    pub late: u64,
    /// Samples emitted before the watermark reached them because a queue was full.
    pub early: u64,
    /// The most samples queued at once.
    pub max_queued: usize,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    time: u64,
    pid: u32,
    tid: u32,
    cpu: u32,
    off: usize,
    len: usize,
}

#[derive(Default)]
struct Queue {
    entries: VecDeque<Entry>,
    bytes: Vec<u8>,
    /// The other buffer [`Queue::compact`] copies into.
    spare: Vec<u8>,
    /// Bytes of `bytes` still referenced by entries.
    live: usize,
}

impl Queue {
    fn push(&mut self, s: &Sample<'_>) {
        if self.bytes.len() > 2 * self.live + (64 << 10) {
            self.compact();
        }
        let e = Entry {
            time: s.time,
            pid: s.pid,
            tid: s.tid,
            cpu: s.cpu,
            off: self.bytes.len(),
            len: s.raw.len(),
        };
        self.bytes.extend_from_slice(s.raw);
        self.live += s.raw.len();
        match self.entries.back() {
            Some(b) if b.time > s.time => {
                let at = self.entries.partition_point(|x| x.time <= s.time);
                self.entries.insert(at, e);
            }
            _ => self.entries.push_back(e),
        }
    }

    /// Copies the live records into the spare buffer and swaps the two. Both keep their
    /// capacity: a storm would otherwise reallocate (and page-fault in) a fresh buffer on
    /// every compaction.
    fn compact(&mut self) {
        let mut bytes = std::mem::take(&mut self.spare);
        bytes.clear();
        for e in self.entries.iter_mut() {
            let off = bytes.len();
            bytes.extend_from_slice(&self.bytes[e.off..e.off + e.len]);
            e.off = off;
        }
        self.spare = std::mem::replace(&mut self.bytes, bytes);
    }

    fn front_time(&self) -> Option<u64> {
        self.entries.front().map(|e| e.time)
    }

    fn over(&self, cap_samples: usize, cap_bytes: usize) -> bool {
        self.entries.len() > cap_samples || self.live > cap_bytes
    }
}

/// The k-way merge of per-stream sample queues.
pub struct Merger {
    queues: Vec<Queue>,
    queued: usize,
    last_emitted: Option<u64>,
    stats: MergeStats,
    cap_samples: usize,
    cap_bytes: usize,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
}

impl Default for Merger {
    fn default() -> Merger {
        Merger::new()
    }
}

impl Merger {
    pub fn new() -> Merger {
        Merger::with_caps(DEFAULT_CAP_SAMPLES, DEFAULT_CAP_BYTES)
    }

    /// A merger whose queues release early above `cap_samples` samples or `cap_bytes`
    /// raw bytes.
    pub fn with_caps(cap_samples: usize, cap_bytes: usize) -> Merger {
        Merger {
            queues: Vec::new(),
            queued: 0,
            last_emitted: None,
            stats: MergeStats::default(),
            cap_samples: cap_samples.max(1),
            cap_bytes: cap_bytes.max(1),
            heap: BinaryHeap::new(),
        }
    }

    /// Queues a copy of `s` on `stream` (a ring index live, a CPU number from a file).
    pub fn push(&mut self, stream: usize, s: &Sample<'_>) {
        let stream = stream.min(MAX_STREAMS - 1);
        if stream >= self.queues.len() {
            self.queues.resize_with(stream + 1, Queue::default);
        }
        if self.last_emitted.is_some_and(|t| s.time < t) {
            self.stats.late += 1;
        }
        self.queues[stream].push(s);
        self.queued += 1;
        self.stats.pushed += 1;
        self.stats.max_queued = self.stats.max_queued.max(self.queued);
    }

    /// Samples queued.
    pub fn len(&self) -> usize {
        self.queued
    }

    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    pub fn stats(&self) -> &MergeStats {
        &self.stats
    }

    /// Emits, in time order, every queued sample with `time <= watermark`; then, if a
    /// queue is over its cap, releases early up to the time that halves it. Returns the
    /// number emitted.
    pub fn pop_ready(&mut self, watermark: u64, mut f: impl FnMut(Sample<'_>)) -> usize {
        let mut n = self.emit_until(watermark, &mut f);
        while let Some(limit) = self.early_limit() {
            let m = self.emit_until(limit, &mut f);
            self.stats.early += m as u64;
            n += m;
        }
        n
    }

    /// Emits everything, in time order (end of input).
    pub fn flush(&mut self, mut f: impl FnMut(Sample<'_>)) -> usize {
        self.emit_until(u64::MAX, &mut f)
    }

    /// The time up to which to release so the first over-cap queue drops to half its cap.
    fn early_limit(&self) -> Option<u64> {
        let q = self
            .queues
            .iter()
            .find(|q| q.over(self.cap_samples, self.cap_bytes))?;
        // Keep at most half the cap in samples, and release at least one sample.
        let keep = (self.cap_samples / 2).min(q.entries.len() - 1);
        let mut idx = q.entries.len() - 1 - keep;
        // And enough bytes: walk forward until the rest fits half the byte cap.
        let mut rest: usize = q.entries.iter().skip(idx + 1).map(|e| e.len).sum();
        while rest > self.cap_bytes / 2 && idx + 1 < q.entries.len() {
            idx += 1;
            rest -= q.entries[idx].len;
        }
        Some(q.entries[idx].time)
    }

    fn emit_until(&mut self, limit: u64, f: &mut impl FnMut(Sample<'_>)) -> usize {
        self.heap.clear();
        for (i, q) in self.queues.iter().enumerate() {
            if let Some(t) = q.front_time().filter(|&t| t <= limit) {
                self.heap.push(Reverse((t, i)));
            }
        }
        let mut n = 0;
        while let Some(Reverse((_, i))) = self.heap.pop() {
            let q = &mut self.queues[i];
            let Some(e) = q.entries.pop_front() else {
                continue;
            };
            q.live -= e.len;
            f(Sample {
                pid: e.pid,
                tid: e.tid,
                time: e.time,
                cpu: e.cpu,
                raw: &q.bytes[e.off..e.off + e.len],
            });
            n += 1;
            self.last_emitted = Some(self.last_emitted.map_or(e.time, |t| t.max(e.time)));
            match q.front_time() {
                Some(t) if t <= limit => self.heap.push(Reverse((t, i))),
                Some(_) => {}
                None => q.bytes.clear(),
            }
        }
        self.queued -= n;
        self.stats.emitted += n as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    fn sample(time: u64, cpu: u32, raw: &[u8]) -> Sample<'_> {
        Sample {
            pid: 1,
            tid: 2,
            time,
            cpu,
            raw,
        }
    }

    /// An id in the raw bytes (with a variable-length tail, to exercise the arena).
    fn raw_for(id: u64, rng: &mut Rng) -> Vec<u8> {
        let mut v = id.to_ne_bytes().to_vec();
        v.extend(std::iter::repeat_n(id as u8, rng.below(24) as usize));
        v
    }

    fn id_of(raw: &[u8]) -> u64 {
        u64::from_ne_bytes(raw[..8].try_into().unwrap())
    }

    /// Simulates live capture: a clock advances; each stream produces samples stamped up
    /// to `max_delay` before "now" (slightly out of order within the stream), delivered in
    /// chunks; after each round the merger releases up to now - window.
    fn run(
        seed: u64,
        streams: usize,
        max_delay: u64,
        cap: usize,
    ) -> (Vec<(u64, u64)>, u64, MergeStats) {
        let mut rng = Rng(seed);
        let mut m = Merger::with_caps(cap, usize::MAX);
        let mut out = Vec::new();
        let mut now = 1_000_000_000u64;
        let mut next_id = 0u64;
        let collect = |s: Sample<'_>, out: &mut Vec<(u64, u64)>| {
            assert!(s.raw.len() >= 8);
            let id = id_of(s.raw);
            assert!(
                s.raw[8..].iter().all(|&b| b == id as u8),
                "raw bytes intact"
            );
            out.push((s.time, id));
        };
        for _round in 0..200 {
            now += rng.below(5_000_000);
            for stream in 0..streams {
                for _ in 0..rng.below(40) {
                    let t = now - rng.below(max_delay);
                    let raw = raw_for(next_id, &mut rng);
                    m.push(stream, &sample(t, stream as u32, &raw));
                    next_id += 1;
                }
            }
            m.pop_ready(watermark(now), |s| collect(s, &mut out));
        }
        m.flush(|s| collect(s, &mut out));
        assert!(m.is_empty());
        (out, next_id, *m.stats())
    }

    #[test]
    fn random_streams_merge_sorted_with_nothing_lost_or_duplicated() {
        for seed in 1..40u64 {
            let streams = 1 + (seed as usize % 7);
            let (out, total, stats) = run(
                seed * 7919,
                streams,
                REORDER_WINDOW_NS / 2,
                DEFAULT_CAP_SAMPLES,
            );
            assert_eq!(out.len() as u64, total, "seed {seed}");
            let mut ids: Vec<u64> = out.iter().map(|o| o.1).collect();
            ids.sort_unstable();
            assert!(
                ids.iter().enumerate().all(|(i, &id)| i as u64 == id),
                "each id exactly once"
            );
            assert!(
                out.windows(2).all(|w| w[0].0 <= w[1].0),
                "seed {seed}: out of order"
            );
            assert_eq!((stats.late, stats.early), (0, 0));
            assert_eq!(stats.pushed, total);
            assert_eq!(stats.emitted, total);
        }
    }

    #[test]
    fn samples_later_than_the_window_are_counted_not_lost() {
        let (out, total, stats) = run(99, 3, REORDER_WINDOW_NS * 3, DEFAULT_CAP_SAMPLES);
        assert_eq!(out.len() as u64, total);
        assert!(stats.late > 0);
    }

    #[test]
    fn full_queues_release_early_and_lose_nothing() {
        let (out, total, stats) = run(7, 4, REORDER_WINDOW_NS / 2, 16);
        assert_eq!(out.len() as u64, total);
        assert!(stats.early > 0);
        assert!(
            stats.max_queued < 4 * 16 + 4 * 40,
            "caps bound memory: {}",
            stats.max_queued
        );
    }

    #[test]
    fn ties_keep_stream_then_arrival_order() {
        let mut m = Merger::new();
        m.push(1, &sample(5, 1, b"b1"));
        m.push(0, &sample(5, 0, b"a1"));
        m.push(1, &sample(5, 1, b"b2"));
        m.push(0, &sample(3, 0, b"a0"));
        let mut got = Vec::new();
        assert_eq!(m.pop_ready(4, |s| got.push(s.raw.to_vec())), 1);
        m.flush(|s| got.push(s.raw.to_vec()));
        assert_eq!(got, [&b"a0"[..], b"a1", b"b1", b"b2"]);
    }

    #[test]
    fn byte_cap_and_arena_compaction() {
        let mut m = Merger::with_caps(usize::MAX, 1000);
        let big = [7u8; 300];
        let mut got = 0;
        for t in 0..10_000u64 {
            m.push(0, &sample(t, 0, &big));
            m.push(1, &sample(t, 1, &big));
            got += m.pop_ready(0, |s| assert_eq!(s.raw, &big[..]));
            assert!(m.len() <= 8);
        }
        got += m.flush(|_| {});
        assert_eq!(got, 20_000);
        assert!(m.stats().early > 0);
        let mut m = Merger::new();
        for t in 0..100_000u64 {
            m.push(0, &sample(t, 0, &big[..64]));
            if t >= 10 {
                m.pop_ready(t - 10, |_| {});
            }
            assert!(m.queues[0].bytes.len() <= 2 * m.queues[0].live + (64 << 10) + 64);
        }
    }

    #[test]
    fn huge_stream_indexes_are_folded() {
        let mut m = Merger::new();
        m.push(usize::MAX, &sample(2, 0, b"x"));
        m.push(MAX_STREAMS + 5, &sample(1, 0, b"y"));
        let mut got = Vec::new();
        m.flush(|s| got.push(s.time));
        assert_eq!(got, [1, 2]);
        assert!(m.queues.len() <= MAX_STREAMS);
    }
}
