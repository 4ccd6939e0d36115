//! `--export-trace FILE`: Chrome's Trace Event Format, which Perfetto UI and
//! chrome://tracing open.
//!
//! One track per thread (`pid`/`tid`, named by `thread_name`/`process_name` metadata), each
//! system call an `X` (complete) event from its entry to its exit with the entry's and the
//! exit's arguments, other events as thread-scoped instants, and the kernel's drops as
//! global instants at the end. Times are microseconds from the first event, written with
//! three decimals so the nanoseconds survive exactly.
//!
//! Beside the threads, a `CPUs` process holds one track per CPU with the scheduler's
//! slices: which thread ran there from its switch-in to its switch-out (see
//! `sched_slices`), and that CPU's drops. Its pid lies above any Linux pid
//! (`PID_MAX_LIMIT` is 2^22), so it cannot share a track with a real process.

use super::Sink;
use super::json::write_json_str;
use super::sched_slices::{Slice, SliceTracker};
use crate::decode::{Kind, Role};
use crate::fields::EventView;
use crate::state::State;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{self, Write};

/// The pid of the CPU tracks' process; CPU N's track is tid `CPU_TRACKS + N`.
pub const CPU_TRACKS: u32 = 1 << 30;

pub struct TraceExportSink<W: Write> {
    out: W,
    /// The first event's wall time: the trace's zero.
    base: Option<u64>,
    last_ts: u64,
    /// Whether an event has been written (the next needs a comma).
    any: bool,
    /// The name each thread's track was last given (a thread renamed by exec is renamed).
    named_threads: HashMap<u32, String>,
    named_processes: HashSet<u32>,
    /// Per thread, the arguments of the system call it is in.
    entry_info: HashMap<u32, String>,
    slices: SliceTracker,
    /// The CPUs whose track has been named.
    named_cpus: HashSet<u32>,
    /// Each thread's process, as its events said (slices name both).
    pids: HashMap<u32, u32>,
    buf: String,
}

fn comm_of(state: &State, tid: u32) -> String {
    state
        .thread(tid)
        .map(|t| t.comm.to_string_lossy())
        .unwrap_or_default()
}

/// Nanoseconds as microseconds with three decimals.
fn push_us(out: &mut String, ns: u64) {
    let _ = write!(out, "{}.{:03}", ns / 1000, ns % 1000);
}

impl<W: Write> TraceExportSink<W> {
    pub fn new(out: W) -> TraceExportSink<W> {
        TraceExportSink {
            out,
            base: None,
            last_ts: 0,
            any: false,
            named_threads: HashMap::new(),
            named_processes: HashSet::new(),
            entry_info: HashMap::new(),
            slices: SliceTracker::default(),
            named_cpus: HashSet::new(),
            pids: HashMap::new(),
            buf: String::with_capacity(512),
        }
    }

    /// Starts one event object in `buf`: `{"ph":PH,"pid":P,"tid":T,"name":NAME`.
    fn open(&mut self, ph: &str, pid: u32, tid: u32, name: &str) {
        if self.any {
            self.buf.push_str(",\n");
        }
        self.any = true;
        let _ = write!(
            self.buf,
            "{{\"ph\":\"{ph}\",\"pid\":{pid},\"tid\":{tid},\"name\":"
        );
        write_json_str(name, &mut self.buf);
    }

    fn metadata(&mut self, kind: &str, pid: u32, tid: u32, value: &str) {
        self.open("M", pid, tid, kind);
        self.buf.push_str(",\"args\":{\"name\":");
        write_json_str(value, &mut self.buf);
        self.buf.push_str("}}");
    }

    /// Names the CPU tracks' process and CPU `cpu`'s track, the first time.
    fn name_cpu(&mut self, cpu: u32) {
        if self.named_cpus.is_empty() {
            self.metadata("process_name", CPU_TRACKS, CPU_TRACKS, "CPUs");
        }
        if self.named_cpus.insert(cpu) {
            let tid = CPU_TRACKS + cpu;
            self.metadata("thread_name", CPU_TRACKS, tid, &format!("CPU {cpu}"));
            self.open("M", CPU_TRACKS, tid, "thread_sort_index");
            let _ = write!(self.buf, ",\"args\":{{\"sort_index\":{cpu}}}}}");
        }
    }

    /// One scheduler slice on its CPU's track.
    fn slice(&mut self, s: &Slice) {
        let base = self.base.unwrap_or(s.start);
        self.name_cpu(s.cpu);
        self.open(
            "X",
            CPU_TRACKS,
            CPU_TRACKS + s.cpu,
            &format!("{} {}", s.name, s.tid),
        );
        self.buf.push_str(",\"ts\":");
        push_us(&mut self.buf, s.start.saturating_sub(base));
        self.buf.push_str(",\"dur\":");
        push_us(&mut self.buf, s.end.saturating_sub(s.start));
        let pid = self.pids.get(&s.tid).copied().unwrap_or(0);
        let _ = write!(
            self.buf,
            ",\"args\":{{\"tid\":{},\"pid\":{pid},\"start\":",
            s.tid
        );
        let start = if s.exact_start {
            "switch-in"
        } else {
            "first event"
        };
        write_json_str(start, &mut self.buf);
        self.buf.push_str(",\"end_state\":");
        write_json_str(&s.end_state, &mut self.buf);
        self.buf.push_str("}}");
    }

