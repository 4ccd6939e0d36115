//! The two sources of system calls — raw_syscalls and the per-syscall tracepoints chosen
//! when the filter limits evt.type — show the same events for the same workload: the
//! per-syscall source opened the calls that keep fd names right (open, dup, close, chdir,
//! fcntl), so `evt.type=read` lines name the same files; and a capture written with the
//! per-syscall source reads back as the live run showed it.
//!
//! The workload is python3, not this test binary: the binary is static, so the libc
//! uprobes that carry paths never fire in it, and on a kernel without kprobe events no
//! path would be known with either source.

mod common;

use common::*;

/// Opens, dups, closes and reads files in `dir`: read number i asks for 7001+i bytes, a
/// size nothing else in python's start-up asks for.
const SCRIPT: &str = "import os,sys,fcntl\n\
d=sys.argv[1]\n\
a=os.open(d+'/a',os.O_RDONLY); a2=os.dup(a); os.close(a)\n\
b=os.open(d+'/b',os.O_RDONLY); os.dup2(b,40); os.close(b)\n\
os.chdir(d); c=os.open('c',os.O_RDONLY); c50=fcntl.fcntl(c,fcntl.F_DUPFD,50)\n\
for i,f in enumerate([a2,40,c,c50]): os.read(f,7001+i)\n";

fn has_python() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "1"])
        .status()
        .is_ok_and(|s| s.success())
}

/// The `fd=N(<f>NAME)` of the workload's four read entries (the fd is an entry parameter;
/// the exit carries res and data), in order.
fn read_fd_names(text: &str) -> Vec<String> {
    let reads: Vec<Line> = parse_event_lines(text)
        .into_iter()
        .filter(|l| l.kind == "read" && l.dir == ">")
        .collect();
    (7001..7005)
        .filter_map(|size| {
            let tail = format!(" size={size}");
            let l = reads.iter().find(|l| l.info.trim_end().ends_with(&tail))?;
            let fd = l.info.split_whitespace().find(|w| w.starts_with("fd="))?;
            Some(fd.to_string())
        })
        .collect()
}

/// Runs the workload under `tpdig -v extra... FILTER -- python3`; returns (read fd names,
/// stdout, stderr).
fn traced_reads(dir: &str, extra: &[&str], filter: &str) -> (Vec<String>, String, String) {
    let mut args = vec!["-v"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[filter, "--", "python3", "-c", SCRIPT, dir]);
    let out = run(&args, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tpdig {args:?}: {stderr}");
    (read_fd_names(&stdout), stdout, stderr)
}

#[test]
fn both_sources_name_the_same_fds_and_captures_read_back() {
    if !can_trace() || !has_python() {
        eprintln!("skipped: needs root and python3");
        return;
    }
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("tpdig-src-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for n in ["a", "b", "c"] {
        std::fs::write(dir.join(n), format!("{n}{n}")).unwrap();
    }
    let d = dir.to_str().unwrap();
    // The files the four reads name, in order.
    let want: Vec<String> = ["a", "b", "c", "c"]
        .map(|n| format!("<f>{d}/{n})"))
        .to_vec();
    let names = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|f| f.split_once('(').map_or("", |(_, n)| n).to_string())
            .collect()
    };

    let cap = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let (cap_per, cap_raw) = (cap("per.tpdig"), cap("raw.tpdig"));
    let (per, out, err) = traced_reads(d, &["--tee", "-w", &cap_per], "evt.type=read");
    assert!(
        err.contains("syscall source: per-syscall tracepoints"),
        "the filter limits evt.type: {err}"
    );
    assert_eq!(names(&per), want, "per-syscall: {out}\n{err}");
    // dup2 and fcntl(F_DUPFD) gave the numbers asked for.
    assert!(
        per[1].starts_with("fd=40(") && per[3].starts_with("fd=50("),
        "{per:?}"
    );
    let (raw, out, err) = traced_reads(
        d,
        &["--compat", "raw-syscalls", "--tee", "-w", &cap_raw],
        "evt.type=read",
    );
    assert!(
        err.contains("syscall source: raw_syscalls (forced"),
        "{err}"
    );
    assert_eq!(names(&raw), want, "raw_syscalls: {out}\n{err}");

    // The captures read back identically. A filtered capture keeps the matching events and
    // the lifecycle ones, not the opens: names of files opened during it are not in the
    // file with either source, the fd numbers are.
    let read_back = |file: &str| -> Vec<String> {
        let back = run(&["-r", file, "evt.type=read"], &[]);
        assert!(
            back.status.success(),
            "{}",
            String::from_utf8_lossy(&back.stderr)
        );
        read_fd_names(&String::from_utf8_lossy(&back.stdout))
    };
    let number = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|f| f.split('(').next().unwrap_or("").to_string())
            .collect()
    };
    let (back_per, back_raw) = (read_back(&cap_per), read_back(&cap_raw));
    assert_eq!(back_per, back_raw);
    assert_eq!(number(&back_per), number(&per));
    let _ = std::fs::remove_dir_all(&dir);
}
