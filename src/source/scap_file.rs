//! `-r FILE.scap`: a sysdig capture replayed through the same pipeline as tpdig's own.
//!
//! The file is turned into what the pipeline reads from a tpdig capture, in file order:
//! format texts of the records it builds, a state snapshot from the process, fd and user
//! lists, exact values (paths) keyed by thread and time, and event records. Each sysdig
//! event becomes the record tpdig's live path would have produced: a system call's entry
//! (its registers filled from the parameters of the entry and its exit, which is looked
//! up ahead) or exit, a process exit, or a record of its own for events tpdig has no
//! tracepoint for; internal events (sysdig's procinfo, container) become hidden records
//! that are counted in `evt.num`, as sysdig counts them. Every record also carries
//! sysdig's own parameters (`scap::stored`) for `evt.info`.
//!
//! The decompressed file is held in memory while it is converted.

use super::file::{EventBatch, Feed, Piece};
use crate::capture::blocks::{
    Abi, EventFormat as FormatRec, FdInfo as FdRec, ThreadInfo, UserValue,
};
use crate::capture::{CaptureError, Item};
use crate::fasthash::IntMap;
use crate::params::{FlagKind, FlagTable, ParamType, Source};
use crate::scap::events::ScapEvent;
use crate::scap::lists::{Content, Fd, FdDetail, Proc, fd_type};
use crate::scap::stored::le_int;
use crate::scap::{ScapError, blocks::Blocks, gzip, stored, table};
use crate::state::snapshot;
use crate::syscalls::{self, Arch};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, channel, sync_channel};

const ARCH: Arch = Arch::X86_64;

/// Largest decompressed capture read (a gzip bomb stops here).
const MAX_BYTES: usize = 16 << 30;

const COMMON: &str = "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n";

const ID_ENTER: u16 = 1;
const ID_EXIT: u16 = 2;
const ID_PROCEXIT: u16 = 3;
const ID_INTERNAL: u16 = 4;
const ID_FIRST_OTHER: u16 = 5;

/// Offsets of the parameter block's data_loc word in each record kind.
const LOC_ENTER: usize = 64;
const LOC_EXIT: usize = 24;
const LOC_PROCEXIT: usize = 32;
const LOC_OTHER: usize = 8;

fn format_text(name: &str, id: u16, fields: &str) -> String {
    format!(
        "name: {name}\nID: {id}\nformat:\n{COMMON}{fields}\tfield:__data_loc char[] {f};\toffset:{{LOC}};\tsize:4;\tsigned:0;\n\nprint fmt: \"\"\n",
        f = stored::FIELD
    )
}

fn fixed_formats() -> Vec<FormatRec> {
    let rec = |system: &str, name: &str, id: u16, fields: &str, loc: usize| FormatRec {
        system: system.into(),
        name: name.into(),
        id: id.into(),
        text: format_text(name, id, fields).replace("{LOC}", &loc.to_string()),
    };
    vec![
        rec(
            "raw_syscalls",
            "sys_enter",
            ID_ENTER,
            "\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;\n\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;\n",
            LOC_ENTER,
        ),
        rec(
            "raw_syscalls",
            "sys_exit",
            ID_EXIT,
            "\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n",
            LOC_EXIT,
        ),
        rec(
            "sched",
            "sched_process_exit",
            ID_PROCEXIT,
            "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;\n",
            LOC_PROCEXIT,
        ),
        rec("scap", "internal", ID_INTERNAL, "", LOC_OTHER),
    ]
}

