//! sysdig's event table, by event id: names and parameter layouts of every event sysdig
//! 0.29 knows (generated from falcosecurity/libs by `ci/gen-scap-table.py`).
//!
//! Ids come in pairs: an even id is an event's entry, the next odd one its exit. Old
//! versions of an event keep their ids (a capture holds whichever version its driver
//! wrote); the writer uses the newest.

use crate::params::FlagTable;
use crate::params::{Fmt, ParamType};

pub use super::gen_table::{EVENTS, SC_NAMES};

/// What sysdig does with an event's category: internal ones are counted, never shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Internal,
    Scheduler,
    Other,
}

/// One parameter: name, type, print format, flag table, and for an FSRELPATH the index
/// of its dirfd parameter.
#[derive(Debug)]
pub struct P {
    pub name: &'static str,
    pub ty: ParamType,
    pub fmt: Fmt,
    pub flags: Option<&'static FlagTable>,
    pub dirfd: Option<u8>,
}

#[derive(Debug)]
pub struct EventInfo {
    pub name: &'static str,
    pub cat: Category,
    pub unused: bool,
    pub old: bool,
    pub params: &'static [P],
}

pub const GENERIC_E: u16 = 0;
pub const GENERIC_X: u16 = 1;
pub const PROCEXIT_1_E: u16 = 186;
pub const SCHEDSWITCH_6_E: u16 = 152;

pub fn info(etype: u16) -> Option<&'static EventInfo> {
    EVENTS.get(usize::from(etype))
}

pub fn is_enter(etype: u16) -> bool {
    etype & 1 == 0
}

/// The newest event id of `name` in the given direction.
pub fn newest(name: &str, enter: bool) -> Option<u16> {
    EVENTS
        .iter()
        .enumerate()
        .rev()
        .find(|(i, e)| is_enter(*i as u16) == enter && !e.unused && !e.old && e.name == name)
        .map(|(i, _)| i as u16)
}

/// sysdig's name of syscall code `id` (a generic event's ID parameter).
pub fn sc_name(id: u64) -> &'static str {
    SC_NAMES.get(id as usize).copied().unwrap_or("<unknown>")
}

/// The PPM_SC code of syscall `name`, when sysdig has one.
pub fn sc_code(name: &str) -> Option<u16> {
    SC_NAMES.iter().position(|n| *n == name).map(|i| i as u16)
}
