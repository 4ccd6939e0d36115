//! Attaching probe values to the system call they belong to.
//!
//! A uprobe fires in user space, in the C library function, *before* the thread enters the
//! kernel; the values it fetched belong to the next system call of that thread — if that
//! call is one the function makes. So hits wait per thread, and the next `sys_enter` of the
//! thread takes them: the hits that name this call are used, all others are dropped, so a
//! value can never drift onto a later, unrelated call (a function that returned early
//! without making its call leaves a hit that dies at the thread's next system call).
//! Nested functions (`stat` → `fstatat64`) give several hits for one call; the innermost
//! (latest) wins, and they carry the same pointer anyway.
//!
//! An event probe on `syscalls:sys_enter_*` fires inside the call, from the same kernel
//! hook as `raw_syscalls:sys_enter`; after the time merge it may come just before or just
//! after it. Before: it waits like a uprobe hit. After: [`Resolver::late_hit`] attaches it
//! to the call in flight, if that call is the one it names.
//!
//! A post-syscall probe (right after a wrapper's `syscall` instruction: `pipe`'s fds)
//! fires *after* the call's `sys_exit`. [`Resolver::on_record_ext`] hands its values back
//! at once as a [`PostHit`] — only when the call succeeded (`ret == 0`; otherwise the
//! array holds whatever it held before). It is counted as matched when the thread's last
//! call seen was that system call and has exited, which is the normal order; an unmatched
//! hit (the call's records were filtered out or lost, or clocks disagreed) is still
//! delivered, since the values themselves are exact.
//!
//! Counts per source (values resolved) and misses (a call that has path arguments some
//! installed probe covers, finished without a value for one of them) are kept for `-v`.
//! No I/O.

use super::io_data::DATA_ARG;
use super::record::{PostRecord, ProbeDecoder, ProbeHit, Source, Value};
use crate::fasthash::IntMap;
use std::collections::BTreeMap;

/// At most this many hits wait per thread; older ones are dropped (a thread that keeps
/// calling probed functions that make no system call).
const MAX_PENDING: usize = 16;

/// A value attached to a system call argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedValue {
    pub value: Value,
    pub source: Source,
}

/// The values found for one call, by syscall argument index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub args: [Option<ResolvedValue>; 6],
}

impl Resolved {
    pub fn get(&self, arg: usize) -> Option<&ResolvedValue> {
        self.args.get(arg)?.as_ref()
    }
    pub fn is_empty(&self) -> bool {
        self.args.iter().all(Option::is_none)
    }
}

/// Counts for `-v`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Values attached to calls, per source.
    pub resolved: BTreeMap<Source, u64>,
    /// Covered calls that finished without a value for a covered argument, per syscall.
    pub missed: BTreeMap<String, u64>,
    /// Hits dropped because the thread's next call was not theirs.
    pub discarded: u64,
    /// Records of a probe event that did not decode.
    pub undecodable: u64,
    /// Post-syscall hits delivered (the call succeeded).
    pub post: u64,
    /// Post-syscall hits of calls that failed (`ret != 0`; not delivered).
    pub post_failed: u64,
    /// Delivered post-syscall hits whose thread's last call seen was not that call's exit.
    pub post_unmatched: u64,
    /// I/O data copied (calls that moved at least one byte), per system call.
    pub data: BTreeMap<&'static str, u64>,
}

/// What one probe record gives the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Values for the call in flight on the thread (late event-probe hits), as
    /// `(syscall argument index, value)`.
    pub late: Vec<(usize, ResolvedValue)>,
    /// A post-syscall hit: values the call that just returned wrote to user memory.
    pub post: Option<PostHit>,
}

/// Values a system call returned through user memory, read right after it returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostHit {
    pub syscall: &'static str,
    /// The return value (always 0: failed calls are not delivered).
    pub ret: i64,
    /// `(syscall argument index of the array, its bytes)`; for pipe/pipe2/socketpair the
    /// 8 bytes are two native-endian i32 file descriptors. I/O data comes as
    /// [`DATA_ARG`](super::io_data::DATA_ARG).
    pub values: Vec<(usize, Vec<u8>)>,
    pub source: Source,
    /// The values are the call's I/O data (they belong to its exit, which waits for them).
    pub data: bool,
}

impl PostHit {
    /// The two fds of an `int[2]` value.
    pub fn fd_pair(bytes: &[u8]) -> Option<[i32; 2]> {
        let b: &[u8; 8] = bytes.try_into().ok()?;
        Some([
            i32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            i32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        ])
    }
}

