//! Live capture: tracefs formats → per-CPU perf rings → time merge → decode → state → sink.
//!
//! One thread does everything. The kernel never waits for it: rings are written by the
//! kernel and overrun (counted as drops) if tpdig falls behind. The loop sleeps in poll until
//! a ring passes its watermark or the poll interval ends, drains every ring into the merge
//! queues, then hands on, in timestamp order, every record older than the reorder window —
//! a slice at a time, draining again between slices, so a burst the pipeline cannot keep
//! up with piles up in the merger (up to `BACKLOG_BYTES`) rather than in the rings. A sink
//! that cannot take more without waiting (the capture writer's queue is full) is not fed
//! until it can; the rings are drained meanwhile.

use crate::command;
use crate::compat::Compat;
use crate::decode::{Decoder, Tracepoint};
use crate::error::{AppError, AppResult, ExitKind};
use crate::filter::Expr;
use crate::kernel_filter;
use crate::output::Sink;
use crate::params::DataRendering;
use crate::perf::Sample;
use crate::perf::{Engine, EngineConfig, PerfErrorKind, RealKernel, TracepointSpec};
use crate::pipeline::{Pipeline, Record, Selection};
use crate::probes::{Convention, DataOptions, ProbeOptions, ProbeSet, Tiers};
use crate::signals::StopSignals;
use crate::source::merge::{Merger, watermark};
use crate::stack::live::LiveStacks;
use crate::state::{State, proc_scan};
use crate::syscall_source::{self, SyscallSource};
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
    ("sock", "inet_sock_set_state"),
];

/// How often the loop wakes even when no ring reached its watermark: bounds the latency of
/// live output and of reacting to -M and signals.
const POLL_INTERVAL_MS: i32 = 100;
const POLL_INTERVAL: Duration = Duration::from_millis(POLL_INTERVAL_MS as u64);

/// Records handed on between two drains of the rings while catching up (about a
/// millisecond of work: a storm fills an 8 MiB ring in some 30 ms).
const CATCH_UP_SLICE: usize = 4096;

/// How long to wait before draining again while a sink is not ready.
const SINK_WAIT_MS: i32 = 2;

/// How much a backlog may hold in the merger before the rings are left to fill (and, if
/// the pipeline stays behind, to drop, as they would without it).
const BACKLOG_BYTES: usize = 64 << 20;

pub struct LiveOptions {
    pub buffer_bytes: usize,
    pub compat: Compat,
    /// Capture tpdig's own events (no self-exclusion filter).
    pub include_self: bool,
    pub verbose: bool,
    pub max_duration: Option<Duration>,
    /// The user's filter, for kernel pushdown (user space evaluates the compiled form).
    pub filter_expr: Option<Expr>,
    /// `-- cmd args`: trace this command and its descendants, until it exits.
    pub command: Option<Vec<String>>,
    /// Probe the high-volume path lookups (stat family, access) system-wide too.
    pub probe_lookups: bool,
    /// Copy the I/O data of reads and writes (`-s`, `-A`, a filter on `evt.buffer` ...).
    pub data: Option<DataOptions>,
    /// How that data is shown.
    pub data_rendering: DataRendering,
    /// `-k`: call chains on the events the filter selects.
    pub stack: bool,
    /// With `stack`: the events that get call chains, when not those the filter selects
    /// (a chisel's `STACKS` filter: `offcpu` needs them on scheduler switches only).
    pub stack_events: Option<Expr>,
}

/// What a run saw, for the -v summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Events decoded.
    pub events: u64,
    /// Events shown (that passed the filter).
    pub shown: u64,
    pub elapsed: Duration,
    /// (cpu, events read, records lost)
    pub per_cpu: Vec<(u32, u64, u64)>,
    pub stopped_by: Option<String>,
    /// `-- cmd`: how the command ended.
    pub command_status: Option<std::process::ExitStatus>,
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
            "tpdig: {} events in {:.2} s ({:.0} events/s), {} shown, {} drops",
            self.events,
            secs,
            rate,
            self.shown,
            self.drops()
        )?;
        for (cpu, events, lost) in &self.per_cpu {
            writeln!(err, "tpdig: cpu {cpu}: {events} events, {lost} drops")?;
        }
        Ok(())
    }
}

