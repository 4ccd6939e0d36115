//! The command line, defined once.
//!
//! Flags follow sysdig's letters and meanings so that its users' habits carry over. The
//! definitions here are the single source for `--help`, the man-page check
//! (`tests/man_page.rs` walks `Cli::command()` and fails when a flag is undocumented) and
//! the option values the rest of the program reads.

use clap::{ArgAction, CommandFactory, Parser};

/// Default per-CPU ring size. Measured here: 8 MiB per CPU is what `perf record -a` needs to
/// lose nothing during a 1M-syscall storm; smaller rings drop.
pub const DEFAULT_BUFFER: &str = "8M";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "tpdig",
    version,
    about = "System-call and scheduler tracing on perf_event tracepoints, sysdig style",
    long_about = None,
    after_help = "Run as root (or with CAP_PERFMON and tracefs access). See `man tpdig` for \
                  the event line, the flags, exit codes and the old-kernel switches.",
    disable_help_flag = true
)]
pub struct Cli {
    /// Stop after printing N events.
    #[arg(short = 'n', long = "numevents", value_name = "N")]
    pub numevents: Option<u64>,

    /// Stop after SECS seconds of capture.
    #[arg(short = 'M', value_name = "SECS")]
    pub max_seconds: Option<f64>,

    /// Do not print events (count them; useful with -v).
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Verbose: what was detected at start-up, and a summary on stderr at the end
    /// (events, drops per CPU, elapsed time, events/s).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// Also capture tpdig's own events (no in-kernel self-exclusion filter).
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,

