//! tracefs: where tracepoints are described.
//!
//! Every record layout tpdig decodes comes from tracefs `format` files read at run time
//! (or stored in a capture file), never from offsets compiled into the binary: layouts
//! differ between kernel eras and architectures (`long` is 4 bytes on 32-bit kernels,
//! the common header grew and shrank, dynamic strings changed encoding twice).
//!
//! - [`discover`]: finding (and if needed mounting) tracefs, reading event files. The
//!   only part that does I/O.
//! - [`format`]: the `format` file parser, free of I/O so it can be fuzzed and fed files
//!   from other machines.
//! - [`field`]: one field's declaration and its readers over raw records.
//! - [`print_fmt`]: value-name tables (`__print_symbolic`, `__print_flags`) lifted from
//!   the print fmt.

pub mod discover;
pub mod field;
pub mod format;
pub mod print_fmt;

pub use discover::{How, LocateOptions, Tracefs, TracefsError, locate};
pub use field::{Field, FieldKind};
pub use format::{EventFormat, FormatError, parse_header_page};
pub use print_fmt::{SymbolKind, SymbolTable};
