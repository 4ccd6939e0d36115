//! Names the addresses of a call chain: the I/O side of stack support.
//!
//! Reads `/proc/kallsyms` once at start, a process's `/proc/PID/maps` the first time a
//! stack of a process with no reported mappings arrives, and each mapped ELF file once
//! (cached, also when it cannot be read: the frame then shows its file and address): its
//! symbols, and its unwind tables for the samples that carry a user stack copy.
//!
//! Which user frames a stack shows, when a sample has both the kernel's frame-pointer
//! chain and a stack copy: the `.eh_frame` unwind ([`super::unwind`]) when it reached the
//! thread's outermost frame or found more frames than the frame-pointer chain, otherwise
//! the chain. Both start at the same sampled ip. A complete CFI walk is exact whatever
//! the compiler did with rbp, whereas a frame-pointer walk through code built without
//! frame pointers follows whatever rbp holds: it loses the callers (the function that
//! called `write` through an inlined-away or rbp-less helper) or shows garbage. When the
//! CFI walk stops early (code without CFI, a stack deeper than the copy), the frame-pointer
//! chain may still see further and wins if it is longer.

use super::callchain::{Space, addresses};
use super::cfi::{CfiTable, Row};
use super::frames::{Frame, Stack};
use super::kallsyms::Kallsyms;
use super::maps::{Mapping, ProcessMaps, parse_proc_maps};
use super::symbols::FileSymbols;
use super::unwind::{Stop, UserRegs, unwind};
use crate::fasthash::IntMap;
use crate::perf::record::OwnedMmap;
use crate::probes::elf::Elf;
use std::collections::HashMap;

/// The most user frames a CFI walk produces (the kernel's own chain limit is 127).
const MAX_USER_FRAMES: usize = 128;

/// One mapped file's symbols and unwind tables.
#[derive(Debug)]
struct Object {
    syms: FileSymbols,
    cfi: CfiTable,
}

/// How the user frames of the stacks named so far were found (for `-v`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnwindCounts {
    /// Stacks whose user frames came from the `.eh_frame` walk.
    pub cfi: u64,
    /// Stacks with a stack copy whose frame-pointer chain was kept.
    pub frame_pointer: u64,
}

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
    files: HashMap<String, Option<Object>>,
    counts: UnwindCounts,
    /// CFI rows by (pid, address): a busy program asks for the same few addresses at
    /// every sample, and a row costs a mapping lookup and a CFI program run. Cleared
    /// when it grows past [`ROW_CACHE_MAX`]; a process's entries go when its mappings
    /// change.
    rows: IntMap<(u32, u64), Option<Row>>,
}

/// Rows cached before the cache starts over.
const ROW_CACHE_MAX: usize = 1 << 16;

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
            if !self.rows.is_empty() {
                self.rows.retain(|&(pid, _), _| pid != m.pid);
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

    /// How user frames were found so far.
    pub fn unwind_counts(&self) -> UnwindCounts {
        self.counts
    }

    /// The named frames of a raw PERF_SAMPLE_CALLCHAIN of process `pid`, with the user
    /// part unwound from `.eh_frame` when the sample carries user registers (`regs_user`,
    /// REGS_USER values) and a stack copy (`stack_user`), see the module header.
    pub fn stack(&mut self, pid: u32, chain: &[u8], regs_user: &[u8], stack_user: &[u8]) -> Stack {
        let mut addrs = addresses(chain);
        if let Some(regs) = UserRegs::from_sample(regs_user)
            && !stack_user.is_empty()
        {
            let walk = unwind(regs, stack_user, MAX_USER_FRAMES, |pc| {
                self.cfi_row(pid, pc)
            });
            let fp = addrs.iter().filter(|(s, _)| *s == Space::User).count();
            if walk.stop == Stop::Outermost || walk.ips.len() > fp {
                self.counts.cfi += 1;
                addrs.retain(|(s, _)| *s == Space::Kernel);
                addrs.extend(walk.ips.into_iter().map(|ip| (Space::User, ip)));
            } else {
                self.counts.frame_pointer += 1;
            }
        }
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

    /// The mapping of `addr` in `pid`, reading `/proc/PID/maps` for a process whose
    /// mappings were never reported.
    fn mapping(&mut self, pid: u32, addr: u64) -> Option<Mapping> {
        if !self.maps.knows(pid) {
            let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
            for m in parse_proc_maps(&text) {
                self.maps.insert(pid, m);
            }
            self.maps.mark_known(pid);
        }
        self.maps.find(pid, addr).cloned()
    }

    /// The symbols and unwind tables of `path` as `pid` sees it, read once.
    fn object(&mut self, pid: u32, path: &str) -> Option<&Object> {
        load_object(&mut self.files, pid, path)
    }

    /// The CFI row of user address `pc` in `pid`.
    fn cfi_row(&mut self, pid: u32, pc: u64) -> Option<Row> {
        if let Some(r) = self.rows.get(&(pid, pc)) {
            return *r;
        }
        if !self.maps.knows(pid) {
            self.mapping(pid, pc);
        }
        let row = self.maps.find(pid, pc).and_then(|m| {
            let o = load_object(&mut self.files, pid, &m.path)?;
            let vaddr = o.syms.offset_to_vaddr(m.file_offset(pc))?;
            o.cfi.row(vaddr).ok().flatten()
        });
        if self.rows.len() >= ROW_CACHE_MAX {
            self.rows.clear();
        }
        self.rows.insert((pid, pc), row);
        row
    }

    fn user_frame(&mut self, pid: u32, ip: u64, look: u64) -> Frame {
        let Some(m) = self.mapping(pid, look) else {
            return Frame {
                ip,
                kernel: false,
                object: String::new(),
                symbol: None,
            };
        };
        let symbol = self.object(pid, &m.path).and_then(|o| {
            let vaddr = o.syms.offset_to_vaddr(m.file_offset(look))?;
            let (name, off) = o.syms.lookup(vaddr)?;
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

/// The symbols and unwind tables of `path` as `pid` sees it, read once (and remembered
/// when unreadable).
fn load_object<'a>(
    files: &'a mut HashMap<String, Option<Object>>,
    pid: u32,
    path: &str,
) -> Option<&'a Object> {
    if !files.contains_key(path) {
        // A process in a container maps files of its own root.
        let obj = std::fs::read(format!("/proc/{pid}/root{path}"))
            .or_else(|_| std::fs::read(path))
            .ok()
            .and_then(|bytes| {
                let syms = FileSymbols::parse(&bytes).ok()?;
                let cfi = Elf::parse(&bytes)
                    .and_then(|e| CfiTable::parse(&e))
                    .unwrap_or_default();
                Some(Object { syms, cfi })
            });
        files.insert(path.to_string(), obj);
    }
    files.get(path)?.as_ref()
}
