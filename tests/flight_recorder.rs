//! The flight recorder end to end: a workload opens numbered marker paths for a few
//! seconds; a trigger in the middle must produce a dump whose markers are contiguous, end
//! at the trigger (plus the post window), reach back no further than the rings can hold,
//! and read back with `tpdig -r` showing names. Run in both modes: kernel overwrite rings
//! and the forced user-space fallback, and with a filter trigger.
//!
//! The recorder runs in a thread of this test process (the library entry point, as the
//! CLI calls it); signals go to that thread alone (tgkill), since it is the only one that
//! blocks them.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tpdig::compat::Compat;
use tpdig::fields::Catalog;
use tpdig::flight::{self, FlightOptions, Mode};
use tpdig::live::LiveOptions;

const RING: usize = 64 * 1024;
const RUN_SECS: f64 = 6.0;
const TRIGGER_AT: Duration = Duration::from_secs(4);
/// Markers come at most one per 2 ms.
const MARKER_MS: f64 = 2.0;

const WORKLOAD: &str = r#"
import os, sys, time
base, dur = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + dur
n = 0
while time.monotonic() < end:
    try:
        os.close(os.open(f"{base}-marker-{n}", os.O_RDONLY))
    except OSError:
        pass
    print(n, flush=True)
    n += 1
    time.sleep(0.002)
t = os.times()
print(f"CPU {t.user + t.system:.3f}", flush=True)
"#;

fn have_python() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_ok_and(|s| s.success())
}

fn tid() -> i32 {
    nix::unistd::gettid().as_raw()
}

fn tgkill(tid: i32, sig: i32) {
    // SAFETY: a plain system call with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig) };
    assert_eq!(r, 0, "tgkill");
}

/// utime + stime of one thread of this process, in seconds.
fn thread_cpu(tid: i32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(") ").map_or("", |x| x.1);
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn blocks_usr1(tid: i32) -> bool {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1 << (libc::SIGUSR1 - 1)) != 0)
}

fn perf_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|l| l.to_string_lossy().contains("perf_event"))
                .count()
        })
        .unwrap_or(0)
}

struct Outcome {
    summary: flight::FlightSummary,
    base: String,
    /// Last marker the workload had printed when the trigger was sent (SIGUSR1 runs).
    before_trigger: i64,
    recorder_cpu: f64,
    workload_cpu: f64,
}

enum Trigger {
    Signal,
    /// A filter matching the open of this marker.
    Filter(i64),
}

