//! Decoding one probe event's records into values, driven by its format file.
//!
//! Installation knows, for each probe event it created, which fetch args it wrote
//! (names, kinds) and which system calls they stand for; the kernel's format file says
//! where each arg landed in the record. [`ProbeDecoder`] joins the two once, at start-up,
//! so a record is decoded by indexing. No I/O.
//!
//! A string fetch that faulted leaves an empty `__data_loc` payload (a real empty string
//! still has its NUL), so "absent" and "empty" stay distinct: a faulted fetch is no value.
//!
//! A post-syscall probe (see [`catalog::POST_FUNCTIONS`](super::catalog::POST_FUNCTIONS))
//! has no path slots: it carries the return value (`ret`) and either the array word
//! (`fds`, 8 bytes) or the call's I/O data (see [`io_data`](super::io_data)), read by
//! [`ProbeDecoder::decode_post`].

use super::catalog::ValueKind;
use super::io_data::DataDecoder;
use super::sockaddr::SockAddr;
use crate::tracefs::{EventFormat, Field, FieldKind};
use std::fmt;

/// Where a value came from, for `-v` counts and for marking output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A field the kernel's own tracepoint carries (`sched_process_exec` filename…).
    KernelField,
    /// An event probe on `syscalls:sys_enter_*`.
    Eprobe,
    /// A kprobe (e.g. on `getname_flags`).
    Kprobe,
    /// A uprobe on a C library function.
    Uprobe { func: &'static str },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::KernelField => f.write_str("kernel field"),
            Source::Eprobe => f.write_str("event probe"),
            Source::Kprobe => f.write_str("kprobe"),
            Source::Uprobe { func } => write!(f, "uprobe {func}"),
        }
    }
}

/// One fetched value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Path bytes, without the NUL.
    Path(Vec<u8>),
    /// A socket address in [`SockAddr::join`]'s layout; decode with [`SockAddr::decode`].
    SockAddr(Vec<u8>),
}

impl Value {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Value::Path(b) | Value::SockAddr(b) => b,
        }
    }

    pub fn sockaddr(&self) -> Option<SockAddr> {
        match self {
            Value::SockAddr(b) => SockAddr::decode(b),
            Value::Path(_) => None,
        }
    }
}

/// A system call a probe's values belong to, with the syscall argument index of each
/// value (`args[i]` for value `i`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub syscall: String,
    pub args: Vec<usize>,
}

/// The decoded values of one probe record, by value index (None: the fetch faulted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeHit {
    /// Index of the probe in the resolver's table.
    pub probe: usize,
    pub values: Vec<Option<Value>>,
}

/// How one value is laid out in the record.
#[derive(Clone, Debug)]
enum Slot {
    Path(Field),
    /// The argv strings, in order; the list ends at the first that faulted (the NULL).
    Argv(Vec<Field>),
    /// Four u64 fields (32 raw bytes) and the `sun_path` string.
    Sock(Box<([Field; 4], Field)>),
}

/// Reads one probe event's records.
#[derive(Clone, Debug)]
pub struct ProbeDecoder {
    pub source: Source,
    /// `group:event`, for messages.
    pub event: String,
    pub id: u32,
    slots: Vec<Slot>,
    pub bindings: Vec<Binding>,
    post: Option<PostFields>,
    /// The probe point's address modulo the page size, when its event may hold several
    /// points (see [`ProbeDecoder::at_point`]).
    pub point: Option<u16>,
    /// The `__probe_ip` field uprobe records carry (the address that was hit).
    ip: Option<Field>,
}

/// Which call a post-syscall probe's site makes, and the argument its array is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostSpec {
    pub syscall: &'static str,
    /// Syscall argument index of the array.
    pub arg: usize,
}

#[derive(Clone, Debug)]
struct PostFields {
    spec: PostSpec,
    what: PostValue,
}

/// What a post-syscall probe's record holds besides its result.
#[derive(Clone, Debug)]
enum PostValue {
    /// An `int[2]` (pipe, socketpair): the `fds` word and the `ret` field.
    FdPair { fds: Field, ret: Field },
    /// The call's I/O data, at most `limit` bytes of it.
    Data { decoder: DataDecoder, limit: usize },
}

/// Field names a post-syscall probe writes: the array word and the return value.
pub const POST_FDS: &str = "fds";
pub const POST_RET: &str = "ret";

/// One decoded post-syscall record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostRecord {
    pub spec: PostSpec,
    pub ret: i64,
    /// The array's 8 bytes as user memory held them (two native-endian i32), or the
    /// call's first data bytes (exact; at most `ret`).
    pub bytes: Vec<u8>,
}

