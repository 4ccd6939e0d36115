//! Stock chisels on deterministic workloads, through the library: a capture is made with
//! the real binary tracing a command (`-w FILE -- cmd`), then replayed through a pipeline
//! whose only sink is the chisel. Needs root (tests skip otherwise).

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard, OnceLock};
use tpdig::chisel::{ChiselErrorKind, ChiselSink, Source, find};
use tpdig::pipeline::{Pipeline, Selection};
use tpdig::source::file::{ReplayOptions, replay};
use tpdig::state::State;

const BIN: &str = env!("CARGO_BIN_EXE_tpdig");

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Output shared between the sink and the test.
#[derive(Clone, Default)]
struct Buf(Rc<RefCell<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tpdig-chisel-test-{}-{name}", std::process::id()))
}

/// Captures `sh -c script` (and its children) into a file.
fn capture(name: &str, script: &str) -> PathBuf {
    capture_with("sh", name, script)
}

fn capture_with(shell: &str, name: &str, script: &str) -> PathBuf {
    let out = tmp(&format!("{name}.tpd"));
    let st = Command::new(BIN)
        .arg("-w")
        .arg(&out)
        // With I/O data, so the chisels that print it have it.
        .args(["-s", "80"])
        .args(["--", shell, "-c", script])
        .status()
        .expect("run tpdig");
    assert!(st.success(), "capture of {script:?} failed: {st}");
    out
}

/// What a chisel printed over a capture, and the run's `-S` counts.
struct Run {
    out: String,
    by_type: std::collections::HashMap<String, u64>,
    error: Option<tpdig::chisel::ChiselError>,
}

fn run_source(src: &Source, args: &[&str], file: &Path) -> Run {
    let buf = Buf::default();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut sink =
        ChiselSink::new(src, &args, Box::new(buf.clone())).unwrap_or_else(|e| panic!("{e}"));
    let by_type;
    {
        let mut p = Pipeline::new(State::default(), vec![&mut sink], Selection::default());
        p.count_types = true;
        replay(&[file.to_path_buf()], &ReplayOptions::default(), &mut p).expect("replay");
        p.end(&[]);
        by_type = p.by_type.clone();
    }
    let error = sink.take_error();
    let out = String::from_utf8(buf.0.borrow().clone()).unwrap();
    Run {
        out,
        by_type,
        error,
    }
}

fn run(name: &str, args: &[&str], file: &Path) -> Run {
    let r = run_source(&find(name).unwrap(), args, file);
    if let Some(e) = &r.error {
        panic!("{name}: {e}");
    }
    r
}

/// The rows under the dashed rule of a top table: (value column, rest).
fn rows(out: &str) -> Vec<(String, String)> {
    out.lines()
        .skip_while(|l| !l.starts_with("-----"))
        .skip(1)
        .map(|l| {
            let (v, rest) = l.split_at(l.len().min(20));
            (v.trim().to_string(), rest.trim().to_string())
        })
        .collect()
}

/// The file workload, captured once: 10 MiB written to a file through a pipe, a read that
/// fails on a file (fd 0 opened write-only), a 200 ms sleep, output on stdout and stderr,
/// a read on stdin.
struct FileRun {
    cap: PathBuf,
    target: String,
}

fn file_run() -> &'static FileRun {
    static RUN: OnceLock<FileRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let target = tmp("ten-mib");
        let t = target.display().to_string();
        let script = format!(
            "yes | head -c 10485760 > {t}; cat 0>>{t} 2>/dev/null; sleep 0.2; echo hello; \
             echo oops >&2; head -c 5 </etc/passwd >/dev/null"
        );
        let cap = capture("files", &script);
        FileRun { cap, target: t }
    })
}

/// The network workload: bash connects to a local server and sends 100000 bytes through
/// `head`; the server answers 1000 bytes.
struct NetRun {
    cap: PathBuf,
    port: u16,
}

