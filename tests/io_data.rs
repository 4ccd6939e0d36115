//! I/O data, on the real kernel: the bytes programs read and write, copied by the probes
//! right after each call (`-A`, `-x`, `-X`, `-s`, `evt.buffer`), and stored in captures.
//!
//! The workloads are small Python programs (Debian's python3 calls the C library's `read`,
//! `write`, `send`, `recv`... like any program) run with `tpdig -- cmd`.

mod common;

use common::{BIN, can_trace, serial};
use std::process::Command;

fn python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Runs `tpdig ARGS -- python3 -c SCRIPT` and returns (stdout, stderr).
fn trace_python(args: &[&str], script: &str) -> (String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--")
        .args([python(), "-c", script])
        .output()
        .expect("run tpdig");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tpdig failed: {stderr}");
    (stdout, stderr)
}

fn tmp(name: &str) -> String {
    let d = std::env::temp_dir().join(format!("tpdig-io-{}-{name}", std::process::id()));
    d.to_string_lossy().into_owned()
}

/// One token through a file, a pipe, a unix socket and loopback TCP, each written and read
/// back; `-A` with `evt.buffer contains TOKEN` shows every write and read with the token.
#[test]
fn token_through_file_pipe_unix_socket_and_tcp() {
    if !can_trace() {
        eprintln!("skipped: not root");
        return;
    }
    let _g = serial();
    let file = tmp("token");
    let token = format!("TOKEN{}x", std::process::id());
    let script = format!(
        r#"
import os, socket
t = b"{token}"
fd = os.open("{file}", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, b"file " + t); os.lseek(fd, 0, 0); os.read(fd, 100); os.close(fd)
r, w = os.pipe()
os.write(w, b"pipe " + t); os.read(r, 100)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
a.send(b"unix " + t); b.recv(100)
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.create_connection(srv.getsockname()); s, _ = srv.accept()
c.sendall(b"tcp " + t); s.recv(100)
"#
    );
    let filter = format!("evt.buffer contains {token}");
    let (out, err) = trace_python(&["-A", "-v", &filter], &script);
    let _ = std::fs::remove_file(&file);
    // -A puts the data on its own line(s): join each event with its data.
    let text = out.replace(&format!("data=\n"), "data=");
    let shown: Vec<&str> = text.lines().filter(|l| l.contains(" < ")).collect();
    for (what, write, read) in [
        ("file", "< write", "< read"),
        ("pipe", "< write", "< read"),
        ("unix", "< sendto", "< recvfrom"),
        ("tcp", "< sendto", "< recvfrom"),
    ] {
        let data = format!("data={what} {token}");
        for dir in [write, read] {
            assert!(
                shown.iter().any(|l| l.contains(dir) && l.contains(&data)),
                "{what}: no '{dir}' with '{data}' in:\n{out}\nstderr:\n{err}"
            );
        }
    }
    // Only events whose data holds the token are shown.
    assert!(shown.iter().all(|l| l.contains(&token)), "{out}");
}

