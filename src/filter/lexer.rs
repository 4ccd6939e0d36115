//! Splits filter text into tokens. Bare words run until whitespace or a character that
//! starts another token, so `proc.name=cat`, `fd.name=/etc/passwd` and `fd.net=127.0.0.1/8`
//! lex without spaces. `!` only ends a word when it starts `!=`, so values such as `a!b`
//! survive. Columns are 1-based character positions.

use super::FilterError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    LParen,
    RParen,
    Comma,
    /// `=`, `==`, `!=`, `<`, `<=`, `>`, `>=`.
    Sym(&'static str),
    Word(String),
    Quoted(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub column: usize,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Sym(s) => format!("'{s}'"),
            Tok::Word(w) => format!("'{w}'"),
            Tok::Quoted(q) => format!("\"{q}\""),
        }
    }
}

fn ends_word(c: char, next: Option<char>) -> bool {
    c.is_whitespace()
        || matches!(c, '(' | ')' | ',' | '=' | '<' | '>' | '"' | '\'')
        || (c == '!' && next == Some('='))
}

pub fn lex(input: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' | '<' | '>' | '!' if next == Some('=') => {
                i += 2;
                Tok::Sym(match c {
                    '=' => "==",
                    '<' => "<=",
                    '>' => ">=",
                    _ => "!=",
                })
            }
            '=' | '<' | '>' => {
                i += 1;
                Tok::Sym(match c {
                    '=' => "=",
                    '<' => "<",
                    _ => ">",
                })
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err(FilterError::new(
                            column,
                            format!("unterminated string starting at column {column}"),
                        ));
                    };
                    i += 1;
                    if d == quote {
                        break;
                    }
                    if d == '\\' {
                        match chars.get(i) {
                            Some(&e) => {
                                i += 1;
                                match e {
                                    '\\' | '"' | '\'' => s.push(e),
                                    'n' => s.push('\n'),
                                    't' => s.push('\t'),
                                    'r' => s.push('\r'),
                                    _ => {
                                        s.push('\\');
                                        s.push(e);
                                    }
                                }
                            }
                            None => {
                                return Err(FilterError::new(
                                    column,
                                    format!("unterminated string starting at column {column}"),
                                ));
                            }
                        }
                    } else {
                        s.push(d);
                    }
                }
                Tok::Quoted(s)
            }
            _ => {
                let start = i;
                while i < chars.len() && !ends_word(chars[i], chars.get(i + 1).copied()) {
                    i += 1;
                }
                if i == start {
                    // A lone '!' not followed by '='.
                    i += 1;
                }
                Tok::Word(chars[start..i].iter().collect())
            }
        };
        out.push(Token { tok, column });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn words_and_symbols_without_spaces() {
        assert_eq!(
            toks("proc.name!=cat and fd.net=127.0.0.1/8"),
            vec![
                Tok::Word("proc.name".into()),
                Tok::Sym("!="),
                Tok::Word("cat".into()),
                Tok::Word("and".into()),
                Tok::Word("fd.net".into()),
                Tok::Sym("="),
                Tok::Word("127.0.0.1/8".into()),
            ]
        );
        assert_eq!(toks("a!b"), vec![Tok::Word("a!b".into())]);
    }

    #[test]
    fn quoted_strings_unescape() {
        assert_eq!(
            toks(r#""a \"b\" \\ c""#),
            vec![Tok::Quoted(r#"a "b" \ c"#.into())]
        );
        assert_eq!(toks(r"'it\'s'"), vec![Tok::Quoted("it's".into())]);
        let e = lex("x = 'abc").unwrap_err();
        assert_eq!(e.column, 5);
    }

    #[test]
    fn columns_are_characters() {
        let t = lex("é = x").unwrap();
        assert_eq!(t[1].column, 3);
        assert_eq!(t[2].column, 5);
    }
}
