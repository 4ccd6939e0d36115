//! Reading records out of one perf ring.
//!
//! A batch is everything between our tail and the head loaded (Acquire) at the start of
//! `read`. Records are handed out one at a time as a single slice: records that wrap the
//! end of the ring are copied into a scratch buffer, the others are borrowed in place
//! (the common case, no copy). The batch is framed in steps of [`RELEASE_STEP`] bytes, and
//! after each step the tail moves past its records (Release), so the kernel can reuse the
//! space while the rest is read: callers must copy what they keep.
//!
//! The header's size is the only framing there is. A size below a header or beyond the
//! bytes written means the ring (or our position in it) is corrupt, and no later record
//! can be trusted: the rest of the batch is dropped, the tail still moves to the head so
//! the ring keeps flowing, and the error names the stream position.
//!
//! Overwrite rings (the flight recorder) are read differently: the kernel writes them
//! backward (`write_backward`), so the head points at the newest record and the records
//! follow it in memory, newest to oldest, up to where the writing began or, once the ring
//! went round, to the oldest record still whole. `frame_backward` walks a copy of such a
//! ring taken while its output was paused; it never trusts a size that would run past
//! what can still be intact.

use super::record::HEADER_SIZE;
use super::sys::RingMap;
use std::fmt;

/// A ring whose contents could not be framed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingError {
    /// Stream position (bytes since the ring was created) of the bad record.
    pub position: u64,
    pub kind: RingErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingErrorKind {
    /// The head is further ahead of the tail than the ring is large.
    HeadJump {
        head: u64,
        tail: u64,
        data_size: usize,
    },
    /// A header's size is too small, or larger than what was written.
    BadSize { size: u16, available: u64 },
    /// Fewer than a header's bytes left before the head.
    Truncated { available: u64 },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "perf ring corrupt at position {}: ", self.position)?;
        match &self.kind {
            RingErrorKind::HeadJump {
                head,
                tail,
                data_size,
            } => {
                write!(
                    f,
                    "head {head} is more than {data_size} bytes past tail {tail}"
                )
            }
            RingErrorKind::BadSize { size, available } => {
                write!(f, "record size {size} with {available} bytes available")
            }
            RingErrorKind::Truncated { available } => {
                write!(f, "{available} trailing bytes, less than a record header")
            }
        }
    }
}

impl std::error::Error for RingError {}

/// One ring and our position in it.
pub struct Ring {
    map: RingMap,
    tail: u64,
    scratch: Vec<u8>,
}

impl Ring {
    pub fn new(map: RingMap) -> Ring {
        let tail = map.data_tail();
        Ring {
            map,
            tail,
            scratch: Vec::new(),
        }
    }

    /// Bytes written by the kernel and not yet read.
    pub fn pending(&self) -> u64 {
        self.map.data_head().wrapping_sub(self.tail)
    }

    pub fn map(&self) -> &RingMap {
        &self.map
    }

    /// Hands every complete record up to the current head to `f` as
    /// `(stream position, record bytes)`, releasing the space a step at a time (see
    /// [`RELEASE_STEP`]). Returns the number of records. On a framing error the records
    /// before it were delivered, the rest of the batch is dropped, and the error is
    /// returned.
    pub fn read(&mut self, mut f: impl FnMut(u64, &[u8])) -> Result<usize, RingError> {
        let head = self.map.data_head();
        let avail = head.wrapping_sub(self.tail);
        if avail == 0 {
            return Ok(0);
        }
        let data_size = self.map.data_size();
        let mut result = if avail > data_size as u64 {
            Err(RingError {
                position: self.tail,
                kind: RingErrorKind::HeadJump {
                    head,
                    tail: self.tail,
                    data_size,
                },
            })
        } else {
            Ok(0)
        };
        while let Ok(n) = &mut result {
            let left = head.wrapping_sub(self.tail);
            if left == 0 {
                break;
            }
            let step = left.min(RELEASE_STEP as u64) as usize;
            let (a, b) = self.map.window(self.tail, step);
            let more = left - step as u64;
            match frame(a, b, self.tail, more, &mut self.scratch, &mut f) {
                Ok((records, used)) if used > 0 => {
                    *n += records;
                    self.tail = self.tail.wrapping_add(used as u64);
                    self.map.set_data_tail(self.tail);
                }
                // A window the kernel no longer vouches for (clamped to nothing).
                Ok(_) => break,
                Err(e) => result = Err(e),
            }
        }
        self.tail = head;
        self.map.set_data_tail(head);
        result
    }
}

