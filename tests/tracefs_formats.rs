//! Every format file tpdig knows of parses, with the layouts each era really has.
//!
//! Walks the project's own corpus (`tracefs/`) and the shared multi-era fixtures
//! (`../shared/tracefs-fixtures/`, skipped when absent), checks key fields per event, then
//! damages the files (truncation, garbled values, seeded random mutations) to show that bad
//! input gives an error naming its line and never a panic.

use std::path::{Path, PathBuf};

use tpdig::tracefs::{
    EventFormat, Field, FieldKind, LocateOptions, SymbolKind, TracefsError, locate,
    parse_header_page,
};

fn corpus_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tracefs"
    ))];
    let shared = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/tracefs-fixtures"
    ));
    if shared.is_dir() {
        dirs.push(shared);
    } else {
        eprintln!("note: {} absent, shared fixtures skipped", shared.display());
    }
    dirs
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// (path, text) of every `*.format` file.
fn format_files() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for d in corpus_dirs() {
        walk(&d, &mut files);
    }
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "format"))
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect()
}

fn parse(path: &Path, text: &str) -> EventFormat {
    EventFormat::parse(text).unwrap_or_else(|e| panic!("{}", e.in_file(path)))
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_file_parses_with_sane_layout() {
    let files = format_files();
    assert!(files.len() >= 30, "only {} format files found", files.len());
    for (path, text) in &files {
        let ev = parse(path, text);
        let name = stem(path);
        assert!(name.ends_with(&ev.name), "{name} holds event {}", ev.name);
        let ct = ev.field("common_type").expect("common_type");
        assert_eq!((ct.offset, ct.size), (0, 2), "{name}");
        assert_eq!(
            ev.field("common_pid").map(|f| (f.offset, f.size)),
            Some((4, 4)),
            "{name}"
        );
        assert!(!ev.fields.is_empty(), "{name} has no event fields");
        for f in ev.all_fields() {
            assert!(f.offset + f.size <= 4096, "{name}.{}", f.name);
        }
        // Event fields start after the common header.
        let header_end = ev
            .common_fields
            .iter()
            .map(|f| f.offset + f.size)
            .max()
            .unwrap();
        assert!(ev.fields.iter().all(|f| f.offset >= header_end), "{name}");
    }
}

#[test]
fn header_pages_parse() {
    let mut files = Vec::new();
    for d in corpus_dirs() {
        walk(&d, &mut files);
    }
    let pages: Vec<_> = files
        .iter()
        .filter(|p| p.ends_with("header_page"))
        .collect();
    assert!(!pages.is_empty());
    for p in pages {
        let fields = parse_header_page(&std::fs::read_to_string(p).unwrap())
            .unwrap_or_else(|e| panic!("{}", e.in_file(p)));
        let ts = fields.iter().find(|f| f.name == "timestamp").unwrap();
        assert_eq!((ts.offset, ts.size), (0, 8));
        let data = fields.iter().find(|f| f.name == "data").unwrap();
        assert_eq!(data.offset, 16, "{}", p.display());
    }
}

#[test]
fn sched_switch_every_era() {
    let mut seen = 0;
    let mut with_plus = 0;
    for (path, text) in format_files() {
        if !stem(&path).ends_with("sched_switch") {
            continue;
        }
        seen += 1;
        let ev = parse(&path, &text);
        let name = stem(&path);
        for comm in ["prev_comm", "next_comm"] {
            let f = ev.field(comm).unwrap();
            assert_eq!(
                f.kind,
                FieldKind::Array {
                    len: 16,
                    elem_size: 1
                },
                "{name}"
            );
        }
        let pid = ev.field("next_pid").unwrap();
        assert_eq!((pid.size, &pid.kind), (4, &FieldKind::Scalar), "{name}");
        assert!(ev.field("prev_pid").is_some());
        let st = ev.field("prev_state").unwrap();
        assert_eq!(st.size, ev.long_size(), "{name}");
        let t = ev
            .symbol_table("prev_state")
            .unwrap_or_else(|| panic!("{name}"));
        assert!(matches!(&t.kind, SymbolKind::Flags { delim } if delim == "|"));
        assert_eq!(t.render(0), "R", "{name}");
        assert_eq!(t.render(1), "S", "{name}");
        assert_eq!(t.render(2), "D", "{name}");
        assert_eq!(t.render(3), "S|D", "{name}");
        if let Some(&(bit, _)) = t.suffixes.first() {
            with_plus += 1;
            assert_eq!(t.render(bit), "R+", "{name}");
            assert_eq!(t.render(bit | 1), "S+", "{name}");
        }
    }
    assert!(seen >= 3, "{seen}");
    let shared = corpus_dirs().len() > 1;
    if shared {
        assert!(seen >= 10, "{seen}");
        // 2.6.3x has no preemption marker; every later era does.
        assert_eq!(with_plus, seen - 1);
    }
}

#[test]
fn raw_syscalls_64_and_32_bit() {
    let (mut n64, mut n32) = (0, 0);
    for (path, text) in format_files() {
        let name = stem(&path);
        let enter = name.ends_with("raw_syscalls_sys_enter");
        let exit = name.ends_with("raw_syscalls_sys_exit");
        if !enter && !exit {
            continue;
        }
        let ev = parse(&path, &text);
        let long = ev.long_size();
        match long {
            8 => n64 += 1,
            4 => n32 += 1,
            _ => panic!("{name}: long size {long}"),
        }
        let id = ev.field("id").unwrap();
        assert_eq!(
            (id.offset, id.size, id.is_signed()),
            (8, long, true),
            "{name}"
        );
        if enter {
            let args = ev.field("args").unwrap();
            assert_eq!((args.offset, args.size), (8 + long, 6 * long), "{name}");
            assert_eq!(
                args.kind,
                FieldKind::Array {
                    len: 6,
                    elem_size: long
                },
                "{name}"
            );
        } else {
            let ret = ev.field("ret").unwrap();
            assert_eq!(
                (ret.offset, ret.size, ret.is_signed()),
                (8 + long, long, true),
                "{name}"
            );
        }
    }
    assert!(n64 >= 2 && n32 >= 2, "64-bit {n64}, 32-bit {n32}");
}

#[test]
fn dynamic_strings_and_special_headers() {
    let mut kinds = Vec::new();
    for (path, text) in format_files() {
        let name = stem(&path);
        let ev = parse(&path, &text);
        if name.ends_with("sched_process_exec") {
            assert_eq!(
                ev.field("filename").unwrap().kind,
                FieldKind::DataLoc { width: 4 }
            );
            kinds.push("exec");
        }
        if name.ends_with("sched_process_fork") {
            let pc = &ev.field("parent_comm").unwrap().kind;
            assert!(
                matches!(
                    pc,
                    FieldKind::DataLoc { width: 4 } | FieldKind::Array { len: 16, .. }
                ),
                "{name}: {pc:?}"
            );
        }
        if name.contains("olddataloc") {
            let f = ev.field("name").unwrap();
            assert_eq!(
                (f.kind.clone(), f.size, f.signed),
                (FieldKind::DataLoc { width: 2 }, 2, None)
            );
            kinds.push("old");
        }
        if name.ends_with("foo_rel_loc") {
            assert_eq!(ev.field("foo").unwrap().kind, FieldKind::RelLoc);
            assert_eq!(ev.field("bitmask").unwrap().kind, FieldKind::RelLoc);
            kinds.push("rel");
        }
        if name.contains("rt-lazy") {
            let lazy = ev.field("common_preempt_lazy_count").unwrap();
            assert!(ev.common_fields.contains(lazy));
            assert_eq!(ev.field("__syscall_nr").unwrap().offset, 12);
        }
        if name.starts_with("2.6.31") {
            assert_eq!(ev.field("common_tgid").unwrap().offset, 8);
            // No `signed:` in 2.6.31: inferred from the type.
            let pid = ev.field("pid").unwrap();
            assert_eq!((pid.signed, pid.is_signed()), (None, true));
            let param = ev.field("param").unwrap();
            assert_eq!(
                (param.kind.clone(), param.is_signed()),
                (FieldKind::Pointer, false)
            );
            assert_eq!(param.type_text, "struct sched_param *");
        }
        if name.ends_with("sys_enter_openat") {
            let f = ev.field("filename").unwrap();
            assert_eq!((f.kind.clone(), f.size), (FieldKind::Pointer, 8), "{name}");
            assert_eq!(f.type_text, "const char *");
        }
        if name.ends_with("inet_sock_set_state") {
            assert_eq!(ev.symbol_table("family").unwrap().render(2), "AF_INET");
            assert_eq!(
                ev.symbol_table("newstate").unwrap().render(1),
                "TCP_ESTABLISHED"
            );
            assert_eq!(
                ev.symbol_table("protocol").unwrap().render(6),
                "IPPROTO_TCP"
            );
            assert_eq!(
                ev.field("saddr_v6").unwrap().kind,
                FieldKind::Array {
                    len: 16,
                    elem_size: 1
                }
            );
        }
    }
    for k in ["exec", "old", "rel"] {
        assert!(kinds.contains(&k), "no {k} event in the corpus");
    }
}

fn load(rel: &str) -> EventFormat {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tracefs")).join(rel);
    parse(&p, &std::fs::read_to_string(&p).unwrap())
}

fn field<'a>(ev: &'a EventFormat, name: &str) -> &'a Field {
    ev.field(name).unwrap()
}

