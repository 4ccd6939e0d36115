//! SIGINT and SIGTERM end a capture cleanly, without a signal handler.
//!
//! The signals are blocked and read from a signalfd that the capture loop checks after each
//! wait (the loop wakes at least every poll interval). Blocking instead of handling keeps the
//! program free of async-signal-safety concerns and of `unsafe`: the loop drains the rings,
//! flushes the output and prints the summary the same way for every kind of ending.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

pub struct StopSignals {
    fd: Option<SignalFd>,
    received: Option<Signal>,
}

impl StopSignals {
    /// Blocks SIGINT and SIGTERM for this thread and opens a non-blocking signalfd for them.
    /// If that fails the default disposition stays (the signals kill the process).
    pub fn install() -> StopSignals {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        let fd = set.thread_block().ok().and_then(|_| {
            SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ok()
        });
        StopSignals { fd, received: None }
    }

    /// The stop signal received so far, if any (non-blocking).
    pub fn pending(&mut self) -> Option<Signal> {
        if self.received.is_none()
            && let Some(fd) = &self.fd
            && let Ok(Some(info)) = fd.read_signal()
        {
            self.received = Signal::try_from(info.ssi_signo as i32).ok();
        }
        self.received
    }

    /// Forgets the signal received, so a second one can be told apart.
    pub fn reset(&mut self) {
        self.received = None;
    }

    /// Restores the signal mask (for child processes and after the capture).
    pub fn unblock() {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        let _ = set.thread_unblock();
    }
}
