//! The perf engine: one event per tracepoint per online CPU, one ring per CPU.
//!
//! The attributes every event is opened with are found by trying ([`open`](super::open));
//! the engine then sorts the opens out, maps the rings, and reads them.
//!
//! Failure policy: a tracepoint the kernel does not have (ENOENT, ENODEV, or EINVAL —
//! what perf_trace_init answers for an unknown id) is skipped and listed in `skipped()`;
//! the others go on. Permission and file-descriptor exhaustion end the open with a
//! classified error that tells the user what to change. Descriptors are counted before
//! opening anything (CPUs × tracepoints), and RLIMIT_NOFILE is raised to its hard limit
//! when the soft one is short.
//!
//! Overwrite mode (`EngineConfig::overwrite`, the flight recorder): events are opened with
//! `write_backward` (4.7+) and rings are mapped read-only, so the kernel overwrites the
//! oldest records and never waits; nothing is read until `snapshot`, which pauses each
//! ring (PERF_EVENT_IOC_PAUSE_OUTPUT), copies it, resumes it and walks the copy from the
//! head. A kernel that refuses `write_backward` (EINVAL) — or `Compat::no_write_backward`
//! — leaves the engine in streaming mode: `overwrite()` says which the caller got, and a
//! streaming caller keeps its own user-space ring instead.
//!
//! Ring sizing: `buffer_bytes` per CPU, rounded up to a power-of-two number of pages. A
//! ring wakes the reader when a quarter of it is full (watermark), so a burst has three
//! quarters of the ring as headroom while the reader catches up. When SET_OUTPUT is not
//! available each event gets a full-size ring of its own: the watermark was fixed at open
//! time for that size, and a smaller ring would only wake when already full.

use super::attr::{self, SampleLayout};
use super::clock::Clock;
use super::cpus::parse_cpu_list;
use super::error::{ErrorKind, Op, PerfError, describe, permission_hint};
use super::open::{Feature, Features, Negotiation, ensure_fds, open_all};
use super::record::{OwnedMmap, Record, Sample, parse};
use super::ring::Ring;
use super::sys::Kernel;
use crate::compat::Compat;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// A tracepoint to open: its tracefs id and its `system:event` name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointSpec {
    pub id: u32,
    pub name: String,
    /// Open on every CPU for the whole system even when tracing tasks: uprobe events bound
    /// to a task are not carried into children that fork and then exec (observed on 6.18),
    /// so the probe tier listens system-wide and keeps only its traced threads' hits.
    pub system_wide: bool,
    /// `-k`: this tracepoint's samples carry call chains (only those the filter selects).
    /// They get rings of their own, since their records have another layout.
    pub stack: bool,
}

impl TracepointSpec {
    pub fn new(id: u32, name: impl Into<String>) -> TracepointSpec {
        TracepointSpec {
            id,
            name: name.into(),
            system_wide: false,
            stack: false,
        }
    }
}

/// How to open the engine.
///
/// Clock calibration (needed only when use_clockid is unavailable or turned off) uses
/// `raw_syscalls:sys_enter` (or 2.6.32's `syscalls:sys_enter`) from the tracepoints
/// being opened; without one, the perf clock is assumed to be CLOCK_MONOTONIC and
/// `Features::calibration_error` says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Ring size per CPU in bytes, rounded up to 2^n pages (at least one page).
    pub buffer_bytes: usize,
    pub compat: Compat,
    /// Trace these tasks (thread ids) and their descendants instead of the whole system:
    /// events are opened with `pid=TASK` on every CPU and `inherit`, so the kernel follows
    /// the tasks' future threads and children, and only their records reach the rings
    /// (perf record's `-p` and `-- cmd` modes). Empty: the whole system.
    pub tasks: Vec<i32>,
    /// Ask for overwrite rings (write_backward, read-only mapping); see the module docs.
    pub overwrite: bool,
    /// The tracepoint to calibrate the clock with when no sys_enter is among those opened
    /// (per-syscall events: `syscalls:sys_enter_getppid`, the call calibration makes).
    pub calibrate_with: Option<u32>,
    /// Bytes of user stack each `-k` sample copies for the `.eh_frame` unwinder (rounded
    /// down to a multiple of 8); 0, or the `no-stack-dump` switch: frame pointers only.
    pub stack_dump: u32,
}

impl EngineConfig {
    pub fn new(buffer_bytes: usize, compat: Compat) -> EngineConfig {
        EngineConfig {
            buffer_bytes,
            compat,
            tasks: Vec::new(),
            overwrite: false,
            calibrate_with: None,
            stack_dump: attr::DEFAULT_STACK_DUMP,
        }
    }
}

/// The largest user stack copy: the record's size is a u16, and the copy shares it with
/// the raw payload and the call chain.
pub const MAX_STACK_DUMP: u32 = 60 * 1024;

/// Malformed ring contents seen while draining.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadErrors {
    pub count: u64,
    /// The first few messages (at most `ReadErrors::KEEP`).
    pub first: Vec<String>,
}

impl ReadErrors {
    pub const KEEP: usize = 8;

    fn note(&mut self, msg: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.len() < Self::KEEP {
            self.first.push(msg());
        }
    }
}

/// Tracepoints left out, with the reason.
type Skipped = Vec<(String, PerfError)>;

