//! Parsing perf records (`perf_event_header` + body) from bytes.
//!
//! No I/O: the same code reads a live ring (where wrapped records were already joined)
//! and a capture file. The sample layout is computed once per attr (`SampleLayout`) so
//! a sample costs a few bounds-checked loads. Every error names the byte offset inside
//! the record; the ring reader adds the record's position in the stream.

use super::attr::SampleLayout;
use perf_event_open_sys::bindings::{
    PERF_RECORD_LOST, PERF_RECORD_MMAP, PERF_RECORD_SAMPLE, PERF_RECORD_THROTTLE,
    PERF_RECORD_UNTHROTTLE,
};
use std::fmt;

/// Size of `perf_event_header` (u32 type, u16 misc, u16 size).
pub const HEADER_SIZE: usize = 8;

/// The record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: u32,
    pub misc: u16,
    pub size: u16,
}

/// One tracepoint hit. `raw` is the PERF_SAMPLE_RAW payload without its u32 size: the
/// tracepoint record, starting with `common_type` (the tracepoint id), possibly followed
/// by up to 7 padding bytes the kernel adds for 8-byte alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample<'a> {
    pub pid: u32,
    pub tid: u32,
    pub time: u64,
    pub cpu: u32,
    pub raw: &'a [u8],
    /// PERF_SAMPLE_CALLCHAIN's addresses (native-endian u64s, context markers included),
    /// empty when the event does not carry chains.
    pub callchain: &'a [u8],
    /// PERF_SAMPLE_REGS_USER's register values (native-endian u64s in the order of
    /// [`USER_REGS_MASK`](super::attr::USER_REGS_MASK)'s bits), empty when the sample has
    /// none (not requested, or a kernel thread: abi 0).
    pub regs_user: &'a [u8],
    /// PERF_SAMPLE_STACK_USER's valid bytes (`dyn_size` of them), copied from the user
    /// stack pointer upwards; empty when not requested.
    pub stack_user: &'a [u8],
}

impl Sample<'_> {
    /// The tracepoint id (`common_type`, the first u16 of the raw payload), if present.
    pub fn common_type(&self) -> Option<u16> {
        self.raw.get(..2).map(|b| u16::from_ne_bytes([b[0], b[1]]))
    }
}

/// A record, borrowed from the bytes it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    Sample(Sample<'a>),
    /// The kernel dropped `lost` records because the ring was full.
    Lost {
        id: u64,
        lost: u64,
    },
    Throttle {
        time: u64,
        id: u64,
    },
    Unthrottle {
        time: u64,
        id: u64,
    },
    /// An executable mapping (PERF_RECORD_MMAP, requested with `-k`).
    Mmap(Mmap<'a>),
    /// Any other record type (comm, fork... which tpdig does not request).
    Other {
        kind: u32,
    },
}

/// A file mapped executable into process `pid` at `addr..addr+len`, from file offset
/// `pgoff` (PERF_RECORD_MMAP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mmap<'a> {
    pub pid: u32,
    pub addr: u64,
    pub len: u64,
    pub pgoff: u64,
    /// The path, NUL and padding removed (not necessarily UTF-8).
    pub filename: &'a [u8],
}

/// An [`Mmap`] kept after the ring moved on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedMmap {
    pub pid: u32,
    pub addr: u64,
    pub len: u64,
    pub pgoff: u64,
    pub filename: Vec<u8>,
}

impl Mmap<'_> {
    pub fn to_owned_mmap(&self) -> OwnedMmap {
        OwnedMmap {
            pid: self.pid,
            addr: self.addr,
            len: self.len,
            pgoff: self.pgoff,
            filename: self.filename.to_vec(),
        }
    }
}

/// What is wrong with a record, and where (byte offset inside the record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    pub offset: usize,
    pub reason: RecordErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordErrorKind {
    /// Fewer bytes than the header or a field needs.
    Truncated { needed: usize, have: usize },
    /// The header's size is smaller than a header or larger than the bytes given.
    BadSize { size: u16, have: usize },
    /// RAW's size runs past the end of the record.
    RawOverrun { raw_size: u32, room: usize },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad perf record at byte {}: ", self.offset)?;
        match &self.reason {
            RecordErrorKind::Truncated { needed, have } => {
                write!(f, "truncated (need {needed} bytes, have {have})")
            }
            RecordErrorKind::BadSize { size, have } => {
                write!(f, "header size {size} is invalid ({have} bytes available)")
            }
            RecordErrorKind::RawOverrun { raw_size, room } => {
                write!(
                    f,
                    "raw payload of {raw_size} bytes exceeds the {room} bytes left"
                )
            }
        }
    }
}

impl std::error::Error for RecordError {}

