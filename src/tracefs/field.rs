//! One field of a tracepoint record: where it sits, what C type the kernel declared, and
//! how to read it out of a raw record.
//!
//! The readers take the record exactly as `PERF_SAMPLE_RAW` delivers it (starting with
//! `common_type`) and return `Option`: a record that is too short, a location word that
//! points outside the record, or a reader that does not fit the field's kind gives `None`,
//! never a panic. Records come from the kernel, but also from capture files written on other
//! machines, so nothing about their length is trusted.
//!
//! Values are read little-endian: every architecture tpdig targets is little-endian, and a
//! capture file records the byte order of the machine it came from for whoever needs it.

/// How a field's bytes are laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// An integer of 1, 2, 4 or 8 bytes (other sizes are opaque structs).
    Scalar,
    /// A pointer, read as an unsigned integer of the field's size.
    Pointer,
    /// A fixed array stored inline. `len` comes from the declaration when it is a number,
    /// else (a macro such as `TASK_COMM_LEN`) from `size / elem_size`.
    Array { len: usize, elem_size: usize },
    /// `__data_loc`: the payload lives after the fixed part of the record. Width 4: a u32
    /// `(len << 16) | offset` with `offset` from the record start. Width 2 (the first
    /// kernels with dynamic strings): a u16 offset, payload NUL-terminated.
    DataLoc { width: u8 },
    /// `__rel_loc`: like a 4-byte `__data_loc`, but the offset counts from the end of the
    /// field itself (`field.offset + field.size`).
    RelLoc,
}

/// A field as declared in a `format` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The C type as written, with any array suffix: `const char *`, `unsigned long`,
    /// `char[16]`, `__data_loc char[]`.
    pub type_text: String,
    pub offset: usize,
    pub size: usize,
    /// `signed:` as the file said it; `None` on kernels that predate the key.
    pub signed: Option<bool>,
    pub kind: FieldKind,
}

impl Field {
    /// Signedness: the file's `signed:` when present, else inferred from the type.
    pub fn is_signed(&self) -> bool {
        self.signed.unwrap_or_else(|| infer_signed(&self.type_text))
    }

    /// The field's bytes inside the fixed part of the record.
    fn own_bytes<'a>(&self, raw: &'a [u8]) -> Option<&'a [u8]> {
        slice(raw, self.offset, self.size)
    }

    /// An integer field (scalar or pointer), zero-extended. `None` for arrays, dynamic
    /// fields, sizes other than 1/2/4/8, or a short record.
    pub fn u64(&self, raw: &[u8]) -> Option<u64> {
        match self.kind {
            FieldKind::Scalar | FieldKind::Pointer => read_uint(raw, self.offset, self.size),
            _ => None,
        }
    }

    /// An integer field, sign-extended from its size when it is signed. Unsigned 8-byte
    /// values above `i64::MAX` come back wrapped (as C would cast them).
    pub fn i64(&self, raw: &[u8]) -> Option<i64> {
        let v = self.u64(raw)?;
        Some(if self.is_signed() {
            sign_extend(v, self.size)
        } else {
            v as i64
        })
    }

    /// The bytes a field stands for: an array's inline bytes, a `__data_loc` or
    /// `__rel_loc` payload (2-byte data_loc: up to the NUL or the end of the record),
    /// a scalar's own bytes.
    pub fn bytes<'a>(&self, raw: &'a [u8]) -> Option<&'a [u8]> {
        match self.kind {
            FieldKind::Scalar | FieldKind::Pointer | FieldKind::Array { .. } => self.own_bytes(raw),
            FieldKind::DataLoc { width: 2 } => {
                let off = read_uint(raw, self.offset, 2)? as usize;
                let tail = raw.get(off..)?;
                let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
                Some(&tail[..end])
            }
            FieldKind::DataLoc { .. } => {
                let word = read_uint(raw, self.offset, 4)?;
                let (off, len) = ((word & 0xffff) as usize, (word >> 16) as usize);
                slice(raw, off, len)
            }
            FieldKind::RelLoc => {
                let word = read_uint(raw, self.offset, 4)?;
                let base = self.offset.checked_add(self.size)?;
                let off = base.checked_add((word & 0xffff) as usize)?;
                slice(raw, off, (word >> 16) as usize)
            }
        }
    }

    /// Like [`Field::bytes`], cut at the first NUL: C strings in arrays and dynamic fields.
    pub fn str_bytes<'a>(&self, raw: &'a [u8]) -> Option<&'a [u8]> {
        let b = self.bytes(raw)?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Some(&b[..end])
    }

    /// Element `i` of an inline array of 1/2/4/8-byte integers, zero-extended.
    pub fn array_u64(&self, raw: &[u8], i: usize) -> Option<u64> {
        let FieldKind::Array { len, elem_size } = self.kind else {
            return None;
        };
        if i >= len {
            return None;
        }
        let at = self.offset.checked_add(i.checked_mul(elem_size)?)?;
        // An element must lie inside the field as declared, not just inside the record.
        if at.checked_add(elem_size)? > self.offset.checked_add(self.size)? {
            return None;
        }
        read_uint(raw, at, elem_size)
    }
}

