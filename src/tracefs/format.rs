//! Parser for tracefs `format` files (and `events/header_page`).
//!
//! The record layout of every tracepoint comes from this text at run time; tpdig never
//! hard-codes an offset. The text has changed across kernel eras and the parser accepts
//! all of them: `common_tgid`/`common_lock_depth`/`common_padding`/
//! `common_preempt_lazy_count` in the common header, no `signed:` key (2.6.x), array
//! lengths given as macros (`char prev_comm[TASK_COMM_LEN]`), the 2-byte `__data_loc`
//! of the first dynamic strings, `__rel_loc`, and `__attribute__((...))` in types.
//! It also accepts text that went through mail or a web page: CRLF line ends, lost
//! leading tabs, and long lines wrapped (a line that does not start with a known key
//! continues the previous `field:` or `print fmt:` line).
//!
//! Common fields are told from event fields by their `common_` prefix rather than by the
//! blank line between them, because copies of format files often lose blank lines.
//!
//! The parser is free of I/O and never panics; errors say the line and column.

use std::fmt;
use std::path::Path;

use super::field::{Field, FieldKind, base_words, known_elem_size, strip_attributes};
use super::print_fmt::{SymbolTable, eval_int, extract_tables};

/// A parse error with its 1-based position in the text. Column counts characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for FormatError {}

impl FormatError {
    /// The error prefixed by the file it came from: `PATH: line L, column C: message`.
    pub fn in_file(&self, path: impl AsRef<Path>) -> String {
        format!("{}: {}", path.as_ref().display(), self)
    }
}

/// One event's format: identity, fields, and the print fmt with its value tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFormat {
    pub name: String,
    pub id: u32,
    pub common_fields: Vec<Field>,
    pub fields: Vec<Field>,
    pub print_fmt: String,
    pub symbols: Vec<SymbolTable>,
}

impl EventFormat {
    pub fn parse(text: &str) -> Result<EventFormat, FormatError> {
        let lines = logical_lines(text)?;
        let mut name: Option<String> = None;
        let mut id: Option<u32> = None;
        let mut print_fmt: Option<String> = None;
        let mut common_fields = Vec::new();
        let mut fields: Vec<Field> = Vec::new();
        let mut parsed = Vec::new();
        for l in &lines {
            match l.key {
                Key::Name => {
                    let v = l.value("name:");
                    if name.is_some() {
                        return Err(l.err(0, "second `name:` line (more than one event?)"));
                    }
                    if v.is_empty() {
                        return Err(l.err(5, "empty event name"));
                    }
                    name = Some(v.to_string());
                }
                Key::Id => {
                    let v = l.value("ID:");
                    if id.is_some() {
                        return Err(l.err(0, "second `ID:` line"));
                    }
                    let at = l.text.find(v).unwrap_or(3);
                    id = Some(v.parse().map_err(|_| {
                        l.err(at, &format!("event ID `{v}` is not a 32-bit number"))
                    })?);
                }
                Key::Format => {}
                Key::Field => parsed.push(parse_field(l)?),
                Key::PrintFmt => {
                    if print_fmt.is_some() {
                        return Err(l.err(0, "second `print fmt:` line"));
                    }
                    print_fmt = Some(l.value("print fmt:").to_string());
                }
            }
        }
        let last = lines.last();
        let at_end = |what: &str| FormatError {
            line: last.map_or(1, |l| l.pieces[0].line),
            column: 1,
            message: format!("missing `{what}` line"),
        };
        let name = name.ok_or_else(|| at_end("name:"))?;
        let id = id.ok_or_else(|| at_end("ID:"))?;
        for f in parsed {
            if f.name.starts_with("common_") {
                common_fields.push(f);
            } else {
                fields.push(f);
            }
        }
        let print_fmt = print_fmt.unwrap_or_default();
        let symbols = extract_tables(&print_fmt);
        let mut ev = EventFormat {
            name,
            id,
            common_fields,
            fields,
            print_fmt,
            symbols,
        };
        ev.resolve_long_arrays();
        Ok(ev)
    }

