//! Sinks: where decoded events go once state is updated.
//!
//! A sink sees each event with the state as it stands after that event; it owns its writer
//! and its buffering. The text sink renders sysdig's default line.

pub mod fields;
pub mod text;
pub mod time;

use crate::decode::Event;
use crate::state::ThreadTable;
use std::io;

pub trait Sink {
    fn event(&mut self, ev: &Event<'_>, threads: &ThreadTable) -> io::Result<()>;
    /// Called after each batch of events and at the end.
    fn flush(&mut self) -> io::Result<()>;
}
