//! Live capture against the real kernel: a known workload's system calls come out with its
//! tid, the right results, in timestamp order, and tpdig's own calls do not.

mod common;

use common::*;
use std::fs::File;
use std::io::Write;

/// The workload scenarios (runs only in the re-executed child).
#[test]
fn workload() {
    workload_entry(|name, arg| match name {
        // Opens a named file, writes N bytes to /dev/null, sleeps, fails an open.
        "files" => {
            let f = File::create(arg).unwrap();
            drop(f);
            let mut null = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .unwrap();
            null.write_all(&[b'x'; 4242]).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
            assert!(File::open("/nonexistent/tpdig-test").is_err());
            std::fs::remove_file(arg).unwrap();
        }
        // Pinned to CPU `arg`, makes many cheap system calls.
        "spin" => {
            let cpu: usize = arg.parse().unwrap();
            let mut set = nix::sched::CpuSet::new();
            set.set(cpu).unwrap();
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
            for _ in 0..50_000 {
                let _ = nix::unistd::getppid();
            }
        }
        // A syscall storm: one-byte writes to /dev/null.
        "storm" => {
            let mut null = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .unwrap();
            let n: usize = arg.parse().unwrap();
            for _ in 0..n {
                null.write_all(b"x").unwrap();
            }
        }
        other => panic!("unknown workload {other}"),
    });
}

fn of_tid(lines: &[Line], tid: u32) -> Vec<&Line> {
    lines.iter().filter(|l| l.tid == tid).collect()
}

#[test]
fn a_workload_s_syscalls_appear_with_results_in_order() {
    if !can_trace() {
        eprintln!("skipped: needs root");
        return;
    }
    let _g = serial();
    let path = format!("/tmp/tpdig-live-{}", std::process::id());
    let mut w = Workload::start("files", &path);
    let tracer = Tracer::start(&[], &[]);
    let tpdig_pid = tracer.child.id();
    w.go();
    let tid = w.tid;
    w.wait();
    let (out, err) = tracer.stop();
    let lines = parse_lines(&out);
    let mine = of_tid(&lines, tid);
    let find = |dir: &str, kind: &str, pred: &dyn Fn(&str) -> bool| {
        mine.iter()
            .position(|l| l.dir == dir && l.kind == kind && pred(&l.info))
    };

    // creat/openat of the named file: an enter, then an exit with a descriptor.
    // (The workload is a static binary: system-wide, only shared C libraries are probed,
    // so its path shows as <NA> here; tests/names_live.rs checks names.)
    let open_enter = find(">", "openat", &|i| {
        i.starts_with("dirfd=-100(AT_FDCWD) name=") && i.contains("O_CREAT")
    })
    .unwrap_or_else(|| panic!("no openat enter for tid {tid}; stderr:\n{err}"));
    let open_exit = mine[open_enter..]
        .iter()
        .position(|l| l.dir == "<" && l.kind == "openat")
        .expect("openat exit");
    let exit = &mine[open_enter + open_exit].info;
    let res: i64 = exit
        .strip_prefix("fd=")
        .unwrap()
        .split(['(', ' '])
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(res >= 3, "openat returned {res}");

    // write of 4242 bytes to /dev/null, and its result.
    assert!(
        find(">", "write", &|i| i.contains("size=4242")).is_some(),
        "write enter with size=4242"
    );
    assert!(
        find("<", "write", &|i| i.starts_with("res=4242 ")).is_some(),
        "write exit res=4242"
    );

    // the sleep: nanosleep or clock_nanosleep, enter and exit with res=0.
    let sleeps =
        |d: &str| find(d, "clock_nanosleep", &|_| true).or(find(d, "nanosleep", &|_| true));
    assert!(
        sleeps(">").is_some() && sleeps("<").is_some(),
        "sleep enter and exit"
    );
    assert!(
        find("<", "clock_nanosleep", &|i| i.starts_with("res=0 "))
            .or(find("<", "nanosleep", &|i| i.starts_with("res=0 ")))
            .is_some()
    );

    // the failed open.
    assert!(
        find("<", "openat", &|i| i.starts_with("fd=-2(ENOENT) ")).is_some(),
        "ENOENT exit"
    );

    // the workload's lines carry its name (the test binary's comm, cut to 15 bytes).
    assert!(
        mine.iter().all(|l| l.comm != "<NA>"),
        "workload lines name the process"
    );

    // numbers count up from 1, times never go backwards.
    assert_eq!(lines[0].num, 1);
    for pair in lines.windows(2) {
        assert_eq!(pair[1].num, pair[0].num + 1);
        assert!(
            pair[1].day_nanos() >= pair[0].day_nanos(),
            "out of order: {pair:?}"
        );
    }

    // tpdig's own events were filtered in the kernel.
    assert!(
        lines.iter().all(|l| l.tid != tpdig_pid),
        "tpdig's own events leaked"
    );
}

