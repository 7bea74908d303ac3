//! The DATA payload: `{"format": "<format URN>", "data": {name: value, …}}`
//! (protocol §5.2). Attribute updates use format `<model URN>:attributes`;
//! custom data uses the model's DATA format URN.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::{Map, Value as Json};

use super::limits;
use super::wire::{self, Ctx};
use crate::{Error, Value};

/// The values of a DATA or ALERT message, by field or attribute name, as their
/// JSON wire form: numbers, strings and booleans. Sorted by name, which makes
/// equality independent of the order a client wrote them in.
pub type DataItems = BTreeMap<String, Json>;

/// The payload of a `DATA` message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DataPayload {
    format: String,
    data: DataItems,
}

impl DataPayload {
    /// A payload of format `format` carrying `data`.
    ///
    /// Values are converted with [`Value::to_json`], so a DATETIME goes out as
    /// epoch milliseconds and a URI as its string.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `format` is empty, `data` is empty (the service
    /// refuses a DATA message without values), a name is empty or appears
    /// twice, or a number is NaN or infinite.
    pub fn new<I, K, V>(format: impl Into<String>, data: I) -> Result<DataPayload, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        let format = format.into();
        if format.is_empty() {
            return Err(Error::argument("the data format URN is empty"));
        }
        let data = items(data)?;
        if data.is_empty() {
            return Err(Error::argument(format!(
                "data message of format {format} has no values; send at least one"
            )));
        }
        Ok(DataPayload { format, data })
    }

    /// The format URN.
    pub fn format(&self) -> &str {
        &self.format
    }

    /// The values, by name.
    pub fn data(&self) -> &DataItems {
        &self.data
    }

    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.data.get(name)
    }

    /// Reads the payload of a DATA message.
    pub(super) fn parse(mut obj: Map<String, Json>, ctx: Ctx) -> Result<DataPayload, Error> {
        let format = wire::non_empty_string(ctx, &mut obj, "format", "payload.format")?;
        let data = parse_items(ctx, wire::required(ctx, &mut obj, "data", "payload.data")?)?;
        if data.is_empty() {
            return Err(
                ctx.error("payload.data is empty; a DATA message carries at least one value")
            );
        }
        Ok(DataPayload { format, data })
    }

    /// Checks the size limits (see [`super::Message::check_limits`]).
    pub(super) fn check_limits(&self) -> Result<(), Error> {
        limits::check_len(format_args!("payload.format"), self.format.len())?;
        limits::check_entries("payload.data", &self.data)
    }
}

impl Serialize for DataPayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("DataPayload", 2)?;
        st.serialize_field("format", &self.format)?;
        st.serialize_field("data", &self.data)?;
        st.end()
    }
}

/// Converts named values to their wire form, refusing what would be sent
/// wrongly: an empty or repeated name, a non-finite number (JSON has no NaN;
/// [`Value::to_json`] would send `null`).
pub(super) fn items<I, K, V>(data: I) -> Result<DataItems, Error>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<Value>,
{
    let mut out = DataItems::new();
    for (name, value) in data {
        let name = name.into();
        if name.is_empty() {
            return Err(Error::argument("a data value has an empty name"));
        }
        let json = match value.into() {
            // Moved rather than copied: this is the dispatcher's hot path.
            Value::String(s) | Value::Uri(s) => Json::String(s),
            Value::Number(f) if !f.is_finite() => {
                return Err(Error::argument(format!(
                    "data value {name:?} is {f}; only finite numbers can be sent"
                )));
            }
            other => other.to_json(),
        };
        match out.entry(name) {
            Entry::Occupied(e) => {
                return Err(Error::argument(format!(
                    "data value {:?} is given twice",
                    e.key()
                )));
            }
            Entry::Vacant(e) => {
                e.insert(json);
            }
        }
    }
    Ok(out)
}

