//! The Events block: a batch of raw tracepoint records in time order.
//!
//! This is the bulk of every capture, so its layout is chosen for decode speed and for
//! deflate: a 12-byte batch header (record count, base time), then per record the time as a
//! zigzag varint delta from the previous record, the CPU, pid, and tid as varints (tid as a
//! delta from pid: usually 0), the raw length and the raw bytes exactly as PERF_SAMPLE_RAW
//! delivered them. Decoding borrows the raw bytes from the block, allocating nothing.

use super::wire::{Cur, WireError, WireResult, put_varint, unzigzag, zigzag};

/// One raw record, borrowing its bytes from the decoded block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRecord<'a> {
    /// Wall-clock ns since the Unix epoch.
    pub ts: u64,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    /// The tracepoint record (starts with `common_type`).
    pub raw: &'a [u8],
}

impl EventRecord<'_> {
    /// The tracepoint id in the record's first two bytes, in the capture's byte order.
    pub fn common_type(&self, big_endian: bool) -> Option<u16> {
        let b = self.raw.get(..2)?;
        Some(if big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    }
}

const BATCH_HEADER: usize = 12;

/// Accumulates records into an Events payload.
#[derive(Debug)]
pub struct EventBatchBuilder {
    buf: Vec<u8>,
    count: u32,
    prev_ts: u64,
}

impl Default for EventBatchBuilder {
    fn default() -> Self {
        EventBatchBuilder::new()
    }
}

impl EventBatchBuilder {
    pub fn new() -> EventBatchBuilder {
        EventBatchBuilder {
            buf: vec![0; BATCH_HEADER],
            count: 0,
            prev_ts: 0,
        }
    }

    pub fn with_capacity(bytes: usize) -> EventBatchBuilder {
        let mut buf = Vec::with_capacity(bytes + BATCH_HEADER);
        buf.resize(BATCH_HEADER, 0);
        EventBatchBuilder {
            buf,
            count: 0,
            prev_ts: 0,
        }
    }

    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Encoded size so far.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    #[inline]
    pub fn push(&mut self, ts: u64, cpu: u32, pid: u32, tid: u32, raw: &[u8]) {
        if self.count == 0 {
            self.buf[4..12].copy_from_slice(&ts.to_le_bytes());
            self.prev_ts = ts;
        }
        let b = &mut self.buf;
        put_varint(b, zigzag(ts.wrapping_sub(self.prev_ts) as i64));
        put_varint(b, cpu as u64);
        put_varint(b, pid as u64);
        put_varint(b, zigzag((tid as i64) - (pid as i64)));
        put_varint(b, raw.len() as u64);
        b.extend_from_slice(raw);
        self.prev_ts = ts;
        self.count += 1;
    }

    /// The finished payload; the builder is empty again afterwards (keeping its capacity).
    pub fn payload(&mut self) -> &[u8] {
        let c = self.count;
        self.buf[0..4].copy_from_slice(&c.to_le_bytes());
        &self.buf
    }

    pub fn clear(&mut self) {
        self.buf.truncate(BATCH_HEADER);
        self.buf[..BATCH_HEADER].fill(0);
        self.count = 0;
        self.prev_ts = 0;
    }
}

/// Encodes a whole batch (convenience for tests and tools).
pub fn encode_events<'a>(records: impl IntoIterator<Item = EventRecord<'a>>) -> Vec<u8> {
    let mut b = EventBatchBuilder::new();
    for r in records {
        b.push(r.ts, r.cpu, r.pid, r.tid, r.raw);
    }
    b.payload().to_vec()
}

/// A decoded Events payload; iterate it with [`EventBatch::iter`].
#[derive(Clone, Copy, Debug)]
pub struct EventBatch<'a> {
    payload: &'a [u8],
    count: u32,
    base_ts: u64,
}

impl<'a> EventBatch<'a> {
    /// Checks the batch header; records are decoded lazily.
    pub fn parse(payload: &'a [u8]) -> WireResult<EventBatch<'a>> {
        let mut c = Cur::new(payload);
        let count = c.u32()?;
        let base_ts = c.u64()?;
        // Every record takes at least 5 bytes.
        if (count as u64) * 5 > (payload.len() - BATCH_HEADER) as u64 {
            return Err(WireError {
                pos: 0,
                msg: format!("{count} records cannot fit in {} bytes", payload.len()),
            });
        }
        Ok(EventBatch {
            payload,
            count,
            base_ts,
        })
    }

    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> EventIter<'a> {
        EventIter {
            cur: Cur {
                buf: self.payload,
                pos: BATCH_HEADER,
            },
            left: self.count,
            prev_ts: self.base_ts,
            failed: false,
        }
    }
}

