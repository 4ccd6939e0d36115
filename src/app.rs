//! From parsed flags to an exit code.

use crate::capture::blocks::MachineInfo;
use crate::cli::Cli;
use crate::compat::Compat;
use crate::data_choice::{DataRequest, filter_reads_data, reads_data};
use crate::error::{AppError, AppResult, ExitKind};
use crate::fields::{Catalog, FIELDS};
use crate::live::{self, LiveOptions};
use crate::output::Sink;
use crate::output::capture_sink::{CaptureSink, Rotation};
use crate::output::destination::Destination;
use crate::output::format::{CONTAINER_FORMAT, Format};
use crate::output::json::JsonSink;
use crate::output::line::FormatSink;
use crate::output::text::TextSink;
use crate::output::time::TimeMode;
use crate::output::write_behind::WriteBehind;
use crate::pipeline::{Pipeline, Selection};
use crate::source::file::{ReplayOptions, replay};
use crate::state::{Comm, State};
use std::io::{self, BufWriter, Write};
use std::time::Duration;

/// Runs tpdig with the given arguments and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match run_inner(&cli) {
        Ok(code) => code,
        Err(e) if e.kind == ExitKind::Quiet => 0,
        Err(e) => {
            eprintln!("tpdig: {e}");
            e.exit_code()
        }
    }
}

fn compat_switches(cli: &Cli) -> AppResult<Compat> {
    let env = std::env::var("TPDIG_COMPAT").unwrap_or_default();
    let from_env =
        Compat::parse(&env).map_err(|e| AppError::usage(format!("TPDIG_COMPAT: {e}")))?;
    let from_flag = Compat::parse(cli.compat.as_deref().unwrap_or(""))
        .map_err(|e| AppError::usage(format!("--compat: {e}")))?;
    Ok(from_env.merge(from_flag))
}

/// Parses and compiles the filter words; the error names the column.
fn filter_of(words: &[String]) -> AppResult<Option<(crate::filter::Expr, crate::filter::Filter)>> {
    if words.is_empty() {
        return Ok(None);
    }
    let text = words.join(" ");
    let expr = crate::filter::parse(&text, &Catalog)
        .map_err(|e| AppError::usage(format!("filter: {e}")))?;
    let compiled =
        crate::filter::compile(&expr).map_err(|e| AppError::usage(format!("filter: {e}")))?;
    Ok(Some((expr, compiled)))
}

fn print_format(cli: &Cli) -> AppResult<Option<Format>> {
    let Some(p) = cli.print.as_deref() else {
        return Ok(None);
    };
    let text = match p {
        "c" | "container" => CONTAINER_FORMAT,
        other => other,
    };
    Format::parse(text).map(Some).map_err(AppError::usage)
}

/// How many of the first `words` are the chisel's arguments; the rest is the filter.
/// Required arguments always; optional ones when the words after them form the filter
/// and the words with them do not (`-c offcpu reason proc.name=sh`).
fn chisel_arg_count(spec: &crate::chisel::registry::ChiselSpec, words: &[String]) -> usize {
    let required = spec.args.iter().filter(|a| !a.optional).count();
    let mut n = required.min(words.len());
    while n < spec.args.len().min(words.len()) && filter_of(&words[n..]).is_err() {
        n += 1;
    }
    if n > required && filter_of(&words[n..]).is_err() {
        return required.min(words.len());
    }
    n
}

