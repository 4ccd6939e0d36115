//! Finding tracefs, and reading event files from it.
//!
//! Where tracefs lives depends on the era and the distribution: its own mount at
//! /sys/kernel/tracing (4.1+), the `tracing` directory of debugfs (older kernels, and
//! newer ones through an automount), or anywhere an administrator mounted it. The mount
//! table is the authority, so it is read first; the two well-known paths follow; last, when
//! allowed (root, and nothing found), tpdig mounts tracefs itself. Fresh machines often have
//! it unmounted. A mount made by tpdig is left in place on exit: other tools may have
//! started using it meanwhile, and unmounting under them would break them.
//!
//! A root counts only if it has `events/`: an empty mount point is not tracefs.
//!
//! tracefs files report size 0 and some (`events/header_page`) answer only a read at file
//! position 0: `read_to_string` starts with a 32-byte probe read and gets a truncated
//! file. [`read_tracefs_file`] reads with one large buffer instead.
//!
//! The file system is reached through the small [`System`] trait, so the search order is
//! tested without mounting anything; `/proc/mounts` is parsed by an I/O-free function.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

/// What [`locate`] may do.
#[derive(Clone, Debug, Default)]
pub struct LocateOptions {
    /// Try debugfs's `tracing` directory before /sys/kernel/tracing, and mount debugfs
    /// rather than tracefs (old-kernel path, forceable on new kernels).
    pub prefer_debugfs: bool,
    /// Mount tracefs (or debugfs) when nothing is mounted.
    pub allow_mount: bool,
    /// Use exactly this root (`TPDIG_TRACEFS`); it must contain `events/`.
    pub override_root: Option<PathBuf>,
}

/// How the tracefs root was found, for `-v`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum How {
    /// Given by the caller (`TPDIG_TRACEFS`).
    Override,
    /// A `tracefs` or `debugfs` line of /proc/mounts.
    ProcMounts { fstype: String },
    /// A well-known path that was already mounted (or automounted).
    WellKnown,
    /// tpdig mounted it (`fstype` tracefs or debugfs) and leaves it mounted.
    MountedByUs { fstype: String },
}

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            How::Override => write!(f, "given by TPDIG_TRACEFS"),
            How::ProcMounts { fstype } => write!(f, "{fstype} line in /proc/mounts"),
            How::WellKnown => write!(f, "well-known path"),
            How::MountedByUs { fstype } => write!(f, "mounted {fstype} (left mounted)"),
        }
    }
}

#[derive(Debug)]
pub enum TracefsError {
    NotFound {
        tried: Vec<PathBuf>,
    },
    MountFailed {
        path: PathBuf,
        errno: Errno,
    },
    PermissionDenied {
        path: PathBuf,
    },
    EventMissing {
        system: String,
        event: String,
        path: PathBuf,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for TracefsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TracefsError::NotFound { tried } => {
                let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "tracefs not found (tried {}); mount it with `mount -t tracefs nodev /sys/kernel/tracing`",
                    if list.is_empty() {
                        "nothing".into()
                    } else {
                        list.join(", ")
                    }
                )
            }
            TracefsError::MountFailed { path, errno } => {
                write!(
                    f,
                    "cannot mount tracefs at {}: {}",
                    path.display(),
                    errno.desc()
                )
            }
            TracefsError::PermissionDenied { path } => {
                write!(
                    f,
                    "permission denied reading {} (run as root)",
                    path.display()
                )
            }
            TracefsError::EventMissing {
                system,
                event,
                path,
            } => write!(
                f,
                "no tracepoint {system}:{event} on this kernel ({} does not exist)",
                path.display()
            ),
            TracefsError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for TracefsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TracefsError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The file-system operations discovery needs; [`RealSystem`] in production.
pub trait System {
    fn read_proc_mounts(&self) -> io::Result<String>;
    /// Whether `root/events` is a directory (`Err` for e.g. permission problems).
    fn has_events(&self, root: &Path) -> io::Result<bool>;
    fn mount(&self, fstype: &str, target: &Path) -> Result<(), Errno>;
}

pub struct RealSystem;

impl System for RealSystem {
    fn read_proc_mounts(&self) -> io::Result<String> {
        std::fs::read_to_string("/proc/mounts")
    }

