//! The end of a capture: closing the perf events, then removing the probe events.
//!
//! Closing is slow when there are probes: the last close of a uprobe-backed event
//! unregisters the uprobe, and the kernel waits for a grace period for each one — about
//! 4 s for the ~45 uprobes of a run on 6.18 in a VM, after everything the user asked for is
//! done. So the closing (and the removal, which the kernel refuses while events are open)
//! is handed to a detached child (see [`in_detached_child`]) and tpdig exits at once. A
//! child that dies half way leaves a probe group behind whose owner is dead: the next
//! tpdig removes it ([`remove_stale`](crate::probes::control::remove_stale)). Without
//! probes, or when a child cannot be started, the closing happens here.

use crate::perf::sys::in_detached_child;
use crate::perf::{Engine, RealKernel};
use crate::probes::ProbeSet;

/// Closes `engine` and removes `probes`, in a detached child when there are probes.
pub fn release(engine: Engine<RealKernel>, probes: Option<ProbeSet>) {
    let Some(probes) = probes else {
        engine.close();
        return;
    };
    let keep = engine.raw_fds();
    let mut both = Some((engine, probes));
    let detached = in_detached_child(&keep, || {
        if let Some((engine, mut probes)) = both.take() {
            engine.close();
            let _ = probes.remove();
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
    } else {
        engine.close();
        if let Err(e) = probes.remove() {
            eprintln!("tpdig: warning: removing probe events: {e}");
        }
    }
}
