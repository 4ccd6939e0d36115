//! Which thread ran on each CPU, and when: the scheduler slices of a timeline's CPU tracks.
//!
//! A `switch` event on a CPU ends the run of the thread switched out (the event's own
//! thread) and starts the run of `next_pid`. A system-wide capture sees every switch, so
//! its slices are exact from switch-in to switch-out. A capture bound to a command only
//! sees the command's own switch-outs: there a thread's run starts at its first event on
//! that CPU after a gap (the slice is marked as starting at an event, not a switch), and a
//! run whose end was not seen is left out rather than drawn too long. The idle task's runs
//! are gaps, not slices. Runs still going at the end are closed at the last event.
//! No I/O: the caller feeds events and writes the slices it gets back.

/// One run of a thread on a CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    pub cpu: u32,
    pub tid: u32,
    /// The thread's name when it started running.
    pub name: String,
    pub start: u64,
    pub end: u64,
    /// The start is a switch-in (else: the thread's first event seen on that CPU).
    pub exact_start: bool,
    /// How the thread left (its `prev_state`, rendered); empty when still running.
    pub end_state: String,
}

#[derive(Clone, Debug)]
struct Running {
    tid: u32,
    name: String,
    since: u64,
    exact: bool,
}

/// Per CPU, the thread believed to be running.
#[derive(Debug, Default)]
pub struct SliceTracker {
    cpus: Vec<Option<Running>>,
}

impl SliceTracker {
    fn slot(&mut self, cpu: u32) -> &mut Option<Running> {
        let i = cpu as usize;
        if self.cpus.len() <= i {
            self.cpus.resize(i + 1, None);
        }
        &mut self.cpus[i]
    }

    /// A switch on `cpu` at `ts` from `prev` (leaving in `prev_state`) to `next`.
    pub fn switch(
        &mut self,
        cpu: u32,
        ts: u64,
        prev: u32,
        prev_state: &str,
        next: u32,
        next_name: &str,
    ) -> Option<Slice> {
        let slot = self.slot(cpu);
        let ended = slot.take().filter(|r| r.tid == prev && prev != 0);
        *slot = Some(Running {
            tid: next,
            name: next_name.to_string(),
            since: ts,
            exact: true,
        });
        ended.map(|r| Slice {
            cpu,
            tid: r.tid,
            name: r.name,
            start: r.since,
            end: ts,
            exact_start: r.exact,
            end_state: prev_state.to_string(),
        })
    }

    /// Any other event of thread `tid` on `cpu`: it is running there.
    pub fn event(&mut self, cpu: u32, ts: u64, tid: u32, name: impl FnOnce() -> String) {
        let slot = self.slot(cpu);
        if slot.as_ref().is_none_or(|r| r.tid != tid) {
            *slot = Some(Running {
                tid,
                name: name(),
                since: ts,
                exact: false,
            });
        }
    }

    /// The runs still going at `ts`, the end of the capture.
    pub fn finish(&mut self, ts: u64) -> Vec<Slice> {
        self.cpus
            .iter_mut()
            .enumerate()
            .filter_map(|(cpu, slot)| {
                let r = slot.take().filter(|r| r.tid != 0)?;
                Some(Slice {
                    cpu: cpu as u32,
                    tid: r.tid,
                    name: r.name,
                    start: r.since,
                    end: ts.max(r.since),
                    exact_start: r.exact,
                    end_state: String::new(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_bound_exact_slices_and_idle_is_a_gap() {
        let mut t = SliceTracker::default();
        // The first switch on a CPU ends a run whose start was not seen.
        assert_eq!(t.switch(0, 10, 5, "S", 7, "a"), None);
        let s = t.switch(0, 30, 7, "D", 0, "swapper/0").unwrap();
        assert_eq!((s.tid, s.start, s.end, s.exact_start), (7, 10, 30, true));
        assert_eq!((s.name.as_str(), s.end_state.as_str()), ("a", "D"));
        assert_eq!(t.switch(0, 50, 0, "R", 7, "a"), None);
        let end = t.finish(60);
        assert_eq!(end.len(), 1);
        assert_eq!(
            (end[0].start, end[0].end, end[0].end_state.as_str()),
            (50, 60, "")
        );
    }

    #[test]
    fn a_command_bound_capture_starts_runs_at_the_threads_first_event() {
        let mut t = SliceTracker::default();
        t.event(1, 100, 9, || "prog".into());
        t.event(1, 120, 9, || unreachable!("already running"));
        let s = t.switch(1, 150, 9, "S", 0, "swapper/1").unwrap();
        assert_eq!((s.cpu, s.start, s.end, s.exact_start), (1, 100, 150, false));
        // Another thread's switch-out on that CPU, with a run of 9 never ended: left out.
        t.event(1, 200, 9, || "prog".into());
        assert_eq!(t.switch(1, 300, 4, "S", 9, "prog"), None);
        assert!(t.finish(400).iter().all(|s| s.tid == 9 && s.start == 300));
    }
}