    fn has_events(&self, root: &Path) -> io::Result<bool> {
        match std::fs::metadata(root.join("events")) {
            Ok(m) => Ok(m.is_dir()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn mount(&self, fstype: &str, target: &Path) -> Result<(), Errno> {
        nix::mount::mount(
            Some("nodev"),
            target,
            Some(fstype),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
    }
}

/// One line of /proc/mounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub source: String,
    pub target: PathBuf,
    pub fstype: String,
}

/// Parses /proc/mounts text (octal escapes such as `\040` for spaces are decoded).
/// Malformed lines are skipped.
pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let (source, target, fstype) = (it.next()?, it.next()?, it.next()?);
            Some(MountEntry {
                source: unescape_octal(source),
                target: PathBuf::from(unescape_octal(target)),
                fstype: unescape_octal(fstype),
            })
        })
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const TRACEFS_DIR: &str = "/sys/kernel/tracing";
const DEBUGFS_DIR: &str = "/sys/kernel/debug";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// A usable tracefs root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracefs {
    root: PathBuf,
    how: How,
}

/// Finds tracefs on this machine (see the module header for the order).
pub fn locate(opts: &LocateOptions) -> Result<Tracefs, TracefsError> {
    locate_with(opts, &RealSystem)
}

/// [`locate`] against any [`System`].
pub fn locate_with(opts: &LocateOptions, sys: &dyn System) -> Result<Tracefs, TracefsError> {
    let mut tried: Vec<PathBuf> = Vec::new();
    let mut denied: Option<PathBuf> = None;
    let mut check = |root: &Path, tried: &mut Vec<PathBuf>| -> bool {
        if tried.iter().any(|t| t == root) {
            return false;
        }
        tried.push(root.to_path_buf());
        match sys.has_events(root) {
            Ok(found) => found,
            Err(e) => {
                if e.kind() == io::ErrorKind::PermissionDenied && denied.is_none() {
                    denied = Some(root.join("events"));
                }
                false
            }
        }
    };

    if let Some(root) = &opts.override_root {
        if check(root, &mut tried) {
            return Ok(Tracefs::new(root.clone(), How::Override));
        }
        return Err(match denied {
            Some(path) => TracefsError::PermissionDenied { path },
            None => TracefsError::NotFound { tried },
        });
    }

    // 1. The mount table.
    let mounts = sys
        .read_proc_mounts()
        .map(|t| parse_mounts(&t))
        .unwrap_or_default();
    let mut from_mounts: Vec<(PathBuf, &str)> = Vec::new();
    let order: [&str; 2] = if opts.prefer_debugfs {
        ["debugfs", "tracefs"]
    } else {
        ["tracefs", "debugfs"]
    };
    for fstype in order {
        for m in mounts.iter().filter(|m| m.fstype == fstype) {
            let root = if fstype == "debugfs" {
                m.target.join("tracing")
            } else {
                m.target.clone()
            };
            from_mounts.push((root, fstype));
        }
    }
    for (root, fstype) in from_mounts {
        if check(&root, &mut tried) {
            let how = How::ProcMounts {
                fstype: fstype.to_string(),
            };
            return Ok(Tracefs::new(root, how));
        }
    }

    // 2. The well-known places (debugfs's may be an automount of tracefs).
    let well_known: [&str; 2] = if opts.prefer_debugfs {
        [DEBUGFS_TRACING, TRACEFS_DIR]
    } else {
        [TRACEFS_DIR, DEBUGFS_TRACING]
    };
    for root in well_known {
        if check(Path::new(root), &mut tried) {
            return Ok(Tracefs::new(root.into(), How::WellKnown));
        }
    }

    // 3. Mount it ourselves.
    if opts.allow_mount {
        let mut first_err: Option<TracefsError> = None;
        let attempts: &[(&str, &str, &str)] = if opts.prefer_debugfs {
            &[
                ("debugfs", DEBUGFS_DIR, DEBUGFS_TRACING),
                ("tracefs", TRACEFS_DIR, TRACEFS_DIR),
            ]
        } else {
            &[("tracefs", TRACEFS_DIR, TRACEFS_DIR)]
        };
        for &(fstype, target, root) in attempts {
            match sys.mount(fstype, Path::new(target)) {
                Ok(()) => {
                    if sys.has_events(Path::new(root)).unwrap_or(false) {
                        let how = How::MountedByUs {
                            fstype: fstype.to_string(),
                        };
                        return Ok(Tracefs::new(root.into(), how));
                    }
                }
                Err(errno) => {
                    let e = match errno {
                        Errno::EPERM | Errno::EACCES => TracefsError::PermissionDenied {
                            path: target.into(),
                        },
                        _ => TracefsError::MountFailed {
                            path: target.into(),
                            errno,
                        },
                    };
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
    }
    Err(match denied {
        Some(path) => TracefsError::PermissionDenied { path },
        None => TracefsError::NotFound { tried },
    })
}

/// Rejects names that would leave `events/<system>/<event>` (`..`, `/`, empty).
fn safe_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

impl Tracefs {
    pub fn new(root: PathBuf, how: How) -> Tracefs {
        Tracefs { root, how }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn how(&self) -> &How {
        &self.how
    }

    /// Whether this run mounted tracefs (it stays mounted).
    pub fn mounted_by_us(&self) -> bool {
        matches!(self.how, How::MountedByUs { .. })
    }

    fn event_dir(&self, system: &str, event: &str) -> Option<PathBuf> {
        (safe_name(system) && safe_name(event))
            .then(|| self.root.join("events").join(system).join(event))
    }

    /// `events/<system>/<event>/format` under the root, for naming the file in errors
    /// (`FormatError::in_file`).
    pub fn format_path(&self, system: &str, event: &str) -> PathBuf {
        self.root
            .join("events")
            .join(system)
            .join(event)
            .join("format")
    }

    /// The text of `events/<system>/<event>/format`.
    pub fn read_format(&self, system: &str, event: &str) -> Result<String, TracefsError> {
        let missing = |path: PathBuf| TracefsError::EventMissing {
            system: system.to_string(),
            event: event.to_string(),
            path,
        };
        let Some(dir) = self.event_dir(system, event) else {
            return Err(missing(self.root.join("events")));
        };
        let path = dir.join("format");
        read_tracefs_file(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => missing(path),
            io::ErrorKind::PermissionDenied => TracefsError::PermissionDenied { path },
            _ => TracefsError::Io { path, source: e },
        })
    }

    /// The text of `events/header_page` (ring-buffer page header layout).
    pub fn read_header_page(&self) -> Result<String, TracefsError> {
        let path = self.root.join("events").join("header_page");
        read_tracefs_file(&path).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => TracefsError::PermissionDenied { path },
            _ => TracefsError::Io { path, source: e },
        })
    }

    pub fn event_exists(&self, system: &str, event: &str) -> bool {
        self.event_dir(system, event)
            .is_some_and(|d| d.join("format").is_file())
    }

    /// The events of a system, sorted; empty when the system does not exist.
    pub fn list_events(&self, system: &str) -> Vec<String> {
        if !safe_name(system) {
            return Vec::new();
        }
        subdirs(&self.root.join("events").join(system))
    }

    /// The event systems (`sched`, `raw_syscalls`, ...), sorted.
    pub fn list_systems(&self) -> Vec<String> {
        subdirs(&self.root.join("events"))
    }
}

/// Reads a whole tracefs file, starting with a 64 KiB read (see the module header).
pub fn read_tracefs_file(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn subdirs(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashSet;

    /// A fake machine: which roots have events/, what /proc/mounts says, what mount does.
    struct Fake {
        mounts: String,
        roots: RefCell<HashSet<PathBuf>>,
        denied: HashSet<PathBuf>,
        mount_result: Result<(), Errno>,
        mounted: RefCell<Vec<(String, PathBuf)>>,
    }

    impl Fake {
        fn new(mounts: &str, roots: &[&str]) -> Fake {
            Fake {
                mounts: mounts.into(),
                roots: RefCell::new(roots.iter().map(PathBuf::from).collect()),
                denied: HashSet::new(),
                mount_result: Ok(()),
                mounted: RefCell::new(Vec::new()),
            }
        }
    }

    impl System for Fake {
        fn read_proc_mounts(&self) -> io::Result<String> {
            Ok(self.mounts.clone())
        }
        fn has_events(&self, root: &Path) -> io::Result<bool> {
            if self.denied.contains(root) {
                return Err(io::Error::from(io::ErrorKind::PermissionDenied));
            }
            Ok(self.roots.borrow().contains(root))
        }
        fn mount(&self, fstype: &str, target: &Path) -> Result<(), Errno> {
            self.mount_result?;
            self.mounted
                .borrow_mut()
                .push((fstype.into(), target.into()));
            let root = if fstype == "debugfs" {
                target.join("tracing")
            } else {
                target.to_path_buf()
            };
            self.roots.borrow_mut().insert(root);
            Ok(())
        }
    }

    const MOUNTS: &str = "sysfs /sys sysfs rw,nosuid 0 0\n\
        nodev /mnt/my\\040trace tracefs rw,relatime 0 0\n\
        debugfs /sys/kernel/debug debugfs rw 0 0\n";

    #[test]
    fn parses_proc_mounts() {
        let m = parse_mounts(MOUNTS);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].target, PathBuf::from("/mnt/my trace"));
        assert_eq!(m[1].fstype, "tracefs");
        assert_eq!(parse_mounts("short line\n\n"), vec![]);
        assert_eq!(unescape_octal("a\\011b\\"), "a\tb\\");
        assert_eq!(unescape_octal("\\777"), "\\777");
    }

    #[test]
    fn proc_mounts_first_and_debugfs_preference() {
        let fake = Fake::new(MOUNTS, &["/mnt/my trace", "/sys/kernel/debug/tracing"]);
        let t = locate_with(&LocateOptions::default(), &fake).unwrap();
        assert_eq!(t.root(), Path::new("/mnt/my trace"));
        assert_eq!(
            t.how(),
            &How::ProcMounts {
                fstype: "tracefs".into()
            }
        );
        let opts = LocateOptions {
            prefer_debugfs: true,
            ..Default::default()
        };
        let t = locate_with(&opts, &fake).unwrap();
        assert_eq!(t.root(), Path::new("/sys/kernel/debug/tracing"));
        assert_eq!(
            t.how(),
            &How::ProcMounts {
                fstype: "debugfs".into()
            }
        );
    }

    #[test]
    fn well_known_order() {
        let fake = Fake::new("", &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]);
        let t = locate_with(&LocateOptions::default(), &fake).unwrap();
        assert_eq!(t.root(), Path::new("/sys/kernel/tracing"));
        assert_eq!(t.how(), &How::WellKnown);
        let opts = LocateOptions {
            prefer_debugfs: true,
            ..Default::default()
        };
        assert_eq!(
            locate_with(&opts, &fake).unwrap().root(),
            Path::new("/sys/kernel/debug/tracing")
        );
    }

