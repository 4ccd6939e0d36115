//! `--export-trace FILE`: Chrome's Trace Event Format, which Perfetto UI and
//! chrome://tracing open.
//!
//! One track per thread (`pid`/`tid`, named by `thread_name`/`process_name` metadata), each
//! system call an `X` (complete) event from its entry to its exit with the entry's and the
//! exit's arguments, other events as thread-scoped instants, and the kernel's drops as
//! global instants at the end. Times are microseconds from the first event, written with
//! three decimals so the nanoseconds survive exactly.

use super::Sink;
use super::json::write_json_str;
use crate::decode::Kind;
use crate::fields::EventView;
use crate::state::State;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{self, Write};

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
    buf: String,
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
        let at = self
            .last_ts
            .saturating_sub(self.base.unwrap_or(self.last_ts));
        for &(cpu, n) in drops.iter().filter(|d| d.1 > 0) {
            self.open("i", 0, 0, &format!("{n} records dropped on CPU {cpu}"));
            self.buf.push_str(",\"s\":\"g\",\"ts\":");
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
