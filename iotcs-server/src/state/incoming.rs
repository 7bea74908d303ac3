//! A posted batch read once: each DATA message in the shape devices send is
//! read straight from the body into borrowed fields (`Fast`), any other
//! message through `iotcs-core`'s parser (`Full`), and each is then written
//! once into its stored JSON.
//!
//! Why two paths: the core parser builds a `serde_json::Value` tree of every
//! message and then a `Message` of owned strings, which was about half of
//! the server's CPU per message. The fast path takes only messages the core
//! parser accepts, and writes the same stored JSON (a test holds both paths
//! to that); anything it does not recognise (another type, `properties`, a
//! float `eventTime`, a null where a value belongs, …) goes to the core
//! parser, whose rules and error messages stay the only ones.

use std::borrow::Cow;

use iotcs_core::Value as CoreValue;
use iotcs_core::message::{Direction, Message, MessageType, Payload, Priority, Reliability};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::DomainError;

/// A message of a posted batch, checked as the protocol says.
#[derive(Debug)]
pub(crate) enum Incoming<'a> {
    /// A DATA message read by the fast path.
    Fast(FastData<'a>),
    /// Any message, read by `iotcs-core`.
    Full(Message),
}

impl From<Message> for Incoming<'_> {
    fn from(m: Message) -> Self {
        Incoming::Full(m)
    }
}

/// A DATA message as devices send it, with the defaults of absent fields
/// filled in as `iotcs-core` fills them.
#[derive(Debug)]
pub(crate) struct FastData<'a> {
    client_id: Cow<'a, str>,
    source: Cow<'a, str>,
    destination: Cow<'a, str>,
    sender: Cow<'a, str>,
    priority: Priority,
    reliability: Reliability,
    event_time: i64,
    format: Cow<'a, str>,
    data: Map<String, Value>,
}

/// The envelope fields the fast path reads. Unknown fields are ignored, as
/// the core parser ignores them; a repeated field fails the read (and the
/// message goes to the core parser, which keeps the last).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    destination: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sender: Option<Cow<'a, str>>,
    #[serde(borrow)]
    priority: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reliability: Option<Cow<'a, str>>,
    event_time: Option<i64>,
    payload: Option<DataFields<'a>>,
    // Present (and not null) sends the message to the core parser.
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    diagnostics: Option<&'a RawValue>,
    #[serde(borrow)]
    direction: Option<&'a RawValue>,
    #[serde(borrow)]
    received_time: Option<&'a RawValue>,
    #[serde(borrow)]
    sent_time: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct DataFields<'a> {
    #[serde(borrow)]
    format: Option<Cow<'a, str>>,
    data: Option<Map<String, Value>>,
}

