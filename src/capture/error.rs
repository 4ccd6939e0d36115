//! Everything that can go wrong reading a capture, as values with byte offsets.
//!
//! Each variant renders as one line a user can act on: where in the file, which block, and
//! what was found. None of them is produced by a panic; the reader and the pure decoders
//! return them for any input.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum CaptureError {
    /// The file does not start with the capture magic. `found` describes the first bytes.
    NotACapture { found: String },
    /// The header's format version is newer than this reader understands.
    UnsupportedVersion { found: u16, supported: u16 },
    /// A block's header or payload does not match its CRC-32.
    Checksum {
        block: u64,
        offset: u64,
        part: &'static str,
    },
    /// The file ends inside a block (or, with `clean_boundary`, after a complete block but
    /// without the End block: the writer was killed). Every complete block before `offset`
    /// has been returned.
    Truncated {
        offset: u64,
        block: u64,
        clean_boundary: bool,
    },
    /// The bytes pass the checksum but do not decode (a writer bug, or a crafted file).
    Corrupt {
        offset: u64,
        block: u64,
        msg: String,
    },
    /// An event whose `common_type` id has no Format block before it.
    UnknownEventFormat { id: u16, block: u64, offset: u64 },
    /// Reading the underlying file failed.
    Io { offset: u64, error: io::Error },
}

impl CaptureError {
    /// Whether the reader can go on after this error (with `skip_bad_blocks`, bad blocks are
    /// skipped; an unknown event format only loses that event).
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            CaptureError::Checksum { .. }
                | CaptureError::Corrupt { .. }
                | CaptureError::UnknownEventFormat { .. }
        )
    }

    /// Byte offset in the file the error refers to, when it has one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            CaptureError::NotACapture { .. } | CaptureError::UnsupportedVersion { .. } => Some(0),
            CaptureError::Checksum { offset, .. }
            | CaptureError::Truncated { offset, .. }
            | CaptureError::Corrupt { offset, .. }
            | CaptureError::UnknownEventFormat { offset, .. }
            | CaptureError::Io { offset, .. } => Some(*offset),
        }
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::NotACapture { found } => {
                write!(
                    f,
                    "not a tpdig capture: expected magic \"TPDIGCAP\" at byte 0, found {found}"
                )
            }
            CaptureError::UnsupportedVersion { found, supported } => write!(
                f,
                "capture format version {found} is not supported (this tpdig reads up to version {supported}); use a newer tpdig"
            ),
            CaptureError::Checksum {
                block,
                offset,
                part,
            } => write!(
                f,
                "checksum mismatch in {part} of block {block} at byte {offset}; the file is damaged (use the option to skip bad blocks to read past it)"
            ),
            CaptureError::Truncated {
                offset,
                block,
                clean_boundary: false,
            } => write!(
                f,
                "capture truncated at byte {offset}: block {block} is incomplete; every block before it was read"
            ),
            CaptureError::Truncated {
                offset,
                block,
                clean_boundary: true,
            } => write!(
                f,
                "capture ends at byte {offset} after {block} blocks without an end-of-capture block (the writer was interrupted); everything up to there was read"
            ),
            CaptureError::Corrupt { offset, block, msg } => {
                write!(f, "corrupt block {block} at byte {offset}: {msg}")
            }
            CaptureError::UnknownEventFormat { id, block, offset } => write!(
                f,
                "event with type id {id} in block {block} at byte {offset} has no format in the capture; event skipped"
            ),
            CaptureError::Io { offset, error } => {
                write!(f, "reading capture failed at byte {offset}: {error}")
            }
        }
    }
}

impl std::error::Error for CaptureError {}
