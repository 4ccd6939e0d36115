//! The file header and the block frame: the fixed-size parts every reader must understand
//! before it can look at a payload.
//!
//! Each block frame carries a sync word, its kind, its lengths and two CRCs: one over the
//! frame itself (so a damaged length is never trusted, and a resyncing reader can tell a real
//! frame from payload bytes that happen to contain the sync word) and one over the stored
//! payload. See formats/capture.md for the byte layout.

use super::crc32::crc32;
use super::error::CaptureError;

/// The 8 bytes a capture starts with.
pub const MAGIC: [u8; 8] = *b"TPDIGCAP";
/// The format version this code writes and the newest it reads.
pub const VERSION: u16 = 1;
/// Size of the version-1 file header.
pub const FILE_HEADER_LEN: usize = 32;
/// First four bytes of every block frame.
pub const SYNC: [u8; 4] = [0xF7, b'T', b'B', b'K'];
/// Size of a block frame (before the payload).
pub const BLOCK_HEADER_LEN: usize = 24;
/// Largest stored or uncompressed payload a reader accepts (guards memory on damaged input).
pub const MAX_BLOCK_BYTES: u32 = 64 << 20;

/// Header flag: blocks may be deflate-compressed.
pub const FILE_FLAG_COMPRESSED: u32 = 1;
/// Block flag: the payload is raw deflate (RFC 1951) data.
pub const BLOCK_FLAG_DEFLATE: u16 = 1;
/// Block flag bits 0..7 change how the payload is read; a reader refuses bits it does not
/// know. Bits 8..15 are hints a reader may ignore.
pub const BLOCK_FLAGS_MUST_UNDERSTAND: u16 = 0x00ff;

/// Byte order of the raw tracepoint records (the capture framing is always little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    pub fn native() -> ByteOrder {
        if cfg!(target_endian = "big") {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub version: u16,
    pub flags: u32,
    /// Wall-clock time the capture was created, ns since the Unix epoch.
    pub created_ns: u64,
    pub byte_order: ByteOrder,
    /// Bytes the header occupies (blocks start right after).
    pub len: usize,
}

