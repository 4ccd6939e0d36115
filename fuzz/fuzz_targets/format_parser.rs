//! Format parser fuzz target: arbitrary text into `EventFormat::parse`, and when it parses,
//! every field reader over arbitrary record bytes and every symbol table's `render`.
//!
//! Input layout: byte 0-1 = length of the text part (little-endian, clamped), then the
//! text (must be UTF-8, else the input is ignored), then the raw record bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpdig::tracefs::{EventFormat, parse_header_page};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let body = &data[2..];
    let split = (u16::from_le_bytes([data[0], data[1]]) as usize).min(body.len());
    let (text, raw) = body.split_at(split);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let _ = parse_header_page(text);
    let Ok(ev) = EventFormat::parse(text) else {
        return;
    };
    let _ = ev.long_size();
    for f in ev.all_fields() {
        let _ = (
            f.u64(raw),
            f.i64(raw),
            f.bytes(raw),
            f.str_bytes(raw),
            f.is_signed(),
        );
        for i in 0..8 {
            let _ = f.array_u64(raw, i);
        }
        let _ = ev.field(&f.name);
    }
    let probe = raw
        .iter()
        .take(8)
        .fold(0u64, |acc, &b| (acc << 8) | b as u64);
    for t in &ev.symbols {
        for v in [0, 1, u64::MAX, probe] {
            let _ = t.render(v);
        }
    }
});
