//! One parameter's value, rendered the way sysdig 0.29 prints it.
//!
//! sysdig keeps two strings per parameter: the raw one (`3`, `4097`, `-2`) and a
//! resolved one (`<f>/etc/passwd`, `O_RDONLY|O_CLOEXEC`, `ENOENT`). `evt.info`
//! prints `raw(resolved)` or just `raw`; `evt.arg.X` prints the resolved string
//! when there is one; `evt.rawarg.X` the plain number. [`ParamValue`] keeps the
//! same split so all three come from one rendering.

use super::{Fmt, Param, ParamType as T, RenderCtx, Source, StateValue};
use crate::syscalls::errno_name;

/// The text shown for a value nobody had.
pub const NA: &str = "<NA>";

/// A rendered parameter.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ParamValue {
    /// sysdig's raw string (`3`, `4097`, `/etc/passwd`, `<NA>`).
    pub raw: String,
    /// sysdig's resolved string, empty when none (`<f>/etc/passwd`, `ENOENT`).
    pub resolved: String,
    /// The numeric value, for `evt.rawarg` and comparisons; `None` for buffers and
    /// missing values.
    pub num: Option<i64>,
}

impl ParamValue {
    /// The `evt.info` form: `raw(resolved)` or `raw`.
    pub fn info(&self) -> String {
        if self.resolved.is_empty() {
            self.raw.clone()
        } else {
            format!("{}({})", self.raw, self.resolved)
        }
    }

    /// The `evt.arg.NAME` form: the resolved string if any, else the raw one.
    pub fn arg(&self) -> &str {
        if self.resolved.is_empty() {
            &self.raw
        } else {
            &self.resolved
        }
    }

    /// The `evt.rawarg.NAME` form: the number in decimal, else the raw string.
    pub fn rawarg(&self) -> String {
        self.num.map_or_else(|| self.raw.clone(), |n| n.to_string())
    }
}

enum Val<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    Str(&'a str),
}

fn fetch<'a>(
    p: &Param,
    args: Option<&[u64; 6]>,
    ret: Option<i64>,
    ctx: &'a dyn RenderCtx,
) -> Option<Val<'a>> {
    match p.src {
        Source::Reg(r) => args.map(|a| Val::Int(a[usize::from(r) % 6] as i64)),
        Source::Ret => ret.map(Val::Int),
        Source::Mem(a) => ctx.resolved(usize::from(a)).map(Val::Bytes),
        Source::MemField { arg, offset, size } => {
            let b = ctx.resolved(usize::from(arg))?;
            let b = b.get(usize::from(offset)..usize::from(offset) + usize::from(size))?;
            let mut v = [0u8; 8];
            v[..b.len()].copy_from_slice(b);
            let u = u64::from_le_bytes(v);
            Some(Val::Int(if size == 4 {
                i64::from(u as u32 as i32)
            } else {
                u as i64
            }))
        }
        Source::Data => ctx.data().map(Val::Bytes),
        Source::State => match ctx.state(p.name)? {
            StateValue::Int(i) => Some(Val::Int(i)),
            StateValue::Bytes(b) => Some(Val::Bytes(b)),
            StateValue::Str(s) => Some(Val::Str(s)),
        },
    }
}

/// Renders parameter `i` of `list` (the list is needed for an FSRELPATH's dirfd).
/// `args` are the enter registers, `ret` the exit's return value, either `None`
/// when unknown.
pub fn render_param(
    list: &[Param],
    i: usize,
    args: Option<&[u64; 6]>,
    ret: Option<i64>,
    ctx: &dyn RenderCtx,
) -> ParamValue {
    let mut v = ParamValue::default();
    v.num = render_into(list, i, args, ret, ctx, &mut v.raw, &mut v.resolved);
    v
}

/// [`render_param`] appending the raw string to `raw` and the resolved one to `resolved`
/// (nothing when none); returns the numeric value. The `evt.info` path renders every
/// parameter of every event through this, into buffers it reuses.
pub fn render_into(
    list: &[Param],
    i: usize,
    args: Option<&[u64; 6]>,
    ret: Option<i64>,
    ctx: &dyn RenderCtx,
    raw: &mut String,
    resolved: &mut String,
) -> Option<i64> {
    let p = &list[i];
    let Some(v) = fetch(p, args, ret, ctx) else {
        raw.push_str(NA);
        return None;
    };
    match v {
        Val::Str(s) => {
            raw.push_str(s);
            None
        }
        Val::Int(n) => render_int(p, n, ctx, raw, resolved),
        Val::Bytes(b) => render_bytes(p, b, list, args, ret, ctx, raw, resolved),
    }
}

