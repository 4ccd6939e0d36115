//! How each event changes the thread table.
//!
//! Names come only from the records themselves (comm fields the kernel wrote at the time of
//! the event), never from reading /proc later. An exiting thread is forgotten only after its
//! exit event has been shown, so the exit line still carries its name.

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
            if let (Some(tid), Some(c)) = (next_pid.i64(raw), next_comm.str_bytes(raw)) {
                if tid > 0 {
                    threads.set_comm(tid as u32, 0, Comm::from_bytes(c));
                }
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
    if let Role::Exit { pid } = &ev.tp.role {
        if let Some(tid) = pid.i64(ev.raw) {
            threads.remove(tid as u32);
        }
    }
}
