//! Creating and removing the probe events in tracefs (the I/O edge of `probes`): the
//! [`ProbeSet`] of one run, its events and their decoders.
//!
//! Tiers are tried in order and detected by trying, never by kernel version:
//! 1. kprobes at the system calls' entry functions ([`kprobes`]), which name every
//!    binary, static and Go ones included;
//! 2. event probes on `syscalls:sys_enter_*` ([`eprobes`], 5.15+), where they reach perf;
//! 3. uprobes in the C libraries, the loader and static executables ([`uprobes`]), for
//!    the calls no kernel-side probe names, and for the values that exist only on return.
//!
//! I/O data probes are laid out by [`data`]; uprobe points share events through
//! [`points`].
//!
//! Every event goes into the group `tpdig_<our pid>` (see [`control`](super::control), which
//! also removes the groups of dead runs). The [`ProbeSet`] removes its own events in
//! [`ProbeSet::remove`], and in `Drop` as a safety net. The kernel refuses (EBUSY) to remove
//! an event that a perf fd still has open, so the perf engine must be closed first.

use super::catalog::{self, ValueKind};
use super::control::{
    DYNAMIC_EVENTS, KPROBE_EVENTS, UPROBE_EVENTS, append, group_name, remove_stale,
};
use super::fetch::Reach;
use super::record::{Binding, DecoderError, ProbeDecoder, Source};
use super::resolver::Resolver;
use crate::tracefs::{EventFormat, Tracefs};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

mod data;
mod eprobes;
mod kprobes;
mod points;
mod uprobes;
pub use data::DataOptions;
pub use kprobes::Convention;

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
