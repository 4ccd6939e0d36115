//! Kernel pushdown: derive an ftrace filter (for `PERF_EVENT_IOC_SET_FILTER`) that keeps
//! every event the full filter could accept. User space still runs the full filter, so the
//! kernel filter only has to be an over-approximation: it may let extra events through but
//! must never drop one the user filter would keep.
//!
//! Rules, for a tree `e` and its approximation `k(e)`:
//! - a check on a field the kernel knows ([`KernelFields`]) translates exactly;
//! - `a and b` → `k(a) && k(b)`, where an untranslatable side is simply dropped (true);
//! - `a or b` → `k(a) || k(b)`, or no constraint if either side is unconstrained;
//! - `not a` → the exact negation of `a`, only when all of `a` translates exactly
//!   (negating an over-approximation would give an under-approximation).
//!
//! Exactness rests on the contract of [`KernelFields::kernel_field`]: on the tracepoint the
//! filter is for, the user-space value is always present and equals the kernel field (after
//! [`KernelFields::kernel_value`]). `thread.tid` ↔ `common_pid` qualifies; `proc.pid` does
//! not (common_pid is the thread id), nor does `proc.name` ↔ `comm` (comm is cut to 15 bytes).
//! Negation is pushed to the leaves by De Morgan, so the output needs `!` only for globs.

use super::FieldType;
use super::ast::{Check, Expr, FieldRef, Op, Operand};
use super::compile::{parse_bool, parse_num};
use super::glob::glob_match;
use std::collections::BTreeSet;
use std::fmt::{self, Display, Formatter};

/// How the kernel compares a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    Int,
    Str,
}

/// A tracepoint field the kernel can test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelField {
    pub name: String,
    pub kind: KernelKind,
}

/// A constant in a kernel filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KValue {
    Int(i64),
    Str(String),
}

/// Which catalog fields the kernel can evaluate, for one tracepoint.
pub trait KernelFields {
    /// The kernel field exactly equal to `field` on this tracepoint, if any.
    fn kernel_field(&self, field: &FieldRef) -> Option<KernelField>;

    /// Maps a filter constant to the kernel's representation (e.g. a syscall name to its
    /// number). None makes the check untranslatable. The default parses integers (and
    /// booleans as 1/0) for `Int` fields and passes strings through for `Str` fields.
    fn kernel_value(&self, _field: &FieldRef, kf: &KernelField, value: &str) -> Option<KValue> {
        match kf.kind {
            KernelKind::Int => parse_num(value)
                .and_then(|n| i64::try_from(n).ok())
                .or_else(|| parse_bool(value).map(i64::from))
                .map(KValue::Int),
            KernelKind::Str => Some(KValue::Str(value.to_string())),
        }
    }
}

/// Kernel comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Glob,
}

/// A kernel filter expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KExpr {
    Const(bool),
    And(Vec<KExpr>),
    Or(Vec<KExpr>),
    Not(Box<KExpr>),
    Cmp {
        field: String,
        op: KOp,
        value: KValue,
    },
}

fn and(a: KExpr, b: KExpr) -> KExpr {
    match (a, b) {
        (KExpr::Const(true), x) | (x, KExpr::Const(true)) => x,
        (KExpr::Const(false), _) | (_, KExpr::Const(false)) => KExpr::Const(false),
        (KExpr::And(mut v), KExpr::And(w)) => {
            v.extend(w);
            KExpr::And(v)
        }
        (KExpr::And(mut v), x) => {
            v.push(x);
            KExpr::And(v)
        }
        (x, KExpr::And(mut v)) => {
            v.insert(0, x);
            KExpr::And(v)
        }
        (x, y) => KExpr::And(vec![x, y]),
    }
}

fn or(a: KExpr, b: KExpr) -> KExpr {
    match (a, b) {
        (KExpr::Const(false), x) | (x, KExpr::Const(false)) => x,
        (KExpr::Const(true), _) | (_, KExpr::Const(true)) => KExpr::Const(true),
        (KExpr::Or(mut v), KExpr::Or(w)) => {
            v.extend(w);
            KExpr::Or(v)
        }
        (KExpr::Or(mut v), x) => {
            v.push(x);
            KExpr::Or(v)
        }
        (x, KExpr::Or(mut v)) => {
            v.insert(0, x);
            KExpr::Or(v)
        }
        (x, y) => KExpr::Or(vec![x, y]),
    }
}

