//! The formula language of device policies (protocol §7.2): conditions of
//! `filterCondition`, `alertCondition` and `actionCondition`, the formula of
//! `computedMetric`, and the values of alert fields and action arguments.
//!
//! A [`Formula`] is parsed once, when a policy arrives, into an expression
//! tree; evaluating it reads attribute values through an
//! [`AttributeSource`] and does no parsing.
//!
//! The language is described, with an example, in the docs of
//! [`crate::policy`].

mod eval;
mod lexer;
mod parser;

use std::fmt;

use self::parser::Expr;
use super::PolicyError;
use crate::value::{Value, ValueType};

/// Deepest expression tree a formula may have: deeper texts are refused,
/// so that evaluating untrusted formulas cannot exhaust the stack.
pub const MAX_FORMULA_DEPTH: usize = 64;

/// A parsed formula of the policy language: parse it once, evaluate it
/// often.
#[derive(Clone, Debug)]
pub struct Formula {
    text: String,
    expr: Expr,
    references: Vec<AttributeRef>,
}

/// One attribute reference in a formula: `$(name)` or `$$(name)`.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct AttributeRef {
    /// The attribute's name as written (trimmed).
    pub name: String,
    /// `true` for `$$(name)`, the last known value only.
    pub last_known: bool,
}

/// Which value of an attribute a formula asks its [`AttributeSource`] for.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the language has exactly these two references, $( ) and $$( )"
)]
pub enum Lookup {
    /// The value being processed (offered or in the message at hand).
    Current,
    /// The last value known for the attribute.
    LastKnown,
}

/// Where a formula reads attribute values from. A closure
/// `Fn(&str, Lookup) -> Option<Value>` is one.
///
/// `$(attr)` asks for [`Lookup::Current`] first and falls back to
/// [`Lookup::LastKnown`]; `$$(attr)` asks for the last known value only.
pub trait AttributeSource {
    /// The value of attribute `name`, or `None` when there is none.
    fn value(&self, name: &str, lookup: Lookup) -> Option<Value>;
}

impl<F> AttributeSource for F
where
    F: Fn(&str, Lookup) -> Option<Value>,
{
    fn value(&self, name: &str, lookup: Lookup) -> Option<Value> {
        self(name, lookup)
    }
}

/// The result of a formula: a number or a text (§7.2 has no other values;
/// booleans are 1 and 0).
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the language has exactly these two kinds of value"
)]
pub enum FormulaValue {
    /// A number (booleans are 1 and 0).
    Number(f64),
    /// A text.
    Text(String),
}

impl Formula {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// [`Error::Policy`](crate::Error::Policy) naming the 0-based
    /// [`position`](PolicyError::position) and what was expected there,
    /// also for a formula nested deeper than [`MAX_FORMULA_DEPTH`].
    pub fn parse(text: &str) -> Result<Formula, crate::Error> {
        Formula::parse_detail(text).map_err(crate::Error::from)
    }

    pub(crate) fn parse_detail(text: &str) -> Result<Formula, PolicyError> {
        let tokens = lexer::tokenize(text)?;
        let expr = parser::parse(&tokens, text.chars().count())?;
        let mut references = Vec::new();
        expr.collect_references(&mut references);
        Ok(Formula {
            text: text.to_string(),
            expr,
            references,
        })
    }

    /// The text the formula was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Every attribute reference, in order of appearance, without repeats.
    pub fn references(&self) -> &[AttributeRef] {
        &self.references
    }

    /// The names of the attributes the formula reads (through `$( )` or
    /// `$$( )`), in order of appearance, each once. A `computedMetric` runs
    /// after the attributes its formula reads.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<&str> = Vec::new();
        self.references.iter().filter_map(move |r| {
            if seen.contains(&r.name.as_str()) {
                None
            } else {
                seen.push(&r.name);
                Some(r.name.as_str())
            }
        })
    }

    /// Evaluates the formula, reading attributes from `source`.
    ///
    /// # Errors
    ///
    /// [`Error::Policy`](crate::Error::Policy) when a referenced attribute
    /// has no value, or a text that is not a number is used as one.
    pub fn evaluate(&self, source: &dyn AttributeSource) -> Result<FormulaValue, crate::Error> {
        eval::evaluate(&self.expr, source).map_err(crate::Error::from)
    }

    /// [`evaluate`](Self::evaluate), then its truthiness: what a condition
    /// means.
    ///
    /// # Errors
    ///
    /// As [`evaluate`](Self::evaluate).
    pub fn is_true(&self, source: &dyn AttributeSource) -> Result<bool, crate::Error> {
        Ok(self.evaluate(source)?.is_true())
    }
}

/// Two formulas are equal when their texts are.
impl PartialEq for Formula {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// The formula's text, as written.
impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FormulaValue {
    /// The truthiness of §7.2: a number is true unless 0, NaN or infinite;
    /// a text is true unless empty.
    pub fn is_true(&self) -> bool {
        match self {
            FormulaValue::Number(n) => *n != 0.0 && n.is_finite(),
            FormulaValue::Text(s) => !s.is_empty(),
        }
    }

    /// The number, or a text read as a decimal number; `None` for a text
    /// that is not one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            FormulaValue::Number(n) => Some(*n),
            FormulaValue::Text(s) => eval::text_number(s),
        }
    }

    /// The text form: a whole number without `.0`, `NaN`, `inf`.
    pub fn to_text(&self) -> String {
        match self {
            FormulaValue::Number(n) => eval::number_text(*n),
            FormulaValue::Text(s) => s.clone(),
        }
    }

    /// The value converted to a device-model type, as an alert field, an
    /// action argument or a computed attribute needs it: INTEGER and
    /// DATETIME round to the nearest whole number, BOOLEAN is the
    /// truthiness, STRING and URI the text form. `None` when it cannot be
    /// (a non-finite or non-numeric value for a numeric type, or beyond
    /// `i64`).
    pub fn to_value(&self, value_type: ValueType) -> Option<Value> {
        let whole = |n: f64| {
            let r = n.round();
            // i64::MAX as f64 rounds up to 2^63, which is out of range.
            (r.is_finite() && r >= -(2f64.powi(63)) && r < 2f64.powi(63)).then_some(r as i64)
        };
        match value_type {
            ValueType::Number => self
                .as_number()
                .filter(|n| n.is_finite())
                .map(Value::Number),
            ValueType::Integer => self.as_number().and_then(whole).map(Value::Integer),
            ValueType::DateTime => self.as_number().and_then(whole).map(Value::DateTime),
            ValueType::Boolean => Some(Value::Boolean(self.is_true())),
            ValueType::String => Some(Value::String(self.to_text())),
            ValueType::Uri => Some(Value::Uri(self.to_text())),
        }
    }

    /// The value a formula sees for an attribute value: numbers for
    /// INTEGER, NUMBER and DATETIME, 1 or 0 for BOOLEAN, text otherwise.
    pub fn from_value(value: &Value) -> FormulaValue {
        match value {
            Value::Integer(i) | Value::DateTime(i) => FormulaValue::Number(*i as f64),
            Value::Number(n) => FormulaValue::Number(*n),
            Value::Boolean(b) => FormulaValue::Number(if *b { 1.0 } else { 0.0 }),
            Value::String(s) | Value::Uri(s) => FormulaValue::Text(s.clone()),
        }
    }
}

impl fmt::Display for FormulaValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormulaValue::Number(n) => f.write_str(&eval::number_text(*n)),
            FormulaValue::Text(s) => write!(f, "{s:?}"),
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
