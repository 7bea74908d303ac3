//! The ALERT payload: `{"format", "description", "severity", "data"}`
//! (protocol §5.2). Oracle's JS client also puts a stray `"reliability"` in
//! it, which is read past.

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::{Map, Value as Json};

use super::data::{self, DataItems};
use super::kinds::Severity;
use super::limits;
use super::wire::{self, Ctx};
use crate::{Error, Value};

/// The payload of an `ALERT` message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AlertPayload {
    format: String,
    description: String,
    severity: Severity,
    data: DataItems,
}

impl AlertPayload {
    /// An alert of format `format` with its fields in `data`, which may be
    /// empty (an alert format can have no fields).
    ///
    /// Values are converted with [`Value::to_json`], as for DATA.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `format` is empty, a name is empty or appears
    /// twice, or a number is NaN or infinite.
    pub fn new<I, K, V>(
        format: impl Into<String>,
        description: impl Into<String>,
        severity: Severity,
        data: I,
    ) -> Result<AlertPayload, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        let format = format.into();
        if format.is_empty() {
            return Err(Error::argument("the alert format URN is empty"));
        }
        Ok(AlertPayload {
            format,
            description: description.into(),
            severity,
            data: data::items(data)?,
        })
    }

    /// The alert format URN.
    pub fn format(&self) -> &str {
        &self.format
    }

    /// The text shown with the alert.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The severity.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The fields, by name.
    pub fn data(&self) -> &DataItems {
        &self.data
    }

    /// The field named `name`.
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.data.get(name)
    }

    /// Reads the payload of an ALERT message. A missing description is empty,
    /// a missing severity `SIGNIFICANT` (the libraries' default) and missing
    /// data no fields; an unknown severity is an error.
    pub(super) fn parse(mut obj: Map<String, Json>, ctx: Ctx) -> Result<AlertPayload, Error> {
        let format = wire::non_empty_string(ctx, &mut obj, "format", "payload.format")?;
        let description =
            wire::optional_string(ctx, &mut obj, "description", "payload.description")?
                .unwrap_or_default();
        let severity = match wire::optional(&mut obj, "severity") {
            Some(v) => wire::wire_enum(ctx, v, "payload.severity")?,
            None => Severity::default(),
        };
        let data = match wire::optional(&mut obj, "data") {
            Some(v) => data::parse_items(ctx, v)?,
            None => DataItems::new(),
        };
        Ok(AlertPayload {
            format,
            description,
            severity,
            data,
        })
    }

    /// Checks the size limits (see [`super::Message::check_limits`]).
    pub(super) fn check_limits(&self) -> Result<(), Error> {
        limits::check_len(format_args!("payload.format"), self.format.len())?;
        limits::check_len(format_args!("payload.description"), self.description.len())?;
        limits::check_entries("payload.data", &self.data)
    }
}

impl Serialize for AlertPayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("AlertPayload", 4)?;
        st.serialize_field("format", &self.format)?;
        st.serialize_field("description", &self.description)?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("data", &self.data)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::message::{Message, Payload, Priority};

    #[test]
    fn new_allows_no_fields_and_refuses_an_empty_format() {
        let none: [(&str, i32); 0] = [];
        let p = AlertPayload::new("urn:x:alert", "", Severity::Low, none).unwrap();
        assert!(p.data().is_empty());
        assert_eq!(p.severity(), Severity::Low);
        let err = AlertPayload::new("", "d", Severity::Low, [("a", 1)]).unwrap_err();
        assert!(
            err.to_string().contains("alert format URN is empty"),
            "{err}"
        );
        let err = AlertPayload::new("urn:x", "d", Severity::Low, [("a", f64::NAN)]).unwrap_err();
        assert!(err.to_string().contains("finite"), "{err}");
    }

    #[test]
    fn serializes_every_field() {
        let p = AlertPayload::new("urn:a", "too hot", Severity::Critical, [("t", 99)]).unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"format":"urn:a","description":"too hot","severity":"CRITICAL","data":{"t":99}}"#
        );
    }

    #[test]
    fn parses_oracle_js_alert_with_stray_reliability() {
        // protocol-js §6.3: Node puts "reliability" inside the payload, sends
        // priority HIGHEST, remainingRetries, and DATETIME fields as ISO text.
        let text = r#"{"clientId":"5d0c0a3e-8f7b-4b0e-9d55-2c0d7b6f1a11","source":"0-AE","destination":"","sender":"","priority":"HIGHEST","reliability":"BEST_EFFORT","eventTime":1600000000000,"type":"ALERT","payload":{"format":"urn:com:oracle:iot:device:temperature_sensor:too_hot","reliability":"BEST_EFFORT","severity":"SIGNIFICANT","description":"Temperature has reached the maximum temperature threshold","data":{"temp":80.5,"maxThreshold":70,"when":"2020-09-13T12:26:40.000Z"}},"remainingRetries":3}"#;
        let m = Message::parse(text).unwrap();
        assert_eq!(m.priority(), Priority::Highest);
        let Payload::Alert(p) = m.payload() else {
            panic!("not an alert")
        };
        assert_eq!(
            p.format(),
            "urn:com:oracle:iot:device:temperature_sensor:too_hot"
        );
        assert_eq!(p.severity(), Severity::Significant);
        assert!(p.description().starts_with("Temperature"));
        assert_eq!(p.get("when"), Some(&json!("2020-09-13T12:26:40.000Z")));
        assert_eq!(p.get("maxThreshold"), Some(&json!(70)));
    }

    #[test]
    fn parse_defaults_what_is_missing() {
        let m = json!({"clientId": "c", "source": "s", "eventTime": 1, "type": "ALERT",
            "payload": {"format": "urn:a"}});
        let Payload::Alert(p) = Message::from_value(&m).unwrap().into_payload() else {
            panic!("not an alert")
        };
        assert_eq!((p.description(), p.severity()), ("", Severity::Significant));
        assert!(p.data().is_empty());
    }

    #[track_caller]
    fn rejects(payload: Json, expected: &str) {
        let m = json!({"clientId": "c", "source": "s", "eventTime": 1, "type": "ALERT", "payload": payload});
        let err = Message::from_value(&m).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{err:?} does not contain {expected:?}"
        );
    }

    #[test]
    fn parse_rejects_a_broken_payload() {
        rejects(json!({"severity": "LOW"}), "payload.format is missing");
        rejects(json!({"format": ""}), "payload.format is empty");
        rejects(
            json!({"format": "f", "severity": "HIGH"}),
            r#"payload.severity "HIGH" is not one of LOW, NORMAL, SIGNIFICANT, CRITICAL"#,
        );
        rejects(
            json!({"format": "f", "severity": 2}),
            "payload.severity is a number",
        );
        rejects(
            json!({"format": "f", "description": []}),
            "payload.description is an array",
        );
        rejects(
            json!({"format": "f", "data": {"a": {}}}),
            "payload.data.a is an object",
        );
        rejects(
            json!({"format": "f", "data": "x"}),
            "payload.data is a string",
        );
    }
}
