//! `-w FILE.scap`: a live capture of a command, read by sysdig 0.29 itself. sysdig must
//! see cat's openat of /etc/hostname and its reads on that fd by name, and run its chisels
//! on the file. A sample read and written back must print sysdig's own lines again.

mod common;

use common::*;
use std::process::Command;

/// sysdig's exit status and its output; on failure the text ends with what it said on stderr.
fn sysdig(args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("sysdig").args(args).output().ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        text += &format!(
            "\n[sysdig {}: {}]",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some((out.status.success(), text))
}

struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("tpdig-scapw-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn path(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn sysdig_reads_a_live_capture_of_cat_with_names() {
    if !can_trace() || sysdig(&["--version"]).is_none() {
        eprintln!("skipped: needs root and sysdig");
        return;
    }
    let dir = Scratch::new("live");
    let file = dir.path("t.scap");
    let out = run(&["-w", &file, "--", "cat", "/etc/hostname"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, text) = sysdig(&["-r", &file]).unwrap();
    assert!(ok, "sysdig -r failed:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("cat (") && l.contains("< openat fd=3(<f>/etc/hostname)")),
        "{text}"
    );
    // cat's stdout is a pipe here, so it reads (copy_file_range to a pipe is refused).
    assert!(
        text.lines()
            .any(|l| l.contains("> read fd=3(<f>/etc/hostname)")),
        "{text}"
    );
    let (ok, top) = sysdig(&["-r", &file, "-c", "topfiles_bytes"]).unwrap();
    assert!(ok && top.contains("/etc/hostname"), "{top}");
    let (ok, cpu) = sysdig(&["-r", &file, "-c", "topprocs_cpu"]).unwrap();
    assert!(ok && cpu.contains("CPU%"), "{cpu}");
}

/// sysdig refuses a whole file when one process-table string is longer than its reader
/// takes (args over 4096 bytes: "invalid argslen"). CI's own processes have such command
/// lines, so a capture must cut them the way sysdig's writer does.
#[test]
fn sysdig_reads_a_capture_whose_process_table_has_long_command_lines() {
    if !can_trace() || sysdig(&["--version"]).is_none() {
        eprintln!("skipped: needs root and sysdig");
        return;
    }
    let dir = Scratch::new("long");
    let file = dir.path("t.scap");
    let long_arg = format!("/{}", "d".repeat(2000));
    let args: Vec<&str> = ["-w", &file, "--", "cat", "/etc/hostname"]
        .into_iter()
        .chain(std::iter::repeat_n(long_arg.as_str(), 4))
        .collect();
    // cat fails on the missing files; the capture is what counts.
    let out = run(&args, &[]);
    assert!(
        std::fs::metadata(&file).is_ok(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, text) = sysdig(&["-r", &file]).unwrap();
    assert!(ok, "sysdig -r failed:\n{text}");
    assert!(text.contains("/etc/hostname"), "{text}");
}

#[test]
fn a_sample_written_back_prints_sysdigs_lines_again() {
    if sysdig(&["--version"]).is_none() {
        eprintln!("skipped: needs sysdig");
        return;
    }
    let dir = Scratch::new("rt");
    let file = dir.path("rt.scap");
    let sample = "../shared/scap-samples/cat_write.scap";
    let out = run(&["-r", sample, "-w", &file], &[]);
    assert!(out.status.success());
    let (ok, text) = sysdig(&["-r", &file]).unwrap();
    assert!(ok);
    let want = std::fs::read_to_string("../shared/scap-samples/cat_write.sysdig.txt").unwrap();
    // Internal events (procinfo) are not written, so only evt.num differs.
    let strip = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split_once(' ').map_or("", |x| x.1).to_string())
            .collect()
    };
    assert_eq!(strip(&text), strip(&want));
}

#[test]
fn format_scap_writes_sysdigs_format_whatever_the_name() {
    let dir = Scratch::new("fmt");
    let file = dir.path("t.cap");
    let out = run(
        &[
            "-r",
            "../shared/scap-samples/syscall.scap",
            "--format",
            "scap",
            "-w",
            &file,
        ],
        &[],
    );
    assert!(out.status.success());
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]));
    let back = run(&["-r", &file], &[]);
    let lines = String::from_utf8_lossy(&back.stdout).lines().count();
    assert_eq!(lines, 12);
}