#[test]
fn extraction_on_hand_built_records() {
    // 32-bit raw_syscalls: signed 4-byte long id, 4-byte args.
    let ev = load("variants/i386_raw_syscalls_sys_enter.format");
    let mut raw = vec![0u8; 36];
    raw[0..2].copy_from_slice(&21u16.to_le_bytes());
    raw[8..12].copy_from_slice(&(-38i32).to_le_bytes());
    for i in 0..6 {
        raw[12 + 4 * i..16 + 4 * i].copy_from_slice(&(0xffff_fff0u32 + i as u32).to_le_bytes());
    }
    assert_eq!(field(&ev, "common_type").u64(&raw), Some(21));
    assert_eq!(field(&ev, "id").i64(&raw), Some(-38));
    assert_eq!(field(&ev, "id").u64(&raw), Some(0xffff_ffda));
    assert_eq!(field(&ev, "args").array_u64(&raw, 0), Some(0xffff_fff0));
    assert_eq!(field(&ev, "args").array_u64(&raw, 5), Some(0xffff_fff5));
    assert_eq!(field(&ev, "args").array_u64(&raw[..35], 5), None);

    // 4-byte data_loc (6.18 sched_process_exec).
    let ev = load("6.18.44-fc-v595-x86_64/sched_sched_process_exec.format");
    let mut raw = vec![0u8; 20];
    raw[8..12].copy_from_slice(&((10u32 << 16) | 20).to_le_bytes());
    raw[12..16].copy_from_slice(&4242i32.to_le_bytes());
    raw.extend_from_slice(b"/bin/true\0");
    assert_eq!(
        field(&ev, "filename").str_bytes(&raw),
        Some(&b"/bin/true"[..])
    );
    assert_eq!(
        field(&ev, "filename").bytes(&raw).map(<[u8]>::len),
        Some(10)
    );
    assert_eq!(field(&ev, "pid").i64(&raw), Some(4242));
    assert_eq!(field(&ev, "filename").str_bytes(&raw[..25]), None);

    // 2-byte data_loc.
    let ev = load("variants/olddataloc_lock_lock_acquire.format");
    let mut raw = vec![0u8; 16];
    raw[8..12].copy_from_slice(&3u32.to_le_bytes());
    raw[12..14].copy_from_slice(&16u16.to_le_bytes());
    raw.extend_from_slice(b"&rq->lock\0\0\0");
    assert_eq!(field(&ev, "name").str_bytes(&raw), Some(&b"&rq->lock"[..]));
    assert_eq!(field(&ev, "flags").u64(&raw), Some(3));

    // rel_loc: foo's payload follows the fixed part, offset counted from foo's end (12).
    let ev = load("variants/rel_loc_sample-trace_foo_rel_loc.format");
    let mut raw = vec![0u8; 20];
    raw[8..12].copy_from_slice(&((6u32 << 16) | 8).to_le_bytes()); // 12 + 8 = 20
    raw[12..16].copy_from_slice(&(-7i32).to_le_bytes());
    raw[16..20].copy_from_slice(&((8u32 << 16) | 6).to_le_bytes()); // 20 + 6 = 26
    raw.extend_from_slice(b"Hello\0");
    raw.extend_from_slice(&0b1011u64.to_le_bytes());
    assert_eq!(field(&ev, "foo").str_bytes(&raw), Some(&b"Hello"[..]));
    assert_eq!(field(&ev, "bar").i64(&raw), Some(-7));
    assert_eq!(
        field(&ev, "bitmask").bytes(&raw),
        Some(&0b1011u64.to_le_bytes()[..])
    );

    // Inline char arrays (6.18 sched_switch).
    let ev = load("6.18.44-fc-v595-x86_64/sched_sched_switch.format");
    let mut raw = vec![0u8; 64];
    raw[8..12].copy_from_slice(b"bash");
    raw[32..40].copy_from_slice(&0x100u64.to_le_bytes());
    raw[40..56].copy_from_slice(b"0123456789abcdef"); // no NUL: whole array
    assert_eq!(field(&ev, "prev_comm").str_bytes(&raw), Some(&b"bash"[..]));
    assert_eq!(
        field(&ev, "next_comm").str_bytes(&raw),
        Some(&b"0123456789abcdef"[..])
    );
    let st = field(&ev, "prev_state").u64(&raw).unwrap();
    assert_eq!(ev.symbol_table("prev_state").unwrap().render(st), "R+");
}