impl Stats {
    pub fn missed_total(&self) -> u64 {
        self.missed.values().sum()
    }
}

struct Pending {
    time: u64,
    hit: ProbeHit,
}

struct InFlight {
    syscall: String,
    /// Bit i: argument i has a value.
    got: u8,
}

/// Which probe a record of one event id belongs to.
#[derive(Clone, Debug)]
enum Route {
    /// The event has one probe point.
    One(usize),
    /// Several points share the event: `(page offset of the point, probe)`, sorted; the
    /// record's hit address picks one (see [`ProbeDecoder::at_point`]).
    ByPoint(Vec<(u16, usize)>),
}

impl Route {
    /// Adds probe `i` (at `point`) to the event's route.
    fn add(&mut self, i: usize, point: Option<u16>, probes: &[ProbeDecoder]) {
        if let Route::One(first) = *self {
            let Some(p) = probes[first].point else {
                return; // two decoders for one single-point event: the first one stays
            };
            *self = Route::ByPoint(vec![(p, first)]);
        }
        if let (Route::ByPoint(v), Some(p)) = (self, point)
            && let Err(at) = v.binary_search_by_key(&p, |e| e.0)
        {
            v.insert(at, (p, i));
        }
    }

    /// The first probe of the event.
    fn first(&self) -> usize {
        match self {
            Route::One(i) => *i,
            Route::ByPoint(v) => v[0].1,
        }
    }

    /// Probe index of a record, `raw` as PERF_SAMPLE_RAW gives it.
    fn probe(&self, probes: &[ProbeDecoder], raw: &[u8]) -> Option<usize> {
        match self {
            Route::One(i) => Some(*i),
            Route::ByPoint(v) => {
                let hit = probes[self.first()].hit_point(raw)?;
                let at = v.binary_search_by_key(&hit, |e| e.0).ok()?;
                Some(v[at].1)
            }
        }
    }
}

/// Per-thread pending hits and in-flight calls.
#[derive(Default)]
pub struct Resolver {
    probes: Vec<ProbeDecoder>,
    by_id: IntMap<u32, Route>,
    /// syscall → bit mask of the arguments some probe covers.
    covered: IntMap<String, u8>,
    pending: IntMap<u32, Vec<Pending>>,
    inflight: IntMap<u32, InFlight>,
    /// The system calls post-syscall probes report.
    post_syscalls: Vec<&'static str>,
    /// tid → (index in `post_syscalls` of its last call, exited) when that call is one.
    post_last: IntMap<u32, (usize, bool)>,
    /// The system calls whose I/O data probes copy.
    data_syscalls: Vec<&'static str>,
    stats: Stats,
}

impl Resolver {
    pub fn new(probes: Vec<ProbeDecoder>) -> Resolver {
        let mut r = Resolver::default();
        for p in probes {
            r.add_probe(p);
        }
        r
    }

    /// Adds a probe; its records are recognised by the format id.
    pub fn add_probe(&mut self, p: ProbeDecoder) {
        if let Some(spec) = p.post_spec().filter(|_| p.is_data())
            && !self.data_syscalls.contains(&spec.syscall)
        {
            self.data_syscalls.push(spec.syscall);
        }
        if let Some(spec) = p.post_spec()
            && !p.is_data()
            && !self.post_syscalls.contains(&spec.syscall)
        {
            self.post_syscalls.push(spec.syscall);
        }
        for b in &p.bindings {
            let m = self.covered.entry(b.syscall.clone()).or_default();
            for &a in &b.args {
                if a < 8 {
                    *m |= 1 << a;
                }
            }
        }
        let i = self.probes.len();
        let point = p.point;
        let id = p.id;
        self.probes.push(p);
        match self.by_id.get_mut(&id) {
            Some(route) => route.add(i, point, &self.probes),
            None => {
                self.by_id.insert(id, Route::One(i));
            }
        }
    }

    pub fn probes(&self) -> &[ProbeDecoder] {
        &self.probes
    }

    /// Whether records with this `common_type` are probe records.
    pub fn is_probe(&self, id: u32) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Whether records with this `common_type` carry I/O data.
    pub fn is_data_probe(&self, id: u32) -> bool {
        // The points of one event have the same fetch arguments: the first one tells.
        self.by_id
            .get(&id)
            .is_some_and(|r| self.probes[r.first()].is_data())
    }

    /// Whether any probe copies I/O data.
    pub fn copies_data(&self) -> bool {
        !self.data_syscalls.is_empty()
    }

