//! The C library functions tpdig probes, and which system-call arguments they stand for.
//!
//! A uprobe on `open64` sees the path in the caller's first argument register before the
//! kernel sees `openat(AT_FDCWD, path, …)`. The catalog records that mapping once, per
//! function: which C arguments hold a path or a socket address, and for every system call
//! the function may end up making (it differs between C libraries and their versions:
//! glibc's `stat` makes `newfstatat`, older ones `stat`, some `statx`), which argument
//! index of that call each value is. The resolver matches a hit to whichever of those
//! calls the thread enters next, so the table never has to guess which one it will be.
//!
//! Functions come in two sets (see DESIGN.md): [`Set::Names`] — calls that create or
//! change names (open family, exec, connect/bind, rename, unlink, mkdir, rmdir, chdir…),
//! probed system-wide by default — and [`Set::Lookups`] — the high-volume stat/access
//! family, probed only on request. Several names are often one function (glibc's `open`
//! and `open64` share an address); installation probes each address once.
//!
//! [`POST_FUNCTIONS`] are the other direction: calls that *return* values through user
//! memory (`pipe(int fds[2])`, `socketpair(…, int sv[2])`). Those values exist only after
//! the kernel wrote them, so they are probed right after the wrapper's `syscall`
//! instruction, where the pointer is still in the register the kernel took it in (the
//! syscall ABI preserves the argument registers), see [`syscall_arg_register`].

/// Which probe set a function belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Set {
    Names,
    Lookups,
}

/// What a C argument holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A NUL-terminated path (fetched as `ustring`).
    Path,
    /// A `struct sockaddr *` (fetched as 32 raw bytes plus the `sun_path` string).
    SockAddr,
    /// A `char *argv[]` (its first [`ARGV_MAX`] strings, each fetched as `ustring`
    /// through the pointer array), delivered NUL-joined like /proc/PID/cmdline.
    Argv,
}

/// How many arguments of an argv array a probe fetches.
pub const ARGV_MAX: usize = 16;

/// One fetched C argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CArg {
    /// Field name in the probe's format (`path`, `old`, `new`, `addr`…).
    pub name: &'static str,
    /// Index of the C argument (0 = first: `%di` on x86_64).
    pub index: usize,
    pub kind: ValueKind,
}

/// One system call a function may make, and the argument index each [`CArg`] maps to
/// (`args[i]` belongs to `ProbeFn::args[i]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub syscall: &'static str,
    pub args: &'static [usize],
}

/// A probed C library function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFn {
    pub func: &'static str,
    pub set: Set,
    pub args: &'static [CArg],
    pub targets: &'static [Target],
}

impl ProbeFn {
    /// The syscall argument index the C argument `carg` (index into `args`) stands for,
    /// when the thread enters `syscall`.
    pub fn arg_for(&self, syscall: &str, carg: usize) -> Option<usize> {
        self.targets
            .iter()
            .find(|t| t.syscall == syscall)
            .and_then(|t| t.args.get(carg).copied())
    }
}

const fn path(name: &'static str, index: usize) -> CArg {
    CArg {
        name,
        index,
        kind: ValueKind::Path,
    }
}

const fn t(syscall: &'static str, args: &'static [usize]) -> Target {
    Target { syscall, args }
}

const P0: &[CArg] = &[path("path", 0)];
const EXECVE: &[CArg] = &[
    path("path", 0),
    CArg {
        name: "argv",
        index: 1,
        kind: ValueKind::Argv,
    },
];
const EXECVEAT: &[CArg] = &[
    path("path", 1),
    CArg {
        name: "argv",
        index: 2,
        kind: ValueKind::Argv,
    },
];
const P1: &[CArg] = &[path("path", 1)];
const P2: &[CArg] = &[path("path", 2)];
const OLD_NEW_01: &[CArg] = &[path("old", 0), path("new", 1)];
const OLD_NEW_13: &[CArg] = &[path("old", 1), path("new", 3)];
const SYMLINKAT: &[CArg] = &[path("target", 0), path("path", 2)];
const MOUNT: &[CArg] = &[path("source", 0), path("target", 1), path("fstype", 2)];
const ADDR1: &[CArg] = &[CArg {
    name: "addr",
    index: 1,
    kind: ValueKind::SockAddr,
}];

