//! One sysdig event's parameters as tpdig's records carry them.
//!
//! An event read from a .scap file becomes a tpdig record (a system call entry or exit, a
//! context switch...) for the state, filters and sinks, and keeps sysdig's own parameters
//! beside the record's fields in a `scap_params` dynamic field, so `evt.info` shows what
//! sysdig stored: `u16 event id, u16 count, u32 length each, values`. The same bytes go
//! into a tpdig capture written from such a run, so reading it back shows the same.

use super::table;

/// The name of the record field holding the parameters.
pub const FIELD: &str = "scap_params";

/// Largest parameter block a record's 16-bit dynamic field can address.
pub const MAX_LEN: usize = 60 * 1024;

/// Encodes event `etype` with `params`, shortening the longest values to fit [`MAX_LEN`].
pub fn encode(etype: u16, params: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(etype, || params.iter().copied(), &mut out);
    out
}

/// [`encode`] appending to `out`; `params` gives the values (twice: sizes, then bytes).
pub fn encode_into<'p, I: Iterator<Item = &'p [u8]>>(
    etype: u16,
    params: impl Fn() -> I,
    out: &mut Vec<u8>,
) {
    let (n, total) = params().fold((0, 0), |(n, t), p| (n + 1, t + p.len()));
    let budget = MAX_LEN.saturating_sub(4 + 4 * n);
    let cap = if total > budget {
        budget / n.max(1)
    } else {
        usize::MAX
    };
    out.reserve(4 + 4 * n + total.min(budget));
    out.extend_from_slice(&etype.to_le_bytes());
    out.extend_from_slice(&(n as u16).to_le_bytes());
    for p in params() {
        out.extend_from_slice(&(p.len().min(cap) as u32).to_le_bytes());
    }
    for p in params() {
        out.extend_from_slice(&p[..p.len().min(cap)]);
    }
}

/// A decoded parameter block.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    pub etype: u16,
    lens: &'a [u8],
    values: &'a [u8],
}

impl<'a> Stored<'a> {
    pub fn parse(b: &'a [u8]) -> Option<Stored<'a>> {
        let etype = u16::from_le_bytes([*b.first()?, *b.get(1)?]);
        let n = usize::from(u16::from_le_bytes([*b.get(2)?, *b.get(3)?]));
        let lens = b.get(4..4 + 4 * n)?;
        let values = &b[4 + 4 * n..];
        let s = Stored {
            etype,
            lens,
            values,
        };
        let sum: usize = (0..n).map(|i| s.len_of(i)).sum();
        (sum <= values.len()).then_some(s)
    }

    pub fn len(&self) -> usize {
        self.lens.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    fn len_of(&self, i: usize) -> usize {
        let b = &self.lens[i * 4..i * 4 + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
    }

    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        if i >= self.len() {
            return None;
        }
        let at: usize = (0..i).map(|k| self.len_of(k)).sum();
        self.values.get(at..at + self.len_of(i))
    }

    pub fn info(&self) -> Option<&'static table::EventInfo> {
        table::info(self.etype)
    }

    /// The value of the parameter called `name`.
    pub fn by_name(&self, name: &str) -> Option<&'a [u8]> {
        let i = self.info()?.params.iter().position(|p| p.name == name)?;
        self.get(i)
    }

    /// Parameter `name` as a little-endian integer of its stored width.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.by_name(name).and_then(le_int)
    }
}

/// A 1, 2, 4 or 8-byte little-endian value, zero-extended.
pub fn le_int(b: &[u8]) -> Option<i64> {
    Some(match b.len() {
        1 => i64::from(b[0]),
        2 => i64::from(u16::from_le_bytes([b[0], b[1]])),
        4 => i64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        8 => i64::from_le_bytes(b.try_into().ok()?),
        _ => return None,
    })
}