/// The format lacks a field the probe definition wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderError {
    pub event: String,
    pub field: String,
}

impl fmt::Display for DecoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "probe event {}: format has no usable field '{}'",
            self.event, self.field
        )
    }
}

impl std::error::Error for DecoderError {}

/// Field names a value of `kind` named `name` occupies in the probe's format (the same
/// names installation writes in the definition).
pub fn field_names(name: &str, kind: ValueKind) -> Vec<String> {
    match kind {
        ValueKind::Path => vec![name.to_string()],
        ValueKind::Argv => (0..super::catalog::ARGV_MAX)
            .map(|i| format!("{name}_{i}"))
            .collect(),
        ValueKind::SockAddr => {
            let mut v: Vec<String> = (0..4).map(|i| format!("{name}_{i}")).collect();
            v.push(format!("{name}_un"));
            v
        }
    }
}

impl ProbeDecoder {
    /// Joins a probe's format with the values it fetches (`(name, kind)` in value order).
    pub fn new(
        event: &str,
        format: &EventFormat,
        source: Source,
        values: &[(&str, ValueKind)],
        bindings: Vec<Binding>,
    ) -> Result<ProbeDecoder, DecoderError> {
        let get = |n: &str, dynamic: bool| -> Result<Field, DecoderError> {
            match format.field(n) {
                Some(f)
                    if !dynamic
                        || matches!(f.kind, FieldKind::DataLoc { .. } | FieldKind::RelLoc) =>
                {
                    Ok(f.clone())
                }
                _ => Err(DecoderError {
                    event: event.to_string(),
                    field: n.to_string(),
                }),
            }
        };
        let mut slots = Vec::new();
        for &(name, kind) in values {
            slots.push(match kind {
                ValueKind::Path => Slot::Path(get(name, true)?),
                ValueKind::Argv => Slot::Argv(
                    field_names(name, kind)
                        .iter()
                        .map(|n| get(n, true))
                        .collect::<Result<_, _>>()?,
                ),
                ValueKind::SockAddr => Slot::Sock(Box::new((
                    [
                        get(&format!("{name}_0"), false)?,
                        get(&format!("{name}_1"), false)?,
                        get(&format!("{name}_2"), false)?,
                        get(&format!("{name}_3"), false)?,
                    ],
                    get(&format!("{name}_un"), true)?,
                ))),
            });
        }
        Ok(ProbeDecoder {
            source,
            event: event.to_string(),
            id: format.id,
            slots,
            bindings,
            post: None,
            point: None,
            ip: probe_ip(format),
        })
    }

    /// A post-syscall probe: its format must have an 8-byte `fds` and a `ret` field.
    pub fn new_post(
        event: &str,
        format: &EventFormat,
        source: Source,
        spec: PostSpec,
    ) -> Result<ProbeDecoder, DecoderError> {
        let get = |n: &str, size: Option<usize>| match format.field(n) {
            Some(f)
                if matches!(f.kind, FieldKind::Scalar)
                    && size.is_none_or(|s| f.size == s)
                    && f.size <= 8 =>
            {
                Ok(f.clone())
            }
            _ => Err(DecoderError {
                event: event.to_string(),
                field: n.to_string(),
            }),
        };
        Ok(ProbeDecoder {
            source,
            event: event.to_string(),
            id: format.id,
            slots: Vec::new(),
            bindings: Vec::new(),
            post: Some(PostFields {
                spec,
                what: PostValue::FdPair {
                    fds: get(POST_FDS, Some(8))?,
                    ret: get(POST_RET, None)?,
                },
            }),
            point: None,
            ip: probe_ip(format),
        })
    }

    /// A post-syscall probe that copies the I/O data of `spec.syscall` (its format as
    /// [`io_data::fetch_text`](super::io_data::fetch_text) wrote it), keeping at most
    /// `limit` bytes of each call's data.
    pub fn new_data(
        event: &str,
        format: &EventFormat,
        source: Source,
        spec: PostSpec,
        limit: usize,
    ) -> Result<ProbeDecoder, DecoderError> {
        Ok(ProbeDecoder {
            source,
            event: event.to_string(),
            id: format.id,
            slots: Vec::new(),
            bindings: Vec::new(),
            post: Some(PostFields {
                spec,
                what: PostValue::Data {
                    decoder: DataDecoder::new(event, format)?,
                    limit,
                },
            }),
            point: None,
            ip: probe_ip(format),
        })
    }

