//! Function bounds from the unwind tables (`.eh_frame`), for code without symbols.
//!
//! The dynamic loader is stripped: it exports a handful of symbols, none of them the
//! functions that open libraries. Its unwind tables remain (every x86-64 object keeps
//! them, for exceptions and backtraces), and each frame description entry (FDE) names the
//! first byte and the length of one function or function fragment. A linear decode from
//! such a first byte is how [`x86`](super::x86) finds instruction boundaries it can trust.
//!
//! Read: `PT_GNU_EH_FRAME` → `.eh_frame_hdr` → the pointer to `.eh_frame`, then the entries
//! in order up to the zero terminator or the end of the segment. CIEs give the pointer
//! encoding of their FDEs (`zR` augmentation); pc-relative and absolute encodings of
//! every width are understood, anything else (indirect, text-relative) makes that FDE
//! skipped. Bounds are checked everywhere; no I/O.
//!
//! The same walk gives the call-stack unwinder ([`crate::stack::cfi`]) its inputs: each
//! CIE's alignment factors, return-address column and initial program, and each FDE's own
//! program ([`entries`]). Programs stay byte ranges here; interpreting them is the
//! unwinder's business.

use super::elf::{Elf, ElfError};
use std::collections::HashMap;

/// One function (or fragment) the unwind tables describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionRange {
    pub start: u64,
    pub len: u64,
}

/// Little-endian reads from bytes loaded at a known virtual address.
pub(crate) struct Cursor<'a> {
    pub(crate) bytes: &'a [u8],
    /// Virtual address of `bytes[0]`.
    pub(crate) base: u64,
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn vaddr(&self) -> u64 {
        self.base + self.pos as u64
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub(crate) fn uint(&mut self, n: usize) -> Option<u64> {
        let b = self.take(n)?;
        Some(b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }
    pub(crate) fn sint(&mut self, n: usize) -> Option<u64> {
        let v = self.uint(n)?;
        let shift = 64 - 8 * n as u32;
        Some((((v << shift) as i64) >> shift) as u64)
    }
    pub(crate) fn leb(&mut self, signed: bool) -> Option<u64> {
        let (mut v, mut shift) = (0u64, 0u32);
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                if signed && shift < 64 && b & 0x40 != 0 {
                    v |= !0u64 << shift;
                }
                return Some(v);
            }
            if shift > 70 {
                return None;
            }
        }
    }
    pub(crate) fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.bytes.get(self.pos..)?;
        let n = rest.iter().position(|&b| b == 0)?;
        self.pos += n + 1;
        Some(&rest[..n])
    }

    /// A `DW_EH_PE_*`-encoded pointer. `None` for encodings not understood here.
    pub(crate) fn pointer(&mut self, enc: u8) -> Option<u64> {
        let field = self.vaddr();
        let v = match enc & 0x0f {
            0x00 | 0x04 | 0x0c => self.uint(8)?,
            0x01 => self.leb(false)?,
            0x02 => self.uint(2)?,
            0x03 => self.uint(4)?,
            0x09 => self.leb(true)?,
            0x0a => self.sint(2)?,
            0x0b => self.sint(4)?,
            _ => return None,
        };
        match enc & 0x70 {
            0x00 => Some(v),
            0x10 => Some(field.wrapping_add(v)),
            _ => None,
        }
        .filter(|_| enc & 0x80 == 0)
    }
}

const DW_EH_PE_OMIT: u8 = 0xff;
const DW_EH_PE_ABSPTR: u8 = 0x00;

/// A common information entry: what the FDEs that point at it share. `initial` is the
/// CFI program every FDE's rules start from (a range of [`EhFrame::bytes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cie {
    pub code_align: u64,
    pub data_align: i64,
    /// The DWARF register number holding the return address (16, rip, on x86-64).
    pub ra_register: u64,
    /// Pointer encoding of the FDEs' addresses (and of `DW_CFA_set_loc` operands).
    pub fde_encoding: u8,
    /// `S` augmentation: a signal trampoline's frame (no call instruction before it).
    pub signal_frame: bool,
    /// A `z` augmentation: FDEs carry an augmentation length before their program.
    pub augmented: bool,
    pub initial: std::ops::Range<usize>,
}

/// A frame description entry: one function (or fragment) and its CFI program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fde {
    pub start: u64,
    pub len: u64,
    /// Index into [`EhFrame::cies`].
    pub cie: usize,
    pub program: std::ops::Range<usize>,
}

