//! The tpdig capture file (`-w` / `-r`): an own, documented format (formats/capture.md).
//!
//! Why not perf.data or scap: a capture must carry everything needed to decode it on another
//! machine (format texts, syscall ABI, the /proc snapshot, values read from user memory) and
//! must survive being killed at any byte. So the file is a header followed by self-delimiting
//! blocks, each checksummed and compressed on its own: the writer streams with bounded memory,
//! the reader returns every complete block of a cut file and can resynchronise after damage.
//!
//! Layers, each free of I/O except the last two: `crc32`, `wire` (primitive encodings),
//! `framing` (file header, block frame), `blocks` and `events` (payloads), `block` (one
//! block, fully decoded), then `writer` and `reader` (streaming over `Write`/`Read`).

pub mod block;
pub mod block_out;
pub mod blocks;
pub mod crc32;
pub mod error;
pub mod events;
pub mod framing;
pub mod reader;
pub mod wire;
pub mod writer;

pub use block::{Block, BlockPos, decode_block};
pub use blocks::{
    Abi, DropRecord, EndInfo, EventFormat, FdInfo, GroupInfo, MachineInfo, ThreadInfo, UserInfo,
    UserValue,
};
pub use error::CaptureError;
pub use events::{EventBatch, EventBatchBuilder, EventIter, EventRecord};
pub use framing::{BlockKind, ByteOrder, FileHeader, VERSION};
pub use reader::{CaptureReader, Item, ReadStats, ReaderOptions};
pub use writer::{CaptureWriter, WriterOptions};

/// The user-value key under which a call's I/O data is stored (the other keys are
/// argument indexes).
pub const DATA_KEY: &str = "data";

/// The machine-info key a capture that holds I/O data carries: the snap length it was
/// copied with. A read that moved nothing then shows empty data, not a missing value.
pub const DATA_SNAPLEN_KEY: &str = "data.snaplen";
