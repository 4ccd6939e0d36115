//! PERF_SAMPLE_CALLCHAIN: a list of u64 addresses with context markers between them.
//!
//! The kernel writes `PERF_CONTEXT_KERNEL` before kernel frames and `PERF_CONTEXT_USER`
//! before user frames (and a few rarer markers, for guests); markers are the top 4095
//! values of the address space. The first frame of each context is the sampled ip
//! itself; the rest are return addresses.

/// Markers are `(u64)-1 .. (u64)-4095` (`PERF_CONTEXT_MAX` is -4095).
const CONTEXT_MIN: u64 = (-4095i64) as u64;
const CONTEXT_KERNEL: u64 = (-128i64) as u64;
const CONTEXT_USER: u64 = (-512i64) as u64;

/// Which side of the system call boundary an address is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    Kernel,
    User,
}

/// The addresses of a raw chain, innermost first, with the space each belongs to.
/// Addresses before any marker, or under a guest marker, are skipped.
pub fn addresses(chain: &[u8]) -> Vec<(Space, u64)> {
    let mut out = Vec::with_capacity(chain.len() / 8);
    let mut space = None;
    for w in chain.chunks_exact(8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let ip = u64::from_ne_bytes(a);
        if ip >= CONTEXT_MIN {
            space = match ip {
                CONTEXT_KERNEL => Some(Space::Kernel),
                CONTEXT_USER => Some(Space::User),
                _ => None,
            };
            continue;
        }
        if let Some(s) = space {
            out.push((s, ip));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(words: &[u64]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    #[test]
    fn splits_kernel_and_user_frames() {
        let c = chain(&[
            CONTEXT_KERNEL,
            0xffff1,
            0xffff2,
            CONTEXT_USER,
            0x401000,
            0x401100,
        ]);
        assert_eq!(
            addresses(&c),
            vec![
                (Space::Kernel, 0xffff1),
                (Space::Kernel, 0xffff2),
                (Space::User, 0x401000),
                (Space::User, 0x401100)
            ]
        );
        // Guest markers and unmarked addresses are skipped; a torn tail is ignored.
        let mut c = chain(&[7, (-2048i64) as u64, 8, CONTEXT_USER, 9]);
        c.push(1);
        assert_eq!(addresses(&c), vec![(Space::User, 9)]);
    }
}
