//! The `perf_event_attr` tpdig asks for, and the sample layout it implies.
//!
//! Every event is a tracepoint sampled on every hit (`sample_period = 1`) with
//! TID | TIME | CPU | RAW: the raw payload is the tracepoint's record as its tracefs
//! `format` file describes it, and it starts with `common_type`, so one shared ring can
//! carry many tracepoints without PERF_SAMPLE_ID. Events start disabled so that all CPUs
//! begin together, and they wake the reader by watermark (a quarter of the ring), never
//! per event: a wakeup per event costs ≈ 13 µs on a VM (NOTES.md).
//!
//! Size negotiation (the E2BIG protocol) and the clockid fallback are decided by the
//! engine; this file only builds the struct for a given size and clock choice, and
//! never sets a field the chosen size does not carry.

use perf_event_open_sys::bindings::{
    self, PERF_ATTR_SIZE_VER0, PERF_ATTR_SIZE_VER3, PERF_SAMPLE_ADDR, PERF_SAMPLE_CALLCHAIN,
    PERF_SAMPLE_CPU, PERF_SAMPLE_ID, PERF_SAMPLE_IDENTIFIER, PERF_SAMPLE_IP, PERF_SAMPLE_PERIOD,
    PERF_SAMPLE_RAW, PERF_SAMPLE_REGS_USER, PERF_SAMPLE_STACK_USER, PERF_SAMPLE_STREAM_ID,
    PERF_SAMPLE_TID, PERF_SAMPLE_TIME, PERF_TYPE_TRACEPOINT, perf_event_attr,
};
use std::fmt;

/// What every tpdig tracepoint sample carries.
pub const SAMPLE_TYPE: u64 =
    (PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_RAW) as u64;

/// The size of the struct in the bindings: what we offer first.
pub const FULL_SIZE: u32 = std::mem::size_of::<perf_event_attr>() as u32;

/// The first size that carries `clockid` (it sits at bytes 92..96).
pub const CLOCKID_MIN_SIZE: u32 = PERF_ATTR_SIZE_VER3;

/// The original attr size (2.6.31); `Compat::attr_v0` forces it.
pub const SIZE_VER0: u32 = PERF_ATTR_SIZE_VER0;

/// CLOCK_MONOTONIC, the clock tpdig asks perf to stamp samples with.
pub const CLOCK_MONOTONIC: i32 = libc::CLOCK_MONOTONIC;

/// The choices that vary between events and kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrOptions {
    /// `attr.size`: FULL_SIZE, what the kernel asked for after E2BIG, or SIZE_VER0.
    pub size: u32,
    /// Ask for CLOCK_MONOTONIC timestamps. Ignored when `size` cannot carry clockid.
    pub use_clockid: bool,
    /// Wake the poller when this many bytes are waiting; 0 means one wakeup per event.
    pub wakeup_watermark: u32,
    /// Follow the task's future children (task-bound events only).
    pub inherit: bool,
    /// Write records backward (newest at the head), so an overwrite ring can be read
    /// from its head after a pause (4.7+). Only the flight recorder asks for it.
    pub write_backward: bool,
    /// `-k`: the sample also carries the user and kernel call chain
    /// (PERF_SAMPLE_CALLCHAIN), and the event reports executable mappings (PERF_RECORD_MMAP)
    /// so user addresses can be named after the process is gone.
    pub stack: bool,
    /// With `stack`: bytes of the user stack each sample copies (PERF_SAMPLE_STACK_USER,
    /// with the user registers the unwinder starts from, PERF_SAMPLE_REGS_USER), so code
    /// built without frame pointers can be unwound from its `.eh_frame`. 0: frame
    /// pointers only. Ignored when `size` cannot carry the fields (they sit at 80..96).
    pub stack_dump: u32,
}

/// The user registers `-k` samples carry (perf_regs.h, x86): bp, sp, ip, in that order
/// in the record (ascending bit number).
pub const USER_REGS_MASK: u64 = (1 << 6) | (1 << 7) | (1 << 8);

/// The default user stack copy: 8 KiB, measured in BENCHMARKS.md (`-k` on a write storm).
/// A multiple of 8, as the kernel requires; the record's u16 size caps it below 64 KiB.
pub const DEFAULT_STACK_DUMP: u32 = 8192;

