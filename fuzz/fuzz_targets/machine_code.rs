//! Fuzz target: ELF bytes → unwind tables → x86-64 decoding, as the probe installer reads a
//! mapped library. Arbitrary input must never panic; every site reported must lie inside
//! the code it was found in and be a `syscall` instruction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpdig::probes::elf::Elf;
use tpdig::probes::x86;

fuzz_target!(|data: &[u8]| {
    // Raw code first: the decoder alone.
    if let Some(sites) = x86::syscall_sites(data) {
        for s in sites {
            assert_eq!(&data[s.at..s.at + 2], &[0x0f, 0x05]);
        }
    }
    let Ok(elf) = Elf::parse(data) else { return };
    let Ok(ranges) = elf.function_ranges() else { return };
    let pairs: Vec<(u64, u64)> = ranges.iter().map(|r| (r.start, r.len)).collect();
    for (start, len) in x86::confirmed_functions(&pairs, |a, n| elf.code_at(a, n)) {
        let code = elf.code_at(start, len).expect("confirmed code is loaded");
        for s in x86::syscall_sites(code).unwrap_or_default() {
            assert_eq!(&code[s.at..s.at + 2], &[0x0f, 0x05]);
        }
    }
});
