//! The tracefs control files of dynamic events: appending definitions, and removing the
//! groups that runs of tpdig left behind.
//!
//! Every event of a run goes into the group `tpdig_<pid>`. A tpdig that was killed leaves
//! its group behind; at start, groups whose pid is not alive are removed. Lines are always
//! appended: opening `uprobe_events` with O_TRUNC deletes every uprobe on the machine.

use std::io::{self, Write};
use std::path::Path;

pub const UPROBE_EVENTS: &str = "uprobe_events";
pub const KPROBE_EVENTS: &str = "kprobe_events";
pub const DYNAMIC_EVENTS: &str = "dynamic_events";

/// The group of this process's events.
pub fn group_name(pid: u32) -> String {
    format!("tpdig_{pid}")
}

/// Appends one line to a tracefs control file (never truncating it: opening
/// `uprobe_events` with O_TRUNC deletes every uprobe on the machine).
pub fn append(path: &Path, line: &str) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// `(file, group, event)` of every dynamic event line in `text` (`p:g/e …`, `e:g/e …`).
pub fn parse_event_list(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let head = l.split_whitespace().next()?;
            let (_, name) = head.split_once(':')?;
            let (g, e) = name.split_once('/')?;
            Some((g.to_string(), e.to_string()))
        })
        .collect()
}

/// The pid in a group name `tpdig_<pid>`.
pub fn group_pid(group: &str) -> Option<u32> {
    group.strip_prefix("tpdig_")?.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None) {
        Ok(()) => true,
        Err(e) => e != nix::errno::Errno::ESRCH,
    }
}

/// Removes the events of `tpdig_<pid>` groups whose pid is dead and that no teardown holds
/// (see [`run_lock`](crate::run_lock)), or of `pid == only`, when given, alive or not
/// (tests). Returns `group/event` of what was removed.
pub fn remove_stale(root: &Path, only: Option<u32>) -> Vec<String> {
    let mut removed = Vec::new();
    let mut busy: std::collections::HashMap<String, bool> = Default::default();
    for file in [UPROBE_EVENTS, DYNAMIC_EVENTS, KPROBE_EVENTS] {
        let path = root.join(file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (g, e) in parse_event_list(&text) {
            let Some(pid) = group_pid(&g) else { continue };
            let stale = match only {
                Some(p) => p == pid,
                // A dead run's group is stale unless its teardown child is at work on it.
                None => {
                    pid != std::process::id()
                        && !pid_alive(pid)
                        && !*busy
                            .entry(g.clone())
                            .or_insert_with(|| crate::run_lock::is_torn_down(root, &g))
                }
            };
            if stale && append(&path, &format!("-:{g}/{e}")).is_ok() {
                removed.push(format!("{g}/{e}"));
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lists_and_group_pids() {
        let text = "p:tpdig_42/open64_0 /lib/libc.so.6:0x00000000000f7fc0 path=+0(%di):ustring\n\
                    e:tpdig_7/openat syscalls.sys_enter_openat a1=+u0($filename):ustring\n\
                    r:other/x foo\n";
        let l = parse_event_list(text);
        assert_eq!(
            l,
            vec![
                ("tpdig_42".into(), "open64_0".into()),
                ("tpdig_7".into(), "openat".into()),
                ("other".into(), "x".into())
            ]
        );
        assert_eq!(group_pid("tpdig_42"), Some(42));
        assert_eq!(group_pid("other"), None);
        assert_eq!(group_pid("tpdig_x"), None);
    }
}
