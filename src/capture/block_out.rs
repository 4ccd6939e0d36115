//! Finished blocks on their way to the file: compressed (`-z`), checksummed, framed and
//! written — inline, or on a thread of their own.
//!
//! A live `-w` runs in the thread that drains the perf rings. Deflating a 256 KiB batch
//! and writing it there stalls the drain for as long as that takes, and a syscall storm
//! overflows the rings meanwhile. [`Blocks::background`] hands each payload to a writer
//! thread instead, through a bounded queue, so memory stays bounded and a slow disk still
//! pushes back: [`Blocks::has_room`] tells the live loop to keep events in its own backlog
//! (and go on draining the rings) before a send would block. The drain thread only copies
//! the payload once. The file's contents are the same either way.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};

use super::crc32::crc32;
use super::framing::{BLOCK_FLAG_DEFLATE, BLOCK_HEADER_LEN, BlockHeader, MAX_BLOCK_BYTES};

/// Blocks queued for the writer thread at most (each at most a batch, 256 KiB by default,
/// so at most 16 MiB): room for the writer to fall behind while it shares a CPU with the
/// drain thread during a burst.
const QUEUE: usize = 64;

/// Queue slots [`Blocks::has_room`] wants free: more blocks than a slice of events fills.
const HEADROOM: usize = 8;

/// Payload buffers kept for reuse once written (the rest are freed, so memory goes back
/// down after a storm).
const SPARES: usize = 8;

/// Frames and writes blocks to `out`.
pub struct BlockOut<W: Write> {
    pub out: W,
    deflater: Option<Box<CompressorOxide>>,
    zbuf: Vec<u8>,
    /// Bytes written through this (block headers and payloads).
    pub bytes: u64,
    pub blocks: u64,
}

impl<W: Write> BlockOut<W> {
    /// `level`: miniz level when compressing, `None` to store blocks as they are.
    pub fn new(out: W, level: Option<u8>) -> BlockOut<W> {
        BlockOut {
            out,
            deflater: level.map(|l| {
                Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(
                    i32::from(l),
                    0,
                    0,
                )))
            }),
            zbuf: Vec::new(),
            bytes: 0,
            blocks: 0,
        }
    }

    /// Writes one block (deflated when compressing and that makes it smaller).
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
        self.bytes += (BLOCK_HEADER_LEN + stored.len()) as u64;
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

enum Msg {
    Block(u16, Vec<u8>),
    Flush,
}

/// The writer thread's side, returned when it ends: the output and the first error.
type Ended<W> = (BlockOut<W>, Option<io::Error>);

/// The writer thread and what the draining side keeps of it.
struct Worker<W: Write> {
    tx: SyncSender<Msg>,
    thread: JoinHandle<Ended<W>>,
    /// Bytes the thread has written so far (for size-based rotation).
    bytes: Arc<AtomicU64>,
    /// Messages sent and not yet handled by the thread.
    queued: Arc<AtomicUsize>,
    blocks: u64,
    /// Payload buffers the thread is done with, reused for the next blocks.
    spare: Receiver<Vec<u8>>,
}

/// Blocks written inline or by a writer thread.
pub struct Blocks<W: Write> {
    /// Set while writing inline (and after the thread is joined).
    inline: Option<BlockOut<W>>,
    worker: Option<Worker<W>>,
}

impl<W: Write> Blocks<W> {
    pub fn inline(out: BlockOut<W>) -> Blocks<W> {
        Blocks {
            inline: Some(out),
            worker: None,
        }
    }

    /// Nothing to write to (a placeholder while the output moves).
    pub fn empty() -> Blocks<W> {
        Blocks {
            inline: None,
            worker: None,
        }
    }
}

impl<W: Write + Send + 'static> Blocks<W> {
    /// Moves `out` to a writer thread.
    pub fn background(mut out: BlockOut<W>) -> io::Result<Blocks<W>> {
        let (tx, rx) = sync_channel::<Msg>(QUEUE);
        let (spare_tx, spare) = sync_channel::<Vec<u8>>(SPARES);
        let bytes = Arc::new(AtomicU64::new(out.bytes));
        let counter = bytes.clone();
        let queued = Arc::new(AtomicUsize::new(0));
        let handled = queued.clone();
        let blocks = out.blocks;
        let thread = std::thread::Builder::new()
            .name("tpdig-writer".into())
            .spawn(move || {
                // The drain thread wins a shared CPU over this one: a late block only waits
                // in the queue, a late drain loses events. When the queue fills, the drain
                // thread stops handing on events (`has_room`) and sleeps between drains
                // rather than blocking on the queue, which leaves this thread the CPU.
                crate::perf::sys::nice_this_thread(10);
                let mut failed = None;
                for msg in rx {
                    if failed.is_some() {
                        handled.fetch_sub(1, Ordering::Relaxed);
                        continue; // keep draining so the sender never blocks forever
                    }
                    let r = match msg {
                        Msg::Block(kind, payload) => {
                            let r = out.write_block(kind, &payload);
                            let _ = spare_tx.try_send(payload);
                            r
                        }
                        Msg::Flush => out.out.flush(),
                    };
                    counter.store(out.bytes, Ordering::Relaxed);
                    handled.fetch_sub(1, Ordering::Relaxed);
                    failed = r.err();
                }
                (out, failed)
            })?;
        Ok(Blocks {
            inline: None,
            worker: Some(Worker {
                tx,
                thread,
                bytes,
                queued,
                blocks,
                spare,
            }),
        })
    }
}

impl<W: Write> Blocks<W> {
    pub fn write_block(&mut self, kind: u16, payload: &[u8]) -> io::Result<()> {
        if let Some(w) = self.worker.as_mut() {
            let mut buf = w.spare.try_recv().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(payload);
            w.blocks += 1;
            return self.send(Msg::Block(kind, buf));
        }
        match self.inline.as_mut() {
            Some(b) => b.write_block(kind, payload),
            None => Err(ended()),
        }
    }

