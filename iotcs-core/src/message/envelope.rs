//! The envelope on the wire: writing a [`Message`] as JSON and reading one
//! back, tolerant where Oracle's clients differ and strict where a wrong value
//! would be misread (protocol §5.2, protocol-js §6.2).

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::Value as Json;

use super::wire::{self, Ctx};
use super::{
    AlertPayload, DataPayload, Headers, Message, MessageType, Payload, Reliability, RequestPayload,
    ResourcesReport, ResponsePayload,
};
use crate::Error;

impl Message {
    /// The compact JSON of this one message (see `to_json_array`).
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(256);
        wire::write_json(self, &mut out);
        wire::into_string(out)
    }

    /// Parses one message object.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] if `json` is not JSON or the message is malformed,
    /// see [`Message::from_value`].
    pub fn parse(json: &str) -> Result<Message, Error> {
        let value: Json = serde_json::from_str(json)
            .map_err(|e| Error::protocol(format!("message is not valid JSON: {e}")))?;
        Message::from_wire(value, Ctx::single())
    }

    /// Reads one message from its JSON object.
    ///
    /// Tolerated: unknown fields (Node sends `remainingRetries`); a missing
    /// `destination` or `sender` (empty), `priority` (the type's default) or
    /// `reliability` (`BEST_EFFORT`); `properties` and header values given as
    /// bare strings; bodies in either base64 alphabet, padded or not, or
    /// missing (empty); an ALERT without `severity` (`SIGNIFICANT`),
    /// `description` or `data`; data values that Node sends as ISO-8601
    /// strings (kept as strings); a resource's `methods` as an array.
    ///
    /// Refused, with an error naming the field and value: a missing or null
    /// `type`, `clientId`, `source`, `eventTime` or `payload`; an empty
    /// `clientId`; an empty `source` (or, for a REQUEST, an empty
    /// `destination`); names outside the protocol's sets for `type`,
    /// `priority`, `reliability`, `direction`, `severity` and `reportType`;
    /// an `eventTime` that is a string or has a fraction; a `statusCode`
    /// outside 100..=599; an empty REQUEST `method` or `url`; a body that is
    /// not base64.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] as listed.
    pub fn from_value(value: &Json) -> Result<Message, Error> {
        Message::from_wire(value.clone(), Ctx::single())
    }

    /// Reads a message, consuming the JSON so strings are moved, not copied.
    pub(super) fn from_wire(value: Json, ctx: Ctx) -> Result<Message, Error> {
        let mut obj = match value {
            Json::Object(map) => map,
            other => {
                return Err(ctx.error(format_args!(
                    "the message is {}, expected an object",
                    wire::kind(&other)
                )));
            }
        };
        let ty: MessageType =
            wire::wire_enum(ctx, wire::required(ctx, &mut obj, "type", "type")?, "type")?;
        let id = wire::optional_string(ctx, &mut obj, "id", "id")?;
        let client_id = wire::non_empty_string(ctx, &mut obj, "clientId", "clientId")?;
        let source = wire::required_string(ctx, &mut obj, "source", "source")?;
        let destination =
            wire::optional_string(ctx, &mut obj, "destination", "destination")?.unwrap_or_default();
        if ty == MessageType::Request {
            if destination.is_empty() {
                return Err(ctx.error("destination is empty; a REQUEST must name its endpoint"));
            }
        } else if source.is_empty() {
            return Err(ctx.error("source is empty"));
        }
        let sender = wire::optional_string(ctx, &mut obj, "sender", "sender")?.unwrap_or_default();
        let priority = match wire::optional(&mut obj, "priority") {
            Some(v) => wire::wire_enum(ctx, v, "priority")?,
            None => ty.default_priority(),
        };
        let reliability = match wire::optional(&mut obj, "reliability") {
            Some(v) => wire::wire_enum(ctx, v, "reliability")?,
            None => Reliability::default(),
        };
        let event_time = wire::millis(
            ctx,
            wire::required(ctx, &mut obj, "eventTime", "eventTime")?,
            "eventTime",
        )?;
        let properties = match wire::optional(&mut obj, "properties") {
            Some(v) => wire::string_lists(ctx, v, "properties")?,
            None => Headers::new(),
        };
        let diagnostics = wire::optional(&mut obj, "diagnostics")
            .map(|v| wire::object(ctx, v, "diagnostics"))
            .transpose()?;
        let direction = wire::optional(&mut obj, "direction")
            .map(|v| wire::wire_enum(ctx, v, "direction"))
            .transpose()?;
        let received_time = wire::optional(&mut obj, "receivedTime")
            .map(|v| wire::millis(ctx, v, "receivedTime"))
            .transpose()?;
        let sent_time = wire::optional(&mut obj, "sentTime")
            .map(|v| wire::millis(ctx, v, "sentTime"))
            .transpose()?;
        let payload = Payload::from_wire(
            ty,
            wire::required(ctx, &mut obj, "payload", "payload")?,
            ctx,
        )?;
        Ok(Message {
            id,
            client_id,
            source,
            destination,
            sender,
            priority,
            reliability,
            event_time,
            properties,
            diagnostics,
            direction,
            received_time,
            sent_time,
            payload,
        })
    }
}

