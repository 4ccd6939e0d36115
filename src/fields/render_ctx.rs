//! What the parameter renderer may know about one event: the thread's fds and working
//! directory, the exact values probes copied during the call, and process facts from state.
//! Nothing here reads user memory or /proc: a value we do not have stays missing.

use crate::calls::Call;
use crate::params::{BufferFormat, DataRendering, FdView, RenderCtx, StateValue};
use crate::state::State;

pub struct ViewCtx<'a> {
    pub state: &'a State,
    pub tid: u32,
    pub pid: u32,
    pub call: Option<&'a Call>,
    pub syscall: &'a str,
    pub ret: Option<i64>,
    pub data: DataRendering,
    /// See [`EventView::exit_data`](crate::fields::EventView::exit_data).
    pub exit_data: Option<&'a [u8]>,
    /// The process's arguments NUL-joined, built when a parameter asks for them.
    pub args_buf: std::cell::OnceCell<Vec<u8>>,
}

impl ViewCtx<'_> {
    /// The fd a socket-tuple parameter is about: the new fd for accept, else argument 0.
    fn tuple_fd(&self) -> Option<i64> {
        match self.syscall {
            "accept" | "accept4" => self.ret,
            _ => self.call.map(|c| c.args[0] as i32 as i64),
        }
    }
}

fn comm_str(state: &State, tid: u32) -> Option<&str> {
    let t = state.thread(tid)?;
    std::str::from_utf8(t.comm.as_bytes())
        .ok()
        .filter(|s| !s.is_empty())
}

impl RenderCtx for ViewCtx<'_> {
    fn fd(&self, fd: i64) -> Option<FdView<'_>> {
        let fd = i32::try_from(fd).ok()?;
        let info = self.state.fd_info(self.pid, fd)?;
        let (type_char, l4) = info.tag_letters();
        Some(FdView {
            type_char,
            l4,
            name: &info.name,
        })
    }

    fn resolved(&self, arg: usize) -> Option<&[u8]> {
        self.call?.resolved(arg)
    }

    fn cwd(&self) -> Option<&str> {
        self.state.process(self.pid)?.cwd.as_deref()
    }

    /// The call's data as copied; a call that moved nothing has empty data when data is
    /// being copied at all.
    fn data(&self) -> Option<&[u8]> {
        self.exit_data
            .or_else(|| crate::calls::io_data(self.call, self.ret, self.data.captured))
    }

    fn snaplen(&self) -> usize {
        self.data.snaplen
    }

    fn max_output_len(&self) -> usize {
        self.data.max_len
    }

    fn buffer_format(&self) -> BufferFormat {
        self.data.format
    }

    fn comm(&self, pid: i64) -> Option<&str> {
        comm_str(self.state, u32::try_from(pid).ok()?)
    }

    fn state(&self, param: &str) -> Option<StateValue<'_>> {
        let proc_ = self.state.process(self.pid);
        let thread = self.state.thread(self.tid);
        Some(match param {
            "exe" => StateValue::Str(proc_?.exe.as_deref()?),
            "cwd" => StateValue::Str(proc_?.cwd.as_deref()?),
            "args" => {
                let args = proc_?.args.as_ref()?;
                StateValue::Bytes(self.args_buf.get_or_init(|| {
                    let mut b = Vec::new();
                    for a in args {
                        b.extend_from_slice(a.as_bytes());
                        b.push(0);
                    }
                    b
                }))
            }
            "comm" => StateValue::Str(comm_str(self.state, self.tid)?),
            "tid" => StateValue::Int(self.tid as i64),
            "pid" => StateValue::Int(self.pid as i64),
            "ptid" => StateValue::Int(proc_?.ppid? as i64),
            "uid" => StateValue::Int(thread?.euid? as i64),
            "gid" => StateValue::Int(thread?.egid? as i64),
            "loginuid" => StateValue::Int(thread?.loginuid? as i64),
            "vtid" => StateValue::Int(thread?.vtid? as i64),
            "vpid" => StateValue::Int(proc_?.vpid? as i64),
            "tuple" => {
                let fd = i32::try_from(self.tuple_fd()?).ok()?;
                let info = self.state.fd_info(self.pid, fd)?;
                if info.name.is_empty() {
                    return None;
                }
                StateValue::Str(&info.name)
            }
            _ => return None,
        })
    }
}
