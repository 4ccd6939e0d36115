//! The kernel tier: kprobe events on the system calls' entry functions.
//!
//! A kprobe at a system call's entry fires inside the call, in the calling thread, for
//! every binary (static, Go, busybox): what it fetches from user memory is exact, like an
//! event probe's, and nothing in user space has to be found. Two calling conventions exist,
//! found by trying (never by version):
//! - since 4.17 the entry points `__x64_sys_NAME` take one `struct pt_regs *` (in `%di`)
//!   and argument *i* is the saved register at its offset in `pt_regs`
//!   ([`PT_REGS_OFFSETS`]);
//! - before, `sys_NAME` takes the arguments in the C registers. On newer kernels the same
//!   shape is one call in, in functions that take the call's arguments at the same
//!   positions ([`INNER`]: `do_sys_openat2`, `vfs_fstatat`); that is how the register
//!   convention is tested on them (forced). (`__do_sys_NAME` has the shape too, but 6.1
//!   refuses kprobes there: EINVAL.)
//!
//! User memory is read with `+u` dereferences and the `ustring` type (5.5+); where the
//! kernel refuses those (before 5.5: CentOS 7's 3.10, RHEL 8's 4.18), with plain
//! dereferences and `string`, which such kernels apply to user addresses on x86.

use super::{InstallError, ProbeSet, Skipped};
use crate::probes::catalog::{self, ValueKind};
use crate::probes::control::{KPROBE_EVENTS, append};
use crate::probes::fetch::{Reach, fetch_args};
use crate::probes::record::{Binding, Source};
use crate::tracefs::Tracefs;
use std::collections::HashSet;
use std::fmt;

/// How a system call's entry function receives its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convention {
    /// `__x64_sys_NAME(const struct pt_regs *)` (4.17+).
    PtRegs,
    /// `sys_NAME(args...)`, or a function one call in ([`INNER`]): C registers.
    Registers,
}

impl fmt::Display for Convention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Convention::PtRegs => "pt_regs wrappers (__x64_sys_*)",
            Convention::Registers => "register arguments (sys_*, or one call in)",
        })
    }
}

/// Offsets in x86-64's `struct pt_regs` of the registers that carry syscall arguments
/// 0..6 (`di si dx r10 r8 r9`).
pub const PT_REGS_OFFSETS: [usize; 6] = [112, 104, 96, 56, 72, 64];

/// Functions one call inside a system call that take its arguments at the same positions,
/// in C registers: `(syscall, function)`. They are reached by the call's relatives too
/// (`do_sys_openat2` by `open` and `creat`); a hit counts only for a call of the syscall named.
const INNER: &[(&str, &str)] = &[("openat", "do_sys_openat2"), ("newfstatat", "vfs_fstatat")];

/// C argument registers of x86-64 (System V), arguments 0..6.
const C_REGISTERS: [&str; 6] = ["%di", "%si", "%dx", "%cx", "%r8", "%r9"];

/// The kernel's own name of a call's entry where it differs from the call's (the x86-64
/// syscall table's `stat  sys_newstat`).
fn entry_name(sc: &str) -> &str {
    match sc {
        "stat" => "newstat",
        "lstat" => "newlstat",
        "fstat" => "newfstat",
        "uname" => "newuname",
        other => other,
    }
}

impl Convention {
    /// The entry functions to try for `sc`, in order.
    fn symbols(self, sc: &str) -> Vec<String> {
        let sc = entry_name(sc);
        match self {
            Convention::PtRegs => vec![format!("__x64_sys_{sc}")],
            Convention::Registers => std::iter::once(format!("sys_{sc}"))
                .chain(
                    INNER
                        .iter()
                        .filter(|(call, _)| *call == sc)
                        .map(|(_, f)| f.to_string()),
                )
                .collect(),
        }
    }

    /// Where argument `i` is when the entry function is hit.
    fn base(self, i: usize) -> Option<String> {
        match self {
            Convention::PtRegs => Some(format!("+{}(%di)", PT_REGS_OFFSETS.get(i)?)),
            Convention::Registers => C_REGISTERS.get(i).map(|r| r.to_string()),
        }
    }

