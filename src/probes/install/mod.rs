//! Creating and removing the probe events in tracefs (the I/O edge of `probes`).
//!
//! Tiers are tried in order and detected by trying, never by kernel version:
//! 1. event probes (`dynamic_events`, `e:` lines, 5.15+) on `syscalls:sys_enter_*`, one per
//!    system call with a path or address argument, fetching it with `ustring` inside the
//!    call — exact, and nothing to find in user space;
//! 2. uprobes (`uprobe_events`, 3.5+) on the C libraries' path-taking functions (the
//!    [`catalog`](super::catalog)), for the calls no event probe covers.
//!
//! Every event goes into the group `tpdig_<our pid>` (see [`control`](super::control), which
//! also removes the groups of dead runs). The [`ProbeSet`] removes its own events in
//! [`ProbeSet::remove`], and in `Drop` as a safety net. The kernel refuses (EBUSY) to remove
//! an event that a perf fd still has open, so the perf engine must be closed first.
//!
//! The objects probed are found by [`objects`](super::objects). Static executables (no C
//! library mapped) are probed only when named in [`ProbeOptions::objects`] or traced by pid.
//! Functions that share an address (`open`/`open64`) are probed once, under the first
//! catalog name.
//!
//! Syscall-site uprobes: the dynamic loader is stripped, and a static executable's internal
//! calls (glibc's `posix_spawn` exec) have no exported wrapper; both are probed at their
//! `syscall` instructions, found by decoding the functions the unwind tables describe
//! (see [`x86`](super::x86) and [`eh_frame`](super::eh_frame)). The binary a traced
//! command starts through (tpdig itself) gets its exec probed and nothing else.
//!
//! Post-syscall uprobes ([`catalog::POST_FUNCTIONS`]: `pipe`, `pipe2`, `socketpair`) go
//! on the instruction after each recognised `syscall` site of the function (see
//! [`x86::syscall_sites`](super::x86::syscall_sites)); no event probe can
//! replace them (the values do not exist at `sys_enter`), so they are created whenever
//! uprobes are allowed. x86_64 only for now. A function whose code shows no site it can
//! recognise is skipped (listed for `-v`), never probed at a guessed offset.

use super::catalog::{self, PostFn, ValueKind};
use super::control::{
    DYNAMIC_EVENTS, KPROBE_EVENTS, UPROBE_EVENTS, append, group_name, remove_stale,
};
use super::elf::Elf;
use super::fetch::{Reach, fetch_args};
use super::objects::{file_id, find_objects, is_c_library, is_loader};
use super::record::{Binding, DecoderError, POST_FDS, POST_RET, PostSpec, ProbeDecoder, Source};
use super::resolver::Resolver;
use super::x86::{confirmed_functions, syscall_sites};
use crate::syscalls::Arch;
use crate::tracefs::{EventFormat, Tracefs};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

mod data;
mod kprobes;
mod points;
pub use data::DataOptions;
pub use kprobes::Convention;
use points::Point;

/// Which kinds of probe may be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiers {
    pub kprobe: bool,
    pub eprobe: bool,
    pub uprobe: bool,
}

impl Default for Tiers {
    fn default() -> Tiers {
        Tiers {
            kprobe: true,
            eprobe: true,
            uprobe: true,
        }
    }
}

/// What to probe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeOptions {
    pub tiers: Tiers,
    /// Probe the lookup set (stat family, access…) too.
    pub lookups: bool,
    /// Tracing these processes only: their own executables and libraries are probed (and
    /// the lookup set with them), and the perf events may be opened bound to these tasks
    /// (see [`ProbeSet::task_bound`]).
    pub pids: Option<Vec<u32>>,
    /// Extra objects to probe (static executables, other C libraries).
    pub objects: Vec<PathBuf>,
    /// The binary a traced command starts through (tpdig itself): only its exec is
    /// probed, so the command's first `execve` shows its path and arguments.
    pub launcher: Option<PathBuf>,
    /// Copy the I/O data of reads and writes (see [`data`]).
    pub data: Option<DataOptions>,
    /// The kprobe calling convention to use (None: the first the kernel takes).
    pub kprobe_convention: Option<Convention>,
    /// Kprobes fetch user strings the pre-5.5 way (`string`), without trying `ustring`.
    pub kprobe_plain_fetch: bool,
}

