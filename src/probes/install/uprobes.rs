//! Tier 3 of the user-memory sources: uprobes (`uprobe_events`, 3.5+) on the C libraries'
//! path-taking functions (the [`catalog`](crate::probes::catalog)), for the calls no
//! kernel-side probe names.
//!
//! The objects probed are found by [`objects`](crate::probes::objects). Static executables
//! (no C library mapped) are probed only when named in [`ProbeOptions::objects`] or traced
//! by pid. Functions that share an address (`open`/`open64`) are probed once, under the
//! first catalog name.
//!
//! Syscall-site uprobes: the dynamic loader is stripped, and a static executable's internal
//! calls (glibc's `posix_spawn` exec) have no exported wrapper; both are probed at their
//! `syscall` instructions, found by decoding the functions the unwind tables describe
//! (see [`x86`](crate::probes::x86) and [`eh_frame`](crate::probes::eh_frame)). The binary a
//! traced command starts through (tpdig itself) gets its exec probed and nothing else.
//!
//! Post-syscall uprobes ([`catalog::POST_FUNCTIONS`]: `pipe`, `pipe2`, `socketpair`) go
//! on the instruction after each recognised `syscall` site of the function (see
//! [`syscall_sites`]); no kernel-side probe can replace them (the values do not exist at
//! `sys_enter`), so they are created whenever uprobes are allowed. x86_64 only for now. A
//! function whose code shows no site it can recognise is skipped (listed for `-v`), never
//! probed at a guessed offset.

use super::points::Point;
use super::{
    DataOptions, EM_X86_64, InstallError, LAUNCHER_FUNCTIONS, ProbeOptions, ProbeSet, Skipped,
};
use crate::probes::catalog::{self, PostFn, ValueKind};
use crate::probes::control::UPROBE_EVENTS;
use crate::probes::elf::Elf;
use crate::probes::fetch::{Reach, fetch_args};
use crate::probes::objects::{file_id, find_objects, is_c_library, is_loader};
use crate::probes::record::{Binding, POST_FDS, POST_RET, PostSpec, ProbeDecoder, Source};
use crate::probes::x86::{confirmed_functions, syscall_sites};
use crate::syscalls::Arch;
use crate::tracefs::Tracefs;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

