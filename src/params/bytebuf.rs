//! How I/O data (a BYTEBUF parameter, `evt.buffer`) is written out: sysdig's print formats.
//!
//! - normal: printable ASCII as is, every other byte as `.`; on the text line cut to
//!   [`DataRendering::max_len`] characters, the last three replaced by `...`;
//! - `-A` (ASCII): a newline first, then the printable bytes and line ends (a `\r` becomes
//!   a newline, a `\n` right after it or at the very start is dropped), nothing else;
//! - `-x` (hex): rows of 16 bytes, `\n\t0x0010:` then ` 3e00` per byte pair, a newline
//!   after the last row; `-X` adds the row's bytes as text after two spaces;
//! - `-b`: standard base64 with `=` padding.
//!
//! No I/O.

/// sysdig's formats for data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BufferFormat {
    #[default]
    Normal,
    /// `-A`
    Ascii,
    /// `-x`
    Hex,
    /// `-X`
    HexAscii,
    /// `-b`
    Base64,
}

/// What a run does with I/O data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataRendering {
    pub format: BufferFormat,
    /// Bytes of a call's data kept (`-s`).
    pub snaplen: usize,
    /// The longest normal-format rendering on a text line (0: no limit, as with `-v` or
    /// in JSON).
    pub max_len: usize,
    /// Data is being copied (live) or was stored (capture): a call that moved no bytes
    /// then shows empty data, not a missing value.
    pub captured: bool,
}

impl Default for DataRendering {
    fn default() -> Self {
        DataRendering {
            format: BufferFormat::Normal,
            snaplen: DEFAULT_SNAPLEN,
            max_len: DEFAULT_MAX_LEN,
            captured: false,
        }
    }
}

/// sysdig's default `-s`.
pub const DEFAULT_SNAPLEN: usize = 80;
/// sysdig's longest data rendering on a text line.
pub const DEFAULT_MAX_LEN: usize = 80;

fn printable(c: u8) -> bool {
    (0x20..0x7f).contains(&c)
}

/// Appends `b` in `format`; a normal rendering longer than `max_len` (when not 0) is cut.
pub fn write_buffer(b: &[u8], format: BufferFormat, max_len: usize, out: &mut String) {
    match format {
        BufferFormat::Normal => {
            let cut = max_len != 0 && b.len() > max_len;
            let shown = if cut {
                &b[..max_len.saturating_sub(3)]
            } else {
                b
            };
            out.extend(
                shown
                    .iter()
                    .map(|&c| if printable(c) { c as char } else { '.' }),
            );
            if cut {
                out.push_str("...");
            }
        }
        BufferFormat::Ascii => write_ascii(b, out),
        BufferFormat::Hex => write_hex(b, false, out),
        BufferFormat::HexAscii => write_hex(b, true, out),
        BufferFormat::Base64 => write_base64(b, out),
    }
}

fn write_ascii(b: &[u8], out: &mut String) {
    out.push('\n');
    for (j, &c) in b.iter().enumerate() {
        match c {
            b'\r' => out.push('\n'),
            b'\n' if j == 0 || b[j - 1] == b'\r' => {}
            b'\n' => out.push('\n'),
            c if printable(c) => out.push(c as char),
            _ => {}
        }
    }
}

fn write_hex(b: &[u8], ascii: bool, out: &mut String) {
    use std::fmt::Write as _;
    for (row, chunk) in b.chunks(16).enumerate() {
        let _ = write!(out, "\n\t0x{:04x}:", row * 16);
        let pairs = chunk.chunks(2);
        let n = pairs.len();
        for p in pairs {
            match p {
                [a, b] => {
                    let _ = write!(out, " {a:02x}{b:02x}");
                }
                [a] => {
                    let _ = write!(out, " {a:02x}");
                }
                _ => {}
            }
        }
        if ascii {
            for _ in n..8 {
                out.push_str("     ");
            }
            out.push_str("  ");
            out.extend(
                chunk
                    .iter()
                    .map(|&c| if printable(c) { c as char } else { '.' }),
            );
        }
    }
    out.push('\n');
}

fn write_base64(b: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(b: &[u8], f: BufferFormat, max: usize) -> String {
        let mut s = String::new();
        write_buffer(b, f, max, &mut s);
        s
    }

    #[test]
    fn normal_dots_and_cut() {
        assert_eq!(render(b"ab\x00\ncd", BufferFormat::Normal, 80), "ab..cd");
        assert_eq!(
            render(&[b'x'; 100], BufferFormat::Normal, 80),
            "x".repeat(77) + "..."
        );
        assert_eq!(
            render(&[b'x'; 80], BufferFormat::Normal, 80),
            "x".repeat(80)
        );
        assert_eq!(
            render(&[b'x'; 100], BufferFormat::Normal, 0),
            "x".repeat(100)
        );
    }

    #[test]
    fn ascii_keeps_line_ends() {
        // sysdig -A on cat_write.scap's event 153 (an ELF header)
        let elf = b"\x7fELF\x02\x01\x01\x03\n\n\x01a\r\nb";
        assert_eq!(render(elf, BufferFormat::Ascii, 80), "\nELF\n\na\nb");
        assert_eq!(render(b"\nx", BufferFormat::Ascii, 80), "\nx");
    }

    #[test]
    fn hex_rows_as_sysdig() {
        let b: Vec<u8> = (0..19).collect();
        assert_eq!(
            render(&b, BufferFormat::Hex, 80),
            "\n\t0x0000: 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f\n\t0x0010: 1011 12\n"
        );
        assert_eq!(
            render(b"AB\x00", BufferFormat::HexAscii, 80),
            format!("\n\t0x0000: 4142 00{}  AB.\n", " ".repeat(30))
        );
    }

    #[test]
    fn base64_padding() {
        assert_eq!(render(b"", BufferFormat::Base64, 80), "");
        assert_eq!(render(b"f", BufferFormat::Base64, 80), "Zg==");
        assert_eq!(render(b"fo", BufferFormat::Base64, 80), "Zm8=");
        assert_eq!(render(b"foo", BufferFormat::Base64, 80), "Zm9v");
        assert_eq!(
            render(b"\x7fELF\x02\x01\x01\x03", BufferFormat::Base64, 80),
            "f0VMRgIBAQM="
        );
    }
}
