//! Errors that end a run, and the exit code each one maps to.
//!
//! Users script around tpdig, so each class of failure they can meet has its own exit code
//! (listed in the man page, EXIT STATUS). Errors are values carrying the context a user needs
//! to act: which tracepoint, which CPU, which path.

use std::fmt;

/// Exit codes. Keep in step with man/tpdig.8 (EXIT STATUS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// 1: anything not covered below (I/O errors, kernel errors not classified).
    Runtime = 1,
    /// 2: bad command line or bad user input.
    Usage = 2,
    /// 3: not root and no CAP_PERFMON, or perf_event_paranoid forbids system-wide tracing.
    Permission = 3,
    /// 4: tracefs is not mounted and cannot be mounted, or is unreadable.
    Tracefs = 4,
    /// 5: none of the tracepoints could be opened on this kernel.
    NoTracepoints = 5,
    /// 6: too many open files for CPUs × events, and RLIMIT_NOFILE cannot be raised.
    TooManyFiles = 6,
    /// 7: a capture file that cannot be read completely (not a capture, unsupported
    /// version, damaged or truncated); everything readable was still shown.
    BadInput = 7,
    /// 0, silently: the output was closed (`tpdig -l | head`).
    Quiet = 0,
}

#[derive(Debug)]
pub struct AppError {
    pub kind: ExitKind,
    pub message: String,
}

impl AppError {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> AppError {
        AppError {
            kind,
            message: message.into(),
        }
    }

    pub fn runtime(message: impl Into<String>) -> AppError {
        AppError::new(ExitKind::Runtime, message)
    }

    pub fn usage(message: impl Into<String>) -> AppError {
        AppError::new(ExitKind::Usage, message)
    }

    pub fn exit_code(&self) -> i32 {
        self.kind as i32
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

pub type AppResult<T> = Result<T, AppError>;
