//! The fast writer of DATA messages: one source's messages of one format
//! written straight from their values into a byte buffer, the envelope's
//! fixed fields written once beforehand, with no [`super::Message`] built on
//! the way. A virtual device's `set` is the caller.
//!
//! The bytes are exactly what [`super::Message::to_json`] writes for the
//! same message (field order, compact form, braces in strings escaped for
//! Oracle's Java client), and the same values are refused with the same
//! errors (an empty name, a name given twice, a non-finite number, a key or
//! string over the limits of `limits.rs`); the tests hold the two side by
//! side.

use std::sync::Arc;

use super::limits;
use super::wire;
use super::{MessageType, Priority, Reliability};
use crate::random::ClientId;
use crate::{Error, Value};

/// The fixed part of the DATA messages of one source and format, written
/// once; [`DataTemplate::write`] adds each message's `clientId`, `eventTime`
/// and values.
#[derive(Clone, Debug)]
pub struct DataTemplate {
    /// `","source":…,"eventTime":`: from after the `clientId` to the time.
    head: Box<str>,
    /// `,"type":"DATA","payload":{"format":…,"data":{`.
    middle: Box<str>,
    source: Arc<str>,
    format: Box<str>,
    priority: Priority,
    reliability: Reliability,
}

/// The last bytes of every message: the data object, the payload and the
/// message end.
const END: &[u8] = b"}}}";

