//! `-j`: one JSON object per event per line, sysdig's keys and types.
//!
//! Without `-p` the keys are sysdig's default set; with `-p` they are the format's fields.
//! Objects are written by hand into a reused buffer (no `serde_json::Value` per event);
//! numbers stay numbers, times are integer nanoseconds since the epoch.

use super::Sink;
use crate::fields::{self, EventView};
use crate::filter::{FieldRef, FieldValues, Value};
use std::io::{self, Write};

/// sysdig's keys for `-j` without `-p`, in its (alphabetical) order.
pub const DEFAULT_KEYS: &[&str] = &[
    "evt.cpu",
    "evt.dir",
    "evt.info",
    "evt.num",
    "evt.outputtime",
    "evt.type",
    "proc.name",
    "thread.tid",
];

pub struct JsonSink<W: Write> {
    out: W,
    keys: Vec<(String, FieldRef)>,
    line: String,
    unbuffered: bool,
}

impl<W: Write> JsonSink<W> {
    /// `fields`: the `-p` format's fields, or None for the default keys.
    pub fn new(out: W, fields: Option<Vec<FieldRef>>, unbuffered: bool) -> JsonSink<W> {
        let refs = fields.unwrap_or_else(|| {
            DEFAULT_KEYS
                .iter()
                .map(|k| fields::resolve(k).expect("default JSON key is a catalog field"))
                .collect()
        });
        let mut keys: Vec<(String, FieldRef)> = refs.into_iter().map(|r| (key_of(&r), r)).collect();
        let mut seen = std::collections::HashSet::new();
        keys.retain(|(k, _)| seen.insert(k.clone()));
        JsonSink {
            out,
            keys,
            line: String::with_capacity(512),
            unbuffered,
        }
    }

    pub fn render(&mut self, view: &EventView<'_>) -> &str {
        self.line.clear();
        self.line.push('{');
        for (i, (key, field)) in self.keys.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            write_json_str(key, &mut self.line);
            self.line.push(':');
            match view.value(field) {
                // sysdig writes a field the event lacks as the string "<NA>", as in its text.
                None => self.line.push_str("\"<NA>\""),
                Some(v) => write_json_value(&v, &mut self.line),
            }
        }
        self.line.push_str("}\n");
        &self.line
    }
}

/// The JSON key of a field reference: `evt.arg.fd`, `evt.arg[0]`, `proc.name`.
fn key_of(r: &FieldRef) -> String {
    match (&r.arg, r.style) {
        (None, _) => r.name.clone(),
        (Some(a), crate::filter::ArgStyle::Dot) => format!("{}.{a}", r.name),
        (Some(a), _) => format!("{}[{a}]", r.name),
    }
}

fn write_json_value(v: &Value<'_>, out: &mut String) {
    match v {
        Value::Num(n) => crate::params::push_int(out, *n),
        Value::UNum(n) => crate::params::push_uint(out, *n),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Str(s) => write_json_str(s, out),
        other => {
            let mut s = String::new();
            fields::write_value(other, &mut s);
            write_json_str(&s, out);
        }
    }
}

/// A JSON string literal with the escapes RFC 8259 requires.
pub fn write_json_str(s: &str, out: &mut String) {
    use std::fmt::Write as _;
    out.push('"');
    // Most strings need no escape: copy them whole.
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl<W: Write> Sink for JsonSink<W> {
    fn event(&mut self, view: &EventView<'_>) -> io::Result<()> {
        self.render(view);
        self.out.write_all(self.line.as_bytes())?;
        if self.unbuffered {
            self.out.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::write_json_str;

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        write_json_str("a\"b\\c\n\u{1}é", &mut s);
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
