//! sysdig capture reader fuzz target: arbitrary bytes as a whole .scap file (raw, and
//! when byte 0 is odd behind a valid section header so the fuzzer reaches the blocks),
//! and through the gzip unwrapper. Nothing may panic; every error is a value with an
//! offset inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpdig::scap::{gzip, read_all};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut file = Vec::with_capacity(rest.len() + 28);
    if mode & 1 != 0 {
        tpdig::scap::writer::section_header(&mut file);
    }
    file.extend_from_slice(rest);
    if let Err(e) = read_all(&file) {
        assert!(e.offset as usize <= file.len());
    }
    if let Ok(inf) = gzip::inflate(rest, 1 << 24) {
        let _ = read_all(&inf.data);
    }
});