/// Exactness: one buffer reused for 2000 writes of distinct contents, read back through one
/// buffer: every data value shown is what that call wrote or read, and ≥ 99% carry data.
#[test]
fn reused_buffer_every_value_exact() {
    if !can_trace() {
        eprintln!("skipped: not root");
        return;
    }
    let _g = serial();
    let file = tmp("exact");
    let script = format!(
        r#"
import os
buf = bytearray(10)
fd = os.open("{file}", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
for i in range(2000):
    buf[:] = b"rec-%06d" % i
    os.write(fd, buf)
os.lseek(fd, 0, 0)
f = os.fdopen(fd, "rb", buffering=0)
for i in range(2000):
    f.readinto(buf)
"#
    );
    let filter = format!("fd.name={file} and evt.type in (write, read) and evt.dir=<");
    let (out, err) = trace_python(
        &["-v", "-p", "*%evt.type %evt.rawres %evt.buffer", &filter],
        &script,
    );
    let _ = std::fs::remove_file(&file);
    let mut seen = [0usize; 2];
    let mut with_data = [0usize; 2];
    let mut wrong = Vec::new();
    for l in out.lines() {
        let mut it = l.splitn(3, ' ');
        let (Some(ty), Some(res), data) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let k = match ty {
            "write" => 0,
            "read" => 1,
            _ => continue,
        };
        assert_eq!(res, "10", "{l}");
        let expect = format!("rec-{:06}", seen[k]);
        seen[k] += 1;
        match data {
            Some("<NA>") | None => {}
            Some(d) => {
                with_data[k] += 1;
                if d != expect {
                    wrong.push(format!("{ty} #{}: {d} != {expect}", seen[k] - 1));
                }
            }
        }
    }
    assert_eq!(seen, [2000, 2000], "calls seen; stderr:\n{err}");
    assert!(wrong.is_empty(), "wrong data: {wrong:?}");
    for k in 0..2 {
        assert!(
            with_data[k] * 100 >= seen[k] * 99,
            "only {}/{} calls carry data; stderr:\n{err}",
            with_data[k],
            seen[k]
        );
    }
}

/// `-s 2000` keeps 2000 bytes of a 2500-byte write; a capture stores them and `-r -X` shows
/// the same rows as the live `-X` did.
#[test]
fn snaplen_2000_and_capture_round_trip() {
    if !can_trace() {
        eprintln!("skipped: not root");
        return;
    }
    let _g = serial();
    let file = tmp("big");
    let cap = tmp("cap");
    let script = format!(
        r#"
import os
fd = os.open("{file}", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, bytes(range(256)) * 9 + b"tail" * 49)
"#
    );
    let filter = format!("fd.name={file} and evt.type=write and evt.dir=<");
    let (out, _) = trace_python(&["-s", "2000", "-p", "%evt.buffer", &filter], &script);
    let line = out.lines().find(|l| !l.is_empty()).expect("the write");
    assert_eq!(line.len(), 2000, "{line}");

    let (live, _) = trace_python(&["-s", "2000", "-X", "--tee", "-w", &cap, &filter], &script);
    let _ = std::fs::remove_file(&file);
    let read = Command::new(BIN)
        .args(["-r", &cap, "-X", "evt.type=write and evt.dir=<"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&cap);
    let replay = String::from_utf8_lossy(&read.stdout);
    let rows = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("\t0x"))
            .map(str::to_string)
            .collect()
    };
    let live_rows = rows(&live);
    assert_eq!(live_rows.len(), 125, "2000 bytes in rows of 16:\n{live}");
    assert!(live_rows[0].starts_with("\t0x0000: 0001 0203"), "{live}");
    assert_eq!(live_rows, rows(&replay), "replay differs:\n{replay}");
}

/// Without a data flag nothing is copied (no data probes, `data=<NA>`); `-x` and `-A`
/// together are refused.
#[test]
fn data_only_when_asked_and_one_format() {
    let both = common::run(&["-A", "-x", "-n", "1"], &[]);
    assert_eq!(both.status.code(), Some(2), "{both:?}");
    assert!(String::from_utf8_lossy(&both.stderr).contains("give only one"));
    if !can_trace() {
        return;
    }
    let _g = serial();
    let (out, err) = trace_python(
        &["-v", "evt.type=write and evt.dir=< and fd.num=1"],
        "import os; os.write(1, b'x')",
    );
    assert!(out.contains("data=<NA>"), "{out}");
    assert!(!err.contains("I/O data"), "{err}");
}

/// Kernels without array fetch types: the data comes as a series of `u64` probe arguments
/// (forced here with `--compat no-array-fetch`), with the same bytes.
#[test]
fn u64_series_without_array_fetch() {
    if !can_trace() {
        eprintln!("skipped: not root");
        return;
    }
    let _g = serial();
    let file = tmp("series");
    let script = format!(
        r#"
import os
fd = os.open("{file}", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, b"0123456789" * 30)
"#
    );
    let filter = format!("fd.name={file} and evt.type=write and evt.dir=<");
    let (out, err) = trace_python(
        &[
            "--compat",
            "no-array-fetch",
            "-v",
            "-s",
            "300",
            "-p",
            "%evt.buffer",
            &filter,
        ],
        &script,
    );
    let _ = std::fs::remove_file(&file);
    assert!(err.contains("(u64 series)"), "{err}");
    assert_eq!(out.trim_end(), "0123456789".repeat(30), "{err}");
}
