//! `-w FILE.scap` / `--format scap`: the run written as a sysdig capture, for sysdig,
//! Falco and other readers of sysdig's format on hosts where no sysdig driver loads.
//!
//! At the start the state becomes sysdig's process, fd and user lists; each event becomes
//! sysdig's newest event of its type, its parameters filled by name from what tpdig has
//! for the call (registers, exact values from user memory, I/O data, state), flags turned
//! into sysdig's own numbers. A syscall sysdig has no event for is written as sysdig's
//! generic event; events read from a .scap file keep the parameters sysdig stored. Events
//! sysdig's tables lack (tpdig's lifecycle and other tracepoints) are left out and counted
//! for `-v`.

use super::Sink;
use crate::decode::{Decoder, Kind, Role};
use crate::fields::EventView;
use crate::fields::render_ctx::ViewCtx;
use crate::params::{self, Param, ParamType as T, RenderCtx, Source, StateValue};
use crate::scap::lists::{Fd, FdDetail, Group, InetPair, Machine, Proc, User, fd_type};
use crate::scap::{events, table, writer};
use crate::state::State;
use crate::state::fds::FdKind;
use crate::syscalls;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

pub struct ScapSink {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    buf: Vec<u8>,
    verbose: bool,
    written: u64,
    /// Events left out, by tpdig's event type.
    left_out: BTreeMap<String, u64>,
}

impl ScapSink {
    pub fn new(path: PathBuf, verbose: bool) -> ScapSink {
        ScapSink {
            path,
            out: None,
            buf: Vec::with_capacity(64 << 10),
            verbose,
            written: 0,
            left_out: BTreeMap::new(),
        }
    }

    fn write_buf(&mut self) -> io::Result<()> {
        if let Some(o) = self.out.as_mut() {
            o.write_all(&self.buf)?;
        }
        self.buf.clear();
        Ok(())
    }
}

/// Whether `path` names a sysdig capture (`-w` picks the format by extension).
pub fn wants_scap(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e == "scap")
}

fn machine() -> Machine {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let l = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            l.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024);
    Machine {
        num_cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_bytes,
        max_pid: std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(32768),
        hostname,
    }
}

fn procs(state: &State) -> Vec<Proc> {
    state
        .threads
        .iter()
        .map(|t| {
            let p = state.process(t.pid);
            let mut args = Vec::new();
            for a in p.and_then(|p| p.args.as_ref()).into_iter().flatten() {
                args.extend_from_slice(a.as_bytes());
                args.push(0);
            }
            let text = |s: Option<&String>| s.map_or_else(Vec::new, |s| s.as_bytes().to_vec());
            Proc {
                tid: t.tid.into(),
                pid: t.pid.into(),
                ptid: p.and_then(|p| p.ppid).unwrap_or(0).into(),
                comm: t.comm.as_bytes().to_vec(),
                exe: text(p.and_then(|p| p.exe.as_ref())),
                exepath: text(p.and_then(|p| p.exepath.as_ref())),
                args,
                cwd: text(p.and_then(|p| p.cwd.as_ref())),
                fdlimit: 1024,
                uid: t.uid.unwrap_or(0),
                gid: t.gid.unwrap_or(0),
                vtid: t.vtid.map_or(i64::from(t.tid), i64::from),
                vpid: p.and_then(|p| p.vpid).map_or(i64::from(t.pid), i64::from),
                loginuid: t.loginuid.map_or(-1, |v| v as i32),
                ..Proc::default()
            }
        })
        .collect()
}

