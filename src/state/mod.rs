//! What tpdig knows about the system beyond a single record: threads, processes, their fd
//! tables, users and groups.
//!
//! The state starts from a /proc snapshot taken before the rings are enabled (exact for that
//! moment) and is kept current only by synchronous sources: kernel records (comm, fork, exec,
//! exit) and the effects of syscalls at their exit (`effects`), using user-memory values
//! that probes copied during the call. Nothing here reads user memory or /proc after
//! start-up; a name we were not told stays missing instead of being guessed.
//!
//! Layout: threads (per-thread facts: comm, credentials) point at a process by pid;
//! processes (shared facts: exe, args, cwd, cgroups) point at an fd table by key; fd
//! tables are reference-counted because `CLONE_FILES` shares one between processes. Every
//! table is bounded.

pub mod apply;
pub mod container;
pub mod effects;
pub mod fds;
pub mod netsock;
pub mod paths;
pub mod proc_files;
pub mod proc_scan;
pub mod process;
pub mod snapshot;
pub mod tcp;
pub mod threads;
pub mod users;

pub use fds::{FdInfo, FdKind, FdTable, FdTables, L4Proto, SockTuple};
pub use process::{Process, ProcessTable};
pub use threads::{Comm, Thread, ThreadTable};
pub use users::{Group, Groups, User, Users};

use std::collections::{HashMap, VecDeque};

/// `clone` flags the state cares about.
pub const CLONE_FILES: u64 = 0x0000_0400;
pub const CLONE_PARENT: u64 = 0x0000_8000;
pub const CLONE_THREAD: u64 = 0x0001_0000;

/// How many recent clone children are remembered (for idempotent child set-up from the
/// several records that announce one child).
const RECENT_CHILDREN: usize = 4096;

/// Counts of effects that could not be applied exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EffectStats {
    /// Calls whose effect needed a user-memory value we did not have (pipe fds, paths...).
    pub unresolved: u64,
    /// Fd operations on processes or fds we did not know.
    pub unknown_fd: u64,
}

/// Threads, processes, fd tables, users and groups.
#[derive(Debug, Default)]
pub struct State {
    pub threads: ThreadTable,
    pub procs: ProcessTable,
    pub fds: FdTables,
    pub users: Users,
    pub groups: Groups,
    pub stats: EffectStats,
    /// Exact TCP endpoints from the kernel's socket-state records.
    pub tcp: tcp::TcpTracker,
    /// Children announced without clone flags: child tid → (parent tid, parent pid).
    pending_children: HashMap<u32, (u32, u32)>,
    /// Children already set up (oldest first), and whether their clone flags were known.
    recent_children: VecDeque<(u32, bool)>,
}

/// A thread together with its process: the view fields read.
#[derive(Clone, Copy, Debug)]
pub struct Task<'a> {
    pub thread: &'a Thread,
    pub process: Option<&'a Process>,
}

impl State {
    /// A state with explicit bounds (tests, small machines).
    pub fn with_limits(threads: usize, procs: usize, fds_per_table: usize) -> State {
        State {
            threads: ThreadTable::with_limit(threads),
            procs: ProcessTable::with_limit(procs),
            fds: FdTables::with_limit(fds_per_table),
            ..State::default()
        }
    }

    /// A TCP socket changed state (`sock:inet_sock_set_state`), reported on thread `tid`
    /// of `pid`, which is inside system call `call` (name and arguments) if any.
    pub fn on_tcp_change(&mut self, pid: u32, c: &tcp::TcpChange, call: Option<(&str, &[u64; 6])>) {
        use tcp::*;
        let tuple = |sip, sport, dip, dport| SockTuple {
            proto: Some(L4Proto::Tcp),
            sip,
            sport,
            dip,
            dport,
            partial: false,
        };
        match (c.oldstate, c.newstate) {
            (_, TCP_LISTEN) => {
                if let Some(("listen", args)) = call {
                    let t = SockTuple::server(Some(L4Proto::Tcp), c.saddr, c.sport);
                    self.set_socket(pid, args[0] as i32, t);
                }
            }
            (_, TCP_SYN_SENT) => {
                if let Some(("connect", args)) = call {
                    self.tcp.connecting(c.skaddr, pid, args[0] as i32);
                }
            }
            (TCP_SYN_SENT, TCP_ESTABLISHED) => {
                if let Some((p, fd)) = self.tcp.established(c.skaddr) {
                    self.set_socket(p, fd, tuple(c.saddr, c.sport, c.daddr, c.dport));
                }
            }
            (TCP_SYN_RECV, TCP_ESTABLISHED) => {
                self.tcp.queue((c.saddr, c.sport), (c.daddr, c.dport))
            }
            (_, TCP_CLOSE) => self.tcp.closed(c.skaddr),
            _ => {}
        }
    }

