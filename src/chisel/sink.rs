//! A chisel as a pipeline sink: loads the script, runs its top level and `on_init` once,
//! then per event applies the script's filter, its native feeds and its `on_event`, and
//! fires `on_interval` when event time crosses an interval boundary.
//!
//! Intervals follow event timestamps, not the wall clock, so reading a capture gives the
//! same intervals as the live run that wrote it. An interval fires when the first event
//! at or past its end arrives (and once more at the end for the partial last one).
//!
//! Stopping: `end_capture()`, a script error and a closed output all end the run by
//! returning a `BrokenPipe` error from the sink, which the pipeline treats as a quiet end
//! (`done`, sinks still get `end`, so a capture written beside the chisel is closed
//! properly). The reason is kept here: [`ChiselSink::take_error`] tells the caller whether
//! the run failed. A runaway script is stopped by the operation limit per call, and by
//! Ctrl-C: SIGINT/SIGTERM are blocked during live capture, so the progress hook looks at
//! the pending set and aborts the call.

use super::agg::CpuTracker;
use super::api::{self, Evt, Shared, SharedRc};
use super::current::{EventGuard, StateGuard};
use super::error::{ChiselError, ChiselErrorKind};
use super::fields::ChiselValues;
use super::registry::{ArgType, ChiselSpec, Source, spec_of};
use crate::decode::Decoder;
use crate::fields::EventView;
use crate::filter::Expr;
use crate::output::Sink;
use crate::state::State;
use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, FuncArgs, INT, Map, Scope};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Write};
use std::rc::Rc;

/// Operations one call may run before it is stopped as runaway (an empty Rhai loop turn
/// is a few operations; 50M is seconds of work).
pub const DEFAULT_MAX_OPERATIONS: u64 = 50_000_000;

/// Most intervals fired for one gap between events (a long idle gap jumps ahead).
const MAX_INTERVALS_PER_GAP: u32 = 1000;

#[derive(Default, Clone, Copy)]
struct Callbacks {
    on_init: bool,
    on_capture_start: bool,
    on_event: bool,
    on_interval: bool,
    on_capture_end: bool,
}

pub struct ChiselSink {
    spec: ChiselSpec,
    file: String,
    engine: Engine,
    ast: AST,
    scope: Scope<'static>,
    shared: SharedRc,
    cb: Callbacks,
    cpu: CpuTracker,
    key: String,
    first_ts: Option<u64>,
    last_ts: u64,
    interval_start: u64,
    next_interval: Option<u64>,
    /// Events since the last interval fired.
    in_interval: bool,
    error: Option<ChiselError>,
    ended: bool,
    finished: bool,
}

fn sigint_pending() -> bool {
    crate::perf::sys::stop_signal_pending()
}

fn strip_position(msg: &str) -> &str {
    match msg.rfind(" (line ") {
        Some(i) if msg.ends_with(')') => &msg[..i],
        _ => msg,
    }
}

impl ChiselSink {
    /// Loads `source` with the user's arguments (words after the chisel name); the script's
    /// `print` and tables go to `out`. Runs the top level and `on_init`.
    pub fn new(
        source: &Source,
        args: &[String],
        out: Box<dyn Write>,
    ) -> Result<ChiselSink, ChiselError> {
        Self::with_limits(source, args, out, DEFAULT_MAX_OPERATIONS)
    }

