//! Turns formula text into tokens, each with the character position it
//! starts at, so that the parser's errors can point into the text.

use super::super::PolicyError as FormulaError;

/// One token of the formula language.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Token {
    Number(f64),
    Text(String),
    /// `$(name)` (`last_known` false) or `$$(name)` (true).
    Attribute {
        name: String,
        last_known: bool,
    },
    /// A bare word: only `LIKE`, `LOWER` and `UPPER` mean something.
    Word(String),
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    And,
    Or,
    Not,
    Question,
    Colon,
    Open,
    Close,
}

impl Token {
    /// How the token reads in an error message.
    pub(super) fn describe(&self) -> String {
        match self {
            Token::Number(n) => format!("number {n}"),
            Token::Text(s) => format!("string {s:?}"),
            Token::Attribute { name, last_known } => {
                format!("{}({name})", if *last_known { "$$" } else { "$" })
            }
            Token::Word(w) => format!("{w:?}"),
            other => format!("{:?}", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::Equal => "=",
            Token::NotEqual => "!=",
            Token::Less => "<",
            Token::LessEqual => "<=",
            Token::Greater => ">",
            Token::GreaterEqual => ">=",
            Token::And => "&&",
            Token::Or => "||",
            Token::Not => "!",
            Token::Question => "?",
            Token::Colon => ":",
            Token::Open => "(",
            Token::Close => ")",
            Token::Number(_) | Token::Text(_) | Token::Attribute { .. } | Token::Word(_) => "",
        }
    }
}

/// Splits `text` into tokens with their 0-based character positions.
pub(super) fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, FormulaError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let token = match c {
            '0'..='9' | '.' => {
                let (number, end) = number(&chars, i)?;
                i = end;
                Token::Number(number)
            }
            '"' | '\'' => {
                let (text, end) = string(&chars, i)?;
                i = end;
                Token::Text(text)
            }
            '$' => {
                let (token, end) = attribute(&chars, i)?;
                i = end;
                token
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = scan(&chars, i, |c| c.is_alphanumeric() || c == '_');
                let word: String = chars[i..end].iter().collect();
                i = end;
                Token::Word(word)
            }
            _ => {
                let (token, len) = operator(&chars, i)?;
                i += len;
                token
            }
        };
        tokens.push((start, token));
    }
    Ok(tokens)
}

fn scan(chars: &[char], from: usize, keep: impl Fn(char) -> bool) -> usize {
    let mut end = from;
    while end < chars.len() && keep(chars[end]) {
        end += 1;
    }
    end
}

/// A decimal number: digits, an optional fraction, an optional exponent.
fn number(chars: &[char], start: usize) -> Result<(f64, usize), FormulaError> {
    let mut end = scan(chars, start, |c| c.is_ascii_digit() || c == '.');
    if end < chars.len() && matches!(chars[end], 'e' | 'E') {
        let mut exp = end + 1;
        if exp < chars.len() && matches!(chars[exp], '+' | '-') {
            exp += 1;
        }
        let digits = scan(chars, exp, |c| c.is_ascii_digit());
        if digits > exp {
            end = digits;
        }
    }
    let text: String = chars[start..end].iter().collect();
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok((n, end)),
        _ => Err(FormulaError::at(start, format!("{text:?} is not a number"))),
    }
}

/// A string in double or single quotes; a backslash escapes the next
/// character (so `\"` is a quote and `\\` a backslash).
fn string(chars: &[char], start: usize) -> Result<(String, usize), FormulaError> {
    let quote = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(chars[i + 1]);
                i += 2;
            }
            c if c == quote => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err(FormulaError::at(
        start,
        format!("the string is not closed; end it with {quote}"),
    ))
}