fn net_run() -> &'static NetRun {
    static RUN: OnceLock<NetRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::Read;
            let (mut c, _) = l.accept().unwrap();
            let mut buf = vec![0u8; 65536];
            while c.read(&mut buf).unwrap_or(0) > 0 {}
            let _ = c.write_all(&[b'x'; 1000]);
        });
        let cap = capture_with(
            "bash",
            "net",
            &format!(
                "exec 3<>/dev/tcp/127.0.0.1/{port}; head -c 100000 /dev/zero >&3; \
                 exec 3>&-"
            ),
        );
        let _ = server.join();
        NetRun { cap, port }
    })
}

fn bytes_value(v: &str) -> f64 {
    let (num, mult) = if let Some(n) = v.strip_suffix("KB") {
        (n, 1024.0)
    } else if let Some(n) = v.strip_suffix('M') {
        (n, 1024.0 * 1024.0)
    } else if let Some(n) = v.strip_suffix('B') {
        (n, 1.0)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().unwrap() * mult
}

#[test]
fn topfiles_bytes_puts_the_written_file_first_with_its_size() {
    if !root() {
        return;
    }
    let _g = serial();
    let w = file_run();
    let r = run("topfiles_bytes", &[], &w.cap);
    assert!(
        r.out.starts_with("Bytes               Filename"),
        "{}",
        r.out
    );
    assert_eq!(
        rows(&r.out)[0],
        ("10.00M".to_string(), w.target.clone()),
        "{}",
        r.out
    );
}

#[test]
fn topprocs_file_and_fdbytes_by_credit_the_writer() {
    if !root() {
        return;
    }
    let _g = serial();
    let w = file_run();
    let r = run("topprocs_file", &[], &w.cap);
    let top = rows(&r.out);
    // 10 MiB written, plus the dynamic loader's reads of the libraries.
    let mib = 1024.0 * 1024.0;
    assert!(
        (10.0 * mib..10.1 * mib).contains(&bytes_value(&top[0].0)),
        "{}",
        r.out
    );
    assert!(top[0].1.starts_with("head "), "{}", r.out);
    // head read 10 MiB from the pipe and wrote 10 MiB: 20 MiB of I/O in all.
    let r = run("fdbytes_by", &["proc.name"], &w.cap);
    let top = rows(&r.out);
    assert_eq!(top[0].1, "head", "{}", r.out);
    assert!(
        (20.0 * mib..20.1 * mib).contains(&bytes_value(&top[0].0)),
        "{}",
        r.out
    );
    let r = run("fdtime_by", &["fd.name"], &w.cap);
    assert!(rows(&r.out).iter().any(|x| x.1 == w.target), "{}", r.out);
    let r = run("fdcount_by", &["proc.name"], &w.cap);
    assert!(rows(&r.out).iter().any(|x| x.1 == "cat"), "{}", r.out);
    let r = run("topfiles_time", &[], &w.cap);
    assert!(rows(&r.out).iter().any(|x| x.1 == w.target), "{}", r.out);
}

#[test]
fn topscalls_agrees_with_the_type_counts() {
    if !root() {
        return;
    }
    let _g = serial();
    let w = file_run();
    let r = run("topscalls", &[], &w.cap);
    let top = rows(&r.out);
    assert!(top.len() >= 10, "{}", r.out);
    for (count, name) in &top {
        assert_eq!(
            count.parse::<u64>().unwrap(),
            r.by_type[name.as_str()],
            "{name}: topscalls vs -S\n{}",
            r.out
        );
    }
    let mut want: Vec<(&String, &u64)> = r.by_type.iter().filter(|e| e.0 != "switch").collect();
    want.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    assert_eq!(top[0].1, *want[0].0, "{}", r.out);
    let r = run("topscalls_time", &[], &w.cap);
    assert!(
        r.out.starts_with("Time                Syscall"),
        "{}",
        r.out
    );
    assert!(
        rows(&r.out)
            .iter()
            .any(|x| x.1 == "nanosleep" || x.1 == "clock_nanosleep"),
        "{}",
        r.out
    );
}

#[test]
fn errors_are_counted_per_file_and_process() {
    if !root() {
        return;
    }
    let _g = serial();
    let w = file_run();
    let r = run("topfiles_errors", &[], &w.cap);
    assert!(rows(&r.out).iter().any(|x| x.1 == w.target), "{}", r.out);
    let r = run("topprocs_errors", &[], &w.cap);
    assert!(
        rows(&r.out).iter().any(|x| x.1.starts_with("cat ")),
        "{}",
        r.out
    );
}

#[test]
fn io_totals_per_interval_add_up() {
    if !root() {
        return;
    }
    let _g = serial();
    let w = file_run();
    let r = run("iobytes_file", &[], &w.cap);
    let mut out = 0u64;
    for l in r.out.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.len(), 4, "{l}");
        out += f[2].strip_prefix("out:").unwrap().parse::<u64>().unwrap();
    }
    assert!(out >= 10 * 1024 * 1024, "{}", r.out);
    let r = run("iobytes", &[], &w.cap);
    assert!(
        r.out.lines().count() >= 1 && r.out.contains(" tot:"),
        "{}",
        r.out
    );
}

