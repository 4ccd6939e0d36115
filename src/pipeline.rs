//! The path every record takes, live or from a file: decode → state → filter → sinks.
//!
//! Live capture and `-r` replay both feed `Pipeline::record` with records in timestamp
//! order; everything after that point is shared, so a capture read back prints exactly what
//! the live run printed.

use crate::calls::{Call, InFlight, ValueSource};
use crate::decode::{Decoder, Event, Kind, Role};
use crate::fasthash::IntMap;
use crate::fields::{EventView, RunClock};
use crate::filter::Filter;
use crate::io_wait::{Held, IoWait};
use crate::output::Sink;
use crate::params::DataRendering;
use crate::probes::io_data::DATA_ARG;
use crate::state::{Comm, State, apply, effects};
use crate::syscalls;
use std::collections::HashMap;
use std::io;

fn value_source(s: crate::probes::Source) -> ValueSource {
    match s {
        crate::probes::Source::KernelField => ValueSource::KernelField,
        crate::probes::Source::Eprobe => ValueSource::Eprobe,
        crate::probes::Source::Kprobe => ValueSource::Kprobe,
        crate::probes::Source::Uprobe { .. } => ValueSource::Uprobe,
    }
}

struct PostValue {
    ts: u64,
    tid: u32,
    pid: u32,
    syscall: String,
    arg: usize,
    value: Vec<u8>,
}

/// A record's `common_type` (the id of its tracepoint or probe event).
fn record_type(raw: &[u8]) -> u32 {
    raw.get(..2)
        .map_or(u32::MAX, |b| u32::from(u16::from_le_bytes([b[0], b[1]])))
}

/// One raw record with its wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub ts: u64,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    pub raw: &'a [u8],
}

/// What the user asked to see.
#[derive(Default)]
pub struct Selection {
    pub filter: Option<Filter>,
    /// `-U`: commands whose events are not shown.
    pub suppress: Vec<Comm>,
    /// `-n`: stop after this many events shown.
    pub max_events: Option<u64>,
}

/// A user-memory value waiting for its event: (event time, arg, bytes, source).
type PendingValue = (u64, usize, Vec<u8>, ValueSource);

pub struct Pipeline<'s> {
    pub state: State,
    sinks: Vec<&'s mut dyn Sink>,
    selection: Selection,
    clock: RunClock,
    /// Each thread's system call in flight.
    in_flight: InFlight,
    /// Exact user-memory values waiting for their event: tid → (event time, arg, bytes, source).
    pending: IntMap<u32, Vec<PendingValue>>,
    begun: bool,
    /// `-k`: named call stacks waiting for their event, by (tid, event time).
    stacks: HashMap<(u32, u64), crate::stack::Stack>,
    /// Values returned through user memory, waiting to be applied (time order).
    posts: Vec<PostValue>,
    /// Each thread's last call that returns values through user memory.
    last_exit: IntMap<u32, (&'static str, [u64; 6], i64)>,
    /// Tracing tasks: the threads whose events reached the rings (probe hits of any other
    /// thread are not ours). None: the whole system is traced.
    pub traced_only: Option<std::collections::HashSet<u32>>,
    /// Tracing a command: its process starts as tpdig's own starter, whose few calls before
    /// the command's exec are not the command's; they are not shown.
    pub hide_until_exec: Option<u32>,
    /// Live: the probe tier's resolver, fed with probe records (which are not events).
    /// Set with [`Pipeline::set_resolver`].
    resolver: Option<crate::probes::Resolver>,
    /// Live, copying I/O data: records held until a data exit's data arrives.
    io_wait: Option<IoWait>,
    /// How I/O data is shown (`-A`, `-x`, `-s`, ...).
    pub data_rendering: DataRendering,
    /// Events decoded (evt.num counts them all, shown or not, as sysdig's does).
    pub decoded: u64,
    /// Events shown.
    pub shown: u64,
    /// Records whose tracepoint was unknown or too short to decode.
    pub undecodable: u64,
    pub per_cpu: Vec<u64>,
    /// `-S`: events shown by type.
    pub by_type: HashMap<String, u64>,
    pub count_types: bool,
    /// `--compat no-state`: events change no process or fd state (to measure its cost).
    pub state_off: bool,
    pub done: bool,
    pub io_error: Option<io::Error>,
}

