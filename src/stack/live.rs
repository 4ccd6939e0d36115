//! `-k` in the live loop: mappings go in as the rings report them, and each merged sample
//! that carries a call chain has it named and attached to its event before the pipeline
//! sees the record. Naming after the merge (not at drain) means every mapping reported up
//! to the sample's time, on any CPU, is already known.

use super::Symbolizer;
use crate::perf::record::{OwnedMmap, Sample};
use crate::pipeline::Pipeline;
use std::cell::RefCell;

/// The live loop's symbolizer, shared by its record callback and its drain steps.
pub struct LiveStacks(RefCell<Symbolizer>);

impl LiveStacks {
    /// Loads the kernel's symbols; says on stderr when kernel frames will stay unnamed.
    pub fn new(verbose: bool) -> LiveStacks {
        let s = Symbolizer::new();
        if !s.names_kernel() {
            eprintln!(
                "tpdig: warning: /proc/kallsyms gives no addresses (kptr_restrict?): kernel frames stay unnamed"
            );
        } else if verbose {
            eprintln!("tpdig: -k: call chains on the selected events, kernel symbols loaded");
        }
        LiveStacks(RefCell::new(s))
    }

    /// Says on stderr how the user frames were found (`-v`).
    pub fn report(&self) {
        let c = self.0.borrow().unwind_counts();
        if c.cfi + c.frame_pointer > 0 {
            eprintln!(
                "tpdig: -k: user frames of {} stacks unwound from .eh_frame, {} kept from frame pointers",
                c.cfi, c.frame_pointer
            );
        }
    }

    /// Mappings drained from the rings.
    pub fn add_mappings(&self, m: Vec<OwnedMmap>) {
        if !m.is_empty() {
            self.0.borrow_mut().add_mappings(m);
        }
    }

    /// Names `s`'s chain (if any) and attaches it to the event at wall time `ts`.
    pub fn attach(&self, p: &mut Pipeline<'_>, s: &Sample<'_>, ts: u64) {
        if !s.callchain.is_empty() {
            let stack = self
                .0
                .borrow_mut()
                .stack(s.pid, s.callchain, s.regs_user, s.stack_user);
            p.attach_stack(s.tid, ts, stack);
        }
    }
}
