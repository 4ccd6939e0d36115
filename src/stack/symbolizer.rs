//! Names the addresses of a call chain: the I/O side of stack support.
//!
//! Reads `/proc/kallsyms` once at start, a process's `/proc/PID/maps` the first time a
//! stack of a process with no reported mappings arrives, and each mapped ELF file once
//! (cached, also when it cannot be read: the frame then shows its file and address).

use super::callchain::{Space, addresses};
use super::frames::{Frame, Stack};
use super::kallsyms::Kallsyms;
use super::maps::{Mapping, ProcessMaps, parse_proc_maps};
use super::symbols::FileSymbols;
use crate::perf::record::OwnedMmap;
use std::collections::HashMap;

/// The object name kernel frames carry.
pub const KERNEL_OBJECT: &str = "[kernel]";

/// A kernel frame of the tracepoint dispatch itself (`__traceiter_sys_enter`, perf's
/// handlers): some kernels leave it innermost in a tracepoint's chain.
fn is_tracing_frame(f: &Frame) -> bool {
    f.kernel
        && f.symbol.as_ref().is_some_and(|(n, _)| {
            n.starts_with("__traceiter_")
                || n.starts_with("perf_trace")
                || n.starts_with("perf_tp_")
                || n.starts_with("trace_event_raw_event")
        })
}

#[derive(Default)]
pub struct Symbolizer {
    kallsyms: Kallsyms,
    maps: ProcessMaps,
    files: HashMap<String, Option<FileSymbols>>,
}

impl Symbolizer {
    /// A symbolizer with the running kernel's symbols.
    pub fn new() -> Symbolizer {
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        Symbolizer {
            kallsyms: Kallsyms::parse(&text),
            ..Default::default()
        }
    }

    /// True when kernel addresses can be named (kallsyms readable and not hidden).
    pub fn names_kernel(&self) -> bool {
        !self.kallsyms.is_empty()
    }

    /// Mappings the kernel reported (PERF_RECORD_MMAP), in the order it reported them.
    pub fn add_mappings(&mut self, mmaps: Vec<OwnedMmap>) {
        for m in mmaps {
            let path = String::from_utf8_lossy(&m.filename).into_owned();
            if !path.starts_with('/') {
                continue; // [vdso], anonymous executable memory (JITs)
            }
            self.maps.insert(
                m.pid,
                Mapping {
                    start: m.addr,
                    end: m.addr.saturating_add(m.len),
                    pgoff: m.pgoff,
                    path,
                },
            );
        }
    }

    /// The named frames of a raw PERF_SAMPLE_CALLCHAIN of process `pid`.
    pub fn stack(&mut self, pid: u32, chain: &[u8]) -> Stack {
        let addrs = addresses(chain);
        let mut frames = Vec::with_capacity(addrs.len());
        let mut first_user = true;
        for (i, (space, ip)) in addrs.into_iter().enumerate() {
            // Return addresses point after the call: look up the call itself.
            let look = if i == 0 || (space == Space::User && first_user) {
                ip
            } else {
                ip.saturating_sub(1)
            };
            let frame = match space {
                Space::Kernel => Frame {
                    ip,
                    kernel: true,
                    object: KERNEL_OBJECT.to_string(),
                    symbol: self
                        .kallsyms
                        .lookup(look)
                        .map(|(n, off)| (n.to_string(), off + (ip - look))),
                },
                Space::User => {
                    first_user = false;
                    self.user_frame(pid, ip, look)
                }
            };
            // The tracing machinery that took the sample is no part of the caller's path.
            let leading_kernel = frames.iter().all(|f: &Frame| f.kernel);
            if leading_kernel && is_tracing_frame(&frame) {
                continue;
            }
            frames.push(frame);
        }
        Stack { frames }
    }

    fn user_frame(&mut self, pid: u32, ip: u64, look: u64) -> Frame {
        if !self.maps.knows(pid) {
            let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
            for m in parse_proc_maps(&text) {
                self.maps.insert(pid, m);
            }
            self.maps.mark_known(pid);
        }
        let Some(m) = self.maps.find(pid, look).cloned() else {
            return Frame {
                ip,
                kernel: false,
                object: String::new(),
                symbol: None,
            };
        };
        let syms = self
            .files
            .entry(m.path.clone())
            .or_insert_with(|| {
                // A process in a container maps files of its own root.
                let bytes = std::fs::read(format!("/proc/{pid}/root{}", m.path))
                    .or_else(|_| std::fs::read(&m.path))
                    .ok()?;
                FileSymbols::parse(&bytes).ok()
            })
            .as_ref();
        let symbol = syms.and_then(|s| {
            let vaddr = s.offset_to_vaddr(m.file_offset(look))?;
            let (name, off) = s.lookup(vaddr)?;
            Some((name.to_string(), off + (ip - look)))
        });
        Frame {
            ip,
            kernel: false,
            object: m.path,
            symbol,
        }
    }
}