/// Bytes framed before their space goes back to the kernel. Draining a full ring takes
/// milliseconds; giving its space back only at the end would leave the kernel a full ring,
/// dropping records, for all that time.
pub const RELEASE_STEP: usize = 256 << 10;

/// Splits the two-part window `a ++ b` (starting at stream position `start`) into
/// records, and returns how many records and bytes it consumed. `more` is how many bytes
/// follow the window in the batch: a record cut by the window's end is then left for the
/// next window (the count of bytes says where it starts); with nothing more, it is an
/// error. Kept free of the mapping so it can be tested on plain slices.
pub fn frame(
    a: &[u8],
    b: &[u8],
    start: u64,
    more: u64,
    scratch: &mut Vec<u8>,
    f: &mut impl FnMut(u64, &[u8]),
) -> Result<(usize, usize), RingError> {
    let total = a.len() + b.len();
    let mut off = 0usize;
    let mut n = 0;
    while off < total {
        let left = (total - off) as u64;
        let position = start + off as u64;
        if left < HEADER_SIZE as u64 {
            if more > 0 {
                break;
            }
            return Err(RingError {
                position,
                kind: RingErrorKind::Truncated { available: left },
            });
        }
        let mut hdr = [0u8; HEADER_SIZE];
        copy_out(a, b, off, &mut hdr);
        let size = u16::from_ne_bytes([hdr[6], hdr[7]]);
        if (size as usize) < HEADER_SIZE || size as u64 > left + more {
            return Err(RingError {
                position,
                kind: RingErrorKind::BadSize {
                    size,
                    available: left + more,
                },
            });
        }
        if size as u64 > left {
            break;
        }
        let size = size as usize;
        if off + size <= a.len() {
            f(position, &a[off..off + size]);
        } else if off >= a.len() {
            f(position, &b[off - a.len()..off - a.len() + size]);
        } else {
            scratch.clear();
            scratch.resize(size, 0);
            copy_out(a, b, off, scratch);
            f(position, scratch);
        }
        off += size;
        n += 1;
    }
    Ok((n, off))
}

/// What a walk over a backward ring found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackwardScan {
    pub records: usize,
    /// Bytes of the records delivered.
    pub bytes: u64,
    /// The kernel had written more than the ring holds: the oldest records are gone.
    pub wrapped: bool,
    /// Framing broke before the walk reached the end of the written data.
    pub error: Option<RingError>,
}

