//! One block, decoded without I/O: frame check, CRC, inflate, typed payload.
//!
//! [`decode_block`] is the single entry point the streaming reader, the whole-file decoder
//! and the fuzz target share, so every path validates input the same way.

use super::blocks::*;
use super::crc32::crc32;
use super::error::CaptureError;
use super::events::EventBatch;
use super::framing::{BLOCK_FLAG_DEFLATE, BLOCK_HEADER_LEN, BlockHeader, BlockKind, FrameProblem};
use super::wire::WireError;

/// A decoded block. Events borrow their payload; the rest is owned.
#[derive(Clone, Debug)]
pub enum Block<'a> {
    Machine(MachineInfo),
    Format(EventFormat),
    Abi(Abi),
    Threads(Vec<ThreadInfo>),
    Fds(Vec<FdInfo>),
    Users(Vec<UserInfo>),
    Groups(Vec<GroupInfo>),
    Events(EventBatch<'a>),
    UserValues(Vec<UserValue>),
    Drops(Vec<DropRecord>),
    End(EndInfo),
    /// A kind this version does not know; readers skip it.
    Unknown {
        kind: u16,
    },
}

/// Where a block sits, for error messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockPos {
    /// Index of the block in the file (0 = first block after the file header).
    pub index: u64,
    /// Byte offset of the block frame in the file.
    pub offset: u64,
}

/// Verifies a stored payload against its frame and inflates it if needed. The result
/// borrows `stored` (stored blocks) or `scratch` (deflated blocks).
pub fn unpack_payload<'a>(
    h: &BlockHeader,
    stored: &'a [u8],
    scratch: &'a mut Vec<u8>,
    at: BlockPos,
) -> Result<&'a [u8], CaptureError> {
    if crc32(stored) != h.payload_crc {
        return Err(CaptureError::Checksum {
            block: at.index,
            offset: at.offset,
            part: "the payload",
        });
    }
    if h.flags & BLOCK_FLAG_DEFLATE == 0 {
        return Ok(stored);
    }
    scratch.clear();
    scratch.resize(h.raw_len as usize, 0);
    match miniz_oxide::inflate::decompress_slice_iter_to_slice(
        scratch,
        std::iter::once(stored),
        false,
        true,
    ) {
        Ok(n) if n == h.raw_len as usize => Ok(&scratch[..]),
        Ok(n) => Err(corrupt(
            at,
            h,
            format!("inflates to {n} bytes, frame says {}", h.raw_len),
        )),
        Err(e) => Err(corrupt(
            at,
            h,
            format!("deflate data does not inflate ({e:?})"),
        )),
    }
}

fn corrupt(at: BlockPos, h: &BlockHeader, msg: String) -> CaptureError {
    CaptureError::Corrupt {
        offset: at.offset,
        block: at.index,
        msg: format!("{} block: {msg}", h.kind_name()),
    }
}

/// Decodes an uncompressed payload of the given kind.
pub fn decode_payload(kind: u16, p: &[u8]) -> Result<Block<'_>, WireError> {
    let Some(k) = BlockKind::from_u16(kind) else {
        return Ok(Block::Unknown { kind });
    };
    Ok(match k {
        BlockKind::Machine => Block::Machine(decode_machine(p)?),
        BlockKind::Format => Block::Format(decode_format(p)?),
        BlockKind::Abi => Block::Abi(decode_abi(p)?),
        BlockKind::Threads => Block::Threads(decode_threads(p)?),
        BlockKind::Fds => Block::Fds(decode_fds(p)?),
        BlockKind::Users => Block::Users(decode_users(p)?),
        BlockKind::Groups => Block::Groups(decode_groups(p)?),
        BlockKind::Events => Block::Events(EventBatch::parse(p)?),
        BlockKind::UserValues => Block::UserValues(decode_user_values(p)?),
        BlockKind::Drops => Block::Drops(decode_drops(p)?),
        BlockKind::End => Block::End(decode_end(p)?),
    })
}

/// Converts a payload decoding failure into a reader error.
pub fn payload_error(at: BlockPos, h: &BlockHeader, e: WireError) -> CaptureError {
    corrupt(at, h, e.to_string())
}

/// Decodes the block that starts at `bytes[0]` (its frame). Returns the block and how many
/// bytes it occupies. Pure: no I/O, no panics on any input. `at` only labels errors.
/// Events are decoded lazily, so an Events block's records can still fail while iterating.
pub fn decode_block<'a>(
    bytes: &'a [u8],
    scratch: &'a mut Vec<u8>,
    at: BlockPos,
) -> Result<(Block<'a>, usize), CaptureError> {
    if bytes.len() < BLOCK_HEADER_LEN {
        return Err(CaptureError::Truncated {
            offset: at.offset,
            block: at.index,
            clean_boundary: false,
        });
    }
    let h = match BlockHeader::parse(bytes) {
        Ok(h) => h,
        Err(p) => return Err(frame_error(p, at)),
    };
    let total = BLOCK_HEADER_LEN + h.stored_len as usize;
    let Some(stored) = bytes.get(BLOCK_HEADER_LEN..total) else {
        return Err(CaptureError::Truncated {
            offset: at.offset,
            block: at.index,
            clean_boundary: false,
        });
    };
    let p = unpack_payload(&h, stored, scratch, at)?;
    let b = decode_payload(h.kind, p).map_err(|e| payload_error(at, &h, e))?;
    Ok((b, total))
}

/// Error for a rejected frame.
pub fn frame_error(p: FrameProblem, at: BlockPos) -> CaptureError {
    match p {
        FrameProblem::NoSync => CaptureError::Corrupt {
            offset: at.offset,
            block: at.index,
            msg: "no block sync word where a block should start".into(),
        },
        FrameProblem::HeaderChecksum => CaptureError::Checksum {
            block: at.index,
            offset: at.offset,
            part: "the block header",
        },
        FrameProblem::Invalid(msg) => CaptureError::Corrupt {
            offset: at.offset,
            block: at.index,
            msg,
        },
    }
}
