//! The event and state a script may look at, valid only while the sink is inside a call.
//!
//! Rhai values must be `'static`, but an `EventView` borrows the pipeline's buffers for one
//! trip through the sinks. Copying every field into an owned object per event would cost
//! more than the script call itself, so the script's `evt` is a small token and its getters
//! read the view through a pointer that this module sets for exactly the duration of a
//! call (restored by a guard, also on unwind). A token kept past its call (stored in a
//! script constant) finds a different generation and gets an error, never a dangling read.

use crate::fields::EventView;
use crate::state::State;
use std::cell::Cell;

thread_local! {
    static EVENT: Cell<(*const (), u64)> = const { Cell::new((std::ptr::null(), 0)) };
    static STATE: Cell<*const State> = const { Cell::new(std::ptr::null()) };
    static NEXT_GEN: Cell<u64> = const { Cell::new(1) };
}

/// Sets the current event (and its state) until dropped; returns the generation the
/// script's `evt` token must carry.
pub struct EventGuard {
    prev_event: (*const (), u64),
    prev_state: *const State,
}

impl EventGuard {
    pub fn set(view: &EventView<'_>) -> (EventGuard, u64) {
        let generation = NEXT_GEN.with(|g| {
            let v = g.get();
            g.set(v + 1);
            v
        });
        let prev_event =
            EVENT.with(|c| c.replace((view as *const EventView<'_> as *const (), generation)));
        let prev_state = STATE.with(|c| c.replace(view.state as *const State));
        (
            EventGuard {
                prev_event,
                prev_state,
            },
            generation,
        )
    }
}

impl Drop for EventGuard {
    fn drop(&mut self) {
        EVENT.with(|c| c.set(self.prev_event));
        STATE.with(|c| c.set(self.prev_state));
    }
}

/// Sets only the current state (capture start) until dropped.
pub struct StateGuard {
    prev: *const State,
}

impl StateGuard {
    pub fn set(state: &State) -> StateGuard {
        StateGuard {
            prev: STATE.with(|c| c.replace(state as *const State)),
        }
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        STATE.with(|c| c.set(self.prev));
    }
}

/// Runs `f` on the current event if `generation` is still current.
pub fn with_event<R>(generation: u64, f: impl FnOnce(&EventView<'_>) -> R) -> Option<R> {
    let (ptr, cur) = EVENT.with(|c| c.get());
    if ptr.is_null() || cur != generation {
        return None;
    }
    // SAFETY: `ptr` was set by `EventGuard::set` from a live `&EventView` whose borrow
    // outlives the guard (the guard is a local of the sink method that received the view),
    // and the guard clears it on drop; the generation check rejects tokens of other
    // events. Rhai without `sync` runs on this thread only, so no other thread can see it.
    let view = unsafe { &*(ptr as *const EventView<'_>) };
    Some(f(view))
}

/// Runs `f` on the current state, if a call that has one is in progress.
pub fn with_state<R>(f: impl FnOnce(&State) -> R) -> Option<R> {
    let ptr = STATE.with(|c| c.get());
    if ptr.is_null() {
        return None;
    }
    // SAFETY: set by a guard from a `&State` that outlives the guard, cleared on drop;
    // same-thread only (see `with_event`).
    Some(f(unsafe { &*ptr }))
}