#[test]
fn truncation_never_panics_and_names_a_real_line() {
    for (path, text) in format_files() {
        let nlines = text.lines().count();
        for cut in (0..text.len()).step_by(7) {
            if !text.is_char_boundary(cut) {
                continue;
            }
            if let Err(e) = EventFormat::parse(&text[..cut]) {
                assert!(
                    e.line >= 1 && e.line <= nlines.max(1),
                    "{}",
                    e.in_file(&path)
                );
                assert!(e.column >= 1);
            }
        }
    }
}

#[test]
fn garbled_field_lines_are_reported_at_their_line() {
    for (path, text) in format_files() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.trim_start().starts_with("field:") {
                continue;
            }
            for garble in [
                line.replacen("offset:", "offset:x", 1),
                line.replacen("size:", "size:-", 1),
                line.replacen("offset:", "ofset:", 1),
                line.replacen(';', "", 10),
            ] {
                let mut copy = lines.clone();
                copy[i] = &garble;
                let bad = copy.join("\n");
                let e = EventFormat::parse(&bad)
                    .err()
                    .unwrap_or_else(|| panic!("{}: `{garble}` accepted", path.display()));
                assert_eq!(e.line, i + 1, "{}: {e}", path.display());
            }
        }
        let mut copy: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        copy[1] = "ID: twelve".into();
        let e = EventFormat::parse(&copy.join("\n")).unwrap_err();
        assert_eq!((e.line, e.column), (2, 5), "{}", path.display());
    }
}