/// A file's `.eh_frame`, indexed: the bytes (from the section start to the last entry),
/// their link-time address, and the entries, FDEs sorted by start address.
#[derive(Clone, Debug, Default)]
pub struct EhFrame<'a> {
    pub bytes: &'a [u8],
    pub base: u64,
    pub cies: Vec<Cie>,
    pub fdes: Vec<Fde>,
}

/// Reads a CIE body (the cursor after its id) that ends at `end`; `None` when it is not
/// understood.
fn parse_cie(c: &mut Cursor<'_>, end: usize) -> Option<Cie> {
    let version = c.u8()?;
    let aug = c.cstr()?;
    if aug.windows(2).any(|w| w == b"eh") {
        c.take(8)?;
    }
    let code_align = c.leb(false)?;
    let data_align = c.leb(true)? as i64;
    let ra_register = if version == 1 {
        u64::from(c.u8()?)
    } else {
        c.leb(false)?
    };
    let mut enc = DW_EH_PE_ABSPTR;
    let mut signal_frame = false;
    if aug.first() == Some(&b'z') {
        let n = usize::try_from(c.leb(false)?).ok()?;
        let data_end = c.pos.checked_add(n)?;
        for &a in &aug[1..] {
            match a {
                b'R' => enc = c.u8()?,
                b'L' => {
                    c.u8()?;
                }
                b'P' => {
                    let penc = c.u8()?;
                    c.pointer(penc & 0x7f)?;
                }
                b'S' => signal_frame = true,
                b'B' => {}
                _ => return None,
            }
        }
        // Augmentation data this reader skipped is still counted by its length.
        c.pos = data_end;
    } else if !aug.is_empty() {
        return None;
    }
    (c.pos <= end).then_some(Cie {
        code_align,
        data_align,
        ra_register,
        fde_encoding: enc,
        signal_frame,
        augmented: aug.first() == Some(&b'z'),
        initial: c.pos..end,
    })
}

/// Every entry of `elf`'s `.eh_frame` (empty when it has none). An error only when the
/// header itself is unreadable; entries not understood are skipped.
pub fn entries<'a>(elf: &Elf<'a>) -> Result<EhFrame<'a>, ElfError> {
    let Some(hdr) = elf.eh_frame_hdr else {
        return Ok(EhFrame::default());
    };
    let bad = |m: &str| ElfError {
        offset: hdr.offset,
        message: format!(".eh_frame_hdr: {m}"),
    };
    let bytes = elf
        .bytes_from(hdr.vaddr)
        .ok_or_else(|| bad("outside the loaded segments"))?;
    let mut h = Cursor {
        bytes,
        base: hdr.vaddr,
        pos: 0,
    };
    let version = h.u8().ok_or_else(|| bad("truncated"))?;
    if version != 1 {
        return Err(bad(&format!("version {version}")));
    }
    let ptr_enc = h.u8().ok_or_else(|| bad("truncated"))?;
    h.take(2).ok_or_else(|| bad("truncated"))?;
    if ptr_enc == DW_EH_PE_OMIT {
        return Ok(EhFrame::default());
    }
    let eh_frame = h
        .pointer(ptr_enc)
        .ok_or_else(|| bad("eh_frame_ptr encoding not understood"))?;
    let Some(bytes) = elf.bytes_from(eh_frame) else {
        return Err(bad(".eh_frame outside the loaded segments"));
    };
    let mut c = Cursor {
        bytes,
        base: eh_frame,
        pos: 0,
    };
    // CIE offset → its index in `cies` (None: not understood).
    let mut cie_at: HashMap<usize, Option<usize>> = HashMap::new();
    let mut cies = Vec::new();
    let mut fdes = Vec::new();
    while c.pos + 4 <= c.bytes.len() {
        let Some(mut len) = c.uint(4) else { break };
        if len == 0 {
            break; // terminator
        }
        if len == 0xffff_ffff {
            let Some(l) = c.uint(8) else { break };
            len = l;
        }
        let body = c.pos;
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| body.checked_add(l))
            .filter(|&e| e <= c.bytes.len())
        else {
            break;
        };
        let Some(id) = c.uint(4) else { break };
        if id != 0 {
            // An FDE: its CIE is `id` bytes before the id field.
            let cie = body.checked_sub(id as usize).and_then(|at| {
                *cie_at.entry(at).or_insert_with(|| {
                    let mut k = Cursor {
                        bytes: c.bytes,
                        base: c.base,
                        pos: at,
                    };
                    let clen = k.uint(4)?;
                    if clen == 0xffff_ffff {
                        return None; // 64-bit CIEs: not emitted for x86-64 code
                    }
                    let cend = (at + 4)
                        .checked_add(usize::try_from(clen).ok()?)
                        .filter(|&e| e <= k.bytes.len())?;
                    (k.uint(4)? == 0).then_some(())?;
                    cies.push(parse_cie(&mut k, cend)?);
                    Some(cies.len() - 1)
                })
            });
            if let Some(ci) = cie {
                let cie: &Cie = &cies[ci];
                let (z, augmented) = (cie.fde_encoding, cie.augmented);
                if let Some(start) = c.pointer(z)
                    && let Some(range) = c.pointer(z & 0x0f)
                    && range > 0
                {
                    // With a `z` CIE (every one gcc and clang emit), the FDE has an
                    // augmentation length before its program.
                    let aug = if augmented {
                        c.leb(false).and_then(|n| usize::try_from(n).ok())
                    } else {
                        Some(0)
                    };
                    if let Some(p) = aug.and_then(|n| c.pos.checked_add(n))
                        && p <= end
                    {
                        fdes.push(Fde {
                            start,
                            len: range,
                            cie: ci,
                            program: p..end,
                        });
                    }
                }
            }
        }
        c.pos = end;
    }
    fdes.sort_by_key(|f| f.start);
    let used = c.pos.min(c.bytes.len());
    Ok(EhFrame {
        bytes: &c.bytes[..used],
        base: eh_frame,
        cies,
        fdes,
    })
}

