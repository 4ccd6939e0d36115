//! sysdig's flag tables and how a kernel value gets sysdig's names.
//!
//! sysdig's driver re-encodes every flag argument into its own "PPM" bits
//! (`O_CLOEXEC` is 0x1000 there, 0x80000 in the kernel) and its printer walks the
//! table in table order. tpdig shows the **kernel** value, which is what the
//! syscall received and what `man 2` documents, with sysdig's names next to it:
//! `flags=524288(O_RDONLY|O_CLOEXEC)` where sysdig prints `4097(O_RDONLY|O_CLOEXEC)`.
//! The names are obtained by converting to PPM bits first and then running sysdig's
//! own naming walk, so the names and their order are exactly sysdig's;
//! [`FlagTable::ppm`] exposes the PPM value for a sysdig-compatible number.

/// How kernel values map onto a table's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagKind {
    /// A set of bits: every entry whose kernel bits are all set contributes.
    Bits,
    /// An enumeration: the entry whose kernel value equals the value.
    Enum,
    /// open(2) flags: the access mode (low two bits) is an enumeration
    /// (`O_RDONLY` is 0 in the kernel, a bit in sysdig), the rest are bits.
    Open,
}

/// One name of a sysdig flag table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagEntry {
    pub name: &'static str,
    /// sysdig's (PPM) value.
    pub ppm: u32,
    /// The kernel's value of the same name, `None` when this kernel has none.
    pub kernel: Option<u64>,
}

/// A sysdig flag table, entries in sysdig's order (the order names print in).
#[derive(Debug)]
pub struct FlagTable {
    pub name: &'static str,
    pub kind: FlagKind,
    pub entries: &'static [FlagEntry],
}

impl FlagTable {
    /// sysdig's encoding of kernel value `k`; kernel bits without a sysdig name
    /// are dropped, as sysdig's driver drops them. An enumeration value with no
    /// entry is `None` (no name is better than the name of 0).
    pub fn ppm_opt(&self, k: u64) -> Option<u32> {
        match self.kind {
            FlagKind::Enum => self
                .entries
                .iter()
                .find(|e| e.kernel == Some(k))
                .map(|e| e.ppm),
            _ => Some(self.ppm(k)),
        }
    }

    /// [`FlagTable::ppm_opt`] with 0 for an unknown enumeration value.
    pub fn ppm(&self, k: u64) -> u32 {
        match self.kind {
            FlagKind::Enum => self.ppm_opt(k).unwrap_or(0),
            FlagKind::Bits => self.bits(k),
            FlagKind::Open => {
                let acc = match k & 3 {
                    0 => self.ppm_of("O_RDONLY"),
                    1 => self.ppm_of("O_WRONLY"),
                    _ => self.ppm_of("O_RDWR"),
                };
                acc | self.bits(k & !3)
            }
        }
    }

    fn ppm_of(&self, name: &str) -> u32 {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map_or(0, |e| e.ppm)
    }

    fn bits(&self, k: u64) -> u32 {
        let mut r = 0;
        for e in self.entries {
            if let Some(kv) = e.kernel
                && kv != 0
                && k & kv == kv
                // the access-mode names of open are handled by the caller
                && !(self.kind == FlagKind::Open && kv <= 3)
            {
                r |= e.ppm;
            }
        }
        r
    }

    /// Appends sysdig's names for PPM value `v` (sysdig 0.29's walk: an entry
    /// equal to the whole value ends the walk with that name; otherwise every
    /// entry whose bits are all still set is named and its bits cleared; a zero
    /// entry names only a zero value). Appends nothing when no name matches.
    pub fn names(&self, v: u32, out: &mut String) {
        let mut rest = v;
        let mut sep = "";
        for e in self.entries {
            if e.ppm == v {
                out.push_str(sep);
                out.push_str(e.name);
                return;
            }
            if (e.ppm == 0 && v == 0) || (e.ppm != 0 && rest != 0 && rest & e.ppm == e.ppm) {
                out.push_str(sep);
                out.push_str(e.name);
                sep = "|";
                rest &= !e.ppm;
            }
        }
    }

    /// sysdig's names for kernel value `k`.
    pub fn names_of_kernel(&self, k: u64) -> String {
        let mut s = String::new();
        if let Some(v) = self.ppm_opt(k) {
            self.names(v, &mut s);
        }
        s
    }
}

/// poll(2) event bits → sysdig's (kernel bit, PPM bit, name), in sysdig's order.
pub const POLL: [(u16, u16, &str); 11] = [
    (0x001, 1 << 0, "POLLIN"),
    (0x002, 1 << 1, "POLLPRI"),
    (0x004, 1 << 2, "POLLOUT"),
    (0x2000, 1 << 3, "POLLRDHUP"),
    (0x008, 1 << 4, "POLLERR"),
    (0x010, 1 << 5, "POLLHUP"),
    (0x020, 1 << 6, "POLLNVAL"),
    (0x040, 1 << 7, "POLLRDNORM"),
    (0x080, 1 << 8, "POLLRDBAND"),
    (0x100, 1 << 9, "POLLWRNORM"),
    (0x200, 1 << 10, "POLLWRBAND"),
];