/// Builds the attr for tracepoint `id` (its tracefs `id` file) as tpdig samples it.
pub fn tracepoint(id: u64, opts: &AttrOptions) -> perf_event_attr {
    let mut a = perf_event_attr {
        type_: PERF_TYPE_TRACEPOINT,
        size: opts.size,
        config: id,
        sample_type: SAMPLE_TYPE,
        ..Default::default()
    };
    a.sample_period = 1;
    if opts.stack {
        a.sample_type |= PERF_SAMPLE_CALLCHAIN as u64;
        a.set_mmap(1);
        if opts.stack_dump > 0 && opts.size >= CLOCKID_MIN_SIZE {
            a.sample_type |= (PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER) as u64;
            a.sample_regs_user = USER_REGS_MASK;
            a.sample_stack_user = opts.stack_dump & !7;
        }
    }
    a.set_disabled(1);
    if opts.inherit {
        a.set_inherit(1);
    }
    if opts.write_backward {
        a.set_write_backward(1);
    }
    if opts.wakeup_watermark > 0 {
        a.set_watermark(1);
        a.wakeup_watermark = opts.wakeup_watermark;
    } else {
        a.wakeup_events = 1;
    }
    if opts.use_clockid && opts.size >= CLOCKID_MIN_SIZE {
        a.set_use_clockid(1);
        a.clockid = CLOCK_MONOTONIC;
    }
    a
}

/// True when `attr` asks for a clockid (what the kernel will see, given its size).
pub fn uses_clockid(a: &perf_event_attr) -> bool {
    a.use_clockid() != 0 && a.size >= CLOCKID_MIN_SIZE
}

/// Where each field of a PERF_RECORD_SAMPLE sits, computed once from `sample_type` so
/// the hot path only indexes. Offsets count from the start of the record (the 8-byte
/// header included). CALLCHAIN (variable size) sits before RAW, so when it is present
/// RAW's offset is found per sample from the chain's length. After RAW come the user
/// registers (REGS_USER: u64 abi, then one u64 per bit of [`USER_REGS_MASK`] unless the
/// abi is 0) and the user stack copy (STACK_USER: u64 size, the bytes, then u64 dyn_size,
/// the valid part, unless size is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleLayout {
    pub sample_type: u64,
    pub tid: Option<usize>,
    pub time: Option<usize>,
    pub cpu: Option<usize>,
    /// Offset of CALLCHAIN's u64 count, when the events carry chains.
    pub callchain: Option<usize>,
    /// Offset of RAW's u32 size (without a call chain; with one, it follows the chain).
    pub raw: usize,
    /// REGS_USER follows RAW: how many registers it holds when its abi is not 0.
    pub regs_user: Option<usize>,
    /// STACK_USER follows RAW (and REGS_USER).
    pub stack_user: bool,
}

/// A `sample_type` whose records tpdig cannot index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutError {
    pub sample_type: u64,
    pub reason: &'static str,
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sample_type {:#x}: {}", self.sample_type, self.reason)
    }
}

impl std::error::Error for LayoutError {}

impl SampleLayout {
    /// Locates the fields for `sample_type`. RAW is required; the fixed-size fields
    /// before it and CALLCHAIN are allowed; READ (variable size, before RAW) is not.
    pub fn new(sample_type: u64) -> Result<SampleLayout, LayoutError> {
        let has = |bit: u32| sample_type & bit as u64 != 0;
        if !has(PERF_SAMPLE_RAW) {
            return Err(LayoutError {
                sample_type,
                reason: "no PERF_SAMPLE_RAW",
            });
        }
        if has(bindings::PERF_SAMPLE_READ) {
            return Err(LayoutError {
                sample_type,
                reason: "READ before RAW is not supported",
            });
        }
        if has(bindings::PERF_SAMPLE_BRANCH_STACK) {
            return Err(LayoutError {
                sample_type,
                reason: "BRANCH_STACK is not supported",
            });
        }
        let mut off = 8; // perf_event_header
        let mut take = |bit: u32| -> Option<usize> {
            if has(bit) {
                let at = off;
                off += 8;
                Some(at)
            } else {
                None
            }
        };
        // Order fixed by the kernel ABI (perf_event.h, enum perf_event_type, SAMPLE).
        take(PERF_SAMPLE_IDENTIFIER);
        take(PERF_SAMPLE_IP);
        let tid = take(PERF_SAMPLE_TID);
        let time = take(PERF_SAMPLE_TIME);
        take(PERF_SAMPLE_ADDR);
        take(PERF_SAMPLE_ID);
        take(PERF_SAMPLE_STREAM_ID);
        let cpu = take(PERF_SAMPLE_CPU);
        take(PERF_SAMPLE_PERIOD);
        let callchain = take(PERF_SAMPLE_CALLCHAIN);
        Ok(SampleLayout {
            sample_type,
            tid,
            time,
            cpu,
            raw: off,
            callchain,
            regs_user: has(PERF_SAMPLE_REGS_USER).then_some(USER_REGS_MASK.count_ones() as usize),
            stack_user: has(PERF_SAMPLE_STACK_USER),
        })
    }

    /// The layout of tpdig's own events.
    pub fn tpdig() -> SampleLayout {
        SampleLayout {
            sample_type: SAMPLE_TYPE,
            tid: Some(8),
            time: Some(16),
            cpu: Some(24),
            callchain: None,
            raw: 32,
            regs_user: None,
            stack_user: false,
        }
    }

