//! The block framing of a .scap file: `u32 type, u32 total length, body, u32 total length`.
//!
//! The file starts with a section header block (byte-order magic, version); every block is
//! padded to 4 bytes and repeats its length after the body, which is checked. Blocks are
//! returned with their offset so every later error can name its place.

use super::ScapError;

pub const SHB_TYPE: u32 = 0x0A0D_0D0A;
const SHB_MAGIC: u32 = 0x1A2B_3C4D;
/// The major version sysdig writes and reads.
pub const MAJOR: u16 = 1;

/// One block: its type, where it starts, and its body (between length and trailer).
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    pub offset: usize,
    pub kind: u32,
    pub body: &'a [u8],
}

impl Block<'_> {
    /// Offset of byte `i` of the body in the file.
    pub fn at(&self, i: usize) -> usize {
        self.offset + 8 + i
    }
}

pub struct Blocks<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
    pub version: (u16, u16),
}

pub(crate) fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

impl<'a> Blocks<'a> {
    /// Checks the section header and stands after it.
    pub fn open(data: &'a [u8]) -> Result<Blocks<'a>, ScapError> {
        if u32_at(data, 0) != Some(SHB_TYPE) {
            return Err(ScapError::at(
                0,
                "not a sysdig capture: no section header block (0x0A0D0D0A) at byte 0",
            ));
        }
        let mut b = Blocks {
            data,
            pos: 0,
            failed: false,
            version: (0, 0),
        };
        let shb = b.frame()?;
        let magic =
            u32_at(shb.body, 0).ok_or_else(|| ScapError::at(8, "section header too short"))?;
        if magic == SHB_MAGIC.swap_bytes() {
            return Err(ScapError::at(
                8,
                "big-endian sysdig captures are not supported",
            ));
        }
        if magic != SHB_MAGIC {
            return Err(ScapError::at(
                8,
                format!("section header byte-order magic is {magic:#x}, expected 0x1a2b3c4d"),
            ));
        }
        let v = |i: usize| u16::from_le_bytes([shb.body[i], shb.body[i + 1]]);
        if shb.body.len() < 8 {
            return Err(ScapError::at(12, "section header too short"));
        }
        b.version = (v(4), v(6));
        if b.version.0 > MAJOR {
            return Err(ScapError::at(
                12,
                format!(
                    "capture format version {}.{} is newer than this reader (major {MAJOR})",
                    b.version.0, b.version.1
                ),
            ));
        }
        Ok(b)
    }

    /// Bytes of the file read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn frame(&mut self) -> Result<Block<'a>, ScapError> {
        let at = self.pos;
        let rest = self.data.len() - at;
        let (Some(kind), Some(len)) = (u32_at(self.data, at), u32_at(self.data, at + 4)) else {
            return Err(ScapError::at(
                at,
                format!("capture truncated: {rest} bytes left where a block header (8) starts"),
            ));
        };
        let len = len as usize;
        if len < 12 {
            return Err(ScapError::at(
                at + 4,
                format!(
                    "block of type {kind:#x} has length {len}, less than its 12 bytes of framing"
                ),
            ));
        }
        if len > rest {
            return Err(ScapError::at(
                at,
                format!(
                    "capture truncated: block of type {kind:#x} is {len} bytes but only {rest} remain"
                ),
            ));
        }
        let trailer = u32_at(self.data, at + len - 4).unwrap_or(0) as usize;
        if trailer != len {
            return Err(ScapError::at(
                at + len - 4,
                format!(
                    "block of type {kind:#x} at byte {at}: length {len} does not match its trailer {trailer}"
                ),
            ));
        }
        self.pos = at + len;
        Ok(Block {
            offset: at,
            kind,
            body: &self.data[at + 8..at + len - 4],
        })
    }
}

impl<'a> Iterator for Blocks<'a> {
    type Item = Result<Block<'a>, ScapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let r = self.frame();
        self.failed = r.is_err();
        Some(r)
    }
}

/// A little-endian cursor over one block's body that names the offset when it runs out.
pub struct Rd<'a> {
    pub b: &'a [u8],
    pub pos: usize,
    /// File offset of `b[0]`.
    pub base: usize,
}

impl<'a> Rd<'a> {
    pub fn new(b: &'a [u8], base: usize) -> Rd<'a> {
        Rd { b, pos: 0, base }
    }

    pub fn left(&self) -> usize {
        self.b.len() - self.pos
    }

    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], ScapError> {
        if n > self.left() {
            return Err(ScapError::at(
                self.offset(),
                format!(
                    "{what} needs {n} bytes but its block has {} left",
                    self.left()
                ),
            ));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, ScapError> {
        Ok(self.bytes(1, what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> Result<u16, ScapError> {
        Ok(u16::from_le_bytes(
            self.bytes(2, what)?.try_into().expect("2 bytes"),
        ))
    }
    pub fn u32(&mut self, what: &str) -> Result<u32, ScapError> {
        Ok(u32::from_le_bytes(
            self.bytes(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    pub fn u64(&mut self, what: &str) -> Result<u64, ScapError> {
        Ok(u64::from_le_bytes(
            self.bytes(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    /// A `u16` length then that many bytes (sysdig's strings are not NUL-terminated on file).
    pub fn str16(&mut self, what: &str) -> Result<&'a [u8], ScapError> {
        let n = self.u16(what)?;
        self.bytes(usize::from(n), what)
    }
}
