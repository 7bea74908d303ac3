//! Evaluates an expression tree. The tree's depth is bounded by the parser,
//! so the recursion here is too.

use std::cmp::Ordering;

use super::parser::{BinaryOp, Expr};
use super::{AttributeSource, FormulaValue, Lookup};
use crate::policy::PolicyError;

use FormulaValue::{Number, Text};

pub(super) fn evaluate(
    expr: &Expr,
    source: &dyn AttributeSource,
) -> Result<FormulaValue, PolicyError> {
    Ok(match expr {
        Expr::Number(n) => Number(*n),
        Expr::Text(s) => Text(s.clone()),
        Expr::Attribute { name, last_known } => attribute(name, *last_known, source)?,
        Expr::Not(e) => boolean(!evaluate(e, source)?.is_true()),
        Expr::Negate(e) => Number(-number(&evaluate(e, source)?)?),
        Expr::Lower(e) => Text(evaluate(e, source)?.to_text().to_lowercase()),
        Expr::Upper(e) => Text(evaluate(e, source)?.to_text().to_uppercase()),
        Expr::Ternary(c, yes, no) => {
            if evaluate(c, source)?.is_true() {
                evaluate(yes, source)?
            } else {
                evaluate(no, source)?
            }
        }
        Expr::Binary(BinaryOp::And, a, b) => {
            boolean(evaluate(a, source)?.is_true() && evaluate(b, source)?.is_true())
        }
        Expr::Binary(BinaryOp::Or, a, b) => {
            boolean(evaluate(a, source)?.is_true() || evaluate(b, source)?.is_true())
        }
        Expr::Binary(op, a, b) => binary(*op, evaluate(a, source)?, evaluate(b, source)?)?,
    })
}

fn attribute(
    name: &str,
    last_known: bool,
    source: &dyn AttributeSource,
) -> Result<FormulaValue, PolicyError> {
    let value = if last_known {
        source.value(name, Lookup::LastKnown)
    } else {
        source
            .value(name, Lookup::Current)
            .or_else(|| source.value(name, Lookup::LastKnown))
    };
    match value {
        Some(v) => Ok(FormulaValue::from_value(&v)),
        None => Err(PolicyError::new(format!(
            "attribute {name:?} has no {}value yet",
            if last_known { "last known " } else { "" }
        ))),
    }
}

fn binary(op: BinaryOp, a: FormulaValue, b: FormulaValue) -> Result<FormulaValue, PolicyError> {
    Ok(match op {
        BinaryOp::Add => match (&a, &b) {
            (Number(x), Number(y)) => Number(x + y),
            _ => Text(a.to_text() + &b.to_text()),
        },
        BinaryOp::Subtract => Number(number(&a)? - number(&b)?),
        BinaryOp::Multiply => Number(number(&a)? * number(&b)?),
        BinaryOp::Divide => Number(number(&a)? / number(&b)?),
        // Rust's `%` on f64 is C's fmod: the sign of the dividend, NaN for 0.
        BinaryOp::Remainder => Number(number(&a)? % number(&b)?),
        BinaryOp::Like => boolean(like(&a.to_text(), &b.to_text())),
        BinaryOp::Equal => boolean(compare(&a, &b) == Some(Ordering::Equal)),
        BinaryOp::NotEqual => boolean(compare(&a, &b) != Some(Ordering::Equal)),
        BinaryOp::Less => boolean(compare(&a, &b) == Some(Ordering::Less)),
        BinaryOp::LessEqual => boolean(matches!(
            compare(&a, &b),
            Some(Ordering::Less | Ordering::Equal)
        )),
        BinaryOp::Greater => boolean(compare(&a, &b) == Some(Ordering::Greater)),
        BinaryOp::GreaterEqual => boolean(matches!(
            compare(&a, &b),
            Some(Ordering::Greater | Ordering::Equal)
        )),
        // Short-circuiting operators never reach here; keep the meaning anyway.
        BinaryOp::And => boolean(a.is_true() && b.is_true()),
        BinaryOp::Or => boolean(a.is_true() || b.is_true()),
    })
}

fn boolean(b: bool) -> FormulaValue {
    Number(if b { 1.0 } else { 0.0 })
}

fn number(v: &FormulaValue) -> Result<f64, PolicyError> {
    v.as_number()
        .ok_or_else(|| PolicyError::new(format!("{v} is not a number")))
}

/// Numbers compare as numbers (NaN with nothing), texts as texts; a number
/// and a text as numbers when the text reads as one, else as texts.
fn compare(a: &FormulaValue, b: &FormulaValue) -> Option<Ordering> {
    match (a, b) {
        (Number(x), Number(y)) => x.partial_cmp(y),
        (Text(x), Text(y)) => Some(x.cmp(y)),
        (Number(x), Text(t)) => match text_number(t) {
            Some(y) => x.partial_cmp(&y),
            None => Some(number_text(*x).cmp(t)),
        },
        (Text(t), Number(y)) => match text_number(t) {
            Some(x) => x.partial_cmp(y),
            None => Some(t.cmp(&number_text(*y))),
        },
    }
}

/// A text read as a decimal number, surrounding whitespace ignored.
pub(super) fn text_number(s: &str) -> Option<f64> {
    let s = s.trim();
    // Rust also reads "inf" and "NaN"; the language has no such literals.
    if s.is_empty() || s.chars().any(|c| c.is_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    s.parse().ok()
}

/// A whole number without `.0` (as JSON would print it), others as Rust
/// prints them.
pub(super) fn number_text(n: f64) -> String {
    if n == 0.0 {
        // Also -0, which would print as "-0".
        "0".to_string()
    } else if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

/// SQL `LIKE`: `%` matches any run of characters, `_` exactly one, every
/// other character itself. Dynamic programming over the characters, so a
/// hostile pattern costs `O(text × pattern)`, never exponential time.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    // matched[j]: the pattern so far matches the first j characters.
    let mut matched = vec![false; text.len() + 1];
    matched[0] = true;
    for p in pattern.chars() {
        let mut next = vec![false; text.len() + 1];
        match p {
            '%' => {
                let mut any = false;
                for j in 0..=text.len() {
                    any |= matched[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 1..=text.len() {
                    next[j] = matched[j - 1] && (p == '_' || p == text[j - 1]);
                }
            }
        }
        matched = next;
    }
    matched[text.len()]
}