    /// The fetch arguments of `values` (syscall argument index, name, kind).
    fn fetch(self, values: &[(usize, &str, ValueKind)], reach: Reach) -> Option<String> {
        let parts: Option<Vec<String>> = values
            .iter()
            .map(|&(i, name, kind)| Some(fetch_args(name, kind, &self.base(i)?, reach)))
            .collect();
        parts.map(|p| p.join(" "))
    }
}

impl ProbeSet {
    /// Kprobe events for the catalog's system calls; `forced` fixes the convention (tests),
    /// else the first that the kernel takes is used for all; the same for the user fetch
    /// (`plain`: the pre-5.5 one only). Adds the calls named to `done`.
    pub(super) fn install_kprobes(
        &mut self,
        tracefs: &Tracefs,
        lookups: bool,
        forced: Option<Convention>,
        plain: bool,
        done: &mut HashSet<String>,
    ) -> Result<(), InstallError> {
        let Some(path) = self.control_file(KPROBE_EVENTS, "kprobes") else {
            return Ok(());
        };
        let mut convention = forced;
        let mut reach = plain.then_some(Reach::PlainUser);
        for sc in catalog::selected_syscalls(lookups) {
            let values = catalog::syscall_values(sc, lookups);
            if values.is_empty() {
                continue;
            }
            let tries: Vec<Convention> = match convention {
                Some(c) => vec![c],
                None => vec![Convention::PtRegs, Convention::Registers],
            };
            let reaches: Vec<Reach> = match reach {
                Some(r) => vec![r],
                None => vec![Reach::User, Reach::PlainUser],
            };
            let mut last_err = None;
            let mut made = None;
            'conv: for conv in tries {
                for &r in &reaches {
                    let Some(fetch) = conv.fetch(&values, r) else {
                        continue;
                    };
                    for sym in conv.symbols(sc) {
                        let def = format!("p:{}/{sc} {sym} {fetch}", self.group);
                        match append(&path, &def) {
                            Ok(()) => {
                                made = Some((conv, r, def));
                                break 'conv;
                            }
                            Err(e) => last_err = Some(e),
                        }
                    }
                }
            }
            let Some((conv, r, def)) = made else {
                self.skipped.push(Skipped {
                    what: format!("kprobe for {sc}"),
                    why: last_err.map_or("no convention".into(), |e| e.to_string()),
                });
                continue;
            };
            convention = Some(conv);
            self.kprobe_convention = Some(conv);
            reach = Some(r);
            self.kprobe_reach = Some(r);
            let named: Vec<(&str, ValueKind)> = values.iter().map(|v| (v.1, v.2)).collect();
            let bindings = vec![Binding {
                syscall: sc.to_string(),
                args: values.iter().map(|v| v.0).collect(),
            }];
            self.adopt(tracefs, sc, def, Source::Kprobe, None, &named, bindings)?;
            done.insert(sc.to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_text_per_convention() {
        let v = [(1, "path", ValueKind::Path)];
        assert_eq!(
            Convention::PtRegs.fetch(&v, Reach::User).unwrap(),
            "path=+u0(+104(%di)):ustring"
        );
        assert_eq!(
            Convention::Registers.fetch(&v, Reach::User).unwrap(),
            "path=+u0(%si):ustring"
        );
        assert_eq!(
            Convention::Registers.fetch(&v, Reach::PlainUser).unwrap(),
            "path=+0(%si):string"
        );
        // The fourth argument: r10 in pt_regs, rcx in a C call.
        let v = [(3, "p", ValueKind::Path)];
        assert_eq!(
            Convention::PtRegs.fetch(&v, Reach::User).unwrap(),
            "p=+u0(+56(%di)):ustring"
        );
        assert_eq!(
            Convention::Registers.fetch(&v, Reach::User).unwrap(),
            "p=+u0(%cx):ustring"
        );
        assert_eq!(
            Convention::Registers.symbols("openat"),
            ["sys_openat", "do_sys_openat2"]
        );
        assert_eq!(Convention::PtRegs.symbols("stat"), ["__x64_sys_newstat"]);
        assert!(catalog::selected_syscalls(false).contains(&"openat"));
        assert!(catalog::selected_syscalls(false).contains(&"execve"));
    }
}
