//! ALERT and DATA formats of a device model and field validation.

use std::fmt;

use serde_json::{Map, Value as Json, json};

use super::parse::{self, Obj, Reason};
use crate::validate::{self, ValidationError, ValidationRule, ValidationTarget};
use crate::value::{Value, ValueType};

/// Whether a format describes alerts or custom data.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the protocol has exactly these two format types and the service is frozen"
)]
pub enum FormatType {
    /// `DATA`: custom data sent with `Data::submit`.
    Data,
    /// `ALERT`: an alert raised with `Alert::raise`.
    Alert,
}

impl FormatType {
    /// The wire name, `DATA` or `ALERT`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FormatType::Data => "DATA",
            FormatType::Alert => "ALERT",
        }
    }

    /// Reads a wire name, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<FormatType> {
        [FormatType::Data, FormatType::Alert]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for FormatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ALERT or DATA format: the named, typed fields of one kind of alert or
/// custom data message.
#[derive(Clone, Debug, PartialEq)]
pub struct Format {
    urn: String,
    name: String,
    description: String,
    format_type: FormatType,
    device_model: String,
    fields: Vec<Field>,
}

/// A field of a format.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    name: String,
    value_type: ValueType,
    optional: bool,
}

impl Field {
    /// The field's name, unique within the format.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared type.
    pub fn value_type(&self) -> ValueType {
        self.value_type
    }

    /// Whether a message may leave the field out.
    pub fn is_optional(&self) -> bool {
        self.optional
    }

    fn from_obj(o: &Obj<'_>) -> Result<Field, Reason> {
        Ok(Field {
            name: o.req_name("name")?.to_owned(),
            value_type: o.req_type("type")?,
            // Java requires `optional`; a missing one means required, the safe side.
            optional: o.opt_bool("optional")?.unwrap_or(false),
        })
    }

    fn to_json(&self) -> Json {
        json!({"name": self.name, "type": self.value_type.as_str(), "optional": self.optional})
    }
}

impl Format {
    /// The format's URN, which messages name in `payload.format`.
    pub fn urn(&self) -> &str {
        &self.urn
    }

    /// The format's name; empty when the model has none.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Free-form description. For an ALERT it becomes the alert message's
    /// `description`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// ALERT or DATA.
    pub fn format_type(&self) -> FormatType {
        self.format_type
    }

    /// The URN of the model that owns the format (`deviceModel`; the
    /// declaring model's URN when the JSON leaves it out).
    pub fn device_model(&self) -> &str {
        &self.device_model
    }

