//! The sinks the flags ask for, other than a chisel: `-w` (tpdig or .scap capture), the
//! printer (text, `-p` format, `-j`) and `--export-trace`.

use super::machine_info;
use crate::cli::Cli;
use crate::error::{AppError, AppResult};
use crate::output::Sink;
use crate::output::capture_sink::{CaptureSink, Rotation};
use crate::output::destination::Destination;
use crate::output::format::Format;
use crate::output::json::JsonSink;
use crate::output::line::FormatSink;
use crate::output::text::TextSink;
use crate::output::write_behind::WriteBehind;
use crate::probes::DataOptions;
use crate::wall_time::TimeMode;
use std::io::{BufWriter, Write};

/// The sinks of a run, in the order events reach them.
pub(super) struct Outputs {
    capture: Option<Box<dyn Sink>>,
    printer: Option<Box<dyn Sink>>,
    export: Option<Box<dyn Sink>>,
}

impl Outputs {
    /// `chisel`: a chisel takes the output, so events are printed only with `--tee`.
    pub fn open(
        cli: &Cli,
        destination: &Destination,
        format: Option<Format>,
        time_mode: TimeMode,
        data: Option<&DataOptions>,
        chisel: bool,
    ) -> AppResult<Outputs> {
        let capture = cli.write.as_ref().map(|path| capture(cli, path, data));
        let export = export(cli)?;
        let printing = (cli.write.is_none() && !chisel && export.is_none()) || cli.tee;
        let printer = match printing && !cli.quiet {
            true => Some(printer(cli, destination, format, time_mode)?),
            false => None,
        };
        Ok(Outputs {
            capture,
            printer,
            export,
        })
    }

    pub fn sinks(&mut self) -> Vec<&mut dyn Sink> {
        [&mut self.capture, &mut self.printer, &mut self.export]
            .into_iter()
            .flatten()
            .map(|s| s.as_mut() as &mut dyn Sink)
            .collect()
    }
}

/// `-w`: a .scap file when the name or `--write-format` says so, else tpdig's format.
fn capture(cli: &Cli, path: &std::path::Path, data: Option<&DataOptions>) -> Box<dyn Sink> {
    let scap = cli.write_format.as_deref().map_or_else(
        || crate::output::scap_sink::wants_scap(path),
        |f| f == "scap",
    );
    if scap {
        return Box::new(crate::output::scap_sink::ScapSink::new(
            path.to_path_buf(),
            cli.verbose,
        ));
    }
    let rotation = Rotation {
        bytes: cli.file_size.map(|mb| mb * 1_000_000),
        seconds: cli.file_seconds,
        events: cli.file_events,
        files: cli.file_limit,
    };
    let mut machine = machine_info();
    if let Some(d) = data {
        machine.set(crate::capture::DATA_SNAPLEN_KEY, d.snaplen.to_string());
    }
    Box::new(CaptureSink::new(
        path.to_path_buf(),
        cli.compress,
        rotation,
        machine,
    ))
}

/// `--export-trace FILE`.
fn export(cli: &Cli) -> AppResult<Option<Box<dyn Sink>>> {
    let Some(p) = &cli.export_trace else {
        return Ok(None);
    };
    let f = std::fs::File::create(p)
        .map_err(|e| AppError::runtime(format!("--export-trace {}: {e}", p.display())))?;
    Ok(Some(Box::new(
        crate::output::trace_export::TraceExportSink::new(BufWriter::with_capacity(64 * 1024, f)),
    )))
}

/// The printer: `-j`, `-p FORMAT` or sysdig's default line.
fn printer(
    cli: &Cli,
    destination: &Destination,
    format: Option<Format>,
    time_mode: TimeMode,
) -> AppResult<Box<dyn Sink>> {
    // The event stream is written by a thread of its own unless every event must be
    // written as it comes (-U).
    let out: Box<dyn Write> = if cli.unbuffered {
        Box::new(BufWriter::with_capacity(64 * 1024, destination.writer()?))
    } else {
        Box::new(WriteBehind::new(destination.writer()?))
    };
    Ok(if cli.json {
        Box::new(JsonSink::new(
            out,
            format.map(|f| f.fields().cloned().collect()),
            cli.unbuffered,
        ))
    } else if let Some(f) = format {
        Box::new(FormatSink::new(out, f, time_mode, cli.unbuffered))
    } else {
        Box::new(TextSink::new(out, time_mode, cli.unbuffered))
    })
}
