//! From perf timestamps to wall-clock time.
//!
//! Samples carry perf's clock. With `use_clockid` (4.1+) we ask for CLOCK_MONOTONIC, so
//! `wall = perf + (REALTIME - MONOTONIC)`, the offset read once at start between two
//! MONOTONIC reads (the tightest of a few tries). Without it (older kernels, or
//! `Compat::no_clockid`) perf stamps with the scheduler clock, which on most machines
//! runs with CLOCK_MONOTONIC but from another origin. We measure that origin: a
//! task-bound `raw_syscalls:sys_enter` event on our own thread, a cheap syscall between
//! two MONOTONIC reads, and the sample's time; the tightest bracket of several tries
//! wins. Both modes then share one formula:
//!
//! `mono = perf + perf_to_mono` and `wall = mono + mono_to_real`.
//!
//! The offsets are fixed at start: a wall-clock step (NTP, settimeofday) during a capture
//! is not followed, which keeps timestamps monotonic, as a trace wants. `now_perf` gives
//! the current time in perf's domain, for the merge watermark.

use super::attr::{self, AttrOptions, SampleLayout};
use super::record::{Record, parse};
use super::ring::Ring;
use super::sys::{Kernel, clock_ns};
use std::io;

/// How the perf→wall mapping was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// perf stamps with CLOCK_MONOTONIC (use_clockid).
    Monotonic,
    /// perf's own clock, measured against CLOCK_MONOTONIC to within `uncertainty_ns`.
    Calibrated { uncertainty_ns: u64 },
    /// perf's own clock, assumed to equal CLOCK_MONOTONIC (calibration impossible).
    Assumed,
    /// Offsets given by the caller (a capture file's header, tests).
    Fixed,
}

/// The perf → wall-clock mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    perf_to_mono: i64,
    mono_to_real: i64,
    mode: ClockMode,
}

/// Now on CLOCK_MONOTONIC, in ns.
pub fn monotonic_ns() -> i64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Now on CLOCK_REALTIME, in ns since the epoch.
pub fn realtime_ns() -> i64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// REALTIME - MONOTONIC: the tightest of a few bracketed reads.
pub fn measure_mono_to_real() -> i64 {
    let mut best = (i64::MAX, 0);
    for _ in 0..5 {
        let m0 = monotonic_ns();
        let r = realtime_ns();
        let m1 = monotonic_ns();
        let width = m1 - m0;
        if width < best.0 {
            best = (width, r - (m0 + width / 2));
        }
    }
    best.1
}

/// Tries of the calibration; the tightest bracket wins.
const CALIBRATION_TRIES: usize = 9;

impl Clock {
    /// For perf timestamps on CLOCK_MONOTONIC (use_clockid).
    pub fn monotonic() -> Clock {
        Clock {
            perf_to_mono: 0,
            mono_to_real: measure_mono_to_real(),
            mode: ClockMode::Monotonic,
        }
    }

    /// For perf's own clock when it cannot be measured: assume it is CLOCK_MONOTONIC
    /// (true where sched_clock and the monotonic clock share the boot origin).
    pub fn assumed() -> Clock {
        Clock {
            perf_to_mono: 0,
            mono_to_real: measure_mono_to_real(),
            mode: ClockMode::Assumed,
        }
    }

    /// Given offsets (`wall = perf + perf_to_wall`), e.g. from a capture file.
    pub fn fixed(perf_to_wall: i64) -> Clock {
        Clock {
            perf_to_mono: 0,
            mono_to_real: perf_to_wall,
            mode: ClockMode::Fixed,
        }
    }

