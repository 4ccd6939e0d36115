//! Off-CPU time: how long a thread stays off its CPU after a scheduler switch, credited to
//! what described it when it left (its stack, its `prev_state`).
//!
//! A `switch` event is sampled in the context of the thread switched out, so its key
//! (with `-k`, its call stack) says where that thread stopped. The time off CPU is only
//! known when the thread runs again, so a feed with the amount `offcpu.time` remembers the
//! key per thread at the switch-out and credits the elapsed time at the return: a `switch`
//! whose `next_pid` is the thread (exact; a system-wide capture sees every one), or else
//! the thread's first event after it (a capture bound to a command only sees the
//! command's own switch-outs, so its return is its next event: the end of the system call
//! it slept in, a few microseconds after it was switched in). Every event is watched, not
//! only those that pass the chisel's filter, so returns are never missed.

use crate::decode::{Kind, Role};
use crate::fields::EventView;
use std::collections::HashMap;

/// The threads that are off CPU: tid → (key at the switch-out, time of the switch-out).
#[derive(Debug, Default)]
pub struct OffCpu {
    away: HashMap<u32, (String, u64)>,
}

impl OffCpu {
    /// A thread left its CPU at `ts`; `key` is what its time is to be credited to.
    pub fn left(&mut self, tid: u32, key: &str, ts: u64) {
        // The idle task is not a thread that waits.
        if tid != 0 {
            self.away.insert(tid, (key.to_string(), ts));
        }
    }

    /// The threads an event shows running again, each credited with its key and its time
    /// off CPU: `next` (a switch's incoming thread) and the event's own thread `tid`.
    /// Call for every event, before [`OffCpu::left`] for the same event.
    pub fn returned(
        &mut self,
        tid: u32,
        next: Option<u32>,
        ts: u64,
        mut credit: impl FnMut(&str, u64),
    ) {
        if self.away.is_empty() {
            return;
        }
        for t in next.into_iter().chain(Some(tid)) {
            if let Some((key, since)) = self.away.remove(&t) {
                credit(&key, ts.saturating_sub(since));
            }
        }
    }

    /// [`OffCpu::returned`] for one event.
    pub fn returned_at(&mut self, view: &EventView<'_>, credit: impl FnMut(&str, u64)) {
        let ev = view.ev;
        let next = match ev.kind {
            Kind::Switch { next_pid, .. } => u32::try_from(next_pid).ok(),
            _ => None,
        };
        self.returned(ev.tid, next, ev.ts, credit);
    }

    /// Threads still off CPU (their time is not credited: they never came back).
    pub fn waiting(&self) -> usize {
        self.away.len()
    }
}

/// Whether a switch-out is the thread's last: it left dead (`X`) or a zombie (`Z`), so it
/// will not come back and its time is not off-CPU time.
pub fn is_final(view: &EventView<'_>) -> bool {
    let ev = view.ev;
    let (Kind::Switch { prev_state, .. }, Role::Switch { states, .. }) = (ev.kind, &ev.tp.role)
    else {
        return false;
    };
    let mut s = String::new();
    crate::fields::info::write_task_state(prev_state, states.as_ref(), &mut s);
    s.starts_with(['X', 'Z'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_task_never_waits() {
        let mut o = OffCpu::default();
        o.left(0, "swapper", 10);
        assert_eq!(o.waiting(), 0);
        o.left(7, "k", 10);
        o.left(7, "k2", 20);
        assert_eq!(o.waiting(), 1);
        assert_eq!(o.away[&7], ("k2".to_string(), 20));
    }

    #[test]
    fn a_switch_in_or_the_threads_own_next_event_ends_its_time_off() {
        let mut o = OffCpu::default();
        let mut got = Vec::new();
        o.left(7, "a", 100);
        o.left(8, "b", 100);
        // CPU 1 switches from 9 to 7: 7 was off for 150 ns.
        o.returned(9, Some(7), 250, |k, n| got.push((k.to_string(), n)));
        // 8's switch-in was not seen (a command-bound capture): its next event ends it.
        o.returned(8, None, 400, |k, n| got.push((k.to_string(), n)));
        // Nothing more to credit.
        o.returned(8, Some(7), 500, |k, n| got.push((k.to_string(), n)));
        assert_eq!(got, vec![("a".into(), 150), ("b".into(), 300)]);
        assert_eq!(o.waiting(), 0);
    }
}
