//! File descriptors: what each fd of a process refers to, in sysdig's vocabulary.
//!
//! Fd tables are shared objects in the kernel (`files_struct`): threads share one, a fork
//! child gets a copy, `clone(CLONE_FILES)` shares it across processes, and `unshare` or
//! `execve` makes a private copy again. So tables live here under their own keys with a
//! reference count, and a process points at the key; a table is dropped when the last
//! process using it leaves. Every table is bounded so a process that leaks fds (or events
//! we never saw the close of) cannot grow memory without limit.
//!
//! The classification of a `/proc/PID/fd/N` link target is I/O-free (`classify_link`), so
//! the snapshot code and the tests share it.

use crate::fasthash::IntMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Default bound on entries of one fd table.
pub const MAX_FDS_PER_TABLE: usize = 1024 * 64;

/// `O_CLOEXEC` as the kernel reports it in fdinfo `flags:` and in open flags.
pub const O_CLOEXEC: u32 = 0o2_000_000;

/// sysdig's fd types (`fd.type` / `fd.typechar`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FdKind {
    File,
    Directory,
    Ipv4,
    Ipv6,
    Unix,
    Pipe,
    Event,
    Signal,
    EventPoll,
    Inotify,
    Timer,
    Netlink,
    /// bpf maps and programs.
    Bpf,
    Userfault,
    IoUring,
    /// A pidfd; sysdig 0.29 has no letter for it and shows 'o'.
    Pidfd,
    /// Anything else (perf events, fanotify, sockets of families we do not decode...).
    Other,
}

impl FdKind {
    /// sysdig's `fd.typechar`.
    pub fn letter(self) -> char {
        match self {
            FdKind::File => 'f',
            FdKind::Directory => 'd',
            FdKind::Ipv4 => '4',
            FdKind::Ipv6 => '6',
            FdKind::Unix => 'u',
            FdKind::Pipe => 'p',
            FdKind::Event => 'e',
            FdKind::Signal => 's',
            FdKind::EventPoll => 'l',
            FdKind::Inotify => 'i',
            FdKind::Timer => 't',
            FdKind::Netlink => 'n',
            FdKind::Bpf => 'b',
            FdKind::Userfault => 'r',
            FdKind::IoUring => 'c',
            FdKind::Pidfd | FdKind::Other => 'o',
        }
    }

    /// sysdig's `fd.type` word.
    pub fn type_name(self) -> &'static str {
        match self {
            FdKind::File => "file",
            FdKind::Directory => "directory",
            FdKind::Ipv4 => "ipv4",
            FdKind::Ipv6 => "ipv6",
            FdKind::Unix => "unix",
            FdKind::Pipe => "pipe",
            FdKind::Event => "event",
            FdKind::Signal => "signalfd",
            FdKind::EventPoll => "eventpoll",
            FdKind::Inotify => "inotify",
            FdKind::Timer => "timerfd",
            FdKind::Netlink => "netlink",
            FdKind::Bpf => "bpf",
            FdKind::Userfault => "userfaultfd",
            FdKind::IoUring => "io_uring",
            FdKind::Pidfd | FdKind::Other => "unknown",
        }
    }

    pub fn is_socket(self) -> bool {
        matches!(
            self,
            FdKind::Ipv4 | FdKind::Ipv6 | FdKind::Unix | FdKind::Netlink
        )
    }
}

/// Transport protocol of an inet socket (`fd.l4proto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4Proto {
    Tcp,
    Udp,
    Raw,
    Icmp,
}

impl L4Proto {
    /// The letter sysdig appends to the type in `<4t>`.
    pub fn letter(self) -> char {
        match self {
            L4Proto::Tcp => 't',
            L4Proto::Udp => 'u',
            L4Proto::Raw => 'r',
            L4Proto::Icmp => 'i',
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
            L4Proto::Raw => "raw",
            L4Proto::Icmp => "icmp",
        }
    }