    /// Whether probes copy the I/O data of `syscall` (kernel name).
    pub fn copies_data_for(&self, syscall: &str) -> bool {
        self.data_syscalls.contains(&syscall)
    }

    /// The probe a record with this `common_type` belongs to.
    fn probe_of(&self, id: u32, raw: &[u8]) -> Option<usize> {
        self.by_id.get(&id)?.probe(&self.probes, raw)
    }

    /// Decodes a probe record (None: not a probe id).
    pub fn decode(&self, id: u32, raw: &[u8]) -> Option<ProbeHit> {
        let probe = self.probe_of(id, raw)?;
        Some(ProbeHit {
            probe,
            values: self.probes[probe].decode(raw),
        })
    }

    /// Handles a probe record of thread `tid`: an event probe whose call is already in
    /// flight is attached at once and returned as `(arg, value)` pairs for the caller to
    /// add to that call; any other hit waits for the thread's next `sys_enter`.
    /// Post-syscall records are not handled here: use [`Resolver::on_record_ext`].
    pub fn on_record(
        &mut self,
        tid: u32,
        time: u64,
        id: u32,
        raw: &[u8],
    ) -> Vec<(usize, ResolvedValue)> {
        self.on_record_ext(tid, time, id, raw).late
    }

    /// Handles any probe record of thread `tid`: what [`Resolver::on_record`] returns, in
    /// `late`, and for a post-syscall probe of a call that succeeded, the [`PostHit`].
    pub fn on_record_ext(&mut self, tid: u32, time: u64, id: u32, raw: &[u8]) -> Delivery {
        let Some(probe) = self.probe_of(id, raw) else {
            if self.by_id.contains_key(&id) {
                self.stats.undecodable += 1; // a hit address no point of the event has
            }
            return Delivery::default();
        };
        if self.probes[probe].post_spec().is_some() {
            let rec = self.probes[probe].decode_post(raw);
            let source = self.probes[probe].source;
            let post = match rec {
                None => {
                    self.stats.undecodable += 1;
                    None
                }
                Some(r) if self.probes[probe].is_data() => self.data_hit(r, source),
                Some(r) => self.post_hit(tid, r, source),
            };
            return Delivery {
                late: Vec::new(),
                post,
            };
        }
        let Some(hit) = self.decode(id, raw) else {
            return Delivery::default();
        };
        if hit.values.iter().all(Option::is_none) {
            self.stats.undecodable += 1;
        }
        let src = self.probes[hit.probe].source;
        if !matches!(src, Source::Uprobe { .. }) {
            let late = self.late_hit(tid, &hit);
            // A kprobe fires inside the call, after its sys_enter: a hit that names no
            // argument of the call in flight (do_sys_openat2 under `open`) is no one's.
            if !late.is_empty() || src == Source::Kprobe {
                return Delivery { late, post: None };
            }
        }
        self.on_hit(tid, time, hit);
        Delivery::default()
    }

    /// A data probe's record: delivered when the call moved data (a call that moved none
    /// shows empty data without it).
    fn data_hit(&mut self, r: PostRecord, source: Source) -> Option<PostHit> {
        if r.ret <= 0 {
            return None;
        }
        *self.stats.data.entry(r.spec.syscall).or_default() += 1;
        Some(PostHit {
            syscall: r.spec.syscall,
            ret: r.ret,
            values: vec![(DATA_ARG, r.bytes)],
            source,
            data: true,
        })
    }

    fn post_hit(&mut self, tid: u32, r: PostRecord, source: Source) -> Option<PostHit> {
        let last = self.post_last.remove(&tid);
        if r.ret != 0 {
            self.stats.post_failed += 1;
            return None;
        }
        self.stats.post += 1;
        let matched = last.is_some_and(|(i, exited)| {
            exited && self.post_syscalls.get(i) == Some(&r.spec.syscall)
        });
        if !matched {
            self.stats.post_unmatched += 1;
        }
        Some(PostHit {
            syscall: r.spec.syscall,
            ret: r.ret,
            values: vec![(r.spec.arg, r.bytes)],
            source,
            data: false,
        })
    }

    /// Queues a hit for the thread's next `sys_enter`.
    pub fn on_hit(&mut self, tid: u32, time: u64, hit: ProbeHit) {
        let q = self.pending.entry(tid).or_default();
        if q.len() >= MAX_PENDING {
            q.remove(0);
            self.stats.discarded += 1;
        }
        q.push(Pending { time, hit });
    }