/// Reads `path` and converts it on a thread of its own, as the tpdig reader does.
pub(super) fn read_ahead(path: &std::path::Path) -> Result<Feed, String> {
    let file = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (data, cut) = if gzip::is_gzip(&file) {
        let inf =
            gzip::inflate(&file, MAX_BYTES).map_err(|e| format!("{}: {e}", path.display()))?;
        (inf.data, inf.truncated)
    } else {
        (file, None)
    };
    Blocks::open(&data).map_err(|e| format!("{}: {e}", path.display()))?;
    let (tx, rx) = sync_channel(4);
    let (spare_tx, spare) = channel::<EventBatch>();
    std::thread::spawn(move || {
        let mut c = Converter::new(&tx, spare);
        if let Err(e) = c.run(&data) {
            c.flush();
            let _ = tx.send((
                Piece::Error(CaptureError::Corrupt {
                    offset: e.offset,
                    block: c.blocks,
                    msg: match &cut {
                        Some(note) => format!("{} ({note})", e.what),
                        None => e.what,
                    },
                }),
                data.len() as u64,
            ));
        } else {
            c.flush();
        }
    });
    Ok((rx, spare_tx))
}

struct Converter<'t> {
    tx: &'t std::sync::mpsc::SyncSender<(Piece, u64)>,
    spare: Receiver<EventBatch>,
    batch: EventBatch,
    values: Vec<UserValue>,
    /// Tracepoint ids given to events without a tracepoint of their own, by event name.
    other_ids: HashMap<&'static str, u16>,
    /// Each thread's process, from the process list and clone exits.
    pid_of: IntMap<u64, u32>,
    /// The syscall number of each non-generic event id, found once.
    nr_of: Vec<Option<Option<i64>>>,
    blocks: u64,
    position: u64,
    raw: Vec<u8>,
}

impl<'t> Converter<'t> {
    fn new(tx: &'t std::sync::mpsc::SyncSender<(Piece, u64)>, spare: Receiver<EventBatch>) -> Self {
        Converter {
            tx,
            spare,
            batch: EventBatch::default(),
            values: Vec::new(),
            other_ids: HashMap::new(),
            pid_of: IntMap::default(),
            nr_of: vec![None; table::EVENTS.len()],
            blocks: 0,
            position: 0,
            raw: Vec::new(),
        }
    }

    fn item(&mut self, item: Item<'static>) {
        self.flush();
        let _ = self.tx.send((Piece::Item(item), self.position));
    }

    /// Hands on the values and events collected so far (values first: they are keyed by
    /// time and wait for their events).
    fn flush(&mut self) {
        if !self.values.is_empty() {
            let v = std::mem::take(&mut self.values);
            let _ = self
                .tx
                .send((Piece::Item(Item::UserValues(v)), self.position));
        }
        if !self.batch.is_empty() {
            let mut next = self.spare.try_recv().unwrap_or_default();
            next.clear();
            let full = std::mem::replace(&mut self.batch, next);
            let _ = self.tx.send((Piece::Events(full), self.position));
        }
    }

