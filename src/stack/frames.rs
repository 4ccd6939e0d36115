//! A named call stack and its three renderings: strace `-k` lines below an event, the
//! folded form of `evt.stack` (root first, `;`-separated, what flamegraph.pl and
//! speedscope read), and the line-per-frame encoding a capture stores.

use std::fmt::Write as _;

/// One frame, innermost first in a [`Stack`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub ip: u64,
    pub kernel: bool,
    /// The object the address lies in: a file path, or `[kernel]`; empty when unknown.
    pub object: String,
    /// The function and the offset into it, when a symbol table named it.
    pub symbol: Option<(String, u64)>,
}

impl Frame {
    /// The name a folded stack shows: the function, else `object+0xOFF`-less `[object]`,
    /// else the address.
    pub fn short_name(&self) -> String {
        match (&self.symbol, self.object.rsplit('/').next()) {
            (Some((s, _)), _) => s.clone(),
            (None, Some(o)) if !o.is_empty() => format!("[{o}]"),
            _ => format!("{:#x}", self.ip),
        }
    }
}

/// The frames of one event, innermost (the sampled address) first: kernel, then user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stack {
    pub frames: Vec<Frame>,
}

/// What is wrong with a stored stack: the line (1-based) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackDecodeError {
    pub line: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for StackDecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stored stack, line {}: {}", self.line, self.reason)
    }
}

impl Stack {
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// strace `-k` style, one line per frame, innermost first:
    /// ` > /usr/lib/libc.so.6(__write+0x14) [0x7f...]`.
    pub fn write_lines(&self, out: &mut String) {
        for f in &self.frames {
            let object = if f.object.is_empty() { "?" } else { &f.object };
            let _ = match &f.symbol {
                Some((s, off)) => writeln!(out, " > {object}({s}+{off:#x}) [{:#x}]", f.ip),
                None => writeln!(out, " > {object}() [{:#x}]", f.ip),
            };
        }
    }

    /// Folded: outermost first, frames joined by `;` (`main;work;__write;ksys_write`).
    pub fn folded(&self) -> String {
        let mut s = String::new();
        for (i, f) in self.frames.iter().rev().enumerate() {
            if i > 0 {
                s.push(';');
            }
            // `;` and spaces separate frames and counts in the folded format.
            s.extend(f.short_name().chars().map(|c| match c {
                ';' | ' ' => '_',
                c => c,
            }));
        }
        s
    }

    /// The capture encoding: a line per frame, `k|u TAB ip TAB object TAB symbol TAB off`
    /// (hex numbers; symbol and offset empty when unnamed).
    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::new();
        for f in &self.frames {
            let _ = write!(
                s,
                "{}\t{:x}\t{}\t",
                if f.kernel { 'k' } else { 'u' },
                f.ip,
                f.object
            );
            if let Some((name, off)) = &f.symbol {
                let _ = write!(s, "{name}\t{off:x}");
            } else {
                s.push('\t');
            }
            s.push('\n');
        }
        s.into_bytes()
    }

    /// Reads what [`Stack::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<Stack, StackDecodeError> {
        let text = std::str::from_utf8(bytes).map_err(|_| StackDecodeError {
            line: 1,
            reason: "not UTF-8",
        })?;
        let mut frames = Vec::new();
        for (i, l) in text.lines().enumerate() {
            let bad = |reason| StackDecodeError {
                line: i + 1,
                reason,
            };
            let cols: Vec<&str> = l.split('\t').collect();
            let [space, ip, object, name, off] = cols[..] else {
                return Err(bad("expected 5 tab-separated columns"));
            };
            let kernel = match space {
                "k" => true,
                "u" => false,
                _ => return Err(bad("space is neither k nor u")),
            };
            let ip = u64::from_str_radix(ip, 16).map_err(|_| bad("bad address"))?;
            let symbol = if name.is_empty() {
                None
            } else {
                let off = u64::from_str_radix(off, 16).map_err(|_| bad("bad offset"))?;
                Some((name.to_string(), off))
            };
            frames.push(Frame {
                ip,
                kernel,
                object: object.to_string(),
                symbol,
            });
        }
        Ok(Stack { frames })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Stack {
        Stack {
            frames: vec![
                Frame {
                    ip: 0xffffffff81001010,
                    kernel: true,
                    object: "[kernel]".into(),
                    symbol: Some(("ksys_write".into(), 0x10)),
                },
                Frame {
                    ip: 0x7f0000001234,
                    kernel: false,
                    object: "/usr/lib/libc.so.6".into(),
                    symbol: Some(("__write".into(), 0x14)),
                },
                Frame {
                    ip: 0x401000,
                    kernel: false,
                    object: "/tmp/prog".into(),
                    symbol: None,
                },
            ],
        }
    }

    #[test]
    fn renders_like_strace_and_folds_root_first() {
        let mut s = String::new();
        sample().write_lines(&mut s);
        assert_eq!(
            s,
            " > [kernel](ksys_write+0x10) [0xffffffff81001010]\n > /usr/lib/libc.so.6(__write+0x14) [0x7f0000001234]\n > /tmp/prog() [0x401000]\n"
        );
        assert_eq!(sample().folded(), "[prog];__write;ksys_write");
    }

    #[test]
    fn the_capture_encoding_round_trips_and_rejects_damage() {
        let s = sample();
        assert_eq!(Stack::decode(&s.encode()).unwrap(), s);
        assert_eq!(Stack::decode(b"").unwrap(), Stack::default());
        let e = Stack::decode(b"k\t10\t[kernel]\tf\t0\nx\t1\t\t\t\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(Stack::decode(b"u\tzz\t\t\t\n").is_err());
        assert!(Stack::decode(b"u\t1\n").is_err());
        assert!(Stack::decode(&[0xff]).is_err());
    }
}