fn slice(raw: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    raw.get(off..off.checked_add(len)?)
}

fn read_uint(raw: &[u8], off: usize, size: usize) -> Option<u64> {
    let b = slice(raw, off, size)?;
    Some(match size {
        1 => b[0] as u64,
        2 => u16::from_le_bytes([b[0], b[1]]) as u64,
        4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
        8 => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        _ => return None,
    })
}

fn sign_extend(v: u64, size: usize) -> i64 {
    match size {
        1..=7 => {
            let shift = 64 - 8 * size as u32;
            ((v << shift) as i64) >> shift
        }
        _ => v as i64,
    }
}

/// Removes every `__attribute__((...))` from a type: `__user` expands to one on kernels
/// built with BTF type tags, and it changes nothing about the layout.
pub(crate) fn strip_attributes(ty: &str) -> String {
    let mut out = String::with_capacity(ty.len());
    let mut rest = ty;
    while let Some(at) = rest.find("__attribute__") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "__attribute__".len()..];
        let trimmed = after.trim_start();
        if !trimmed.starts_with('(') {
            rest = after;
            continue;
        }
        let mut depth = 0usize;
        let mut end = trimmed.len();
        for (i, c) in trimmed.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &trimmed[end..];
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The type's words without qualifiers, attributes or array suffixes.
pub(crate) fn base_words(ty: &str) -> Vec<String> {
    let clean = strip_attributes(ty);
    let no_dims = clean.split('[').next().unwrap_or("");
    no_dims
        .replace('*', " * ")
        .split_whitespace()
        .filter(|w| !matches!(*w, "const" | "volatile" | "struct" | "enum" | "union"))
        .map(str::to_string)
        .collect()
}

/// Signedness of a C type, for kernels whose format files have no `signed:` key.
pub(crate) fn infer_signed(ty: &str) -> bool {
    let words = base_words(ty);
    if words.iter().any(|w| w == "*" || w == "unsigned") {
        return false;
    }
    if words.iter().any(|w| w == "signed") {
        return true;
    }
    let Some(last) = words.last() else {
        return false;
    };
    matches!(
        last.as_str(),
        "char"
            | "short"
            | "int"
            | "long"
            | "s8"
            | "s16"
            | "s32"
            | "s64"
            | "__s8"
            | "__s16"
            | "__s32"
            | "__s64"
            | "int8_t"
            | "int16_t"
            | "int32_t"
            | "int64_t"
            | "pid_t"
            | "ssize_t"
            | "loff_t"
            | "off_t"
            | "time_t"
            | "clock_t"
    )
}

