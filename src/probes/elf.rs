//! ELF64 little-endian symbol reader: function name → file offset, for uprobe definitions.
//!
//! A uprobe is placed at `<path>:<file offset>`, not at a virtual address, so the reader
//! needs the symbol tables (`.dynsym` for shared objects, `.symtab` too when a static
//! binary kept it) and the `PT_LOAD` segments that map addresses back to file offsets.
//! Nothing else of the file is interpreted.
//!
//! The input is whatever file a process has mapped, so every length, offset and index is
//! checked; a malformed file gives an [`ElfError`] with the byte offset of the bad
//! structure, never a panic (the mutation test in this module feeds it truncated and
//! bit-flipped copies of the system's C library). No I/O: the caller reads the bytes.
//!
//! Versioned symbols: a shared object may define one name several times (glibc's
//! `posix_spawn@GLIBC_2.2.5` and `posix_spawn@@GLIBC_2.15`). `.gnu.version` marks the
//! non-default ones hidden; [`Elf::functions`] prefers the default definition.
//!
//! Code: [`Elf::function_bytes`] gives a symbol's code and [`Elf::code_at`] any loaded
//! range; [`Elf::function_ranges`] the functions the unwind tables describe (for the
//! stripped loader; see [`eh_frame`](super::eh_frame)). Finding instructions in them is
//! [`x86`](super::x86)'s job.

use std::fmt;

/// What is wrong with the file, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfError {
    /// Byte offset in the file of the structure that is bad.
    pub offset: u64,
    pub message: String,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ELF byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for ElfError {}

fn err<T>(offset: u64, message: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError {
        offset,
        message: message.into(),
    })
}

/// `e_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfType {
    /// ET_EXEC: a non-PIE executable.
    Exec,
    /// ET_DYN: a shared object or a PIE (static-pie included).
    Dyn,
    Other(u16),
}

/// A `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    /// PF_X | PF_W | PF_R bits.
    pub flags: u32,
}

/// One symbol-table entry, with its name resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub name: &'a str,
    pub value: u64,
    pub size: u64,
    /// STT_* (2 = FUNC, 10 = GNU_IFUNC).
    pub kind: u8,
    /// STB_* (0 = LOCAL, 1 = GLOBAL, 2 = WEAK).
    pub bind: u8,
    pub shndx: u16,
    /// From `.dynsym` (else `.symtab`).
    pub dynamic: bool,
    /// A non-default version (`.gnu.version` hidden bit).
    pub hidden_version: bool,
}

impl Symbol<'_> {
    /// A defined function (STT_FUNC in a real section).
    pub fn is_defined_function(&self) -> bool {
        self.kind == STT_FUNC && self.shndx != SHN_UNDEF && self.shndx < SHN_LORESERVE
    }
}

const STT_FUNC: u8 = 2;
const SHN_UNDEF: u16 = 0;
const SHN_LORESERVE: u16 = 0xff00;
const SHT_SYMTAB: u32 = 2;
const SHT_DYNSYM: u32 = 11;
const SHT_GNU_VERSYM: u32 = 0x6fff_ffff;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_GNU_EH_FRAME: u32 = 0x6474_e550;
const SYM_SIZE: u64 = 24;

/// A section header (only what the reader needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Section {
    /// Where the header itself sits, for error messages.
    at: u64,
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
    entsize: u64,
}

/// A parsed ELF64 little-endian file, borrowing its bytes.
#[derive(Debug)]
pub struct Elf<'a> {
    bytes: &'a [u8],
    pub elf_type: ElfType,
    pub machine: u16,
    pub segments: Vec<Segment>,
    /// `PT_GNU_EH_FRAME`: where `.eh_frame_hdr` is (the unwind tables' index).
    pub eh_frame_hdr: Option<Segment>,
    /// A `PT_INTERP` header names a dynamic loader (absent in static executables and in
    /// shared objects).
    pub interp: bool,
    sections: Vec<Section>,
}

