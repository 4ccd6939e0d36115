//! `-L`: the event types tpdig can show, with their arguments.

use crate::syscalls::{self, Arch};
use std::io::{self, Write};

pub fn list(out: &mut dyn Write) -> io::Result<()> {
    let mut names: Vec<&str> = syscalls::all(Arch::native()).map(|(_, n)| n).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let args: Vec<&str> = syscalls::shown_args(name).iter().map(|a| a.name).collect();
        writeln!(out, "> {name}({})", args.join(", "))?;
        writeln!(out, "< {name}(res)")?;
    }
    writeln!(out, "> switch(next, prev_state)")?;
    writeln!(out, "> procexit(comm, pid, prio)")?;
    writeln!(
        out,
        "> sched_process_fork(parent_comm, parent_pid, child_comm, child_pid)"
    )?;
    writeln!(out, "> sched_process_exec(filename, pid, old_pid)")?;
    writeln!(out, "> task_rename(pid, oldcomm, newcomm)")?;
    Ok(())
}