impl ProbeSet {
    pub(super) fn install_uprobes(
        &mut self,
        tracefs: &Tracefs,
        opts: &ProbeOptions,
        lookups: bool,
        eprobed: &HashSet<String>,
    ) -> Result<(), InstallError> {
        let Some(path) = self.control_file(UPROBE_EVENTS, "uprobes") else {
            return Ok(());
        };
        let arch = Arch::native();
        let fns: Vec<_> = catalog::selected(lookups)
            .filter(|f| !f.targets.iter().all(|t| eprobed.contains(t.syscall)))
            .collect();
        let posts: Vec<&PostFn> = if arch == Arch::X86_64 {
            catalog::post_selected(lookups).collect()
        } else {
            Vec::new()
        };
        if fns.is_empty() && posts.is_empty() && opts.data.is_none() {
            return Ok(());
        }
        let names: Vec<&str> = fns.iter().map(|f| f.func).collect();
        let extra: Vec<PathBuf> = opts.objects.iter().chain(&opts.launcher).cloned().collect();
        let objects = find_objects(opts.pids.as_deref(), &extra);
        let launcher = opts.launcher.as_deref().and_then(file_id);
        for (n, obj) in objects.iter().enumerate() {
            let is_launcher = launcher.is_some() && file_id(obj) == launcher;
            let bytes = match std::fs::read(obj) {
                Ok(b) => b,
                Err(e) => {
                    self.skip(obj, e.to_string());
                    continue;
                }
            };
            let elf = match Elf::parse(&bytes) {
                Ok(e) => e,
                Err(e) => {
                    self.skip(obj, e.to_string());
                    continue;
                }
            };
            let names: Vec<&str> = if is_launcher {
                names
                    .iter()
                    .copied()
                    .filter(|f| LAUNCHER_FUNCTIONS.contains(f))
                    .collect()
            } else {
                self.install_post_probes(tracefs, &path, &elf, obj, n, &posts)?;
                if let Some(d) = &opts.data {
                    self.install_data_probes(tracefs, &path, &elf, obj, n, d)?;
                }
                names.clone()
            };
            let name = obj.to_string_lossy();
            if arch == Arch::X86_64
                && !is_launcher
                && !is_c_library(&name)
                && (is_loader(&name) || !elf.interp)
            {
                self.install_site_probes(
                    tracefs,
                    &path,
                    &elf,
                    obj,
                    n,
                    lookups,
                    opts.data.as_ref(),
                )?;
            }
            if names.is_empty() {
                continue;
            }
            let sites = match elf.functions(&names) {
                Ok(s) => s,
                Err(e) => {
                    self.skip(obj, e.to_string());
                    continue;
                }
            };
            let mut offsets = HashSet::new();
            for site in sites {
                if !offsets.insert(site.offset) {
                    continue; // an alias of a function already probed
                }
                let Some(f) = catalog::by_name(&site.name) else {
                    continue;
                };
                let mut parts = Vec::new();
                for a in f.args {
                    let Some(reg) = catalog::arg_register(arch, a.index) else {
                        continue;
                    };
                    parts.push(fetch_args(a.name, a.kind, reg, Reach::Own));
                }
                if parts.len() != f.args.len() {
                    continue;
                }
                let name = format!("{}_{n}", f.func);
                let values: Vec<(&str, ValueKind)> =
                    f.args.iter().map(|a| (a.name, a.kind)).collect();
                let bindings: Vec<Binding> = f
                    .targets
                    .iter()
                    .map(|t| Binding {
                        syscall: t.syscall.to_string(),
                        args: t.args.to_vec(),
                    })
                    .collect();
                let source = Source::Uprobe { func: f.func };
                let point = Point {
                    obj,
                    offset: site.offset,
                    fetch: &parts.join(" "),
                    label: &name,
                    source,
                };
                let made = self.add_point(tracefs, &path, point, |ev, fmt| {
                    ProbeDecoder::new(ev, fmt, source, &values, bindings)
                })?;
                if let Err(e) = made {
                    self.skipped.push(Skipped {
                        what: format!("uprobe {} in {}", f.func, obj.display()),
                        why: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Uprobes on the `syscall` instructions of code that has no function to probe by
    /// name: the dynamic loader (its opens of `ld.so.cache` and of every library, its
    /// `access` of `ld.so.preload`) and static executables (glibc's internal calls, such
    /// as `posix_spawn`'s exec). Only functions whose instruction boundaries two decodes
    /// agree on are used (see [`x86::confirmed_functions`](super::x86::confirmed_functions)),
    /// and only sites that make a call the catalog has path or address arguments for; the
    /// probe fetches them from the registers the kernel takes them in.
    pub(super) fn install_site_probes(
        &mut self,
        tracefs: &Tracefs,
        path: &Path,
        elf: &Elf<'_>,
        obj: &Path,
        n: usize,
        lookups: bool,
        data: Option<&DataOptions>,
    ) -> Result<(), InstallError> {
        if elf.machine != EM_X86_64 {
            return Ok(());
        }
        let arch = Arch::X86_64;
        let ranges: Vec<(u64, u64)> = match elf.function_ranges() {
            Ok(r) => r.iter().map(|r| (r.start, r.len)).collect(),
            Err(e) => {
                self.skip(obj, e.to_string());
                return Ok(());
            }
        };
        let label: &'static str = if is_loader(&obj.to_string_lossy()) {
            "ld.so syscall"
        } else {
            "static syscall"
        };
        let mut k = 0;
        for (start, len) in confirmed_functions(&ranges, |a, l| elf.code_at(a, l)) {
            let (Some(code), Some(offset)) = (elf.code_at(start, len), elf.vaddr_to_offset(start))
            else {
                continue;
            };
            for site in syscall_sites(code).unwrap_or_default() {
                let Some(syscall) = crate::syscalls::name(arch, i64::from(site.nr)) else {
                    continue;
                };
                if let Some(d) = data.filter(|d| d.wants(syscall)) {
                    let name = format!("{syscall}_data{k}_{n}");
                    k += 1;
                    let at = offset + site.after() as u64;
                    self.add_data_probe(tracefs, path, obj, at, syscall, label, &name, d)?;
                    continue;
                }
                if self.kernel_named.contains(syscall) {
                    continue;
                }
                let values = catalog::syscall_values(syscall, lookups);
                let fetch: Option<Vec<String>> = values
                    .iter()
                    .map(|&(arg, name, kind)| {
                        Some(fetch_args(
                            name,
                            kind,
                            catalog::syscall_arg_register(arch, arg)?,
                            Reach::Own,
                        ))
                    })
                    .collect();
                let Some(fetch) = fetch.filter(|f| !f.is_empty()) else {
                    continue;
                };
                let name = format!("{syscall}_site{k}_{n}");
                k += 1;
                let named: Vec<(&str, ValueKind)> = values.iter().map(|v| (v.1, v.2)).collect();
                let bindings = vec![Binding {
                    syscall: syscall.to_string(),
                    args: values.iter().map(|v| v.0).collect(),
                }];
                let source = Source::Uprobe { func: label };
                let point = Point {
                    obj,
                    offset: offset + site.at as u64,
                    fetch: &fetch.join(" "),
                    label: &name,
                    source,
                };
                let made = self.add_point(tracefs, path, point, |ev, fmt| {
                    ProbeDecoder::new(ev, fmt, source, &named, bindings)
                })?;
                if let Err(e) = made {
                    self.skipped.push(Skipped {
                        what: format!("{label} uprobe ({syscall}) in {}", obj.display()),
                        why: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Post-syscall uprobes in one object: after every recognised `syscall` site of each
    /// function of `posts` (x86_64 code; see the module header).
    pub(super) fn install_post_probes(
        &mut self,
        tracefs: &Tracefs,
        path: &Path,
        elf: &Elf<'_>,
        obj: &Path,
        n: usize,
        posts: &[&PostFn],
    ) -> Result<(), InstallError> {
        if posts.is_empty() || elf.machine != EM_X86_64 {
            return Ok(());
        }
        let arch = Arch::X86_64;
        let Some(ret_reg) = catalog::syscall_ret_register(arch) else {
            return Ok(());
        };
        let names: Vec<&str> = posts.iter().map(|f| f.func).collect();
        let funcs = match elf.functions(&names) {
            Ok(f) => f,
            Err(e) => {
                self.skip(obj, e.to_string());
                return Ok(());
            }
        };
        let mut offsets = HashSet::new();
        for site in funcs {
            if !offsets.insert(site.offset) {
                continue; // an alias (`__pipe` of `pipe`)
            }
            let Some(f) = catalog::post_by_name(&site.name) else {
                continue;
            };
            let Some(reg) = catalog::syscall_arg_register(arch, f.arg) else {
                continue;
            };
            let wanted: Vec<(u32, &'static str)> = f
                .syscalls
                .iter()
                .filter_map(|s| Some((u32::try_from(crate::syscalls::number(arch, s)?).ok()?, *s)))
                .collect();
            let calls: Vec<_> = elf
                .function_bytes(&site)
                .and_then(syscall_sites)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| Some((c, wanted.iter().find(|w| w.0 == c.nr)?.1)))
                .collect();
            if calls.is_empty() {
                self.skipped.push(Skipped {
                    what: format!("post-syscall uprobe {} in {}", f.func, obj.display()),
                    why: "no recognisable syscall instruction in its code".into(),
                });
                continue;
            }
            for (k, (call, syscall)) in calls.into_iter().enumerate() {
                let name = format!("{}_post{k}_{n}", f.func);
                let fetch = format!("{POST_FDS}=+0({reg}):u64 {POST_RET}={ret_reg}:s64");
                let source = Source::Uprobe { func: f.func };
                let spec = PostSpec {
                    syscall,
                    arg: f.arg,
                };
                let point = Point {
                    obj,
                    offset: site.offset + call.after() as u64,
                    fetch: &fetch,
                    label: &name,
                    source,
                };
                let made = self.add_point(tracefs, path, point, |ev, fmt| {
                    ProbeDecoder::new_post(ev, fmt, source, spec)
                })?;
                if let Err(e) = made {
                    self.skipped.push(Skipped {
                        what: format!("post-syscall uprobe {} in {}", f.func, obj.display()),
                        why: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}
