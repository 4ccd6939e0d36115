//! `-r FILE...`: captures replayed through the same pipeline as live capture.
//!
//! Each file is read as a stream of blocks: format texts build the file's decoder (the
//! reading machine's tracefs plays no part), the snapshot blocks seed the state, exact
//! user-memory values are handed to the pipeline keyed by thread and time, and event
//! records are merged across files by timestamp. Memory stays bounded: one block per file
//! plus one pending event per file.

use crate::capture::blocks::{EventFormat as FormatRec, UserValue};
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

struct Owned {
    ts: u64,
    cpu: u32,
    pid: u32,
    tid: u32,
    raw: Vec<u8>,
}

struct Cursor {
    reader: CaptureReader<BufReader<File>>,
    meta: FileMeta,
    next: Option<Owned>,
    /// The raw buffer of the last event handed on, for reuse.
    spare: Vec<u8>,
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
        let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let ropts = ReaderOptions {
            skip_bad_blocks: opts.skip_bad,
            ..ReaderOptions::default()
        };
        let reader = CaptureReader::new(BufReader::with_capacity(256 * 1024, f), ropts)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Cursor {
            reader,
            meta: FileMeta {
                path: path.to_path_buf(),
                formats: Vec::new(),
                arch: Arch::native(),
                decoder: None,
                drops: 0,
            },
            next: None,
            spare: Vec::new(),
            done: false,
        })
    }

    /// Reads until the next event (kept in `next`) or the end, handing state blocks and
    /// user values to the pipeline on the way.
    fn advance(&mut self, p: &mut Pipeline<'_>, report: &mut ReplayReport, skip_bad: bool) {
        while !self.done && self.next.is_none() {
            let Some(item) = self.reader.next_item() else {
                self.done = true;
                break;
            };
            match item {
                Ok(Item::Event(e)) => {
                    // The buffer of the event handed on last is reused: no allocation per event.
                    let mut raw = std::mem::take(&mut self.spare);
                    raw.clear();
                    raw.extend_from_slice(e.raw);
                    self.next = Some(Owned {
                        ts: e.ts,
                        cpu: e.cpu,
                        pid: e.pid,
                        tid: e.tid,
                        raw,
                    });
                }
                Ok(other) => self.meta.take(other, p),
                Err(e) => self.done |= self.meta.error(e, report, skip_bad),
            }
        }
    }
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
            Item::Threads(t) => snapshot::restore(
                &mut p.state,
                &Snapshot {
                    threads: t,
                    ..Default::default()
                },
            ),
            Item::Fds(f) => snapshot::restore(
                &mut p.state,
                &Snapshot {
                    fds: f,
                    ..Default::default()
                },
            ),
            Item::Users(u) => snapshot::restore(
                &mut p.state,
                &Snapshot {
                    users: u,
                    ..Default::default()
                },
            ),
            Item::Groups(g) => snapshot::restore(
                &mut p.state,
                &Snapshot {
                    groups: g,
                    ..Default::default()
                },
            ),
            Item::UserValues(vals) => attach(p, vals),
            Item::Drops(d) => self.drops += d.iter().map(|x| x.count).sum::<u64>(),
            Item::Machine(_) | Item::End(_) | Item::Event(_) => {}
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
        let (Ok(arg), Some(src)) = (v.key.parse::<usize>(), source_of(&v.tier)) else {
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
    // Counts an event; every 4096, flushes the sinks and shows progress (`position`: bytes
    // read so far).
    let mut since_flush = 0u32;
    let mut counted = |pipeline: &mut Pipeline<'_>, report: &mut ReplayReport, position: u64| {
        report.events += 1;
        since_flush += 1;
        if since_flush >= 4096 {
            since_flush = 0;
            pipeline.flush();
            if opts.progress {
                progress.show(position, false);
            }
        }
    };
    while !pipeline.done {
        let Some(i) = (0..cursors.len())
            .filter(|&i| cursors[i].next.is_some())
            .min_by_key(|&i| cursors[i].next.as_ref().map(|e| e.ts))
        else {
            break;
        };
        let c = &mut cursors[i];
        let ev = c.next.take().expect("chosen for its event");
        pipeline.record(
            c.meta.decoder()?,
            Record {
                ts: ev.ts,
                cpu: ev.cpu,
                pid: ev.pid,
                tid: ev.tid,
                raw: &ev.raw,
            },
        );
        c.spare = ev.raw;
        let position = cursors.iter().map(|c| c.reader.position()).sum();
        counted(pipeline, &mut report, position);
        if cursors.len() == 1 {
            // Nothing to merge with: the rest of the events go to the pipeline straight
            // from the block they are read from.
            replay_in_place(
                &mut cursors[0],
                pipeline,
                &mut report,
                opts.skip_bad,
                &mut counted,
            )?;
            break;
        }
        cursors[i].advance(pipeline, &mut report, opts.skip_bad);
    }
    if opts.progress {
        progress.show(total, true);
    }
    report.drops = cursors.iter().map(|c| c.meta.drops).sum();
    Ok(report)
}

/// Reads the rest of one file, each event handed on from the block it is in.
fn replay_in_place(
    c: &mut Cursor,
    p: &mut Pipeline<'_>,
    report: &mut ReplayReport,
    skip_bad: bool,
    counted: &mut impl FnMut(&mut Pipeline<'_>, &mut ReplayReport, u64),
) -> AppResult<()> {
    while !p.done && !c.done {
        let Some(item) = c.reader.next_item() else {
            c.done = true;
            break;
        };
        match item {
            Ok(Item::Event(e)) => {
                let record = Record {
                    ts: e.ts,
                    cpu: e.cpu,
                    pid: e.pid,
                    tid: e.tid,
                    raw: e.raw,
                };
                p.record(c.meta.decoder()?, record);
                counted(p, report, c.reader.position());
            }
            Ok(other) => c.meta.take(other, p),
            Err(e) => c.done |= c.meta.error(e, report, skip_bad),
        }
    }
    Ok(())
}
