//! Opening perf events by trying, never by version: the attr size (E2BIG protocol: the
//! kernel writes back the size it knows, we retry with it), `use_clockid` (EINVAL on
//! kernels before 4.1: retry without and calibrate the clock), PERF_FLAG_FD_CLOEXEC
//! (EINVAL before 3.14: retry without, set FD_CLOEXEC afterwards), `write_backward` (4.7+)
//! and the user stack copy of `-k` (3.7+). The first event opened settles each choice for
//! all others, so every event of a run has the same attr and can share a ring. Every
//! fallback can be forced through `Compat`, so tests reach the old-kernel paths.

use super::attr::{self, AttrOptions, CLOCKID_MIN_SIZE, FULL_SIZE, SIZE_VER0, SampleLayout};
use super::engine::TracepointSpec;
use super::error::{Op, PerfError, describe};
use super::sys::{Kernel, OpenJob};
use crate::compat::Compat;
use perf_event_open_sys::bindings::{PERF_FLAG_FD_CLOEXEC, perf_event_attr};
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;

/// Spare descriptors kept free beyond the perf events (stdio, tracefs, output files,
/// the calibration event).
pub const FD_MARGIN: u64 = 64;

/// The state of one probed kernel feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Tried and used.
    Used,
    /// Turned off by a compat switch.
    Forced,
    /// The kernel refused it (errno).
    Rejected(i32),
    /// Not tried (not needed, or the attr size cannot carry it).
    Unused,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feature::Used => f.write_str("yes"),
            Feature::Forced => f.write_str("no (forced by compat switch)"),
            Feature::Rejected(e) => {
                write!(
                    f,
                    "no (kernel refused: {})",
                    describe(&io::Error::from_raw_os_error(*e))
                )
            }
            Feature::Unused => f.write_str("not used"),
        }
    }
}

/// What was detected and forced when opening, for `-v`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Features {
    /// The attr size every event was opened with.
    pub attr_size: u32,
    /// The size the kernel asked for after E2BIG, if it did.
    pub e2big: Option<u32>,
    pub clockid: Feature,
    pub cloexec_flag: Feature,
    pub set_output: Feature,
    pub set_filter: Feature,
    /// Backward-written overwrite rings (asked for by the flight recorder only).
    pub write_backward: Feature,
    pub page_size: usize,
    pub data_pages: usize,
    pub rings: usize,
    pub events: usize,
    /// RLIMIT_NOFILE raised from (old soft) to (new soft).
    pub nofile_raised: Option<(u64, u64)>,
    /// Why calibration failed, when the clock had to be assumed.
    pub calibration_error: Option<String>,
    pub forced: Compat,
}

impl fmt::Display for Features {
    /// One line, `; `-separated, for `-v`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "perf_event_attr size {}", self.attr_size)?;
        if let Some(s) = self.e2big {
            write!(f, " (kernel asked for {s} after E2BIG)")?;
        }
        write!(f, "; use_clockid: {}", self.clockid)?;
        write!(f, "; PERF_FLAG_FD_CLOEXEC: {}", self.cloexec_flag)?;
        write!(f, "; shared ring per CPU (SET_OUTPUT): {}", self.set_output)?;
        write!(f, "; in-kernel filters (SET_FILTER): {}", self.set_filter)?;
        if self.write_backward != Feature::Unused {
            write!(
                f,
                "; overwrite rings (write_backward): {}",
                self.write_backward
            )?;
        }
        write!(
            f,
            "; {} events, {} rings of {} KiB",
            self.events,
            self.rings,
            self.data_pages * self.page_size / 1024
        )?;
        if let Some((a, b)) = self.nofile_raised {
            write!(f, "; RLIMIT_NOFILE raised from {a} to {b}")?;
        }
        if let Some(e) = &self.calibration_error {
            write!(
                f,
                "; clock calibration failed ({e}), perf clock assumed CLOCK_MONOTONIC"
            )?;
        }
        Ok(())
    }
}

