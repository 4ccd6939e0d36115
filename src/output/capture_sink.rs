//! `-w FILE`: the capture writer as a sink, with sysdig's rotation (`-C`, `-G`, `-W`, `-e`).
//!
//! Every file is self-contained: it starts with the machine facts, the format text of every
//! tracepoint, the syscall ABI and a snapshot of the state as it stands when the file is
//! opened, so each rotated file reads back alone. Raw records are stored as the kernel wrote
//! them; exact user-memory values are stored beside them with their source, keyed by thread
//! and event time, so a reader attaches them to the same calls.

use super::Sink;
use crate::calls::ValueSource;
use crate::capture::DATA_KEY;
use crate::capture::blocks::{Abi, EventFormat as FormatRec, MachineInfo, UserValue};
use crate::capture::{CaptureWriter, WriterOptions};
use crate::decode::Decoder;
use crate::fasthash::IntMap;
use crate::fields::EventView;
use crate::probes::io_data::DATA_ARG;
use crate::state::{State, snapshot};

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::time::Instant;

/// When to start a new file.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rotation {
    /// `-C`: after this many bytes.
    pub bytes: Option<u64>,
    /// `-G`: after this many seconds of event time.
    pub seconds: Option<u64>,
    /// `-e`: after this many events.
    pub events: Option<u64>,
    /// `-W`: keep at most this many files, reusing names in a ring.
    pub files: Option<u64>,
}

impl Rotation {
    pub fn enabled(&self) -> bool {
        self.bytes.is_some() || self.seconds.is_some() || self.events.is_some()
    }
}

pub fn source_name(s: ValueSource) -> &'static str {
    match s {
        ValueSource::KernelField => "kernel-field",
        ValueSource::Eprobe => "eprobe",
        ValueSource::Kprobe => "kprobe",
        ValueSource::Uprobe => "uprobe",
    }
}

pub fn source_of(name: &str) -> Option<ValueSource> {
    Some(match name {
        "kernel-field" => ValueSource::KernelField,
        "eprobe" => ValueSource::Eprobe,
        "kprobe" => ValueSource::Kprobe,
        "uprobe" => ValueSource::Uprobe,
        _ => return None,
    })
}

pub struct CaptureSink {
    path: PathBuf,
    opts: WriterOptions,
    rotation: Rotation,
    machine: MachineInfo,
    formats: Vec<FormatRec>,
    arch: String,
    writer: Option<CaptureWriter<BufWriter<File>>>,
    /// Sequence number of the current file (used in names when rotating).
    seq: u64,
    file_first_ts: Option<u64>,
    last_block: Instant,
    /// Per thread: the entry time of the call whose values were written, and how many.
    values_written: IntMap<u32, (u64, usize)>,
    /// Every file written, in order.
    pub written: Vec<PathBuf>,
}

impl CaptureSink {
    pub fn new(
        path: PathBuf,
        compress: bool,
        rotation: Rotation,
        machine: MachineInfo,
    ) -> CaptureSink {
        CaptureSink {
            path,
            opts: WriterOptions {
                compress,
                ..WriterOptions::default()
            },
            rotation,
            machine,
            formats: Vec::new(),
            arch: String::new(),
            writer: None,
            seq: 0,
            file_first_ts: None,
            last_block: Instant::now(),
            values_written: IntMap::default(),
            written: Vec::new(),
        }
    }

    fn file_name(&self) -> PathBuf {
        if !self.rotation.enabled() {
            return self.path.clone();
        }
        let n = match self.rotation.files {
            Some(w) if w > 0 => self.seq % w,
            _ => self.seq,
        };
        let mut name = self.path.clone().into_os_string();
        name.push(n.to_string());
        name.into()
    }