impl FileHeader {
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.version.to_le_bytes());
        b[10..12].copy_from_slice(&(FILE_HEADER_LEN as u16).to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..24].copy_from_slice(&self.created_ns.to_le_bytes());
        b[24] = match self.byte_order {
            ByteOrder::Little => 1,
            ByteOrder::Big => 2,
        };
        let crc = crc32(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Bytes needed to decide on a header: the fixed prefix, then `len` once known.
    /// Returns `Ok(None)` when `b` is too short to tell yet (the caller reads more, or reports
    /// truncation at end of file).
    pub fn parse(b: &[u8]) -> Result<Option<FileHeader>, CaptureError> {
        let have = b.len().min(8);
        if b[..have] != MAGIC[..have] {
            return Err(CaptureError::NotACapture {
                found: describe_start(b),
            });
        }
        if b.len() < 12 {
            return Ok(None);
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version == 0 || version > VERSION {
            return Err(CaptureError::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        let len = u16::from_le_bytes([b[10], b[11]]) as usize;
        if len < FILE_HEADER_LEN {
            return Err(CaptureError::Corrupt {
                offset: 10,
                block: 0,
                msg: format!("file header length {len} is below the minimum {FILE_HEADER_LEN}"),
            });
        }
        if b.len() < len {
            return Ok(None);
        }
        let stored = u32::from_le_bytes([b[len - 4], b[len - 3], b[len - 2], b[len - 1]]);
        if crc32(&b[..len - 4]) != stored {
            return Err(CaptureError::Checksum {
                block: 0,
                offset: 0,
                part: "the file header",
            });
        }
        let byte_order = match b[24] {
            1 => ByteOrder::Little,
            2 => ByteOrder::Big,
            o => {
                return Err(CaptureError::Corrupt {
                    offset: 24,
                    block: 0,
                    msg: format!("unknown byte order code {o}"),
                });
            }
        };
        Ok(Some(FileHeader {
            version,
            flags: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            created_ns: u64::from_le_bytes(b[16..24].try_into().unwrap_or([0; 8])),
            byte_order,
            len,
        }))
    }
}

/// Describes the start of a file that is not a capture, for the error message.
fn describe_start(b: &[u8]) -> String {
    if b.is_empty() {
        return "an empty file".to_string();
    }
    let head = &b[..b.len().min(8)];
    let known: &[(&[u8], &str)] = &[
        (b"PERFILE2", "a perf.data file (use perf script)"),
        (
            &[0x0a, 0x0d, 0x0d, 0x0a],
            "a pcapng/scap file (sysdig capture; use sysdig -r)",
        ),
        (&[0x1f, 0x8b], "a gzip file"),
    ];
    for (m, what) in known {
        if head.starts_with(m) {
            return what.to_string();
        }
    }
    let hex: Vec<String> = head.iter().map(|x| format!("{x:02x}")).collect();
    format!("bytes {}", hex.join(" "))
}

/// The block kinds of format version 1. Kinds not listed are skipped by readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum BlockKind {
    Machine = 1,
    Format = 2,
    Abi = 3,
    Threads = 4,
    Fds = 5,
    Users = 6,
    Groups = 7,
    Events = 8,
    UserValues = 9,
    Drops = 10,
    End = 11,
}

impl BlockKind {
    pub fn from_u16(v: u16) -> Option<BlockKind> {
        use BlockKind::*;
        Some(match v {
            1 => Machine,
            2 => Format,
            3 => Abi,
            4 => Threads,
            5 => Fds,
            6 => Users,
            7 => Groups,
            8 => Events,
            9 => UserValues,
            10 => Drops,
            11 => End,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        use BlockKind::*;
        match self {
            Machine => "machine",
            Format => "format",
            Abi => "abi",
            Threads => "threads",
            Fds => "fds",
            Users => "users",
            Groups => "groups",
            Events => "events",
            UserValues => "user-values",
            Drops => "drops",
            End => "end",
        }
    }
}

/// A parsed block frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub kind: u16,
    pub flags: u16,
    pub stored_len: u32,
    pub raw_len: u32,
    pub payload_crc: u32,
}

/// Why a frame was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameProblem {
    NoSync,
    HeaderChecksum,
    Invalid(String),
}

impl BlockHeader {
    pub fn encode(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        b[0..4].copy_from_slice(&SYNC);
        b[4..6].copy_from_slice(&self.kind.to_le_bytes());
        b[6..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..12].copy_from_slice(&self.stored_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.raw_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32(&b[..20]);
        b[20..24].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and validates a frame; `b` must hold at least `BLOCK_HEADER_LEN` bytes.
    pub fn parse(b: &[u8]) -> Result<BlockHeader, FrameProblem> {
        let Some(b) = b.get(..BLOCK_HEADER_LEN) else {
            return Err(FrameProblem::Invalid("short block header".into()));
        };
        if b[0..4] != SYNC {
            return Err(FrameProblem::NoSync);
        }
        let le32 = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        if crc32(&b[..20]) != le32(20) {
            return Err(FrameProblem::HeaderChecksum);
        }
        let h = BlockHeader {
            kind: u16::from_le_bytes([b[4], b[5]]),
            flags: u16::from_le_bytes([b[6], b[7]]),
            stored_len: le32(8),
            raw_len: le32(12),
            payload_crc: le32(16),
        };
        if h.stored_len > MAX_BLOCK_BYTES || h.raw_len > MAX_BLOCK_BYTES {
            return Err(FrameProblem::Invalid(format!(
                "block lengths {}/{} exceed the {} byte limit",
                h.stored_len, h.raw_len, MAX_BLOCK_BYTES
            )));
        }
        let unknown = h.flags & BLOCK_FLAGS_MUST_UNDERSTAND & !BLOCK_FLAG_DEFLATE;
        if unknown != 0 {
            return Err(FrameProblem::Invalid(format!(
                "unknown block flags {unknown:#x}"
            )));
        }
        if h.flags & BLOCK_FLAG_DEFLATE == 0 && h.stored_len != h.raw_len {
            return Err(FrameProblem::Invalid(format!(
                "stored block with stored length {} != length {}",
                h.stored_len, h.raw_len
            )));
        }
        Ok(h)
    }

    pub fn kind_name(&self) -> String {
        match BlockKind::from_u16(self.kind) {
            Some(k) => k.name().to_string(),
            None => format!("kind-{}", self.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = FileHeader {
            version: VERSION,
            flags: FILE_FLAG_COMPRESSED,
            created_ns: 1_700_000_000_123_456_789,
            byte_order: ByteOrder::Little,
            len: FILE_HEADER_LEN,
        };
        let b = h.encode();
        assert_eq!(FileHeader::parse(&b).unwrap(), Some(h));
        assert_eq!(FileHeader::parse(&b[..20]).unwrap(), None);
    }

    #[test]
    fn header_errors() {
        let e = FileHeader::parse(b"PERFILE2xxxxxxxxxxxxxxxxxxxxxxxx").unwrap_err();
        assert!(e.to_string().contains("perf.data"), "{e}");
        let mut b = FileHeader {
            version: VERSION,
            flags: 0,
            created_ns: 0,
            byte_order: ByteOrder::Little,
            len: 32,
        }
        .encode();
        b[8] = 9;
        match FileHeader::parse(&b).unwrap_err() {
            CaptureError::UnsupportedVersion {
                found: 9,
                supported: VERSION,
            } => {}
            e => panic!("{e}"),
        }
    }

    #[test]
    fn frame_round_trip_and_damage() {
        let h = BlockHeader {
            kind: 8,
            flags: 1,
            stored_len: 10,
            raw_len: 40,
            payload_crc: 7,
        };
        let mut b = h.encode();
        assert_eq!(BlockHeader::parse(&b), Ok(h));
        b[9] ^= 1;
        assert_eq!(BlockHeader::parse(&b), Err(FrameProblem::HeaderChecksum));
        b[0] = 0;
        assert_eq!(BlockHeader::parse(&b), Err(FrameProblem::NoSync));
    }
}