/// The choices settled by the first successful open.
pub(super) struct Negotiation {
    pub(super) size: u32,
    pub(super) size_settled: bool,
    pub(super) e2big: Option<u32>,
    pub(super) clockid: bool,
    pub(super) clockid_settled: bool,
    pub(super) clockid_state: Feature,
    pub(super) cloexec: bool,
    pub(super) cloexec_settled: bool,
    pub(super) cloexec_state: Feature,
    pub(super) backward: bool,
    pub(super) backward_settled: bool,
    pub(super) backward_state: Feature,
    /// Bytes of user stack `-k` samples copy for unwinding; 0 with `no-stack-dump` or an
    /// attr too small to carry the request (frame-pointer chains only).
    pub(super) stack_dump: u32,
    pub(super) stack_dump_settled: bool,
}

impl Negotiation {
    pub(super) fn new(c: &Compat, overwrite: bool) -> Negotiation {
        Negotiation {
            size: if c.attr_v0 { SIZE_VER0 } else { FULL_SIZE },
            size_settled: c.attr_v0,
            e2big: None,
            clockid: !c.no_clockid && !c.attr_v0,
            clockid_settled: c.no_clockid || c.attr_v0,
            clockid_state: if c.no_clockid || c.attr_v0 {
                Feature::Forced
            } else {
                Feature::Unused
            },
            cloexec: true,
            cloexec_settled: false,
            cloexec_state: Feature::Unused,
            backward: overwrite && !c.no_write_backward,
            backward_settled: !overwrite || c.no_write_backward,
            backward_state: if overwrite && c.no_write_backward {
                Feature::Forced
            } else {
                Feature::Unused
            },
            stack_dump: if c.no_stack_dump || c.attr_v0 {
                0
            } else {
                attr::DEFAULT_STACK_DUMP
            },
            stack_dump_settled: false,
        }
    }

    /// The layout of the records of an event opened with the settled choices.
    pub(super) fn layout(&self, stack: bool) -> SampleLayout {
        SampleLayout::of(&tracepoint_attr(
            (0, stack),
            self.size,
            -1,
            0,
            false,
            false,
            self.stack_dump,
        ))
    }

    pub(super) fn open_flags(&self) -> u64 {
        if self.cloexec {
            PERF_FLAG_FD_CLOEXEC as u64
        } else {
            0
        }
    }
}

/// Opens one event with the negotiated options, settling them on first success. A `-k`
/// event the kernel refuses (EINVAL) with the user stack copy is retried without it, for
/// kernels before PERF_SAMPLE_REGS_USER / STACK_USER (3.7); the first `-k` event settles
/// the choice for all of them, since their rings share one layout.
fn open_one<K: Kernel>(
    k: &K,
    n: &mut Negotiation,
    tp: (u32, bool),
    pid: i32,
    cpu: i32,
    watermark: u32,
) -> io::Result<OwnedFd> {
    let r = open_candidates(k, n, tp, pid, cpu, watermark);
    if !tp.1 || n.stack_dump_settled {
        return r;
    }
    match r {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) && n.stack_dump > 0 => {
            let asked = n.stack_dump;
            n.stack_dump = 0;
            let again = open_candidates(k, n, tp, pid, cpu, watermark);
            if again.is_ok() {
                n.stack_dump_settled = true;
                return again;
            }
            n.stack_dump = asked;
            Err(e)
        }
        Ok(fd) => {
            n.stack_dump_settled = true;
            Ok(fd)
        }
        Err(e) => Err(e),
    }
}

