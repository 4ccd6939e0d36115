//! The flags that answer from tables and exit: `-l`, `-L`, `-cl`, `-i CHISEL`.

use super::quiet_pipe;
use crate::cli::Cli;
use crate::error::{AppError, AppResult};
use crate::fields::FIELDS;
use std::io::{self, Write};

/// Prints the listing the flags ask for; None when they ask for none.
pub(super) fn answer(cli: &Cli) -> AppResult<Option<i32>> {
    let mut out = io::stdout().lock();
    if cli.list_fields {
        list_fields(&mut out).map_err(quiet_pipe)?;
    } else if cli.list_events {
        crate::output::events::list(&mut out).map_err(|e| AppError::runtime(e.to_string()))?;
    } else if cli.chisel.as_deref() == Some("l") {
        crate::chisel::print_list(&crate::chisel::list(), &mut out).map_err(quiet_pipe)?;
    } else if let Some(name) = &cli.chisel_info {
        let source = crate::chisel::find(name)?;
        let (spec, _) = crate::chisel::registry::spec_of(&source)?;
        crate::chisel::print_info(&spec, &mut out).map_err(quiet_pipe)?;
    } else {
        return Ok(None);
    }
    Ok(Some(0))
}

/// `-l`: every field with its description, grouped by class as sysdig does.
fn list_fields(out: &mut dyn Write) -> io::Result<()> {
    let mut class = "";
    for f in FIELDS {
        let c = f.name.split('.').next().unwrap_or("");
        if c != class {
            class = c;
            writeln!(out, "\n----------------------\nField Class: {c}\n")?;
        }
        let name = match f.arg {
            crate::fields::ArgUse::Required => format!("{}[ARG]", f.name),
            _ => f.name.to_string(),
        };
        writeln!(out, "{name:<25} {}", f.desc)?;
    }
    Ok(())
}
