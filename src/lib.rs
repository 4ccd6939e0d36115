//! tpdig: sysdig's system-exploration workflow on perf_event tracepoints.
//!
//! The pipeline reads top to bottom: source → decode → state → filter → sinks.
//! `tracefs` and `perf` are the kernel seams; `source` turns per-CPU rings into one
//! time-ordered stream; `syscalls` names what the raw records carry; `output` renders.

pub mod compat;
pub mod perf;
pub mod source;
pub mod syscalls;
pub mod tracefs;
