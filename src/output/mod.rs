//! Sinks: where decoded events go once state is updated.
//!
//! A sink sees each event with the state as it stands after that event; it owns its writer
//! and its buffering. The text sink renders sysdig's default line.

pub mod capture_sink;
pub mod destination;
pub mod events;
pub mod format;
pub mod json;
pub mod line;
pub mod scap_sink;
pub mod sched_slices;
pub mod text;
pub mod trace_export;
pub mod write_behind;

use crate::calls::ValueSource;
use crate::decode::Decoder;
use crate::fields::EventView;
use crate::state::State;
use std::io;

pub trait Sink {
    /// Called once before the first event, with the state as it stands then and the
    /// decoder of the events to come.
    fn begin(&mut self, _state: &State, _decoder: &Decoder) -> io::Result<()> {
        Ok(())
    }
    fn event(&mut self, view: &EventView<'_>) -> io::Result<()>;
    /// An event the filter rejected that changes thread state (fork, exec, exit, rename):
    /// sinks that must be able to rebuild the state later (the capture writer) keep it.
    fn state_event(&mut self, _view: &EventView<'_>) -> io::Result<()> {
        Ok(())
    }
    /// A value read from user memory outside any event (a call's results read right after
    /// it returned), keyed `post:SYSCALL:ARG`: sinks that store the run keep it.
    fn user_value(
        &mut self,
        _tid: u32,
        _ts: u64,
        _key: &str,
        _value: &[u8],
        _source: ValueSource,
    ) -> io::Result<()> {
        Ok(())
    }

    /// Whether the sink can take a slice of events (some thousands) now without waiting
    /// for its output. A live capture that is told no keeps draining the kernel's rings
    /// into memory and comes back later, rather than stalling with the rings filling.
    fn ready(&self) -> bool {
        true
    }
    /// Called after each batch of events and at the end.
    fn flush(&mut self) -> io::Result<()>;
    /// Called once at the end, with the records the kernel dropped per CPU.
    fn end(&mut self, _drops: &[(u32, u64)]) -> io::Result<()> {
        self.flush()
    }
}