/// Appends `n` in decimal.
pub fn push_int(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_uint(out, n.unsigned_abs());
}

/// Appends `n` in decimal.
pub fn push_uint(out: &mut String, n: u64) {
    let mut buf = [0; 20];
    let digits = decimal(n, &mut buf);
    // ASCII digits only.
    out.push_str(std::str::from_utf8(digits).unwrap_or("0"));
}

/// `n`'s decimal digits, written at the end of `buf`.
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

fn width(t: T) -> u32 {
    match t {
        T::Int8 | T::Uint8 | T::Flags8 | T::SigType => 8,
        T::Int16 | T::Uint16 | T::Flags16 | T::SyscallId => 16,
        T::Int32 | T::Uint32 | T::Flags32 | T::Mode | T::Uid | T::Gid | T::Fd | T::Pid => 32,
        _ => 64,
    }
}

fn trunc_u(n: i64, bits: u32) -> u64 {
    if bits >= 64 {
        n as u64
    } else {
        (n as u64) & ((1u64 << bits) - 1)
    }
}

fn trunc_i(n: i64, bits: u32) -> i64 {
    if bits >= 64 {
        n
    } else {
        let s = 64 - bits;
        (n << s) >> s
    }
}

fn number(fmt: Fmt, signed: bool, n: i64, bits: u32, out: &mut String) {
    use std::fmt::Write as _;
    let u = trunc_u(n, bits);
    match fmt {
        Fmt::Hex => {
            let _ = write!(out, "{u:X}");
        }
        Fmt::Oct if u == 0 => out.push('0'),
        Fmt::Oct => {
            let _ = write!(out, "0{u:o}");
        }
        _ if signed => push_int(out, trunc_i(n, bits)),
        _ => push_uint(out, u),
    }
}

fn render_int(
    p: &Param,
    n: i64,
    ctx: &dyn RenderCtx,
    raw: &mut String,
    resolved: &mut String,
) -> Option<i64> {
    let bits = width(p.ty);
    match p.ty {
        T::Fd => {
            // Registers hold a C int; a return value or state is already 64-bit.
            let fd = if matches!(p.src, Source::Reg(_) | Source::MemField { .. }) {
                trunc_i(n, 32)
            } else {
                n
            };
            push_int(raw, fd);
            // A negative fd is an error only as a result; as an argument (mmap's -1, a
            // closed fd passed in) it is just the number the caller gave.
            let is_result = matches!(p.src, Source::Ret);
            if fd >= 0 || fd == -100 || is_result {
                fd_resolved(fd, ctx, resolved);
            }
            Some(fd)
        }
        T::Errno => {
            push_int(raw, n);
            if n < 0 {
                resolved.push_str(errno_name(-n).unwrap_or(""));
            }
            Some(n)
        }
        T::Pid => {
            let pid = if matches!(p.src, Source::Reg(_)) {
                trunc_i(n, 32)
            } else {
                n
            };
            push_int(raw, pid);
            resolved.push_str(ctx.comm(pid).unwrap_or(""));
            Some(pid)
        }
        T::Flags8 | T::Flags16 | T::Flags32 | T::Mode => {
            let k = trunc_u(n, bits);
            let ppm = p.flags.and_then(|t| t.ppm_opt(k));
            let shown = match (ctx.sysdig_flag_numbers(), ppm) {
                (true, Some(x)) => u64::from(x),
                _ => k,
            };
            if p.ty == T::Mode {
                number(p.fmt, false, shown as i64, bits, raw);
            } else {
                push_uint(raw, shown);
            }
            if let (Some(t), Some(x)) = (p.flags, ppm) {
                t.names(x, resolved);
            }
            Some(shown as i64)
        }
        T::SigType => {
            let s = trunc_u(n, 8);
            push_uint(raw, s);
            resolved.push_str(super::signal_name(s).unwrap_or(""));
            Some(s as i64)
        }
        // A register (poll's timeout in ms is INT64, not RELTIME): nanoseconds.
        T::RelTime => reltime(n as u64, raw, resolved),
        T::Int8 | T::Int16 | T::Int32 | T::Int64 => {
            number(p.fmt, true, n, bits, raw);
            Some(trunc_i(n, bits))
        }
        _ => {
            // Unsigned kinds, UID/GID, SYSCALLID, ABSTIME ...
            number(p.fmt, false, n, bits, raw);
            Some(trunc_u(n, bits) as i64)
        }
    }
}