/// Bounds-checked little-endian reads at a file offset.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn get(&self, at: u64, n: usize, what: &str) -> Result<&'a [u8], ElfError> {
        let start = usize::try_from(at).ok();
        match start.and_then(|s| self.0.get(s..s.checked_add(n)?)) {
            Some(b) => Ok(b),
            None => err(at, format!("{what} runs past the end of the file")),
        }
    }
    fn u16(&self, at: u64, what: &str) -> Result<u16, ElfError> {
        let b = self.get(at, 2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&self, at: u64, what: &str) -> Result<u32, ElfError> {
        let b = self.get(at, 4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&self, at: u64, what: &str) -> Result<u64, ElfError> {
        let b = self.get(at, 8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

impl<'a> Elf<'a> {
    /// Parses the file header, program headers and section headers.
    pub fn parse(bytes: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        let r = Reader(bytes);
        let ident = r.get(0, 16, "ELF identification")?;
        if &ident[..4] != b"\x7fELF" {
            return err(0, "not an ELF file (bad magic)");
        }
        if ident[4] != 2 {
            return err(4, format!("ELF class {} (only ELF64 is read)", ident[4]));
        }
        if ident[5] != 1 {
            return err(
                5,
                format!("data encoding {} (only little-endian)", ident[5]),
            );
        }
        let elf_type = match r.u16(16, "e_type")? {
            2 => ElfType::Exec,
            3 => ElfType::Dyn,
            t => ElfType::Other(t),
        };
        let machine = r.u16(18, "e_machine")?;
        let phoff = r.u64(32, "e_phoff")?;
        let shoff = r.u64(40, "e_shoff")?;
        let phentsize = r.u16(54, "e_phentsize")? as u64;
        let phnum = r.u16(56, "e_phnum")? as u64;
        let shentsize = r.u16(58, "e_shentsize")? as u64;
        let shnum = r.u16(60, "e_shnum")? as u64;

        let mut segments = Vec::new();
        let mut eh_frame_hdr = None;
        let mut interp = false;
        if phnum > 0 {
            if phentsize < 56 {
                return err(54, format!("e_phentsize {phentsize} is below 56"));
            }
            for i in 0..phnum {
                let at = table_entry(phoff, i, phentsize, "program header")?;
                let kind = r.u32(at, "program header")?;
                interp |= kind == PT_INTERP;
                if kind != PT_LOAD && kind != PT_GNU_EH_FRAME {
                    continue;
                }
                let seg = Segment {
                    flags: r.u32(at + 4, "p_flags")?,
                    offset: r.u64(at + 8, "p_offset")?,
                    vaddr: r.u64(at + 16, "p_vaddr")?,
                    filesz: r.u64(at + 32, "p_filesz")?,
                    memsz: r.u64(at + 40, "p_memsz")?,
                };
                if seg.offset.checked_add(seg.filesz).is_none()
                    || seg.vaddr.checked_add(seg.memsz).is_none()
                {
                    return err(at, "PT_LOAD segment wraps around");
                }
                if kind == PT_GNU_EH_FRAME {
                    eh_frame_hdr = Some(seg);
                } else {
                    segments.push(seg);
                }
            }
        }

        let mut sections = Vec::new();
        if shnum > 0 {
            if shentsize < 64 {
                return err(58, format!("e_shentsize {shentsize} is below 64"));
            }
            for i in 0..shnum {
                let at = table_entry(shoff, i, shentsize, "section header")?;
                sections.push(Section {
                    at,
                    kind: r.u32(at + 4, "sh_type")?,
                    offset: r.u64(at + 24, "sh_offset")?,
                    size: r.u64(at + 32, "sh_size")?,
                    link: r.u32(at + 40, "sh_link")?,
                    entsize: r.u64(at + 56, "sh_entsize")?,
                });
            }
        }
        Ok(Elf {
            bytes,
            elf_type,
            machine,
            segments,
            eh_frame_hdr,
            interp,
            sections,
        })
    }

    /// The file offset that virtual address `vaddr` is loaded from: the `PT_LOAD` segment
    /// whose file-backed part holds it. `None` for addresses outside every segment (or in
    /// the zero-filled tail of one).
    pub fn vaddr_to_offset(&self, vaddr: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz)
            .map(|s| vaddr - s.vaddr + s.offset)
    }

    /// Every symbol of `.dynsym` and `.symtab`, names resolved through their linked string
    /// tables. Entries whose name is not valid UTF-8 are skipped; a table or name that lies
    /// outside the file is an error.
    pub fn symbols(&self) -> Result<Vec<Symbol<'a>>, ElfError> {
        let r = Reader(self.bytes);
        let mut out = Vec::new();
        for sec in &self.sections {
            let dynamic = match sec.kind {
                SHT_DYNSYM => true,
                SHT_SYMTAB => false,
                _ => continue,
            };
            if sec.entsize != SYM_SIZE {
                return err(
                    sec.at + 56,
                    format!("symbol table entry size {} (expected 24)", sec.entsize),
                );
            }
            let count = sec.size / SYM_SIZE;
            r.get(
                sec.offset,
                usize::try_from(sec.size).unwrap_or(usize::MAX),
                "symbol table",
            )?;
            let Some(strtab) = self.sections.get(sec.link as usize) else {
                return err(
                    sec.at + 40,
                    format!("sh_link {} names no section", sec.link),
                );
            };
            let strings = r.get(
                strtab.offset,
                usize::try_from(strtab.size).unwrap_or(usize::MAX),
                "string table",
            )?;
            // The version table of .dynsym, when present and the same length.
            let versym = if dynamic {
                self.sections
                    .iter()
                    .find(|s| s.kind == SHT_GNU_VERSYM && s.size / 2 == count)
                    .and_then(|s| {
                        r.get(s.offset, usize::try_from(s.size).ok()?, "version table")
                            .ok()
                    })
            } else {
                None
            };
            for i in 0..count {
                let at = sec.offset + i * SYM_SIZE;
                let name_off = r.u32(at, "st_name")? as usize;
                let info = r.get(at + 4, 1, "st_info")?[0];
                let shndx = r.u16(at + 6, "st_shndx")?;
                let value = r.u64(at + 8, "st_value")?;
                let size = r.u64(at + 16, "st_size")?;
                let Some(tail) = strings.get(name_off..) else {
                    return err(
                        at,
                        format!("symbol name offset {name_off} is outside its string table"),
                    );
                };
                let Some(end) = tail.iter().position(|&b| b == 0) else {
                    return err(at, "symbol name is not NUL-terminated");
                };
                let Ok(name) = std::str::from_utf8(&tail[..end]) else {
                    continue;
                };
                let hidden_version = versym
                    .and_then(|v| v.get(i as usize * 2..i as usize * 2 + 2))
                    .is_some_and(|b| u16::from_le_bytes([b[0], b[1]]) & 0x8000 != 0);
                out.push(Symbol {
                    name,
                    value,
                    size,
                    kind: info & 0xf,
                    bind: info >> 4,
                    shndx,
                    dynamic,
                    hidden_version,
                });
            }
        }
        Ok(out)
    }

    /// The file offsets of the defined functions named in `names`, in `names` order (names
    /// not defined are left out). A default-versioned dynamic definition wins over a
    /// hidden-version one, which wins over `.symtab`.
    pub fn functions(&self, names: &[&str]) -> Result<Vec<FunctionSite>, ElfError> {
        let syms = self.symbols()?;
        let mut out = Vec::new();
        for &want in names {
            let best = syms
                .iter()
                .filter(|s| s.name == want && s.is_defined_function())
                .min_by_key(|s| (!s.dynamic, s.hidden_version));
            if let Some(s) = best
                && let Some(offset) = self.vaddr_to_offset(s.value)
            {
                out.push(FunctionSite {
                    name: want.to_string(),
                    vaddr: s.value,
                    offset,
                    size: s.size,
                });
            }
        }
        Ok(out)
    }

    /// The code of a function (`st_size` bytes from its address), when all of it lies in
    /// the file-backed part of one `PT_LOAD` segment. `None` otherwise (and for size 0).
    pub fn function_bytes(&self, f: &FunctionSite) -> Option<&'a [u8]> {
        self.code_at(f.vaddr, f.size)
    }

    /// The `len` bytes loaded at `vaddr`, when all of them lie in the file-backed part of
    /// one `PT_LOAD` segment. `None` otherwise (and for `len` 0).
    pub fn code_at(&self, vaddr: u64, len: u64) -> Option<&'a [u8]> {
        if len == 0 {
            return None;
        }
        let seg = self.segments.iter().find(|s| {
            vaddr >= s.vaddr
                && (vaddr - s.vaddr)
                    .checked_add(len)
                    .is_some_and(|end| end <= s.filesz)
        })?;
        let start = usize::try_from(vaddr - seg.vaddr + seg.offset).ok()?;
        let len = usize::try_from(len).ok()?;
        self.bytes.get(start..start.checked_add(len)?)
    }

    /// The functions `.eh_frame` describes (see [`eh_frame`](super::eh_frame)).
    pub fn function_ranges(&self) -> Result<Vec<super::eh_frame::FunctionRange>, ElfError> {
        super::eh_frame::function_ranges(self)
    }

    /// The bytes loaded from `vaddr` to the end of its segment's file-backed part.
    pub fn bytes_from(&self, vaddr: u64) -> Option<&'a [u8]> {
        let seg = self
            .segments
            .iter()
            .find(|s| vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz)?;
        let start = usize::try_from(vaddr - seg.vaddr + seg.offset).ok()?;
        let end = usize::try_from(seg.offset.checked_add(seg.filesz)?).ok()?;
        self.bytes.get(start..end)
    }
}