fn fd_entry(fd: i32, info: &crate::state::fds::FdInfo) -> Fd {
    let name = info.name.as_bytes().to_vec();
    let (kind, detail) = match info.kind {
        FdKind::File => (
            fd_type::FILE_V2,
            FdDetail::File {
                flags: 0,
                name,
                dev: 0,
            },
        ),
        FdKind::Directory => (fd_type::DIRECTORY, FdDetail::Name(name)),
        FdKind::Pipe => (fd_type::FIFO, FdDetail::Name(name)),
        FdKind::Event => (fd_type::EVENT, FdDetail::Name(name)),
        FdKind::Signal => (fd_type::SIGNALFD, FdDetail::Name(name)),
        FdKind::EventPoll => (fd_type::EVENTPOLL, FdDetail::Name(name)),
        FdKind::Inotify => (fd_type::INOTIFY, FdDetail::Name(name)),
        FdKind::Timer => (fd_type::TIMERFD, FdDetail::Name(name)),
        FdKind::Netlink => (fd_type::NETLINK, FdDetail::Name(name)),
        FdKind::Unix => (
            fd_type::UNIX_SOCK,
            FdDetail::Unix {
                source: 0,
                dest: 0,
                name,
            },
        ),
        FdKind::Ipv4 | FdKind::Ipv6 => match &info.sock {
            Some(s) => match (s.sip, s.dip) {
                (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => (
                    fd_type::IPV4_SOCK,
                    FdDetail::Ipv4(InetPair {
                        sip: a.octets(),
                        dip: b.octets(),
                        sport: s.sport,
                        dport: s.dport,
                        l4: l4(info),
                    }),
                ),
                (a, b) => {
                    let six = |x: std::net::IpAddr| match x {
                        std::net::IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
                        std::net::IpAddr::V6(v) => v.octets(),
                    };
                    (
                        fd_type::IPV6_SOCK,
                        FdDetail::Ipv6(InetPair {
                            sip: six(a),
                            dip: six(b),
                            sport: s.sport,
                            dport: s.dport,
                            l4: l4(info),
                        }),
                    )
                }
            },
            None => (fd_type::UNSUPPORTED, FdDetail::Name(name)),
        },
        _ => (fd_type::UNSUPPORTED, FdDetail::Name(name)),
    };
    Fd {
        fd: fd.into(),
        ino: info.ino.unwrap_or(0),
        kind,
        detail,
    }
}

/// sysdig's layer-4 codes: 1 TCP, 2 UDP, 3 ICMP, 4 raw.
fn l4(info: &crate::state::fds::FdInfo) -> u8 {
    use crate::state::fds::L4Proto;
    match info.l4 {
        Some(L4Proto::Tcp) => 1,
        Some(L4Proto::Udp) => 2,
        Some(L4Proto::Icmp) => 3,
        Some(L4Proto::Raw) => 4,
        None => 0,
    }
}

/// The value of sysdig parameter `sp` from tpdig's knowledge of the call.
fn value_of(
    sp: &table::P,
    ours: Option<&Param>,
    args: Option<&[u64; 6]>,
    ret: Option<i64>,
    ctx: &dyn RenderCtx,
) -> Vec<u8> {
    let Some(p) = ours else {
        return writer::empty_param(sp.ty);
    };
    let int = |v: i64| -> Vec<u8> {
        let v = match sp.flags {
            Some(t) if matches!(sp.ty, T::Flags8 | T::Flags16 | T::Flags32 | T::Mode) => {
                i64::from(t.ppm(v as u64))
            }
            _ => v,
        };
        writer::int_param(sp.ty, v)
    };
    let bytes = |b: &[u8]| -> Vec<u8> {
        match sp.ty {
            T::CharBuf | T::FsPath | T::FsRelPath => {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                let mut v = b[..end].to_vec();
                v.push(0);
                v
            }
            T::SockAddr => writer::sockaddr_of_kernel(b).unwrap_or_default(),
            T::ByteBuf => b.to_vec(),
            _ => match b.len() {
                1..=8 => {
                    let mut a = [0u8; 8];
                    a[..b.len()].copy_from_slice(b);
                    int(i64::from_le_bytes(a))
                }
                _ => writer::empty_param(sp.ty),
            },
        }
    };
    let got = match p.src {
        Source::Reg(r) => args.map(|a| {
            let v = a[usize::from(r) % 6] as i64;
            // An fd or pid in a register is a C int: -100 is AT_FDCWD, not 4294967196.
            int(if matches!(sp.ty, T::Fd | T::Pid) {
                i64::from(v as i32)
            } else {
                v
            })
        }),
        Source::Ret => ret.map(int),
        Source::Mem(a) => ctx.resolved(usize::from(a)).map(bytes),
        Source::MemField { arg, offset, size } => ctx.resolved(usize::from(arg)).and_then(|b| {
            let b = b.get(usize::from(offset)..usize::from(offset) + usize::from(size))?;
            Some(bytes(b))
        }),
        Source::Data => ctx.data().map(|d| d[..d.len().min(ctx.snaplen())].to_vec()),
        Source::State => ctx.state(p.name).map(|v| match v {
            StateValue::Int(i) => int(i),
            StateValue::Bytes(b) => bytes(b),
            StateValue::Str(s) if sp.ty == T::SockTuple => {
                writer::socktuple_of_text(s).unwrap_or_default()
            }
            StateValue::Str(s) => bytes(s.as_bytes()),
        }),
    };
    got.unwrap_or_else(|| writer::empty_param(sp.ty))
}

impl ScapSink {
    /// sysdig's event for a syscall entry or exit: (event id, parameters).
    fn syscall_event(&self, view: &EventView<'_>, enter: bool, nr: i64) -> (u16, Vec<Vec<u8>>) {
        let ev = view.ev;
        let name = syscalls::name(view.arch, nr).unwrap_or("");
        let ret = match ev.kind {
            Kind::SyscallExit { ret, .. } => Some(ret),
            _ => None,
        };
        let ctx = ViewCtx {
            state: view.state,
            tid: ev.tid,
            pid: ev.pid,
            call: view.call,
            syscall: name,
            ret,
            data: view.data,
            exit_data: view.exit_data,
            args_buf: Default::default(),
        };
        let ours = params::lookup(name);
        let id = ours.and_then(|o| table::newest(o.event, enter));
        let (Some(ours), Some(id)) = (ours, id) else {
            // sysdig's generic event: the syscall's PPM code and, on entry, its number.
            let code = i64::from(table::sc_code(name).unwrap_or(0));
            let mut p = vec![writer::int_param(T::Uint16, code)];
            if enter {
                p.push(writer::int_param(T::Uint16, nr));
                return (table::GENERIC_E, p);
            }
            return (table::GENERIC_X, p);
        };
        let list = if enter { ours.enter } else { ours.exit };
        let args = match ev.kind {
            Kind::SyscallEnter { ref args, .. } => Some(args),
            _ => view.call.map(|c| &c.args),
        };
        let info = table::info(id).expect("newest gives a known id");
        let values = info
            .params
            .iter()
            .map(|sp| {
                let mine = list.iter().find(|p| p.name == sp.name);
                value_of(sp, mine, args, ret, &ctx)
            })
            .collect();
        (id, values)
    }
}

impl Sink for ScapSink {
    fn begin(&mut self, state: &State, _decoder: &Decoder) -> io::Result<()> {
        let f = File::create(&self.path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
        self.out = Some(BufWriter::with_capacity(256 << 10, f));
        let mut b = std::mem::take(&mut self.buf);
        writer::section_header(&mut b);
        writer::machine(&machine(), &mut b);
        writer::proclist(&procs(state), &mut b);
        for p in state.procs.iter() {
            let fds: Vec<Fd> = state.fd_table(p.pid).map_or_else(Vec::new, |t| {
                t.fds()
                    .into_iter()
                    .filter_map(|fd| Some(fd_entry(fd, t.get(fd)?)))
                    .collect()
            });
            if !fds.is_empty() {
                writer::fdlist(p.pid.into(), &fds, &mut b);
            }
        }
        let users: Vec<User> = state
            .users
            .iter()
            .map(|u| User {
                uid: u.uid,
                gid: u.gid,
                name: u.name.clone(),
                home: u.home.clone(),
                shell: u.shell.clone(),
            })
            .collect();
        let groups: Vec<Group> = state
            .groups
            .iter()
            .map(|g| Group {
                gid: g.gid,
                name: g.name.clone(),
            })
            .collect();
        writer::userlist(&users, &groups, &mut b);
        self.buf = b;
        self.write_buf()
    }

    fn event(&mut self, view: &EventView<'_>) -> io::Result<()> {
        let ev = view.ev;
        let (id, values): (u16, Vec<Vec<u8>>) = if let Some(s) = crate::scap::stored_of(ev) {
            let n = s.len();
            (
                s.etype,
                (0..n)
                    .filter_map(|i| s.get(i).map(<[u8]>::to_vec))
                    .collect(),
            )
        } else {
            match ev.kind {
                Kind::SyscallEnter { nr, .. } => self.syscall_event(view, true, nr),
                Kind::SyscallExit { nr, .. } => self.syscall_event(view, false, nr),
                Kind::Switch { next_pid, .. } => {
                    let info = table::info(table::SCHEDSWITCH_6_E).expect("switch");
                    let mut v: Vec<Vec<u8>> = info
                        .params
                        .iter()
                        .map(|p| writer::empty_param(p.ty))
                        .collect();
                    v[0] = writer::int_param(T::Pid, next_pid);
                    (table::SCHEDSWITCH_6_E, v)
                }
                Kind::Other if matches!(ev.tp.role, Role::Exit { .. }) => {
                    let id = table::newest("procexit", true).unwrap_or(table::PROCEXIT_1_E);
                    let info = table::info(id).expect("procexit");
                    (
                        id,
                        info.params
                            .iter()
                            .map(|p| writer::empty_param(p.ty))
                            .collect(),
                    )
                }
                Kind::Other => {
                    *self
                        .left_out
                        .entry(view.type_name().into_owned())
                        .or_default() += 1;
                    return Ok(());
                }
            }
        };
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        events::encode(
            ev.cpu as u16,
            ev.ts,
            ev.tid.into(),
            id,
            &refs,
            &mut self.buf,
        );
        self.written += 1;
        if self.buf.len() >= 64 << 10 {
            self.write_buf()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_buf()?;
        if let Some(o) = self.out.as_mut() {
            o.flush()?;
        }
        Ok(())
    }

    fn end(&mut self, _drops: &[(u32, u64)]) -> io::Result<()> {
        self.flush()?;
        if self.verbose {
            let left: u64 = self.left_out.values().sum();
            eprintln!(
                "tpdig: {}: {} events written in sysdig's format, {left} left out (no sysdig event)",
                self.path.display(),
                self.written
            );
            for (k, n) in &self.left_out {
                eprintln!("tpdig:   {k}: {n}");
            }
        }
        Ok(())
    }
}
