//! Errors of the perf engine: which operation, on which tracepoint and CPU, why, and
//! what the user can do about it — on one line.
//!
//! Callers branch on `kind()` (a missing tracepoint is skipped, a permission problem ends
//! the run with advice); the hint is computed when the error is made, while the engine
//! still knows the numbers (fds needed, perf_event_paranoid, buffer size).

use std::fmt;
use std::io;

/// The operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Open,
    SetOutput,
    SetFilter,
    Enable,
    Mmap,
    Poll,
    OnlineCpus,
    FdLimit,
    Calibrate,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Open => "perf_event_open",
            Op::SetOutput => "PERF_EVENT_IOC_SET_OUTPUT",
            Op::SetFilter => "PERF_EVENT_IOC_SET_FILTER",
            Op::Enable => "PERF_EVENT_IOC_ENABLE",
            Op::Mmap => "mmap of the perf ring",
            Op::Poll => "poll on the perf rings",
            Op::OnlineCpus => "reading /sys/devices/system/cpu/online",
            Op::FdLimit => "RLIMIT_NOFILE",
            Op::Calibrate => "clock calibration",
        }
    }
}

/// What the caller should do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not allowed: needs root/CAP_PERFMON, a lower perf_event_paranoid, or mlock room.
    Permission,
    /// The tracepoint does not exist on this kernel (or the kernel refuses it as invalid).
    Missing,
    /// Out of file descriptors.
    TooManyFiles,
    Other,
}

/// A failed perf operation with its context.
#[derive(Debug)]
pub struct PerfError {
    pub op: Op,
    pub tracepoint: Option<String>,
    pub cpu: Option<u32>,
    pub source: io::Error,
    /// Advice for the user, shown in parentheses after the system's message.
    pub hint: Option<String>,
}

impl PerfError {
    pub fn new(op: Op, source: io::Error) -> PerfError {
        PerfError {
            op,
            tracepoint: None,
            cpu: None,
            source,
            hint: None,
        }
    }

    pub fn tracepoint(mut self, name: &str) -> PerfError {
        self.tracepoint = Some(name.to_string());
        self
    }

    pub fn cpu(mut self, cpu: u32) -> PerfError {
        self.cpu = Some(cpu);
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> PerfError {
        self.hint = Some(hint.into());
        self
    }

    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    pub fn kind(&self) -> ErrorKind {
        classify(self.op, self.errno())
    }
}

/// Maps an errno from `op` to what it means for tpdig. EINVAL from perf_event_open on a
/// tracepoint is the kernel's answer for an id it does not know (perf_trace_init), so it
/// counts as missing; everywhere else EINVAL is a plain error.
pub fn classify(op: Op, errno: Option<i32>) -> ErrorKind {
    match errno {
        Some(libc::EACCES) | Some(libc::EPERM) => ErrorKind::Permission,
        Some(libc::EMFILE) | Some(libc::ENFILE) => ErrorKind::TooManyFiles,
        Some(libc::ENOENT) | Some(libc::ENODEV) => ErrorKind::Missing,
        Some(libc::EINVAL) if op == Op::Open => ErrorKind::Missing,
        _ => ErrorKind::Other,
    }
}

/// The system's message for an error without Rust's " (os error N)" suffix.
pub fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

impl fmt::Display for PerfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.name())?;
        if let Some(tp) = &self.tracepoint {
            write!(f, " {tp}")?;
        }
        if let Some(cpu) = self.cpu {
            write!(f, " on cpu {cpu}")?;
        }
        write!(f, ": {}", describe(&self.source))?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PerfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The advice for a permission error from perf_event_open.
pub fn permission_hint(paranoid: Option<i32>) -> String {
    match paranoid {
        Some(p) => format!("need root or CAP_PERFMON; perf_event_paranoid is {p}"),
        None => "need root or CAP_PERFMON".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_clear_line() {
        let e = PerfError::new(Op::Open, io::Error::from_raw_os_error(libc::EACCES))
            .tracepoint("raw_syscalls:sys_enter")
            .cpu(1)
            .hint(permission_hint(Some(2)));
        assert_eq!(
            e.to_string(),
            "perf_event_open raw_syscalls:sys_enter on cpu 1: Permission denied \
             (need root or CAP_PERFMON; perf_event_paranoid is 2)"
        );
        assert_eq!(e.kind(), ErrorKind::Permission);
    }

    #[test]
    fn classification() {
        assert_eq!(classify(Op::Open, Some(libc::EPERM)), ErrorKind::Permission);
        assert_eq!(classify(Op::Open, Some(libc::ENOENT)), ErrorKind::Missing);
        assert_eq!(classify(Op::Open, Some(libc::ENODEV)), ErrorKind::Missing);
        assert_eq!(classify(Op::Open, Some(libc::EINVAL)), ErrorKind::Missing);
        assert_eq!(
            classify(Op::SetFilter, Some(libc::EINVAL)),
            ErrorKind::Other
        );
        assert_eq!(
            classify(Op::Open, Some(libc::EMFILE)),
            ErrorKind::TooManyFiles
        );
        assert_eq!(
            classify(Op::Open, Some(libc::ENFILE)),
            ErrorKind::TooManyFiles
        );
        assert_eq!(classify(Op::Mmap, Some(libc::ENOMEM)), ErrorKind::Other);
        assert_eq!(classify(Op::Poll, None), ErrorKind::Other);
    }
}