impl<'a> FastData<'a> {
    /// The message in `raw` when it is a DATA message the fast path can
    /// read; `None` sends it to the core parser.
    fn read(raw: &'a RawValue) -> Option<FastData<'a>> {
        let e: Envelope<'a> = serde_json::from_str(raw.get()).ok()?;
        let extras = [
            e.id,
            e.properties,
            e.diagnostics,
            e.direction,
            e.received_time,
            e.sent_time,
        ];
        if e.ty.as_deref() != Some(MessageType::Data.as_str()) || extras.iter().any(Option::is_some)
        {
            return None;
        }
        let client_id = e.client_id.filter(|c| !c.is_empty())?;
        let source = e.source.filter(|s| !s.is_empty())?;
        let priority = match e.priority {
            None => MessageType::Data.default_priority(),
            Some(p) => Priority::parse(&p)?,
        };
        let reliability = match e.reliability {
            None => Reliability::default(),
            Some(r) => Reliability::parse(&r)?,
        };
        let payload = e.payload?;
        let format = payload.format.filter(|f| !f.is_empty())?;
        let data = payload.data.filter(|d| {
            !d.is_empty()
                && d.values()
                    .all(|v| matches!(v, Value::Bool(_) | Value::Number(_) | Value::String(_)))
        })?;
        Some(FastData {
            client_id,
            source,
            destination: e.destination.unwrap_or_default(),
            sender: e.sender.unwrap_or_default(),
            priority,
            reliability,
            event_time: e.event_time?,
            format,
            data,
        })
    }
}

/// The messages of a `POST /messages` body: an array of messages, one bare
/// message object, or nothing (an empty or all-whitespace body).
///
/// # Errors
///
/// The core parser's error for the body when any message is malformed.
pub(crate) fn parse_batch(body: &[u8]) -> Result<Vec<Incoming<'_>>, iotcs_core::Error> {
    let full = || {
        iotcs_core::__private::parse_array(body)
            .map(|batch| batch.into_iter().map(Incoming::Full).collect())
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let Ok(raws) = serde_json::from_slice::<Vec<&RawValue>>(body) else {
        return full();
    };
    let mut batch = Vec::with_capacity(raws.len());
    for raw in raws {
        match FastData::read(raw) {
            Some(fast) => batch.push(Incoming::Fast(fast)),
            None => match Message::parse(raw.get()) {
                Ok(m) => batch.push(Incoming::Full(m)),
                // Parsed again whole, for the error naming the message by
                // its index (the messages before it are valid).
                Err(_) => return full(),
            },
        }
    }
    Ok(batch)
}

impl Incoming<'_> {
    pub(crate) fn source(&self) -> &str {
        match self {
            Incoming::Fast(f) => &f.source,
            Incoming::Full(m) => m.source(),
        }
    }

    pub(crate) fn client_id(&self) -> &str {
        match self {
            Incoming::Fast(f) => &f.client_id,
            Incoming::Full(m) => m.client_id(),
        }
    }

    pub(crate) fn message_type(&self) -> MessageType {
        match self {
            Incoming::Fast(_) => MessageType::Data,
            Incoming::Full(m) => m.message_type(),
        }
    }

    /// The format and data of a DATA or ALERT message, which a model may
    /// check.
    pub(crate) fn format_and_data(&self) -> Option<(&str, Cow<'_, Map<String, Value>>)> {
        let data_map = |d: &iotcs_core::message::DataItems| {
            d.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        match self {
            Incoming::Fast(f) => Some((&f.format, Cow::Borrowed(&f.data))),
            Incoming::Full(m) => match m.payload() {
                Payload::Data(p) => Some((p.format(), Cow::Owned(data_map(p.data())))),
                Payload::Alert(p) => Some((p.format(), Cow::Owned(data_map(p.data())))),
                _ => None,
            },
        }
    }

    /// The RESPONSE payload, which completes a request.
    pub(crate) fn response(&self) -> Option<&iotcs_core::message::ResponsePayload> {
        match self {
            Incoming::Full(m) => match m.payload() {
                Payload::Response(r) => Some(r),
                _ => None,
            },
            Incoming::Fast(_) => None,
        }
    }

    /// The message as stored and served by the admin API: the wire JSON plus
    /// `id`, `direction` and `receivedTime`. INTEGER and DATETIME values that
    /// arrived as JSON floats (`12000000.0`, `1.7E12`: Oracle's Java library
    /// sends every number as a double) become the integers validation read
    /// from them (`values`).
    pub(crate) fn stored_json(
        self,
        id: String,
        now: i64,
        values: &[(String, CoreValue)],
    ) -> Result<Box<RawValue>, DomainError> {
        let fail =
            |e: serde_json::Error| DomainError::internal(format!("cannot store a message: {e}"));
        match self {
            Incoming::Fast(mut f) => {
                integers_as_integers(&mut f.data, values);
                serde_json::value::to_raw_value(&StoredData::new(&f, &id, now)).map_err(fail)
            }
            Incoming::Full(m) => {
                let m = m
                    .with_id(id)
                    .with_direction(Direction::FromDevice)
                    .with_received_time(now);
                let floats = match m.payload() {
                    Payload::Data(p) => has_float_integers(p.data(), values),
                    Payload::Alert(p) => has_float_integers(p.data(), values),
                    _ => false,
                };
                if !floats {
                    return serde_json::value::to_raw_value(&m).map_err(fail);
                }
                let mut tree = serde_json::to_value(&m).map_err(fail)?;
                if let Some(data) = tree
                    .pointer_mut("/payload/data")
                    .and_then(Value::as_object_mut)
                {
                    integers_as_integers(data, values);
                }
                serde_json::value::to_raw_value(&tree).map_err(fail)
            }
        }
    }
}

/// Whether a value validation read as an integer arrived as a float.
fn has_float_integers(
    data: &iotcs_core::message::DataItems,
    values: &[(String, CoreValue)],
) -> bool {
    values
        .iter()
        .any(|(name, v)| v.as_i64().is_some() && data.get(name).is_some_and(Value::is_f64))
}

/// Replaces float values that validation read as integers by the integers.
fn integers_as_integers(data: &mut Map<String, Value>, values: &[(String, CoreValue)]) {
    for (name, v) in values {
        if let Some(i) = v.as_i64()
            && let Some(json) = data.get_mut(name).filter(|j| j.is_f64())
        {
            *json = Value::from(i);
        }
    }
}

/// A fast-path message in its stored form, its fields in the order
/// `Message`'s `Serialize` writes them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredData<'f> {
    id: &'f str,
    client_id: &'f str,
    source: &'f str,
    destination: &'f str,
    sender: &'f str,
    priority: Priority,
    reliability: Reliability,
    event_time: i64,
    #[serde(rename = "type")]
    ty: MessageType,
    direction: Direction,
    received_time: i64,
    payload: StoredPayload<'f>,
}

