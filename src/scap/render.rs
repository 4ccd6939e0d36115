//! sysdig's `evt.info` for an event read from a .scap file, from the parameters sysdig
//! stored (see [`super::stored`]), as sysdig 0.29 prints them.
//!
//! Values are rendered by the shared parameter renderer (fd names, errno names, buffers,
//! paths) through a context that hands it the stored bytes; what differs from tpdig's own
//! events is done here: flag values are sysdig's own (PPM) numbers, socket addresses and
//! tuples are in sysdig's binary layout, and generic events show no parameters.

use super::stored::{Stored, le_int};
use super::table::{self, P};
use crate::params::{
    BufferFormat, FdView, Param, ParamType as T, RenderCtx, Source, StateValue, render_into,
};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A context that answers `resolved(i)` with stored parameter `i` and everything else from
/// the event's own context.
struct Stash<'a> {
    inner: &'a dyn RenderCtx,
    params: Stored<'a>,
}

impl RenderCtx for Stash<'_> {
    fn fd(&self, fd: i64) -> Option<FdView<'_>> {
        self.inner.fd(fd)
    }
    fn resolved(&self, arg: usize) -> Option<&[u8]> {
        self.params.get(arg)
    }
    fn cwd(&self) -> Option<&str> {
        self.inner.cwd()
    }
    fn data(&self) -> Option<&[u8]> {
        None
    }
    fn snaplen(&self) -> usize {
        self.inner.snaplen()
    }
    fn buffer_format(&self) -> BufferFormat {
        self.inner.buffer_format()
    }
    fn max_output_len(&self) -> usize {
        self.inner.max_output_len()
    }
    fn comm(&self, pid: i64) -> Option<&str> {
        self.inner.comm(pid)
    }
    fn state(&self, _param: &str) -> Option<StateValue<'_>> {
        None
    }
}

fn as_param(p: &P, i: usize) -> Param {
    Param {
        name: p.name,
        ty: p.ty,
        fmt: p.fmt,
        flags: p.flags,
        src: Source::Mem(i as u8),
        dirfd: p.dirfd,
    }
}

/// The event type sysdig shows: a generic event's syscall name, else the event's name.
pub fn type_name(s: &Stored<'_>) -> &'static str {
    let Some(info) = s.info() else {
        return "<unknown>";
    };
    if matches!(s.etype, table::GENERIC_E | table::GENERIC_X) {
        return table::sc_name(s.get(0).and_then(le_int).unwrap_or(0) as u64);
    }
    info.name
}

/// Appends `name=value ` for every stored parameter.
pub fn write_info(s: &Stored<'_>, ctx: &dyn RenderCtx, out: &mut String) {
    let Some(info) = s.info() else { return };
    if matches!(s.etype, table::GENERIC_E | table::GENERIC_X) {
        return;
    }
    let n = s.len().min(info.params.len()).min(u8::MAX as usize);
    let list: Vec<Param> = info.params[..n]
        .iter()
        .enumerate()
        .map(|(i, p)| as_param(p, i))
        .collect();
    let stash = Stash {
        inner: ctx,
        params: *s,
    };
    let (mut raw, mut resolved) = (String::new(), String::new());
    for (i, p) in list.iter().enumerate() {
        raw.clear();
        resolved.clear();
        let b = s.get(i).unwrap_or(&[]);
        if !own_rendering(p, b, &mut raw, &mut resolved) {
            render_into(&list, i, None, None, &stash, &mut raw, &mut resolved);
        }
        out.push_str(p.name);
        out.push('=');
        out.push_str(&raw);
        if !resolved.is_empty() {
            out.push('(');
            out.push_str(&resolved);
            out.push(')');
        }
        out.push(' ');
    }
}

/// The types whose stored form differs from tpdig's own: true when rendered here.
fn own_rendering(p: &Param, b: &[u8], raw: &mut String, resolved: &mut String) -> bool {
    match p.ty {
        T::Flags8 | T::Flags16 | T::Flags32 | T::Mode => {
            let v = le_int(b).unwrap_or(0) as u64;
            if p.ty == T::Mode && p.fmt == crate::params::Fmt::Oct && v != 0 {
                let _ = write!(raw, "0{v:o}");
            } else {
                let _ = write!(raw, "{v}");
            }
            if let Some(t) = p.flags {
                t.names(v as u32, resolved);
            }
        }
        T::SockAddr => raw.push_str(&sockaddr(b).unwrap_or_else(|| "NULL".into())),
        T::SockTuple => raw.push_str(&socktuple(b).unwrap_or_else(|| "NULL".into())),
        T::RelTime | T::AbsTime | T::SigSet | T::Dyn => {
            let _ = write!(raw, "{}", le_int(b).unwrap_or(0) as u64);
        }
        T::FdList => fdlist(b, raw),
        T::CharBufArray | T::CharBufPairArray => {
            let parts: Vec<String> = b
                .split(|&c| c == 0)
                .filter(|x| !x.is_empty())
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect();
            raw.push_str(&parts.join(","));
        }
        _ => return false,
    }
    true
}

fn port(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn v4(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(a))
}

fn v6(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let a: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(a))
}

fn unix_path(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// sysdig's sockaddr: `u8 family`, then an IPv4 or IPv6 address and port, or a path.
pub fn sockaddr(b: &[u8]) -> Option<String> {
    Some(match *b.first()? {
        2 => format!("{}:{}", v4(b, 1)?, port(b, 5)?),
        10 => format!("{}:{}", v6(b, 1)?, port(b, 17)?),
        1 => unix_path(b.get(1..)?),
        _ => return None,
    })
}

/// sysdig's socket tuple: `u8 family`, then both ends (or a unix socket's two addresses
/// and its path).
pub fn socktuple(b: &[u8]) -> Option<String> {
    Some(match *b.first()? {
        2 => format!(
            "{}:{}->{}:{}",
            v4(b, 1)?,
            port(b, 5)?,
            v4(b, 7)?,
            port(b, 11)?
        ),
        10 => format!(
            "{}:{}->{}:{}",
            v6(b, 1)?,
            port(b, 17)?,
            v6(b, 19)?,
            port(b, 35)?
        ),
        1 => {
            let src = u64::from_le_bytes(b.get(1..9)?.try_into().ok()?);
            let dst = u64::from_le_bytes(b.get(9..17)?.try_into().ok()?);
            format!("{src:x}->{dst:x} {}", unix_path(b.get(17..)?))
        }
        _ => return None,
    })
}

/// sysdig's fd list: `u16 count`, then `i64 fd, i16 flags` each.
fn fdlist(b: &[u8], raw: &mut String) {
    let n = b
        .get(..2)
        .map_or(0, |x| usize::from(u16::from_le_bytes([x[0], x[1]])));
    for (k, c) in b
        .get(2..)
        .unwrap_or(&[])
        .chunks_exact(10)
        .take(n)
        .enumerate()
    {
        let fd = i64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
        let fl = u16::from_le_bytes([c[8], c[9]]);
        if k > 0 {
            raw.push(' ');
        }
        let _ = write!(raw, "{fd}:{fl:x}");
    }
}
