//! One ELF file's function symbols, for naming user addresses.
//!
//! A user address becomes a file offset through its mapping, and a file offset a virtual
//! address through the `PT_LOAD` segment that holds it; functions are looked up by that
//! address in `.symtab` (when the file kept it) and `.dynsym`. Parsing is the existing
//! bounds-checked reader's ([`crate::probes::elf`]); this only indexes its output.

use crate::probes::elf::{Elf, ElfError, Segment};

/// Functions of one file, sorted by address, and its loadable segments.
#[derive(Clone, Debug, Default)]
pub struct FileSymbols {
    /// (address, size, name); size 0 means "up to the next symbol".
    funcs: Vec<(u64, u64, String)>,
    segments: Vec<Segment>,
}

impl FileSymbols {
    /// Indexes the functions of an ELF image.
    pub fn parse(bytes: &[u8]) -> Result<FileSymbols, ElfError> {
        let elf = Elf::parse(bytes)?;
        let mut funcs: Vec<(u64, u64, String)> = elf
            .symbols()?
            .into_iter()
            .filter(|s| s.is_defined_function() && s.value != 0 && !s.name.is_empty())
            .map(|s| (s.value, s.size, s.name.to_string()))
            .collect();
        // Sorted by address; of aliases at one address, the .symtab/.dynsym order keeps
        // the first (a global name usually precedes its local alias in neither, so any).
        funcs.sort_by_key(|f| f.0);
        funcs.dedup_by_key(|f| f.0);
        Ok(FileSymbols {
            funcs,
            segments: elf.segments.clone(),
        })
    }

    /// The virtual address (as linked) of file offset `off`.
    pub fn offset_to_vaddr(&self, off: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| off >= s.offset && off - s.offset < s.filesz.max(s.memsz))
            .map(|s| off - s.offset + s.vaddr)
    }

    /// The function holding link-time address `vaddr`, and the offset into it.
    pub fn lookup(&self, vaddr: u64) -> Option<(&str, u64)> {
        let i = self.funcs.partition_point(|f| f.0 <= vaddr);
        let (addr, size, name) = self.funcs.get(i.checked_sub(1)?)?;
        let off = vaddr - addr;
        (*size == 0 || off < *size).then_some((name.as_str(), off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_functions_of_the_running_binary() {
        // This test binary itself: its symbol table has this very function.
        let bytes = std::fs::read("/proc/self/exe").unwrap();
        let syms = FileSymbols::parse(&bytes).unwrap();
        let me = names_functions_of_the_running_binary as *const () as usize as u64;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let m = super::super::maps::parse_proc_maps(&maps)
            .into_iter()
            .find(|m| m.path == exe.to_string_lossy() && m.start <= me && me < m.end)
            .expect("the test's own code mapping");
        let vaddr = syms.offset_to_vaddr(m.file_offset(me)).unwrap();
        let (name, off) = syms.lookup(vaddr).unwrap();
        assert!(
            name.contains("names_functions_of_the_running_binary"),
            "{name}"
        );
        assert_eq!(off, 0);
        assert!(FileSymbols::parse(b"not an elf").is_err());
    }
}