#[test]
fn transport_damage_is_tolerated() {
    for (path, text) in format_files() {
        let base = parse(&path, &text);
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(
            EventFormat::parse(&crlf).unwrap(),
            base,
            "{}",
            path.display()
        );
        let flat: String = text
            .lines()
            .map(|l| format!("{}\n", l.trim_start()))
            .collect();
        assert_eq!(
            EventFormat::parse(&flat).unwrap(),
            base,
            "{}",
            path.display()
        );
    }
}

/// xorshift64*: deterministic, no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const ALPHABET: &[u8] =
    b";:{}[]()\",|&<>?-+*~0123456789xX_ \t\n\rRECfieldoffsetsizesigned__data_loc__rel_loc\\";

fn mutate(rng: &mut Rng, text: &[u8]) -> Vec<u8> {
    let mut b = text.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let end = (at + rng.below(16)).min(b.len());
                b.drain(at.min(end)..end);
            }
            1 => b.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            2 if at < b.len() => b[at] = ALPHABET[rng.below(ALPHABET.len())],
            3 if !b.is_empty() => {
                let start = rng.below(b.len());
                let end = (start + rng.below(40)).min(b.len());
                let chunk = b[start..end].to_vec();
                b.splice(at..at, chunk);
            }
            4 => b.truncate(at),
            _ => b.insert(at, (rng.next() & 0xff) as u8),
        }
    }
    b
}