fn run(compat: Compat, post: Duration, trigger: Trigger, label: &str) -> Outcome {
    let dir = std::env::temp_dir();
    let base = dir
        .join(format!("tpdig-flight-{}-{label}", std::process::id()))
        .to_string_lossy()
        .into_owned();
    let dump_base = PathBuf::from(format!("{base}.dump"));
    for n in 1..=3 {
        let _ = std::fs::remove_file(format!("{}.{n}", dump_base.display()));
    }
    let live = LiveOptions {
        buffer_bytes: RING,
        compat,
        include_self: false,
        verbose: true,
        max_duration: Some(Duration::from_secs(30)),
        filter_expr: None,
        command: None,
        probe_lookups: false,
        data: None,
        data_rendering: Default::default(),
        stack: false,
        stack_events: None,
    };
    let mut opts = FlightOptions::new(live, dump_base);
    opts.post = post;
    if let Trigger::Filter(k) = trigger {
        let text = format!("evt.type=openat and evt.dir=< and evt.arg.name={base}-marker-{k}");
        let expr = tpdig::filter::parse(&text, &Catalog).unwrap();
        opts.trigger = Some(tpdig::filter::compile(&expr).unwrap());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let recorder = std::thread::spawn(move || {
        tx.send(tid()).unwrap();
        flight::run(&opts)
    });
    let rtid = rx.recv().unwrap();
    let t0 = Instant::now();
    while !(blocks_usr1(rtid) && perf_fds() > 0) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "recorder never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));

    let mut child = Command::new("python3")
        .args(["-c", WORKLOAD, &base, &RUN_SECS.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let last = Arc::new(AtomicI64::new(-1));
    let last2 = last.clone();
    let reader = std::thread::spawn(move || {
        let mut cpu = 0.0;
        for line in out.lines() {
            let line = line.unwrap();
            if let Some(c) = line.strip_prefix("CPU ") {
                cpu = c.parse().unwrap();
            } else if let Ok(n) = line.parse() {
                last2.store(n, Ordering::SeqCst);
            }
        }
        cpu
    });
    let cpu0 = thread_cpu(rtid);
    let started = Instant::now();
    std::thread::sleep(TRIGGER_AT);
    let mut before_trigger = -1;
    let recorder_cpu = thread_cpu(rtid) - cpu0;
    if let Trigger::Signal = trigger {
        before_trigger = last.load(Ordering::SeqCst);
        tgkill(rtid, libc::SIGUSR1);
    }
    assert!(child.wait().unwrap().success());
    let workload_cpu = reader.join().unwrap();
    assert!(started.elapsed() >= Duration::from_secs_f64(RUN_SECS));
    tgkill(rtid, libc::SIGINT);
    let summary = recorder.join().unwrap().unwrap();
    Outcome {
        summary,
        base,
        before_trigger,
        recorder_cpu,
        workload_cpu,
    }
}

/// The marker numbers in a dump read back by the binary, and whether their events were
/// shown under the process name.
fn markers(dump: &std::path::Path, base: &str) -> (Vec<i64>, bool) {
    let out = run_bin(&["-r", dump.to_str().unwrap()]);
    let needle = format!("{base}-marker-");
    let mut seen = Vec::new();
    let mut named = true;
    for l in parse_event_lines(&out) {
        let Some(at) = l.info.find(&needle) else {
            continue;
        };
        let digits: String = l.info[at + needle.len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        seen.push(digits.parse().unwrap());
        named &= l.comm.starts_with("python");
    }
    seen.sort();
    seen.dedup();
    (seen, named)
}

fn run_bin(args: &[&str]) -> String {
    let out = common::run(args, &[]);
    assert!(
        out.status.success(),
        "tpdig {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn check(o: &Outcome, post: Duration, want_mode: Mode) {
    let s = &o.summary;
    assert_eq!(s.mode, want_mode);
    assert!(
        s.dumps.len() == 2,
        "a trigger and the end of the run: {:?}",
        s.dumps
    );
    let d = &s.dumps[0];
    let (m, named) = markers(&d.path, &o.base);
    assert!(!m.is_empty(), "no markers in {}", d.path.display());
    assert!(named, "events show the process name");
    let (first, last) = (m[0], *m.last().unwrap());
    assert_eq!(
        m.len() as i64,
        last - first + 1,
        "markers are contiguous: {m:?}"
    );
    assert!(
        first > 0,
        "the ring went round: the oldest markers are gone"
    );
    // Each marker costs at least an openat enter (104 bytes) and exit (64) in a ring.
    let ncpu = d.rings.len() as i64;
    assert!(
        m.len() as i64 * 168 <= ncpu * RING as i64,
        "{} markers cannot fit in {ncpu} rings of {RING} bytes",
        m.len()
    );
    let per_post = (post.as_secs_f64() * 1000.0 / MARKER_MS) as i64;
    if o.before_trigger >= 0 {
        // Ends at the trigger plus the post window: everything printed before the
        // trigger is in, and no more than the post window (plus latency) after it.
        assert!(
            last >= o.before_trigger + per_post / 2,
            "newest marker {last}, {} printed before the trigger",
            o.before_trigger
        );
        assert!(
            last <= o.before_trigger + per_post + 100,
            "newest marker {last} too far past the trigger at {}",
            o.before_trigger
        );
    }
    // The end-of-run dump continues where the first stopped.
    let (m2, _) = markers(&s.dumps[1].path, &o.base);
    if let Some(f2) = m2.first() {
        assert!(*f2 > last, "dumps do not overlap: {f2} after {last}");
    }
    let mut err = Vec::new();
    d.print(&mut err).unwrap();
    let text = String::from_utf8(err).unwrap();
    assert!(text.contains("ring covered"), "{text}");
    eprint!("{text}");
    for d in &s.dumps {
        let _ = std::fs::remove_file(&d.path);
    }
}

#[test]
fn kernel_overwrite_dump_on_sigusr1_holds_the_last_contiguous_markers() {
    if !can_trace() || !have_python() {
        return;
    }
    let _g = serial();
    let o = run(Compat::default(), Duration::ZERO, Trigger::Signal, "kernel");
    eprintln!(
        "flight recorder CPU time over {:.1} s of recording: tpdig {:.2} s, workload {:.2} s",
        TRIGGER_AT.as_secs_f64(),
        o.recorder_cpu,
        o.workload_cpu
    );
    check(&o, Duration::ZERO, Mode::KernelOverwrite);
    // Nothing is read while recording: well under the workload's own CPU time.
    assert!(
        o.recorder_cpu <= 0.1 + o.workload_cpu / 4.0,
        "tpdig used {:.2} s CPU while recording",
        o.recorder_cpu
    );
}

#[test]
fn kernel_overwrite_post_window_extends_the_dump() {
    if !can_trace() || !have_python() {
        return;
    }
    let _g = serial();
    let post = Duration::from_secs(1);
    let o = run(Compat::default(), post, Trigger::Signal, "kernel-post");
    check(&o, post, Mode::KernelOverwrite);
}

#[test]
fn forced_fallback_passes_the_same_test() {
    if !can_trace() || !have_python() {
        return;
    }
    let _g = serial();
    let compat = Compat {
        no_write_backward: true,
        ..Default::default()
    };
    let o = run(compat, Duration::ZERO, Trigger::Signal, "fallback");
    eprintln!(
        "fallback CPU time: tpdig {:.2} s, workload {:.2} s",
        o.recorder_cpu, o.workload_cpu
    );
    check(&o, Duration::ZERO, Mode::UserRing);
    let o = run(
        compat,
        Duration::from_secs(1),
        Trigger::Signal,
        "fallback-post",
    );
    check(&o, Duration::from_secs(1), Mode::UserRing);
}

#[test]
fn a_filter_trigger_dumps_up_to_the_matching_event() {
    if !can_trace() || !have_python() {
        return;
    }
    let _g = serial();
    let k = 1200;
    let o = run(
        Compat::default(),
        Duration::ZERO,
        Trigger::Filter(k),
        "filter",
    );
    assert_eq!(o.summary.dumps[0].cause, "trigger filter");
    let (m, _) = markers(&o.summary.dumps[0].path, &o.base);
    assert_eq!(*m.last().unwrap(), k, "the dump ends at the matching open");
    check(&o, Duration::ZERO, Mode::UserRing);
}

/// A chisel that asks for a dump when `cat` reads the path given as its argument.
const DUMP_CHISEL: &str = r#"
const SHORT_DESCRIPTION = "Dump the flight recorder when a path is read";
const CATEGORY = "test";
const ARGS = [#{name: "path", description: "the path", type: "string", optional: false}];
const SEEN = vars();
fn on_event(evt) {
    if evt.is_exit && evt.type == "read" && evt["fd.name"] == args.path && !SEEN.has("done") {
        SEEN.set("done", true);
        print(`dump requested: ${dump()}`);
    }
}
"#;

/// Runs `cat /etc/hostname` under the flight recorder with DUMP_CHISEL watching `path`;
/// returns the dump base, the chisel's output and tpdig's stderr.
fn run_dump_chisel(dir: &std::path::Path, path: &str) -> (String, String, String) {
    let chisel = dir.join("dumper.rhai");
    std::fs::write(&chisel, DUMP_CHISEL).unwrap();
    let base = dir.join("rec").to_string_lossy().into_owned();
    let out_file = dir.join("chisel.txt");
    let out = common::run(
        &[
            "--flight-recorder=1M",
            "--no-final-dump",
            "-w",
            &base,
            "-o",
            out_file.to_str().unwrap(),
            "-c",
            chisel.to_str().unwrap(),
            path,
            "--",
            "cat",
            "/etc/hostname",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let printed = std::fs::read_to_string(&out_file).unwrap_or_default();
    (base, printed, err)
}

#[test]
fn a_chisel_calling_dump_produces_a_dump() {
    if !can_trace() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tpdig-flight-chisel-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let (base, printed, err) = run_dump_chisel(&dir, "/etc/hostname");
    assert!(printed.contains("dump requested: true"), "{printed}\n{err}");
    let dump = format!("{base}.1");
    assert!(
        std::path::Path::new(&dump).exists(),
        "the chisel's dump() wrote {dump}: {err}"
    );
    assert!(
        !std::path::Path::new(&format!("{base}.2")).exists(),
        "one dump"
    );
    let text = run_bin(&["-r", &dump, "proc.name=cat and evt.type=read"]);
    assert!(
        text.contains("/etc/hostname"),
        "the dump holds the read that caused it:\n{text}"
    );

    // The same run with a condition that never holds: no dump (--no-final-dump).
    let _ = std::fs::remove_file(&dump);
    let (base, printed, err) = run_dump_chisel(&dir, "/nonexistent");
    assert!(printed.is_empty(), "{printed}");
    assert!(
        !std::path::Path::new(&format!("{base}.1")).exists(),
        "no dump without the chisel's call: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dump_outside_the_flight_recorder_warns_once_and_returns_false() {
    if !can_trace() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tpdig-flight-nodump-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let chisel = dir.join("dumper.rhai");
    std::fs::write(&chisel, DUMP_CHISEL).unwrap();
    let out = common::run(
        &[
            "-c",
            chisel.to_str().unwrap(),
            "/etc/hostname",
            "--",
            "cat",
            "/etc/hostname",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("dump requested: false"), "{stdout}");
    assert_eq!(err.matches("needs --flight-recorder").count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
