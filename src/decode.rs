//! Decoding raw tracepoint records into events, driven by the format files.
//!
//! At start-up each opened tracepoint's `format` is parsed and the fields tpdig needs are
//! looked up once, into a [`Role`]; the hot path then only indexes: it reads `common_type`
//! to find the tracepoint and reads the pre-resolved fields. No offset is hard-coded, so the
//! same code decodes records of any kernel era, live or from a capture made elsewhere.

use crate::syscalls::Arch;
use crate::tracefs::{EventFormat, Field, FieldKind, SymbolTable};
use std::fmt;

/// What tpdig does with a tracepoint's records, with the fields it reads resolved.
#[derive(Debug, Clone)]
pub enum Role {
    /// raw_syscalls:sys_enter (or syscalls:sys_enter on 2.6.32): `long id; unsigned long
    /// args[6]`; or a per-syscall `syscalls:sys_enter_NAME`: `int __syscall_nr` and one
    /// named 8-byte field per argument. Both decode to the same `Kind::SyscallEnter`.
    SysEnter { id: Field, args: ArgFields },
    /// raw_syscalls:sys_exit: `long id; long ret` (per-syscall: `int __syscall_nr; long ret`).
    SysExit { id: Field, ret: Field },
    /// sched:sched_switch.
    Switch {
        prev_comm: Field,
        prev_pid: Field,
        prev_state: Field,
        next_comm: Field,
        next_pid: Field,
        /// The prev_state letters from the format's `__print_flags`, when it has one.
        states: Option<SymbolTable>,
    },
    /// sched:sched_process_fork: the child's tid and comm.
    Fork { child_comm: Field, child_pid: Field },
    /// sched:sched_process_exec: the new image's path.
    Exec { filename: Field },
    /// sched:sched_process_exit.
    Exit { pid: Field },
    /// task:task_rename: a thread changed its comm.
    Rename { pid: Field, newcomm: Field },
    /// task:task_newtask: a new task and its comm.
    NewTask { pid: Field, comm: Field },
    /// sock:inet_sock_set_state: a TCP socket's state change with both endpoints.
    SockState {
        skaddr: Field,
        oldstate: Field,
        newstate: Field,
        sport: Field,
        dport: Field,
        family: Field,
        saddr: Field,
        daddr: Field,
        saddr_v6: Field,
        daddr_v6: Field,
    },
    /// Any other tracepoint: rendered field by field from its format.
    Generic,
}

/// Where a sys_enter record keeps the call's arguments.
#[derive(Debug, Clone)]
pub enum ArgFields {
    /// raw_syscalls' `unsigned long args[6]`.
    Array(Field),
    /// A per-syscall event's named arguments, in order (the fields after `__syscall_nr`
    /// that are not dynamic, at most six).
    Named(Vec<Field>),
}

impl ArgFields {
    fn named(format: &EventFormat) -> ArgFields {
        let fields = format
            .fields
            .iter()
            .skip_while(|f| f.name != "__syscall_nr")
            .skip(1)
            .filter(|f| matches!(f.kind, FieldKind::Scalar | FieldKind::Pointer))
            .take(6)
            .cloned()
            .collect();
        ArgFields::Named(fields)
    }

    fn read(&self, raw: &[u8]) -> [u64; 6] {
        let mut a = [0u64; 6];
        match self {
            ArgFields::Named(fields) => {
                for (slot, f) in a.iter_mut().zip(fields) {
                    *slot = f.u64(raw).unwrap_or(0);
                }
            }
            ArgFields::Array(args) => match args.bytes(raw) {
                // The common case, 64-bit longs: one slice, six loads.
                Some(b)
                    if b.len() == 48
                        && matches!(args.kind, FieldKind::Array { elem_size: 8, .. }) =>
                {
                    for (slot, w) in a.iter_mut().zip(b.chunks_exact(8)) {
                        *slot = u64::from_le_bytes(w.try_into().expect("8-byte chunk"));
                    }
                }
                _ => {
                    for (i, slot) in a.iter_mut().enumerate() {
                        *slot = args.array_u64(raw, i).unwrap_or(0);
                    }
                }
            },
        }
        a
    }
}

/// One opened tracepoint.
#[derive(Debug, Clone)]
pub struct Tracepoint {
    pub system: String,
    pub name: String,
    pub format: EventFormat,
    /// The format file as read, kept for captures (readers decode with it elsewhere).
    pub format_text: String,
    pub role: Role,
    /// Events read from a sysdig capture: sysdig's own parameters (see `scap::stored`).
    pub scap_params: Option<Field>,
}

