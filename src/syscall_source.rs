//! Which tracepoints carry the system calls: `raw_syscalls` or the per-syscall events.
//!
//! With `raw_syscalls:sys_enter/sys_exit` every call of every process builds a record, and
//! an ftrace filter then throws away the ones nobody asked for: that costs nearly what an
//! unfiltered capture costs. The per-syscall events (`syscalls:sys_enter_NAME`,
//! `sys_exit_NAME`) let the kernel skip an unasked-for call before any record exists (one
//! bit test). So when the filter limits `evt.type` to a few calls, the capture opens the
//! per-syscall events of exactly those calls plus the calls that keep the state right
//! (`state::effects::STATE_CALLS`); the records decode into the same events (`decode`).
//!
//! Threshold: on the dd storm (1M read/write calls, none of them opened) the cost of the
//! per-syscall source did not grow with the number of calls opened (50, 150, 300, 333
//! pairs under `perf record`: all within noise of each other, ≈1.15× bare on a loaded
//! machine). What grows is descriptors and start-up: CPUs × 2 × calls events. Above
//! `MAX_CALLS` calls raw_syscalls is used: a filter naming that many calls is not the
//! "few event types" case, and on a 64-CPU host it would need ~16k descriptors.
//!
//! Fallbacks to raw_syscalls: the filter does not limit `evt.type`; a call the filter names
//! has no per-syscall event (kernels without CONFIG_FTRACE_SYSCALLS, calls without
//! metadata); `--compat raw-syscalls` or `old-syscall-names`. The per-syscall events do not
//! fire for 32-bit (compat) tasks on a 64-bit kernel; force raw_syscalls to see those.

use crate::compat::Compat;
use crate::filter::Expr;
use crate::kernel_filter::syscalls_for_event;
use crate::state::effects::STATE_CALLS;
use crate::syscalls::{self, Arch};
use std::collections::BTreeSet;
use std::fmt;

/// Above this many calls, raw_syscalls (see the module docs).
pub const MAX_CALLS: usize = 128;

/// Table names whose kernel event is spelt differently (SYSCALL_DEFINE names).
const ALIASES: &[(&str, &str)] = &[
    ("stat", "newstat"),
    ("fstat", "newfstat"),
    ("lstat", "newlstat"),
    ("uname", "newuname"),
    ("sendfile", "sendfile64"),
    ("umount2", "umount"),
];

/// The `NAME` of `syscalls:sys_enter_NAME` for the call `name` (table spelling).
pub fn event_suffix(name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(t, _)| *t == name)
        .map_or(name, |(_, e)| e)
}

/// The source chosen, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyscallSource {
    Raw {
        why: String,
    },
    PerCall {
        /// Table names, sorted.
        calls: Vec<&'static str>,
        /// State-keeping calls this kernel has no events for (it cannot run them either).
        missing: Vec<&'static str>,
        forced: bool,
    },
}

impl fmt::Display for SyscallSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyscallSource::Raw { why } => write!(f, "raw_syscalls ({why})"),
            SyscallSource::PerCall {
                calls,
                missing,
                forced,
            } => {
                write!(
                    f,
                    "per-syscall tracepoints for {} calls{}",
                    calls.len(),
                    if *forced {
                        " (forced by --compat per-syscall)"
                    } else {
                        " (the filter limits evt.type)"
                    }
                )?;
                if calls.len() <= 16 {
                    write!(f, ": {}", calls.join(" "))?;
                }
                if !missing.is_empty() {
                    write!(f, "; no events for {}", missing.join(" "))?;
                }
                Ok(())
            }
        }
    }
}

fn raw(why: impl Into<String>) -> SyscallSource {
    SyscallSource::Raw { why: why.into() }
}

