//! `-L`: the event types tpdig shows, with their arguments as the lines print them.
//!
//! System calls sysdig knows list sysdig's parameter names and types (the same tables the
//! renderer uses); others list the kernel's raw argument names.

use crate::params::{self, ParamType};
use crate::syscalls::{self, Arch};
use std::collections::BTreeMap;
use std::io::{self, Write};

fn type_name(t: ParamType) -> String {
    let s = format!("{t:?}").to_ascii_uppercase();
    match t {
        ParamType::FsPath => "FSPATH".into(),
        ParamType::FsRelPath => "FSRELPATH".into(),
        ParamType::SockTuple => "SOCKTUPLE".into(),
        ParamType::SockAddr => "SOCKADDR".into(),
        _ => s,
    }
}

fn signature(list: &[params::Param]) -> String {
    list.iter()
        .map(|p| format!("{} {}", type_name(p.ty), p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn list(out: &mut dyn Write) -> io::Result<()> {
    // One entry per event name (dup2 and dup3 print as dup).
    let mut events: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (_, name) in syscalls::all(Arch::native()) {
        let event = params::event_name(name).to_string();
        if events.contains_key(&event) {
            continue;
        }
        let sig = match params::lookup(name) {
            Some(p) => (signature(p.enter), signature(p.exit)),
            None => {
                let args: Vec<&str> = syscalls::shown_args(name).iter().map(|a| a.name).collect();
                (args.join(", "), "ERRNO res".into())
            }
        };
        events.insert(event, sig);
    }
    for (event, (enter, exit)) in &events {
        writeln!(out, "> {event}({enter})")?;
        writeln!(out, "< {event}({exit})")?;
    }
    writeln!(out, "> switch(PID next, CHARBUF prev_state)")?;
    writeln!(out, "> procexit(CHARBUF comm, PID pid, INT32 prio)")?;
    writeln!(
        out,
        "> sched_process_fork(CHARBUF parent_comm, PID parent_pid, CHARBUF child_comm, PID child_pid)"
    )?;
    writeln!(
        out,
        "> sched_process_exec(CHARBUF filename, PID pid, PID old_pid)"
    )?;
    writeln!(
        out,
        "> task_rename(PID pid, CHARBUF oldcomm, CHARBUF newcomm)"
    )?;
    Ok(())
}
