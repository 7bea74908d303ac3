//! Why a value was rejected by a device model, and the type and range checks
//! shared by attributes, action arguments and format fields.
//!
//! A rejection is a [`ValidationError`]: *what* was being checked (a
//! [`ValidationTarget`]: an attribute of a model, an argument of an action, a
//! field of a format), *which value* (rendered as text, shortened when long),
//! and *which rule* it broke (a [`ValidationRule`]). Its `Display` reads like
//! `attribute "temp" of urn:x: value 120.5 is outside the range 0..100`.
//!
//! The entry points live on the model types: [`Attribute::validate`],
//! [`Action::validate`], [`Format::validate_field`], [`Format::check_complete`]
//! and their JSON and whole-model forms on [`DeviceModel`].
//!
//! [`Attribute::validate`]: crate::model::Attribute::validate
//! [`Action::validate`]: crate::model::Action::validate
//! [`Format::validate_field`]: crate::model::Format::validate_field
//! [`Format::check_complete`]: crate::model::Format::check_complete
//! [`DeviceModel`]: crate::model::DeviceModel

use std::fmt;

use crate::model::Range;
use crate::time;
use crate::value::{Value, ValueType};

/// Rendered values longer than this many characters are shortened in messages,
/// so that a 64 KiB string does not end up in a log line.
const MAX_SHOWN_CHARS: usize = 80;

/// Why a value was rejected by a device model: which attribute, argument or
/// field, which value, and which rule.
///
/// A rejection is an expected outcome, not a failure of the library: the
/// device SDK turns it into `Error::Validation` (or a 400 answer to the cloud),
/// the local cloud into a 400 answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidationError(Box<Inner>);

/// Boxed so that `Result<_, ValidationError>` and `Error` stay small.
#[derive(Clone, Debug, PartialEq)]
struct Inner {
    target: Option<ValidationTarget>,
    value: Option<String>,
    rule: ValidationRule,
}

/// What a rejected value was meant for.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ValidationTarget {
    /// An attribute of a device model (named as the caller named it, which may
    /// be an alias or a name the model does not have).
    Attribute {
        /// The device model's URN.
        model: String,
        /// The attribute's name.
        name: String,
    },
    /// An argument of an action.
    Argument {
        /// The device model's URN.
        model: String,
        /// The action's name.
        action: String,
        /// The argument's name; `None` for the single argument of a legacy
        /// (`argType`) action.
        name: Option<String>,
    },
    /// A field of an ALERT or DATA format.
    Field {
        /// The format's URN.
        format: String,
        /// The field's name.
        name: String,
    },
}

impl ValidationTarget {
    /// The attribute, argument or field name, when there is one.
    pub fn name(&self) -> Option<&str> {
        match self {
            ValidationTarget::Attribute { name, .. } | ValidationTarget::Field { name, .. } => {
                Some(name)
            }
            ValidationTarget::Argument { name, .. } => name.as_deref(),
        }
    }

    /// `attribute`, `argument` or `field`.
    fn kind(&self) -> &'static str {
        match self {
            ValidationTarget::Attribute { .. } => "attribute",
            ValidationTarget::Argument { .. } => "argument",
            ValidationTarget::Field { .. } => "field",
        }
    }

    /// What has no member of the name: `the model`, `the action`, `the format`.
    fn owner(&self) -> &'static str {
        match self {
            ValidationTarget::Attribute { .. } => "the model",
            ValidationTarget::Argument { .. } => "the action",
            ValidationTarget::Field { .. } => "the format",
        }
    }
}

impl fmt::Display for ValidationTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidationTarget::Attribute { model, name } => {
                write!(f, "attribute \"{name}\" of {model}")
            }
            ValidationTarget::Argument {
                model,
                action,
                name: Some(name),
            } => {
                write!(f, "argument \"{name}\" of action \"{action}\" of {model}")
            }
            ValidationTarget::Argument {
                model,
                action,
                name: None,
            } => {
                write!(f, "argument of action \"{action}\" of {model}")
            }
            ValidationTarget::Field { format, name } => {
                write!(f, "field \"{name}\" of format {format}")
            }
        }
    }
}

