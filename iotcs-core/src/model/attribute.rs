//! Attributes of a device model and their validation.

use serde_json::{Map, Value as Json, json};

use super::parse::{Obj, Reason};
use super::range::Range;
use crate::validate::{self, ValidationError, ValidationRule, ValidationTarget};
use crate::value::{Value, ValueType};

/// An attribute of a device model: a named, typed value the device reports
/// and, when writable, the cloud may change.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    model_urn: String,
    name: String,
    description: String,
    value_type: ValueType,
    alias: Option<String>,
    range: Option<Range>,
    writable: bool,
    default_value: Option<Value>,
}

impl Attribute {
    /// The URN of the model that declares the attribute, named in validation
    /// errors.
    pub fn model_urn(&self) -> &str {
        &self.model_urn
    }

    /// The attribute's name, unique within the model.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Free-form description; empty when the model has none.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The declared type.
    pub fn value_type(&self) -> ValueType {
        self.value_type
    }

    /// An alternative name accepted wherever the name is, e.g. `ora_lat` for
    /// `ora_latitude`.
    pub fn alias(&self) -> Option<&str> {
        self.alias.as_deref()
    }

    /// The inclusive range of an INTEGER or NUMBER attribute.
    pub fn range(&self) -> Option<&Range> {
        self.range.as_ref()
    }

    /// Whether the cloud may change the value. Read-only attributes are set
    /// by the device only.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The value before the device first sets one, already of the declared
    /// type and within the range.
    pub fn default_value(&self) -> Option<&Value> {
        self.default_value.as_ref()
    }

    /// Whether `name_or_alias` is this attribute's name or alias.
    pub fn is_named(&self, name_or_alias: &str) -> bool {
        self.name == name_or_alias || self.alias.as_deref() == Some(name_or_alias)
    }

    /// Checks a value for this attribute and returns it normalised to the
    /// declared type: an `Integer` for a NUMBER attribute becomes a `Number`,
    /// an integral `Number` for an INTEGER attribute an `Integer`, an
    /// `Integer` or ISO-8601 `String` for a DATETIME attribute a `DateTime`,
    /// a `String` for a URI attribute a `Uri`.
    ///
    /// This is the device's own check, so read-only attributes pass; use
    /// [`Attribute::check_writable`] for updates that come from the cloud.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] naming this attribute and the value, with rule
    /// [`ValidationRule::WrongType`], [`ValidationRule::NotFinite`], [`ValidationRule::OutsideI64`] or
    /// [`ValidationRule::OutOfRange`] (inclusive bounds).
    pub fn validate(&self, value: Value) -> Result<Value, ValidationError> {
        validate::check(value, self.value_type, self.range.as_ref())
            .map_err(|e| e.with_target(self.target()))
    }

    /// Reads a wire value for this attribute strictly (see
    /// [`Value::from_json`]) and checks the range.
    ///
    /// # Errors
    ///
    /// As [`Attribute::validate`], with the JSON text as the value.
    pub fn validate_json(&self, json: &Json) -> Result<Value, ValidationError> {
        validate::check_json(json, self.value_type, self.range.as_ref())
            .map_err(|e| e.with_target(self.target()))
    }

    /// Checks that the cloud may change this attribute, i.e. that it is
    /// writable. The device itself may set read-only attributes.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] with rule [`ValidationRule::NotWritable`] naming the
    /// attribute (without a value; see [`Attribute::validate_remote_json`]).
    pub fn check_writable(&self) -> Result<(), ValidationError> {
        if self.writable {
            Ok(())
        } else {
            Err(ValidationError::new(ValidationRule::NotWritable).with_target(self.target()))
        }
    }

    /// The checks for an update requested by the cloud (a REQUEST to
    /// `deviceModels/<urn>/attributes`): writable first, then
    /// [`Attribute::validate_json`].
    ///
    /// # Errors
    ///
    /// [`ValidationRule::NotWritable`] (with the value), then as
    /// [`Attribute::validate_json`].
    pub fn validate_remote_json(&self, json: &Json) -> Result<Value, ValidationError> {
        self.check_writable().map_err(|e| e.with_json(json))?;
        self.validate_json(json)
    }

    fn target(&self) -> ValidationTarget {
        ValidationTarget::Attribute {
            model: self.model_urn.clone(),
            name: self.name.clone(),
        }
    }

