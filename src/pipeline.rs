//! The path every record takes, live or from a file: decode → state → filter → sinks.
//!
//! Live capture and `-r` replay both feed `Pipeline::record` with records in timestamp
//! order; everything after that point is shared, so a capture read back prints exactly what
//! the live run printed.

use crate::calls::{Call, InFlight};
use crate::decode::{Decoder, Event, Kind, Role};
use crate::fields::{EventView, RunClock};
use crate::filter::Filter;
use crate::output::Sink;
use crate::state::{Comm, State, apply, effects};
use crate::syscalls;
use std::collections::HashMap;
use std::io;

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

pub struct Pipeline<'a, 's> {
    pub decoder: &'a Decoder,
    pub state: State,
    sinks: Vec<&'s mut dyn Sink>,
    selection: Selection,
    clock: RunClock,
    /// Each thread's system call in flight.
    in_flight: InFlight,
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
    pub done: bool,
    pub io_error: Option<io::Error>,
}

impl<'a, 's> Pipeline<'a, 's> {
    pub fn new(
        decoder: &'a Decoder,
        state: State,
        sinks: Vec<&'s mut dyn Sink>,
        selection: Selection,
    ) -> Self {
        Pipeline {
            decoder,
            state,
            sinks,
            selection,
            clock: RunClock::default(),
            in_flight: InFlight::default(),
            decoded: 0,
            shown: 0,
            undecodable: 0,
            per_cpu: Vec::new(),
            by_type: HashMap::new(),
            count_types: false,
            done: false,
            io_error: None,
        }
    }

    pub fn record(&mut self, r: Record<'_>) {
        if self.done {
            return;
        }
        let Some((tp, kind)) = self.decoder.decode(r.raw) else {
            self.undecodable += 1;
            return;
        };
        let cpu = r.cpu as usize;
        if self.per_cpu.len() <= cpu {
            self.per_cpu.resize(cpu + 1, 0);
        }
        self.per_cpu[cpu] += 1;
        self.decoded += 1;
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
        apply::state_before_output(&ev, &mut self.state);
        let ended: Option<Call> = match kind {
            Kind::SyscallEnter { nr, args } => {
                self.in_flight.enter(r.tid, Call { nr, args, ts: r.ts, resolved: Vec::new() });
                None
            }
            Kind::SyscallExit { nr, ret } => {
                let call = self.in_flight.exit(r.tid, nr);
                if let (Some(c), Some(name)) = (&call, syscalls::name(self.decoder.arch, nr)) {
                    effects::apply_exit(&mut self.state, r.tid, r.pid, name, &c.args, ret, &|i| c.resolved(i), r.ts);
                }
                call
            }
            _ => None,
        };
        let call = match kind {
            Kind::SyscallEnter { .. } => self.in_flight.current(r.tid),
            _ => ended.as_ref(),
        };
        let view = EventView::new(&ev, &self.state, call, self.decoder.arch, self.clock);
        let shown = self.selected(&view);
        let feeds_state = matches!(
            tp.role,
            Role::Fork { .. }
                | Role::Exec { .. }
                | Role::Exit { .. }
                | Role::Rename { .. }
                | Role::NewTask { .. }
        );
        let mut failure = None;
        for sink in self.sinks.iter_mut() {
            let res = if shown {
                sink.event(&view)
            } else if feeds_state {
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
        }
        if self.selection.max_events.is_some_and(|n| self.shown >= n) {
            self.done = true;
        }
    }

    fn selected(&self, view: &EventView<'_>) -> bool {
        if !self.selection.suppress.is_empty() {
            if let Some(t) = self.state.threads.get(view.ev.tid) {
                if self.selection.suppress.contains(&t.comm) {
                    return false;
                }
            }
        }
        self.selection
            .filter
            .as_ref()
            .is_none_or(|f| f.matches(view))
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
        writeln!(out, "{:<30} {}", "Event", "#Calls")?;
        writeln!(out, "----------------------")?;
        for (name, n) in rows {
            writeln!(out, "{name:<30} {n}")?;
        }
        Ok(())
    }
}
