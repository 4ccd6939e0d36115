//! The online-CPU list.
//!
//! tpdig opens one event per tracepoint per online CPU, so it needs the kernel's list
//! (`/sys/devices/system/cpu/online`, e.g. `0-3,5,7-8`). CPUs can be offline or absent
//! in the middle of the range, so counting them is not enough. The parser takes the text,
//! not the path, so it can be fuzzed and tested on any string.

use std::fmt;

/// Where the online list lives.
pub const ONLINE_PATH: &str = "/sys/devices/system/cpu/online";

/// More CPUs than any kernel supports (NR_CPUS tops out at 8192 on x86); a list that
/// names more is corrupt, and refusing it keeps a bad range from allocating gigabytes.
pub const MAX_CPUS: usize = 1 << 16;

/// A list that is not a CPU list, with the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuListError {
    pub offset: usize,
    pub reason: &'static str,
}

impl fmt::Display for CpuListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad CPU list at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for CpuListError {}

/// Parses a kernel CPU list (`0-3,5,7-8`, trailing newline allowed) into sorted,
/// de-duplicated CPU numbers.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, CpuListError> {
    let mut cpus = Vec::new();
    let trimmed = text.trim_end();
    if trimmed.trim().is_empty() {
        return Err(CpuListError {
            offset: 0,
            reason: "empty list",
        });
    }
    let mut offset = 0;
    for part in trimmed.split(',') {
        let start_off = offset;
        offset += part.len() + 1;
        let part_trim = part.trim();
        let lead = part.len() - part.trim_start().len();
        let (lo, hi) = match part_trim.split_once('-') {
            Some((a, b)) => {
                let lo = number(a, start_off + lead)?;
                let hi = number(b, start_off + lead + a.len() + 1)?;
                (lo, hi)
            }
            None => {
                let n = number(part_trim, start_off + lead)?;
                (n, n)
            }
        };
        if hi < lo {
            return Err(CpuListError {
                offset: start_off + lead,
                reason: "range ends before it starts",
            });
        }
        if (hi - lo) as usize >= MAX_CPUS || cpus.len() + (hi - lo) as usize >= MAX_CPUS {
            return Err(CpuListError {
                offset: start_off + lead,
                reason: "more CPUs than any kernel supports",
            });
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

fn number(s: &str, offset: usize) -> Result<u32, CpuListError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CpuListError {
            offset,
            reason: "expected a CPU number",
        });
    }
    s.parse().map_err(|_| CpuListError {
        offset,
        reason: "CPU number too large",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_singles_and_newline() {
        assert_eq!(
            parse_cpu_list("0-3,5,7-8\n").unwrap(),
            vec![0, 1, 2, 3, 5, 7, 8]
        );
        assert_eq!(parse_cpu_list("0\n").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("4,2,2-3").unwrap(), vec![2, 3, 4]);
    }

    #[test]
    fn rejects_garbage_with_offsets() {
        assert_eq!(parse_cpu_list("").unwrap_err().offset, 0);
        assert_eq!(parse_cpu_list("0-3,x").unwrap_err().offset, 4);
        assert_eq!(parse_cpu_list("0-3,5-").unwrap_err().offset, 6);
        assert_eq!(
            parse_cpu_list("3-1").unwrap_err().reason,
            "range ends before it starts"
        );
        assert!(parse_cpu_list("0-4000000000").is_err());
        assert!(parse_cpu_list("99999999999").is_err());
        assert!(parse_cpu_list("0,,1").is_err());
    }
}
