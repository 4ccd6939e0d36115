//! What can go wrong reading a .scap file, as a value with the byte offset.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScapError {
    /// Byte offset of the problem in the (decompressed) capture.
    pub offset: u64,
    pub what: String,
}

impl ScapError {
    pub fn at(offset: usize, what: impl Into<String>) -> ScapError {
        ScapError {
            offset: offset as u64,
            what: what.into(),
        }
    }
}

impl fmt::Display for ScapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sysdig capture, byte {}: {}", self.offset, self.what)
    }
}

impl std::error::Error for ScapError {}