impl<'s> Pipeline<'s> {
    pub fn new(state: State, sinks: Vec<&'s mut dyn Sink>, selection: Selection) -> Self {
        Pipeline {
            state,
            sinks,
            selection,
            clock: RunClock::default(),
            in_flight: InFlight::default(),
            pending: IntMap::default(),
            stacks: HashMap::new(),
            begun: false,
            resolver: None,
            io_wait: None,
            data_rendering: DataRendering::default(),
            traced_only: None,
            hide_until_exec: None,
            posts: Vec::new(),
            last_exit: IntMap::default(),
            decoded: 0,
            shown: 0,
            undecodable: 0,
            per_cpu: Vec::new(),
            by_type: HashMap::new(),
            count_types: false,
            state_off: false,
            done: false,
            io_error: None,
        }
    }

    /// An exact user-memory value for the system call thread `tid` is in (or enters next)
    /// at `ts`: from a probe live, from the capture when reading a file.
    pub fn attach_value(
        &mut self,
        tid: u32,
        ts: u64,
        arg: usize,
        value: Vec<u8>,
        source: ValueSource,
    ) {
        if let Some(call) = self.in_flight.current_mut(tid).filter(|c| c.ts == ts) {
            call.resolved.push((arg, value, source));
        } else {
            self.pending
                .entry(tid)
                .or_default()
                .push((ts, arg, value, source));
        }
    }

    /// The call stack of thread `tid`'s event at `ts` (live: named from its sample's chain;
    /// from a file: stored beside it), handed to the sinks with that event.
    pub fn attach_stack(&mut self, tid: u32, ts: u64, stack: crate::stack::Stack) {
        self.stacks.insert((tid, ts), stack);
    }

