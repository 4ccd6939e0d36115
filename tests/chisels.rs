//! Stock chisels on deterministic workloads, through the library: a capture is made with
//! the real binary tracing a command (`-w FILE -- cmd`), then replayed through a pipeline
//! whose only sink is the chisel. Needs root (tests skip otherwise).

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
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
    let out = tmp(&format!("{name}.tpd"));
    let st = Command::new(BIN)
        .arg("-w")
        .arg(&out)
        .args(["--", "sh", "-c", script])
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

#[test]
fn topfiles_bytes_puts_the_written_file_first_with_its_size() {
    if !root() {
        return;
    }
    let _g = serial();
    let target = tmp("ten-mib");
    let cap = capture(
        "dd",
        // Only the target is a file: the data comes through a pipe.
        &format!("yes | head -c 10485760 > {}", target.display()),
    );
    let r = run("topfiles_bytes", &[], &cap);
    assert!(
        r.out.starts_with("Bytes               Filename"),
        "{}",
        r.out
    );
    let top = rows(&r.out);
    assert_eq!(
        top[0],
        ("10.00M".to_string(), target.display().to_string()),
        "{}",
        r.out
    );
    let _ = std::fs::remove_file(&target);
    let _ = std::fs::remove_file(&cap);
}