/// Chooses the source for a capture whose kernel-side filter is `filter`. `has_events(n)`:
/// whether `syscalls:sys_enter_n` and `sys_exit_n` exist.
pub fn choose(
    filter: Option<&Expr>,
    arch: Arch,
    compat: &Compat,
    has_events: &dyn Fn(&str) -> bool,
) -> SyscallSource {
    if compat.raw_syscalls {
        return raw("forced by --compat raw-syscalls");
    }
    if compat.old_syscall_names {
        return raw("forced by --compat old-syscall-names");
    }
    let forced = compat.per_syscall;
    let types = filter.and_then(crate::filter::event_types);
    let mut wanted: BTreeSet<&'static str> = BTreeSet::new();
    match &types {
        None if !forced => return raw("the filter does not limit evt.type"),
        None => wanted.extend(syscalls::all(arch).map(|(_, n)| n)),
        Some(types) => {
            for t in types {
                for nr in syscalls_for_event(arch, t) {
                    wanted.extend(syscalls::name(arch, nr));
                }
            }
            if wanted.is_empty() && !forced {
                return raw("no syscall among the filter's event types");
            }
        }
    }
    if let Some(n) = wanted
        .iter()
        .find(|n| !forced && !STATE_CALLS.contains(n) && !has_events(event_suffix(n)))
    {
        return raw(format!(
            "no syscalls:sys_enter_{} on this kernel",
            event_suffix(n)
        ));
    }
    wanted.extend(
        STATE_CALLS
            .iter()
            .filter_map(|n| syscalls::name(arch, syscalls::number(arch, n)?)),
    );
    let (calls, missing): (Vec<&'static str>, Vec<&'static str>) = wanted
        .into_iter()
        .partition(|n| has_events(event_suffix(n)));
    if calls.is_empty() {
        return raw("no per-syscall tracepoints on this kernel");
    }
    if !forced && calls.len() > MAX_CALLS {
        return raw(format!("{} calls, more than {MAX_CALLS}", calls.len()));
    }
    // Calls the table knows but no kernel implements are not worth a word.
    let missing = missing
        .into_iter()
        .filter(|n| STATE_CALLS.contains(n))
        .collect();
    SyscallSource::PerCall {
        calls,
        missing,
        forced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Catalog;

    fn expr(s: &str) -> Expr {
        crate::filter::parse(s, &Catalog).unwrap()
    }

    fn all_present(_: &str) -> bool {
        true
    }

    #[test]
    fn a_few_types_open_those_calls_and_the_state_calls() {
        let e = expr("evt.type in (openat, read) and proc.name=nginx");
        let s = choose(Some(&e), Arch::X86_64, &Compat::default(), &all_present);
        let SyscallSource::PerCall { calls, forced, .. } = &s else {
            panic!("{s}")
        };
        assert!(!forced);
        for c in [
            "openat", "read", "close", "dup2", "fcntl", "execve", "clone",
        ] {
            assert!(calls.contains(&c), "{c}: {calls:?}");
        }
        assert!(!calls.contains(&"write"));
        assert!(calls.len() < MAX_CALLS);
    }

    #[test]
    fn unlimited_types_missing_events_and_compat_choose_raw() {
        let c = Compat::default();
        let open = expr("evt.type=openat");
        assert!(matches!(
            choose(Some(&expr("proc.pid=1")), Arch::X86_64, &c, &all_present),
            SyscallSource::Raw { .. }
        ));
        assert!(matches!(
            choose(None, Arch::X86_64, &c, &all_present),
            SyscallSource::Raw { .. }
        ));
        let read = expr("evt.type=read");
        let s = choose(Some(&read), Arch::X86_64, &c, &|n| n != "read");
        assert_eq!(
            s.to_string(),
            "raw_syscalls (no syscalls:sys_enter_read on this kernel)"
        );
        assert!(matches!(
            choose(Some(&open), Arch::X86_64, &c, &|_| false),
            SyscallSource::Raw { .. }
        ));
        let forced_raw = Compat::parse("raw-syscalls").unwrap();
        assert!(matches!(
            choose(Some(&open), Arch::X86_64, &forced_raw, &all_present),
            SyscallSource::Raw { .. }
        ));
        // A state call the kernel lacks is left out, and said.
        let s = choose(Some(&open), Arch::X86_64, &c, &|n| n != "memfd_secret");
        assert!(
            s.to_string().ends_with("; no events for memfd_secret"),
            "{s}"
        );
    }

    #[test]
    fn forcing_per_syscall_opens_every_call_when_types_are_unlimited() {
        let c = Compat::parse("per-syscall").unwrap();
        let s = choose(None, Arch::X86_64, &c, &all_present);
        let SyscallSource::PerCall { calls, .. } = &s else {
            panic!("{s}")
        };
        assert!(calls.len() > MAX_CALLS && calls.contains(&"write"));
        // Without forcing, that many is raw_syscalls.
        let many: Vec<String> = syscalls::all(Arch::X86_64)
            .map(|(_, n)| n.to_string())
            .take(200)
            .collect();
        let e = expr(&format!("evt.type in ({})", many.join(", ")));
        let s = choose(Some(&e), Arch::X86_64, &Compat::default(), &all_present);
        assert!(s.to_string().contains("more than 128"), "{s}");
    }

    #[test]
    fn kernel_spellings() {
        assert_eq!(event_suffix("stat"), "newstat");
        assert_eq!(event_suffix("openat"), "openat");
    }
}
