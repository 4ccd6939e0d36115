//! `-r FILE...`: captures replayed through the same pipeline as live capture.
//!
//! Each file is read as a stream of blocks: format texts build the file's decoder (the
//! reading machine's tracefs plays no part), the snapshot blocks seed the state, exact
//! user-memory values are handed to the pipeline keyed by thread and time, and event
//! records are merged across files by timestamp. Each file is read on a thread of its own
//! (reading, checksums, inflating, framing) that hands on events in batches of about
//! 256 KiB and every other block as it comes, in file order. Memory stays bounded: a few
//! batches and one block per file.

use crate::capture::blocks::{EventFormat as FormatRec, UserValue};
use crate::capture::events::EventRecord;
use crate::capture::{CaptureError, CaptureReader, Item, ReaderOptions};
use crate::decode::Decoder;
use crate::error::{AppError, AppResult, ExitKind};
use crate::output::capture_sink::source_of;
use crate::pipeline::{Pipeline, Record};
use crate::state::snapshot::{self, Snapshot};
use crate::syscalls::Arch;
use std::fs::File;
use std::io::{BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOptions {
    pub skip_bad: bool,
    pub progress: bool,
}

/// What reading saw, for `-v` and the exit code.
#[derive(Debug, Default)]
pub struct ReplayReport {
    pub events: u64,
    pub drops: u64,
    /// Problems met, one line each (file: message); the run fails if any is not recovered.
    pub errors: Vec<String>,
    pub recovered: Vec<String>,
}

/// Events read ahead: per event its header fields and where its raw bytes are in `bytes`.
#[derive(Default)]
pub(super) struct EventBatch {
    recs: Vec<(u64, u32, u32, u32, u32, u32)>,
    bytes: Vec<u8>,
}

impl EventBatch {
    pub(super) fn push_raw(&mut self, ts: u64, cpu: u32, pid: u32, tid: u32, raw: &[u8]) {
        let off = self.bytes.len() as u32;
        self.bytes.extend_from_slice(raw);
        self.recs.push((ts, cpu, pid, tid, off, raw.len() as u32));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    pub(super) fn bytes_len(&self) -> usize {
        self.bytes.len()
    }

    pub(super) fn clear(&mut self) {
        self.recs.clear();
        self.bytes.clear();
    }

    fn push(&mut self, e: &EventRecord<'_>) {
        let off = self.bytes.len() as u32;
        self.bytes.extend_from_slice(e.raw);
        self.recs
            .push((e.ts, e.cpu, e.pid, e.tid, off, e.raw.len() as u32));
    }

    fn record(&self, i: usize) -> Record<'_> {
        let (ts, cpu, pid, tid, off, len) = self.recs[i];
        Record {
            ts,
            cpu,
            pid,
            tid,
            raw: &self.bytes[off as usize..(off + len) as usize],
        }
    }
}

/// Bytes of events the reading thread collects before handing them on.
const BATCH_BYTES: usize = 256 << 10;

/// What the reading thread hands on, in file order, with its position in the file.
pub(super) enum Piece {
    Events(EventBatch),
    /// Any other block (formats, snapshot, values...).
    Item(Item<'static>),
    Error(CaptureError),
}

/// The non-event items, which own their contents, as `Item<'static>`.
fn owned(item: Item<'_>) -> Option<Item<'static>> {
    Some(match item {
        Item::Machine(m) => Item::Machine(m),
        Item::Format(f) => Item::Format(f),
        Item::Abi(a) => Item::Abi(a),
        Item::Threads(t) => Item::Threads(t),
        Item::Fds(f) => Item::Fds(f),
        Item::Users(u) => Item::Users(u),
        Item::Groups(g) => Item::Groups(g),
        Item::UserValues(v) => Item::UserValues(v),
        Item::Drops(d) => Item::Drops(d),
        Item::End(e) => Item::End(e),
        Item::Event(_) => return None,
    })
}

/// Reads a capture on a thread of its own: reading, checksums, inflating and framing run
/// beside the pipeline instead of before each of its events. A short queue bounds memory;
/// dropping the receiver stops the thread.
fn read_ahead(
    mut reader: CaptureReader<BufReader<File>>,
) -> (Receiver<(Piece, u64)>, Sender<EventBatch>) {
    let (tx, rx) = sync_channel(4);
    let (spare_tx, spare) = channel::<EventBatch>();
    std::thread::spawn(move || {
        let mut batch = EventBatch::default();
        let next_batch = |spare: &Receiver<EventBatch>| {
            let mut b = spare.try_recv().unwrap_or_default();
            b.recs.clear();
            b.bytes.clear();
            b
        };
        loop {
            let piece = match reader.next_item() {
                Some(Ok(Item::Event(e))) => {
                    batch.push(&e);
                    if batch.bytes.len() < BATCH_BYTES {
                        continue;
                    }
                    None
                }
                Some(Ok(other)) => owned(other).map(Piece::Item),
                Some(Err(e)) => Some(Piece::Error(e)),
                None => {
                    if !batch.recs.is_empty() {
                        let _ = tx.send((Piece::Events(batch), reader.position()));
                    }
                    return;
                }
            };
            let position = reader.position();
            if !batch.recs.is_empty() {
                let full = std::mem::replace(&mut batch, next_batch(&spare));
                if tx.send((Piece::Events(full), position)).is_err() {
                    return;
                }
            }
            if let Some(p) = piece
                && tx.send((p, position)).is_err()
            {
                return;
            }
        }
    });
    (rx, spare_tx)
}

struct Cursor {
    feed: Receiver<(Piece, u64)>,
    /// Batches done with, back to the reading thread.
    spare: Sender<EventBatch>,
    meta: FileMeta,
    /// The batch being walked and the index of its next event (`None`: none in hand).
    batch: EventBatch,
    next: Option<usize>,
    /// Bytes of the file read so far (for -P).
    position: u64,
    done: bool,
}

/// What a file's blocks other than events say: how to decode them, and its drop count.
struct FileMeta {
    path: PathBuf,
    formats: Vec<FormatRec>,
    arch: Arch,
    decoder: Option<Decoder>,
    drops: u64,
}

impl Cursor {
    fn open(path: &Path, opts: &ReplayOptions) -> Result<Cursor, String> {
        let mut f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (feed, spare) = if is_scap(&mut f) {
            super::scap_file::read_ahead(path)?
        } else {
            tpdig_read_ahead(f, path, opts)?
        };
        Ok(Cursor {
            feed,
            spare,
            meta: FileMeta {
                path: path.to_path_buf(),
                formats: Vec::new(),
                arch: Arch::native(),
                decoder: None,
                drops: 0,
            },
            batch: EventBatch::default(),
            next: None,
            position: 0,
            done: false,
        })
    }

    /// The time of the event in hand.
    fn next_ts(&self) -> Option<u64> {
        self.next.map(|i| self.batch.recs[i].0)
    }

    /// Moves to the next event (kept in hand) or the end, handing state blocks and user
    /// values to the pipeline on the way.
    fn advance(&mut self, p: &mut Pipeline<'_>, report: &mut ReplayReport, skip_bad: bool) {
        let after = self.next.map_or(0, |i| i + 1);
        self.next = None;
        if after < self.batch.recs.len() {
            self.next = Some(after);
            return;
        }
        while !self.done && self.next.is_none() {
            let Ok((piece, position)) = self.feed.recv() else {
                self.done = true;
                break;
            };
            self.position = position;
            match piece {
                Piece::Events(b) => {
                    let old = std::mem::replace(&mut self.batch, b);
                    let _ = self.spare.send(old);
                    self.next = (!self.batch.recs.is_empty()).then_some(0);
                }
                Piece::Item(item) => self.meta.take(item, p),
                Piece::Error(e) => self.done |= self.meta.error(e, report, skip_bad),
            }
        }
    }
}

/// Whether the file is a sysdig capture (by content: its first bytes), rewound after.
fn is_scap(f: &mut File) -> bool {
    use std::io::{Read, Seek};
    let mut head = [0u8; 4];
    let n = f.read(&mut head).unwrap_or(0);
    let _ = f.rewind();
    crate::scap::looks_like_scap(&head[..n])
}

pub(super) type Feed = (Receiver<(Piece, u64)>, Sender<EventBatch>);

fn tpdig_read_ahead(f: File, path: &Path, opts: &ReplayOptions) -> Result<Feed, String> {
    let ropts = ReaderOptions {
        skip_bad_blocks: opts.skip_bad,
        ..ReaderOptions::default()
    };
    let reader = CaptureReader::new(BufReader::with_capacity(256 * 1024, f), ropts)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(read_ahead(reader))
}

impl FileMeta {
    /// Takes in a block that is not events.
    fn take(&mut self, item: Item<'_>, p: &mut Pipeline<'_>) {
        match item {
            Item::Format(f) => {
                self.formats.retain(|g| g.id != f.id);
                self.formats.push(f);
                self.decoder = None;
            }
            Item::Abi(a) => {
                if let Some(arch) = Arch::from_name(&a.arch) {
                    self.arch = arch;
                    self.decoder = None;
                }
            }
            Item::Threads(threads) => restore(
                p,
                Snapshot {
                    threads,
                    ..Default::default()
                },
            ),
            Item::Fds(fds) => restore(
                p,
                Snapshot {
                    fds,
                    ..Default::default()
                },
            ),
            Item::Users(users) => restore(
                p,
                Snapshot {
                    users,
                    ..Default::default()
                },
            ),
            Item::Groups(groups) => restore(
                p,
                Snapshot {
                    groups,
                    ..Default::default()
                },
            ),
            Item::UserValues(vals) => attach(p, vals),
            Item::Drops(d) => self.drops += d.iter().map(|x| x.count).sum::<u64>(),
            Item::Machine(m) => {
                if m.get(crate::capture::DATA_SNAPLEN_KEY).is_some() {
                    p.data_rendering.captured = true;
                }
            }
            Item::End(_) | Item::Event(_) => {}
        }
    }

    /// Records a read error; true when reading this file must stop.
    fn error(&mut self, e: CaptureError, report: &mut ReplayReport, skip_bad: bool) -> bool {
        let line = format!("{}: {e}", self.path.display());
        match &e {
            CaptureError::UnknownEventFormat { .. } => report.recovered.push(line),
            _ if skip_bad && e.is_recoverable() => report.recovered.push(line),
            _ => {
                report.errors.push(line);
                return true;
            }
        }
        false
    }

    fn decoder(&mut self) -> AppResult<&Decoder> {
        if self.decoder.is_none() {
            let texts = self
                .formats
                .iter()
                .map(|f| (f.system.as_str(), f.name.as_str(), f.text.as_str()));
            let d = Decoder::from_texts(texts, self.arch).map_err(|e| {
                AppError::new(ExitKind::BadInput, format!("{}: {e}", self.path.display()))
            })?;
            self.decoder = Some(d);
        }
        Ok(self.decoder.as_ref().expect("built above"))
    }
}

/// Seeds the state with one snapshot block's part of the table.
fn restore(p: &mut Pipeline<'_>, part: Snapshot) {
    snapshot::restore(&mut p.state, &part);
}

fn attach(p: &mut Pipeline<'_>, vals: Vec<UserValue>) {
    for v in vals {
        if let Some(rest) = v.key.strip_prefix("post:") {
            let (Some((syscall, arg)), Some(src)) = (rest.rsplit_once(':'), source_of(&v.tier))
            else {
                continue;
            };
            let Ok(arg) = arg.parse() else { continue };
            let pid = p.state.thread(v.tid).map_or(v.tid, |t| t.pid);
            p.post_value(v.tid, pid, v.time, syscall, arg, v.value, src);
            continue;
        }
        let arg = if v.key == crate::capture::DATA_KEY {
            Ok(crate::probes::io_data::DATA_ARG)
        } else {
            v.key.parse::<usize>()
        };
        let (Ok(arg), Some(src)) = (arg, source_of(&v.tier)) else {
            continue;
        };
        p.attach_value(v.tid, v.time, arg, v.value, src);
    }
}

/// Shows how far reading has got: a bar on a terminal, whole percentages otherwise.
struct Progress {
    total: u64,
    last: Instant,
    last_pct: u64,
    tty: bool,
}

impl Progress {
    fn show(&mut self, done: u64, force: bool) {
        if self.total == 0 || (!force && self.last.elapsed().as_millis() < 200) {
            return;
        }
        self.last = Instant::now();
        let pct = (done.min(self.total) * 100 / self.total).min(100);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let filled = (pct / 2) as usize;
            let _ = write!(
                err,
                "\r[{}{}] {pct:3}%",
                "#".repeat(filled),
                " ".repeat(50 - filled)
            );
            if force {
                let _ = writeln!(err);
            }
        } else if pct != self.last_pct || force {
            let _ = writeln!(err, "tpdig: {pct}%");
        }
        self.last_pct = pct;
    }
}

/// Reads every file into `pipeline`, merging events across files by time.
pub fn replay(
    files: &[PathBuf],
    opts: &ReplayOptions,
    pipeline: &mut Pipeline<'_>,
) -> AppResult<ReplayReport> {
    let mut report = ReplayReport::default();
    let mut cursors = Vec::new();
    for f in files {
        let c = Cursor::open(f, opts).map_err(|e| AppError::new(ExitKind::BadInput, e))?;
        cursors.push(c);
    }
    let total = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mut progress = Progress {
        total,
        last: Instant::now(),
        last_pct: u64::MAX,
        tty: std::io::stderr().is_terminal(),
    };
    for c in cursors.iter_mut() {
        c.advance(pipeline, &mut report, opts.skip_bad);
    }
    // An empty run still lets the sinks begin (a -w of a capture without events).
    if let Some(c) = cursors.iter_mut().find(|c| !c.meta.formats.is_empty()) {
        pipeline.begin(c.meta.decoder()?);
    }
    let mut since_flush = 0u32;
    while !pipeline.done {
        let Some(i) = (0..cursors.len())
            .filter(|&i| cursors[i].next.is_some())
            .min_by_key(|&i| cursors[i].next_ts())
        else {
            break;
        };
        let c = &mut cursors[i];
        let at = c.next.expect("chosen for its event");
        let decoder = c.meta.decoder()?;
        pipeline.record(decoder, c.batch.record(at));
        c.advance(pipeline, &mut report, opts.skip_bad);
        report.events += 1;
        since_flush += 1;
        if since_flush >= 4096 {
            since_flush = 0;
            pipeline.flush();
            if opts.progress {
                progress.show(cursors.iter().map(|c| c.position).sum(), false);
            }
        }
    }
    if opts.progress {
        progress.show(total, true);
    }
    report.drops = cursors.iter().map(|c| c.meta.drops).sum();
    Ok(report)
}
