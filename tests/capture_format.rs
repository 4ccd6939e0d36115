//! Capture file format: round trips, truncation, corruption, version and magic errors,
//! compression ratio on syscall-like records, decode speed (ignored test).

use tpdig::capture::framing::FILE_HEADER_LEN;
use tpdig::capture::*;

/// An owned copy of an item, for comparisons.
#[derive(Clone, Debug, PartialEq)]
enum Owned {
    Machine(MachineInfo),
    Format(EventFormat),
    Abi(Abi),
    Threads(Vec<ThreadInfo>),
    Fds(Vec<FdInfo>),
    Users(Vec<UserInfo>),
    Groups(Vec<GroupInfo>),
    Event(u64, u32, u32, u32, Vec<u8>),
    UserValues(Vec<UserValue>),
    Drops(Vec<DropRecord>),
    End(EndInfo),
}

fn own(i: Item<'_>) -> Owned {
    match i {
        Item::Machine(m) => Owned::Machine(m),
        Item::Format(f) => Owned::Format(f),
        Item::Abi(a) => Owned::Abi(a),
        Item::Threads(t) => Owned::Threads(t),
        Item::Fds(f) => Owned::Fds(f),
        Item::Users(u) => Owned::Users(u),
        Item::Groups(g) => Owned::Groups(g),
        Item::Event(e) => Owned::Event(e.ts, e.cpu, e.pid, e.tid, e.raw.to_vec()),
        Item::UserValues(v) => Owned::UserValues(v),
        Item::Drops(d) => Owned::Drops(d),
        Item::End(e) => Owned::End(e),
    }
}

fn own_block(b: Block<'_>) -> Vec<Owned> {
    match b {
        Block::Machine(m) => vec![Owned::Machine(m)],
        Block::Format(f) => vec![Owned::Format(f)],
        Block::Abi(a) => vec![Owned::Abi(a)],
        Block::Threads(t) => vec![Owned::Threads(t)],
        Block::Fds(f) => vec![Owned::Fds(f)],
        Block::Users(u) => vec![Owned::Users(u)],
        Block::Groups(g) => vec![Owned::Groups(g)],
        Block::Events(ev) => ev
            .iter()
            .map(|r| {
                let e = r.unwrap();
                Owned::Event(e.ts, e.cpu, e.pid, e.tid, e.raw.to_vec())
            })
            .collect(),
        Block::UserValues(v) => vec![Owned::UserValues(v)],
        Block::Drops(d) => vec![Owned::Drops(d)],
        Block::End(e) => vec![Owned::End(e)],
        Block::Unknown { .. } => vec![],
    }
}

fn read_all(bytes: &[u8], opts: ReaderOptions) -> (Vec<Owned>, Vec<CaptureError>) {
    let mut items = Vec::new();
    let mut errs = Vec::new();
    let mut r = match CaptureReader::new(bytes, opts) {
        Ok(r) => r,
        Err(e) => return (items, vec![e]),
    };
    while let Some(x) = r.next_item() {
        match x {
            Ok(i) => items.push(own(i)),
            Err(e) => errs.push(e),
        }
    }
    (items, errs)
}

const SYS_ENTER_ID: u16 = 21;
const SYS_EXIT_ID: u16 = 20;

/// A raw_syscalls:sys_enter record as the kernel lays it out (64 bytes).
fn sys_enter(pid: u32, nr: u64, args: [u64; 6]) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&SYS_ENTER_ID.to_le_bytes());
    v.push(0); // common_flags
    v.push(0); // common_preempt_count
    v.extend_from_slice(&(pid as i32).to_le_bytes());
    v.extend_from_slice(&nr.to_le_bytes());
    for a in args {
        v.extend_from_slice(&a.to_le_bytes());
    }
    v
}

fn sys_exit(pid: u32, nr: u64, ret: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&SYS_EXIT_ID.to_le_bytes());
    v.push(0);
    v.push(0);
    v.extend_from_slice(&(pid as i32).to_le_bytes());
    v.extend_from_slice(&nr.to_le_bytes());
    v.extend_from_slice(&ret.to_le_bytes());
    v
}

