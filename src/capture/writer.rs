//! Streaming capture writer.
//!
//! Memory stays bounded whatever the capture length: events accumulate in one batch of at
//! most `batch_bytes`, which is then written as one self-contained block (compressed on its
//! own), so a writer killed at any moment leaves a file whose complete blocks all read back.
//! User-memory values and drop counts are buffered alongside the batch and written just
//! before it, so a reader always sees a value before the events that use it.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use super::block_out::{BlockOut, Blocks};
use super::blocks::*;
use super::events::EventBatchBuilder;
use super::framing::{
    BlockKind, ByteOrder, FILE_FLAG_COMPRESSED, FILE_HEADER_LEN, FileHeader, MAX_BLOCK_BYTES,
    VERSION,
};

/// Snapshot tables are split into blocks of at most this many entries, so no single block
/// (and no reader buffer) grows with the size of the traced system.
const SNAPSHOT_ENTRIES_PER_BLOCK: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// Deflate each block (`-z`).
    pub compress: bool,
    /// miniz level, 1 (fast, the default) to 10. Level 6 is too slow for live capture.
    pub level: u8,
    /// Size at which an event batch is written as a block.
    pub batch_bytes: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compress: false,
            level: 1,
            batch_bytes: 256 << 10,
        }
    }
}

pub struct CaptureWriter<W: Write> {
    blocks: Blocks<W>,
    opts: WriterOptions,
    batch: EventBatchBuilder,
    values: Vec<UserValue>,
    values_bytes: usize,
    drops: Vec<DropRecord>,
    total_events: u64,
    total_drops: u64,
    first_ts: Option<u64>,
    last_ts: u64,
}

