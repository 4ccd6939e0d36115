//! The perf engine: tracepoint events on every CPU, their rings, and their records.
//!
//! Layers, bottom up:
//! - [`sys`]: the `Kernel` trait — every perf syscall, ioctl and ring mapping — with the
//!   real implementation. The only `unsafe` in the engine lives there.
//! - [`attr`]: the `perf_event_attr` tpdig asks for and the sample layout it implies.
//! - [`record`]: record parsing from bytes (no I/O; shared with capture files).
//! - [`ring`]: framing records out of one ring, wrap-around included.
//! - [`cpus`]: the online-CPU list parser.
//! - [`clock`]: perf timestamps to wall-clock time.
//! - [`error`]: `PerfError` and its classification.
//! - [`engine`]: feature probing, fallbacks, opening, draining.

pub mod attr;
pub mod clock;
pub mod cpus;
pub mod engine;
pub mod error;
#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod live_tests;
pub mod open;
pub mod record;
pub mod ring;
pub mod sys;

pub use clock::{Clock, ClockMode};
pub use engine::{Engine, EngineConfig, ReadErrors, TracepointSpec};
pub use error::{ErrorKind, ErrorKind as PerfErrorKind, Op, PerfError};
pub use open::{Feature, Features};
pub use record::{Record, Sample};
pub use sys::{Kernel, RealKernel};