    /// [`ChiselSink::new`] with an explicit per-call operation limit.
    pub fn with_limits(
        source: &Source,
        args: &[String],
        out: Box<dyn Write>,
        max_operations: u64,
    ) -> Result<ChiselSink, ChiselError> {
        let (spec, ast) = spec_of(source)?;
        let values = bind_args(&spec, args, &source.file)?;
        let shared: SharedRc = Rc::new(RefCell::new(Shared::new(out)));
        let mut engine = super::registry::new_engine();
        engine.set_max_operations(max_operations);
        engine.set_max_call_levels(64);
        engine.on_progress(|ops| {
            (ops % 4096 == 0 && sigint_pending()).then(|| Dynamic::from("interrupted"))
        });
        api::register(&mut engine, &shared);
        let mut cb = Callbacks::default();
        for f in ast.iter_functions() {
            let n = f.params.len();
            match (f.name, n) {
                ("on_init", 0) => cb.on_init = true,
                ("on_capture_start", 0) => cb.on_capture_start = true,
                ("on_event", 1) => cb.on_event = true,
                ("on_interval", 2) => cb.on_interval = true,
                ("on_capture_end", 2) => cb.on_capture_end = true,
                (
                    "on_init" | "on_capture_start" | "on_event" | "on_interval" | "on_capture_end",
                    _,
                ) => {
                    let want = match f.name {
                        "on_event" => "(evt)",
                        "on_interval" | "on_capture_end" => "(ts_ns, delta_ns)",
                        _ => "()",
                    };
                    return Err(ChiselError::new(
                        ChiselErrorKind::Syntax,
                        &source.file,
                        format!("{} takes {want}, not {n} parameter(s)", f.name),
                    ));
                }
                _ => {}
            }
        }
        let mut scope = Scope::new();
        scope.push_constant("args", values);
        let mut sink = ChiselSink {
            spec,
            file: source.file.clone(),
            engine,
            ast,
            scope,
            shared,
            cb,
            cpu: CpuTracker::default(),
            key: String::new(),
            first_ts: None,
            last_ts: 0,
            interval_start: 0,
            next_interval: None,
            in_interval: false,
            error: None,
            ended: false,
            finished: false,
        };
        let top = sink.engine.run_ast_with_scope(&mut sink.scope, &sink.ast);
        if let Err(e) = top {
            return Err(sink.convert(*e, "the top level"));
        }
        // Rhai hands the scope's constants to the function call_fn calls, but not to the
        // functions that one calls; resolve them there from a copy (handles are shared,
        // so the copy sees every update made through their methods).
        let consts: HashMap<String, Dynamic> = sink
            .scope
            .iter_raw()
            .filter(|(_, is_const, _)| *is_const)
            .map(|(n, _, v)| (n.to_string(), v.clone()))
            .collect();
        if !consts.is_empty() {
            // `on_var` is marked deprecated only as "volatile"; it is the hook for this.
            #[allow(deprecated)]
            sink.engine.on_var(move |name, index, ctx| {
                if index > 0 || ctx.scope().contains(name) {
                    return Ok(None);
                }
                Ok(consts.get(name).cloned())
            });
        }
        if cb.on_init {
            let r = sink.call("on_init", ())?;
            if r.as_bool().ok() == Some(false) {
                sink.ended = true;
            }
        }
        if sink.shared.borrow().end_requested {
            sink.ended = true;
        }
        Ok(sink)
    }

    pub fn spec(&self) -> &ChiselSpec {
        &self.spec
    }

    /// The filter the script set (`set_filter`), as text, for the caller to push down to
    /// the kernel (with the user's filter, `and`-ed). The sink applies it itself as well.
    pub fn filter(&self) -> Option<String> {
        self.shared.borrow().filter.as_ref().map(|f| f.0.clone())
    }

    /// The script's filter parsed (with the chisel-only fields, which pushdown treats as
    /// unknown), for `kernel_filter::plan`.
    pub fn filter_expr(&self) -> Option<Expr> {
        self.shared.borrow().filter.as_ref().map(|f| f.1.clone())
    }

    /// The snap length the script asked for (it shows I/O data).
    pub fn snaplen(&self) -> Option<usize> {
        self.shared.borrow().snaplen
    }

    /// The interval the script asked for, in ns.
    pub fn interval_ns(&self) -> Option<u64> {
        self.shared.borrow().interval_ns
    }

    /// Tells the script (`is_live()`) whether events come from a live capture.
    pub fn set_live(&mut self, live: bool) {
        self.shared.borrow_mut().live = live;
    }

    /// Lets the script's `dump()` ask the flight recorder for a dump by setting `flag`.
    pub fn set_dump_request(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.shared.borrow_mut().dump_request = Some(flag);
    }

    /// The script asked to end (`end_capture()`, or `on_init` returned false), or failed.
    pub fn wants_end(&self) -> bool {
        self.ended || self.error.is_some() || self.shared.borrow().end_requested
    }

    /// The error that ended the run, if any (script error or output error).
    pub fn take_error(&mut self) -> Option<ChiselError> {
        self.error.take()
    }

