//! Sinks: where decoded events go once state is updated.
//!
//! A sink sees each event with the state as it stands after that event; it owns its writer
//! and its buffering. The text sink renders sysdig's default line.

pub mod events;
pub mod fields;
pub mod format;
pub mod json;
pub mod line;
pub mod render_ctx;
pub mod text;
pub mod time;

use crate::fields::EventView;
use std::io;

pub trait Sink {
    fn event(&mut self, view: &EventView<'_>) -> io::Result<()>;
    /// An event the filter rejected that changes thread state (fork, exec, exit, rename):
    /// sinks that must be able to rebuild the state later (the capture writer) keep it.
    fn state_event(&mut self, _view: &EventView<'_>) -> io::Result<()> {
        Ok(())
    }
    /// Called after each batch of events and at the end.
    fn flush(&mut self) -> io::Result<()>;
}
