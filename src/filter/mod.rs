//! sysdig's filter language: `proc.name = cat and not fd.name startswith /dev`.
//!
//! The language is parsed once and then evaluated millions of times per second, and parts of
//! it are also handed to the kernel as an ftrace filter. The module is split along those
//! three uses, each free of I/O so it can be fuzzed:
//!
//! - [`lexer`] and [`parser`] turn the command-line words into an [`ast::Expr`]. Field names
//!   are checked while parsing, so "unknown field" errors point at a column; the names come
//!   from a [`FieldCatalog`] trait rather than a fixed table, because the catalog is owned by
//!   the extractor (one definition shared by filters, `-p`, `-j`, `-l` and the man page) and
//!   tests substitute a small one.
//! - [`printer`] prints an `Expr` in a canonical form that parses back to the same tree; the
//!   round trip is property-tested, which keeps parser and printer honest with each other.
//! - [`compile`] turns an `Expr` into a [`compile::Filter`]: every constant (numbers, CIDRs,
//!   booleans, lower-cased needles) is parsed up front, so evaluation is a tree walk over
//!   pre-typed tests and an event only has to hand out values ([`compile::FieldValues`]).
//! - [`pushdown`] derives a sound over-approximation of the filter in ftrace syntax, for
//!   `PERF_EVENT_IOC_SET_FILTER`; user space still runs the full filter, so pushing down can
//!   only save work, never change results.
//!
//! Grammar (as in libsinsp's current parser): `or` < `and` < `not`; a check is
//! `field op value`, `field in (v, ...)` or `field exists`; values are bare words or quoted
//! strings. Mixing `and` and `or` without parentheses uses ordinary precedence: the AST
//! parser of current libsinsp does so, while older sysdig compilers refused such filters
//! ("expression mixes 'and' and 'or' in an ambiguous way"), so accepting them is a
//! compatible superset. The printer brackets every `and` under an `or` so its output is
//! accepted by both.

pub mod ast;
pub mod compile;
pub mod glob;
pub mod lexer;
pub mod parser;
pub mod printer;
pub mod pushdown;

pub use ast::{ArgStyle, Expr, FieldRef, Lit, Op, Operand};
pub use compile::{FieldValues, Filter, Value, compile};
pub use parser::parse;
pub use pushdown::{KernelField, KernelFields, KernelKind, event_types, pushdown};

use std::fmt;

/// A parse or compile error: a message and the 1-based column (in characters) of the input
/// where the problem was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub column: usize,
    pub message: String,
}

impl FilterError {
    pub(crate) fn new(column: usize, message: impl Into<String>) -> Self {
        FilterError {
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FilterError {}

/// The value type of a field, as far as filtering cares. It decides how constants are
/// parsed and which operators are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Free text (names, arguments, `evt.res`).
    Str,
    /// A file system path; string semantics, and the natural target of `pmatch`.
    Path,
    /// Signed integer.
    Int,
    /// Unsigned integer.
    UInt,
    /// `true`/`false` (also `1`/`0`).
    Bool,
    /// An IP address; constants may be an address or a CIDR network.
    Ip,
    /// An IP network field (`fd.net`): constants are CIDR networks, the event gives an address.
    Net,
    /// A port number.
    Port,
    /// A file descriptor number.
    Fd,
    /// A time or duration in nanoseconds.
    Time,
}

impl FieldType {
    /// Fields compared numerically.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::UInt | FieldType::Port | FieldType::Fd | FieldType::Time
        )
    }

    /// Fields compared as text.
    pub fn is_text(self) -> bool {
        matches!(self, FieldType::Str | FieldType::Path)
    }
}

/// What the catalog says about a field reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldInfo {
    /// Opaque to the filter; the extractor's own handle for the field.
    pub id: u32,
    pub ty: FieldType,
    /// The field is meaningless without an argument (`evt.arg`, `evt.type.is`).
    pub needs_arg: bool,
}

/// The source of field names. `lookup` validates a name and its optional argument
/// (`proc.aname[2]` → `("proc.aname", Some("2"))`); `names` lists every field name, for
/// "did you mean" suggestions and for resolving `evt.arg.fd` style arguments.
pub trait FieldCatalog {
    fn lookup(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo, String>;
    fn names(&self) -> Vec<&str>;
}
