//! Raw syscall arguments for the enter line, before any value is resolved.
//!
//! `raw_syscalls:sys_enter` gives six register values; which of them matter, what
//! they are called and how to print them comes from the kernel's own
//! `syscalls:sys_enter_<name>` formats, captured once by `ci/gen-syscalls.py` into
//! `gen_args_x86_64.rs`. Where sysdig has an enter event for the syscall the
//! generator already renamed and filtered the arguments to sysdig's (`dfd` →
//! `dirfd`, read's `buf` dropped), so this file only looks up and prints.
//! Because filtering leaves gaps, a shown argument carries its register index
//! ([`EnterArg::reg`]); [`enter_args`] is the gap-free register-order view.
//!
//! The signatures are those of this x86_64 kernel; i386 tasks reach mostly the same
//! names with the same argument order, and `format_raw_arg` truncates to the C type
//! size, which is what a 32-bit register holds for `int` and `unsigned int`.

use super::gen_args_x86_64::{ALIGNED, SHOWN};

/// How a raw register value is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// A signed C integer of this many bytes (`int dfd` → 4): the low bytes are
    /// sign-extended, so `0xffffff9c` prints `-100`.
    Signed(u8),
    /// An unsigned C integer of this many bytes, printed in decimal.
    Unsigned(u8),
    /// A user-space address, printed `0x…` in lowercase hex (`0x0` for NULL).
    Pointer,
}

/// One argument of an enter line: its name, how to print it, and which of the six
/// argument registers (`raw_syscalls:sys_enter` `args[]`) holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnterArg {
    pub name: &'static str,
    pub kind: ArgKind,
    pub reg: u8,
}

fn lookup<T>(t: &'static [(&'static str, &'static [T])], name: &str) -> &'static [T] {
    match t.binary_search_by(|(n, _)| (*n).cmp(name)) {
        Ok(i) => t[i].1,
        Err(_) => &[],
    }
}

/// The arguments the enter line of syscall `name` shows, in display order: sysdig's
/// parameters for syscalls sysdig knows (read shows `fd` and `size`, not `buf`),
/// every kernel argument otherwise. Empty for an unknown syscall.
pub fn shown_args(name: &str) -> &'static [EnterArg] {
    lookup(&SHOWN, name)
}

/// Every argument of syscall `name` in register order, so it can be zipped with the
/// six argument registers; sysdig's name where sysdig shows the value, the kernel's
/// otherwise (`read` → `fd`, `buf`, `size`). Empty for an unknown syscall.
pub fn enter_args(name: &str) -> &'static [(&'static str, ArgKind)] {
    lookup(&ALIGNED, name)
}

/// Appends the enter line's arguments of syscall `name` as `name=value ` each (one
/// trailing space per argument, as sysdig prints them). `regs` are the
/// `raw_syscalls:sys_enter` argument registers; a missing register prints nothing.
pub fn format_enter_args(name: &str, regs: &[u64], out: &mut String) {
    format_enter_args_with(name, regs, &|_| None, out)
}

/// Like [`format_enter_args`], but a pointer argument whose pointed-to bytes were read
/// exactly (by the probe tier) shows them as text instead of the address.
pub fn format_enter_args_with<'r>(
    name: &str,
    regs: &[u64],
    resolved: &dyn Fn(usize) -> Option<&'r [u8]>,
    out: &mut String,
) {
    for a in shown_args(name) {
        if let Some(&v) = regs.get(usize::from(a.reg)) {
            out.push_str(a.name);
            out.push('=');
            match (a.kind, resolved(usize::from(a.reg))) {
                (ArgKind::Pointer, Some(bytes)) => {
                    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                    out.push_str(&String::from_utf8_lossy(&bytes[..end]));
                }
                _ => format_raw_arg(a.kind, v, out),
            }
            out.push(' ');
        }
    }
}

/// Appends `value` rendered as `kind`.
pub fn format_raw_arg(kind: ArgKind, value: u64, out: &mut String) {
    use std::fmt::Write;
    let _ = match kind {
        ArgKind::Signed(bytes) => write!(out, "{}", sign_extend(value, bytes)),
        ArgKind::Unsigned(bytes) => write!(out, "{}", value & mask(bytes)),
        ArgKind::Pointer => write!(out, "{value:#x}"),
    };
}

fn mask(bytes: u8) -> u64 {
    match bytes {
        0 | 8.. => u64::MAX,
        b => (1u64 << (u32::from(b) * 8)) - 1,
    }
}

