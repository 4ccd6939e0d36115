//! The `tpdig` binary: parse flags, run, exit with the code `app::run` returns.

use clap::Parser;

fn main() {
    // `-- cmd` starts the command through tpdig itself; that child never returns from here.
    tpdig::command::trampoline_if_asked();
    let cli = match tpdig::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" to clap but successes to the user.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    std::process::exit(tpdig::app::run(cli));
}
