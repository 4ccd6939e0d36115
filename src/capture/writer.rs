//! Streaming capture writer.
//!
//! Memory stays bounded whatever the capture length: events accumulate in one batch of at
//! most `batch_bytes`, which is then written as one self-contained block (compressed on its
//! own), so a writer killed at any moment leaves a file whose complete blocks all read back.
//! User-memory values and drop counts are buffered alongside the batch and written just
//! before it, so a reader always sees a value before the events that use it.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};

use super::blocks::*;
use super::crc32::crc32;
use super::events::EventBatchBuilder;
use super::framing::{
    BLOCK_FLAG_DEFLATE, BLOCK_HEADER_LEN, BlockHeader, BlockKind, ByteOrder, FILE_FLAG_COMPRESSED,
    FILE_HEADER_LEN, FileHeader, MAX_BLOCK_BYTES, VERSION,
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
    out: W,
    opts: WriterOptions,
    bytes_written: u64,
    blocks: u64,
    batch: EventBatchBuilder,
    values: Vec<UserValue>,
    values_bytes: usize,
    drops: Vec<DropRecord>,
    total_events: u64,
    total_drops: u64,
    first_ts: Option<u64>,
    last_ts: u64,
    deflater: Option<Box<CompressorOxide>>,
    zbuf: Vec<u8>,
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
        let deflater = opts.compress.then(|| {
            Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(
                opts.level as i32,
                0,
                0,
            )))
        });
        Ok(CaptureWriter {
            out,
            batch: EventBatchBuilder::with_capacity(opts.batch_bytes + 64),
            opts,
            bytes_written: FILE_HEADER_LEN as u64,
            blocks: 0,
            values: Vec::new(),
            values_bytes: 0,
            drops: Vec::new(),
            total_events: 0,
            total_drops: 0,
            first_ts: None,
            last_ts: 0,
            deflater,
            zbuf: Vec::new(),
        })
    }

    /// Bytes written so far, header included (for size-based rotation).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Events pushed so far (written or still buffered).
    pub fn events(&self) -> u64 {
        self.total_events
    }

    pub fn blocks_written(&self) -> u64 {
        self.blocks
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
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
        self.out.flush()?;
        Ok((self.out, end))
    }

    /// Like [`finish`](Self::finish) with a caller-supplied summary.
    pub fn finish_with(mut self, end: EndInfo) -> io::Result<W> {
        self.flush_events()?;
        self.write_block(BlockKind::End as u16, &encode_end(&end))?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes one block of any kind (also kinds this version does not define, which readers
    /// skip). Events buffered so far are not flushed first.
    pub fn write_block(&mut self, kind: u16, payload: &[u8]) -> io::Result<()> {
        if payload.len() > MAX_BLOCK_BYTES as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "capture block payload too large",
            ));
        }
        let mut flags = 0u16;
        let mut stored: &[u8] = payload;
        if let Some(d) = self.deflater.as_deref_mut()
            && payload.len() >= 64
            && deflate_into(d, payload, &mut self.zbuf)
            && self.zbuf.len() < payload.len()
        {
            stored = &self.zbuf;
            flags |= BLOCK_FLAG_DEFLATE;
        }
        let h = BlockHeader {
            kind,
            flags,
            stored_len: stored.len() as u32,
            raw_len: payload.len() as u32,
            payload_crc: crc32(stored),
        };
        self.out.write_all(&h.encode())?;
        self.out.write_all(stored)?;
        self.bytes_written += (BLOCK_HEADER_LEN + stored.len()) as u64;
        self.blocks += 1;
        Ok(())
    }
}

/// Raw deflate of `input` into `out`, reusing the compressor's state allocation. Returns
/// false if miniz reports a failure (then the block is stored uncompressed).
fn deflate_into(c: &mut CompressorOxide, mut input: &[u8], out: &mut Vec<u8>) -> bool {
    c.reset();
    out.clear();
    out.resize(input.len() / 2 + 64, 0);
    let mut pos = 0;
    loop {
        let (status, used, wrote) = compress(c, input, &mut out[pos..], TDEFLFlush::Finish);
        pos += wrote;
        input = &input[used.min(input.len())..];
        match status {
            TDEFLStatus::Done => break,
            TDEFLStatus::Okay => {
                if out.len() - pos < 64 {
                    let n = out.len() * 2;
                    out.resize(n, 0);
                }
            }
            _ => return false,
        }
    }
    out.truncate(pos);
    true
}