fn fd_resolved(fd: i64, ctx: &dyn RenderCtx, out: &mut String) {
    if fd >= 0 {
        if let Some(f) = ctx.fd(fd) {
            out.push('<');
            out.push(f.type_char);
            if let Some(c) = f.l4 {
                out.push(c);
            }
            out.push('>');
            out.push_str(f.name);
        }
    } else if fd == -100 {
        out.push_str("AT_FDCWD");
    } else {
        out.push_str(errno_name(-fd).unwrap_or(""));
    }
}

fn reltime(ns: u64, raw: &mut String, resolved: &mut String) -> Option<i64> {
    if ns == u64::MAX {
        raw.push_str("none");
        return None;
    }
    push_uint(raw, ns);
    resolved.push_str(&fmt_g(ns as f64 / 1e9));
    resolved.push('s');
    Some(ns as i64)
}

/// C's `%lg` (six significant digits, no trailing zeros).
fn fmt_g(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let exp = x.abs().log10().floor() as i32;
    if !(-5..6).contains(&exp) {
        let s = format!("{:.5e}", x);
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (5 - exp).max(0) as usize;
    let s = format!("{:.*}", decimals, x);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn cstr(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

#[allow(clippy::too_many_arguments)]
fn render_bytes(
    p: &Param,
    b: &[u8],
    list: &[Param],
    args: Option<&[u64; 6]>,
    ret: Option<i64>,
    ctx: &dyn RenderCtx,
    raw: &mut String,
    resolved: &mut String,
) -> Option<i64> {
    match p.ty {
        T::FsPath | T::FsRelPath => {
            let path = String::from_utf8_lossy(cstr(b));
            if !path.is_empty() && !path.starts_with('/') && path != NA {
                let base = if p.ty == T::FsRelPath {
                    p.dirfd
                        .and_then(|d| dirfd_base(list, usize::from(d), args, ret, ctx))
                } else {
                    ctx.cwd().map(str::to_string)
                };
                if let Some(base) = base {
                    resolved.push_str(&concat_path(&base, &path));
                }
            }
            raw.push_str(&path);
        }
        T::CharBuf => raw.push_str(&String::from_utf8_lossy(cstr(b))),
        T::ByteBuf => {
            let b = &b[..b.len().min(ctx.snaplen())];
            super::bytebuf::write_buffer(b, ctx.buffer_format(), ctx.max_output_len(), raw);
        }
        T::SockAddr => raw.push_str(sockaddr(b).as_deref().unwrap_or(NA)),
        T::RelTime => match (b.get(..8), b.get(8..16)) {
            (Some(s), Some(ns)) => {
                let s = i64::from_le_bytes(s.try_into().unwrap_or_default());
                let ns = i64::from_le_bytes(ns.try_into().unwrap_or_default());
                return reltime(
                    (s.saturating_mul(1_000_000_000).saturating_add(ns)) as u64,
                    raw,
                    resolved,
                );
            }
            _ => raw.push_str(NA),
        },
        T::FdList => {
            use std::fmt::Write as _;
            // struct pollfd { int fd; short events; short revents; }
            let exit = list.first().is_some_and(|q| q.src == Source::Ret);
            for (k, c) in b.chunks_exact(8).enumerate() {
                let fd = i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                let ev = if exit { [c[6], c[7]] } else { [c[4], c[5]] };
                let ev = u16::from_le_bytes(ev);
                let ev = if ctx.sysdig_flag_numbers() {
                    super::poll_ppm(ev)
                } else {
                    ev
                };
                let tc = ctx.fd(fd).map_or('?', |f| f.type_char);
                if k > 0 {
                    raw.push(' ');
                }
                let _ = write!(raw, "{fd}:{tc}{ev:x}");
            }
        }
        _ => {
            // A scalar given as bytes (state): little-endian.
            let mut a = [0u8; 8];
            let n = b.len().min(8);
            a[..n].copy_from_slice(&b[..n]);
            return render_int(p, i64::from_le_bytes(a), ctx, raw, resolved);
        }
    }
    None
}

fn dirfd_base(
    list: &[Param],
    d: usize,
    args: Option<&[u64; 6]>,
    ret: Option<i64>,
    ctx: &dyn RenderCtx,
) -> Option<String> {
    let q = list.get(d)?;
    let Val::Int(n) = fetch(q, args, ret, ctx)? else {
        return None;
    };
    let fd = trunc_i(n, 32);
    if fd == -100 {
        ctx.cwd().map(str::to_string)
    } else {
        ctx.fd(fd).map(|f| f.name.to_string())
    }
}

/// `base` + `rel`, with `.` and `..` resolved lexically (as sysdig does).
pub fn concat_path(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in base.split('/').chain(rel.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A `struct sockaddr` as sysdig shows it: `1.2.3.4:80`, `[::1]:80` style without
/// brackets (`::1:80`), a unix path, or `None` for other families.
pub fn sockaddr(b: &[u8]) -> Option<String> {
    let fam = u16::from_le_bytes([*b.first()?, *b.get(1)?]);
    match fam {
        2 => {
            let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
            let a = b.get(4..8)?;
            Some(format!("{}.{}.{}.{}:{port}", a[0], a[1], a[2], a[3]))
        }
        10 => {
            let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let ip = std::net::Ipv6Addr::from(a);
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => format!("{v4}:{port}"),
                None => format!("{ip}:{port}"),
            })
        }
        1 => {
            let p = b.get(2..).unwrap_or(&[]);
            if p.first() == Some(&0) && p.len() > 1 {
                // abstract socket: sysdig shows the name after the NUL with '@'
                Some(format!("@{}", String::from_utf8_lossy(cstr(&p[1..]))))
            } else {
                Some(String::from_utf8_lossy(cstr(p)).into_owned())
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_format() {
        assert_eq!(fmt_g(1.5), "1.5");
        assert_eq!(fmt_g(0.001), "0.001");
        assert_eq!(fmt_g(2.0), "2");
        assert_eq!(fmt_g(0.000001), "1e-06");
        assert_eq!(fmt_g(1.0 / 3.0), "0.333333");
    }

    #[test]
    fn paths() {
        assert_eq!(concat_path("/home/u", "x/../y"), "/home/u/y");
        assert_eq!(concat_path("/", "./a"), "/a");
        assert_eq!(concat_path("/a/b", "../../.."), "/");
    }

    #[test]
    fn sockaddrs() {
        let mut v4 = vec![2u8, 0, 0, 80, 127, 0, 0, 1];
        v4.extend([0; 8]);
        assert_eq!(sockaddr(&v4).as_deref(), Some("127.0.0.1:80"));
        let mut un = vec![1u8, 0];
        un.extend(b"/run/x.sock\0junk");
        assert_eq!(sockaddr(&un).as_deref(), Some("/run/x.sock"));
        assert_eq!(sockaddr(&[2, 0, 0]), None);
        assert_eq!(sockaddr(&[]), None);
    }

    #[test]
    fn numbers() {
        let n = |fmt, signed, v, bits| {
            let mut s = String::new();
            number(fmt, signed, v, bits, &mut s);
            s
        };
        assert_eq!(n(Fmt::Hex, false, 0x7fad48782000, 64), "7FAD48782000");
        assert_eq!(n(Fmt::Oct, false, 0o644, 32), "0644");
        assert_eq!(n(Fmt::Oct, false, 0, 32), "0");
        assert_eq!(n(Fmt::Dec, true, 0xffff_ffff, 32), "-1");
        assert_eq!(n(Fmt::Na, false, -1, 32), "4294967295");
        let mut s = String::new();
        push_int(&mut s, i64::MIN);
        push_uint(&mut s, u64::MAX);
        push_int(&mut s, 0);
        assert_eq!(s, "-9223372036854775808184467440737095516150");
    }
}
