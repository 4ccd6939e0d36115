//! sysdig's event parameters: which exist, where each value comes from on
//! `raw_syscalls`, and how sysdig renders it.
//!
//! sysdig's kernel module fills each event's parameters itself; tpdig sees only
//! six registers at `sys_enter`, the return value at `sys_exit`, the user memory
//! probes copied, and its own state tables. So every parameter of the generated
//! table ([`EventParams`], from `ci/gen-params.py`) carries a [`Source`] saying
//! which of those holds it, and rendering asks a [`RenderCtx`] for anything that
//! is not a register. Whatever the context cannot give prints as `<NA>`, never a
//! guess.
//!
//! Tables are keyed by the kernel syscall name (`pread64`, `dup3`, `accept4`), the
//! name `syscalls::name` gives, because the registers differ between syscalls that
//! sysdig folds into one event (`dup2` and `dup3` are both sysdig's `dup`);
//! [`EventParams::event`] is the name to print.
//!
//! Documented differences from sysdig 0.29:
//! * flag numbers are the kernel's value (see `flags.rs`), unless
//!   [`RenderCtx::sysdig_flag_numbers`] asks for sysdig's encoding;
//! * an FD argument is the register's 32-bit `int`, so `mmap(..., fd=-1)` prints
//!   `fd=-1` where old sysdig captures show `4294967295`;
//! * poll's FDLIST flags are the kernel's `events`/`revents` bits in hex.

pub mod bytebuf;
mod flags;
#[rustfmt::skip]
mod gen_events;
#[rustfmt::skip]
pub mod gen_flags;
mod render;

pub use bytebuf::{BufferFormat, DataRendering};
pub use flags::{FlagEntry, FlagKind, FlagTable, poll_ppm, signal_name};
pub use render::{ParamValue, decimal, push_int, push_uint, render_into, render_param};

/// sysdig's parameter types (`PT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamType {
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Fd,
    Pid,
    Errno,
    Flags8,
    Flags16,
    Flags32,
    Mode,
    Uid,
    Gid,
    CharBuf,
    ByteBuf,
    FsPath,
    FsRelPath,
    SockAddr,
    SockTuple,
    FdList,
    RelTime,
    AbsTime,
    SigType,
    SigSet,
    SyscallId,
    Dyn,
    CharBufArray,
    CharBufPairArray,
}

/// sysdig's print format of a numeric parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fmt {
    Dec,
    /// Upper-case hex without prefix (`7FAD48782000`).
    Hex,
    /// C `%#o`: `0644`, `0`.
    Oct,
    /// No format given: decimal for numbers.
    Na,
}

/// Where a parameter's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Argument register `n` of `sys_enter` (x86_64 syscall argument index).
    Reg(u8),
    /// The return value at `sys_exit`.
    Ret,
    /// The user memory argument `n` points to, as a probe copied it
    /// ([`RenderCtx::resolved`]): a path, a sockaddr, a timespec, pollfds.
    Mem(u8),
    /// A little-endian integer of `size` bytes at `offset` in the memory argument
    /// `arg` points to (pipe's `int[2]`, `struct rlimit`, `*offset`).
    MemField { arg: u8, offset: u8, size: u8 },
    /// The I/O buffer of the call ([`RenderCtx::data`]).
    Data,
    /// tpdig's own state, asked by parameter name ([`RenderCtx::state`]): `dev`,
    /// `ino`, `tuple`, `exe`, `vm_size` ...
    State,
}

/// One parameter of an event, in sysdig's order.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub ty: ParamType,
    pub fmt: Fmt,
    /// The flag table a FLAGS or MODE parameter names its bits with.
    pub flags: Option<&'static FlagTable>,
    pub src: Source,
    /// For an FSRELPATH: the index (in the same list) of the dirfd it is relative to.
    pub dirfd: Option<u8>,
}

/// The enter and exit parameters sysdig 0.29 shows for one syscall.
#[derive(Debug)]
pub struct EventParams {
    /// Kernel syscall name (x86_64 table spelling).
    pub syscall: &'static str,
    /// sysdig's event name (what the line shows as `evt.type`).
    pub event: &'static str,
    pub enter: &'static [Param],
    pub exit: &'static [Param],
}

/// Enter (`>`) or exit (`<`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    Enter,
    Exit,
}

/// What the renderer knows about an fd: sysdig's type letter (`f`, `4`, `6`, `u`,
/// `p`, `e`, `s`, `d` ...), the layer-4 letter of an inet socket (`t`, `u`, `i`,
/// `r`) if any, and the name (`/etc/passwd`, `127.0.0.1:40000->127.0.0.1:80`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdView<'a> {
    pub type_char: char,
    pub l4: Option<char>,
    pub name: &'a str,
}

