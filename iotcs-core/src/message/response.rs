//! The RESPONSE payload, device to cloud: `{"statusCode", "url", "requestId",
//! "headers", "body": "<base64>"}` (protocol §5.2). The body is held decoded.

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::{Map, Value as Json};

use super::Headers;
use super::limits;
use super::request::find_header;
use super::wire::{self, Base64, Ctx};
use crate::Error;

/// The payload of a `RESPONSE` message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ResponsePayload {
    status_code: u16,
    url: String,
    request_id: String,
    headers: Headers,
    body: Vec<u8>,
}

impl ResponsePayload {
    /// An answer with HTTP status `status_code` to the request whose message
    /// id is `request_id`, with no url, headers or body.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `status_code` is not in `100..=599` or
    /// `request_id` is empty (the server could not correlate the answer).
    pub fn new(status_code: u16, request_id: impl Into<String>) -> Result<ResponsePayload, Error> {
        let request_id = request_id.into();
        if !(100..=599).contains(&status_code) {
            return Err(Error::argument(format!(
                "response status {status_code} is not an HTTP status (100 to 599)"
            )));
        }
        if request_id.is_empty() {
            return Err(Error::argument("the response's request id is empty"));
        }
        Ok(ResponsePayload {
            status_code,
            url: String::new(),
            request_id,
            headers: Headers::new(),
            body: Vec::new(),
        })
    }

    /// Sets the url, normally the request's.
    pub fn with_url(mut self, url: impl Into<String>) -> ResponsePayload {
        self.url = url.into();
        self
    }

    /// Replaces the headers.
    pub fn with_headers(mut self, headers: Headers) -> ResponsePayload {
        self.headers = headers;
        self
    }

    /// Adds one value to header `name`.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .entry(name.into())
            .or_default()
            .push(value.into());
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: Vec<u8>) -> ResponsePayload {
        self.body = body;
        self
    }

    /// The HTTP status.
    pub fn status_code(&self) -> u16 {
        self.status_code
    }

    /// The url of the request answered; may be empty (Oracle's JS client
    /// always sends `""`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The message id of the request answered.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The headers, by name as sent.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The values of header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&[String]> {
        find_header(&self.headers, name)
    }

    /// The body, decoded from base64.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Reads the payload of a RESPONSE message. `statusCode` must be an
    /// integer from 100 to 599 and `requestId` present; url, headers and body
    /// may be missing.
    pub(super) fn parse(mut obj: Map<String, Json>, ctx: Ctx) -> Result<ResponsePayload, Error> {
        let code = wire::required(ctx, &mut obj, "statusCode", "payload.statusCode")?;
        let status_code = match code.as_u64() {
            Some(n @ 100..=599) => u16::try_from(n).expect("100..=599 fits in u16"),
            _ if code.is_number() => {
                return Err(ctx.error(format_args!(
                    "payload.statusCode {code} is not an HTTP status (an integer from 100 to 599)"
                )));
            }
            _ => {
                return Err(ctx.error(format_args!(
                    "payload.statusCode is {} ({}), expected an integer from 100 to 599",
                    wire::kind(&code),
                    wire::show(&code)
                )));
            }
        };
        let request_id = wire::required_string(ctx, &mut obj, "requestId", "payload.requestId")?;
        let url = wire::optional_string(ctx, &mut obj, "url", "payload.url")?.unwrap_or_default();
        let headers = match wire::optional(&mut obj, "headers") {
            Some(v) => wire::string_lists(ctx, v, "payload.headers")?,
            None => Headers::new(),
        };
        let body = wire::body(ctx, &mut obj, "payload.body")?;
        Ok(ResponsePayload {
            status_code,
            url,
            request_id,
            headers,
            body,
        })
    }

    /// Checks the size limits (see [`super::Message::check_limits`]).
    pub(super) fn check_limits(&self) -> Result<(), Error> {
        limits::check_len(format_args!("payload.url"), self.url.len())?;
        limits::check_len(format_args!("payload.requestId"), self.request_id.len())?;
        limits::check_lists("payload.headers", &self.headers)?;
        limits::check_len(
            format_args!("payload.body"),
            limits::base64_len(self.body.len()),
        )
    }
}

