//! Call stacks (`-k`): the user and kernel chain of an event, named.
//!
//! The kernel hands each selected sample its call chain (PERF_SAMPLE_CALLCHAIN: kernel
//! frames, then user frames walked by frame pointer). Addresses are named here, in the
//! source stage, before decode: kernel ones from `/proc/kallsyms`, user ones through the
//! process's executable mappings (PERF_RECORD_MMAP records, or `/proc/PID/maps` for a
//! process that was running before the capture) and the mapped file's ELF symbol tables.
//! Naming at the source keeps files self-contained: a capture stores the named frames
//! ([`Stack::encode`]), so `-r` on a machine without the binaries shows the same stack.
//!
//! Code built without frame pointers defeats the kernel's user chain (it follows rbp).
//! For it, each `-k` sample also carries the user registers and a copy of the user stack,
//! and the user frames are unwound here with the `.eh_frame` rules of the mapped objects
//! (`cfi` computes a rule row, `unwind` walks the copy); the symbolizer picks between the
//! two walks. The copy is used at the source and never stored: captures keep names only.
//!
//! Parsers (`callchain`, `kallsyms`, `maps`, `frames`, `cfi`, `unwind`) take bytes or
//! text and do no I/O; `symbolizer` reads the files.

pub mod callchain;
pub mod cfi;
pub mod frames;
pub mod kallsyms;
pub mod live;
pub mod maps;
pub mod selection;
pub mod symbolizer;
pub mod symbols;
pub mod unwind;

pub use frames::{Frame, Stack};
pub use symbolizer::Symbolizer;