/// Frames the records of a backward-written overwrite ring, newest first. `data` is a
/// copy of the ring's whole data area (a power-of-two length), `head` the `data_head`
/// loaded before copying (it counts down from 0), and `clobbered` how far the head moved
/// while copying: that many of the oldest bytes may have been overwritten and are not
/// read. `f` gets `(stream position, record)`; the position is the head-relative offset
/// the kernel wrote the record at.
pub fn frame_backward(
    data: &[u8],
    head: u64,
    clobbered: u64,
    scratch: &mut Vec<u8>,
    f: &mut impl FnMut(u64, &[u8]),
) -> BackwardScan {
    let size = data.len() as u64;
    let mut scan = BackwardScan::default();
    if size == 0 || !size.is_power_of_two() {
        return scan;
    }
    let written = 0u64.wrapping_sub(head);
    scan.wrapped = written > size;
    let limit = written.min(size.saturating_sub(clobbered));
    let mask = size - 1;
    let mut consumed = 0u64;
    while consumed < limit {
        let left = limit - consumed;
        let pos = head.wrapping_add(consumed);
        let fail = |kind| RingError {
            position: pos,
            kind,
        };
        if left < HEADER_SIZE as u64 {
            if !scan.wrapped {
                scan.error = Some(fail(RingErrorKind::Truncated { available: left }));
            }
            break;
        }
        let start = (pos & mask) as usize;
        let (a, b) = (&data[start..], &data[..start]);
        let mut hdr = [0u8; HEADER_SIZE];
        copy_out(a, b, 0, &mut hdr);
        let len = u16::from_ne_bytes([hdr[6], hdr[7]]);
        // Zero past the newest records of a ring that never went round means "nothing
        // written here yet" only if the walk is at the end; anywhere else it is damage.
        if (len as usize) < HEADER_SIZE || len as u64 > left {
            // The oldest record of a wrapped ring is usually cut by the newest writes.
            if !(scan.wrapped && len as u64 > left) {
                scan.error = Some(fail(RingErrorKind::BadSize {
                    size: len,
                    available: left,
                }));
            }
            break;
        }
        let n = len as usize;
        if n <= a.len() {
            f(pos, &a[..n]);
        } else {
            scratch.clear();
            scratch.resize(n, 0);
            copy_out(a, b, 0, scratch);
            f(pos, scratch);
        }
        consumed += n as u64;
        scan.records += 1;
        scan.bytes += n as u64;
    }
    scan
}