/// The rule a rejected value broke.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum ValidationRule {
    /// The value does not have the declared type, and is not one of the
    /// accepted stand-ins (an integral number for INTEGER, an integer for
    /// NUMBER, an ISO-8601 string or integer for DATETIME, a string for URI).
    WrongType {
        /// The declared type.
        expected: ValueType,
    },
    /// The number is NaN or infinite.
    NotFinite,
    /// The integral value does not fit in a 64-bit signed integer.
    OutsideI64,
    /// The number is outside the model's inclusive range.
    OutOfRange {
        /// The model's range.
        range: Range,
    },
    /// The attribute is read-only: the device may set it, the cloud may not.
    NotWritable,
    /// The model, action or format has no attribute, argument or field of
    /// that name (nor alias, for attributes).
    Unknown,
    /// A non-optional field, or an argument without a default, has no value.
    Missing,
    /// A value was given for an action that takes no argument.
    Unexpected,
    /// The same name was given more than once.
    Duplicate,
    /// An action request body is not a JSON object.
    NotAnObject,
}

impl ValidationError {
    /// A rejection by `rule`, with neither target nor value yet.
    pub fn new(rule: ValidationRule) -> Self {
        ValidationError(Box::new(Inner {
            target: None,
            value: None,
            rule,
        }))
    }

    /// Sets what the value was meant for.
    pub fn with_target(mut self, target: ValidationTarget) -> Self {
        self.0.target = Some(target);
        self
    }

    /// Records the rejected value as text (its `Display` form, e.g. JSON),
    /// shortened to about 80 characters.
    pub fn with_value(mut self, value: impl fmt::Display) -> Self {
        let mut shown = value.to_string();
        if let Some((cut, _)) = shown.char_indices().nth(MAX_SHOWN_CHARS) {
            shown.truncate(cut);
            shown.push('…');
        }
        self.0.value = Some(shown);
        self
    }

    /// What the value was meant for; `None` when the check had no context,
    /// as in [`Value::from_json`].
    pub fn target(&self) -> Option<&ValidationTarget> {
        self.0.target.as_ref()
    }

    /// The attribute, argument or field name, when known.
    pub fn name(&self) -> Option<&str> {
        self.target().and_then(ValidationTarget::name)
    }

    /// The rejected value as text (JSON-like, possibly shortened), when there
    /// was one.
    pub fn value(&self) -> Option<&str> {
        self.0.value.as_deref()
    }

    /// The rule the value broke.
    pub fn rule(&self) -> &ValidationRule {
        &self.0.rule
    }

    /// Shorthand for a JSON value, whose `Display` is compact JSON.
    pub(crate) fn with_json(self, json: &serde_json::Value) -> Self {
        self.with_value(json)
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self.target();
        if let Some(target) = target {
            write!(f, "{target}: ")?;
        }
        let subject = match self.value() {
            Some(v) => format!("value {v}"),
            None => "the value".to_owned(),
        };
        match self.rule() {
            ValidationRule::WrongType { expected } => {
                let article = if *expected == ValueType::Integer {
                    "an"
                } else {
                    "a"
                };
                write!(f, "{subject} is not {article} {expected}")?;
                if *expected == ValueType::DateTime {
                    f.write_str(" (epoch milliseconds or an ISO-8601 date-time with a zone)")?;
                }
                Ok(())
            }
            ValidationRule::NotFinite => write!(f, "{subject} is not a finite number"),
            ValidationRule::OutsideI64 => {
                write!(f, "{subject} is outside the 64-bit integer range")
            }
            ValidationRule::OutOfRange { range } => {
                write!(f, "{subject} is outside the range {range}")
            }
            ValidationRule::NotWritable => refused(
                f,
                self.value(),
                "the attribute is not writable, only the device sets it",
            ),
            ValidationRule::Unknown => match target {
                Some(t) => write!(
                    f,
                    "unknown {}: {} has no {} of that name",
                    t.kind(),
                    t.owner(),
                    t.kind()
                ),
                None => f.write_str("unknown name"),
            },
            ValidationRule::Missing => f.write_str("a value is required but none was given"),
            ValidationRule::Unexpected => refused(f, self.value(), "the action takes no argument"),
            ValidationRule::Duplicate => {
                refused(f, self.value(), "the name was given more than once")
            }
            ValidationRule::NotAnObject => {
                refused(f, self.value(), "the request body must be a JSON object")
            }
        }
    }
}

