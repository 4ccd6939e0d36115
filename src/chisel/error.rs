//! Errors of a chisel: where in which script, and what. Script errors carry the line and
//! column Rhai reports, so a user goes straight to the spot (`topx.rhai:12:5: ...`).

use std::fmt;

/// What went wrong, which decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChiselErrorKind {
    /// No chisel of that name in the search path (exit 2).
    NotFound,
    /// Missing or malformed chisel arguments (exit 2).
    Args,
    /// The script does not compile (exit 2).
    Syntax,
    /// The script failed while running: a runtime error, the operation limit, a bad
    /// `set_filter` text (exit 1).
    Runtime,
    /// Reading the script or writing its output failed (exit 1).
    Io,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChiselError {
    pub kind: ChiselErrorKind,
    /// The script's file name (`builtin:topfiles_bytes.rhai` for stock chisels).
    pub file: String,
    /// 1-based; 0 when the error has no position.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ChiselError {
    pub fn new(kind: ChiselErrorKind, file: impl Into<String>, message: impl Into<String>) -> Self {
        ChiselError {
            kind,
            file: file.into(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }

    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = line;
        self.column = column;
        self
    }

    /// The process exit code for this error (see man page, EXIT STATUS): 2 when the user
    /// named or called the chisel wrongly or its script does not compile, 1 when it failed
    /// while running.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ChiselErrorKind::NotFound | ChiselErrorKind::Args | ChiselErrorKind::Syntax => 2,
            ChiselErrorKind::Runtime | ChiselErrorKind::Io => 1,
        }
    }
}

impl fmt::Display for ChiselError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

impl std::error::Error for ChiselError {}

impl From<ChiselError> for crate::error::AppError {
    fn from(e: ChiselError) -> Self {
        let kind = match e.exit_code() {
            2 => crate::error::ExitKind::Usage,
            _ => crate::error::ExitKind::Runtime,
        };
        crate::error::AppError::new(kind, format!("chisel {e}"))
    }
}
