//! Recursive descent from tokens to the expression tree, one function per
//! precedence level, loosest first. Every node knows its depth so that a
//! tree deeper than [`MAX_FORMULA_DEPTH`] is refused while parsing, before
//! the recursion that would evaluate (or drop) it can exhaust the stack.

use super::lexer::Token;
use super::{AttributeRef, MAX_FORMULA_DEPTH};
use crate::policy::PolicyError;

/// A node of the expression tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Number(f64),
    Text(String),
    Attribute { name: String, last_known: bool },
    Not(Box<Expr>),
    Negate(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    Lower(Box<Expr>),
    Upper(Box<Expr>),
}

/// The binary operators.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Remainder,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Like,
    And,
    Or,
}

impl Expr {
    pub(super) fn collect_references(&self, into: &mut Vec<AttributeRef>) {
        match self {
            Expr::Number(_) | Expr::Text(_) => {}
            Expr::Attribute { name, last_known } => {
                let r = AttributeRef {
                    name: name.clone(),
                    last_known: *last_known,
                };
                if !into.contains(&r) {
                    into.push(r);
                }
            }
            Expr::Not(e) | Expr::Negate(e) | Expr::Lower(e) | Expr::Upper(e) => {
                e.collect_references(into)
            }
            Expr::Binary(_, a, b) => {
                a.collect_references(into);
                b.collect_references(into);
            }
            Expr::Ternary(c, a, b) => {
                c.collect_references(into);
                a.collect_references(into);
                b.collect_references(into);
            }
        }
    }
}

/// A subtree and its depth.
type Node = (Expr, usize);

/// Parses the whole token list; `len` (in characters) is where "the end" is.
pub(super) fn parse(tokens: &[(usize, Token)], len: usize) -> Result<Expr, PolicyError> {
    let mut p = Parser {
        tokens,
        next: 0,
        len,
        nesting: 0,
    };
    if tokens.is_empty() {
        return Err(PolicyError::at(0, "the formula is empty"));
    }
    let (expr, _) = p.ternary()?;
    if let Some((position, token)) = p.peek() {
        return Err(PolicyError::at(
            position,
            format!(
                "expected an operator or the end, found {}",
                token.describe()
            ),
        ));
    }
    Ok(expr)
}

