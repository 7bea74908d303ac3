//! Typed values of attributes, action arguments and format fields, and their
//! JSON form on the wire.
//!
//! Six types exist (protocol §6.2). On the wire they are plain JSON: numbers,
//! strings and booleans, with DATETIME as epoch milliseconds and URI as a
//! string. Reading is strict (protocol §5.4, "Value typing"): a BOOLEAN must be
//! a JSON boolean, a number is never read from a string, and an INTEGER must
//! fit in an `i64`. The one leniency is DATETIME, which Oracle's JavaScript
//! library sends as an ISO-8601 string, so both forms are read.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::time;

/// The type of an attribute, action argument or format field.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the protocol defines exactly these six types and the service is frozen, so callers may match exhaustively"
)]
pub enum ValueType {
    /// `INTEGER`: a whole number that fits in an `i64`.
    Integer,
    /// `NUMBER`: a finite floating-point number.
    Number,
    /// `STRING`: text.
    String,
    /// `BOOLEAN`: `true` or `false`.
    Boolean,
    /// `DATETIME`: an instant, epoch milliseconds on the wire.
    DateTime,
    /// `URI`: a URI as a string, e.g. a link to a storage object.
    Uri,
}

impl ValueType {
    /// Every type, in the order the protocol lists them.
    pub const ALL: [ValueType; 6] = [
        ValueType::Integer,
        ValueType::Number,
        ValueType::String,
        ValueType::Boolean,
        ValueType::DateTime,
        ValueType::Uri,
    ];

    /// The wire name: `INTEGER`, `NUMBER`, `STRING`, `BOOLEAN`, `DATETIME` or `URI`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ValueType::Integer => "INTEGER",
            ValueType::Number => "NUMBER",
            ValueType::String => "STRING",
            ValueType::Boolean => "BOOLEAN",
            ValueType::DateTime => "DATETIME",
            ValueType::Uri => "URI",
        }
    }

    /// Reads a wire name, ignoring ASCII case (`"integer"` is `Integer`), as
    /// servers and hand-written models are not consistent about case.
    pub fn parse(s: &str) -> Option<ValueType> {
        ValueType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether the type is INTEGER or NUMBER, the only types a range applies to.
    pub fn is_numeric(&self) -> bool {
        matches!(self, ValueType::Integer | ValueType::Number)
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed value of an attribute, action argument or format field.
///
/// Build one with `From` (`Value::from(21.5)`, `Value::from("on")`,
/// `Value::from(SystemTime::now())`) and let the model validate and normalise
/// it: an `Integer` given for a NUMBER attribute becomes a `Number`, a
/// `String` given for a URI attribute becomes a `Uri`, and so on.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "one variant per ValueType, which is closed; callers may match exhaustively"
)]
pub enum Value {
    /// An INTEGER.
    Integer(i64),
    /// A NUMBER. Values accepted by validation are always finite.
    Number(f64),
    /// A STRING.
    String(String),
    /// A BOOLEAN.
    Boolean(bool),
    /// A DATETIME, as milliseconds since 1970-01-01T00:00:00Z.
    DateTime(i64),
    /// A URI.
    Uri(String),
}

impl Value {
    /// The type of this value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Integer(_) => ValueType::Integer,
            Value::Number(_) => ValueType::Number,
            Value::String(_) => ValueType::String,
            Value::Boolean(_) => ValueType::Boolean,
            Value::DateTime(_) => ValueType::DateTime,
            Value::Uri(_) => ValueType::Uri,
        }
    }

    /// The wire form: a JSON number, string or boolean; DATETIME as a number
    /// of epoch milliseconds, URI as a string.
    ///
    /// A non-finite `Number` (which validation never lets through) has no JSON
    /// form and becomes `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Integer(i) | Value::DateTime(i) => serde_json::Value::from(*i),
            Value::Number(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) | Value::Uri(s) => serde_json::Value::from(s.as_str()),
            Value::Boolean(b) => serde_json::Value::Bool(*b),
        }
    }

    /// The value as an `i64`, for INTEGER and DATETIME (epoch ms) values.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) | Value::DateTime(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as an `f64`, for NUMBER and INTEGER values.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(f) => Some(*f),
            // Precision loss beyond 2^53 is inherent: NUMBER is an f64 on the wire.
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The text of a STRING or URI value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::Uri(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a BOOLEAN.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }
}