impl KExpr {
    /// The exact negation, with `not` pushed to the leaves where an operator flip exists.
    pub fn negate(self) -> KExpr {
        match self {
            KExpr::Const(b) => KExpr::Const(!b),
            KExpr::And(v) => v
                .into_iter()
                .map(KExpr::negate)
                .fold(KExpr::Const(false), or),
            KExpr::Or(v) => v
                .into_iter()
                .map(KExpr::negate)
                .fold(KExpr::Const(true), and),
            KExpr::Not(e) => *e,
            KExpr::Cmp { field, op, value } => {
                let op = match op {
                    KOp::Eq => KOp::Ne,
                    KOp::Ne => KOp::Eq,
                    KOp::Lt => KOp::Ge,
                    KOp::Le => KOp::Gt,
                    KOp::Gt => KOp::Le,
                    KOp::Ge => KOp::Lt,
                    KOp::Glob => return KExpr::Not(Box::new(KExpr::Cmp { field, op, value })),
                };
                KExpr::Cmp { field, op, value }
            }
        }
    }

    /// Evaluates as the kernel would, given the tracepoint's field values (for tests).
    pub fn eval(&self, get: &dyn Fn(&str) -> Option<KValue>) -> bool {
        match self {
            KExpr::Const(b) => *b,
            KExpr::And(v) => v.iter().all(|e| e.eval(get)),
            KExpr::Or(v) => v.iter().any(|e| e.eval(get)),
            KExpr::Not(e) => !e.eval(get),
            KExpr::Cmp { field, op, value } => match (get(field), value) {
                (Some(KValue::Int(a)), KValue::Int(b)) => match op {
                    KOp::Eq => a == *b,
                    KOp::Ne => a != *b,
                    KOp::Lt => a < *b,
                    KOp::Le => a <= *b,
                    KOp::Gt => a > *b,
                    KOp::Ge => a >= *b,
                    KOp::Glob => false,
                },
                (Some(KValue::Str(a)), KValue::Str(b)) => match op {
                    KOp::Eq => a == *b,
                    KOp::Ne => a != *b,
                    KOp::Glob => glob_match(b.as_bytes(), a.as_bytes()),
                    _ => false,
                },
                _ => false,
            },
        }
    }
}

impl Display for KValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            KValue::Int(n) => write!(f, "{n}"),
            KValue::Str(s) => write!(f, "\"{s}\""),
        }
    }
}

impl Display for KExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let group = |f: &mut Formatter<'_>, v: &[KExpr], sep: &str| -> fmt::Result {
            for (i, e) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                if matches!(e, KExpr::And(_) | KExpr::Or(_)) {
                    write!(f, "({e})")?;
                } else {
                    write!(f, "{e}")?;
                }
            }
            Ok(())
        };
        match self {
            // Constants are folded away before printing; these spellings are never emitted
            // by `pushdown` but keep Display total.
            KExpr::Const(true) => f.write_str("1"),
            KExpr::Const(false) => f.write_str("0"),
            KExpr::And(v) => group(f, v, " && "),
            KExpr::Or(v) => group(f, v, " || "),
            KExpr::Not(e) => write!(f, "!({e})"),
            KExpr::Cmp { field, op, value } => {
                let op = match op {
                    KOp::Eq => "==",
                    KOp::Ne => "!=",
                    KOp::Lt => "<",
                    KOp::Le => "<=",
                    KOp::Gt => ">",
                    KOp::Ge => ">=",
                    KOp::Glob => "~",
                };
                write!(f, "{field} {op} {value}")
            }
        }
    }
}

/// Kernel string constants cannot escape anything, and its glob knows no `\`.
fn kernel_safe(s: &str, glob_meta_ok: bool) -> bool {
    !s.contains('"') && !s.contains('\\') && (glob_meta_ok || !s.contains(['*', '?', '[']))
}

