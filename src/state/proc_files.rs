//! Parsers for the text files of one /proc/PID (status, stat, cmdline, cgroup, loginuid).
//!
//! I/O-free so they can be tested and fuzzed on text; `proc_scan` does the reading. Bad or
//! missing fields leave the value unknown (`None`) rather than failing the whole process:
//! a snapshot that knows less is still exact.

/// Fields of /proc/PID/task/TID/status that the state needs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Status {
    pub name: Vec<u8>,
    pub tgid: u32,
    pub pid: u32,
    pub ppid: u32,
    /// Real, effective (saved and fs are not kept).
    pub uid: Option<(u32, u32)>,
    pub gid: Option<(u32, u32)>,
    /// Innermost-namespace ids (last column of `NStgid:` / `NSpid:`).
    pub vpid: Option<u32>,
    pub vtid: Option<u32>,
}

/// Parses a status file. `Name:` is escaped by the kernel (`\n` and `\\`); comm bytes are
/// restored from the escapes.
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
            b"Tgid" => s.tgid = parse_u32(trimmed).unwrap_or(0),
            b"Pid" => s.pid = parse_u32(trimmed).unwrap_or(0),
            b"PPid" => s.ppid = parse_u32(trimmed).unwrap_or(0),
            b"Uid" => s.uid = first_two(trimmed),
            b"Gid" => s.gid = first_two(trimmed),
            b"NStgid" => s.vpid = last_u32(trimmed),
            b"NSpid" => s.vtid = last_u32(trimmed),
            _ => {}
        }
    }
    s
}

fn first_two(v: &[u8]) -> Option<(u32, u32)> {
    let mut it = v
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    Some((parse_u32(it.next()?)?, parse_u32(it.next()?)?))
}

fn last_u32(v: &[u8]) -> Option<u32> {
    v.split(|b| b.is_ascii_whitespace())
        .rfind(|w| !w.is_empty())
        .and_then(parse_u32)
}

pub(crate) fn trim_ascii(b: &[u8]) -> &[u8] {
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

fn parse_u32(b: &[u8]) -> Option<u32> {
    std::str::from_utf8(b).ok()?.parse().ok()
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

/// Fields of /proc/PID/stat after the parenthesised comm (which may itself contain `)` and
/// spaces, so the split is at the last `)`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ppid: u32,
    /// Field 22: start time in clock ticks since boot.
    pub start_ticks: u64,
}

pub fn parse_stat(text: &[u8]) -> Option<Stat> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&text[close + 1..]).ok()?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state).
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        start_ticks: f.get(19)?.parse().ok()?,
    })
}

/// `btime` (boot time, seconds since the epoch) from /proc/stat.
pub fn parse_btime(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Splits /proc/PID/cmdline (NUL-separated, usually NUL-terminated) into arguments. A
/// process that rewrote its argv into one space-separated string stays one argument.
pub fn parse_cmdline(text: &[u8]) -> Vec<String> {
    let body = text.strip_suffix(b"\0").unwrap_or(text);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Parses /proc/PID/cgroup (`hierarchy-id:controllers:path` lines) into
/// `(controllers, path)` pairs; the v2 line has empty controllers.
pub fn parse_cgroup(text: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctl = it.next()?;
            let path = it.next()?;
            Some((ctl.to_string(), path.to_string()))
        })
        .collect()
}

/// One-line text of a cgroup list for `thread.cgroups`: `ctl=path ctl=path`, the v2
/// line as `unified=path`.
pub fn cgroups_text(cgroups: &[(String, String)]) -> String {
    let mut out = String::new();
    for (ctl, path) in cgroups {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(if ctl.is_empty() { "unified" } else { ctl });
        out.push('=');
        out.push_str(path);
    }
    out
}

/// The audit login uid; `4294967295` (unset) is None.
pub fn parse_loginuid(text: &[u8]) -> Option<u32> {
    parse_u32(trim_ascii(text)).filter(|&u| u != u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_and_escaped_names() {
        let text = b"Name:\tmy\\nproc\\\\x\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t41\nNgid:\t0\nPid:\t42\nPPid:\t1\nUid:\t1000\t0\t0\t0\nGid:\t100\t101\t101\t101\nNStgid:\t41\t7\nNSpid:\t42\t8\n";
        let s = parse_status(text);
        assert_eq!(s.name, b"my\nproc\\x");
        assert_eq!((s.tgid, s.pid, s.ppid), (41, 42, 1));
        assert_eq!(s.uid, Some((1000, 0)));
        assert_eq!(s.gid, Some((100, 101)));
        assert_eq!((s.vpid, s.vtid), (Some(7), Some(8)));
    }

    #[test]
    fn names_with_spaces_keep_them_and_missing_fields_stay_unknown() {
        let s = parse_status(b"Name:\tWeb Content\nTgid:\t7\nUid:\tx\n");
        assert_eq!(s.name, b"Web Content");
        assert_eq!(s.uid, None);
        assert_eq!(s.vpid, None);
    }

    #[test]
    fn stat_splits_at_the_last_paren() {
        let t = b"1234 (a) b (c) S 99 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 555666 1000 10 18446744073709551615\n";
        let s = parse_stat(t).unwrap();
        assert_eq!((s.ppid, s.start_ticks), (99, 555666));
        assert_eq!(parse_stat(b"12 (x) S"), None);
        assert_eq!(
            parse_btime(b"cpu 1 2\nbtime 1700000000\n"),
            Some(1700000000)
        );
    }

    #[test]
    fn cmdline_splits_on_nul() {
        assert_eq!(
            parse_cmdline(b"/bin/ls\0-l\0/tmp\0"),
            vec!["/bin/ls", "-l", "/tmp"]
        );
        assert_eq!(
            parse_cmdline(b"nginx: worker process"),
            vec!["nginx: worker process"]
        );
        assert_eq!(parse_cmdline(b""), Vec::<String>::new());
        assert_eq!(parse_cmdline(b"a\0\0b\0"), vec!["a", "", "b"]);
    }

    #[test]
    fn cgroup_lines() {
        let c = parse_cgroup(b"4:memory:/process_api/eeac\n0::/\nbad\n1:name=systemd:/a:b\n");
        assert_eq!(c.len(), 3);
        assert_eq!(c[0], ("memory".into(), "/process_api/eeac".into()));
        assert_eq!(c[1], ("".into(), "/".into()));
        assert_eq!(c[2].1, "/a:b");
        assert_eq!(cgroups_text(&c[..2]), "memory=/process_api/eeac unified=/");
    }

    #[test]
    fn loginuid_unset_is_none() {
        assert_eq!(parse_loginuid(b"4294967295"), None);
        assert_eq!(parse_loginuid(b"1000\n"), Some(1000));
        assert_eq!(parse_loginuid(b""), None);
    }
}
