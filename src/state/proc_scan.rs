//! The /proc snapshot taken at start-up: every thread's tid, pid and comm.
//!
//! Exact for the moment it is read (before the rings are enabled); events keep it current
//! from then on. The parsing of one `status` file is I/O-free so it can be tested on text.

use super::threads::{Comm, ThreadTable};
use std::fs;
use std::path::Path;

/// Fields of /proc/PID/task/TID/status that the state needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub name: Vec<u8>,
    pub tgid: u32,
    pub pid: u32,
    pub ppid: u32,
}

/// Parses the `Name:`, `Tgid:`, `Pid:` and `PPid:` lines of a status file. `Name:` is
/// escaped by the kernel (`\n` and `\\`); comm bytes are restored from the escapes.
pub fn parse_status(text: &[u8]) -> Status {
    let mut s = Status::default();
    for line in text.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (key, value) = (&line[..colon], &line[colon + 1..]);
        let trimmed = trim_ascii(value);
        match key {
            b"Name" => s.name = unescape_name(value.strip_prefix(b"\t").unwrap_or(trimmed)),
            b"Tgid" => s.tgid = parse_u32(trimmed),
            b"Pid" => s.pid = parse_u32(trimmed),
            b"PPid" => s.ppid = parse_u32(trimmed),
            _ => {}
        }
    }
    s
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

fn parse_u32(b: &[u8]) -> u32 {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn unescape_name(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && i + 1 < v.len() {
            match v[i + 1] {
                b'n' => out.push(b'\n'),
                b'\\' => out.push(b'\\'),
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    out
}

/// Reads every thread under `proc_root` (normally /proc) into `table`. Threads that vanish
/// while being read are skipped; the count of threads read is returned.
pub fn scan(proc_root: &Path, table: &mut ThreadTable) -> usize {
    let mut count = 0;
    let Ok(procs) = fs::read_dir(proc_root) else {
        return 0;
    };
    for p in procs.flatten() {
        let name = p.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(tasks) = fs::read_dir(p.path().join("task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(text) = fs::read(t.path().join("status")) else {
                continue;
            };
            let st = parse_status(&text);
            let tgid = if st.tgid != 0 { st.tgid } else { pid };
            table.set_comm(tid, tgid, Comm::from_bytes(&st.name));
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_and_escaped_names() {
        let text = b"Name:\tmy\\nproc\\\\x\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t41\nNgid:\t0\nPid:\t42\nPPid:\t1\n";
        let s = parse_status(text);
        assert_eq!(s.name, b"my\nproc\\x");
        assert_eq!((s.tgid, s.pid, s.ppid), (41, 42, 1));
    }

    #[test]
    fn names_with_spaces_keep_them() {
        let s = parse_status(b"Name:\tWeb Content\nTgid:\t7\n");
        assert_eq!(s.name, b"Web Content");
    }

    #[test]
    fn scanning_this_machine_finds_ourselves() {
        let mut table = ThreadTable::default();
        assert!(scan(Path::new("/proc"), &mut table) > 0);
        let me = std::process::id();
        assert_eq!(table.get(me).map(|t| t.pid), Some(me));
    }
}