/// Sorts the opens out: a tracepoint the kernel lacks is skipped (with the reason), any
/// other failure ends the open with a hint of what to change.
fn sort_out<K: Kernel>(
    kernel: &K,
    tps: &[TracepointSpec],
    results: Vec<Result<Vec<OwnedFd>, PerfError>>,
    ncpus: usize,
) -> Result<(Vec<OpenTp>, Skipped), PerfError> {
    let mut open_tps = Vec::with_capacity(tps.len());
    let mut skipped = Vec::new();
    for (tp, r) in tps.iter().zip(results) {
        let err = match r {
            Ok(fds) => {
                open_tps.push(OpenTp {
                    name: tp.name.clone(),
                    fds,
                });
                continue;
            }
            Err(e) => e,
        };
        let err = match err.kind() {
            ErrorKind::Permission => err.hint(permission_hint(kernel.perf_event_paranoid())),
            ErrorKind::TooManyFiles => err.hint(format!(
                "{} events needed for {} CPUs x {} tracepoints; raise `ulimit -n` or trace fewer events",
                ncpus * tps.len(),
                ncpus,
                tps.len()
            )),
            ErrorKind::Missing => err.hint("not available on this kernel"),
            ErrorKind::Other => err,
        };
        if err.kind() != ErrorKind::Missing {
            return Err(err);
        }
        skipped.push((tp.name.clone(), err));
        open_tps.push(OpenTp {
            name: tp.name.clone(),
            fds: Vec::new(),
        });
    }
    Ok((open_tps, skipped))
}

/// Where rings go: the CPUs, the tasks per CPU, and each ring's size.
struct RingGeometry<'a> {
    cpus: &'a [u32],
    tasks: usize,
    data_pages: usize,
    page: usize,
}

/// Maps one ring per CPU and sample layout ([without, with] call chains) and points the
/// CPU's other events at it (SET_OUTPUT); where the kernel refuses that, each event gets
/// a ring of its own. Returns the rings and how SET_OUTPUT went.
fn map_rings<K: Kernel>(
    kernel: &K,
    tps: &[TracepointSpec],
    open_tps: &[OpenTp],
    n: &Negotiation,
    g: &RingGeometry<'_>,
    compat: &Compat,
) -> Result<(Vec<RingSlot>, Feature), PerfError> {
    let (cpus, data_pages, page) = (g.cpus, g.data_pages, g.page);
    let mut set_output = if compat.no_set_output {
        Feature::Forced
    } else {
        Feature::Unused
    };
    let mut rings: Vec<RingSlot> = Vec::with_capacity(cpus.len());
    for (ci, &cpu) in cpus.iter().enumerate() {
        // One ring per CPU per sample layout: [without, with] call chains.
        let mut owners: [Option<usize>; 2] = [None, None];
        let (ntasks, ncpus) = (g.tasks, cpus.len());
        let slots = open_tps
            .iter()
            .enumerate()
            .flat_map(|(ti, tp)| (0..ntasks).map(move |k| (ti, tp, k * ncpus + ci)));
        for (ti, tp, fi) in slots {
            let Some(fd) = tp.fds.get(fi) else { continue };
            let stack = tps[ti].stack;
            let owner = &mut owners[usize::from(stack)];
            if let (Some(ri), Feature::Unused | Feature::Used) = (*owner, set_output) {
                let (oti, oci) = rings[ri].owner;
                match kernel.set_output(fd.as_fd(), open_tps[oti].fds[oci].as_fd()) {
                    Ok(()) => {
                        set_output = Feature::Used;
                        continue;
                    }
                    Err(e) => set_output = Feature::Rejected(e.raw_os_error().unwrap_or(0)),
                }
            }
            // Read-only is what makes the kernel overwrite (and never wait).
            let writable = !n.backward;
            let map = kernel.mmap_ring(fd.as_fd(), data_pages, writable).map_err(|e| {
                let err = PerfError::new(Op::Mmap, e).tracepoint(&tp.name).cpu(cpu);
                let kib = data_pages * page / 1024;
                match err.kind() {
                    ErrorKind::Permission => err.hint(format!(
                        "{kib} KiB per ring exceeds perf_event_mlock_kb; use a smaller buffer or run as root"
                    )),
                    _ => err.hint(format!("{kib} KiB per ring")),
                }
            })?;
            rings.push(RingSlot {
                ring: Ring::new(map),
                cpu_index: ci,
                owner: (ti, fi),
                layout: n.layout(stack),
            });
            owner.get_or_insert(rings.len() - 1);
        }
    }

    Ok((rings, set_output))
}

/// The clock records are read by: the perf clock is CLOCK_MONOTONIC where `use_clockid`
/// was taken, else it is calibrated on a sys_enter event (the calibration's error, if it
/// failed, is returned for `-v`).
fn clock_for<K: Kernel>(
    kernel: &K,
    tps: &[TracepointSpec],
    open_tps: &[OpenTp],
    n: &Negotiation,
    calibrate_with: Option<u32>,
) -> (Clock, Option<String>) {
    let mut calibration_error = None;
    let clock = if n.clockid {
        Clock::monotonic()
    } else {
        let cal = {
            tps.iter()
                .zip(open_tps)
                .find(|(t, o)| {
                    !o.fds.is_empty()
                        && (t.name == "raw_syscalls:sys_enter" || t.name == "syscalls:sys_enter")
                })
                .map(|(t, _)| t.id)
                .or(calibrate_with)
        };
        match cal.map(|id| Clock::calibrate(kernel, id, n.size, n.open_flags())) {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                calibration_error = Some(describe(&e));
                Clock::assumed()
            }
            None => {
                calibration_error = Some("no sys_enter tracepoint to calibrate with".into());
                Clock::assumed()
            }
        }
    };

    (clock, calibration_error)
}

/// Pages for a ring of at least `bytes` (a power of two, at least one).
pub fn ring_pages(bytes: usize, page: usize) -> usize {
    bytes
        .div_ceil(page.max(1))
        .max(1)
        .checked_next_power_of_two()
        .unwrap_or(1 << 20)
}

