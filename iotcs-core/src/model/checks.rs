//! Whole-model validation: attribute values looked up by name or alias, and
//! the attribute maps of DATA messages and cloud update requests.

use serde_json::{Map, Value as Json};

use super::{Attribute, DeviceModel};
use crate::validate::{ValidationError, ValidationRule, ValidationTarget};
use crate::value::Value;

impl DeviceModel {
    /// Looks up an attribute by name or alias and checks a value the device
    /// sets, as [`Attribute::validate`] does.
    ///
    /// # Errors
    ///
    /// [`ValidationRule::Unknown`] when the model has no such attribute, otherwise as
    /// [`Attribute::validate`].
    pub fn validate_attribute(
        &self,
        name_or_alias: &str,
        value: Value,
    ) -> Result<(&Attribute, Value), ValidationError> {
        let attribute = self.known_attribute(name_or_alias, || value.to_string())?;
        Ok((attribute, attribute.validate(value)?))
    }

    /// Checks the `data` of an attribute DATA message (format
    /// `<urn>:attributes`) sent by the device: every key an attribute name or
    /// alias, every value valid. Returns canonical names and normalised
    /// values in the object's key order.
    ///
    /// # Errors
    ///
    /// The first invalid entry: [`ValidationRule::Unknown`] or as
    /// [`Attribute::validate_json`].
    pub fn validate_attributes_json(
        &self,
        data: &Map<String, Json>,
    ) -> Result<Vec<(String, Value)>, ValidationError> {
        self.attributes_json(data, Attribute::validate_json)
    }

    /// Checks the body of an attribute update requested by the cloud (`PUT
    /// .../attributes/<name>` gives one entry, `PATCH .../attributes` many):
    /// every key an attribute name or alias, every attribute writable, every
    /// value valid. Returns canonical names and normalised values.
    ///
    /// # Errors
    ///
    /// The first invalid entry: [`ValidationRule::Unknown`], [`ValidationRule::NotWritable`] or as
    /// [`Attribute::validate_json`].
    pub fn validate_remote_attributes_json(
        &self,
        data: &Map<String, Json>,
    ) -> Result<Vec<(String, Value)>, ValidationError> {
        self.attributes_json(data, Attribute::validate_remote_json)
    }

    fn attributes_json(
        &self,
        data: &Map<String, Json>,
        check: impl Fn(&Attribute, &Json) -> Result<Value, ValidationError>,
    ) -> Result<Vec<(String, Value)>, ValidationError> {
        let mut out: Vec<(String, Value)> = Vec::with_capacity(data.len());
        for (key, json) in data {
            let attribute = self.known_attribute(key, || json.to_string())?;
            if out.iter().any(|(n, _)| n == attribute.name()) {
                // The name and its alias both given.
                let target = ValidationTarget::Attribute {
                    model: self.urn().to_owned(),
                    name: key.clone(),
                };
                return Err(ValidationError::new(ValidationRule::Duplicate)
                    .with_json(json)
                    .with_target(target));
            }
            out.push((attribute.name().to_owned(), check(attribute, json)?));
        }
        Ok(out)
    }

    fn known_attribute(
        &self,
        name: &str,
        shown: impl FnOnce() -> String,
    ) -> Result<&Attribute, ValidationError> {
        self.attribute(name).ok_or_else(|| {
            let target = ValidationTarget::Attribute {
                model: self.urn().to_owned(),
                name: name.to_owned(),
            };
            ValidationError::new(ValidationRule::Unknown)
                .with_value(shown())
                .with_target(target)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn everything() -> DeviceModel {
        DeviceModel::from_json(include_str!("../../models/test_everything.json")).unwrap()
    }

    #[test]
    fn model_level_validation() {
        let m = everything();
        let (a, v) = m.validate_attribute("ora_lat", Value::from(45)).unwrap();
        assert_eq!((a.name(), v), ("ora_latitude", Value::Number(45.0)));
        let e = m
            .validate_attribute("ora_lat", Value::from(91))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "attribute \"ora_latitude\" of urn:com:example:iotcs:everything: value 91 is outside the range -90..90"
        );
        let e = m
            .validate_attribute("colour", Value::from("red"))
            .unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::Unknown);
        assert_eq!(
            e.to_string(),
            "attribute \"colour\" of urn:com:example:iotcs:everything: unknown attribute: the model has no attribute of that name"
        );
        assert_eq!(e.value(), Some("\"red\""));

        let data = json!({"ora_lat": 1.5, "ora_longitude": 2, "ora_zone": "A", "since": "2020-09-13T12:26:40Z"});
        let got = m
            .validate_attributes_json(data.as_object().unwrap())
            .unwrap();
        assert_eq!(
            got,
            [
                ("ora_latitude".to_owned(), Value::Number(1.5)),
                ("ora_longitude".to_owned(), Value::Number(2.0)),
                ("ora_zone".to_owned(), Value::from("A")),
                ("since".to_owned(), Value::DateTime(1_600_000_000_000)),
            ]
        );
        let both = json!({"ora_lat": 1, "ora_latitude": 2});
        let e = m
            .validate_attributes_json(both.as_object().unwrap())
            .unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::Duplicate);
        let unknown = json!({"nope": 1});
        assert_eq!(
            m.validate_attributes_json(unknown.as_object().unwrap())
                .unwrap_err()
                .rule(),
            &ValidationRule::Unknown
        );

        let patch = json!({"count": 7, "label": "x"});
        assert_eq!(
            m.validate_remote_attributes_json(patch.as_object().unwrap())
                .unwrap()
                .len(),
            2
        );
        let read_only = json!({"count": 7, "ora_zone": "B"});
        let e = m
            .validate_remote_attributes_json(read_only.as_object().unwrap())
            .unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::NotWritable);
        assert_eq!(e.name(), Some("ora_zone"));
        let bad = json!({"count": 1001});
        assert_eq!(
            m.validate_remote_attributes_json(bad.as_object().unwrap())
                .unwrap_err()
                .to_string(),
            "attribute \"count\" of urn:com:example:iotcs:everything: value 1001 is outside the range 0..1000"
        );
    }
}
