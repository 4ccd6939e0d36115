//! Off-CPU time and pictures of the scheduler (#15): the `offcpu` and `stacks` chisels on
//! a C program with uniquely named functions (built with frame pointers), and the CPU
//! tracks of `--export-trace`. Each run traces the program as a command (`--`), so only
//! its own events are seen; the program's sleeps are its workload, not synchronization.

mod common;

use common::*;
use std::path::PathBuf;

/// Sleeps 200 ms `argv[1]` times (default 10) in one function, then writes three lines
/// from another (to stderr: stdout is the chisel's).
const PROGRAM: &str = r#"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
__attribute__((noinline)) void nap(void) {
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, 0);
}
__attribute__((noinline)) void tpdig_unique_offcpu_fn(int n) { for (int i = 0; i < n; i++) nap(); }
__attribute__((noinline)) void emit(const char *s) { write(2, s, strlen(s)); }
__attribute__((noinline)) void tpdig_unique_writer_fn(void) { for (int i = 0; i < 3; i++) emit("w\n"); }
int main(int argc, char **argv) {
    tpdig_unique_offcpu_fn(argc > 1 ? atoi(argv[1]) : 10);
    tpdig_unique_writer_fn();
    return 0;
}
"#;

/// The program's name (its comm), in a directory of this test run's own.
const NAME: &str = "offwork";

/// A directory of this test's own (tests run in parallel).
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tpdig-offcpu-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The program, built for `test`; `None` when no C compiler is installed.
fn program(test: &str) -> Option<PathBuf> {
    let bin = dir(test).join(NAME);
    if !build_c(PROGRAM, &bin, &["-O0", "-fno-omit-frame-pointer"]) {
        eprintln!("skipped: no gcc");
        return None;
    }
    Some(bin)
}