const OPEN: &[Target] = &[t("openat", &[1]), t("open", &[0])];
const OPENAT: &[Target] = &[t("openat", &[1])];
const CREAT: &[Target] = &[t("creat", &[0]), t("openat", &[1]), t("open", &[0])];
const STAT: &[Target] = &[
    t("newfstatat", &[1]),
    t("statx", &[1]),
    t("stat", &[0]),
    t("lstat", &[0]),
];
const FSTATAT: &[Target] = &[t("newfstatat", &[1]), t("statx", &[1])];
const ACCESS: &[Target] = &[
    t("access", &[0]),
    t("faccessat", &[1]),
    t("faccessat2", &[1]),
];
const FACCESSAT: &[Target] = &[t("faccessat", &[1]), t("faccessat2", &[1])];
const RENAME: &[Target] = &[
    t("rename", &[0, 1]),
    t("renameat", &[1, 3]),
    t("renameat2", &[1, 3]),
];
const RENAMEAT: &[Target] = &[t("renameat", &[1, 3]), t("renameat2", &[1, 3])];
const LINK: &[Target] = &[t("link", &[0, 1]), t("linkat", &[1, 3])];
const SYMLINK: &[Target] = &[t("symlink", &[0, 1]), t("symlinkat", &[0, 2])];

use Set::{Lookups, Names};

const fn f(
    func: &'static str,
    set: Set,
    args: &'static [CArg],
    targets: &'static [Target],
) -> ProbeFn {
    ProbeFn {
        func,
        set,
        args,
        targets,
    }
}

