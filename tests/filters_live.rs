//! Filters and output options on real captured events.
//!
//! Every check here runs the real binary against the real kernel and compares what tpdig
//! shows with something computed independently: strace's count of the same command's
//! openat calls, the predicate of the filter re-evaluated by the test on the JSON lines
//! tpdig printed, the event counts read from the rings with and without an in-kernel
//! filter. Commands run under `-- cmd` are task-bound and need no lock; system-wide
//! captures take `common::serial()`.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The workload scenarios (runs only in the re-executed child).
#[test]
fn workload() {
    workload_entry(|name, arg| match name {
        // Background load: cheap system calls until killed.
        "busy" => loop {
            let _ = nix::unistd::getppid();
        },
        // Nothing after go: the tid is what matters (it is blocked until go).
        "idle" => {
            let _ = arg;
        }
        other => panic!("unknown workload {other}"),
    });
}

fn skip_unless_root(what: &str) -> bool {
    if can_trace() {
        return false;
    }
    eprintln!("skipped {what}: needs root");
    true
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hostname_bytes() -> Vec<u8> {
    std::fs::read("/etc/hostname").unwrap_or_default()
}

/// Runs tpdig and insists on success, returning stdout and stderr.
fn ok(args: &[&str]) -> (String, String) {
    let out = run(args, &[]);
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "tpdig {args:?} exited {:?}; stderr:\n{e}",
        out.status.code()
    );
    (o, e)
}

/// The JSON objects of a run's stdout. Lines that are not JSON objects must be the
/// traced command's own output (it shares tpdig's stdout), given in `foreign`.
fn json_lines(stdout: &str, foreign: &[&str]) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| !foreign.contains(l))
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("line is not JSON ({e}): {l:?}"))
        })
        .collect()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string {key} in {v}"))
}