    /// Lets the sinks start (a capture writes its header and snapshot); once, before the
    /// first record. Called explicitly so a run without events still writes a capture.
    pub fn begin(&mut self, decoder: &Decoder) {
        if self.begun {
            return;
        }
        self.begun = true;
        let mut failure = None;
        for sink in self.sinks.iter_mut() {
            if let Err(e) = sink.begin(&self.state, decoder) {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            self.fail(e);
        }
    }

    /// The values waiting for thread `tid` that belong to an event at or before `ts`.
    fn take_pending(&mut self, tid: u32, ts: u64) -> Vec<(usize, Vec<u8>, ValueSource)> {
        let Some(q) = self.pending.get_mut(&tid) else {
            return Vec::new();
        };
        let (now, later): (Vec<_>, Vec<_>) = q.drain(..).partition(|v| v.0 <= ts);
        if later.is_empty() {
            self.pending.remove(&tid);
        } else {
            *q = later;
        }
        now.into_iter().map(|(_, a, v, s)| (a, v, s)).collect()
    }

    /// A value a system call returned through user memory, read right after it returned
    /// (pipe fds): applied to the state as the completion of that thread's last call. Kept
    /// in time order and applied before the next event, so a capture's stored values (read
    /// ahead of their events) land at the same point as live.
    #[allow(clippy::too_many_arguments)]
    pub fn post_value(
        &mut self,
        tid: u32,
        pid: u32,
        ts: u64,
        syscall: &str,
        arg: usize,
        value: Vec<u8>,
        source: ValueSource,
    ) {
        let key = format!("post:{syscall}:{arg}");
        for sink in self.sinks.iter_mut() {
            let _ = sink.user_value(tid, ts, &key, &value, source);
        }
        self.posts.push(PostValue {
            ts,
            tid,
            pid,
            syscall: syscall.to_string(),
            arg,
            value,
        });
    }

    fn apply_posts(&mut self, now: u64) {
        if self.posts.is_empty() {
            return;
        }
        self.posts.sort_by_key(|p| p.ts);
        let cut = self
            .posts
            .iter()
            .position(|p| p.ts > now)
            .unwrap_or(self.posts.len());
        for p in self.posts.drain(..cut).collect::<Vec<_>>() {
            let Some((name, args, ret)) = self.last_exit.remove(&p.tid) else {
                continue;
            };
            if name != p.syscall && !(name == "pipe" && p.syscall == "pipe2") {
                continue;
            }
            let value = p.value;
            effects::apply_exit(
                &mut self.state,
                p.tid,
                p.pid,
                name,
                &args,
                ret,
                &|i| (i == p.arg).then_some(value.as_slice()),
                p.ts,
            );
        }
    }

    /// Live: the probe tier's resolver. When its probes copy I/O data, data exits wait for
    /// their data (see [`crate::io_wait`]).
    pub fn set_resolver(&mut self, resolver: Option<crate::probes::Resolver>) {
        self.io_wait = resolver
            .as_ref()
            .filter(|r| r.copies_data())
            .map(|_| IoWait::default());
        self.resolver = resolver;
    }

    /// The probe tier's counts (for `-v`).
    pub fn resolver(&self) -> Option<&crate::probes::Resolver> {
        self.resolver.as_ref()
    }

    /// `-v` lines on I/O data: per call, the exits that moved data and how many carried it.
    pub fn data_summary(&self) -> Option<Vec<String>> {
        self.io_wait.as_ref().map(IoWait::summary)
    }

    pub fn record(&mut self, decoder: &Decoder, r: Record<'_>) {
        if self.done {
            return;
        }
        self.begin(decoder);
        if self.done || self.traced_elsewhere(&r) {
            return;
        }
        let Some(wait) = self.io_wait.as_mut() else {
            return self.record_now(decoder, r);
        };
        let res = self.resolver.as_mut().expect("io_wait implies a resolver");
        let common_type = record_type(r.raw);
        if res.is_data_probe(common_type) {
            let got = res.on_record_ext(r.tid, r.ts, common_type, r.raw);
            if let Some(post) = got.post {
                let source = value_source(post.source);
                for (_, bytes) in post.values {
                    wait.data(r.tid, post.syscall, post.ret, bytes, source);
                }
            }
            return self.release_held(decoder, false);
        }
        let (data_exit, switch_out) = if res.is_probe(common_type) {
            (None, false)
        } else {
            match decoder.decode(r.raw) {
                Some((_, Kind::SyscallExit { nr, ret })) if ret > 0 => (
                    syscalls::name(decoder.arch, nr)
                        .filter(|n| res.copies_data_for(n))
                        .map(|n| (n, ret)),
                    false,
                ),
                Some((_, Kind::Switch { .. })) => (None, true),
                _ => (None, false),
            }
        };
        if wait.is_empty() && data_exit.is_none() {
            return self.record_now(decoder, r);
        }
        wait.saw(r.tid, switch_out);
        let held = Held {
            ts: r.ts,
            cpu: r.cpu,
            pid: r.pid,
            tid: r.tid,
            raw: r.raw.to_vec(),
            wait: None,
        };
        wait.hold(held, data_exit);
        self.release_held(decoder, false);
    }

    /// The stream reached `ts` (live: the merger's watermark): held exits whose data did
    /// not come in time go on.
    pub fn advance(&mut self, decoder: &Decoder, ts: u64) {
        if let Some(w) = self.io_wait.as_mut() {
            w.advance(ts);
            self.release_held(decoder, false);
        }
    }

    /// The run ends: every held record goes on.
    pub fn release_all(&mut self, decoder: &Decoder) {
        self.release_held(decoder, true);
    }

    fn release_held(&mut self, decoder: &Decoder, all: bool) {
        while !self.done {
            let Some(h) = self.io_wait.as_mut().and_then(|w| w.release(all)) else {
                return;
            };
            if let Some((bytes, source)) = h.wait.and_then(|w| w.data)
                && let Some(call) = self.in_flight.current_mut(h.tid)
            {
                call.resolved.push((DATA_ARG, bytes, source));
            }
            let r = Record {
                ts: h.ts,
                cpu: h.cpu,
                pid: h.pid,
                tid: h.tid,
                raw: &h.raw,
            };
            self.record_now(decoder, r);
        }
    }

    /// Tracing a command, probes listen system-wide: another thread's probe hit is not ours.
    fn traced_elsewhere(&self, r: &Record<'_>) -> bool {
        let (Some(res), Some(seen)) = (self.resolver.as_ref(), self.traced_only.as_ref()) else {
            return false;
        };
        res.is_probe(record_type(r.raw)) && !seen.contains(&r.tid)
    }

    /// One record, in order: a probe hit goes to the resolver, an event through state,
    /// filter and sinks.
    fn record_now(&mut self, decoder: &Decoder, r: Record<'_>) {
        let stack = if self.stacks.is_empty() {
            None
        } else {
            self.stacks.remove(&(r.tid, r.ts))
        };
        if let Some(res) = self.resolver.as_mut() {
            let common_type = record_type(r.raw);
            if res.is_probe(common_type) {
                let got = res.on_record_ext(r.tid, r.ts, common_type, r.raw);
                for (arg, v) in got.late {
                    if let Some(call) = self.in_flight.current_mut(r.tid) {
                        call.resolved
                            .push((arg, v.value.bytes().to_vec(), value_source(v.source)));
                    }
                }
                if let Some(post) = got.post {
                    let source = value_source(post.source);
                    for (arg, bytes) in post.values {
                        self.post_value(r.tid, r.pid, r.ts, post.syscall, arg, bytes, source);
                    }
                }
                return;
            }
        }
        if !self.state_off {
            self.apply_posts(r.ts);
        }
        let Some((tp, kind)) = decoder.decode(r.raw) else {
            self.undecodable += 1;
            return;
        };
        // An exit with id -1 is the kernel leaving a non-syscall path (rt_sigreturn's
        // restart, a tracer's cancel): no system call to show.
        if matches!(kind, Kind::SyscallExit { nr, .. } | Kind::SyscallEnter { nr, .. } if nr < 0) {
            return;
        }
        if let Some(seen) = self.traced_only.as_mut() {
            seen.insert(r.tid);
            if let Role::Fork { child_pid, .. } = &tp.role
                && let Some(c) = child_pid.i64(r.raw)
            {
                seen.insert(c as u32);
            }
        }
        let cpu = r.cpu as usize;
        if self.per_cpu.len() <= cpu {
            self.per_cpu.resize(cpu + 1, 0);
        }
        self.per_cpu[cpu] += 1;
        // The command's own life starts at its execve: what tpdig's starter did before is
        // not shown, stored or counted (its effects on the state still apply).
        // sched_process_exec ends it too: a filter that leaves out system calls (`-k
        // evt.type=switch -- cmd`) opens no syscall tracepoint, so no execve entry comes.
        if self.hide_until_exec == Some(r.tid) {
            let exec = match kind {
                Kind::SyscallEnter { nr, .. } => matches!(
                    syscalls::name(decoder.arch, nr),
                    Some("execve" | "execveat")
                ),
                _ => matches!(tp.role, Role::Exec { .. }),
            };
            if exec {
                self.hide_until_exec = None;
            }
        }
        let hidden = self.hide_until_exec == Some(r.tid);
        if !hidden {
            self.decoded += 1;
        }
        if self.clock.first_ts == 0 {
            self.clock.first_ts = r.ts;
        }
        let ev = Event {
            num: self.decoded,
            ts: r.ts,
            cpu: r.cpu,
            pid: r.pid,
            tid: r.tid,
            tp,
            raw: r.raw,
            kind,
        };
        if !self.state_off {
            apply::state_before_output(&ev, &mut self.state);
        }
        if let Some(change) = crate::decode::tcp_change(&tp.role, r.raw).filter(|_| !self.state_off)
        {
            let call = self
                .in_flight
                .current(r.tid)
                .and_then(|c| Some((syscalls::name(decoder.arch, c.nr)?, c.args)));
            self.state
                .on_tcp_change(r.pid, &change, call.as_ref().map(|(n, a)| (*n, a)));
        }
        let mut orphan_data = None;
        let ended: Option<Call> = match kind {
            Kind::SyscallEnter { nr, args } => {
                let mut resolved = Vec::new();
                if let (Some(res), Some(name)) =
                    (self.resolver.as_mut(), syscalls::name(decoder.arch, nr))
                {
                    let got = res.take_for_enter(r.tid, name);
                    for (arg, v) in got.args.iter().enumerate() {
                        if let Some(v) = v {
                            resolved.push((arg, v.value.bytes().to_vec(), value_source(v.source)));
                        }
                    }
                }
                resolved.extend(self.take_pending(r.tid, r.ts));
                self.in_flight.enter(
                    r.tid,
                    Call {
                        nr,
                        args,
                        ts: r.ts,
                        resolved,
                    },
                );
                None
            }
            Kind::SyscallExit { nr, ret } => {
                let late = self.take_pending(r.tid, r.ts);
                match self.in_flight.current_mut(r.tid) {
                    Some(c) => c.resolved.extend(late),
                    // A capture that kept the exit without its entry (a filtered -w) still
                    // holds the exit's data.
                    None => {
                        orphan_data = late.into_iter().find(|v| v.0 == DATA_ARG).map(|v| v.1);
                    }
                }
                if let Some(res) = self.resolver.as_mut() {
                    res.on_exit(r.tid);
                }
                let call = self.in_flight.exit(r.tid, nr);
                // Calls whose results come back through user memory wait for their post value.
                if let (Some(c), Some(name @ ("pipe" | "pipe2" | "socketpair"))) =
                    (&call, syscalls::name(decoder.arch, nr))
                    && ret == 0
                {
                    self.last_exit.insert(r.tid, (name, c.args, ret));
                }
                if let (Some(c), Some(name), false) =
                    (&call, syscalls::name(decoder.arch, nr), self.state_off)
                {
                    effects::apply_exit(
                        &mut self.state,
                        r.tid,
                        r.pid,
                        name,
                        &c.args,
                        ret,
                        &|i| c.resolved(i),
                        r.ts,
                    );
                }
                call
            }
            _ => None,
        };
        let call = match kind {
            Kind::SyscallEnter { .. } => self.in_flight.current(r.tid),
            _ => ended.as_ref(),
        };
        let mut view = EventView::new(&ev, &self.state, call, decoder.arch, self.clock);
        view.data = self.data_rendering;
        view.exit_data = orphan_data.as_deref();
        view.stack = stack.as_ref();
        let shown = !tp.internal() && self.selected(&view);
        let feeds_state = tp.feeds_state();
        let mut failure = None;
        for sink in self.sinks.iter_mut() {
            let res = if shown {
                sink.event(&view)
            } else if feeds_state && !hidden {
                sink.state_event(&view)
            } else {
                Ok(())
            };
            if let Err(e) = res {
                failure = Some(e);
                break;
            }
        }
        if shown {
            self.shown += 1;
            self.clock.prev_ts = r.ts;
            if self.count_types {
                *self
                    .by_type
                    .entry(view.type_name().into_owned())
                    .or_insert(0) += 1;
            }
        }
        drop(view);
        if let Some(e) = failure {
            self.fail(e);
            return;
        }
        apply::state_after_output(&ev, &mut self.state);

        if matches!(tp.role, Role::Exit { .. }) {
            self.in_flight.forget(r.tid);
            if let Some(seen) = self.traced_only.as_mut() {
                seen.remove(&r.tid);
            }
            if let Some(res) = self.resolver.as_mut() {
                res.forget(r.tid);
            }
        }
        if self.selection.max_events.is_some_and(|n| self.shown >= n) {
            self.done = true;
        }
    }

    fn selected(&self, view: &EventView<'_>) -> bool {
        if self.hide_until_exec == Some(view.ev.tid) {
            return false;
        }
        if !self.selection.suppress.is_empty()
            && let Some(t) = self.state.threads.get(view.ev.tid)
            && self.selection.suppress.contains(&t.comm)
        {
            return false;
        }
        self.selection
            .filter
            .as_ref()
            .is_none_or(|f| f.matches(view))
    }

    /// Whether every sink can take a slice of events without waiting (see `Sink::ready`).
    pub fn ready(&self) -> bool {
        self.sinks.iter().all(|s| s.ready())
    }

    pub fn flush(&mut self) {
        let mut failure = None;
        for sink in self.sinks.iter_mut() {
            if let Err(e) = sink.flush() {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            self.fail(e);
        }
    }

    /// Ends the run: sinks write their trailers (a capture's drop records and end block).
    pub fn end(&mut self, drops: &[(u32, u64)]) {
        self.apply_posts(u64::MAX);
        let mut failure = None;
        for sink in self.sinks.iter_mut() {
            if let Err(e) = sink.end(drops) {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            self.fail(e);
        }
    }

    /// A closed pipe (`tpdig | head`) ends the run quietly; other errors are reported.
    fn fail(&mut self, e: io::Error) {
        self.done = true;
        if e.kind() != io::ErrorKind::BrokenPipe && self.io_error.is_none() {
            self.io_error = Some(e);
        }
    }

    /// `-S`: the events shown per type, most frequent first.
    pub fn print_type_counts(&self, out: &mut dyn io::Write) -> io::Result<()> {
        let mut rows: Vec<(&String, &u64)> = self.by_type.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        writeln!(out, "----------------------")?;
        writeln!(out, "{:<30} #Calls", "Event")?;
        writeln!(out, "----------------------")?;
        for (name, n) in rows {
            writeln!(out, "{name:<30} {n}")?;
        }
        Ok(())
    }
}