    #[test]
    fn mounts_only_when_allowed() {
        let fake = Fake::new("", &[]);
        let e = locate_with(&LocateOptions::default(), &fake).unwrap_err();
        let TracefsError::NotFound { tried } = &e else {
            panic!("{e}")
        };
        assert_eq!(tried.len(), 2);
        assert!(e.to_string().contains("/sys/kernel/tracing"), "{e}");
        assert!(fake.mounted.borrow().is_empty());

        let opts = LocateOptions {
            allow_mount: true,
            ..Default::default()
        };
        let t = locate_with(&opts, &fake).unwrap();
        assert!(t.mounted_by_us());
        assert_eq!(t.root(), Path::new("/sys/kernel/tracing"));
        assert_eq!(
            fake.mounted.borrow().as_slice(),
            &[("tracefs".to_string(), PathBuf::from("/sys/kernel/tracing"))]
        );

        let fake = Fake::new("", &[]);
        let opts = LocateOptions {
            allow_mount: true,
            prefer_debugfs: true,
            ..Default::default()
        };
        let t = locate_with(&opts, &fake).unwrap();
        assert_eq!(t.root(), Path::new("/sys/kernel/debug/tracing"));
        assert_eq!(
            t.how(),
            &How::MountedByUs {
                fstype: "debugfs".into()
            }
        );
    }

