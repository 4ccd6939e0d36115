//! Native aggregation: tables (key → sum), histograms with quantiles, and feeds that fill
//! them from events without entering the script.
//!
//! A Rhai call costs ~0.6 µs per event (NOTES.md), more than decoding the event. Stock
//! chisels therefore describe their aggregation once (`t.feed("fd.name", "evt.rawarg.res",
//! "fd.type=file and evt.is_io=true")`) and the sink runs it natively per event; the script
//! only formats results at intervals and at the end. Handles are `Rc<RefCell<_>>` so a
//! script constant and the sink's feed list share one table.

use super::fields::ChiselValues;
use super::offcpu::OffCpu;
use crate::fields::{EventView, write_value};
use crate::filter::{FieldRef, FieldValues, Filter, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Separator of the parts of a multi-field key (never in a field value shown as text).
pub const KEY_SEP: char = '\u{1}';

/// Key → running sum.
#[derive(Debug, Default)]
pub struct TableData {
    pub map: HashMap<String, i64>,
}

impl TableData {
    pub fn add(&mut self, key: &str, n: i64) {
        if let Some(v) = self.map.get_mut(key) {
            *v += n;
        } else {
            self.map.insert(key.to_string(), n);
        }
    }

    /// The `n` largest entries (all when n == 0), largest first; ties by key.
    pub fn top(&self, n: usize) -> Vec<(&str, i64)> {
        let mut v: Vec<(&str, i64)> = self.map.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        if n > 0 {
            v.truncate(n);
        }
        v
    }

    pub fn total(&self) -> i64 {
        self.map.values().sum()
    }
}

pub type Table = Rc<RefCell<TableData>>;

/// A log-linear histogram: exact below 16, then 8 sub-buckets per power of two (values are
/// placed within 12.5%); tracks count, sum, min and max exactly.
#[derive(Debug, Clone)]
pub struct HistData {
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum: i128,
    pub min: i64,
    pub max: i64,
}

impl Default for HistData {
    fn default() -> Self {
        HistData {
            buckets: vec![0; 16 + 60 * 8],
            count: 0,
            sum: 0,
            min: i64::MAX,
            max: i64::MIN,
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < 16 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros() as usize; // >= 4
    let sub = ((v >> (e - 3)) & 7) as usize;
    16 + (e - 4) * 8 + sub
}

/// The smallest value of bucket `i`, and the first value of the next.
fn bucket_range(i: usize) -> (u64, u64) {
    if i < 16 {
        return (i as u64, i as u64 + 1);
    }
    let e = (i - 16) / 8 + 4;
    let sub = ((i - 16) % 8) as u64;
    let lo = (8 + sub) << (e - 3);
    (lo, lo.saturating_add(1u64 << (e - 3)))
}

impl HistData {
    pub fn add(&mut self, v: i64) {
        let b = bucket_of(v.max(0) as u64).min(self.buckets.len() - 1);
        self.buckets[b] += 1;
        self.count += 1;
        self.sum += v as i128;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// The value below which a fraction `q` (0..=1) of the values lie (bucket midpoint,
    /// clamped to the exact min and max); 0 for an empty histogram.
    pub fn quantile(&self, q: f64) -> i64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bucket_range(i);
                let mid = (lo + (hi - 1)) / 2;
                return (mid as i64).clamp(self.min, self.max);
            }
        }
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// Counts of values in `[lo, hi)`, approximated at bucket granularity (a bucket counts
    /// where its lower bound falls).
    pub fn count_between(&self, lo: i64, hi: i64) -> u64 {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let (b, _) = bucket_range(*i);
                (b as i64) >= lo && (b as i64) < hi
            })
            .map(|(_, c)| *c)
            .sum()
    }

    pub fn clear(&mut self) {
        *self = HistData::default();
    }
}

pub type Hist = Rc<RefCell<HistData>>;

/// Where a feed puts what it reads.
#[derive(Clone, Debug)]
pub enum Target {
    Table(Table),
    Hist(Hist),
}

/// What a feed adds per event.
#[derive(Clone, Debug)]
pub enum Amount {
    /// 1 per event.
    Count,
    /// A numeric field (events without it are skipped).
    Field(FieldRef),
    /// For a `switch` event: how long the switched-out thread ran on this CPU (see
    /// [`CpuTracker`]).
    CpuTime,
    /// For a `switch` event: how long the switched-out thread stays off CPU, credited when
    /// it returns (see [`OffCpu`]).
    OffCpuTime(Rc<RefCell<OffCpu>>),
}

/// One native aggregation: for every event the chisel sees that passes `filter`, add
/// `amount` under the key made of `keys`.
#[derive(Clone, Debug)]
pub struct Feed {
    pub target: Target,
    pub keys: Vec<FieldRef>,
    pub amount: Amount,
    pub filter: Option<Filter>,
}