struct Parser<'t> {
    tokens: &'t [(usize, Token)],
    next: usize,
    len: usize,
    /// How many `ternary` and `unary` calls are active: bounds the
    /// recursion on texts like `((((…` or `!!!!…` before any node exists.
    nesting: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<(usize, &Token)> {
        self.tokens.get(self.next).map(|(p, t)| (*p, t))
    }

    /// Where the next token starts, or the end of the text.
    fn position(&self) -> usize {
        self.peek().map_or(self.len, |(p, _)| p)
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek().is_some_and(|(_, t)| t == token) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &Token, what: &str) -> Result<(), PolicyError> {
        if self.eat(token) {
            return Ok(());
        }
        let found = self
            .peek()
            .map_or("the end".to_string(), |(_, t)| t.describe());
        Err(PolicyError::at(
            self.position(),
            format!("expected {what}, found {found}"),
        ))
    }

    /// Runs `step` one nesting level deeper, refusing to go beyond the
    /// tree depth allowed anyway.
    fn nested(
        &mut self,
        step: fn(&mut Self) -> Result<Node, PolicyError>,
    ) -> Result<Node, PolicyError> {
        if self.nesting >= MAX_FORMULA_DEPTH {
            return Err(PolicyError::at(
                self.position(),
                format!("the formula nests deeper than {MAX_FORMULA_DEPTH} levels; simplify it"),
            ));
        }
        self.nesting += 1;
        let node = step(self);
        self.nesting -= 1;
        node
    }

    fn ternary(&mut self) -> Result<Node, PolicyError> {
        self.nested(Self::ternary_level)
    }

    fn unary(&mut self) -> Result<Node, PolicyError> {
        self.nested(Self::unary_level)
    }

    /// `or ('?' ternary ':' ternary)?`, right to left.
    fn ternary_level(&mut self) -> Result<Node, PolicyError> {
        let start = self.position();
        let condition = self.binary(0)?;
        if !self.eat(&Token::Question) {
            return Ok(condition);
        }
        let yes = self.ternary()?;
        self.expect(&Token::Colon, "':' of the ternary")?;
        let no = self.ternary()?;
        let depth = 1 + condition.1.max(yes.1).max(no.1);
        let expr = Expr::Ternary(Box::new(condition.0), Box::new(yes.0), Box::new(no.0));
        checked(expr, depth, start)
    }

    /// One left-associative binary level: 0 `||`, 1 `&&`, 2 `= !=`,
    /// 3 `< <= > >= LIKE`, 4 `+ -`, 5 `* / %`; below that, unary.
    fn binary(&mut self, level: usize) -> Result<Node, PolicyError> {
        if level > 5 {
            return self.unary();
        }
        let start = self.position();
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.peek().and_then(|(_, t)| operator(t, level)) {
            self.next += 1;
            let right = self.binary(level + 1)?;
            let depth = 1 + left.1.max(right.1);
            left = checked(
                Expr::Binary(op, Box::new(left.0), Box::new(right.0)),
                depth,
                start,
            )?;
        }
        Ok(left)
    }

    /// `! unary`, `- unary`, `+ unary`, or a primary.
    fn unary_level(&mut self) -> Result<Node, PolicyError> {
        let start = self.position();
        let wrap: fn(Box<Expr>) -> Expr = if self.eat(&Token::Not) {
            Expr::Not
        } else if self.eat(&Token::Minus) {
            Expr::Negate
        } else if self.eat(&Token::Plus) {
            return self.unary();
        } else {
            return self.primary();
        };
        let (inner, depth) = self.unary()?;
        checked(wrap(Box::new(inner)), depth + 1, start)
    }

    /// A literal, a reference, `( ternary )`, `LOWER( … )` or `UPPER( … )`.
    fn primary(&mut self) -> Result<Node, PolicyError> {
        let Some((start, token)) = self.peek() else {
            return Err(PolicyError::at(self.len, "expected a value, found the end"));
        };
        let leaf = match token {
            Token::Number(n) => Expr::Number(*n),
            Token::Text(s) => Expr::Text(s.clone()),
            Token::Attribute { name, last_known } => Expr::Attribute {
                name: name.clone(),
                last_known: *last_known,
            },
            Token::Open => {
                self.next += 1;
                let inner = self.ternary()?;
                self.expect(&Token::Close, "')'")?;
                return Ok(inner);
            }
            Token::Word(w)
                if w.eq_ignore_ascii_case("LOWER") || w.eq_ignore_ascii_case("UPPER") =>
            {
                let lower = w.eq_ignore_ascii_case("LOWER");
                self.next += 1;
                self.expect(&Token::Open, "'(' after the function name")?;
                let (inner, depth) = self.ternary()?;
                self.expect(&Token::Close, "')' closing the function's argument")?;
                let expr = if lower {
                    Expr::Lower(Box::new(inner))
                } else {
                    Expr::Upper(Box::new(inner))
                };
                return checked(expr, depth + 1, start);
            }
            Token::Word(w) => {
                return Err(PolicyError::at(
                    start,
                    format!(
                        "unknown name {w:?}: write text in quotes, attributes as $(name); \
                         the functions are LOWER and UPPER"
                    ),
                ));
            }
            other => {
                return Err(PolicyError::at(
                    start,
                    format!("expected a value, found {}", other.describe()),
                ));
            }
        };
        self.next += 1;
        Ok((leaf, 1))
    }
}

/// The operator `token` stands for at binary `level`, if any.
fn operator(token: &Token, level: usize) -> Option<BinaryOp> {
    let op = match (level, token) {
        (0, Token::Or) => BinaryOp::Or,
        (1, Token::And) => BinaryOp::And,
        (2, Token::Equal) => BinaryOp::Equal,
        (2, Token::NotEqual) => BinaryOp::NotEqual,
        (3, Token::Less) => BinaryOp::Less,
        (3, Token::LessEqual) => BinaryOp::LessEqual,
        (3, Token::Greater) => BinaryOp::Greater,
        (3, Token::GreaterEqual) => BinaryOp::GreaterEqual,
        (3, Token::Word(w)) if w.eq_ignore_ascii_case("LIKE") => BinaryOp::Like,
        (4, Token::Plus) => BinaryOp::Add,
        (4, Token::Minus) => BinaryOp::Subtract,
        (5, Token::Star) => BinaryOp::Multiply,
        (5, Token::Slash) => BinaryOp::Divide,
        (5, Token::Percent) => BinaryOp::Remainder,
        _ => return None,
    };
    Some(op)
}

/// The node, unless it is deeper than allowed.
fn checked(expr: Expr, depth: usize, start: usize) -> Result<Node, PolicyError> {
    if depth > MAX_FORMULA_DEPTH {
        return Err(PolicyError::at(
            start,
            format!("the formula nests deeper than {MAX_FORMULA_DEPTH} levels; simplify it"),
        ));
    }
    Ok((expr, depth))
}
