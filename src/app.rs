//! From parsed flags to an exit code.

use crate::cli::Cli;
use crate::compat::Compat;
use crate::decode::Event;
use crate::error::{AppError, AppResult};
use crate::live::{self, LiveOptions};
use crate::output::Sink;
use crate::output::text::TextSink;
use crate::state::ThreadTable;
use crate::syscalls::Arch;
use std::io::{self, BufWriter, Write};
use std::time::Duration;

/// A sink that shows nothing (`-q`).
struct Discard;

impl Sink for Discard {
    fn event(&mut self, _: &Event<'_>, _: &ThreadTable) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs tpdig with the given arguments and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match run_inner(&cli) {
        Ok(()) => 0,
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

fn run_inner(cli: &Cli) -> AppResult<()> {
    let max_duration = match cli.max_seconds {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            return Err(AppError::usage(format!(
                "-M {s}: the duration must be a positive number of seconds"
            )));
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let opts = LiveOptions {
        buffer_bytes: cli.buffer_size,
        compat: compat_switches(cli)?,
        include_self: cli.debug,
        verbose: cli.verbose,
        max_events: cli.numevents,
        max_duration,
    };
    let stdout = io::stdout();
    let mut text;
    let mut discard = Discard;
    let sink: &mut dyn Sink = if cli.quiet {
        &mut discard
    } else {
        text = TextSink::new(
            BufWriter::with_capacity(64 * 1024, stdout.lock()),
            Arch::native(),
            cli.unbuffered,
        );
        &mut text
    };
    let summary = live::capture(&opts, sink)?;
    if cli.verbose {
        let mut err = io::stderr().lock();
        if let Some(why) = &summary.stopped_by {
            let _ = writeln!(err, "tpdig: stopped by {why}");
        }
        let _ = summary.print(&mut err);
    }
    Ok(())
}