    fn run(&mut self, data: &[u8]) -> Result<(), ScapError> {
        let _ = self.tx.send((
            Piece::Item(Item::Abi(Abi {
                arch: "x86_64".into(),
            })),
            0,
        ));
        for f in fixed_formats() {
            let _ = self.tx.send((Piece::Item(Item::Format(f)), 0));
        }
        let mut events: Vec<ScapEvent<'_>> = Vec::new();
        let (mut procs, mut fds, mut users, mut groups) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut failure = None;
        for b in Blocks::open(data)? {
            let b = match b {
                Ok(b) => b,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            self.blocks += 1;
            let content = match Content::of(&b) {
                Ok(c) => c,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            match content {
                Content::Procs(p) => procs.extend(p),
                Content::Fds(tid, f) => fds.extend(f.into_iter().map(|f| (tid, f))),
                Content::Users(u, g) => {
                    users.extend(u);
                    groups.extend(g);
                }
                Content::Event => match ScapEvent::parse(&b) {
                    Ok(Some(e)) => events.push(e),
                    Ok(None) => {}
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                },
                _ => {}
            }
        }
        self.snapshot(&procs, &fds, &users, &groups);
        self.events(&events, data.len());
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn snapshot(
        &mut self,
        procs: &[Proc],
        fds: &[(u64, Fd)],
        users: &[crate::scap::lists::User],
        groups: &[crate::scap::lists::Group],
    ) {
        let threads = procs
            .iter()
            .map(|p| {
                self.pid_of.insert(p.tid, p.pid as u32);
                ThreadInfo {
                    tid: p.tid as u32,
                    pid: p.pid as u32,
                    ppid: Some(p.ptid as u32),
                    comm: p.comm.clone(),
                    exe: p.exe.clone(),
                    args: p
                        .args
                        .split(|&b| b == 0)
                        .filter(|a| !a.is_empty())
                        .map(<[u8]>::to_vec)
                        .collect(),
                    cwd: p.cwd.clone(),
                    uid: Some(p.uid),
                    gid: Some(p.gid),
                    extra: vec![(109, 1u64.to_le_bytes().to_vec())],
                }
            })
            .collect();
        self.item(Item::Threads(threads));
        let fds = fds
            .iter()
            .filter_map(|(tid, f)| {
                let pid = self.pid_of.get(tid).copied().unwrap_or(*tid as u32);
                fd_record(pid, f)
            })
            .collect();
        self.item(Item::Fds(fds));
        self.item(Item::Users(snapshot::user_infos(users.iter())));
        let groups = snapshot::group_infos(groups.iter());
        self.item(Item::Groups(groups));
    }

    fn events(&mut self, events: &[ScapEvent<'_>], total: usize) {
        // Each entry's exit, looked up ahead (the registers of old captures' entries are
        // in their exits).
        let mut exit_of = vec![None; events.len()];
        let mut open: IntMap<u64, usize> = IntMap::default();
        for (i, e) in events.iter().enumerate() {
            if table::is_enter(e.etype) {
                open.insert(e.tid, i);
            } else if let Some(j) = open.remove(&e.tid)
                && events[j].etype + 1 == e.etype
            {
                exit_of[j] = Some(i);
            }
        }
        // Formats of events without a tracepoint of their own go first, so that every
        // sink sees them at its start (a tpdig capture written from this run keeps them).
        for e in events {
            if let Some(info) = table::info(e.etype)
                && info.cat != table::Category::Internal
                && !matches!(e.etype, table::GENERIC_E | table::GENERIC_X)
                && self.nr_of_event(e.etype, info.name).is_none()
                && info.name != "procexit"
            {
                self.other_id(info.name);
            }
        }
        let mut enter_of: IntMap<u64, (u64, i64)> = IntMap::default();
        for (i, e) in events.iter().enumerate() {
            self.position = (e.offset as u64).min(total as u64);
            let exit = exit_of[i].map(|j| &events[j]);
            self.event(e, exit, &mut enter_of);
            if self.batch.bytes_len() >= 256 << 10 {
                self.flush();
            }
        }
    }

    /// The syscall number of a non-generic event id (by its name), found once per id.
    fn nr_of_event(&mut self, etype: u16, name: &str) -> Option<i64> {
        *self.nr_of[usize::from(etype)].get_or_insert_with(|| syscall_nr_of_name(name))
    }

    fn pid(&self, tid: u64) -> u32 {
        self.pid_of.get(&tid).copied().unwrap_or(tid as u32)
    }

    /// One sysdig event as a record.
    fn event(
        &mut self,
        e: &ScapEvent<'_>,
        exit: Option<&ScapEvent<'_>>,
        enter_of: &mut IntMap<u64, (u64, i64)>,
    ) {
        let Some(info) = table::info(e.etype) else {
            return;
        };
        let enter = table::is_enter(e.etype);
        let tid = e.tid;
        let pid = self.pid(tid);
        self.track_tasks(e, info.name);
        self.raw.clear();
        let nr = if info.cat == table::Category::Internal {
            None
        } else if matches!(e.etype, table::GENERIC_E | table::GENERIC_X) {
            syscall_nr(e, info.name, enter_of.get(&tid).map(|x| x.1))
        } else {
            self.nr_of_event(e.etype, info.name)
        };
        match nr {
            Some(nr) if enter => {
                let mut args = [0u64; 6];
                if let Some(sc) = syscalls::name(ARCH, nr) {
                    self.registers(sc, e, exit, &mut args);
                }
                header(&mut self.raw, ID_ENTER, pid);
                self.raw.extend_from_slice(&nr.to_le_bytes());
                for a in args {
                    self.raw.extend_from_slice(&a.to_le_bytes());
                }
                enter_of.insert(tid, (e.ts, nr));
                finish(&mut self.raw, LOC_ENTER, e);
            }
            Some(nr) => {
                enter_of.remove(&tid);
                let ret = e.params.get(0).and_then(le_int).map_or(0, |v| {
                    sign_extend(v, e.params.get(0).map_or(8, <[u8]>::len))
                });
                header(&mut self.raw, ID_EXIT, pid);
                self.raw.extend_from_slice(&nr.to_le_bytes());
                self.raw.extend_from_slice(&ret.to_le_bytes());
                finish(&mut self.raw, LOC_EXIT, e);
            }
            None if e.etype == table::PROCEXIT_1_E || info.name == "procexit" => {
                header(&mut self.raw, ID_PROCEXIT, pid);
                self.raw.extend_from_slice(&[0u8; 16]);
                self.raw.extend_from_slice(&(tid as i32).to_le_bytes());
                self.raw.extend_from_slice(&0i32.to_le_bytes());
                finish(&mut self.raw, LOC_PROCEXIT, e);
            }
            None => {
                let id = if info.cat == table::Category::Internal {
                    ID_INTERNAL
                } else {
                    self.other_id(info.name)
                };
                header(&mut self.raw, id, pid);
                finish(&mut self.raw, LOC_OTHER, e);
            }
        }
        let raw = std::mem::take(&mut self.raw);
        self.batch
            .push_raw(e.ts, u32::from(e.cpu), pid, tid as u32, &raw);
        self.raw = raw;
    }

    /// The record id for an event tpdig has no tracepoint for, its format sent first.
    fn other_id(&mut self, name: &'static str) -> u16 {
        if let Some(&id) = self.other_ids.get(name) {
            return id;
        }
        let id = ID_FIRST_OTHER + self.other_ids.len() as u16;
        self.other_ids.insert(name, id);
        let text = format_text(name, id, "").replace("{LOC}", &LOC_OTHER.to_string());
        self.item(Item::Format(FormatRec {
            system: "scap".into(),
            name: name.into(),
            id: id.into(),
            text,
        }));
        id
    }

    /// Keeps the tid → process map current across clone exits.
    fn track_tasks(&mut self, e: &ScapEvent<'_>, name: &str) {
        if table::is_enter(e.etype) || !matches!(name, "clone" | "fork" | "vfork" | "clone3") {
            return;
        }
        let Some(info) = table::info(e.etype) else {
            return;
        };
        let find = |n: &str| {
            info.params
                .iter()
                .position(|p| p.name == n)
                .and_then(|i| e.params.get(i))
                .and_then(le_int)
        };
        if find("res") == Some(0)
            && let Some(pid) = find("pid")
        {
            self.pid_of.insert(e.tid, pid as u32);
        }
    }

    /// Fills the entry's registers and exact values from the parameters sysdig stored on
    /// the entry and its exit, matched by name onto tpdig's own table for the syscall.
    fn registers(
        &mut self,
        syscall: &str,
        e: &ScapEvent<'_>,
        exit: Option<&ScapEvent<'_>>,
        args: &mut [u64; 6],
    ) {
        let Some(ours) = crate::params::lookup(syscall) else {
            return;
        };
        let value = |name: &str| -> Option<(&'static table::P, &[u8])> {
            for ev in std::iter::once(e).chain(exit) {
                let info = table::info(ev.etype)?;
                if let Some(i) = info.params.iter().position(|p| p.name == name)
                    && let Some(v) = ev.params.get(i)
                {
                    return Some((&info.params[i], v));
                }
            }
            None
        };
        for p in ours.enter.iter().chain(ours.exit.iter()) {
            let Some((sp, v)) = value(p.name) else {
                continue;
            };
            match p.src {
                Source::Reg(r) => {
                    let Some(mut n) = le_int(v) else { continue };
                    if let Some(t) = sp.flags.filter(|_| is_flags(sp.ty)) {
                        n = ppm_to_kernel(t, n as u64) as i64;
                    }
                    args[usize::from(r) % 6] = n as u64;
                }
                Source::Mem(a) => {
                    let bytes = match sp.ty {
                        ParamType::SockAddr => kernel_sockaddr(v),
                        ParamType::FsPath | ParamType::FsRelPath | ParamType::CharBuf => {
                            Some(v[..v.iter().position(|&b| b == 0).unwrap_or(v.len())].to_vec())
                        }
                        _ => None,
                    };
                    if let Some(bytes) = bytes {
                        self.values.push(UserValue {
                            time: e.ts,
                            tid: e.tid as u32,
                            tier: "kernel-field".into(),
                            key: a.to_string(),
                            value: bytes,
                        });
                    }
                }
                _ => {}
            }
        }
        // clone's flags are on sysdig's exit only: the register tells a thread from a process.
        if syscall == "clone"
            && let Some((sp, v)) = value("flags")
            && let (Some(t), Some(n)) = (sp.flags, le_int(v))
        {
            args[0] = ppm_to_kernel(t, n as u64);
        }
    }
}

fn is_flags(t: ParamType) -> bool {
    matches!(
        t,
        ParamType::Flags8 | ParamType::Flags16 | ParamType::Flags32 | ParamType::Mode
    )
}

fn sign_extend(v: i64, width: usize) -> i64 {
    match width {
        4 => i64::from(v as u32 as i32),
        2 => i64::from(v as u16 as i16),
        1 => i64::from(v as u8 as i8),
        _ => v,
    }
}

/// The syscall number a sysdig event stands for on x86_64: a generic event's native id
/// (an exit takes its entry's), else the syscall of the event's name.
fn syscall_nr(e: &ScapEvent<'_>, name: &str, entered: Option<i64>) -> Option<i64> {
    if matches!(e.etype, table::GENERIC_E | table::GENERIC_X) {
        if table::is_enter(e.etype) {
            if let Some(n) = e.params.get(1).and_then(le_int) {
                return Some(n);
            }
        } else if let Some(n) = entered {
            return Some(n);
        }
        let id = e.params.get(0).and_then(le_int)?;
        return syscalls::number(ARCH, table::sc_name(id as u64));
    }
    syscall_nr_of_name(name)
}

/// The x86_64 syscall of a sysdig event name (`pread` is `pread64`).
fn syscall_nr_of_name(name: &str) -> Option<i64> {
    syscalls::number(ARCH, name).or_else(|| {
        crate::params::all()
            .iter()
            .find(|p| p.event == name)
            .and_then(|p| syscalls::number(ARCH, p.syscall))
    })
}

/// sysdig's (PPM) flag value as the kernel's.
fn ppm_to_kernel(t: &FlagTable, v: u64) -> u64 {
    let v = v as u32;
    match t.kind {
        FlagKind::Enum => t
            .entries
            .iter()
            .find(|e| e.ppm == v)
            .and_then(|e| e.kernel)
            .unwrap_or(u64::from(v)),
        _ => {
            let mut k = 0u64;
            let mut rest = v;
            for e in t.entries {
                if e.ppm != 0 && rest & e.ppm == e.ppm {
                    if let Some(kv) = e.kernel {
                        k |= kv;
                    }
                    rest &= !e.ppm;
                }
            }
            if t.kind == FlagKind::Open {
                // The access mode is a number, not bits: O_WRONLY 1, O_RDWR 2.
                k &= !3;
                k |= match v & 3 {
                    2 => 1,
                    3 => 2,
                    _ => 0,
                };
            }
            k
        }
    }
}

/// sysdig's sockaddr as the kernel's `struct sockaddr_*`, for the state's socket tuples.
fn kernel_sockaddr(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match *v.first()? {
        2 => {
            out.extend_from_slice(&2u16.to_le_bytes());
            out.extend_from_slice(&u16::from_le_bytes(v.get(5..7)?.try_into().ok()?).to_be_bytes());
            out.extend_from_slice(v.get(1..5)?);
            out.extend_from_slice(&[0; 8]);
        }
        10 => {
            out.extend_from_slice(&10u16.to_le_bytes());
            out.extend_from_slice(
                &u16::from_le_bytes(v.get(17..19)?.try_into().ok()?).to_be_bytes(),
            );
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(v.get(1..17)?);
            out.extend_from_slice(&[0; 4]);
        }
        1 => {
            out.extend_from_slice(&1u16.to_le_bytes());
            out.extend_from_slice(v.get(1..)?);
        }
        _ => return None,
    }
    Some(out)
}

fn header(raw: &mut Vec<u8>, id: u16, pid: u32) {
    raw.extend_from_slice(&id.to_le_bytes());
    raw.extend_from_slice(&[0, 0]);
    raw.extend_from_slice(&(pid as i32).to_le_bytes());
}

/// Appends the data_loc word at `loc` (the record is filled up to it) and the event's
/// parameters after it.
fn finish(raw: &mut Vec<u8>, loc: usize, e: &ScapEvent<'_>) {
    raw.resize(loc + 4, 0);
    stored::encode_into(e.etype, || e.params.iter(), raw);
    let len = (raw.len() - loc - 4) as u32;
    let word = (len << 16) | (loc + 4) as u32;
    raw[loc..loc + 4].copy_from_slice(&word.to_le_bytes());
}

/// An fd of sysdig's fd list as a snapshot record.
fn fd_record(pid: u32, f: &Fd) -> Option<FdRec> {
    let name_of = |b: &[u8]| b.to_vec();
    let (kind, name) = match (&f.detail, f.kind) {
        (FdDetail::File { name, .. }, _) => (b'f', name_of(name)),
        (FdDetail::Name(n), fd_type::DIRECTORY) => (b'd', name_of(n)),
        (FdDetail::Name(n), fd_type::FIFO) => (b'p', name_of(n)),
        (FdDetail::Name(n), fd_type::EVENT) => (b'e', name_of(n)),
        (FdDetail::Name(n), fd_type::SIGNALFD) => (b's', name_of(n)),
        (FdDetail::Name(n), fd_type::EVENTPOLL) => (b'l', name_of(n)),
        (FdDetail::Name(n), fd_type::INOTIFY) => (b'i', name_of(n)),
        (FdDetail::Name(n), fd_type::TIMERFD) => (b't', name_of(n)),
        (FdDetail::Name(n), fd_type::NETLINK) => (b'n', name_of(n)),
        (FdDetail::Name(n), fd_type::FILE) => (b'f', name_of(n)),
        (FdDetail::Name(n), _) => (b'o', name_of(n)),
        (FdDetail::Ipv4(x), _) => (b'4', x.name().into_bytes()),
        (FdDetail::Ipv4Server(x), _) => (b'4', x.name().into_bytes()),
        (FdDetail::Ipv6(x), _) => (b'6', x.name().into_bytes()),
        (FdDetail::Ipv6Server(x), _) => (b'6', x.name().into_bytes()),
        (FdDetail::Unix { name, .. }, _) => (b'u', name_of(name)),
        (FdDetail::None, _) => return None,
    };
    Some(FdRec {
        pid,
        fd: u32::try_from(f.fd).ok()?,
        kind,
        name,
        flags: 0,
        extra: vec![(201, f.ino.to_le_bytes().to_vec())],
    })
}