    /// This decoder is for the probe point at file offset `offset` of an event that may
    /// hold several points (appended definitions): its records are told from the other
    /// points' by the hit address's offset in its page, which equals the file offset's
    /// (ELF maps segments at page-aligned bias, `p_vaddr ≡ p_offset` modulo the page).
    pub fn at_point(mut self, offset: u64) -> ProbeDecoder {
        self.point = Some(page_offset(offset));
        self
    }

    /// The page offset of the address a record was hit at (None: no `__probe_ip`).
    pub fn hit_point(&self, raw: &[u8]) -> Option<u16> {
        Some(page_offset(self.ip.as_ref()?.u64(raw)?))
    }

    /// The call a post-syscall probe belongs to (None: an ordinary probe).
    pub fn post_spec(&self) -> Option<PostSpec> {
        self.post.as_ref().map(|p| p.spec)
    }

    /// Whether this is a post-syscall probe that copies I/O data.
    pub fn is_data(&self) -> bool {
        matches!(
            self.post,
            Some(PostFields {
                what: PostValue::Data { .. },
                ..
            })
        )
    }

    /// A post-syscall record (None: not a post probe, or the record is too short).
    pub fn decode_post(&self, raw: &[u8]) -> Option<PostRecord> {
        let p = self.post.as_ref()?;
        let (ret, bytes) = match &p.what {
            PostValue::FdPair { fds, ret } => {
                let b = fds.bytes(raw)?;
                (ret.i64(raw)?, b.get(..8)?.to_vec())
            }
            PostValue::Data { decoder, limit } => {
                let r = decoder.decode(raw, *limit)?;
                (r.ret, r.bytes)
            }
        };
        Some(PostRecord {
            spec: p.spec,
            ret,
            bytes,
        })
    }

    /// The values of one record (`raw` as PERF_SAMPLE_RAW gives it).
    pub fn decode(&self, raw: &[u8]) -> Vec<Option<Value>> {
        self.slots.iter().map(|s| read_slot(s, raw)).collect()
    }

    /// The syscall argument index of value `i` when the thread enters `syscall`.
    pub fn arg_for(&self, syscall: &str, i: usize) -> Option<usize> {
        self.bindings
            .iter()
            .find(|b| b.syscall == syscall)
            .and_then(|b| b.args.get(i).copied())
    }
}

/// The size of the smallest page an ELF segment can be mapped at: the offsets in a page of
/// a probe point's file offset and of its address in the process are the same.
const PAGE: u64 = 4096;

/// `at` modulo [`PAGE`].
pub fn page_offset(at: u64) -> u16 {
    (at % PAGE) as u16
}

fn probe_ip(format: &EventFormat) -> Option<Field> {
    format.field("__probe_ip").filter(|f| f.size == 8).cloned()
}

/// A string payload: None when empty (the fetch faulted), else cut at the first NUL.
fn string(f: &Field, raw: &[u8]) -> Option<Vec<u8>> {
    let b = f.bytes(raw)?;
    if b.is_empty() {
        return None;
    }
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Some(b[..end].to_vec())
}

