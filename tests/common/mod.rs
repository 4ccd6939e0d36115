//! Shared harness for tests that run the real binary against the real kernel.
//!
//! Workloads are this test binary re-executed with `TPDIG_WORKLOAD` set: the child reports
//! its tid, waits for a go byte on stdin (sent once tpdig says it is capturing), does exactly
//! the system calls the scenario names, and exits. Nothing waits on a timer.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

pub const BIN: &str = env!("CARGO_BIN_EXE_tpdig");

/// Tests that trace the whole machine take this lock so they do not see each other's load.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// True when this process may trace the whole system (root, tracefs reachable).
pub fn can_trace() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A started workload that waits for `go()`.
pub struct Workload {
    pub child: Child,
    pub tid: u32,
}

impl Workload {
    /// Starts the scenario `name` of the `workload` test in this binary.
    pub fn start(name: &str, arg: &str) -> Workload {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args([
                "--exact",
                "workload",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env("TPDIG_WORKLOAD", name)
            .env("TPDIG_WORKLOAD_ARG", arg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start workload");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut tid = 0;
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 {
            if let Some(t) = line.trim().strip_prefix("WORKLOAD-TID ") {
                tid = t.parse().unwrap();
                break;
            }
            line.clear();
        }
        assert!(tid > 0, "workload did not report its tid");
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        Workload { child, tid }
    }

    pub fn go(&mut self) {
        self.child.stdin.as_mut().unwrap().write_all(b"g").unwrap();
    }

    pub fn wait(mut self) {
        let st = self.child.wait().unwrap();
        assert!(st.success(), "workload failed: {st:?}");
    }
}

/// Called from the `workload` test: when `TPDIG_WORKLOAD` is set, become the workload.
pub fn workload_entry(run: impl FnOnce(&str, &str)) {
    let Ok(name) = std::env::var("TPDIG_WORKLOAD") else {
        return;
    };
    let arg = std::env::var("TPDIG_WORKLOAD_ARG").unwrap_or_default();
    println!("WORKLOAD-TID {}", nix::unistd::gettid());
    std::io::stdout().flush().unwrap();
    let mut b = [0u8; 1];
    std::io::stdin().read_exact(&mut b).unwrap();
    run(&name, &arg);
}

/// A running tpdig whose stderr is watched for the "capturing" line of -v.
pub struct Tracer {
    pub child: Child,
    stderr: BufReader<ChildStderr>,
    pub stderr_text: String,
}

impl Tracer {
    /// Starts tpdig with `-v` plus `args`, and returns once it says it is capturing.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Tracer {
        let mut cmd = Command::new(BIN);
        cmd.arg("-v")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start tpdig");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                panic!("tpdig ended before capturing; stderr:\n{text}");
            }
            text.push_str(&line);
            if line.contains("capturing") {
                break;
            }
        }
        Tracer {
            child,
            stderr,
            stderr_text: text,
        }
    }

    /// Sends SIGINT, collects stdout and the rest of stderr, and checks a clean exit.
    pub fn stop(self) -> (String, String) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        self.finish()
    }

    /// Waits for tpdig to end by itself (-n, -M) and collects its output.
    pub fn finish(mut self) -> (String, String) {
        let mut out = String::new();
        let mut stdout = self.child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            stdout.read_to_string(&mut s).unwrap();
            s
        });
        self.stderr.read_to_string(&mut self.stderr_text).unwrap();
        out.push_str(&reader.join().unwrap());
        let st = self.child.wait().unwrap();
        assert!(
            st.success(),
            "tpdig exited with {:?} / signal {:?}; stderr:\n{}",
            st.code(),
            st.signal(),
            self.stderr_text
        );
        (out, self.stderr_text)
    }
}

/// Runs tpdig to completion with the given arguments and environment.
pub fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run tpdig")
}

/// Compiles the C program `source` into `bin` with `flags` (e.g. `-O0
/// -fno-omit-frame-pointer`); false when no C compiler is installed.
pub fn build_c(source: &str, bin: &std::path::Path, flags: &[&str]) -> bool {
    let src = bin.with_extension("c");
    std::fs::write(&src, source).unwrap();
    let ok = Command::new("gcc")
        .args(flags)
        .arg("-o")
        .arg(bin)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    let _ = std::fs::remove_file(&src);
    ok
}

/// One parsed event line: `num time cpu comm (tid) dir type info`.
#[derive(Debug, Clone)]
pub struct Line {
    pub num: u64,
    pub time: String,
    pub cpu: u32,
    pub comm: String,
    pub tid: u32,
    pub dir: String,
    pub kind: String,
    pub info: String,
}

impl Line {
    /// Seconds of the day plus nanoseconds, for ordering checks.
    pub fn day_nanos(&self) -> u64 {
        let (hms, ns) = self.time.split_once('.').unwrap();
        let p: Vec<u64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
        (p[0] * 3600 + p[1] * 60 + p[2]) * 1_000_000_000 + ns.parse::<u64>().unwrap()
    }
}

/// Parses tpdig's default output; panics on a malformed line (that is a test failure).
pub fn parse_lines(text: &str) -> Vec<Line> {
    text.lines()
        .map(|l| {
            let mut it = l.splitn(4, ' ');
            let num = it
                .next()
                .unwrap()
                .parse()
                .unwrap_or_else(|_| panic!("bad line {l:?}"));
            let time = it.next().unwrap().to_string();
            let cpu = it.next().unwrap().parse().unwrap();
            let rest = it.next().unwrap();
            // The comm may contain spaces: the tid is the first " (N) " followed by a direction.
            let open = rest
                .match_indices(" (")
                .map(|(i, _)| i)
                .find(|&i| {
                    let after = &rest[i + 2..];
                    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                    digits > 0
                        && (after[digits..].starts_with(") >")
                            || after[digits..].starts_with(") <"))
                })
                .unwrap_or_else(|| panic!("no tid in {l:?}"));
            let close = open + rest[open..].find(") ").unwrap();
            let comm = rest[..open].to_string();
            let tid = rest[open + 2..close].parse().unwrap();
            let mut tail = rest[close + 2..].splitn(3, ' ');
            let dir = tail.next().unwrap().to_string();
            let kind = tail.next().unwrap_or("").to_string();
            let info = tail.next().unwrap_or("").to_string();
            Line {
                num,
                time,
                cpu,
                comm,
                tid,
                dir,
                kind,
                info,
            }
        })
        .collect()
}

/// Like `parse_lines`, skipping lines that are not events (a traced command's own output
/// shares tpdig's stdout).
pub fn parse_event_lines(text: &str) -> Vec<Line> {
    let events: Vec<&str> = text
        .lines()
        .filter(|l| {
            let mut it = l.split(' ');
            let num_ok = it.next().is_some_and(|n| n.parse::<u64>().is_ok());
            let time_ok = it
                .next()
                .is_some_and(|t| t.len() > 8 && t.as_bytes()[2] == b':');
            num_ok && time_ok && l.contains(" (")
        })
        .collect();
    parse_lines(&events.join("\n"))
}
