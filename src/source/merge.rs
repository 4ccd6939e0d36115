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
//! Raw bytes are copied into a per-queue arena of fixed-size chunks, not one allocation per
//! sample; entries index into it, and a chunk goes back to a shared spare list once every
//! sample in it is emitted. A backlog of tens of megabytes (a live capture catching up
//! after a burst) therefore grows and shrinks a chunk at a time: no reallocation or
//! compaction copies it whole while the rings wait to be drained. Within a queue,
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
    len: u32,
    /// Call-chain bytes stored right after the raw bytes (`-k`), usually 0.
    chain: u32,
    /// User register and user stack bytes stored after the chain (`-k` with a stack copy,
    /// for the unwinder after the merge), usually 0.
    regs: u32,
    ustack: u32,
    /// Sequence number of the chunk holding the raw bytes, and the offset in it.
    chunk: u64,
    off: usize,
}

/// Raw bytes of consecutive samples, and how many of them are still queued.
struct Chunk {
    bytes: Vec<u8>,
    live: usize,
}

/// Bytes per arena chunk (a larger sample gets a chunk of its own size).
const CHUNK_BYTES: usize = 256 << 10;

/// Emptied chunks kept for reuse, per merger; the rest go back to the allocator.
const SPARE_CHUNKS: usize = 16;

#[derive(Default)]
struct Queue {
    entries: VecDeque<Entry>,
    /// The arena: chunks in the order they were filled; `chunks[0]` has sequence number
    /// `first_chunk`. Only the last one is written to.
    chunks: VecDeque<Chunk>,
    first_chunk: u64,
    /// Raw bytes still referenced by entries.
    live: usize,
}

impl Queue {
    fn push(&mut self, s: &Sample<'_>, spare: &mut Vec<Vec<u8>>) {
        let need = s.raw.len() + s.callchain.len() + s.regs_user.len() + s.stack_user.len();
        let room = self
            .chunks
            .back()
            .is_some_and(|c| c.bytes.capacity() - c.bytes.len() >= need);
        if !room {
            let mut bytes = spare.pop().unwrap_or_default();
            bytes.clear();
            bytes.reserve_exact(CHUNK_BYTES.max(need));
            self.chunks.push_back(Chunk { bytes, live: 0 });
        }
        let seq = self.first_chunk + self.chunks.len() as u64 - 1;
        let chunk = self.chunks.back_mut().expect("a chunk was just ensured");
        let e = Entry {
            time: s.time,
            pid: s.pid,
            tid: s.tid,
            cpu: s.cpu,
            len: s.raw.len() as u32,
            chain: s.callchain.len() as u32,
            regs: s.regs_user.len() as u32,
            ustack: s.stack_user.len() as u32,
            chunk: seq,
            off: chunk.bytes.len(),
        };
        chunk.bytes.extend_from_slice(s.raw);
        chunk.bytes.extend_from_slice(s.callchain);
        chunk.bytes.extend_from_slice(s.regs_user);
        chunk.bytes.extend_from_slice(s.stack_user);
        chunk.live += 1;
        self.live += need;
        match self.entries.back() {
            Some(b) if b.time > s.time => {
                let at = self.entries.partition_point(|x| x.time <= s.time);
                self.entries.insert(at, e);
            }
            _ => self.entries.push_back(e),
        }
    }

    fn chunk_index(&self, e: &Entry) -> usize {
        (e.chunk - self.first_chunk) as usize
    }