    /// From `socket(domain, type, protocol)`'s type and protocol.
    pub fn from_socket(sock_type: u64, protocol: u64) -> Option<L4Proto> {
        match (sock_type & 0xf, protocol) {
            (1, 0) | (1, 6) => Some(L4Proto::Tcp),
            (2, 0) | (2, 17) => Some(L4Proto::Udp),
            (2, 1) | (2, 58) | (3, 1) | (3, 58) => Some(L4Proto::Icmp),
            (3, _) => Some(L4Proto::Raw),
            _ => None,
        }
    }
}

/// An inet socket's endpoints, client (`s…`, source) first as sysdig writes them:
/// `127.0.0.1:40000->127.0.0.1:80`. A side we do not know is the unspecified address with
/// port 0 (sysdig's own convention) and `partial` is set so fields can call it missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockTuple {
    pub proto: Option<L4Proto>,
    pub sip: IpAddr,
    pub sport: u16,
    pub dip: IpAddr,
    pub dport: u16,
    /// One side is a placeholder, not a known address.
    pub partial: bool,
}

impl SockTuple {
    /// A bound or listening socket: only the local (server) side exists.
    pub fn server(proto: Option<L4Proto>, ip: IpAddr, port: u16) -> SockTuple {
        let none = unspecified_like(ip);
        SockTuple {
            proto,
            sip: ip,
            sport: port,
            dip: none,
            dport: 0,
            partial: false,
        }
    }

    /// Whether only one address is present (a listening/bound socket): rendered `ip:port`.
    pub fn is_server_only(&self) -> bool {
        !self.partial && self.dport == 0 && self.dip.is_unspecified()
    }

    /// sysdig's text: `sip:sport->dip:dport`, or `sip:sport` for a server-only socket.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if self.is_server_only() {
            let _ = write!(s, "{}:{}", ip_text(self.sip), self.sport);
        } else {
            let _ = write!(
                s,
                "{}:{}->{}:{}",
                ip_text(self.sip),
                self.sport,
                ip_text(self.dip),
                self.dport
            );
        }
        s
    }
}

/// Address text as sysdig prints it (IPv6 without brackets).
pub fn ip_text(ip: IpAddr) -> String {
    ip.to_string()
}

pub fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// What one fd refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdInfo {
    pub kind: FdKind,
    /// Path, tuple text, `pipe:[inode]`, …; empty when not known (shown as missing).
    pub name: String,
    /// Open flags (`O_*`, octal in fdinfo), including `O_CLOEXEC` when close-on-exec is set.
    pub flags: u32,
    /// Inet endpoints when known.
    pub sock: Option<SockTuple>,
    /// Transport protocol when known (from `socket()` or /proc/net), even without a tuple.
    pub l4: Option<L4Proto>,
    /// Kernel inode of sockets and pipes, when known (from /proc).
    pub ino: Option<u64>,
    /// Insertion order, for eviction.
    seq: u64,
}

impl FdInfo {
    pub fn new(kind: FdKind, name: impl Into<String>, flags: u32) -> FdInfo {
        FdInfo {
            kind,
            name: name.into(),
            flags,
            sock: None,
            l4: None,
            ino: None,
            seq: 0,
        }
    }

    pub fn name_known(&self) -> bool {
        !self.name.is_empty()
    }

    pub fn cloexec(&self) -> bool {
        self.flags & O_CLOEXEC != 0
    }

    /// The text between `<` and `>` in sysdig's `fd=3(<4t>…)`: the type letter, plus the
    /// transport letter for inet sockets whose tuple is known.
    pub fn tag(&self) -> String {
        let (kind, l4) = self.tag_letters();
        let mut s = String::with_capacity(2);
        s.push(kind);
        s.extend(l4);
        s
    }

    /// [`FdInfo::tag`] as its letters, without building a string (the line renderer asks
    /// for it once per fd argument).
    pub fn tag_letters(&self) -> (char, Option<char>) {
        let l4 = if matches!(self.kind, FdKind::Ipv4 | FdKind::Ipv6) && self.sock.is_some() {
            self.l4
                .or(self.sock.and_then(|t| t.proto))
                .map(|p| p.letter())
        } else {
            None
        };
        (self.kind.letter(), l4)
    }