fn open_candidates<K: Kernel>(
    k: &K,
    n: &mut Negotiation,
    (id, stack): (u32, bool),
    pid: i32,
    cpu: i32,
    watermark: u32,
) -> io::Result<OwnedFd> {
    // Candidates for (clockid, cloexec, backward): as negotiated, then — while unsettled —
    // without write_backward (4.7+), without clockid (4.1+), then also without the cloexec
    // flag (3.14+): each feature is older than the one dropped before it.
    let mut cands = vec![(n.clockid, n.cloexec, n.backward)];
    if !n.backward_settled && n.backward {
        cands.push((n.clockid, n.cloexec, false));
    }
    if !n.clockid_settled && n.clockid {
        cands.push((false, n.cloexec, false));
    }
    if !n.cloexec_settled && n.cloexec {
        cands.push((false, false, false));
    }
    let mut first_err = None;
    for (clockid, cloexec, backward) in cands {
        match open_sized(
            k,
            n,
            (id, stack),
            pid,
            cpu,
            watermark,
            clockid,
            cloexec,
            backward,
        ) {
            Ok(fd) => {
                if !n.backward_settled {
                    n.backward_settled = true;
                    n.backward_state = if backward {
                        Feature::Used
                    } else {
                        Feature::Rejected(libc::EINVAL)
                    };
                    n.backward = backward;
                }
                if !n.clockid_settled {
                    n.clockid_settled = true;
                    n.clockid_state = if clockid {
                        Feature::Used
                    } else if n.clockid {
                        Feature::Rejected(libc::EINVAL)
                    } else {
                        Feature::Unused
                    };
                    n.clockid = clockid;
                }
                if !n.cloexec_settled {
                    n.cloexec_settled = true;
                    n.cloexec_state = if cloexec {
                        Feature::Used
                    } else {
                        Feature::Rejected(libc::EINVAL)
                    };
                    n.cloexec = cloexec;
                }
                n.size_settled = true;
                return Ok(fd);
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                first_err.get_or_insert(e);
            }
            Err(e) => return Err(first_err.unwrap_or(e)),
        }
    }
    Err(first_err.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)))
}

/// The attr of one tracepoint event with the given (candidate or settled) choices; events
/// bound to a task follow its children (`inherit`).
fn tracepoint_attr(
    (id, stack): (u32, bool),
    size: u32,
    pid: i32,
    watermark: u32,
    clockid: bool,
    backward: bool,
    stack_dump: u32,
) -> perf_event_attr {
    attr::tracepoint(
        id as u64,
        &AttrOptions {
            size,
            use_clockid: clockid,
            wakeup_watermark: watermark,
            inherit: pid >= 0,
            write_backward: backward,
            stack,
            stack_dump,
        },
    )
}

