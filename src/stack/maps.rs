//! Each process's executable mappings: which file an address came from.
//!
//! Filled from PERF_RECORD_MMAP records as the kernel reports new mappings, and from
//! `/proc/PID/maps` ([`parse_proc_maps`]) for processes that mapped their code before the
//! capture began. A new mapping replaces whatever it overlaps, the way the address space
//! itself does (an exec maps its new binary over nothing; a reloaded library replaces the
//! old range).

use crate::fasthash::IntMap;

/// One executable mapping of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// File offset of `start`.
    pub pgoff: u64,
    pub path: String,
}

impl Mapping {
    /// The file offset that address `ip` (inside the mapping) was loaded from.
    pub fn file_offset(&self, ip: u64) -> u64 {
        ip - self.start + self.pgoff
    }
}

/// Mappings per process id.
#[derive(Default, Debug)]
pub struct ProcessMaps {
    by_pid: IntMap<u32, Vec<Mapping>>,
}

impl ProcessMaps {
    /// Records a mapping for `pid`, replacing the ranges it overlaps.
    pub fn insert(&mut self, pid: u32, m: Mapping) {
        let list = self.by_pid.entry(pid).or_default();
        list.retain(|o| o.end <= m.start || o.start >= m.end);
        let at = list.partition_point(|o| o.start < m.start);
        list.insert(at, m);
    }

    pub fn knows(&self, pid: u32) -> bool {
        self.by_pid.contains_key(&pid)
    }

    /// Marks `pid` as looked up even when nothing was found, so it is not read again.
    pub fn mark_known(&mut self, pid: u32) {
        self.by_pid.entry(pid).or_default();
    }

    /// The mapping holding `ip` in process `pid`.
    pub fn find(&self, pid: u32, ip: u64) -> Option<&Mapping> {
        let list = self.by_pid.get(&pid)?;
        let i = list.partition_point(|m| m.start <= ip);
        list.get(i.checked_sub(1)?).filter(|m| ip < m.end)
    }
}

/// The executable file mappings of a `/proc/PID/maps` text
/// (`start-end perms offset dev inode path`); anonymous and non-executable ones are skipped.
pub fn parse_proc_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(6, ' ');
            let (range, perms, off) = (it.next()?, it.next()?, it.next()?);
            let (_dev, _inode) = (it.next()?, it.next()?);
            let path = it.next()?.trim_start();
            if !perms.contains('x') || !path.starts_with('/') {
                return None;
            }
            let (s, e) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(s, 16).ok()?,
                end: u64::from_str_radix(e, 16).ok()?,
                pgoff: u64::from_str_radix(off, 16).ok()?,
                path: path.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_executable_file_mappings() {
        let text = "55d0c0000000-55d0c0001000 r--p 00000000 08:01 123 /usr/bin/prog\n\
55d0c0001000-55d0c0002000 r-xp 00001000 08:01 123 /usr/bin/prog\n\
7f0000000000-7f0000100000 r-xp 00028000 08:01 9 /usr/lib/libc.so.6\n\
7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0 [vdso]\n\
garbage\n";
        let maps = parse_proc_maps(text);
        assert_eq!(maps.len(), 2);
        assert_eq!(maps[0].pgoff, 0x1000);
        assert_eq!(maps[1].path, "/usr/lib/libc.so.6");
        let mut pm = ProcessMaps::default();
        for m in maps {
            pm.insert(7, m);
        }
        let m = pm.find(7, 0x55d0c0001234).unwrap();
        assert_eq!(m.file_offset(0x55d0c0001234), 0x1234);
        assert!(pm.find(7, 0x55d0c0002000).is_none());
        // An overlapping new mapping (a new exec) replaces the old one.
        pm.insert(
            7,
            Mapping {
                start: 0x55d0c0000800,
                end: 0x55d0c0001800,
                pgoff: 0,
                path: "/bin/new".into(),
            },
        );
        assert_eq!(pm.find(7, 0x55d0c0001234).unwrap().path, "/bin/new");
    }
}
