//! Compiles a parsed filter into typed tests. Everything that can be decided without an
//! event is decided here: constants are parsed per the field's type (numbers, booleans,
//! CIDR networks), needles for `icontains` are lower-cased, operators that make no sense for
//! a type are rejected with the column of the offending value. The per-event path asks the
//! event for each field's [`Value`] once per test and compares without allocating (except
//! when a text test meets a numeric value).
//!
//! Semantics follow libsinsp: a field the event does not have makes every comparison false
//! (`!=` included; `not` inverts the result afterwards); `exists` is true when the event
//! has the field. A list-valued field (`Value::List`) matches a scalar test when any
//! element does, `intersects` when any element is in the set, `in` when every element is.

use super::ast::{Check, Expr, FieldRef, Lit, Op, Operand};
use super::glob::glob_match;
use super::{FieldType, FilterError};
use std::borrow::Cow;
use std::net::IpAddr;

/// A field value handed out by an event.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Str(Cow<'a, str>),
    Bytes(&'a [u8]),
    Num(i64),
    UNum(u64),
    Bool(bool),
    Ip(IpAddr),
    List(Vec<Value<'a>>),
}

/// The event side of filtering: the value of a field, or None when the event lacks it.
pub trait FieldValues {
    fn value(&self, field: &FieldRef) -> Option<Value<'_>>;
}

/// A compiled filter.
#[derive(Clone, Debug)]
pub struct Filter {
    root: Node,
}

#[derive(Clone, Debug)]
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Leaf(FieldRef, Test),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rel {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Rel {
    fn of(op: Op) -> Option<Rel> {
        Some(match op {
            Op::Eq => Rel::Eq,
            Op::Ne => Rel::Ne,
            Op::Lt => Rel::Lt,
            Op::Le => Rel::Le,
            Op::Gt => Rel::Gt,
            Op::Ge => Rel::Ge,
            _ => return None,
        })
    }

    fn holds<T: Ord>(self, a: T, b: T) -> bool {
        match self {
            Rel::Eq => a == b,
            Rel::Ne => a != b,
            Rel::Lt => a < b,
            Rel::Le => a <= b,
            Rel::Gt => a > b,
            Rel::Ge => a >= b,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
enum StrOp {
    Rel(Rel, Option<i128>),
    Contains,
    IContains,
    StartsWith,
    EndsWith,
    Glob,
}

#[derive(Clone, Debug)]
enum Test {
    Exists,
    Num(Rel, i128),
    NumIn(Vec<i128>, bool),
    Bool(bool, bool),
    BoolIn(Vec<bool>, bool),
    /// Membership in any of the networks; `true` = positive (`=`/`in`), `false` = `!=`.
    Ip(Vec<Cidr>, bool, bool),
    Str(StrOp, Vec<u8>),
    /// Set membership; the flag is `true` for `in` (all elements), `false` for `intersects`.
    StrIn(Vec<Vec<u8>>, bool),
    PMatch(Vec<Vec<u8>>),
}

/// Parses an integer constant: decimal with optional sign, or `0x` hex.
pub fn parse_num(s: &str) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(h, 16).ok()? as i128
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        body.parse::<u64>().ok()? as i128
    };
    Some(if neg { -v } else { v })
}

/// Parses a boolean constant: `true`/`false` (any case) or `1`/`0`.
pub fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") || s == "1" {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s == "0" {
        Some(false)
    } else {
        None
    }
}

fn parse_cidr(s: &str) -> Option<Cidr> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
        None => max,
    };
    (prefix <= max).then_some(Cidr { addr, prefix })
}

/// Compiles a parsed filter.
pub fn compile(expr: &Expr) -> Result<Filter, FilterError> {
    Ok(Filter { root: node(expr)? })
}

fn node(e: &Expr) -> Result<Node, FilterError> {
    Ok(match e {
        Expr::And(a, b) => Node::And(Box::new(node(a)?), Box::new(node(b)?)),
        Expr::Or(a, b) => Node::Or(Box::new(node(a)?), Box::new(node(b)?)),
        Expr::Not(a) => Node::Not(Box::new(node(a)?)),
        Expr::Check(c) => Node::Leaf(c.field.clone(), test(c)?),
    })
}

fn unsupported(c: &Check) -> FilterError {
    FilterError::new(
        c.column,
        format!(
            "operator '{}' is not supported for field '{}' at column {}",
            c.op.as_str(),
            c.field,
            c.column
        ),
    )
}

fn bad_value(l: &Lit, what: &str, field: &FieldRef) -> FilterError {
    FilterError::new(
        l.column,
        format!(
            "'{}' is not {what} (field '{field}') at column {}",
            l.text, l.column
        ),
    )
}