    /// An event field by name, else a common field.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .chain(&self.common_fields)
            .find(|f| f.name == name)
    }

    /// Common fields then event fields, in file order within each group.
    pub fn all_fields(&self) -> impl Iterator<Item = &Field> {
        self.common_fields.iter().chain(&self.fields)
    }

    /// The value table of a field's `__print_symbolic`/`__print_flags`, if any.
    pub fn symbol_table(&self, field: &str) -> Option<&SymbolTable> {
        self.symbols.iter().find(|t| t.field == field)
    }

    /// The size of a C `long` on the kernel that wrote this format: from a `long` or
    /// `unsigned long` field (or array element) when there is one, else 8.
    pub fn long_size(&self) -> usize {
        self.all_fields()
            .find_map(|f| {
                let words = base_words(&f.type_text);
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                let is_long = matches!(
                    words.as_slice(),
                    ["long"]
                        | ["unsigned", "long"]
                        | ["signed", "long"]
                        | ["long", "int"]
                        | ["unsigned", "long", "int"]
                );
                let size = match f.kind {
                    FieldKind::Scalar if is_long => f.size,
                    FieldKind::Array { elem_size, .. } if is_long => elem_size,
                    _ => return None,
                };
                matches!(size, 4 | 8).then_some(size)
            })
            .unwrap_or(8)
    }

    /// Arrays of `long` whose length was a macro were sized with an 8-byte long; redo them
    /// once the event's long size is known.
    fn resolve_long_arrays(&mut self) {
        let long = self.long_size();
        if long == 8 {
            return;
        }
        for f in self.common_fields.iter_mut().chain(self.fields.iter_mut()) {
            if let FieldKind::Array { elem_size: 8, .. } = f.kind
                && dims_are_macros(&f.type_text)
                && known_elem_size(&f.type_text, 4) == Some(4)
            {
                f.kind = FieldKind::Array {
                    len: f.size / 4,
                    elem_size: 4,
                };
            }
        }
    }
}

fn dims_are_macros(type_text: &str) -> bool {
    type_text
        .split('[')
        .skip(1)
        .any(|d| eval_int(d.trim_end_matches(']')).is_none())
}

/// Parses `events/header_page`: field lines only (`field: u64 timestamp; offset:0; ...`).
pub fn parse_header_page(text: &str) -> Result<Vec<Field>, FormatError> {
    let lines = logical_lines(text)?;
    let mut out = Vec::new();
    for l in &lines {
        match l.key {
            Key::Field => out.push(parse_field(l)?),
            _ => return Err(l.err(0, "header_page holds only `field:` lines")),
        }
    }
    if out.is_empty() {
        return Err(FormatError {
            line: 1,
            column: 1,
            message: "no `field:` lines".into(),
        });
    }
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Name,
    Id,
    Format,
    Field,
    PrintFmt,
}

/// Where a stretch of a logical line came from.
struct Piece<'a> {
    /// Byte offset in the logical text.
    start: usize,
    /// 1-based line number.
    line: usize,
    /// The physical line and the byte offset in it where this piece starts.
    phys: &'a str,
    phys_start: usize,
}

/// A key line plus its continuation lines, joined by single spaces.
struct Logical<'a> {
    key: Key,
    text: String,
    pieces: Vec<Piece<'a>>,
}

impl Logical<'_> {
    /// Text after the key, trimmed.
    fn value(&self, key: &str) -> &str {
        self.text.get(key.len()..).unwrap_or("").trim()
    }

    /// An error at byte `at` of the logical text.
    fn err(&self, at: usize, message: &str) -> FormatError {
        let p = self
            .pieces
            .iter()
            .rev()
            .find(|p| p.start <= at)
            .unwrap_or(&self.pieces[0]);
        let mut byte = p.phys_start + (at - p.start);
        byte = byte.min(p.phys.len());
        while !p.phys.is_char_boundary(byte) {
            byte -= 1;
        }
        FormatError {
            line: p.line,
            column: p.phys[..byte].chars().count() + 1,
            message: message.to_string(),
        }
    }
}

fn key_of(s: &str) -> Option<Key> {
    [
        ("name:", Key::Name),
        ("ID:", Key::Id),
        ("format:", Key::Format),
        ("field:", Key::Field),
        ("print fmt:", Key::PrintFmt),
    ]
    .into_iter()
    .find_map(|(k, key)| s.starts_with(k).then_some(key))
}

fn logical_lines(text: &str) -> Result<Vec<Logical<'_>>, FormatError> {
    let mut out: Vec<Logical> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let phys = raw.strip_suffix('\r').unwrap_or(raw);
        let lead = phys.len() - phys.trim_start().len();
        let content = phys.trim();
        if content.is_empty() {
            continue;
        }
        match key_of(content) {
            Some(key) => out.push(Logical {
                key,
                text: content.to_string(),
                pieces: vec![Piece {
                    start: 0,
                    line: i + 1,
                    phys,
                    phys_start: lead,
                }],
            }),
            None => match out.last_mut() {
                Some(l) if matches!(l.key, Key::Field | Key::PrintFmt) => {
                    l.text.push(' ');
                    l.pieces.push(Piece {
                        start: l.text.len(),
                        line: i + 1,
                        phys,
                        phys_start: lead,
                    });
                    l.text.push_str(content);
                }
                _ => {
                    return Err(FormatError {
                        line: i + 1,
                        column: phys[..lead].chars().count() + 1,
                        message: format!(
                            "unexpected text `{}`: expected name:, ID:, format:, field: or print fmt:",
                            content.chars().take(40).collect::<String>()
                        ),
                    });
                }
            },
        }
    }
    Ok(out)
}