    #[test]
    fn mount_errors() {
        let mut fake = Fake::new("", &[]);
        fake.mount_result = Err(Errno::EPERM);
        let opts = LocateOptions {
            allow_mount: true,
            ..Default::default()
        };
        let e = locate_with(&opts, &fake).unwrap_err();
        assert!(matches!(e, TracefsError::PermissionDenied { .. }), "{e}");
        fake.mount_result = Err(Errno::ENODEV);
        let e = locate_with(&opts, &fake).unwrap_err();
        assert!(
            matches!(
                e,
                TracefsError::MountFailed {
                    errno: Errno::ENODEV,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("/sys/kernel/tracing"), "{e}");
    }

    #[test]
    fn permission_denied_is_reported() {
        let mut fake = Fake::new("", &[]);
        fake.denied.insert("/sys/kernel/tracing".into());
        let e = locate_with(&LocateOptions::default(), &fake).unwrap_err();
        assert!(matches!(e, TracefsError::PermissionDenied { .. }), "{e}");
        assert!(e.to_string().contains("/sys/kernel/tracing/events"), "{e}");
    }

    #[test]
    fn override_root_on_disk() {
        let dir = std::env::temp_dir().join(format!("tpdig-tracefs-{}", std::process::id()));
        let ev = dir.join("events/sched/sched_switch");
        std::fs::create_dir_all(&ev).unwrap();
        std::fs::create_dir_all(dir.join("events/sched/sched_waking")).unwrap();
        std::fs::write(ev.join("format"), "name: sched_switch\n").unwrap();
        let opts = LocateOptions {
            override_root: Some(dir.clone()),
            ..Default::default()
        };
        let t = locate(&opts).unwrap();
        assert_eq!(t.how(), &How::Override);
        assert_eq!(
            t.read_format("sched", "sched_switch").unwrap(),
            "name: sched_switch\n"
        );
        assert!(t.event_exists("sched", "sched_switch"));
        assert!(!t.event_exists("sched", "sched_waking"));
        assert!(!t.event_exists("..", "sched"));
        assert_eq!(t.list_events("sched"), vec!["sched_switch", "sched_waking"]);
        assert!(t.list_events("nope").is_empty());
        assert_eq!(t.list_systems(), vec!["sched"]);
        let e = t.read_format("sched", "nope").unwrap_err();
        assert!(matches!(e, TracefsError::EventMissing { .. }), "{e}");
        assert!(e.to_string().contains("sched:nope"), "{e}");
        assert!(matches!(
            t.read_format("../..", "x"),
            Err(TracefsError::EventMissing { .. })
        ));

        // A directory without events/ is "tracefs unavailable".
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let opts = LocateOptions {
            override_root: Some(empty.clone()),
            allow_mount: true,
            ..Default::default()
        };
        let e = locate(&opts).unwrap_err();
        assert!(e.to_string().contains(&*empty.to_string_lossy()), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
