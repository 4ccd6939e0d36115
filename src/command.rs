//! `tpdig [opts] [filter] -- cmd args`: start a command stopped at the starting line, trace it
//! and all its descendants, and end when it ends.
//!
//! The command is started through tpdig itself: the child is this binary with
//! `TPDIG_EXEC_WAIT` naming a FIFO; it blocks reading it until the rings are enabled,
//! restores the signal mask, and execs the command (same pid). Waiting in a process of our
//! own needs no `pre_exec` hook, and the events are opened on that pid with `inherit`, so the
//! kernel itself limits the rings to the command's process tree. If tpdig dies before the go
//! byte, the FIFO loses its last writer and the child exits without running the command
//! untraced. (A FIFO by path, not an inherited descriptor, so neither side needs unsafe fd
//! juggling and the command inherits nothing extra: std opens files close-on-exec.)

use crate::error::{AppError, AppResult};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};

const WAIT_ENV: &str = "TPDIG_EXEC_WAIT";
const PATH_ENV: &str = "TPDIG_EXEC_PATH";

/// A command started and held before its exec.
pub struct Traced {
    pub child: Child,
    go: Option<File>,
    fifo: PathBuf,
    program: Option<PathBuf>,
}

impl Traced {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The program file the command runs (found on PATH), for probes on static binaries.
    pub fn program(&self) -> Option<PathBuf> {
        self.program.clone()
    }

    /// Lets the command run (call once the rings are enabled).
    pub fn go(&mut self) -> AppResult<()> {
        if let Some(mut f) = self.go.take() {
            f.write_all(b"g")
                .map_err(|e| AppError::runtime(format!("starting the command: {e}")))?;
            // The child holds its read end open; the writer can go (EOF comes after the byte).
        }
        let _ = std::fs::remove_file(&self.fifo);
        Ok(())
    }

    /// The command's exit status, if it has ended (non-blocking).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.fifo);
    }
}

/// The shell-style exit code of a finished command: its code, or 128 + signal.
pub fn exit_code(st: ExitStatus) -> i32 {
    st.code()
        .or_else(|| st.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Starts `argv` held at the starting line.
pub fn start(argv: &[String]) -> AppResult<Traced> {
    let fifo = std::env::temp_dir().join(format!("tpdig-go-{}-{}", std::process::id(), argv.len()));
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .map_err(|e| AppError::runtime(format!("creating {}: {e}", fifo.display())))?;
    // Read-write: opening does not block waiting for a reader, and the FIFO keeps a writer
    // for as long as tpdig lives.
    let go = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .map_err(|e| AppError::runtime(format!("opening {}: {e}", fifo.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| AppError::runtime(format!("finding tpdig's own path: {e}")))?;
    let program = find_program(&argv[0]);
    let mut cmd = Command::new(exe);
    cmd.arg0("tpdig-exec").args(argv).env(WAIT_ENV, &fifo);
    if let Some(p) = &program {
        cmd.env(PATH_ENV, p);
    }
    let child = cmd
        .spawn()
        .map_err(|e| AppError::runtime(format!("starting {}: {e}", argv[0])))?;
    Ok(Traced {
        child,
        go: Some(go),
        fifo,
        program,
    })
}

/// Where `execvp` would find `name`.
fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// If this process is a trampoline (`TPDIG_EXEC_WAIT` set), waits for the go byte and execs
/// the command; never returns then. Returns otherwise.
pub fn trampoline_if_asked() {
    let Some(fifo) = std::env::var_os(WAIT_ENV) else {
        return;
    };
    let mut buf = [0u8; 1];
    let got = File::open(&fifo)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    if got != 1 {
        // tpdig ended before the capture started: do not run the command untraced.
        std::process::exit(127);
    }
    crate::signals::StopSignals::unblock();
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let Some((prog, rest)) = args.split_first() else {
        std::process::exit(127)
    };
    // The parent searched PATH, so the trace shows one execve of the program and none of
    // the search's own stat calls.
    let path = std::env::var_os(PATH_ENV).map_or_else(|| prog.into(), PathBuf::from);
    let err = Command::new(path)
        .arg0(prog)
        .args(rest)
        .env_remove(WAIT_ENV)
        .env_remove(PATH_ENV)
        .exec();
    eprintln!("tpdig: cannot run {}: {err}", prog.to_string_lossy());
    std::process::exit(if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    });
}
