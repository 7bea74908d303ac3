//! Why a device policy, a function of it or a formula was refused: the one
//! detail type behind [`Error::Policy`](crate::Error::Policy).

use std::fmt;

/// What was wrong with a device policy, naming where: the pipeline's
/// attribute, the function, the parameter and, in a formula, the character
/// position. Also what went wrong evaluating a formula (an attribute without
/// a value, a text that is not a number).
///
/// Its `Display` reads like `pipeline "temp", function "mean", parameter
/// "window": expected a whole number of milliseconds above 0, got "soon"` or
/// `function "filterCondition", parameter "condition", at character 9:
/// expected a value, found ")"`.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyError(Box<Inner>);

/// Boxed so that `Result<_, Error>` stays small.
#[derive(Clone, Debug, PartialEq)]
struct Inner {
    attribute: Option<String>,
    function: Option<String>,
    parameter: Option<String>,
    position: Option<usize>,
    reason: String,
}

impl PolicyError {
    /// A problem with no location yet; the callers that know it add it.
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        PolicyError(Box::new(Inner {
            attribute: None,
            function: None,
            parameter: None,
            position: None,
            reason: reason.into(),
        }))
    }

    /// A problem at a 0-based character position of a formula.
    pub(crate) fn at(position: usize, reason: impl Into<String>) -> Self {
        let mut e = PolicyError::new(reason);
        e.0.position = Some(position);
        e
    }

    pub(crate) fn in_attribute(mut self, attribute: &str) -> Self {
        self.0
            .attribute
            .get_or_insert_with(|| attribute.to_string());
        self
    }

    pub(crate) fn in_function(mut self, function: &str) -> Self {
        self.0.function.get_or_insert_with(|| function.to_string());
        self
    }

    pub(crate) fn in_parameter(mut self, parameter: &str) -> Self {
        self.0
            .parameter
            .get_or_insert_with(|| parameter.to_string());
        self
    }

    /// Puts the parameter inside `outer`: `fields.t` becomes `alert.fields.t`,
    /// none becomes `alert`.
    pub(crate) fn within(mut self, outer: &str) -> Self {
        self.0.parameter = Some(match self.0.parameter.take() {
            Some(p) => format!("{outer}.{p}"),
            None => outer.to_string(),
        });
        self
    }

    /// The attribute whose pipeline is wrong (`*` for the model-level one).
    pub fn attribute(&self) -> Option<&str> {
        self.0.attribute.as_deref()
    }

    /// The function id, as the policy spells it (an unknown one included).
    pub fn function(&self) -> Option<&str> {
        self.0.function.as_deref()
    }

    /// The parameter of the function (for an alert's field, `alert.fields.<name>`).
    pub fn parameter(&self) -> Option<&str> {
        self.0.parameter.as_deref()
    }

    /// For a formula, the 0-based character position of the problem
    /// (`Display` shows it 1-based, as "at character N").
    pub fn position(&self) -> Option<usize> {
        self.0.position
    }

    /// What is wrong, without the location.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.0;
        let mut parts = Vec::new();
        match i.attribute.as_deref() {
            Some("*") => parts.push("model-level pipeline".to_string()),
            Some(a) => parts.push(format!("pipeline {a:?}")),
            None => {}
        }
        if let Some(function) = &i.function {
            parts.push(format!("function {function:?}"));
        }
        if let Some(parameter) = &i.parameter {
            parts.push(format!("parameter {parameter:?}"));
        }
        if let Some(position) = i.position {
            parts.push(format!("at character {}", position + 1));
        }
        if parts.is_empty() {
            f.write_str(&i.reason)
        } else {
            write!(f, "{}: {}", parts.join(", "), i.reason)
        }
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_every_known_place() {
        let e = PolicyError::at(8, "expected a value, found \")\"")
            .in_parameter("condition")
            .in_function("filterCondition")
            .in_attribute("temp");
        assert_eq!(
            e.to_string(),
            "pipeline \"temp\", function \"filterCondition\", parameter \"condition\", \
             at character 9: expected a value, found \")\""
        );
        assert_eq!(e.position(), Some(8));
        assert_eq!(e.function(), Some("filterCondition"));
        let model_level = PolicyError::new("boom").in_attribute("*");
        assert_eq!(model_level.to_string(), "model-level pipeline: boom");
        assert_eq!(PolicyError::new("plain").to_string(), "plain");
        // The innermost location wins: an outer caller does not overwrite it.
        let e = PolicyError::new("x")
            .in_parameter("alert.fields.t")
            .in_parameter("alert");
        assert_eq!(e.parameter(), Some("alert.fields.t"));
    }
}