    /// Sets the socket tuple and the name that goes with it.
    pub fn set_tuple(&mut self, t: SockTuple) {
        if t.proto.is_some() {
            self.l4 = t.proto;
        }
        self.name = t.text();
        self.sock = Some(t);
    }
}

/// One `files_struct`: fd number → what it refers to.
#[derive(Debug, Clone)]
pub struct FdTable {
    entries: IntMap<i32, FdInfo>,
    /// Processes using this table.
    refs: u32,
    limit: usize,
    next_seq: u64,
    evicted: u64,
}

impl FdTable {
    pub fn with_limit(limit: usize) -> FdTable {
        FdTable {
            entries: IntMap::default(),
            refs: 0,
            limit: limit.max(1),
            next_seq: 0,
            evicted: 0,
        }
    }

    pub fn get(&self, fd: i32) -> Option<&FdInfo> {
        self.entries.get(&fd)
    }

    pub fn get_mut(&mut self, fd: i32) -> Option<&mut FdInfo> {
        self.entries.get_mut(&fd)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Fd numbers in ascending order.
    pub fn fds(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.entries.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Sets fd `fd` (replacing what it referred to: the kernel reuses numbers).
    pub fn insert(&mut self, fd: i32, mut info: FdInfo) {
        if fd < 0 {
            return;
        }
        if !self.entries.contains_key(&fd) && self.entries.len() >= self.limit {
            self.evict_oldest();
        }
        info.seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(fd, info);
    }

    pub fn remove(&mut self, fd: i32) -> Option<FdInfo> {
        self.entries.remove(&fd)
    }

    /// Drops every fd marked close-on-exec (what `execve` does).
    pub fn close_cloexec(&mut self) {
        self.entries.retain(|_, f| !f.cloexec());
    }

    /// Applies `f` to every entry with an fd number in `first..=last`.
    pub fn retain_range(
        &mut self,
        first: i32,
        last: i32,
        mut keep: impl FnMut(&mut FdInfo) -> bool,
    ) {
        self.entries
            .retain(|&fd, f| fd < first || fd > last || keep(f));
    }

    /// A private copy for a fork child (same limit, no users yet).
    pub fn fork_copy(&self) -> FdTable {
        let mut t = self.clone();
        t.refs = 0;
        t
    }

    fn evict_oldest(&mut self) {
        let mut seqs: Vec<u64> = self.entries.values().map(|f| f.seq).collect();
        let cut = (seqs.len() / 8).max(1);
        seqs.select_nth_unstable(cut - 1);
        let threshold = seqs[cut - 1];
        let before = self.entries.len();
        self.entries.retain(|_, f| f.seq > threshold);
        self.evicted += (before - self.entries.len()) as u64;
    }
}

/// Key of a table in `FdTables`.
pub type TableKey = u32;

/// All fd tables, shared by reference count.
#[derive(Debug)]
pub struct FdTables {
    tables: IntMap<TableKey, FdTable>,
    next_key: TableKey,
    per_table_limit: usize,
}

impl Default for FdTables {
    fn default() -> Self {
        FdTables::with_limit(MAX_FDS_PER_TABLE)
    }
}

impl FdTables {
    pub fn with_limit(per_table_limit: usize) -> FdTables {
        FdTables {
            tables: IntMap::default(),
            next_key: 1,
            per_table_limit,
        }
    }

    /// Number of live tables.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    pub fn get(&self, key: TableKey) -> Option<&FdTable> {
        self.tables.get(&key)
    }

    pub fn get_mut(&mut self, key: TableKey) -> Option<&mut FdTable> {
        self.tables.get_mut(&key)
    }

    fn alloc(&mut self, mut t: FdTable) -> TableKey {
        while self.next_key == 0 || self.tables.contains_key(&self.next_key) {
            self.next_key = self.next_key.wrapping_add(1);
        }
        let key = self.next_key;
        self.next_key = self.next_key.wrapping_add(1);
        t.refs = 1;
        self.tables.insert(key, t);
        key
    }

    /// A new empty table with one user.
    pub fn create(&mut self) -> TableKey {
        let t = FdTable::with_limit(self.per_table_limit);
        self.alloc(t)
    }

    /// A private copy of `key` with one user (fork, unshare, exec); an empty table if `key`
    /// is gone.
    pub fn copy_of(&mut self, key: TableKey) -> TableKey {
        match self.tables.get(&key) {
            Some(t) => {
                let c = t.fork_copy();
                self.alloc(c)
            }
            None => self.create(),
        }
    }

    /// One more user of `key` (clone with CLONE_FILES). False if the table is gone.
    pub fn share(&mut self, key: TableKey) -> bool {
        match self.tables.get_mut(&key) {
            Some(t) => {
                t.refs += 1;
                true
            }
            None => false,
        }
    }

    /// One user less; the table goes with its last user.
    pub fn release(&mut self, key: TableKey) {
        if let Some(t) = self.tables.get_mut(&key) {
            t.refs = t.refs.saturating_sub(1);
            if t.refs == 0 {
                self.tables.remove(&key);
            }
        }
    }

    /// How many processes use `key`.
    pub fn refs(&self, key: TableKey) -> u32 {
        self.tables.get(&key).map_or(0, |t| t.refs)
    }
}

/// What a `/proc/PID/fd/N` link target says about the fd, before socket inodes are looked
/// up: the kind, the name, and the socket or pipe inode when the target carries one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkClass {
    pub kind: FdKind,
    pub name: String,
    /// `socket:[N]`: look N up in the /proc/net tables.
    pub socket_ino: Option<u64>,
    pub pipe_ino: Option<u64>,
}