    /// The fields, in model order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks a value for one field (type only: formats have no ranges) and
    /// returns it normalised as [`Attribute::validate`] does.
    ///
    /// [`Attribute::validate`]: super::Attribute::validate
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] naming the field and format: [`ValidationRule::Unknown`]
    /// when the format has no such field, otherwise a type rule.
    pub fn validate_field(&self, name: &str, value: Value) -> Result<Value, ValidationError> {
        let field = self.known_field(name, || value.to_string())?;
        validate::check(value, field.value_type, None).map_err(|e| e.with_target(self.target(name)))
    }

    /// Reads a wire value for one field strictly (see [`Value::from_json`]).
    ///
    /// # Errors
    ///
    /// As [`Format::validate_field`], with the JSON text as the value.
    pub fn validate_field_json(&self, name: &str, json: &Json) -> Result<Value, ValidationError> {
        let field = self.known_field(name, || json.to_string())?;
        validate::check_json(json, field.value_type, None)
            .map_err(|e| e.with_target(self.target(name)))
    }

    /// Checks that every non-optional field is among `present`. A field set
    /// to `0`, `false` or `""` is present (Oracle's JS library wrongly treats
    /// such alert fields as missing).
    ///
    /// # Errors
    ///
    /// [`ValidationRule::Missing`] naming the first required field, in model order,
    /// that is not present.
    pub fn check_complete<'a>(
        &self,
        present: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ValidationError> {
        let present: Vec<&str> = present.into_iter().collect();
        match self
            .fields
            .iter()
            .find(|f| !f.optional && !present.contains(&f.name.as_str()))
        {
            Some(missing) => Err(ValidationError::new(ValidationRule::Missing)
                .with_target(self.target(&missing.name))),
            None => Ok(()),
        }
    }

    /// Checks a whole field set: each name known and given once, each value
    /// of its field's type, and every non-optional field present. Returns the
    /// normalised values in the order given.
    ///
    /// # Errors
    ///
    /// The first problem found: as [`Format::validate_field`], then
    /// [`ValidationRule::Duplicate`], then as [`Format::check_complete`].
    pub fn validate_fields(
        &self,
        fields: Vec<(String, Value)>,
    ) -> Result<Vec<(String, Value)>, ValidationError> {
        let mut out: Vec<(String, Value)> = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            if out.iter().any(|(n, _)| *n == name) {
                return Err(ValidationError::new(ValidationRule::Duplicate)
                    .with_value(&value)
                    .with_target(self.target(&name)));
            }
            let value = self.validate_field(&name, value)?;
            out.push((name, value));
        }
        self.check_complete(out.iter().map(|(n, _)| n.as_str()))?;
        Ok(out)
    }

    /// Checks the `data` object of a received ALERT or DATA message, as
    /// [`Format::validate_fields`] does. A `null` value counts as absent (so
    /// it is refused for a non-optional field only). Returns the values in
    /// the object's key order.
    ///
    /// # Errors
    ///
    /// As [`Format::validate_field_json`] and [`Format::check_complete`].
    pub fn validate_data_json(
        &self,
        data: &Map<String, Json>,
    ) -> Result<Vec<(String, Value)>, ValidationError> {
        let mut out = Vec::with_capacity(data.len());
        for (name, json) in data {
            if json.is_null() && self.field(name).is_some() {
                continue;
            }
            out.push((name.clone(), self.validate_field_json(name, json)?));
        }
        self.check_complete(out.iter().map(|(n, _)| n.as_str()))?;
        Ok(out)
    }

    fn known_field(
        &self,
        name: &str,
        shown: impl FnOnce() -> String,
    ) -> Result<&Field, ValidationError> {
        self.field(name).ok_or_else(|| {
            ValidationError::new(ValidationRule::Unknown)
                .with_value(shown())
                .with_target(self.target(name))
        })
    }

    fn target(&self, name: &str) -> ValidationTarget {
        ValidationTarget::Field {
            format: self.urn.clone(),
            name: name.to_owned(),
        }
    }

    /// Reads one element of a model's `formats` array.
    pub(super) fn from_obj(model_urn: &str, o: &Obj<'_>) -> Result<Format, Reason> {
        let urn = o.req_name("urn")?.to_owned();
        let type_name = o.req_str("type")?;
        let format_type = FormatType::parse(type_name).ok_or_else(|| {
            format!(
                "{}: expected one of DATA, ALERT; got {type_name:?}",
                o.path_of("type")
            )
        })?;
        let fields = match o.opt_obj("value")? {
            Some(value) => {
                let fields = parse::each(&value, "fields", |f| Field::from_obj(&f))?;
                parse::check_unique(
                    fields.iter().enumerate().map(|(i, f)| {
                        (
                            f.name.as_str(),
                            format!("{}[{i}].name", value.path_of("fields")),
                        )
                    }),
                    "field name",
                )?;
                fields
            }
            None => Vec::new(),
        };
        Ok(Format {
            urn,
            name: o.opt_str("name")?.unwrap_or_default().to_owned(),
            description: o.opt_str("description")?.unwrap_or_default().to_owned(),
            format_type,
            device_model: o.opt_str("deviceModel")?.unwrap_or(model_urn).to_owned(),
            fields,
        })
    }

    /// The Oracle JSON form of the format.
    pub(super) fn to_json(&self) -> Json {
        let fields: Vec<Json> = self.fields.iter().map(Field::to_json).collect();
        json!({
            "urn": self.urn,
            "name": self.name,
            "description": self.description,
            "type": self.format_type.as_str(),
            "deviceModel": self.device_model,
            "value": {"fields": fields},
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn format(json: Json) -> Result<Format, Reason> {
        Format::from_obj("urn:x", &Obj::new(&json, "formats[0]".into())?)
    }

    fn alert() -> Format {
        format(json!({
            "urn": "urn:x:too_hot", "name": "tooHot", "description": "Too hot", "type": "alert",
            "value": {"fields": [
                {"name": "temp", "type": "NUMBER", "optional": false},
                {"name": "count", "type": "INTEGER"},
                {"name": "ok", "type": "BOOLEAN", "optional": false},
                {"name": "note", "type": "STRING", "optional": true},
                {"name": "at", "type": "datetime", "optional": true}
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn reads_every_field() {
        let f = alert();
        assert_eq!(f.urn(), "urn:x:too_hot");
        assert_eq!(f.name(), "tooHot");
        assert_eq!(f.description(), "Too hot");
        assert_eq!(f.format_type(), FormatType::Alert);
        assert_eq!(f.device_model(), "urn:x");
        assert_eq!(f.fields().len(), 5);
        let count = f.field("count").unwrap();
        assert_eq!(
            (count.name(), count.value_type(), count.is_optional()),
            ("count", ValueType::Integer, false)
        );
        assert!(f.field("note").unwrap().is_optional());
        assert_eq!(f.field("at").unwrap().value_type(), ValueType::DateTime);
        assert!(f.field("nope").is_none());
    }

    #[test]
    fn format_types() {
        assert_eq!(FormatType::parse("data"), Some(FormatType::Data));
        assert_eq!(FormatType::parse("ALERT"), Some(FormatType::Alert));
        assert_eq!(FormatType::parse("EVENT"), None);
        assert_eq!(FormatType::Data.to_string(), "DATA");
    }

    #[test]
    fn refuses_bad_definitions() {
        let cases = [
            (
                json!({"type": "DATA"}),
                "formats[0].urn: required field is missing",
            ),
            (
                json!({"urn": "u"}),
                "formats[0].type: required field is missing",
            ),
            (
                json!({"urn": "u", "type": "EVENT"}),
                "formats[0].type: expected one of DATA, ALERT; got \"EVENT\"",
            ),
            (
                json!({"urn": "u", "type": "DATA", "value": []}),
                "formats[0].value: expected an object; got []",
            ),
            (
                json!({"urn": "u", "type": "DATA", "value": {"fields": [{"name": "a"}]}}),
                "formats[0].value.fields[0].type: required field is missing",
            ),
            (
                json!({"urn": "u", "type": "DATA", "value": {"fields": [{"name": "a", "type": "STRING", "optional": "no"}]}}),
                "formats[0].value.fields[0].optional: expected a boolean; got \"no\"",
            ),
            (
                json!({"urn": "u", "type": "DATA", "value": {"fields": [{"name": "a", "type": "STRING"}, {"name": "a", "type": "NUMBER"}]}}),
                "formats[0].value.fields[1].name: duplicate field name \"a\" (also formats[0].value.fields[0].name)",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(format(json).unwrap_err(), expected);
        }
        let bare = format(json!({"urn": "u", "type": "DATA", "deviceModel": "urn:other"})).unwrap();
        assert!(bare.fields().is_empty());
        assert_eq!(
            (bare.name(), bare.description(), bare.device_model()),
            ("", "", "urn:other")
        );
    }

    #[test]
    fn field_values_are_typed() {
        let f = alert();
        assert_eq!(
            f.validate_field("temp", Value::Integer(5)).unwrap(),
            Value::Number(5.0)
        );
        assert_eq!(
            f.validate_field("at", Value::from("2020-09-13T12:26:40Z"))
                .unwrap(),
            Value::DateTime(1_600_000_000_000)
        );
        let e = f.validate_field("count", Value::Number(1.5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field \"count\" of format urn:x:too_hot: value 1.5 is not an INTEGER"
        );
        let e = f.validate_field("colour", Value::from("red")).unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::Unknown);
        assert_eq!(
            e.to_string(),
            "field \"colour\" of format urn:x:too_hot: unknown field: the format has no field of that name"
        );
        assert_eq!(e.value(), Some("\"red\""));
        let e = f.validate_field_json("ok", &json!("true")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field \"ok\" of format urn:x:too_hot: value \"true\" is not a BOOLEAN"
        );
        assert_eq!(
            f.validate_field_json("temp", &json!(-3.5)).unwrap(),
            Value::Number(-3.5)
        );
        assert_eq!(
            f.validate_field_json("x", &json!(1)).unwrap_err().rule(),
            &ValidationRule::Unknown
        );
    }

    #[test]
    fn completeness_counts_falsy_values_as_present() {
        let f = alert();
        assert!(f.check_complete(["temp", "count", "ok"]).is_ok());
        let e = f.check_complete(["temp", "ok", "note"]).unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::Missing);
        assert_eq!(
            e.to_string(),
            "field \"count\" of format urn:x:too_hot: a value is required but none was given"
        );

        let falsy = vec![
            ("temp".to_owned(), Value::Integer(0)),
            ("count".to_owned(), Value::Integer(0)),
            ("ok".to_owned(), Value::Boolean(false)),
            ("note".to_owned(), Value::from("")),
        ];
        let out = f.validate_fields(falsy).unwrap();
        assert_eq!(out[0], ("temp".to_owned(), Value::Number(0.0)));
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn whole_field_sets() {
        let f = alert();
        let dup = vec![
            ("temp".to_owned(), Value::Integer(1)),
            ("temp".to_owned(), Value::Integer(2)),
        ];
        assert_eq!(
            f.validate_fields(dup).unwrap_err().rule(),
            &ValidationRule::Duplicate
        );
        let missing = vec![("temp".to_owned(), Value::Integer(1))];
        assert_eq!(
            f.validate_fields(missing).unwrap_err().name(),
            Some("count")
        );

        let data = json!({"temp": 0, "count": 0, "ok": false, "note": null, "at": 5});
        let out = f.validate_data_json(data.as_object().unwrap()).unwrap();
        assert_eq!(out.len(), 4, "null counts as absent: {out:?}");
        let data = json!({"temp": 1, "count": null, "ok": true});
        assert_eq!(
            f.validate_data_json(data.as_object().unwrap())
                .unwrap_err()
                .name(),
            Some("count")
        );
        let data = json!({"temp": 1, "count": 1, "ok": true, "extra": null});
        assert_eq!(
            f.validate_data_json(data.as_object().unwrap())
                .unwrap_err()
                .rule(),
            &ValidationRule::Unknown
        );
    }

    #[test]
    fn json_form_round_trips() {
        let f = alert();
        let j = f.to_json();
        assert_eq!(j["type"], "ALERT");
        assert_eq!(j["deviceModel"], "urn:x");
        assert_eq!(
            j["value"]["fields"][1],
            json!({"name": "count", "type": "INTEGER", "optional": false})
        );
        assert_eq!(format(j).unwrap(), f);
    }
}
