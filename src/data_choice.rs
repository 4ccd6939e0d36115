//! Whether a run copies I/O data, which calls' data, and how it is shown.
//!
//! Copying a call's data costs a probe hit per read or write, so it is on only when
//! something asks for it, as the flags say: `-s`, `-A`, `-x`, `-X`, `-b`, a filter or a
//! `-p` format that reads the data (`evt.buffer`, `evt.arg.data`, `evt.rawarg.data`), or
//! a chisel that sets a snap length. When the filter allows only some event types, only
//! those calls' data is copied. A capture read back shows what it stored.

use crate::filter::{Expr, FieldRef};
use crate::params::bytebuf::{DEFAULT_MAX_LEN, DEFAULT_SNAPLEN};
use crate::params::{BufferFormat, DataRendering};
use crate::probes::DataOptions;
use crate::probes::io_data::DATA_CALLS;

/// What the command line says about data.
#[derive(Clone, Debug, Default)]
pub struct DataRequest {
    pub snaplen: Option<usize>,
    pub format: BufferFormat,
    /// `-v` or `-j`: data is not cut on the line.
    pub uncut: bool,
    /// A chisel's `set_snaplen`.
    pub chisel_snaplen: Option<usize>,
    /// The filter or `-p` reads the data.
    pub fields_use_data: bool,
    /// Force the `u64` series (`--compat no-array-fetch`).
    pub no_arrays: bool,
}

/// Whether a field reads a call's data.
pub fn reads_data(f: &FieldRef) -> bool {
    f.name == "evt.buffer"
        || (matches!(f.name.as_str(), "evt.arg" | "evt.rawarg") && f.arg.as_deref() == Some("data"))
}

/// Whether any field the filter tests reads the data.
pub fn filter_reads_data(e: &Expr) -> bool {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => filter_reads_data(a) || filter_reads_data(b),
        Expr::Not(a) => filter_reads_data(a),
        Expr::Check(c) => reads_data(&c.field),
    }
}

impl DataRequest {
    fn wanted(&self) -> bool {
        self.snaplen.is_some_and(|s| s > 0)
            || self.format != BufferFormat::Normal
            || self.chisel_snaplen.is_some()
            || self.fields_use_data
    }

    fn snaplen(&self) -> usize {
        self.snaplen
            .or(self.chisel_snaplen)
            .unwrap_or(DEFAULT_SNAPLEN)
    }

    /// How data is shown; `captured`: the run copies it (live) or reads a capture that
    /// stored it.
    pub fn rendering(&self, captured: bool) -> DataRendering {
        DataRendering {
            format: self.format,
            snaplen: self.snaplen.unwrap_or(usize::MAX),
            max_len: if self.uncut { 0 } else { DEFAULT_MAX_LEN },
            captured,
        }
    }

    /// Live: the data probes to place (None: no data copied) and how data is shown.
    /// `filter` restricts the calls to the event types it allows.
    pub fn live(&self, filter: Option<&Expr>) -> (Option<DataOptions>, DataRendering) {
        if !self.wanted() {
            return (None, DataRendering::default());
        }
        let mut opts = DataOptions::new(self.snaplen());
        opts.arrays = !self.no_arrays;
        if let Some(types) = filter.and_then(crate::filter::pushdown::event_types) {
            opts.calls = Some(
                DATA_CALLS
                    .iter()
                    .map(|c| c.syscall)
                    .filter(|k| types.contains(crate::params::event_name(k)))
                    .map(str::to_string)
                    .collect(),
            );
        }
        let mut r = self.rendering(true);
        r.snaplen = opts.snaplen;
        (Some(opts), r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Catalog;

    fn expr(t: &str) -> Expr {
        crate::filter::parse(t, &Catalog).unwrap()
    }

    #[test]
    fn data_only_when_asked() {
        let r = DataRequest::default();
        assert!(r.live(None).0.is_none());
        let r = DataRequest {
            format: BufferFormat::Ascii,
            ..Default::default()
        };
        assert_eq!(r.live(None).0.unwrap().snaplen, 80);
        let r = DataRequest {
            snaplen: Some(0),
            ..Default::default()
        };
        assert!(r.live(None).0.is_none());
    }

    #[test]
    fn filter_on_the_buffer_asks_for_data_of_its_types_only() {
        let e = expr("evt.type in (read, pwrite) and evt.buffer contains GET");
        assert!(filter_reads_data(&e));
        assert!(!filter_reads_data(&expr("evt.arg.fd=3")));
        assert!(filter_reads_data(&expr("evt.rawarg.data contains x")));
        let r = DataRequest {
            fields_use_data: true,
            snaplen: Some(2000),
            ..Default::default()
        };
        let (o, rend) = r.live(Some(&e));
        let o = o.unwrap();
        assert_eq!(o.calls.unwrap(), vec!["read", "pwrite64"]);
        assert_eq!((o.snaplen, rend.snaplen, rend.captured), (2000, 2000, true));
    }
}
