//! From parsed flags to an exit code: check the flags, open the sinks and a chisel, then
//! one of the three runs (read files, live capture, flight recorder).

use crate::capture::blocks::MachineInfo;
use crate::chisel::ChiselSink;
use crate::cli::Cli;
use crate::compat::Compat;
use crate::data_choice::{DataRequest, filter_reads_data, reads_data};
use crate::error::{AppError, AppResult, ExitKind};
use crate::fields::Catalog;
use crate::live::{self, LiveOptions};
use crate::output::Sink;
use crate::output::destination::Destination;
use crate::output::format::{CONTAINER_FORMAT, Format};
use crate::pipeline::{Pipeline, Selection};
use crate::source::file::{ReplayOptions, replay};
use crate::state::{Comm, State};
use crate::wall_time::TimeMode;
use std::io::{self, BufWriter, Write};
use std::time::Duration;

mod listings;
mod outputs;

use outputs::Outputs;

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
    if let Some(code) = listings::answer(cli)? {
        return Ok(code);
    }
    check_combinations(cli)?;
    let max_duration = max_duration(cli)?;
    let time_mode = TimeMode::parse(&cli.timetype).map_err(AppError::usage)?;
    let destination = Destination::open(cli.output.as_deref())?;
    // -S: the table of event types, written after the events.
    let mut type_counts = cli.summary.then(|| destination.writer()).transpose()?;
    // A chisel takes its arguments from the first words; the rest is the filter.
    let mut words = cli.filter.clone();
    let mut chisel = open_chisel(cli, &destination, &mut words)?;
    let (user_filter, compiled) = filter_of(&words)?.unzip();
    let format = print_format(cli)?;
    let data_req = data_request(cli, user_filter.as_ref(), format.as_ref(), chisel.as_ref())?;
    let (data_opts, data_rendering) = data_req.live(user_filter.as_ref());
    let selection = selection(cli, compiled);
    let mut outputs = Outputs::open(
        cli,
        &destination,
        format,
        time_mode,
        data_opts.as_ref(),
        chisel.is_some(),
    )?;
    // A chisel that is done before the first event (an error in its start) sees none.
    let chisel_done = chisel.as_ref().is_some_and(|c| c.wants_end());

    if !cli.read.is_empty() {
        let mut sinks = outputs.sinks();
        if let Some(c) = chisel.as_mut().filter(|_| !chisel_done) {
            sinks.push(c);
        }
        let rendering = data_req.rendering(false);
        let code = read_files(cli, selection, sinks, &destination, rendering)?;
        return chisel_outcome(chisel, code);
    }
    let (stack, stack_events) = stack_request(cli, chisel.as_ref())?;
    let mut opts = LiveOptions {
        buffer_bytes: cli.buffer_size,
        compat: compat_switches(cli)?,
        include_self: cli.debug,
        verbose: cli.verbose,
        max_duration,
        filter_expr: None,
        command: (!cli.command.is_empty()).then(|| cli.command.clone()),
        probe_lookups: cli.probe_lookups,
        data: data_opts,
        data_rendering,
        stack,
        stack_events,
    };
    if let Some(ring) = cli.flight_recorder {
        // The flight recorder's dumps hold what the user's filter selects, whatever a
        // chisel's is.
        opts.buffer_bytes = ring;
        opts.filter_expr = user_filter;
        let chisel = chisel.filter(|_| !chisel_done);
        return flight(cli, opts, selection, chisel);
    }
    // The kernel may also drop what the chisel's own filter rejects.
    opts.filter_expr = match (user_filter, chisel.as_ref().and_then(|c| c.filter_expr())) {
        (Some(a), Some(b)) => Some(crate::filter::Expr::And(Box::new(a), Box::new(b))),
        (a, b) => a.or(b),
    };
    let mut sinks = outputs.sinks();
    if let Some(c) = chisel.as_mut().filter(|_| !chisel_done) {
        sinks.push(c);
    }
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

