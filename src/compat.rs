//! Old-kernel paths, forced on a new kernel.
//!
//! tpdig detects kernel features by trying them, never by version. Every fallback it can
//! take must also be reachable on demand, so that tests on a modern kernel exercise the code
//! an old kernel would run. The switches come from `TPDIG_COMPAT` (comma-separated) and the
//! hidden `--compat` flag; both feed one `Compat` value that the engine consults.

use std::fmt;

/// Which fallbacks to force. `Default` forces none: every feature is probed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Compat {
    /// Do not ask for `use_clockid`; calibrate perf's clock against CLOCK_REALTIME instead.
    pub no_clockid: bool,
    /// Use the original 64-byte `perf_event_attr` (PERF_ATTR_SIZE_VER0).
    pub attr_v0: bool,
    /// Look for tracefs under debugfs (/sys/kernel/debug/tracing) before /sys/kernel/tracing.
    pub prefer_debugfs: bool,
    /// Do not use PERF_EVENT_IOC_SET_FILTER (kernels built without it, or filters rejected).
    pub no_set_filter: bool,
    /// Do not share one ring per CPU with PERF_EVENT_IOC_SET_OUTPUT: one ring per event.
    pub no_set_output: bool,
    /// Do not use write_backward / PAUSE_OUTPUT for overwrite rings.
    pub no_write_backward: bool,
    /// Use the 2.6.32 event names syscalls:sys_enter/sys_exit instead of raw_syscalls.
    pub old_syscall_names: bool,
    /// Carry system calls on raw_syscalls even when the filter limits evt.type.
    pub raw_syscalls: bool,
    /// Carry system calls on the per-syscall tracepoints (syscalls:sys_enter_NAME) even
    /// when the filter does not limit evt.type (then every call's pair is opened).
    pub per_syscall: bool,
    /// Do not create kprobe events (the kernel tier of the user-memory sources).
    pub no_kprobes: bool,
    /// Kprobes on the `__x64_sys_*` pt_regs wrappers only (4.17+ convention).
    pub kprobe_pt_regs: bool,
    /// Kprobes on functions taking register arguments only (`sys_*`, or one call in).
    pub kprobe_registers: bool,
    /// Kprobes fetch user strings with `string` and plain dereferences (before 5.5).
    pub kprobe_string: bool,
    /// Do not create event probes (tier 2 of the user-memory sources).
    pub no_eprobes: bool,
    /// Do not create uprobes (tier 3 of the user-memory sources).
    pub no_uprobes: bool,
    /// Fetch I/O data as a series of `u64` probe arguments, as kernels without array
    /// fetch types (before 4.x) need.
    pub no_array_fetch: bool,
    /// `-k` without the user stack copy (PERF_SAMPLE_STACK_USER, 3.7+): user frames come
    /// from the kernel's frame-pointer walk only.
    pub no_stack_dump: bool,
    /// Events change no process or fd state (names stay as the start snapshot has them):
    /// for measuring what the state engine costs. Not part of `all`, which is about old
    /// kernels.
    pub no_state: bool,
}

/// The switch names, their meaning, in the order `--help` and the man page list them.
pub const SWITCHES: &[(&str, &str)] = &[
    (
        "no-clockid",
        "calibrate perf's clock instead of using use_clockid",
    ),
    (
        "attr-v0",
        "use the 64-byte perf_event_attr of the first perf kernels",
    ),
    ("debugfs", "prefer tracefs under /sys/kernel/debug/tracing"),
    (
        "no-filter",
        "never install in-kernel filters (PERF_EVENT_IOC_SET_FILTER)",
    ),
    (
        "no-set-output",
        "one ring per event instead of one shared ring per CPU",
    ),
    ("no-write-backward", "no backward-writing overwrite rings"),
    (
        "old-syscall-names",
        "open syscalls:sys_enter/sys_exit (2.6.32 names)",
    ),
    ("no-kprobes", "no kprobe events (the kernel tier of names)"),
    (
        "kprobe-pt-regs",
        "kprobes on the pt_regs syscall wrappers only (__x64_sys_*, 4.17+)",
    ),
    (
        "kprobe-registers",
        "kprobes on functions with register arguments only (sys_*, or one call in)",
    ),
    (
        "raw-syscalls",
        "carry system calls on raw_syscalls, even when the filter limits evt.type",
    ),
    (
        "per-syscall",
        "carry system calls on the per-syscall tracepoints, even without a filter on evt.type",
    ),
    (
        "kprobe-string",
        "kprobes fetch user strings as kernels before 5.5 must (string, no +u)",
    ),
    (
        "no-array-fetch",
        "copy I/O data as a series of u64 probe arguments (no array fetch types)",
    ),
    (
        "no-stack-dump",
        "-k: frame-pointer user stacks only, no user stack copy to unwind with .eh_frame",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSwitch(pub String);

impl fmt::Display for UnknownSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = SWITCHES.iter().map(|(n, _)| *n).collect();
        write!(
            f,
            "unknown compat switch '{}' (known: {}, all)",
            self.0,
            names.join(", ")
        )
    }
}

