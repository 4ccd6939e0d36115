//! Which objects to probe: the C libraries and loaders the running processes map, the
//! usual paths, and the executables named or traced.
//!
//! Libraries are found in the running processes' `/proc/<pid>/maps` (through
//! `/proc/<pid>/root` so a container's own C library is found too) and at the usual
//! paths, deduplicated by device and inode. A uprobe pins the inode, so a library found
//! through a process that then exits stays probed.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// (device, inode) of a file.
pub fn file_id(p: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether `name` looks like a C library (glibc, musl).
pub fn is_c_library(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.starts_with("libc.so")
        || (base.starts_with("libc-2.") && base.ends_with(".so"))
        || base.starts_with("libc.musl-")
        || base.starts_with("ld-musl-")
}

/// Whether `path` looks like glibc's dynamic loader (`ld-linux-x86-64.so.2`): stripped,
/// so probed at its `syscall` instructions rather than by function name.
pub fn is_loader(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.starts_with("ld-linux") && base.contains(".so")
}

/// Where to look besides the running processes.
const WELL_KNOWN: &[&str] = &[
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/libc.so.6",
    "/usr/lib64/libc.so.6",
    "/usr/lib/libc.so.6",
    "/lib/libc.so.6",
    "/lib/aarch64-linux-gnu/libc.so.6",
    "/lib/ld-musl-x86_64.so.1",
    "/lib/ld-musl-aarch64.so.1",
];

/// Objects to probe: C libraries mapped by running processes (all, or `pids`' only), the
/// well-known paths (system-wide only), `pids`' executables, and `extra`; deduplicated by
/// (device, inode), first path kept.
pub fn find_objects(pids: Option<&[u32]>, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut out = Vec::new();
    let mut add = |p: PathBuf, out: &mut Vec<PathBuf>| {
        if let Ok(m) = std::fs::metadata(&p)
            && m.is_file()
            && seen.insert((m.dev(), m.ino()))
        {
            out.push(p);
        }
    };
    for p in extra {
        add(p.clone(), &mut out);
    }
    let all: Vec<u32>;
    let scan: &[u32] = match pids {
        Some(p) => p,
        None => {
            all = std::fs::read_dir("/proc")
                .map(|d| {
                    d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            &all
        }
    };
    if pids.is_none() {
        for p in WELL_KNOWN {
            add(PathBuf::from(p), &mut out);
        }
    }
    for &pid in scan {
        if pids.is_some()
            && let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe"))
        {
            add(
                PathBuf::from(format!("/proc/{pid}/root{}", exe.display())),
                &mut out,
            );
        }
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        let mut libs: Vec<&str> = maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .filter(|p| p.starts_with('/') && (is_c_library(p) || is_loader(p)))
            .collect();
        libs.dedup();
        for lib in libs {
            // Our own view first (a readable path for -v), the process's root otherwise.
            let own = PathBuf::from(lib);
            let theirs = PathBuf::from(format!("/proc/{pid}/root{lib}"));
            match (std::fs::metadata(&own), std::fs::metadata(&theirs)) {
                (Ok(a), Ok(b)) if (a.dev(), a.ino()) == (b.dev(), b.ino()) => add(own, &mut out),
                (_, Ok(_)) => add(theirs, &mut out),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_library_names() {
        assert!(is_c_library("/usr/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(is_c_library("/lib/libc-2.17.so"));
        assert!(is_c_library("/lib/ld-musl-x86_64.so.1"));
        assert!(!is_c_library("/usr/lib/libcap.so.2"));
        assert!(!is_c_library("/usr/lib/libcrypt.so.1"));
    }
}