/// What is probed in the launcher (see [`ProbeOptions::launcher`]).
const LAUNCHER_FUNCTIONS: &[&str] = &["execve", "execveat"];

/// One created probe point (an event probe, or a uprobe point that may share its event
/// with others: see [`points`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeEvent {
    pub system: String,
    /// The tracefs event.
    pub name: String,
    /// The point's own name (the event's for a point that started it).
    pub label: String,
    pub id: u32,
    /// The definition line written.
    pub definition: String,
    pub source: Source,
    /// The object probed (uprobes).
    pub object: Option<PathBuf>,
}

impl ProbeEvent {
    /// The tracefs file its definition went to (and its removal goes to).
    fn control_file(&self) -> &'static str {
        match self.source {
            Source::Uprobe { .. } => UPROBE_EVENTS,
            Source::Kprobe => KPROBE_EVENTS,
            _ => DYNAMIC_EVENTS,
        }
    }
}

/// Something that could not be probed (reported with `-v`, not fatal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub what: String,
    pub why: String,
}

/// Installation failed as a whole.
#[derive(Debug)]
pub enum InstallError {
    /// No probe tier is available (neither `dynamic_events` eprobes nor `uprobe_events`).
    Unavailable(Vec<Skipped>),
    Io {
        path: PathBuf,
        source: io::Error,
    },
    Decoder(DecoderError),
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::Unavailable(s) => {
                write!(f, "no probe events available")?;
                for x in s.iter().take(3) {
                    write!(f, "; {}: {}", x.what, x.why)?;
                }
                Ok(())
            }
            InstallError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            InstallError::Decoder(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for InstallError {}

/// The probe events of this run.
pub struct ProbeSet {
    root: PathBuf,
    group: String,
    events: Vec<ProbeEvent>,
    decoders: Vec<ProbeDecoder>,
    skipped: Vec<Skipped>,
    stale_removed: Vec<String>,
    task_bound: Option<Vec<u32>>,
    data_layouts: data::Layouts,
    groups: points::Groups,
    /// The calls the kernel tier (kprobes, event probes) names: no uprobes for them.
    kernel_named: HashSet<String>,
    kprobe_convention: Option<Convention>,
    kprobe_reach: Option<Reach>,
    removed: bool,
}

/// `e_machine` of x86-64 code.
const EM_X86_64: u16 = 62;

/// What the catalog says syscall `sc` argument `arg` is, when some selected function
/// covers it.
fn covered_kind(sc: &str, arg: usize, lookups: bool) -> Option<ValueKind> {
    catalog::selected(lookups).find_map(|f| {
        let t = f.targets.iter().find(|t| t.syscall == sc)?;
        let i = t.args.iter().position(|&a| a == arg)?;
        Some(f.args[i].kind)
    })
}

impl ProbeSet {
    /// Creates the probe events (see the module header). Fails only when no tier works.
    pub fn install(tracefs: &Tracefs, opts: &ProbeOptions) -> Result<ProbeSet, InstallError> {
        let root = tracefs.root().to_path_buf();
        let group = group_name(std::process::id());
        let stale_removed = remove_stale(&root, None);
        let lookups = opts.lookups || opts.pids.is_some();
        let mut set = ProbeSet {
            root: root.clone(),
            group,
            events: Vec::new(),
            decoders: Vec::new(),
            skipped: Vec::new(),
            stale_removed,
            task_bound: opts.pids.clone(),
            data_layouts: data::Layouts::default(),
            groups: points::Groups::default(),
            kernel_named: HashSet::new(),
            kprobe_convention: None,
            kprobe_reach: None,
            removed: false,
        };
        let mut eprobed: HashSet<String> = HashSet::new();
        if opts.tiers.kprobe {
            let plain = opts.kprobe_plain_fetch;
            set.install_kprobes(
                tracefs,
                lookups,
                opts.kprobe_convention,
                plain,
                &mut eprobed,
            )?;
        }
        if opts.tiers.eprobe {
            set.install_eprobes(tracefs, lookups, &mut eprobed)?;
            if set.events.iter().any(|e| e.source == Source::Eprobe) && !set.eprobes_deliver() {
                set.remove_source(|s| s == Source::Eprobe);
                eprobed.retain(|sc| set.events.iter().any(|e| e.name == *sc));
                set.skipped.push(Skipped {
                    what: "event probes".into(),
                    why: "created, but this kernel gives them no perf registration (no samples)"
                        .into(),
                });
            }
        }
        set.kernel_named = eprobed.clone();
        if opts.tiers.uprobe {
            set.install_uprobes(tracefs, opts, lookups, &eprobed)?;
        }
        if set.events.is_empty() {
            return Err(InstallError::Unavailable(std::mem::take(&mut set.skipped)));
        }
        Ok(set)
    }

    /// Reads the format of an event just created and records it.
    #[allow(clippy::too_many_arguments)]
    fn adopt(
        &mut self,
        tracefs: &Tracefs,
        name: &str,
        definition: String,
        source: Source,
        object: Option<PathBuf>,
        values: &[(&str, ValueKind)],
        bindings: Vec<Binding>,
    ) -> Result<(), InstallError> {
        self.adopt_with(tracefs, name, definition, source, object, |full, format| {
            ProbeDecoder::new(full, format, source, values, bindings)
        })
    }

    /// [`ProbeSet::adopt`] with the decoder made by `make(event, format)`.
    fn adopt_with(
        &mut self,
        tracefs: &Tracefs,
        name: &str,
        definition: String,
        source: Source,
        object: Option<PathBuf>,
        make: impl FnOnce(&str, &EventFormat) -> Result<ProbeDecoder, DecoderError>,
    ) -> Result<(), InstallError> {
        let text = tracefs
            .read_format(&self.group, name)
            .map_err(|e| InstallError::Io {
                path: tracefs.format_path(&self.group, name),
                source: io::Error::other(e.to_string()),
            })?;
        let format = EventFormat::parse(&text).map_err(|e| InstallError::Io {
            path: tracefs.format_path(&self.group, name),
            source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        })?;
        let full = format!("{}:{name}", self.group);
        let d = make(&full, &format).map_err(InstallError::Decoder)?;
        self.events.push(ProbeEvent {
            system: self.group.clone(),
            name: name.to_string(),
            label: name.to_string(),
            id: format.id,
            definition,
            source,
            object,
        });
        self.decoders.push(d);
        Ok(())
    }

    fn install_eprobes(
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

    fn install_uprobes(
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
    fn install_site_probes(
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
    fn install_post_probes(
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
    fn eprobes_deliver(&self) -> bool {
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

    /// Deletes the events whose source matches `which` (their decoders go too).
    fn remove_source(&mut self, which: impl Fn(Source) -> bool) {
        let mut keep_events = Vec::new();
        let mut keep_decoders = Vec::new();
        let mut removed = HashSet::new();
        for (e, d) in self.events.drain(..).zip(self.decoders.drain(..)) {
            if which(e.source) {
                if !removed.insert(e.id) {
                    continue;
                }
                let _ = append(
                    &self.root.join(e.control_file()),
                    &format!("-:{}/{}", e.system, e.name),
                );
            } else {
                keep_events.push(e);
                keep_decoders.push(d);
            }
        }
        self.events = keep_events;
        self.decoders = keep_decoders;
    }

    /// The tracefs file `file` that a probe kind is defined through; None (and `what` listed
    /// as not probed) when this kernel has none.
    fn control_file(&mut self, file: &str, what: &str) -> Option<PathBuf> {
        let path = self.root.join(file);
        if path.exists() {
            return Some(path);
        }
        self.skipped.push(Skipped {
            what: what.into(),
            why: format!("no {}", path.display()),
        });
        None
    }

    fn skip(&mut self, obj: &Path, why: String) {
        self.skipped.push(Skipped {
            what: obj.display().to_string(),
            why,
        });
    }

    /// `(system, name)` of every event, for the engine to open per CPU.
    pub fn tracepoints(&self) -> Vec<(String, String)> {
        self.events()
            .iter()
            .map(|e| (e.system.clone(), e.name.clone()))
            .collect()
    }

    /// The tracefs events: the first point of each (the others share its id).
    pub fn events(&self) -> Vec<&ProbeEvent> {
        let mut seen = HashSet::new();
        self.events.iter().filter(|e| seen.insert(e.id)).collect()
    }

    /// Every probe point.
    pub fn points(&self) -> &[ProbeEvent] {
        &self.events
    }

    /// The tracefs root the events are in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The group name (`tpdig_<pid>`).
    pub fn group(&self) -> &str {
        &self.group
    }

    /// A resolver that knows every event of this set.
    pub fn resolver(&self) -> Resolver {
        Resolver::new(self.decoders.clone())
    }

    pub fn decoders(&self) -> &[ProbeDecoder] {
        &self.decoders
    }

    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Events of dead tpdig runs removed at start.
    pub fn stale_removed(&self) -> &[String] {
        &self.stale_removed
    }

    /// When set, the uprobe events may be opened bound to these tasks
    /// (`perf_event_open(pid, cpu = -1)`, inherit) instead of per CPU: the kernel then
    /// inserts breakpoints only in those processes. Event probes are kernel-side and are
    /// opened per CPU as usual.
    pub fn task_bound(&self) -> Option<&[u32]> {
        self.task_bound.as_deref()
    }

    /// Lines for `-v`: which probes are active, per source and object.
    pub fn summary(&self) -> Vec<String> {
        let mut per: BTreeMap<String, (Vec<&str>, HashSet<u32>)> = BTreeMap::new();
        for e in &self.events {
            let key = match (&e.source, &e.object) {
                (Source::Uprobe { .. }, Some(o)) => format!("uprobes in {}", o.display()),
                (s, _) => format!("{s}s"),
            };
            let (labels, ids) = per.entry(key).or_default();
            labels.push(&e.label);
            ids.insert(e.id);
        }
        let mut out: Vec<String> = per
            .into_iter()
            .map(|(k, (labels, ids))| {
                format!(
                    "{k}: {} in {} event(s) ({})",
                    labels.len(),
                    ids.len(),
                    labels.join(" ")
                )
            })
            .collect();
        if let Some(c) = self.kprobe_convention {
            out.push(format!("kprobe convention: {c}"));
        }
        if let Some(r) = self.kprobe_reach {
            let how = match r {
                Reach::PlainUser => "string (no user fetches: before 5.5)",
                _ => "ustring, +u dereferences (5.5+)",
            };
            out.push(format!("kprobe user fetch: {how}"));
        }
        for l in self.data_layouts.summary() {
            out.push(format!("I/O data: {l}"));
        }
        for s in &self.skipped {
            out.push(format!("not probed: {}: {}", s.what, s.why));
        }
        for s in &self.stale_removed {
            out.push(format!("removed stale probe event {s}"));
        }
        out
    }

    /// Deletes every event of this set. The perf fds on them must be closed first (the
    /// kernel answers EBUSY otherwise). Errors name the first event that stayed.
    /// Leaves the events to someone else to remove (a teardown child): not removed on drop.
    pub fn disown(&mut self) {
        self.removed = true;
    }

    pub fn remove(&mut self) -> io::Result<()> {
        self.remove_with(|| ())
    }

    /// [`ProbeSet::remove`], each event's removal while holding what `turn` returns.
    pub fn remove_with<T>(&mut self, mut turn: impl FnMut() -> T) -> io::Result<()> {
        let mut first: Option<io::Error> = None;
        // One removal takes every point of an event.
        for e in self.events().into_iter().rev() {
            let _turn = turn();
            let file = self.root.join(e.control_file());
            if let Err(err) = append(&file, &format!("-:{}/{}", e.system, e.name)) {
                // Already gone is fine.
                if err.raw_os_error() != Some(libc::ENOENT) && first.is_none() {
                    first = Some(io::Error::new(
                        err.kind(),
                        format!("removing {}:{}: {err}", e.system, e.name),
                    ));
                }
            }
        }
        self.removed = true;
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for ProbeSet {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_kinds_follow_the_catalog() {
        assert_eq!(covered_kind("openat", 1, false), Some(ValueKind::Path));
        assert_eq!(covered_kind("openat", 0, false), None);
        assert_eq!(covered_kind("connect", 1, false), Some(ValueKind::SockAddr));
        assert_eq!(covered_kind("newfstatat", 1, false), None);
        assert_eq!(covered_kind("newfstatat", 1, true), Some(ValueKind::Path));
        assert_eq!(covered_kind("renameat2", 3, false), Some(ValueKind::Path));
    }
}