    /// Size of each CPU's ring buffer, e.g. 512K, 8M (rounded up to a power of two pages).
    #[arg(long = "buffer-size", value_name = "SIZE", default_value = DEFAULT_BUFFER,
          value_parser = parse_size)]
    pub buffer_size: usize,

    /// Flush the output after every event instead of in batches.
    #[arg(long = "unbuffered")]
    pub unbuffered: bool,

    /// Output format: `%field` names, `%Nfield` widths, a leading `*` to show events with
    /// missing fields, `\n` and `\t`. `-pc` is sysdig's container format.
    #[arg(short = 'p', long = "print", value_name = "FORMAT")]
    pub print: Option<String>,

    /// Bytes of each read's and write's data to copy and keep (sysdig's snaplen; default
    /// 80). Copying data costs a probe hit per I/O call, so it is on only when asked for:
    /// by -s, -A, -x, -X, -b, a filter or -p that uses the data, or a chisel.
    #[arg(short = 's', long = "snaplen", value_name = "LEN")]
    pub snaplen: Option<usize>,

    /// Show I/O data as text: printable characters and line ends only.
    #[arg(short = 'A', long = "print-ascii")]
    pub print_ascii: bool,

    /// Show I/O data in hex, 16 bytes per row.
    #[arg(short = 'x', long = "print-hex")]
    pub print_hex: bool,

    /// Show I/O data in hex and as text, 16 bytes per row.
    #[arg(short = 'X', long = "print-hex-ascii")]
    pub print_hex_ascii: bool,

    /// Show I/O data in base64.
    #[arg(short = 'b', long = "print-base64")]
    pub print_base64: bool,

    /// One JSON object per event per line (the default keys, or the fields of -p).
    #[arg(short = 'j', long = "json")]
    pub json: bool,

    /// Write the events (lines, -p, -j, the -S table, a chisel's output) to FILE instead of
    /// stdout. A traced command keeps stdout; tpdig's own messages stay on stderr.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    /// How evt.outputtime is shown: h (local time of day, default), a (seconds since the
    /// epoch), r (since the first event), d (exit since its entry), D (since the previous event).
    #[arg(
        short = 't',
        long = "timetype",
        value_name = "h|a|r|d|D",
        default_value = "h"
    )]
    pub timetype: String,

    /// At the end, print how many events of each type were shown.
    #[arg(short = 'S', long = "summary")]
    pub summary: bool,

    /// Do not show events of threads whose command name is COMM (repeatable).
    #[arg(short = 'U', long = "suppress-comm", value_name = "COMM")]
    pub suppress_comm: Vec<String>,

    /// List the fields usable in filters, -p and -j, with descriptions, and exit.
    #[arg(short = 'l', long = "list")]
    pub list_fields: bool,

    /// List the event types with their arguments, and exit.
    #[arg(short = 'L', long = "list-events")]
    pub list_events: bool,

    /// Flight recorder: keep the last SIZE bytes of events per CPU (default 8M) and dump them
    /// to -w FILE.N on a trigger (SIGUSR1, --trigger, the end of the run).
    #[arg(long = "flight-recorder", value_name = "SIZE", num_args = 0..=1, require_equals = true,
          default_missing_value = "8M", value_parser = parse_size)]
    pub flight_recorder: Option<usize>,

    /// With --flight-recorder: dump when an event matches this filter.
    #[arg(long = "trigger", value_name = "FILTER")]
    pub trigger: Option<String>,

    /// With --flight-recorder: keep recording SECS seconds after a trigger before dumping.
    #[arg(long = "post", value_name = "SECS")]
    pub post: Option<f64>,

    /// With --flight-recorder: write at most N dumps (0: no limit).
    #[arg(long = "max-dumps", value_name = "N")]
    pub max_dumps: Option<u64>,

    /// With --flight-recorder: do not dump when the run ends.
    #[arg(long = "no-final-dump")]
    pub no_final_dump: bool,

    /// Run chisel NAME (a stock chisel, one in ./chisels, ~/.chisels, $TPDIG_CHISEL_DIR, or a
    /// path to a .rhai file); its arguments are the next words. `-cl` lists the chisels.
    #[arg(short = 'c', long = "chisel", value_name = "NAME")]
    pub chisel: Option<String>,

    /// Describe chisel NAME and its arguments, and exit.
    #[arg(short = 'i', long = "chisel-info", value_name = "NAME")]
    pub chisel_info: Option<String>,

    /// Write the captured events to FILE (tpdig's capture format) instead of printing them.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<std::path::PathBuf>,

    /// With -w: the file format, `tpdig` or `scap` (sysdig's, which sysdig and Falco read);
    /// a FILE ending in .scap picks `scap`.
    #[arg(long = "format", value_name = "FORMAT", value_parser = ["tpdig", "scap"])]
    pub write_format: Option<String>,

    /// With -w: also print the events (default line, -p or -j), as a live run would.
    #[arg(long = "tee")]
    pub tee: bool,

    /// Read events from a capture FILE instead of the kernel (repeatable: files merge by time).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Vec<std::path::PathBuf>,

    /// Compress the capture written with -w (deflate, block by block).
    #[arg(short = 'z', long = "compress")]
    pub compress: bool,

    /// With -w: start a new file every MB megabytes (names get a number appended).
    #[arg(short = 'C', long = "file-size", value_name = "MB")]
    pub file_size: Option<u64>,

    /// With -w: start a new file every SECS seconds.
    #[arg(short = 'G', long = "seconds", value_name = "SECS")]
    pub file_seconds: Option<u64>,

    /// With -w and -C, -G or -e: keep at most N files, reusing their names in a ring.
    #[arg(short = 'W', long = "limit", value_name = "N")]
    pub file_limit: Option<u64>,

    /// With -w: start a new file every N events.
    #[arg(short = 'e', long = "events", value_name = "N")]
    pub file_events: Option<u64>,

    /// With -r: show reading progress on stderr.
    #[arg(short = 'P', long = "progress")]
    pub progress: bool,

    /// With -r: report damaged blocks and go on with the next good one.
    #[arg(long = "skip-bad")]
    pub skip_bad: bool,

    /// Also probe the high-volume path lookups (stat family, access) system-wide, so their
    /// paths are named (costs a uprobe hit per call).
    #[arg(long = "probe-lookups")]
    pub probe_lookups: bool,

    /// Force old-kernel fallbacks (comma-separated; see man tpdig, COMPATIBILITY). Also
    /// read from the TPDIG_COMPAT environment variable.
    #[arg(long = "compat", value_name = "LIST", hide = true)]
    pub compat: Option<String>,

    /// The filter: sysdig's filter language, e.g. `proc.name=cat and evt.type=openat`.
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,

    /// `-- cmd args`: run the command, trace it and its descendants, stop when it exits,
    /// and exit with its status.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,

    /// Print help.
    #[arg(short = 'h', long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Parses `4096`, `512K`, `8M`, `1G` (powers of 1024; a trailing `B`/`iB` is accepted).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: usize = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => {
                    return Err(format!(
                        "unknown size suffix '{c}' in '{text}' (use K, M or G)"
                    ));
                }
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size (examples: 4096, 512K, 8M)"))?;
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("size '{text}' is out of range"))
}

/// Every long and short flag name the CLI accepts, for the man-page check.
pub fn flag_names() -> Vec<String> {
    let cmd = Cli::command();
    let mut names = Vec::new();
    for arg in cmd.get_arguments() {
        if let Some(s) = arg.get_short() {
            names.push(format!("-{s}"));
        }
        if let Some(l) = arg.get_long() {
            names.push(format!("--{l}"));
        }
    }
    names.push("--version".into());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert!(parse_size("8X").unwrap_err().contains("suffix"));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