fn opt_s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn n(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// The value of `name=` in an evt.info string, up to the next space.
fn info_arg<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.split(' ')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// The leading number of a rendered argument: `3(<f>/etc/hostname)` → 3.
fn lead_num(v: &str) -> Option<i64> {
    let end = v
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(v.len(), |(i, _)| i);
    v[..end].parse().ok()
}

// ---------------------------------------------------------------------------------------
// -j

#[test]
fn json_of_cat_parses_and_shows_the_read_of_etc_hostname() {
    if skip_unless_root("json test") {
        return;
    }
    let host = hostname_bytes();
    if host.is_empty() {
        eprintln!("skipped: /etc/hostname is empty or missing");
        return;
    }
    let host_line = String::from_utf8_lossy(&host).trim_end().to_string();
    let (out, err) = ok(&["-j", "--", "cat", "/etc/hostname"]);
    let evs = json_lines(&out, &[host_line.as_str()]);
    assert!(evs.len() > 20, "too few events: {}\n{err}", evs.len());
    let keys = [
        "evt.cpu",
        "evt.dir",
        "evt.info",
        "evt.num",
        "evt.outputtime",
        "evt.type",
        "proc.name",
        "thread.tid",
    ];
    let mut last_num = 0;
    for e in &evs {
        let obj = e.as_object().expect("an object per line");
        let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
        got.sort();
        assert_eq!(got, keys, "keys of {e}");
        let num = e["evt.num"].as_u64().expect("evt.num is a number");
        assert!(num > last_num, "evt.num increases: {num} after {last_num}");
        last_num = num;
        assert!(e["evt.outputtime"].as_u64().is_some(), "outputtime ns: {e}");
        assert!(matches!(s(e, "evt.dir"), ">" | "<"), "{e}");
    }
    // The read of /etc/hostname: an exit of cat's read whose result is the file's size.
    // When file names are known, the read is on the fd openat returned for that path.
    let cat: Vec<&Value> = evs.iter().filter(|e| s(e, "proc.name") == "cat").collect();
    let want = host.len() as i64;
    let reads: Vec<usize> = (0..cat.len())
        .filter(|&i| {
            s(cat[i], "evt.type") == "read"
                && s(cat[i], "evt.dir") == "<"
                && info_arg(s(cat[i], "evt.info"), "res").and_then(lead_num) == Some(want)
        })
        .collect();
    assert!(
        !reads.is_empty(),
        "no read exit of cat with res={want}:\n{out}"
    );
    let named_open = cat.iter().find(|e| {
        s(e, "evt.type") == "openat"
            && s(e, "evt.dir") == "<"
            && s(e, "evt.info").contains("/etc/hostname")
    });
    match named_open {
        Some(open) => {
            let fd = info_arg(s(open, "evt.info"), "fd")
                .and_then(lead_num)
                .expect("openat exit fd");
            let i = reads[0];
            assert!(i > 0, "read exit without its entry");
            let enter = cat[..i]
                .iter()
                .rev()
                .find(|e| s(e, "evt.type") == "read" && s(e, "evt.dir") == ">")
                .expect("read entry");
            let info = s(enter, "evt.info");
            assert_eq!(
                info_arg(info, "fd").and_then(lead_num),
                Some(fd),
                "read of the fd opened for /etc/hostname: {info}"
            );
            assert!(info.contains("/etc/hostname"), "fd name shown: {info}");
        }
        None => eprintln!("note: openat of /etc/hostname shows no path (names not resolved)"),
    }
}

// ---------------------------------------------------------------------------------------
// proc.name=X and evt.type=openat and evt.dir=< versus strace

/// A copy of /bin/cat under a unique name, and N files for it to open.
struct Cat {
    dir: PathBuf,
    exe: PathBuf,
    comm: String,
    files: Vec<PathBuf>,
}

impl Cat {
    fn new(tag: &str, nfiles: usize) -> Cat {
        let dir = std::env::temp_dir().join(format!("tpdig-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // At most 15 bytes, so the comm is the whole name.
        let comm = format!("tpd{tag}{}", std::process::id() % 100_000);
        assert!(comm.len() <= 15, "{comm}");
        let exe = dir.join(&comm);
        std::fs::copy("/bin/cat", &exe).unwrap();
        let files = (0..nfiles)
            .map(|i| {
                let p = dir.join(format!("f{i}"));
                std::fs::write(&p, format!("file {i}\n")).unwrap();
                p
            })
            .collect();
        Cat {
            dir,
            exe,
            comm,
            files,
        }
    }

    fn command(&self, prefix: &[&str]) -> Command {
        let mut c = match prefix.split_first() {
            Some((p, rest)) => {
                let mut c = Command::new(p);
                c.args(rest).arg(&self.exe);
                c
            }
            None => Command::new(&self.exe),
        };
        c.args(&self.files)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }
}

impl Drop for Cat {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Counts the openat calls of `cmd` with strace (`-f`, one line per call).
fn strace_openats(cat: &Cat) -> usize {
    let log = cat.dir.join("strace.log");
    let st = cat
        .command(&[
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=openat",
            "-o",
            log.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success(), "strace run failed: {st:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    text.lines()
        .filter(|l| l.contains("openat(") && !l.contains("resumed>"))
        .count()
}

#[test]
fn comm_and_type_and_dir_filter_returns_exactly_the_workload_s_openat_exits() {
    if skip_unless_root("openat filter test") {
        return;
    }
    if !have("strace") {
        eprintln!("skipped: strace is not installed (apt-get install strace)");
        return;
    }
    let cat = Cat::new("o", 9);
    let expected = strace_openats(&cat);
    assert!(
        expected >= cat.files.len(),
        "strace saw {expected} openat calls"
    );

    let _g = serial();
    let filter = format!("proc.name={} and evt.type=openat and evt.dir=<", cat.comm);
    let tracer = Tracer::start(&[filter.as_str()], &[]);
    let st = cat.command(&[]).status().unwrap();
    assert!(st.success());
    let (out, err) = tracer.stop();
    let lines = parse_lines(&out);
    for l in &lines {
        assert_eq!(l.comm, cat.comm, "only the workload: {l:?}");
        assert_eq!((l.dir.as_str(), l.kind.as_str()), ("<", "openat"), "{l:?}");
    }
    println!(
        "openat exits of {}: tpdig {}, strace {expected}",
        cat.comm,
        lines.len()
    );
    assert_eq!(
        lines.len(),
        expected,
        "tpdig shows {} openat exits, strace counted {expected}:\n{out}\nstderr:\n{err}",
        lines.len()
    );
    // The data files themselves are among them, with descriptors.
    let good = lines
        .iter()
        .filter(|l| {
            info_arg(&l.info, "fd")
                .and_then(lead_num)
                .is_some_and(|fd| fd >= 3)
        })
        .count();
    assert!(good >= cat.files.len(), "{good} successful opens:\n{out}");
}

// ---------------------------------------------------------------------------------------
// evt.failed

#[test]
fn failed_filter_shows_only_failed_calls_including_a_known_failing_open() {
    if skip_unless_root("evt.failed test") {
        return;
    }
    let (out, err) = ok(&[
        "-j",
        "-p",
        "*%evt.type %evt.dir %proc.name %evt.rawres %evt.info",
        "evt.failed=true",
        "--",
        "sh",
        "-c",
        "cat /nonexistent/tpdig-failed 2>/dev/null; true",
    ]);
    let evs = json_lines(&out, &[]);
    assert!(!evs.is_empty(), "nothing shown; stderr:\n{err}");
    for e in &evs {
        assert_eq!(s(e, "evt.dir"), "<", "only exits fail: {e}");
        let raw = n(e, "evt.rawres").unwrap_or_else(|| panic!("rawres of {e}"));
        assert!(raw < 0, "a failed call returns < 0: {e}");
        let first = s(e, "evt.info").split(' ').next().unwrap();
        assert!(
            first.contains("(E"),
            "the result is shown with its errno name: {e}"
        );
    }
    assert!(
        evs.iter().any(|e| s(e, "proc.name") == "cat"
            && s(e, "evt.type") == "openat"
            && s(e, "evt.info").contains("ENOENT")
            && (!s(e, "evt.info").contains("name=/") || s(e, "evt.info").contains("/nonexistent"))),
        "cat's failing openat of /nonexistent/...:\n{out}"
    );
}

// ---------------------------------------------------------------------------------------
// Every operator of the filter language

const OP_SCRIPT: &str = "cat /etc/hostname > /dev/null; cat /nonexistent/tpdig-op 2>/dev/null; \
                         echo hi > /dev/null; true";
const OP_FORMAT: &str = "*%evt.num %evt.type %evt.dir %proc.name %thread.tid %evt.rawres \
                         %evt.failed %evt.info %proc.aname %proc.exepath %fd.name";

/// The events of OP_SCRIPT that `filter` lets through, as JSON of OP_FORMAT.
fn through(filter: &str) -> Vec<Value> {
    let (out, err) = ok(&[
        "--buffer-size",
        "256K",
        "-j",
        "-p",
        OP_FORMAT,
        filter,
        "--",
        "sh",
        "-c",
        OP_SCRIPT,
    ]);
    let evs = json_lines(&out, &[]);
    assert!(
        !evs.is_empty(),
        "filter {filter:?} showed nothing; stderr:\n{err}"
    );
    evs
}

fn glob(pat: &str, s: &str) -> bool {
    // '*' and '?' only: enough for the patterns below.
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pat.as_bytes(), s.as_bytes())
}

type Pred = fn(&Value) -> bool;
type Whole = fn(&[Value]) -> bool;

fn ty(e: &Value) -> &str {
    s(e, "evt.type")
}
fn name(e: &Value) -> &str {
    s(e, "proc.name")
}
fn raw(e: &Value) -> Option<i64> {
    n(e, "evt.rawres")
}

/// (filter, what every line shown must satisfy, what the set shown must satisfy).
const OPERATOR_CASES: &[(&str, Pred, Whole)] = &[
    ("proc.name=cat", |e| name(e) == "cat", |_| true),
    (
        "proc.name==cat and evt.type=read",
        |e| name(e) == "cat" && ty(e) == "read",
        |_| true,
    ),
    (
        "proc.name=cat and evt.type!=read",
        |e| name(e) == "cat" && ty(e) != "read",
        |v| v.iter().any(|e| ty(e) == "openat"),
    ),
    (
        "evt.rawres < 0",
        |e| raw(e).is_some_and(|r| r < 0),
        |_| true,
    ),
    (
        "evt.rawres <= 0",
        |e| raw(e).is_some_and(|r| r <= 0),
        |v| v.iter().any(|e| raw(e) == Some(0)) && v.iter().any(|e| raw(e) < Some(0)),
    ),
    (
        "evt.rawres > 2",
        |e| raw(e).is_some_and(|r| r > 2),
        |_| true,
    ),
    (
        "evt.rawres >= 3",
        |e| raw(e).is_some_and(|r| r >= 3),
        |v| v.iter().any(|e| raw(e) == Some(3)),
    ),
    (
        "evt.info contains ENOENT",
        |e| s(e, "evt.info").contains("ENOENT"),
        |_| true,
    ),
    (
        "evt.info icontains enoent",
        |e| s(e, "evt.info").to_lowercase().contains("enoent"),
        |_| true,
    ),
    (
        "evt.type startswith open",
        |e| ty(e).starts_with("open"),
        |_| true,
    ),
    ("evt.type endswith at", |e| ty(e).ends_with("at"), |_| true),
    (
        "proc.name glob 'c?t' and evt.type glob '*stat*'",
        |e| glob("c?t", name(e)) && glob("*stat*", ty(e)),
        |_| true,
    ),
    (
        "evt.type in (read, write)",
        |e| matches!(ty(e), "read" | "write"),
        |v| v.iter().any(|e| ty(e) == "read") && v.iter().any(|e| ty(e) == "write"),
    ),
    (
        "evt.type intersects (read, close)",
        |e| matches!(ty(e), "read" | "close"),
        |_| true,
    ),
    // proc.aname is the list of ancestors' names: cat's include sh.
    (
        "proc.aname intersects (sh, nosuchcomm) and evt.type=read",
        |e| ty(e) == "read" && s(e, "proc.aname").split(',').any(|a| a == "sh"),
        |v| v.iter().any(|e| name(e) == "cat"),
    ),
    (
        "proc.exepath pmatch (/nonexistent, /usr/bin)",
        |e| opt_s(e, "proc.exepath").is_some_and(|p| p.starts_with("/usr/bin/")),
        |_| true,
    ),
    (
        "evt.rawres exists",
        |e| raw(e).is_some() && s(e, "evt.dir") == "<",
        |_| true,
    ),
    (
        "fd.name exists",
        |e| opt_s(e, "fd.name").is_some(),
        |_| true,
    ),
    ("not evt.dir=<", |e| s(e, "evt.dir") == ">", |_| true),
    (
        "(evt.type=read or evt.type=write) and not proc.name=sh",
        |e| matches!(ty(e), "read" | "write") && name(e) != "sh",
        |_| true,
    ),
    // `and` binds tighter than `or`.
    (
        "evt.type=close or evt.type=openat and evt.failed=true",
        |e| ty(e) == "close" || (ty(e) == "openat" && raw(e).is_some_and(|r| r < 0)),
        |v| v.iter().any(|e| ty(e) == "close") && v.iter().any(|e| ty(e) == "openat"),
    ),
];

#[test]
fn every_operator_on_captured_events() {
    if skip_unless_root("operator test") {
        return;
    }
    // Each run traces its own `sh -c`, so the runs can overlap (tpdig's start and end are
    // slow while it installs and removes probes).
    let results: Vec<(usize, Vec<Value>)> = std::thread::scope(|sc| {
        let handles: Vec<_> = OPERATOR_CASES
            .iter()
            .enumerate()
            .map(|(i, (f, _, _))| sc.spawn(move || (i, through(f))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, evs) in results {
        let (filter, each, whole) = OPERATOR_CASES[i];
        for e in &evs {
            assert!(each(e), "filter {filter:?} let through {e}");
        }
        assert!(
            whole(&evs),
            "filter {filter:?}: the expected events are missing: {evs:#?}"
        );
        println!("{filter:<60} {} events, all satisfy it", evs.len());
    }
}

// ---------------------------------------------------------------------------------------
// Pushdown

/// "tpdig: N events in ..." of the -v summary.
fn events_read(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("tpdig: ")?;
            let (num, tail) = rest.split_once(' ')?;
            tail.starts_with("events in ")
                .then(|| num.parse().ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"))
}

/// Under a busy background loop, a run filtered on an idle workload (`filter_of` gives the
/// filter from its tid and pid) reads far fewer events than an unfiltered one, and -v says
/// what the kernel was given (`expect_of` gives the line to find).
fn pushdown_case(
    what: &str,
    filter_of: impl Fn(u32, u32) -> String,
    expect_of: impl Fn(u32, u32) -> String,
) {
    let _g = serial();
    let mut busy = Workload::start("busy", "");
    busy.go();
    let idle = Workload::start("idle", "");
    let (tid, pid) = (idle.tid, idle.child.id());
    let filter = filter_of(tid, pid);
    let filtered = run(&["-q", "-v", "-M", "1", filter.as_str()], &[]);
    let unfiltered = run(&["-q", "-v", "-M", "1"], &[]);
    let _ = busy.child.kill();
    let _ = busy.child.wait();
    let mut idle = idle;
    idle.go();
    idle.wait();

    let (fe, ue) = (text(&filtered.stderr), text(&unfiltered.stderr));
    assert!(filtered.status.success(), "{fe}");
    assert!(unfiltered.status.success(), "{ue}");
    let expect = expect_of(tid, pid);
    assert!(
        fe.contains(&expect),
        "{what} is handed to the kernel ({expect}):\n{fe}"
    );
    let (f, u) = (events_read(&fe), events_read(&ue));
    println!("events read in 1 s under load: filtered ({what}) {f}, unfiltered {u}");
    assert!(u >= 10_000, "the load should give many events: {u}\n{ue}");
    // The calls that keep process and fd state pass the kernel filter from every process
    // (by design), so other work on the machine (a detached teardown closing events, a
    // build) adds to the filtered count; a filter not pushed down reads about as many.
    assert!(
        f * 20 < u,
        "{what} filter read {f} events vs {u} unfiltered: not pushed down?\n{fe}"
    );
}

#[test]
fn tid_filter_is_pushed_into_the_kernel() {
    if skip_unless_root("pushdown test") {
        return;
    }
    pushdown_case(
        "thread.tid",
        |tid, _| format!("thread.tid={tid}"),
        |tid, _| format!("common_pid == {tid}"),
    );
}

#[test]
fn pid_filter_is_pushed_into_the_kernel() {
    if skip_unless_root("pushdown test") {
        return;
    }
    pushdown_case(
        "proc.pid",
        |_, pid| format!("proc.pid={pid}"),
        |_, _| "proc.pid pushed down: events bound to".into(),
    );
}

// ---------------------------------------------------------------------------------------
// Output options

#[test]
fn print_format_widths_escapes_and_star() {
    if skip_unless_root("-p test") {
        return;
    }
    let (out, _) = ok(&[
        "-p",
        "%5evt.dir|%8proc.name|%thread.tid\\t%evt.type",
        "proc.name=cat and evt.type=read",
        "--",
        "sh",
        "-c",
        "cat /etc/hostname > /dev/null; true",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(!lines.is_empty());
    for l in &lines {
        let (left, ty) = l.split_once('\t').unwrap_or_else(|| panic!("\\t: {l:?}"));
        assert_eq!(ty, "read");
        let parts: Vec<&str> = left.split('|').collect();
        assert_eq!(parts.len(), 3, "{l:?}");
        assert!(
            parts[0] == ">    " || parts[0] == "<    ",
            "%5 pads to 5: {l:?}"
        );
        assert_eq!(parts[1], "cat     ", "%8 pads to 8: {l:?}");
        assert!(parts[2].parse::<u32>().is_ok(), "{l:?}");
    }
    // Without '*', events lacking a field are not shown; with it they are, as <NA>.
    let fmt = "%evt.dir %evt.rawres";
    let (plain, _) = ok(&[
        "-p",
        fmt,
        "proc.name=cat and evt.type=read",
        "--",
        "cat",
        "/dev/null",
    ]);
    assert!(!plain.is_empty());
    assert!(plain.lines().all(|l| l.starts_with("< ")), "{plain}");
    let star = format!("*{fmt}");
    let (all, _) = ok(&[
        "-p",
        &star,
        "proc.name=cat and evt.type=read",
        "--",
        "cat",
        "/dev/null",
    ]);
    assert!(all.lines().any(|l| l == "> <NA>"), "{all}");
    assert_eq!(
        all.lines().filter(|l| l.starts_with("< ")).count(),
        plain.lines().count()
    );
}

fn times(out: &str) -> Vec<(String, String)> {
    parse_lines(out)
        .into_iter()
        .map(|l| (l.dir, l.time))
        .collect()
}

fn secs_ns(t: &str) -> (u64, u64) {
    let (a, b) = t
        .split_once('.')
        .unwrap_or_else(|| panic!("no fraction: {t}"));
    assert_eq!(b.len(), 9, "nanoseconds: {t}");
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn time_types_a_r_d_and_big_d() {
    if skip_unless_root("-t test") {
        return;
    }
    let args = |t: &'static str| {
        [
            "-t",
            t,
            "proc.name=cat",
            "--",
            "sh",
            "-c",
            "cat /etc/hostname > /dev/null; true",
        ]
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (out, _) = ok(&args("a"));
    let a = times(&out);
    assert!(a.len() > 10);
    for (_, t) in &a {
        let (sec, _) = secs_ns(t);
        assert!(
            sec.abs_diff(now) < 60,
            "-t a is seconds since the epoch: {t}"
        );
    }

    // -t r counts from the first event of the run, shown or not (as sysdig does).
    let (out, _) = ok(&args("r"));
    let r = times(&out);
    let ns: Vec<u64> = r
        .iter()
        .map(|(_, t)| {
            let (s, n) = secs_ns(t);
            s * 1_000_000_000 + n
        })
        .collect();
    assert!(ns.windows(2).all(|w| w[0] <= w[1]), "-t r grows: {ns:?}");
    assert!(*ns.last().unwrap() > 0);
    assert!(ns[0] < 60_000_000_000, "-t r is relative: {ns:?}");

    let (out, _) = ok(&args("D"));
    let d = times(&out);
    assert_eq!(d[0].1, "0.000000000", "-t D: nothing before the first");
    let deltas: Vec<u64> = d
        .iter()
        .map(|(_, t)| {
            let (s, n) = secs_ns(t);
            s * 1_000_000_000 + n
        })
        .collect();
    assert!(deltas[1..].iter().any(|&x| x > 0), "-t D: {deltas:?}");
    assert!(
        deltas.iter().all(|&x| x < 5_000_000_000),
        "deltas between cat's events are small: {deltas:?}"
    );

    let (out, _) = ok(&args("d"));
    let lat = times(&out);
    for (dir, t) in &lat {
        if dir == ">" {
            assert_eq!(t, "0.000000000", "-t d: entries have no latency");
        }
    }
    assert!(
        lat.iter().any(|(dir, t)| dir == "<" && t != "0.000000000"),
        "-t d: exits show time since entry:\n{out}"
    );
}

#[test]
fn summary_counts_equal_the_lines_shown() {
    if skip_unless_root("-S test") {
        return;
    }
    let filter = "proc.name=cat and evt.type in (read, close, openat)";
    let cmd = ["--", "sh", "-c", "cat /etc/hostname > /dev/null; true"];
    let mut args = vec!["-S", filter];
    args.extend_from_slice(&cmd);
    let (out, _) = ok(&args);
    let (events, table) = out
        .split_once("----------------------\n")
        .expect("the -S table");
    let shown = parse_lines(events);
    let mut counts = std::collections::HashMap::new();
    for l in table
        .lines()
        .filter(|l| !l.starts_with("---") && !l.starts_with("Event"))
    {
        let mut it = l.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        counts.insert(k.to_string(), v.parse::<usize>().unwrap());
    }
    for k in ["read", "close", "openat"] {
        let lines = shown.iter().filter(|l| l.kind == k).count();
        assert!(lines > 0, "{k} shown");
        assert_eq!(counts.get(k), Some(&lines), "-S count of {k}:\n{out}");
    }
    assert_eq!(counts.values().sum::<usize>(), shown.len());

    // An identical run without -S shows the same number of lines.
    let mut args = vec![filter];
    args.extend_from_slice(&cmd);
    let (again, _) = ok(&args);
    assert_eq!(
        parse_lines(&again).len(),
        shown.len(),
        "same filter, same lines"
    );
}

#[test]
fn suppress_comm_hides_a_command() {
    if skip_unless_root("-U test") {
        return;
    }
    let cmd = ["--", "sh", "-c", "cat /etc/hostname > /dev/null; true"];
    let mut args = vec!["-U", "cat"];
    args.extend_from_slice(&cmd);
    let (out, _) = ok(&args);
    let lines = parse_lines(&out);
    assert!(lines.iter().any(|l| l.comm == "sh"), "sh still shown");
    assert!(
        lines.iter().all(|l| l.comm != "cat"),
        "cat suppressed:\n{out}"
    );
    let (out, _) = ok(&cmd);
    assert!(parse_lines(&out).iter().any(|l| l.comm == "cat"), "control");
}

#[test]
fn list_fields_and_events() {
    let (out, _) = ok(&["-l"]);
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("proc.name"))
        .expect("proc.name listed");
    assert!(
        line.split_whitespace().count() > 2,
        "with a description: {line}"
    );
    for f in ["evt.type", "evt.failed", "thread.tid", "evt.rawres"] {
        assert!(out.contains(f), "{f} listed");
    }
    let (out, _) = ok(&["-L"]);
    assert!(
        out.lines().any(|l| l.starts_with("> openat(")),
        "openat listed"
    );
    assert!(out.lines().any(|l| l.starts_with("< openat(")));
}

#[test]
fn bad_filters_exit_2_with_column_and_suggestion() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("evt.typ=open", "column 1", &["did you mean evt.type"]),
        (
            "proc.name=cat and proc.nme=x",
            "column 19",
            &["did you mean proc.name"],
        ),
        ("proc.name=cat and", "column 18", &[]),
        ("proc.name=cat and (evt.type=read", "column 19", &["')'"]),
        ("evt.failed=tru", "column 12", &["boolean"]),
    ];
    for (f, col, more) in cases {
        let out = run(&["-n", "1", f], &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{f:?}: {err}");
        assert!(err.contains(col), "{f:?} names {col}: {err}");
        for m in *more {
            assert!(err.contains(m), "{f:?} says {m}: {err}");
        }
        assert!(out.stdout.is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// -- cmd

#[test]
fn command_exit_status_is_propagated() {
    if skip_unless_root("-- cmd status test") {
        return;
    }
    let out = run(&["-q", "--", "sh", "-c", "exit 3"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let out = run(&["-q", "--", "true"], &[]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_command_s_children_are_traced() {
    if skip_unless_root("-- cmd children test") {
        return;
    }
    // `; true` keeps sh from exec'ing cat in place: cat is a forked child.
    let (out, err) = ok(&["--", "sh", "-c", "cat /etc/hostname > /dev/null; true"]);
    let lines = parse_lines(&out);
    let sh_tid = lines
        .iter()
        .find(|l| l.comm == "sh")
        .map(|l| l.tid)
        .expect("sh's events");
    let fork = lines
        .iter()
        .find(|l| l.kind == "sched_process_fork" && l.tid == sh_tid)
        .unwrap_or_else(|| panic!("sh forks:\n{out}"));
    let child: u32 = info_arg(&fork.info, "child_pid")
        .and_then(|v| v.parse().ok())
        .expect("child_pid");
    assert!(info_arg(&fork.info, "child_comm").is_some());
    let cat: Vec<&Line> = lines.iter().filter(|l| l.comm == "cat").collect();
    assert!(!cat.is_empty(), "cat's events:\n{out}\n{err}");
    assert!(
        cat.iter().all(|l| l.tid == child),
        "cat is the forked child"
    );
    for (dir, kind) in [
        ("<", "openat"),
        (">", "read"),
        ("<", "read"),
        (">", "exit_group"),
    ] {
        assert!(
            cat.iter().any(|l| l.dir == dir && l.kind == kind),
            "cat {dir} {kind}:\n{out}"
        );
    }
    assert!(
        lines.iter().any(|l| l.kind == "procexit" && l.tid == child),
        "cat's exit"
    );
}