    /// Feeds the CPU's slice tracker; writes the slice a switch ends.
    fn track_cpu(&mut self, view: &EventView<'_>) {
        let ev = view.ev;
        let Kind::Switch {
            next_pid,
            prev_state,
        } = ev.kind
        else {
            let state = view.state;
            self.slices
                .event(ev.cpu, ev.ts, ev.tid, || comm_of(state, ev.tid));
            return;
        };
        let (mut next_name, mut state_text) = (String::new(), String::new());
        if let Role::Switch {
            next_comm, states, ..
        } = &ev.tp.role
        {
            if let Some(c) = next_comm.str_bytes(ev.raw) {
                next_name = String::from_utf8_lossy(c).into_owned();
            }
            crate::fields::info::write_task_state(prev_state, states.as_ref(), &mut state_text);
        }
        let next = u32::try_from(next_pid).unwrap_or(u32::MAX);
        if let Some(s) = self
            .slices
            .switch(ev.cpu, ev.ts, ev.tid, &state_text, next, &next_name)
        {
            self.slice(&s);
        }
    }

    fn name_tracks(&mut self, view: &EventView<'_>) {
        let (pid, tid) = (view.ev.pid, view.ev.tid);
        let comm = || {
            view.state
                .thread(tid)
                .map(|t| t.comm.to_string_lossy())
                .unwrap_or_default()
        };
        if self.named_processes.insert(pid) {
            let c = comm();
            self.metadata("process_name", pid, pid, &c);
        }
        let c = comm();
        if self.named_threads.get(&tid) != Some(&c) {
            self.metadata("thread_name", pid, tid, &c);
            self.named_threads.insert(tid, c);
        }
    }
}

impl<W: Write> Sink for TraceExportSink<W> {
    fn begin(&mut self, _state: &State, _decoder: &crate::decode::Decoder) -> io::Result<()> {
        self.out.write_all(b"{\"traceEvents\":[\n")
    }

    fn event(&mut self, view: &EventView<'_>) -> io::Result<()> {
        let ts = view.ev.ts;
        let base = *self.base.get_or_insert(ts);
        self.last_ts = self.last_ts.max(ts);
        self.buf.clear();
        self.name_tracks(view);
        let (pid, tid) = (view.ev.pid, view.ev.tid);
        if self.pids.get(&view.ev.tid) != Some(&view.ev.pid) {
            self.pids.insert(view.ev.tid, view.ev.pid);
        }
        self.track_cpu(view);
        let name = crate::fields::info::type_name(view.ev, view.arch).into_owned();
        match view.ev.kind {
            Kind::SyscallEnter { .. } => {
                self.entry_info.insert(tid, view.info().to_string());
            }
            Kind::SyscallExit { .. } => {
                let entry = self.entry_info.remove(&tid);
                if let Some(call) = view.call {
                    self.open("X", pid, tid, &name);
                    self.buf.push_str(",\"ts\":");
                    push_us(&mut self.buf, call.ts.saturating_sub(base));
                    self.buf.push_str(",\"dur\":");
                    push_us(&mut self.buf, ts.saturating_sub(call.ts));
                    self.buf.push_str(",\"args\":{\"entry\":");
                    write_json_str(entry.as_deref().unwrap_or(""), &mut self.buf);
                    self.buf.push_str(",\"exit\":");
                    write_json_str(view.info(), &mut self.buf);
                    self.buf.push_str("}}");
                }
            }
            _ => {
                self.open("i", pid, tid, &name);
                self.buf.push_str(",\"s\":\"t\",\"ts\":");
                push_us(&mut self.buf, ts.saturating_sub(base));
                self.buf.push_str(",\"args\":{\"info\":");
                write_json_str(view.info(), &mut self.buf);
                self.buf.push_str("}}");
            }
        }
        self.out.write_all(self.buf.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn end(&mut self, drops: &[(u32, u64)]) -> io::Result<()> {
        self.buf.clear();
        for s in self.slices.finish(self.last_ts) {
            self.slice(&s);
        }
        let at = self
            .last_ts
            .saturating_sub(self.base.unwrap_or(self.last_ts));
        for &(cpu, n) in drops.iter().filter(|d| d.1 > 0) {
            let what = format!("{n} records dropped on CPU {cpu}");
            self.open("i", 0, 0, &what);
            self.buf.push_str(",\"s\":\"g\",\"ts\":");
            push_us(&mut self.buf, at);
            self.buf.push('}');
            // And on that CPU's track, where the gap in its slices shows.
            self.name_cpu(cpu);
            self.open("i", CPU_TRACKS, CPU_TRACKS + cpu, &what);
            self.buf.push_str(",\"s\":\"t\",\"ts\":");
            push_us(&mut self.buf, at);
            self.buf.push('}');
        }
        self.buf.push_str("\n]}\n");
        self.out.write_all(self.buf.as_bytes())?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::push_us;

    #[test]
    fn microseconds_keep_the_nanoseconds() {
        let mut s = String::new();
        push_us(&mut s, 1_234_567);
        push_us(&mut s, 5);
        assert_eq!(s, "1234.5670.005");
    }
}
