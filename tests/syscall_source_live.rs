//! The two sources of system calls — raw_syscalls and the per-syscall tracepoints chosen
//! when the filter limits evt.type — show the same events for the same workload: the
//! per-syscall source opened the calls that keep fd names right (open, dup, close, chdir),
//! so `evt.type=read` lines name the same files; and a capture written with the
//! per-syscall source reads back as the live run showed it.

mod common;

use common::*;
use std::ffi::CString;

/// The workload scenarios (runs only in the re-executed child).
#[test]
fn workload() {
    workload_entry(|name, dir| {
        assert_eq!(name, "fd_dance");
        let path = |n: &str| CString::new(format!("{dir}/{n}")).unwrap();
        // SAFETY: plain system calls on C strings that live across the calls and a
        // stack buffer of the length given.
        unsafe {
            let a = libc::open(path("a").as_ptr(), libc::O_RDONLY);
            let a2 = libc::dup(a);
            libc::close(a);
            let b = libc::open(path("b").as_ptr(), libc::O_RDONLY);
            let b10 = libc::dup2(b, 40);
            libc::close(b);
            assert_eq!(libc::chdir(CString::new(dir).unwrap().as_ptr()), 0);
            let c = libc::openat(libc::AT_FDCWD, c"c".as_ptr(), libc::O_RDONLY);
            let c3 = libc::fcntl(c, libc::F_DUPFD, 50);
            let mut buf = [0u8; 8];
            for fd in [a2, b10, c, c3] {
                assert!(fd >= 0);
                assert_eq!(libc::read(fd, buf.as_mut_ptr().cast(), 1), 1);
            }
        }
    });
}

/// The `fd=N(<f>NAME)` of each read exit of thread `tid`.
fn read_fd_names(text: &str, tid: u32) -> Vec<String> {
    parse_lines(text)
        .into_iter()
        .filter(|l| l.tid == tid && l.kind == "read" && l.dir == "<")
        .map(|l| {
            l.info
                .split_whitespace()
                .find(|w| w.starts_with("fd="))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// Runs the workload under tpdig with `extra` flags; returns (read fd names, stderr).
fn traced_reads(dir: &str, extra: &[&str]) -> (Vec<String>, String, u32) {
    let mut w = Workload::start("fd_dance", dir);
    let filter = format!("evt.type=read and thread.tid={}", w.tid);
    let mut args: Vec<&str> = extra.to_vec();
    args.push(&filter);
    let t = Tracer::start(&args, &[]);
    w.go();
    let tid = w.tid;
    w.wait();
    let (out, err) = t.stop();
    (read_fd_names(&out, tid), err, tid)
}

#[test]
fn both_sources_name_the_same_fds_and_captures_read_back() {
    if !can_trace() {
        eprintln!("skipped: needs root");
        return;
    }
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("tpdig-src-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for n in ["a", "b", "c"] {
        std::fs::write(dir.join(n), format!("{n}{n}")).unwrap();
    }
    let d = dir.to_str().unwrap();
    let want: Vec<String> = [("a", 3), ("b", 40), ("c", 3), ("c", 50)]
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();

    let (per, err, _) = traced_reads(d, &[]);
    assert!(
        err.contains("syscall source: per-syscall tracepoints"),
        "the filter limits evt.type: {err}"
    );
    let (raw, err, _) = traced_reads(d, &["--compat", "raw-syscalls"]);
    assert!(
        err.contains("syscall source: raw_syscalls (forced"),
        "{err}"
    );
    let names = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|f| {
                let file = f.rsplit('/').next().unwrap_or("").trim_end_matches(')');
                assert!(f.contains(&format!("<f>{d}/")), "a full path: {f}");
                file.to_string()
            })
            .collect()
    };
    assert_eq!(names(&per), want, "per-syscall: {per:?}");
    // Same fd numbers and names with either source.
    assert_eq!(per, raw);

    // A capture written with the per-syscall source shows the same lines read back.
    let cap = dir.join("reads.tpdig");
    let cap_s = cap.to_str().unwrap().to_string();
    let (live, _, tid) = traced_reads(d, &["--tee", "-w", &cap_s]);
    assert_eq!(names(&live), want);
    let back = run(&["-r", &cap_s, "evt.type=read"], &[]);
    assert!(
        back.status.success(),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    assert_eq!(
        read_fd_names(&String::from_utf8_lossy(&back.stdout), tid),
        live
    );
    let _ = std::fs::remove_dir_all(&dir);
}
