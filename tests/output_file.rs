//! `-o FILE`: the events go to FILE and a traced command keeps stdout, in every output mode
//! (the line, -p, -j, -S, chisels, and -r). Regression for `tpdig -j -- cat f > t.jsonl`
//! mixing cat's output into the JSON stream.

mod common;

use common::*;
use std::path::PathBuf;

/// A directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tpdig-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").unwrap()
}

#[test]
fn json_to_a_file_leaves_the_commands_output_on_stdout() {
    if !can_trace() {
        return;
    }
    let dir = Scratch::new("json");
    let file = dir.path("t.jsonl");
    let out = run(&["-j", "-o", &file, "--", "cat", "/etc/hostname"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), hostname());
    let text = std::fs::read_to_string(&file).unwrap();
    let mut cat_read_hostname = false;
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} of {file} is not JSON ({e}): {line}", i + 1));
        let info = v["evt.info"].as_str().unwrap_or("");
        cat_read_hostname |= v["proc.name"] == "cat" && info.contains("/etc/hostname");
    }
    assert!(
        cat_read_hostname,
        "cat's open of /etc/hostname is in the file:\n{text}"
    );
}

#[test]
fn lines_and_the_summary_go_to_the_file_in_order() {
    if !can_trace() {
        return;
    }
    let dir = Scratch::new("text");
    let file = dir.path("t.txt");
    let out = run(&["-S", "-o", &file, "--", "cat", "/etc/hostname"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), hostname());
    let text = std::fs::read_to_string(&file).unwrap();
    let table = text.find("#Calls").expect("the -S table is in the file");
    let events = parse_event_lines(&text[..table]);
    assert!(
        events
            .iter()
            .any(|l| l.comm == "cat" && l.info.contains("/etc/hostname")),
        "{text}"
    );
    assert!(
        parse_event_lines(&text[table..]).is_empty(),
        "no event after the table:\n{text}"
    );
    assert!(text[table..].contains("openat"), "{text}");
}

#[test]
fn print_format_and_a_chisel_write_to_the_file() {
    if !can_trace() {
        return;
    }
    let dir = Scratch::new("format");
    let file = dir.path("p.txt");
    let out = run(
        &[
            "-p",
            "%proc.name %fd.name",
            "-o",
            &file,
            "--",
            "cat",
            "/etc/hostname",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), hostname());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.lines().any(|l| l == "cat /etc/hostname"), "{text}");

    let file = dir.path("c.txt");
    let out = run(
        &[
            "-c",
            "topfiles_bytes",
            "-o",
            &file,
            "--",
            "cat",
            "/etc/hostname",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), hostname());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("/etc/hostname"), "{text}");
}

#[test]
fn reading_a_capture_writes_to_the_file() {
    if !can_trace() {
        return;
    }
    let dir = Scratch::new("read");
    let cap = dir.path("c.cap");
    let out = run(&["-w", &cap, "--", "cat", "/etc/hostname"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let file = dir.path("r.txt");
    let out = run(&["-r", &cap, "-o", &file, "proc.name=cat"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!parse_event_lines(&text).is_empty(), "{text}");
}

#[test]
fn an_output_file_that_cannot_be_created_is_named() {
    let out = run(&["-o", "/nonexistent-dir/t.jsonl", "-r", "/dev/null"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("-o /nonexistent-dir/t.jsonl"), "{err}");
}