fn read_slot(s: &Slot, raw: &[u8]) -> Option<Value> {
    match s {
        Slot::Path(f) => string(f, raw).map(Value::Path),
        Slot::Argv(fields) => {
            let mut joined = Vec::new();
            for f in fields {
                let Some(arg) = string(f, raw) else { break };
                joined.extend_from_slice(&arg);
                joined.push(0);
            }
            (!joined.is_empty()).then_some(Value::Path(joined))
        }
        Slot::Sock(b) => {
            let (words, un) = &**b;
            let mut b = Vec::with_capacity(32);
            for w in words {
                b.extend_from_slice(&w.u64(raw)?.to_le_bytes());
            }
            let sun = string(un, raw).unwrap_or_default();
            Some(Value::SockAddr(SockAddr::join(&b, &sun)))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The uprobe format this kernel (6.18) wrote for `path=+0(%di):ustring`.
    pub(crate) const OPEN_FORMAT: &str = "name: open64_0\nID: 2326\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\
\n\
\tfield:unsigned long __probe_ip;\toffset:8;\tsize:8;\tsigned:0;\n\
\tfield:__data_loc char[] path;\toffset:16;\tsize:4;\tsigned:1;\n\
\n\
print fmt: \"(%lx) path=\\\"%s\\\"\", REC->__probe_ip, __get_str(path)\n";

    /// A record of OPEN_FORMAT with `path` as payload (NUL added).
    pub(crate) fn open_record(path: &[u8]) -> Vec<u8> {
        let mut r = vec![0u8; 20];
        r[0..2].copy_from_slice(&2326u16.to_le_bytes());
        let len = (path.len() + 1) as u32;
        r[16..20].copy_from_slice(&((len << 16) | 20).to_le_bytes());
        r.extend_from_slice(path);
        r.push(0);
        r
    }

    /// The uprobe format this kernel (6.18) wrote for `fds=+0(%di):u64 ret=%ax:s64`.
    pub(crate) const POST_FORMAT: &str = "name: pipe2_post0_0\nID: 2400\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\
\n\
\tfield:unsigned long __probe_ip;\toffset:8;\tsize:8;\tsigned:0;\n\
\tfield:u64 fds;\toffset:16;\tsize:8;\tsigned:0;\n\
\tfield:s64 ret;\toffset:24;\tsize:8;\tsigned:1;\n\
\n\
print fmt: \"(%lx) fds=0x%Lx ret=%Ld\", REC->__probe_ip, REC->fds, REC->ret\n";

    /// A record of POST_FORMAT (`id` as common_type).
    pub(crate) fn post_record(id: u16, fd0: i32, fd1: i32, ret: i64) -> Vec<u8> {
        let mut r = vec![0u8; 32];
        r[0..2].copy_from_slice(&id.to_le_bytes());
        r[16..20].copy_from_slice(&fd0.to_ne_bytes());
        r[20..24].copy_from_slice(&fd1.to_ne_bytes());
        r[24..32].copy_from_slice(&ret.to_le_bytes());
        r
    }

    #[test]
    fn decodes_a_post_record() {
        let fmt = EventFormat::parse(POST_FORMAT).unwrap();
        let spec = PostSpec {
            syscall: "pipe2",
            arg: 0,
        };
        let d = ProbeDecoder::new_post(
            "g:pipe2_post0_0",
            &fmt,
            Source::Uprobe { func: "pipe2" },
            spec,
        )
        .unwrap();
        assert_eq!(d.id, 2400);
        assert_eq!(d.post_spec(), Some(spec));
        let r = d.decode_post(&post_record(2400, 5, 6, 0)).unwrap();
        assert_eq!(r.ret, 0);
        assert_eq!(&r.bytes[..4], &5i32.to_ne_bytes());
        assert_eq!(&r.bytes[4..], &6i32.to_ne_bytes());
        assert_eq!(
            d.decode_post(&post_record(2400, 0, 0, -24)).unwrap().ret,
            -24
        );
        assert_eq!(d.decode_post(&post_record(2400, 5, 6, 0)[..28]), None);
        // An ordinary decoder has no post part; a format without `fds` is refused.
        let open = EventFormat::parse(OPEN_FORMAT).unwrap();
        assert!(ProbeDecoder::new_post("x", &open, Source::Eprobe, spec).is_err());
        let od = ProbeDecoder::new("x", &open, Source::Eprobe, &[], vec![]).unwrap();
        assert_eq!(od.post_spec(), None);
        assert_eq!(od.decode_post(&post_record(2400, 5, 6, 0)), None);
    }

    #[test]
    fn decodes_a_path_and_tells_fault_from_empty() {
        let fmt = EventFormat::parse(OPEN_FORMAT).unwrap();
        let d = ProbeDecoder::new(
            "tpdig_1:open64_0",
            &fmt,
            Source::Uprobe { func: "open64" },
            &[("path", ValueKind::Path)],
            vec![Binding {
                syscall: "openat".into(),
                args: vec![1],
            }],
        )
        .unwrap();
        assert_eq!(
            d.decode(&open_record(b"/etc/hostname")),
            vec![Some(Value::Path(b"/etc/hostname".to_vec()))]
        );
        assert_eq!(d.decode(&open_record(b"")), vec![Some(Value::Path(vec![]))]);
        let mut faulted = open_record(b"");
        faulted[16..20].copy_from_slice(&20u32.to_le_bytes());
        assert_eq!(d.decode(&faulted[..20]), vec![None]);
        assert_eq!(d.decode(&[1, 2, 3]), vec![None]);
        assert_eq!(d.arg_for("openat", 0), Some(1));
        assert_eq!(d.arg_for("open", 0), None);
        let e = ProbeDecoder::new(
            "x",
            &fmt,
            Source::Eprobe,
            &[("nope", ValueKind::Path)],
            vec![],
        )
        .unwrap_err();
        assert_eq!(e.field, "nope");
    }
}