#[derive(Debug)]
pub struct RoleError {
    pub tracepoint: String,
    pub missing: &'static str,
}

impl fmt::Display for RoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tracepoint {}: format has no field '{}'",
            self.tracepoint, self.missing
        )
    }
}

impl Tracepoint {
    /// Resolves the fields the tracepoint's role needs. A well-known tracepoint whose
    /// format lacks an expected field is an error (the caller warns and skips it).
    pub fn new(
        system: &str,
        name: &str,
        format_text: &str,
        format: EventFormat,
    ) -> Result<Tracepoint, RoleError> {
        let full = format!("{system}:{name}");
        let get = |n: &'static str| -> Result<Field, RoleError> {
            format.field(n).cloned().ok_or(RoleError {
                tracepoint: full.clone(),
                missing: n,
            })
        };
        let role = match (system, name) {
            ("raw_syscalls" | "syscalls", "sys_enter") => Role::SysEnter {
                id: get("id")?,
                args: ArgFields::Array(get("args")?),
            },
            ("syscalls", n) if n.starts_with("sys_enter_") => Role::SysEnter {
                id: get("__syscall_nr")?,
                args: ArgFields::named(&format),
            },
            ("syscalls", n) if n.starts_with("sys_exit_") => Role::SysExit {
                id: get("__syscall_nr")?,
                ret: get("ret")?,
            },
            ("raw_syscalls" | "syscalls", "sys_exit") => Role::SysExit {
                id: get("id")?,
                ret: get("ret")?,
            },
            ("sched", "sched_switch") => Role::Switch {
                prev_comm: get("prev_comm")?,
                prev_pid: get("prev_pid")?,
                prev_state: get("prev_state")?,
                next_comm: get("next_comm")?,
                next_pid: get("next_pid")?,
                states: format
                    .symbols
                    .iter()
                    .find(|t| t.field == "prev_state")
                    .cloned(),
            },
            ("sched", "sched_process_fork") => Role::Fork {
                child_comm: get("child_comm")?,
                child_pid: get("child_pid")?,
            },
            ("sched", "sched_process_exec") => Role::Exec {
                filename: get("filename")?,
            },
            ("sched", "sched_process_exit") => Role::Exit { pid: get("pid")? },
            ("task", "task_rename") => Role::Rename {
                pid: get("pid")?,
                newcomm: get("newcomm")?,
            },
            ("task", "task_newtask") => Role::NewTask {
                pid: get("pid")?,
                comm: get("comm")?,
            },
            ("sock", "inet_sock_set_state") => Role::SockState {
                skaddr: get("skaddr")?,
                oldstate: get("oldstate")?,
                newstate: get("newstate")?,
                sport: get("sport")?,
                dport: get("dport")?,
                family: get("family")?,
                saddr: get("saddr")?,
                daddr: get("daddr")?,
                saddr_v6: get("saddr_v6")?,
                daddr_v6: get("daddr_v6")?,
            },
            _ => Role::Generic,
        };
        let scap_params = format.field(crate::scap::stored::FIELD).cloned();
        Ok(Tracepoint {
            system: system.to_string(),
            name: name.to_string(),
            format,
            format_text: format_text.to_string(),
            role,
            scap_params,
        })
    }

    /// Whether the thread state needs every record of this tracepoint (they are never
    /// filtered out in the kernel, and a filtered capture still stores them).
    pub fn feeds_state(&self) -> bool {
        matches!(
            self.role,
            Role::Fork { .. }
                | Role::Exec { .. }
                | Role::Exit { .. }
                | Role::Rename { .. }
                | Role::NewTask { .. }
                | Role::SockState { .. }
        )
    }

    /// Whether its records are state input only, never shown as events.
    pub fn internal(&self) -> bool {
        matches!(self.role, Role::SockState { .. })
            || (self.scap_params.is_some() && self.system == "scap" && self.name == "internal")
    }

    pub fn full_name(&self) -> String {
        format!("{}:{}", self.system, self.name)
    }
}