/// Every probed function. Order matters only for naming: the first name of an address
/// names its probe.
pub const FUNCTIONS: &[ProbeFn] = &[
    // open family (glibc, musl; the _nocancel ones are glibc's internal opens, reached by
    // fopen, opendir, and the loader-independent parts of libc).
    f("open64", Names, P0, OPEN),
    f("open", Names, P0, OPEN),
    f("__open64_2", Names, P0, OPEN),
    f("__open_2", Names, P0, OPEN),
    f("__open64_nocancel", Names, P0, OPEN),
    f("__open_nocancel", Names, P0, OPEN),
    f("__libc_open64", Names, P0, OPEN),
    // opendir's own openat is glibc-internal (not exported): probe opendir itself.
    f("opendir", Names, P0, &[t("openat", &[1]), t("open", &[0])]),
    f("openat64", Names, P1, OPENAT),
    f("openat", Names, P1, OPENAT),
    f("__openat64_2", Names, P1, OPENAT),
    f("__openat_2", Names, P1, OPENAT),
    f("creat64", Names, P0, CREAT),
    f("creat", Names, P0, CREAT),
    // exec
    f("execve", Names, EXECVE, &[t("execve", &[0, 1])]),
    f("execveat", Names, EXECVEAT, &[t("execveat", &[1, 2])]),
    // sockets
    f("connect", Names, ADDR1, &[t("connect", &[1])]),
    f("__connect", Names, ADDR1, &[t("connect", &[1])]),
    f("bind", Names, ADDR1, &[t("bind", &[1])]),
    // names created, changed, removed
    f(
        "unlink",
        Names,
        P0,
        &[t("unlink", &[0]), t("unlinkat", &[1])],
    ),
    f("unlinkat", Names, P1, &[t("unlinkat", &[1])]),
    f("rmdir", Names, P0, &[t("rmdir", &[0]), t("unlinkat", &[1])]),
    f("rename", Names, OLD_NEW_01, RENAME),
    f("renameat", Names, OLD_NEW_13, RENAMEAT),
    f("renameat2", Names, OLD_NEW_13, RENAMEAT),
    f("mkdir", Names, P0, &[t("mkdir", &[0]), t("mkdirat", &[1])]),
    f("mkdirat", Names, P1, &[t("mkdirat", &[1])]),
    f("mknod", Names, P0, &[t("mknod", &[0]), t("mknodat", &[1])]),
    f("mknodat", Names, P1, &[t("mknodat", &[1])]),
    f("link", Names, OLD_NEW_01, LINK),
    f("linkat", Names, OLD_NEW_13, &[t("linkat", &[1, 3])]),
    f("symlink", Names, OLD_NEW_01, SYMLINK),
    f("symlinkat", Names, SYMLINKAT, &[t("symlinkat", &[0, 2])]),
    f("chdir", Names, P0, &[t("chdir", &[0])]),
    f("chroot", Names, P0, &[t("chroot", &[0])]),
    f("truncate64", Names, P0, &[t("truncate", &[0])]),
    f("truncate", Names, P0, &[t("truncate", &[0])]),
    f("chmod", Names, P0, &[t("chmod", &[0]), t("fchmodat", &[1])]),
    f(
        "fchmodat",
        Names,
        P1,
        &[t("fchmodat", &[1]), t("fchmodat2", &[1])],
    ),
    f("chown", Names, P0, &[t("chown", &[0]), t("fchownat", &[1])]),
    f(
        "lchown",
        Names,
        P0,
        &[t("lchown", &[0]), t("fchownat", &[1])],
    ),
    f("fchownat", Names, P1, &[t("fchownat", &[1])]),
    f("mount", Names, MOUNT, &[t("mount", &[0, 1, 2])]),
    f("umount2", Names, P0, &[t("umount2", &[0])]),
    f("umount", Names, P0, &[t("umount2", &[0])]),
    // lookups: frequent, probed on request
    f("stat64", Lookups, P0, STAT),
    f("stat", Lookups, P0, STAT),
    f("lstat64", Lookups, P0, STAT),
    f("lstat", Lookups, P0, STAT),
    f("__xstat64", Lookups, P1, STAT),
    f("__xstat", Lookups, P1, STAT),
    f("__lxstat64", Lookups, P1, STAT),
    f("__lxstat", Lookups, P1, STAT),
    f("fstatat64", Lookups, P1, FSTATAT),
    f("fstatat", Lookups, P1, FSTATAT),
    f("__fxstatat64", Lookups, P2, FSTATAT),
    f("__fxstatat", Lookups, P2, FSTATAT),
    f("statx", Lookups, P1, &[t("statx", &[1])]),
    f("access", Lookups, P0, ACCESS),
    f("euidaccess", Lookups, P0, ACCESS),
    f("eaccess", Lookups, P0, ACCESS),
    f("faccessat", Lookups, P1, FACCESSAT),
    f(
        "readlink",
        Lookups,
        P0,
        &[t("readlink", &[0]), t("readlinkat", &[1])],
    ),
    f("readlinkat", Lookups, P1, &[t("readlinkat", &[1])]),
    f("statfs64", Lookups, P0, &[t("statfs", &[0])]),
    f("statfs", Lookups, P0, &[t("statfs", &[0])]),
    f("utimensat", Lookups, P1, &[t("utimensat", &[1])]),
    f(
        "inotify_add_watch",
        Lookups,
        P1,
        &[t("inotify_add_watch", &[1])],
    ),
];

/// The functions of the chosen sets.
pub fn selected(lookups: bool) -> impl Iterator<Item = &'static ProbeFn> {
    FUNCTIONS
        .iter()
        .filter(move |f| f.set == Set::Names || lookups)
}

/// Every system call some selected function maps to, sorted, once each.
pub fn selected_syscalls(lookups: bool) -> Vec<&'static str> {
    let mut v: Vec<&str> = selected(lookups)
        .flat_map(|f| f.targets.iter().map(|t| t.syscall))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// What a probe placed on a `syscall` instruction making `sc` fetches: every