    /// Reads one element of a model's `attributes` array.
    pub(super) fn from_obj(model_urn: &str, o: &Obj<'_>) -> Result<Attribute, Reason> {
        let name = o.req_name("name")?.to_owned();
        let value_type = o.req_type("type")?;
        let range = o.opt_range("range", Some(value_type))?;
        Ok(Attribute {
            model_urn: model_urn.to_owned(),
            name,
            description: o.opt_str("description")?.unwrap_or_default().to_owned(),
            value_type,
            alias: o.opt_nonempty_str("alias")?.map(str::to_owned),
            default_value: o.opt_default("defaultValue", value_type, range.as_ref())?,
            range,
            writable: o.opt_bool("writable")?.unwrap_or(false),
        })
    }

    /// The Oracle JSON form of the attribute.
    pub(super) fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("description".into(), json!(self.description));
        m.insert("type".into(), json!(self.value_type.as_str()));
        if let Some(alias) = &self.alias {
            m.insert("alias".into(), json!(alias));
        }
        if let Some(range) = &self.range {
            m.insert("range".into(), json!(range.to_model_string()));
        }
        m.insert("writable".into(), json!(self.writable));
        if let Some(v) = &self.default_value {
            m.insert("defaultValue".into(), v.to_json());
        }
        Json::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attribute(json: Json) -> Result<Attribute, Reason> {
        Attribute::from_obj("urn:x", &Obj::new(&json, "attributes[0]".into())?)
    }

    fn temp() -> Attribute {
        attribute(json!({"name": "temp", "type": "number", "range": "0,100", "alias": "t"}))
            .unwrap()
    }

    #[test]
    fn reads_every_field() {
        let a = attribute(json!({
            "name": "level", "description": "Fill level", "type": "INTEGER", "alias": "lvl",
            "range": "0,10", "writable": true, "defaultValue": 3, "unknownField": [1, 2]
        }))
        .unwrap();
        assert_eq!(a.model_urn(), "urn:x");
        assert_eq!(a.name(), "level");
        assert_eq!(a.description(), "Fill level");
        assert_eq!(a.value_type(), ValueType::Integer);
        assert_eq!(a.alias(), Some("lvl"));
        assert_eq!(a.range(), Some(&Range::new(0.0, 10.0).unwrap()));
        assert!(a.is_writable());
        assert_eq!(a.default_value(), Some(&Value::Integer(3)));
        assert!(a.is_named("level") && a.is_named("lvl") && !a.is_named("Level"));
    }

    #[test]
    fn optional_fields_default() {
        let a = attribute(json!({"name": "on", "type": "BOOLEAN"})).unwrap();
        assert_eq!(a.description(), "");
        assert_eq!(a.alias(), None);
        assert_eq!(a.range(), None);
        assert!(!a.is_writable());
        assert_eq!(a.default_value(), None);
    }

