//! `-p` format strings: `%field`, `%Nfield` (minimum width), a leading `*` (show events even
//! when a field is missing), `\n` and `\t` escapes; `-pc` is sysdig's container preset.
//!
//! Parsing is I/O-free and happens once; rendering walks the parsed pieces.

use crate::fields::{self, EventView};
use crate::filter::{FieldRef, FieldValues};
use crate::wall_time::OutputTime;

/// sysdig's container format (`-pc`, `-pcontainer`).
pub const CONTAINER_FORMAT: &str = "*%evt.num %evt.outputtime %evt.cpu %container.name (%container.id) %proc.name (%thread.tid:%thread.vtid) %evt.dir %evt.type %evt.info";

#[derive(Debug, Clone)]
pub enum Piece {
    Text(String),
    Field { field: FieldRef, width: usize },
}

#[derive(Debug, Clone)]
pub struct Format {
    pub pieces: Vec<Piece>,
    /// `*` prefix: print events even when some field is missing (shown as <NA>).
    pub show_all: bool,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, String> {
        let (show_all, body) = match text.strip_prefix('*') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let chars: Vec<char> = body.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' if i + 1 < chars.len() => {
                    lit.push(match chars[i + 1] {
                        'n' => '\n',
                        't' => '\t',
                        '\\' => '\\',
                        other => other,
                    });
                    i += 2;
                }
                '%' => {
                    let start = i + 1;
                    let mut j = start;
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    let width: usize = chars[start..j]
                        .iter()
                        .collect::<String>()
                        .parse()
                        .unwrap_or(0);
                    let name_start = j;
                    let mut depth = 0;
                    while j < chars.len() {
                        let c = chars[j];
                        if c == '[' {
                            depth += 1;
                        } else if c == ']' && depth > 0 {
                            depth -= 1;
                        } else if depth == 0 && !(c.is_ascii_alphanumeric() || c == '.' || c == '_')
                        {
                            break;
                        }
                        j += 1;
                    }
                    // A trailing dot ends a sentence, not a field name.
                    while j > name_start && chars[j - 1] == '.' {
                        j -= 1;
                    }
                    let name: String = chars[name_start..j].iter().collect();
                    if name.is_empty() {
                        return Err(format!(
                            "-p: '%' without a field name at column {}",
                            i + 1 + usize::from(show_all)
                        ));
                    }
                    let field = fields::resolve(&name).map_err(|e| {
                        format!(
                            "-p: {e} at column {}",
                            name_start + 1 + usize::from(show_all)
                        )
                    })?;
                    if !lit.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Field { field, width });
                    i = j;
                }
                c => {
                    lit.push(c);
                    i += 1;
                }
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        Ok(Format { pieces, show_all })
    }

    /// The field references in order, for JSON keys.
    pub fn fields(&self) -> impl Iterator<Item = &FieldRef> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Field { field, .. } => Some(field),
            Piece::Text(_) => None,
        })
    }

    /// Renders the line into `out`; false when a field is missing and the format lacks `*`.
    /// `evt.outputtime` is written by `time` (as `-t` chose), like the default line does.
    pub fn render(&self, view: &EventView<'_>, time: &mut OutputTime, out: &mut String) -> bool {
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field { field, width } => {
                    let start = out.len();
                    if field.name == "evt.outputtime" {
                        let mut b = Vec::with_capacity(24);
                        time.write(view, &mut b);
                        out.push_str(&String::from_utf8_lossy(&b));
                        for _ in out[start..].chars().count()..*width {
                            out.push(' ');
                        }
                        continue;
                    }
                    match view.value(field) {
                        Some(v) => fields::write_value(&v, out),
                        None if self.show_all => out.push_str("<NA>"),
                        None => return false,
                    }
                    let n = out[start..].chars().count();
                    for _ in n..*width {
                        out.push(' ');
                    }
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_widths_escapes_and_star() {
        let f = Format::parse("*%10proc.name\\t%evt.arg.fd [%evt.arg[0]] done.").unwrap();
        assert!(f.show_all);
        let names: Vec<_> = f
            .fields()
            .map(|r| (r.name.clone(), r.arg.clone()))
            .collect();
        assert_eq!(names[0], ("proc.name".into(), None));
        assert_eq!(names[1], ("evt.arg".into(), Some("fd".into())));
        assert_eq!(names[2], ("evt.arg".into(), Some("0".into())));
        match &f.pieces[0] {
            Piece::Field { width, .. } => assert_eq!(*width, 10),
            _ => panic!(),
        }
        assert!(matches!(&f.pieces[1], Piece::Text(t) if t == "\t"));
        assert!(matches!(f.pieces.last(), Some(Piece::Text(t)) if t == "] done."));
    }

    #[test]
    fn unknown_fields_name_the_column() {
        let e = Format::parse("x %proc.nme").unwrap_err();
        assert!(
            e.contains("proc.nme") && e.contains("column 4") && e.contains("proc.name"),
            "{e}"
        );
    }
}