/// (syscall argument index, field name, kind) some selected function's entry maps to that
/// call, first entry's name kept. Empty for calls with no such argument.
pub fn syscall_values(sc: &str, lookups: bool) -> Vec<(usize, &'static str, ValueKind)> {
    let mut out: Vec<(usize, &'static str, ValueKind)> = Vec::new();
    for f in selected(lookups) {
        let Some(t) = f.targets.iter().find(|t| t.syscall == sc) else {
            continue;
        };
        for (carg, &arg) in f.args.iter().zip(t.args) {
            if !out.iter().any(|v| v.0 == arg) {
                out.push((arg, carg.name, carg.kind));
            }
        }
    }
    out.sort_by_key(|v| v.0);
    out
}

/// The catalog entry of a function name.
pub fn by_name(func: &str) -> Option<&'static ProbeFn> {
    FUNCTIONS.iter().find(|f| f.func == func)
}

/// What a post-syscall probe reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostKind {
    /// `int[2]` of file descriptors, fetched as one 8-byte word (two native-endian i32).
    FdPair,
}

/// A C library function probed right after its `syscall` instruction(s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostFn {
    pub func: &'static str,
    pub set: Set,
    /// The system calls the function may make (which one a site makes is read from the
    /// number it loads: glibc's `pipe` makes `pipe2`).
    pub syscalls: &'static [&'static str],
    /// The syscall argument index of the array, the same for every call in `syscalls`.
    pub arg: usize,
    pub kind: PostKind,
}

const fn post(func: &'static str, syscalls: &'static [&'static str], arg: usize) -> PostFn {
    PostFn {
        func,
        set: Set::Names,
        syscalls,
        arg,
        kind: PostKind::FdPair,
    }
}

const PIPE: &[&str] = &["pipe", "pipe2"];

/// Every function probed after its system call.
pub const POST_FUNCTIONS: &[PostFn] = &[
    post("pipe", PIPE, 0),
    post("__pipe", PIPE, 0),
    post("pipe2", &["pipe2"], 0),
    post("__pipe2", &["pipe2"], 0),
    post("socketpair", &["socketpair"], 3),
    post("__socketpair", &["socketpair"], 3),
];

/// The post-syscall functions of the chosen sets.
pub fn post_selected(lookups: bool) -> impl Iterator<Item = &'static PostFn> {
    POST_FUNCTIONS
        .iter()
        .filter(move |f| f.set == Set::Names || lookups)
}

/// The post-syscall catalog entry of a function name.
pub fn post_by_name(func: &str) -> Option<&'static PostFn> {
    POST_FUNCTIONS.iter().find(|f| f.func == func)
}

/// The register that holds system call argument `index` when the thread is back in user
/// space right after the system call instruction. x86_64: `%di %si %dx %r10 %r8 %r9` (the
/// kernel preserves them; only `%ax`, `%cx`, `%r11` change). aarch64: `x0` carries the
/// return value, so argument 0 is gone; `%x1`…`%x5` survive.
pub fn syscall_arg_register(arch: crate::syscalls::Arch, index: usize) -> Option<&'static str> {
    use crate::syscalls::Arch;
    const X86_64: [&str; 6] = ["%di", "%si", "%dx", "%r10", "%r8", "%r9"];
    const AARCH64: [Option<&str>; 6] = [
        None,
        Some("%x1"),
        Some("%x2"),
        Some("%x3"),
        Some("%x4"),
        Some("%x5"),
    ];
    match arch {
        Arch::X86_64 => X86_64.get(index).copied(),
        Arch::Aarch64 => AARCH64.get(index).copied().flatten(),
        Arch::I386 => None,
    }
}

/// The register holding the system call's return value right after it.
pub fn syscall_ret_register(arch: crate::syscalls::Arch) -> Option<&'static str> {
    use crate::syscalls::Arch;
    match arch {
        Arch::X86_64 => Some("%ax"),
        Arch::Aarch64 => Some("%x0"),
        Arch::I386 => None,
    }
}