fn run_inner(cli: &Cli) -> AppResult<i32> {
    if cli.list_fields {
        list_fields(&mut io::stdout().lock()).map_err(quiet_pipe)?;
        return Ok(0);
    }
    if cli.list_events {
        crate::output::events::list(&mut io::stdout().lock())
            .map_err(|e| AppError::runtime(e.to_string()))?;
        return Ok(0);
    }
    if cli.chisel.as_deref() == Some("l") {
        crate::chisel::print_list(&crate::chisel::list(), &mut io::stdout().lock())
            .map_err(quiet_pipe)?;
        return Ok(0);
    }
    if let Some(name) = &cli.chisel_info {
        let source = crate::chisel::find(name)?;
        let (spec, _) = crate::chisel::registry::spec_of(&source)?;
        crate::chisel::print_info(&spec, &mut io::stdout().lock()).map_err(quiet_pipe)?;
        return Ok(0);
    }
    let max_duration = match cli.max_seconds {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            return Err(AppError::usage(format!(
                "-M {s}: the duration must be a positive number of seconds"
            )));
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let time_mode = TimeMode::parse(&cli.timetype).map_err(AppError::usage)?;
    let destination = Destination::open(cli.output.as_deref())?;
    // -S: the table of event types, written after the events.
    let mut type_counts = match cli.summary {
        true => Some(destination.writer()?),
        false => None,
    };
    // A chisel takes its required arguments from the first words; the rest is the filter.
    let mut words = cli.filter.clone();
    let mut chisel = match &cli.chisel {
        Some(name) => {
            let source = crate::chisel::find(name)?;
            let (spec, _) = crate::chisel::registry::spec_of(&source)?;
            let n = chisel_arg_count(&spec, &words);
            let args: Vec<String> = words.drain(..n).collect();
            let out: Box<dyn Write> = Box::new(BufWriter::new(destination.writer()?));
            let mut sink = crate::chisel::ChiselSink::new(&source, &args, out)?;
            sink.set_live(cli.read.is_empty());
            Some(sink)
        }
        None => None,
    };
    let filter = filter_of(&words)?;
    let format = print_format(cli)?;
    let (filter_expr, compiled) = match filter {
        Some((e, c)) => (Some(e), Some(c)),
        None => (None, None),
    };
    let data_req = data_request(cli, filter_expr.as_ref(), format.as_ref(), chisel.as_ref())?;
    let (data_opts, data_rendering) = data_req.live(filter_expr.as_ref());
    let selection = Selection {
        filter: compiled,
        suppress: cli
            .suppress_comm
            .iter()
            .map(|c| Comm::from_bytes(c.as_bytes()))
            .collect(),
        max_events: cli.numevents,
    };
    // The event stream: written by a thread of its own unless every event must be
    // written as it comes (-U).
    let out: Box<dyn Write> = if cli.unbuffered {
        Box::new(BufWriter::with_capacity(64 * 1024, destination.writer()?))
    } else {
        Box::new(WriteBehind::new(destination.writer()?))
    };
    let mut capture: Option<Box<dyn Sink>> = cli.write.as_ref().map(|path| {
        let rotation = Rotation {
            bytes: cli.file_size.map(|mb| mb * 1_000_000),
            seconds: cli.file_seconds,
            events: cli.file_events,
            files: cli.file_limit,
        };
        let mut machine = machine_info();
        if let Some(d) = &data_opts {
            machine.set(crate::capture::DATA_SNAPLEN_KEY, d.snaplen.to_string());
        }
        let scap = cli.write_format.as_deref().map_or_else(
            || crate::output::scap_sink::wants_scap(path),
            |f| f == "scap",
        );
        if scap {
            return Box::new(crate::output::scap_sink::ScapSink::new(
                path.clone(),
                cli.verbose,
            )) as Box<dyn Sink>;
        }
        Box::new(CaptureSink::new(
            path.clone(),
            cli.compress,
            rotation,
            machine,
        )) as Box<dyn Sink>
    });
    if cli.export_trace.is_some() && cli.read.is_empty() {
        return Err(AppError::usage(
            "--export-trace converts captures: it needs -r",
        ));
    }
    let mut export: Option<Box<dyn Sink>> = match &cli.export_trace {
        None => None,
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| AppError::runtime(format!("--export-trace {}: {e}", p.display())))?;
            Some(Box::new(crate::output::trace_export::TraceExportSink::new(
                BufWriter::with_capacity(64 * 1024, f),
            )))
        }
    };
    let printing = (cli.write.is_none() && chisel.is_none() && export.is_none()) || cli.tee;
    let mut printer: Option<Box<dyn Sink>> = if !printing || cli.quiet {
        None
    } else if cli.json {
        Some(Box::new(JsonSink::new(
            out,
            format.map(|f| f.fields().cloned().collect()),
            cli.unbuffered,
        )))
    } else if let Some(f) = format {
        Some(Box::new(FormatSink::new(out, f, time_mode, cli.unbuffered)))
    } else {
        Some(Box::new(TextSink::new(out, time_mode, cli.unbuffered)))
    };
    let mut sinks: Vec<&mut dyn Sink> = Vec::new();
    if let Some(c) = capture.as_mut() {
        sinks.push(c.as_mut());
    }
    if let Some(p) = printer.as_mut() {
        sinks.push(p.as_mut());
    }
    if let Some(e) = export.as_mut() {
        sinks.push(e.as_mut());
    }
    // The flight recorder's dumps hold what the user's filter selects, whatever a chisel's is.
    let user_filter_expr = filter_expr.clone();
    // The kernel may also drop what the chisel's own filter rejects.
    let filter_expr = match (filter_expr, chisel.as_ref().and_then(|c| c.filter_expr())) {
        (Some(a), Some(b)) => Some(crate::filter::Expr::And(Box::new(a), Box::new(b))),
        (a, b) => a.or(b),
    };
    // A chisel that reads stacks (`STACKS`) turns -k on, on the events it names.
    let chisel_stacks = chisel
        .as_ref()
        .map(|c| c.spec().stacks.clone())
        .unwrap_or_default();
    let stack_events = match &chisel_stacks {
        crate::chisel::registry::StackNeed::Events(text) => Some(
            crate::filter::parse(text, &Catalog)
                .map_err(|e| AppError::usage(format!("the chisel's STACKS filter: {e}")))?,
        ),
        _ => None,
    };
    let stack = cli.stack || chisel_stacks != crate::chisel::registry::StackNeed::None;
    let chisel_done = chisel.as_ref().is_some_and(|c| c.wants_end());
    if let Some(c) = chisel.as_mut().filter(|_| !chisel_done) {
        sinks.push(c);
    }
    if !cli.read.is_empty() {
        if !cli.command.is_empty() {
            return Err(AppError::usage(
                "-r reads files: it cannot also run a command (--)",
            ));
        }
        let code = read_files(
            cli,
            selection,
            sinks,
            &destination,
            data_req.rendering(false),
        )?;
        return chisel_outcome(chisel, code);
    }
    let live_opts = |buffer_bytes: usize, filter_expr| -> AppResult<LiveOptions> {
        Ok(LiveOptions {
            buffer_bytes,
            compat: compat_switches(cli)?,
            include_self: cli.debug,
            verbose: cli.verbose,
            max_duration,
            filter_expr,
            command: (!cli.command.is_empty()).then(|| cli.command.clone()),
            probe_lookups: cli.probe_lookups,
            data: data_opts.clone(),
            data_rendering,
            stack,
            stack_events: stack_events.clone(),
        })
    };
    if let Some(ring) = cli.flight_recorder {
        let Some(path) = &cli.write else {
            return Err(AppError::usage(
                "--flight-recorder needs -w FILE (dumps are written to FILE.1, FILE.2...)",
            ));
        };
        let mut f =
            crate::flight::FlightOptions::new(live_opts(ring, user_filter_expr)?, path.clone());
        f.compress = cli.compress;
        f.machine = machine_info();
        f.suppress = selection.suppress.clone();
        f.trigger = match &cli.trigger {
            Some(t) => filter_of(std::slice::from_ref(t))?.map(|(_, c)| c),
            None => None,
        };
        f.post = Duration::from_secs_f64(cli.post.unwrap_or(0.0).max(0.0));
        f.max_dumps = cli.max_dumps.unwrap_or(crate::flight::DEFAULT_MAX_DUMPS);
        f.dump_at_end = !cli.no_final_dump;
        // A chisel watches the events as they happen and may ask for dumps (`dump()`).
        let mut watchers: Vec<&mut dyn Sink> = Vec::new();
        if let Some(c) = chisel.as_mut().filter(|_| !chisel_done) {
            let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            c.set_dump_request(flag.clone());
            f.request = Some(flag);
            watchers.push(c);
        }
        let summary = crate::flight::run_watched(&f, watchers)?;
        if cli.verbose {
            eprintln!("tpdig: {} dumps written", summary.dumps.len());
        }
        let code = chisel_outcome(chisel, 0)?;
        return Ok(summary
            .command_status
            .map_or(code, crate::command::exit_code));
    }
    let opts = live_opts(cli.buffer_size, filter_expr)?;
    let type_counts = type_counts.as_mut().map(|w| w.as_mut() as &mut dyn Write);
    let summary = live::capture(&opts, selection, sinks, type_counts)?;
    let code = chisel_outcome(chisel, 0)?;
    if cli.verbose {
        let mut err = io::stderr().lock();
        if let Some(why) = &summary.stopped_by {
            let _ = writeln!(err, "tpdig: stopped by {why}");
        }
        let _ = summary.print(&mut err);
    }
    Ok(summary
        .command_status
        .map_or(code, crate::command::exit_code))
}