/// `value V refused: why`, or just `why` when there is no value to show.
fn refused(f: &mut fmt::Formatter<'_>, value: Option<&str>, why: &str) -> fmt::Result {
    match value {
        Some(v) => write!(f, "value {v} refused: {why}"),
        None => f.write_str(why),
    }
}

impl std::error::Error for ValidationError {}

/// Checks a value against a declared type and optional range and returns it
/// normalised to that type. The error has no target: the caller adds it.
///
/// Accepted stand-ins: an `Integer` for NUMBER (becomes `Number`), an integral
/// `Number` for INTEGER or DATETIME, an `Integer` or ISO-8601 `String` for
/// DATETIME, a `String` for URI.
pub(crate) fn check(
    value: Value,
    ty: ValueType,
    range: Option<&Range>,
) -> Result<Value, ValidationError> {
    let value =
        coerce(value, ty).map_err(|(rule, value)| ValidationError::new(rule).with_value(value))?;
    if let Some(range) = range {
        let n = match value {
            Value::Integer(i) => Some(i as f64),
            Value::Number(f) => Some(f),
            _ => None,
        };
        if n.is_some_and(|n| !range.contains(n)) {
            return Err(
                ValidationError::new(ValidationRule::OutOfRange { range: *range })
                    .with_value(&value),
            );
        }
    }
    Ok(value)
}

/// Reads a JSON value of a declared type and checks the optional range.
pub(crate) fn check_json(
    json: &serde_json::Value,
    ty: ValueType,
    range: Option<&Range>,
) -> Result<Value, ValidationError> {
    let value = Value::from_json(json, ty)?;
    check(value, ty, range).map_err(|e| e.with_json(json))
}

/// Converts `value` to `ty` where the protocol allows it; gives the value back
/// with the rule when it does not.
fn coerce(value: Value, ty: ValueType) -> Result<Value, (ValidationRule, Value)> {
    let wrong = ValidationRule::WrongType { expected: ty };
    match (ty, value) {
        (ValueType::Integer, Value::Integer(i)) => Ok(Value::Integer(i)),
        (ValueType::Integer, Value::Number(f)) => integral_f64(f, ty)
            .map(Value::Integer)
            .map_err(|rule| (rule, Value::Number(f))),
        (ValueType::Number, Value::Number(f)) if !f.is_finite() => {
            Err((ValidationRule::NotFinite, Value::Number(f)))
        }
        (ValueType::Number, Value::Number(f)) => Ok(Value::Number(f)),
        // Precision loss beyond 2^53 is inherent: NUMBER is an f64 on the wire.
        (ValueType::Number, Value::Integer(i)) => Ok(Value::Number(i as f64)),
        (ValueType::String, Value::String(s)) => Ok(Value::String(s)),
        (ValueType::Boolean, Value::Boolean(b)) => Ok(Value::Boolean(b)),
        (ValueType::DateTime, Value::DateTime(ms) | Value::Integer(ms)) => Ok(Value::DateTime(ms)),
        (ValueType::DateTime, Value::Number(f)) => integral_f64(f, ty)
            .map(Value::DateTime)
            .map_err(|rule| (rule, Value::Number(f))),
        (ValueType::DateTime, Value::String(s)) => match time::parse_iso8601(&s) {
            Some(ms) => Ok(Value::DateTime(ms)),
            None => Err((wrong, Value::String(s))),
        },
        (ValueType::Uri, Value::Uri(s) | Value::String(s)) => Ok(Value::Uri(s)),
        (_, other) => Err((wrong, other)),
    }
}

