//! Streaming capture reader.
//!
//! Reads through a window buffer that holds at most one block plus one read chunk, so memory
//! is bounded by the largest block whatever the file size. Events blocks are not expanded:
//! [`CaptureReader::next_item`] walks the block in place and hands out records that borrow
//! the raw bytes, which is what makes `-r` fast. A cut file yields every complete block and
//! then a `Truncated` error naming the offset; with `skip_bad_blocks` a damaged block yields
//! its error and reading resumes at the next valid block frame (found by its sync word and
//! frame CRC).

use std::io::{self, Read};

use super::block::{Block, BlockPos, decode_payload, frame_error, payload_error, unpack_payload};
use super::blocks::*;
use super::error::CaptureError;
use super::events::{EventBatch, EventIter, EventRecord};
use super::framing::{
    BLOCK_FLAG_DEFLATE, BLOCK_HEADER_LEN, BlockHeader, BlockKind, ByteOrder, FILE_HEADER_LEN,
    FileHeader, SYNC,
};

const READ_CHUNK: usize = 256 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderOptions {
    /// After a checksum or decoding error, report it and continue with the next valid block.
    pub skip_bad_blocks: bool,
    /// In [`CaptureReader::next_item`], report events whose `common_type` has no Format
    /// block earlier in the file (`UnknownEventFormat`, recoverable: only that event is lost).
    pub require_formats: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            skip_bad_blocks: false,
            require_formats: true,
        }
    }
}

/// One thing read from a capture. Only events borrow from the reader.
#[derive(Clone, Debug)]
pub enum Item<'a> {
    Machine(MachineInfo),
    Format(EventFormat),
    Abi(Abi),
    Threads(Vec<ThreadInfo>),
    Fds(Vec<FdInfo>),
    Users(Vec<UserInfo>),
    Groups(Vec<GroupInfo>),
    Event(EventRecord<'a>),
    UserValues(Vec<UserValue>),
    Drops(Vec<DropRecord>),
    End(EndInfo),
}

/// Counters about what was read and skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub blocks: u64,
    pub events: u64,
    pub bad_blocks: u64,
    pub unknown_blocks: u64,
    /// Bytes passed over while searching for the next block after damage.
    pub skipped_bytes: u64,
}

/// Where the events block being walked by `next_item` lives.
struct EventCursor {
    in_scratch: bool,
    p0: usize,
    p1: usize,
    parts: (usize, u32, u64),
    at: BlockPos,
}

/// A block frame read fully into the window, not yet verified.
struct Located {
    h: BlockHeader,
    p0: usize,
    p1: usize,
    at: BlockPos,
}

pub struct CaptureReader<R: Read> {
    src: R,
    opts: ReaderOptions,
    header: FileHeader,
    buf: Vec<u8>,
    start: usize,
    buf_off: u64,
    eof: bool,
    scratch: Vec<u8>,
    index: u64,
    done: bool,
    saw_end: bool,
    ev: Option<EventCursor>,
    formats: Vec<u64>,
    stats: ReadStats,
}

impl<R: Read> CaptureReader<R> {
    /// Reads and checks the file header.
    pub fn new(src: R, opts: ReaderOptions) -> Result<CaptureReader<R>, CaptureError> {
        let mut r = CaptureReader {
            src,
            opts,
            header: FileHeader {
                version: 0,
                flags: 0,
                created_ns: 0,
                byte_order: ByteOrder::Little,
                len: FILE_HEADER_LEN,
            },
            buf: Vec::new(),
            start: 0,
            buf_off: 0,
            eof: false,
            scratch: Vec::new(),
            index: 0,
            done: false,
            saw_end: false,
            ev: None,
            formats: vec![0; 1024],
            stats: ReadStats::default(),
        };
        let mut need = FILE_HEADER_LEN;
        loop {
            let full = r
                .fill(need)
                .map_err(|error| CaptureError::Io { offset: 0, error })?;
            match FileHeader::parse(&r.buf)? {
                Some(h) => {
                    r.start = h.len;
                    r.header = h;
                    return Ok(r);
                }
                None if !full => {
                    return Err(if r.buf.is_empty() {
                        CaptureError::NotACapture {
                            found: "an empty file".into(),
                        }
                    } else {
                        CaptureError::Truncated {
                            offset: r.buf.len() as u64,
                            block: 0,
                            clean_boundary: false,
                        }
                    });
                }
                // A longer header from a later minor layout: read the length it announces.
                None => need = u16::from_le_bytes([r.buf[10], r.buf[11]]) as usize,
            }
        }
    }

    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// File offset of the next unread block.
    pub fn position(&self) -> u64 {
        self.buf_off + self.start as u64
    }

    /// Whether the End block has been read.
    pub fn saw_end(&self) -> bool {
        self.saw_end
    }

    /// Makes `need` bytes available from `start`; false if the file ends first.
    fn fill(&mut self, need: usize) -> io::Result<bool> {
        while self.buf.len() - self.start < need {
            if self.eof {
                return Ok(false);
            }
            let want = (need - (self.buf.len() - self.start)).max(READ_CHUNK);
            let old = self.buf.len();
            self.buf.resize(old + want, 0);
            let n = loop {
                match self.src.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                self.eof = true;
            }
        }
        Ok(true)
    }