/// A value from tpdig's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateValue<'a> {
    Int(i64),
    /// Raw bytes, rendered by the parameter's type (a CHARBUF, a BYTEBUF of
    /// NUL-separated args).
    Bytes(&'a [u8]),
    /// Already rendered (a socket tuple): shown verbatim.
    Str(&'a str),
}

/// Everything rendering needs beyond the registers. Every method has a default
/// that knows nothing, so a caller implements only what it has.
pub trait RenderCtx {
    /// The calling thread's fd `fd`, if the fd table knows it.
    fn fd(&self, _fd: i64) -> Option<FdView<'_>> {
        None
    }
    /// The exact user-memory bytes for argument `arg` that probes copied for this
    /// call (a path without its NUL, a sockaddr, a timespec ...).
    fn resolved(&self, _arg: usize) -> Option<&[u8]> {
        None
    }
    /// The calling thread's working directory.
    fn cwd(&self) -> Option<&str> {
        None
    }
    /// The call's I/O buffer, if a synchronous source captured it.
    fn data(&self) -> Option<&[u8]> {
        None
    }
    /// Bytes of an I/O buffer kept (sysdig `-s`, default 80).
    fn snaplen(&self) -> usize {
        bytebuf::DEFAULT_SNAPLEN
    }
    /// How I/O data is written (`-A`, `-x`, `-X`, `-b`).
    fn buffer_format(&self) -> BufferFormat {
        BufferFormat::Normal
    }
    /// Longest BYTEBUF rendering before it is cut with `...` (sysdig's text
    /// output: 80; 0 = no limit).
    fn max_output_len(&self) -> usize {
        bytebuf::DEFAULT_MAX_LEN
    }
    /// The command name of process/thread `pid`, for PID parameters.
    fn comm(&self, _pid: i64) -> Option<&str> {
        None
    }
    /// A parameter whose [`Source`] is `State`, by name.
    fn state(&self, _param: &str) -> Option<StateValue<'_>> {
        None
    }
    /// Print sysdig's own (PPM) flag numbers instead of the kernel's.
    fn sysdig_flag_numbers(&self) -> bool {
        false
    }
}

/// A context that knows nothing (registers only).
pub struct NoCtx;
impl RenderCtx for NoCtx {}

/// Every syscall sysdig 0.29 has an event for, sorted by syscall name.
pub fn all() -> &'static [EventParams] {
    &gen_events::EVENTS
}

/// The parameters of kernel syscall `syscall`, if sysdig has an event for it.
///
/// Called several times per event with names from the static syscall table, so those are
/// found by their address first (a multiply-shift hash of a pointer) before falling back
/// to the binary search over names.
pub fn lookup(syscall: &str) -> Option<&'static EventParams> {
    use std::collections::HashMap;
    use std::hash::{BuildHasherDefault, Hasher};
    use std::sync::OnceLock;

    #[derive(Default)]
    struct PtrHasher(u64);
    impl Hasher for PtrHasher {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
        }
        fn write_usize(&mut self, n: usize) {
            self.0 = (self.0 ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    type ByAddr =
        HashMap<(usize, usize), Option<&'static EventParams>, BuildHasherDefault<PtrHasher>>;
    static BY_ADDR: OnceLock<ByAddr> = OnceLock::new();

    fn search(syscall: &str) -> Option<&'static EventParams> {
        let t = all();
        t.binary_search_by(|e| e.syscall.cmp(syscall))
            .ok()
            .map(|i| &t[i])
    }
    let table = BY_ADDR.get_or_init(|| {
        crate::syscalls::all(crate::syscalls::Arch::native())
            .map(|(_, n)| ((n.as_ptr() as usize, n.len()), search(n)))
            .collect()
    });
    match table.get(&(syscall.as_ptr() as usize, syscall.len())) {
        Some(found) => *found,
        None => search(syscall),
    }
}

/// sysdig's event name for kernel syscall `syscall` (`pread64` → `pread`); the
/// syscall name itself when sysdig has no event for it.
pub fn event_name(syscall: &str) -> &str {
    lookup(syscall).map_or(syscall, |e| e.event)
}

/// The parameter list of one direction.
pub fn params(syscall: &str, dir: Dir) -> &'static [Param] {
    match (lookup(syscall), dir) {
        (Some(e), Dir::Enter) => e.enter,
        (Some(e), Dir::Exit) => e.exit,
        (None, _) => &[],
    }
}