/// Where a function is: its address, the file offset a uprobe takes, and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSite {
    pub name: String,
    pub vaddr: u64,
    pub offset: u64,
    /// `st_size` (0 when the symbol does not say).
    pub size: u64,
}

fn table_entry(base: u64, i: u64, size: u64, what: &str) -> Result<u64, ElfError> {
    match i.checked_mul(size).and_then(|o| base.checked_add(o)) {
        // Leave room for the largest field read inside an entry.
        Some(at) if at.checked_add(size).is_some() => Ok(at),
        _ => err(base, format!("{what} table offset overflows")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::x86::{SyscallSite, syscall_sites};
    use super::*;

    const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

    fn libc() -> Option<Vec<u8>> {
        match std::fs::read(LIBC) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("skipped: {LIBC}: {e}");
                None
            }
        }
    }

    /// A minimal ELF64 shared object: one PT_LOAD (file 0x1000 ↦ vaddr 0x401000), a
    /// `.dynsym` with `open64` (FUNC, vaddr 0x401234) and `data` (OBJECT), a `.dynstr`.
    pub(crate) fn tiny_elf() -> Vec<u8> {
        let mut f = vec![0u8; 0x2000];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        let put16 =
            |f: &mut Vec<u8>, at: usize, v: u16| f[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |f: &mut Vec<u8>, at: usize, v: u32| f[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let put64 =
            |f: &mut Vec<u8>, at: usize, v: u64| f[at..at + 8].copy_from_slice(&v.to_le_bytes());
        put16(&mut f, 16, 3);
        put16(&mut f, 18, 62);
        put64(&mut f, 32, 64); // phoff
        put64(&mut f, 40, 0x200); // shoff
        put16(&mut f, 54, 56);
        put16(&mut f, 56, 1);
        put16(&mut f, 58, 64);
        put16(&mut f, 60, 3);
        // PT_LOAD
        put32(&mut f, 64, 1);
        put32(&mut f, 68, 5);
        put64(&mut f, 72, 0x1000);
        put64(&mut f, 80, 0x401000);
        put64(&mut f, 96, 0x1000);
        put64(&mut f, 104, 0x1000);
        // section 1: .dynsym at 0x400, 3 entries, link 2
        let s1 = 0x200 + 64;
        put32(&mut f, s1 + 4, SHT_DYNSYM);
        put64(&mut f, s1 + 24, 0x400);
        put64(&mut f, s1 + 32, 3 * 24);
        put32(&mut f, s1 + 40, 2);
        put64(&mut f, s1 + 56, 24);
        // section 2: .dynstr at 0x500
        let s2 = 0x200 + 128;
        put32(&mut f, s2 + 4, 3);
        put64(&mut f, s2 + 24, 0x500);
        put64(&mut f, s2 + 32, 16);
        f[0x500..0x510].copy_from_slice(b"\0open64\0data\0\0\0\0");
        // sym 1: open64 FUNC GLOBAL, shndx 1
        let y1 = 0x400 + 24;
        put32(&mut f, y1, 1);
        f[y1 + 4] = (1 << 4) | 2;
        put16(&mut f, y1 + 6, 1);
        put64(&mut f, y1 + 8, 0x401234);
        put64(&mut f, y1 + 16, 16);
        // sym 2: data OBJECT
        let y2 = 0x400 + 48;
        put32(&mut f, y2, 8);
        f[y2 + 4] = (1 << 4) | 1;
        put16(&mut f, y2 + 6, 1);
        put64(&mut f, y2 + 8, 0x401300);
        f
    }

    #[test]
    fn tiny_elf_maps_a_function_to_its_file_offset() {
        let f = tiny_elf();
        let e = Elf::parse(&f).unwrap();
        assert_eq!(e.elf_type, ElfType::Dyn);
        assert_eq!(e.vaddr_to_offset(0x401234), Some(0x1234));
        assert_eq!(e.vaddr_to_offset(0x400fff), None);
        assert_eq!(e.vaddr_to_offset(0x402000), None);
        let fs = e.functions(&["open64", "data", "missing"]).unwrap();
        assert_eq!(
            fs,
            vec![FunctionSite {
                name: "open64".into(),
                vaddr: 0x401234,
                offset: 0x1234,
                size: 16,
            }]
        );
    }

    #[test]
    fn bad_headers_are_errors_with_offsets() {
        let f = tiny_elf();
        assert_eq!(Elf::parse(&f[..10]).unwrap_err().offset, 0);
        let mut g = f.clone();
        g[4] = 1;
        assert_eq!(Elf::parse(&g).unwrap_err().offset, 4);
        let mut g = f.clone();
        g[5] = 2;
        assert_eq!(Elf::parse(&g).unwrap_err().offset, 5);
        // Symbol table pointing past the end.
        let mut g = f.clone();
        g[0x200 + 64 + 24..0x200 + 64 + 32].copy_from_slice(&0x1_0000u64.to_le_bytes());
        let e = Elf::parse(&g).unwrap().symbols().unwrap_err();
        assert_eq!(e.offset, 0x1_0000, "{e}");
        // Name offset outside the string table.
        let mut g = f.clone();
        g[0x400 + 24..0x400 + 28].copy_from_slice(&999u32.to_le_bytes());
        let e = Elf::parse(&g).unwrap().symbols().unwrap_err();
        assert_eq!(e.offset, 0x400 + 24, "{e}");
        // Section headers past the end.
        assert!(Elf::parse(&f[..0x200 + 100]).is_err());
    }

    #[test]
    fn system_libc_offsets_match_its_dynamic_symbols() {
        let Some(bytes) = libc() else { return };
        let e = Elf::parse(&bytes).unwrap();
        assert_eq!(e.machine, 62);
        let syms = e.symbols().unwrap();
        assert!(syms.len() > 1000, "{} symbols", syms.len());
        let fs = e
            .functions(&["open64", "open", "openat64", "__open64_nocancel", "execve"])
            .unwrap();
        assert_eq!(fs.len(), 5, "{fs:?}");
        // open and open64 are one function in glibc on 64-bit.
        assert_eq!(fs[0].offset, fs[1].offset);
        for f in &fs {
            // The offset lies in the executable segment, and its bytes are the function's
            // first instruction bytes: an ENDBR64 (f3 0f 1e fa) on CET-enabled builds or
            // at least not zero padding.
            let seg = e
                .segments
                .iter()
                .find(|s| f.offset >= s.offset && f.offset < s.offset + s.filesz)
                .unwrap();
            assert!(
                seg.flags & 1 != 0,
                "{} is not in an executable segment",
                f.name
            );
            let at = f.offset as usize;
            assert_ne!(&bytes[at..at + 4], &[0, 0, 0, 0]);
        }
        // The default version wins: posix_spawn has two definitions.
        let ps: Vec<_> = syms
            .iter()
            .filter(|s| s.name == "posix_spawn" && s.is_defined_function())
            .collect();
        if ps.len() == 2 {
            let chosen = e.functions(&["posix_spawn"]).unwrap();
            let default = ps.iter().find(|s| !s.hidden_version).unwrap();
            assert_eq!(chosen[0].vaddr, default.value);
        }
    }

    /// Truncations and byte mutations of the real libc never panic; every error names a
    /// byte offset inside (or just past) the file.
    #[test]
    fn truncated_and_mutated_libc_never_panics() {
        let Some(bytes) = libc() else { return };
        let check = |b: &[u8]| match Elf::parse(b) {
            Ok(e) => {
                let _ = e.functions(&["open64", "openat", "connect"]);
                for s in e.symbols().unwrap_or_default().iter().take(5) {
                    let _ = e.vaddr_to_offset(s.value);
                }
            }
            Err(e) => assert!(!e.message.is_empty()),
        };
        for cut in [
            0,
            3,
            16,
            63,
            64,
            200,
            4096,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            check(&bytes[..cut]);
        }
        // Headers and the symbol/string tables are where the parser looks: mutate there.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
        let regions = [
            (0usize, 64usize),
            (64, 0x300),
            (shoff, bytes.len() - shoff),
            (0x8a50, 0x2000),
        ];
        for round in 0..300 {
            let mut g = bytes.clone();
            let (base, len) = regions[round % regions.len()];
            for _ in 0..1 + next() % 4 {
                let at = base + (next() as usize % len.max(1));
                if at < g.len() {
                    g[at] = next() as u8;
                }
            }
            check(&g);
        }
        // Tiny file mutated byte by byte exhaustively.
        let t = tiny_elf();
        for at in 0..0x520 {
            for v in [0u8, 0xff, 0x80] {
                let mut g = t.clone();
                g[at] = v;
                check(&g);
            }
        }
    }

    fn x86_syscall_sites(code: &[u8]) -> Vec<SyscallSite> {
        syscall_sites(code).unwrap_or_default()
    }

    #[test]
    fn function_bytes_stay_inside_the_segment() {
        let f = tiny_elf();
        let e = Elf::parse(&f).unwrap();
        let site = &e.functions(&["open64"]).unwrap()[0];
        assert_eq!(e.function_bytes(site).unwrap().len(), 16);
        let mut past = site.clone();
        past.size = 0x1000;
        assert_eq!(e.function_bytes(&past), None);
        past.size = u64::MAX;
        assert_eq!(e.function_bytes(&past), None);
        past.size = 0;
        assert_eq!(e.function_bytes(&past), None);
    }

    /// The sites found in this machine's libc are `syscall` instructions as objdump
    /// decodes them (when objdump is installed), with the expected numbers.
    #[test]
    fn system_libc_pipe_and_socketpair_sites() {
        let Some(bytes) = libc() else { return };
        let e = Elf::parse(&bytes).unwrap();
        let fs = e.functions(&["pipe", "pipe2", "socketpair"]).unwrap();
        assert_eq!(fs.len(), 3, "{fs:?}");
        for f in &fs {
            let code = e.function_bytes(f).unwrap();
            let sites = x86_syscall_sites(code);
            assert!(!sites.is_empty(), "{}: no site", f.name);
            let want: &[u32] = match f.name.as_str() {
                "pipe" => &[22, 293],
                "pipe2" => &[293],
                _ => &[53],
            };
            for s in &sites {
                assert!(want.contains(&s.nr), "{}: nr {}", f.name, s.nr);
                assert_eq!(&code[s.at..s.at + 2], &[0x0f, 0x05]);
                let vaddr = f.vaddr + s.at as u64;
                let Ok(out) = std::process::Command::new("objdump")
                    .arg("-d")
                    .arg(format!("--start-address={:#x}", f.vaddr))
                    .arg(format!("--stop-address={:#x}", f.vaddr + f.size))
                    .arg(LIBC)
                    .output()
                else {
                    continue;
                };
                let text = String::from_utf8_lossy(&out.stdout);
                let line = text
                    .lines()
                    .find(|l| l.trim_start().starts_with(&format!("{vaddr:x}:")))
                    .unwrap_or_else(|| panic!("{}: {vaddr:#x} is no instruction\n{text}", f.name));
                assert!(line.trim_end().ends_with("syscall"), "{line}");
            }
        }
    }
}