/// Decodes records one at a time. After an error it yields nothing more.
#[derive(Clone, Debug)]
pub struct EventIter<'a> {
    cur: Cur<'a>,
    left: u32,
    prev_ts: u64,
    failed: bool,
}

impl<'a> EventIter<'a> {
    /// Rebuilds an iterator from saved [`parts`](Self::parts), for holders that cannot keep
    /// a borrow (the streaming reader).
    pub fn from_parts(payload: &'a [u8], (pos, left, prev_ts): (usize, u32, u64)) -> EventIter<'a> {
        EventIter {
            cur: Cur { buf: payload, pos },
            left,
            prev_ts,
            failed: false,
        }
    }

    /// `(position, records left, previous time)`.
    pub fn parts(&self) -> (usize, u32, u64) {
        (self.cur.pos, self.left, self.prev_ts)
    }

    /// Position in the payload of the next record.
    pub fn pos(&self) -> usize {
        self.cur.pos
    }

    pub fn remaining(&self) -> u32 {
        self.left
    }

    #[inline]
    fn decode_one(&mut self) -> WireResult<EventRecord<'a>> {
        let c = &mut self.cur;
        let d = unzigzag(c.varint()?);
        let ts = self.prev_ts.wrapping_add(d as u64);
        let cpu = c.varint32()?;
        let pid = c.varint32()?;
        let dt = unzigzag(c.varint()?);
        let tid = (pid as i64).wrapping_add(dt);
        if !(0..=u32::MAX as i64).contains(&tid) {
            return c.err(format!("tid {tid} out of range"));
        }
        let raw = c.blob()?;
        self.prev_ts = ts;
        Ok(EventRecord {
            ts,
            cpu,
            pid,
            tid: tid as u32,
            raw,
        })
    }
}

impl<'a> Iterator for EventIter<'a> {
    type Item = WireResult<EventRecord<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.left == 0 {
            if !self.cur.is_empty() {
                self.failed = true;
                return Some(self.cur.err(format!(
                    "{} bytes after the last record",
                    self.cur.buf.len() - self.cur.pos
                )));
            }
            return None;
        }
        self.left -= 1;
        let r = self.decode_one();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_out_of_order_times() {
        let raws: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; i as usize * 3]).collect();
        let recs: Vec<EventRecord> = vec![
            EventRecord {
                ts: 1_000,
                cpu: 0,
                pid: 10,
                tid: 10,
                raw: &raws[0],
            },
            EventRecord {
                ts: 1_500,
                cpu: 1,
                pid: 10,
                tid: 12,
                raw: &raws[1],
            },
            EventRecord {
                ts: 1_400,
                cpu: 1,
                pid: 20,
                tid: 3,
                raw: &raws[2],
            },
            EventRecord {
                ts: u64::MAX,
                cpu: 7,
                pid: u32::MAX,
                tid: 0,
                raw: &raws[3],
            },
            EventRecord {
                ts: 0,
                cpu: 0,
                pid: 0,
                tid: u32::MAX,
                raw: &raws[4],
            },
        ];
        let p = encode_events(recs.iter().copied());
        let b = EventBatch::parse(&p).unwrap();
        assert_eq!(b.len(), 5);
        let back: Vec<EventRecord> = b.iter().map(|r| r.unwrap()).collect();
        assert_eq!(back, recs);
    }

    #[test]
    fn builder_reuse_after_clear() {
        let mut b = EventBatchBuilder::new();
        b.push(5, 0, 1, 1, b"a");
        b.clear();
        b.push(9, 1, 2, 2, b"bc");
        let p = b.payload().to_vec();
        let back: Vec<_> = EventBatch::parse(&p)
            .unwrap()
            .iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            back,
            vec![EventRecord {
                ts: 9,
                cpu: 1,
                pid: 2,
                tid: 2,
                raw: b"bc"
            }]
        );
    }

    #[test]
    fn damaged_batches_error_without_panic() {
        let p = encode_events([EventRecord {
            ts: 1,
            cpu: 0,
            pid: 1,
            tid: 1,
            raw: b"xyz",
        }]);
        for cut in 0..p.len() {
            if let Ok(b) = EventBatch::parse(&p[..cut]) {
                assert!(b.iter().any(|r| r.is_err()), "cut {cut}");
            }
        }
        let mut extra = p.clone();
        extra.push(0);
        let b = EventBatch::parse(&extra).unwrap();
        assert!(b.iter().last().unwrap().is_err());
    }
}
