//! tpdig: sysdig's system-exploration workflow on perf_event tracepoints.
//!
//! The pipeline reads top to bottom: source → decode → state → filter → sinks.
//! `tracefs` and `perf` are the kernel seams; `source` turns per-CPU rings into one
//! time-ordered stream; `decode` reads records by their format files; `state` keeps
//! threads current; `output` renders. `live` wires them for a capture, `app` for the CLI.

pub mod app;
pub mod calls;
pub mod capture;
pub mod chisel;
pub mod cli;
pub mod command;
pub mod compat;
pub mod data_choice;
pub mod decode;
pub mod error;
pub mod fasthash;
pub mod fields;
pub mod filter;
pub mod flight;
pub mod io_wait;
pub mod kernel_filter;
pub mod live;
pub mod output;
pub mod params;
pub mod perf;
pub mod pipeline;
pub mod probes;
pub mod run_lock;
pub mod scap;
pub mod signals;
pub mod source;
pub mod stack;
pub mod state;
pub mod syscall_source;
pub mod syscalls;
pub mod teardown;
pub mod tracefs;
pub mod wall_time;