    fn convert(&self, e: EvalAltResult, what: &str) -> ChiselError {
        let mut e = e;
        let mut pos = e.position();
        let mut chain = Vec::new();
        while let EvalAltResult::ErrorInFunctionCall(name, _, inner, p) = e {
            if pos.is_none() {
                pos = p;
            }
            chain.push(name);
            e = *inner;
            if !e.position().is_none() {
                pos = e.position();
            }
        }
        let (kind, message) = match &e {
            EvalAltResult::ErrorTooManyOperations(_) => (
                ChiselErrorKind::Runtime,
                format!(
                    "stopped after {} operations in {what}: is there an endless loop?",
                    self.engine.max_operations()
                ),
            ),
            EvalAltResult::ErrorTerminated(..) => {
                (ChiselErrorKind::Runtime, format!("interrupted in {what}"))
            }
            EvalAltResult::ErrorParsing(p, _) => (ChiselErrorKind::Syntax, p.to_string()),
            other => (
                ChiselErrorKind::Runtime,
                format!("{} (in {what})", strip_position(&other.to_string())),
            ),
        };
        let _ = chain; // the innermost error and position are what the user needs
        let mut err = ChiselError::new(kind, &self.file, message);
        if let (Some(l), c) = (pos.line(), pos.position()) {
            err = err.at(l, c.unwrap_or(0));
        }
        err
    }

    fn call(&mut self, name: &str, args: impl FuncArgs) -> Result<Dynamic, ChiselError> {
        let opts = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        self.engine
            .call_fn_with_options::<Dynamic>(opts, &mut self.scope, &self.ast, name, args)
            .map_err(|e| self.convert(*e, name))
    }

    /// Records a failure and turns it into the quiet-stop error for the pipeline.
    fn fail(&mut self, e: ChiselError) -> io::Error {
        let interrupted = e.message.starts_with("interrupted");
        if !interrupted && self.error.is_none() {
            self.error = Some(e);
        }
        self.ended = true;
        io::Error::new(io::ErrorKind::BrokenPipe, "chisel ended the capture")
    }

    fn stop_requested(&mut self) -> io::Result<()> {
        let (end, out_err) = {
            let mut s = self.shared.borrow_mut();
            (s.end_requested, s.out_error.take())
        };
        if let Some(e) = out_err {
            if e.kind() != io::ErrorKind::BrokenPipe {
                let err = ChiselError::new(
                    ChiselErrorKind::Io,
                    &self.file,
                    format!("writing output: {e}"),
                );
                return Err(self.fail(err));
            }
            self.ended = true;
        }
        if end || self.ended {
            self.ended = true;
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "chisel ended the capture",
            ));
        }
        Ok(())
    }

    fn fire_intervals(&mut self, ts: u64) -> Result<(), ChiselError> {
        let Some(iv) = self.shared.borrow().interval_ns else {
            return Ok(());
        };
        let Some(mut next) = self.next_interval else {
            self.interval_start = ts;
            self.next_interval = Some((ts / iv + 1) * iv);
            return Ok(());
        };
        let mut fired = 0;
        while ts >= next {
            if self.cb.on_interval {
                let delta = next - self.interval_start;
                let _ = self.call("on_interval", (next as INT, delta as INT))?;
            }
            self.interval_start = next;
            next += iv;
            fired += 1;
            self.in_interval = false;
            if fired >= MAX_INTERVALS_PER_GAP {
                next = (ts / iv + 1) * iv;
                self.interval_start = ts - ts % iv;
            }
        }
        self.next_interval = Some(next);
        Ok(())
    }

    fn deliver(&mut self, view: &EventView<'_>) -> Result<(), ChiselError> {
        let ts = view.ev.ts;
        self.first_ts.get_or_insert(ts);
        self.last_ts = ts;
        {
            let _g = EventGuard::set(view);
            self.fire_intervals(ts)?;
        }
        self.in_interval = true;
        let shared = self.shared.borrow();
        let cpu_time = if shared.wants_cpu {
            self.cpu.on_event(view)
        } else {
            None
        };
        if shared.wants_offcpu {
            for feed in &shared.feeds {
                feed.watch(view);
            }
        }
        if let Some((_, _, f)) = &shared.filter
            && !f.matches(&ChiselValues(view))
        {
            return Ok(());
        }
        for feed in &shared.feeds {
            feed.apply(view, cpu_time, &mut self.key);
        }
        drop(shared);
        if self.cb.on_event {
            let (_g, generation) = EventGuard::set(view);
            let _ = self.call("on_event", (Dynamic::from(Evt { generation }),))?;
        }
        Ok(())
    }
}