/// Appends the enter line's `name=value ` pairs of `syscall` (one trailing space
/// each, as sysdig). Returns false, appending nothing, when sysdig has no event
/// for the syscall (the caller may then show the raw kernel arguments).
pub fn render_enter(syscall: &str, args: &[u64; 6], ctx: &dyn RenderCtx, out: &mut String) -> bool {
    let Some(e) = lookup(syscall) else {
        return false;
    };
    render_list(e.enter, Some(args), None, ctx, out);
    true
}

/// Appends the exit line's `name=value ` pairs. `args` are the matching enter's
/// registers when the enter was seen (else register-sourced values are `<NA>`).
pub fn render_exit(
    syscall: &str,
    args: Option<&[u64; 6]>,
    ret: i64,
    ctx: &dyn RenderCtx,
    out: &mut String,
) -> bool {
    let Some(e) = lookup(syscall) else {
        return false;
    };
    render_list(e.exit, args, Some(ret), ctx, out);
    true
}

fn render_list(
    list: &[Param],
    args: Option<&[u64; 6]>,
    ret: Option<i64>,
    ctx: &dyn RenderCtx,
    out: &mut String,
) {
    thread_local! {
        /// The resolved string of the parameter being rendered, reused across events.
        static RESOLVED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    RESOLVED.with_borrow_mut(|resolved| {
        for (i, p) in list.iter().enumerate() {
            out.push_str(p.name);
            out.push('=');
            resolved.clear();
            render::render_into(list, i, args, ret, ctx, out, resolved);
            if !resolved.is_empty() {
                out.push('(');
                out.push_str(resolved);
                out.push(')');
            }
            out.push(' ');
        }
    });
}

/// One parameter by name, for `evt.arg.NAME` ([`ParamValue::arg`]), `evt.rawarg.NAME`
/// ([`ParamValue::rawarg`]) and the info form ([`ParamValue::info`]). `None` when
/// the event has no such parameter.
pub fn param_value(
    syscall: &str,
    dir: Dir,
    name: &str,
    args: Option<&[u64; 6]>,
    ret: Option<i64>,
    ctx: &dyn RenderCtx,
) -> Option<ParamValue> {
    let list = params(syscall, dir);
    let i = list.iter().position(|p| p.name == name)?;
    Some(render_param(list, i, args, ret, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shape() {
        assert!(all().len() > 100);
        assert!(all().windows(2).all(|w| w[0].syscall < w[1].syscall));
        assert_eq!(event_name("pread64"), "pread");
        assert_eq!(event_name("dup3"), "dup");
        assert_eq!(event_name("accept4"), "accept");
        assert_eq!(event_name("madvise"), "madvise");
        let o = lookup("openat").unwrap();
        let names: Vec<_> = o.exit.iter().map(|p| p.name).collect();
        assert_eq!(names, ["fd", "dirfd", "name", "flags", "mode", "dev"]);
        assert_eq!(o.exit[0].src, Source::Ret);
        assert_eq!(o.exit[2].src, Source::Mem(1));
        assert_eq!(o.exit[2].dirfd, Some(1));
        assert_eq!(o.enter[2].src, Source::Reg(2));
        assert_eq!(o.exit[5].src, Source::State);
        let r = lookup("pread64").unwrap();
        assert_eq!(r.enter[2].name, "pos");
        assert_eq!(r.enter[2].src, Source::Reg(3));
        assert_eq!(lookup("read").unwrap().exit[1].src, Source::Data);
        assert_eq!(
            lookup("pipe2").unwrap().exit[2].src,
            Source::MemField {
                arg: 0,
                offset: 4,
                size: 4
            }
        );
        assert_eq!(lookup("mmap").unwrap().exit[0].fmt, Fmt::Hex);
        assert_eq!(lookup("connect").unwrap().enter[1].src, Source::Mem(1));
        assert!(lookup("madvise").is_none());
    }

    #[test]
    fn every_flag_param_has_a_table_or_none_in_sysdig() {
        for e in all() {
            for p in e.enter.iter().chain(e.exit) {
                if let Source::Reg(r) | Source::Mem(r) = p.src {
                    assert!(r < 6, "{} {}", e.syscall, p.name);
                }
                if let Some(d) = p.dirfd {
                    let list = if e.enter.iter().any(|q| std::ptr::eq(q, p)) {
                        e.enter
                    } else {
                        e.exit
                    };
                    assert_eq!(list[usize::from(d)].ty, ParamType::Fd, "{}", e.syscall);
                }
            }
        }
    }
}