    /// Hands the first sample (if any) to `f` and removes it; the chunks it emptied at the
    /// front go to `spare` (up to `SPARE_CHUNKS`).
    fn pop_front(&mut self, f: &mut impl FnMut(Sample<'_>), spare: &mut Vec<Vec<u8>>) {
        let Some(e) = self.entries.pop_front() else {
            return;
        };
        let ci = self.chunk_index(&e);
        let chunk = &mut self.chunks[ci];
        let (raw_end, chain_end) = (e.off + e.len as usize, e.off + (e.len + e.chain) as usize);
        let regs_end = chain_end + e.regs as usize;
        let end = regs_end + e.ustack as usize;
        f(Sample {
            pid: e.pid,
            tid: e.tid,
            time: e.time,
            cpu: e.cpu,
            raw: &chunk.bytes[e.off..raw_end],
            callchain: &chunk.bytes[raw_end..chain_end],
            regs_user: &chunk.bytes[chain_end..regs_end],
            stack_user: &chunk.bytes[regs_end..end],
        });
        chunk.live -= 1;
        self.live -= end - e.off;
        // Keep the last chunk for the next pushes unless the queue is empty.
        while self
            .chunks
            .front()
            .is_some_and(|c| c.live == 0 && (self.chunks.len() > 1 || self.entries.is_empty()))
        {
            let c = self.chunks.pop_front().expect("front exists");
            self.first_chunk += 1;
            if spare.len() < SPARE_CHUNKS {
                spare.push(c.bytes);
            }
        }
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
    /// Emptied arena chunks, reused by any queue.
    spare: Vec<Vec<u8>>,
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
            spare: Vec::new(),
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
        self.queues[stream].push(s, &mut self.spare);
        self.queued += 1;
        self.stats.pushed += 1;
        self.stats.max_queued = self.stats.max_queued.max(self.queued);
    }

    /// Samples queued.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// Memory the queued samples hold: their raw bytes and their index entries.
    pub fn queued_bytes(&self) -> usize {
        let raw: usize = self.queues.iter().map(|q| q.live).sum();
        raw + self.queued * std::mem::size_of::<Entry>()
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
    pub fn pop_ready(&mut self, watermark: u64, f: impl FnMut(Sample<'_>)) -> usize {
        self.pop_ready_at_most(watermark, usize::MAX, f)
    }

    /// Like [`pop_ready`](Self::pop_ready), stopping after `max` samples: a caller that
    /// falls behind a burst emits in slices and drains its sources in between, so the
    /// backlog waits here rather than in a kernel ring that would overflow.
    pub fn pop_ready_at_most(
        &mut self,
        watermark: u64,
        max: usize,
        mut f: impl FnMut(Sample<'_>),
    ) -> usize {
        let mut n = self.emit_until(watermark, max, &mut f);
        while n < max {
            let Some(limit) = self.early_limit() else {
                break;
            };
            let m = self.emit_until(limit, max - n, &mut f);
            self.stats.early += m as u64;
            n += m;
        }
        n
    }

    /// Emits everything, in time order (end of input).
    pub fn flush(&mut self, mut f: impl FnMut(Sample<'_>)) -> usize {
        self.emit_until(u64::MAX, usize::MAX, &mut f)
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
        let mut rest: usize = q.entries.iter().skip(idx + 1).map(|e| e.len as usize).sum();
        while rest > self.cap_bytes / 2 && idx + 1 < q.entries.len() {
            idx += 1;
            rest -= q.entries[idx].len as usize;
        }
        Some(q.entries[idx].time)
    }

    /// Emits up to `max` samples with `time <= limit`, in order.
    fn emit_until(&mut self, limit: u64, max: usize, f: &mut impl FnMut(Sample<'_>)) -> usize {
        self.heap.clear();
        for (i, q) in self.queues.iter().enumerate() {
            if let Some(t) = q.front_time().filter(|&t| t <= limit) {
                self.heap.push(Reverse((t, i)));
            }
        }
        let mut n = 0;
        while n < max {
            let Some(Reverse((_, i))) = self.heap.pop() else {
                break;
            };
            let q = &mut self.queues[i];
            let Some(time) = q.front_time() else {
                continue;
            };
            q.pop_front(f, &mut self.spare);
            n += 1;
            self.last_emitted = Some(self.last_emitted.map_or(time, |t| t.max(time)));
            if let Some(t) = q.front_time().filter(|&t| t <= limit) {
                self.heap.push(Reverse((t, i)));
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
            callchain: &[],
            regs_user: &[],
            stack_user: &[],
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
    fn byte_cap_and_arena_chunks_are_released() {
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
            // Only chunks holding queued samples are kept (at most one more, being filled).
            let q = &m.queues[0];
            assert!(
                q.chunks.len() <= q.live / CHUNK_BYTES + 2,
                "{} chunks",
                q.chunks.len()
            );
        }
    }

    #[test]
    fn slices_emit_the_same_order_as_one_pop() {
        let mut rng = Rng(7);
        let mut whole = Merger::new();
        let mut sliced = Merger::with_caps(300, usize::MAX);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for round in 0..50u64 {
            for _ in 0..40 {
                let (t, stream) = (round * 100 + rng.below(100), rng.below(3) as usize);
                let raw = raw_for(t, &mut rng);
                whole.push(stream, &sample(t, stream as u32, &raw));
                sliced.push(stream, &sample(t, stream as u32, &raw));
            }
            let wm = round * 100;
            whole.pop_ready(wm, |s| a.push(id_of(s.raw)));
            // Seven at a time, as a caller catching up would.
            while sliced.pop_ready_at_most(wm, 7, |s| b.push(id_of(s.raw))) == 7 {}
            assert!(sliced.queued_bytes() > 0);
        }
        whole.flush(|s| a.push(id_of(s.raw)));
        sliced.flush(|s| b.push(id_of(s.raw)));
        assert_eq!(a, b);
        assert_eq!(whole.queued_bytes(), 0);
        // Early release (a queue over its cap) keeps to the limit too.
        let mut m = Merger::with_caps(10, usize::MAX);
        for t in 0..100 {
            m.push(0, &sample(t, 0, b"x"));
        }
        assert_eq!(m.pop_ready_at_most(0, 20, |_| {}), 20);
        assert_eq!(m.stats().early, 19);
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
