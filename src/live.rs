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
use crate::decode::Decoder;
use crate::error::{AppError, AppResult};
use crate::filter::Expr;
use crate::output::Sink;
use crate::params::DataRendering;
use crate::perf::{Clock, Engine, RealKernel, Sample};
use crate::pipeline::{Pipeline, Record, Selection};
use crate::probes::DataOptions;
use crate::signals::StopSignals;
use crate::source::merge::{Merger, watermark};
use crate::stack::live::LiveStacks;
use crate::state::{State, proc_scan};
use crate::tracefs::Tracefs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

mod open;

pub use open::{
    Opened, install_probes, load_tracepoints, locate_tracefs, open_capture, perf_error,
};
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

/// Runs a live capture until -n, -M, a stop signal, the command's end, or a closed output.
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
    let state = snapshot(opts.verbose);
    engine.enable().map_err(perf_error)?;
    drop(starting);
    if let Some(c) = command.as_mut() {
        c.go()?;
    }
    // Said only once the rings are enabled: scripts and tests wait for this line.
    if opts.verbose {
        announce(opts, &fs, &engine, specs.len(), command.as_ref());
    }

    let start = Instant::now();
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
    let mut flow = Flow {
        clock: *engine.clock(),
        engine: &mut engine,
        merger: Merger::new(),
        pipeline,
        decoder: &decoder,
        stacks: opts.stack.then(|| LiveStacks::new(opts.verbose)),
    };
    let (stopped_by, exit_status) = flow.run(opts, &mut signals, command.as_mut(), start)?;
    let lost = flow.finish();
    let elapsed = start.elapsed();
    if opts.verbose {
        report(&flow);
    }
    let mut pipeline = flow.pipeline;
    // -n or a closed pipe ended the capture first: leave the command running, as strace
    // does when detached; but do reap it if it already ended.
    let exit_status = exit_status.or_else(|| command.as_mut().and_then(|c| c.exited()));
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

/// The state of the processes and files that exist before the first event.
fn snapshot(verbose: bool) -> State {
    let mut state = State::default();
    let scan = proc_scan::scan_state(Path::new("/proc"), Path::new("/etc"), &mut state);
    if verbose {
        eprintln!(
            "tpdig: /proc snapshot: {} processes, {} threads, {} fds",
            scan.processes, scan.threads, scan.fds
        );
    }
    state
}

/// `-v`: what is being captured, where from.
fn announce(
    opts: &LiveOptions,
    fs: &Tracefs,
    engine: &Engine<RealKernel>,
    opened: usize,
    command: Option<&command::Traced>,
) {
    eprintln!(
        "tpdig: capturing {} tracepoints on {} CPUs{}; tracefs {} ({}); ring {} KiB per CPU; {}",
        opened - engine.skipped().len(),
        engine.cpus().len(),
        command
            .map(|c| format!(" for pid {} and its descendants", c.pid()))
            .unwrap_or_default(),
        fs.root().display(),
        fs.how(),
        opts.buffer_bytes / 1024,
        engine.features()
    );
}

/// Records on their way: rings → merge queues → pipeline.
struct Flow<'a, 's> {
    engine: &'a mut Engine<RealKernel>,
    clock: Clock,
    merger: Merger,
    pipeline: Pipeline<'s>,
    decoder: &'a Decoder,
    stacks: Option<LiveStacks>,
}

