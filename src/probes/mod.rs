//! Arguments that live in user memory, read inside the traced call.
//!
//! `raw_syscalls` records carry pointers; reading the memory behind them later returns
//! wrong but plausible values (the buffer was reused). So names are fetched by probe
//! events that fire *in* the call (event probes on `syscalls:sys_enter_*`) or just before
//! it (uprobes on the C library's path-taking functions), and tied to the call by thread.
//! See DESIGN.md, "Arguments that live in user memory".
//!
//! - [`elf`]: symbol → file offset, from ELF bytes (no I/O).
//! - [`eh_frame`]: function bounds from the unwind tables, for stripped code (the loader).
//! - [`x86`]: x86-64 instruction boundaries, and the `syscall` sites whose number is known.
//! - [`catalog`]: which functions, which arguments, which system calls they stand for;
//!   and the functions probed *after* their system call (pipe, socketpair: fds returned
//!   through user memory).
//! - [`objects`]: which libraries and executables to probe (reads /proc).
//! - [`fetch`]: the text of fetch arguments in probe definitions (no I/O).
//! - [`control`]: the tracefs control files (appending definitions, stale groups).
//! - [`install`]: creating and removing the probe events in tracefs (the I/O edge).
//! - [`record`]: decoding a probe event's records by its format (no I/O).
//! - [`resolver`]: attaching decoded values to the right call of the right thread.
//! - [`io_data`]: the bytes reads and writes moved, copied right after the call.
//! - [`sockaddr`]: socket addresses fetched as raw bytes, decoded.

pub mod catalog;
pub mod control;
pub mod eh_frame;
pub mod elf;
pub mod fetch;
pub mod install;
pub mod io_data;
pub mod objects;
pub mod record;
pub mod resolver;
pub mod sockaddr;
pub mod x86;

pub use install::{
    Convention, DataOptions, InstallError, ProbeEvent, ProbeOptions, ProbeSet, Skipped, Tiers,
};
pub use record::{Binding, PostRecord, PostSpec, ProbeDecoder, ProbeHit, Source, Value};
pub use resolver::{Delivery, PostHit, Resolved, ResolvedValue, Resolver, Stats};
pub use sockaddr::SockAddr;