impl<W: Write + Send + 'static> CaptureWriter<W> {
    /// From now on, compresses and writes blocks on a thread of its own (see
    /// [`block_out`](super::block_out)): for live captures, whose caller must get back to
    /// draining the kernel's buffers.
    pub fn in_background(mut self) -> io::Result<CaptureWriter<W>> {
        let inline = std::mem::replace(&mut self.blocks, Blocks::empty()).into_inline()?;
        self.blocks = Blocks::background(inline)?;
        Ok(self)
    }
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the file header (creation time: now).
    pub fn new(out: W, opts: WriterOptions) -> io::Result<CaptureWriter<W>> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        CaptureWriter::with_created(out, opts, now)
    }

    /// Writes the file header with a given creation time (ns since the epoch).
    pub fn with_created(
        mut out: W,
        opts: WriterOptions,
        created_ns: u64,
    ) -> io::Result<CaptureWriter<W>> {
        let mut opts = opts;
        opts.level = opts.level.clamp(1, 10);
        // A batch must fit a block; leave room for one maximal raw record.
        opts.batch_bytes = opts.batch_bytes.clamp(1, (MAX_BLOCK_BYTES as usize) / 2);
        let header = FileHeader {
            version: VERSION,
            flags: if opts.compress {
                FILE_FLAG_COMPRESSED
            } else {
                0
            },
            created_ns,
            byte_order: ByteOrder::native(),
            len: FILE_HEADER_LEN,
        };
        out.write_all(&header.encode())?;
        let mut blocks = BlockOut::new(out, opts.compress.then_some(opts.level));
        blocks.bytes = FILE_HEADER_LEN as u64;
        Ok(CaptureWriter {
            blocks: Blocks::inline(blocks),
            batch: EventBatchBuilder::with_capacity(opts.batch_bytes + 64),
            opts,
            values: Vec::new(),
            values_bytes: 0,
            drops: Vec::new(),
            total_events: 0,
            total_drops: 0,
            first_ts: None,
            last_ts: 0,
        })
    }

    /// Bytes written so far, header included (for size-based rotation; with a writer
    /// thread, what it has written so far).
    pub fn bytes_written(&self) -> u64 {
        self.blocks.bytes()
    }

    /// Events pushed so far (written or still buffered).
    pub fn events(&self) -> u64 {
        self.total_events
    }

    pub fn blocks_written(&self) -> u64 {
        self.blocks.blocks()
    }

    /// The output, unless it moved to a writer thread ([`Self::in_background`]).
    pub fn get_ref(&self) -> Option<&W> {
        self.blocks.get_ref()
    }

    /// Whether a few more batches can be written without waiting for the writer thread
    /// (always, when writing inline).
    pub fn has_room(&self) -> bool {
        self.blocks.has_room()
    }

    /// Flushes the output (after the blocks written so far).
    pub fn flush(&mut self) -> io::Result<()> {
        self.blocks.flush()
    }

    pub fn write_machine(&mut self, m: &MachineInfo) -> io::Result<()> {
        self.write_block(BlockKind::Machine as u16, &encode_machine(m))
    }

    pub fn write_format(&mut self, f: &EventFormat) -> io::Result<()> {
        self.write_block(BlockKind::Format as u16, &encode_format(f))
    }

    pub fn write_abi(&mut self, a: &Abi) -> io::Result<()> {
        self.write_block(BlockKind::Abi as u16, &encode_abi(a))
    }

    pub fn write_threads(&mut self, t: &[ThreadInfo]) -> io::Result<()> {
        for ch in t.chunks(SNAPSHOT_ENTRIES_PER_BLOCK) {
            self.write_block(BlockKind::Threads as u16, &encode_threads(ch))?;
        }
        Ok(())
    }

    pub fn write_fds(&mut self, f: &[FdInfo]) -> io::Result<()> {
        for ch in f.chunks(SNAPSHOT_ENTRIES_PER_BLOCK) {
            self.write_block(BlockKind::Fds as u16, &encode_fds(ch))?;
        }
        Ok(())
    }

    pub fn write_users(&mut self, u: &[UserInfo]) -> io::Result<()> {
        for ch in u.chunks(SNAPSHOT_ENTRIES_PER_BLOCK) {
            self.write_block(BlockKind::Users as u16, &encode_users(ch))?;
        }
        Ok(())
    }

    pub fn write_groups(&mut self, g: &[GroupInfo]) -> io::Result<()> {
        for ch in g.chunks(SNAPSHOT_ENTRIES_PER_BLOCK) {
            self.write_block(BlockKind::Groups as u16, &encode_groups(ch))?;
        }
        Ok(())
    }

    /// Buffers one raw record; writes the batch when it reaches `batch_bytes`.
    #[inline]
    pub fn push_event(
        &mut self,
        ts: u64,
        cpu: u32,
        pid: u32,
        tid: u32,
        raw: &[u8],
    ) -> io::Result<()> {
        // A raw record larger than a block could never be read back; perf caps them at 64 KiB.
        if raw.len() > (MAX_BLOCK_BYTES as usize) / 4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "raw record too large for a capture block",
            ));
        }
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        self.last_ts = self.last_ts.max(ts);
        self.total_events += 1;
        self.batch.push(ts, cpu, pid, tid, raw);
        if self.batch.byte_len() + self.values_bytes >= self.opts.batch_bytes {
            self.flush_events()?;
        }
        Ok(())
    }

    /// Buffers a value resolved from user memory; it is written before the current batch.
    pub fn push_user_value(&mut self, v: UserValue) -> io::Result<()> {
        self.values_bytes += v.value.len() + v.key.len() + v.tier.len() + 24;
        self.values.push(v);
        if self.batch.byte_len() + self.values_bytes >= self.opts.batch_bytes {
            self.flush_events()?;
        }
        Ok(())
    }

    /// Records lost events reported by the kernel for one CPU; written with the batch.
    pub fn push_drop(&mut self, cpu: u32, count: u64, time: u64) {
        self.total_drops += count;
        self.drops.push(DropRecord { cpu, count, time });
    }

    /// Writes buffered user values, drops and events (in that order) as blocks.
    pub fn flush_events(&mut self) -> io::Result<()> {
        if !self.values.is_empty() {
            let p = encode_user_values(&self.values);
            self.values.clear();
            self.values_bytes = 0;
            self.write_block(BlockKind::UserValues as u16, &p)?;
        }
        if !self.drops.is_empty() {
            let p = encode_drops(&self.drops);
            self.drops.clear();
            self.write_block(BlockKind::Drops as u16, &p)?;
        }
        if !self.batch.is_empty() {
            let mut batch = std::mem::take(&mut self.batch);
            let r = self.write_block(BlockKind::Events as u16, batch.payload());
            batch.clear();
            self.batch = batch;
            r?;
        }
        Ok(())
    }

    /// Flushes everything, writes the End block with the counts seen, flushes `W`.
    pub fn finish(mut self) -> io::Result<(W, EndInfo)> {
        let end = EndInfo {
            events: self.total_events,
            drops: self.total_drops,
            duration_ns: self.first_ts.map(|f| self.last_ts - f).unwrap_or(0),
        };
        self.flush_events()?;
        self.write_block(BlockKind::End as u16, &encode_end(&end))?;
        let mut b = self.blocks.into_inline()?;
        b.out.flush()?;
        Ok((b.out, end))
    }

    /// Like [`finish`](Self::finish) with a caller-supplied summary.
    pub fn finish_with(mut self, end: EndInfo) -> io::Result<W> {
        self.flush_events()?;
        self.write_block(BlockKind::End as u16, &encode_end(&end))?;
        let mut b = self.blocks.into_inline()?;
        b.out.flush()?;
        Ok(b.out)
    }

    /// Writes one block of any kind (also kinds this version does not define, which readers
    /// skip). Events buffered so far are not flushed first.
    pub fn write_block(&mut self, kind: u16, payload: &[u8]) -> io::Result<()> {
        self.blocks.write_block(kind, payload)
    }
}