/// Reading wire values lives here rather than in `value`, so that `value`
/// (the types) does not depend on this module (the rules) and the two
/// files do not import each other.
impl Value {
    /// Reads a wire value of a known type, strictly (protocol §5.4):
    ///
    /// - BOOLEAN: a JSON boolean.
    /// - INTEGER: a JSON number with no fractional part that fits in an `i64`
    ///   (`5` and `5.0` are fine, `5.5` and `1e30` are not).
    /// - NUMBER: any JSON number.
    /// - DATETIME: a number of epoch milliseconds (integral, in `i64`) or an
    ///   ISO-8601 string with a zone ([`time::parse_iso8601`]).
    /// - STRING and URI: a JSON string.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] without a target (the caller knows which
    /// attribute or field it was reading and adds it with
    /// [`ValidationError::with_target`]) whose rule is
    /// [`ValidationRule::WrongType`] or [`ValidationRule::OutsideI64`].
    pub fn from_json(json: &serde_json::Value, ty: ValueType) -> Result<Value, ValidationError> {
        let wrong =
            || ValidationError::new(ValidationRule::WrongType { expected: ty }).with_json(json);
        match (ty, json) {
            (ValueType::Boolean, serde_json::Value::Bool(b)) => Ok(Value::Boolean(*b)),
            (ValueType::Integer, serde_json::Value::Number(n)) => json_integer(n, ty)
                .map(Value::Integer)
                .map_err(|e| e.with_json(json)),
            (ValueType::Number, serde_json::Value::Number(n)) => match n.as_f64() {
                Some(f) if f.is_finite() => Ok(Value::Number(f)),
                _ => Err(ValidationError::new(ValidationRule::NotFinite).with_json(json)),
            },
            (ValueType::DateTime, serde_json::Value::Number(n)) => json_integer(n, ty)
                .map(Value::DateTime)
                .map_err(|e| e.with_json(json)),
            (ValueType::DateTime, serde_json::Value::String(s)) => time::parse_iso8601(s)
                .map(Value::DateTime)
                .ok_or_else(wrong),
            (ValueType::String, serde_json::Value::String(s)) => Ok(Value::String(s.clone())),
            (ValueType::Uri, serde_json::Value::String(s)) => Ok(Value::Uri(s.clone())),
            _ => Err(wrong()),
        }
    }
}

/// Reads a JSON number as an `i64`, accepting an integral float.
fn json_integer(n: &serde_json::Number, ty: ValueType) -> Result<i64, ValidationError> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Err(ValidationError::new(ValidationRule::OutsideI64));
    }
    match n.as_f64() {
        Some(f) => integral_f64(f, ty).map_err(ValidationError::new),
        None => Err(ValidationError::new(ValidationRule::WrongType {
            expected: ty,
        })),
    }
}

