//! What sysdig's process events tell the state beyond tpdig's own records.
//!
//! tpdig learns a new image from sched_process_exec and argv from probes; a .scap file
//! has neither, but its execve and clone exits carry the process's facts (comm, exe,
//! arguments, working directory, parent). They are applied before the event is shown, as
//! sysdig's parser does, so the exit line already carries the new name.

use super::stored::Stored;
use crate::decode::Event;
use crate::state::State;
use crate::state::threads::Comm;

fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Applies event `ev`'s stored parameters `s` to the state.
pub fn apply(ev: &Event<'_>, s: &Stored<'_>, state: &mut State) {
    let Some(info) = s.info() else { return };
    let process_event = matches!(
        info.name,
        "execve" | "execveat" | "clone" | "fork" | "vfork" | "clone3"
    );
    if !process_event || crate::scap::table::is_enter(s.etype) {
        return;
    }
    let res = s.get(0).and_then(super::stored::le_int).unwrap_or(-1);
    let exec = info.name.starts_with("execve");
    // A clone exit describes the new task only in the child (res 0).
    if res != 0 {
        return;
    }
    let (tid, pid) = (ev.tid, s.int("pid").map_or(ev.pid, |p| p as u32));
    if exec {
        if let Some(exe) = s.by_name("exe") {
            state.on_exec(tid, pid, &text(exe));
        }
    } else {
        state.touch(tid, pid);
        state.threads.set_pid(tid, pid);
    }
    if let Some(c) = s.by_name("comm") {
        let c = &c[..c.iter().position(|&b| b == 0).unwrap_or(c.len())];
        state.threads.set_comm(tid, pid, Comm::from_bytes(c));
    }
    let Some(p) = state.procs.get_mut(pid) else {
        return;
    };
    if let Some(exe) = s.by_name("exe") {
        p.exe = Some(text(exe));
    }
    if let Some(args) = s.by_name("args") {
        p.args = Some(
            args.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        );
    }
    if let Some(cwd) = s.by_name("cwd") {
        p.cwd = Some(text(cwd));
    }
    if let Some(ptid) = s.int("ptid") {
        p.ppid = Some(ptid as u32);
    }
}