impl Serialize for ResponsePayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ResponsePayload", 5)?;
        st.serialize_field("statusCode", &self.status_code)?;
        st.serialize_field("url", &self.url)?;
        st.serialize_field("requestId", &self.request_id)?;
        st.serialize_field("headers", &self.headers)?;
        st.serialize_field("body", &Base64(&self.body))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::message::{Message, Payload};

    fn parse(payload: Json) -> Result<ResponsePayload, Error> {
        let m = json!({"clientId": "c", "source": "ep", "destination": "cloud", "priority": "MEDIUM",
            "reliability": "BEST_EFFORT", "eventTime": 1, "type": "RESPONSE", "payload": payload});
        match Message::from_value(&m)?.into_payload() {
            Payload::Response(p) => Ok(p),
            other => panic!("not a response: {other:?}"),
        }
    }

    #[test]
    fn new_checks_the_status_and_request_id() {
        for ok in [100, 200, 202, 599] {
            assert_eq!(ResponsePayload::new(ok, "r").unwrap().status_code(), ok);
        }
        for bad in [0, 99, 600, 65535] {
            let err = ResponsePayload::new(bad, "r").unwrap_err().to_string();
            assert!(
                err.contains(&format!("status {bad} is not an HTTP status")),
                "{err}"
            );
        }
        assert!(
            ResponsePayload::new(200, "")
                .unwrap_err()
                .to_string()
                .contains("request id is empty")
        );
    }

    #[test]
    fn serializes_every_field() {
        let p = ResponsePayload::new(404, "r-1")
            .unwrap()
            .with_url("deviceModels/urn:x/attributes/a")
            .with_header("Content-Type", "text/plain")
            .with_body(b"Not Found".to_vec());
        assert_eq!(
            p.header("content-type"),
            Some(&["text/plain".to_owned()][..])
        );
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"statusCode":404,"url":"deviceModels/urn:x/attributes/a","requestId":"r-1","headers":{"Content-Type":["text/plain"]},"body":"Tm90IEZvdW5k"}"#
        );
        let p = p.with_headers(Headers::new());
        assert!(p.headers().is_empty());
    }

    #[test]
    fn parses_oracle_js_and_java_responses() {
        // Node: url "", empty headers, body base64 of "OK" (protocol-js §6.5).
        let p = parse(
            json!({"statusCode": 200, "url": "", "requestId": "r-1", "headers": {},
            "body": "T0s="}),
        )
        .unwrap();
        assert_eq!(
            (p.status_code(), p.url(), p.request_id(), p.body()),
            (200, "", "r-1", &b"OK"[..])
        );
        // Java: lower-case header names with array values.
        let p = parse(json!({"statusCode": 202, "url": "u", "requestId": "r-2",
            "headers": {"content-type": ["application/json"]}, "body": ""}))
        .unwrap();
        assert_eq!(p.headers()["content-type"], ["application/json"]);
        // Everything optional missing.
        let p = parse(json!({"statusCode": 500, "requestId": "r"})).unwrap();
        assert!(p.url().is_empty() && p.body().is_empty() && p.headers().is_empty());
    }

    #[track_caller]
    fn rejects(payload: Json, expected: &str) {
        let err = parse(payload).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{err:?} does not contain {expected:?}"
        );
    }

    #[test]
    fn parse_rejects_a_broken_payload() {
        rejects(json!({"requestId": "r"}), "payload.statusCode is missing");
        rejects(
            json!({"statusCode": "200", "requestId": "r"}),
            r#"payload.statusCode is a string ("200")"#,
        );
        rejects(
            json!({"statusCode": 200.5, "requestId": "r"}),
            "payload.statusCode 200.5 is not an HTTP status",
        );
        rejects(
            json!({"statusCode": 200.0, "requestId": "r"}),
            "payload.statusCode 200.0 is not",
        );
        rejects(
            json!({"statusCode": 99, "requestId": "r"}),
            "payload.statusCode 99 is not",
        );
        rejects(
            json!({"statusCode": 600, "requestId": "r"}),
            "payload.statusCode 600 is not",
        );
        rejects(
            json!({"statusCode": -200, "requestId": "r"}),
            "payload.statusCode -200 is not",
        );
        rejects(json!({"statusCode": 200}), "payload.requestId is missing");
        rejects(
            json!({"statusCode": 200, "requestId": 1}),
            "payload.requestId is a number",
        );
        rejects(
            json!({"statusCode": 200, "requestId": "r", "url": []}),
            "payload.url is an array",
        );
        rejects(
            json!({"statusCode": 200, "requestId": "r", "body": "!"}),
            "payload.body is not valid base64",
        );
        rejects(
            json!({"statusCode": 200, "requestId": "r", "headers": {"a": {}}}),
            "payload.headers.a is an object",
        );
    }
}
