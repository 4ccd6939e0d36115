//! Typed payloads of the metadata blocks, each with an I/O-free encoder and decoder.
//!
//! Lists are `count` then one length-prefixed entry per item, so a decoder can step over an
//! entry whose tail it does not understand. Entries that describe /proc state (threads, fds,
//! users, groups) are tagged-field records: a later tpdig adds fields under new tags and
//! older readers skip them, without a version bump. Fixed entries (machine key/values,
//! drops, user values, end) ignore trailing bytes for the same reason.

use super::wire::{
    Cur, TaggedIn, TaggedOut, WireError, WireResult, put_blob, put_str, put_u64, put_varint,
};

/// Machine description: ordered key/value strings. Keys written by tpdig: `hostname`,
/// `kernel`, `arch`, `page_size`, `cpus`, `clock`, `clock_offset_ns`, `tpdig_version`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineInfo {
    pub entries: Vec<(String, String)>,
}

impl MachineInfo {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => self.entries.push((key.to_string(), value)),
        }
    }
}

/// One tracefs `format` file, so a reader decodes records without the capturing machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFormat {
    pub system: String,
    pub name: String,
    /// The tracepoint id (`common_type` in its records).
    pub id: u32,
    pub text: String,
}

/// The syscall ABI of the traced machine (e.g. `x86_64`), selecting the syscall table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Abi {
    pub arch: String,
}

