//! Text helpers chisels share: sysdig's byte and time notations and its fixed-width
//! columns, so stock chisels print what sysdig users know (`10.00M`, `8.21us`).

/// Bytes the way sysdig's chisels show them: `512B`, `1.50KB`, `10.00M`, `2.00G`.
pub fn format_bytes(v: i64) -> String {
    const K: f64 = 1024.0;
    let f = v as f64;
    let units = [
        (K * K * K * K * K, "P"),
        (K * K * K * K, "T"),
        (K * K * K, "G"),
        (K * K, "M"),
        (K, "KB"),
    ];
    for (size, unit) in units {
        if f > size {
            return format!("{:.2}{unit}", f / size);
        }
    }
    format!("{v}B")
}

/// A duration in nanoseconds the way sysdig's chisels show it: `1.10s`, `250ms`, `3.20ms`,
/// `49us`, `8.21us`, `700ns`.
pub fn format_time(ns: i64) -> String {
    let v = ns.max(0) as u64;
    const S: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;
    const US: u64 = 1_000;
    if v >= S {
        format!("{}.{:02}s", v / S, (v % S) / 10_000_000)
    } else if v >= S / 100 {
        format!("{}ms", v / MS)
    } else if v >= MS {
        format!("{}.{:02}ms", v / MS, (v % MS) / 10_000)
    } else if v >= 10 * US {
        format!("{}us", v / US)
    } else if v >= US {
        format!("{}.{:02}us", v / US, (v % US) / 10)
    } else {
        format!("{v}ns")
    }
}

/// `s` padded with spaces to `width` characters (never cut), as sysdig's columns.
pub fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    let mut out = String::with_capacity(s.len() + width.saturating_sub(n));
    out.push_str(s);
    for _ in n..width {
        out.push(' ');
    }
    out
}

/// Columns of the terminal on stdout, else `$COLUMNS`, else 80.
pub fn term_width() -> usize {
    if let Some(cols) = crate::perf::sys::stdout_columns() {
        return cols;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c: &usize| c > 0)
        .unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_follow_sysdig_units() {
        assert_eq!(format_bytes(0), "0B");
        assert_eq!(format_bytes(1024), "1024B");
        assert_eq!(format_bytes(1536), "1.50KB");
        assert_eq!(format_bytes(10 * 1024 * 1024), "10.00M");
        assert_eq!(format_bytes(10 * 1024 * 1024 + 1), "10.00M");
        assert_eq!(format_bytes(3 * 1024 * 1024 * 1024), "3.00G");
    }

    #[test]
    fn times_follow_sysdig_notation() {
        assert_eq!(format_time(1_100_000_000), "1.10s");
        assert_eq!(format_time(250_000_000), "250ms");
        assert_eq!(format_time(3_200_000), "3.20ms");
        assert_eq!(format_time(49_000), "49us");
        assert_eq!(format_time(8_210), "8.21us");
        assert_eq!(format_time(700), "700ns");
    }

    #[test]
    fn pad_extends_but_never_cuts() {
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(pad("abcdef", 4), "abcdef");
    }
}