fn tpdig_ok(args: &[&str]) -> String {
    let out = run(args, &[]);
    assert!(
        out.status.success(),
        "tpdig {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Folded lines `frames count` as (frames, count); panics on any other line.
fn folded(text: &str) -> Vec<(Vec<String>, u64)> {
    text.lines()
        .map(|l| {
            let (stack, n) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not folded: {l}"));
            let n = n.parse().unwrap_or_else(|_| panic!("no count: {l}"));
            (stack.split(';').map(String::from).collect(), n)
        })
        .collect()
}

#[test]
fn offcpu_attributes_the_sleeps_to_the_sleeping_function() {
    if !can_trace() {
        return;
    }
    let Some(bin) = program("offcpu") else { return };
    // No -k: the chisel asks for stacks (on the scheduler's switches).
    let out = tpdig_ok(&["-c", "offcpu", "--", bin.to_str().unwrap()]);
    let rows = folded(&out);
    assert!(!rows.is_empty(), "no output");
    // Every row is the program's; a switch inside its own execve (a migration at
    // sched_exec) still carries the starter's comm, since the exec has not renamed it yet.
    let in_exec = |f: &[String]| f.iter().any(|x| x == "__x64_sys_execve");
    assert!(
        rows.iter().all(|(f, _)| f[0] == NAME || in_exec(f)),
        "{out}"
    );
    let asleep: Vec<_> = rows
        .iter()
        .filter(|(f, _)| f.iter().any(|x| x == "tpdig_unique_offcpu_fn"))
        .collect();
    let us: u64 = asleep.iter().map(|r| r.1).sum();
    // Ten sleeps of 200 ms: 2 s, within 10%.
    assert!((1_800_000..=2_200_000).contains(&us), "{us} us in:\n{out}");
    // The stack goes from main through the function into the kernel's scheduler.
    let (f, _) = asleep.iter().max_by_key(|r| r.1).unwrap();
    let main = f.iter().position(|x| x == "main").expect("main");
    let mine = f
        .iter()
        .position(|x| x == "tpdig_unique_offcpu_fn")
        .unwrap();
    assert!(main < mine, "root first: {f:?}");
    assert!(
        f[mine..].iter().any(|x| x.contains("nanosleep")) && f.last().unwrap().contains("schedule"),
        "the kernel's sleep path, innermost last: {f:?}"
    );

    // By reason: the same time, as sleeping (prev_state S).
    let out = tpdig_ok(&["-c", "offcpu", "reason", "--", bin.to_str().unwrap()]);
    let rows = folded(&out);
    let sleeping: u64 = rows
        .iter()
        .filter(|(f, _)| f[1] == "[sleeping]" && f.iter().any(|x| x == "tpdig_unique_offcpu_fn"))
        .map(|r| r.1)
        .sum();
    assert!(
        (1_800_000..=2_200_000).contains(&sleeping),
        "{sleeping} us in:\n{out}"
    );
    let _ = std::fs::remove_dir_all(dir("offcpu"));
}

#[test]
fn stacks_folds_the_selected_events_stacks_once_per_call() {
    if !can_trace() {
        return;
    }
    let Some(bin) = program("stacks") else { return };
    let out = tpdig_ok(&[
        "-c",
        "stacks",
        "evt.type=write",
        "--",
        bin.to_str().unwrap(),
        "0",
    ]);
    let rows = folded(&out);
    let writes: Vec<_> = rows
        .iter()
        .filter(|(f, _)| f.iter().any(|x| x == "tpdig_unique_writer_fn"))
        .collect();
    assert_eq!(writes.len(), 1, "one stack for the three writes:\n{out}");
    let (f, n) = writes[0];
    assert_eq!(*n, 3, "each write counted once (at its entry):\n{out}");
    assert_eq!(f[0], NAME);
    let main = f.iter().position(|x| x == "main").expect("main");
    let mine = f
        .iter()
        .position(|x| x == "tpdig_unique_writer_fn")
        .unwrap();
    assert!(main < mine, "{f:?}");
    assert!(f[mine..].iter().any(|x| x == "do_syscall_64"), "{f:?}");
    // Only writes were selected: the sleeps' calls have no line.
    assert!(
        !rows
            .iter()
            .any(|(f, _)| f.iter().any(|x| x == "tpdig_unique_offcpu_fn")),
        "{out}"
    );

    // -k with a filter on the scheduler's events alone: the switch-outs carry the stack of
    // the thread switched out (regression: a filter that opens no system-call tracepoint
    // once hid every event of a traced command).
    let out = tpdig_ok(&["-k", "evt.type=switch", "--", bin.to_str().unwrap(), "1"]);
    let mut lines = out
        .lines()
        .skip_while(|l| !(l.contains(" > switch ") && l.contains("prev_state=S")));
    assert!(lines.next().is_some(), "no switch-out to sleep:\n{out}");
    let frames: Vec<&str> = lines.take_while(|l| l.starts_with(" > ")).collect();
    assert!(
        frames
            .iter()
            .any(|f| f.contains("(tpdig_unique_offcpu_fn+")),
        "{out}"
    );
    assert!(frames.iter().any(|f| f.contains("(do_nanosleep+")), "{out}");
    let _ = std::fs::remove_dir_all(dir("stacks"));
}

#[test]
fn the_timeline_has_the_programs_scheduler_slices_on_cpu_tracks() {
    if !can_trace() {
        return;
    }
    let Some(bin) = program("sched") else { return };
    let d = dir("sched");
    let cap = d.join("sched.tpd");
    let json = d.join("sched.json");
    let (cap, json) = (cap.to_str().unwrap(), json.to_str().unwrap());
    tpdig_ok(&["-q", "-w", cap, "--", bin.to_str().unwrap(), "3"]);
    let pid: u64 = tpdig_ok(&["-r", cap, "-p", "%proc.pid", &format!("proc.name={NAME}")])
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("the program's pid");
    tpdig_ok(&["-r", cap, "--export-trace", json]);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).expect("JSON");
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    let cpus = 1u64 << 30;
    let named: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["pid"] == cpus && e["name"] == "thread_name")
        .collect();
    assert!(
        !named.is_empty()
            && named
                .iter()
                .all(|e| e["args"]["name"].as_str().unwrap().starts_with("CPU ")),
        "CPU tracks are named: {named:?}"
    );
    let mut slices: Vec<(f64, f64, String)> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["pid"] == cpus && e["args"]["pid"] == pid)
        .map(|e| {
            assert!(
                e["name"].as_str().unwrap().ends_with(&format!(" {pid}")),
                "{e}"
            );
            (
                e["ts"].as_f64().unwrap(),
                e["dur"].as_f64().unwrap(),
                e["args"]["end_state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    slices.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Three sleeps: at least three runs that end asleep, and between the runs the three
    // 200 ms gaps the program spent off CPU.
    let asleep = slices.iter().filter(|s| s.2 == "S").count();
    assert!(asleep >= 3, "{slices:?}");
    let gaps = slices
        .windows(2)
        .filter(|w| w[1].0 - (w[0].0 + w[0].1) >= 190_000.0)
        .count();
    assert_eq!(gaps, 3, "{slices:?}");
    assert!(slices.iter().all(|s| s.1 < 190_000.0), "{slices:?}");
    let _ = std::fs::remove_dir_all(&d);
}