/// File type of the link's target (from a stat of /proc/PID/fd/N), when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetType {
    Dir,
    Fifo,
    Other,
}

/// Classifies a `/proc/PID/fd/N` link target. I/O-free.
pub fn classify_link(link: &[u8], target: Option<TargetType>) -> LinkClass {
    let text = String::from_utf8_lossy(link).into_owned();
    let class = |kind: FdKind, name: String| LinkClass {
        kind,
        name,
        socket_ino: None,
        pipe_ino: None,
    };
    if let Some(ino) = bracketed_number(&text, "socket:[") {
        // Kind is refined from /proc/net; unknown families stay 'o'.
        return LinkClass {
            kind: FdKind::Other,
            name: String::new(),
            socket_ino: Some(ino),
            pipe_ino: None,
        };
    }
    if let Some(ino) = bracketed_number(&text, "pipe:[") {
        return LinkClass {
            kind: FdKind::Pipe,
            name: text,
            socket_ino: None,
            pipe_ino: Some(ino),
        };
    }
    if let Some(rest) = text.strip_prefix("anon_inode:") {
        let kind = match rest {
            "[eventfd]" => FdKind::Event,
            "[signalfd]" => FdKind::Signal,
            "[eventpoll]" => FdKind::EventPoll,
            "inotify" => FdKind::Inotify,
            "[timerfd]" => FdKind::Timer,
            "[pidfd]" => FdKind::Pidfd,
            "[userfaultfd]" => FdKind::Userfault,
            "[io_uring]" => FdKind::IoUring,
            r if r.starts_with("bpf") => FdKind::Bpf,
            _ => FdKind::Other,
        };
        return class(kind, text);
    }
    if text.starts_with("pidfd:") {
        return class(FdKind::Pidfd, text);
    }
    if let Some(rest) = text.strip_prefix("/memfd:") {
        let name = rest.strip_suffix(" (deleted)").unwrap_or(rest);
        return class(FdKind::File, format!("memfd:{name}"));
    }
    if text.starts_with('/') {
        let kind = match target {
            Some(TargetType::Dir) => FdKind::Directory,
            Some(TargetType::Fifo) => FdKind::Pipe,
            _ => FdKind::File,
        };
        return class(kind, text);
    }
    class(FdKind::Other, text)
}

fn bracketed_number(text: &str, prefix: &str) -> Option<u64> {
    text.strip_prefix(prefix)?.strip_suffix(']')?.parse().ok()
}