fn exact_check(c: &Check, kf: &dyn KernelFields) -> Option<KExpr> {
    let k = kf.kernel_field(&c.field)?;
    let ty = c.field.info.ty;
    // Network fields compare by CIDR membership, which no ftrace operator expresses; and a
    // kernel string only mirrors a text field.
    if matches!(ty, FieldType::Ip | FieldType::Net) || (k.kind == KernelKind::Str && !ty.is_text())
    {
        return None;
    }
    if c.op == Op::Exists {
        return Some(KExpr::Const(true));
    }
    let lits: Vec<&str> = match &c.value {
        Operand::None => return None,
        Operand::One(l) => vec![l.text.as_str()],
        Operand::List(ls) => ls.iter().map(|l| l.text.as_str()).collect(),
    };
    let cmp = |op: KOp, value: KValue| KExpr::Cmp {
        field: k.name.clone(),
        op,
        value,
    };
    let map = |s: &str| {
        let v = kf.kernel_value(&c.field, &k, s)?;
        match (&v, k.kind) {
            (KValue::Int(_), KernelKind::Int) => Some(v),
            (KValue::Str(t), KernelKind::Str) if kernel_safe(t, false) => Some(v),
            _ => None,
        }
    };
    match (k.kind, c.op) {
        (_, Op::Eq | Op::Ne) => {
            let op = if c.op == Op::Eq { KOp::Eq } else { KOp::Ne };
            Some(cmp(op, map(lits[0])?))
        }
        (_, Op::In | Op::Intersects) => lits
            .iter()
            .map(|s| Some(cmp(KOp::Eq, map(s)?)))
            .try_fold(KExpr::Const(false), |acc, e| Some(or(acc, e?))),
        (KernelKind::Int, Op::Lt | Op::Le | Op::Gt | Op::Ge) if ty.is_numeric() => {
            let op = match c.op {
                Op::Lt => KOp::Lt,
                Op::Le => KOp::Le,
                Op::Gt => KOp::Gt,
                _ => KOp::Ge,
            };
            Some(cmp(op, map(lits[0])?))
        }
        (KernelKind::Str, Op::Contains | Op::StartsWith | Op::EndsWith) => {
            let KValue::Str(s) = map(lits[0])? else {
                return None;
            };
            if s.is_empty() {
                return Some(KExpr::Const(true));
            }
            let pat = match c.op {
                Op::Contains => format!("*{s}*"),
                Op::StartsWith => format!("{s}*"),
                _ => format!("*{s}"),
            };
            Some(cmp(KOp::Glob, KValue::Str(pat)))
        }
        (KernelKind::Str, Op::Glob) => {
            let s = lits[0];
            (kernel_safe(s, true)
                && !s.contains('[')
                && kf.kernel_value(&c.field, &k, s) == Some(KValue::Str(s.to_string())))
            .then(|| cmp(KOp::Glob, KValue::Str(s.to_string())))
        }
        (KernelKind::Str, Op::PMatch) => lits.iter().try_fold(KExpr::Const(false), |acc, s| {
            let p = s.trim_end_matches('/');
            if p.is_empty() || !kernel_safe(p, false) {
                return None;
            }
            let KValue::Str(p) = map(p)? else { return None };
            let e = or(
                cmp(KOp::Eq, KValue::Str(p.clone())),
                cmp(KOp::Glob, KValue::Str(format!("{p}/*"))),
            );
            Some(or(acc, e))
        }),
        _ => None,
    }
}

/// The exact kernel translation of `e`, if every check in it translates.
fn exact(e: &Expr, kf: &dyn KernelFields) -> Option<KExpr> {
    match e {
        Expr::And(a, b) => Some(and(exact(a, kf)?, exact(b, kf)?)),
        Expr::Or(a, b) => Some(or(exact(a, kf)?, exact(b, kf)?)),
        Expr::Not(a) => Some(exact(a, kf)?.negate()),
        Expr::Check(c) => exact_check(c, kf),
    }
}

/// An over-approximation of `e`; `Const(true)` means no constraint.
fn over(e: &Expr, kf: &dyn KernelFields) -> KExpr {
    match e {
        Expr::And(a, b) => and(over(a, kf), over(b, kf)),
        Expr::Or(a, b) => or(over(a, kf), over(b, kf)),
        Expr::Not(_) | Expr::Check(_) => exact(e, kf).unwrap_or(KExpr::Const(true)),
    }
}

/// The kernel filter as an expression tree; None when the kernel can constrain nothing
/// (or when the filter can never match, which ftrace syntax has no constant for).
pub fn pushdown_expr(expr: &Expr, kf: &dyn KernelFields) -> Option<KExpr> {
    match over(expr, kf) {
        KExpr::Const(_) => None,
        k => Some(k),
    }
}

/// The ftrace filter string for `PERF_EVENT_IOC_SET_FILTER`, or None for no constraint.
pub fn pushdown(expr: &Expr, kf: &dyn KernelFields) -> Option<String> {
    pushdown_expr(expr, kf).map(|k| k.to_string())
}

/// The set of values `field_name` must take for the filter to match, or None if the
/// filter does not restrict it to a finite set. Sound: any matching event's value is in
/// the set.
pub fn restricted_values(expr: &Expr, field_name: &str) -> Option<BTreeSet<String>> {
    match expr {
        Expr::And(a, b) => match (
            restricted_values(a, field_name),
            restricted_values(b, field_name),
        ) {
            (Some(x), Some(y)) => Some(x.intersection(&y).cloned().collect()),
            (x, None) | (None, x) => x,
        },
        Expr::Or(a, b) => {
            let mut x = restricted_values(a, field_name)?;
            x.extend(restricted_values(b, field_name)?);
            Some(x)
        }
        Expr::Not(_) => None,
        Expr::Check(c) => {
            if c.field.name != field_name || c.field.arg.is_some() {
                return None;
            }
            match (&c.op, &c.value) {
                (Op::Eq, Operand::One(l)) => Some(BTreeSet::from([l.text.clone()])),
                (Op::In, Operand::List(ls)) => Some(ls.iter().map(|l| l.text.clone()).collect()),
                _ => None,
            }
        }
    }
}

/// The `evt.type` values the filter restricts to (to open only those tracepoints), or None.
pub fn event_types(expr: &Expr) -> Option<BTreeSet<String>> {
    restricted_values(expr, "evt.type")
}