impl Compat {
    /// Parses a comma-separated list such as `no-clockid,attr-v0`. `all` sets every switch.
    pub fn parse(list: &str) -> Result<Compat, UnknownSwitch> {
        let mut c = Compat::default();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "no-clockid" => c.no_clockid = true,
                "attr-v0" => c.attr_v0 = true,
                "debugfs" => c.prefer_debugfs = true,
                "no-filter" => c.no_set_filter = true,
                "no-set-output" => c.no_set_output = true,
                "no-write-backward" => c.no_write_backward = true,
                "old-syscall-names" => c.old_syscall_names = true,
                "raw-syscalls" => c.raw_syscalls = true,
                "per-syscall" => c.per_syscall = true,
                "no-kprobes" => c.no_kprobes = true,
                "kprobe-pt-regs" => c.kprobe_pt_regs = true,
                "kprobe-registers" => c.kprobe_registers = true,
                "kprobe-string" => c.kprobe_string = true,
                "no-eprobes" => c.no_eprobes = true,
                "no-uprobes" => c.no_uprobes = true,
                "no-array-fetch" => c.no_array_fetch = true,
                "no-stack-dump" => c.no_stack_dump = true,
                "no-state" => c.no_state = true,
                "all" => {
                    c = Compat {
                        no_clockid: true,
                        attr_v0: true,
                        prefer_debugfs: true,
                        no_set_filter: true,
                        no_set_output: true,
                        no_write_backward: true,
                        old_syscall_names: true,
                        raw_syscalls: true,
                        per_syscall: c.per_syscall,
                        no_kprobes: true,
                        kprobe_pt_regs: false,
                        kprobe_registers: false,
                        kprobe_string: false,
                        no_eprobes: true,
                        no_uprobes: true,
                        no_array_fetch: true,
                        no_stack_dump: true,
                        no_state: c.no_state,
                    }
                }
                other => return Err(UnknownSwitch(other.to_string())),
            }
        }
        Ok(c)
    }

    /// Union of two sets of switches (environment plus command line).
    pub fn merge(self, o: Compat) -> Compat {
        Compat {
            no_clockid: self.no_clockid || o.no_clockid,
            attr_v0: self.attr_v0 || o.attr_v0,
            prefer_debugfs: self.prefer_debugfs || o.prefer_debugfs,
            no_set_filter: self.no_set_filter || o.no_set_filter,
            no_array_fetch: self.no_array_fetch || o.no_array_fetch,
            no_stack_dump: self.no_stack_dump || o.no_stack_dump,
            no_set_output: self.no_set_output || o.no_set_output,
            no_write_backward: self.no_write_backward || o.no_write_backward,
            old_syscall_names: self.old_syscall_names || o.old_syscall_names,
            raw_syscalls: self.raw_syscalls || o.raw_syscalls,
            per_syscall: self.per_syscall || o.per_syscall,
            no_kprobes: self.no_kprobes || o.no_kprobes,
            kprobe_pt_regs: self.kprobe_pt_regs || o.kprobe_pt_regs,
            kprobe_registers: self.kprobe_registers || o.kprobe_registers,
            kprobe_string: self.kprobe_string || o.kprobe_string,
            no_eprobes: self.no_eprobes || o.no_eprobes,
            no_uprobes: self.no_uprobes || o.no_uprobes,
            no_state: self.no_state || o.no_state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_rejects_unknown_words() {
        let c = Compat::parse("no-clockid, attr-v0").unwrap();
        assert!(c.no_clockid && c.attr_v0 && !c.prefer_debugfs);
        assert_eq!(Compat::parse("").unwrap(), Compat::default());
        assert!(Compat::parse("all").unwrap().no_set_output);
        // `all` is about old kernels; the state switch only measures.
        assert!(!Compat::parse("all").unwrap().no_state);
        assert!(Compat::parse("no-state,all").unwrap().no_state);
        assert!(Compat::parse("all,no-state").unwrap().no_state);
        let e = Compat::parse("no-clockid,bogus").unwrap_err();
        assert!(e.to_string().contains("'bogus'"));
    }
}
