//! The flight recorder's signals: SIGUSR1 asks for a dump, SIGINT and SIGTERM end the run.
//!
//! As in a normal capture the signals are blocked and read from a signalfd, so there is no
//! handler and nothing async-signal-unsafe. The recorder in kernel mode sleeps in poll on
//! this descriptor alone: a dump request wakes it at once, and otherwise it uses no CPU.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsFd, BorrowedFd};

pub struct FlightSignals {
    fd: Option<SignalFd>,
    set: SigSet,
}

/// What arrived since the last look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    pub dump: bool,
    pub stop: Option<Signal>,
}

impl FlightSignals {
    pub fn install() -> FlightSignals {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.add(Signal::SIGUSR1);
        let fd = set.thread_block().ok().and_then(|_| {
            SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ok()
        });
        FlightSignals { fd, set }
    }

    /// Reads every queued signal (non-blocking).
    pub fn take(&mut self) -> Received {
        let mut r = Received::default();
        let Some(fd) = &self.fd else { return r };
        while let Ok(Some(info)) = fd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGUSR1) => r.dump = true,
                Ok(s) => r.stop = Some(s),
                Err(_) => {}
            }
        }
        r
    }

    /// Sleeps until a signal arrives or `timeout_ms` passes.
    pub fn wait(&self, timeout_ms: i32) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        match &self.fd {
            Some(fd) => {
                let mut p = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let t = PollTimeout::try_from(timeout_ms.max(0)).unwrap_or(PollTimeout::MAX);
                let _ = poll(&mut p, t);
            }
            None => std::thread::sleep(std::time::Duration::from_millis(timeout_ms.max(0) as u64)),
        }
    }

    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }
}

impl Drop for FlightSignals {
    /// Restores SIGINT and SIGTERM. SIGUSR1 stays blocked: one that arrives after the run
    /// must not kill tpdig while it prints its summary.
    fn drop(&mut self) {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        let _ = set.thread_unblock();
        let _ = &self.set;
    }
}