fn sign_extend(value: u64, bytes: u8) -> i64 {
    match bytes {
        0 | 8.. => value as i64,
        b => {
            let shift = 64 - u32::from(b) * 8;
            ((value << shift) as i64) >> shift
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders an enter line the way the printer will: ` name=value` per argument.
    fn line(sc: &str, regs: [u64; 6]) -> String {
        let mut s = format!("> {sc} ");
        format_enter_args(sc, &regs, &mut s);
        s.trim_end().to_string()
    }

    #[test]
    fn openat_like_sysdig() {
        let regs = [0xffff_ff9c, 0x7ffd_1234_5678, 0o2000000, 0, 0, 0];
        assert_eq!(
            line("openat", regs),
            "> openat dirfd=-100 name=0x7ffd12345678 flags=524288 mode=0"
        );
        // A 64-bit register with a sign-extended -100 gives the same.
        assert!(
            line("openat", [(-100i64) as u64, 0, 0, 0, 0, 0])
                .starts_with("> openat dirfd=-100 name=0x0 ")
        );
    }

    #[test]
    fn read_write_close() {
        assert_eq!(
            line("read", [3, 0x5555_0000, 4096, 0, 0, 0]),
            "> read fd=3 size=4096"
        );
        assert_eq!(
            line("write", [1, 0x5555_0000, 12, 0, 0, 0]),
            "> write fd=1 size=12"
        );
        assert_eq!(line("close", [3, 0, 0, 0, 0, 0]), "> close fd=3");
        // close(-1): the kernel type is unsigned int, sysdig shows -1.
        assert_eq!(line("close", [u64::MAX, 0, 0, 0, 0, 0]), "> close fd=-1");
    }

    #[test]
    fn renamed_and_reordered_for_sysdig() {
        let names = |sc| shown_args(sc).iter().map(|a| a.name).collect::<Vec<_>>();
        assert_eq!(names("tgkill"), ["pid", "tid", "sig"]);
        assert_eq!(names("socket"), ["domain", "type", "proto"]);
        assert_eq!(
            shown_args("brk"),
            &[EnterArg {
                name: "addr",
                kind: ArgKind::Pointer,
                reg: 0
            }]
        );
        // read's size sits in the third register although it is shown second.
        assert_eq!(shown_args("read")[1].reg, 2);
        // sysdig 0.29's mkdir enter event shows only the mode (path is on the exit).
        assert_eq!(names("mkdir"), ["mode"]);
        assert_eq!(shown_args("mkdir")[0].reg, 1);
        // Not in sysdig: the kernel's names, all arguments.
        assert_eq!(
            names("clock_nanosleep"),
            ["which_clock", "flags", "rqtp", "rmtp"]
        );
    }

    #[test]
    fn aligned_view_zips_with_registers() {
        let names: Vec<_> = enter_args("read").iter().map(|a| a.0).collect();
        assert_eq!(names, ["fd", "buf", "size"]);
        assert_eq!(enter_args("openat")[0], ("dirfd", ArgKind::Signed(4)));
        for (sc, shown) in SHOWN.iter() {
            let aligned = enter_args(sc);
            for a in *shown {
                assert_eq!(aligned[usize::from(a.reg)], (a.name, a.kind), "{sc}");
            }
        }
    }

    #[test]
    fn table_names_not_function_names() {
        // x86_64 stat(2) is the kernel's newstat; keyed by the syscall name.
        assert_eq!(enter_args("stat").len(), 2);
        assert!(enter_args("newstat").is_empty());
        assert_eq!(names_of("umount2"), ["flags"]);
    }

    fn names_of(sc: &str) -> Vec<&'static str> {
        shown_args(sc).iter().map(|a| a.name).collect()
    }

    #[test]
    fn unknown_syscall_has_no_args() {
        assert!(enter_args("no_such_syscall").is_empty());
        assert!(shown_args("").is_empty());
        let mut s = String::new();
        format_enter_args("no_such_syscall", &[1, 2, 3], &mut s);
        format_enter_args("read", &[3], &mut s); // size register missing
        assert_eq!(s, "fd=3 ");
    }

    #[test]
    fn every_table_name_is_known() {
        // Keys are sorted (bisection) and every one is a syscall of x86_64.
        assert!(SHOWN.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(ALIGNED.windows(2).all(|w| w[0].0 < w[1].0));
        for (n, _) in SHOWN.iter() {
            assert!(
                super::super::number(super::super::Arch::X86_64, n).is_some(),
                "{n}"
            );
        }
    }

    #[test]
    fn raw_rendering() {
        let f = |k, v| {
            let mut s = String::new();
            format_raw_arg(k, v, &mut s);
            s
        };
        assert_eq!(f(ArgKind::Signed(4), 0xffff_ffff), "-1");
        assert_eq!(f(ArgKind::Signed(4), 0x1_0000_0005), "5");
        assert_eq!(f(ArgKind::Signed(8), u64::MAX), "-1");
        assert_eq!(f(ArgKind::Signed(2), 0x8000), "-32768");
        assert_eq!(f(ArgKind::Unsigned(4), 0xffff_ffff_0000_0007), "7");
        assert_eq!(f(ArgKind::Unsigned(2), 0o100644), "33188");
        assert_eq!(f(ArgKind::Unsigned(8), u64::MAX), "18446744073709551615");
        assert_eq!(f(ArgKind::Pointer, 0), "0x0");
        assert_eq!(f(ArgKind::Pointer, 0x7FFD_ABCD), "0x7ffdabcd");
    }
}
