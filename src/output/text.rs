//! sysdig's default event line:
//! `%evt.num %evt.outputtime %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info`.
//!
//! Written directly into a reused byte buffer rather than through the generic `-p` path:
//! this is the line most users see, and the one that must keep up with a syscall storm.

use super::Sink;
use super::time::{OutputTime, TimeMode};
use crate::fields::EventView;
use crate::output::fields::write_info;
use std::io::{self, Write};

pub struct TextSink<W: Write> {
    out: W,
    time: OutputTime,
    line: Vec<u8>,
    info: String,
    unbuffered: bool,
}

impl<W: Write> TextSink<W> {
    pub fn new(out: W, time_mode: TimeMode, unbuffered: bool) -> TextSink<W> {
        TextSink {
            out,
            time: OutputTime::new(time_mode),
            line: Vec::with_capacity(256),
            info: String::with_capacity(256),
            unbuffered,
        }
    }

    /// Renders one line (without writing it), for tests and benchmarks.
    pub fn render(&mut self, view: &EventView<'_>) -> &[u8] {
        let ev = view.ev;
        self.line.clear();
        let l = &mut self.line;
        write!(l, "{} ", ev.num).ok();
        self.time.write(view, l);
        write!(l, " {} ", ev.cpu).ok();
        match view.state.threads.get(ev.tid) {
            Some(t) if !t.comm.is_empty() => l.extend_from_slice(t.comm.as_bytes()),
            _ => l.extend_from_slice(b"<NA>"),
        }
        write!(l, " ({}) {} {} ", ev.tid, ev.dir(), view.type_name()).ok();
        // Rendered into this sink's own buffer: no allocation per event.
        self.info.clear();
        write_info(view, &mut self.info);
        l.extend_from_slice(self.info.as_bytes());
        l.push(b'\n');
        &self.line
    }
}

impl<W: Write> Sink for TextSink<W> {
    fn event(&mut self, view: &EventView<'_>) -> io::Result<()> {
        self.render(view);
        self.out.write_all(&self.line)?;
        if self.unbuffered {
            self.out.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