/// A chisel that failed (syntax, runtime error, endless loop) decides the exit code.
fn chisel_outcome(chisel: Option<crate::chisel::ChiselSink>, code: i32) -> AppResult<i32> {
    match chisel.and_then(|mut c| c.take_error()) {
        Some(e) => Err(e.into()),
        None => Ok(code),
    }
}

/// Listing into a closed pipe (`tpdig -l | head`) is not an error.
fn quiet_pipe(e: io::Error) -> AppError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        AppError::new(ExitKind::Quiet, "")
    } else {
        AppError::runtime(e.to_string())
    }
}

/// `-r`: replays the files through the pipeline into `sink`.
fn read_files(
    cli: &Cli,
    selection: Selection,
    sinks: Vec<&mut dyn Sink>,
    destination: &Destination,
    data_rendering: crate::params::DataRendering,
) -> AppResult<i32> {
    let start = std::time::Instant::now();
    let mut pipeline = Pipeline::new(State::default(), sinks, selection);
    // A capture that stored data says so (and sets `captured`).
    pipeline.data_rendering = data_rendering;
    pipeline.count_types = cli.summary;
    pipeline.state_off = compat_switches(cli)?.no_state;
    let opts = ReplayOptions {
        skip_bad: cli.skip_bad,
        progress: cli.progress,
    };
    let report = replay(&cli.read, &opts, &mut pipeline)?;
    pipeline.end(&[]);
    if let Some(e) = pipeline.io_error.take() {
        return Err(AppError::runtime(format!("writing output: {e}")));
    }
    if cli.summary {
        let _ = pipeline.print_type_counts(&mut destination.writer()?);
    }
    for w in &report.recovered {
        eprintln!("tpdig: warning: {w}");
    }
    if cli.verbose {
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "tpdig: {} events read in {secs:.2} s ({:.0} events/s), {} shown, {} drops recorded in the capture",
            report.events,
            report.events as f64 / secs.max(1e-9),
            pipeline.shown,
            report.drops
        );
    }
    if !report.errors.is_empty() {
        return Err(AppError::new(
            ExitKind::BadInput,
            report.errors.join("\ntpdig: "),
        ));
    }
    Ok(0)
}