#[test]
fn event_printing_chisels_show_the_workload() {
    if !root() {
        return;
    }
    let _g = serial();
    let w = file_run();
    let r = run("echo_fds", &["disable_colors"], &w.cap);
    assert!(
        r.out
            .lines()
            .any(|l| l.starts_with("------ Write") && l.contains(&w.target)),
        "{}",
        r.out
    );
    let r = run("spy_file", &["W", &w.target], &w.cap);
    // A header per write, each followed by its data (`yes` writes "y" lines).
    let headers: Vec<&str> = r.out.lines().filter(|l| l.ends_with(&w.target)).collect();
    assert!(!headers.is_empty(), "{}", r.out);
    assert!(headers.iter().all(|l| l.contains(" W ")), "{}", r.out);
    assert!(r.out.lines().any(|l| l == "y"), "{}", r.out);
    // stdout, stderr and stdin print the data itself.
    let r = run("stdout", &[], &w.cap);
    assert!(r.out.lines().any(|l| l == "hello"), "{}", r.out);
    // cat's complaint goes to fd 2 (`echo oops >&2` is a write on a dup'd fd 1).
    let r = run("stderr", &[], &w.cap);
    assert!(r.out.contains("cat: -: Bad file descriptor"), "{}", r.out);
    let r = run("stdin", &[], &w.cap);
    assert!(r.out.contains("root:"), "{}", r.out);
    let r = run("echo_fds", &["disable_colors"], &w.cap);
    assert!(
        r.out
            .contains(&format!("------ Write 5B to   /dev/null (head)\nroot:")),
        "{}",
        r.out
    );
    let r = run("spy_users", &["1", "disable_colors"], &w.cap);
    assert!(r.out.contains("head -c 10485760"), "{}", r.out);
    let r = run("list_login_shells", &["head"], &w.cap);
    assert!(r.out.lines().count() >= 1, "{}", r.out);
    assert!(
        r.out.lines().all(|l| l.trim().parse::<u32>().is_ok()),
        "{}",
        r.out
    );
}

