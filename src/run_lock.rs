//! Runs that start and runs that tear down take turns on the kernel's event lock.
//!
//! Closing the last perf fd of a trace event unregisters it while holding the kernel's
//! `event_mutex`, across an RCU grace period (~60 ms in a VM); creating probes, reading
//! `format` files and opening tracepoints need the same mutex. A run started while an
//! earlier one tears down (in its detached child, see [`teardown`](crate::teardown))
//! queued behind every one of those closes: seconds before its first event. So the two
//! take turns through `flock` on the tracefs root directory: a starting run holds it
//! shared from before its first tracefs access until its events are enabled ([`Starting`]);
//! a teardown takes it exclusively around each event's close and removal
//! ([`exclusive`]). A starter waits for at most one event's close; the teardown resumes
//! when no run is starting. A run killed while starting loses its lock with its
//! descriptors, so a teardown never waits for a dead run.
//!
//! The events of a run being torn down stay in tracefs until the teardown removes them;
//! the teardown holds its group's directory locked ([`tearing_down`]) so that a starting
//! run does not take them for the leftovers of a dead run ([`is_torn_down`]).

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::Path;

/// A starting run's shared hold (released on drop). Holds nothing where tracefs cannot be
/// locked: the runs then simply contend as before.
pub struct Starting(#[allow(dead_code)] Option<Flock<File>>);

impl Starting {
    /// Waits for the teardown in progress, if any, to finish the event it is closing.
    pub fn take(root: &Path) -> Starting {
        Starting(lock(root, FlockArg::LockShared))
    }
}

/// A teardown's exclusive hold while it closes or removes one event.
pub fn exclusive(root: &Path) -> Option<Flock<File>> {
    lock(root, FlockArg::LockExclusive)
}

/// Marks the probe group `group` as being torn down, for as long as the hold lives.
pub fn tearing_down(root: &Path, group: &str) -> Option<Flock<File>> {
    lock(
        &root.join("events").join(group),
        FlockArg::LockExclusiveNonblock,
    )
}

/// Whether some live teardown holds the group (its events are not stale).
pub fn is_torn_down(root: &Path, group: &str) -> bool {
    let Ok(f) = File::open(root.join("events").join(group)) else {
        return false;
    };
    matches!(
        Flock::lock(f, FlockArg::LockSharedNonblock),
        Err((_, nix::errno::Errno::EWOULDBLOCK))
    )
}

fn lock(path: &Path, how: FlockArg) -> Option<Flock<File>> {
    let f = File::open(path).ok()?;
    Flock::lock(f, how).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_starts_exclude_a_teardown_step() {
        let dir = std::env::temp_dir().join(format!("tpdig-run-lock-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("events/tpdig_1")).unwrap();
        let a = Starting::take(&dir);
        assert!(a.0.is_some());
        // A second starter is not held up by the first.
        let b = Starting::take(&dir);
        assert!(b.0.is_some());
        // A teardown step waits for both (checked without blocking).
        let f = File::open(&dir).unwrap();
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err());
        drop((a, b));
        assert!(exclusive(&dir).is_some());
        assert!(!is_torn_down(&dir, "tpdig_1"));
        let held = tearing_down(&dir, "tpdig_1");
        assert!(held.is_some());
        assert!(is_torn_down(&dir, "tpdig_1"));
        drop(held);
        assert!(!is_torn_down(&dir, "tpdig_1"));
        assert!(!is_torn_down(&dir, "tpdig_2"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
