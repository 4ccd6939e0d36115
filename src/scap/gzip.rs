//! gzip (RFC 1952) around a capture: `sysdig -z` writes its files through zlib's gzFile.
//!
//! Only the container is parsed here; the deflate stream is inflated by miniz_oxide. A
//! stream that ends early (a truncated download, a killed writer) still yields what it
//! holds, so the block parser then names the offset where the capture stops.

use super::ScapError;

const MAGIC: [u8; 2] = [0x1f, 0x8b];

pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&MAGIC)
}

/// What inflating gave: the bytes, and a note when the compressed stream was cut short.
pub struct Inflated {
    pub data: Vec<u8>,
    pub truncated: Option<String>,
}

/// Inflates one or more gzip members, up to `limit` output bytes.
pub fn inflate(file: &[u8], limit: usize) -> Result<Inflated, ScapError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < file.len() {
        let start = deflate_start(file, pos)?;
        let mut st = miniz_oxide::inflate::stream::InflateState::new(miniz_oxide::DataFormat::Raw);
        let mut input = &file[start..];
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let r = miniz_oxide::inflate::stream::inflate(
                &mut st,
                input,
                &mut buf,
                miniz_oxide::MZFlush::None,
            );
            out.extend_from_slice(&buf[..r.bytes_written]);
            input = &input[r.bytes_consumed..];
            if out.len() > limit {
                return Err(ScapError::at(
                    start,
                    format!("gzip data inflates past {limit} bytes"),
                ));
            }
            match r.status {
                Ok(miniz_oxide::MZStatus::StreamEnd) => break,
                Ok(_) if r.bytes_consumed == 0 && r.bytes_written == 0 => {
                    return Ok(Inflated {
                        data: out,
                        truncated: Some(format!(
                            "the gzip stream ends early at byte {} of the compressed file",
                            file.len()
                        )),
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    let at = file.len() - input.len();
                    return Ok(Inflated {
                        data: out,
                        truncated: Some(format!(
                            "gzip data is damaged near byte {at} of the compressed file ({e:?})"
                        )),
                    });
                }
            }
        }
        // 8 bytes of CRC-32 and size follow each member.
        pos = file.len() - input.len() + 8;
        if file.len() - input.len() + 8 > file.len() {
            break;
        }
        if !file[pos.min(file.len())..].starts_with(&MAGIC) {
            break;
        }
    }
    Ok(Inflated {
        data: out,
        truncated: None,
    })
}

/// Offset of the deflate data of the member at `pos`, past its header.
fn deflate_start(f: &[u8], pos: usize) -> Result<usize, ScapError> {
    let short = || ScapError::at(pos, "gzip header ends early");
    let h = f.get(pos..pos + 10).ok_or_else(short)?;
    if h[..2] != MAGIC {
        return Err(ScapError::at(pos, "not a gzip member"));
    }
    if h[2] != 8 {
        return Err(ScapError::at(
            pos + 2,
            format!("gzip method {} is not deflate", h[2]),
        ));
    }
    let flags = h[3];
    let mut at = pos + 10;
    if flags & 4 != 0 {
        let x = f.get(at..at + 2).ok_or_else(short)?;
        at += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            let rest = f.get(at..).ok_or_else(short)?;
            at += rest.iter().position(|&b| b == 0).ok_or_else(short)? + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    if at > f.len() {
        return Err(short());
    }
    Ok(at)
}