impl Payload {
    /// Reads the `payload` of a message of type `ty`.
    fn from_wire(ty: MessageType, payload: Json, ctx: Ctx) -> Result<Payload, Error> {
        let payload = wire::object(ctx, payload, "payload")?;
        Ok(match ty {
            MessageType::Data => Payload::Data(DataPayload::parse(payload, ctx)?),
            MessageType::Alert => Payload::Alert(AlertPayload::parse(payload, ctx)?),
            MessageType::Request => Payload::Request(RequestPayload::parse(payload, ctx)?),
            MessageType::Response => Payload::Response(ResponsePayload::parse(payload, ctx)?),
            MessageType::ResourcesReport => {
                Payload::ResourcesReport(ResourcesReport::parse(payload, ctx)?)
            }
        })
    }
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Message", 15)?;
        if let Some(id) = &self.id {
            st.serialize_field("id", id)?;
        }
        st.serialize_field("clientId", &self.client_id)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("destination", &self.destination)?;
        st.serialize_field("sender", &self.sender)?;
        st.serialize_field("priority", &self.priority)?;
        st.serialize_field("reliability", &self.reliability)?;
        st.serialize_field("eventTime", &self.event_time)?;
        st.serialize_field("type", &self.message_type())?;
        if !self.properties.is_empty() {
            st.serialize_field("properties", &self.properties)?;
        }
        if let Some(diagnostics) = &self.diagnostics {
            st.serialize_field("diagnostics", diagnostics)?;
        }
        if let Some(direction) = &self.direction {
            st.serialize_field("direction", direction)?;
        }
        if let Some(t) = &self.received_time {
            st.serialize_field("receivedTime", t)?;
        }
        if let Some(t) = &self.sent_time {
            st.serialize_field("sentTime", t)?;
        }
        st.serialize_field("payload", &self.payload)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::message::{Direction, Priority};

    fn temperature(t: f64) -> Message {
        Message::data("ep-1", "urn:x:attributes", [("temp", t)], 1_600_000_000_000).unwrap()
    }

    /// A minimal valid DATA message as JSON, for mutating in rejection tests.
    fn data_json() -> Json {
        json!({
            "clientId": "c-1", "source": "ep-1", "destination": "", "sender": "",
            "priority": "MEDIUM", "reliability": "BEST_EFFORT", "eventTime": 1, "type": "DATA",
            "payload": {"format": "urn:x", "data": {"a": 1}}
        })
    }