#[test]
fn latency_chisels_find_the_sleep() {
    if !root() {
        return;
    }
    let _g = serial();
    let w = file_run();
    let r = run("scallslower", &["150"], &w.cap);
    assert!(
        r.out
            .lines()
            .any(|l| l.contains("sleep") && l.contains("nanosleep")),
        "{}",
        r.out
    );
    let r = run("fileslower", &["0"], &w.cap);
    assert!(r.out.contains(&w.target), "{}", r.out);
    let r = run("proc_exec_time", &["disable_colors"], &w.cap);
    assert!(r.out.lines().any(|l| l.starts_with("sleep ")), "{}", r.out);
    let r = run("bottlenecks", &[], &w.cap);
    let first = r.out.lines().next().unwrap_or_default();
    let lat: f64 = first.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(lat >= 0.2, "{}", r.out);
    assert_eq!(r.out.lines().count(), 10, "{}", r.out);
    let r = run("spectrogram", &["100"], &w.cap);
    assert!(
        r.out.lines().count() >= 2 && r.out.contains("\x1b[4"),
        "{}",
        r.out
    );
    let dump = tmp("around.txt");
    let r = run(
        "around",
        &[dump.to_str().unwrap(), "100", "evt.failed=true"],
        &w.cap,
    );
    assert!(r.out.contains("events written"), "{}", r.out);
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(text.lines().any(|l| l.contains("EBADF")), "{text}");
    let _ = std::fs::remove_file(dump);
}

#[test]
fn network_chisels_see_the_connection() {
    if !root() {
        return;
    }
    let _g = serial();
    let n = net_run();
    let conn_port = format!("127.0.0.1:{}", n.port);
    let r = run("topconns", &[], &n.cap);
    let top = rows(&r.out);
    assert!(
        top[0].1.starts_with("tcp") && top[0].1.ends_with(&conn_port),
        "{}",
        r.out
    );
    assert!(bytes_value(&top[0].0) >= 100_000.0, "{}", r.out);
    let r = run("topports_server", &[], &n.cap);
    assert_eq!(rows(&r.out)[0].1, n.port.to_string(), "{}", r.out);
    let r = run("topprocs_net", &[], &n.cap);
    assert!(rows(&r.out)[0].1.starts_with("head "), "{}", r.out);
    let r = run("iobytes_net", &[], &n.cap);
    assert!(r.out.contains(" out:"), "{}", r.out);
    let r = run("spy_ip", &["127.0.0.1", "disable_colors"], &n.cap);
    assert!(
        r.out
            .lines()
            .any(|l| l.starts_with("------ Write") && l.contains(&conn_port)),
        "{}",
        r.out
    );
    // The data follows: zeros from /dev/zero, shown as dots.
    assert!(
        r.out.lines().any(|l| l.starts_with("........")),
        "{}",
        r.out
    );
    let port = n.port.to_string();
    let r = run("spy_port", &[&port, "disable_colors"], &n.cap);
    assert!(r.out.lines().any(|l| l.contains(&conn_port)), "{}", r.out);
    let r = run("netlower", &["0", "disable_colors"], &n.cap);
    assert!(r.out.contains(&conn_port), "{}", r.out);
}

#[test]
fn state_chisels_list_the_snapshot() {
    if !root() {
        return;
    }
    let _g = serial();
    // A listening socket of this process is in the capture's /proc snapshot.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let cap = capture("state", "true");
    let me = std::process::id().to_string();
    let r = run("ps", &[&format!("proc.pid={me}")], &cap);
    assert!(r.out.starts_with("TID"), "{}", r.out);
    assert!(
        r.out
            .lines()
            .skip(1)
            .all(|l| l.split_whitespace().nth(1) == Some(me.as_str())),
        "{}",
        r.out
    );
    assert!(r.out.lines().count() >= 2, "{}", r.out);
    let r = run("lsof", &[&format!("proc.pid={me} and fd.type=ipv4")], &cap);
    assert!(
        r.out.lines().any(|l| l.contains(&format!(":{port}"))),
        "{}",
        r.out
    );
    let r = run("netstat", &[&format!("proc.pid={me}")], &cap);
    assert!(
        r.out
            .lines()
            .any(|l| l.contains(&format!("127.0.0.1:{port}")) && l.contains("LISTEN")),
        "{}",
        r.out
    );
    drop(l);
    let _ = std::fs::remove_file(cap);
}