impl DataTemplate {
    /// The template of `source`'s DATA messages of format `format` (for
    /// attributes, `<model URN>:attributes`), with priority `MEDIUM` (the
    /// DATA default of [`super::Message::new`]) and `reliability`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `source` or `format` is empty or longer than
    /// [`super::MAX_STRING_BYTES`], as building a [`super::Message`] and
    /// checking its limits would say.
    pub fn new(source: &str, format: &str, reliability: Reliability) -> Result<Self, Error> {
        if source.is_empty() {
            return Err(Error::argument("the message source (endpoint id) is empty"));
        }
        if format.is_empty() {
            return Err(Error::argument("the data format URN is empty"));
        }
        limits::check_len(format_args!("source"), source.len())?;
        limits::check_len(format_args!("payload.format"), format.len())?;
        let priority = MessageType::Data.default_priority();
        let mut head = br#"","source":"#.to_vec();
        wire::write_json(source, &mut head);
        head.extend_from_slice(br#","destination":"","sender":"","priority":"#);
        wire::write_json(&priority, &mut head);
        head.extend_from_slice(br#","reliability":"#);
        wire::write_json(&reliability, &mut head);
        head.extend_from_slice(br#","eventTime":"#);
        let mut middle = br#","type":"DATA","payload":{"format":"#.to_vec();
        wire::write_json(format, &mut middle);
        middle.extend_from_slice(br#","data":{"#);
        Ok(DataTemplate {
            head: wire::into_string(head).into_boxed_str(),
            middle: wire::into_string(middle).into_boxed_str(),
            source: Arc::from(source),
            format: Box::from(format),
            priority,
            reliability,
        })
    }

    /// The messages' source, shared: a clone costs no allocation.
    pub fn source(&self) -> &Arc<str> {
        &self.source
    }

    /// The messages' priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The messages' reliability.
    pub fn reliability(&self) -> Reliability {
        self.reliability
    }

    /// Appends the compact JSON of a DATA message of `event_time` carrying
    /// `values` (name, value) with a fresh `clientId` to `out`, which is
    /// left as it was on an error. Names are written in their sorted order,
    /// as [`super::DataItems`] keeps them.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] as [`super::DataPayload::new`] and
    /// [`super::Message::check_limits`] would refuse the message;
    /// [`Error::Security`] if the random source fails (see [`ClientId`]).
    pub fn write(
        &self,
        event_time: i64,
        values: &[(&str, &Value)],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let start = out.len();
        let result = self.write_unchecked(event_time, values, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn write_unchecked(
        &self,
        event_time: i64,
        values: &[(&str, &Value)],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if values.is_empty() {
            return Err(Error::argument(format!(
                "data message of format {} has no values; send at least one",
                self.format
            )));
        }
        out.extend_from_slice(br#"{"clientId":""#);
        out.extend_from_slice(ClientId::next()?.as_str().as_bytes());
        out.extend_from_slice(self.head.as_bytes());
        wire::write_json(&event_time, out);
        out.extend_from_slice(self.middle.as_bytes());
        if let [(name, value)] = values {
            write_item(name, value, out)?;
        } else {
            // Several values (an update) are rare: sorting them costs an
            // allocation the single value of a `set` does not pay.
            let mut sorted = values.to_vec();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (i, (name, value)) in sorted.iter().enumerate() {
                if i > 0 {
                    if sorted[i - 1].0 == *name {
                        return Err(Error::argument(format!(
                            "data value {name:?} is given twice"
                        )));
                    }
                    out.push(b',');
                }
                write_item(name, value, out)?;
            }
        }
        out.extend_from_slice(END);
        Ok(())
    }
}

/// Writes `"name":value`, refusing what [`super::DataPayload::new`] and the
/// limits refuse.
fn write_item(name: &str, value: &Value, out: &mut Vec<u8>) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::argument("a data value has an empty name"));
    }
    limits::check_key("payload.data", name)?;
    wire::write_json(name, out);
    out.push(b':');
    match value {
        Value::Integer(i) | Value::DateTime(i) => wire::write_json(i, out),
        Value::Number(f) if !f.is_finite() => {
            return Err(Error::argument(format!(
                "data value {name:?} is {f}; only finite numbers can be sent"
            )));
        }
        Value::Number(f) => wire::write_json(f, out),
        Value::Boolean(b) => wire::write_json(b, out),
        Value::String(s) | Value::Uri(s) => {
            limits::check_len(
                format_args!("payload.data.{}", wire::shorten(name, 40)),
                s.len(),
            )?;
            wire::write_json(s.as_str(), out);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::message::Message;

    /// What the fast writer writes, and the message the old path builds
    /// from the same values with the same `clientId`.
    fn both(
        template: &DataTemplate,
        source: &str,
        format: &str,
        values: &[(&str, &Value)],
    ) -> (String, Message) {
        let mut out = b"junk before".to_vec();
        template.write(1_600_000_000_123, values, &mut out).unwrap();
        let fast = String::from_utf8(out.split_off(11)).unwrap();
        let parsed = Message::parse(&fast).unwrap();
        let old = Message::data(
            source,
            format,
            values.iter().map(|(n, v)| (*n, (*v).clone())),
            1_600_000_000_123,
        )
        .unwrap()
        .with_reliability(template.reliability())
        .with_client_id(parsed.client_id());
        old.check_limits().unwrap();
        (fast, old)
    }

    #[test]
    fn writes_what_the_message_path_writes() {
        let template =
            DataTemplate::new("EP-1", "urn:x:attributes", Reliability::BestEffort).unwrap();
        let s = Value::String("a\"{b}\\ \n\u{1} é😀".into());
        let uri = Value::Uri("https://h:1/v1/a/c/EP-1/o?x={y}".into());
        let cases: [&[(&str, &Value)]; 7] = [
            &[("temp", &Value::Number(21.5))],
            &[("n", &Value::Number(-0.0))],
            &[
                ("big", &Value::Number(1e300)),
                ("small", &Value::Number(5e-324)),
            ],
            &[
                ("i", &Value::Integer(i64::MIN)),
                ("d", &Value::DateTime(1_600_000_000_000)),
            ],
            &[("s", &s), ("{k}", &Value::Boolean(false))],
            &[
                ("u", &uri),
                ("b", &Value::Boolean(true)),
                ("a", &Value::Integer(7)),
            ],
            &[("x", &Value::Integer(1)), ("x\"", &Value::Integer(2))],
        ];
        for values in cases {
            let (fast, old) = both(&template, "EP-1", "urn:x:attributes", values);
            assert_eq!(fast, old.to_json());
            assert_eq!(Message::parse(&fast).unwrap(), old);
        }
        let guaranteed =
            DataTemplate::new("EP-{2}", "urn:y", Reliability::GuaranteedDelivery).unwrap();
        let (fast, old) = both(&guaranteed, "EP-{2}", "urn:y", &[("a", &Value::Integer(1))]);
        assert_eq!(fast, old.to_json());
        assert!(fast.contains(r#""source":"EP-\u007b2\u007d""#), "{fast}");
        assert_eq!(guaranteed.source().as_ref(), "EP-{2}");
        assert_eq!(guaranteed.priority(), Priority::Medium);
    }

    #[test]
    fn refuses_what_the_message_path_refuses_and_writes_nothing() {
        let template = DataTemplate::new("EP-1", "urn:x", Reliability::BestEffort).unwrap();
        let refused = |values: &[(&str, &Value)]| {
            let mut out = b"kept".to_vec();
            let err = template.write(1, values, &mut out).unwrap_err();
            assert_eq!(out, b"kept", "nothing of a refused message stays");
            assert!(matches!(err, Error::Argument { .. }), "{err:?}");
            err.to_string()
        };
        let one = Value::Integer(1);
        assert!(refused(&[]).contains("has no values"));
        assert!(refused(&[("", &one)]).contains("empty name"));
        assert!(
            refused(&[("a", &one), ("b", &one), ("a", &one)]).contains(r#""a" is given twice"#)
        );
        assert!(refused(&[("a", &Value::Number(f64::NAN))]).contains("only finite numbers"));
        assert!(refused(&[("a", &Value::Number(f64::NEG_INFINITY))]).contains("-inf"));
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(
            refused(&[(long_key.as_str(), &one)]).contains("a key in payload.data is 2049 bytes")
        );
        let long = Value::String("v".repeat(MAX_STRING_BYTES + 1));
        assert!(refused(&[("a", &long)]).contains("payload.data.a is 65537 bytes long"));
        let longest = Value::String("v".repeat(MAX_STRING_BYTES));
        template
            .write(1, &[("a", &longest)], &mut Vec::new())
            .unwrap();
        assert!(DataTemplate::new("", "urn:x", Reliability::BestEffort).is_err());
        assert!(DataTemplate::new("EP", "", Reliability::BestEffort).is_err());
        let long_source = "s".repeat(MAX_STRING_BYTES + 1);
        assert!(DataTemplate::new(&long_source, "urn:x", Reliability::BestEffort).is_err());
    }

    #[test]
    fn every_message_has_its_own_client_id() {
        let template = DataTemplate::new("EP-1", "urn:x", Reliability::BestEffort).unwrap();
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|i| {
                let mut out = Vec::new();
                template
                    .write(i, &[("n", &Value::Integer(i))], &mut out)
                    .unwrap();
                Message::parse(std::str::from_utf8(&out).unwrap())
                    .unwrap()
                    .client_id()
                    .to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 1000);
    }

    use super::super::{MAX_KEY_BYTES, MAX_STRING_BYTES};

    fn text() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            Just('"'),
            Just('\\'),
            Just('{'),
            Just('}'),
            Just('\n'),
            Just('\u{0}'),
            Just('\u{7f}'),
            Just('\u{2028}'),
            Just('é'),
            proptest::char::range('a', 'z'),
            any::<char>(),
        ];
        proptest::collection::vec(c, 1..10).prop_map(String::from_iter)
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::Integer),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::Number),
            text().prop_map(Value::String),
            any::<bool>().prop_map(Value::Boolean),
            any::<i64>().prop_map(Value::DateTime),
            text().prop_map(Value::Uri),
        ]
    }

    proptest! {
        #[test]
        fn any_values_write_as_the_message_path_does(
            source in text(),
            format in text(),
            guaranteed in any::<bool>(),
            values in proptest::collection::btree_map(text(), value(), 1..5),
        ) {
            let reliability = if guaranteed {
                Reliability::GuaranteedDelivery
            } else {
                Reliability::BestEffort
            };
            let template = DataTemplate::new(&source, &format, reliability).unwrap();
            // In reverse order: the writer sorts them as the map does.
            let values: BTreeMap<String, Value> = values;
            let pairs: Vec<(&str, &Value)> =
                values.iter().rev().map(|(n, v)| (n.as_str(), v)).collect();
            let (fast, old) = both(&template, &source, &format, &pairs);
            prop_assert_eq!(&fast, &old.to_json());
            prop_assert_eq!(Message::parse(&fast).unwrap(), old);
        }
    }
}
