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
    guest_with(script, &[])
}

/// One guest at a time: two software-emulated guests on a small machine slow each other
/// past what their scripts allow.
static ONE_GUEST: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// [`guest`] with more files copied in (`(host path, guest path)`).
fn guest_with(script: &str, files: &[(PathBuf, &str)]) -> (i32, String, String) {
    // Held from here: the script's directory is per process, shared by the tests.
    let _one = ONE_GUEST.lock().unwrap_or_else(|p| p.into_inner());
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
        .arg(format!("{}:/root/check.sh", path.display()));
    for (host, dest) in files {
        cmd.arg("--file").arg(format!("{}:{dest}", host.display()));
    }
    cmd.args(["--", "/root/check.sh"]);
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

/// Static test programs, built on the host: `staticopen N` opens /etc/passwd through the C
/// library, then N paths `/tmp/tpdig-kt-I`; `rawopen` opens /etc/passwd with its own
/// `syscall` instruction (as Go programs do).
fn static_programs(dir: &std::path::Path) -> Option<Vec<(PathBuf, &'static str)>> {
    const STATICOPEN: &str = r#"#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char b[64], p[64];
    int n = argc > 1 ? atoi(argv[1]) : 0;
    int fd = open("/etc/passwd", O_RDONLY);
    if (read(fd, b, sizeof b) <= 0) return 1;
    close(fd);
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "/tmp/tpdig-kt-%d", i);
        fd = open(p, O_RDONLY);
        if (fd >= 0) close(fd);
    }
    return 0;
}
"#;
    const RAWOPEN: &str = r#"#include <unistd.h>
static long raw_openat(long dfd, const char *p, long flags) {
    long r;
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("syscall" : "=a"(r) : "0"(257L), "D"(dfd), "S"(p), "d"(flags), "r"(r10)
                     : "rcx", "r11", "memory");
    return r;
}
int main(void) {
    char b[64];
    long fd = raw_openat(-100, "/etc/passwd", 0);
    return read((int)fd, b, sizeof b) > 0 ? 0 : 1;
}
"#;
    let mut out = Vec::new();
    for (name, src, dest) in [
        ("staticopen", STATICOPEN, "/root/staticopen"),
        ("rawopen", RAWOPEN, "/root/rawopen"),
    ] {
        let c = dir.join(format!("{name}.c"));
        std::fs::write(&c, src).unwrap();
        let bin = dir.join(name);
        let ok = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&bin)
            .arg(&c)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        out.push((bin, dest));
    }
    Some(out)
}

/// The `< openat` lines of `comm` in a section.
fn openat_exits<'a>(lines: &[&'a str], comm: &str) -> Vec<&'a str> {
    lines
        .iter()
        .copied()
        .filter(|l| l.contains(&format!(" {comm} (")) && l.contains(") < openat "))
        .collect()
}

/// The kernel tier on 6.1: kprobes at the system calls' entries name every binary,
/// system-wide, with each calling convention forced in turn.
#[test]
fn kprobes_name_every_binary_on_6_1() {
    if std::env::var("TPDIG_QEMU_TESTS").as_deref() != Ok("1")
        || !nix::unistd::geteuid().is_root()
        || tool().is_none()
    {
        eprintln!("skipped: set TPDIG_QEMU_TESTS=1 (root, qemu-kernel-run)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tpdig-kt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some(files) = static_programs(&dir) else {
        eprintln!("skipped: no gcc -static");
        return;
    };
    const PATHS: usize = 200;
    let script = format!(
        r#"
run() {{ # $1 compat switches, $2 filter, $3 workload
  rm -f /tmp/o /tmp/e
  tpdig --compat "$1" -v "$2" > /tmp/o 2>/tmp/e &
  tp=$!
  while ! grep -q "tpdig: capturing" /tmp/e 2>/dev/null; do sleep 0.1; done
  sh -c "$3"
  kill -INT $tp; wait $tp
  grep -E "kprobe" /tmp/e | grep -v "not probed"
  cat /tmp/o
}}
echo "== auto"; run "" "evt.type=openat and proc.name in (cat, rawopen, staticopen)" "cat /etc/passwd >/dev/null; /root/rawopen; /root/staticopen {PATHS}"
echo "== pt_regs"; run kprobe-pt-regs "evt.type=openat and proc.name=cat" "cat /etc/passwd >/dev/null"
echo "== registers"; run kprobe-registers "evt.type=openat and proc.name=cat" "cat /etc/passwd >/dev/null"
echo "== string"; run kprobe-string "evt.type=openat and proc.name=cat" "cat /etc/passwd >/dev/null"
echo "== end"
"#
    );
    let (rc, out, err) = guest_with(&script, &files);
    let _ = std::fs::remove_dir_all(&dir);
    println!("{out}\n{err}");
    assert_eq!(rc, 0, "guest script failed:\n{out}\n{err}");

    let named = |l: &str| l.contains("fd=3(<f>/etc/passwd)") && l.contains("name=/etc/passwd");
    let auto = section(&out, "auto");
    assert!(
        auto.iter()
            .any(|l| l.contains("kprobe convention: pt_regs")),
        "{auto:#?}"
    );
    for comm in ["cat", "rawopen", "staticopen"] {
        let exits = openat_exits(&auto, comm);
        assert!(
            exits.iter().any(|l| named(l)),
            "{comm}'s openat of /etc/passwd named: {exits:#?}"
        );
    }
    // Every open of the static program, in order: present and right.
    let exits = openat_exits(&auto, "staticopen");
    let mut present = 0;
    let mut wrong = Vec::new();
    for (i, l) in exits.iter().skip(1).enumerate() {
        if l.contains("name=<NA>") {
            continue;
        }
        if l.contains(&format!("name=/tmp/tpdig-kt-{i} ")) {
            present += 1;
        } else {
            wrong.push(*l);
        }
    }
    assert_eq!(exits.len(), PATHS + 1, "{exits:#?}");
    assert!(wrong.is_empty(), "wrong names: {wrong:#?}");
    assert!(present * 100 >= PATHS * 99, "{present} of {PATHS} named");

    assert!(
        auto.iter()
            .any(|l| l.contains("kprobe user fetch: ustring")),
        "{auto:#?}"
    );
    // The pre-5.5 fetch (`string`, plain dereferences), forced: 6.1 still reads a user
    // address given to `string`, so the form a 4.18 kernel gets is checked here.
    let s = section(&out, "string");
    assert!(
        s.iter().any(|l| l.contains("kprobe user fetch: string")),
        "string: {s:#?}"
    );
    assert!(
        openat_exits(&s, "cat").iter().any(|l| named(l)),
        "string: cat's openat named: {s:#?}"
    );
    for (name, convention) in [("pt_regs", "pt_regs"), ("registers", "register arguments")] {
        let s = section(&out, name);
        assert!(
            s.iter()
                .any(|l| l.contains(&format!("kprobe convention: {convention}"))),
            "{name}: {s:#?}"
        );
        assert!(
            openat_exits(&s, "cat").iter().any(|l| named(l)),
            "{name}: cat's openat named: {s:#?}"
        );
    }
}