#[test]
fn topprocs_cpu_ranks_a_busy_loop_first() {
    if !root() {
        return;
    }
    let _g = serial();
    let cap = tmp("cpu.tpd");
    let mut tpdig = Command::new(BIN)
        .arg("-w")
        .arg(&cap)
        .args(["-v", "-M", "3"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Start the loop only once the rings are enabled (tpdig says so on stderr with -v).
    let mut err = std::io::BufReader::new(tpdig.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0
        && !line.contains("capturing")
    {
        line.clear();
    }
    let drain = std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let before = children_cpu_ns();
    let st = Command::new("perl")
        .args(["-e", "$t = time; 1 while time - $t < 2"])
        .status()
        .unwrap();
    let perl_cpu = children_cpu_ns() - before;
    assert!(st.success());
    assert!(tpdig.wait().unwrap().success());
    // The capture spans -M 3 seconds (tpdig's exit may take longer: not part of it).
    let run_ns = 3e9;
    let _ = drain.join();
    let r = run("topprocs_cpu", &[], &cap);
    assert!(
        r.out
            .starts_with("CPU%                Process             PID"),
        "{}",
        r.out
    );
    let top = rows(&r.out);
    let perl = top
        .iter()
        .find(|r| r.1.starts_with("perl "))
        .unwrap_or_else(|| panic!("{}", r.out));
    // The chisel's share (of one CPU over the run) against what the kernel charged perl.
    let pct: f64 = perl.0.trim_end_matches('%').parse().unwrap();
    let want = perl_cpu as f64 / run_ns * 100.0;
    assert!(
        (pct - want).abs() <= want * 0.3 + 3.0,
        "chisel {pct:.1}% vs rusage {want:.1}%\n{}",
        r.out
    );
    // On an otherwise idle machine the busy loop leads; heavy other load (parallel
    // builds) may outrank it, so leading is required only when it had a clear share.
    if want > 50.0 {
        assert_eq!(top[0].1, perl.1, "{}", r.out);
    }
    let _ = std::fs::remove_file(cap);
}

/// User plus system CPU time of reaped children, in ns.
fn children_cpu_ns() -> u64 {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let ns =
        |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000_000 + t.tv_usec() as u64 * 1000;
    ns(u.user_time()) + ns(u.system_time())
}

/// Broken scripts: a clear error with file:line:column, the right kind, no panic.
#[test]
fn script_errors_are_reported_with_their_place() {
    let out = Box::new(Buf::default());
    let bad = Source::from_text("syntax", "fn on_event(evt) {\n    let x = ;\n}\n");
    let e = ChiselSink::new(&bad, &[], out.clone()).err().unwrap();
    assert_eq!(e.kind, ChiselErrorKind::Syntax);
    assert!(e.to_string().starts_with("syntax.rhai:2:"), "{e}");
    assert_eq!(e.exit_code(), 2);

    let top = Source::from_text("top", "let a = 1;\nlet b = a.no_such_method();\n");
    let e = ChiselSink::new(&top, &[], out.clone()).err().unwrap();
    assert_eq!((e.kind, e.line), (ChiselErrorKind::Runtime, 2), "{e}");
    assert!(e.message.contains("no_such_method"), "{e}");

    let filt = Source::from_text("filt", "set_filter(\"proc.nme = x\");\n");
    let e = ChiselSink::new(&filt, &[], out.clone()).err().unwrap();
    assert!(e.message.contains("did you mean proc.name"), "{e}");

    let loop_ = Source::from_text("spin", "fn on_init() {\n    loop { }\n}\n");
    let e = ChiselSink::with_limits(&loop_, &[], out.clone(), 100_000)
        .err()
        .unwrap();
    assert_eq!(e.kind, ChiselErrorKind::Runtime);
    assert!(e.message.contains("endless loop"), "{e}");
    assert_eq!(e.exit_code(), 1);

    let args = find("fileslower").unwrap();
    let e = ChiselSink::new(&args, &[], out.clone()).err().unwrap();
    assert_eq!(e.kind, ChiselErrorKind::Args);
    assert!(e.message.contains("min_ms"), "{e}");
    let e = ChiselSink::new(&args, &["abc".into()], out).err().unwrap();
    assert!(e.message.contains("integer"), "{e}");
}

#[test]
fn runtime_errors_in_callbacks_stop_the_run_with_their_place() {
    if !root() {
        return;
    }
    let _g = serial();
    let w = file_run();
    let src = Source::from_text(
        "boom",
        "const N = vars();\nfn on_event(evt) {\n    if N.add(\"n\", 1) == 100 { throw \"boom\"; }\n}\n",
    );
    let r = run_source(&src, &[], &w.cap);
    let e = r.error.expect("the error is kept");
    assert_eq!((e.file.as_str(), e.line), ("boom.rhai", 3), "{e}");
    assert!(
        e.message.contains("boom") && e.message.contains("on_event"),
        "{e}"
    );

    let spin = Source::from_text("spin", "fn on_event(evt) {\n    while true { }\n}\n");
    let buf = Buf::default();
    let mut sink = ChiselSink::with_limits(&spin, &[], Box::new(buf), 100_000).unwrap();
    {
        let mut p = Pipeline::new(State::default(), vec![&mut sink], Selection::default());
        replay(
            std::slice::from_ref(&w.cap),
            &ReplayOptions::default(),
            &mut p,
        )
        .unwrap();
        p.end(&[]);
        assert!(p.done && p.io_error.is_none());
        assert_eq!(p.decoded, 1, "the run stops at the first event");
    }
    let e = sink.take_error().unwrap();
    assert_eq!(e.file, "spin.rhai");
    assert!(
        e.message.contains("endless loop") && e.message.contains("on_event"),
        "{e}"
    );
}

/// State lives in top-level constants; intervals follow event time; the evt object
/// answers catalog fields by name and the fast getters agree with them.
#[test]
fn the_script_api_works_end_to_end() {
    if !root() {
        return;
    }
    let _g = serial();
    let w = file_run();
    let src = Source::from_text(
        "api",
        r#"
const S = vars();
const T = table();
T.feed(["proc.name", "evt.type"], "evt.count", "evt.dir=<");
set_interval_ns(100000000);
set_filter("evt.type=write and evt.dir=<");
fn on_event(evt) {
    if evt.fd_name != evt["fd.name"] || evt.res != evt["evt.rawres"] { throw "getter mismatch"; }
    S.add("writes", 1);
}
fn on_interval(ts, delta) { S.add("intervals", 1); if delta > 100000000 { throw `delta ${delta}`; } }
fn on_capture_end(ts, delta) {
    print(`writes=${S.get("writes")} intervals=${S.get("intervals")} head_writes=${T.get(["head", "write"])}`);
    print(`${machine().cpus > 0}`);
}
"#,
    );
    let r = run_source(&src, &[], &w.cap);
    assert!(r.error.is_none(), "{:?}", r.error);
    let line = r.out.lines().next().unwrap();
    let f: Vec<u64> = line
        .split_whitespace()
        .map(|kv| kv.split('=').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(f[0], r.by_type["write"] / 2, "{line}");
    assert!(f[1] >= 2, "{line}");
    assert!(f[2] >= 1280, "{line}");
    assert!(r.out.ends_with("true\n"), "{}", r.out);
}

/// proc_exec_time over a known 200 ms process. Fails today: the state gives a forked child
/// its parent's start time (`Process::child_of`), so `proc.duration` counts from the
/// parent's start.
#[test]
#[ignore = "state: child processes inherit the parent's start_ts"]
fn proc_exec_time_measures_from_the_fork() {
    if !root() {
        return;
    }
    let _g = serial();
    let w = file_run();
    let r = run("proc_exec_time", &["disable_colors"], &w.cap);
    let sleep = r
        .out
        .lines()
        .find(|l| l.starts_with("sleep "))
        .unwrap_or_else(|| panic!("{}", r.out));
    let t = sleep.split_whitespace().last().unwrap();
    assert!(
        t.ends_with("ms") && t.trim_end_matches("ms").parse::<u64>().unwrap() >= 200,
        "{sleep}"
    );
}

/// Developer aid: runs a chisel over $TPDIG_CHISEL_FILE (ignored by default).
#[test]
#[ignore]
fn run_chisel_over_a_given_file() {
    let (Ok(file), Ok(name)) = (
        std::env::var("TPDIG_CHISEL_FILE"),
        std::env::var("TPDIG_CHISEL_NAME"),
    ) else {
        return;
    };
    let args = std::env::var("TPDIG_CHISEL_ARGS").unwrap_or_default();
    let args: Vec<&str> = args.split_whitespace().collect();
    let t = std::time::Instant::now();
    let r = run(&name, &args, Path::new(&file));
    let n: u64 = r.by_type.values().sum();
    eprintln!(
        "{}{} events in {:.2?} ({:.0} events/s)",
        r.out,
        n,
        t.elapsed(),
        n as f64 / t.elapsed().as_secs_f64()
    );
}

/// The worked example of scripts/README.md runs as documented.
#[test]
fn the_readme_example_works() {
    if !root() {
        return;
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/README.md")).unwrap();
    let at = readme.find("## Worked example").unwrap();
    let code = readme[at..]
        .split("```rhai\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let _g = serial();
    let w = file_run();
    let r = run_source(&Source::from_text("ext_bytes", code), &["3"], &w.cap);
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.out.contains("Bytes               Extension"), "{}", r.out);
    // The write may straddle an interval boundary: the "(none)" rows add up to 10 MiB.
    let total: f64 = r
        .out
        .lines()
        .filter(|l| l.trim_end().ends_with("(none)"))
        .filter_map(|l| {
            let v = l.split_whitespace().next()?;
            let (num, mult) = if let Some(n) = v.strip_suffix("KB") {
                (n, 1024.0)
            } else if let Some(n) = v.strip_suffix('M') {
                (n, 1048576.0)
            } else if let Some(n) = v.strip_suffix('G') {
                (n, 1073741824.0)
            } else {
                (v.trim_end_matches('B'), 1.0)
            };
            Some(num.parse::<f64>().ok()? * mult)
        })
        .sum();
    assert!(
        (total - 10.0 * 1048576.0).abs() < 0.02 * 1048576.0,
        "10 MiB in all: {total}\n{}",
        r.out
    );
}

/// Throughput of stock chisels against plain reading, over a 2M-event capture (1M
/// one-byte dd copies). Run with:
/// `cargo test --release --test chisels chisel_throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn chisel_throughput() {
    if !root() {
        return;
    }
    let _g = serial();
    let cap = capture(
        "bench",
        "dd if=/dev/zero of=/dev/null bs=1 count=500000 2>/dev/null",
    );
    let t = std::time::Instant::now();
    let st = Command::new(BIN)
        .arg("-r")
        .arg(&cap)
        .arg("-q")
        .status()
        .unwrap();
    assert!(st.success());
    let plain = t.elapsed().as_secs_f64();
    let mut events = 0u64;
    let mut rates = Vec::new();
    for name in ["topfiles_bytes", "topscalls"] {
        let t = std::time::Instant::now();
        let r = run(name, &[], &cap);
        let secs = t.elapsed().as_secs_f64();
        events = r.by_type.values().sum();
        rates.push((name, events as f64 / secs));
    }
    eprintln!("capture: {events} events");
    eprintln!("plain `tpdig -r -q`: {:.0} events/s", events as f64 / plain);
    for (name, rate) in rates {
        eprintln!("{name}: {rate:.0} events/s");
    }
    let _ = std::fs::remove_file(cap);
}
