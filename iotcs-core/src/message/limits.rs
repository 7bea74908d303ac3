//! The size limits Oracle's JS client checks before sending (protocol-js
//! §6.1): every key at most 2048 UTF-8 bytes and every string at most 65536,
//! anywhere in the message, a failure failing the whole batch.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value as Json;

use super::wire::shorten;
use super::{Message, Payload};
use crate::Error;

/// Longest key, in UTF-8 bytes, that a message may contain anywhere (Oracle's
/// JS client checks this before sending, protocol-js §6.1).
pub const MAX_KEY_BYTES: usize = 2048;

/// Longest string value, in UTF-8 bytes, that a message may contain anywhere,
/// including a base64 body as it is written (protocol-js §6.1).
pub const MAX_STRING_BYTES: usize = 65536;

impl Message {
    /// Checks every key and string of the message as it would be written
    /// against [`MAX_KEY_BYTES`] and [`MAX_STRING_BYTES`], as Oracle's JS
    /// client does before sending (a base64 body counts as its text).
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] naming the first field over a limit.
    pub fn check_limits(&self) -> Result<(), Error> {
        let envelope = [
            ("id", self.id.as_deref().unwrap_or_default()),
            ("clientId", &self.client_id),
            ("source", &self.source),
            ("destination", &self.destination),
            ("sender", &self.sender),
        ];
        for (field, value) in envelope {
            check_len(format_args!("{field}"), value.len())?;
        }
        check_lists("properties", &self.properties)?;
        if let Some(diagnostics) = &self.diagnostics {
            check_entries("diagnostics", diagnostics)?;
        }
        self.payload.check_limits()
    }
}

impl Payload {
    fn check_limits(&self) -> Result<(), Error> {
        match self {
            Payload::Data(p) => p.check_limits(),
            Payload::Alert(p) => p.check_limits(),
            Payload::Request(p) => p.check_limits(),
            Payload::Response(p) => p.check_limits(),
            Payload::ResourcesReport(p) => p.check_limits(),
        }
    }
}

/// Checks one key against [`MAX_KEY_BYTES`]; `parent` names the object it is in.
pub(super) fn check_key(parent: &str, key: &str) -> Result<(), Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::argument(format!(
            "a key in {parent} is {} bytes long (it starts {:?}), over the limit of \
             {MAX_KEY_BYTES} bytes",
            key.len(),
            shorten(key, 40)
        )));
    }
    Ok(())
}

/// Checks the length of a string value against [`MAX_STRING_BYTES`].
pub(super) fn check_len(field: fmt::Arguments<'_>, len: usize) -> Result<(), Error> {
    if len > MAX_STRING_BYTES {
        return Err(Error::argument(format!(
            "message field {field} is {len} bytes long, over the limit of {MAX_STRING_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Checks every key and string of a JSON value, recursively.
pub(super) fn check_json(path: &str, v: &Json) -> Result<(), Error> {
    match v {
        Json::String(s) => check_len(format_args!("{path}"), s.len()),
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if matches!(item, Json::String(_) | Json::Array(_) | Json::Object(_)) {
                    check_json(&format!("{path}[{i}]"), item)?;
                }
            }
            Ok(())
        }
        Json::Object(map) => check_entries(path, map.iter()),
        Json::Null | Json::Bool(_) | Json::Number(_) => Ok(()),
    }
}

/// Checks the keys and values of an object's entries.
pub(super) fn check_entries<'a, I>(path: &str, entries: I) -> Result<(), Error>
where
    I: IntoIterator<Item = (&'a String, &'a Json)>,
{
    for (key, value) in entries {
        check_key(path, key)?;
        match value {
            Json::String(s) => check_len(format_args!("{path}.{}", shorten(key, 40)), s.len())?,
            Json::Array(_) | Json::Object(_) => {
                check_json(&format!("{path}.{}", shorten(key, 40)), value)?;
            }
            Json::Null | Json::Bool(_) | Json::Number(_) => {}
        }
    }
    Ok(())
}

/// Checks an object of string lists (`properties`, `headers`).
pub(super) fn check_lists(path: &str, lists: &BTreeMap<String, Vec<String>>) -> Result<(), Error> {
    for (key, values) in lists {
        check_key(path, key)?;
        for (i, v) in values.iter().enumerate() {
            check_len(format_args!("{path}.{}[{i}]", shorten(key, 40)), v.len())?;
        }
    }
    Ok(())
}

/// The length of the base64 text of `n` bytes, as it is checked.
pub(super) fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;
    use crate::message::Headers;

    fn temperature(t: f64) -> Message {
        Message::data("ep-1", "urn:x:attributes", [("temp", t)], 1_600_000_000_000).unwrap()
    }

    #[test]
    fn limits_are_checked_on_every_key_and_string() {
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        let long_value = "v".repeat(MAX_STRING_BYTES + 1);
        assert!(temperature(1.0).check_limits().is_ok());
        let ok = Message::data(
            "ep",
            "urn:x",
            [("k".repeat(MAX_KEY_BYTES), "v".repeat(MAX_STRING_BYTES))],
            0,
        )
        .unwrap();
        assert!(ok.check_limits().is_ok());

        let m = Message::data("ep", "urn:x", [(long_key.as_str(), 1)], 0).unwrap();
        let err = m.check_limits().unwrap_err();
        assert!(matches!(err, Error::Argument { .. }));
        assert!(
            err.to_string()
                .contains("a key in payload.data is 2049 bytes long"),
            "{err}"
        );

        let m = Message::data("ep", "urn:x", [("a", long_value.as_str())], 0).unwrap();
        let err = m.check_limits().unwrap_err().to_string();
        assert!(
            err.contains("payload.data.a is 65537 bytes long, over the limit of 65536"),
            "{err}"
        );

        let m = temperature(1.0).with_property("p", long_value.clone());
        assert!(
            m.check_limits()
                .unwrap_err()
                .to_string()
                .contains("properties.p[0]")
        );
        let m = temperature(1.0).with_sender(long_value.clone());
        assert!(
            m.check_limits()
                .unwrap_err()
                .to_string()
                .contains("field sender")
        );
        let diag = Map::from_iter([("nested".to_owned(), json!({"deep": [long_value.clone()]}))]);
        let m = temperature(1.0).with_diagnostics(diag);
        assert!(
            m.check_limits()
                .unwrap_err()
                .to_string()
                .contains("diagnostics.nested.deep[0]")
        );

        // A body counts as its base64 text: 49152 bytes encode to exactly 65536.
        let req =
            |n| Message::request("d", "c", "PUT", "u", Headers::new(), vec![0; n], 0).unwrap();
        assert!(req(49152).check_limits().is_ok());
        assert!(
            req(49153)
                .check_limits()
                .unwrap_err()
                .to_string()
                .contains("payload.body")
        );
        let resp = Message::response_to(&req(1), 200, Headers::new(), vec![0; 49153], 0).unwrap();
        assert!(
            resp.check_limits()
                .unwrap_err()
                .to_string()
                .contains("payload.body")
        );
    }
}