/// Every function range of `elf`'s `.eh_frame` (empty when it has none). An error only
/// when the header itself is unreadable; entries not understood are skipped.
pub fn function_ranges(elf: &Elf<'_>) -> Result<Vec<FunctionRange>, ElfError> {
    let mut out: Vec<FunctionRange> = entries(elf)?
        .fdes
        .iter()
        .map(|f| FunctionRange {
            start: f.start,
            len: f.len,
        })
        .collect();
    out.sort_by_key(|r| r.start);
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_and_encoded_pointers() {
        let bytes = [0xe5, 0x8e, 0x26, 0x7f, 0xfc, 0xff, 0xff, 0xff];
        let mut c = Cursor {
            bytes: &bytes,
            base: 0x1000,
            pos: 0,
        };
        assert_eq!(c.leb(false), Some(624_485));
        assert_eq!(c.leb(true), Some(-1i64 as u64));
        // pcrel sdata4 of -4 at 0x1004 → 0x1000.
        assert_eq!(c.pointer(0x1b), Some(0x1000));
        assert_eq!(c.pointer(0x1b), None); // truncated
        let mut c = Cursor {
            bytes: &bytes,
            base: 0,
            pos: 0,
        };
        assert_eq!(c.pointer(0x9b), None); // indirect
    }

    /// The loader's unwind tables cover its syscall-making functions: every FDE lies in an
    /// executable segment, and `_dl_catch_error` (an exported function) starts one.
    #[test]
    fn system_loader_ranges() {
        let Ok(bytes) = std::fs::read("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") else {
            return;
        };
        let elf = Elf::parse(&bytes).unwrap();
        let ranges = function_ranges(&elf).unwrap();
        assert!(ranges.len() > 100, "{} ranges", ranges.len());
        for r in &ranges {
            assert!(elf.code_at(r.start, r.len).is_some(), "{r:?}");
        }
        let f = elf.functions(&["_dl_catch_error"]).unwrap();
        if let Some(f) = f.first() {
            assert!(ranges.iter().any(|r| r.start == f.vaddr), "{f:?}");
        }
    }

    #[test]
    fn mutated_tables_never_panic() {
        let Ok(bytes) = std::fs::read("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") else {
            return;
        };
        let elf = Elf::parse(&bytes).unwrap();
        let hdr = elf.eh_frame_hdr.unwrap();
        let at = hdr.offset as usize;
        let mut seed = 0x9e37_79b9_u32;
        for _ in 0..200 {
            let mut b = bytes.clone();
            for _ in 0..64 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let i = at + (seed as usize % 0x4000).min(b.len() - at - 1);
                b[i] = (seed >> 8) as u8;
            }
            if let Ok(e) = Elf::parse(&b) {
                let _ = function_ranges(&e);
            }
        }
    }
}
