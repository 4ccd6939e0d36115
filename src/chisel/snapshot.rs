//! The thread and fd tables as script values, for ps/lsof/netstat-like chisels.
//!
//! Rows are plain Rhai maps built on request (these chisels run once, not per event). A
//! filter in sysdig's language selects rows: each row answers the fields that make sense
//! without an event (`proc.*`, `thread.tid`, `user.*`, `fd.*`); others are absent, so
//! checks on them are false, as for an event that lacks a field.

use crate::filter::{FieldRef, FieldValues, Filter, Value};
use crate::state::fds::{FdInfo, FdKind};
use crate::state::{Process, State, Thread};
use rhai::{Array, Dynamic, INT, Map};
use std::borrow::Cow;

struct Row<'a> {
    state: &'a State,
    thread: &'a Thread,
    process: Option<&'a Process>,
    fd: Option<(i32, &'a FdInfo)>,
}

impl Row<'_> {
    fn name(&self) -> String {
        self.thread.comm.to_string_lossy()
    }

    fn user(&self) -> Option<&str> {
        self.state.user_name(self.thread.euid?)
    }

    /// (client ip, client port, server ip, server port) of an inet socket fd.
    fn ends(&self) -> Option<(std::net::IpAddr, u16, std::net::IpAddr, u16)> {
        let t = self.fd?.1.sock?;
        if t.is_server_only() {
            Some((t.sip, t.sport, t.sip, t.sport))
        } else {
            Some((t.sip, t.sport, t.dip, t.dport))
        }
    }
}

fn s<'a>(v: impl Into<Cow<'a, str>>) -> Option<Value<'a>> {
    Some(Value::Str(v.into()))
}

impl FieldValues for Row<'_> {
    fn value(&self, field: &FieldRef) -> Option<Value<'_>> {
        let p = self.process;
        let fd = self.fd.map(|f| f.1);
        match field.name.as_str() {
            "proc.name" => s(self.name()),
            "proc.pid" => Some(Value::UNum(self.thread.pid.into())),
            "thread.tid" => Some(Value::UNum(self.thread.tid.into())),
            "thread.ismain" => Some(Value::Bool(self.thread.tid == self.thread.pid)),
            "proc.ppid" => p?.ppid.map(|v| Value::UNum(v.into())),
            "proc.exe" => p?.exe.as_deref().and_then(s),
            "proc.exepath" => p?.exepath.as_deref().and_then(s),
            "proc.args" => p?.args.as_ref().and_then(|a| s(a.join(" "))),
            "proc.cmdline" => {
                let args = p
                    .and_then(|p| p.args.as_ref())
                    .map(|a| a.join(" "))
                    .unwrap_or_default();
                s(if args.is_empty() {
                    self.name()
                } else {
                    format!("{} {args}", self.name())
                })
            }
            "proc.cwd" => p?.cwd.as_deref().and_then(s),
            "proc.vpid" => p?.vpid.map(|v| Value::UNum(v.into())),
            "container.id" | "container.name" => {
                s(p.and_then(|p| p.container_id.as_deref()).unwrap_or("host"))
            }
            "user.uid" => self.thread.euid.map(|v| Value::UNum(v.into())),
            "user.name" => self.user().and_then(s),
            "group.gid" => self.thread.egid.map(|v| Value::UNum(v.into())),
            "fd.num" => self.fd.map(|f| Value::Num(f.0.into())),
            "fd.name" => fd
                .filter(|f| !f.name.is_empty())
                .and_then(|f| s(f.name.as_str())),
            "fd.type" => fd.and_then(|f| s(f.kind.type_name())),
            "fd.typechar" => fd.and_then(|f| s(f.kind.letter().to_string())),
            "fd.l4proto" => {
                let f = fd?;
                f.l4.or(f.sock.and_then(|t| t.proto))
                    .and_then(|p| s(p.name()))
            }
            "fd.cip" => self.ends().map(|e| Value::Ip(e.0)),
            "fd.cport" => self.ends().map(|e| Value::UNum(e.1.into())),
            "fd.sip" => self.ends().map(|e| Value::Ip(e.2)),
            "fd.sport" => self.ends().map(|e| Value::UNum(e.3.into())),
            "fd.ip" | "fd.net" => self
                .ends()
                .map(|e| Value::List(vec![Value::Ip(e.0), Value::Ip(e.2)])),
            "fd.port" => self
                .ends()
                .map(|e| Value::List(vec![Value::UNum(e.1.into()), Value::UNum(e.3.into())])),
            "fd.sockfamily" => match fd?.kind {
                FdKind::Ipv4 | FdKind::Ipv6 => s("ip"),
                FdKind::Unix => s("unix"),
                _ => None,
            },
            _ => None,
        }
    }
}

fn opt_str(v: Option<&str>) -> Dynamic {
    v.map_or(Dynamic::UNIT, |s| s.into())
}

fn opt_int(v: Option<u32>) -> Dynamic {
    v.map_or(Dynamic::UNIT, |n| (n as INT).into())
}