/// A field this version did not know, kept so a rewrite preserves it.
pub type ExtraField = (u64, Vec<u8>);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadInfo {
    pub tid: u32,
    pub pid: u32,
    pub ppid: Option<u32>,
    pub comm: Vec<u8>,
    pub exe: Vec<u8>,
    pub args: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub extra: Vec<ExtraField>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FdInfo {
    /// Process (thread group) owning the fd table.
    pub pid: u32,
    pub fd: u32,
    /// sysdig's type letter: b'f' file, b'd' directory, b'4'/b'6' inet, b'u' unix, b'p' pipe,
    /// b'e' eventfd, b's' signalfd, b'l' eventpoll, b'i' inotify, b't' timerfd, b'o' other.
    pub kind: u8,
    pub name: Vec<u8>,
    /// Open flags (O_*), as /proc/PID/fdinfo reports them.
    pub flags: u64,
    pub extra: Vec<ExtraField>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub uid: u32,
    pub name: String,
    pub home: String,
    pub shell: String,
    pub extra: Vec<ExtraField>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupInfo {
    pub gid: u32,
    pub name: String,
    pub extra: Vec<ExtraField>,
}

/// A value read from user memory while the capture ran, with the source that produced it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserValue {
    /// Time of the event it belongs to (same clock as event times).
    pub time: u64,
    pub tid: u32,
    /// Tier/source, e.g. `kernel-field`, `eprobe`, `uprobe:openat64`, `stack`, `async`.
    pub tier: String,
    /// What the value is, e.g. `openat.filename`.
    pub key: String,
    pub value: Vec<u8>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropRecord {
    pub cpu: u32,
    pub count: u64,
    /// Time the loss was noticed.
    pub time: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndInfo {
    pub events: u64,
    pub drops: u64,
    pub duration_ns: u64,
}

// ---- tag numbers (never reuse one) ----
const T_TID: u64 = 1;
const T_PID: u64 = 2;
const T_PPID: u64 = 3;
const T_COMM: u64 = 4;
const T_EXE: u64 = 5;
const T_ARGS: u64 = 6;
const T_CWD: u64 = 7;
const T_UID: u64 = 8;
const T_GID: u64 = 9;

const F_PID: u64 = 1;
const F_FD: u64 = 2;
const F_KIND: u64 = 3;
const F_NAME: u64 = 4;
const F_FLAGS: u64 = 5;

const U_ID: u64 = 1;
const U_NAME: u64 = 2;
const U_HOME: u64 = 3;
const U_SHELL: u64 = 4;

// ---- list framing ----

fn encode_list<T>(items: &[T], mut entry: impl FnMut(&T, &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, items.len() as u64);
    let mut tmp = Vec::new();
    for it in items {
        tmp.clear();
        entry(it, &mut tmp);
        put_blob(&mut out, &tmp);
    }
    out
}

fn decode_list<T>(
    payload: &[u8],
    mut entry: impl FnMut(&[u8], usize) -> WireResult<T>,
) -> WireResult<Vec<T>> {
    let mut c = Cur::new(payload);
    let n = c.count(1)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let before = c.pos;
        let b = c.blob()?;
        let base = before + (c.pos - before - b.len());
        v.push(entry(b, base)?);
    }
    Ok(v)
}

fn rebase<T>(r: WireResult<T>, base: usize) -> WireResult<T> {
    r.map_err(|e| WireError {
        pos: e.pos + base,
        msg: e.msg,
    })
}

fn u32_field(t: &TaggedIn, v: &[u8], what: &str) -> WireResult<u32> {
    let n = t.uint(v)?;
    u32::try_from(n).map_err(|_| WireError {
        pos: 0,
        msg: format!("{what} {n} does not fit 32 bits"),
    })
}

fn text(v: &[u8], what: &str) -> WireResult<String> {
    String::from_utf8(v.to_vec()).map_err(|_| WireError {
        pos: 0,
        msg: format!("{what} is not UTF-8"),
    })
}

// ---- machine ----

pub fn encode_machine(m: &MachineInfo) -> Vec<u8> {
    encode_list(&m.entries, |(k, v), out| {
        put_str(out, k);
        put_str(out, v);
    })
}

pub fn decode_machine(p: &[u8]) -> WireResult<MachineInfo> {
    let entries = decode_list(p, |b, base| {
        let mut c = Cur::new(b);
        rebase((|| Ok((c.str()?, c.str()?)))(), base)
    })?;
    Ok(MachineInfo { entries })
}

// ---- format / abi ----

pub fn encode_format(f: &EventFormat) -> Vec<u8> {
    let mut out = Vec::with_capacity(f.text.len() + 64);
    put_varint(&mut out, f.id as u64);
    put_str(&mut out, &f.system);
    put_str(&mut out, &f.name);
    put_str(&mut out, &f.text);
    out
}

pub fn decode_format(p: &[u8]) -> WireResult<EventFormat> {
    let mut c = Cur::new(p);
    Ok(EventFormat {
        id: c.varint32()?,
        system: c.str()?,
        name: c.str()?,
        text: c.str()?,
    })
}

pub fn encode_abi(a: &Abi) -> Vec<u8> {
    let mut out = Vec::new();
    put_str(&mut out, &a.arch);
    out
}

pub fn decode_abi(p: &[u8]) -> WireResult<Abi> {
    Ok(Abi {
        arch: Cur::new(p).str()?,
    })
}

// ---- threads ----

pub fn encode_threads(ts: &[ThreadInfo]) -> Vec<u8> {
    encode_list(ts, |t, out| {
        let mut r = TaggedOut::default();
        r.uint(T_TID, t.tid as u64);
        r.uint(T_PID, t.pid as u64);
        if let Some(p) = t.ppid {
            r.uint(T_PPID, p as u64);
        }
        r.bytes(T_COMM, &t.comm);
        r.bytes(T_EXE, &t.exe);
        let mut args = Vec::new();
        for a in &t.args {
            args.extend_from_slice(a);
            args.push(0);
        }
        r.bytes(T_ARGS, &args);
        r.bytes(T_CWD, &t.cwd);
        if let Some(u) = t.uid {
            r.uint(T_UID, u as u64);
        }
        if let Some(g) = t.gid {
            r.uint(T_GID, g as u64);
        }
        put_extra(&mut r, &t.extra);
        out.extend_from_slice(&r.buf);
    })
}

fn put_extra(r: &mut TaggedOut, extra: &[ExtraField]) {
    for (tag, v) in extra {
        put_varint(&mut r.buf, *tag);
        put_blob(&mut r.buf, v);
    }
}

pub fn decode_threads(p: &[u8]) -> WireResult<Vec<ThreadInfo>> {
    decode_list(p, |b, base| {
        let mut t = TaggedIn::new(b, base);
        let mut th = ThreadInfo::default();
        let (mut has_tid, mut has_pid) = (false, false);
        while let Some((tag, v)) = t.next_field()? {
            let r: WireResult<()> = (|| {
                match tag {
                    T_TID => {
                        th.tid = u32_field(&t, v, "tid")?;
                        has_tid = true;
                    }
                    T_PID => {
                        th.pid = u32_field(&t, v, "pid")?;
                        has_pid = true;
                    }
                    T_PPID => th.ppid = Some(u32_field(&t, v, "ppid")?),
                    T_COMM => th.comm = v.to_vec(),
                    T_EXE => th.exe = v.to_vec(),
                    T_ARGS => {
                        th.args = v.split(|&c| c == 0).map(|a| a.to_vec()).collect();
                        // Every argument is NUL-terminated: drop the empty piece after the last.
                        th.args.pop();
                    }
                    T_CWD => th.cwd = v.to_vec(),
                    T_UID => th.uid = Some(u32_field(&t, v, "uid")?),
                    T_GID => th.gid = Some(u32_field(&t, v, "gid")?),
                    _ => th.extra.push((tag, v.to_vec())),
                }
                Ok(())
            })();
            rebase(r, base)?;
        }
        if !(has_tid && has_pid) {
            return Err(WireError {
                pos: base,
                msg: "thread record without tid or pid".into(),
            });
        }
        Ok(th)
    })
}

// ---- fds ----

pub fn encode_fds(fds: &[FdInfo]) -> Vec<u8> {
    encode_list(fds, |f, out| {
        let mut r = TaggedOut::default();
        r.uint(F_PID, f.pid as u64);
        r.uint(F_FD, f.fd as u64);
        r.bytes(F_KIND, &[f.kind]);
        r.bytes(F_NAME, &f.name);
        r.uint(F_FLAGS, f.flags);
        put_extra(&mut r, &f.extra);
        out.extend_from_slice(&r.buf);
    })
}

pub fn decode_fds(p: &[u8]) -> WireResult<Vec<FdInfo>> {
    decode_list(p, |b, base| {
        let mut t = TaggedIn::new(b, base);
        let mut f = FdInfo::default();
        let mut seen = 0u8;
        while let Some((tag, v)) = t.next_field()? {
            let r: WireResult<()> = (|| {
                match tag {
                    F_PID => {
                        f.pid = u32_field(&t, v, "pid")?;
                        seen |= 1;
                    }
                    F_FD => {
                        f.fd = u32_field(&t, v, "fd")?;
                        seen |= 2;
                    }
                    F_KIND => f.kind = v.first().copied().unwrap_or(b'o'),
                    F_NAME => f.name = v.to_vec(),
                    F_FLAGS => f.flags = t.uint(v)?,
                    _ => f.extra.push((tag, v.to_vec())),
                }
                Ok(())
            })();
            rebase(r, base)?;
        }
        if seen != 3 {
            return Err(WireError {
                pos: base,
                msg: "fd record without pid or fd number".into(),
            });
        }
        Ok(f)
    })
}

// ---- users / groups ----

pub fn encode_users(us: &[UserInfo]) -> Vec<u8> {
    encode_list(us, |u, out| {
        let mut r = TaggedOut::default();
        r.uint(U_ID, u.uid as u64);
        r.bytes(U_NAME, u.name.as_bytes());
        r.bytes(U_HOME, u.home.as_bytes());
        r.bytes(U_SHELL, u.shell.as_bytes());
        put_extra(&mut r, &u.extra);
        out.extend_from_slice(&r.buf);
    })
}

pub fn decode_users(p: &[u8]) -> WireResult<Vec<UserInfo>> {
    decode_list(p, |b, base| {
        let mut t = TaggedIn::new(b, base);
        let mut u = UserInfo::default();
        let mut has_id = false;
        while let Some((tag, v)) = t.next_field()? {
            let r: WireResult<()> = (|| {
                match tag {
                    U_ID => {
                        u.uid = u32_field(&t, v, "uid")?;
                        has_id = true;
                    }
                    U_NAME => u.name = text(v, "user name")?,
                    U_HOME => u.home = text(v, "home")?,
                    U_SHELL => u.shell = text(v, "shell")?,
                    _ => u.extra.push((tag, v.to_vec())),
                }
                Ok(())
            })();
            rebase(r, base)?;
        }
        if !has_id {
            return Err(WireError {
                pos: base,
                msg: "user record without id".into(),
            });
        }
        Ok(u)
    })
}

pub fn encode_groups(gs: &[GroupInfo]) -> Vec<u8> {
    encode_list(gs, |g, out| {
        let mut r = TaggedOut::default();
        r.uint(U_ID, g.gid as u64);
        r.bytes(U_NAME, g.name.as_bytes());
        put_extra(&mut r, &g.extra);
        out.extend_from_slice(&r.buf);
    })
}

pub fn decode_groups(p: &[u8]) -> WireResult<Vec<GroupInfo>> {
    decode_list(p, |b, base| {
        let mut t = TaggedIn::new(b, base);
        let mut g = GroupInfo::default();
        let mut has_id = false;
        while let Some((tag, v)) = t.next_field()? {
            let r: WireResult<()> = (|| {
                match tag {
                    U_ID => {
                        g.gid = u32_field(&t, v, "gid")?;
                        has_id = true;
                    }
                    U_NAME => g.name = text(v, "group name")?,
                    _ => g.extra.push((tag, v.to_vec())),
                }
                Ok(())
            })();
            rebase(r, base)?;
        }
        if !has_id {
            return Err(WireError {
                pos: base,
                msg: "group record without id".into(),
            });
        }
        Ok(g)
    })
}

// ---- user values, drops, end ----

pub fn encode_user_values(vs: &[UserValue]) -> Vec<u8> {
    encode_list(vs, |v, out| {
        put_u64(out, v.time);
        put_varint(out, v.tid as u64);
        put_str(out, &v.tier);
        put_str(out, &v.key);
        put_blob(out, &v.value);
    })
}

pub fn decode_user_values(p: &[u8]) -> WireResult<Vec<UserValue>> {
    decode_list(p, |b, base| {
        let mut c = Cur::new(b);
        rebase(
            (|| {
                Ok(UserValue {
                    time: c.u64()?,
                    tid: c.varint32()?,
                    tier: c.str()?,
                    key: c.str()?,
                    value: c.blob()?.to_vec(),
                })
            })(),
            base,
        )
    })
}

pub fn encode_drops(ds: &[DropRecord]) -> Vec<u8> {
    encode_list(ds, |d, out| {
        put_varint(out, d.cpu as u64);
        put_varint(out, d.count);
        put_u64(out, d.time);
    })
}

pub fn decode_drops(p: &[u8]) -> WireResult<Vec<DropRecord>> {
    decode_list(p, |b, base| {
        let mut c = Cur::new(b);
        rebase(
            (|| {
                Ok(DropRecord {
                    cpu: c.varint32()?,
                    count: c.varint()?,
                    time: c.u64()?,
                })
            })(),
            base,
        )
    })
}

pub fn encode_end(e: &EndInfo) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, e.events);
    put_varint(&mut out, e.drops);
    put_varint(&mut out, e.duration_ns);
    out
}

