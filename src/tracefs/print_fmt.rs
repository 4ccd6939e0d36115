//! Value-name tables taken from an event's `print fmt`.
//!
//! The `print fmt` is C source the kernel compiled into its own printer. tpdig does not
//! interpret it as a whole (sysdig renders events its own way); it keeps the text and lifts
//! out the one thing only the kernel knows: the names of values, written as
//! `__print_symbolic(REC->f, { v, "name" }, ...)` and
//! `__print_flags(REC->f, "delim", { v, "name" }, ...)`. The values are C constant
//! expressions that vary by era (`1`, `0x00000001`, `((0x0000 | 0x0001) + 1) << 1`), so a
//! small integer evaluator handles literals, unary `- ~`, `* / % + - << >> & ^ |` and
//! parentheses. An entry it cannot evaluate is skipped; a table never fails a parse.
//!
//! sched_switch's `prev_state` is the main customer. Its print fmt wraps the flags in
//! `REC->prev_state & MASK ? __print_flags(REC->prev_state & MASK, "|", ...) : "R"` and
//! appends `REC->prev_state & BIT ? "+" : ""`. Those two idioms are captured too (`mask`,
//! `if_zero`, `suffixes`), so [`SymbolTable::render`] gives the letters every era's
//! kernel would print: `S`, `D`, `R`, `R+`, `S|D`.