/// Matches the user's words to the chisel's declared arguments. Extra words are joined
/// into the last argument when it is a string or a filter (`-c around proc.name=cat and
/// evt.failed=true`).
fn bind_args(spec: &ChiselSpec, words: &[String], file: &str) -> Result<Map, ChiselError> {
    let err = |m: String| ChiselError::new(ChiselErrorKind::Args, file, m);
    let mut values = Map::new();
    let mut words: Vec<String> = words.to_vec();
    if words.len() > spec.args.len() {
        let last = spec.args.last();
        if last.is_some_and(|a| matches!(a.ty, ArgType::String | ArgType::Filter)) {
            let rest = words.split_off(spec.args.len() - 1).join(" ");
            words.push(rest);
        } else {
            return Err(err(format!(
                "too many arguments: {} takes {} ({})",
                spec.name,
                spec.args.len(),
                spec.args
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    for (i, a) in spec.args.iter().enumerate() {
        let v = match words.get(i) {
            None if a.optional => Dynamic::UNIT,
            None => {
                return Err(err(format!(
                    "missing argument '{}' ({}): {}",
                    a.name,
                    a.ty.name(),
                    a.description
                )));
            }
            Some(w) => match a.ty {
                ArgType::Int => w
                    .trim()
                    .parse::<INT>()
                    .map(Dynamic::from_int)
                    .map_err(|_| {
                        err(format!(
                            "argument '{}' must be an integer, not '{w}'",
                            a.name
                        ))
                    })?,
                ArgType::Ipv4 => {
                    w.trim().parse::<std::net::Ipv4Addr>().map_err(|_| {
                        err(format!(
                            "argument '{}' must be an IPv4 address, not '{w}'",
                            a.name
                        ))
                    })?;
                    Dynamic::from(w.trim().to_string())
                }
                ArgType::Filter => {
                    if !w.trim().is_empty() {
                        super::fields::compile_filter(w)
                            .map_err(|e| err(format!("argument '{}': {e}", a.name)))?;
                    }
                    Dynamic::from(w.clone())
                }
                ArgType::String => Dynamic::from(w.clone()),
            },
        };
        values.insert(a.name.as_str().into(), v);
    }
    Ok(values)
}

impl Sink for ChiselSink {
    fn begin(&mut self, state: &State, _decoder: &Decoder) -> io::Result<()> {
        if self.ended {
            return self.stop_requested();
        }
        if self.cb.on_capture_start {
            let _g = StateGuard::set(state);
            if let Err(e) = self.call("on_capture_start", ()) {
                return Err(self.fail(e));
            }
        }
        self.stop_requested()
    }

    fn event(&mut self, view: &EventView<'_>) -> io::Result<()> {
        if self.ended {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "chisel ended the capture",
            ));
        }
        if let Err(e) = self.deliver(view) {
            return Err(self.fail(e));
        }
        self.stop_requested()
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.shared.borrow_mut().out.flush();
        if let Err(e) = r {
            if e.kind() != io::ErrorKind::BrokenPipe {
                let err = ChiselError::new(
                    ChiselErrorKind::Io,
                    &self.file,
                    format!("writing output: {e}"),
                );
                return Err(self.fail(err));
            }
            self.ended = true;
            return Err(e);
        }
        Ok(())
    }

    fn end(&mut self, _drops: &[(u32, u64)]) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let failed = self.error.is_some();
        if !failed {
            let last = self.last_ts;
            let first = self.first_ts.unwrap_or(last);
            let mut res = Ok(Dynamic::UNIT);
            if self.cb.on_interval && self.in_interval && self.next_interval.is_some() {
                let delta = last.saturating_sub(self.interval_start);
                res = self.call("on_interval", (last as INT, delta as INT));
            }
            if res.is_ok() && self.cb.on_capture_end {
                res = self.call(
                    "on_capture_end",
                    (last as INT, last.saturating_sub(first) as INT),
                );
            }
            if let Err(e) = res {
                let _ = self.fail(e);
            }
        }
        let r = self.shared.borrow_mut().out.flush();
        let out_err = self.shared.borrow_mut().out_error.take();
        for e in [r.err(), out_err].into_iter().flatten() {
            if e.kind() != io::ErrorKind::BrokenPipe && self.error.is_none() {
                self.error = Some(ChiselError::new(
                    ChiselErrorKind::Io,
                    &self.file,
                    format!("writing output: {e}"),
                ));
            }
        }
        Ok(())
    }
}