fn truncated(offset: usize, needed: usize, have: usize) -> RecordError {
    RecordError {
        offset,
        reason: RecordErrorKind::Truncated { needed, have },
    }
}

fn u16_at(b: &[u8], off: usize) -> Result<u16, RecordError> {
    b.get(off..off + 2)
        .map(|s| u16::from_ne_bytes([s[0], s[1]]))
        .ok_or_else(|| truncated(off, off + 2, b.len()))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, RecordError> {
    b.get(off..off + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| truncated(off, off + 4, b.len()))
}

fn u64_at(b: &[u8], off: usize) -> Result<u64, RecordError> {
    match b.get(off..off + 8) {
        Some(s) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            Ok(u64::from_ne_bytes(a))
        }
        None => Err(truncated(off, off + 8, b.len())),
    }
}

/// Reads the header at the start of `bytes` (which may hold more than one record).
pub fn parse_header(bytes: &[u8]) -> Result<Header, RecordError> {
    Ok(Header {
        kind: u32_at(bytes, 0)?,
        misc: u16_at(bytes, 4)?,
        size: u16_at(bytes, 6)?,
    })
}

/// Parses the first record of `bytes`. The header's size must fit in `bytes`; bytes
/// after the record are ignored. Records are in the host's byte order (live rings).
pub fn parse<'a>(bytes: &'a [u8], layout: &SampleLayout) -> Result<Record<'a>, RecordError> {
    let h = parse_header(bytes)?;
    let size = h.size as usize;
    if size < HEADER_SIZE || size > bytes.len() {
        return Err(RecordError {
            offset: 6,
            reason: RecordErrorKind::BadSize {
                size: h.size,
                have: bytes.len(),
            },
        });
    }
    let rec = &bytes[..size];
    match h.kind {
        PERF_RECORD_SAMPLE => parse_sample(rec, layout).map(Record::Sample),
        PERF_RECORD_LOST => Ok(Record::Lost {
            id: u64_at(rec, 8)?,
            lost: u64_at(rec, 16)?,
        }),
        PERF_RECORD_THROTTLE => Ok(Record::Throttle {
            time: u64_at(rec, 8)?,
            id: u64_at(rec, 16)?,
        }),
        PERF_RECORD_UNTHROTTLE => Ok(Record::Unthrottle {
            time: u64_at(rec, 8)?,
            id: u64_at(rec, 16)?,
        }),
        PERF_RECORD_MMAP => {
            let name = rec.get(40..).ok_or_else(|| truncated(40, 40, rec.len()))?;
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            Ok(Record::Mmap(Mmap {
                pid: u32_at(rec, 8)?,
                addr: u64_at(rec, 16)?,
                len: u64_at(rec, 24)?,
                pgoff: u64_at(rec, 32)?,
                filename: &name[..end],
            }))
        }
        kind => Ok(Record::Other { kind }),
    }
}

