//! Trace files end to end: what a live run printed, `-r` prints again — on this machine,
//! without tracefs, compressed or not — and damaged files give a clear error after
//! everything readable.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tpdig-cap-{}-{name}", std::process::id()))
}

/// A small workload with files, a failure, a pipe and a child process.
const WORKLOAD: &[&str] = &[
    "sh",
    "-c",
    "cat /etc/hostname /nonexistent-tpdig >/dev/null 2>&1; ls / >/dev/null",
];

fn live_and_capture(extra: &[&str], file: &PathBuf) -> String {
    let mut args = vec!["--tee", "-w", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(WORKLOAD);
    let out = run(&args, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn reading_a_capture_prints_exactly_what_the_live_run_printed() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    for (label, extra) in [("plain", &[][..]), ("z", &["-z"][..])] {
        let file = tmp(label);
        let live = live_and_capture(extra, &file);
        assert!(live.lines().count() > 100, "{label}: a real workload");
        assert!(
            live.contains("name=/etc/hostname"),
            "{label}: names resolved live"
        );
        let out = run(&["-r", file.to_str().unwrap()], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let replay = String::from_utf8(out.stdout).unwrap();
        if live != replay {
            let diff = live.lines().zip(replay.lines()).find(|(a, b)| a != b);
            panic!(
                "{label}: replay differs: first difference {diff:?} ({} vs {} lines)",
                live.lines().count(),
                replay.lines().count()
            );
        }
        // The reading machine's tracefs plays no part.
        let empty = tmp("empty-tracefs");
        std::fs::create_dir_all(&empty).unwrap();
        let out = run(
            &["-r", file.to_str().unwrap()],
            &[("TPDIG_TRACEFS", empty.to_str().unwrap())],
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            live,
            "{label}: host independence"
        );
        // JSON and filters work on files too.
        let out = run(
            &[
                "-r",
                file.to_str().unwrap(),
                "-j",
                "evt.type=openat and evt.failed=true",
            ],
            &[],
        );
        let json = String::from_utf8(out.stdout).unwrap();
        assert!(
            json.lines().count() >= 1 && json.contains("ENOENT"),
            "{label}: {json}"
        );
        std::fs::remove_file(&file).unwrap();
    }
}

#[test]
fn compressed_captures_are_smaller() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    let (a, b) = (tmp("size-plain"), tmp("size-z"));
    live_and_capture(&[], &a);
    live_and_capture(&["-z"], &b);
    let (sa, sb) = (
        std::fs::metadata(&a).unwrap().len(),
        std::fs::metadata(&b).unwrap().len(),
    );
    assert!(sb * 2 < sa, "compressed {sb} vs plain {sa}");
    let _ = (std::fs::remove_file(a), std::fs::remove_file(b));
}

#[test]
fn cut_and_damaged_captures_read_up_to_the_damage_with_a_clear_error() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    let file = tmp("damage");
    live_and_capture(&["-e", "1000000"], &file);
    let path = PathBuf::from(format!("{}0", file.display()));
    let full = std::fs::read(&path).unwrap();
    let whole = run(&["-r", path.to_str().unwrap()], &[]);
    assert!(whole.status.success());
    let whole_out = String::from_utf8(whole.stdout).unwrap();
    let cut_file = tmp("cut");
    for i in 0..25 {
        let at = full.len() * i / 25;
        std::fs::write(&cut_file, &full[..at]).unwrap();
        let out = run(&["-r", cut_file.to_str().unwrap()], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "cut at {at}: {err}");
        assert!(
            err.contains(cut_file.to_str().unwrap()) && err.contains("byte"),
            "cut at {at}: {err}"
        );
        assert!(
            whole_out.starts_with(&String::from_utf8(out.stdout).unwrap()),
            "cut at {at}: a prefix of the whole"
        );
    }
    // A flipped byte in the middle: the damaged block is named; --skip-bad reads on.
    let mut bad = full.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&cut_file, &bad).unwrap();
    let out = run(&["-r", cut_file.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("block") && err.contains("byte"), "{err}");
    let skipped = run(&["-r", cut_file.to_str().unwrap(), "--skip-bad"], &[]);
    assert!(
        skipped.status.success(),
        "{}",
        String::from_utf8_lossy(&skipped.stderr)
    );
    assert!(String::from_utf8_lossy(&skipped.stderr).contains("warning"));
    let _ = (std::fs::remove_file(&path), std::fs::remove_file(&cut_file));
}

#[test]
fn rotation_makes_self_contained_files() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    let file = tmp("rot");
    live_and_capture(&["-e", "100", "-W", "3"], &file);
    let names: Vec<PathBuf> = (0..3)
        .map(|i| PathBuf::from(format!("{}{i}", file.display())))
        .collect();
    for n in &names {
        assert!(n.exists(), "{} exists", n.display());
        let out = run(&["-r", n.to_str().unwrap()], &[]);
        assert!(
            out.status.success(),
            "{}: {}",
            n.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = String::from_utf8(out.stdout).unwrap();
        assert!(
            lines.lines().count() <= 100 && !lines.is_empty(),
            "{}",
            n.display()
        );
        std::fs::remove_file(n).unwrap();
    }
    assert!(
        !PathBuf::from(format!("{}3", file.display())).exists(),
        "-W 3 keeps three names"
    );
}

#[test]
fn a_killed_writer_leaves_a_readable_capture() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    let file = tmp("killed");
    let mut w = Workload::start("noop", "");
    let tracer = Tracer::start(&["-w", file.to_str().unwrap()], &[]);
    w.go();
    w.wait();
    // Blocks are written at least once a second: wait until the file has events in it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = run(&["-r", file.to_str().unwrap(), "-n", "1"], &[]);
        if !out.stdout.is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut child = tracer.child;
    child.kill().unwrap();
    child.wait().unwrap();
    let out = Command::new(BIN)
        .args(["-r", file.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.stdout.is_empty(),
        "events before the kill are readable"
    );
    assert!(
        out.status.code() == Some(7) || out.status.success(),
        "{err}"
    );
    assert_ne!(out.status.code(), Some(101), "no panic: {err}");
    let _ = std::fs::remove_file(&file);
}

#[test]
fn workload() {
    workload_entry(|_, _| {});
}