impl Flow<'_, '_> {
    /// Rounds of wait, drain and hand on until something ends the capture: returns what
    /// stopped it and the command's exit status when its end did.
    fn run(
        &mut self,
        opts: &LiveOptions,
        signals: &mut StopSignals,
        mut command: Option<&mut command::Traced>,
        start: Instant,
    ) -> AppResult<(Option<String>, Option<std::process::ExitStatus>)> {
        let mut stopped_by = None;
        // Set when the last round ended behind: `Some(0)` with records left to hand on (its
        // time was up), `Some(SINK_WAIT_MS)` when a sink could not take more.
        let mut behind: Option<i32> = None;
        while !self.pipeline.done {
            if let Some(sig) = signals.pending() {
                match command.as_mut() {
                    // The command got the terminal's signal too: keep tracing until it ends.
                    Some(c) if stopped_by.is_none() => {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.pid()), sig);
                        stopped_by = Some(format!("signal {sig}"));
                        signals.reset();
                    }
                    _ => return Ok((Some(format!("signal {sig}")), None)),
                }
            }
            if let Some(st) = command.as_mut().and_then(|c| c.exited()) {
                let why = stopped_by.unwrap_or_else(|| "the end of the command".into());
                return Ok((Some(why), Some(st)));
            }
            let mut timeout = behind.unwrap_or(POLL_INTERVAL_MS);
            if let Some(max) = opts.max_duration {
                let left = max.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Ok((Some("-M".into()), None));
                }
                timeout = timeout.min(left.as_millis() as i32 + 1);
            }
            self.engine
                .wait(timeout)
                .map_err(|e| AppError::runtime(format!("poll: {e}")))?;
            behind = self.round();
            self.pipeline.flush();
        }
        Ok((stopped_by, None))
    }

    /// Drains the rings and hands on what is older than the reorder window. Behind a
    /// burst, records go on in slices with the rings drained between them: the backlog
    /// then waits in the merger's memory instead of filling the kernel's rings until they
    /// overflow. Bounded in time, so signals and -M are still seen; the result says how
    /// long the next wait may be when the round ended behind.
    fn round(&mut self) -> Option<i32> {
        let busy_since = Instant::now();
        loop {
            let now = self.clock.now_perf();
            if self.merger.queued_bytes() < BACKLOG_BYTES {
                self.drain();
            }
            if !self.pipeline.ready() {
                // The capture writer is behind: keep the backlog here, and drain again
                // soon without waiting for a ring's watermark.
                return Some(SINK_WAIT_MS);
            }
            let n = self
                .merger
                .pop_ready_at_most(watermark(now), CATCH_UP_SLICE, |s| {
                    hand_on(
                        &mut self.pipeline,
                        self.decoder,
                        self.stacks.as_ref(),
                        &self.clock,
                        s,
                    )
                });
            if n < CATCH_UP_SLICE {
                // Everything before the watermark has been handed on.
                self.pipeline
                    .advance(self.decoder, self.clock.wall_ns(watermark(now)));
            }
            if n < CATCH_UP_SLICE || self.pipeline.done {
                return None;
            }
            if busy_since.elapsed() >= POLL_INTERVAL {
                return Some(0);
            }
        }
    }

    /// Moves every ring's records into the merge queues.
    fn drain(&mut self) {
        let merger = &mut self.merger;
        self.engine.drain_rings(|ring, s| merger.push(ring, &s));
        if let Some(k) = &self.stacks {
            k.add_mappings(self.engine.take_mappings());
        }
    }

    /// Stops the rings, hands on what they and the queues still hold (unless the output
    /// is done) and ends the pipeline; returns the records lost per CPU.
    fn finish(&mut self) -> Vec<(u32, u64)> {
        self.engine.disable();
        if !self.pipeline.done {
            self.drain();
            self.merger.flush(|s| {
                hand_on(
                    &mut self.pipeline,
                    self.decoder,
                    self.stacks.as_ref(),
                    &self.clock,
                    s,
                )
            });
        }
        self.pipeline.release_all(self.decoder);
        let lost = self.engine.lost_per_cpu();
        self.pipeline.end(&lost);
        lost
    }
}

/// One record into the pipeline, with its call chain when -k took one.
fn hand_on(
    pipeline: &mut Pipeline<'_>,
    decoder: &Decoder,
    stacks: Option<&LiveStacks>,
    clock: &Clock,
    s: Sample<'_>,
) {
    let ts = clock.wall_ns(s.time);
    if let Some(k) = stacks {
        k.attach(pipeline, &s, ts);
    }
    pipeline.record(
        decoder,
        Record {
            ts,
            cpu: s.cpu,
            pid: s.pid,
            tid: s.tid,
            raw: s.raw,
        },
    )
}

/// `-v` at the end: stacks, I/O data and user-memory values, as far as they were asked for.
fn report(flow: &Flow<'_, '_>) {
    if let Some(k) = &flow.stacks {
        k.report();
    }
    if let Some(lines) = flow.pipeline.data_summary() {
        eprintln!(
            "tpdig: I/O data (calls with data / calls that moved bytes): {}",
            if lines.is_empty() {
                "no I/O seen".to_string()
            } else {
                lines.join(", ")
            }
        );
    }
    let Some(r) = flow.pipeline.resolver() else {
        return;
    };
    let st = r.stats();
    let by: Vec<String> = st
        .resolved
        .iter()
        .map(|(s, n)| format!("{n} by {s}"))
        .collect();
    let missed: Vec<String> = st.missed.iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!(
        "tpdig: user-memory values: {} resolved ({}), {} calls without their value{}",
        st.resolved.values().sum::<u64>(),
        if by.is_empty() {
            "none".into()
        } else {
            by.join(", ")
        },
        st.missed_total(),
        if missed.is_empty() {
            String::new()
        } else {
            format!(" ({})", missed.join(", "))
        }
    );
}