/// Parses the `flags:` line (octal) of `/proc/PID/fdinfo/N`.
pub fn parse_fdinfo_flags(text: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(text).ok()?;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("flags:") {
            return u32::from_str_radix(v.trim(), 8).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_classify_into_sysdig_letters() {
        let c = |l: &str| classify_link(l.as_bytes(), None);
        assert_eq!(c("/etc/passwd").kind.letter(), 'f');
        assert_eq!(c("/etc/passwd").name, "/etc/passwd");
        assert_eq!(
            classify_link(b"/tmp", Some(TargetType::Dir)).kind.letter(),
            'd'
        );
        assert_eq!(
            classify_link(b"/tmp/fifo", Some(TargetType::Fifo)).kind,
            FdKind::Pipe
        );
        let p = c("pipe:[12345]");
        assert_eq!((p.kind.letter(), p.pipe_ino), ('p', Some(12345)));
        assert_eq!(p.name, "pipe:[12345]");
        let s = c("socket:[998]");
        assert_eq!(s.socket_ino, Some(998));
        assert_eq!(c("anon_inode:[eventfd]").kind.letter(), 'e');
        assert_eq!(c("anon_inode:[signalfd]").kind.letter(), 's');
        assert_eq!(c("anon_inode:[eventpoll]").kind.letter(), 'l');
        assert_eq!(c("anon_inode:inotify").kind.letter(), 'i');
        assert_eq!(c("anon_inode:[timerfd]").kind.letter(), 't');
        assert_eq!(c("anon_inode:[perf_event]").kind.letter(), 'o');
        assert_eq!(c("anon_inode:bpf-map").kind, FdKind::Bpf);
        assert_eq!(c("anon_inode:[pidfd]").kind, FdKind::Pidfd);
        let m = c("/memfd:jit-cache (deleted)");
        assert_eq!((m.kind, m.name.as_str()), (FdKind::File, "memfd:jit-cache"));
        assert_eq!(c("net:[4026531833]").kind, FdKind::Other);
    }

    #[test]
    fn fdinfo_flags_are_octal() {
        let t = b"pos:\t0\nflags:\t02100002\nmnt_id:\t26\nino:\t77\n";
        let f = parse_fdinfo_flags(t).unwrap();
        assert_eq!(f, 0o2100002);
        assert!(f & O_CLOEXEC != 0);
        assert_eq!(parse_fdinfo_flags(b"pos: 0\n"), None);
        assert_eq!(parse_fdinfo_flags(b"flags:\tzz\n"), None);
    }

    #[test]
    fn tuples_render_like_sysdig() {
        let t = SockTuple {
            proto: Some(L4Proto::Tcp),
            sip: "127.0.0.1".parse().unwrap(),
            sport: 40000,
            dip: "127.0.0.1".parse().unwrap(),
            dport: 80,
            partial: false,
        };
        assert_eq!(t.text(), "127.0.0.1:40000->127.0.0.1:80");
        let srv = SockTuple::server(Some(L4Proto::Tcp), "::1".parse().unwrap(), 8080);
        assert_eq!(srv.text(), "::1:8080");
        let mut f = FdInfo::new(FdKind::Ipv4, "", 2);
        assert_eq!(f.tag(), "4");
        f.set_tuple(t);
        assert_eq!(f.tag(), "4t");
        assert_eq!(f.name, "127.0.0.1:40000->127.0.0.1:80");
    }

    #[test]
    fn tables_share_copy_and_release() {
        let mut ts = FdTables::with_limit(4);
        let a = ts.create();
        ts.get_mut(a)
            .unwrap()
            .insert(3, FdInfo::new(FdKind::File, "/x", 0));
        let b = ts.copy_of(a);
        ts.get_mut(b).unwrap().remove(3);
        assert!(ts.get(a).unwrap().get(3).is_some(), "a copy is independent");
        assert!(ts.share(a));
        ts.release(a);
        assert!(ts.get(a).is_some(), "still one user");
        ts.release(a);
        assert!(ts.get(a).is_none());
        // Bounded.
        let t = ts.get_mut(b).unwrap();
        for fd in 0..100 {
            t.insert(fd, FdInfo::new(FdKind::File, "", 0));
            assert!(t.len() <= 4);
        }
        assert!(t.get(99).is_some());
        assert!(t.evicted() > 0);
    }
}