    fn open(&mut self, state: &State) -> io::Result<()> {
        let path = self.file_name();
        let file = File::create(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut w = CaptureWriter::new(BufWriter::with_capacity(256 * 1024, file), self.opts)?;
        w.write_machine(&self.machine)?;
        w.write_abi(&Abi {
            arch: self.arch.clone(),
        })?;
        for f in &self.formats {
            w.write_format(f)?;
        }
        let snap = snapshot::take(state);
        w.write_users(&snap.users)?;
        w.write_groups(&snap.groups)?;
        w.write_threads(&snap.threads)?;
        w.write_fds(&snap.fds)?;
        self.writer = Some(w.in_background()?);
        self.file_first_ts = None;
        self.values_written.clear();
        self.written.push(path);
        Ok(())
    }

    fn close(&mut self) -> io::Result<()> {
        if let Some(w) = self.writer.take() {
            let (mut out, _) = w.finish()?;
            io::Write::flush(&mut out)?;
        }
        Ok(())
    }

    fn due(&self, ts: u64) -> bool {
        let Some(w) = &self.writer else { return false };
        let r = &self.rotation;
        r.bytes.is_some_and(|b| w.bytes_written() >= b)
            || r.events.is_some_and(|n| w.events() >= n)
            || r.seconds.is_some_and(|s| {
                self.file_first_ts
                    .is_some_and(|t0| ts.saturating_sub(t0) >= s * 1_000_000_000)
            })
    }

    fn store(&mut self, view: &EventView<'_>) -> io::Result<()> {
        let ev = view.ev;
        if self.rotation.enabled() && self.due(ev.ts) {
            self.close()?;
            self.seq += 1;
            self.open(view.state)?;
        }
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        self.file_first_ts.get_or_insert(ev.ts);
        // Values attached to the call since last written: before the event that shows them.
        if let Some(call) = view.call.filter(|c| !c.resolved.is_empty()) {
            let entry = self.values_written.entry(ev.tid).or_insert((call.ts, 0));
            if entry.0 != call.ts {
                *entry = (call.ts, 0);
            }
            for (arg, value, source) in &call.resolved[entry.1.min(call.resolved.len())..] {
                w.push_user_value(UserValue {
                    time: ev.ts,
                    tid: ev.tid,
                    tier: source_name(*source).into(),
                    key: value_key(*arg),
                    value: value.clone(),
                })?;
            }
            entry.1 = call.resolved.len();
        }
        if let Some(stack) = view.stack {
            w.push_user_value(UserValue {
                time: ev.ts,
                tid: ev.tid,
                tier: STACK_KEY.into(),
                key: STACK_KEY.into(),
                value: stack.encode(),
            })?;
        }
        w.push_event(ev.ts, ev.cpu, ev.pid, ev.tid, ev.raw)
    }
}

/// The user-value key (and tier) of an event's named call stack (`-k`).
pub const STACK_KEY: &str = "stack";

/// The key a call's value is stored under: its argument index, or `data` for its I/O
/// data (formats/capture.md, user values).
fn value_key(arg: usize) -> String {
    if arg == DATA_ARG {
        DATA_KEY.to_string()
    } else {
        arg.to_string()
    }
}

impl Sink for CaptureSink {
    fn begin(&mut self, state: &State, decoder: &Decoder) -> io::Result<()> {
        self.arch = decoder.arch.as_str().to_string();
        self.formats = decoder
            .tracepoints()
            .iter()
            .map(|t| FormatRec {
                system: t.system.clone(),
                name: t.name.clone(),
                id: t.format.id,
                text: t.format_text.clone(),
            })
            .collect();
        self.open(state)
    }

    fn event(&mut self, view: &EventView<'_>) -> io::Result<()> {
        self.store(view)
    }

    fn user_value(
        &mut self,
        tid: u32,
        ts: u64,
        key: &str,
        value: &[u8],
        source: ValueSource,
    ) -> io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.push_user_value(UserValue {
                time: ts,
                tid,
                tier: source_name(source).into(),
                key: key.to_string(),
                value: value.to_vec(),
            }),
            None => Ok(()),
        }
    }

    fn state_event(&mut self, view: &EventView<'_>) -> io::Result<()> {
        self.store(view)
    }

    fn ready(&self) -> bool {
        self.writer.as_ref().is_none_or(|w| w.has_room())
    }

    /// Writes the pending batch at most once a second, so a capture cut off (SIGKILL, power)
    /// loses at most about a second, without making blocks tiny.
    fn flush(&mut self) -> io::Result<()> {
        if self.last_block.elapsed().as_secs() >= 1 {
            if let Some(w) = self.writer.as_mut() {
                w.flush_events()?;
                w.flush()?;
            }
            self.last_block = Instant::now();
        }
        Ok(())
    }

    fn end(&mut self, drops: &[(u32, u64)]) -> io::Result<()> {
        if let Some(w) = self.writer.as_mut() {
            for &(cpu, count) in drops.iter().filter(|d| d.1 > 0) {
                w.push_drop(cpu, count, 0);
            }
        }
        self.close()
    }
}