/// Converts a float with no fractional part to an `i64`; `ty` names the type
/// being read for the error.
pub(crate) fn integral_f64(f: f64, ty: ValueType) -> Result<i64, ValidationRule> {
    // 2^63 is exactly representable; every finite f64 below it in magnitude
    // and integral converts exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !f.is_finite() {
        Err(ValidationRule::NotFinite)
    } else if f.fract() != 0.0 {
        Err(ValidationRule::WrongType { expected: ty })
    } else if !(-LIMIT..LIMIT).contains(&f) {
        Err(ValidationRule::OutsideI64)
    } else {
        // Exact: checked integral and in range above.
        Ok(f as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn range(min: f64, max: f64) -> Range {
        Range::new(min, max).unwrap()
    }

    fn attr(name: &str) -> ValidationTarget {
        ValidationTarget::Attribute {
            model: "urn:x".into(),
            name: name.into(),
        }
    }

    #[test]
    fn error_stays_small() {
        assert_eq!(
            std::mem::size_of::<ValidationError>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn display_names_target_value_and_rule() {
        let e = check(
            Value::Number(120.5),
            ValueType::Number,
            Some(&range(0.0, 100.0)),
        )
        .unwrap_err()
        .with_target(attr("temp"));
        assert_eq!(
            e.to_string(),
            "attribute \"temp\" of urn:x: value 120.5 is outside the range 0..100"
        );
        assert_eq!(e.name(), Some("temp"));
        assert_eq!(e.value(), Some("120.5"));
        assert_eq!(
            e.rule(),
            &ValidationRule::OutOfRange {
                range: range(0.0, 100.0)
            }
        );

        let e = ValidationError::new(ValidationRule::Unknown)
            .with_value(5)
            .with_target(attr("nope"));
        assert_eq!(
            e.to_string(),
            "attribute \"nope\" of urn:x: unknown attribute: the model has no attribute of that name"
        );

        let e = ValidationError::new(ValidationRule::NotWritable)
            .with_value(5)
            .with_target(attr("temp"));
        assert_eq!(
            e.to_string(),
            "attribute \"temp\" of urn:x: value 5 refused: the attribute is not writable, only the device sets it"
        );

        let arg = ValidationTarget::Argument {
            model: "urn:x".into(),
            action: "reset".into(),
            name: None,
        };
        let e = ValidationError::new(ValidationRule::Unexpected)
            .with_value(1)
            .with_target(arg);
        assert_eq!(
            e.to_string(),
            "argument of action \"reset\" of urn:x: value 1 refused: the action takes no argument"
        );
        assert_eq!(e.name(), None);

        let arg = ValidationTarget::Argument {
            model: "urn:x".into(),
            action: "cal".into(),
            name: Some("offset".into()),
        };
        let e = ValidationError::new(ValidationRule::Missing).with_target(arg);
        assert_eq!(
            e.to_string(),
            "argument \"offset\" of action \"cal\" of urn:x: a value is required but none was given"
        );

        let field = ValidationTarget::Field {
            format: "urn:x:alert".into(),
            name: "level".into(),
        };
        let e = ValidationError::new(ValidationRule::Unknown).with_target(field.clone());
        assert_eq!(
            e.to_string(),
            "field \"level\" of format urn:x:alert: unknown field: the format has no field of that name"
        );
        let e = ValidationError::new(ValidationRule::Duplicate)
            .with_value(2)
            .with_target(field);
        assert_eq!(
            e.to_string(),
            "field \"level\" of format urn:x:alert: value 2 refused: the name was given more than once"
        );

        let e = ValidationError::new(ValidationRule::NotAnObject).with_value("[]");
        assert_eq!(
            e.to_string(),
            "value [] refused: the request body must be a JSON object"
        );
        assert_eq!(
            ValidationError::new(ValidationRule::NotFinite).to_string(),
            "the value is not a finite number"
        );
        assert_eq!(
            ValidationError::new(ValidationRule::Unknown).to_string(),
            "unknown name"
        );
    }

    #[test]
    fn long_values_are_shortened() {
        let e = ValidationError::new(ValidationRule::Unexpected).with_value("é".repeat(1000));
        let shown = e.value().unwrap();
        assert_eq!(shown.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn integer_accepts_integral_numbers_only() {
        assert_eq!(
            check(Value::Integer(5), ValueType::Integer, None).unwrap(),
            Value::Integer(5)
        );
        assert_eq!(
            check(Value::Number(5.0), ValueType::Integer, None).unwrap(),
            Value::Integer(5)
        );
        let e = check(Value::Number(5.5), ValueType::Integer, None).unwrap_err();
        assert_eq!(e.to_string(), "value 5.5 is not an INTEGER");
        let e = check(Value::Number(1e30), ValueType::Integer, None).unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::OutsideI64);
        let e = check(Value::Number(f64::NAN), ValueType::Integer, None).unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::NotFinite);
        assert!(check(Value::from("5"), ValueType::Integer, None).is_err());
        assert!(check(Value::DateTime(5), ValueType::Integer, None).is_err());
    }

    #[test]
    fn number_accepts_integers_and_rejects_non_finite() {
        assert_eq!(
            check(Value::Integer(5), ValueType::Number, None).unwrap(),
            Value::Number(5.0)
        );
        assert_eq!(
            check(Value::Number(0.5), ValueType::Number, None).unwrap(),
            Value::Number(0.5)
        );
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let e = check(Value::Number(bad), ValueType::Number, None).unwrap_err();
            assert_eq!(e.rule(), &ValidationRule::NotFinite);
            assert!(e.to_string().ends_with("is not a finite number"), "{e}");
        }
        let e = check(Value::Boolean(true), ValueType::Number, None).unwrap_err();
        assert_eq!(e.to_string(), "value true is not a NUMBER");
    }

    #[test]
    fn datetime_accepts_integers_and_iso_strings() {
        let dt = |v| check(v, ValueType::DateTime, None);
        assert_eq!(dt(Value::DateTime(7)).unwrap(), Value::DateTime(7));
        assert_eq!(dt(Value::Integer(7)).unwrap(), Value::DateTime(7));
        assert_eq!(dt(Value::Number(7.0)).unwrap(), Value::DateTime(7));
        assert_eq!(
            dt(Value::from("1970-01-01T00:00:00.007Z")).unwrap(),
            Value::DateTime(7)
        );
        let e = dt(Value::from("soon")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("value \"soon\" is not a DATETIME"),
            "{e}"
        );
        assert_eq!(
            dt(Value::Number(7.5)).unwrap_err().rule(),
            &ValidationRule::WrongType {
                expected: ValueType::DateTime
            }
        );
        assert!(dt(Value::Boolean(false)).is_err());
    }

    #[test]
    fn strings_uris_and_booleans() {
        assert_eq!(
            check(Value::from("x"), ValueType::Uri, None).unwrap(),
            Value::Uri("x".into())
        );
        assert_eq!(
            check(Value::Uri("x".into()), ValueType::Uri, None).unwrap(),
            Value::Uri("x".into())
        );
        assert_eq!(
            check(Value::from(""), ValueType::String, None).unwrap(),
            Value::from("")
        );
        let e = check(Value::Uri("x".into()), ValueType::String, None).unwrap_err();
        assert_eq!(e.to_string(), "value \"x\" is not a STRING");
        assert_eq!(
            check(Value::Boolean(false), ValueType::Boolean, None).unwrap(),
            Value::Boolean(false)
        );
        let e = check(Value::Integer(1), ValueType::Boolean, None).unwrap_err();
        assert_eq!(e.to_string(), "value 1 is not a BOOLEAN");
    }

    #[test]
    fn ranges_are_inclusive() {
        let r = range(-10.0, 10.0);
        assert!(check(Value::Integer(-10), ValueType::Integer, Some(&r)).is_ok());
        assert!(check(Value::Integer(10), ValueType::Integer, Some(&r)).is_ok());
        assert!(check(Value::Number(10.0), ValueType::Number, Some(&r)).is_ok());
        let e = check(Value::Integer(11), ValueType::Integer, Some(&r)).unwrap_err();
        assert_eq!(e.to_string(), "value 11 is outside the range -10..10");
        let e = check(Value::Number(-10.001), ValueType::Number, Some(&r)).unwrap_err();
        assert_eq!(e.to_string(), "value -10.001 is outside the range -10..10");
        let e = check(Value::Integer(11), ValueType::Number, Some(&r)).unwrap_err();
        assert_eq!(e.value(), Some("11"), "reports the normalised value");
    }

    #[test]
    fn check_json_reports_the_json_value() {
        let r = range(0.0, 1.0);
        let e = check_json(&serde_json::json!(2), ValueType::Number, Some(&r)).unwrap_err();
        assert_eq!(e.to_string(), "value 2 is outside the range 0..1");
        let e = check_json(&serde_json::json!("2"), ValueType::Number, Some(&r)).unwrap_err();
        assert_eq!(e.to_string(), "value \"2\" is not a NUMBER");
        assert_eq!(
            check_json(&serde_json::json!(1), ValueType::Number, Some(&r)).unwrap(),
            Value::Number(1.0)
        );
    }

    #[test]
    fn from_json_booleans_must_be_booleans() {
        assert_eq!(
            Value::from_json(&json!(true), ValueType::Boolean).unwrap(),
            Value::Boolean(true)
        );
        for bad in [json!(1), json!("true"), json!(null), json!([true])] {
            let e = Value::from_json(&bad, ValueType::Boolean).unwrap_err();
            assert_eq!(
                e.rule(),
                &ValidationRule::WrongType {
                    expected: ValueType::Boolean
                }
            );
            assert!(e.to_string().contains("is not a BOOLEAN"), "{e}");
        }
    }

    #[test]
    fn from_json_integers_are_strict() {
        let int = |j: serde_json::Value| Value::from_json(&j, ValueType::Integer);
        assert_eq!(int(json!(5)).unwrap(), Value::Integer(5));
        assert_eq!(int(json!(-5)).unwrap(), Value::Integer(-5));
        assert_eq!(int(json!(5.0)).unwrap(), Value::Integer(5));
        assert_eq!(int(json!(i64::MIN)).unwrap(), Value::Integer(i64::MIN));
        assert_eq!(int(json!(i64::MAX)).unwrap(), Value::Integer(i64::MAX));

        let e = int(json!(5.5)).unwrap_err();
        assert_eq!(
            e.rule(),
            &ValidationRule::WrongType {
                expected: ValueType::Integer
            }
        );
        assert_eq!(e.to_string(), "value 5.5 is not an INTEGER");
        assert_eq!(e.value(), Some("5.5"));

        let e = int(json!(1e30)).unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::OutsideI64);
        assert_eq!(
            e.to_string(),
            "value 1e+30 is outside the 64-bit integer range"
        );
        assert_eq!(
            int(json!(u64::MAX)).unwrap_err().rule(),
            &ValidationRule::OutsideI64
        );
        assert_eq!(
            int(json!(9.3e18)).unwrap_err().rule(),
            &ValidationRule::OutsideI64
        );

        for bad in [json!("5"), json!(true), json!(null), json!({})] {
            assert_eq!(
                int(bad).unwrap_err().rule(),
                &ValidationRule::WrongType {
                    expected: ValueType::Integer
                }
            );
        }
    }

    #[test]
    fn from_json_numbers_accept_any_json_number() {
        let num = |j: serde_json::Value| Value::from_json(&j, ValueType::Number);
        assert_eq!(num(json!(5)).unwrap(), Value::Number(5.0));
        assert_eq!(num(json!(-0.25)).unwrap(), Value::Number(-0.25));
        assert_eq!(num(json!(1e30)).unwrap(), Value::Number(1e30));
        assert_eq!(
            num(json!(u64::MAX)).unwrap(),
            Value::Number(u64::MAX as f64)
        );
        let e = num(json!("5")).unwrap_err();
        assert_eq!(e.to_string(), "value \"5\" is not a NUMBER");
        assert!(num(json!(false)).is_err());
    }

    #[test]
    fn from_json_datetimes_take_milliseconds_or_iso8601() {
        let dt = |j: serde_json::Value| Value::from_json(&j, ValueType::DateTime);
        assert_eq!(
            dt(json!(1_600_000_000_000i64)).unwrap(),
            Value::DateTime(1_600_000_000_000)
        );
        assert_eq!(
            dt(json!(1.6e12)).unwrap(),
            Value::DateTime(1_600_000_000_000)
        );
        assert_eq!(
            dt(json!("2020-09-13T12:26:40.000Z")).unwrap(),
            Value::DateTime(1_600_000_000_000)
        );
        assert_eq!(
            dt(json!("2020-09-13T14:26:40+02:00")).unwrap(),
            Value::DateTime(1_600_000_000_000)
        );

        let e = dt(json!("2020-09-13")).unwrap_err();
        assert_eq!(
            e.rule(),
            &ValidationRule::WrongType {
                expected: ValueType::DateTime
            }
        );
        assert!(
            e.to_string()
                .starts_with("value \"2020-09-13\" is not a DATETIME"),
            "{e}"
        );
        assert_eq!(
            dt(json!(1.5)).unwrap_err().rule(),
            &ValidationRule::WrongType {
                expected: ValueType::DateTime
            }
        );
        assert_eq!(
            dt(json!(1e300)).unwrap_err().rule(),
            &ValidationRule::OutsideI64
        );
        assert!(dt(json!(true)).is_err());
        assert!(dt(json!("1600000000000")).is_err());
    }

    #[test]
    fn from_json_strings_and_uris_must_be_strings() {
        assert_eq!(
            Value::from_json(&json!("x"), ValueType::String).unwrap(),
            Value::from("x")
        );
        assert_eq!(
            Value::from_json(&json!(""), ValueType::String).unwrap(),
            Value::from("")
        );
        assert_eq!(
            Value::from_json(&json!("https://h/o"), ValueType::Uri).unwrap(),
            Value::Uri("https://h/o".into())
        );
        let e = Value::from_json(&json!(5), ValueType::String).unwrap_err();
        assert_eq!(e.to_string(), "value 5 is not a STRING");
        let e = Value::from_json(&json!(null), ValueType::Uri).unwrap_err();
        assert_eq!(e.to_string(), "value null is not a URI");
    }

    #[test]
    fn integral_f64_bounds() {
        assert_eq!(
            integral_f64(-9_223_372_036_854_775_808.0, ValueType::Integer),
            Ok(i64::MIN)
        );
        assert_eq!(
            integral_f64(9_223_372_036_854_775_808.0, ValueType::Integer),
            Err(ValidationRule::OutsideI64)
        );
        assert_eq!(
            integral_f64(f64::NAN, ValueType::Integer),
            Err(ValidationRule::NotFinite)
        );
        assert_eq!(
            integral_f64(f64::INFINITY, ValueType::Integer),
            Err(ValidationRule::NotFinite)
        );
        assert_eq!(integral_f64(-0.0, ValueType::Integer), Ok(0));
    }
}