    /// Thread `tid` enters `syscall`: the values of its waiting hits that name this call,
    /// by argument index (latest hit wins). All its waiting hits are consumed. A previous
    /// call still in flight (its exit was not seen) is finished first.
    pub fn take_for_enter(&mut self, tid: u32, syscall: &str) -> Resolved {
        self.finish(tid);
        if !self.post_syscalls.is_empty() {
            match self.post_syscalls.iter().position(|s| *s == syscall) {
                Some(i) => {
                    self.post_last.insert(tid, (i, false));
                }
                None => {
                    self.post_last.remove(&tid);
                }
            }
        }
        let mut out = Resolved::default();
        let mut got = 0u8;
        if let Some(q) = self.pending.remove(&tid) {
            for p in q {
                let d = &self.probes[p.hit.probe];
                let mut used = false;
                for (i, v) in p.hit.values.into_iter().enumerate() {
                    let (Some(arg), Some(v)) = (d.arg_for(syscall, i), v) else {
                        continue;
                    };
                    if arg < 6 {
                        out.args[arg] = Some(ResolvedValue {
                            value: v,
                            source: d.source,
                        });
                        got |= 1 << arg;
                        used = true;
                    }
                }
                if !used {
                    self.stats.discarded += 1;
                }
                let _ = p.time;
            }
        }
        for v in out.args.iter().flatten() {
            *self.stats.resolved.entry(v.source).or_default() += 1;
        }
        if self.covered.contains_key(syscall) {
            self.inflight.insert(
                tid,
                InFlight {
                    syscall: syscall.to_string(),
                    got,
                },
            );
        }
        out
    }

    /// A hit that arrived after its call's `sys_enter` (event probes): the values for the
    /// call in flight on `tid`, if it is the call the hit names and the argument has no
    /// value yet. Empty when nothing attached (the caller may then queue it).
    pub fn late_hit(&mut self, tid: u32, hit: &ProbeHit) -> Vec<(usize, ResolvedValue)> {
        let Some(call) = self.inflight.get_mut(&tid) else {
            return Vec::new();
        };
        let d = &self.probes[hit.probe];
        let mut out = Vec::new();
        for (i, v) in hit.values.iter().enumerate() {
            let (Some(arg), Some(v)) = (d.arg_for(&call.syscall, i), v) else {
                continue;
            };
            if arg < 6 && call.got & (1 << arg) == 0 {
                call.got |= 1 << arg;
                *self.stats.resolved.entry(d.source).or_default() += 1;
                out.push((
                    arg,
                    ResolvedValue {
                        value: v.clone(),
                        source: d.source,
                    },
                ));
            }
        }
        out
    }

    /// Thread `tid` left its call (`sys_exit`): counts a miss when a covered argument got
    /// no value.
    pub fn on_exit(&mut self, tid: u32) {
        self.finish(tid);
        if let Some(l) = self.post_last.get_mut(&tid) {
            l.1 = true;
        }
    }

    /// The thread is gone: drop everything it left.
    pub fn forget(&mut self, tid: u32) {
        self.finish(tid);
        self.post_last.remove(&tid);
        if let Some(q) = self.pending.remove(&tid) {
            self.stats.discarded += q.len() as u64;
        }
    }

