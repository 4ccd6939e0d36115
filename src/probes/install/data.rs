//! Creating the data probes: uprobes right after the `syscall` of each read and write site,
//! copying the call's I/O data (see [`io_data`](crate::probes::io_data) for why there).
//!
//! The layout of a probe's fetch arguments is agreed with the kernel on the first probe of
//! each shape: array fetch types are tried first (a kernel without them refuses the
//! definition with `EINVAL`, and the series of `u64` arguments is used from then on), and
//! a definition the kernel finds too big (`E2BIG`) is retried smaller. Later probes of the
//! shape reuse what the kernel took.

use super::points::Point;
use super::{EM_X86_64, InstallError, ProbeSet, Skipped};
use crate::probes::catalog;
use crate::probes::elf::Elf;
use crate::probes::io_data::{self, DATA_ARG, DATA_FUNCTIONS, Layout, Shape};
use crate::probes::record::{PostSpec, ProbeDecoder, Source};
use crate::probes::x86::syscall_sites;
use crate::syscalls::Arch;
use crate::tracefs::Tracefs;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Which I/O data to copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataOptions {
    /// Bytes kept of each call's data (sysdig's `-s`).
    pub snaplen: usize,
    /// Only these system calls (kernel names), when the filter allows no others.
    pub calls: Option<Vec<String>>,
    /// Try array fetch types (`x64[N]`); `false` forces the series of `u64` arguments
    /// that kernels without them need.
    pub arrays: bool,
}

impl DataOptions {
    pub fn new(snaplen: usize) -> DataOptions {
        DataOptions {
            snaplen,
            calls: None,
            arrays: true,
        }
    }

    pub(super) fn wants(&self, syscall: &str) -> bool {
        io_data::data_call(syscall).is_some()
            && self
                .calls
                .as_ref()
                .is_none_or(|c| c.iter().any(|s| s == syscall))
    }
}

/// The layouts the kernel took, per shape.
#[derive(Debug, Default)]
pub struct Layouts {
    /// Whether array fetch types work (None: not tried yet).
    arrays: Option<bool>,
    by_shape: HashMap<Shape, Layout>,
    /// Shapes no layout could be made for.
    refused: HashSet<Shape>,
}

impl Layouts {
    /// Lines for `-v`: the bytes each shape's probes copy.
    pub fn summary(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_shape
            .values()
            .map(|l| {
                format!(
                    "{:?} calls: {} buffer(s) of {} bytes ({})",
                    l.shape,
                    l.bufs,
                    l.capacity(),
                    if l.arrays {
                        "array fetch"
                    } else {
                        "u64 series"
                    }
                )
            })
            .collect();
        v.sort();
        v
    }
}

/// The static name of a data function found by name.
fn static_name(name: &str) -> Option<&'static str> {
    DATA_FUNCTIONS.iter().copied().find(|f| *f == name)
}

impl ProbeSet {
    /// Data probes after every data-call `syscall` site of the C library's I/O functions in
    /// one object (x86_64 code).
    pub(super) fn install_data_probes(
        &mut self,
        tracefs: &Tracefs,
        path: &Path,
        elf: &Elf<'_>,
        obj: &Path,
        n: usize,
        opts: &DataOptions,
    ) -> Result<(), InstallError> {
        if elf.machine != EM_X86_64 {
            return Ok(());
        }
        let funcs = match elf.functions(DATA_FUNCTIONS) {
            Ok(f) => f,
            Err(e) => {
                self.skip(obj, e.to_string());
                return Ok(());
            }
        };
        let mut offsets = HashSet::new();
        let mut k = 0;
        for site in funcs {
            if !offsets.insert(site.offset) {
                continue; // an alias (`__read` of `read`)
            }
            let Some(func) = static_name(&site.name) else {
                continue;
            };
            let calls: Vec<_> = elf
                .function_bytes(&site)
                .and_then(syscall_sites)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| {
                    let sc = crate::syscalls::name(Arch::X86_64, i64::from(c.nr))?;
                    opts.wants(sc).then_some((c, sc))
                })
                .collect();
            for (call, syscall) in calls {
                let at = site.offset + call.after() as u64;
                let name = format!("{syscall}_data{k}_{n}");
                k += 1;
                self.add_data_probe(tracefs, path, obj, at, syscall, func, &name, opts)?;
            }
        }
        Ok(())
    }

    /// One data probe at file offset `at` of `obj`, on the instruction after a `syscall`
    /// that makes `syscall`. A definition the kernel refuses is skipped (listed for `-v`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_data_probe(
        &mut self,
        tracefs: &Tracefs,
        path: &Path,
        obj: &Path,
        at: u64,
        syscall: &'static str,
        func: &'static str,
        name: &str,
        opts: &DataOptions,
    ) -> Result<(), InstallError> {
        let arch = Arch::X86_64;
        let (Some(call), Some(reg), Some(ret_reg)) = (
            io_data::data_call(syscall),
            catalog::syscall_arg_register(arch, io_data::BUF_ARG),
            catalog::syscall_ret_register(arch),
        ) else {
            return Ok(());
        };
        let shape = call.shape;
        if self.data_layouts.refused.contains(&shape) {
            return Ok(());
        }
        let arrays = opts.arrays && self.data_layouts.arrays != Some(false);
        let mut layout = self
            .data_layouts
            .by_shape
            .get(&shape)
            .copied()
            .unwrap_or_else(|| Layout::new(shape, opts.snaplen, arrays));
        let agreed = self.data_layouts.by_shape.contains_key(&shape);
        let source = Source::Uprobe { func };
        let spec = PostSpec {
            syscall,
            arg: DATA_ARG,
        };
        let limit = opts.snaplen;
        loop {
            let fetch = io_data::fetch_text(&layout, reg, ret_reg);
            let point = Point {
                obj,
                offset: at,
                fetch: &fetch,
                label: name,
                source,
            };
            let made = self.add_point(tracefs, path, point, |ev, fmt| {
                ProbeDecoder::new_data(ev, fmt, source, spec, limit)
            })?;
            let Err(err) = made else { break };
            let retry = match err.raw_os_error() {
                _ if agreed => None,
                Some(libc::E2BIG) => layout.shrink(),
                // No array fetch types on this kernel: the u64 series from now on.
                Some(libc::EINVAL) if layout.arrays => {
                    self.data_layouts.arrays = Some(false);
                    Some(Layout::new(shape, opts.snaplen, false))
                }
                _ => None,
            };
            match retry {
                Some(l) => layout = l,
                None => {
                    if !agreed {
                        self.data_layouts.refused.insert(shape);
                    }
                    self.skipped.push(Skipped {
                        what: format!("data uprobe {func} ({syscall}) in {}", obj.display()),
                        why: err.to_string(),
                    });
                    return Ok(());
                }
            }
        }
        if layout.arrays {
            self.data_layouts.arrays = Some(true);
        }
        self.data_layouts.by_shape.insert(shape, layout);
        Ok(())
    }
}
