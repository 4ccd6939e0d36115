//! Live capture: tracefs formats → per-CPU perf rings → time merge → decode → state → sink.
//!
//! One thread does everything. The kernel never waits for it: rings are written by the
//! kernel and overrun (counted as drops) if tpdig falls behind. The loop sleeps in poll until
//! a ring passes its watermark or the poll interval ends, drains every ring into the merge
//! queues, then hands on, in timestamp order, every record older than the reorder window.

use crate::compat::Compat;
use crate::decode::{Decoder, Event, Tracepoint};
use crate::error::{AppError, AppResult, ExitKind};
use crate::output::Sink;
use crate::perf::Sample;
use crate::perf::{Engine, EngineConfig, PerfErrorKind, RealKernel, TracepointSpec};
use crate::signals::StopSignals;
use crate::source::merge::{Merger, watermark};
use crate::state::{ThreadTable, apply, proc_scan};
use crate::syscalls::Arch;
use crate::tracefs::{self, EventFormat, LocateOptions, Tracefs, TracefsError};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// The tracepoints a capture opens, in order. Missing ones are warned about and skipped.
const LIFECYCLE: &[(&str, &str)] = &[
    ("sched", "sched_switch"),
    ("sched", "sched_process_fork"),
    ("sched", "sched_process_exec"),
    ("sched", "sched_process_exit"),
    ("task", "task_rename"),
];

/// How often the loop wakes even when no ring reached its watermark: bounds the latency of
/// live output and of reacting to -M and signals.
const POLL_INTERVAL_MS: i32 = 100;

#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub buffer_bytes: usize,
    pub compat: Compat,
    /// Capture tpdig's own events (no self-exclusion filter).
    pub include_self: bool,
    pub verbose: bool,
    pub max_events: Option<u64>,
    pub max_duration: Option<Duration>,
}

/// What a run saw, for the -v summary.
#[derive(Debug, Default)]
pub struct Summary {
    pub events: u64,
    pub elapsed: Duration,
    /// (cpu, events read, records lost)
    pub per_cpu: Vec<(u32, u64, u64)>,
    pub stopped_by: Option<String>,
}

impl Summary {
    pub fn drops(&self) -> u64 {
        self.per_cpu.iter().map(|c| c.2).sum()
    }

    pub fn print(&self, err: &mut dyn io::Write) -> io::Result<()> {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.events as f64 / secs
        } else {
            0.0
        };
        writeln!(
            err,
            "tpdig: {} events in {:.2} s ({:.0} events/s), {} drops",
            self.events,
            secs,
            rate,
            self.drops()
        )?;
        for (cpu, events, lost) in &self.per_cpu {
            writeln!(err, "tpdig: cpu {cpu}: {events} events, {lost} drops")?;
        }
        Ok(())
    }
}

/// Opens tracefs, reading format files and preparing decoders for every tracepoint wanted.
pub fn load_tracepoints(
    fs: &Tracefs,
    compat: &Compat,
    verbose: bool,
) -> AppResult<Vec<Tracepoint>> {
    let syscalls_system =
        if compat.old_syscall_names || !fs.event_exists("raw_syscalls", "sys_enter") {
            "syscalls"
        } else {
            "raw_syscalls"
        };
    let mut wanted: Vec<(&str, &str)> = vec![
        (syscalls_system, "sys_enter"),
        (syscalls_system, "sys_exit"),
    ];
    wanted.extend_from_slice(LIFECYCLE);
    let mut out = Vec::new();
    for (system, name) in wanted {
        match load_one(fs, system, name) {
            Ok(tp) => out.push(tp),
            Err(LoadError::Tracefs(e @ TracefsError::PermissionDenied { .. })) => {
                return Err(tracefs_error(e));
            }
            Err(msg) => {
                // task_rename is only "where present"; stay quiet about it unless -v.
                if verbose || system != "task" {
                    eprintln!("tpdig: warning: {msg} (continuing without it)");
                }
            }
        }
    }
    Ok(out)
}

/// Why one tracepoint could not be prepared.
enum LoadError {
    Tracefs(TracefsError),
    Other(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Tracefs(e) => write!(f, "{e}"),
            LoadError::Other(m) => f.write_str(m),
        }
    }
}

fn load_one(fs: &Tracefs, system: &str, name: &str) -> Result<Tracepoint, LoadError> {
    let text = fs.read_format(system, name).map_err(LoadError::Tracefs)?;
    let format = EventFormat::parse(&text)
        .map_err(|e| LoadError::Other(e.in_file(fs.format_path(system, name))))?;
    Tracepoint::new(system, name, format).map_err(|e| LoadError::Other(e.to_string()))
}

pub fn locate_tracefs(compat: &Compat) -> AppResult<Tracefs> {
    let opts = LocateOptions {
        prefer_debugfs: compat.prefer_debugfs,
        allow_mount: true,
        override_root: std::env::var_os("TPDIG_TRACEFS").map(Into::into),
    };
    tracefs::locate(&opts).map_err(tracefs_error)
}

fn tracefs_error(e: TracefsError) -> AppError {
    let kind = match e {
        TracefsError::PermissionDenied { .. } => ExitKind::Permission,
        _ => ExitKind::Tracefs,
    };
    AppError::new(kind, format!("tracefs: {e}"))
}

