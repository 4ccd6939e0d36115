//! The flight recorder: record all the time at almost no cost, keep only the last moments,
//! and save them to a capture file when something happens.
//!
//! Two ways to keep the last moments, chosen by trying:
//! - Kernel overwrite (4.7+): events written backward into read-only rings, which the
//!   kernel overwrites when full. tpdig reads nothing while recording; it sleeps on its
//!   signal descriptor. At a dump it pauses each ring, copies it, resumes it.
//! - User-space ring (older kernels, `--compat no-write-backward`, or a trigger that must
//!   see every event): the rings stream as in a normal capture and each CPU's samples are
//!   kept in a ring of the same byte size in tpdig's memory.
//!
//! A dump is a normal capture file (`FILE.1`, `FILE.2`...): a /proc snapshot taken at dump
//! time, then the window's events in time order, fed through a fresh pipeline whose only
//! sink is the capture writer, so values from probes and state events are stored as in
//! `-w`. The snapshot comes after the window in real time; the events replayed on it bring
//! what changed inside the window (exec, rename, opens) and the snapshot supplies the rest
//! (threads and fds that existed before), which is what `-r` needs to show names.
//!
//! Triggers: SIGUSR1, a filter matching an event (`--trigger`), an in-process request
//! (`FlightOptions::request`: a chisel's `dump()`), and the end of the run. A filter
//! trigger or a chisel needs every event decoded as it happens, so either selects the
//! user-space ring even where the kernel could overwrite. A chisel ("watcher") sees the
//! events the user's filter selects, in their own pipeline, as it would in a live run.

pub mod signals;
pub mod user_ring;
pub mod window;

use crate::capture::blocks::MachineInfo;
use crate::decode::Decoder;
use crate::error::{AppError, AppResult};
use crate::filter::Filter;
use crate::live::{LiveOptions, Opened, open_capture, perf_error};
use crate::output::Sink;
use crate::output::capture_sink::{CaptureSink, Rotation};
use crate::perf::{Clock, Engine, RealKernel, Sample};
use crate::pipeline::{Pipeline, Record, Selection};
use crate::probes::ProbeSet;
use crate::source::merge::{Merger, watermark};
use crate::state::{Comm, State, proc_scan};
use signals::FlightSignals;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use user_ring::{OwnedSample, UserRing};
use window::{Coverage, Window, dump_window};

/// Default ring size per CPU.
pub const DEFAULT_RING_BYTES: usize = 8 << 20;
/// Default cap on the number of dumps of one run.
pub const DEFAULT_MAX_DUMPS: u64 = 10;

/// How long the kernel-mode loop sleeps between looks at `-M`, the command and
/// in-process requests when no signal comes.
const IDLE_MS: i32 = 200;
/// The streaming loop's poll interval (as in a normal capture).
const STREAM_POLL_MS: i32 = 100;

pub struct FlightOptions {
    /// The capture options (`buffer_bytes` is the ring size per CPU; `filter_expr` the
    /// user's filter, which also selects what the dumps hold).
    pub live: LiveOptions,
    /// Dumps are written to `PATH.1`, `PATH.2`...
    pub path: PathBuf,
    pub compress: bool,
    pub machine: MachineInfo,
    /// `-U`: commands whose events the dumps leave out.
    pub suppress: Vec<Comm>,
    /// `--trigger`: dump when an event matches.
    pub trigger: Option<Filter>,
    /// `--post`: keep recording this long after a trigger before dumping.
    pub post: Duration,
    /// `--max-dumps`: at most this many dumps (0: no limit).
    pub max_dumps: u64,
    /// Dump when the run ends (SIGINT, -M, the command's end) unless already capped.
    pub dump_at_end: bool,
    /// Set to true from anywhere in the process to ask for a dump (a chisel's dump
    /// function); the recorder clears it.
    pub request: Option<Arc<AtomicBool>>,
}

impl FlightOptions {
    pub fn new(live: LiveOptions, path: PathBuf) -> FlightOptions {
        FlightOptions {
            live,
            path,
            compress: false,
            machine: MachineInfo::default(),
            suppress: Vec::new(),
            trigger: None,
            post: Duration::ZERO,
            max_dumps: DEFAULT_MAX_DUMPS,
            dump_at_end: true,
            request: None,
        }
    }
}

/// Where the last moments were kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    KernelOverwrite,
    UserRing,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::KernelOverwrite => "kernel overwrite rings (write_backward)",
            Mode::UserRing => "user-space rings (streaming)",
        })
    }
}

