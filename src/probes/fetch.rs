//! The text of fetch arguments: how a probe definition says where a value lies and what
//! type it is. No I/O; installation writes these strings into tracefs.

use super::catalog::ValueKind;
use super::record::field_names;

/// How a probe reaches the user memory its values lie in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// A uprobe: it runs on the traced thread's own memory; plain dereferences.
    Own,
    /// A kernel-side probe with user fetches: `+u` dereferences and `ustring` (5.5+).
    User,
    /// A kernel-side probe on a kernel without user fetches (before 5.5): plain `+0(..)`
    /// and `string`, which there read user addresses on x86 (one address space, no
    /// separate user fetch yet). Newer x86 kernels still send a user address given to
    /// `string` to the user copy, which is how this form is tested on them.
    PlainUser,
}

/// Fetch args text for a value read through `base` (a register or `$field`).
pub fn fetch_args(name: &str, kind: ValueKind, base: &str, reach: Reach) -> String {
    let (u, string) = match reach {
        Reach::Own => ("", "ustring"),
        Reach::User => ("u", "ustring"),
        Reach::PlainUser => ("", "string"),
    };
    match kind {
        ValueKind::Path => format!("{name}=+{u}0({base}):{string}"),
        ValueKind::Argv => field_names(name, kind)
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n}=+{u}0(+{u}{}({base})):{string}", 8 * i))
            .collect::<Vec<_>>()
            .join(" "),
        ValueKind::SockAddr => {
            let n = field_names(name, kind);
            format!(
                "{}=+{u}0({base}):u64 {}=+{u}8({base}):u64 {}=+{u}16({base}):u64 {}=+{u}24({base}):u64 {}=+{u}2({base}):{string}",
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
            fetch_args("path", ValueKind::Path, "%di", Reach::Own),
            "path=+0(%di):ustring"
        );
        assert_eq!(
            fetch_args("a1", ValueKind::Path, "$filename", Reach::User),
            "a1=+u0($filename):ustring"
        );
        let s = fetch_args("addr", ValueKind::SockAddr, "%si", Reach::Own);
        assert!(
            s.starts_with("addr_0=+0(%si):u64 addr_1=+8(%si):u64"),
            "{s}"
        );
        assert!(s.ends_with("addr_un=+2(%si):ustring"), "{s}");
        assert_eq!(
            fetch_args("p", ValueKind::Path, "+104(%di)", Reach::PlainUser),
            "p=+0(+104(%di)):string"
        );
    }
}
