//! errno names and the exit-line result rendering.
//!
//! The names are the asm-generic ones (x86, arm64, riscv share them) plus the
//! kernel-internal codes (512..) that `sys_exit` shows when a syscall is restarted,
//! as sysdig displays them.

use super::gen_errno::ERRNO;

/// Largest value the kernel returns as `-errno` (`MAX_ERRNO`).
const MAX_ERRNO: i64 = 4095;

/// The symbolic name of errno `e` (positive: `2` → `ENOENT`).
pub fn errno_name(e: i64) -> Option<&'static str> {
    let e = u16::try_from(e).ok()?;
    ERRNO
        .binary_search_by_key(&e, |(n, _)| *n)
        .ok()
        .map(|i| ERRNO[i].1)
}

/// Appends a syscall result as sysdig shows it: `3`, or `-2(ENOENT)` when `ret` is
/// a negative errno with a known name; anything else (an address returned by mmap,
/// an unknown code) as a plain decimal.
pub fn format_res(ret: i64, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(out, "{ret}");
    if (-MAX_ERRNO..0).contains(&ret)
        && let Some(n) = errno_name(-ret)
    {
        out.push('(');
        out.push_str(n);
        out.push(')');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(r: i64) -> String {
        let mut s = String::new();
        format_res(r, &mut s);
        s
    }

    #[test]
    fn names() {
        assert_eq!(errno_name(2), Some("ENOENT"));
        assert_eq!(errno_name(13), Some("EACCES"));
        assert_eq!(errno_name(110), Some("ETIMEDOUT"));
        assert_eq!(errno_name(11), Some("EAGAIN")); // not the EWOULDBLOCK alias
        assert_eq!(errno_name(35), Some("EDEADLK")); // not EDEADLOCK
        assert_eq!(errno_name(133), Some("EHWPOISON"));
        assert_eq!(errno_name(512), Some("ERESTARTSYS"));
        assert_eq!(errno_name(516), Some("ERESTART_RESTARTBLOCK"));
        assert_eq!(errno_name(517), Some("EPROBE_DEFER"));
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(-2), None);
        assert_eq!(errno_name(4000), None);
        assert_eq!(errno_name(65536 + 2), None);
    }

    #[test]
    fn results() {
        assert_eq!(res(3), "3");
        assert_eq!(res(0), "0");
        assert_eq!(res(-2), "-2(ENOENT)");
        assert_eq!(res(-512), "-512(ERESTARTSYS)");
        assert_eq!(res(-4000), "-4000"); // in range, no name
        assert_eq!(res(-5000), "-5000"); // not an errno
        assert_eq!(res(i64::MIN), i64::MIN.to_string());
    }
}
