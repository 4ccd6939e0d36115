//! Event blocks: `u16 cpu, [u32 flags], event header, parameter lengths, values`.
//!
//! The event header is `u64 ts, u64 tid, u32 len, u16 type` plus `u32 nparams` in the
//! version-2 blocks; version-1 blocks leave nparams out, so it is found as libscap finds
//! it: the largest count, up to the table's, whose lengths add up to the event's length.
//! Large-payload blocks have 32-bit parameter lengths instead of 16-bit ones.

use super::ScapError;
use super::blocks::Block;
use super::table;

pub const EV: u32 = 0x204;
pub const EV_INT: u32 = 0x8010_ABCD;
pub const EV_V2: u32 = 0x216;
pub const EV_V2_LARGE: u32 = 0x221;
pub const EVF: u32 = 0x208;
pub const EVF_V2: u32 = 0x217;
pub const EVF_V2_LARGE: u32 = 0x222;

pub fn is_event_block(kind: u32) -> bool {
    matches!(
        kind,
        EV | EV_INT | EV_V2 | EV_V2_LARGE | EVF | EVF_V2 | EVF_V2_LARGE
    )
}

/// One event, borrowing its parameters from the file.
#[derive(Debug, Clone, Copy)]
pub struct ScapEvent<'a> {
    /// Offset of its block in the file.
    pub offset: usize,
    pub cpu: u16,
    /// The dump flags of an EVF block (0 otherwise).
    pub flags: u32,
    pub ts: u64,
    pub tid: u64,
    pub etype: u16,
    pub params: Params<'a>,
}

/// An event's parameters: `n` lengths of `width` bytes, then the values back to back.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    lens: &'a [u8],
    width: usize,
    values: &'a [u8],
}

impl<'a> Params<'a> {
    pub fn len(&self) -> usize {
        self.lens.len() / self.width
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    fn len_of(&self, i: usize) -> usize {
        let b = &self.lens[i * self.width..(i + 1) * self.width];
        if self.width == 2 {
            usize::from(u16::from_le_bytes([b[0], b[1]]))
        } else {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
    }

    /// Every parameter's bytes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let mut at = 0;
        (0..self.len()).map(move |i| {
            let n = self.len_of(i);
            let v = &self.values[at..at + n];
            at += n;
            v
        })
    }

    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.iter().nth(i)
    }
}

impl<'a> ScapEvent<'a> {
    /// Decodes an event block; `None` for an event id this table does not know (sysdig
    /// skips those too: they come from a newer driver).
    pub fn parse(b: &Block<'a>) -> Result<Option<ScapEvent<'a>>, ScapError> {
        let v2 = matches!(b.kind, EV_V2 | EV_V2_LARGE | EVF_V2 | EVF_V2_LARGE);
        let large = matches!(b.kind, EV_V2_LARGE | EVF_V2_LARGE);
        let has_flags = matches!(b.kind, EVF | EVF_V2 | EVF_V2_LARGE);
        let body = b.body;
        let pre = if has_flags { 6 } else { 2 };
        let hdr = if v2 { 26 } else { 22 };
        if body.len() < pre + hdr {
            return Err(ScapError::at(
                b.at(0),
                format!(
                    "event block of {} bytes is shorter than its {} byte header",
                    body.len(),
                    pre + hdr
                ),
            ));
        }
        let u64_at = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(body[i..i + 4].try_into().expect("4 bytes"));
        let cpu = u16::from_le_bytes([body[0], body[1]]);
        let flags = if has_flags { u32_at(2) } else { 0 };
        let e = pre;
        let ts = u64_at(e);
        let tid = u64_at(e + 8);
        let len = u32_at(e + 16) as usize;
        let etype = u16::from_le_bytes([body[e + 20], body[e + 21]]);
        let Some(info) = table::info(etype) else {
            return Ok(None);
        };
        // Version-1 notification and infrastructure events counted 3 bytes too many.
        let len = if !v2 && matches!(etype, 280 | 286) {
            len.saturating_sub(3)
        } else {
            len
        };
        if len < hdr || e + len > body.len() {
            return Err(ScapError::at(
                b.at(e + 16),
                format!(
                    "event length {len} does not fit its block of {} bytes",
                    body.len()
                ),
            ));
        }
        let event = &body[e..e + len];
        let width = if large { 4 } else { 2 };
        let rest = &event[hdr..];
        let sum = |n: usize| -> Option<usize> {
            let lens = rest.get(..n * width)?;
            let p = Params {
                lens,
                width,
                values: &[],
            };
            (0..n).try_fold(n * width, |acc, i| acc.checked_add(p.len_of(i)))
        };
        let n = if v2 {
            let n = u32_at(e + 22) as usize;
            if n > 64 || sum(n).is_none_or(|t| t > rest.len()) {
                return Err(ScapError::at(
                    b.at(e + 22),
                    format!(
                        "event type {etype} ({}) says {n} parameters whose lengths overrun its {} bytes",
                        info.name,
                        rest.len()
                    ),
                ));
            }
            n
        } else {
            (0..=info.params.len())
                .rev()
                .find(|&n| sum(n) == Some(rest.len()))
                .ok_or_else(|| {
                    ScapError::at(
                        b.at(e),
                        format!(
                            "old-format event type {etype} ({}): no parameter count matches its length {len}",
                            info.name
                        ),
                    )
                })?
        };
        Ok(Some(ScapEvent {
            offset: b.offset,
            cpu,
            flags,
            ts,
            tid,
            etype,
            params: Params {
                lens: &rest[..n * width],
                width,
                values: &rest[n * width..],
            },
        }))
    }
}

/// Encodes one event as a version-2 event block (large when a value needs it).
pub fn encode(cpu: u16, ts: u64, tid: u64, etype: u16, params: &[&[u8]], out: &mut Vec<u8>) {
    let large = params.iter().any(|p| p.len() > u16::MAX as usize);
    let width = if large { 4 } else { 2 };
    let vals: usize = params.iter().map(|p| p.len()).sum();
    let len = 26 + params.len() * width + vals;
    let total = (8 + 2 + len + 4).div_ceil(4) * 4;
    let start = out.len();
    out.extend_from_slice(&(if large { EV_V2_LARGE } else { EV_V2 }).to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&cpu.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(&tid.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&etype.to_le_bytes());
    out.extend_from_slice(&(params.len() as u32).to_le_bytes());
    for p in params {
        if large {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        } else {
            out.extend_from_slice(&(p.len() as u16).to_le_bytes());
        }
    }
    for p in params {
        out.extend_from_slice(p);
    }
    out.resize(start + total - 4, 0);
    out.extend_from_slice(&(total as u32).to_le_bytes());
}
