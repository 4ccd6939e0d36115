//! I/O data: the bytes a read or a write moved, copied right after the call returned.
//!
//! sysdig's driver copies a call's buffer at its exit, inside the kernel. tpdig has no code in
//! the kernel, and a read's bytes exist only once the call has returned, so the copy is made
//! by a uprobe on the instruction right after the `syscall` of a read or write site. On
//! x86-64 the kernel preserves every register but `%rax`, `%rcx` and `%r11` across
//! `syscall`: at that instruction the buffer pointer (or the `iovec` array, or the
//! `msghdr`) is still in the register the call took it in, and the result is in `%rax`.
//! The thread has not run a single instruction of its own since the call, so the copy is
//! the data of that call. Writes are copied there too: the call leaves the buffer as it
//! was, and its result says how many bytes the kernel took — the bytes sysdig shows.
//!
//! Why not kretprobes where the kernel has them (the 6.1 guest): a kretprobe sees only the
//! registers at the kernel function's return, and on kernels without `$arg` access at
//! return (before fprobe events, 6.5) the buffer pointer is gone by then; a kprobe at entry
//! sees no read data yet. The post-syscall uprobe is exact on every kernel with uprobe
//! events, so it is the one source.
//!
//! Fetch layout: the data is fetched as arrays of `u64` (`+0(%si):x64[N]`, `N` ≤ 64 per
//! argument), with more arguments at further offsets up to the snap length; the kernel
//! limits the size of one event (the probe definition is refused with `E2BIG`), so the
//! layout shrinks until the kernel takes it ([`Layout::shrink`]). Kernels without array
//! fetch types take a series of `u64` arguments instead (at most 128 arguments).
//! `readv`/`writev` and `recvmsg`/`sendmsg` carry their data in several buffers: the first
//! [`IOVS`] `iovec`s are fetched, each with its length, and joined in order.
//!
//! A word that crosses a page boundary is read as one piece; if the next page is not
//! mapped the whole word reads as zero even where the buffer's own bytes were valid. So the
//! buffer's address is fetched too, and a zero word that crosses a page boundary ends the
//! data there: the data shown is then shorter, never wrong. No I/O here.

use super::record::DecoderError;
use crate::tracefs::{EventFormat, Field, FieldKind};

/// Which way the data moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoDir {
    Read,
    Write,
}

/// Where a call's data lies, relative to its buffer argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// One buffer: `read(fd, buf, count)`.
    Flat,
    /// An `iovec` array: `readv(fd, iov, iovcnt)`.
    Iov,
    /// A `msghdr` whose `msg_iov` (at offset 16) is an `iovec` array.
    Msg,
}

/// A system call that moves data through a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataCall {
    pub syscall: &'static str,
    pub dir: IoDir,
    pub shape: Shape,
}

/// The index under which a call's I/O data is kept with its argument values (one past
/// the six system call arguments).
pub const DATA_ARG: usize = 6;

/// The syscall argument that points at the data (the buffer, `iovec`s or `msghdr`): the
/// second for every call in [`DATA_CALLS`].
pub const BUF_ARG: usize = 1;

const fn call(syscall: &'static str, dir: IoDir, shape: Shape) -> DataCall {
    DataCall {
        syscall,
        dir,
        shape,
    }
}

/// Every call whose data tpdig copies (sysdig's events with a `data` parameter).
pub const DATA_CALLS: &[DataCall] = &[
    call("read", IoDir::Read, Shape::Flat),
    call("pread64", IoDir::Read, Shape::Flat),
    call("recvfrom", IoDir::Read, Shape::Flat),
    call("readv", IoDir::Read, Shape::Iov),
    call("preadv", IoDir::Read, Shape::Iov),
    call("preadv2", IoDir::Read, Shape::Iov),
    call("recvmsg", IoDir::Read, Shape::Msg),
    call("write", IoDir::Write, Shape::Flat),
    call("pwrite64", IoDir::Write, Shape::Flat),
    call("sendto", IoDir::Write, Shape::Flat),
    call("writev", IoDir::Write, Shape::Iov),
    call("pwritev", IoDir::Write, Shape::Iov),
    call("pwritev2", IoDir::Write, Shape::Iov),
    call("sendmsg", IoDir::Write, Shape::Msg),
];

/// The data call `syscall` is, if it is one.
pub fn data_call(syscall: &str) -> Option<&'static DataCall> {
    DATA_CALLS.iter().find(|c| c.syscall == syscall)
}

