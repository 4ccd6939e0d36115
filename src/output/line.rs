//! `-p FORMAT` text output: one line per event rendered from the format's fields.

use super::Sink;
use super::format::Format;
use crate::fields::EventView;
use crate::wall_time::{OutputTime, TimeMode};
use std::io::{self, Write};

pub struct FormatSink<W: Write> {
    out: W,
    format: Format,
    time: OutputTime,
    line: String,
    unbuffered: bool,
}

impl<W: Write> FormatSink<W> {
    pub fn new(out: W, format: Format, time_mode: TimeMode, unbuffered: bool) -> FormatSink<W> {
        FormatSink {
            time: OutputTime::new(time_mode),
            out,
            format,
            line: String::with_capacity(256),
            unbuffered,
        }
    }
}

impl<W: Write> Sink for FormatSink<W> {
    fn event(&mut self, view: &EventView<'_>) -> io::Result<()> {
        self.line.clear();
        if !self.format.render(view, &mut self.time, &mut self.line) {
            return Ok(());
        }
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())?;
        if self.unbuffered {
            self.out.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