    /// The layout of tpdig's events under `-k` (a call chain before RAW).
    pub fn tpdig_with_stack() -> SampleLayout {
        SampleLayout {
            sample_type: SAMPLE_TYPE | PERF_SAMPLE_CALLCHAIN as u64,
            callchain: Some(32),
            raw: 40,
            ..SampleLayout::tpdig()
        }
    }

    /// The layout under `-k` with user registers and a user stack copy after RAW.
    pub fn tpdig_with_stack_dump() -> SampleLayout {
        SampleLayout {
            sample_type: SAMPLE_TYPE
                | (PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER) as u64,
            regs_user: Some(USER_REGS_MASK.count_ones() as usize),
            stack_user: true,
            ..SampleLayout::tpdig_with_stack()
        }
    }

    /// The layout of the samples of an attr built by [`tracepoint`].
    pub fn of(a: &perf_event_attr) -> SampleLayout {
        if a.sample_type & PERF_SAMPLE_STACK_USER as u64 != 0 {
            SampleLayout::tpdig_with_stack_dump()
        } else if a.sample_type & PERF_SAMPLE_CALLCHAIN as u64 != 0 {
            SampleLayout::tpdig_with_stack()
        } else {
            SampleLayout::tpdig()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracepoint_attr_has_what_the_engine_relies_on() {
        let opts = AttrOptions {
            size: FULL_SIZE,
            use_clockid: true,
            wakeup_watermark: 4096,
            inherit: false,
            write_backward: false,
            stack: false,
            stack_dump: 0,
        };
        let a = tracepoint(321, &opts);
        assert_eq!(a.type_, PERF_TYPE_TRACEPOINT);
        assert_eq!(a.config, 321);
        assert_eq!(a.sample_period, 1);
        assert_eq!(a.sample_type, SAMPLE_TYPE);
        assert_eq!(a.disabled(), 1);
        assert_eq!(a.watermark(), 1);
        assert_eq!(a.wakeup_watermark, 4096);
        assert!(uses_clockid(&a));
        assert_eq!(a.clockid, libc::CLOCK_MONOTONIC);
    }

    #[test]
    fn small_sizes_never_carry_clockid() {
        let opts = AttrOptions {
            size: SIZE_VER0,
            use_clockid: true,
            wakeup_watermark: 0,
            inherit: false,
            write_backward: false,
            stack: false,
            stack_dump: 0,
        };
        let a = tracepoint(1, &opts);
        assert_eq!(a.size, 64);
        assert_eq!(a.use_clockid(), 0);
        assert_eq!(a.watermark(), 0);
        assert_eq!(a.wakeup_events, 1);
    }

    #[test]
    fn layout_matches_the_abi_order() {
        assert_eq!(
            SampleLayout::new(SAMPLE_TYPE).unwrap(),
            SampleLayout::tpdig()
        );
        let with_ip = SAMPLE_TYPE | PERF_SAMPLE_IP as u64 | PERF_SAMPLE_PERIOD as u64;
        let l = SampleLayout::new(with_ip).unwrap();
        assert_eq!(
            (l.tid, l.time, l.cpu, l.raw),
            (Some(16), Some(24), Some(32), 48)
        );
        let only_raw = SampleLayout::new(PERF_SAMPLE_RAW as u64).unwrap();
        assert_eq!((only_raw.tid, only_raw.raw), (None, 8));
        assert!(SampleLayout::new(PERF_SAMPLE_TIME as u64).is_err());
        assert_eq!(
            SampleLayout::new(SAMPLE_TYPE | PERF_SAMPLE_CALLCHAIN as u64).unwrap(),
            SampleLayout::tpdig_with_stack()
        );
        assert!(SampleLayout::new(SAMPLE_TYPE | bindings::PERF_SAMPLE_READ as u64).is_err());
        assert_eq!(
            SampleLayout::new(SampleLayout::tpdig_with_stack_dump().sample_type).unwrap(),
            SampleLayout::tpdig_with_stack_dump()
        );
    }

    #[test]
    fn stack_dump_asks_for_registers_and_stack_only_with_room() {
        let mut opts = AttrOptions {
            size: FULL_SIZE,
            use_clockid: false,
            wakeup_watermark: 0,
            inherit: false,
            write_backward: false,
            stack: true,
            stack_dump: 8195,
        };
        let a = tracepoint(1, &opts);
        assert_eq!(a.sample_stack_user, 8192);
        assert_eq!(a.sample_regs_user, USER_REGS_MASK);
        assert_eq!(SampleLayout::of(&a), SampleLayout::tpdig_with_stack_dump());
        opts.size = SIZE_VER0;
        let a = tracepoint(1, &opts);
        assert_eq!(SampleLayout::of(&a), SampleLayout::tpdig_with_stack());
        opts.stack = false;
        assert_eq!(
            SampleLayout::of(&tracepoint(1, &opts)),
            SampleLayout::tpdig()
        );
    }
}
