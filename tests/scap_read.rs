//! `-r X.scap`: every sample capture in ../shared/scap-samples prints sysdig 0.29's own
//! lines (`X.sysdig.txt`) and JSON objects (`X.sysdig.json`); mixed `-r` merges by time;
//! damaged files fail with the byte offset and never panic.
//! No difference has a named cause: every line and every object must be identical.

mod common;

use common::*;
use serde_json::Value;

const SAMPLES: &str = "../shared/scap-samples";
const NAMES: [&str; 6] = [
    "cat_write",
    "connect_localhost",
    "empty",
    "open-multiple-files",
    "ping_sendto",
    "syscall",
];

fn sample(name: &str, ext: &str) -> String {
    format!("{SAMPLES}/{name}.{ext}")
}

fn tpdig_stdout(args: &[&str]) -> String {
    let out = run(args, &[]);
    assert!(
        out.status.success(),
        "tpdig {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn text_output_is_sysdigs_for_every_sample() {
    let (mut same, mut total) = (0usize, 0usize);
    for name in NAMES {
        let ours = tpdig_stdout(&["-r", &sample(name, "scap")]);
        let theirs = std::fs::read_to_string(sample(name, "sysdig.txt")).unwrap();
        let ours: Vec<&str> = ours.lines().collect();
        let theirs: Vec<&str> = theirs.lines().collect();
        assert_eq!(ours.len(), theirs.len(), "{name}: line count");
        for (a, b) in ours.iter().zip(&theirs) {
            total += 1;
            if a == b {
                same += 1;
            } else {
                eprintln!("{name}:\n  tpdig:  {a}\n  sysdig: {b}");
            }
        }
    }
    eprintln!("text: {same} of {total} lines identical");
    // No difference has a named cause in the text output: all lines must match.
    assert_eq!(same, total);
}

#[test]
fn json_output_is_sysdigs_for_every_sample() {
    let (mut same, mut total) = (0usize, 0usize);
    for name in NAMES {
        let ours = tpdig_stdout(&["-r", &sample(name, "scap"), "-j"]);
        let theirs = std::fs::read_to_string(sample(name, "sysdig.json")).unwrap();
        let parse = |t: &str| -> Vec<Value> {
            t.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).expect("JSON line"))
                .collect()
        };
        let (ours, theirs) = (parse(&ours), parse(&theirs));
        assert_eq!(ours.len(), theirs.len(), "{name}: object count");
        for (a, b) in ours.iter().zip(&theirs) {
            total += 1;
            if a == b {
                same += 1;
            } else {
                eprintln!("{name}:\n  tpdig:  {a}\n  sysdig: {b}");
            }
        }
    }
    eprintln!("json: {same} of {total} objects identical");
    // A missing field is "<NA>" in both (formats/json.md): all objects must match.
    assert_eq!(same, total);
}

#[test]
fn a_scap_and_a_tpdig_capture_merge_by_time() {
    let dir = std::env::temp_dir().join(format!("tpdig-scap-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tpcap = dir.join("cat.tpcap");
    let tpcap = tpcap.to_str().unwrap();
    tpdig_stdout(&["-r", &sample("cat_write", "scap"), "-w", tpcap]);
    let merged = tpdig_stdout(&["-r", &sample("syscall", "scap"), "-r", tpcap]);
    let lines = parse_event_lines(&merged);
    let _ = std::fs::remove_dir_all(&dir);
    // syscall.scap (April 2018) holds 12 shown events, cat_write (a year before) 85.
    assert_eq!(lines.len(), 97);
    assert!(lines[0].comm == "cat" && lines[96].tid == 16518, "{merged}");
    let times: Vec<(String, u64)> = lines.iter().map(|l| (l.time.clone(), l.num)).collect();
    assert!(times.windows(2).all(|w| w[0].1 < w[1].1));
}

#[test]
fn filters_and_fields_work_on_scap_events() {
    let out = tpdig_stdout(&[
        "-r",
        &sample("open-multiple-files", "scap"),
        "-p",
        "%evt.type %fd.name",
        "evt.type=close and evt.dir=>",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 13, "{out}");
    assert_eq!(lines[0], "close /tmp/file-1");
}

#[test]
fn damaged_scap_files_fail_with_the_offset() {
    let dir = std::env::temp_dir().join(format!("tpdig-scap-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let full = std::fs::read(sample("syscall", "scap")).unwrap();
    let cut = dir.join("cut.scap");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let out = run(&["-r", cut.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a cut capture must fail");
    assert!(err.contains("byte"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_and_bit_flipped_samples_never_panic_the_parser() {
    use tpdig::scap::{gzip, read_all};
    for name in NAMES {
        let file = std::fs::read(sample(name, "scap")).unwrap();
        let data = gzip::inflate(&file, 1 << 30).unwrap().data;
        // Every cut on a coarse grid plus the last 64 bytes one by one.
        let cuts = (0..data.len())
            .step_by(97)
            .chain(data.len().saturating_sub(64)..data.len());
        for n in cuts {
            if let Err(e) = read_all(&data[..n]) {
                assert!(e.offset as usize <= n, "{name} cut at {n}: {e}");
            }
        }
        let mut flipped = data.clone();
        for i in (0..data.len()).step_by(331) {
            flipped[i] ^= 1 << (i % 8);
            let _ = read_all(&flipped);
            flipped[i] = data[i];
        }
        // The compressed file, cut and flipped, through the inflater.
        for n in (0..file.len()).step_by(1999) {
            let _ = gzip::inflate(&file[..n], 1 << 30).map(|d| read_all(&d.data).is_ok());
        }
    }
}
