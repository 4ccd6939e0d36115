//! Probe points appended to shared events: few tracefs events for many uprobes.
//!
//! What a run costs the kernel at its end is paid per *event*, not per probe point: closing
//! the last perf fd of an event unregisters it and waits for a grace period, and the next
//! run's writes to `uprobe_events` queue behind that. One event per probed function (~45)
//! made a second run started right after the first wait ~4 s. Since 5.7 a definition
//! written under the name of an existing event with the same argument names and types
//! (the fetch *locations* may differ) is appended to it as another point; the whole event
//! opens, closes and goes away as one. So the points are grouped per object and per
//! signature of their fetch arguments.
//!
//! The records of one event come from all its points. A uprobe record carries the address
//! that was hit (`__probe_ip`), whose offset in its page equals the point's file offset's,
//! so the points of one event must differ there: a point whose page offset is taken starts
//! another event of the signature. A kernel that refuses the first append (`EEXIST`: no
//! appends) gets one event per point, as before.

use super::{InstallError, ProbeSet};
use crate::probes::control::append;
use crate::probes::record::{DecoderError, ProbeDecoder, Source, page_offset};
use crate::tracefs::{EventFormat, Tracefs};
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

/// One uprobe point to create.
pub(super) struct Point<'a> {
    pub obj: &'a Path,
    /// File offset of the probed instruction.
    pub offset: u64,
    /// The fetch arguments (`name=location:type …`).
    pub fetch: &'a str,
    /// The point's own name (`open64_0`); also the name of an event it starts.
    pub label: &'a str,
    pub source: Source,
}

/// The events points are appended to.
#[derive(Debug, Default)]
pub(super) struct Groups {
    /// Whether the kernel appends points to events (None: not tried yet).
    appends: Option<bool>,
    /// (object, signature) → its events.
    events: HashMap<Key, Vec<Shared>>,
}

/// The object probed and the signature of the fetch arguments.
type Key = (PathBuf, String);

/// One event points are appended to.
#[derive(Debug)]
struct Shared {
    name: String,
    /// The page offsets of its points.
    taken: HashSet<u16>,
}

impl Groups {
    /// An event of `key` with page offset `low` free.
    fn free(&self, key: &Key, low: u16) -> Option<String> {
        if self.appends == Some(false) {
            return None;
        }
        let events = self.events.get(key)?;
        let e = events.iter().find(|e| !e.taken.contains(&low))?;
        Some(e.name.clone())
    }

    fn take(&mut self, key: Key, event: &str, low: u16) {
        let events = self.events.entry(key).or_default();
        match events.iter_mut().find(|e| e.name == event) {
            Some(e) => {
                e.taken.insert(low);
            }
            None => events.push(Shared {
                name: event.to_string(),
                taken: HashSet::from([low]),
            }),
        }
    }
}

/// What the kernel compares when appending: each argument's name and type, in order.
pub(super) fn signature(fetch: &str) -> String {
    fetch
        .split_whitespace()
        .map(|arg| {
            let name = arg.split_once('=').map_or(arg, |(n, _)| n);
            let ty = arg.rsplit_once(':').map_or("", |(_, t)| t);
            format!("{name}:{ty}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl ProbeSet {
    /// Creates probe point `p`, appended to an event of its signature when the kernel
    /// allows, else as an event of its own; `make` builds its decoder from the event's
    /// format. The inner error is the kernel refusing the definition (not fatal: the
    /// caller skips or retries the point).
    pub(super) fn add_point(
        &mut self,
        tracefs: &Tracefs,
        path: &Path,
        p: Point<'_>,
        make: impl FnOnce(&str, &EventFormat) -> Result<ProbeDecoder, DecoderError>,
    ) -> Result<io::Result<()>, InstallError> {
        let key = (p.obj.to_path_buf(), signature(p.fetch));
        let low = page_offset(p.offset);
        let line = |event: &str| {
            format!(
                "p:{}/{event} {}:{:#x} {}",
                self.group,
                p.obj.display(),
                p.offset,
                p.fetch
            )
        };
        let mut event = p.label.to_string();
        let mut def = line(&event);
        if let Some(shared) = self.groups.free(&key, low) {
            let appended = line(&shared);
            match append(path, &appended) {
                Ok(()) => {
                    self.groups.appends = Some(true);
                    (event, def) = (shared, appended);
                }
                Err(e)
                    if e.raw_os_error() == Some(libc::EEXIST) && self.groups.appends.is_none() =>
                {
                    self.groups.appends = Some(false);
                    if let Err(e) = append(path, &def) {
                        return Ok(Err(e));
                    }
                }
                Err(e) => return Ok(Err(e)),
            }
        } else if let Err(e) = append(path, &def) {
            return Ok(Err(e));
        }
        self.groups.take(key, &event, low);
        let offset = p.offset;
        self.adopt_with(
            tracefs,
            &event,
            def,
            p.source,
            Some(p.obj.to_path_buf()),
            |ev, f| make(ev, f).map(|d| d.at_point(offset)),
        )?;
        if let Some(e) = self.events.last_mut() {
            e.label = p.label.to_string();
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_keep_names_and_types_not_locations() {
        assert_eq!(signature("path=+0(%di):ustring"), "path:ustring");
        assert_eq!(signature("path=+0(%si):ustring"), "path:ustring");
        assert_eq!(signature("fds=+0(%di):u64 ret=%ax:s64"), "fds:u64 ret:s64");
        assert_ne!(
            signature("fds=+0(%di):u64 ret=%ax:s64"),
            signature("fds=+0(%r10):u64 ret=%ax:s32")
        );
        assert_eq!(signature("d0=+0(%si):x8[64]"), "d0:x8[64]");
    }

    #[test]
    fn a_taken_page_offset_needs_another_event() {
        let mut g = Groups::default();
        let key = (PathBuf::from("/lib/libc.so.6"), "path:ustring".to_string());
        assert_eq!(g.free(&key, 0x10), None);
        g.take(key.clone(), "open64_0", 0x10);
        assert_eq!(g.free(&key, 0x20).as_deref(), Some("open64_0"));
        assert_eq!(g.free(&key, 0x10), None);
        g.take(key.clone(), "creat_0", 0x10);
        assert_eq!(g.free(&key, 0x10), None);
        assert_eq!(g.free(&key, 0x30).as_deref(), Some("open64_0"));
        g.appends = Some(false);
        assert_eq!(g.free(&key, 0x30), None);
    }
}