    #[track_caller]
    fn rejects(json: Json, expected: &str) {
        let err = Message::from_value(&json).unwrap_err();
        assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(expected),
            "{text:?} does not contain {expected:?}"
        );
    }

    fn with(mut base: Json, key: &str, value: Json) -> Json {
        base[key] = value;
        base
    }

    fn without(mut base: Json, key: &str) -> Json {
        base.as_object_mut().unwrap().remove(key);
        base
    }

    #[test]
    fn serializes_the_envelope_compactly_in_wire_order() {
        let m = temperature(21.5).with_client_id("c-1");
        assert_eq!(
            m.to_json(),
            r#"{"clientId":"c-1","source":"ep-1","destination":"","sender":"","priority":"MEDIUM","reliability":"BEST_EFFORT","eventTime":1600000000000,"type":"DATA","payload":{"format":"urn:x:attributes","data":{"temp":21.5}}}"#
        );
    }

    #[test]
    fn parse_ignores_unknown_fields_and_defaults_missing_optional_ones() {
        let mut j = data_json();
        j["remainingRetries"] = json!(3);
        j["somethingNew"] = json!({"x": [1, 2]});
        let j = without(
            without(
                without(without(j, "priority"), "reliability"),
                "destination",
            ),
            "sender",
        );
        let m = Message::from_value(&j).unwrap();
        assert_eq!(m.priority(), Priority::Medium);
        assert_eq!(m.reliability(), Reliability::BestEffort);
        assert_eq!((m.destination(), m.sender()), ("", ""));
        let alert = json!({"clientId": "c", "source": "s", "eventTime": 1, "type": "ALERT",
            "payload": {"format": "urn:a"}});
        assert_eq!(
            Message::from_value(&alert).unwrap().priority(),
            Priority::Highest
        );
    }

    #[test]
    fn parse_keeps_the_server_fields() {
        let j = data_json();
        let j = with(j, "id", json!("m-7"));
        let j = with(j, "direction", json!("FROM_DEVICE"));
        let j = with(j, "receivedTime", json!(5));
        let j = with(j, "sentTime", json!(6.0));
        let j = with(
            j,
            "diagnostics",
            json!({"createdTime": 4, "clientAddress": "x"}),
        );
        let j = with(j, "properties", json!({"a": ["1", "2"], "b": "3"}));
        let m = Message::from_value(&j).unwrap();
        assert_eq!(m.id(), Some("m-7"));
        assert_eq!(m.direction(), Some(Direction::FromDevice));
        assert_eq!((m.received_time(), m.sent_time()), (Some(5), Some(6)));
        assert_eq!(m.diagnostics().unwrap()["createdTime"], 4);
        assert_eq!(m.properties()["a"], ["1", "2"]);
        assert_eq!(m.properties()["b"], ["3"]);
    }

    #[test]
    fn parse_rejects_a_broken_envelope_naming_the_field() {
        rejects(
            json!([1]),
            "message: the message is an array, expected an object",
        );
        rejects(without(data_json(), "type"), "message: type is missing");
        rejects(
            with(data_json(), "type", json!("WAKEUP")),
            r#"type "WAKEUP" is not one of DATA, ALERT"#,
        );
        rejects(
            with(data_json(), "type", json!(1)),
            "type is a number (1), expected a string",
        );
        rejects(without(data_json(), "clientId"), "clientId is missing");
        rejects(
            with(data_json(), "clientId", json!("")),
            "clientId is empty",
        );
        rejects(
            with(data_json(), "clientId", json!(null)),
            "clientId is null",
        );
        rejects(without(data_json(), "source"), "source is missing");
        rejects(with(data_json(), "source", json!(null)), "source is null");
        rejects(with(data_json(), "source", json!("")), "source is empty");
        rejects(
            with(data_json(), "source", json!(7)),
            "source is a number (7), expected a string",
        );
        rejects(
            with(data_json(), "destination", json!(false)),
            "destination is a boolean",
        );
        rejects(with(data_json(), "id", json!(12)), "id is a number");
        rejects(
            with(data_json(), "priority", json!("URGENT")),
            r#"priority "URGENT" is not one of LOWEST, LOW, MEDIUM, HIGH, HIGHEST"#,
        );
        rejects(
            with(data_json(), "priority", json!("medium")),
            r#"priority "medium" is not one of"#,
        );
        rejects(
            with(data_json(), "reliability", json!("ALWAYS")),
            r#"reliability "ALWAYS" is not one of NO_GUARANTEE, BEST_EFFORT, GUARANTEED_DELIVERY"#,
        );
        rejects(
            with(data_json(), "direction", json!("UP")),
            r#"direction "UP" is not one of"#,
        );
        rejects(without(data_json(), "eventTime"), "eventTime is missing");
        rejects(
            with(data_json(), "eventTime", json!("1600000000000")),
            r#"eventTime is a string ("1600000000000"), expected an integer number of milliseconds"#,
        );
        rejects(
            with(data_json(), "eventTime", json!(1.5)),
            "eventTime 1.5 is not an integer number of milliseconds",
        );
        rejects(
            with(data_json(), "eventTime", json!(1e300)),
            "eventTime 1e+300 is not an integer",
        );
        rejects(
            with(data_json(), "eventTime", json!(u64::MAX)),
            "is not an integer number",
        );
        rejects(
            with(data_json(), "receivedTime", json!("x")),
            "receivedTime is a string",
        );
        rejects(
            with(data_json(), "sentTime", json!(0.5)),
            "sentTime 0.5 is not an integer",
        );
        rejects(
            with(data_json(), "properties", json!([])),
            "properties is an array, expected an object",
        );
        rejects(
            with(data_json(), "properties", json!({"a": 1})),
            "properties.a is a number",
        );
        rejects(
            with(data_json(), "properties", json!({"a": [1]})),
            "properties.a[0] is a number",
        );
        rejects(
            with(data_json(), "diagnostics", json!("x")),
            "diagnostics is a string",
        );
        rejects(without(data_json(), "payload"), "payload is missing");
        rejects(
            with(data_json(), "payload", json!("x")),
            "payload is a string, expected an object",
        );
    }

    #[test]
    fn parse_checks_request_endpoints_differently() {
        let req = json!({"id": "r", "clientId": "c", "source": "", "destination": "ep",
            "eventTime": 1, "type": "REQUEST",
            "payload": {"method": "GET", "url": "x"}});
        // Java accepts a request with only one of source and destination; the
        // destination is the one that routes it.
        assert_eq!(Message::from_value(&req).unwrap().source(), "");
        rejects(
            with(req.clone(), "destination", json!("")),
            "destination is empty",
        );
        rejects(without(req, "destination"), "destination is empty");
    }
}