/// Size of one element of a C type when it is known without the kernel's help (used
/// for arrays whose length is a macro). `long` is taken as `long_size`.
pub(crate) fn known_elem_size(ty: &str, long_size: usize) -> Option<usize> {
    let words = base_words(ty);
    if words.iter().any(|w| w == "*") {
        return Some(long_size);
    }
    let joined = words.join(" ");
    let base = joined
        .trim_start_matches("unsigned ")
        .trim_start_matches("signed ");
    Some(match base {
        "char" | "u8" | "s8" | "__u8" | "__s8" | "bool" | "_Bool" | "uint8_t" | "int8_t" => 1,
        "short" | "short int" | "u16" | "s16" | "__u16" | "__s16" | "uint16_t" | "int16_t" => 2,
        "int" | "u32" | "s32" | "__u32" | "__s32" | "uint32_t" | "int32_t" | "pid_t" => 4,
        "long long" | "u64" | "s64" | "__u64" | "__s64" | "uint64_t" | "int64_t" => 8,
        "long" | "long int" => long_size,
        "unsigned" | "signed" => 4,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: FieldKind, ty: &str, offset: usize, size: usize, signed: Option<bool>) -> Field {
        Field {
            name: "f".into(),
            type_text: ty.into(),
            offset,
            size,
            signed,
            kind,
        }
    }

    #[test]
    fn scalar_reads_little_endian_and_sign_extends() {
        let raw = [0u8, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff];
        let f = field(FieldKind::Scalar, "long", 4, 4, Some(true));
        assert_eq!(f.u64(&raw), Some(0xffff_fffe));
        assert_eq!(f.i64(&raw), Some(-2));
        let u = field(FieldKind::Scalar, "unsigned long", 4, 4, Some(false));
        assert_eq!(u.i64(&raw), Some(0xffff_fffe));
        // Missing `signed:` falls back to the type.
        let inferred = field(FieldKind::Scalar, "long", 4, 4, None);
        assert_eq!(inferred.i64(&raw), Some(-2));
        let two = field(FieldKind::Scalar, "short", 4, 2, Some(true));
        assert_eq!(two.i64(&raw), Some(-2));
        let one = field(FieldKind::Scalar, "s8", 4, 1, Some(true));
        assert_eq!(one.i64(&raw), Some(-2));
    }

    #[test]
    fn short_record_is_none_not_panic() {
        let f = field(FieldKind::Scalar, "long", 4, 8, Some(true));
        assert_eq!(f.u64(&[0; 11]), None);
        assert_eq!(f.u64(&[0; 12]), Some(0));
        let huge = field(FieldKind::Scalar, "long", usize::MAX - 2, 8, Some(true));
        assert_eq!(huge.u64(&[0; 16]), None);
        assert_eq!(huge.bytes(&[0; 16]), None);
        let odd = field(FieldKind::Scalar, "struct x", 0, 3, None);
        assert_eq!(odd.u64(&[0; 16]), None);
        assert_eq!(odd.bytes(&[1; 16]), Some(&[1u8, 1, 1][..]));
    }

    #[test]
    fn data_loc_four_bytes() {
        let mut raw = vec![0u8; 12];
        raw[8..12].copy_from_slice(&((4u32 << 16) | 12).to_le_bytes());
        raw.extend_from_slice(b"abc\0");
        let f = field(
            FieldKind::DataLoc { width: 4 },
            "__data_loc char[]",
            8,
            4,
            Some(false),
        );
        assert_eq!(f.bytes(&raw), Some(&b"abc\0"[..]));
        assert_eq!(f.str_bytes(&raw), Some(&b"abc"[..]));
        // A length running past the record.
        raw[10] = 9;
        assert_eq!(f.bytes(&raw), None);
        assert_eq!(f.u64(&raw), None);
    }

    #[test]
    fn data_loc_two_bytes_is_nul_terminated() {
        let mut raw = vec![0u8; 14];
        raw[12..14].copy_from_slice(&14u16.to_le_bytes());
        raw.extend_from_slice(b"eth0\0pad");
        let f = field(FieldKind::DataLoc { width: 2 }, "__data_loc", 12, 2, None);
        assert_eq!(f.bytes(&raw), Some(&b"eth0"[..]));
        assert_eq!(f.str_bytes(&raw), Some(&b"eth0"[..]));
        // No NUL: up to the end of the record.
        let cut = &raw[..16];
        assert_eq!(f.str_bytes(cut), Some(&b"et"[..]));
        raw[12] = 200;
        assert_eq!(f.bytes(&raw), None);
    }

    #[test]
    fn rel_loc_counts_from_end_of_field() {
        // rel_loc at 8..12; payload 4 bytes after the field end, at 16.
        let mut raw = vec![0u8; 16];
        raw[8..12].copy_from_slice(&((3u32 << 16) | 4).to_le_bytes());
        raw[12..16].copy_from_slice(&7i32.to_le_bytes());
        raw.extend_from_slice(b"hi\0");
        let f = field(FieldKind::RelLoc, "__rel_loc char[]", 8, 4, Some(true));
        assert_eq!(f.bytes(&raw), Some(&b"hi\0"[..]));
        assert_eq!(f.str_bytes(&raw), Some(&b"hi"[..]));
    }

    #[test]
    fn arrays() {
        let mut raw = vec![0u8; 12];
        for i in 0..6u32 {
            raw.extend_from_slice(&(100 + i).to_le_bytes());
        }
        let f = field(
            FieldKind::Array {
                len: 6,
                elem_size: 4,
            },
            "unsigned long[6]",
            12,
            24,
            Some(false),
        );
        assert_eq!(f.array_u64(&raw, 0), Some(100));
        assert_eq!(f.array_u64(&raw, 5), Some(105));
        assert_eq!(f.array_u64(&raw, 6), None);
        assert_eq!(f.array_u64(&raw[..30], 5), None);
        assert_eq!(f.u64(&raw), None);
        assert_eq!(f.bytes(&raw).map(<[u8]>::len), Some(24));
        let comm = field(
            FieldKind::Array {
                len: 16,
                elem_size: 1,
            },
            "char[16]",
            0,
            16,
            None,
        );
        let mut rec = b"bash\0garbage....".to_vec();
        assert_eq!(comm.str_bytes(&rec), Some(&b"bash"[..]));
        rec.truncate(15);
        assert_eq!(comm.str_bytes(&rec), None);
    }

    #[test]
    fn type_helpers() {
        assert!(infer_signed("int"));
        assert!(infer_signed("pid_t"));
        assert!(infer_signed("long long"));
        assert!(!infer_signed("unsigned long"));
        assert!(!infer_signed("const char *"));
        assert!(!infer_signed("struct sched_param *"));
        assert!(!infer_signed("u64"));
        assert!(!infer_signed("size_t"));
        assert_eq!(
            strip_attributes("const char __attribute__((btf_type_tag(\"user\"))) *"),
            "const char *"
        );
        assert_eq!(
            strip_attributes("__attribute__((user)) const char *"),
            "const char *"
        );
        assert_eq!(known_elem_size("char", 8), Some(1));
        assert_eq!(known_elem_size("unsigned long", 4), Some(4));
        assert_eq!(known_elem_size("const struct foo", 8), None);
    }
}
