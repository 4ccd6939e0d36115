//! Which stretch of time a dump holds.
//!
//! Each CPU's ring (kernel or user space) reaches back a different distance: a busy CPU
//! overwrites sooner. A dump that simply concatenated the rings would hold, for the
//! stretch only the quiet CPU still covers, that CPU's events but not the busy one's, and
//! a reader would see a process's calls with holes in them. So a dump starts where every
//! ring that went round still has data (the latest of their oldest samples), and holds
//! every recorded event from there to the trigger plus the post window: complete, as far
//! as the rings go. Rings that never went round cover the whole run and do not limit the
//! start. A dump never repeats what an earlier dump of the same run held.
//! No I/O: times in, a window out.

/// One ring's reach at a dump.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub cpu: u32,
    pub oldest: Option<u64>,
    pub newest: Option<u64>,
    /// Older data was overwritten (the ring limits how far back the dump can go).
    pub wrapped: bool,
}

/// The times (perf clock, inclusive) of the events a dump holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: u64,
    pub end: u64,
}

impl Window {
    pub fn contains(&self, t: u64) -> bool {
        (self.start..=self.end).contains(&t)
    }
}

/// The window of a dump triggered at `trigger` with `post` ns after it, given what each
/// ring covers and where the previous dump ended.
pub fn dump_window(
    rings: &[Coverage],
    trigger: u64,
    post: u64,
    previous_end: Option<u64>,
) -> Window {
    let end = trigger.saturating_add(post);
    let reach = rings
        .iter()
        .filter(|r| r.wrapped)
        .filter_map(|r| r.oldest)
        .max()
        .unwrap_or(0);
    let after_previous = previous_end.map_or(0, |e| e.saturating_add(1));
    Window {
        start: reach.max(after_previous).min(end),
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(cpu: u32, oldest: u64, newest: u64, wrapped: bool) -> Coverage {
        Coverage {
            cpu,
            oldest: Some(oldest),
            newest: Some(newest),
            wrapped,
        }
    }

    #[test]
    fn starts_where_every_wrapped_ring_still_has_data() {
        let rings = [
            ring(0, 100, 900, true),
            ring(1, 400, 950, true),
            ring(2, 5, 990, false),
        ];
        assert_eq!(
            dump_window(&rings, 800, 50, None),
            Window {
                start: 400,
                end: 850
            }
        );
    }

    #[test]
    fn unwrapped_rings_reach_back_to_the_start_of_the_run() {
        let rings = [ring(0, 10, 900, false), Coverage::default()];
        assert_eq!(dump_window(&rings, 500, 0, None).start, 0);
    }

    #[test]
    fn a_later_dump_begins_after_the_previous_one() {
        let rings = [ring(0, 100, 900, true)];
        assert_eq!(dump_window(&rings, 800, 0, Some(600)).start, 601);
        // Nothing new since: an empty window at the end, never a reversed one.
        let w = dump_window(&rings, 500, 0, Some(600));
        assert!(w.start <= w.end && !w.contains(550));
    }
}
