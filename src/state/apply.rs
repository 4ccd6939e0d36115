//! How each event changes the thread table.
//!
//! Names come only from the records themselves (comm fields the kernel wrote at the time of
//! the event), never from reading /proc later. An exiting thread is forgotten only after its
//! exit event has been shown, so the exit line still carries its name.

use super::State;
use super::threads::{Comm, ThreadTable};
use crate::decode::{Event, Role};

/// Applies what the event tells before it is shown.
pub fn before_output(ev: &Event<'_>, threads: &mut ThreadTable) {
    threads.touch(ev.tid, ev.pid);
    let raw = ev.raw;
    match &ev.tp.role {
        Role::Switch {
            prev_comm,
            next_comm,
            next_pid,
            ..
        } => {
            if let Some(c) = prev_comm.str_bytes(raw) {
                threads.set_comm(ev.tid, ev.pid, Comm::from_bytes(c));
            }
            if let (Some(tid), Some(c)) = (next_pid.i64(raw), next_comm.str_bytes(raw))
                && tid > 0
            {
                threads.set_comm(tid as u32, 0, Comm::from_bytes(c));
            }
        }
        Role::Fork {
            child_comm,
            child_pid,
        } => {
            if let (Some(tid), Some(c)) = (child_pid.i64(raw), child_comm.str_bytes(raw)) {
                threads.set_comm(tid as u32, 0, Comm::from_bytes(c));
            }
        }
        Role::Exec { filename } => {
            if let Some(path) = filename.str_bytes(raw) {
                let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
                threads.set_comm(
                    ev.tid,
                    ev.pid,
                    Comm::from_bytes(&base[..base.len().min(15)]),
                );
            }
        }
        Role::Rename { pid, newcomm } => {
            if let (Some(tid), Some(c)) = (pid.i64(raw), newcomm.str_bytes(raw)) {
                threads.set_comm(tid as u32, 0, Comm::from_bytes(c));
            }
        }
        Role::NewTask { pid, comm } => {
            if let (Some(tid), Some(c)) = (pid.i64(raw), comm.str_bytes(raw)) {
                threads.set_comm(tid as u32, 0, Comm::from_bytes(c));
            }
        }
        _ => {}
    }
}

/// Applies what must wait until the event was shown (a thread's exit).
pub fn after_output(ev: &Event<'_>, threads: &mut ThreadTable) {
    if let Role::Exit { pid } = &ev.tp.role
        && let Some(tid) = pid.i64(ev.raw)
    {
        threads.remove(tid as u32);
    }
}

/// `before_output` for the whole state: threads and comms as above, plus processes (new
/// tasks inherit from their creator; exec sets the executable path, makes the fd table
/// private and closes close-on-exec fds). Syscall effects are applied separately, at each
/// call's exit, by `effects::apply_exit`.
pub fn state_before_output(ev: &Event<'_>, state: &mut State) {
    state.touch(ev.tid, ev.pid);
    if let Some(s) = crate::scap::stored_of(ev) {
        crate::scap::state::apply(ev, &s, state);
    }
    let raw = ev.raw;
    match &ev.tp.role {
        Role::Fork { child_pid, .. } => {
            if let Some(child) = child_pid.i64(raw).filter(|&c| c > 0) {
                state.on_new_task(ev.tid, ev.pid, child as u32, None, None);
            }
        }
        Role::NewTask { pid, .. } => {
            if let Some(child) = pid.i64(raw).filter(|&c| c > 0) {
                state.on_new_task(ev.tid, ev.pid, child as u32, None, None);
            }
        }
        Role::Exec { filename } => {
            if let Some(path) = filename.str_bytes(raw) {
                state.on_exec(ev.tid, ev.pid, &String::from_utf8_lossy(path));
            }
        }
        _ => {}
    }
    before_output(ev, &mut state.threads);
}

/// `after_output` for the whole state: an exiting thread leaves, and its process with its
/// last thread.
pub fn state_after_output(ev: &Event<'_>, state: &mut State) {
    if let Role::Exit { pid } = &ev.tp.role
        && let Some(tid) = pid.i64(ev.raw)
    {
        state.on_thread_exit(tid as u32);
    }
}