struct OpenTp {
    name: String,
    /// One per CPU index; empty when the tracepoint was skipped.
    fds: Vec<OwnedFd>,
}

struct RingSlot {
    ring: Ring,
    cpu_index: usize,
    /// (tracepoint index, cpu index) of the fd the ring is mapped on.
    owner: (usize, usize),
    /// How its samples are laid out (with or without call chains).
    layout: SampleLayout,
}

/// Tracepoints opened on every online CPU, their rings, and the clock to read them by.
pub struct Engine<K: Kernel> {
    kernel: K,
    cpus: Vec<u32>,
    tps: Vec<OpenTp>,
    rings: Vec<RingSlot>,
    /// Executable mappings reported since the last `take_mappings` (`-k` only).
    mappings: Vec<OwnedMmap>,
    lost: Vec<u64>,
    throttles: u64,
    skipped: Vec<(String, PerfError)>,
    clock: Clock,
    features: Features,
    read_errors: ReadErrors,
    /// Rings are backward-written overwrite rings (see the module docs).
    overwrite: bool,
    copy: Vec<u8>,
    scratch: Vec<u8>,
}

/// What one ring held at a snapshot (overwrite mode), for `-v` and the dump's window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RingSnapshot {
    pub cpu: u32,
    pub samples: usize,
    pub bytes: u64,
    /// The ring's data size.
    pub capacity: u64,
    /// The kernel wrote more than the ring holds: older records were overwritten.
    pub wrapped: bool,
    /// Perf times of the oldest and newest samples, if any.
    pub oldest: Option<u64>,
    pub newest: Option<u64>,
}

impl<K: Kernel> Engine<K> {
    /// Opens every tracepoint of `tps` on every online CPU (disabled; see `enable`).
    pub fn open(
        kernel: K,
        tps: &[TracepointSpec],
        cfg: &EngineConfig,
    ) -> Result<Engine<K>, PerfError> {
        if tps.is_empty() {
            return Err(PerfError::new(
                Op::Open,
                io::Error::new(io::ErrorKind::InvalidInput, "no tracepoints to open"),
            ));
        }
        let text = kernel
            .online_cpus_text()
            .map_err(|e| PerfError::new(Op::OnlineCpus, e))?;
        let cpus = parse_cpu_list(&text).map_err(|e| {
            PerfError::new(
                Op::OnlineCpus,
                io::Error::new(io::ErrorKind::InvalidData, e),
            )
        })?;
        let tasks: Vec<i32> = if cfg.tasks.is_empty() {
            vec![-1]
        } else {
            cfg.tasks.clone()
        };
        let nofile_raised = ensure_fds(&kernel, cpus.len() * tasks.len(), tps.len())?;
        let page = kernel.page_size();
        let data_pages = ring_pages(cfg.buffer_bytes, page);
        let watermark = u32::try_from(data_pages * page / 4).unwrap_or(u32::MAX);
        let mut n = Negotiation::new(&cfg.compat, cfg.overwrite);
        if !cfg.compat.no_stack_dump && !cfg.compat.attr_v0 {
            n.stack_dump = cfg.stack_dump.min(MAX_STACK_DUMP) & !7;
        }

        let results = open_all(&kernel, &mut n, tps, &tasks, &cpus, watermark);
        let (open_tps, mut skipped) = sort_out(&kernel, tps, results, cpus.len())?;
        if open_tps.iter().all(|t| t.fds.is_empty()) {
            let (_, err) = skipped.remove(0);
            return Err(err);
        }

        let geometry = RingGeometry {
            cpus: &cpus,
            tasks: tasks.len(),
            data_pages,
            page,
        };
        let (rings, set_output) = map_rings(&kernel, tps, &open_tps, &n, &geometry, &cfg.compat)?;
        let (clock, calibration_error) = clock_for(&kernel, tps, &open_tps, &n, cfg.calibrate_with);

        let events = open_tps.iter().map(|t| t.fds.len()).sum();
        let features = Features {
            attr_size: n.size,
            e2big: n.e2big,
            clockid: n.clockid_state,
            cloexec_flag: n.cloexec_state,
            set_output,
            set_filter: if cfg.compat.no_set_filter {
                Feature::Forced
            } else {
                Feature::Unused
            },
            write_backward: n.backward_state,
            page_size: page,
            data_pages,
            rings: rings.len(),
            events,
            nofile_raised,
            calibration_error,
            forced: cfg.compat,
        };
        Ok(Engine {
            overwrite: n.backward,
            scratch: Vec::new(),
            copy: Vec::new(),
            kernel,
            lost: vec![0; cpus.len()],
            cpus,
            tps: open_tps,
            rings,
            mappings: Vec::new(),
            throttles: 0,
            skipped,
            clock,
            features,
            read_errors: ReadErrors::default(),
        })
    }

    /// Closes every event, many at a time. Closing a uprobe or kprobe event waits for an
    /// RCU grace period in the kernel (≈0.3 s measured here); closed one by one, a hundred
    /// probe events take half a minute, closed from parallel threads their waits overlap.
    pub fn close(mut self) {
        self.rings.clear();
        let mut fds: Vec<OwnedFd> = self.tps.drain(..).flat_map(|t| t.fds).collect();
        const THREADS: usize = 32;
        let per = fds.len().div_ceil(THREADS).max(1);
        std::thread::scope(|s| {
            while !fds.is_empty() {
                let chunk: Vec<OwnedFd> = fds.drain(..per.min(fds.len())).collect();
                s.spawn(move || drop(chunk));
            }
        });
    }