/// One open, retried once with the kernel's size after E2BIG while the size is unsettled.
#[allow(clippy::too_many_arguments)]
fn open_sized<K: Kernel>(
    k: &K,
    n: &mut Negotiation,
    tp: (u32, bool),
    pid: i32,
    cpu: i32,
    watermark: u32,
    clockid: bool,
    cloexec: bool,
    backward: bool,
) -> io::Result<OwnedFd> {
    let flags = if cloexec {
        PERF_FLAG_FD_CLOEXEC as u64
    } else {
        0
    };
    let mut retried = false;
    loop {
        let mut a = tracepoint_attr(tp, n.size, pid, watermark, clockid, backward, n.stack_dump);
        match k.perf_event_open(&mut a, pid, cpu, -1, flags) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::E2BIG) && !n.size_settled && !retried => {
                let asked = a.size;
                if !(SIZE_VER0..n.size).contains(&asked) {
                    return Err(e);
                }
                n.e2big = Some(asked);
                n.size = asked;
                if asked < CLOCKID_MIN_SIZE && n.clockid {
                    // The kernel's attr has no clockid field: it cannot have the feature.
                    n.clockid = false;
                    n.clockid_settled = true;
                    n.clockid_state = Feature::Rejected(libc::E2BIG);
                }
                retried = true;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Opens every tracepoint of `tps` on every (task, CPU) slot, `fds[task_index * ncpus +
/// cpu_index]`. The first tracepoint that opens settles the negotiated attributes, one
/// slot at a time; the rest then open in one batch (in parallel on the real kernel: probe
/// events each wait for a registration).
pub(super) fn open_all<K: Kernel>(
    kernel: &K,
    n: &mut Negotiation,
    tps: &[TracepointSpec],
    tasks: &[i32],
    cpus: &[u32],
    watermark: u32,
) -> Vec<Result<Vec<OwnedFd>, PerfError>> {
    let open_tp = |n: &mut Negotiation, tp: &TracepointSpec| -> Result<Vec<OwnedFd>, PerfError> {
        let mut fds = Vec::with_capacity(cpus.len() * tasks.len());
        for &task in tasks {
            for &cpu in cpus {
                let pid = if tp.system_wide { -1 } else { task };
                let fd = open_one(kernel, n, (tp.id, tp.stack), pid, cpu as i32, watermark)
                    .map_err(|e| PerfError::new(Op::Open, e).tracepoint(&tp.name).cpu(cpu))?;
                fds.push(fd);
            }
        }
        Ok(fds)
    };
    let mut results: Vec<Result<Vec<OwnedFd>, PerfError>> = Vec::with_capacity(tps.len());
    let mut rest = 0;
    for tp in tps {
        let r = open_tp(n, tp);
        let ok = r.is_ok();
        results.push(r);
        rest += 1;
        if ok {
            break;
        }
    }
    if rest < tps.len() {
        let mut jobs = Vec::new();
        for tp in &tps[rest..] {
            for &task in tasks {
                for &cpu in cpus {
                    let pid = if tp.system_wide { -1 } else { task };
                    jobs.push(OpenJob {
                        attr: tracepoint_attr(
                            (tp.id, tp.stack),
                            n.size,
                            pid,
                            watermark,
                            n.clockid,
                            n.backward,
                            n.stack_dump,
                        ),
                        pid,
                        cpu: cpu as i32,
                        flags: n.open_flags(),
                    });
                }
            }
        }
        let mut opened = kernel.open_many(&mut jobs).into_iter();
        for tp in &tps[rest..] {
            let mut fds = Vec::with_capacity(cpus.len() * tasks.len());
            let mut fail = None;
            for _ in tasks {
                for &cpu in cpus {
                    match opened.next() {
                        Some(Ok(fd)) => fds.push(fd),
                        Some(Err(e)) => {
                            fail.get_or_insert_with(|| {
                                PerfError::new(Op::Open, e).tracepoint(&tp.name).cpu(cpu)
                            });
                        }
                        None => {
                            fail.get_or_insert_with(|| {
                                PerfError::new(Op::Open, io::Error::from_raw_os_error(libc::EINVAL))
                                    .tracepoint(&tp.name)
                                    .cpu(cpu)
                            });
                        }
                    }
                }
            }
            results.push(match fail {
                Some(e) => Err(e),
                None => Ok(fds),
            });
        }
    }
    results
}

/// Makes sure `cpus × tps` perf fds (plus a margin) fit under RLIMIT_NOFILE, raising the
/// soft limit to the hard one when needed. Returns the raise, if any.
pub(super) fn ensure_fds<K: Kernel>(
    k: &K,
    cpus: usize,
    tps: usize,
) -> Result<Option<(u64, u64)>, PerfError> {
    let needed = (cpus as u64)
        .saturating_mul(tps as u64)
        .saturating_add(FD_MARGIN);
    let (soft, hard) = k
        .nofile_limit()
        .map_err(|e| PerfError::new(Op::FdLimit, e))?;
    if soft >= needed {
        return Ok(None);
    }
    if hard < needed {
        return Err(PerfError::new(Op::FdLimit, io::Error::from_raw_os_error(libc::EMFILE)).hint(format!(
            "{needed} file descriptors needed ({cpus} CPUs x {tps} tracepoints + {FD_MARGIN} spare) \
             but the hard limit is {hard}; raise it (ulimit -Hn) or trace fewer tracepoints"
        )));
    }
    k.set_nofile_soft(hard).map_err(|e| {
        PerfError::new(Op::FdLimit, e).hint(format!(
            "raising the soft limit {soft} to {hard} for {needed} descriptors"
        ))
    })?;
    Ok(Some((soft, hard)))
}