/// `$(name)` or `$$(name)`; the name is everything up to `)`, trimmed.
fn attribute(chars: &[char], start: usize) -> Result<(Token, usize), FormulaError> {
    let last_known = chars.get(start + 1) == Some(&'$');
    let open = start + if last_known { 2 } else { 1 };
    if chars.get(open) != Some(&'(') {
        return Err(FormulaError::at(
            start,
            "expected ( after $: write $(attribute) or $$(attribute)",
        ));
    }
    let close = scan(chars, open + 1, |c| c != ')');
    if close >= chars.len() {
        return Err(FormulaError::at(
            start,
            "the attribute reference is not closed; end it with )",
        ));
    }
    let name: String = chars[open + 1..close].iter().collect();
    let name = name.trim();
    if name.is_empty() {
        return Err(FormulaError::at(start, "the attribute name is empty"));
    }
    let token = Token::Attribute {
        name: name.to_string(),
        last_known,
    };
    Ok((token, close + 1))
}

/// An operator of one or two characters, and its length.
fn operator(chars: &[char], i: usize) -> Result<(Token, usize), FormulaError> {
    let next = chars.get(i + 1).copied();
    Ok(match (chars[i], next) {
        ('&', Some('&')) => (Token::And, 2),
        ('|', Some('|')) => (Token::Or, 2),
        ('!', Some('=')) => (Token::NotEqual, 2),
        ('<', Some('>')) => (Token::NotEqual, 2),
        ('<', Some('=')) => (Token::LessEqual, 2),
        ('>', Some('=')) => (Token::GreaterEqual, 2),
        ('=', Some('=')) => (Token::Equal, 2),
        ('!', _) => (Token::Not, 1),
        ('<', _) => (Token::Less, 1),
        ('>', _) => (Token::Greater, 1),
        ('=', _) => (Token::Equal, 1),
        ('+', _) => (Token::Plus, 1),
        ('-', _) => (Token::Minus, 1),
        ('*', _) => (Token::Star, 1),
        ('/', _) => (Token::Slash, 1),
        ('%', _) => (Token::Percent, 1),
        ('?', _) => (Token::Question, 1),
        (':', _) => (Token::Colon, 1),
        ('(', _) => (Token::Open, 1),
        (')', _) => (Token::Close, 1),
        (c, _) => {
            return Err(FormulaError::at(i, format!("unexpected character {c:?}")));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Token> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    #[test]
    fn tokens_carry_their_positions() {
        let tokens = tokenize("$(temp) >= 10.5").unwrap();
        let positions: Vec<usize> = tokens.iter().map(|(p, _)| *p).collect();
        assert_eq!(positions, vec![0, 8, 11]);
        assert_eq!(
            tokens[0].1,
            Token::Attribute {
                name: "temp".into(),
                last_known: false
            }
        );
        assert_eq!(tokens[2].1, Token::Number(10.5));
    }

    #[test]
    fn strings_numbers_and_references() {
        assert_eq!(
            kinds(r#"'it\'s' "a\"b" 1e3 .5 $$( x )"#),
            vec![
                Token::Text("it's".into()),
                Token::Text("a\"b".into()),
                Token::Number(1000.0),
                Token::Number(0.5),
                Token::Attribute {
                    name: "x".into(),
                    last_known: true
                },
            ]
        );
        assert_eq!(
            kinds("a<>b==c"),
            vec![
                Token::Word("a".into()),
                Token::NotEqual,
                Token::Word("b".into()),
                Token::Equal,
                Token::Word("c".into())
            ]
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        for (text, position, words) in [
            ("1 + \"abc", 4, "not closed"),
            ("$temp", 0, "expected ("),
            ("2 * $(x", 4, "not closed"),
            ("$( )", 0, "empty"),
            ("1 # 2", 2, "unexpected character '#'"),
            ("1..2", 0, "not a number"),
        ] {
            let err = tokenize(text).unwrap_err();
            assert_eq!(err.position(), Some(position), "{text}: {err}");
            assert!(err.to_string().contains(words), "{text}: {err}");
        }
    }
}