/// `field:<decl>; offset:N; size:N; signed:N;`
fn parse_field(l: &Logical) -> Result<Field, FormatError> {
    let text = l.text.as_str();
    let body_start = "field:".len();
    // Segments separated by ';' with their byte offsets.
    let mut segs: Vec<(usize, &str)> = Vec::new();
    let mut start = body_start;
    for (i, c) in text.char_indices().skip_while(|(i, _)| *i < body_start) {
        if c == ';' {
            segs.push((start, &text[start..i]));
            start = i + 1;
        }
    }
    if start < text.len() {
        segs.push((start, &text[start..]));
    }
    let Some(&(decl_at, decl)) = segs.first() else {
        return Err(l.err(body_start, "empty field declaration"));
    };
    if !text[body_start..].contains(';') {
        return Err(l.err(text.len(), "field declaration is not terminated by `;`"));
    }
    let (mut offset, mut size, mut signed) = (None, None, None);
    for &(at, seg) in &segs[1..] {
        let s = seg.trim();
        if s.is_empty() {
            continue;
        }
        let at = at + (seg.len() - seg.trim_start().len());
        let Some((k, v)) = s.split_once(':') else {
            return Err(l.err(at, &format!("expected `key:value`, found `{s}`")));
        };
        let vat = at + k.len() + 1 + (v.len() - v.trim_start().len());
        let v = v.trim();
        let num = |what: &str| {
            v.parse::<usize>()
                .map_err(|_| l.err(vat, &format!("{what} `{v}` is not a number")))
        };
        match k.trim() {
            "offset" => offset = Some(num("offset")?),
            "size" => size = Some(num("size")?),
            "signed" => {
                signed = Some(match v {
                    "0" => false,
                    "1" => true,
                    _ => return Err(l.err(vat, &format!("signed `{v}` is not 0 or 1"))),
                })
            }
            _ => {} // a key from a future kernel
        }
    }
    let offset = offset.ok_or_else(|| l.err(text.len(), "field has no `offset:`"))?;
    let size = size.ok_or_else(|| l.err(text.len(), "field has no `size:`"))?;
    if offset
        .checked_add(size)
        .is_none_or(|end| end > u32::MAX as usize)
    {
        return Err(l.err(decl_at, "field offset + size is out of range"));
    }
    let decl_lead = decl.len() - decl.trim_start().len();
    let (name, type_text, dims) =
        split_decl(decl.trim()).map_err(|m| l.err(decl_at + decl_lead, &m))?;
    let kind = field_kind(&type_text, &dims, size).map_err(|m| l.err(decl_at + decl_lead, &m))?;
    Ok(Field {
        name,
        type_text,
        offset,
        size,
        signed,
        kind,
    })
}

/// Splits `unsigned long args[6]` into (`args`, `unsigned long[6]`, [`6`]).
fn split_decl(decl: &str) -> Result<(String, String, Vec<String>), String> {
    let mut rest = decl;
    let mut dims = Vec::new();
    while let Some(r) = rest.strip_suffix(']') {
        let open = r.rfind('[').ok_or("`]` without `[` in field declaration")?;
        dims.insert(0, r[open + 1..].trim().to_string());
        rest = r[..open].trim_end();
    }
    let name_start = rest
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map(|(i, _)| i)
        .ok_or("field declaration has no name")?;
    let name = &rest[name_start..];
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("field name `{name}` starts with a digit"));
    }
    let ty = rest[..name_start].trim();
    if ty.is_empty() || strip_attributes(ty).is_empty() {
        return Err(format!("field `{name}` has no type"));
    }
    let mut type_text = ty.to_string();
    for d in &dims {
        type_text.push('[');
        type_text.push_str(d);
        type_text.push(']');
    }
    Ok((name.to_string(), type_text, dims))
}