fn test(c: &Check) -> Result<Test, FilterError> {
    let ty = c.field.info.ty;
    let (one, list): (Option<&Lit>, &[Lit]) = match &c.value {
        Operand::None => return Ok(Test::Exists),
        Operand::One(l) => (Some(l), std::slice::from_ref(l)),
        Operand::List(ls) => (None, ls),
    };
    let all = c.op == Op::In;
    let num = |l: &Lit| parse_num(&l.text).ok_or_else(|| bad_value(l, "a number", &c.field));
    let boolean = |l: &Lit| parse_bool(&l.text).ok_or_else(|| bad_value(l, "a boolean", &c.field));
    let cidr = |l: &Lit| {
        parse_cidr(&l.text).ok_or_else(|| bad_value(l, "an IP address or network", &c.field))
    };
    if ty.is_numeric() {
        return match (c.op, one) {
            (Op::In | Op::Intersects, _) => Ok(Test::NumIn(
                list.iter().map(num).collect::<Result<_, _>>()?,
                all,
            )),
            (op, Some(l)) => match Rel::of(op) {
                Some(r) => Ok(Test::Num(r, num(l)?)),
                None => Err(unsupported(c)),
            },
            _ => Err(unsupported(c)),
        };
    }
    match ty {
        FieldType::Bool => match (c.op, one) {
            (Op::In | Op::Intersects, _) => Ok(Test::BoolIn(
                list.iter().map(boolean).collect::<Result<_, _>>()?,
                all,
            )),
            (Op::Eq, Some(l)) => Ok(Test::Bool(true, boolean(l)?)),
            (Op::Ne, Some(l)) => Ok(Test::Bool(false, boolean(l)?)),
            _ => Err(unsupported(c)),
        },
        FieldType::Ip | FieldType::Net => match c.op {
            Op::Eq | Op::In | Op::Intersects => Ok(Test::Ip(
                list.iter().map(cidr).collect::<Result<_, _>>()?,
                true,
                all,
            )),
            Op::Ne => Ok(Test::Ip(
                list.iter().map(cidr).collect::<Result<_, _>>()?,
                false,
                false,
            )),
            _ => Err(unsupported(c)),
        },
        _ => {
            let bytes = |l: &Lit| l.text.as_bytes().to_vec();
            if let Some(l) = one {
                let op = match c.op {
                    Op::Contains => StrOp::Contains,
                    Op::IContains => {
                        return Ok(Test::Str(
                            StrOp::IContains,
                            l.text.to_ascii_lowercase().into_bytes(),
                        ));
                    }
                    Op::StartsWith => StrOp::StartsWith,
                    Op::EndsWith => StrOp::EndsWith,
                    Op::BContains | Op::BStartsWith => {
                        let op = if c.op == Op::BContains {
                            StrOp::Contains
                        } else {
                            StrOp::StartsWith
                        };
                        return Ok(Test::Str(op, hex_bytes(l)?));
                    }
                    Op::Glob => StrOp::Glob,
                    op => match Rel::of(op) {
                        Some(r) => StrOp::Rel(r, parse_num(&l.text)),
                        None => return Err(unsupported(c)),
                    },
                };
                return Ok(Test::Str(op, bytes(l)));
            }
            match c.op {
                Op::In | Op::Intersects => Ok(Test::StrIn(list.iter().map(bytes).collect(), all)),
                Op::PMatch => Ok(Test::PMatch(
                    list.iter()
                        .map(|l| l.text.trim_end_matches('/').as_bytes().to_vec())
                        .collect(),
                )),
                _ => Err(unsupported(c)),
            }
        }
    }
}

/// The bytes a `bcontains`/`bstartswith` operand spells in hex (`CAFEF00D`, case-free).
fn hex_bytes(l: &Lit) -> Result<Vec<u8>, FilterError> {
    let t = l.text.as_bytes();
    let bad = || {
        FilterError::new(
            l.column,
            format!(
                "'{}' at column {} is not bytes in hex (an even number of hex digits)",
                l.text, l.column
            ),
        )
    };
    if t.is_empty() || !t.len().is_multiple_of(2) {
        return Err(bad());
    }
    t.chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16).ok_or_else(bad)?;
            let lo = (p[1] as char).to_digit(16).ok_or_else(bad)?;
            Ok((h * 16 + lo) as u8)
        })
        .collect()
}

fn as_num(v: &Value<'_>) -> Option<i128> {
    match v {
        Value::Num(n) => Some(*n as i128),
        Value::UNum(n) => Some(*n as i128),
        Value::Bool(b) => Some(*b as i128),
        Value::Str(s) => parse_num(s),
        Value::Bytes(b) => parse_num(std::str::from_utf8(b).ok()?),
        Value::Ip(_) | Value::List(_) => None,
    }
}

fn as_bytes<'b>(v: &'b Value<'_>) -> Option<Cow<'b, [u8]>> {
    match v {
        Value::Str(s) => Some(Cow::Borrowed(s.as_bytes())),
        Value::Bytes(b) => Some(Cow::Borrowed(b)),
        Value::Num(n) => Some(Cow::Owned(n.to_string().into_bytes())),
        Value::UNum(n) => Some(Cow::Owned(n.to_string().into_bytes())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { b"true" } else { b"false" })),
        Value::Ip(ip) => Some(Cow::Owned(ip.to_string().into_bytes())),
        Value::List(_) => None,
    }
}