    /// Measures perf's default clock against CLOCK_MONOTONIC with a task-bound event on
    /// tracepoint `sys_enter_id` (raw_syscalls:sys_enter, or syscalls:sys_enter on
    /// 2.6.32), opened with `attr_size`, `open_flags` (the engine's negotiated
    /// perf_event_open flags) and no clockid.
    pub fn calibrate<K: Kernel>(
        kernel: &K,
        sys_enter_id: u32,
        attr_size: u32,
        open_flags: u64,
    ) -> io::Result<Clock> {
        let opts = AttrOptions {
            size: attr_size,
            use_clockid: false,
            wakeup_watermark: 0,
            inherit: false,
            write_backward: false,
            stack: false,
            stack_dump: 0,
        };
        let mut a = attr::tracepoint(sys_enter_id as u64, &opts);
        // One wakeup per event would cost a signal-free IPI per syscall; we never poll.
        a.wakeup_events = 0;
        let tid = nix::unistd::gettid().as_raw();
        let fd = kernel.perf_event_open(&mut a, tid, -1, -1, open_flags)?;
        let map = kernel.mmap_ring(std::os::fd::AsFd::as_fd(&fd), 1, true)?;
        let mut ring = Ring::new(map);
        kernel.enable(std::os::fd::AsFd::as_fd(&fd))?;
        let layout = SampleLayout::tpdig();
        let mut best: Option<(i64, i64)> = None; // (bracket width, perf_to_mono)
        let mut times: Vec<u64> = Vec::with_capacity(16);
        for _ in 0..CALIBRATION_TRIES {
            times.clear();
            let m0 = monotonic_ns();
            let _ = nix::unistd::getppid();
            let m1 = monotonic_ns();
            // Reading the ring makes no system call: only the bracketed syscall (and, on
            // machines whose clock_gettime is not in the vDSO, the two clock reads)
            // produced samples since the previous try.
            let _ = ring.read(|_, rec| {
                if let Ok(Record::Sample(s)) = parse(rec, &layout) {
                    times.push(s.time);
                }
            });
            let t = match times.len() {
                1 => times[0],
                3 => times[1],
                _ => continue,
            };
            let width = m1 - m0;
            if best.is_none_or(|(w, _)| width < w) {
                best = Some((width, (m0 + width / 2) - t as i64));
            }
        }
        let _ = kernel.disable(std::os::fd::AsFd::as_fd(&fd));
        match best {
            Some((width, perf_to_mono)) => Ok(Clock {
                perf_to_mono,
                mono_to_real: measure_mono_to_real(),
                mode: ClockMode::Calibrated {
                    uncertainty_ns: width.max(0) as u64 / 2,
                },
            }),
            None => Err(io::Error::other(
                "no calibration sample arrived from our own syscall",
            )),
        }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// `wall = perf + perf_to_wall()`, in ns.
    pub fn perf_to_wall(&self) -> i64 {
        self.perf_to_mono.saturating_add(self.mono_to_real)
    }

    /// Wall-clock ns since the epoch for perf timestamp `perf_time` (0 if before 1970).
    pub fn wall_ns(&self, perf_time: u64) -> u64 {
        let w = perf_time as i128 + self.perf_to_wall() as i128;
        w.clamp(0, u64::MAX as i128) as u64
    }

    /// The current time in perf's clock domain.
    pub fn now_perf(&self) -> u64 {
        let p = monotonic_ns() as i128 - self.perf_to_mono as i128;
        p.clamp(0, u64::MAX as i128) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_maps_now_to_now() {
        let c = Clock::monotonic();
        let wall = c.wall_ns(c.now_perf()) as i64;
        assert!((wall - realtime_ns()).abs() < 50_000_000, "wall {wall}");
        assert_eq!(
            c.now_perf() as i64 / 1_000_000_000,
            monotonic_ns() / 1_000_000_000
        );
    }

    #[test]
    fn offsets_compose_and_saturate() {
        let c = Clock {
            perf_to_mono: 1_000,
            mono_to_real: 1_000_000,
            mode: ClockMode::Fixed,
        };
        assert_eq!(c.wall_ns(5), 1_001_005);
        assert_eq!(c.perf_to_wall(), 1_001_000);
        let neg = Clock::fixed(-100);
        assert_eq!(neg.wall_ns(50), 0);
        assert_eq!(Clock::fixed(i64::MAX).wall_ns(u64::MAX), u64::MAX);
    }
}