/// A deterministic pseudo-random generator (no dev-dependency needed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// A `dd bs=1`-like workload: read/write pairs from a few processes.
fn syscall_records(n: usize) -> Vec<(u64, u32, u32, u32, Vec<u8>)> {
    let mut rng = Lcg(42);
    let mut ts = 1_700_000_000_000_000_000u64;
    let mut out = Vec::with_capacity(n);
    let pids = [1234u32, 1240, 877, 1];
    let mut i = 0;
    while out.len() < n {
        let pid = pids[(rng.next() % 8).min(3) as usize];
        let cpu = pid % 2;
        let nr = if i % 2 == 0 { 0 } else { 1 };
        let buf = 0x7ffd_3a2b_1000u64 + (pid as u64) * 0x100;
        ts += 300 + rng.next() % 400;
        out.push((
            ts,
            cpu,
            pid,
            pid,
            sys_enter(pid, nr, [nr, buf, 1, 0, 0x7f11_2233_4455, 0]),
        ));
        ts += 200 + rng.next() % 200;
        out.push((ts, cpu, pid, pid, sys_exit(pid, nr, 1)));
        i += 1;
    }
    out.truncate(n);
    out
}

fn sample_capture(compress: bool, batch_bytes: usize) -> (Vec<u8>, Vec<Owned>) {
    let opts = WriterOptions {
        compress,
        level: 1,
        batch_bytes,
    };
    let mut w = CaptureWriter::with_created(Vec::new(), opts, 1_700_000_000_000_000_000).unwrap();
    let mut exp = Vec::new();
    let mut m = MachineInfo::default();
    m.set("hostname", "box");
    m.set("kernel", "6.18.0");
    m.set("arch", "x86_64");
    m.set("page_size", "4096");
    m.set("cpus", "2");
    m.set("clock_offset_ns", "-12345");
    w.write_machine(&m).unwrap();
    exp.push(Owned::Machine(m));
    for (id, name) in [(SYS_ENTER_ID, "sys_enter"), (SYS_EXIT_ID, "sys_exit")] {
        let f = EventFormat {
            system: "raw_syscalls".into(),
            name: name.into(),
            id: id as u32,
            text: format!(
                "name: {name}\nID: {id}\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
            ),
        };
        w.write_format(&f).unwrap();
        exp.push(Owned::Format(f));
    }
    let a = Abi {
        arch: "x86_64".into(),
    };
    w.write_abi(&a).unwrap();
    exp.push(Owned::Abi(a));
    let threads = vec![
        ThreadInfo {
            tid: 1,
            pid: 1,
            ppid: Some(0),
            comm: b"systemd".to_vec(),
            exe: b"/usr/lib/systemd/systemd".to_vec(),
            args: vec![b"/sbin/init".to_vec(), b"splash".to_vec()],
            cwd: b"/".to_vec(),
            uid: Some(0),
            gid: Some(0),
            extra: vec![],
        },
        ThreadInfo {
            tid: 1240,
            pid: 1234,
            ppid: None,
            comm: b"dd\xff".to_vec(),
            args: vec![],
            uid: Some(1000),
            gid: None,
            ..Default::default()
        },
    ];
    w.write_threads(&threads).unwrap();
    exp.push(Owned::Threads(threads));
    let fds = vec![
        FdInfo {
            pid: 1234,
            fd: 0,
            kind: b'f',
            name: b"/dev/zero".to_vec(),
            flags: 0,
            extra: vec![],
        },
        FdInfo {
            pid: 1234,
            fd: 5,
            kind: b'4',
            name: b"127.0.0.1:5000->127.0.0.1:80".to_vec(),
            flags: 0o2004002,
            extra: vec![],
        },
    ];
    w.write_fds(&fds).unwrap();
    exp.push(Owned::Fds(fds));
    let users = vec![UserInfo {
        uid: 0,
        name: "root".into(),
        home: "/root".into(),
        shell: "/bin/bash".into(),
        extra: vec![],
    }];
    w.write_users(&users).unwrap();
    exp.push(Owned::Users(users));
    let groups = vec![
        GroupInfo {
            gid: 0,
            name: "root".into(),
            extra: vec![],
        },
        GroupInfo {
            gid: 100,
            name: "users".into(),
            extra: vec![],
        },
    ];
    w.write_groups(&groups).unwrap();
    exp.push(Owned::Groups(groups));

    // Events in several batches, with user values and drops buffered alongside.
    let recs = syscall_records(60);
    let mut batch_values = Vec::new();
    let mut batch_drops = Vec::new();
    let mut batch_events = Vec::new();
    let flush = |exp: &mut Vec<Owned>,
                 v: &mut Vec<UserValue>,
                 d: &mut Vec<DropRecord>,
                 e: &mut Vec<Owned>| {
        if !v.is_empty() {
            exp.push(Owned::UserValues(std::mem::take(v)));
        }
        if !d.is_empty() {
            exp.push(Owned::Drops(std::mem::take(d)));
        }
        exp.append(e);
    };
    for (i, (ts, cpu, pid, tid, raw)) in recs.iter().enumerate() {
        if i % 20 == 5 {
            let v = UserValue {
                time: *ts,
                tid: *tid,
                tier: "uprobe:openat64".into(),
                key: "openat.filename".into(),
                value: b"/etc/passwd".to_vec(),
            };
            w.push_user_value(v.clone()).unwrap();
            batch_values.push(v);
        }
        if i % 25 == 7 {
            w.push_drop(1, 17, *ts);
            batch_drops.push(DropRecord {
                cpu: 1,
                count: 17,
                time: *ts,
            });
        }
        w.push_event(*ts, *cpu, *pid, *tid, raw).unwrap();
        batch_events.push(Owned::Event(*ts, *cpu, *pid, *tid, raw.clone()));
        if i % 20 == 19 {
            w.flush_events().unwrap();
            flush(
                &mut exp,
                &mut batch_values,
                &mut batch_drops,
                &mut batch_events,
            );
        }
    }
    flush(
        &mut exp,
        &mut batch_values,
        &mut batch_drops,
        &mut batch_events,
    );
    let first = recs[0].0;
    let last = recs.last().unwrap().0;
    let written_before = w.bytes_written();
    let (bytes, end) = w.finish().unwrap();
    assert!(bytes.len() as u64 > written_before);
    assert_eq!(
        end,
        EndInfo {
            events: 60,
            drops: 17 * 3,
            duration_ns: last - first
        }
    );
    exp.push(Owned::End(end));
    (bytes, exp)
}

