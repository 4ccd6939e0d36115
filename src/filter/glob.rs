//! Shell-style wildcard matching for the `glob` operator, on bytes: `*` matches any run
//! (including `/`, as fnmatch without FNM_PATHNAME), `?` one byte, `[abc]`, `[a-z]`, `[!x]`
//! or `[^x]` a class, `\c` a literal `c`. Iterative with single-star backtracking, so the
//! cost is bounded by pattern × text.

/// Does `text` match `pat`?
pub fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, len)) = class(&pat[p..], text[t]) {
                        if ok {
                            p += len;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        // An unclosed '[' is a literal.
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pat.len() => {
                    if pat[p + 1] == text[t] {
                        p += 2;
                        t += 1;
                        continue;
                    }
                }
                c => {
                    if c == text[t] {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches one byte against the class at the start of `pat` (which begins with `[`).
/// Returns whether it matched and the class length, or None if the class is unclosed.
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let &lo = pat.get(i)?;
        if lo == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pat[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match as g;

    #[test]
    fn basics() {
        assert!(g(b"*.so", b"/usr/lib/libc.so"));
        assert!(!g(b"*.so", b"/usr/lib/libc.so.6"));
        assert!(g(b"/etc/*", b"/etc/a/b"));
        assert!(g(b"a?c", b"abc"));
        assert!(!g(b"a?c", b"ac"));
        assert!(g(b"[a-c]x", b"bx"));
        assert!(!g(b"[!a-c]x", b"bx"));
        assert!(g(b"[]]", b"]"));
        assert!(g(b"a\\*", b"a*"));
        assert!(!g(b"a\\*", b"ab"));
        assert!(g(b"[ab", b"[ab"));
        assert!(g(b"", b""));
        assert!(!g(b"", b"x"));
        assert!(g(b"*a*b*c*", b"xxaxxbxxcxx"));
    }
}
