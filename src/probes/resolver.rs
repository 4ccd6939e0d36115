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
//! Counts per source (values resolved) and misses (a call that has path arguments some
//! installed probe covers, finished without a value for one of them) are kept for `-v`.
//! No I/O.

use super::record::{ProbeDecoder, ProbeHit, Source, Value};
use std::collections::{BTreeMap, HashMap};

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

/// Per-thread pending hits and in-flight calls.
#[derive(Default)]
pub struct Resolver {
    probes: Vec<ProbeDecoder>,
    by_id: HashMap<u32, usize>,
    /// syscall → bit mask of the arguments some probe covers.
    covered: HashMap<String, u8>,
    pending: HashMap<u32, Vec<Pending>>,
    inflight: HashMap<u32, InFlight>,
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
        for b in &p.bindings {
            let m = self.covered.entry(b.syscall.clone()).or_default();
            for &a in &b.args {
                if a < 8 {
                    *m |= 1 << a;
                }
            }
        }
        self.by_id.insert(p.id, self.probes.len());
        self.probes.push(p);
    }

    pub fn probes(&self) -> &[ProbeDecoder] {
        &self.probes
    }

    /// Whether records with this `common_type` are probe records.
    pub fn is_probe(&self, id: u32) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Decodes a probe record (None: not a probe id).
    pub fn decode(&self, id: u32, raw: &[u8]) -> Option<ProbeHit> {
        let &probe = self.by_id.get(&id)?;
        Some(ProbeHit {
            probe,
            values: self.probes[probe].decode(raw),
        })
    }

    /// Handles a probe record of thread `tid`: an event probe whose call is already in
    /// flight is attached at once and returned as `(arg, value)` pairs for the caller to
    /// add to that call; any other hit waits for the thread's next `sys_enter`.
    pub fn on_record(
        &mut self,
        tid: u32,
        time: u64,
        id: u32,
        raw: &[u8],
    ) -> Vec<(usize, ResolvedValue)> {
        let Some(hit) = self.decode(id, raw) else {
            return Vec::new();
        };
        if hit.values.iter().all(Option::is_none) {
            self.stats.undecodable += 1;
        }
        let src = self.probes[hit.probe].source;
        if !matches!(src, Source::Uprobe { .. }) {
            let late = self.late_hit(tid, &hit);
            if !late.is_empty() {
                return late;
            }
        }
        self.on_hit(tid, time, hit);
        Vec::new()
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
    }

    /// The thread is gone: drop everything it left.
    pub fn forget(&mut self, tid: u32) {
        self.finish(tid);
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
