//! The static binary on another kernel: Debian's 6.1 cloud kernel booted under qemu by
//! `shared/tools/qemu-kernel-run` (busybox initramfs, tracefs mounted).
//!
//! Opt-in (`TPDIG_QEMU_TESTS=1`, as root): a boot costs tens of seconds of software
//! emulation and the first run downloads the kernel package. 6.1 differs from the build
//! host where it matters: sched_process_fork's comm fields are `char[16]` there, not
//! `__data_loc`, so the fork line proves the layout is read from the format file.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tpdig");

fn tool() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/qemu-kernel-run");
    p.exists().then_some(p)
}

/// Runs `script` (a busybox sh script) in the guest with tpdig at /bin/tpdig.
fn guest(script: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("tpdig-qemu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("check.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    Command::new("chmod")
        .args(["755", path.to_str().unwrap()])
        .status()
        .unwrap();
    let mut cmd = Command::new(tool().unwrap());
    // The tool keeps its kernel cache under $HOME, which a CI job may not set.
    if std::env::var_os("HOME").is_none() && std::env::var_os("XDG_CACHE_HOME").is_none() {
        cmd.env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("tpdig-qemu-cache"),
        );
    }
    cmd.args(["--timeout", "600", "--file"])
        .arg(format!("{BIN}:/bin/tpdig"))
        .arg("--file")
        .arg(format!("{}:/root/check.sh", path.display()))
        .args(["--", "/root/check.sh"]);
    let out = cmd.output().expect("qemu-kernel-run");
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines between `== name` and the next `==` marker.
fn section<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    out.lines()
        .skip_while(|l| *l != format!("== {name}"))
        .skip(1)
        .take_while(|l| !l.starts_with("== "))
        .collect()
}

/// An event line: `num time cpu comm (tid) dir type ...`.
fn is_event_line(l: &str) -> bool {
    let f: Vec<&str> = l.split(' ').collect();
    f.len() >= 6
        && f[0].parse::<u64>().is_ok()
        && f[1].contains(':')
        && f[2].parse::<u32>().is_ok()
        && l.contains(") > ") | l.contains(") < ")
}

#[test]
fn runs_on_debian_6_1() {
    if std::env::var("TPDIG_QEMU_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set TPDIG_QEMU_TESTS=1 (root) to boot Debian's 6.1 kernel under qemu");
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (qemu-kernel-run installs packages)");
        return;
    }
    let Some(_) = tool() else {
        eprintln!("skipped: shared/tools/qemu-kernel-run not found");
        return;
    };
    let script = r#"
echo "== uname"; uname -r
echo "== n50"; tpdig -n 50; echo "rc=$?"
echo "== compat"; tpdig -n 50 --compat no-clockid,attr-v0; echo "rc=$?"
echo "== cmd"; tpdig -- sh -c 'cat /etc/passwd > /dev/null; true'; echo "rc=$?"
echo "== status"; tpdig -q -- sh -c 'exit 3'; echo "rc=$?"
echo "== end"
"#;
    let (rc, out, err) = guest(script);
    println!("{out}\n{err}");
    assert_eq!(rc, 0, "guest script failed:\n{out}\n{err}");
    assert!(
        err.contains("# kernel 6.1.")
            || section(&out, "uname").iter().any(|l| l.starts_with("6.1.")),
        "booted 6.1: {err}"
    );

    for name in ["n50", "compat"] {
        let s = section(&out, name);
        assert_eq!(s.last(), Some(&"rc=0"), "{name}: {s:#?}");
        let events: Vec<&&str> = s.iter().filter(|l| is_event_line(l)).collect();
        assert_eq!(events.len(), 50, "{name}: 50 event lines: {s:#?}");
        let nums: Vec<u64> = events
            .iter()
            .map(|l| l.split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(nums.windows(2).all(|w| w[0] < w[1]), "{name}: {nums:?}");
    }

    let cmd = section(&out, "cmd");
    assert_eq!(cmd.last(), Some(&"rc=0"), "{cmd:#?}");
    let fork = cmd
        .iter()
        .find(|l| l.contains("> sched_process_fork "))
        .unwrap_or_else(|| panic!("a fork line: {cmd:#?}"));
    // char[16] comm fields on 6.1: rendered as names, not as numbers or garbage.
    assert!(
        fork.contains("child_comm=sh "),
        "child_comm rendered: {fork}"
    );
    assert!(
        fork.contains("parent_comm=sh ") || fork.contains("comm=sh "),
        "{fork}"
    );
    assert!(
        cmd.iter()
            .any(|l| l.contains(" cat (") && l.contains("< openat ")),
        "cat's openat: {cmd:#?}"
    );
    assert!(
        cmd.iter()
            .any(|l| l.contains(" cat (") && l.contains("> exit_group")),
        "cat's exit: {cmd:#?}"
    );
    assert_eq!(section(&out, "status").last(), Some(&"rc=3"), "exit status");
}