/// Whether a table names one value or decomposes a bit set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    Symbolic,
    Flags { delim: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolTable {
    /// The field the table describes (`prev_state` for `REC->prev_state`).
    pub field: String,
    pub kind: SymbolKind,
    /// Values as C integers; negative ones are stored two's complement.
    pub entries: Vec<(u64, String)>,
    /// `REC->f & MASK` as the table's first argument: applied before lookup.
    pub mask: Option<u64>,
    /// `cond ? __print_flags(...) : "R"`: the text shown when the (masked) value is 0.
    pub if_zero: Option<String>,
    /// `REC->f & BIT ? "+" : ""` elsewhere in the print fmt: appended when the bit is set.
    pub suffixes: Vec<(u64, String)>,
}

impl SymbolTable {
    /// Renders a field value the way the kernel's printer would. Signed fields should be
    /// passed sign-extended (`field.i64(raw)? as u64`) so negative entries match.
    pub fn render(&self, value: u64) -> String {
        let v = self.mask.map_or(value, |m| value & m);
        let mut out = match &self.kind {
            SymbolKind::Symbolic => match self.entries.iter().find(|(k, _)| *k == v) {
                Some((_, name)) => name.clone(),
                None if v == 0 && self.if_zero.is_some() => self.if_zero.clone().unwrap(),
                None if (v as i64) < 0 => (v as i64).to_string(),
                None => v.to_string(),
            },
            SymbolKind::Flags { delim } => {
                if v == 0 {
                    match (&self.if_zero, self.entries.iter().find(|(k, _)| *k == 0)) {
                        (Some(z), _) => z.clone(),
                        (None, Some((_, name))) => name.clone(),
                        (None, None) => String::new(),
                    }
                } else {
                    let mut parts: Vec<String> = Vec::new();
                    let mut rest = v;
                    for (bits, name) in &self.entries {
                        if *bits != 0 && rest & bits == *bits {
                            parts.push(name.clone());
                            rest &= !bits;
                        }
                    }
                    if rest != 0 {
                        parts.push(format!("0x{rest:x}"));
                    }
                    parts.join(delim)
                }
            }
        };
        for (bit, text) in &self.suffixes {
            if value & bit != 0 {
                out.push_str(text);
            }
        }
        out
    }
}

/// Every `__print_symbolic`/`__print_flags` table in a print fmt, in order of appearance.
pub fn extract_tables(print_fmt: &str) -> Vec<SymbolTable> {
    let mut tables = Vec::new();
    let mut markers: Vec<(String, u64, String)> = Vec::new();
    // The first top-level item is the format string; the rest are the arguments.
    for arg in split_top(print_fmt, b',').into_iter().skip(1) {
        if let Some((cond, yes, no)) = split_ternary(arg) {
            let (yes_t, no_t) = (yes.trim(), no.trim());
            if let (Some(y), Some(n)) = (string_literal(yes_t), string_literal(no_t)) {
                // `REC->f & BIT ? "+" : ""`
                if n.is_empty()
                    && let (Some(field), Some(mask)) = field_and_mask(cond)
                {
                    markers.push((field, mask, y));
                }
                continue;
            }
            if let Some(z) = string_literal(no_t) {
                let calls = find_calls(yes_t);
                if calls.len() == 1 && calls[0].0 == 0 && calls[0].1 == yes_t.len() {
                    if let Some(mut t) = parse_call(&yes_t[..calls[0].1]) {
                        t.if_zero = Some(z);
                        tables.push(t);
                    }
                    continue;
                }
            }
        }
        for (start, end) in find_calls(arg) {
            tables.extend(parse_call(&arg[start..end]));
        }
    }
    for (field, bit, text) in markers {
        for t in tables.iter_mut() {
            if t.field == field && matches!(t.kind, SymbolKind::Flags { .. }) {
                t.suffixes.push((bit, text.clone()));
            }
        }
    }
    tables
}

const CALLS: &[(&str, bool)] = &[
    ("__print_symbolic_u64", false),
    ("__print_symbolic", false),
    ("__print_flags_u64", true),
    ("__print_flags", true),
];

/// Byte spans of the table calls in `s` (outside string literals, not nested).
fn find_calls(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => i = skip_literal(b, i),
            b'_' if i == 0 || !is_ident(b[i - 1]) => {
                let hit = CALLS.iter().find_map(|(name, _)| {
                    let after = i + name.len();
                    (s[i..].starts_with(name) && (after >= b.len() || !is_ident(b[after])))
                        .then_some(after)
                });
                let Some(after) = hit else {
                    i += 1;
                    continue;
                };
                let open = after + (s[after..].len() - s[after..].trim_start().len());
                match (b.get(open) == Some(&b'('))
                    .then(|| matching(b, open))
                    .flatten()
                {
                    Some(close) => {
                        out.push((i, close + 1));
                        i = close + 1;
                    }
                    None => i = after,
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// Parses `__print_xxx(args)`; `None` when the shape is wrong (not fatal to callers).
fn parse_call(call: &str) -> Option<SymbolTable> {
    let (name_len, is_flags) = CALLS
        .iter()
        .find(|(n, _)| call.starts_with(n))
        .map(|(n, f)| (n.len(), *f))?;
    let rest = call[name_len..].trim_start();
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    let args = split_top(inner, b',');
    let (first, rest_args) = args.split_first()?;
    let (field, mask) = field_and_mask(first);
    let field = field?;
    let (kind, entry_args) = if is_flags {
        let (delim, more) = rest_args.split_first()?;
        let delim = string_literal(delim.trim())?;
        (SymbolKind::Flags { delim }, more)
    } else {
        (SymbolKind::Symbolic, rest_args)
    };
    let entries = entry_args.iter().filter_map(|e| parse_entry(e)).collect();
    Some(SymbolTable {
        field,
        kind,
        entries,
        mask,
        if_zero: None,
        suffixes: Vec::new(),
    })
}

/// `{ value, "name" }`.
fn parse_entry(e: &str) -> Option<(u64, String)> {
    let inner = e.trim().strip_prefix('{')?.strip_suffix('}')?;
    let parts = split_top(inner, b',');
    let [value, name] = parts.as_slice() else {
        return None;
    };
    Some((eval_int(value)? as u64, string_literal(name.trim())?))
}

/// The field of `REC->f` (first occurrence) and, for the shape `REC->f & EXPR`, the mask.
fn field_and_mask(expr: &str) -> (Option<String>, Option<u64>) {
    let field = expr.find("REC->").map(|at| {
        expr[at + 5..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
    });
    let field = field.filter(|f| !f.is_empty());
    let Some(f) = &field else {
        return (None, None);
    };
    let e = strip_parens(expr.trim());
    let mask = e
        .strip_prefix("REC->")
        .and_then(|r| r.strip_prefix(f.as_str()))
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('&'))
        .filter(|r| !r.starts_with('&'))
        .and_then(eval_int)
        .map(|m| m as u64);
    (field, mask)
}

/// Removes parentheses that enclose the whole expression.
fn strip_parens(mut e: &str) -> &str {
    while e.starts_with('(') && matching(e.as_bytes(), 0) == Some(e.len() - 1) {
        e = e[1..e.len() - 1].trim();
    }
    e
}

/// `cond ? yes : no` at the top level of `s`.
fn split_ternary(s: &str) -> Option<(&str, &str, &str)> {
    let q = find_top(s, b'?', 0)?;
    let c = find_top(s, b':', q + 1)?;
    Some((&s[..q], &s[q + 1..c], &s[c + 1..]))
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Index just past the string or char literal starting at `i` (or the end of input).
fn skip_literal(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// Index of the bracket closing the one at `open`, respecting literals and nesting.
fn matching(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                i = skip_literal(b, i);
                continue;
            }
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// First `sep` at bracket depth 0 and outside literals, from `from`.
fn find_top(s: &str, sep: u8, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0isize;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                i = skip_literal(b, i);
                continue;
            }
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            c if c == sep && depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits at every top-level `sep`.
fn split_top(s: &str, sep: u8) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(at) = find_top(s, sep, start) {
        out.push(&s[start..at]);
        start = at + 1;
    }
    out.push(&s[start..]);
    out
}

/// A C string literal (adjacent literals concatenate), unescaped; `None` if `s` is not
/// exactly that.
fn string_literal(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s.trim();
    if !rest.starts_with('"') {
        return None;
    }
    while let Some(body) = rest.strip_prefix('"') {
        let mut chars = body.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => {
                    let (_, e) = chars.next()?;
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        '0' => '\0',
                        other => other,
                    });
                }
                c => out.push(c),
            }
        };
        rest = body[end + 1..].trim_start();
    }
    rest.is_empty().then_some(out)
}

/// Evaluates a C integer constant expression: literals (decimal, 0x hex, 0 octal, with
/// `u`/`l` suffixes), unary `- ~ +`, binary `* / % + - << >> & ^ |`, parentheses.
/// Anything else (identifiers, casts, overflowing shifts, division by zero) is `None`.
pub fn eval_int(expr: &str) -> Option<i64> {
    let mut p = Eval {
        b: expr.as_bytes(),
        i: 0,
        depth: 0,
    };
    let v = p.binary(0)?;
    p.ws();
    (p.i == p.b.len()).then_some(v)
}

struct Eval<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

/// Binary operators by precedence level, loosest first (C's order).
const LEVELS: &[&[&str]] = &[
    &["|"],
    &["^"],
    &["&"],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Eval<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn op_at(&self, level: usize) -> Option<&'static str> {
        let rest = &self.b[self.i..];
        LEVELS[level].iter().copied().find(|op| {
            let ob = op.as_bytes();
            rest.starts_with(ob)
                // `&` must not be `&&`, `|` not `||`, `<<` not `<<=`...
                && rest.get(ob.len()).is_none_or(|&c| c != ob[0] && c != b'=')
        })
    }

    fn binary(&mut self, level: usize) -> Option<i64> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        loop {
            self.ws();
            let Some(op) = self.op_at(level) else {
                return Some(lhs);
            };
            self.i += op.len();
            let rhs = self.binary(level + 1)?;
            lhs = match op {
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "<<" => lhs.checked_shl(u32::try_from(rhs).ok().filter(|s| *s < 64)?)?,
                ">>" => lhs.checked_shr(u32::try_from(rhs).ok().filter(|s| *s < 64)?)?,
                "+" => lhs.wrapping_add(rhs),
                "-" => lhs.wrapping_sub(rhs),
                "*" => lhs.wrapping_mul(rhs),
                "/" => lhs.checked_div(rhs)?,
                "%" => lhs.checked_rem(rhs)?,
                _ => return None,
            };
        }
    }

    fn unary(&mut self) -> Option<i64> {
        self.depth += 1;
        if self.depth > 64 {
            return None;
        }
        self.ws();
        let c = *self.b.get(self.i)?;
        let v = match c {
            b'-' => {
                self.i += 1;
                self.unary()?.wrapping_neg()
            }
            b'+' => {
                self.i += 1;
                self.unary()?
            }
            b'~' => {
                self.i += 1;
                !self.unary()?
            }
            b'(' => {
                self.i += 1;
                let v = self.binary(0)?;
                self.ws();
                if self.b.get(self.i) != Some(&b')') {
                    return None;
                }
                self.i += 1;
                v
            }
            b'0'..=b'9' => self.number()?,
            _ => return None,
        };
        self.depth -= 1;
        Some(v)
    }

    fn number(&mut self) -> Option<i64> {
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        let tok = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        let tok = tok.trim_end_matches(['u', 'U', 'l', 'L']);
        let v = if let Some(hex) = tok.strip_prefix("0x").or_else(|| tok.strip_prefix("0X")) {
            u64::from_str_radix(hex, 16).ok()?
        } else if tok.len() > 1 && tok.starts_with('0') {
            u64::from_str_radix(&tok[1..], 8).ok()?
        } else {
            tok.parse::<u64>().ok()?
        };
        Some(v as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_era_expressions() {
        assert_eq!(eval_int("1"), Some(1));
        assert_eq!(eval_int(" 0x00000080 "), Some(0x80));
        assert_eq!(eval_int("-1"), Some(-1));
        assert_eq!(eval_int("1024-1"), Some(1023));
        assert_eq!(eval_int("0x0000 | 0x1"), Some(1));
        assert_eq!(eval_int("((0x0000 | 0x0001) + 1) << 1"), Some(4));
        assert_eq!(
            eval_int(
                "((((0x0000 | 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0010 | 0x0020 | 0x0040) + 1) << 1) - 1)"
            ),
            Some(0xff)
        );
        assert_eq!(eval_int("1UL << 3"), Some(8));
        assert_eq!(eval_int("010"), Some(8));
        assert_eq!(eval_int("2 + 3 * 4"), Some(14));
        assert_eq!(eval_int("~0 & 0xf"), Some(15));
        assert_eq!(eval_int("TASK_COMM_LEN"), None);
        assert_eq!(eval_int("(unsigned long)1"), None);
        assert_eq!(eval_int("1 << 64"), None);
        assert_eq!(eval_int("1 / 0"), None);
        assert_eq!(eval_int("1 && 2"), None);
        assert_eq!(eval_int("(1"), None);
        assert_eq!(eval_int(""), None);
        assert_eq!(eval_int(&"(".repeat(10_000)), None);
    }

    const SWITCH_618: &str = r#""prev_comm=%s prev_state=%s%s ==> next_comm=%s", REC->prev_comm, (REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1), "|", { 0x00000001, "S" }, { 0x00000002, "D" }, { 0x00000004, "T" }, { 0x00000008, "t" }, { 0x00000010, "X" }, { 0x00000020, "Z" }, { 0x00000040, "P" }, { 0x00000080, "I" }) : "R", REC->prev_state & (((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) ? "+" : "", REC->next_comm"#;

    #[test]
    fn sched_switch_prev_state_modern() {
        let t = extract_tables(SWITCH_618);
        assert_eq!(t.len(), 1);
        let t = &t[0];
        assert_eq!(t.field, "prev_state");
        assert_eq!(t.kind, SymbolKind::Flags { delim: "|".into() });
        assert_eq!(t.entries.len(), 8);
        assert_eq!(t.mask, Some(0xff));
        assert_eq!(t.if_zero.as_deref(), Some("R"));
        assert_eq!(t.suffixes, vec![(0x100, "+".to_string())]);
        assert_eq!(t.render(0), "R");
        assert_eq!(t.render(0x100), "R+");
        assert_eq!(t.render(1), "S");
        assert_eq!(t.render(2), "D");
        assert_eq!(t.render(3), "S|D");
        assert_eq!(t.render(0x80), "I");
    }

    #[test]
    fn sched_switch_prev_state_2_6_and_3_x() {
        let old = r#""task %s:%d [%d] (%s) ==> %s:%d [%d]", REC->prev_comm, REC->prev_pid, REC->prev_prio, REC->prev_state ? __print_flags(REC->prev_state, "|", { 1, "S"} , { 2, "D" }, { 4, "T" }, { 8, "t" }, { 16, "Z" }, { 32, "X" }, { 64, "x" }, { 128, "W" }) : "R", REC->next_comm"#;
        let t = &extract_tables(old)[0];
        assert_eq!(t.mask, None);
        assert_eq!(t.render(0), "R");
        assert_eq!(t.render(1), "S");
        assert_eq!(t.render(16 | 32), "Z|X");
        assert_eq!(t.render(0x1000), "0x1000");

        let v310 = r#""prev_state=%s%s", REC->prev_state & (1024-1) ? __print_flags(REC->prev_state & (1024-1), "|", { 1, "S"} , { 2, "D" }, { 512, "P" }) : "R", REC->prev_state & 1024 ? "+" : """#;
        let t = &extract_tables(v310)[0];
        assert_eq!(t.mask, Some(1023));
        assert_eq!(t.render(1024), "R+");
        assert_eq!(t.render(1024 | 2), "D+");
        assert_eq!(t.render(512), "P");
    }

    #[test]
    fn symbolic_tables_and_bad_entries() {
        let s = r#""family=%s st=%s", __print_symbolic(REC->family, { 2, "AF_INET" }, { 10, "AF_INET6" }), __print_symbolic(REC->st, { -1, "NEG" }, { FOO, "skipped" }, { 1 "broken" }, { 0x3, "THREE" })"#;
        let t = extract_tables(s);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].field, "family");
        assert_eq!(t[0].render(10), "AF_INET6");
        assert_eq!(t[0].render(7), "7");
        assert_eq!(t[1].entries.len(), 2);
        assert_eq!(t[1].render(-1i64 as u64), "NEG");
        assert_eq!(t[1].render(3), "THREE");
        assert_eq!(t[1].render(-5i64 as u64), "-5");
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            "\"",
            "\"x\", __print_flags(",
            "\"x\", __print_flags(REC->a, \"|\", { 1, \"A\" }",
            "\"x\", __print_symbolic)",
            "\"x\", a ? : ",
            "\"x\", __print_flags(REC->, 1)",
            "\"\\",
            "\"x\", REC->a & ? \"+\" : \"\"",
            "\"x\", __print_symbolic(REC->a, { 1, \"\\\" }))",
        ] {
            let _ = extract_tables(s);
        }
        assert_eq!(string_literal(r#""a\"b" "c""#).as_deref(), Some("a\"bc"));
        assert_eq!(string_literal(r#""a" x"#), None);
    }
}
