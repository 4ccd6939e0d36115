//! Chisels: Rhai scripts that analyse the event stream (tops, spectrograms, ps/lsof-like
//! views), sysdig's chisels re-done for tpdig.
//!
//! Why it is built this way:
//! - A script compiles once; its top level runs once and holds the script's state in
//!   top-level constants (Rhai functions see constants, not variables), typically native
//!   handles (`table()`, `hist()`, `vars()`) that the script and the sink share.
//! - Rhai calls cost ~0.6 µs, more than decoding an event, so hot aggregation is native:
//!   a script declares *feeds* (`t.feed(keys, amount, filter)`) which the sink applies to
//!   each event without entering the script; `set_filter` is compiled natively and is
//!   offered to the caller for kernel pushdown, so only matching events reach the script.
//! - Intervals follow event timestamps, so a capture read back gives the live result.
//! - The script's `evt` borrows the pipeline's event for the duration of one call
//!   ([`current`]); fields are read lazily by name from the one catalog.
//!
//! Modules: [`registry`] (search path, metadata, `-cl`/`-i`), [`sink`] (the runtime as a
//! pipeline sink), [`api`] (functions scripts call), [`agg`] (tables, histograms, feeds,
//! CPU time from switches), [`fields`] (chisel-only fields such as `evt.is_io`),
//! [`snapshot`] (thread and fd tables as script values), [`format`] (sysdig's notations).

pub mod agg;
pub mod api;
mod current;
pub mod error;
pub mod fields;
pub mod format;
pub mod offcpu;
pub mod registry;
pub mod sink;
pub mod snapshot;

pub use error::{ChiselError, ChiselErrorKind};
pub use registry::{
    ArgSpec, ArgType, BUILTIN, ChiselSpec, Source, find, list, print_info, print_list, spec_of,
};
pub use sink::ChiselSink;
