//! The event as fields see it: the decoded record, the state after it, the system call it
//! belongs to, and the run's clock context. Expensive renderings (`evt.info`) are computed
//! at most once per event, and only when a filter or format asks for them.

use super::info::{type_name, write_info};
use crate::calls::Call;
use crate::decode::{Event, Kind};
use crate::state::State;
use crate::syscalls::Arch;
use std::borrow::Cow;
use std::cell::OnceCell;

/// Per-run facts some fields need (relative times, deltas).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunClock {
    /// Wall-clock ns of the first event of the run (evt.reltime).
    pub first_ts: u64,
    /// Wall-clock ns of the previous event shown (evt.delta, -t D).
    pub prev_ts: u64,
}

pub struct EventView<'a> {
    pub ev: &'a Event<'a>,
    pub state: &'a State,
    /// For a syscall entry, the call just entered; for an exit, the call it ends (when its
    /// entry was seen).
    pub call: Option<&'a Call>,
    pub arch: Arch,
    pub clock: RunClock,
    /// How I/O data is shown (and whether it was copied at all).
    pub data: crate::params::DataRendering,
    /// An exit's data when its entry (and so its call) is unknown: read from a capture
    /// that kept the exit alone.
    pub exit_data: Option<&'a [u8]>,
    /// `-k`: the event's named call stack, when its tracepoint carried one.
    pub stack: Option<&'a crate::stack::Stack>,
    info: OnceCell<String>,
}

impl<'a> EventView<'a> {
    pub fn new(
        ev: &'a Event<'a>,
        state: &'a State,
        call: Option<&'a Call>,
        arch: Arch,
        clock: RunClock,
    ) -> Self {
        EventView {
            ev,
            state,
            call,
            arch,
            clock,
            data: crate::params::DataRendering::default(),
            exit_data: None,
            stack: None,
            info: OnceCell::new(),
        }
    }

    /// For a syscall exit, the time since its entry on the same thread.
    pub fn latency(&self) -> Option<u64> {
        match (self.ev.kind, self.call) {
            (Kind::SyscallExit { .. }, Some(c)) => Some(self.ev.ts.saturating_sub(c.ts)),
            _ => None,
        }
    }

    /// sysdig's `evt.info`: the arguments, `name=value ` each.
    pub fn info(&self) -> &str {
        self.info.get_or_init(|| {
            let mut s = String::new();
            write_info(self, &mut s);
            s
        })
    }

    pub fn type_name(&self) -> Cow<'a, str> {
        type_name(self.ev, self.arch)
    }

    /// A read's or write's I/O data at its exit (see [`crate::calls::io_data`]); `None`
    /// for other events.
    pub fn io_data(&self) -> Option<&'a [u8]> {
        let Kind::SyscallExit { ret, .. } = self.ev.kind else {
            return None;
        };
        self.syscall().and_then(crate::syscalls::io_direction)?;
        self.exit_data
            .or_else(|| crate::calls::io_data(self.call, Some(ret), self.data.captured))
    }

    /// The syscall's kernel name, for syscall events.
    pub fn syscall(&self) -> Option<&'static str> {
        match self.ev.kind {
            Kind::SyscallEnter { nr, .. } | Kind::SyscallExit { nr, .. } => {
                crate::syscalls::name(self.arch, nr)
            }
            _ => None,
        }
    }

    /// The value of argument `name` as rendered in `evt.info` (text after `name=` up to
    /// the next argument), the way sysdig's `evt.arg.NAME` reads.
    pub fn arg(&self, name: &str) -> Option<&str> {
        split_args(self.info())
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// Argument `i` (0-based) of `evt.info`.
    pub fn arg_at(&self, i: usize) -> Option<&str> {
        split_args(self.info()).nth(i).map(|(_, v)| v)
    }
}

/// Splits `a=1 b=x y c=3 ` into (name, value) pairs; a value runs until the next ` word=`.
pub fn split_args(info: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = info.trim_end();
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let eq = rest.find('=')?;
        let name = &rest[..eq];
        let after = &rest[eq + 1..];
        let mut end = after.len();
        let mut search = 0;
        while let Some(sp) = after[search..].find(' ') {
            let at = search + sp;
            let next = &after[at + 1..];
            let word_end = next.find(['=', ' ']).unwrap_or(next.len());
            if word_end > 0 && next[word_end..].starts_with('=') {
                end = at;
                break;
            }
            search = at + 1;
        }
        let value = &after[..end];
        rest = after.get(end + 1..).unwrap_or("");
        Some((name, value))
    })
}

#[cfg(test)]
mod tests {
    use super::split_args;

    #[test]
    fn args_split_on_names_not_on_every_space() {
        let v: Vec<_> = split_args("fd=3(<f>/a b) size=10 res=-2(ENOENT) ").collect();
        assert_eq!(
            v,
            vec![("fd", "3(<f>/a b)"), ("size", "10"), ("res", "-2(ENOENT)")]
        );
        assert_eq!(split_args("").count(), 0);
    }
}
