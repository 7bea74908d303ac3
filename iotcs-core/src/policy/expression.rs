//! An alert field's value or an action argument: a formula, or a literal
//! that is not one (§7.5: "a bare word such as `hot` stays a string").

use serde_json::Value as Json;

use super::{AttributeSource, Formula, FormulaValue, PolicyError};
use crate::value::Value;

/// A value in a policy that is a formula or a literal: an alert's field or
/// an action's argument.
///
/// A JSON string that parses as a formula is one (`"$(temp) * 2"`, `"5"`,
/// `"'on'"`); a string that does not parse and has no `$` is a literal
/// text (`"hot"`, `"door open"`); one with a `$` that does not parse is an
/// error, since it was meant as a formula. JSON numbers and booleans are
/// literals.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Expression {
    /// A formula, evaluated when the function fires.
    Formula(Formula),
    /// A literal value.
    Literal(Value),
}

impl Expression {
    pub(super) fn from_json(v: &Json) -> Result<Expression, PolicyError> {
        match v {
            Json::String(s) => match Formula::parse_detail(s) {
                Ok(f) => Ok(Expression::Formula(f)),
                Err(e) if s.contains('$') => Err(e),
                Err(_) => Ok(Expression::Literal(Value::String(s.clone()))),
            },
            Json::Bool(b) => Ok(Expression::Literal(Value::Boolean(*b))),
            Json::Number(n) => Ok(Expression::Literal(match n.as_i64() {
                Some(i) => Value::Integer(i),
                // serde_json numbers are finite; a u64 beyond i64 becomes its f64.
                None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            })),
            other => Err(PolicyError::new(format!(
                "expected a formula, a string, a number or a boolean, got {other}"
            ))),
        }
    }

    /// The value: the formula evaluated against `source`, or the literal.
    ///
    /// # Errors
    ///
    /// As [`Formula::evaluate`].
    pub fn evaluate(&self, source: &dyn AttributeSource) -> Result<FormulaValue, crate::Error> {
        match self {
            Expression::Formula(f) => f.evaluate(source),
            Expression::Literal(v) => Ok(FormulaValue::from_value(v)),
        }
    }

    /// The names of the attributes a formula reads; none for a literal.
    pub fn attributes(&self) -> Vec<&str> {
        match self {
            Expression::Formula(f) => f.attributes().collect(),
            Expression::Literal(_) => Vec::new(),
        }
    }
}
