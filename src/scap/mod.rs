//! sysdig's capture files (`.scap`): read into tpdig's event model, written for sysdig.
//!
//! Two ecosystems already hold sysdig captures (support bundles, Falco test suites,
//! incident archives) and tools that read them. This module is the file format only, free
//! of I/O: [`gzip`] unwraps `sysdig -z` files, [`blocks`] frames the pcapng-style blocks,
//! [`lists`] and [`events`] decode their contents, [`table`] is sysdig's event table by
//! id, [`stored`] is the compact form of one event's parameters that tpdig's records
//! carry, [`render`] prints those parameters as sysdig does, and [`writer`] encodes a
//! capture. `formats/scap.md` specifies what is read and written.
//!
//! Every parser takes bytes and returns [`ScapError`] values carrying the byte offset;
//! [`read_all`] is the fuzzable entry point over a whole file.

pub mod blocks;
pub mod error;
pub mod events;
#[rustfmt::skip]
mod gen_table;
pub mod gzip;
pub mod lists;
pub mod render;
pub mod state;
pub mod stored;
pub mod table;
pub mod writer;

pub use error::ScapError;

/// The sysdig parameters an event read from a .scap file carries (None for tpdig's own).
pub fn stored_of<'a>(ev: &crate::decode::Event<'a>) -> Option<stored::Stored<'a>> {
    stored::Stored::parse(ev.tp.scap_params.as_ref()?.bytes(ev.raw)?)
}

/// Whether `head` (the first bytes of a file) is a sysdig capture: the section header
/// block's type, or gzip (which `sysdig -z` writes; the content is checked once inflated).
pub fn looks_like_scap(head: &[u8]) -> bool {
    head.starts_with(&blocks::SHB_TYPE.to_le_bytes()) || gzip::is_gzip(head)
}

/// Everything a whole capture holds, decoded: the entry point for fuzzing and tests.
#[derive(Debug, Default)]
pub struct Capture<'a> {
    pub machine: Option<lists::Machine>,
    pub procs: Vec<lists::Proc>,
    pub fds: Vec<(u64, lists::Fd)>,
    pub users: Vec<lists::User>,
    pub groups: Vec<lists::Group>,
    pub events: Vec<events::ScapEvent<'a>>,
    /// Events of ids this table does not know (a newer sysdig), skipped as sysdig skips them.
    pub unknown_events: u64,
    /// Blocks of types this reader does not know, skipped.
    pub unknown_blocks: u64,
}

/// Decodes every block of an uncompressed capture.
pub fn read_all(data: &[u8]) -> Result<Capture<'_>, ScapError> {
    let mut cap = Capture::default();
    for b in blocks::Blocks::open(data)? {
        let b = b?;
        match lists::Content::of(&b)? {
            lists::Content::Machine(m) => cap.machine = Some(m),
            lists::Content::Procs(p) => cap.procs.extend(p),
            lists::Content::Fds(tid, f) => cap.fds.extend(f.into_iter().map(|f| (tid, f))),
            lists::Content::Users(u, g) => {
                cap.users.extend(u);
                cap.groups.extend(g);
            }
            lists::Content::Event => match events::ScapEvent::parse(&b)? {
                Some(e) => cap.events.push(e),
                None => cap.unknown_events += 1,
            },
            lists::Content::Interfaces | lists::Content::Section => {}
            lists::Content::Unknown => cap.unknown_blocks += 1,
        }
    }
    Ok(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &str = "../shared/scap-samples";

    fn sample(name: &str) -> Vec<u8> {
        let f = std::fs::read(format!("{SAMPLES}/{name}.scap")).expect("sample");
        gzip::inflate(&f, 1 << 30).expect("gzip").data
    }

    #[test]
    fn every_sample_decodes_with_its_process_list_and_events() {
        // (sample, events in the file, as counted by walking the blocks by hand)
        for (name, events) in [
            ("cat_write", 345),
            ("connect_localhost", 374),
            ("empty", 143),
            ("open-multiple-files", 1272),
            ("ping_sendto", 1526),
            ("syscall", 368),
        ] {
            let data = sample(name);
            let cap = read_all(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(cap.events.len(), events, "{name}");
            assert!(!cap.procs.is_empty(), "{name}: process list");
            assert!(!cap.fds.is_empty(), "{name}: fd lists");
            assert!(!cap.users.is_empty(), "{name}: users");
            assert!(cap.machine.is_some(), "{name}: machine info");
            assert_eq!(cap.unknown_blocks, 0, "{name}");
        }
    }

    #[test]
    fn old_format_events_get_their_parameter_count_from_the_length() {
        let data = sample("cat_write");
        let cap = read_all(&data).unwrap();
        let open_x = cap
            .events
            .iter()
            .find(|e| table::info(e.etype).unwrap().name == "open" && e.etype & 1 == 1)
            .unwrap();
        assert_eq!(open_x.params.len(), 4);
        assert_eq!(open_x.params.get(1).unwrap(), b"/etc/ld.so.cache\0");
    }

    #[test]
    fn a_cut_capture_names_the_offset() {
        let data = sample("syscall");
        let cut = &data[..data.len() - 10];
        let err = read_all(cut).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(err.offset > 0 && err.offset < data.len() as u64);
    }

    #[test]
    fn other_files_are_not_taken_for_captures() {
        let err = read_all(b"TPDIGCAP........").unwrap_err();
        assert_eq!(err.offset, 0);
        assert!(looks_like_scap(&[0x0a, 0x0d, 0x0d, 0x0a]));
        assert!(!looks_like_scap(b"TPDIGCAP"));
    }
}
