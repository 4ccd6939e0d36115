//! What users meet at the edges: pipes closed early, signals, bad input, missing tracefs,
//! missing privileges. Each has a clear message and its own exit code.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

#[test]
fn piping_into_head_ends_quietly() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    let mut child = Command::new(BIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        for _ in 0..5 {
            let mut l = String::new();
            assert!(out.read_line(&mut l).unwrap() > 0);
        }
        // dropping the reader closes the pipe, as head does after its lines
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "exit status after EPIPE");
    assert!(
        out.stderr.is_empty(),
        "no message: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_ends_cleanly_with_the_summary() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    let t = Tracer::start(&["-q"], &[]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(t.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (_, err) = t.finish();
    assert!(err.contains("stopped by signal SIGTERM"), "{err}");
    assert!(err.contains("events in"), "{err}");
}

#[test]
fn max_seconds_and_numevents_end_the_capture() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    let out = run(&["-n", "7"], &[]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 7);
    let out = run(&["-q", "-v", "-M", "0.3"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped by -M"));
}

#[test]
fn a_tracefs_without_events_is_exit_4() {
    let empty = std::env::temp_dir().join(format!("tpdig-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(&["-n", "1"], &[("TPDIG_TRACEFS", empty.to_str().unwrap())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains(empty.to_str().unwrap()),
        "names the directory: {err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let out = run(&["--buffer-size", "8X"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("suffix"));
    let out = run(&["--compat", "bogus"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'bogus'"));
    let out = run(&["-M", "-1"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_points_at_the_man_page_and_version_prints() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("man tpdig"));
    let out = run(&["--version"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("tpdig "));
}

#[test]
fn without_privileges_the_exit_code_is_3() {
    if !can_trace() {
        return;
    }
    let out = Command::new(BIN)
        .args(["-n", "1"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn the_binary_is_statically_linked() {
    // A dynamically linked ELF has a PT_INTERP program header naming its loader.
    let elf = std::fs::read(BIN).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes(elf[0x36..0x38].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(elf[0x38..0x3a].try_into().unwrap()) as usize;
    for i in 0..phnum {
        let p = phoff + i * phentsize;
        let kind = u32::from_le_bytes(elf[p..p + 4].try_into().unwrap());
        assert_ne!(
            kind, 3,
            "PT_INTERP present: the binary is dynamically linked"
        );
    }
}
