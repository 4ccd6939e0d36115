//! Making paths absolute the way sysdig does: join with the base directory and remove
//! `.` and `..` lexically.
//!
//! Lexical `..` is what sysdig does and what can be done without reading the file system;
//! it differs from the kernel's answer only when a path goes up through a symlink (the
//! kernel's cwd is the resolved directory). I/O-free.

/// `path` made absolute against `base` (a directory); None if `path` is relative and the
/// base is unknown.
pub fn absolute(path: &str, base: Option<&str>) -> Option<String> {
    if path.starts_with('/') {
        return Some(normalize(path));
    }
    let base = base?;
    if !base.starts_with('/') {
        return None;
    }
    if path.is_empty() {
        return Some(normalize(base));
    }
    Some(normalize(&format!("{base}/{path}")))
}

/// Removes empty, `.` and `..` components of an absolute path.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut out = String::with_capacity(path.len());
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_normalizes() {
        assert_eq!(absolute("/etc//passwd", None).unwrap(), "/etc/passwd");
        assert_eq!(absolute("a/./b", Some("/home/u")).unwrap(), "/home/u/a/b");
        assert_eq!(absolute("../x", Some("/home/u")).unwrap(), "/home/x");
        assert_eq!(absolute("../../..", Some("/a")).unwrap(), "/");
        assert_eq!(absolute("x", None), None);
        assert_eq!(absolute("x", Some("relative")), None);
        assert_eq!(absolute("", Some("/tmp/")).unwrap(), "/tmp");
        assert_eq!(normalize("/"), "/");
    }
}
