//! The one field catalog: every field's name, type, description and extractor.
//!
//! Filters, `-p` formats, `-j` output, `-l` and the man page all read this table, so a field
//! exists everywhere or nowhere. Names and meanings follow sysdig (see the man page, FIELDS);
//! descriptions are tpdig's own words.

use super::view::EventView;
use crate::decode::Kind;
use crate::filter::{FieldType, Value};
use crate::output::time::{format_datetime, format_iso8601};
use crate::syscalls;
use std::borrow::Cow;

/// Whether a field takes an argument (`evt.arg.name`, `evt.arg[0]`, `proc.aname[2]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgUse {
    None,
    Required,
    Optional,
}

pub type Extract = for<'v, 'a> fn(&'v EventView<'v>, Option<&'a str>) -> Option<Value<'v>>;

pub struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    pub arg: ArgUse,
    pub desc: &'static str,
    pub extract: Extract,
}

macro_rules! field {
    ($name:expr, $ty:ident, $arg:ident, $desc:expr, $f:expr) => {
        FieldDef {
            name: $name,
            ty: FieldType::$ty,
            arg: ArgUse::$arg,
            desc: $desc,
            extract: $f,
        }
    };
}

fn s(v: impl Into<Cow<'static, str>>) -> Option<Value<'static>> {
    Some(Value::Str(v.into()))
}

fn syscall_ret(v: &EventView<'_>) -> Option<i64> {
    match v.ev.kind {
        Kind::SyscallExit { ret, .. } => Some(ret),
        _ => None,
    }
}

fn offset(v: &EventView<'_>) -> i64 {
    crate::output::time::utc_offset(v.ev.ts as i64 / 1_000_000_000)
}

pub static FIELDS: &[FieldDef] = &[
    field!(
        "evt.num",
        UInt,
        None,
        "sequence number of the event, from 1",
        |v, _| Some(Value::UNum(v.ev.num))
    ),
    field!(
        "evt.time",
        Str,
        None,
        "local time of day with nanoseconds",
        |v, _| {
            let t = format_datetime(v.ev.ts, offset(v), true);
            s(t[11..].to_string())
        }
    ),
    field!(
        "evt.time.s",
        Str,
        None,
        "local time of day, whole seconds",
        |v, _| {
            let t = format_datetime(v.ev.ts, offset(v), false);
            s(t[11..].to_string())
        }
    ),
    field!(
        "evt.time.iso8601",
        Str,
        None,
        "UTC time in ISO 8601 with nanoseconds",
        |v, _| s(format_iso8601(v.ev.ts))
    ),
    field!(
        "evt.datetime",
        Str,
        None,
        "local date and time with nanoseconds",
        |v, _| s(format_datetime(v.ev.ts, offset(v), true))
    ),
    field!(
        "evt.datetime.s",
        Str,
        None,
        "local date and time, whole seconds",
        |v, _| s(format_datetime(v.ev.ts, offset(v), false))
    ),
    field!(
        "evt.rawtime",
        Time,
        None,
        "nanoseconds since the epoch",
        |v, _| Some(Value::UNum(v.ev.ts))
    ),
    field!(
        "evt.rawtime.s",
        UInt,
        None,
        "whole seconds since the epoch",
        |v, _| Some(Value::UNum(v.ev.ts / 1_000_000_000))
    ),
    field!(
        "evt.rawtime.ns",
        UInt,
        None,
        "nanosecond part of evt.rawtime",
        |v, _| Some(Value::UNum(v.ev.ts % 1_000_000_000))
    ),
    field!(
        "evt.reltime",
        Time,
        None,
        "nanoseconds since the first event of the run",
        |v, _| { Some(Value::UNum(v.ev.ts.saturating_sub(v.clock.first_ts))) }
    ),
    field!(
        "evt.reltime.s",
        UInt,
        None,
        "whole seconds since the first event",
        |v, _| Some(Value::UNum(
            v.ev.ts.saturating_sub(v.clock.first_ts) / 1_000_000_000
        ))
    ),
    field!(
        "evt.reltime.ns",
        UInt,
        None,
        "nanosecond part of evt.reltime",
        |v, _| Some(Value::UNum(
            v.ev.ts.saturating_sub(v.clock.first_ts) % 1_000_000_000
        ))
    ),
    field!(
        "evt.outputtime",
        Time,
        None,
        "event time as chosen by -t (ns since the epoch in JSON)",
        |v, _| Some(Value::UNum(v.ev.ts))
    ),
    field!(
        "evt.deltatime",
        Time,
        None,
        "nanoseconds since the previous event shown",
        |v, _| {
            Some(Value::UNum(if v.clock.prev_ts == 0 {
                0
            } else {
                v.ev.ts.saturating_sub(v.clock.prev_ts)
            }))
        }
    ),
    field!(
        "evt.latency",
        Time,
        None,
        "for a system-call exit, nanoseconds since its entry on the same thread",
        |v, _| v.latency().map(Value::UNum)
    ),
    field!(
        "evt.dir",
        Str,
        None,
        "'>' for entries and instantaneous events, '<' for exits",
        |v, _| s(if v.ev.dir() == '<' { "<" } else { ">" })
    ),
    field!(
        "evt.type",
        Str,
        None,
        "event type: the system call name, switch, procexit, or the tracepoint name",
        |v, _| Some(Value::Str(v.type_name()))
    ),
    field!(
        "evt.cpu",
        UInt,
        None,
        "CPU the event happened on",
        |v, _| Some(Value::UNum(v.ev.cpu as u64))
    ),
    field!(
        "evt.args",
        Str,
        None,
        "all arguments as one string (same as evt.info)",
        |v, _| Some(Value::Str(Cow::Borrowed(v.info().trim_end())))
    ),
    field!(
        "evt.info",
        Str,
        None,
        "the arguments, name=value each, as in the default line",
        |v, _| Some(Value::Str(Cow::Borrowed(v.info())))
    ),
    field!(
        "evt.arg",
        Str,
        Required,
        "one argument as shown, by name (evt.arg.fd) or position (evt.arg[0])",
        |v, a| {
            let a = a?;
            let text = match a.parse::<usize>() {
                Ok(i) => v.arg_at(i)?,
                Err(_) => v.arg(a)?,
            };
            Some(Value::Str(Cow::Borrowed(text)))
        }
    ),
    field!(
        "evt.rawarg",
        Int,
        Required,
        "one argument's raw number, by name (evt.rawarg.res)",
        |v, a| {
            let a = a?;
            match v.ev.kind {
                Kind::SyscallExit { ret, .. } if a == "res" => Some(Value::Num(ret)),
                Kind::SyscallEnter { nr, args } => {
                    let name = syscalls::name(v.arch, nr)?;
                    let i = syscalls::enter_args(name)
                        .iter()
                        .position(|(n, _)| *n == a)?;
                    Some(Value::Num(args[i] as i64))
                }
                _ => None,
            }
        }
    ),
    field!(
        "evt.res",
        Str,
        None,
        "result of a system call: SUCCESS, or the errno name when it failed",
        |v, _| {
            let r = syscall_ret(v)?;
            if (-4095..0).contains(&r) {
                let name = syscalls::errno_name(-r).map_or_else(|| r.to_string(), str::to_string);
                s(name)
            } else {
                s("SUCCESS")
            }
        }
    ),
    field!(
        "evt.rawres",
        Int,
        None,
        "result of a system call as a number",
        |v, _| syscall_ret(v).map(Value::Num)
    ),
    field!(
        "evt.failed",
        Bool,
        None,
        "true for system calls that returned an error",
        |v, _| { syscall_ret(v).map(|r| Value::Bool((-4095..0).contains(&r))) }
    ),
    field!(
        "evt.is_syscall",
        Bool,
        None,
        "true for system-call entries and exits",
        |v, _| Some(Value::Bool(matches!(
            v.ev.kind,
            Kind::SyscallEnter { .. } | Kind::SyscallExit { .. }
        )))
    ),
    field!(
        "evt.tracepoint",
        Str,
        None,
        "the kernel tracepoint the event came from (system:name)",
        |v, _| s(v.ev.tp.full_name())
    ),
    field!(
        "proc.pid",
        UInt,
        None,
        "process id (thread-group id) of the thread that generated the event",
        |v, _| Some(Value::UNum(v.ev.pid as u64))
    ),
    field!(
        "proc.name",
        Str,
        None,
        "command name of the thread that generated the event",
        |v, _| {
            let t = v.state.threads.get(v.ev.tid)?;
            if t.comm.is_empty() {
                return None;
            }
            Some(Value::Str(String::from_utf8_lossy(t.comm.as_bytes())))
        }
    ),
    field!(
        "thread.tid",
        UInt,
        None,
        "id of the thread that generated the event",
        |v, _| Some(Value::UNum(v.ev.tid as u64))
    ),
    field!(
        "thread.ismain",
        Bool,
        None,
        "true when the thread is its process's main thread",
        |v, _| Some(Value::Bool(v.ev.tid == v.ev.pid))
    ),
];

/// Finds a field by exact name.
pub fn find(name: &str) -> Option<(u32, &'static FieldDef)> {
    FIELDS
        .iter()
        .enumerate()
        .find(|(_, f)| f.name == name)
        .map(|(i, f)| (i as u32, f))
}
