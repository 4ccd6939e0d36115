//! `-k`: the call stack of a selected event, live and read back from a capture on a
//! reader that no longer has the binary. The workload is a C program with a uniquely
//! named function on the path to `write`, built with frame pointers, and another built
//! without them (`-O2 -fomit-frame-pointer`), whose callers only the `.eh_frame` unwind of
//! the sample's user stack copy finds.

mod common;

use common::*;
use std::path::{Path, PathBuf};

const PROGRAM: &str = r#"
#include <string.h>
#include <unistd.h>
__attribute__((noinline)) void emit_line(const char *s) { write(1, s, strlen(s)); }
__attribute__((noinline)) void tpdig_unique_stack_fn(void) { emit_line("hello\n"); }
int main(void) { tpdig_unique_stack_fn(); return 0; }
"#;

/// Without frame pointers: `tpdig_unique_nofp_fn` calls `write` through `emit_nofp`;
/// neither keeps rbp, and work after each call keeps gcc from turning them into jumps.
const NOFP_PROGRAM: &str = r#"
#include <string.h>
#include <unistd.h>
__attribute__((noinline)) long emit_nofp(const char *s) {
    long r = write(1, s, strlen(s));
    __asm__ volatile("" ::: "memory");
    return r + 1;
}
__attribute__((noinline)) long tpdig_unique_nofp_fn(const char *s) {
    long r = emit_nofp(s);
    __asm__ volatile("" ::: "memory");
    return r * 3;
}
int main(void) { return tpdig_unique_nofp_fn("hello\n") == 21 ? 0 : 1; }
"#;

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tpdig-stk-{}-{name}", std::process::id()))
}

/// Builds PROGRAM with `flags`; `None` when no C compiler is installed.
fn build(name: &str, flags: &[&str]) -> Option<PathBuf> {
    build_source(name, PROGRAM, flags)
}

fn build_source(name: &str, program: &str, flags: &[&str]) -> Option<PathBuf> {
    let bin = tmp(name);
    build_c(program, &bin, flags).then_some(bin)
}