/// Parses a PERF_RECORD_SAMPLE body (`rec` is exactly one record, header included).
pub fn parse_sample<'a>(rec: &'a [u8], layout: &SampleLayout) -> Result<Sample<'a>, RecordError> {
    let (pid, tid) = match layout.tid {
        Some(o) => (u32_at(rec, o)?, u32_at(rec, o + 4)?),
        None => (0, 0),
    };
    let time = match layout.time {
        Some(o) => u64_at(rec, o)?,
        None => 0,
    };
    let cpu = match layout.cpu {
        Some(o) => u32_at(rec, o)?,
        None => 0,
    };
    let (callchain, raw_at) = match layout.callchain {
        Some(o) => {
            let nr = u64_at(rec, o)?;
            let len = usize::try_from(nr)
                .ok()
                .and_then(|n| n.checked_mul(8))
                .filter(|&l| l <= rec.len().saturating_sub(o + 8))
                .ok_or_else(|| truncated(o, o + 8, rec.len()))?;
            (&rec[o + 8..o + 8 + len], o + 8 + len)
        }
        None => (&rec[..0], layout.raw),
    };
    let raw_size = u32_at(rec, raw_at)?;
    let start = raw_at + 4;
    let room = rec.len() - start;
    if raw_size as usize > room {
        return Err(RecordError {
            offset: raw_at,
            reason: RecordErrorKind::RawOverrun { raw_size, room },
        });
    }
    let mut at = start + raw_size as usize;
    let mut regs_user = &rec[..0];
    if let Some(n) = layout.regs_user {
        let abi = u64_at(rec, at)?;
        at += 8;
        if abi != 0 {
            regs_user = rec
                .get(at..at + 8 * n)
                .ok_or_else(|| truncated(at, at + 8 * n, rec.len()))?;
            at += 8 * n;
        }
    }
    let mut stack_user = &rec[..0];
    if layout.stack_user {
        let size = u64_at(rec, at)?;
        at += 8;
        if size != 0 {
            let data = usize::try_from(size)
                .ok()
                .and_then(|n| rec.get(at..at.checked_add(n)?))
                .ok_or_else(|| truncated(at, at.saturating_add(size as usize), rec.len()))?;
            let dyn_size = u64_at(rec, at + data.len())?;
            stack_user = &data[..data.len().min(usize::try_from(dyn_size).unwrap_or(0))];
        }
    }
    Ok(Sample {
        pid,
        tid,
        time,
        cpu,
        raw: &rec[start..start + raw_size as usize],
        callchain,
        regs_user,
        stack_user,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a tpdig-layout sample record, the way the kernel writes it.
    pub(crate) fn sample_bytes(pid: u32, tid: u32, time: u64, cpu: u32, raw: &[u8]) -> Vec<u8> {
        let raw_padded = (4 + raw.len()).div_ceil(8) * 8 - 4;
        let size = 32 + 4 + raw_padded;
        let mut v = Vec::with_capacity(size);
        v.extend_from_slice(&PERF_RECORD_SAMPLE.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&(size as u16).to_ne_bytes());
        v.extend_from_slice(&pid.to_ne_bytes());
        v.extend_from_slice(&tid.to_ne_bytes());
        v.extend_from_slice(&time.to_ne_bytes());
        v.extend_from_slice(&cpu.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&(raw_padded as u32).to_ne_bytes());
        v.extend_from_slice(raw);
        v.resize(size, 0);
        v
    }

    pub(crate) fn lost_bytes(id: u64, lost: u64) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&PERF_RECORD_LOST.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&24u16.to_ne_bytes());
        v.extend_from_slice(&id.to_ne_bytes());
        v.extend_from_slice(&lost.to_ne_bytes());
        v
    }

    #[test]
    fn parses_a_sample_and_its_raw_payload() {
        let b = sample_bytes(10, 11, 12345, 1, &[0x22, 0x01, 0, 0, 9, 9]);
        assert_eq!(b.len() % 8, 0);
        let Record::Sample(s) = parse(&b, &SampleLayout::tpdig()).unwrap() else {
            panic!()
        };
        assert_eq!((s.pid, s.tid, s.time, s.cpu), (10, 11, 12345, 1));
        assert_eq!(&s.raw[..6], &[0x22, 0x01, 0, 0, 9, 9]);
        assert_eq!(s.common_type(), Some(0x0122));
    }

    #[test]
    fn parses_lost_and_unknown_records() {
        let b = lost_bytes(7, 99);
        assert_eq!(
            parse(&b, &SampleLayout::tpdig()).unwrap(),
            Record::Lost { id: 7, lost: 99 }
        );
        let mut o = b.clone();
        o[0] = 3; // PERF_RECORD_COMM
        assert_eq!(
            parse(&o, &SampleLayout::tpdig()).unwrap(),
            Record::Other { kind: 3 }
        );
    }

    #[test]
    fn malformed_records_are_errors_with_offsets() {
        let l = SampleLayout::tpdig();
        assert_eq!(parse(&[1, 2, 3], &l).unwrap_err().offset, 0);
        let mut b = sample_bytes(1, 1, 1, 0, &[1, 2, 3, 4]);
        // Header size larger than the bytes.
        let big = (b.len() as u16 + 8).to_ne_bytes();
        b[6..8].copy_from_slice(&big);
        assert!(matches!(
            parse(&b, &l).unwrap_err().reason,
            RecordErrorKind::BadSize { .. }
        ));
        // Raw size larger than the record.
        let mut b = sample_bytes(1, 1, 1, 0, &[1, 2, 3, 4]);
        b[32..36].copy_from_slice(&1000u32.to_ne_bytes());
        let e = parse(&b, &l).unwrap_err();
        assert_eq!(e.offset, 32);
        assert!(e.to_string().contains("1000"));
        // A sample too short for its fixed fields.
        let mut b = sample_bytes(1, 1, 1, 0, &[]);
        b.truncate(20);
        b[6..8].copy_from_slice(&20u16.to_ne_bytes());
        assert!(matches!(
            parse(&b, &l).unwrap_err().reason,
            RecordErrorKind::Truncated { .. }
        ));
    }

    #[test]
    fn a_call_chain_moves_raw_after_it() {
        let mut b = sample_bytes(1, 2, 3, 0, &[7, 0, 0, 0]);
        // Insert a two-address chain before RAW (at byte 32).
        let mut chain = Vec::new();
        chain.extend_from_slice(&2u64.to_ne_bytes());
        chain.extend_from_slice(&0xffff_ffff_ffff_ff80u64.to_ne_bytes());
        chain.extend_from_slice(&0xffff_ffff_8100_0000u64.to_ne_bytes());
        b.splice(32..32, chain);
        let size = (b.len() as u16).to_ne_bytes();
        b[6..8].copy_from_slice(&size);
        let l = SampleLayout::tpdig_with_stack();
        let Record::Sample(s) = parse(&b, &l).unwrap() else {
            panic!()
        };
        assert_eq!(s.callchain.len(), 16);
        assert_eq!(s.common_type(), Some(7));
        // A count that runs past the record is an error, not a panic.
        b[32..40].copy_from_slice(&u64::MAX.to_ne_bytes());
        assert_eq!(parse(&b, &l).unwrap_err().offset, 32);
    }

    #[test]
    fn user_registers_and_stack_follow_raw() {
        let mut b = sample_bytes(1, 2, 3, 0, &[7, 0, 0, 0]);
        let mut chain = Vec::new();
        chain.extend_from_slice(&1u64.to_ne_bytes());
        chain.extend_from_slice(&0x401000u64.to_ne_bytes());
        b.splice(32..32, chain);
        // abi 2 (64-bit), bp sp ip; a 16-byte copy of which 12 bytes are valid.
        for w in [2u64, 0x7ffd_0010, 0x7ffd_0000, 0x401000, 16] {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        b.extend_from_slice(&[0xaa; 16]);
        b.extend_from_slice(&12u64.to_ne_bytes());
        let size = (b.len() as u16).to_ne_bytes();
        b[6..8].copy_from_slice(&size);
        let l = SampleLayout::tpdig_with_stack_dump();
        let Record::Sample(s) = parse(&b, &l).unwrap() else {
            panic!()
        };
        assert_eq!(s.common_type(), Some(7));
        assert_eq!(s.regs_user.len(), 24);
        assert_eq!(&s.regs_user[16..24], &0x401000u64.to_ne_bytes());
        assert_eq!(s.stack_user, &[0xaa; 12]);
        // A kernel thread: abi 0, no registers; a size-0 copy has no dyn_size.
        let mut k = b[..b.len() - 8 * 5 - 16 - 8].to_vec();
        k.extend_from_slice(&0u64.to_ne_bytes());
        k.extend_from_slice(&0u64.to_ne_bytes());
        let size = (k.len() as u16).to_ne_bytes();
        k[6..8].copy_from_slice(&size);
        let Record::Sample(s) = parse(&k, &l).unwrap() else {
            panic!()
        };
        assert!(s.regs_user.is_empty() && s.stack_user.is_empty());
        // Truncated anywhere in the tail: an error, never a panic.
        for cut in 1..(b.len() - 40) {
            let mut t = b[..b.len() - cut].to_vec();
            let size = (t.len() as u16).to_ne_bytes();
            t[6..8].copy_from_slice(&size);
            assert!(parse(&t, &l).is_err(), "cut {cut}");
        }
        // A dyn_size beyond the copy is clamped to it.
        let n = b.len();
        b[n - 8..].copy_from_slice(&u64::MAX.to_ne_bytes());
        let Record::Sample(s) = parse(&b, &l).unwrap() else {
            panic!()
        };
        assert_eq!(s.stack_user.len(), 16);
    }

    #[test]
    fn parses_an_mmap_record() {
        let mut v = Vec::new();
        v.extend_from_slice(&PERF_RECORD_MMAP.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&56u16.to_ne_bytes());
        for x in [5u32, 6] {
            v.extend_from_slice(&x.to_ne_bytes());
        }
        for x in [0x5000u64, 0x1000, 0x2000] {
            v.extend_from_slice(&x.to_ne_bytes());
        }
        v.extend_from_slice(b"/bin/ls\0\0\0\0\0\0\0\0\0");
        v.truncate(56);
        let Record::Mmap(m) = parse(&v, &SampleLayout::tpdig()).unwrap() else {
            panic!()
        };
        assert_eq!((m.pid, m.addr, m.len, m.pgoff), (5, 0x5000, 0x1000, 0x2000));
        assert_eq!(m.filename, b"/bin/ls");
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let l = SampleLayout::tpdig();
        let mut seed = 0x1234_5678_9abc_def0u64;
        for len in 0..200 {
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                v.push(seed as u8);
            }
            if len >= 8 {
                v[0..4].copy_from_slice(&PERF_RECORD_SAMPLE.to_ne_bytes());
            }
            let _ = parse(&v, &l);
            let _ = parse(&v, &SampleLayout::tpdig_with_stack());
            let _ = parse(&v, &SampleLayout::tpdig_with_stack_dump());
        }
    }
}
