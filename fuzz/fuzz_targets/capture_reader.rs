//! Capture reader fuzz target: arbitrary bytes as a whole capture file through the streaming
//! reader (both item and block APIs, with and without skipping bad blocks), and as one block
//! through the pure `decode_block`. Nothing may panic; every error must be a value.
//!
//! Byte 0 selects the mode; when bit 0 is set, a valid file header is prepended so the
//! fuzzer reaches block parsing without having to discover the header CRC.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpdig::capture::framing::{ByteOrder, FILE_HEADER_LEN, FileHeader, VERSION};
use tpdig::capture::{Block, BlockPos, CaptureReader, Item, ReaderOptions, decode_block};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut file = Vec::with_capacity(rest.len() + FILE_HEADER_LEN);
    if mode & 1 != 0 {
        let h = FileHeader {
            version: VERSION,
            flags: 1,
            created_ns: 0,
            byte_order: ByteOrder::Little,
            len: FILE_HEADER_LEN,
        };
        file.extend_from_slice(&h.encode());
    }
    file.extend_from_slice(rest);
    let opts = ReaderOptions {
        skip_bad_blocks: mode & 2 != 0,
        require_formats: mode & 4 != 0,
    };

    if let Ok(mut r) = CaptureReader::new(&file[..], opts) {
        let mut n = 0u64;
        while let Some(x) = r.next_item() {
            if let Ok(Item::Event(e)) = x {
                n = n.wrapping_add(e.raw.len() as u64);
            }
        }
        let _ = n;
    }
    if let Ok(mut r) = CaptureReader::new(&file[..], opts) {
        while let Some(b) = r.next_block() {
            if let Ok(Block::Events(ev)) = b {
                for e in ev.iter() {
                    let _ = e.map(|e| e.raw.len());
                }
            }
        }
    }
    let mut scratch = Vec::new();
    if let Ok((Block::Events(ev), _)) = decode_block(rest, &mut scratch, BlockPos::default()) {
        for e in ev.iter() {
            let _ = e;
        }
    }
});