/// Opens tracefs, reading format files and preparing decoders for every tracepoint wanted:
/// the system calls from `source`, then the lifecycle tracepoints.
pub fn load_tracepoints(
    fs: &Tracefs,
    compat: &Compat,
    source: &SyscallSource,
    verbose: bool,
) -> AppResult<Vec<Tracepoint>> {
    let syscalls_system =
        if compat.old_syscall_names || !fs.event_exists("raw_syscalls", "sys_enter") {
            "syscalls"
        } else {
            "raw_syscalls"
        };
    let mut wanted: Vec<(&str, String)> = match source {
        SyscallSource::Raw { .. } => vec![
            (syscalls_system, "sys_enter".into()),
            (syscalls_system, "sys_exit".into()),
        ],
        SyscallSource::PerCall { calls, .. } => calls
            .iter()
            .flat_map(|c| {
                let e = syscall_source::event_suffix(c);
                [
                    ("syscalls", format!("sys_enter_{e}")),
                    ("syscalls", format!("sys_exit_{e}")),
                ]
            })
            .collect(),
    };
    wanted.extend(LIFECYCLE.iter().map(|(s, n)| (*s, n.to_string())));
    let mut out = Vec::new();
    for (system, name) in &wanted {
        let (system, name) = (*system, name.as_str());
        match load_one(fs, system, name) {
            Ok(tp) => out.push(tp),
            Err(LoadError::Tracefs(e @ TracefsError::PermissionDenied { .. })) => {
                return Err(tracefs_error(e));
            }
            Err(msg) => {
                // task_rename and inet_sock_set_state are only "where present"; stay quiet
                // about them unless -v.
                if verbose || !matches!(system, "task" | "sock") {
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
    Tracepoint::new(system, name, &text, format).map_err(|e| LoadError::Other(e.to_string()))
}

pub fn locate_tracefs(compat: &Compat) -> AppResult<Tracefs> {
    let opts = LocateOptions {
        prefer_debugfs: compat.prefer_debugfs,
        allow_mount: true,
        override_root: std::env::var_os("TPDIG_TRACEFS").map(Into::into),
    };
    tracefs::locate(&opts).map_err(tracefs_error)
}

/// `TPDIG_STACK_DUMP=BYTES`: the size of the user stack copy `-k` samples carry (0:
/// frame pointers only), for deep stacks or to measure what the copy costs.
fn stack_dump_from_env() -> Result<Option<u32>, AppError> {
    match std::env::var("TPDIG_STACK_DUMP") {
        Ok(v) => v.trim().parse::<u32>().map(Some).map_err(|e| {
            AppError::usage(format!(
                "TPDIG_STACK_DUMP={v}: {e} (a byte count, e.g. 8192)"
            ))
        }),
        Err(_) => Ok(None),
    }
}

fn tracefs_error(e: TracefsError) -> AppError {
    let kind = match e {
        TracefsError::PermissionDenied { .. } => ExitKind::Permission,
        // Not allowed to mount it: a privilege problem, like not being allowed to read it.
        TracefsError::MountFailed {
            errno: nix::errno::Errno::EPERM | nix::errno::Errno::EACCES,
            ..
        } => ExitKind::Permission,
        _ => ExitKind::Tracefs,
    };
    AppError::new(kind, format!("tracefs: {e}"))
}

/// Everything a capture needs, opened and not yet enabled: the decoder of the tracepoints,
/// the rings, the user-memory probes and the command held at its start. The live capture
/// and the flight recorder share it.
pub struct Opened {
    pub fs: Tracefs,
    pub decoder: Decoder,
    pub engine: Engine<RealKernel>,
    pub probes: Option<ProbeSet>,
    pub command: Option<command::Traced>,
    /// What was opened, in the engine's order (for messages).
    pub specs: Vec<TracepointSpec>,
    /// The threads the events are bound to (empty: the whole system).
    pub traced_tasks: Vec<i32>,
    /// Keeps an earlier run's teardown waiting until this one is enabled: drop it then.
    pub starting: crate::run_lock::Starting,
}

/// Finds tracefs, prepares the tracepoints (`pushdown`: the filter the kernel may apply),
/// starts the command if any, places the probes, and opens the rings (`overwrite`: the
/// flight recorder's backward rings where the kernel has them).
pub fn open_capture(
    opts: &LiveOptions,
    pushdown: Option<&Expr>,
    overwrite: bool,
) -> AppResult<Opened> {
    let fs = locate_tracefs(&opts.compat)?;
    let starting = crate::run_lock::Starting::take(fs.root());
    let arch = Arch::native();
    // A per-syscall event's sample carries the caller's user registers, so its call chain
    // has no kernel frames; -k keeps raw_syscalls unless the other source is forced.
    let source = if opts.stack && !opts.compat.per_syscall {
        SyscallSource::Raw {
            why: "-k needs kernel call chains (per-syscall events have none)".into(),
        }
    } else {
        syscall_source::choose(pushdown, arch, &opts.compat, &|e| {
            fs.event_exists("syscalls", &format!("sys_enter_{e}"))
                && fs.event_exists("syscalls", &format!("sys_exit_{e}"))
        })
    };
    if opts.verbose {
        eprintln!("tpdig: syscall source: {source}");
    }
    let all = load_tracepoints(&fs, &opts.compat, &source, opts.verbose)?;
    let me = (!opts.include_self && !opts.compat.no_set_filter && opts.command.is_none())
        .then(|| nix::unistd::gettid().as_raw());
    let plan = kernel_filter::plan(&all, pushdown, me, arch);
    let mut tracepoints = Vec::new();
    let mut filters = Vec::new();
    for ((tp, skip), filter) in all.into_iter().zip(plan.skip).zip(plan.filters) {
        if skip {
            if opts.verbose {
                eprintln!(
                    "tpdig: not opening {}: the filter cannot match its events",
                    tp.full_name()
                );
            }
            continue;
        }
        tracepoints.push(tp);
        filters.push(filter);
    }
    if tracepoints.is_empty() {
        return Err(AppError::new(
            ExitKind::NoTracepoints,
            format!("no usable tracepoint under {}", fs.root().display()),
        ));
    }
    let stack_selection = opts.stack_events.as_ref().or(pushdown);
    let stacks = crate::stack::selection::wants_stack(&tracepoints, stack_selection, arch);
    let mut specs: Vec<TracepointSpec> = tracepoints
        .iter()
        .zip(stacks)
        .map(|(t, stack)| TracepointSpec {
            stack: stack && opts.stack,
            ..TracepointSpec::new(t.format.id, t.full_name())
        })
        .collect();
    let command = match &opts.command {
        Some(argv) => Some(command::start(argv)?),
        None => None,
    };
    let probes = install_probes(&fs, opts, command.as_ref());
    if let Some(p) = &probes {
        for e in p.events() {
            specs.push(TracepointSpec {
                system_wide: true,
                ..TracepointSpec::new(e.id, format!("{}:{}", e.system, e.name))
            });
            filters.push(me.map(|t| format!("common_pid != {t}")));
        }
    }
    let mut cfg = EngineConfig::new(opts.buffer_bytes, opts.compat);
    cfg.tasks = match &command {
        Some(c) => vec![c.pid()],
        None => pushdown.and_then(tasks_of_pids).unwrap_or_default(),
    };
    if opts.verbose && command.is_none() && !cfg.tasks.is_empty() {
        eprintln!(
            "tpdig: proc.pid pushed down: events bound to {} threads (and their children)",
            cfg.tasks.len()
        );
    }
    cfg.overwrite = overwrite;
    if let Some(bytes) = stack_dump_from_env()? {
        cfg.stack_dump = bytes;
    }
    if matches!(source, SyscallSource::PerCall { .. }) {
        // No raw sys_enter among the events: calibrate (when needed) on the call it makes.
        cfg.calibrate_with = load_one(&fs, "syscalls", "sys_enter_getppid")
            .ok()
            .map(|t| t.format.id);
    }
    let mut engine = Engine::open(RealKernel, &specs, &cfg).map_err(perf_error)?;
    for (name, err) in engine.skipped() {
        eprintln!(
            "tpdig: warning: tracepoint {name} could not be opened: {err} (continuing without it)"
        );
    }
    for (i, f) in filters.iter().enumerate() {
        let Some(f) = f else { continue };
        match engine.set_filter(i, f) {
            Ok(true) if opts.verbose => eprintln!("tpdig: kernel filter on {}: {f}", specs[i].name),
            Ok(_) => {}
            Err(e) => eprintln!(
                "tpdig: warning: kernel filter '{f}' on {} rejected: {e}",
                specs[i].name
            ),
        }
    }
    let decoder = Decoder::new(tracepoints, arch);
    let traced_tasks = cfg.tasks;
    Ok(Opened {
        fs,
        decoder,
        engine,
        probes,
        command,
        specs,
        traced_tasks,
        starting,
    })
}

/// Threads to bind the events to when the filter limits `proc.pid` to a few processes
/// that exist now: every thread of each (their future threads and children follow through
/// `inherit`). The kernel then writes only those processes' records — the pid pushdown
/// ftrace filters cannot express, since `common_pid` is the thread id.
fn tasks_of_pids(filter: &Expr) -> Option<Vec<i32>> {
    const MAX_TASKS: usize = 256;
    let pids = crate::filter::pushdown::restricted_values(filter, "proc.pid")?;
    let mut tids = Vec::new();
    for p in pids {
        let pid: u32 = p.parse().ok()?;
        let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        for t in dir.flatten() {
            tids.push(t.file_name().to_str()?.parse().ok()?);
        }
    }
    (!tids.is_empty() && tids.len() <= MAX_TASKS).then_some(tids)
}

/// Runs a live capture through `pipeline_for` until -n, -M, a stop signal, the command's
/// end, or a closed output.
pub fn capture(
    opts: &LiveOptions,
    selection: Selection,
    sinks: Vec<&mut dyn Sink>,
    type_counts: Option<&mut dyn io::Write>,
) -> AppResult<Summary> {
    let mut signals = StopSignals::install();
    let Opened {
        fs,
        decoder,
        mut engine,
        probes,
        mut command,
        specs,
        traced_tasks,
        starting,
    } = open_capture(opts, opts.filter_expr.as_ref(), false)?;
    // After starting the command, so the snapshot knows it.
    let mut state = State::default();
    let scan = proc_scan::scan_state(Path::new("/proc"), Path::new("/etc"), &mut state);
    if opts.verbose {
        eprintln!(
            "tpdig: /proc snapshot: {} processes, {} threads, {} fds",
            scan.processes, scan.threads, scan.fds
        );
    }
    engine.enable().map_err(perf_error)?;
    drop(starting);
    if let Some(c) = command.as_mut() {
        c.go()?;
    }
    // Said only once the rings are enabled: scripts and tests wait for this line.
    if opts.verbose {
        eprintln!(
            "tpdig: capturing {} tracepoints on {} CPUs{}; tracefs {} ({}); ring {} KiB per CPU; {}",
            specs.len() - engine.skipped().len(),
            engine.cpus().len(),
            command
                .as_ref()
                .map(|c| format!(" for pid {} and its descendants", c.pid()))
                .unwrap_or_default(),
            fs.root().display(),
            fs.how(),
            opts.buffer_bytes / 1024,
            engine.features()
        );
    }

    let start = Instant::now();
    let mut merger = Merger::new();
    let mut pipeline = Pipeline::new(state, sinks, selection);
    pipeline.count_types = type_counts.is_some();
    pipeline.state_off = opts.compat.no_state;
    pipeline.set_resolver(probes.as_ref().map(|p| p.resolver()));
    pipeline.data_rendering = opts.data_rendering;
    if !traced_tasks.is_empty() {
        pipeline.traced_only = Some(traced_tasks.iter().map(|&t| t as u32).collect());
    }
    if let Some(c) = &command {
        pipeline.hide_until_exec = Some(c.pid() as u32);
    }
    pipeline.begin(&decoder);
    let clock = *engine.clock();
    let mut stopped_by = None;
    let mut exit_status = None;
    let stacks = opts.stack.then(|| LiveStacks::new(opts.verbose));
    let record = |p: &mut Pipeline<'_>, s: Sample<'_>| {
        if let Some(k) = &stacks {
            k.attach(p, &s, clock.wall_ns(s.time));
        }
        p.record(
            &decoder,
            Record {
                ts: clock.wall_ns(s.time),
                cpu: s.cpu,
                pid: s.pid,
                tid: s.tid,
                raw: s.raw,
            },
        )
    };

    // Set when the last round ended behind: `Some(0)` with records left to hand on (its
    // time was up), `Some(SINK_WAIT_MS)` when a sink could not take more.
    let mut behind: Option<i32> = None;
    while !pipeline.done {
        if let Some(sig) = signals.pending() {
            match command.as_mut() {
                // The command got the terminal's signal too: keep tracing until it ends.
                Some(c) if stopped_by.is_none() => {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.pid()), sig);
                    stopped_by = Some(format!("signal {sig}"));
                    signals.reset();
                }
                _ => {
                    stopped_by = Some(format!("signal {sig}"));
                    break;
                }
            }
        }
        if let Some(c) = command.as_mut()
            && let Some(st) = c.exited()
        {
            exit_status = Some(st);
            stopped_by.get_or_insert_with(|| "the end of the command".into());
            break;
        }
        let mut timeout = behind.unwrap_or(POLL_INTERVAL_MS);
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
        // Behind a burst, hand records on in slices and drain the rings between them: the
        // backlog then waits in the merger's memory instead of filling the kernel's rings
        // until they overflow. Bounded in time, so signals and -M are still seen.
        let busy_since = Instant::now();
        behind = loop {
            let now = clock.now_perf();
            if merger.queued_bytes() < BACKLOG_BYTES {
                engine.drain_rings(|ring, s| merger.push(ring, &s));
                if let Some(k) = &stacks {
                    k.add_mappings(engine.take_mappings());
                }
            }
            if !pipeline.ready() {
                // The capture writer is behind: keep the backlog here, and drain again
                // soon without waiting for a ring's watermark.
                break Some(SINK_WAIT_MS);
            }
            let n = merger
                .pop_ready_at_most(watermark(now), CATCH_UP_SLICE, |s| record(&mut pipeline, s));
            if n < CATCH_UP_SLICE {
                // Everything before the watermark has been handed on.
                pipeline.advance(&decoder, clock.wall_ns(watermark(now)));
            }
            if n < CATCH_UP_SLICE || pipeline.done {
                break None;
            }
            if busy_since.elapsed() >= POLL_INTERVAL {
                break Some(0);
            }
        };
        pipeline.flush();
    }
    engine.disable();
    if !pipeline.done {
        engine.drain_rings(|ring, s| merger.push(ring, &s));
        if let Some(k) = &stacks {
            k.add_mappings(engine.take_mappings());
        }
        merger.flush(|s| record(&mut pipeline, s));
    }
    pipeline.release_all(&decoder);
    let lost = engine.lost_per_cpu();
    pipeline.end(&lost);
    let elapsed = start.elapsed();
    if opts.verbose {
        if let Some(k) = &stacks {
            k.report();
        }
        if let Some(lines) = pipeline.data_summary() {
            eprintln!(
                "tpdig: I/O data (calls with data / calls that moved bytes): {}",
                if lines.is_empty() {
                    "no I/O seen".to_string()
                } else {
                    lines.join(", ")
                }
            );
        }
        if let Some(r) = pipeline.resolver() {
            let st = r.stats();
            let by: Vec<String> = st
                .resolved
                .iter()
                .map(|(s, n)| format!("{n} by {s}"))
                .collect();
            eprintln!(
                "tpdig: user-memory values: {} resolved ({}), {} calls without their value{}",
                st.resolved.values().sum::<u64>(),
                if by.is_empty() {
                    "none".into()
                } else {
                    by.join(", ")
                },
                st.missed_total(),
                if st.missed.is_empty() {
                    String::new()
                } else {
                    let top: Vec<String> =
                        st.missed.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    format!(" ({})", top.join(", "))
                }
            );
        }
    }
    if let Some(mut c) = command {
        // -n or a closed pipe ended the capture first: leave the command running, as
        // strace does when detached; but do reap it if it already ended.
        exit_status = exit_status.or_else(|| c.exited());
    }
    StopSignals::unblock();

    if let Some(e) = pipeline.io_error.take() {
        return Err(AppError::runtime(format!("writing output: {e}")));
    }
    if let Some(out) = type_counts {
        let _ = pipeline.print_type_counts(out);
    }
    let per_cpu = engine
        .cpus()
        .iter()
        .map(|&cpu| {
            let read = pipeline.per_cpu.get(cpu as usize).copied().unwrap_or(0);
            let l = lost.iter().find(|(c, _)| *c == cpu).map_or(0, |x| x.1);
            (cpu, read, l)
        })
        .collect();
    crate::teardown::release(engine, probes);
    Ok(Summary {
        events: pipeline.decoded,
        shown: pipeline.shown,
        elapsed,
        per_cpu,
        stopped_by,
        command_status: exit_status,
    })
}

/// Creates the user-memory probes the kernel allows; warns and goes on without names when
/// it allows none.
pub fn install_probes(
    fs: &Tracefs,
    opts: &LiveOptions,
    command: Option<&command::Traced>,
) -> Option<ProbeSet> {
    let c = &opts.compat;
    if c.no_eprobes && c.no_uprobes {
        return None;
    }
    // A command starts through tpdig's own (static) binary, whose execve is then probed too,
    // so even the command's first exec shows its path and arguments.
    let objects = command.and_then(|c| c.program()).into_iter().collect();
    let launcher = command.and_then(|_| std::env::current_exe().ok());
    let popts = ProbeOptions {
        tiers: Tiers {
            kprobe: !c.no_kprobes,
            eprobe: !c.no_eprobes,
            uprobe: !c.no_uprobes,
        },
        lookups: opts.probe_lookups || command.is_some(),
        pids: None,
        objects,
        launcher,
        data: opts.data.clone(),
        kprobe_convention: if c.kprobe_registers {
            Some(Convention::Registers)
        } else if c.kprobe_pt_regs {
            Some(Convention::PtRegs)
        } else {
            None
        },
        kprobe_plain_fetch: c.kprobe_string,
    };
    match ProbeSet::install(fs, &popts) {
        Ok(p) => {
            if opts.verbose {
                for line in p.summary() {
                    eprintln!("tpdig: probes: {line}");
                }
            }
            Some(p)
        }
        Err(e) => {
            eprintln!(
                "tpdig: warning: no user-memory probes ({e}); paths and addresses will show as <NA>"
            );
            None
        }
    }
}

pub fn perf_error(e: crate::perf::PerfError) -> AppError {
    let kind = match e.kind() {
        PerfErrorKind::Permission => ExitKind::Permission,
        PerfErrorKind::TooManyFiles => ExitKind::TooManyFiles,
        PerfErrorKind::Missing => ExitKind::NoTracepoints,
        PerfErrorKind::Other => ExitKind::Runtime,
    };
    AppError::new(kind, e.to_string())
}
