//! `/proc/kallsyms`: kernel function addresses, for naming kernel frames.
//!
//! Lines are `ADDRESS TYPE NAME [MODULE]`. Only text symbols (t/T, w/W) are kept. When
//! `kptr_restrict` hides addresses every line reads 0: the table is then empty and
//! kernel frames keep their bare addresses.

/// Kernel text symbols sorted by address.
#[derive(Clone, Debug, Default)]
pub struct Kallsyms {
    syms: Vec<(u64, String)>,
}

impl Kallsyms {
    /// Parses the text of `/proc/kallsyms`; malformed lines are skipped.
    pub fn parse(text: &str) -> Kallsyms {
        let mut syms: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.split_ascii_whitespace();
                let addr = u64::from_str_radix(it.next()?, 16).ok()?;
                let kind = it.next()?;
                let name = it.next()?;
                (addr != 0 && matches!(kind, "t" | "T" | "w" | "W"))
                    .then(|| (addr, name.to_string()))
            })
            .collect();
        syms.sort_unstable_by_key(|s| s.0);
        Kallsyms { syms }
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The function holding `ip` and the offset into it.
    pub fn lookup(&self, ip: u64) -> Option<(&str, u64)> {
        let i = self.syms.partition_point(|s| s.0 <= ip);
        let (addr, name) = self.syms.get(i.checked_sub(1)?)?;
        Some((name.as_str(), ip - addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_enclosing_text_symbol() {
        let k = Kallsyms::parse(
            "ffffffff81000000 T _stext\nffffffff81001000 t ksys_write\nffffffff81002000 D some_data\nbad line\nffffffff81003000 T vfs_write\t[ext4]\n",
        );
        assert_eq!(k.lookup(0xffffffff81001010), Some(("ksys_write", 0x10)));
        assert_eq!(k.lookup(0xffffffff81002010), Some(("ksys_write", 0x1010)));
        assert_eq!(k.lookup(0xffffffff81003000), Some(("vfs_write", 0)));
        assert_eq!(k.lookup(0x1000), None);
        assert!(Kallsyms::parse("0000000000000000 T hidden\n").is_empty());
    }
}
