//! Primitive encodings shared by every block payload: little-endian integers, LEB128
//! varints, length-prefixed byte strings, and the tagged-field records used by the /proc
//! snapshot tables.
//!
//! Decoding goes through [`Cur`], a cursor over a byte slice that returns a [`WireError`]
//! (with the payload position) instead of panicking on short or malformed input; the fuzz
//! target relies on that.

use std::fmt;

/// A payload that does not decode: position within the (uncompressed) payload and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError {
    pub pos: usize,
    pub msg: String,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "payload byte {}: {}", self.pos, self.msg)
    }
}

pub type WireResult<T> = Result<T, WireError>;

/// Read cursor over a payload.
#[derive(Clone, Debug)]
pub struct Cur<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Cur<'a> {
    pub fn new(buf: &'a [u8]) -> Cur<'a> {
        Cur { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn err<T>(&self, msg: impl Into<String>) -> WireResult<T> {
        Err(WireError {
            pos: self.pos,
            msg: msg.into(),
        })
    }

    #[inline]
    pub fn bytes(&mut self, n: usize) -> WireResult<&'a [u8]> {
        match self.buf.get(self.pos..).and_then(|r| r.get(..n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => self.err(format!(
                "needs {n} bytes, {} left",
                self.buf.len().saturating_sub(self.pos)
            )),
        }
    }

    pub fn u8(&mut self) -> WireResult<u8> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u16(&mut self) -> WireResult<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> WireResult<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> WireResult<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Unsigned LEB128, at most 10 bytes.
    #[inline]
    pub fn varint(&mut self) -> WireResult<u64> {
        // Fast path: one byte.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(b as u64);
        }
        let start = self.pos;
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                self.pos = start;
                return self.err("varint runs past the end");
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                self.pos = start;
                return self.err("varint overflows 64 bits");
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                self.pos = start;
                return self.err("varint longer than 10 bytes");
            }
        }
    }

    /// Varint that must fit `u32`.
    pub fn varint32(&mut self) -> WireResult<u32> {
        let p = self.pos;
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| WireError {
            pos: p,
            msg: format!("{v} does not fit 32 bits"),
        })
    }

    /// Varint length, checked against the bytes that remain.
    pub fn len(&mut self) -> WireResult<usize> {
        let p = self.pos;
        let v = self.varint()?;
        let left = self.buf.len().saturating_sub(self.pos);
        if v > left as u64 {
            return Err(WireError {
                pos: p,
                msg: format!("length {v} exceeds the {left} bytes left"),
            });
        }
        Ok(v as usize)
    }

    /// Varint-length-prefixed bytes.
    pub fn blob(&mut self) -> WireResult<&'a [u8]> {
        let n = self.len()?;
        self.bytes(n)
    }

    /// Varint-length-prefixed UTF-8 text.
    pub fn str(&mut self) -> WireResult<String> {
        let p = self.pos;
        let b = self.blob()?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => Err(WireError {
                pos: p,
                msg: format!("text is not UTF-8 ({e})"),
            }),
        }
    }

    /// A count of entries, each taking at least `min_size` bytes (guards allocation).
    pub fn count(&mut self, min_size: usize) -> WireResult<usize> {
        let p = self.pos;
        let v = self.varint()?;
        let left = self.buf.len().saturating_sub(self.pos) as u64;
        if v.saturating_mul(min_size.max(1) as u64) > left {
            return Err(WireError {
                pos: p,
                msg: format!("count {v} cannot fit in {left} bytes"),
            });
        }
        Ok(v as usize)
    }
}

pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_blob(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_blob(out, s.as_bytes());
}

#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Builder for one tagged record: a sequence of `(tag varint, length varint, value)` fields.
/// Readers skip tags they do not know, so fields can be added without a version bump.
#[derive(Default)]
pub struct TaggedOut {
    pub buf: Vec<u8>,
}

impl TaggedOut {
    pub fn uint(&mut self, tag: u64, v: u64) {
        let mut tmp = Vec::with_capacity(10);
        put_varint(&mut tmp, v);
        self.bytes(tag, &tmp);
    }

    pub fn bytes(&mut self, tag: u64, v: &[u8]) {
        put_varint(&mut self.buf, tag);
        put_blob(&mut self.buf, v);
    }
}

/// Iterates the fields of one tagged record.
pub struct TaggedIn<'a> {
    cur: Cur<'a>,
    base: usize,
}

impl<'a> TaggedIn<'a> {
    pub fn new(record: &'a [u8], base: usize) -> TaggedIn<'a> {
        TaggedIn {
            cur: Cur::new(record),
            base,
        }
    }

    /// Next `(tag, value)`; `Ok(None)` at the end of the record.
    pub fn next_field(&mut self) -> WireResult<Option<(u64, &'a [u8])>> {
        if self.cur.is_empty() {
            return Ok(None);
        }
        let r = (|| {
            let tag = self.cur.varint()?;
            let v = self.cur.blob()?;
            Ok((tag, v))
        })();
        r.map(Some).map_err(|e: WireError| WireError {
            pos: e.pos + self.base,
            msg: e.msg,
        })
    }

    /// Decodes a varint field value.
    pub fn uint(&self, v: &[u8]) -> WireResult<u64> {
        let mut c = Cur::new(v);
        let n = c.varint().map_err(|e| WireError {
            pos: self.base,
            msg: e.msg,
        })?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_limits() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut c = Cur::new(&b);
            assert_eq!(c.varint().unwrap(), v);
            assert!(c.is_empty());
        }
        assert!(Cur::new(&[0x80, 0x80]).varint().is_err());
        assert!(Cur::new(&[0xff; 11]).varint().is_err());
        assert!(
            Cur::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
    }

    #[test]
    fn zigzag_round_trip() {
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -12345] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn short_input_is_an_error_with_position() {
        let mut c = Cur::new(&[5, b'a', b'b']);
        let e = c.blob().unwrap_err();
        assert_eq!(e.pos, 0);
        assert!(e.msg.contains("exceeds"), "{}", e.msg);
    }
}