/// Copies `out.len()` bytes starting at `off` of `a ++ b` into `out` (in bounds by the
/// caller's checks).
fn copy_out(a: &[u8], b: &[u8], off: usize, out: &mut [u8]) {
    let mut i = 0;
    while i < out.len() {
        let p = off + i;
        let (src, at) = if p < a.len() {
            (a, p)
        } else {
            (b, p - a.len())
        };
        let n = (out.len() - i).min(src.len() - at);
        out[i..i + n].copy_from_slice(&src[at..at + n]);
        i += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::attr::SampleLayout;
    use crate::perf::record::tests::{lost_bytes, sample_bytes};
    use crate::perf::record::{Record, parse};

    fn collect(ring: &mut Ring) -> (Vec<(u64, u32)>, Result<usize, RingError>) {
        let mut got = Vec::new();
        let r = ring.read(
            |pos, rec| match parse(rec, &SampleLayout::tpdig()).unwrap() {
                Record::Sample(s) => got.push((pos, s.tid)),
                Record::Lost { lost, .. } => got.push((pos, lost as u32 + 1_000_000)),
                other => panic!("{other:?}"),
            },
        );
        (got, r)
    }

    #[test]
    fn reads_records_including_ones_that_wrap() {
        // 2 data pages of 2048 bytes = 4096-byte ring; 48-byte records do not divide it,
        // so some record straddles the end as the stream goes round.
        let mut map = RingMap::heap(2, 2048);
        let mut ring_tids = Vec::new();
        let mut next = 0u32;
        let mut ring = {
            for _ in 0..50 {
                assert!(map.fake_write(&sample_bytes(
                    1,
                    next,
                    next as u64,
                    0,
                    &[1, 2, 3, 4, 5, 6, 7, 8]
                )));
                ring_tids.push(next);
                next += 1;
            }
            Ring::new(map)
        };
        let mut seen = Vec::new();
        for round in 0..20 {
            let (got, r) = collect(&mut ring);
            assert_eq!(r.unwrap(), got.len());
            seen.extend(got.iter().map(|g| g.1));
            // Write more through the same map: the ring is the only owner now.
            for _ in 0..(30 + round) {
                if !ring
                    .map
                    .fake_write(&sample_bytes(1, next, next as u64, 0, &[9; 8]))
                {
                    break;
                }
                ring_tids.push(next);
                next += 1;
            }
        }
        let (got, _) = collect(&mut ring);
        seen.extend(got.iter().map(|g| g.1));
        assert_eq!(seen, ring_tids);
        assert!(
            next as usize * 48 > 3 * 4096,
            "the stream went round the ring"
        );
        assert_eq!(ring.pending(), 0);
        assert_eq!(ring.map.data_tail(), ring.map.data_head());
    }

    #[test]
    fn a_batch_larger_than_a_release_step_is_read_whole_and_in_order() {
        // 512 KiB of ring: a full batch spans two release steps, and 48-byte records do
        // not divide a step, so one record straddles the step boundary.
        let mut map = RingMap::heap(128, 4096);
        let mut tids = Vec::new();
        // Start off zero, so the batch also wraps the end of the ring.
        for t in 0..1000u32 {
            assert!(map.fake_write(&sample_bytes(1, t, 0, 0, &[0; 8])));
        }
        let mut ring = Ring::new(map);
        let _ = collect(&mut ring);
        let mut next = 1000u32;
        while ring.map.fake_write(&sample_bytes(1, next, 0, 0, &[0; 8])) {
            tids.push(next);
            next += 1;
        }
        assert!(tids.len() * 48 > RELEASE_STEP + 48);
        let (got, r) = collect(&mut ring);
        assert_eq!(r, Ok(tids.len()));
        assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), tids);
        assert_eq!(ring.map.data_tail(), ring.map.data_head());
    }

    #[test]
    fn lost_records_pass_through() {
        let mut map = RingMap::heap(1, 4096);
        map.fake_write(&lost_bytes(3, 41));
        let mut ring = Ring::new(map);
        let (got, r) = collect(&mut ring);
        assert_eq!(r.unwrap(), 1);
        assert_eq!(got, vec![(0, 1_000_041)]);
    }

    #[test]
    fn zero_size_record_stops_the_batch_and_is_reported() {
        let mut map = RingMap::heap(1, 4096);
        map.fake_write(&sample_bytes(1, 7, 1, 0, &[0; 4]));
        map.fake_write(&[0u8; 16]);
        map.fake_write(&sample_bytes(1, 8, 1, 0, &[0; 4]));
        let mut ring = Ring::new(map);
        let (got, r) = collect(&mut ring);
        assert_eq!(got.len(), 1);
        let e = r.unwrap_err();
        assert_eq!(e.position, 40);
        assert!(matches!(e.kind, RingErrorKind::BadSize { size: 0, .. }));
        // The ring moved on: new records are read normally.
        ring.map.fake_write(&sample_bytes(1, 9, 1, 0, &[0; 4]));
        let (got, r) = collect(&mut ring);
        assert_eq!((got.len(), r.unwrap()), (1, 1));
    }

    #[test]
    fn oversized_record_and_head_jump_are_errors() {
        let mut map = RingMap::heap(1, 4096);
        let mut rec = sample_bytes(1, 7, 1, 0, &[0; 4]);
        rec[6..8].copy_from_slice(&4000u16.to_ne_bytes());
        map.fake_write(&rec);
        let mut ring = Ring::new(map);
        assert!(matches!(
            collect(&mut ring).1.unwrap_err().kind,
            RingErrorKind::BadSize { size: 4000, .. }
        ));
        ring.map.fake_set_head(ring.tail + 100_000);
        assert!(matches!(
            collect(&mut ring).1.unwrap_err().kind,
            RingErrorKind::HeadJump { .. }
        ));
        assert_eq!(ring.pending(), 0);
    }

    /// Writes `n` samples with tids `first..` backward into a fresh overwrite ring.
    fn backward_ring(pages: usize, page: usize, first: u32, n: u32) -> RingMap {
        let mut m = RingMap::heap_overwrite(pages, page);
        for t in first..first + n {
            m.fake_write_backward(&sample_bytes(1, t, t as u64, 0, &[t as u8; 8]));
        }
        m
    }

    fn walk(m: &RingMap, clobbered: u64) -> (Vec<u32>, BackwardScan) {
        let mut data = Vec::new();
        let head = m.copy_data(&mut data);
        let mut tids = Vec::new();
        let mut scratch = Vec::new();
        let scan = frame_backward(
            &data,
            head,
            clobbered,
            &mut scratch,
            &mut |_, r| match parse(r, &SampleLayout::tpdig()).unwrap() {
                Record::Sample(s) => tids.push(s.tid),
                other => panic!("{other:?}"),
            },
        );
        (tids, scan)
    }

    #[test]
    fn backward_ring_that_never_went_round_gives_every_record_newest_first() {
        let m = backward_ring(1, 4096, 0, 10);
        let (tids, scan) = walk(&m, 0);
        assert_eq!(tids, (0..10).rev().collect::<Vec<_>>());
        assert!(!scan.wrapped);
        assert_eq!((scan.records, scan.bytes, scan.error), (10, 480, None));
    }

    #[test]
    fn backward_ring_that_went_round_keeps_the_newest_contiguous_records() {
        // 48-byte records in a 4096-byte ring: 85 fit whole; 1000 written.
        let m = backward_ring(2, 2048, 0, 1000);
        let (tids, scan) = walk(&m, 0);
        assert!(scan.wrapped && scan.error.is_none(), "{scan:?}");
        assert_eq!(tids.len(), 4096 / 48);
        assert_eq!(tids[0], 999, "the newest first");
        assert!(tids.windows(2).all(|w| w[0] == w[1] + 1), "contiguous");
        // Bytes the kernel may have written while we copied are not trusted.
        let (tids2, _) = walk(&m, 200);
        assert_eq!(tids2.len(), (4096 - 200) / 48);
        assert_eq!(&tids2[..], &tids[..tids2.len()]);
    }

    #[test]
    fn backward_ring_damage_is_reported_not_followed() {
        let mut m = backward_ring(1, 4096, 0, 3);
        m.fake_write_backward(&[0u8; 16]);
        m.fake_write_backward(&sample_bytes(1, 9, 9, 0, &[0; 4]));
        let (tids, scan) = walk(&m, 0);
        assert_eq!(tids, vec![9]);
        assert!(matches!(
            scan.error.unwrap().kind,
            RingErrorKind::BadSize { size: 0, .. }
        ));
        let empty = RingMap::heap_overwrite(1, 4096);
        assert_eq!(walk(&empty, 0).1, BackwardScan::default());
    }

    #[test]
    fn frame_splits_headers_across_the_wrap() {
        let rec = sample_bytes(1, 5, 1, 0, &[1; 12]);
        for cut in 0..rec.len() {
            let (a, b) = rec.split_at(cut);
            let mut scratch = Vec::new();
            let mut got = Vec::new();
            let n = frame(a, b, 100, 0, &mut scratch, &mut |p, r| {
                got.push((p, r.to_vec()))
            })
            .unwrap();
            assert_eq!(n, (1, rec.len()));
            assert_eq!(got, vec![(100, rec.clone())]);
        }
        let mut scratch = Vec::new();
        let e = frame(&rec[..5], &[], 0, 0, &mut scratch, &mut |_, _| {}).unwrap_err();
        assert_eq!(e.kind, RingErrorKind::Truncated { available: 5 });
    }

    #[test]
    fn frame_leaves_a_record_cut_by_the_window_for_the_next() {
        let one = sample_bytes(1, 5, 1, 0, &[1; 12]);
        let two: Vec<u8> = [one.clone(), one.clone()].concat();
        let mut scratch = Vec::new();
        for cut in one.len()..two.len() {
            let more = (two.len() - cut) as u64;
            let mut got = 0;
            let r = frame(&two[..cut], &[], 0, more, &mut scratch, &mut |_, _| {
                got += 1
            });
            assert_eq!(r, Ok((1, one.len())), "cut at {cut}");
            assert_eq!(got, 1);
        }
        // A size beyond everything the batch holds is still corrupt.
        let e = frame(&one[..10], &[], 0, 4, &mut scratch, &mut |_, _| {}).unwrap_err();
        assert!(matches!(e.kind, RingErrorKind::BadSize { .. }), "{e}");
    }
}