fn thread_map(r: &Row<'_>) -> Map {
    let t = r.thread;
    let p = r.process;
    let mut m = Map::new();
    m.insert("tid".into(), (t.tid as INT).into());
    m.insert("pid".into(), (t.pid as INT).into());
    m.insert("ppid".into(), opt_int(p.and_then(|p| p.ppid)));
    m.insert("name".into(), r.name().into());
    m.insert("exe".into(), opt_str(p.and_then(|p| p.exe.as_deref())));
    m.insert(
        "exepath".into(),
        opt_str(p.and_then(|p| p.exepath.as_deref())),
    );
    m.insert(
        "args".into(),
        p.and_then(|p| p.args.as_ref())
            .map_or(Dynamic::UNIT, |a| a.join(" ").into()),
    );
    m.insert("cwd".into(), opt_str(p.and_then(|p| p.cwd.as_deref())));
    m.insert("uid".into(), opt_int(t.euid));
    m.insert("user".into(), opt_str(r.user()));
    m.insert("loginuid".into(), opt_int(t.loginuid));
    m.insert("vtid".into(), opt_int(t.vtid));
    m.insert("vpid".into(), opt_int(p.and_then(|p| p.vpid)));
    m.insert(
        "container".into(),
        p.and_then(|p| p.container_id.as_deref())
            .unwrap_or("host")
            .into(),
    );
    m.insert(
        "fdcount".into(),
        (r.state.fd_table_len(t.pid) as INT).into(),
    );
    m.insert(
        "start_ts".into(),
        p.and_then(|p| p.start_ts)
            .map_or(Dynamic::UNIT, |t| (t as INT).into()),
    );
    m
}

/// Every known thread (sorted by pid, then tid) that `filter` accepts, as maps with keys
/// tid pid ppid name exe exepath args cwd uid user loginuid vtid vpid container fdcount
/// start_ts (unknown values are `()`).
pub fn threads(state: &State, filter: Option<&Filter>) -> Array {
    let mut ts: Vec<&Thread> = state.threads.iter().filter(|t| t.pid != 0).collect();
    ts.sort_by_key(|t| (t.pid, t.tid));
    ts.into_iter()
        .filter_map(|thread| {
            let r = Row {
                state,
                thread,
                process: state.process(thread.pid),
                fd: None,
            };
            filter
                .is_none_or(|f| f.matches(&r))
                .then(|| Dynamic::from_map(thread_map(&r)))
        })
        .collect()
}

/// Every open fd of every known process (by pid, then fd) that `filter` accepts: the
/// process's main-thread keys (see [`threads`]) plus fd, type, typechar, fdname, l4proto,
/// and for inet sockets cip cport sip sport (sip/sport: the server end).
pub fn fds(state: &State, filter: Option<&Filter>) -> Array {
    let mut procs: Vec<&Process> = state.procs.iter().collect();
    procs.sort_by_key(|p| p.pid);
    let mut out = Array::new();
    for p in procs {
        let Some(thread) = state.thread(p.pid).or_else(|| {
            state
                .threads
                .tids_of(p.pid)
                .first()
                .and_then(|&t| state.thread(t))
        }) else {
            continue;
        };
        let Some(table) = state.fd_table(p.pid) else {
            continue;
        };
        for fd in table.fds() {
            let Some(info) = table.get(fd) else { continue };
            let r = Row {
                state,
                thread,
                process: Some(p),
                fd: Some((fd, info)),
            };
            if !filter.is_none_or(|f| f.matches(&r)) {
                continue;
            }
            let mut m = thread_map(&r);
            m.insert("fd".into(), (fd as INT).into());
            m.insert("type".into(), info.kind.type_name().into());
            m.insert("typechar".into(), info.kind.letter().to_string().into());
            m.insert("fdname".into(), info.name.clone().into());
            m.insert(
                "l4proto".into(),
                opt_str(
                    info.l4
                        .or(info.sock.and_then(|t| t.proto))
                        .map(|p| p.name()),
                ),
            );
            if let Some((cip, cport, sip, sport)) = r.ends() {
                m.insert("cip".into(), cip.to_string().into());
                m.insert("cport".into(), (cport as INT).into());
                m.insert("sip".into(), sip.to_string().into());
                m.insert("sport".into(), (sport as INT).into());
                m.insert(
                    "listening".into(),
                    info.sock.is_some_and(|t| t.is_server_only()).into(),
                );
            }
            out.push(Dynamic::from_map(m));
        }
    }
    out
}

/// Facts about the machine tpdig runs on: hostname, kernel, arch, cpus (online count),
/// memory_kb, boot_ts (ns since the epoch).
pub fn machine() -> Map {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut m = Map::new();
    m.insert("hostname".into(), read("/proc/sys/kernel/hostname").into());
    m.insert("kernel".into(), read("/proc/sys/kernel/osrelease").into());
    m.insert(
        "arch".into(),
        crate::syscalls::Arch::native().as_str().into(),
    );
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    m.insert("cpus".into(), (cpus as INT).into());
    let mem = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<INT>().ok())
        })
        .unwrap_or(0);
    m.insert("memory_kb".into(), mem.into());
    m
}