/// `tpdig -k --tee -w CAP evt.type=write -- PROG`: the live output (the capture goes to CAP).
fn traced_with_stacks(prog: &str, cap: &std::path::Path) -> String {
    let cap = cap.to_str().unwrap();
    let out = run(
        &["-k", "--tee", "-w", cap, "evt.type=write", "--", prog],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tpdig -r CAP`'s output.
fn replayed(cap: &std::path::Path) -> String {
    let read = run(&["-r", cap.to_str().unwrap()], &[]);
    assert!(read.status.success());
    String::from_utf8_lossy(&read.stdout).into_owned()
}

/// The frame lines under the program's write entry.
fn write_entry_frames(out: &str) -> Vec<String> {
    let mut lines = out
        .lines()
        .skip_while(|l| !(l.contains(" > write ") && l.contains("size=6")));
    assert!(lines.next().is_some(), "no write entry in:\n{out}");
    let frames: Vec<String> = lines
        .take_while(|l| l.starts_with(" > "))
        .map(String::from)
        .collect();
    assert!(!frames.is_empty(), "no frames under the write in:\n{out}");
    frames
}

fn assert_stack(frames: &[String], bin: &Path) {
    assert_stack_with(frames, bin, "tpdig_unique_stack_fn")
}

fn assert_stack_with(frames: &[String], bin: &Path, function: &str) {
    let text = frames.join("\n");
    let bin = bin.to_str().unwrap();
    assert!(
        frames
            .iter()
            .any(|f| f.starts_with(&format!(" > {bin}({function}+"))),
        "the program's function is not in the user stack:\n{text}"
    );
    // raw_syscalls fire on the system-call path: entry code and the syscall dispatcher.
    assert!(
        frames
            .iter()
            .any(|f| f.starts_with(" > [kernel](do_syscall_64+")),
        "no kernel system-call frame:\n{text}"
    );
    let first_user = frames.iter().position(|f| !f.contains("[kernel]")).unwrap();
    assert!(
        frames[..first_user].iter().all(|f| f.contains("[kernel]")),
        "kernel frames come first:\n{text}"
    );
    assert!(
        frames[first_user].contains("libc"),
        "the C library's write is innermost:\n{text}"
    );
}

#[test]
fn stack_of_a_write_names_the_callers_live_and_from_a_capture() {
    if !can_trace() {
        return;
    }
    let Some(bin) = build("fp", &["-O0", "-fno-omit-frame-pointer"]) else {
        eprintln!("skipped: no gcc");
        return;
    };
    let cap = tmp("fp.tpd");
    let frames = write_entry_frames(&traced_with_stacks(bin.to_str().unwrap(), &cap));
    assert_stack(&frames, &bin);

    // The reader has no binary to look at: the capture carries the named frames.
    std::fs::remove_file(&bin).unwrap();
    assert_eq!(write_entry_frames(&replayed(&cap)), frames);

    // evt.stack: folded, outermost first.
    let folded = run(
        &[
            "-r",
            cap.to_str().unwrap(),
            "-p",
            "%evt.stack",
            "evt.type=write and evt.dir=>",
        ],
        &[],
    );
    let folded = String::from_utf8_lossy(&folded.stdout);
    let line = folded.lines().next().unwrap_or_default();
    assert!(
        line.contains("main;tpdig_unique_stack_fn;") && line.ends_with("syscall_trace_enter"),
        "{folded}"
    );
    let _ = std::fs::remove_file(&cap);
}

#[test]
fn without_k_events_carry_no_stack() {
    if !can_trace() {
        return;
    }
    let Some(bin) = build("plain", &["-O0"]) else {
        return;
    };
    let out = run(&["evt.type=write", "--", bin.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" > write "), "{text}");
    assert!(!text.lines().any(|l| l.starts_with(" > ")), "{text}");
    let _ = std::fs::remove_file(&bin);
}

#[test]
fn stack_of_code_without_frame_pointers_comes_from_eh_frame_live_and_from_a_capture() {
    if !can_trace() {
        return;
    }
    let Some(bin) = build_source("nofp", NOFP_PROGRAM, &["-O2", "-fomit-frame-pointer"]) else {
        eprintln!("skipped: no gcc");
        return;
    };
    let path = bin.to_str().unwrap();
    // Frame pointers only (the kernel's chain): the callers are lost, so the check
    // below tests the unwinder, not the compiler's choices.
    let fp_only = run(
        &["-k", "evt.type=write", "--", path],
        &[("TPDIG_COMPAT", "no-stack-dump")],
    );
    assert!(fp_only.status.success());
    let fp_frames = write_entry_frames(&String::from_utf8_lossy(&fp_only.stdout));
    assert!(
        !fp_frames.iter().any(|f| f.contains("tpdig_unique_nofp_fn")),
        "the frame-pointer chain found the function; the program does not test the unwinder:\n{}",
        fp_frames.join("\n")
    );

    let cap = tmp("nofp.tpd");
    let frames = write_entry_frames(&traced_with_stacks(path, &cap));
    assert_stack_with(&frames, &bin, "tpdig_unique_nofp_fn");
    // The whole path: the helper between, and main above it.
    let text = frames.join("\n");
    let at = |name: &str| {
        frames
            .iter()
            .position(|f| f.starts_with(&format!(" > {path}({name}+")))
            .unwrap_or_else(|| panic!("no {name} frame:\n{text}"))
    };
    assert!(at("emit_nofp") < at("tpdig_unique_nofp_fn"), "{text}");
    assert!(at("tpdig_unique_nofp_fn") < at("main"), "{text}");

    // The reader has no binary: the capture carries the named frames, not the stack copy.
    std::fs::remove_file(&bin).unwrap();
    assert_eq!(write_entry_frames(&replayed(&cap)), frames);
    let _ = std::fs::remove_file(&cap);
}