    #[test]
    fn refuses_bad_definitions() {
        let cases = [
            (
                json!({"type": "INTEGER"}),
                "attributes[0].name: required field is missing",
            ),
            (
                json!({"name": "a"}),
                "attributes[0].type: required field is missing",
            ),
            (
                json!({"name": "a", "type": "FLOAT"}),
                "attributes[0].type: expected one of INTEGER, NUMBER, STRING, BOOLEAN, DATETIME, URI; got \"FLOAT\"",
            ),
            (
                json!({"name": "a", "type": "STRING", "range": "0,1"}),
                "attributes[0].range: a range is only allowed on INTEGER and NUMBER, not STRING",
            ),
            (
                json!({"name": "a", "type": "NUMBER", "range": "1,0"}),
                "attributes[0].range: range minimum 1 is greater than its maximum 0",
            ),
            (
                json!({"name": "a", "type": "NUMBER", "range": 5}),
                "attributes[0].range: expected a string; got 5",
            ),
            (
                json!({"name": "a", "type": "NUMBER", "writable": 1}),
                "attributes[0].writable: expected a boolean; got 1",
            ),
            (
                json!({"name": "a", "type": "BOOLEAN", "defaultValue": "true"}),
                "attributes[0].defaultValue: value \"true\" is not a BOOLEAN",
            ),
            (
                json!({"name": "a", "type": "INTEGER", "range": "0,5", "defaultValue": 6}),
                "attributes[0].defaultValue: value 6 is outside the range 0..5",
            ),
            (
                json!({"name": "a", "type": "INTEGER", "alias": false}),
                "attributes[0].alias: expected a string; got false",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(attribute(json).unwrap_err(), expected);
        }
        let e = attribute(json!({"name": "a", "type": "NUMBER", "range": "x,1"})).unwrap_err();
        assert!(
            e.starts_with("attributes[0].range: range \"x,1\" is not two finite numbers"),
            "{e}"
        );
    }

    #[test]
    fn validate_normalises_and_checks_range() {
        let a = temp();
        assert_eq!(a.validate(Value::Integer(20)).unwrap(), Value::Number(20.0));
        assert_eq!(
            a.validate(Value::Number(100.0)).unwrap(),
            Value::Number(100.0)
        );
        let e = a.validate(Value::Number(120.5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "attribute \"temp\" of urn:x: value 120.5 is outside the range 0..100"
        );
        assert_eq!(e.name(), Some("temp"));
        let e = a.validate(Value::Number(f64::NAN)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "attribute \"temp\" of urn:x: value NaN is not a finite number"
        );
        let e = a.validate(Value::from("20")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "attribute \"temp\" of urn:x: value \"20\" is not a NUMBER"
        );
    }

    #[test]
    fn validate_json_is_strict() {
        let a = temp();
        assert_eq!(a.validate_json(&json!(20)).unwrap(), Value::Number(20.0));
        let e = a.validate_json(&json!(101)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "attribute \"temp\" of urn:x: value 101 is outside the range 0..100"
        );
        let e = a.validate_json(&json!(true)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "attribute \"temp\" of urn:x: value true is not a NUMBER"
        );

        let count = attribute(json!({"name": "count", "type": "INTEGER"})).unwrap();
        assert_eq!(count.validate_json(&json!(5.0)).unwrap(), Value::Integer(5));
        let e = count.validate_json(&json!(1e30)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "attribute \"count\" of urn:x: value 1e+30 is outside the 64-bit integer range"
        );
    }

    #[test]
    fn datetime_and_uri_attributes_take_their_stand_ins() {
        let when = attribute(json!({"name": "when", "type": "DATETIME"})).unwrap();
        assert_eq!(
            when.validate(Value::from("2020-09-13T12:26:40Z")).unwrap(),
            Value::DateTime(1_600_000_000_000)
        );
        assert_eq!(
            when.validate(Value::Integer(5)).unwrap(),
            Value::DateTime(5)
        );
        assert_eq!(
            when.validate_json(&json!("2020-09-13T12:26:40.000Z"))
                .unwrap(),
            Value::DateTime(1_600_000_000_000)
        );
        let e = when.validate(Value::from("today")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("attribute \"when\" of urn:x: value \"today\" is not a DATETIME"),
            "{e}"
        );

        let link = attribute(json!({"name": "link", "type": "URI"})).unwrap();
        assert_eq!(
            link.validate(Value::from("https://h/o")).unwrap(),
            Value::Uri("https://h/o".into())
        );
    }

    #[test]
    fn only_writable_attributes_may_be_changed_by_the_cloud() {
        let ro = temp();
        assert!(
            ro.validate(Value::Number(1.0)).is_ok(),
            "the device may set read-only attributes"
        );
        let e = ro.check_writable().unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::NotWritable);
        assert_eq!(
            e.to_string(),
            "attribute \"temp\" of urn:x: the attribute is not writable, only the device sets it"
        );
        let e = ro.validate_remote_json(&json!(5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "attribute \"temp\" of urn:x: value 5 refused: the attribute is not writable, only the device sets it"
        );

        let rw =
            attribute(json!({"name": "max", "type": "INTEGER", "writable": true, "range": "0,9"}))
                .unwrap();
        assert!(rw.check_writable().is_ok());
        assert_eq!(
            rw.validate_remote_json(&json!(9)).unwrap(),
            Value::Integer(9)
        );
        assert_eq!(
            rw.validate_remote_json(&json!(10)).unwrap_err().rule(),
            &ValidationRule::OutOfRange {
                range: Range::new(0.0, 9.0).unwrap()
            }
        );
    }

    #[test]
    fn json_form_round_trips() {
        let a = attribute(json!({
            "name": "level", "description": "d", "type": "integer", "alias": "lvl",
            "range": "0,10", "writable": true, "defaultValue": 3
        }))
        .unwrap();
        let j = a.to_json();
        assert_eq!(
            j,
            json!({"name": "level", "description": "d", "type": "INTEGER", "alias": "lvl",
                   "range": "0,10", "writable": true, "defaultValue": 3})
        );
        assert_eq!(attribute(j).unwrap(), a);
    }
}