#[test]
fn round_trip_every_block_kind_stored_and_compressed() {
    for compress in [false, true] {
        let (bytes, exp) = sample_capture(compress, 256 << 10);
        let (items, errs) = read_all(&bytes, ReaderOptions::default());
        assert!(errs.is_empty(), "compress={compress}: {errs:?}");
        assert_eq!(items, exp, "compress={compress}");
        let r = CaptureReader::new(&bytes[..], ReaderOptions::default()).unwrap();
        assert_eq!(r.header().created_ns, 1_700_000_000_000_000_000);
        assert_eq!(r.header().flags & 1, compress as u32);
    }
}

#[test]
fn next_block_and_next_item_agree() {
    let (bytes, exp) = sample_capture(true, 256 << 10);
    let mut r = CaptureReader::new(&bytes[..], ReaderOptions::default()).unwrap();
    let mut items = Vec::new();
    while let Some(b) = r.next_block() {
        items.extend(own_block(b.unwrap()));
    }
    assert_eq!(items, exp);
    assert!(r.saw_end());
    assert_eq!(r.stats().events, 60);
}

#[test]
fn small_batches_split_events_and_count_bytes() {
    let recs = syscall_records(1000);
    let opts = WriterOptions {
        compress: true,
        level: 1,
        batch_bytes: 4096,
    };
    let mut w = CaptureWriter::new(Vec::new(), opts).unwrap();
    w.write_format(&EventFormat {
        system: "raw_syscalls".into(),
        name: "sys_enter".into(),
        id: 21,
        text: String::new(),
    })
    .unwrap();
    w.write_format(&EventFormat {
        system: "raw_syscalls".into(),
        name: "sys_exit".into(),
        id: 20,
        text: String::new(),
    })
    .unwrap();
    for (ts, cpu, pid, tid, raw) in &recs {
        w.push_event(*ts, *cpu, *pid, *tid, raw).unwrap();
    }
    assert!(
        w.blocks_written() > 5,
        "batches were not split: {}",
        w.blocks_written()
    );
    let (bytes, _) = w.finish().unwrap();
    let (items, errs) = read_all(&bytes, ReaderOptions::default());
    assert!(errs.is_empty(), "{errs:?}");
    let evs: Vec<_> = items
        .into_iter()
        .filter(|i| matches!(i, Owned::Event(..)))
        .collect();
    assert_eq!(evs.len(), 1000);
    assert_eq!(evs[999], {
        let r = &recs[999];
        Owned::Event(r.0, r.1, r.2, r.3, r.4.clone())
    });
}