/// Runs a live capture into `sink` until -n, -M, a stop signal, or a closed output.
pub fn capture(opts: &LiveOptions, sink: &mut dyn Sink) -> AppResult<Summary> {
    let mut signals = StopSignals::install();
    let fs = locate_tracefs(&opts.compat)?;
    let tracepoints = load_tracepoints(&fs, &opts.compat, opts.verbose)?;
    if tracepoints.is_empty() {
        return Err(AppError::new(
            ExitKind::NoTracepoints,
            format!("no usable tracepoint under {}", fs.root().display()),
        ));
    }
    let specs: Vec<TracepointSpec> = tracepoints
        .iter()
        .map(|t| TracepointSpec {
            id: t.format.id,
            name: t.full_name(),
        })
        .collect();

    let mut threads = ThreadTable::default();
    proc_scan::scan(Path::new("/proc"), &mut threads);

    let cfg = EngineConfig {
        buffer_bytes: opts.buffer_bytes,
        compat: opts.compat,
    };
    let mut engine = Engine::open(RealKernel, &specs, &cfg).map_err(perf_error)?;
    for (name, err) in engine.skipped() {
        eprintln!(
            "tpdig: warning: tracepoint {name} could not be opened: {err} (continuing without it)"
        );
    }
    if !opts.include_self && !opts.compat.no_set_filter {
        let filter = format!("common_pid != {}", nix::unistd::gettid());
        for i in 0..specs.len() {
            if let Err(e) = engine.set_filter(i, &filter) {
                eprintln!("tpdig: warning: in-kernel self-exclusion filter rejected: {e}");
            }
        }
    }
    let decoder = Decoder::new(tracepoints, Arch::native());
    engine.enable().map_err(perf_error)?;
    // Said only once the rings are enabled: scripts and tests wait for this line.
    if opts.verbose {
        eprintln!(
            "tpdig: capturing {} tracepoints on {} CPUs; tracefs {} ({}); ring {} KiB per CPU; {}",
            specs.len() - engine.skipped().len(),
            engine.cpus().len(),
            fs.root().display(),
            fs.how(),
            opts.buffer_bytes / 1024,
            engine.features()
        );
    }

    let start = Instant::now();
    let mut merger = Merger::new();
    let mut pump = Pump {
        decoder: &decoder,
        threads: &mut threads,
        sink,
        count: 0,
        per_cpu: Vec::new(),
        max_events: opts.max_events,
        done: false,
        io_error: None,
    };
    let clock = *engine.clock();
    let mut stopped_by = None;

    while !pump.done {
        if let Some(sig) = signals.pending() {
            stopped_by = Some(format!("signal {sig}"));
            break;
        }
        let mut timeout = POLL_INTERVAL_MS;
        if let Some(max) = opts.max_duration {
            let left = max.saturating_sub(start.elapsed());
            if left.is_zero() {
                stopped_by = Some("-M".into());
                break;
            }
            timeout = timeout.min(left.as_millis() as i32 + 1);
        }
        engine
            .wait(timeout)
            .map_err(|e| AppError::runtime(format!("poll: {e}")))?;
        let now = clock.now_perf();
        engine.drain_rings(|ring, s| merger.push(ring, &s));
        merger.pop_ready(watermark(now), |s| pump.handle(s, &clock));
        pump.flush();
    }
    engine.disable();
    if !pump.done {
        engine.drain_rings(|ring, s| merger.push(ring, &s));
        merger.flush(|s| pump.handle(s, &clock));
    }
    pump.flush();
    let elapsed = start.elapsed();
    StopSignals::unblock();

    if let Some(e) = pump.io_error.take() {
        return Err(AppError::runtime(format!("writing output: {e}")));
    }
    let lost = engine.lost_per_cpu();
    let per_cpu = engine
        .cpus()
        .iter()
        .map(|&cpu| {
            let read = pump.per_cpu.get(cpu as usize).copied().unwrap_or(0);
            let l = lost.iter().find(|(c, _)| *c == cpu).map_or(0, |x| x.1);
            (cpu, read, l)
        })
        .collect();
    Ok(Summary {
        events: pump.count,
        elapsed,
        per_cpu,
        stopped_by,
    })
}

fn perf_error(e: crate::perf::PerfError) -> AppError {
    let kind = match e.kind() {
        PerfErrorKind::Permission => ExitKind::Permission,
        PerfErrorKind::TooManyFiles => ExitKind::TooManyFiles,
        PerfErrorKind::Missing => ExitKind::NoTracepoints,
        PerfErrorKind::Other => ExitKind::Runtime,
    };
    AppError::new(kind, e.to_string())
}

/// Moves merged samples through decode, state and the sink; remembers why it must stop.
struct Pump<'a> {
    decoder: &'a Decoder,
    threads: &'a mut ThreadTable,
    sink: &'a mut dyn Sink,
    count: u64,
    per_cpu: Vec<u64>,
    max_events: Option<u64>,
    done: bool,
    io_error: Option<io::Error>,
}

impl Pump<'_> {
    fn handle(&mut self, s: Sample<'_>, clock: &crate::perf::Clock) {
        if self.done {
            return;
        }
        let Some((tp, kind)) = self.decoder.decode(s.raw) else {
            return;
        };
        if self.per_cpu.len() <= s.cpu as usize {
            self.per_cpu.resize(s.cpu as usize + 1, 0);
        }
        self.per_cpu[s.cpu as usize] += 1;
        self.count += 1;
        let ev = Event {
            num: self.count,
            ts: clock.wall_ns(s.time),
            cpu: s.cpu,
            pid: s.pid,
            tid: s.tid,
            tp,
            raw: s.raw,
            kind,
        };
        apply::before_output(&ev, self.threads);
        if let Err(e) = self.sink.event(&ev, self.threads) {
            self.fail(e);
            return;
        }
        apply::after_output(&ev, self.threads);
        if self.max_events.is_some_and(|n| self.count >= n) {
            self.done = true;
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.sink.flush() {
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
}