/// The C library functions whose `syscall` sites make data calls (glibc and musl names;
/// aliases at one address are probed once). Each site's call is read from its code.
pub const DATA_FUNCTIONS: &[&str] = &[
    "read",
    "__read",
    "__libc_read",
    "__read_nocancel",
    "write",
    "__write",
    "__libc_write",
    "__write_nocancel",
    "pread64",
    "__pread64",
    "__pread64_nocancel",
    "pwrite64",
    "__pwrite64",
    "readv",
    "writev",
    "preadv",
    "preadv64",
    "pwritev",
    "pwritev64",
    "preadv2",
    "preadv64v2",
    "pwritev2",
    "pwritev64v2",
    "recv",
    "__recv",
    "recvfrom",
    "__recvfrom",
    "recvmsg",
    "__recvmsg",
    "send",
    "__send",
    "sendto",
    "__sendto",
    "sendmsg",
    "__sendmsg",
];

/// How many `iovec`s of a vectored call are fetched.
pub const IOVS: usize = 4;

/// Elements of one array fetch argument (the kernel's `MAX_ARRAY_LEN`).
const ARRAY_MAX: usize = 64;

/// Fetch arguments a probe may have (the kernel's `MAX_TRACE_ARGS`).
const ARGS_MAX: usize = 128;

/// What one data probe fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    pub shape: Shape,
    /// Array fetch types (`x64[N]`); a series of `u64` arguments otherwise.
    pub arrays: bool,
    /// Buffers fetched (1, or up to [`IOVS`] for vectored calls).
    pub bufs: usize,
    /// 8-byte words fetched per buffer.
    pub words: usize,
}

impl Layout {
    /// The layout for a snap length of `snaplen` bytes, before the kernel had its say.
    pub fn new(shape: Shape, snaplen: usize, arrays: bool) -> Layout {
        let bufs = if shape == Shape::Flat { 1 } else { IOVS };
        let mut l = Layout {
            shape,
            arrays,
            bufs,
            words: snaplen.div_ceil(8).max(1),
        };
        if !arrays {
            // One argument per word, plus the result and each buffer's address and length.
            let fixed = 1 + 2 * bufs;
            l.words = l.words.min((ARGS_MAX - fixed) / bufs);
        }
        l
    }

    /// Bytes fetched per buffer.
    pub fn capacity(&self) -> usize {
        self.words * 8
    }

    /// A smaller layout, for a kernel that refused this one as too big (`None`: nothing
    /// smaller is worth having).
    pub fn shrink(&self) -> Option<Layout> {
        if self.words > 8 {
            return Some(Layout {
                words: self.words * 3 / 4,
                ..*self
            });
        }
        if self.bufs > 1 {
            return Some(Layout {
                bufs: self.bufs / 2,
                ..*self
            });
        }
        None
    }
}

/// Field names of a data probe: the result, and per buffer its address, length and data
/// words (`d<buffer>_<chunk>`).
pub const RET: &str = "ret";

/// The fetch arguments of a data probe whose call took its buffer argument in `reg`, with
/// the result in `ret_reg`.
pub fn fetch_text(l: &Layout, reg: &str, ret_reg: &str) -> String {
    let mut parts = vec![format!("{RET}={ret_reg}:s64")];
    for b in 0..l.bufs {
        // (address expression, length expression) of buffer b.
        let (addr, len) = match l.shape {
            Shape::Flat => (reg.to_string(), None),
            Shape::Iov => (
                format!("+{}({reg})", 16 * b),
                Some(format!("+{}({reg})", 16 * b + 8)),
            ),
            Shape::Msg => (
                format!("+{}(+16({reg}))", 16 * b),
                Some(format!("+{}(+16({reg}))", 16 * b + 8)),
            ),
        };
        parts.push(format!("p{b}={addr}:u64"));
        if let Some(len) = len {
            parts.push(format!("l{b}={len}:u64"));
        }
        if l.arrays {
            let mut w = 0;
            let mut k = 0;
            while w < l.words {
                let n = (l.words - w).min(ARRAY_MAX);
                parts.push(format!("d{b}_{k}=+{}({addr}):x64[{n}]", 8 * w));
                w += n;
                k += 1;
            }
        } else {
            for w in 0..l.words {
                parts.push(format!("d{b}_{w}=+{}({addr}):u64", 8 * w));
            }
        }
    }
    parts.join(" ")
}

/// One buffer's fields in a data probe's record.
#[derive(Clone, Debug)]
struct BufFields {
    addr: Field,
    len: Option<Field>,
    /// The data words, in order (arrays or single `u64`s).
    chunks: Vec<Field>,
}