#[derive(Serialize)]
struct StoredPayload<'f> {
    format: &'f str,
    data: &'f Map<String, Value>,
}

impl<'f> StoredData<'f> {
    fn new(f: &'f FastData<'_>, id: &'f str, now: i64) -> StoredData<'f> {
        StoredData {
            id,
            client_id: &f.client_id,
            source: &f.source,
            destination: &f.destination,
            sender: &f.sender,
            priority: f.priority,
            reliability: f.reliability,
            event_time: f.event_time,
            ty: MessageType::Data,
            direction: Direction::FromDevice,
            received_time: now,
            payload: StoredPayload {
                format: &f.format,
                data: &f.data,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// The stored JSON of each message of `body` by the path `parse_batch`
    /// chose, and by the core parser alone; and how many took the fast path.
    /// Compared as JSON values: the core path's float fix-up goes through a
    /// `Value` tree, which orders keys alphabetically.
    fn both_ways(body: &str, values: &[(String, CoreValue)]) -> (Vec<Value>, Vec<Value>, usize) {
        let store = |m: Incoming<'_>| {
            let raw = m.stored_json("id-1".into(), 77, values).unwrap();
            serde_json::from_str::<Value>(raw.get()).unwrap()
        };
        let batch = parse_batch(body.as_bytes()).unwrap();
        let fast = batch
            .iter()
            .filter(|m| matches!(m, Incoming::Fast(_)))
            .count();
        let chosen = batch.into_iter().map(store).collect();
        let core = iotcs_core::__private::parse_array(body.as_bytes()).unwrap();
        let full = core.into_iter().map(|m| store(Incoming::Full(m))).collect();
        (chosen, full, fast)
    }

    fn base() -> Value {
        json!({
            "clientId": "c-1", "source": "ep-1", "destination": "", "sender": "",
            "priority": "MEDIUM", "reliability": "BEST_EFFORT", "eventTime": 1_600_000_000_000_i64,
            "type": "DATA", "payload": {"format": "urn:x:attributes", "data": {"a": 1}}
        })
    }

    #[test]
    fn devices_messages_take_the_fast_path_and_store_what_the_core_parser_stores() {
        let sdk = Message::data("ep-1", "urn:x:attributes", [("n", 5_i64)], 9).unwrap();
        let body = iotcs_core::__private::to_json_array([&sdk]);
        let (chosen, full, fast) = both_ways(&body, &[]);
        assert_eq!((chosen, fast), (full, 1));

        let mut java = base();
        java["payload"]["data"] =
            json!({"n": 12_000_000.0, "t": 1.5, "s": "x{\"}\u{e9}", "b": true});
        java.as_object_mut().unwrap().remove("priority");
        java.as_object_mut().unwrap().remove("destination");
        java["sender"] = Value::Null;
        java["remainingRetries"] = json!(3);
        let body = Value::Array(vec![java]).to_string();
        let ints = [("n".to_owned(), CoreValue::Integer(12_000_000))];
        let (chosen, full, fast) = both_ways(&body, &ints);
        assert_eq!((&chosen, fast), (&full, 1));
        assert_eq!(chosen[0]["payload"]["data"]["n"].as_i64(), Some(12_000_000));
    }

    #[test]
    fn other_messages_take_the_core_parser() {
        let mut cases = Vec::new();
        for (key, value) in [
            ("type", json!("ALERT")),
            ("id", json!("x")),
            ("properties", json!({"a": ["b"]})),
            ("direction", json!("FROM_DEVICE")),
            ("eventTime", json!(1.6e12)),
            ("priority", json!("medium")),
            ("clientId", Value::Null),
        ] {
            let mut m = base();
            m[key] = value;
            cases.push(m);
        }
        let mut m = base();
        m["payload"]["data"] = json!({"a": [1]});
        cases.push(m);
        for m in cases {
            let body = Value::Array(vec![m.clone()]).to_string();
            let batch = parse_batch(body.as_bytes());
            let core = iotcs_core::__private::parse_array(body.as_bytes());
            match (batch, core) {
                (Ok(batch), Ok(_)) => assert!(matches!(batch[0], Incoming::Full(_)), "{m}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{m}: {a:?} but the core parser {b:?}"),
            }
        }
        let duplicate = r#"[{"clientId":"a","clientId":"b","source":"s","eventTime":1,"type":"DATA","payload":{"format":"f","data":{"a":1}}}]"#;
        let (chosen, full, fast) = both_ways(duplicate, &[]);
        assert_eq!((chosen, fast), (full, 0));
        let single = base().to_string();
        let (chosen, full, _) = both_ways(&single, &[]);
        assert_eq!(chosen, full);
        assert!(parse_batch(b" \n").unwrap().is_empty());
        let e = parse_batch(br#"[{"type":"DATA"}]"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("message 0: clientId is missing"), "{e}");
    }

    fn data_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            (-1000i64..1000).prop_map(|i| Value::from(i as f64)),
            any::<bool>().prop_map(Value::from),
            ".*".prop_map(Value::from),
        ]
    }

    fn optional_string() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            ".*".prop_map(|s| Some(Value::from(s))),
        ]
    }