/// sysdig's encoding of kernel poll events.
pub fn poll_ppm(k: u16) -> u16 {
    POLL.iter()
        .filter(|(kb, _, _)| k & kb != 0)
        .fold(0, |a, (_, p, _)| a | p)
}

/// Signal names as sysdig prints them (x86_64/asm-generic numbering).
pub fn signal_name(sig: u64) -> Option<&'static str> {
    const N: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    let i = usize::try_from(sig).ok()?.checked_sub(1)?;
    N.get(i).copied()
}

#[cfg(test)]
mod tests {
    use super::super::gen_flags::*;
    use super::*;

    #[test]
    fn open_flags_kernel_to_sysdig() {
        // O_RDONLY|O_CLOEXEC: kernel 0x80000, sysdig 4097.
        assert_eq!(FILE_FLAGS.ppm(0x80000), 4097);
        assert_eq!(FILE_FLAGS.names_of_kernel(0x80000), "O_RDONLY|O_CLOEXEC");
        assert_eq!(FILE_FLAGS.ppm(0), 1);
        assert_eq!(FILE_FLAGS.names_of_kernel(0), "O_RDONLY");
        // O_WRONLY|O_CREAT|O_TRUNC = 0x241
        assert_eq!(
            FILE_FLAGS.names_of_kernel(0x241),
            "O_TRUNC|O_CREAT|O_WRONLY"
        );
        assert_eq!(FILE_FLAGS.names_of_kernel(2), "O_RDWR");
        // O_DIRECTORY|O_NONBLOCK|O_CLOEXEC (what opendir passes): 0x90800
        assert_eq!(
            FILE_FLAGS.names_of_kernel(0x90800),
            "O_DIRECTORY|O_NONBLOCK|O_RDONLY|O_CLOEXEC"
        );
    }

    #[test]
    fn mmap_and_prot() {
        // Kernel MAP_PRIVATE|MAP_ANONYMOUS = 0x22, sysdig 10.
        assert_eq!(MMAP_FLAGS.ppm(0x22), 10);
        assert_eq!(
            MMAP_FLAGS.names_of_kernel(0x22),
            "MAP_PRIVATE|MAP_ANONYMOUS"
        );
        assert_eq!(MMAP_FLAGS.ppm(0x812), 1030);
        assert_eq!(
            MMAP_FLAGS.names_of_kernel(0x812),
            "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE"
        );
        assert_eq!(PROT_FLAGS.names_of_kernel(5), "PROT_READ|PROT_EXEC");
        assert_eq!(PROT_FLAGS.names_of_kernel(0), "PROT_NONE");
    }

    #[test]
    fn enums_and_small_tables() {
        assert_eq!(SOCKET_FAMILIES.names_of_kernel(2), "AF_INET");
        assert_eq!(SOCKET_FAMILIES.names_of_kernel(1), "AF_LOCAL");
        assert_eq!(SOCKET_FAMILIES.names_of_kernel(10), "AF_INET6");
        assert_eq!(ACCESS_FLAGS.names_of_kernel(0), "F_OK");
        assert_eq!(ACCESS_FLAGS.names_of_kernel(4), "R_OK");
        assert_eq!(ACCESS_FLAGS.names_of_kernel(6), "R_OK|W_OK");
        assert_eq!(LSEEK_WHENCE.names_of_kernel(2), "SEEK_END");
        assert_eq!(SHUTDOWN_HOW.names_of_kernel(1), "SHUT_WR");
        assert_eq!(FUTEX_OPERATIONS.names_of_kernel(128), "FUTEX_PRIVATE_FLAG");
        assert_eq!(
            FUTEX_OPERATIONS.names_of_kernel(129),
            "FUTEX_PRIVATE_FLAG|FUTEX_WAKE"
        );
        // F_SETFD is 2 in the kernel; sysdig's PPM numbering differs.
        assert_eq!(FCNTL_COMMANDS.names_of_kernel(2), "F_SETFD");
        assert_eq!(FCNTL_COMMANDS.names_of_kernel(1030), "F_DUPFD_CLOEXEC");
        assert_eq!(RLIMIT_RESOURCES.names_of_kernel(7), "RLIMIT_NOFILE");
        assert_eq!(PTRACE_REQUESTS.names_of_kernel(16), "PTRACE_ATTACH");
        assert_eq!(UNLINKAT_FLAGS.names_of_kernel(0x200), "AT_REMOVEDIR");
        assert_eq!(
            CLONE_FLAGS.names_of_kernel(0x100 | 0x400),
            "CLONE_FILES|CLONE_VM"
        );
    }

    #[test]
    fn unknown_values_have_no_names() {
        assert_eq!(SOCKET_FAMILIES.names_of_kernel(999), "");
        assert_eq!(LSEEK_WHENCE.names_of_kernel(77), "");
        assert_eq!(SHUTDOWN_HOW.names_of_kernel(9), "");
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!(signal_name(64), None);
        assert_eq!(poll_ppm(0x1 | 0x2000), 1 | 8);
    }
}