    /// Gives `pid`'s fd `fd` an exact inet tuple.
    fn set_socket(&mut self, pid: u32, fd: i32, t: SockTuple) {
        if let Some(f) = self.fd_table_mut(pid).and_then(|tb| tb.get_mut(fd)) {
            f.kind = if t.sip.is_ipv4() {
                FdKind::Ipv4
            } else {
                FdKind::Ipv6
            };
            f.l4 = t.proto;
            f.set_tuple(t);
        }
    }

    // ---- lookups -------------------------------------------------------------------

    pub fn thread(&self, tid: u32) -> Option<&Thread> {
        self.threads.get(tid)
    }

    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.procs.get(pid)
    }

    /// The thread and its process.
    pub fn task(&self, tid: u32) -> Option<Task<'_>> {
        let thread = self.threads.get(tid)?;
        Some(Task {
            thread,
            process: self.procs.get(thread.pid),
        })
    }

    /// The fd table process `pid` uses.
    pub fn fd_table(&self, pid: u32) -> Option<&FdTable> {
        self.fds.get(self.procs.get(pid)?.fdt)
    }

    pub fn fd_table_mut(&mut self, pid: u32) -> Option<&mut FdTable> {
        let key = self.procs.get(pid)?.fdt;
        self.fds.get_mut(key)
    }

    pub fn fd_info(&self, pid: u32, fd: i32) -> Option<&FdInfo> {
        self.fd_table(pid)?.get(fd)
    }

    /// Number of known open fds of `pid` (0 when the process is unknown).
    pub fn fd_table_len(&self, pid: u32) -> usize {
        self.fd_table(pid).map_or(0, |t| t.len())
    }

    pub fn user(&self, uid: u32) -> Option<&User> {
        self.users.get(uid)
    }

    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.users.get(uid).map(|u| u.name.as_str())
    }

    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.groups.get(gid).map(|g| g.name.as_str())
    }

    // ---- records ---------------------------------------------------------------------

    /// Every event: makes sure its thread and process are known. A new process whose
    /// parent was announced (fork record without flags) inherits from that parent.
    pub fn touch(&mut self, tid: u32, pid: u32) {
        self.threads.touch(tid, pid);
        if pid == 0 || self.procs.get(pid).is_some() {
            return;
        }
        if let Some((ptid, ppid)) = self.pending_children.remove(&tid) {
            self.on_new_task(ptid, ppid, tid, None, Some(pid));
            if self.procs.get(pid).is_some() {
                return;
            }
        }
        self.procs.ensure(pid, &mut self.fds);
    }

    /// A new task `child_tid` created by `parent_tid` (of process `parent_pid`): from
    /// task_newtask (flags known), sched_process_fork (flags unknown) or the parent's clone
    /// exit (flags from the arguments, or from resolved `clone_args` for clone3).
    /// `child_pid` is the child's tgid when a record of the child told it. Idempotent.
    pub fn on_new_task(
        &mut self,
        parent_tid: u32,
        parent_pid: u32,
        child_tid: u32,
        flags: Option<u64>,
        child_pid: Option<u32>,
    ) {
        if child_tid == 0 {
            return;
        }
        if let Some(i) = self.recent_children.iter().position(|c| c.0 == child_tid) {
            // Set up already; flags arriving late can only add CLONE_FILES sharing.
            if let Some(f) = flags.filter(|_| !self.recent_children[i].1) {
                self.recent_children[i].1 = true;
                if f & (CLONE_FILES | CLONE_THREAD) == CLONE_FILES {
                    self.share_files(parent_pid, child_tid);
                }
            }
            return;
        }
        let is_thread = match (flags, child_pid) {
            (Some(f), _) => Some(f & CLONE_THREAD != 0),
            (None, Some(p)) => Some(p != child_tid),
            (None, None) => None,
        };
        // The child starts with the creating thread's credentials and comm.
        let mut t = match self.threads.get(parent_tid) {
            Some(p) => p.clone(),
            None => Thread::new(child_tid, 0),
        };
        t.tid = child_tid;
        t.vtid = None;
        if let Some(existing) = self.threads.get(child_tid)
            && !existing.comm.is_empty()
        {
            t.comm = existing.comm;
        }
        let Some(is_thread) = is_thread else {
            t.pid = 0;
            self.threads.put(t);
            if self.pending_children.len() >= RECENT_CHILDREN {
                self.pending_children.clear();
            }
            self.pending_children
                .insert(child_tid, (parent_tid, parent_pid));
            return;
        };
        self.pending_children.remove(&child_tid);
        let pid = if is_thread { parent_pid } else { child_tid };
        t.pid = pid;
        self.threads.put(t);
        if !is_thread {
            let files = flags.is_some_and(|f| f & CLONE_FILES != 0);
            let parent = self.procs.ensure(parent_pid, &mut self.fds).clone();
            let key = if files && self.fds.share(parent.fdt) {
                parent.fdt
            } else {
                self.fds.copy_of(parent.fdt)
            };
            let mut child = Process::child_of(&parent, pid, key);
            if flags.is_some_and(|f| f & CLONE_PARENT != 0) {
                child.ppid = parent.ppid;
            }
            self.procs.insert(child, &mut self.fds);
        } else {
            self.procs.ensure(pid, &mut self.fds);
        }
        if self.recent_children.len() >= RECENT_CHILDREN {
            self.recent_children.pop_front();
        }
        self.recent_children.push_back((child_tid, flags.is_some()));
    }

    /// Makes process `child` use `parent`'s fd table (learned late that it was cloned with
    /// CLONE_FILES); fds the child opened meanwhile move into the shared table.
    fn share_files(&mut self, parent: u32, child: u32) {
        let (Some(pk), Some(ck)) = (
            self.procs.get(parent).map(|p| p.fdt),
            self.procs.get(child).map(|p| p.fdt),
        ) else {
            return;
        };
        if pk == ck || !self.fds.share(pk) {
            return;
        }
        let moved: Vec<(i32, FdInfo)> = self
            .fds
            .get(ck)
            .map(|t| {
                t.fds()
                    .into_iter()
                    .filter_map(|fd| t.get(fd).map(|f| (fd, f.clone())))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(t) = self.fds.get_mut(pk) {
            for (fd, f) in moved {
                if t.get(fd).is_none() {
                    t.insert(fd, f);
                }
            }
        }
        self.fds.release(ck);
        if let Some(p) = self.procs.get_mut(child) {
            p.fdt = pk;
        }
    }

    /// sched_process_exec: process `pid` now runs `filename` (made absolute against the
    /// cwd). The fd table becomes private and close-on-exec fds are closed; argv[0] and
    /// the arguments are unknown until the execve exit brings resolved ones.
    pub fn on_exec(&mut self, tid: u32, pid: u32, filename: &str) {
        self.touch(tid, pid);
        let Some(p) = self.procs.get_mut(pid) else {
            return;
        };
        let cwd = p.cwd.clone();
        p.exepath = paths::absolute(filename, cwd.as_deref());
        p.exe = None;
        p.args = None;
        let key = p.fdt;
        if self.fds.refs(key) > 1 {
            let private = self.fds.copy_of(key);
            self.fds.release(key);
            if let Some(p) = self.procs.get_mut(pid) {
                p.fdt = private;
            }
        }
        if let Some(t) = self.fd_table_mut(pid) {
            t.close_cloexec();
        }
    }

    /// sched_process_exit: thread `tid` is gone; the process (and its fd table reference)
    /// goes with its last known thread.
    pub fn on_thread_exit(&mut self, tid: u32) {
        self.pending_children.remove(&tid);
        let Some(t) = self.threads.remove(tid) else {
            return;
        };
        if t.pid != 0 && self.threads.count_in(t.pid) == 0 {
            self.procs.remove(t.pid, &mut self.fds);
        }
    }
}

#[cfg(test)]
mod tests;