fn exercise(ev: &EventFormat, rng: &mut Rng) {
    for len in [0usize, 3, 8, 17, 64, 300] {
        let raw: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        for f in ev.all_fields() {
            let _ = (f.u64(&raw), f.i64(&raw), f.bytes(&raw), f.str_bytes(&raw));
            for i in 0..4 {
                let _ = f.array_u64(&raw, i);
            }
        }
    }
    for t in &ev.symbols {
        for v in [0, 1, u64::MAX, rng.next()] {
            let _ = t.render(v);
        }
    }
    let _ = ev.long_size();
}

#[test]
fn seeded_mutations_never_panic() {
    let mut rng = Rng(0x7470_6469_6700_0001);
    let (mut ok, mut err) = (0, 0);
    for (_path, text) in format_files() {
        for _ in 0..300 {
            let m = mutate(&mut rng, text.as_bytes());
            let s = String::from_utf8_lossy(&m);
            match EventFormat::parse(&s) {
                Ok(ev) => {
                    ok += 1;
                    exercise(&ev, &mut rng);
                }
                Err(e) => {
                    err += 1;
                    assert!(e.line >= 1 && e.line <= s.split('\n').count(), "{e}");
                }
            }
        }
    }
    // Both outcomes occur, so the loop really reaches the parser's error paths.
    assert!(ok > 100 && err > 100, "ok {ok}, err {err}");
}

/// Every event of the running kernel parses (root mounts tracefs if needed; otherwise the
/// test is skipped when tracefs is unreachable).
#[test]
fn live_kernel_formats_parse() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let opts = LocateOptions {
        allow_mount: root,
        ..Default::default()
    };
    let tfs = match locate(&opts) {
        Ok(t) => t,
        Err(e) => {
            assert!(!root, "root cannot use tracefs: {e}");
            eprintln!("skipped: {e}");
            return;
        }
    };
    let mut parsed = 0;
    for system in tfs.list_systems() {
        for event in tfs.list_events(&system) {
            let text = match tfs.read_format(&system, &event) {
                Ok(t) => t,
                Err(TracefsError::PermissionDenied { .. }) => continue,
                Err(e) => panic!("{e}"),
            };
            let path = tfs.format_path(&system, &event);
            let ev = EventFormat::parse(&text).unwrap_or_else(|e| panic!("{}", e.in_file(&path)));
            assert_eq!(ev.name, event, "{}", path.display());
            parsed += 1;
        }
    }
    assert!(
        parsed > 100,
        "only {parsed} events under {}",
        tfs.root().display()
    );
    let ev = EventFormat::parse(&tfs.read_format("sched", "sched_switch").unwrap()).unwrap();
    assert_eq!(ev.symbol_table("prev_state").unwrap().render(0), "R");
    parse_header_page(&tfs.read_header_page().unwrap()).unwrap();
    assert!(tfs.event_exists("sched", "sched_switch"));
    assert!(!tfs.event_exists("sched", "no_such_event"));
}