/// Flags that do not go together, found before anything starts.
fn check_combinations(cli: &Cli) -> AppResult<()> {
    if cli.export_trace.is_some() && cli.read.is_empty() {
        return Err(AppError::usage(
            "--export-trace converts captures: it needs -r",
        ));
    }
    if !cli.read.is_empty() && !cli.command.is_empty() {
        return Err(AppError::usage(
            "-r reads files: it cannot also run a command (--)",
        ));
    }
    if cli.flight_recorder.is_some() && cli.write.is_none() {
        return Err(AppError::usage(
            "--flight-recorder needs -w FILE (dumps are written to FILE.1, FILE.2...)",
        ));
    }
    Ok(())
}

/// `-M SECONDS`.
fn max_duration(cli: &Cli) -> AppResult<Option<Duration>> {
    match cli.max_seconds {
        Some(s) if !(s.is_finite() && s > 0.0) => Err(AppError::usage(format!(
            "-M {s}: the duration must be a positive number of seconds"
        ))),
        Some(s) => Ok(Some(Duration::from_secs_f64(s))),
        None => Ok(None),
    }
}

/// `-c CHISEL`: the chisel, with its arguments taken from the front of `words`.
fn open_chisel(
    cli: &Cli,
    destination: &Destination,
    words: &mut Vec<String>,
) -> AppResult<Option<ChiselSink>> {
    let Some(name) = &cli.chisel else {
        return Ok(None);
    };
    let source = crate::chisel::find(name)?;
    let (spec, _) = crate::chisel::registry::spec_of(&source)?;
    let n = chisel_arg_count(&spec, words);
    let args: Vec<String> = words.drain(..n).collect();
    let out: Box<dyn Write> = Box::new(BufWriter::new(destination.writer()?));
    let mut sink = ChiselSink::new(&source, &args, out)?;
    sink.set_live(cli.read.is_empty());
    Ok(Some(sink))
}

/// What user space shows: the compiled filter, `-U`'s hidden commands, `-n`.
fn selection(cli: &Cli, filter: Option<crate::filter::Filter>) -> Selection {
    Selection {
        filter,
        suppress: cli
            .suppress_comm
            .iter()
            .map(|c| Comm::from_bytes(c.as_bytes()))
            .collect(),
        max_events: cli.numevents,
    }
}

/// `-k`, or a chisel that reads stacks (`STACKS`, on the events it names: `offcpu` needs
/// them on scheduler switches only): whether to take call chains, and on which events.
fn stack_request(
    cli: &Cli,
    chisel: Option<&ChiselSink>,
) -> AppResult<(bool, Option<crate::filter::Expr>)> {
    use crate::chisel::registry::StackNeed;
    let need = chisel.map(|c| c.spec().stacks.clone()).unwrap_or_default();
    let events = match &need {
        StackNeed::Events(text) => Some(
            crate::filter::parse(text, &Catalog)
                .map_err(|e| AppError::usage(format!("the chisel's STACKS filter: {e}")))?,
        ),
        _ => None,
    };
    Ok((cli.stack || need != StackNeed::None, events))
}

/// `--flight-recorder RING -w FILE`: events kept in overwrite rings, dumped on a trigger;
/// a chisel watches the events as they happen and may ask for dumps (`dump()`).
fn flight(
    cli: &Cli,
    opts: LiveOptions,
    selection: Selection,
    mut chisel: Option<ChiselSink>,
) -> AppResult<i32> {
    let path = cli.write.clone().unwrap_or_default();
    let mut f = crate::flight::FlightOptions::new(opts, path);
    f.compress = cli.compress;
    f.machine = machine_info();
    f.suppress = selection.suppress;
    f.trigger = match &cli.trigger {
        Some(t) => filter_of(std::slice::from_ref(t))?.map(|(_, c)| c),
        None => None,
    };
    f.post = Duration::from_secs_f64(cli.post.unwrap_or(0.0).max(0.0));
    f.max_dumps = cli.max_dumps.unwrap_or(crate::flight::DEFAULT_MAX_DUMPS);
    f.dump_at_end = !cli.no_final_dump;
    let mut watchers: Vec<&mut dyn Sink> = Vec::new();
    if let Some(c) = chisel.as_mut() {
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
    Ok(summary
        .command_status
        .map_or(code, crate::command::exit_code))
}

/// A chisel that failed (syntax, runtime error, endless loop) decides the exit code.
fn chisel_outcome(chisel: Option<ChiselSink>, code: i32) -> AppResult<i32> {
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
    chisel: Option<&ChiselSink>,
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