/// Reads a data probe's records, by its format.
#[derive(Clone, Debug)]
pub struct DataDecoder {
    ret: Field,
    bufs: Vec<BufFields>,
}

/// A data probe's record, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRecord {
    /// The call's result.
    pub ret: i64,
    /// The first bytes the call moved: at most `ret`, as many as were fetched (and known
    /// good); exact.
    pub bytes: Vec<u8>,
}

impl DataDecoder {
    /// Finds the fields [`fetch_text`] wrote in a probe's format.
    pub fn new(event: &str, format: &EventFormat) -> Result<DataDecoder, DecoderError> {
        let missing = |f: &str| DecoderError {
            event: event.to_string(),
            field: f.to_string(),
        };
        let scalar = |n: &str| match format.field(n) {
            Some(f) if f.kind == FieldKind::Scalar && f.size == 8 => Ok(f.clone()),
            _ => Err(missing(n)),
        };
        let ret = scalar(RET)?;
        let mut bufs = Vec::new();
        for b in 0.. {
            let Ok(addr) = scalar(&format!("p{b}")) else {
                break;
            };
            let len = scalar(&format!("l{b}")).ok();
            let mut chunks = Vec::new();
            for k in 0.. {
                match format.field(&format!("d{b}_{k}")) {
                    Some(f) if f.size % 8 == 0 && f.size > 0 => chunks.push(f.clone()),
                    _ => break,
                }
            }
            if chunks.is_empty() {
                return Err(missing(&format!("d{b}_0")));
            }
            bufs.push(BufFields { addr, len, chunks });
        }
        if bufs.is_empty() {
            return Err(missing("p0"));
        }
        Ok(DataDecoder { ret, bufs })
    }

    /// The data of one record, at most `limit` bytes. `None` when the record is too short.
    pub fn decode(&self, raw: &[u8], limit: usize) -> Option<DataRecord> {
        let ret = self.ret.i64(raw)?;
        let mut bytes = Vec::new();
        let mut left = usize::try_from(ret).unwrap_or(0).min(limit);
        for (i, b) in self.bufs.iter().enumerate() {
            if left == 0 {
                break;
            }
            let addr = b.addr.u64(raw)?;
            let want = match &b.len {
                Some(f) => usize::try_from(f.u64(raw)?).unwrap_or(usize::MAX).min(left),
                None if i == 0 => left,
                None => break,
            };
            let start = bytes.len();
            for c in &b.chunks {
                bytes.extend_from_slice(c.bytes(raw)?);
            }
            let fetched = bytes.len() - start;
            let good = known_good(addr, &bytes[start..], want.min(fetched));
            bytes.truncate(start + good);
            left -= good;
            if good < want {
                // A gap would follow: what comes after it is not the call's next byte.
                break;
            }
        }
        Some(DataRecord { ret, bytes })
    }
}

