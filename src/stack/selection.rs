//! Which tracepoints pay for call chains under `-k`: those whose events the filter can
//! select. A chain costs the kernel a stack walk and the ring its bytes on every sample,
//! so `-k "evt.type=write"` asks for chains on the system-call tracepoints only, never on
//! `sched_switch` or the process lifecycle events the state needs anyway. The kernel
//! filter on the system-call tracepoints (see `kernel_filter`) then limits the chains to
//! the calls that pass it.

use crate::decode::Tracepoint;
use crate::filter::Expr;
use crate::kernel_filter::{fixed_type, syscalls_for_event};
use crate::syscalls::Arch;

/// For each tracepoint, whether its samples should carry call chains.
pub fn wants_stack(tps: &[Tracepoint], filter: Option<&Expr>, arch: Arch) -> Vec<bool> {
    let types = filter.and_then(crate::filter::event_types);
    tps.iter()
        .map(|tp| match (&types, fixed_type(tp)) {
            (None, _) => true,
            (Some(types), Some(t)) => types.contains(t),
            (Some(types), None) => types
                .iter()
                .any(|t| !syscalls_for_event(arch, t).is_empty()),
        })
        .collect()
}
