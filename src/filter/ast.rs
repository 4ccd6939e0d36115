//! The filter syntax tree. Positions (columns) ride along for compile-time error messages
//! but are ignored by equality, so a printed-then-reparsed tree compares equal.

use super::FieldInfo;

/// How a field argument was written: `proc.aname[2]` or `evt.arg.fd`. Kept so the printer
/// reproduces the user's spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgStyle {
    Bracket,
    Dot,
}

/// A resolved field reference: the catalog name, its argument, and the catalog's answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub name: String,
    pub arg: Option<String>,
    pub style: ArgStyle,
    pub info: FieldInfo,
}

/// Comparison operators. `=` and `==` are the same operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    StartsWith,
    EndsWith,
    /// `bcontains` / `bstartswith`: the value is bytes written in hex (`CAFEF00D`).
    BContains,
    BStartsWith,
    Glob,
    In,
    Intersects,
    PMatch,
    Exists,
}

impl Op {
    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::BContains => "bcontains",
            Op::BStartsWith => "bstartswith",
            Op::Glob => "glob",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::PMatch => "pmatch",
            Op::Exists => "exists",
        }
    }

    /// Operators spelled as words (the rest are symbols).
    pub fn from_word(w: &str) -> Option<Op> {
        Some(match w {
            "contains" => Op::Contains,
            "icontains" => Op::IContains,
            "startswith" => Op::StartsWith,
            "endswith" => Op::EndsWith,
            "bcontains" => Op::BContains,
            "bstartswith" => Op::BStartsWith,
            "glob" => Op::Glob,
            "in" => Op::In,
            "intersects" => Op::Intersects,
            "pmatch" => Op::PMatch,
            "exists" => Op::Exists,
            _ => return None,
        })
    }

    pub fn from_symbol(s: &str) -> Option<Op> {
        Some(match s {
            "=" | "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            _ => return None,
        })
    }

    /// Operators that take a parenthesised list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }
}

/// A literal value as written (quotes and escapes removed) and where it started.
#[derive(Clone, Debug, Eq)]
pub struct Lit {
    pub text: String,
    pub column: usize,
}

impl Lit {
    pub fn new(text: impl Into<String>) -> Self {
        Lit {
            text: text.into(),
            column: 0,
        }
    }
}

impl PartialEq for Lit {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// The right-hand side of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    /// `exists` takes nothing.
    None,
    One(Lit),
    List(Vec<Lit>),
}

/// One `field op value` test.
#[derive(Clone, Debug, Eq)]
pub struct Check {
    pub field: FieldRef,
    pub op: Op,
    pub value: Operand,
    /// Column of the field name.
    pub column: usize,
}

impl PartialEq for Check {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field && self.op == other.op && self.value == other.value
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Check(Check),
}