fn field_kind(type_text: &str, dims: &[String], size: usize) -> Result<FieldKind, String> {
    let clean = strip_attributes(type_text);
    let first = clean.split_whitespace().next().unwrap_or("");
    if first == "__data_loc" {
        return match size {
            2 | 4 => Ok(FieldKind::DataLoc { width: size as u8 }),
            _ => Err(format!("__data_loc field has size {size}, expected 2 or 4")),
        };
    }
    if first == "__rel_loc" {
        return match size {
            4 => Ok(FieldKind::RelLoc),
            _ => Err(format!("__rel_loc field has size {size}, expected 4")),
        };
    }
    if !dims.is_empty() {
        let numeric: Option<usize> = dims.iter().try_fold(1usize, |acc, d| {
            let n = usize::try_from(eval_int(d)?).ok()?;
            acc.checked_mul(n)
        });
        return Ok(match numeric {
            Some(len) if len > 0 => FieldKind::Array {
                len,
                elem_size: size / len,
            },
            // A macro (TASK_COMM_LEN) or a flexible `[]`: derive from the element type.
            _ => {
                let elem = known_elem_size(type_text, 8).unwrap_or(1);
                FieldKind::Array {
                    len: size / elem,
                    elem_size: elem,
                }
            }
        });
    }
    if clean.contains('*') {
        return Ok(FieldKind::Pointer);
    }
    Ok(FieldKind::Scalar)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWITCH_26: &str = "name: sched_switch\nID: 33\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\n\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\n\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\n\tfield:int common_pid;\toffset:4;\tsize:4;\n\tfield:int common_lock_depth;\toffset:8;\tsize:4;\n\n\tfield:char prev_comm[TASK_COMM_LEN];\toffset:12;\tsize:16;\n\tfield:pid_t prev_pid;\toffset:28;\tsize:4;\n\tfield:long prev_state;\toffset:40;\tsize:8;\n\nprint fmt: \"task %s:%d (%s)\", REC->prev_comm, REC->prev_pid, REC->prev_state ? __print_flags(REC->prev_state, \"|\", { 1, \"S\"} , { 2, \"D\" }) : \"R\"\n";

    #[test]
    fn parses_old_era_without_signed() {
        let ev = EventFormat::parse(SWITCH_26).unwrap();
        assert_eq!(ev.name, "sched_switch");
        assert_eq!(ev.id, 33);
        assert_eq!(ev.common_fields.len(), 5);
        assert_eq!(ev.fields.len(), 3);
        let comm = ev.field("prev_comm").unwrap();
        assert_eq!(comm.type_text, "char[TASK_COMM_LEN]");
        assert_eq!(
            comm.kind,
            FieldKind::Array {
                len: 16,
                elem_size: 1
            }
        );
        assert_eq!((comm.offset, comm.size, comm.signed), (12, 16, None));
        let st = ev.field("prev_state").unwrap();
        assert!(st.is_signed());
        assert_eq!(ev.field("common_lock_depth").unwrap().offset, 8);
        assert_eq!(ev.long_size(), 8);
        assert_eq!(ev.symbol_table("prev_state").unwrap().render(0), "R");
        assert_eq!(ev.symbol_table("prev_state").unwrap().render(2), "D");
    }

    #[test]
    fn crlf_and_lost_tabs_and_wrapping_give_the_same_result() {
        let base = EventFormat::parse(SWITCH_26).unwrap();
        let crlf = SWITCH_26.replace('\n', "\r\n");
        assert_eq!(EventFormat::parse(&crlf).unwrap(), base);
        let no_tabs = SWITCH_26.replace("\n\t", "\n");
        assert_eq!(EventFormat::parse(&no_tabs).unwrap(), base);
        let wrapped = SWITCH_26
            .replace("\toffset:40;", "\n    offset:40;")
            .replace(", REC->prev_pid,", ",\n REC->prev_pid,");
        assert_eq!(EventFormat::parse(&wrapped).unwrap(), base);
    }

    #[test]
    fn declarations() {
        let ev = EventFormat::parse(
            "name: x\nID: 1\nformat:\n\
             field:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n\
             field:__data_loc name;\toffset:12;\tsize:2;\n\
             field:__rel_loc char foo[];\toffset:16;\tsize:4;\tsigned:1;\n\
             field:const char * path;\toffset:24;\tsize:8;\tsigned:0;\n\
             field:struct sched_param * param;\toffset:32;\tsize:8;\n\
             field:const char __attribute__((btf_type_tag(\"user\"))) * up;\toffset:40;\tsize:8;\tsigned:0;\n\
             field:unsigned long args[6];\toffset:48;\tsize:48;\tsigned:0;\n\
             field:u32 m[2][3];\toffset:96;\tsize:24;\tsigned:0;\n\
             field:struct foo blob;\toffset:120;\tsize:12;\tsigned:0;\n\
             field:__u8 saddr[4];\toffset:132;\tsize:4;\tsigned:0;\n",
        )
        .unwrap();
        let k = |n: &str| ev.field(n).unwrap().kind.clone();
        let t = |n: &str| ev.field(n).unwrap().type_text.clone();
        assert_eq!(k("filename"), FieldKind::DataLoc { width: 4 });
        assert_eq!(t("filename"), "__data_loc char[]");
        assert_eq!(k("name"), FieldKind::DataLoc { width: 2 });
        assert_eq!(t("name"), "__data_loc");
        assert_eq!(k("foo"), FieldKind::RelLoc);
        assert_eq!(t("foo"), "__rel_loc char[]");
        assert_eq!(k("path"), FieldKind::Pointer);
        assert_eq!(t("path"), "const char *");
        assert_eq!(k("param"), FieldKind::Pointer);
        assert_eq!(k("up"), FieldKind::Pointer);
        assert_eq!(
            k("args"),
            FieldKind::Array {
                len: 6,
                elem_size: 8
            }
        );
        assert_eq!(t("args"), "unsigned long[6]");
        assert_eq!(
            k("m"),
            FieldKind::Array {
                len: 6,
                elem_size: 4
            }
        );
        assert_eq!(k("blob"), FieldKind::Scalar);
        assert_eq!(
            k("saddr"),
            FieldKind::Array {
                len: 4,
                elem_size: 1
            }
        );
        assert_eq!(ev.long_size(), 8);
        assert_eq!(ev.print_fmt, "");
    }

    #[test]
    fn long_size_32_bit() {
        let ev = EventFormat::parse(
            "name: sys_enter\nID: 17\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:long id;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:unsigned long args[6];\toffset:12;\tsize:24;\tsigned:0;\n",
        )
        .unwrap();
        assert_eq!(ev.long_size(), 4);
        assert_eq!(
            ev.field("args").unwrap().kind,
            FieldKind::Array {
                len: 6,
                elem_size: 4
            }
        );
        let mut raw = vec![0u8; 36];
        raw[8..12].copy_from_slice(&(-1i32).to_le_bytes());
        raw[12 + 20..36].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        assert_eq!(ev.field("id").unwrap().i64(&raw), Some(-1));
        assert_eq!(
            ev.field("args").unwrap().array_u64(&raw, 5),
            Some(0xdead_beef)
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = EventFormat::parse("name: x\nID: abc\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 5));
        assert_eq!(
            e.to_string(),
            "line 2, column 5: event ID `abc` is not a 32-bit number"
        );
        assert_eq!(
            e.in_file("/t/format"),
            "/t/format: line 2, column 5: event ID `abc` is not a 32-bit number"
        );

        let e = EventFormat::parse("name: x\nID: 1\nformat:\n\tfield:int a;\toffset:x;\tsize:4;\n")
            .unwrap_err();
        assert_eq!((e.line, e.column), (4, 22), "{e}");

        let e =
            EventFormat::parse("name: x\nID: 1\nformat:\n\tfield:int a;\toffset:4;\n").unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("size"), "{e}");

        let e = EventFormat::parse("name: x\nID: 1\nformat:\n\tfield:int a\n").unwrap_err();
        assert_eq!(e.line, 4);

        let e = EventFormat::parse("garbage\nname: x\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));

        let e = EventFormat::parse("name: x\nformat:\n").unwrap_err();
        assert!(e.message.contains("ID:"), "{e}");

        let e = EventFormat::parse(
            "name: x\nID: 1\n\tfield:__data_loc char[] s;\toffset:8;\tsize:8;\n",
        )
        .unwrap_err();
        assert!(e.message.contains("__data_loc"), "{e}");
        assert_eq!((e.line, e.column), (3, 8));

        let e = EventFormat::parse("name: x\nID: 1\n\tfield:int 9a;\toffset:8;\tsize:4;\n")
            .unwrap_err();
        assert_eq!(e.line, 3);
        let e = EventFormat::parse("name: x\nID: 1\n\tfield:a;\toffset:8;\tsize:4;\n").unwrap_err();
        assert!(e.message.contains("no type"), "{e}");
        let e = EventFormat::parse(
            "name: x\nID: 1\n\tfield:int a;\toffset:18446744073709551615;\tsize:4;\n",
        )
        .unwrap_err();
        assert!(e.message.contains("range"), "{e}");
    }

    #[test]
    fn header_page() {
        let f = parse_header_page(
            "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n",
        )
        .unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].name, "timestamp");
        assert_eq!(f[0].type_text, "u64");
        assert_eq!((f[3].offset, f[3].size), (16, 4080));
        assert!(parse_header_page("name: x\n").is_err());
        assert!(parse_header_page("").is_err());
    }
}