/// Reads a `data` object: every value must be a JSON number, string or
/// boolean. DATETIME values that Oracle's JS client sends as ISO-8601 strings
/// stay strings here; typing them is the device model's job.
pub(super) fn parse_items(ctx: Ctx, v: Json) -> Result<DataItems, Error> {
    wire::object(ctx, v, "payload.data")?
        .into_iter()
        .map(|(name, value)| match value {
            Json::Bool(_) | Json::Number(_) | Json::String(_) => Ok((name, value)),
            other => Err(ctx.error(format_args!(
                "payload.data.{} is {}; data values are numbers, strings or booleans",
                wire::shorten(&name, 80),
                wire::kind(&other)
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::message::Message;

    #[test]
    fn new_converts_values_to_their_wire_form() {
        let p = DataPayload::new(
            "urn:x:attributes",
            vec![
                ("i".to_owned(), Value::Integer(-3)),
                ("n".to_owned(), Value::Number(2.5)),
                ("s".to_owned(), Value::String("a\"{b}".into())),
                ("b".to_owned(), Value::Boolean(true)),
                ("d".to_owned(), Value::DateTime(1_600_000_000_000)),
                ("u".to_owned(), Value::Uri("https://h/x".into())),
            ],
        )
        .unwrap();
        assert_eq!(p.format(), "urn:x:attributes");
        assert_eq!(p.get("i"), Some(&json!(-3)));
        assert_eq!(p.get("n"), Some(&json!(2.5)));
        assert_eq!(p.get("s"), Some(&json!("a\"{b}")));
        assert_eq!(p.get("b"), Some(&json!(true)));
        assert_eq!(p.get("d"), Some(&json!(1_600_000_000_000_i64)));
        assert_eq!(p.get("u"), Some(&json!("https://h/x")));
        assert_eq!(p.data().len(), 6);
    }

    #[test]
    fn new_refuses_what_the_service_would() {
        let err = |r: Result<DataPayload, Error>| r.unwrap_err().to_string();
        assert!(err(DataPayload::new("", [("a", 1)])).contains("format URN is empty"));
        let none: [(&str, i32); 0] = [];
        assert!(err(DataPayload::new("urn:x", none)).contains("has no values"));
        assert!(err(DataPayload::new("urn:x", [("", 1)])).contains("empty name"));
        assert!(
            err(DataPayload::new("urn:x", [("a", 1), ("a", 2)])).contains(r#""a" is given twice"#)
        );
        assert!(err(DataPayload::new("urn:x", [("a", f64::NAN)])).contains("only finite numbers"));
        assert!(err(DataPayload::new("urn:x", [("a", f64::INFINITY)])).contains("inf"));
    }

    #[test]
    fn serializes_format_then_data() {
        let p = DataPayload::new("urn:x", [("b", 1), ("a", 2)]).unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"format":"urn:x","data":{"a":2,"b":1}}"#
        );
    }

    #[test]
    fn parses_oracle_js_data_with_iso_datetime() {
        // As iotcs-csl-js 19.1.5 posts an attribute update (protocol-js §6.2-6.3):
        // remainingRetries in the envelope, DATETIME as an ISO string.
        let body = br#"[{"clientId":"9b2f1b8e-3c1a-4d8e-9a3e-0f4c2b1a7d6e","source":"0-AE","destination":"","sender":"","priority":"MEDIUM","reliability":"BEST_EFFORT","eventTime":1600000000123,"type":"DATA","payload":{"format":"urn:com:oracle:iot:device:temperature_sensor:attributes","data":{"temp":23.5,"unit":"Celsius","startTime":"2020-09-13T12:26:40.000Z","power":true}},"remainingRetries":3}]"#;
        let messages = crate::message::parse_array(body).unwrap();
        let m = &messages[0];
        assert_eq!(m.source(), "0-AE");
        let crate::message::Payload::Data(p) = m.payload() else {
            panic!("not data")
        };
        assert_eq!(p.get("startTime"), Some(&json!("2020-09-13T12:26:40.000Z")));
        assert_eq!(p.get("temp"), Some(&json!(23.5)));
        assert_eq!(p.get("power"), Some(&json!(true)));
    }

    #[track_caller]
    fn rejects(payload: Json, expected: &str) {
        let m = json!({"clientId": "c", "source": "s", "eventTime": 1, "type": "DATA", "payload": payload});
        let err = Message::from_value(&m).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{err:?} does not contain {expected:?}"
        );
    }

    #[test]
    fn parse_rejects_a_broken_payload() {
        rejects(json!({"data": {"a": 1}}), "payload.format is missing");
        rejects(
            json!({"format": "", "data": {"a": 1}}),
            "payload.format is empty",
        );
        rejects(
            json!({"format": 5, "data": {"a": 1}}),
            "payload.format is a number",
        );
        rejects(json!({"format": "f"}), "payload.data is missing");
        rejects(json!({"format": "f", "data": null}), "payload.data is null");
        rejects(
            json!({"format": "f", "data": []}),
            "payload.data is an array, expected an object",
        );
        rejects(json!({"format": "f", "data": {}}), "payload.data is empty");
        rejects(
            json!({"format": "f", "data": {"a": null}}),
            "payload.data.a is null; data values are",
        );
        rejects(
            json!({"format": "f", "data": {"a": [1]}}),
            "payload.data.a is an array",
        );
        rejects(
            json!({"format": "f", "data": {"a": {"b": 1}}}),
            "payload.data.a is an object",
        );
    }
}