/// How many of the first `want` bytes of `fetched` (read from user address `addr` in
/// 8-byte words) are known to be the memory's bytes: all, unless a word that crosses a page
/// boundary reads as zero (it may have faulted as a whole), where they end.
pub fn known_good(addr: u64, fetched: &[u8], want: usize) -> usize {
    const PAGE: u64 = 4096;
    let want = want.min(fetched.len());
    for (k, word) in fetched.chunks(8).enumerate() {
        let at = 8 * k;
        if at >= want {
            break;
        }
        let first = addr.wrapping_add(at as u64);
        let crosses = first / PAGE != first.wrapping_add(7) / PAGE;
        if crosses && word.iter().all(|&b| b == 0) {
            return at;
        }
    }
    want
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{Arch, number};

    #[test]
    fn every_data_call_is_a_real_syscall_with_a_data_parameter() {
        for c in DATA_CALLS {
            assert!(number(Arch::X86_64, c.syscall).is_some(), "{}", c.syscall);
            let exit = crate::params::params(c.syscall, crate::params::Dir::Exit);
            // preadv2/pwritev2 have no sysdig event: their data is in evt.buffer only.
            assert!(
                exit.is_empty()
                    || exit
                        .iter()
                        .any(|p| p.src == crate::params::Source::Data && p.name == "data"),
                "{} has no data parameter",
                c.syscall
            );
        }
        // And every sysdig event with a data parameter is covered.
        for e in crate::params::all() {
            if e.exit.iter().any(|p| p.src == crate::params::Source::Data) {
                assert!(data_call(e.syscall).is_some(), "{} not covered", e.syscall);
            }
        }
    }

    #[test]
    fn fetch_text_by_shape() {
        let l = Layout::new(Shape::Flat, 80, true);
        assert_eq!(l.words, 10);
        assert_eq!(
            fetch_text(&l, "%si", "%ax"),
            "ret=%ax:s64 p0=%si:u64 d0_0=+0(%si):x64[10]"
        );
        let big = Layout::new(Shape::Flat, 2000, true);
        let t = fetch_text(&big, "%si", "%ax");
        assert!(t.contains("d0_3=+1536(%si):x64[58]"), "{t}");
        let iov = fetch_text(&Layout::new(Shape::Iov, 16, true), "%si", "%ax");
        assert!(
            iov.contains("p1=+16(%si):u64 l1=+24(%si):u64 d1_0=+0(+16(%si)):x64[2]"),
            "{iov}"
        );
        let msg = fetch_text(&Layout::new(Shape::Msg, 8, false), "%si", "%ax");
        assert!(
            msg.contains("p0=+0(+16(%si)):u64 l0=+8(+16(%si)):u64 d0_0=+0(+0(+16(%si))):u64"),
            "{msg}"
        );
        // Without arrays, one argument per word, within the kernel's 128.
        let series = Layout::new(Shape::Flat, 4000, false);
        assert!(fetch_text(&series, "%si", "%ax").split(' ').count() <= 128);
    }

    #[test]
    fn layouts_shrink_to_nothing() {
        let mut l = Layout::new(Shape::Iov, 3000, true);
        let mut n = 0;
        while let Some(s) = l.shrink() {
            assert!(s.words * s.bufs < l.words * l.bufs);
            l = s;
            n += 1;
        }
        assert!(n < 30);
        assert_eq!((l.bufs, l.words), (1, 8));
    }

    #[test]
    fn page_crossing_zero_words_end_the_data() {
        let data = [1u8; 24];
        assert_eq!(known_good(0x1000, &data, 24), 24);
        let mut z = data;
        z[8..16].fill(0);
        // Aligned: no word crosses a page, zeros are data.
        assert_eq!(known_good(0x1000, &z, 24), 24);
        // Word 1 covers 0x1ffd..0x2004: crosses, zero, so the data ends before it.
        assert_eq!(known_good(0x1ff5, &z, 24), 8);
        // A crossing word that is not all zero was read.
        assert_eq!(known_good(0x1ff5, &data, 24), 24);
        assert_eq!(known_good(0x1ff5, &z, 5), 5);
    }

    /// The format this kernel (6.18) wrote for a flat data probe with `x64[10]`.
    const FLAT_FORMAT: &str = "name: read_data\nID: 2400\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\
\n\
\tfield:unsigned long __probe_ip;\toffset:8;\tsize:8;\tsigned:0;\n\
\tfield:s64 ret;\toffset:16;\tsize:8;\tsigned:1;\n\
\tfield:u64 p0;\toffset:24;\tsize:8;\tsigned:0;\n\
\tfield:u64 d0_0[];\toffset:32;\tsize:80;\tsigned:0;\n\
\n\
print fmt: \"(%lx) ret=%Ld\", REC->__probe_ip, REC->ret\n";

    fn flat_record(ret: i64, addr: u64, data: &[u8]) -> Vec<u8> {
        let mut r = vec![0u8; 112];
        r[16..24].copy_from_slice(&ret.to_le_bytes());
        r[24..32].copy_from_slice(&addr.to_le_bytes());
        r[32..32 + data.len()].copy_from_slice(data);
        r
    }

    #[test]
    fn decodes_a_flat_record_up_to_ret_and_limit() {
        let fmt = EventFormat::parse(FLAT_FORMAT).unwrap();
        let d = DataDecoder::new("g:read_data", &fmt).unwrap();
        let r = d
            .decode(&flat_record(11, 0x7000, b"rec-000017\nxxxx"), 80)
            .unwrap();
        assert_eq!(r.ret, 11);
        assert_eq!(r.bytes, b"rec-000017\n");
        let r = d
            .decode(&flat_record(500, 0x7000, &[b'a'; 80]), 80)
            .unwrap();
        assert_eq!(r.bytes.len(), 80);
        let r = d.decode(&flat_record(500, 0x7000, &[b'a'; 80]), 5).unwrap();
        assert_eq!(r.bytes, b"aaaaa");
        assert!(
            d.decode(&flat_record(-11, 0, b""), 80)
                .unwrap()
                .bytes
                .is_empty()
        );
        assert_eq!(d.decode(&flat_record(3, 0, b"abc")[..40], 80), None);
    }
}