    fn finish(&mut self, tid: u32) {
        if let Some(call) = self.inflight.remove(&tid) {
            let want = self.covered.get(&call.syscall).copied().unwrap_or(0);
            if want & !call.got != 0 {
                *self.stats.missed.entry(call.syscall).or_default() += 1;
            }
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Threads with hits waiting (for tests and `-v`).
    pub fn pending_threads(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalog::ValueKind;
    use super::super::record::tests::{OPEN_FORMAT, open_record};
    use super::super::record::{Binding, ProbeDecoder, Source, Value};
    use super::*;
    use crate::tracefs::EventFormat;

    fn decoder(id: u32, source: Source, bindings: &[(&str, usize)]) -> ProbeDecoder {
        let mut fmt = EventFormat::parse(OPEN_FORMAT).unwrap();
        fmt.id = id;
        ProbeDecoder::new(
            "t",
            &fmt,
            source,
            &[("path", ValueKind::Path)],
            bindings
                .iter()
                .map(|&(s, a)| Binding {
                    syscall: s.into(),
                    args: vec![a],
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn points_of_one_event_are_told_apart_by_the_hit_address() {
        // open64 at file offset 0x1f7fc0 and mkdir at 0x1f8a30 share event 7.
        let mut r = Resolver::new(vec![
            decoder(7, Source::Uprobe { func: "open64" }, &[("openat", 1)]).at_point(0x1f7fc0),
            decoder(7, Source::Uprobe { func: "mkdir" }, &[("mkdirat", 1)]).at_point(0x1f8a30),
        ]);
        let hit = |ip: u64| {
            let mut rec = open_record(b"/etc/hostname");
            rec[0..2].copy_from_slice(&7u16.to_le_bytes());
            rec[8..16].copy_from_slice(&ip.to_le_bytes());
            rec
        };
        // Loaded at 0x7f0000001000 + page-aligned bias: only the page offset survives.
        r.on_record(1, 10, 7, &hit(0x7f12_3456_7fc0));
        assert_eq!(
            path(&r.take_for_enter(1, "openat"), 1).as_deref(),
            Some("/etc/hostname")
        );
        r.on_exit(1);
        r.on_record(1, 20, 7, &hit(0x7f12_3456_8a30));
        assert!(r.take_for_enter(1, "openat").is_empty());
        r.on_exit(1);
        r.on_record(1, 30, 7, &hit(0x7f12_3456_8a30));
        assert_eq!(
            path(&r.take_for_enter(1, "mkdirat"), 1).as_deref(),
            Some("/etc/hostname")
        );
        // An address no point has is counted, not guessed.
        r.on_record(2, 40, 7, &hit(0x7f12_3456_8000));
        assert!(r.take_for_enter(2, "openat").is_empty());
        assert_eq!(r.stats().undecodable, 1);
    }

    fn path(r: &Resolved, arg: usize) -> Option<String> {
        r.get(arg)
            .map(|v| String::from_utf8_lossy(v.value.bytes()).into_owned())
    }

    fn resolver() -> Resolver {
        Resolver::new(vec![
            decoder(
                1,
                Source::Uprobe { func: "open64" },
                &[("openat", 1), ("open", 0)],
            ),
            decoder(2, Source::Uprobe { func: "stat" }, &[("newfstatat", 1)]),
            decoder(3, Source::Eprobe, &[("openat", 1)]),
        ])
    }

    #[test]
    fn a_hit_names_the_next_call_of_its_thread_only() {
        let mut r = resolver();
        assert!(r.on_record(10, 1, 1, &open_record(b"/a")).is_empty());
        assert!(r.on_record(11, 2, 1, &open_record(b"/b")).is_empty());
        let a = r.take_for_enter(10, "openat");
        assert_eq!(path(&a, 1).as_deref(), Some("/a"));
        assert_eq!(a.get(1).unwrap().source, Source::Uprobe { func: "open64" });
        assert!(a.get(0).is_none());
        r.on_exit(10);
        // Thread 10's next openat has no hit: a miss, never thread 11's value.
        assert!(r.take_for_enter(10, "openat").is_empty());
        r.on_exit(10);
        assert_eq!(
            path(&r.take_for_enter(11, "openat"), 1).as_deref(),
            Some("/b")
        );
        assert_eq!(r.stats().missed.get("openat"), Some(&1));
        assert_eq!(
            r.stats().resolved.get(&Source::Uprobe { func: "open64" }),
            Some(&2)
        );
    }

    #[test]
    fn a_hit_for_another_call_dies_at_the_next_enter() {
        let mut r = resolver();
        r.on_record(10, 1, 2, &open_record(b"/stat-me"));
        // The thread made a different call first (stat returned early, say).
        assert!(r.take_for_enter(10, "read").is_empty());
        r.on_exit(10);
        // The stale hit is gone: the next newfstatat gets nothing.
        assert!(r.take_for_enter(10, "newfstatat").is_empty());
        assert_eq!(r.stats().discarded, 1);
        assert_eq!(r.pending_threads(), 0);
    }

    #[test]
    fn latest_hit_wins_and_function_maps_to_the_call_the_kernel_sees() {
        let mut r = resolver();
        r.on_record(10, 1, 1, &open_record(b"/outer"));
        r.on_record(10, 2, 1, &open_record(b"/inner"));
        let a = r.take_for_enter(10, "open");
        assert_eq!(path(&a, 0).as_deref(), Some("/inner"));
        assert!(a.get(1).is_none());
    }

    #[test]
    fn event_probe_after_enter_attaches_to_the_call_in_flight() {
        let mut r = resolver();
        assert!(r.take_for_enter(10, "openat").is_empty());
        let late = r.on_record(10, 5, 3, &open_record(b"/late"));
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].0, 1);
        assert_eq!(late[0].1.value, Value::Path(b"/late".to_vec()));
        assert_eq!(late[0].1.source, Source::Eprobe);
        r.on_exit(10);
        assert_eq!(r.stats().missed_total(), 0);
        // After the exit, an event probe hit waits for the next call instead.
        assert!(r.on_record(10, 6, 3, &open_record(b"/next")).is_empty());
        assert_eq!(
            path(&r.take_for_enter(10, "openat"), 1).as_deref(),
            Some("/next")
        );
        // A uprobe hit never attaches late (the thread was in user space).
        assert!(r.on_record(10, 7, 1, &open_record(b"/u")).is_empty());
    }

    fn post_resolver() -> Resolver {
        use super::super::record::PostSpec;
        use super::super::record::tests::POST_FORMAT;
        let post = |id: u32, func: &'static str, syscall: &'static str, arg: usize| {
            let mut fmt = EventFormat::parse(POST_FORMAT).unwrap();
            fmt.id = id;
            ProbeDecoder::new_post(
                "t",
                &fmt,
                Source::Uprobe { func },
                PostSpec { syscall, arg },
            )
            .unwrap()
        };
        let mut r = resolver();
        r.add_probe(post(20, "pipe2", "pipe2", 0));
        r.add_probe(post(21, "socketpair", "socketpair", 3));
        r
    }

    #[test]
    fn post_hit_after_exit_delivers_the_fds_of_a_successful_call() {
        use super::super::record::tests::post_record;
        let mut r = post_resolver();
        assert!(r.take_for_enter(10, "pipe2").is_empty());
        r.on_exit(10);
        let d = r.on_record_ext(10, 5, 20, &post_record(20, 3, 4, 0));
        assert!(d.late.is_empty());
        let p = d.post.unwrap();
        assert_eq!(p.syscall, "pipe2");
        assert_eq!(p.ret, 0);
        assert_eq!(p.values.len(), 1);
        assert_eq!(p.values[0].0, 0);
        assert_eq!(PostHit::fd_pair(&p.values[0].1), Some([3, 4]));
        assert_eq!(p.source, Source::Uprobe { func: "pipe2" });
        // socketpair: the array is argument 3.
        r.take_for_enter(11, "socketpair");
        r.on_exit(11);
        let p = r
            .on_record_ext(11, 6, 21, &post_record(21, 7, 8, 0))
            .post
            .unwrap();
        assert_eq!(p.values[0].0, 3);
        assert_eq!(PostHit::fd_pair(&p.values[0].1), Some([7, 8]));
        // A failed call: nothing delivered, counted.
        r.take_for_enter(10, "pipe2");
        r.on_exit(10);
        assert_eq!(
            r.on_record_ext(10, 7, 20, &post_record(20, 3, 4, -24)).post,
            None
        );
        // A hit whose call was not seen (or not yet exited) is delivered but counted.
        assert!(
            r.on_record_ext(12, 8, 20, &post_record(20, 5, 6, 0))
                .post
                .is_some()
        );
        r.take_for_enter(13, "pipe2");
        assert!(
            r.on_record_ext(13, 9, 20, &post_record(20, 5, 6, 0))
                .post
                .is_some()
        );
        r.take_for_enter(14, "pipe2");
        r.take_for_enter(14, "read");
        r.on_exit(14);
        assert!(
            r.on_record_ext(14, 9, 20, &post_record(20, 5, 6, 0))
                .post
                .is_some()
        );
        let s = r.stats();
        assert_eq!((s.post, s.post_failed, s.post_unmatched), (5, 1, 3));
        // Post records never queue as pending values, and on_record ignores them.
        assert!(
            r.on_record(10, 10, 20, &post_record(20, 1, 2, 0))
                .is_empty()
        );
        assert_eq!(r.pending_threads(), 0);
        // A short record is no hit.
        assert_eq!(
            r.on_record_ext(10, 11, 20, &post_record(20, 1, 2, 0)[..20])
                .post,
            None
        );
    }

    #[test]
    fn pending_is_bounded_and_forget_clears() {
        let mut r = resolver();
        for i in 0..40 {
            r.on_record(10, i, 1, &open_record(b"/x"));
        }
        assert_eq!(r.stats().discarded, 40 - MAX_PENDING as u64);
        r.forget(10);
        assert_eq!(r.pending_threads(), 0);
        assert_eq!(r.stats().discarded, 40);
    }
}