pub fn decode_end(p: &[u8]) -> WireResult<EndInfo> {
    let mut c = Cur::new(p);
    Ok(EndInfo {
        events: c.varint()?,
        drops: c.varint()?,
        duration_ns: c.varint()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_unknown_tags_are_kept_and_skipped() {
        let t = ThreadInfo {
            tid: 5,
            pid: 4,
            args: vec![b"ls".to_vec(), b"".to_vec(), b"-l".to_vec()],
            extra: vec![(77, b"future".to_vec())],
            ..Default::default()
        };
        let p = encode_threads(std::slice::from_ref(&t));
        assert_eq!(decode_threads(&p).unwrap(), vec![t]);
    }

    #[test]
    fn missing_required_field_is_an_error() {
        let mut r = TaggedOut::default();
        r.uint(T_TID, 1);
        let mut p = Vec::new();
        put_varint(&mut p, 1);
        put_blob(&mut p, &r.buf);
        let e = decode_threads(&p).unwrap_err();
        assert!(e.msg.contains("without tid or pid"), "{e}");
    }

    #[test]
    fn trailing_entry_bytes_are_ignored() {
        // A drop entry from a future version with one more field.
        let mut entry = Vec::new();
        put_varint(&mut entry, 1);
        put_varint(&mut entry, 9);
        put_u64(&mut entry, 33);
        entry.extend_from_slice(b"more");
        let mut p = Vec::new();
        put_varint(&mut p, 1);
        put_blob(&mut p, &entry);
        assert_eq!(
            decode_drops(&p).unwrap(),
            vec![DropRecord {
                cpu: 1,
                count: 9,
                time: 33
            }]
        );
    }
}