    /// Drops consumed bytes from the window.
    fn compact(&mut self) {
        if self.start > 0 && (self.start >= READ_CHUNK || self.start * 2 >= self.buf.len()) {
            self.buf.drain(..self.start);
            self.buf_off += self.start as u64;
            self.start = 0;
        }
    }

    /// Reads the next known block frame and its stored bytes into the window.
    fn locate(&mut self) -> Option<Result<Located, CaptureError>> {
        self.ev = None;
        loop {
            if self.done {
                return None;
            }
            self.compact();
            let at = BlockPos {
                index: self.index,
                offset: self.position(),
            };
            match self.fill(BLOCK_HEADER_LEN) {
                Err(error) => {
                    self.done = true;
                    return Some(Err(CaptureError::Io {
                        offset: at.offset,
                        error,
                    }));
                }
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    let avail = self.buf.len() - self.start;
                    if avail == 0 && self.saw_end {
                        return None;
                    }
                    return Some(Err(CaptureError::Truncated {
                        offset: at.offset,
                        block: at.index,
                        clean_boundary: avail == 0,
                    }));
                }
            }
            let h = match BlockHeader::parse(&self.buf[self.start..]) {
                Ok(h) => h,
                Err(p) => {
                    let e = frame_error(p, at);
                    self.index += 1;
                    self.stats.bad_blocks += 1;
                    if self.opts.skip_bad_blocks {
                        if let Err(error) = self.resync() {
                            self.done = true;
                            return Some(Err(CaptureError::Io {
                                offset: self.position(),
                                error,
                            }));
                        }
                        // A frame error is recoverable: the next call continues after it.
                        return Some(Err(e));
                    }
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let total = BLOCK_HEADER_LEN + h.stored_len as usize;
            match self.fill(total) {
                Err(error) => {
                    self.done = true;
                    return Some(Err(CaptureError::Io {
                        offset: at.offset,
                        error,
                    }));
                }
                Ok(false) => {
                    self.done = true;
                    return Some(Err(CaptureError::Truncated {
                        offset: at.offset,
                        block: at.index,
                        clean_boundary: false,
                    }));
                }
                Ok(true) => {}
            }
            let p0 = self.start + BLOCK_HEADER_LEN;
            self.start += total;
            self.index += 1;
            self.stats.blocks += 1;
            if BlockKind::from_u16(h.kind).is_none() {
                self.stats.unknown_blocks += 1;
                continue;
            }
            return Some(Ok(Located {
                h,
                p0,
                p1: p0 + h.stored_len as usize,
                at,
            }));
        }
    }

    /// After a damaged frame at `start`, moves `start` to the next position holding a frame
    /// that parses (sync word and frame CRC), or to the end of the file.
    fn resync(&mut self) -> io::Result<()> {
        let from = self.position();
        self.start += 1;
        loop {
            // Keeps memory bounded while scanning long damaged stretches.
            self.compact();
            let hay = &self.buf[self.start..];
            match hay.windows(SYNC.len()).position(|w| w == SYNC) {
                Some(i) => {
                    self.start += i;
                    if !self.fill(BLOCK_HEADER_LEN)? {
                        break; // the tail is too short for a frame: locate reports it
                    }
                    if BlockHeader::parse(&self.buf[self.start..]).is_ok() {
                        break;
                    }
                    self.start += 1;
                }
                None => {
                    // Keep the last bytes: a sync word may straddle the next read.
                    let keep = (SYNC.len() - 1).min(hay.len());
                    self.start = self.buf.len() - keep;
                    self.compact();
                    if !self.fill(keep + 1)? {
                        self.start = self.buf.len();
                        break;
                    }
                }
            }
        }
        self.stats.skipped_bytes += self.position() - from;
        Ok(())
    }

    fn note_format(&mut self, id: u32) {
        if let Some(w) = self.formats.get_mut((id / 64) as usize) {
            *w |= 1 << (id % 64);
        }
    }

    fn known_format(&self, id: u16) -> bool {
        self.formats[(id / 64) as usize] & (1 << (id % 64)) != 0
    }

    fn bad(&mut self, e: CaptureError) -> CaptureError {
        self.stats.bad_blocks += 1;
        if !self.opts.skip_bad_blocks {
            self.done = true;
        }
        e
    }

    /// The next block, with events as a lazily decoded batch (fastest path). Unknown block
    /// kinds are skipped. `None` after the End block and the end of the file, or after an
    /// error that ends reading.
    pub fn next_block(&mut self) -> Option<Result<Block<'_>, CaptureError>> {
        let loc = match self.locate()? {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        if let Err(e) = unpack_payload(&loc.h, &self.buf[loc.p0..loc.p1], &mut self.scratch, loc.at)
        {
            return Some(Err(self.bad(e)));
        }
        let kind = loc.h.kind;
        let payload: &[u8] = if loc.h.flags & BLOCK_FLAG_DEFLATE != 0 {
            &self.scratch
        } else {
            &self.buf[loc.p0..loc.p1]
        };
        match decode_payload(kind, payload) {
            Err(e) => {
                let e = payload_error(loc.at, &loc.h, e);
                self.stats.bad_blocks += 1;
                if !self.opts.skip_bad_blocks {
                    self.done = true;
                }
                Some(Err(e))
            }
            Ok(b) => {
                // Field-level updates only: `b` borrows `buf`/`scratch`.
                match &b {
                    Block::Format(f) => {
                        if let Some(w) = self.formats.get_mut((f.id / 64) as usize) {
                            *w |= 1 << (f.id % 64);
                        }
                    }
                    Block::End(_) => self.saw_end = true,
                    Block::Events(ev) => self.stats.events += ev.len() as u64,
                    _ => {}
                }
                Some(Ok(b))
            }
        }
    }

    /// The next item, one event at a time. Events borrow from the reader until the next call.
    pub fn next_item(&mut self) -> Option<Result<Item<'_>, CaptureError>> {
        loop {
            if let Some(ev) = &mut self.ev {
                let payload = if ev.in_scratch {
                    &self.scratch[..]
                } else {
                    &self.buf[ev.p0..ev.p1]
                };
                let mut it = EventIter::from_parts(payload, ev.parts);
                match it.next() {
                    Some(Ok(r)) => {
                        ev.parts = it.parts();
                        let at = ev.at;
                        let raw0 = r.raw.as_ptr() as usize - payload.as_ptr() as usize;
                        let (ts, cpu, pid, tid, rl) = (r.ts, r.cpu, r.pid, r.tid, r.raw.len());
                        let base = if ev.in_scratch { 0 } else { ev.p0 };
                        let in_scratch = ev.in_scratch;
                        if self.opts.require_formats {
                            let big = self.header.byte_order == ByteOrder::Big;
                            let raw = if in_scratch {
                                &self.scratch[raw0..raw0 + rl]
                            } else {
                                &self.buf[base + raw0..base + raw0 + rl]
                            };
                            let id = EventRecord {
                                ts,
                                cpu,
                                pid,
                                tid,
                                raw,
                            }
                            .common_type(big);
                            match id {
                                Some(id) if self.known_format(id) => {}
                                _ => {
                                    return Some(Err(CaptureError::UnknownEventFormat {
                                        id: id.unwrap_or(0),
                                        block: at.index,
                                        offset: at.offset,
                                    }));
                                }
                            }
                        }
                        let raw = if in_scratch {
                            &self.scratch[raw0..raw0 + rl]
                        } else {
                            &self.buf[base + raw0..base + raw0 + rl]
                        };
                        return Some(Ok(Item::Event(EventRecord {
                            ts,
                            cpu,
                            pid,
                            tid,
                            raw,
                        })));
                    }
                    Some(Err(e)) => {
                        let at = ev.at;
                        self.ev = None;
                        let e = CaptureError::Corrupt {
                            offset: at.offset,
                            block: at.index,
                            msg: format!("events block: {e}"),
                        };
                        return Some(Err(self.bad(e)));
                    }
                    None => self.ev = None,
                }
            }
            let loc = match self.locate()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            if let Err(e) =
                unpack_payload(&loc.h, &self.buf[loc.p0..loc.p1], &mut self.scratch, loc.at)
            {
                return Some(Err(self.bad(e)));
            }
            let in_scratch = loc.h.flags & BLOCK_FLAG_DEFLATE != 0;
            let payload: &[u8] = if in_scratch {
                &self.scratch
            } else {
                &self.buf[loc.p0..loc.p1]
            };
            if loc.h.kind == BlockKind::Events as u16 {
                match EventBatch::parse(payload) {
                    Ok(b) => {
                        let parts = b.iter().parts();
                        self.stats.events += b.len() as u64;
                        self.ev = Some(EventCursor {
                            in_scratch,
                            p0: loc.p0,
                            p1: loc.p1,
                            parts,
                            at: loc.at,
                        });
                        continue;
                    }
                    Err(e) => {
                        let e = payload_error(loc.at, &loc.h, e);
                        return Some(Err(self.bad(e)));
                    }
                }
            }
            let item = match decode_payload(loc.h.kind, payload) {
                Err(e) => {
                    let e = payload_error(loc.at, &loc.h, e);
                    return Some(Err(self.bad(e)));
                }
                Ok(Block::Machine(m)) => Item::Machine(m),
                Ok(Block::Format(f)) => {
                    self.note_format(f.id);
                    Item::Format(f)
                }
                Ok(Block::Abi(a)) => Item::Abi(a),
                Ok(Block::Threads(t)) => Item::Threads(t),
                Ok(Block::Fds(f)) => Item::Fds(f),
                Ok(Block::Users(u)) => Item::Users(u),
                Ok(Block::Groups(g)) => Item::Groups(g),
                Ok(Block::UserValues(v)) => Item::UserValues(v),
                Ok(Block::Drops(d)) => Item::Drops(d),
                Ok(Block::End(e)) => {
                    self.saw_end = true;
                    Item::End(e)
                }
                Ok(Block::Events(_)) | Ok(Block::Unknown { .. }) => continue,
            };
            return Some(Ok(item));
        }
    }
}