/// The argument registers of the C calling convention, as uprobe fetch args name them.
/// x86_64 System V: `%di %si %dx %cx %r8 %r9`; aarch64 AAPCS64: `%x0`…`%x5`.
pub fn arg_register(arch: crate::syscalls::Arch, index: usize) -> Option<&'static str> {
    use crate::syscalls::Arch;
    const X86_64: [&str; 6] = ["%di", "%si", "%dx", "%cx", "%r8", "%r9"];
    const AARCH64: [&str; 6] = ["%x0", "%x1", "%x2", "%x3", "%x4", "%x5"];
    match arch {
        Arch::X86_64 => X86_64.get(index).copied(),
        Arch::Aarch64 => AARCH64.get(index).copied(),
        // i386 passes C arguments on the stack.
        Arch::I386 => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{Arch, number};

    #[test]
    fn every_target_is_a_real_x86_64_syscall_with_one_index_per_arg() {
        for f in FUNCTIONS {
            assert!(!f.targets.is_empty(), "{}", f.func);
            for t in f.targets {
                assert!(
                    number(Arch::X86_64, t.syscall).is_some(),
                    "{}: unknown syscall {}",
                    f.func,
                    t.syscall
                );
                assert_eq!(t.args.len(), f.args.len(), "{} → {}", f.func, t.syscall);
                assert!(t.args.iter().all(|&a| a < 6));
            }
            assert!(f.args.iter().all(|a| a.index < 6));
        }
    }

    #[test]
    fn names_are_unique_and_sets_split_as_designed() {
        let mut seen = std::collections::HashSet::new();
        for f in FUNCTIONS {
            assert!(seen.insert(f.func), "{} twice", f.func);
        }
        assert_eq!(by_name("open64").unwrap().set, Set::Names);
        assert_eq!(by_name("stat").unwrap().set, Set::Lookups);
        assert!(selected(false).all(|f| f.set == Set::Names));
        assert!(selected(true).count() > selected(false).count());
    }

    #[test]
    fn syscall_sites_fetch_the_catalog_arguments() {
        assert_eq!(
            syscall_values("openat", false),
            vec![(1, "path", ValueKind::Path)]
        );
        assert_eq!(
            syscall_values("execve", false),
            vec![(0, "path", ValueKind::Path), (1, "argv", ValueKind::Argv)]
        );
        assert_eq!(syscall_values("renameat2", false).len(), 2);
        assert!(syscall_values("newfstatat", false).is_empty());
        assert_eq!(syscall_values("newfstatat", true).len(), 1);
        assert!(syscall_values("read", true).is_empty());
    }

    #[test]
    fn open64_path_is_openat_name() {
        let f = by_name("open64").unwrap();
        assert_eq!(f.arg_for("openat", 0), Some(1));
        assert_eq!(f.arg_for("open", 0), Some(0));
        assert_eq!(f.arg_for("read", 0), None);
        let r = by_name("rename").unwrap();
        assert_eq!(r.arg_for("renameat2", 1), Some(3));
        assert_eq!(arg_register(Arch::X86_64, 1), Some("%si"));
    }

    #[test]
    fn post_functions_name_real_calls_and_the_kernel_argument_register() {
        let mut seen = std::collections::HashSet::new();
        for f in POST_FUNCTIONS {
            assert!(seen.insert(f.func), "{} twice", f.func);
            assert!(by_name(f.func).is_none(), "{} in both lists", f.func);
            for s in f.syscalls {
                assert!(number(Arch::X86_64, s).is_some(), "{s}");
            }
            assert!(syscall_arg_register(Arch::X86_64, f.arg).is_some());
        }
        // socketpair's sv is the 4th argument: %rcx in C, %r10 at the syscall.
        let sp = post_by_name("socketpair").unwrap();
        assert_eq!(sp.arg, 3);
        assert_eq!(syscall_arg_register(Arch::X86_64, sp.arg), Some("%r10"));
        assert_eq!(arg_register(Arch::X86_64, sp.arg), Some("%cx"));
        assert_eq!(post_by_name("pipe").unwrap().syscalls, &["pipe", "pipe2"]);
        assert_eq!(syscall_arg_register(Arch::Aarch64, 0), None);
        assert_eq!(syscall_ret_register(Arch::X86_64), Some("%ax"));
        assert!(post_selected(false).count() == POST_FUNCTIONS.len());
    }
}
