//! Rendering of event arguments (`evt.info`) and type names, shared by every sink.
//!
//! It lives beside the event view, which computes `evt.info` and `evt.type` from it; the
//! sinks call it too, and nothing here knows about sinks.
//!
//! Arguments are rendered as sysdig does, `name=value` each followed by one space. Syscall
//! enter arguments are raw for now (numbers and pointers); generic tracepoints are rendered
//! field by field from their format, so any tracepoint the kernel has is readable.

use super::render_ctx::ViewCtx;
use crate::decode::{Event, Kind, Role, Tracepoint};
use crate::fields::EventView;
use crate::params;
use crate::syscalls::{self, Arch};
use crate::tracefs::{Field, FieldKind, SymbolTable};
use std::fmt::Write as _;

/// sysdig's `evt.type` for an event: its event name for syscalls (pread64 → pread).
pub fn type_name<'a>(ev: &Event<'a>, arch: Arch) -> std::borrow::Cow<'a, str> {
    if let Some(s) = crate::scap::stored_of(ev) {
        return crate::scap::render::type_name(&s).into();
    }
    match ev.kind {
        Kind::SyscallEnter { nr, .. } | Kind::SyscallExit { nr, .. } => {
            match syscalls::name(arch, nr) {
                Some(n) => params::event_name(n).into(),
                None => format!("syscall_{nr}").into(),
            }
        }
        Kind::Switch { .. } => "switch".into(),
        Kind::Other => match ev.tp.role {
            Role::Exit { .. } => "procexit".into(),
            _ => ev.tp.name.as_str().into(),
        },
    }
}

/// Appends the event's arguments, each as `name=value ` (sysdig leaves the trailing space).
pub fn write_info(view: &EventView<'_>, out: &mut String) {
    let ev = view.ev;
    if let Some(s) = crate::scap::stored_of(ev) {
        let ctx = ViewCtx {
            state: view.state,
            tid: ev.tid,
            pid: ev.pid,
            call: view.call,
            syscall: "",
            ret: None,
            data: view.data,
            exit_data: None,
            args_buf: Default::default(),
        };
        return crate::scap::render::write_info(&s, &ctx, out);
    }
    match ev.kind {
        Kind::SyscallEnter { nr, args } => {
            let Some(name) = syscalls::name(view.arch, nr) else {
                return;
            };
            let ctx = ViewCtx {
                state: view.state,
                tid: ev.tid,
                pid: ev.pid,
                call: view.call,
                syscall: name,
                ret: None,
                data: view.data,
                exit_data: view.exit_data,
                args_buf: Default::default(),
            };
            if !params::render_enter(name, &args, &ctx, out) {
                let call = view.call;
                syscalls::format_enter_args_with(name, &args, &|i| call?.resolved(i), out);
            }
        }
        Kind::SyscallExit { nr, ret } => {
            let name = syscalls::name(view.arch, nr);
            let ctx = ViewCtx {
                state: view.state,
                tid: ev.tid,
                pid: ev.pid,
                call: view.call,
                syscall: name.unwrap_or(""),
                ret: Some(ret),
                data: view.data,
                exit_data: view.exit_data,
                args_buf: Default::default(),
            };
            let rendered = name.is_some_and(|n| {
                params::render_exit(n, view.call.map(|c| &c.args), ret, &ctx, out)
            });
            if !rendered {
                out.push_str("res=");
                syscalls::format_res(ret, out);
                out.push(' ');
            }
        }
        Kind::Switch {
            next_pid,
            prev_state,
        } => {
            let _ = write!(out, "next={next_pid}");
            if let Role::Switch {
                next_comm, states, ..
            } = &ev.tp.role
            {
                if let Some(c) = next_comm.str_bytes(ev.raw) {
                    out.push('(');
                    push_lossy(out, c);
                    out.push(')');
                }
                out.push_str(" prev_state=");
                write_task_state(prev_state, states.as_ref(), out);
                out.push(' ');
            }
        }
        Kind::Other => write_generic(ev.tp, ev.raw, out),
    }
}

/// Renders sched_switch's prev_state as the kernel's print fmt does (`S`, `D`, `R+`, ...),
/// from the format's own flag table; the number when the format has none.
pub fn write_task_state(state: u64, table: Option<&SymbolTable>, out: &mut String) {
    match table {
        Some(t) => out.push_str(&t.render(state)),
        None => {
            let _ = write!(out, "{state}");
        }
    }
}

/// Every non-common field of the record, `name=value `.
pub fn write_generic(tp: &Tracepoint, raw: &[u8], out: &mut String) {
    for f in &tp.format.fields {
        out.push_str(&f.name);
        out.push('=');
        write_field(f, raw, out);
        out.push(' ');
    }
}

/// One field's value: strings as text, integers in decimal, pointers in hex, other arrays
/// as their elements joined by commas.
pub fn write_field(f: &Field, raw: &[u8], out: &mut String) {
    let is_char = f.type_text.contains("char");
    match f.kind {
        FieldKind::Scalar => match f.i64(raw) {
            Some(v) if f.is_signed() => {
                let _ = write!(out, "{v}");
            }
            Some(_) => {
                let _ = write!(out, "{}", f.u64(raw).unwrap_or(0));
            }
            None => out.push_str("<NA>"),
        },
        FieldKind::Pointer => match f.u64(raw) {
            Some(v) => {
                let _ = write!(out, "0x{v:x}");
            }
            None => out.push_str("<NA>"),
        },
        FieldKind::Array { len, .. } if !is_char => {
            for i in 0..len {
                if i > 0 {
                    out.push(',');
                }
                match f.array_u64(raw, i) {
                    Some(v) => {
                        let _ = write!(out, "{v}");
                    }
                    None => out.push_str("<NA>"),
                }
            }
        }
        _ => match f.str_bytes(raw) {
            Some(b) => push_lossy(out, b),
            None => out.push_str("<NA>"),
        },
    }
}

/// Appends bytes as text, replacing non-printable bytes with `.` as sysdig does.
pub fn push_lossy(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(if (0x20..0x7f).contains(&b) {
            b as char
        } else {
            '.'
        });
    }
}