/// Reads an inet_sock_set_state record into a state change.
pub fn tcp_change(role: &Role, raw: &[u8]) -> Option<crate::state::tcp::TcpChange> {
    let Role::SockState {
        skaddr,
        oldstate,
        newstate,
        sport,
        dport,
        family,
        saddr,
        daddr,
        saddr_v6,
        daddr_v6,
    } = role
    else {
        return None;
    };
    let addr = |v4: &Field, v6: &Field| -> Option<std::net::IpAddr> {
        match family.u64(raw)? {
            2 => {
                let b: [u8; 4] = v4.bytes(raw)?.get(..4)?.try_into().ok()?;
                Some(std::net::Ipv4Addr::from(b).into())
            }
            10 => {
                let b: [u8; 16] = v6.bytes(raw)?.get(..16)?.try_into().ok()?;
                let ip = std::net::Ipv6Addr::from(b);
                Some(ip.to_ipv4_mapped().map_or(ip.into(), Into::into))
            }
            _ => None,
        }
    };
    Some(crate::state::tcp::TcpChange {
        skaddr: skaddr.u64(raw)?,
        oldstate: oldstate.i64(raw)?,
        newstate: newstate.i64(raw)?,
        saddr: addr(saddr, saddr_v6)?,
        sport: sport.u64(raw)? as u16,
        daddr: addr(daddr, daddr_v6)?,
        dport: dport.u64(raw)? as u16,
    })
}

/// The decoded meaning of a record, as far as the record alone tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SyscallEnter {
        nr: i64,
        args: [u64; 6],
    },
    SyscallExit {
        nr: i64,
        ret: i64,
    },
    Switch {
        next_pid: i64,
        prev_state: u64,
    },
    /// Lifecycle and other tracepoints: read their fields from the record when needed.
    Other,
}

/// A record with its tracepoint, decoded. Borrowed from the merge queue; lives for one
/// trip through state, filter and sinks.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Sequence number, from 1, in output order.
    pub num: u64,
    /// Wall-clock nanoseconds since the epoch.
    pub ts: u64,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    pub tp: &'a Tracepoint,
    pub raw: &'a [u8],
    pub kind: Kind,
}

impl Event<'_> {
    /// `>` for entries and instantaneous events, `<` for syscall exits.
    pub fn dir(&self) -> char {
        match self.kind {
            Kind::SyscallExit { .. } => '<',
            _ => '>',
        }
    }
}

/// All opened tracepoints, found by the `common_type` id at the start of every record.
#[derive(Debug)]
pub struct Decoder {
    tracepoints: Vec<Tracepoint>,
    /// Index into `tracepoints` by `common_type` id (`NONE`: not opened): a table, since
    /// every record looks its tracepoint up and ids are small.
    by_id: Vec<u32>,
    pub arch: Arch,
}

const NONE: u32 = u32::MAX;

impl Decoder {
    pub fn new(tracepoints: Vec<Tracepoint>, arch: Arch) -> Decoder {
        let ids = || tracepoints.iter().map(|t| usize::from(t.format.id as u16));
        let mut by_id = vec![NONE; ids().max().map_or(0, |m| m + 1)];
        for (i, id) in ids().enumerate() {
            by_id[id] = i as u32;
        }
        Decoder {
            tracepoints,
            by_id,
            arch,
        }
    }

    /// Parses format texts (as a capture stores them) into a decoder; a text that does not
    /// parse is reported with its tracepoint's name.
    pub fn from_texts<'t>(
        texts: impl IntoIterator<Item = (&'t str, &'t str, &'t str)>,
        arch: Arch,
    ) -> Result<Decoder, String> {
        let mut tps = Vec::new();
        for (system, name, text) in texts {
            let format =
                EventFormat::parse(text).map_err(|e| format!("format of {system}:{name}: {e}"))?;
            tps.push(Tracepoint::new(system, name, text, format).map_err(|e| e.to_string())?);
        }
        Ok(Decoder::new(tps, arch))
    }

    pub fn tracepoints(&self) -> &[Tracepoint] {
        &self.tracepoints
    }

    /// Finds the record's tracepoint and decodes the fields of its role. `None` when the
    /// record is too short or of a tracepoint that was not opened.
    pub fn decode<'a>(&'a self, raw: &'a [u8]) -> Option<(&'a Tracepoint, Kind)> {
        let common_type = u16::from_le_bytes([*raw.first()?, *raw.get(1)?]);
        let i = *self.by_id.get(usize::from(common_type))?;
        let tp = self.tracepoints.get(i as usize)?;
        let kind = match &tp.role {
            Role::SysEnter { id, args } => {
                let a = args.read(raw);
                Kind::SyscallEnter {
                    nr: id.i64(raw)?,
                    args: a,
                }
            }
            Role::SysExit { id, ret } => Kind::SyscallExit {
                nr: id.i64(raw)?,
                ret: ret.i64(raw)?,
            },
            Role::Switch {
                next_pid,
                prev_state,
                ..
            } => Kind::Switch {
                next_pid: next_pid.i64(raw)?,
                prev_state: prev_state.u64(raw)?,
            },
            _ => Kind::Other,
        };
        Some((tp, kind))
    }
}