    /// Flushes `W` (the writer thread does it after the blocks queued before).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.worker.is_some() {
            return self.send(Msg::Flush);
        }
        match self.inline.as_mut() {
            Some(b) => b.out.flush(),
            None => Err(ended()),
        }
    }

    /// Whether the writer thread's queue has room for a few more blocks.
    pub fn has_room(&self) -> bool {
        self.worker
            .as_ref()
            .is_none_or(|w| w.queued.load(Ordering::Relaxed) + HEADROOM <= QUEUE)
    }

    fn send(&mut self, msg: Msg) -> io::Result<()> {
        if let Some(w) = self.worker.as_ref() {
            w.queued.fetch_add(1, Ordering::Relaxed);
            if w.tx.send(msg).is_ok() {
                return Ok(());
            }
        }
        // The thread is gone: it can only have stopped on an error (or panicked).
        self.join()?;
        Err(ended())
    }

    /// Waits for every queued block to be written; back to inline writing.
    fn join(&mut self) -> io::Result<()> {
        let Some(w) = self.worker.take() else {
            return Ok(());
        };
        drop(w.tx);
        let (out, failed) = w
            .thread
            .join()
            .map_err(|_| io::Error::other("capture writer thread panicked"))?;
        self.inline = Some(out);
        failed.map_or(Ok(()), Err)
    }

    /// Everything written; the output back.
    pub fn into_inline(mut self) -> io::Result<BlockOut<W>> {
        self.join()?;
        self.inline.take().ok_or_else(ended)
    }

    /// The output, while blocks are written inline.
    pub fn get_ref(&self) -> Option<&W> {
        self.inline.as_ref().map(|b| &b.out)
    }

    pub fn bytes(&self) -> u64 {
        match (&self.worker, &self.inline) {
            (Some(w), _) => w.bytes.load(Ordering::Relaxed),
            (None, Some(b)) => b.bytes,
            (None, None) => 0,
        }
    }

    pub fn blocks(&self) -> u64 {
        match (&self.worker, &self.inline) {
            (Some(w), _) => w.blocks,
            (None, Some(b)) => b.blocks,
            (None, None) => 0,
        }
    }
}

fn ended() -> io::Error {
    io::Error::other("capture writer thread ended")
}

impl<W: Write> Drop for Blocks<W> {
    /// A writer dropped without `finish` still writes what it queued.
    fn drop(&mut self) {
        let _ = self.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payloads a run of frames carries, each checked and inflated.
    fn payloads(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        use super::super::block::{BlockPos, unpack_payload};
        let mut out = Vec::new();
        while !b.is_empty() {
            let h = BlockHeader::parse(&b[..BLOCK_HEADER_LEN]).unwrap();
            let stored = &b[BLOCK_HEADER_LEN..BLOCK_HEADER_LEN + h.stored_len as usize];
            let mut scratch = Vec::new();
            let at = BlockPos {
                index: out.len() as u64,
                offset: 0,
            };
            let p = unpack_payload(&h, stored, &mut scratch, at).unwrap();
            out.push((h.kind, p.to_vec()));
            b = &b[BLOCK_HEADER_LEN + stored.len()..];
        }
        out
    }

    #[test]
    fn a_writer_thread_writes_what_inline_writes() {
        for level in [None, Some(1)] {
            let mut a = Blocks::inline(BlockOut::new(Vec::new(), level));
            let mut b = Blocks::background(BlockOut::new(Vec::new(), level)).unwrap();
            for i in 0..20u16 {
                let p: Vec<u8> = (0..u32::from(i) * 997).map(|x| (x % 7) as u8).collect();
                a.write_block(i + 1, &p).unwrap();
                b.write_block(i + 1, &p).unwrap();
                b.flush().unwrap();
            }
            assert_eq!(b.blocks(), 20);
            let (a, b) = (a.into_inline().unwrap(), b.into_inline().unwrap());
            assert_eq!(a.blocks, b.blocks);
            assert_eq!(b.bytes as usize, b.out.len());
            assert_eq!(a.out, b.out);
            assert_eq!(payloads(&a.out), payloads(&b.out));
        }
    }

    /// Output that holds every write until the gate's sender is dropped.
    struct Gate(std::sync::mpsc::Receiver<()>);
    impl Write for Gate {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let _ = self.0.recv();
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_writer_thread_behind_says_so_before_a_send_would_block() {
        let (open, gate) = std::sync::mpsc::channel();
        let mut b = Blocks::background(BlockOut::new(Gate(gate), None)).unwrap();
        let mut sent = 0;
        while b.has_room() {
            b.write_block(1, &[0; 100]).unwrap();
            sent += 1;
            assert!(sent <= QUEUE, "has_room never said no");
        }
        assert!(sent + HEADROOM > QUEUE, "said no after {sent} blocks");
        // The sends so far did not block, and HEADROOM more still would not.
        drop(open);
        let out = b.into_inline().unwrap();
        assert_eq!(out.blocks, sent as u64);
    }

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_writer_threads_error_reaches_the_caller() {
        let mut b = Blocks::background(BlockOut::new(Full, None)).unwrap();
        let mut first = None;
        for _ in 0..100 {
            if let Err(e) = b.write_block(1, &[0; 100]) {
                first = Some(e);
                break;
            }
        }
        let e = match first {
            Some(e) => e,
            None => b.into_inline().err().expect("an error at the end"),
        };
        assert!(
            e.to_string().contains("disk full") || e.to_string().contains("ended"),
            "{e}"
        );
    }
}