    proptest! {
        #[test]
        fn both_paths_store_the_same_json(
            data in prop::collection::btree_map(".{0,8}", data_value(), 1..4),
            client_id in ".{1,40}",
            destination in optional_string(),
            sender in optional_string(),
            priority in prop::option::of(prop::sample::select(Priority::ALL)),
            reliability in prop::option::of(prop::sample::select(Reliability::ALL)),
            event_time in any::<i64>(),
        ) {
            let mut m = base();
            m["clientId"] = client_id.into();
            m["eventTime"] = event_time.into();
            m["payload"]["data"] = json!(data);
            let obj = m.as_object_mut().unwrap();
            for (key, v) in [
                ("destination", destination),
                ("sender", sender),
                ("priority", priority.map(|p| p.as_str().into())),
                ("reliability", reliability.map(|r| r.as_str().into())),
            ] {
                match v {
                    Some(v) => obj.insert(key.to_owned(), v),
                    None => obj.remove(key),
                };
            }
            let ints: Vec<(String, CoreValue)> = data
                .iter()
                .filter_map(|(k, v)| v.as_f64().map(|f| (k.clone(), CoreValue::Integer(f as i64))))
                .collect();
            let body = Value::Array(vec![m]).to_string();
            let (chosen, full, fast) = both_ways(&body, &ints);
            prop_assert_eq!(chosen, full);
            prop_assert_eq!(fast, 1);
        }
    }
}
