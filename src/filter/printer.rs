//! Canonical printing. Parentheses appear only where precedence or left-nesting needs them,
//! and values are quoted only when a bare word would lex differently, so the output both
//! reads like what a person types and parses back to an equal tree.

use super::ast::{ArgStyle, Check, Expr, FieldRef, Lit, Operand};
use std::fmt::{self, Display, Formatter, Write};

impl Display for FieldRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match (&self.arg, self.style) {
            (None, _) => Ok(()),
            (Some(a), ArgStyle::Bracket) => write!(f, "[{a}]"),
            (Some(a), ArgStyle::Dot) => write!(f, ".{a}"),
        }
    }
}

fn bare_ok(s: &str) -> bool {
    !s.is_empty()
        && !matches!(s, "and" | "or" | "not")
        && s.chars().all(|c| {
            !c.is_whitespace()
                && !matches!(
                    c,
                    '(' | ')' | ',' | '=' | '<' | '>' | '!' | '"' | '\'' | '\\'
                )
        })
}

impl Display for Lit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if bare_ok(&self.text) {
            return f.write_str(&self.text);
        }
        f.write_char('"')?;
        for c in self.text.chars() {
            if c == '"' || c == '\\' {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        f.write_char('"')
    }
}

impl Display for Check {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.op.as_str())?;
        match &self.value {
            Operand::None => Ok(()),
            Operand::One(v) => write!(f, " {v}"),
            Operand::List(vs) => {
                f.write_str(" (")?;
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_char(')')
            }
        }
    }
}

fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Or(..) => 1,
        Expr::And(..) => 2,
        Expr::Not(_) | Expr::Check(_) => 3,
    }
}

fn child(f: &mut Formatter<'_>, e: &Expr, paren: bool) -> fmt::Result {
    if paren {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Check(c) => write!(f, "{c}"),
            Expr::Not(e) => {
                f.write_str("not ")?;
                child(f, e, prec(e) < 3)
            }
            // An `and` under an `or` is always bracketed: older libsinsp compilers reject
            // mixing the two without brackets, so the canonical form reads the same there.
            Expr::And(a, b) | Expr::Or(a, b) => {
                let p = prec(self);
                child(f, a, prec(a) < p || (p == 1 && prec(a) == 2))?;
                f.write_str(if p == 1 { " or " } else { " and " })?;
                child(f, b, prec(b) <= p || (p == 1 && prec(b) == 2))
            }
        }
    }
}