/// What the flags, the filter, `-p` and the chisel say about I/O data.
fn data_request(
    cli: &Cli,
    filter: Option<&crate::filter::Expr>,
    format: Option<&Format>,
    chisel: Option<&crate::chisel::ChiselSink>,
) -> AppResult<DataRequest> {
    use crate::params::BufferFormat;
    let formats = [
        (cli.print_ascii, BufferFormat::Ascii, "-A"),
        (cli.print_hex, BufferFormat::Hex, "-x"),
        (cli.print_hex_ascii, BufferFormat::HexAscii, "-X"),
        (cli.print_base64, BufferFormat::Base64, "-b"),
    ];
    let chosen: Vec<_> = formats.iter().filter(|f| f.0).collect();
    if chosen.len() > 1 {
        let names: Vec<&str> = chosen.iter().map(|f| f.2).collect();
        return Err(AppError::usage(format!(
            "{} choose how data is shown: give only one",
            names.join(", ")
        )));
    }
    Ok(DataRequest {
        snaplen: cli.snaplen,
        format: chosen.first().map_or(BufferFormat::Normal, |f| f.1),
        uncut: cli.verbose || cli.json,
        chisel_snaplen: chisel.and_then(|c| c.snaplen()),
        fields_use_data: filter.is_some_and(filter_reads_data)
            || format.is_some_and(|f| f.fields().any(reads_data)),
        no_arrays: compat_switches(cli)?.no_array_fetch,
    })
}

/// Facts about this machine that a capture carries.
fn machine_info() -> MachineInfo {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut m = MachineInfo::default();
    m.set("hostname", read("/proc/sys/kernel/hostname"));
    m.set("kernel", read("/proc/sys/kernel/osrelease"));
    m.set("arch", crate::syscalls::Arch::native().as_str());
    m.set("cpus", read("/sys/devices/system/cpu/online"));
    m.set("tpdig", env!("CARGO_PKG_VERSION"));
    m
}

/// `-l`: every field with its description, grouped by class as sysdig does.
fn list_fields(out: &mut dyn Write) -> io::Result<()> {
    let mut class = "";
    for f in FIELDS {
        let c = f.name.split('.').next().unwrap_or("");
        if c != class {
            class = c;
            writeln!(out, "\n----------------------\nField Class: {c}\n")?;
        }
        let name = match f.arg {
            crate::fields::ArgUse::Required => format!("{}[ARG]", f.name),
            _ => f.name.to_string(),
        };
        writeln!(out, "{name:<25} {}", f.desc)?;
    }
    Ok(())
}