/// One dump written.
#[derive(Clone, Debug)]
pub struct DumpReport {
    pub path: PathBuf,
    /// What caused it: "SIGUSR1", "trigger filter", "request", "end of run".
    pub cause: &'static str,
    /// Events written (shown or kept for state).
    pub events: u64,
    /// Wall-clock ns of the window.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Per ring: (cpu, wall ns of its oldest sample, of its newest, overwritten or not).
    pub rings: Vec<(u32, Option<u64>, Option<u64>, bool)>,
}

impl DumpReport {
    /// `-v`: the dump and how far back each CPU's ring reached.
    pub fn print(&self, err: &mut dyn io::Write) -> io::Result<()> {
        writeln!(
            err,
            "tpdig: flight recorder: dump {} ({}): {} events over {:.3} s",
            self.path.display(),
            self.cause,
            self.events,
            self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9
        )?;
        for (cpu, old, new, wrapped) in &self.rings {
            match (old, new) {
                (Some(a), Some(b)) => writeln!(
                    err,
                    "tpdig: flight recorder:   cpu {cpu}: ring covered {:.3} s{}",
                    b.saturating_sub(*a) as f64 / 1e9,
                    if *wrapped {
                        " (full, oldest overwritten)"
                    } else {
                        " (not full: since the start)"
                    }
                )?,
                _ => writeln!(err, "tpdig: flight recorder:   cpu {cpu}: ring empty")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct FlightSummary {
    pub mode: Mode,
    pub dumps: Vec<DumpReport>,
    /// Triggers ignored because `--max-dumps` was reached.
    pub ignored_triggers: u64,
    pub elapsed: Duration,
    pub stopped_by: Option<String>,
    pub command_status: Option<std::process::ExitStatus>,
    /// Records the kernel dropped, per CPU (in kernel mode: while paused for a copy).
    pub lost: Vec<(u32, u64)>,
}

/// A trigger seen and not yet dumped.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// Perf time of the trigger.
    at: u64,
    cause: &'static str,
}

/// Everything a dump needs that stays the same across the run.
struct Dumper<'a> {
    opts: &'a FlightOptions,
    decoder: Decoder,
    probes: Option<ProbeSet>,
    clock: Clock,
    count: u64,
    previous_end: Option<u64>,
}

impl Dumper<'_> {
    fn path(&self, n: u64) -> PathBuf {
        let mut p = self.path_base();
        p.push(format!(".{n}"));
        p.into()
    }

    fn path_base(&self) -> std::ffi::OsString {
        self.opts.path.clone().into_os_string()
    }

    fn capped(&self) -> bool {
        self.opts.max_dumps > 0 && self.count >= self.opts.max_dumps
    }

    /// Writes the samples (per ring, each oldest first) inside the trigger's window.
    fn dump(
        &mut self,
        rings: Vec<(Coverage, Vec<OwnedSample>)>,
        p: Pending,
        lost: &[(u32, u64)],
    ) -> AppResult<DumpReport> {
        let post = self.opts.post.as_nanos() as u64;
        let cover: Vec<Coverage> = rings.iter().map(|r| r.0).collect();
        let w: Window = dump_window(&cover, p.at, post, self.previous_end);
        let mut all: Vec<(usize, OwnedSample)> = rings
            .into_iter()
            .enumerate()
            .flat_map(|(i, (_, v))| v.into_iter().map(move |s| (i, s)))
            .filter(|(_, s)| w.contains(s.time))
            .collect();
        all.sort_by_key(|(i, s)| (s.time, *i));

        self.count += 1;
        let path = self.path(self.count);
        let mut state = State::default();
        proc_scan::scan_state(Path::new("/proc"), Path::new("/etc"), &mut state);
        let filter = match &self.opts.live.filter_expr {
            Some(e) => Some(
                crate::filter::compile(e).map_err(|e| AppError::usage(format!("filter: {e}")))?,
            ),
            None => None,
        };
        let mut sink = CaptureSink::new(
            path.clone(),
            self.opts.compress,
            Rotation::default(),
            self.opts.machine.clone(),
        );
        let selection = Selection {
            filter,
            suppress: self.opts.suppress.clone(),
            max_events: None,
        };
        let events;
        {
            let mut pipeline = Pipeline::new(state, vec![&mut sink as &mut dyn Sink], selection);
            pipeline.set_resolver(self.probes.as_ref().map(|p| p.resolver()));
            pipeline.data_rendering = self.opts.live.data_rendering;
            pipeline.begin(&self.decoder);
            for (_, s) in &all {
                pipeline.record(
                    &self.decoder,
                    Record {
                        ts: self.clock.wall_ns(s.time),
                        cpu: s.cpu,
                        pid: s.pid,
                        tid: s.tid,
                        raw: &s.raw,
                    },
                );
            }
            pipeline.release_all(&self.decoder);
            pipeline.end(lost);
            if let Some(e) = pipeline.io_error.take() {
                return Err(AppError::runtime(format!(
                    "writing {}: {e}",
                    path.display()
                )));
            }
            events = pipeline.shown;
        }
        self.previous_end = Some(w.end);
        let wall = |t: Option<u64>| t.map(|t| self.clock.wall_ns(t));
        Ok(DumpReport {
            path,
            cause: p.cause,
            events,
            start_ns: all.first().map_or(self.clock.wall_ns(w.start), |s| {
                self.clock.wall_ns(s.1.time)
            }),
            end_ns: self.clock.wall_ns(w.end),
            rings: cover
                .iter()
                .map(|c| (c.cpu, wall(c.oldest), wall(c.newest), c.wrapped))
                .collect(),
        })
    }
}

/// The rings' contents now, as (coverage, samples oldest first) per ring.
fn collect_kernel(engine: &mut Engine<RealKernel>) -> Vec<(Coverage, Vec<OwnedSample>)> {
    let mut per: Vec<Vec<OwnedSample>> = Vec::new();
    let snaps = engine.snapshot(|ring, s| {
        if per.len() <= ring {
            per.resize_with(ring + 1, Vec::new);
        }
        per[ring].push(OwnedSample::of(&s));
    });
    per.resize_with(snaps.len(), Vec::new);
    snaps
        .into_iter()
        .zip(per)
        .map(|(r, v)| {
            (
                Coverage {
                    cpu: r.cpu,
                    oldest: r.oldest,
                    newest: r.newest,
                    wrapped: r.wrapped,
                },
                v,
            )
        })
        .collect()
}

fn collect_user(rings: &[(u32, UserRing)]) -> Vec<(Coverage, Vec<OwnedSample>)> {
    rings
        .iter()
        .map(|(cpu, r)| {
            (
                Coverage {
                    cpu: *cpu,
                    oldest: r.iter().next().map(|s| s.time),
                    newest: r.iter().last().map(|s| s.time),
                    wrapped: r.wrapped(),
                },
                r.iter().cloned().collect(),
            )
        })
        .collect()
}

/// Runs the flight recorder until SIGINT/SIGTERM, `-M`, or the command's end, writing a
/// dump per trigger (at most `max_dumps`), and one at the end unless told not to.
pub fn run(opts: &FlightOptions) -> AppResult<FlightSummary> {
    run_watched(opts, Vec::new())
}

/// [`run`], with `watchers` (a chisel) shown every event the user's filter selects as it
/// happens; a watcher asks for dumps through `opts.request`, and ends the run by ending
/// its pipeline (a chisel's `end_capture()`).
pub fn run_watched(opts: &FlightOptions, watchers: Vec<&mut dyn Sink>) -> AppResult<FlightSummary> {
    let live = &opts.live;
    let mut signals = FlightSignals::install();
    // A trigger filter sees every event: only the user's filter may be pushed down, and
    // only when there is no trigger to feed.
    let pushdown = if opts.trigger.is_some() {
        None
    } else {
        live.filter_expr.as_ref()
    };
    let streamed = opts.trigger.is_some() || !watchers.is_empty();
    let Opened {
        decoder,
        mut engine,
        mut probes,
        command: mut cmd,
        specs,
        starting,
        ..
    } = open_capture(live, pushdown, !streamed)?;
    let mode = if engine.overwrite() {
        Mode::KernelOverwrite
    } else {
        Mode::UserRing
    };
    let clock = *engine.clock();
    let ring_bytes = (engine.features().data_pages * engine.features().page_size) as u64;
    let mut dumper = Dumper {
        opts,
        decoder,
        probes: None,
        clock,
        count: 0,
        previous_end: None,
    };
    // The trigger's own pipeline: no sinks, the trigger as its filter.
    let mut trigger_pipe = opts.trigger.as_ref().map(|f| {
        let mut state = State::default();
        proc_scan::scan_state(Path::new("/proc"), Path::new("/etc"), &mut state);
        let mut p = Pipeline::new(
            state,
            Vec::new(),
            Selection {
                filter: Some(f.clone()),
                ..Selection::default()
            },
        );
        p.set_resolver(probes.as_ref().map(|p| p.resolver()));
        p
    });
    // The watchers' pipeline: the user's filter selects what they see.
    let mut watch_pipe = if watchers.is_empty() {
        None
    } else {
        let mut state = State::default();
        proc_scan::scan_state(Path::new("/proc"), Path::new("/etc"), &mut state);
        let filter = match &live.filter_expr {
            Some(e) => Some(
                crate::filter::compile(e).map_err(|e| AppError::usage(format!("filter: {e}")))?,
            ),
            None => None,
        };
        let selection = Selection {
            filter,
            suppress: opts.suppress.clone(),
            max_events: None,
        };
        let mut p = Pipeline::new(state, watchers, selection);
        p.set_resolver(probes.as_ref().map(|p| p.resolver()));
        p.data_rendering = live.data_rendering;
        Some(p)
    };
    let mut user_rings: Vec<(u32, UserRing)> = engine
        .cpus()
        .iter()
        .map(|&c| (c, UserRing::new(ring_bytes)))
        .collect();
    let mut merger = Merger::new();

    engine.enable().map_err(perf_error)?;
    drop(starting);
    if let Some(c) = cmd.as_mut() {
        c.go()?;
    }
    if live.verbose {
        eprintln!(
            "tpdig: flight recorder capturing {} tracepoints on {} CPUs into {}; ring {} KiB per CPU; dumps to {}.N{}; {}",
            specs.len() - engine.skipped().len(),
            engine.cpus().len(),
            mode,
            ring_bytes / 1024,
            opts.path.display(),
            if opts.max_dumps > 0 {
                format!(" (at most {})", opts.max_dumps)
            } else {
                String::new()
            },
            engine.features()
        );
    }

    let start = Instant::now();
    let mut reports = Vec::new();
    let mut pending: Option<Pending> = None;
    let mut ignored = 0u64;
    let mut stopped_by = None;
    let mut exit_status = None;
    let post_ns = opts.post.as_nanos() as u64;
    // Move probes into the dumper after the trigger pipeline took its resolver.
    dumper.probes = probes.take();

    let mut want = |pending: &mut Option<Pending>, d: &Dumper<'_>, at: u64, cause| {
        if pending.is_some() {
            return;
        }
        if d.capped() {
            ignored += 1;
            if live.verbose && ignored == 1 {
                eprintln!(
                    "tpdig: flight recorder: {} dumps written, ignoring further triggers",
                    d.count
                );
            }
            return;
        }
        *pending = Some(Pending { at, cause });
    };

