//! Recursive-descent parser: `or` binds loosest, then `and`, then prefix `not`; chains are
//! left-nested (`a and b and c` is `(a and b) and c`). Field names are resolved against the
//! catalog here so errors can name the column and suggest the nearest known name.

use super::FieldCatalog;
use super::FilterError;
use super::ast::{ArgStyle, Check, Expr, FieldRef, Lit, Op, Operand};
use super::lexer::{Tok, Token, lex};
use std::collections::HashSet;

/// Parses a filter. `input` is the trailing command-line words joined by spaces.
pub fn parse(input: &str, catalog: &dyn FieldCatalog) -> Result<Expr, FilterError> {
    let toks = lex(input)?;
    let end = input.chars().count() + 1;
    if toks.is_empty() {
        return Err(FilterError::new(1, "empty filter"));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end,
        catalog,
        names: None,
    };
    let e = p.or()?;
    if let Some(t) = p.peek() {
        let msg = match t.tok {
            Tok::RParen => format!("unbalanced ')' at column {}", t.column),
            _ => format!(
                "expected 'and', 'or' or end of filter at column {}, found {}",
                t.column,
                t.tok.describe()
            ),
        };
        return Err(FilterError::new(t.column, msg));
    }
    Ok(e)
}

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    end: usize,
    catalog: &'a dyn FieldCatalog,
    names: Option<HashSet<String>>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn peek_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(x), .. }) if x == w)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn col(&self) -> usize {
        self.peek().map_or(self.end, |t| t.column)
    }

    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "end of filter".to_string(), |t| t.tok.describe())
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.not()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        let col = self.col();
        match self.next() {
            Some(Token {
                tok: Tok::LParen, ..
            }) => {
                let e = self.or()?;
                match self.peek() {
                    Some(Token {
                        tok: Tok::RParen, ..
                    }) => {
                        self.pos += 1;
                        Ok(e)
                    }
                    None => Err(FilterError::new(
                        self.end,
                        format!("missing ')' to close '(' at column {col}"),
                    )),
                    Some(_) => Err(FilterError::new(
                        self.col(),
                        format!(
                            "expected 'and', 'or' or ')' at column {}, found {}",
                            self.col(),
                            self.found()
                        ),
                    )),
                }
            }
            Some(Token {
                tok: Tok::Word(w), ..
            }) if w != "and" && w != "or" => self.check(&w, col),
            Some(t) => {
                self.pos -= 1;
                Err(FilterError::new(
                    col,
                    format!(
                        "expected a field name or '(' at column {col}, found {}",
                        t.tok.describe()
                    ),
                ))
            }
            None => Err(FilterError::new(
                col,
                format!("expected a field name or '(' at column {col}, found end of filter"),
            )),
        }
    }

    fn check(&mut self, word: &str, column: usize) -> Result<Expr, FilterError> {
        let field = self.field(word, column)?;
        let opcol = self.col();
        let found = self.found();
        let op = match self.next() {
            Some(Token {
                tok: Tok::Sym(s), ..
            }) => Op::from_symbol(s).expect("lexer symbols"),
            Some(Token {
                tok: Tok::Word(w), ..
            }) => Op::from_word(&w).ok_or_else(|| {
                FilterError::new(opcol, format!("unknown operator '{w}' at column {opcol}"))
            })?,
            _ => {
                return Err(FilterError::new(
                    opcol,
                    format!("expected an operator after '{word}' at column {opcol}, found {found}"),
                ));
            }
        };
        let value = if op == Op::Exists {
            Operand::None
        } else if op.takes_list() {
            Operand::List(self.list(op)?)
        } else {
            let vcol = self.col();
            match self.next() {
                Some(Token {
                    tok: Tok::Word(w) | Tok::Quoted(w),
                    ..
                }) => Operand::One(Lit {
                    text: w,
                    column: vcol,
                }),
                // `evt.dir = <` and `evt.dir=>`: a lone direction sign is a value here.
                Some(Token {
                    tok: Tok::Sym(s @ ("<" | ">")),
                    ..
                }) => Operand::One(Lit {
                    text: s.to_string(),
                    column: vcol,
                }),
                other => {
                    if other.is_some() {
                        self.pos -= 1;
                    }
                    return Err(FilterError::new(
                        vcol,
                        format!(
                            "expected a value after '{}' at column {vcol}, found {}",
                            op.as_str(),
                            self.found()
                        ),
                    ));
                }
            }
        };
        Ok(Expr::Check(Check {
            field,
            op,
            value,
            column,
        }))
    }

    fn list(&mut self, op: Op) -> Result<Vec<Lit>, FilterError> {
        let col = self.col();
        match self.next() {
            Some(Token {
                tok: Tok::LParen, ..
            }) => {}
            _ => {
                return Err(FilterError::new(
                    col,
                    format!(
                        "expected '(' and a list of values after '{}' at column {col}",
                        op.as_str()
                    ),
                ));
            }
        }
        let mut out = Vec::new();
        loop {
            let vcol = self.col();
            match self.next() {
                Some(Token {
                    tok: Tok::RParen, ..
                }) => return Ok(out),
                Some(Token {
                    tok: Tok::Comma, ..
                }) if !out.is_empty() => {}
                Some(Token {
                    tok: Tok::Word(w) | Tok::Quoted(w),
                    ..
                }) => out.push(Lit {
                    text: w,
                    column: vcol,
                }),
                None => {
                    return Err(FilterError::new(
                        self.end,
                        format!("missing ')' to close the list opened at column {col}"),
                    ));
                }
                Some(t) => {
                    return Err(FilterError::new(
                        vcol,
                        format!(
                            "expected a list value or ')' at column {vcol}, found {}",
                            t.tok.describe()
                        ),
                    ));
                }
            }
        }
    }

    fn is_name(&mut self, n: &str) -> bool {
        if self.names.is_none() {
            self.names = Some(
                self.catalog
                    .names()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            );
        }
        self.names.as_ref().is_some_and(|s| s.contains(n))
    }

    fn field(&mut self, word: &str, column: usize) -> Result<FieldRef, FilterError> {
        let err = |m: String| FilterError::new(column, format!("{m} at column {column}"));
        if let Some(open) = word.find('[') {
            let name = &word[..open];
            let Some(arg) = word[open + 1..].strip_suffix(']') else {
                return Err(err(format!("malformed field argument in '{word}'")));
            };
            if !self.is_name(name) {
                return Err(self.unknown(name, column));
            }
            let info = self.catalog.lookup(name, Some(arg)).map_err(err)?;
            return Ok(FieldRef {
                name: name.into(),
                arg: Some(arg.into()),
                style: ArgStyle::Bracket,
                info,
            });
        }
        if self.is_name(word) {
            let info = self.catalog.lookup(word, None).map_err(err)?;
            if info.needs_arg {
                return Err(err(format!("field '{word}' requires an argument")));
            }
            return Ok(FieldRef {
                name: word.into(),
                arg: None,
                style: ArgStyle::Bracket,
                info,
            });
        }
        // `evt.arg.fd`: the longest known dotted prefix takes the rest as its argument.
        let mut cut = word.len();
        while let Some(dot) = word[..cut].rfind('.') {
            let (name, arg) = (&word[..dot], &word[dot + 1..]);
            if self.is_name(name) && !arg.is_empty() {
                let info = self.catalog.lookup(name, Some(arg)).map_err(err)?;
                return Ok(FieldRef {
                    name: name.into(),
                    arg: Some(arg.into()),
                    style: ArgStyle::Dot,
                    info,
                });
            }
            cut = dot;
        }
        Err(self.unknown(word, column))
    }

    fn unknown(&mut self, name: &str, column: usize) -> FilterError {
        let mut best: Option<(usize, &str)> = None;
        let names = self.catalog.names();
        for n in &names {
            let d = edit_distance(name, n);
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, n));
            }
        }
        let hint = match best {
            Some((d, n)) if d <= 2.max(name.len() / 4) => format!(" (did you mean {n}?)"),
            _ => String::new(),
        };
        FilterError::new(
            column,
            format!("unknown field '{name}' at column {column}{hint}"),
        )
    }
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
