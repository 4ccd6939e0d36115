//! The one field catalog: every field's name, type, description and extractor.
//!
//! Filters, `-p` formats, `-j` output, `-l` and the man page all read this table, so a field
//! exists everywhere or nowhere. Names and meanings follow sysdig (see the man page, FIELDS);
//! descriptions are tpdig's own words.

use super::view::EventView;
use crate::decode::Kind;
use crate::filter::{FieldType, Value};
use crate::params::{self, Dir, ParamType};
use crate::state::fds::{FdInfo, FdKind, SockTuple};
use crate::state::process::Process;
use crate::syscalls;
use crate::wall_time::{format_datetime, format_iso8601};
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

/// Whether the event's call reads (`Some(false)`) or writes (`Some(true)`) through an fd.
fn io_dir(v: &EventView<'_>) -> Option<bool> {
    v.syscall().and_then(syscalls::io_direction)
}

fn offset(v: &EventView<'_>) -> i64 {
    crate::wall_time::utc_offset(v.ev.ts as i64 / 1_000_000_000)
}

fn proc_<'v>(v: &'v EventView<'v>) -> Option<&'v Process> {
    v.state.process(v.ev.pid)
}

fn comm(v: &EventView<'_>) -> Option<String> {
    let t = v.state.thread(v.ev.tid)?;
    (!t.comm.is_empty()).then(|| t.comm.to_string_lossy())
}

fn uid(v: &EventView<'_>) -> Option<u32> {
    v.state.thread(v.ev.tid)?.euid
}

/// (pid, command name) of each ancestor, parent first; stops at an unknown process.
fn ancestors<'v>(v: &'v EventView<'v>) -> impl Iterator<Item = (u32, String)> + 'v {
    let mut pid = v.ev.pid;
    std::iter::from_fn(move || {
        let ppid = v.state.process(pid)?.ppid.filter(|&p| p != 0 && p != pid)?;
        pid = ppid;
        let name = v
            .state
            .thread(ppid)
            .map(|t| t.comm.to_string_lossy())
            .unwrap_or_default();
        Some((ppid, name))
    })
    .take(64)
}

/// The fd a syscall event is about: the one it returned (open, socket, accept...), or its
/// `fd` argument.
fn event_fd(v: &EventView<'_>) -> Option<i64> {
    let name = v.syscall()?;
    if let Kind::SyscallExit { ret, .. } = v.ev.kind {
        let exit = params::params(name, Dir::Exit);
        if ret >= 0
            && exit
                .first()
                .is_some_and(|p| p.ty == ParamType::Fd && p.src == params::Source::Ret)
        {
            return Some(ret);
        }
    }
    let enter = params::params(name, Dir::Enter);
    let p = enter
        .iter()
        .find(|p| p.ty == ParamType::Fd && p.name == "fd")?;
    let params::Source::Reg(i) = p.src else {
        return None;
    };
    let args = match v.ev.kind {
        Kind::SyscallEnter { args, .. } => args,
        _ => v.call?.args,
    };
    Some(args[i as usize] as i32 as i64)
}

fn fd<'v>(v: &'v EventView<'v>) -> Option<&'v FdInfo> {
    v.state.fd_info(v.ev.pid, i32::try_from(event_fd(v)?).ok()?)
}

fn file_name<'v>(v: &'v EventView<'v>) -> Option<&'v str> {
    let f = fd(v)?;
    (matches!(f.kind, FdKind::File | FdKind::Directory) && !f.name.is_empty())
        .then_some(f.name.as_str())
}

fn tuple(v: &EventView<'_>) -> Option<SockTuple> {
    fd(v)?.sock
}

/// The client end of a connected socket (`fd.cip`, `fd.cport`).
fn client(v: &EventView<'_>) -> Option<(std::net::IpAddr, u16)> {
    let t = tuple(v)?;
    (!t.is_server_only() && !t.partial).then_some((t.sip, t.sport))
}