    /// Unmaps the rings and hands over the descriptors, one list per tracepoint, for the
    /// caller to close an event at a time (see [`run_lock`](crate::run_lock)).
    pub fn into_event_fds(mut self) -> Vec<Vec<OwnedFd>> {
        self.rings.clear();
        self.tps.drain(..).map(|t| t.fds).collect()
    }

    /// The descriptors of every open event (to keep open across a fork).
    pub fn raw_fds(&self) -> Vec<i32> {
        use std::os::fd::AsRawFd;
        self.tps
            .iter()
            .flat_map(|t| t.fds.iter().map(|f| f.as_raw_fd()))
            .collect()
    }

    /// Tracepoints the kernel does not have, with the error that said so.
    pub fn skipped(&self) -> &[(String, PerfError)] {
        &self.skipped
    }

    /// Installs an ftrace filter on tracepoint `tp_index` (its index in the slice given to
    /// `open`) on every CPU. Returns `Ok(false)` when in-kernel filters are turned off by
    /// `Compat::no_set_filter`. Callers must still filter in user space: the kernel
    /// filter is only a pushdown, and if a later CPU refuses it after earlier ones took
    /// it, those earlier CPUs keep it (harmless when it is implied by the user's filter).
    pub fn set_filter(&mut self, tp_index: usize, filter: &str) -> Result<bool, PerfError> {
        if self.features.forced.no_set_filter {
            return Ok(false);
        }
        let Some(tp) = self.tps.get(tp_index) else {
            return Err(PerfError::new(
                Op::SetFilter,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no tracepoint #{tp_index}"),
                ),
            ));
        };
        if tp.fds.is_empty() {
            return Err(
                PerfError::new(Op::SetFilter, io::Error::from_raw_os_error(libc::ENOENT))
                    .tracepoint(&tp.name)
                    .hint("tracepoint was skipped"),
            );
        }
        let c = CString::new(filter).map_err(|e| {
            PerfError::new(
                Op::SetFilter,
                io::Error::new(io::ErrorKind::InvalidInput, e),
            )
            .tracepoint(&tp.name)
        })?;
        for (ci, fd) in tp.fds.iter().enumerate() {
            if let Err(e) = self.kernel.set_filter(fd.as_fd(), &c) {
                self.features.set_filter = Feature::Rejected(e.raw_os_error().unwrap_or(0));
                return Err(PerfError::new(Op::SetFilter, e)
                    .tracepoint(&tp.name)
                    .cpu(self.cpus[ci])
                    .hint(format!("filter '{filter}'")));
            }
        }
        self.features.set_filter = Feature::Used;
        Ok(true)
    }

    /// Starts every event.
    pub fn enable(&mut self) -> Result<(), PerfError> {
        for tp in &self.tps {
            for (ci, fd) in tp.fds.iter().enumerate() {
                self.kernel.enable(fd.as_fd()).map_err(|e| {
                    PerfError::new(Op::Enable, e)
                        .tracepoint(&tp.name)
                        .cpu(self.cpus[ci])
                })?;
            }
        }
        Ok(())
    }

    /// Stops every event (records already in the rings stay readable).
    pub fn disable(&mut self) {
        for tp in &self.tps {
            for fd in &tp.fds {
                let _ = self.kernel.disable(fd.as_fd());
            }
        }
    }

    /// Waits until a ring passes its watermark or `timeout_ms` passes. A signal (EINTR)
    /// returns `Ok` so the caller can check its flags.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<()> {
        let fds: Vec<BorrowedFd<'_>> = self
            .rings
            .iter()
            .map(|r| self.tps[r.owner.0].fds[r.owner.1].as_fd())
            .collect();
        match self.kernel.poll(&fds, timeout_ms) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            r => r.map(drop),
        }
    }

    /// Reads every ring up to its current head and hands each sample to `f`. Returns the
    /// number of samples. The raw bytes are only valid during the call.
    pub fn drain(&mut self, mut f: impl FnMut(Sample<'_>)) -> usize {
        self.drain_rings(|_, s| f(s))
    }

    /// Like `drain`, also passing the index of the ring each sample came from: samples of
    /// one ring are in (nearly) time order, which is what the merge needs as a stream.
    pub fn drain_rings(&mut self, mut f: impl FnMut(usize, Sample<'_>)) -> usize {
        if self.overwrite {
            // Overwrite rings have no tail to advance: they are read by `snapshot`.
            return 0;
        }
        let mut n = 0;
        for (ri, slot) in self.rings.iter_mut().enumerate() {
            let layout = slot.layout;
            let mappings = &mut self.mappings;
            let lost = &mut self.lost[slot.cpu_index];
            let throttles = &mut self.throttles;
            let errors = &mut self.read_errors;
            let cpu = self.cpus[slot.cpu_index];
            let res = slot.ring.read(|pos, rec| match parse(rec, &layout) {
                Ok(Record::Sample(s)) => {
                    n += 1;
                    f(ri, s);
                }
                Ok(Record::Lost { lost: l, .. }) => *lost += l,
                Ok(Record::Throttle { .. }) => *throttles += 1,
                Ok(Record::Mmap(m)) => mappings.push(m.to_owned_mmap()),
                Ok(_) => {}
                Err(e) => errors.note(|| format!("cpu {cpu}, ring position {pos}: {e}")),
            });
            if let Err(e) = res {
                errors.note(|| format!("cpu {cpu}: {e}"));
            }
        }
        n
    }

    /// True when the rings are overwrite rings, read by `snapshot` only.
    pub fn overwrite(&self) -> bool {
        self.overwrite
    }

    /// Overwrite mode: pauses each ring, copies it, resumes it, and hands its samples to
    /// `f` oldest first, ring by ring (each ring's samples are in time order, as for
    /// `drain_rings`). Returns what each ring held. In streaming mode it does nothing.
    pub fn snapshot(&mut self, mut f: impl FnMut(usize, Sample<'_>)) -> Vec<RingSnapshot> {
        let mut out = Vec::new();
        if !self.overwrite {
            return out;
        }
        for (ri, slot) in self.rings.iter().enumerate() {
            let layout = slot.layout;
            let cpu = self.cpus[slot.cpu_index];
            let owner = self.tps[slot.owner.0].fds[slot.owner.1].as_fd();
            let paused = self.kernel.pause_output(owner, true);
            if let Err(e) = &paused {
                self.read_errors
                    .note(|| format!("cpu {cpu}: PERF_EVENT_IOC_PAUSE_OUTPUT: {e}"));
            }
            let head = slot.ring.map().copy_data(&mut self.copy);
            let moved = head.wrapping_sub(slot.ring.map().data_head());
            if paused.is_ok() {
                let _ = self.kernel.pause_output(owner, false);
            }
            // Newest first in the ring: collect positions, then deliver oldest first.
            let mut recs: Vec<(usize, usize)> = Vec::new();
            let base = head;
            let mask = self.copy.len() as u64 - 1;
            let scan = super::ring::frame_backward(
                &self.copy,
                head,
                moved.min(self.copy.len() as u64),
                &mut self.scratch,
                &mut |pos, rec| {
                    recs.push((pos.wrapping_sub(base) as usize, rec.len()));
                },
            );
            if let Some(e) = &scan.error {
                self.read_errors.note(|| format!("cpu {cpu}: {e}"));
            }
            let mut snap = RingSnapshot {
                cpu,
                capacity: self.copy.len() as u64,
                wrapped: scan.wrapped,
                ..Default::default()
            };
            // Rotate the copy so it starts at the head: every record is then one slice.
            self.copy.rotate_left((head & mask) as usize);
            for &(off, len) in recs.iter().rev() {
                let Some(rec) = self.copy.get(off..off + len) else {
                    continue;
                };
                match parse(rec, &layout) {
                    Ok(Record::Sample(s)) => {
                        snap.samples += 1;
                        snap.bytes += len as u64;
                        snap.oldest = Some(snap.oldest.map_or(s.time, |t| t.min(s.time)));
                        snap.newest = Some(snap.newest.map_or(s.time, |t| t.max(s.time)));
                        f(ri, s);
                    }
                    Ok(Record::Lost { lost, .. }) => self.lost[slot.cpu_index] += lost,
                    Ok(Record::Throttle { .. }) => self.throttles += 1,
                    Ok(_) => {}
                    Err(e) => self.read_errors.note(|| format!("cpu {cpu}: {e}")),
                }
            }
            out.push(snap);
        }
        out
    }

    /// The executable mappings reported since the last call (`-k`), in ring order.
    pub fn take_mappings(&mut self) -> Vec<OwnedMmap> {
        std::mem::take(&mut self.mappings)
    }

    /// Records the kernel dropped because a ring was full, per CPU.
    pub fn lost_per_cpu(&self) -> Vec<(u32, u64)> {
        self.cpus
            .iter()
            .copied()
            .zip(self.lost.iter().copied())
            .collect()
    }

    /// Times the kernel throttled an event (PERF_RECORD_THROTTLE).
    pub fn throttles(&self) -> u64 {
        self.throttles
    }

    pub fn read_errors(&self) -> &ReadErrors {
        &self.read_errors
    }

    pub fn cpus(&self) -> &[u32] {
        &self.cpus
    }

    pub fn ring_count(&self) -> usize {
        self.rings.len()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn features(&self) -> &Features {
        &self.features
    }

    pub fn kernel(&self) -> &K {
        &self.kernel
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::attr::FULL_SIZE;
    use crate::perf::clock::{ClockMode, realtime_ns};
    use crate::perf::fake::FakeKernel;
    use crate::perf::fake::Opened;
    use crate::perf::record::tests::{lost_bytes, sample_bytes};
    use perf_event_open_sys::bindings::PERF_ATTR_SIZE_VER5;
    use std::cell::Cell;

    fn tps() -> Vec<TracepointSpec> {
        vec![
            TracepointSpec::new(21, "raw_syscalls:sys_enter"),
            TracepointSpec::new(22, "raw_syscalls:sys_exit"),
        ]
    }

    fn cfg() -> EngineConfig {
        EngineConfig::new(64 * 1024, Compat::default())
    }

    #[test]
    fn opens_one_event_per_tracepoint_per_cpu_sharing_a_ring_per_cpu() {
        let k = FakeKernel::default();
        let e = Engine::open(&k, &tps(), &cfg()).unwrap();
        let opened = k.opened.borrow().clone();
        assert_eq!(opened.len(), 4);
        assert!(
            opened
                .iter()
                .all(|o| o.size == FULL_SIZE && o.clockid && o.cloexec && o.pid == -1)
        );
        assert!(
            opened.iter().all(|o| o.watermark == 16 * 1024),
            "a quarter of a 64 KiB ring"
        );
        assert_eq!(*k.outputs.borrow(), vec![(0, 22), (1, 22)]);
        assert_eq!(*k.mapped.borrow(), vec![0, 1]);
        let f = e.features();
        assert_eq!(
            (f.clockid, f.set_output, f.rings, f.events),
            (Feature::Used, Feature::Used, 2, 4)
        );
        assert_eq!((f.data_pages, f.e2big), (16, None));
        assert_eq!(e.clock().mode(), ClockMode::Monotonic);
        assert_eq!(e.cpus(), &[0, 1]);
        assert!(e.skipped().is_empty());
    }

    #[test]
    fn stack_events_copy_the_user_stack_unless_the_kernel_or_a_switch_refuses() {
        let stack_tps = || {
            let mut t = tps();
            t[0].stack = true;
            t
        };
        let k = FakeKernel::default();
        let e = Engine::open(&k, &stack_tps(), &cfg()).unwrap();
        let dumps: Vec<u32> = k.opened.borrow().iter().map(|o| o.stack_dump).collect();
        assert_eq!(dumps, vec![8192, 8192, 0, 0]);
        assert!(e.rings.iter().any(|r| r.layout.stack_user));
        // A kernel without STACK_USER: -k events open with frame-pointer chains only.
        let k = FakeKernel {
            stack_dump_ok: false,
            ..Default::default()
        };
        let e = Engine::open(&k, &stack_tps(), &cfg()).unwrap();
        assert!(k.opened.borrow().iter().all(|o| o.stack_dump == 0));
        assert_eq!(k.opened.borrow().len(), 4);
        assert!(e.rings.iter().all(|r| !r.layout.stack_user));
        assert!(e.rings.iter().any(|r| r.layout.callchain.is_some()));
        // The switch, and a size asked for.
        let k = FakeKernel::default();
        let mut c = cfg();
        c.compat.no_stack_dump = true;
        Engine::open(&k, &stack_tps(), &c).unwrap();
        assert!(k.opened.borrow().iter().all(|o| o.stack_dump == 0));
        let k = FakeKernel::default();
        let mut c = cfg();
        c.stack_dump = 4100;
        Engine::open(&k, &stack_tps(), &c).unwrap();
        assert_eq!(k.opened.borrow()[0].stack_dump, 4096);
    }

    #[test]
    fn e2big_retries_with_the_size_the_kernel_wrote_back() {
        let k = FakeKernel {
            max_attr_size: PERF_ATTR_SIZE_VER5,
            ..Default::default()
        };
        let e = Engine::open(&k, &tps(), &cfg()).unwrap();
        assert_eq!(k.attempts.get(), 5, "one E2BIG, then four opens");
        assert!(
            k.opened
                .borrow()
                .iter()
                .all(|o| o.size == PERF_ATTR_SIZE_VER5 && o.clockid)
        );
        assert_eq!(e.features().e2big, Some(PERF_ATTR_SIZE_VER5));
        assert_eq!(e.features().attr_size, PERF_ATTR_SIZE_VER5);
    }

    #[test]
    fn e2big_below_the_clockid_field_means_no_clockid_and_calibration() {
        let k = FakeKernel {
            max_attr_size: 72,
            ..Default::default()
        };
        k.task_prefill
            .borrow_mut()
            .push(sample_bytes(1, 1, 5_000, 0, &[21, 0, 0, 0]));
        let e = Engine::open(&k, &tps(), &cfg()).unwrap();
        assert!(k.opened.borrow().iter().all(|o| o.size == 72 && !o.clockid));
        assert_eq!(e.features().clockid, Feature::Rejected(libc::E2BIG));
        assert!(matches!(e.clock().mode(), ClockMode::Calibrated { .. }));
    }

    #[test]
    fn clockid_rejected_falls_back_and_calibrates_on_sys_enter() {
        let k = FakeKernel {
            clockid_ok: false,
            ..Default::default()
        };
        // The calibration event's sample: perf time 1_000_000 "now".
        k.task_prefill
            .borrow_mut()
            .push(sample_bytes(1, 1, 1_000_000, 0, &[21, 0, 0, 0]));
        let e = Engine::open(&k, &tps(), &cfg()).unwrap();
        assert_eq!(e.features().clockid, Feature::Rejected(libc::EINVAL));
        let opened = k.opened.borrow().clone();
        let (task, cpu): (Vec<Opened>, Vec<Opened>) = opened.into_iter().partition(|o| o.pid >= 0);
        assert_eq!(cpu.len(), 4);
        assert!(cpu.iter().all(|o| !o.clockid));
        assert_eq!(task.len(), 1, "one calibration event");
        assert_eq!((task[0].id, task[0].cpu), (21, -1));
        let ClockMode::Calibrated { .. } = e.clock().mode() else {
            panic!("{:?}", e.clock().mode())
        };
        // The sample arrived during the first try's bracket: it maps to about now.
        let wall = e.clock().wall_ns(1_000_000) as i64;
        assert!((wall - realtime_ns()).abs() < 1_000_000_000, "{wall}");
    }

    #[test]
    fn no_calibration_sample_means_an_assumed_clock_and_a_note() {
        let k = FakeKernel {
            clockid_ok: false,
            ..Default::default()
        };
        let e = Engine::open(&k, &tps(), &cfg()).unwrap();
        assert_eq!(e.clock().mode(), ClockMode::Assumed);
        assert!(e.features().calibration_error.is_some());
        assert!(
            e.features()
                .to_string()
                .contains("clock calibration failed")
        );
    }

    #[test]
    fn set_output_rejected_gives_each_event_its_own_ring() {
        let k = FakeKernel {
            set_output_ok: false,
            ..Default::default()
        };
        let e = Engine::open(&k, &tps(), &cfg()).unwrap();
        assert_eq!(e.ring_count(), 4);
        assert_eq!(e.features().set_output, Feature::Rejected(libc::EINVAL));
        assert_eq!(*k.mapped.borrow(), vec![0, 0, 1, 1]);
    }

    #[test]
    fn compat_switches_force_the_old_paths() {
        let k = FakeKernel::default();
        let compat = Compat {
            attr_v0: true,
            no_set_output: true,
            no_set_filter: true,
            ..Default::default()
        };
        let mut e = Engine::open(&k, &tps(), &EngineConfig::new(4096, compat)).unwrap();
        assert!(
            k.opened
                .borrow()
                .iter()
                .filter(|o| o.pid == -1)
                .all(|o| o.size == 64 && !o.clockid)
        );
        assert!(k.outputs.borrow().is_empty());
        let f = e.features().clone();
        assert_eq!(
            (f.clockid, f.set_output, f.rings),
            (Feature::Forced, Feature::Forced, 4)
        );
        assert!(!e.set_filter(0, "common_pid != 1").unwrap());
        assert!(k.filters.borrow().is_empty());
        assert!(f.to_string().contains("forced"));
    }

    #[test]
    fn cloexec_flag_rejected_falls_back_to_no_flag() {
        let k = FakeKernel {
            cloexec_ok: false,
            clockid_ok: false,
            ..Default::default()
        };
        let e = Engine::open(&k, &tps(), &cfg()).unwrap();
        assert!(k.opened.borrow().iter().all(|o| !o.cloexec && !o.clockid));
        assert_eq!(e.features().cloexec_flag, Feature::Rejected(libc::EINVAL));
        assert_eq!(e.features().clockid, Feature::Rejected(libc::EINVAL));
    }

    #[test]
    fn missing_tracepoints_are_skipped_and_do_not_settle_features() {
        let k = FakeKernel {
            missing: vec![(20, libc::EINVAL), (23, libc::ENOENT)],
            ..Default::default()
        };
        let mut list = vec![TracepointSpec::new(20, "foo:bar")];
        list.extend(tps());
        list.push(TracepointSpec::new(23, "sched:nope"));
        let mut e = Engine::open(&k, &list, &cfg()).unwrap();
        let names: Vec<&str> = e.skipped().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["foo:bar", "sched:nope"]);
        assert!(
            e.skipped()
                .iter()
                .all(|(_, err)| err.kind() == ErrorKind::Missing)
        );
        // An EINVAL from a bad id did not count as "clockid unsupported".
        assert_eq!(e.features().clockid, Feature::Used);
        assert_eq!(e.features().cloexec_flag, Feature::Used);
        assert_eq!(e.features().events, 4);
        // Filters address tracepoints by their index in the list given to open.
        assert!(e.set_filter(0, "x == 1").is_err());
        assert!(e.set_filter(1, "common_pid != 7").unwrap());
        assert_eq!(
            *k.filters.borrow(),
            vec![(0, "common_pid != 7".into()), (1, "common_pid != 7".into())]
        );
        let err = e.set_filter(2, "bogus").unwrap_err();
        assert_eq!(
            err.to_string(),
            "PERF_EVENT_IOC_SET_FILTER raw_syscalls:sys_exit on cpu 0: Invalid argument (filter 'bogus')"
        );
        assert!(e.set_filter(9, "x").is_err());
        assert!(e.set_filter(1, "a\0b").is_err());
    }

    #[test]
    fn all_tracepoints_missing_is_an_error() {
        let k = FakeKernel {
            missing: vec![(21, libc::ENOENT), (22, libc::ENODEV)],
            ..Default::default()
        };
        let err = Engine::open(&k, &tps(), &cfg()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Missing);
        assert!(
            err.to_string()
                .starts_with("perf_event_open raw_syscalls:sys_enter on cpu 0: ")
        );
        assert!(Engine::open(&k, &[], &cfg()).is_err());
    }

    #[test]
    fn permission_and_fd_exhaustion_are_fatal_and_classified() {
        let k = FakeKernel {
            deny: Some(libc::EACCES),
            ..Default::default()
        };
        let err = Engine::open(&k, &tps(), &cfg()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Permission);
        assert_eq!(
            err.to_string(),
            "perf_event_open raw_syscalls:sys_enter on cpu 0: Permission denied \
             (need root or CAP_PERFMON; perf_event_paranoid is 2)"
        );
        let k = FakeKernel {
            deny: Some(libc::EMFILE),
            ..Default::default()
        };
        let err = Engine::open(&k, &tps(), &cfg()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::TooManyFiles);
        assert!(err.to_string().contains("ulimit -n"), "{err}");
    }

    #[test]
    fn nofile_soft_limit_is_raised_or_the_shortfall_explained() {
        let k = FakeKernel {
            cpus: "0-63".into(),
            nofile: Cell::new((100, 4096)),
            ..Default::default()
        };
        let e = Engine::open(&k, &tps(), &cfg()).unwrap();
        assert_eq!(k.nofile.get(), (4096, 4096));
        assert_eq!(e.features().nofile_raised, Some((100, 4096)));
        let k = FakeKernel {
            cpus: "0-63".into(),
            nofile: Cell::new((100, 150)),
            ..Default::default()
        };
        let err = Engine::open(&k, &tps(), &cfg()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::TooManyFiles);
        assert!(
            err.to_string()
                .contains("192 file descriptors needed (64 CPUs x 2 tracepoints + 64 spare)"),
            "{err}"
        );
        assert_eq!(k.attempts.get(), 0, "nothing opened before the check");
    }

    #[test]
    fn drain_delivers_samples_and_counts_lost_per_cpu() {
        let k = FakeKernel {
            cpus: "0,2".into(),
            ..Default::default()
        };
        k.prefill.borrow_mut().insert(
            0,
            vec![
                sample_bytes(10, 11, 100, 0, &[21, 0, 1, 2]),
                lost_bytes(1, 5),
                sample_bytes(10, 11, 200, 0, &[22, 0, 1, 2]),
            ],
        );
        k.prefill.borrow_mut().insert(
            2,
            vec![
                sample_bytes(20, 21, 150, 2, &[21, 0]),
                lost_bytes(1, 2),
                lost_bytes(1, 3),
            ],
        );
        let mut e = Engine::open(&k, &tps(), &cfg()).unwrap();
        e.enable().unwrap();
        assert_eq!(k.enabled.get(), 4);
        e.wait(10).unwrap(); // EINTR from the fake is not an error
        let mut got = Vec::new();
        let n = e.drain_rings(|ring, s| got.push((ring, s.tid, s.time, s.cpu, s.common_type())));
        assert_eq!(n, 3);
        assert_eq!(
            got,
            vec![
                (0, 11, 100, 0, Some(21)),
                (0, 11, 200, 0, Some(22)),
                (1, 21, 150, 2, Some(21))
            ]
        );
        assert_eq!(e.lost_per_cpu(), vec![(0, 5), (2, 5)]);
        assert_eq!(e.drain(|_| panic!("ring should be empty")), 0);
        assert_eq!(e.read_errors().count, 0);
        e.disable();
    }

    #[test]
    fn corrupt_ring_contents_are_counted_not_fatal() {
        let k = FakeKernel::default();
        let mut bad = sample_bytes(1, 2, 3, 0, &[1, 2, 3, 4]);
        bad[32..36].copy_from_slice(&999u32.to_ne_bytes()); // raw size past the record
        k.prefill.borrow_mut().insert(
            0,
            vec![bad, sample_bytes(1, 2, 4, 0, &[1, 0]), vec![0u8; 8]],
        );
        let mut e = Engine::open(&k, &tps(), &cfg()).unwrap();
        let n = e.drain(|s| assert_eq!(s.time, 4));
        assert_eq!(n, 1);
        let r = e.read_errors();
        assert_eq!(r.count, 2);
        assert!(
            r.first[0].contains("cpu 0, ring position 0"),
            "{:?}",
            r.first
        );
        assert!(r.first[1].contains("record size 0"), "{:?}", r.first);
    }

    fn overwrite_cfg(compat: Compat) -> EngineConfig {
        let mut c = EngineConfig::new(4096, compat);
        c.overwrite = true;
        c
    }

    #[test]
    fn overwrite_mode_opens_backward_read_only_rings_and_snapshots_them() {
        let k = FakeKernel::default();
        // 200 records of 48 bytes into a 4096-byte ring: it went round.
        let recs: Vec<Vec<u8>> = (0..200u32)
            .map(|t| sample_bytes(1, t, 1000 + t as u64, 0, &[21, 0, 0, 0, 0, 0, 0, 0]))
            .collect();
        k.prefill.borrow_mut().insert(0, recs);
        k.prefill.borrow_mut().insert(
            1,
            vec![sample_bytes(2, 7, 5, 1, &[22, 0, 0, 0, 0, 0, 0, 0])],
        );
        let mut e = Engine::open(&k, &tps(), &overwrite_cfg(Compat::default())).unwrap();
        assert!(e.overwrite());
        assert!(k.opened.borrow().iter().all(|o| o.backward));
        assert_eq!(e.features().write_backward, Feature::Used);
        assert!(e.features().to_string().contains("write_backward): yes"));
        let mut got = Vec::new();
        let snaps = e.snapshot(|ring, s| got.push((ring, s.tid)));
        // Paused and resumed, once per ring, on the ring's owner.
        assert_eq!(
            *k.pauses.borrow(),
            vec![(0, true), (0, false), (1, true), (1, false)]
        );
        let ring0: Vec<u32> = got.iter().filter(|g| g.0 == 0).map(|g| g.1).collect();
        assert_eq!(ring0.len(), 4096 / 48);
        assert_eq!(*ring0.last().unwrap(), 199, "ends with the newest");
        assert!(
            ring0.windows(2).all(|w| w[1] == w[0] + 1),
            "oldest first, contiguous"
        );
        assert_eq!(snaps[0].samples, ring0.len());
        assert!(snaps[0].wrapped && !snaps[1].wrapped);
        assert_eq!(
            (snaps[0].oldest, snaps[0].newest),
            (Some(1000 + ring0[0] as u64), Some(1199))
        );
        assert_eq!((snaps[1].cpu, snaps[1].samples), (1, 1));
        // The rings are not drained by the streaming path.
        assert_eq!(e.drain(|_| panic!("overwrite rings are only snapshot")), 0);
    }

    #[test]
    fn write_backward_refused_or_forced_off_leaves_a_streaming_engine() {
        let k = FakeKernel {
            backward_ok: false,
            ..Default::default()
        };
        let mut e = Engine::open(&k, &tps(), &overwrite_cfg(Compat::default())).unwrap();
        assert!(!e.overwrite());
        assert_eq!(e.features().write_backward, Feature::Rejected(libc::EINVAL));
        assert_eq!(
            e.features().clockid,
            Feature::Used,
            "EINVAL blamed on write_backward only"
        );
        assert!(e.snapshot(|_, _| {}).is_empty());
        let k = FakeKernel::default();
        let compat = Compat {
            no_write_backward: true,
            ..Default::default()
        };
        let e = Engine::open(&k, &tps(), &overwrite_cfg(compat)).unwrap();
        assert!(!e.overwrite());
        assert_eq!(e.features().write_backward, Feature::Forced);
        assert!(k.opened.borrow().iter().all(|o| !o.backward));
    }

    #[test]
    fn ring_pages_round_up_to_a_power_of_two() {
        assert_eq!(ring_pages(0, 4096), 1);
        assert_eq!(ring_pages(4096, 4096), 1);
        assert_eq!(ring_pages(4097, 4096), 2);
        assert_eq!(ring_pages(5 * 4096, 4096), 8);
        assert_eq!(ring_pages(8 << 20, 4096), 2048);
    }
}
