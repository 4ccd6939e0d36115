//! Where the event stream goes: standard output, or the file named by `-o`.
//!
//! Tracing a command (`tpdig -j -- cat f > t.jsonl`) mixes the command's own output with
//! the events when both go to stdout, and the result is no longer JSON. With `-o FILE`
//! every event writer (the line, `-p`, `-j`, the `-S` table, a chisel's output) writes to
//! FILE, while the command keeps the terminal and tpdig's diagnostics stay on stderr.
//! Each writer gets its own handle; file handles are duplicates of one open file, so they
//! share its offset and what each writes lands after what the others flushed before it.

use crate::error::{AppError, AppResult};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub enum Destination {
    Stdout,
    File { path: PathBuf, file: File },
}

impl Destination {
    /// Stdout without a path; else creates (or truncates) the file, naming it on failure.
    pub fn open(path: Option<&Path>) -> AppResult<Destination> {
        let Some(path) = path else {
            return Ok(Destination::Stdout);
        };
        let file = File::create(path).map_err(|e| {
            AppError::runtime(format!(
                "-o {}: cannot create the file: {e}",
                path.display()
            ))
        })?;
        Ok(Destination::File {
            path: path.to_path_buf(),
            file,
        })
    }

    /// A new, unbuffered handle on the stream (callers buffer it as they need). Stdout is
    /// not held locked, and every handle can move to another thread: the event stream is
    /// written by one ([`super::write_behind`]) while others (`-S`, a chisel) share it.
    pub fn writer(&self) -> AppResult<Box<dyn Write + Send>> {
        match self {
            Destination::Stdout => {
                widen_pipe(&io::stdout());
                Ok(Box::new(io::stdout()))
            }
            Destination::File { path, file } => Ok(Box::new(duplicate(path, file)?)),
        }
    }
}

/// Another handle on `-o`'s file, sharing its offset.
fn duplicate(path: &Path, file: &File) -> AppResult<File> {
    file.try_clone().map_err(|e| {
        AppError::runtime(format!(
            "-o {}: cannot duplicate the file: {e}",
            path.display()
        ))
    })
}

/// Bytes asked of a pipe on stdout (Linux's default is 64 KiB; 1 MiB is the default
/// `fs.pipe-max-size`).
const PIPE_BYTES: i32 = 1 << 20;

/// `tpdig -r f | wc -l`: a 64 KiB pipe fills with each chunk written, so every chunk costs
/// the writer a sleep and the reader a wakeup. A wider pipe lets tpdig run ahead. Best
/// effort: not a pipe, or a size the system refuses, leaves it as it was.
fn widen_pipe(out: &io::Stdout) {
    use nix::fcntl::{FcntlArg, fcntl};
    use nix::sys::stat::{SFlag, fstat};
    let is_pipe =
        fstat(out).is_ok_and(|st| st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFIFO.bits());
    if is_pipe {
        let _ = fcntl(out, FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_on_one_file_append_in_turn() {
        let dir = std::env::temp_dir().join(format!("tpdig-dest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.txt");
        let d = Destination::open(Some(&path)).unwrap();
        let mut a = d.writer().unwrap();
        let mut b = d.writer().unwrap();
        a.write_all(b"events\n").unwrap();
        b.write_all(b"summary\n").unwrap();
        drop((a, b, d));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "events\nsummary\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_uncreatable_file_is_named() {
        let e = Destination::open(Some(Path::new("/nonexistent-dir/t.jsonl")))
            .err()
            .unwrap();
        assert!(e.message.contains("-o /nonexistent-dir/t.jsonl"), "{e}");
    }
}
