//! What a capture opens, in order: tracefs, the tracepoints' formats (the system-call
//! source chosen for the filter), the kernel's filters, the command held at its start,
//! the user-memory probes, and the per-CPU rings. Nothing is enabled here.

use super::LiveOptions;
use crate::command;
use crate::compat::Compat;
use crate::decode::{Decoder, Tracepoint};
use crate::error::{AppError, AppResult, ExitKind};
use crate::filter::Expr;
use crate::kernel_filter;
use crate::perf::{Engine, EngineConfig, PerfErrorKind, RealKernel, TracepointSpec};
use crate::probes::{Convention, ProbeOptions, ProbeSet, Tiers};
use crate::syscall_source::{self, SyscallSource};
use crate::syscalls::Arch;
use crate::tracefs::{self, EventFormat, LocateOptions, Tracefs, TracefsError};

/// The tracepoints a capture opens, in order. Missing ones are warned about and skipped.
const LIFECYCLE: &[(&str, &str)] = &[
    ("sched", "sched_switch"),
    ("sched", "sched_process_fork"),
    ("sched", "sched_process_exec"),
    ("sched", "sched_process_exit"),
    ("task", "task_rename"),
    ("sock", "inet_sock_set_state"),
];

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
    let source = choose_source(&fs, opts, pushdown, arch);
    if opts.verbose {
        eprintln!("tpdig: syscall source: {source}");
    }
    let all = load_tracepoints(&fs, &opts.compat, &source, opts.verbose)?;
    let me = (!opts.include_self && !opts.compat.no_set_filter && opts.command.is_none())
        .then(|| nix::unistd::gettid().as_raw());
    let (tracepoints, mut filters) = kernel_plan(all, pushdown, me, arch, opts.verbose);
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
    set_filters(&mut engine, &specs, &filters, opts.verbose);
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

/// The system calls' tracepoints: per-syscall ones where the filter names few calls, else
/// raw_syscalls. A per-syscall event's sample carries the caller's user registers, so its
/// call chain has no kernel frames; -k keeps raw_syscalls unless the other is forced.
fn choose_source(
    fs: &Tracefs,
    opts: &LiveOptions,
    pushdown: Option<&Expr>,
    arch: Arch,
) -> SyscallSource {
    if opts.stack && !opts.compat.per_syscall {
        return SyscallSource::Raw {
            why: "-k needs kernel call chains (per-syscall events have none)".into(),
        };
    }
    syscall_source::choose(pushdown, arch, &opts.compat, &|e| {
        fs.event_exists("syscalls", &format!("sys_enter_{e}"))
            && fs.event_exists("syscalls", &format!("sys_exit_{e}"))
    })
}

/// The tracepoints the filter can match, each with the ftrace filter the kernel may apply
/// to it (`me`: tpdig's own thread, left out).
fn kernel_plan(
    all: Vec<Tracepoint>,
    pushdown: Option<&Expr>,
    me: Option<i32>,
    arch: Arch,
    verbose: bool,
) -> (Vec<Tracepoint>, Vec<Option<String>>) {
    let plan = kernel_filter::plan(&all, pushdown, me, arch);
    let mut tracepoints = Vec::new();
    let mut filters = Vec::new();
    for ((tp, skip), filter) in all.into_iter().zip(plan.skip).zip(plan.filters) {
        if skip {
            if verbose {
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
    (tracepoints, filters)
}

/// Sets the ftrace filters on the opened events; one the kernel rejects is warned about
/// (user space filters anyway).
fn set_filters(
    engine: &mut Engine<RealKernel>,
    specs: &[TracepointSpec],
    filters: &[Option<String>],
    verbose: bool,
) {
    for (i, f) in filters.iter().enumerate() {
        let Some(f) = f else { continue };
        match engine.set_filter(i, f) {
            Ok(true) if verbose => eprintln!("tpdig: kernel filter on {}: {f}", specs[i].name),
            Ok(_) => {}
            Err(e) => eprintln!(
                "tpdig: warning: kernel filter '{f}' on {} rejected: {e}",
                specs[i].name
            ),
        }
    }
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