/// Offsets where each block ends, with the items of that block (from a clean decode).
fn block_map(bytes: &[u8]) -> Vec<(usize, usize, Vec<Owned>)> {
    let mut out = Vec::new();
    let mut pos = FILE_HEADER_LEN;
    let mut idx = 0;
    while pos < bytes.len() {
        let mut scratch = Vec::new();
        let (b, n) = decode_block(
            &bytes[pos..],
            &mut scratch,
            BlockPos {
                index: idx,
                offset: pos as u64,
            },
        )
        .unwrap();
        out.push((pos, pos + n, own_block(b)));
        pos += n;
        idx += 1;
    }
    out
}

#[test]
fn truncation_at_every_byte_returns_complete_blocks_and_names_the_offset() {
    for compress in [false, true] {
        let (bytes, _) = sample_capture(compress, 512);
        let map = block_map(&bytes);
        assert!(map.len() > 10);
        for cut in 0..bytes.len() {
            let (items, errs) = read_all(&bytes[..cut], ReaderOptions::default());
            if cut == 0 {
                assert!(
                    matches!(errs[..], [CaptureError::NotACapture { .. }]),
                    "{errs:?}"
                );
                continue;
            }
            if cut < FILE_HEADER_LEN {
                assert!(
                    matches!(errs[..], [CaptureError::Truncated { offset, .. }] if offset == cut as u64),
                    "cut {cut}: {errs:?}"
                );
                continue;
            }
            let complete: Vec<_> = map.iter().filter(|(_, end, _)| *end <= cut).collect();
            let exp: Vec<Owned> = complete.iter().flat_map(|(_, _, i)| i.clone()).collect();
            assert_eq!(items, exp, "cut {cut}");
            let stop = complete
                .last()
                .map(|(_, e, _)| *e)
                .unwrap_or(FILE_HEADER_LEN);
            match &errs[..] {
                [
                    CaptureError::Truncated {
                        offset,
                        block,
                        clean_boundary,
                    },
                ] => {
                    assert_eq!(*offset, stop as u64, "cut {cut}");
                    assert_eq!(*block, complete.len() as u64, "cut {cut}");
                    assert_eq!(*clean_boundary, stop == cut, "cut {cut}");
                    let msg = errs[0].to_string();
                    assert!(msg.contains(&format!("byte {stop}")), "{msg}");
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        // The whole file reads without error.
        assert!(read_all(&bytes, ReaderOptions::default()).1.is_empty());
    }
}

#[test]
fn bit_flips_are_caught_named_and_skippable() {
    for compress in [false, true] {
        let (bytes, _) = sample_capture(compress, 512);
        let map = block_map(&bytes);
        // With small batches the writer flushes on its own; the clean decode is the reference.
        let exp: Vec<Owned> = map.iter().flat_map(|m| m.2.clone()).collect();
        let mut rng = Lcg(7);
        for _ in 0..400 {
            let pos = FILE_HEADER_LEN + (rng.next() as usize) % (bytes.len() - FILE_HEADER_LEN);
            let bit = rng.next() % 8;
            let mut bad = bytes.clone();
            bad[pos] ^= 1 << bit;
            let (bi, (start, _, damaged)) = map
                .iter()
                .enumerate()
                .find(|(_, (s, e, _))| *s <= pos && pos < *e)
                .unwrap();

            // Without skipping: stops at the damaged block, naming it.
            let (items, errs) = read_all(&bad, ReaderOptions::default());
            assert_eq!(errs.len(), 1, "flip at {pos}: {errs:?}");
            match &errs[0] {
                CaptureError::Checksum { block, offset, .. }
                | CaptureError::Corrupt { block, offset, .. } => {
                    assert_eq!(
                        (*block, *offset),
                        (bi as u64, *start as u64),
                        "flip at {pos}: {}",
                        errs[0]
                    );
                }
                e => panic!("flip at {pos}: {e}"),
            }
            let before: Vec<Owned> = map[..bi].iter().flat_map(|(_, _, i)| i.clone()).collect();
            assert_eq!(items, before, "flip at {pos}");

            // With skipping: everything except the damaged block.
            // (Formats are not required: a damaged Format block would drop its events too.)
            let opts = ReaderOptions {
                skip_bad_blocks: true,
                require_formats: false,
            };
            let (items, errs) = read_all(&bad, opts);
            let mut want = exp.clone();
            let k = before.len();
            want.drain(k..k + damaged.len());
            assert_eq!(items, want, "flip at {pos} (block {bi}): {errs:?}");
            assert!(!errs.is_empty());
        }
    }
}

#[test]
fn garbage_between_blocks_is_skipped_when_asked() {
    let (bytes, _) = sample_capture(false, 512);
    let map = block_map(&bytes);
    let exp: Vec<Owned> = map.iter().flat_map(|m| m.2.clone()).collect();
    let cut = map[5].1;
    let mut bad = bytes[..cut].to_vec();
    bad.extend_from_slice(b"\xf7TBK some junk that is not a block \xf7TB");
    bad.extend_from_slice(&bytes[cut..]);
    let (items, errs) = read_all(&bad, ReaderOptions::default());
    assert_eq!(
        items.len(),
        map[..6].iter().map(|m| m.2.len()).sum::<usize>()
    );
    assert!(
        matches!(errs[..], [CaptureError::Checksum { offset, .. }] if offset == cut as u64),
        "{errs:?}"
    );
    let mut r = CaptureReader::new(
        &bad[..],
        ReaderOptions {
            skip_bad_blocks: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut items = Vec::new();
    while let Some(x) = r.next_item() {
        if let Ok(i) = x {
            items.push(own(i));
        }
    }
    assert_eq!(items, exp);
    assert!(r.stats().skipped_bytes > 30, "{:?}", r.stats());
}

#[test]
fn not_a_capture_and_future_version() {
    let e = CaptureReader::new(
        &b"hello world, this is not a capture at all"[..],
        ReaderOptions::default(),
    )
    .err()
    .unwrap();
    assert!(matches!(e, CaptureError::NotACapture { .. }));
    assert!(e.to_string().contains("68 65 6c 6c"), "{e}");
    let e = CaptureReader::new(
        &b"PERFILE2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"[..],
        ReaderOptions::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("perf.data"), "{e}");
    let e = CaptureReader::new(&b""[..], ReaderOptions::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("empty"), "{e}");

    let (mut bytes, _) = sample_capture(false, 1024);
    bytes[8] = 2;
    let e = CaptureReader::new(&bytes[..], ReaderOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            CaptureError::UnsupportedVersion {
                found: 2,
                supported: 1
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("version 2"), "{e}");
}

#[test]
fn unknown_block_kinds_are_skipped() {
    let mut w = CaptureWriter::new(
        Vec::new(),
        WriterOptions {
            compress: true,
            ..Default::default()
        },
    )
    .unwrap();
    w.write_block(999, &[7u8; 300]).unwrap();
    w.write_abi(&Abi {
        arch: "aarch64".into(),
    })
    .unwrap();
    let (bytes, _) = w.finish().unwrap();
    let mut r = CaptureReader::new(&bytes[..], ReaderOptions::default()).unwrap();
    let mut items = Vec::new();
    while let Some(x) = r.next_item() {
        items.push(own(x.unwrap()));
    }
    assert_eq!(
        items[0],
        Owned::Abi(Abi {
            arch: "aarch64".into()
        })
    );
    assert_eq!(r.stats().unknown_blocks, 1);
}

#[test]
fn events_without_format_are_reported_and_skipped() {
    let mut w = CaptureWriter::new(Vec::new(), WriterOptions::default()).unwrap();
    w.write_format(&EventFormat {
        system: "raw_syscalls".into(),
        name: "sys_enter".into(),
        id: 21,
        text: String::new(),
    })
    .unwrap();
    w.push_event(1, 0, 5, 5, &sys_enter(5, 0, [0; 6])).unwrap();
    w.push_event(2, 0, 5, 5, &sys_exit(5, 0, 0)).unwrap();
    w.push_event(3, 0, 5, 5, &sys_enter(5, 1, [0; 6])).unwrap();
    let (bytes, _) = w.finish().unwrap();
    let (items, errs) = read_all(&bytes, ReaderOptions::default());
    assert_eq!(
        items
            .iter()
            .filter(|i| matches!(i, Owned::Event(..)))
            .count(),
        2
    );
    assert!(
        matches!(errs[..], [CaptureError::UnknownEventFormat { id: 20, .. }]),
        "{errs:?}"
    );
    let (items, errs) = read_all(
        &bytes,
        ReaderOptions {
            require_formats: false,
            ..Default::default()
        },
    );
    assert!(errs.is_empty());
    assert_eq!(
        items
            .iter()
            .filter(|i| matches!(i, Owned::Event(..)))
            .count(),
        3
    );
}

#[test]
fn killed_writer_leaves_a_readable_prefix() {
    // A writer dropped without finish() (as after SIGKILL): blocks written so far read back.
    let recs = syscall_records(2000);
    let mut w = CaptureWriter::new(
        Vec::new(),
        WriterOptions {
            compress: true,
            level: 1,
            batch_bytes: 8192,
        },
    )
    .unwrap();
    w.write_format(&EventFormat {
        id: 21,
        ..Default::default()
    })
    .unwrap();
    w.write_format(&EventFormat {
        id: 20,
        ..Default::default()
    })
    .unwrap();
    for (ts, cpu, pid, tid, raw) in &recs {
        w.push_event(*ts, *cpu, *pid, *tid, raw).unwrap();
    }
    let bytes = w.get_ref().expect("written inline").clone();
    let (items, errs) = read_all(&bytes, ReaderOptions::default());
    let n = items
        .iter()
        .filter(|i| matches!(i, Owned::Event(..)))
        .count();
    assert!(n > 1000 && n < 2000, "{n}");
    assert!(
        matches!(
            errs[..],
            [CaptureError::Truncated {
                clean_boundary: true,
                ..
            }]
        ),
        "{errs:?}"
    );
    assert!(
        errs[0]
            .to_string()
            .contains("without an end-of-capture block")
    );
}

fn perf_data_bytes(raw_len: usize) -> usize {
    // perf_event_header + TID + TIME + CPU + u32 size + raw, padded to 8 bytes.
    let n = 8 + 8 + 8 + 8 + 4 + raw_len;
    n.div_ceil(8) * 8
}

#[test]
fn compression_ratio_on_syscall_records() {
    let recs = syscall_records(200_000);
    let perf: usize = recs.iter().map(|r| perf_data_bytes(r.4.len())).sum();
    let mut sizes = Vec::new();
    for compress in [false, true] {
        let mut w = CaptureWriter::new(
            Vec::new(),
            WriterOptions {
                compress,
                ..Default::default()
            },
        )
        .unwrap();
        for (ts, cpu, pid, tid, raw) in &recs {
            w.push_event(*ts, *cpu, *pid, *tid, raw).unwrap();
        }
        let (bytes, _) = w.finish().unwrap();
        sizes.push(bytes.len());
    }
    let n = recs.len() as f64;
    println!(
        "bytes/event: perf.data {:.1}, stored {:.1}, -z {:.1} (perf/-z = {:.1}x, stored/-z = {:.1}x)",
        perf as f64 / n,
        sizes[0] as f64 / n,
        sizes[1] as f64 / n,
        perf as f64 / sizes[1] as f64,
        sizes[0] as f64 / sizes[1] as f64
    );
    assert!(sizes[0] < perf, "stored capture larger than perf.data");
    assert!(
        sizes[1] * 4 <= perf,
        "-z capture is more than 1/4 of perf.data"
    );
}

#[test]
#[ignore]
fn decode_speed() {
    let recs = syscall_records(4_000_000);
    for compress in [false, true] {
        let mut w = CaptureWriter::new(
            Vec::new(),
            WriterOptions {
                compress,
                ..Default::default()
            },
        )
        .unwrap();
        w.write_format(&EventFormat {
            id: 21,
            ..Default::default()
        })
        .unwrap();
        w.write_format(&EventFormat {
            id: 20,
            ..Default::default()
        })
        .unwrap();
        let t = std::time::Instant::now();
        for (ts, cpu, pid, tid, raw) in &recs {
            w.push_event(*ts, *cpu, *pid, *tid, raw).unwrap();
        }
        let (bytes, _) = w.finish().unwrap();
        let wt = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let mut r = CaptureReader::new(&bytes[..], ReaderOptions::default()).unwrap();
        let (mut n, mut sum) = (0u64, 0u64);
        while let Some(x) = r.next_item() {
            if let Ok(Item::Event(e)) = x {
                n += 1;
                sum = sum.wrapping_add(e.raw.len() as u64 + e.ts);
            }
        }
        let it = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let mut r = CaptureReader::new(&bytes[..], ReaderOptions::default()).unwrap();
        let mut m = 0u64;
        while let Some(b) = r.next_block() {
            if let Ok(Block::Events(ev)) = b {
                for e in ev.iter() {
                    m += 1;
                    sum = sum.wrapping_add(e.unwrap().raw.len() as u64);
                }
            }
        }
        let bt = t.elapsed().as_secs_f64();
        assert_eq!((n, m), (recs.len() as u64, recs.len() as u64));
        println!(
            "compress={compress}: write {:.1} M rec/s; read next_item {:.1} M rec/s, next_block {:.1} M rec/s ({} bytes, checksum {sum})",
            n as f64 / wt / 1e6,
            n as f64 / it / 1e6,
            m as f64 / bt / 1e6,
            bytes.len()
        );
    }
}
