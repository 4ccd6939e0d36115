//! The text of fetch arguments: how a probe definition says where a value lies and what
//! type it is. No I/O; installation writes these strings into tracefs.

use super::catalog::ValueKind;
use super::record::field_names;

/// Fetch args text for a value read through `base` (a register or `$field`). `user`:
/// memory dereferences need the `u` prefix (kernel-side probes reading user memory).
pub fn fetch_args(name: &str, kind: ValueKind, base: &str, user: bool) -> String {
    let u = if user { "u" } else { "" };
    match kind {
        ValueKind::Path => format!("{name}=+{u}0({base}):ustring"),
        ValueKind::Argv => field_names(name, kind)
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n}=+{u}0(+{u}{}({base})):ustring", 8 * i))
            .collect::<Vec<_>>()
            .join(" "),
        ValueKind::SockAddr => {
            let n = field_names(name, kind);
            format!(
                "{}=+{u}0({base}):u64 {}=+{u}8({base}):u64 {}=+{u}16({base}):u64 {}=+{u}24({base}):u64 {}=+{u}2({base}):ustring",
                n[0], n[1], n[2], n[3], n[4]
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::catalog::ValueKind;

    #[test]
    fn fetch_args_text() {
        assert_eq!(
            fetch_args("path", ValueKind::Path, "%di", false),
            "path=+0(%di):ustring"
        );
        assert_eq!(
            fetch_args("a1", ValueKind::Path, "$filename", true),
            "a1=+u0($filename):ustring"
        );
        let s = fetch_args("addr", ValueKind::SockAddr, "%si", false);
        assert!(
            s.starts_with("addr_0=+0(%si):u64 addr_1=+8(%si):u64"),
            "{s}"
        );
        assert!(s.ends_with("addr_un=+2(%si):ustring"), "{s}");
    }
}
