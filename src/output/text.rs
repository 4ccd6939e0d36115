//! sysdig's default event line:
//! `%evt.num %evt.outputtime %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info`.
//!
//! Written directly into a reused byte buffer rather than through the generic `-p` path:
//! this is the line most users see, and the one that must keep up with a syscall storm.

use super::Sink;
use crate::fields::EventView;
use crate::fields::info::write_info;
use crate::wall_time::{OutputTime, TimeMode};
use std::io::{self, Write};

pub struct TextSink<W: Write> {
    out: W,
    time: OutputTime,
    /// Lines rendered and not yet written: written in large chunks, so each line is
    /// copied once (into here) rather than again into a `BufWriter`.
    pending: Vec<u8>,
    info: String,
    unbuffered: bool,
}

/// Pending bytes that trigger a write.
const CHUNK: usize = 64 * 1024;

impl<W: Write> TextSink<W> {
    pub fn new(out: W, time_mode: TimeMode, unbuffered: bool) -> TextSink<W> {
        TextSink {
            out,
            time: OutputTime::new(time_mode),
            pending: Vec::with_capacity(CHUNK + 4096),
            info: String::with_capacity(256),
            unbuffered,
        }
    }

    /// Appends one line to `pending`.
    fn render(&mut self, view: &EventView<'_>) {
        let ev = view.ev;
        let l = &mut self.pending;
        push_u64(l, ev.num);
        l.push(b' ');
        self.time.write(view, l);
        l.push(b' ');
        push_u64(l, u64::from(ev.cpu));
        l.push(b' ');
        match view.state.threads.get(ev.tid) {
            Some(t) if !t.comm.is_empty() => l.extend_from_slice(t.comm.as_bytes()),
            _ => l.extend_from_slice(b"<NA>"),
        }
        l.extend_from_slice(b" (");
        push_u64(l, u64::from(ev.tid));
        l.extend_from_slice(b") ");
        l.push(ev.dir() as u8);
        l.push(b' ');
        l.extend_from_slice(view.type_name().as_bytes());
        l.push(b' ');
        // Rendered into this sink's own buffer: no allocation per event.
        self.info.clear();
        write_info(view, &mut self.info);
        l.extend_from_slice(self.info.as_bytes());
        l.push(b'\n');
        // -k: the frames below the line, as strace -k shows them.
        if let Some(stack) = view.stack {
            self.info.clear();
            stack.write_lines(&mut self.info);
            self.pending.extend_from_slice(self.info.as_bytes());
        }
    }

    fn write_pending(&mut self) -> io::Result<()> {
        let r = self.out.write_all(&self.pending);
        self.pending.clear();
        r
    }
}

/// Appends `n` in decimal (the line's numbers, without the formatting machinery).
fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(crate::params::decimal(n, &mut [0; 20]));
}

impl<W: Write> Sink for TextSink<W> {
    fn event(&mut self, view: &EventView<'_>) -> io::Result<()> {
        self.render(view);
        if self.unbuffered {
            self.write_pending()?;
            self.out.flush()?;
        } else if self.pending.len() >= CHUNK {
            self.write_pending()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.out.flush()
    }
}