/// Integers, numbers and booleans as in JSON; strings and URIs quoted as JSON
/// strings; DATETIME as ISO-8601 UTC. Used in error messages and logs.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Integer(i) => write!(f, "{i}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::String(s) | Value::Uri(s) => {
                write!(f, "{}", serde_json::Value::from(s.as_str()))
            }
            Value::DateTime(ms) => f.write_str(&time::format_iso8601(*ms)),
        }
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Number(f64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Number(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

/// A DATETIME of the instant, in whole milliseconds (rounded towards the
/// past); instants beyond the `i64` range saturate.
impl From<SystemTime> for Value {
    fn from(v: SystemTime) -> Self {
        let ms = match v.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => {
                let d = before.duration();
                // Round towards the past: 0.5 ms before the epoch is -1 ms.
                let whole = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                let partial = i64::from(d.subsec_nanos() % 1_000_000 != 0);
                whole.saturating_add(partial).saturating_neg()
            }
        };
        Value::DateTime(ms)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn type_names_are_case_insensitive_on_input_and_upper_case_on_output() {
        assert_eq!(ValueType::parse("integer"), Some(ValueType::Integer));
        assert_eq!(ValueType::parse("DateTime"), Some(ValueType::DateTime));
        assert_eq!(ValueType::parse("uri"), Some(ValueType::Uri));
        assert_eq!(ValueType::parse("FLOAT"), None);
        assert_eq!(ValueType::parse(""), None);
        for t in ValueType::ALL {
            assert_eq!(ValueType::parse(t.as_str()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
            assert_eq!(t.as_str(), t.as_str().to_ascii_uppercase());
        }
        assert!(ValueType::Integer.is_numeric() && ValueType::Number.is_numeric());
        assert!(!ValueType::DateTime.is_numeric() && !ValueType::String.is_numeric());
    }

    #[test]
    fn conversions_from_rust_types() {
        assert_eq!(Value::from(5i32), Value::Integer(5));
        assert_eq!(Value::from(-5i64), Value::Integer(-5));
        assert_eq!(Value::from(u32::MAX), Value::Integer(4_294_967_295));
        assert_eq!(Value::from(1.5f32), Value::Number(1.5));
        assert_eq!(Value::from(2.25f64), Value::Number(2.25));
        assert_eq!(Value::from(true), Value::Boolean(true));
        assert_eq!(Value::from("on"), Value::String("on".into()));
        assert_eq!(Value::from(String::from("x")), Value::String("x".into()));
        let t = UNIX_EPOCH + Duration::from_millis(1_600_000_000_123);
        assert_eq!(Value::from(t), Value::DateTime(1_600_000_000_123));
        let before = UNIX_EPOCH - Duration::from_micros(1_500);
        assert_eq!(Value::from(before), Value::DateTime(-2));
        assert_eq!(
            Value::from(UNIX_EPOCH - Duration::from_millis(3)),
            Value::DateTime(-3)
        );
    }

    #[test]
    fn accessors() {
        assert_eq!(Value::Integer(3).as_i64(), Some(3));
        assert_eq!(Value::DateTime(3).as_i64(), Some(3));
        assert_eq!(Value::Number(3.0).as_i64(), None);
        assert_eq!(Value::Integer(3).as_f64(), Some(3.0));
        assert_eq!(Value::Number(3.5).as_f64(), Some(3.5));
        assert_eq!(Value::Uri("u".into()).as_str(), Some("u"));
        assert_eq!(Value::Boolean(true).as_str(), None);
        assert_eq!(Value::Boolean(false).as_bool(), Some(false));
        assert_eq!(Value::Integer(0).as_bool(), None);
        for (v, t) in [
            (Value::Integer(1), ValueType::Integer),
            (Value::Number(1.0), ValueType::Number),
            (Value::from("s"), ValueType::String),
            (Value::Boolean(true), ValueType::Boolean),
            (Value::DateTime(1), ValueType::DateTime),
            (Value::Uri("u".into()), ValueType::Uri),
        ] {
            assert_eq!(v.value_type(), t);
        }
    }

    #[test]
    fn to_json_uses_the_wire_forms() {
        assert_eq!(Value::Integer(7).to_json(), json!(7));
        assert_eq!(Value::Number(7.5).to_json(), json!(7.5));
        assert_eq!(Value::Number(f64::NAN).to_json(), json!(null));
        assert_eq!(Value::from("a\"b").to_json(), json!("a\"b"));
        assert_eq!(Value::Boolean(false).to_json(), json!(false));
        assert_eq!(
            Value::DateTime(1_600_000_000_000).to_json(),
            json!(1_600_000_000_000i64)
        );
        assert_eq!(
            Value::Uri("https://x/y".into()).to_json(),
            json!("https://x/y")
        );
    }

    #[test]
    fn display_is_readable() {
        assert_eq!(Value::Integer(-3).to_string(), "-3");
        assert_eq!(Value::Number(120.5).to_string(), "120.5");
        assert_eq!(Value::Number(f64::NAN).to_string(), "NaN");
        assert_eq!(Value::from("hot").to_string(), "\"hot\"");
        assert_eq!(
            Value::DateTime(1_600_000_000_000).to_string(),
            "2020-09-13T12:26:40.000Z"
        );
    }

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::Integer),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::Number),
            any::<String>().prop_map(Value::String),
            any::<bool>().prop_map(Value::Boolean),
            any::<i64>().prop_map(Value::DateTime),
            "[a-z]{1,8}://[a-z0-9./-]{0,30}".prop_map(Value::Uri),
        ]
    }

    proptest! {
        #[test]
        fn json_round_trips_for_every_type(v in any_value()) {
            let back = Value::from_json(&v.to_json(), v.value_type()).unwrap();
            prop_assert_eq!(back, v);
        }

        #[test]
        fn json_text_round_trips_for_every_type(v in any_value()) {
            // Through the serialised text as well, as the value travels.
            // serde_json's default float parser may be a unit in the last
            // place off (exact parsing is its `float_roundtrip` feature), and
            // further off for subnormals, so NUMBER is compared within a
            // relative 2 epsilon or 1e-300 absolute.
            let text = serde_json::to_string(&v.to_json()).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            let back = Value::from_json(&parsed, v.value_type()).unwrap();
            match (&back, &v) {
                (Value::Number(a), Value::Number(b)) => {
                    let close = (a - b).abs() <= (2.0 * f64::EPSILON * b.abs()).max(1e-300);
                    prop_assert!(close, "{} vs {}", a, b);
                }
                _ => prop_assert_eq!(back, v),
            }
        }

        #[test]
        fn iso_strings_read_as_datetimes(ms in any::<i64>()) {
            let iso = serde_json::Value::from(time::format_iso8601(ms));
            prop_assert_eq!(Value::from_json(&iso, ValueType::DateTime).unwrap(), Value::DateTime(ms));
        }
    }
}
