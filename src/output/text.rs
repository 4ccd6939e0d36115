//! sysdig's default event line:
//! `%evt.num %evt.outputtime %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info`.

use super::Sink;
use super::fields::{type_name, write_info};
use super::time::LocalClock;
use crate::decode::Event;
use crate::state::ThreadTable;
use crate::syscalls::Arch;
use std::io::{self, Write};

pub struct TextSink<W: Write> {
    out: W,
    arch: Arch,
    clock: LocalClock,
    line: Vec<u8>,
    info: String,
    unbuffered: bool,
}

impl<W: Write> TextSink<W> {
    pub fn new(out: W, arch: Arch, unbuffered: bool) -> TextSink<W> {
        TextSink {
            out,
            arch,
            clock: LocalClock::default(),
            line: Vec::with_capacity(256),
            info: String::with_capacity(256),
            unbuffered,
        }
    }

    /// Renders one line (without writing it), for tests and other sinks.
    pub fn render(&mut self, ev: &Event<'_>, threads: &ThreadTable) -> &[u8] {
        self.line.clear();
        self.info.clear();
        let l = &mut self.line;
        write!(l, "{} ", ev.num).ok();
        self.clock.write_time_of_day(ev.ts, l);
        write!(l, " {} ", ev.cpu).ok();
        match threads.get(ev.tid) {
            Some(t) if !t.comm.is_empty() => l.extend_from_slice(t.comm.as_bytes()),
            _ => l.extend_from_slice(b"<NA>"),
        }
        write!(
            l,
            " ({}) {} {} ",
            ev.tid,
            ev.dir(),
            type_name(ev, self.arch)
        )
        .ok();
        write_info(ev, self.arch, &mut self.info);
        l.extend_from_slice(self.info.as_bytes());
        l.push(b'\n');
        &self.line
    }
}

impl<W: Write> Sink for TextSink<W> {
    fn event(&mut self, ev: &Event<'_>, threads: &ThreadTable) -> io::Result<()> {
        self.render(ev, threads);
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