fn as_ip(v: &Value<'_>) -> Option<IpAddr> {
    match v {
        Value::Ip(ip) => Some(*ip),
        Value::Str(s) => s.parse().ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn icontains(hay: &[u8], lower_needle: &[u8]) -> bool {
    lower_needle.is_empty()
        || hay.windows(lower_needle.len()).any(|w| {
            w.iter()
                .zip(lower_needle)
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
        })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn pmatch(path: &[u8], prefix: &[u8]) -> bool {
    path.starts_with(prefix)
        && (path.len() == prefix.len() || path[prefix.len()] == b'/' || prefix.is_empty())
}

impl Test {
    /// Evaluates against one present value.
    fn eval(&self, v: &Value<'_>) -> bool {
        if let Value::List(items) = v {
            return match self {
                Test::NumIn(_, true) | Test::BoolIn(_, true) | Test::StrIn(_, true) => {
                    !items.is_empty() && items.iter().all(|i| self.eval(i))
                }
                Test::Ip(_, true, true) => !items.is_empty() && items.iter().all(|i| self.eval(i)),
                _ => items.iter().any(|i| self.eval(i)),
            };
        }
        match self {
            Test::Exists => true,
            Test::Num(r, rhs) => as_num(v).is_some_and(|n| r.holds(n, *rhs)),
            Test::NumIn(set, _) => as_num(v).is_some_and(|n| set.contains(&n)),
            Test::Bool(eq, rhs) => match v {
                Value::Bool(b) => (b == rhs) == *eq,
                _ => as_num(v).is_some_and(|n| ((n != 0) == *rhs) == *eq),
            },
            Test::BoolIn(set, _) => match v {
                Value::Bool(b) => set.contains(b),
                _ => as_num(v).is_some_and(|n| set.contains(&(n != 0))),
            },
            Test::Ip(nets, positive, _) => {
                as_ip(v).is_some_and(|ip| nets.iter().any(|n| n.contains(ip)) == *positive)
            }
            Test::Str(op, rhs) => {
                if let StrOp::Rel(r, Some(n)) = op
                    && matches!(v, Value::Num(_) | Value::UNum(_))
                {
                    return as_num(v).is_some_and(|x| r.holds(x, *n));
                }
                let Some(s) = as_bytes(v) else { return false };
                let s: &[u8] = &s;
                match op {
                    StrOp::Rel(r, _) => r.holds(s, rhs.as_slice()),
                    StrOp::Contains => contains(s, rhs),
                    StrOp::IContains => icontains(s, rhs),
                    StrOp::StartsWith => s.starts_with(rhs),
                    StrOp::EndsWith => s.ends_with(rhs),
                    StrOp::Glob => glob_match(rhs, s),
                }
            }
            Test::StrIn(set, _) => as_bytes(v).is_some_and(|s| set.iter().any(|x| **x == *s)),
            Test::PMatch(prefixes) => {
                as_bytes(v).is_some_and(|s| prefixes.iter().any(|p| pmatch(&s, p)))
            }
        }
    }
}

impl Node {
    fn eval(&self, ev: &dyn FieldValues) -> bool {
        match self {
            Node::And(a, b) => a.eval(ev) && b.eval(ev),
            Node::Or(a, b) => a.eval(ev) || b.eval(ev),
            Node::Not(a) => !a.eval(ev),
            Node::Leaf(f, t) => ev.value(f).is_some_and(|v| t.eval(&v)),
        }
    }
}

impl Filter {
    /// Does the event pass the filter?
    pub fn matches(&self, ev: &dyn FieldValues) -> bool {
        self.root.eval(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants() {
        assert_eq!(parse_num("42"), Some(42));
        assert_eq!(parse_num("-1"), Some(-1));
        assert_eq!(parse_num("0x1f"), Some(31));
        assert_eq!(parse_num("1e3"), None);
        assert_eq!(parse_num(""), None);
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        let n = parse_cidr("127.0.0.1/8").unwrap();
        assert!(n.contains("127.9.9.9".parse().unwrap()));
        assert!(!n.contains("128.0.0.1".parse().unwrap()));
        assert!(
            parse_cidr("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(parse_cidr("1.2.3.4/33").is_none());
        assert!(parse_cidr("::1").unwrap().contains("::1".parse().unwrap()));
    }

    #[test]
    fn pmatch_is_path_prefix() {
        assert!(pmatch(b"/etc/passwd", b"/etc"));
        assert!(pmatch(b"/etc", b"/etc"));
        assert!(!pmatch(b"/etcetera", b"/etc"));
        assert!(pmatch(b"/anything", b""));
    }
}
