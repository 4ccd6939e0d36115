//! Tier 2 of the user-memory sources: event probes (`e:` lines in `dynamic_events`, 5.15+)
//! on `syscalls:sys_enter_*`, fetching a path or address argument with `ustring` inside
//! the call, and the check that the kernel delivers them to perf at all.

use super::{InstallError, ProbeSet, Skipped, covered_kind};
use crate::probes::catalog::{self, ValueKind};
use crate::probes::control::{DYNAMIC_EVENTS, append};
use crate::probes::fetch::{Reach, fetch_args};
use crate::probes::record::{Binding, Source};
use crate::tracefs::{EventFormat, Tracefs};
use std::collections::HashSet;

impl ProbeSet {
    pub(super) fn install_eprobes(
        &mut self,
        tracefs: &Tracefs,
        lookups: bool,
        done: &mut HashSet<String>,
    ) -> Result<(), InstallError> {
        let Some(path) = self.control_file(DYNAMIC_EVENTS, "event probes") else {
            return Ok(());
        };
        for sc in catalog::selected_syscalls(lookups) {
            if done.contains(sc) {
                continue; // a kprobe names it
            }
            let ev = format!("sys_enter_{sc}");
            let Ok(text) = tracefs.read_format("syscalls", &ev) else {
                continue;
            };
            let Ok(fmt) = EventFormat::parse(&text) else {
                continue;
            };
            // Syscall event fields after __syscall_nr are the arguments in order.
            let argf: Vec<_> = fmt
                .fields
                .iter()
                .filter(|f| f.name != "__syscall_nr")
                .collect();
            let mut parts = Vec::new();
            let mut names = Vec::new();
            let mut args = Vec::new();
            for (i, f) in argf.iter().enumerate() {
                let Some(kind) = covered_kind(sc, i, lookups) else {
                    continue;
                };
                let vname = format!("a{i}");
                parts.push(fetch_args(
                    &vname,
                    kind,
                    &format!("${}", f.name),
                    Reach::User,
                ));
                names.push((vname, kind));
                args.push(i);
            }
            if parts.is_empty() {
                continue;
            }
            let name = sc.to_string();
            let def = format!("e:{}/{name} syscalls/{ev} {}", self.group, parts.join(" "));
            if let Err(e) = append(&path, &def) {
                self.skipped.push(Skipped {
                    what: format!("event probe on syscalls:{ev}"),
                    why: e.to_string(),
                });
                // EINVAL/ENOENT on the first one: the kernel has no event probes.
                if done.is_empty() {
                    return Ok(());
                }
                continue;
            }
            let values: Vec<(&str, ValueKind)> =
                names.iter().map(|(n, k)| (n.as_str(), *k)).collect();
            let binding = Binding {
                syscall: sc.to_string(),
                args,
            };
            self.adopt(
                tracefs,
                &name,
                def,
                Source::Eprobe,
                None,
                &values,
                vec![binding],
            )?;
            done.insert(sc.to_string());
        }
        Ok(())
    }

    /// Whether event probes reach perf: opens the `openat` one on every CPU, opens a
    /// marker path from this thread, and looks for the sample.
    ///
    /// Why a test and not a version: on 6.1 (Debian's, tested under qemu) event probes are
    /// created, opened and enabled without error and never deliver. Not a mistake of ours:
    /// the event was enabled, opened per CPU and unfiltered. In that kernel's
    /// kernel/trace/trace_eprobe.c, `eprobe_register` answers every perf request
    /// (TRACE_REG_PERF_REGISTER, _OPEN, _ADD ...) with 0 and does nothing, so the probe is
    /// never attached for perf; only the ftrace ring buffer (`enable`) gets its records.
    /// This host's 6.18 delivers. Kernels in between are found out by this check.
    pub(super) fn eprobes_deliver(&self) -> bool {
        use crate::perf::{Engine, EngineConfig, RealKernel, TracepointSpec};
        let Some(ev) = self
            .events
            .iter()
            .find(|e| e.source == Source::Eprobe && e.name == "openat")
        else {
            return true; // nothing to check with; trust the kernel
        };
        let spec = TracepointSpec::new(ev.id, format!("{}:{}", ev.system, ev.name));
        let cfg = EngineConfig::new(64 * 1024, crate::compat::Compat::default());
        let Ok(mut engine) = Engine::open(RealKernel, &[spec], &cfg) else {
            return false;
        };
        if engine.enable().is_err() {
            return false;
        }
        let marker = format!("/proc/self/tpdig-eprobe-check-{}", std::process::id());
        let _ = std::fs::File::open(&marker);
        engine.disable();
        let tid = nix::unistd::gettid().as_raw() as u32;
        let mut seen = false;
        engine.drain(|s| seen |= s.tid == tid);
        seen
    }
}