    loop {
        if watch_pipe.as_ref().is_some_and(|p| p.done) {
            stopped_by.get_or_insert_with(|| "the chisel".into());
            break;
        }
        let got = signals.take();
        if got.dump {
            want(&mut pending, &dumper, clock.now_perf(), "SIGUSR1");
        }
        if let Some(r) = &opts.request
            && r.swap(false, Ordering::AcqRel)
        {
            want(&mut pending, &dumper, clock.now_perf(), "request");
        }
        if let Some(sig) = got.stop {
            match cmd.as_mut() {
                Some(c) if stopped_by.is_none() => {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.pid()), sig);
                    stopped_by = Some(format!("signal {sig}"));
                }
                _ => {
                    stopped_by = Some(format!("signal {sig}"));
                    break;
                }
            }
        }
        if let Some(c) = cmd.as_mut()
            && let Some(st) = c.exited()
        {
            exit_status = Some(st);
            stopped_by.get_or_insert_with(|| "the end of the command".into());
            break;
        }
        let mut timeout = if mode == Mode::KernelOverwrite {
            IDLE_MS
        } else {
            STREAM_POLL_MS
        };
        if let Some(max) = live.max_duration {
            let left = max.saturating_sub(start.elapsed());
            if left.is_zero() {
                stopped_by = Some("-M".into());
                break;
            }
            timeout = timeout.min(left.as_millis() as i32 + 1);
        }
        let now = clock.now_perf();
        // A pending dump is due once the post window has passed (and, streaming, once
        // the merge has released everything up to its end).
        if let Some(p) = pending {
            let due = match mode {
                Mode::KernelOverwrite => p.at + post_ns,
                Mode::UserRing => p.at + post_ns + crate::source::merge::REORDER_WINDOW_NS,
            };
            if now >= due {
                let rings = match mode {
                    Mode::KernelOverwrite => collect_kernel(&mut engine),
                    Mode::UserRing => collect_user(&user_rings),
                };
                let r = dumper.dump(rings, p, &engine.lost_per_cpu())?;
                if live.verbose {
                    let _ = r.print(&mut io::stderr().lock());
                }
                reports.push(r);
                pending = None;
                continue;
            }
            let left_ms = (due - now).div_ceil(1_000_000).min(i32::MAX as u64) as i32;
            timeout = timeout.min(left_ms.max(1));
        }
        match mode {
            Mode::KernelOverwrite => signals.wait(timeout),
            Mode::UserRing => {
                engine
                    .wait(timeout)
                    .map_err(|e| AppError::runtime(format!("poll: {e}")))?;
                let now = clock.now_perf();
                engine.drain_rings(|ring, s| merger.push(ring, &s));
                let mut fired = None;
                merger.pop_ready(watermark(now), |s| {
                    keep(&mut user_rings, &s);
                    if let Some(wp) = watch_pipe.as_mut() {
                        feed(wp, &dumper.decoder, &clock, &s);
                    }
                    if let Some(tp) = trigger_pipe.as_mut()
                        && feed_trigger(tp, &dumper.decoder, &clock, &s)
                        && fired.is_none()
                    {
                        fired = Some(s.time);
                    }
                });
                if let Some(at) = fired {
                    want(&mut pending, &dumper, at, "trigger filter");
                }
            }
        }
    }

    engine.disable();
    if mode == Mode::UserRing {
        engine.drain_rings(|ring, s| merger.push(ring, &s));
        let mut fired = None;
        merger.flush(|s| {
            keep(&mut user_rings, &s);
            if let Some(wp) = watch_pipe.as_mut() {
                feed(wp, &dumper.decoder, &clock, &s);
            }
            if let Some(tp) = trigger_pipe.as_mut()
                && feed_trigger(tp, &dumper.decoder, &clock, &s)
                && fired.is_none()
            {
                fired = Some(s.time);
            }
        });
        if let Some(at) = fired {
            want(&mut pending, &dumper, at, "trigger filter");
        }
    }
    if let Some(wp) = watch_pipe.as_mut() {
        wp.release_all(&dumper.decoder);
        wp.end(&[]);
        if let Some(e) = wp.io_error.take() {
            return Err(AppError::runtime(format!("writing output: {e}")));
        }
    }
    // A request made by the last events seen (the command's last calls) still counts.
    if let Some(r) = &opts.request
        && r.swap(false, Ordering::AcqRel)
    {
        want(&mut pending, &dumper, clock.now_perf(), "request");
    }
    if pending.is_none() && opts.dump_at_end {
        want(&mut pending, &dumper, clock.now_perf(), "end of run");
    }
    if let Some(p) = pending {
        let rings = match mode {
            Mode::KernelOverwrite => collect_kernel(&mut engine),
            Mode::UserRing => collect_user(&user_rings),
        };
        let r = dumper.dump(rings, p, &engine.lost_per_cpu())?;
        if live.verbose {
            let _ = r.print(&mut io::stderr().lock());
        }
        reports.push(r);
    }
    if let Some(mut c) = cmd {
        exit_status = exit_status.or_else(|| c.exited());
    }
    let lost = engine.lost_per_cpu();
    crate::teardown::release(engine, dumper.probes.take());
    Ok(FlightSummary {
        mode,
        dumps: reports,
        ignored_triggers: ignored,
        elapsed: start.elapsed(),
        stopped_by,
        command_status: exit_status,
        lost,
    })
}

/// Keeps a streamed sample in its CPU's user ring.
fn keep(rings: &mut [(u32, UserRing)], s: &Sample<'_>) {
    if let Some((_, r)) = rings.iter_mut().find(|(c, _)| *c == s.cpu) {
        r.push(s);
    } else if let Some((_, r)) = rings.last_mut() {
        r.push(s);
    }
}

/// Runs one sample through the trigger's pipeline; true when the trigger matched it.
fn feed_trigger(p: &mut Pipeline<'_>, decoder: &Decoder, clock: &Clock, s: &Sample<'_>) -> bool {
    let before = p.shown;
    feed(p, decoder, clock, s);
    p.shown > before
}

/// Runs one streamed sample through a pipeline.
fn feed(p: &mut Pipeline<'_>, decoder: &Decoder, clock: &Clock, s: &Sample<'_>) {
    p.record(
        decoder,
        Record {
            ts: clock.wall_ns(s.time),
            cpu: s.cpu,
            pid: s.pid,
            tid: s.tid,
            raw: s.raw,
        },
    );
}
