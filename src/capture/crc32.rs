//! CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) over block headers and payloads.
//!
//! The reader checks every stored byte before decoding it, so the checksum's speed bounds
//! `-r`: `crc32fast` folds with PCLMULQDQ where the CPU has it (several GB/s, about ten
//! times a table-driven loop) and falls back to slicing-by-16 elsewhere. The values are
//! the standard CRC-32 the format specifies (checked against known vectors below).

/// Continues a CRC over `data`. Start with `0`; feed pieces in order.
pub fn update(crc: u32, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(crc);
    h.update(data);
    h.finalize()
}

/// CRC-32 of one buffer.
pub fn crc32(data: &[u8]) -> u32 {
    update(0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn pieces_equal_whole() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for cut in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(update(update(0, a), b), crc32(&data), "cut {cut}");
        }
    }
}
