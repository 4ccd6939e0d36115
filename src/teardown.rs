//! The end of a capture: closing the perf events, then removing the probe events.
//!
//! Closing is slow when there are probes: the last close of an event unregisters it, and
//! the kernel waits for a grace period for each one, holding the lock every tracefs user
//! needs (see [`run_lock`](crate::run_lock)). So the closing (and the removal, which the
//! kernel refuses while events are open) is handed to a detached child (see
//! [`in_detached_child`]) and tpdig exits at once. The child closes one event at a time,
//! stepping aside for runs that are starting. A child that dies half way leaves a probe
//! group behind whose owner is dead: the next tpdig removes it
//! ([`remove_stale`](crate::probes::control::remove_stale)). Without probes, or when a
//! child cannot be started, the closing happens here.

use crate::perf::sys::in_detached_child;
use crate::perf::{Engine, RealKernel};
use crate::probes::ProbeSet;
use crate::run_lock;

/// Closes `engine` and removes `probes`, in a detached child when there are probes.
pub fn release(engine: Engine<RealKernel>, probes: Option<ProbeSet>) {
    let Some(probes) = probes else {
        engine.close();
        return;
    };
    let keep = engine.raw_fds();
    let mut both = Some((engine, probes));
    let detached = in_detached_child(&keep, || {
        if let Some((engine, probes)) = both.take() {
            let _ = close_in_turns(engine, probes);
        }
    });
    let Some((engine, mut probes)) = both else {
        return;
    };
    if detached {
        // The child holds the events open and removes them; dropping our descriptors
        // only lowers their counts.
        probes.disown();
        drop(engine);
    } else if let Err(e) = close_in_turns(engine, probes) {
        eprintln!("tpdig: warning: removing probe events: {e}");
    }
}

/// Closes the events one at a time and removes the probes, each step under the
/// teardown's turn of the run lock.
fn close_in_turns(engine: Engine<RealKernel>, mut probes: ProbeSet) -> std::io::Result<()> {
    let root = probes.root().to_path_buf();
    let _group = run_lock::tearing_down(&root, probes.group());
    for fds in engine.into_event_fds() {
        let _turn = run_lock::exclusive(&root);
        drop(fds);
    }
    probes.remove_with(|| run_lock::exclusive(&root))
}