/// The server end (`fd.sip`, `fd.sport`): the remote end of a connection, or the local
/// address of a listening socket.
fn server(v: &EventView<'_>) -> Option<(std::net::IpAddr, u16)> {
    let t = tuple(v)?;
    if t.is_server_only() {
        Some((t.sip, t.sport))
    } else {
        Some((t.dip, t.dport))
    }
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
        "evt.stack",
        Str,
        None,
        "with -k, the call stack folded: outermost frame first, frames joined by ';'",
        |v, _| v.stack.map(|s| Value::Str(Cow::Owned(s.folded())))
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
            if a == "data"
                && let Some(d) = v.io_data()
            {
                let mut out = String::new();
                let b = &d[..d.len().min(v.data.snaplen)];
                params::bytebuf::write_buffer(b, v.data.format, v.data.max_len, &mut out);
                return s(out);
            }
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
                Kind::SyscallExit { .. } if a == "data" => v.io_data().map(Value::Bytes),
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
        "evt.is_io",
        Bool,
        None,
        "true for calls that move data through an fd (read/write/send/recv families)",
        |v, _| Some(Value::Bool(io_dir(v).is_some()))
    ),
    field!(
        "evt.is_io_read",
        Bool,
        None,
        "true for calls that read data from an fd",
        |v, _| Some(Value::Bool(io_dir(v) == Some(false)))
    ),
    field!(
        "evt.is_io_write",
        Bool,
        None,
        "true for calls that write data to an fd",
        |v, _| Some(Value::Bool(io_dir(v) == Some(true)))
    ),
    field!(
        "evt.io_dir",
        Str,
        None,
        "r for calls that read data from an fd, w for calls that write",
        |v, _| s(if io_dir(v)? { "w" } else { "r" })
    ),
    field!(
        "evt.buflen",
        UInt,
        None,
        "bytes moved by an I/O call: its result, at the exit",
        |v, _| match v.ev.kind {
            Kind::SyscallExit { ret, .. } if ret >= 0 && io_dir(v).is_some() => {
                Some(Value::UNum(ret as u64))
            }
            _ => None,
        }
    ),
    field!(
        "evt.buffer",
        Str,
        None,
        "the data an I/O call read or wrote (at the exit; -s bytes of it), copied during \
         the call; use contains, icontains, bcontains or bstartswith",
        |v, _| v.io_data().map(Value::Bytes)
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
    field!("proc.ppid", UInt, None, "parent process id", |v, _| proc_(
        v
    )?
    .ppid
    .map(|p| Value::UNum(p.into()))),
    field!(
        "proc.exe",
        Str,
        None,
        "argv[0] of the process, as it was started",
        |v, _| proc_(v)?
            .exe
            .as_deref()
            .map(|e| Value::Str(Cow::Borrowed(e)))
    ),
    field!(
        "proc.exepath",
        Path,
        None,
        "full path of the process's executable",
        |v, _| proc_(v)?
            .exepath
            .as_deref()
            .map(|e| Value::Str(Cow::Borrowed(e)))
    ),
    field!(
        "proc.args",
        Str,
        None,
        "the process's arguments after argv[0], space-separated",
        |v, _| {
            proc_(v)?
                .args
                .as_ref()
                .map(|a| Value::Str(Cow::Owned(a.join(" "))))
        }
    ),
    field!(
        "proc.cmdline",
        Str,
        None,
        "command name and arguments, as `name arg1 arg2`",
        |v, _| {
            let p = proc_(v)?;
            let name = comm(v).unwrap_or_default();
            let args = p.args.as_ref().map(|a| a.join(" ")).unwrap_or_default();
            Some(Value::Str(Cow::Owned(if args.is_empty() {
                name
            } else {
                format!("{name} {args}")
            })))
        }
    ),
    field!(
        "proc.cwd",
        Path,
        None,
        "working directory of the process",
        |v, _| proc_(v)?
            .cwd
            .as_deref()
            .map(|e| Value::Str(Cow::Borrowed(e)))
    ),
    field!(
        "proc.pname",
        Str,
        None,
        "command name of the parent process",
        |v, _| {
            let ppid = proc_(v)?.ppid?;
            let t = v.state.thread(ppid)?;
            (!t.comm.is_empty()).then(|| Value::Str(String::from_utf8_lossy(t.comm.as_bytes())))
        }
    ),
    field!(
        "proc.aname",
        Str,
        Optional,
        "command name of an ancestor: proc.aname[1] is the parent, [2] the grandparent; without an argument, any ancestor",
        |v, a| {
            let names: Vec<Value<'_>> = ancestors(v)
                .map(|(_, n)| Value::Str(Cow::Owned(n)))
                .collect();
            match a.map(str::parse::<usize>) {
                Some(Ok(0)) => comm(v).map(|n| Value::Str(Cow::Owned(n))),
                Some(Ok(i)) => names.into_iter().nth(i - 1),
                Some(Err(_)) => None,
                None => Some(Value::List(names)),
            }
        }
    ),
    field!(
        "proc.apid",
        UInt,
        Optional,
        "process id of an ancestor: proc.apid[1] is the parent; without an argument, any ancestor",
        |v, a| {
            let pids: Vec<Value<'_>> = ancestors(v).map(|(p, _)| Value::UNum(p.into())).collect();
            match a.map(str::parse::<usize>) {
                Some(Ok(0)) => Some(Value::UNum(v.ev.pid.into())),
                Some(Ok(i)) => pids.into_iter().nth(i - 1),
                Some(Err(_)) => None,
                None => Some(Value::List(pids)),
            }
        }
    ),
    field!(
        "proc.vpid",
        UInt,
        None,
        "process id as seen inside its pid namespace",
        |v, _| proc_(v)?.vpid.map(|p| Value::UNum(p.into()))
    ),
    field!(
        "proc.duration",
        Time,
        None,
        "nanoseconds since the process started",
        |v, _| proc_(v)?
            .start_ts
            .map(|t| Value::UNum(v.ev.ts.saturating_sub(t)))
    ),
    field!(
        "proc.fdopencount",
        UInt,
        None,
        "number of open file descriptors of the process",
        |v, _| Some(Value::UNum(v.state.fd_table_len(v.ev.pid) as u64))
    ),
    field!(
        "thread.vtid",
        UInt,
        None,
        "thread id as seen inside its pid namespace",
        |v, _| v
            .state
            .thread(v.ev.tid)?
            .vtid
            .map(|t| Value::UNum(t.into()))
    ),
    field!(
        "user.uid",
        UInt,
        None,
        "effective user id of the thread",
        |v, _| uid(v).map(|u| Value::UNum(u.into()))
    ),
    field!(
        "user.name",
        Str,
        None,
        "name of the effective user (from /etc/passwd)",
        |v, _| v
            .state
            .user_name(uid(v)?)
            .map(|n| Value::Str(Cow::Borrowed(n)))
    ),
    field!(
        "user.homedir",
        Path,
        None,
        "home directory of the user",
        |v, _| v
            .state
            .user(uid(v)?)
            .map(|u| Value::Str(Cow::Borrowed(u.home.as_str())))
    ),
    field!(
        "user.shell",
        Path,
        None,
        "login shell of the user",
        |v, _| v
            .state
            .user(uid(v)?)
            .map(|u| Value::Str(Cow::Borrowed(u.shell.as_str())))
    ),
    field!(
        "user.loginuid",
        Int,
        None,
        "audit login user id (-1 when unset)",
        |v, _| Some(Value::Num(
            v.state.thread(v.ev.tid)?.loginuid.map_or(-1, i64::from)
        ))
    ),
    field!(
        "user.loginname",
        Str,
        None,
        "name of the audit login user",
        |v, _| {
            let l = v.state.thread(v.ev.tid)?.loginuid?;
            v.state.user_name(l).map(|n| Value::Str(Cow::Borrowed(n)))
        }
    ),
    field!(
        "group.gid",
        UInt,
        None,
        "effective group id of the thread",
        |v, _| v
            .state
            .thread(v.ev.tid)?
            .egid
            .map(|g| Value::UNum(g.into()))
    ),
    field!(
        "group.name",
        Str,
        None,
        "name of the effective group (from /etc/group)",
        |v, _| {
            let g = v.state.thread(v.ev.tid)?.egid?;
            v.state.group_name(g).map(|n| Value::Str(Cow::Borrowed(n)))
        }
    ),
    field!(
        "fd.num",
        Int,
        None,
        "the file descriptor the event is about",
        |v, _| event_fd(v).map(Value::Num)
    ),
    field!(
        "fd.type",
        Str,
        None,
        "type of the fd: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink...",
        |v, _| fd(v).map(|f| Value::Str(Cow::Borrowed(f.kind.type_name())))
    ),
    field!(
        "fd.typechar",
        Str,
        None,
        "type of the fd as one letter (f d 4 6 u p e s l i t n ...)",
        |v, _| fd(v).map(|f| Value::Str(Cow::Owned(f.kind.letter().to_string())))
    ),
    field!(
        "fd.name",
        Str,
        None,
        "full name of the fd: a path, a socket tuple, pipe:[inode]...",
        |v, _| fd(v)
            .filter(|f| !f.name.is_empty())
            .map(|f| Value::Str(Cow::Borrowed(f.name.as_str())))
    ),
    field!(
        "fd.directory",
        Path,
        None,
        "directory part of fd.name for files",
        |v, _| {
            let n = file_name(v)?;
            Some(Value::Str(Cow::Borrowed(
                n.rsplit_once('/')
                    .map_or("", |(d, _)| if d.is_empty() { "/" } else { d }),
            )))
        }
    ),
    field!(
        "fd.filename",
        Str,
        None,
        "file part of fd.name for files",
        |v, _| {
            let n = file_name(v)?;
            Some(Value::Str(Cow::Borrowed(
                n.rsplit_once('/').map_or(n, |(_, f)| f),
            )))
        }
    ),
    field!(
        "fd.ip",
        Ip,
        None,
        "either IP address of the socket (matches client or server)",
        |v, _| {
            let t = tuple(v)?;
            Some(Value::List(vec![Value::Ip(t.sip), Value::Ip(t.dip)]))
        }
    ),
    field!("fd.cip", Ip, None, "client IP address", |v, _| client(v)
        .map(|(ip, _)| Value::Ip(ip))),
    field!("fd.sip", Ip, None, "server IP address", |v, _| server(v)
        .map(|(ip, _)| Value::Ip(ip))),
    field!(
        "fd.port",
        Port,
        None,
        "either port of the socket (matches client or server)",
        |v, _| {
            let t = tuple(v)?;
            Some(Value::List(vec![
                Value::UNum(t.sport.into()),
                Value::UNum(t.dport.into()),
            ]))
        }
    ),
    field!("fd.cport", Port, None, "client port", |v, _| client(v)
        .map(|(_, p)| Value::UNum(p.into()))),
    field!("fd.sport", Port, None, "server port", |v, _| server(v)
        .map(|(_, p)| Value::UNum(p.into()))),
    field!(
        "fd.net",
        Net,
        None,
        "IP network of either end (compare with a CIDR: fd.net=10.0.0.0/8)",
        |v, _| {
            let t = tuple(v)?;
            Some(Value::List(vec![Value::Ip(t.sip), Value::Ip(t.dip)]))
        }
    ),
    field!("fd.cnet", Net, None, "IP network of the client", |v, _| {
        client(v).map(|(ip, _)| Value::Ip(ip))
    }),
    field!("fd.snet", Net, None, "IP network of the server", |v, _| {
        server(v).map(|(ip, _)| Value::Ip(ip))
    }),
    field!(
        "fd.l4proto",
        Str,
        None,
        "transport protocol of the socket: tcp, udp, icmp, raw",
        |v, _| {
            let f = fd(v)?;
            f.l4.or(f.sock.and_then(|t| t.proto))
                .map(|p| Value::Str(Cow::Borrowed(p.name())))
        }
    ),
    field!(
        "fd.sockfamily",
        Str,
        None,
        "socket family: ip for inet sockets, unix for unix sockets",
        |v, _| {
            match fd(v)?.kind {
                FdKind::Ipv4 | FdKind::Ipv6 => s("ip"),
                FdKind::Unix => s("unix"),
                _ => None,
            }
        }
    ),
    field!(
        "container.id",
        Str,
        None,
        "12-digit container id, or host",
        |v, _| Some(Value::Str(Cow::Borrowed(
            proc_(v)
                .and_then(|p| p.container_id.as_deref())
                .unwrap_or("host")
        )))
    ),
    field!(
        "container.name",
        Str,
        None,
        "container name (tpdig knows ids only: the id, or host)",
        |v, _| Some(Value::Str(Cow::Borrowed(
            proc_(v)
                .and_then(|p| p.container_id.as_deref())
                .unwrap_or("host")
        )))
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