#[test]
fn events_of_both_cpus_interleave_in_timestamp_order() {
    if !can_trace() || std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: needs root and two CPUs");
        return;
    }
    let _g = serial();
    let mut a = Workload::start("spin", "0");
    let mut b = Workload::start("spin", "1");
    let tracer = Tracer::start(&[], &[]);
    a.go();
    b.go();
    let (ta, tb) = (a.tid, b.tid);
    a.wait();
    b.wait();
    let (out, _) = tracer.stop();
    let lines = parse_lines(&out);
    let ours: Vec<&Line> = lines
        .iter()
        .filter(|l| (l.tid == ta || l.tid == tb) && l.kind == "getppid")
        .collect();
    assert!(
        ours.iter().any(|l| l.cpu == 0) && ours.iter().any(|l| l.cpu == 1),
        "both CPUs seen"
    );
    let switches = ours.windows(2).filter(|p| p[0].cpu != p[1].cpu).count();
    assert!(
        switches >= 2,
        "the two CPUs' streams interleave (switches: {switches})"
    );
    for pair in lines.windows(2) {
        assert!(
            pair[1].day_nanos() >= pair[0].day_nanos(),
            "out of order: {pair:?}"
        );
    }
}

#[test]
fn a_tiny_ring_under_a_storm_reports_drops_per_cpu() {
    if !can_trace() {
        eprintln!("skipped: needs root");
        return;
    }
    let _g = serial();
    let mut w = Workload::start("storm", "300000");
    let tracer = Tracer::start(&["-q", "--buffer-size", "8K"], &[]);
    w.go();
    w.wait(); // the storm finishes: the kernel does not wait for tpdig
    let (_, err) = tracer.stop();
    let per_cpu: Vec<u64> = err
        .lines()
        .filter(|l| l.starts_with("tpdig: cpu "))
        .map(|l| {
            let drops = l.rsplit(", ").next().unwrap();
            drops.trim_end_matches(" drops").parse().unwrap()
        })
        .collect();
    assert!(!per_cpu.is_empty(), "per-CPU summary present:\n{err}");
    assert!(
        per_cpu.iter().sum::<u64>() > 0,
        "drops were counted:\n{err}"
    );
}

#[test]
fn old_kernel_paths_still_capture() {
    if !can_trace() {
        eprintln!("skipped: needs root");
        return;
    }
    let _g = serial();
    for compat in [
        "no-clockid,attr-v0",
        "no-set-output,no-filter",
        "old-syscall-names",
        "debugfs",
    ] {
        let out = run(&["-n", "200", "-v", "--compat", compat], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "--compat {compat} failed:\n{err}");
        let text = String::from_utf8_lossy(&out.stdout);
        let lines = parse_lines(&text);
        assert_eq!(lines.len(), 200, "--compat {compat}: 200 events");
        // wall-clock times: the first event is within a minute of now (local time of day).
        let now = chrono_free_local_day_nanos();
        let diff = (now as i64 - lines[0].day_nanos() as i64).rem_euclid(86_400_000_000_000);
        assert!(
            diff < 60_000_000_000,
            "--compat {compat}: time {} is not now",
            lines[0].time
        );
    }
}

/// The local time of day in ns, computed with the same libc the binary uses, via `date`.
fn chrono_free_local_day_nanos() -> u64 {
    let out = std::process::Command::new("date")
        .arg("+%H:%M:%S.%N")
        .output()
        .unwrap();
    let l = Line {
        num: 0,
        time: String::from_utf8(out.stdout).unwrap().trim().to_string(),
        cpu: 0,
        comm: String::new(),
        tid: 0,
        dir: String::new(),
        kind: String::new(),
        info: String::new(),
    };
    l.day_nanos()
}