/// Numeric value of a field value, if it has one.
pub fn as_i64(v: &Value<'_>) -> Option<i64> {
    match v {
        Value::Num(n) => Some(*n),
        Value::UNum(n) => Some(*n as i64),
        Value::Bool(b) => Some(*b as i64),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Feed {
    /// Applies the feed to one event. `key` is scratch space reused across events.
    pub fn apply(&self, view: &EventView<'_>, cpu_time: Option<u64>, key: &mut String) {
        let vals = ChiselValues(view);
        if let Some(f) = &self.filter
            && !f.matches(&vals)
        {
            return;
        }
        let n = match &self.amount {
            Amount::Count => 1,
            Amount::Field(f) => match vals.value(f).as_ref().and_then(as_i64) {
                Some(n) => n,
                None => return,
            },
            Amount::CpuTime => match cpu_time {
                Some(t) => t as i64,
                None => return,
            },
            Amount::OffCpuTime(away) => {
                if !matches!(view.ev.kind, crate::decode::Kind::Switch { .. })
                    || super::offcpu::is_final(view)
                {
                    return;
                }
                key.clear();
                if matches!(self.target, Target::Table(_)) && !self.write_key(&vals, key) {
                    return;
                }
                away.borrow_mut().left(view.ev.tid, key, view.ev.ts);
                return;
            }
        };
        match &self.target {
            Target::Hist(h) => h.borrow_mut().add(n),
            Target::Table(t) => {
                key.clear();
                if self.write_key(&vals, key) {
                    t.borrow_mut().add(key, n);
                }
            }
        }
    }

    /// The key of the event into `key`; false when the event lacks a key field.
    fn write_key(&self, vals: &ChiselValues<'_, '_>, key: &mut String) -> bool {
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                key.push(KEY_SEP);
            }
            match vals.value(k) {
                Some(v) => write_value(&v, key),
                None => return false,
            }
        }
        true
    }

    /// Sees every event the chisel is given, whatever its filters: an off-CPU feed credits
    /// the threads this event shows running again.
    pub fn watch(&self, view: &EventView<'_>) {
        if let Amount::OffCpuTime(away) = &self.amount {
            away.borrow_mut()
                .returned_at(view, |key, ns| match &self.target {
                    Target::Hist(h) => h.borrow_mut().add(ns as i64),
                    Target::Table(t) => t.borrow_mut().add(key, ns as i64),
                });
        }
    }
}

/// CPU time per thread from scheduler switches. On each CPU it remembers which thread is
/// running and since when: a `switch` event (whose thread is the one switched out) ends
/// that thread's run and starts the next one's. A thread seen running through any other
/// event while another was thought current starts its run then, so task-bound captures
/// (which only see their own switch-outs) still measure their threads from their first
/// event after being scheduled. System-wide captures see every switch and are exact.
#[derive(Debug, Default)]
pub struct CpuTracker {
    /// Per CPU: (running tid, since ns); tid u32::MAX = unknown.
    cpus: Vec<(u32, u64)>,
}

impl CpuTracker {
    /// Feeds one event; for a switch event returns how long the switched-out thread ran.
    pub fn on_event(&mut self, view: &EventView<'_>) -> Option<u64> {
        let ev = view.ev;
        let cpu = ev.cpu as usize;
        if self.cpus.len() <= cpu {
            self.cpus.resize(cpu + 1, (u32::MAX, 0));
        }
        let slot = &mut self.cpus[cpu];
        match ev.kind {
            crate::decode::Kind::Switch { next_pid, .. } => {
                let ran = (slot.0 == ev.tid).then(|| ev.ts.saturating_sub(slot.1));
                *slot = (u32::try_from(next_pid).unwrap_or(u32::MAX), ev.ts);
                // The idle task's time is not a process's.
                ran.filter(|_| ev.tid != 0)
            }
            _ => {
                if slot.0 != ev.tid {
                    *slot = (ev.tid, ev.ts);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut prev = 0;
        for v in [0u64, 1, 15, 16, 17, 31, 32, 1000, 1 << 20, 1 << 40] {
            let b = bucket_of(v);
            assert!(b >= prev, "{v}");
            let (lo, hi) = bucket_range(b);
            assert!(lo <= v && v < hi, "{v} in [{lo},{hi})");
            prev = b;
        }
    }

    #[test]
    fn quantiles_are_within_bucket_precision() {
        let mut h = HistData::default();
        for v in 1..=1000 {
            h.add(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.13, "{p50}");
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.quantile(0.0), 1000);
        assert_eq!(h.count, 1000);
    }

    #[test]
    fn table_top_sorts_by_value_then_key() {
        let mut t = TableData::default();
        t.add("b", 5);
        t.add("a", 5);
        t.add("c", 9);
        t.add("c", 1);
        assert_eq!(t.top(2), vec![("c", 10), ("a", 5)]);
        assert_eq!(t.total(), 20);
    }
}
