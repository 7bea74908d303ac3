//! The REQUEST payload, cloud to device: `{"method", "url", "headers": {name:
//! [values]}, "params": {name: value}, "body": "<base64>"}` (protocol §5.2,
//! §5.4). The body is held decoded.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::{Map, Value as Json};

use super::Headers;
use super::limits;
use super::wire::{self, Base64, Ctx};
use crate::Error;

/// The payload of a `REQUEST` message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RequestPayload {
    method: String,
    url: String,
    headers: Headers,
    params: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl RequestPayload {
    /// A request `method url` with no headers, parameters or body.
    ///
    /// `url` is the resource path relative to the device, without a leading
    /// slash or query, e.g. `deviceModels/urn:x/attributes/power`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `method` or `url` is empty (Oracle's Java client
    /// rejects such a request).
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Result<RequestPayload, Error> {
        let (method, url) = (method.into(), url.into());
        if method.is_empty() {
            return Err(Error::argument("the request method is empty"));
        }
        if url.is_empty() {
            return Err(Error::argument("the request url is empty"));
        }
        Ok(RequestPayload {
            method,
            url,
            headers: Headers::new(),
            params: BTreeMap::new(),
            body: Vec::new(),
        })
    }

    /// Replaces the headers.
    pub fn with_headers(mut self, headers: Headers) -> RequestPayload {
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

    /// Sets query-like parameter `name`.
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: Vec<u8>) -> RequestPayload {
        self.body = body;
        self
    }

    /// The HTTP method as sent, e.g. `PUT`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The method to act on: the first value of an `X-HTTP-Method-Override`
    /// header (any case, as Java and Node disagree) when it is non-empty,
    /// otherwise [`method`](Self::method). The service asks for PATCH this way.
    pub fn effective_method(&self) -> &str {
        match self
            .header("x-http-method-override")
            .and_then(<[String]>::first)
        {
            Some(m) if !m.is_empty() => m,
            _ => &self.method,
        }
    }

    /// The resource path.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers, by name as sent.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The values of header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&[String]> {
        find_header(&self.headers, name)
    }

    /// The parameters.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// The body, decoded from base64.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Reads the payload of a REQUEST message. Headers may be bare strings,
    /// a missing body is empty, and parameter numbers and booleans are kept
    /// as their JSON text.
    pub(super) fn parse(mut obj: Map<String, Json>, ctx: Ctx) -> Result<RequestPayload, Error> {
        let method = wire::non_empty_string(ctx, &mut obj, "method", "payload.method")?;
        let url = wire::non_empty_string(ctx, &mut obj, "url", "payload.url")?;
        let headers = match wire::optional(&mut obj, "headers") {
            Some(v) => wire::string_lists(ctx, v, "payload.headers")?,
            None => Headers::new(),
        };
        let params = match wire::optional(&mut obj, "params") {
            Some(v) => parse_params(ctx, v)?,
            None => BTreeMap::new(),
        };
        let body = wire::body(ctx, &mut obj, "payload.body")?;
        Ok(RequestPayload {
            method,
            url,
            headers,
            params,
            body,
        })
    }

    /// Checks the size limits (see [`super::Message::check_limits`]).
    pub(super) fn check_limits(&self) -> Result<(), Error> {
        limits::check_len(format_args!("payload.method"), self.method.len())?;
        limits::check_len(format_args!("payload.url"), self.url.len())?;
        limits::check_lists("payload.headers", &self.headers)?;
        for (key, value) in &self.params {
            limits::check_key("payload.params", key)?;
            limits::check_len(
                format_args!("payload.params.{}", wire::shorten(key, 40)),
                value.len(),
            )?;
        }
        limits::check_len(
            format_args!("payload.body"),
            limits::base64_len(self.body.len()),
        )
    }
}

impl Serialize for RequestPayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("RequestPayload", 5)?;
        st.serialize_field("method", &self.method)?;
        st.serialize_field("url", &self.url)?;
        st.serialize_field("headers", &self.headers)?;
        st.serialize_field("params", &self.params)?;
        st.serialize_field("body", &Base64(&self.body))?;
        st.end()
    }
}

/// The values of header `name` in `headers`, ignoring case.
pub(super) fn find_header<'a>(headers: &'a Headers, name: &str) -> Option<&'a [String]> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

fn parse_params(ctx: Ctx, v: Json) -> Result<BTreeMap<String, String>, Error> {
    wire::object(ctx, v, "payload.params")?
        .into_iter()
        .map(|(name, value)| match value {
            Json::String(s) => Ok((name, s)),
            Json::Bool(_) | Json::Number(_) => {
                let text = value.to_string();
                Ok((name, text))
            }
            other => Err(ctx.error(format_args!(
                "payload.params.{} is {}, expected a string",
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
    use crate::message::{Message, Payload};

    fn parse(payload: Json) -> Result<RequestPayload, Error> {
        let m = json!({"id": "r-1", "clientId": "c", "source": "cloud", "destination": "ep",
            "priority": "HIGH", "reliability": "BEST_EFFORT", "eventTime": 1, "type": "REQUEST",
            "payload": payload});
        match Message::from_value(&m)?.into_payload() {
            Payload::Request(p) => Ok(p),
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn new_refuses_an_empty_method_or_url() {
        assert!(
            RequestPayload::new("", "u")
                .unwrap_err()
                .to_string()
                .contains("method is empty")
        );
        assert!(
            RequestPayload::new("GET", "")
                .unwrap_err()
                .to_string()
                .contains("url is empty")
        );
    }

    #[test]
    fn builds_and_serializes_every_field() {
        let p = RequestPayload::new("POST", "deviceModels/urn:x/attributes")
            .unwrap()
            .with_header("X-HTTP-Method-Override", "PATCH")
            .with_param("q", "1")
            .with_body(br#"{"a":1}"#.to_vec());
        assert_eq!(p.effective_method(), "PATCH");
        assert_eq!(p.method(), "POST");
        assert_eq!(
            p.header("x-http-method-override"),
            Some(&["PATCH".to_owned()][..])
        );
        assert_eq!(p.params()["q"], "1");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"method":"POST","url":"deviceModels/urn:x/attributes","headers":{"X-HTTP-Method-Override":["PATCH"]},"params":{"q":"1"},"body":"eyJhIjoxfQ=="}"#
        );
        let empty_override = RequestPayload::new("PUT", "u")
            .unwrap()
            .with_headers(Headers::from([(
                "x-http-method-override".to_owned(),
                vec![String::new()],
            )]));
        assert_eq!(empty_override.effective_method(), "PUT");
    }

    #[test]
    fn parses_java_requests_with_padded_base64_and_header_arrays() {
        let p = parse(
            json!({"method": "PUT", "url": "deviceModels/urn:x/attributes/power",
            "headers": {"content-type": ["application/json"], "accept": ["a", "b"]},
            "params": {}, "body": "eyJ2YWx1ZSI6dHJ1ZX0="}),
        )
        .unwrap();
        assert_eq!(p.body(), br#"{"value":true}"#);
        assert_eq!(p.headers()["accept"], ["a", "b"]);
        assert_eq!(
            p.header("Content-Type"),
            Some(&["application/json".to_owned()][..])
        );
    }

    #[test]
    fn parse_tolerates_what_clients_differ_on() {
        // Unpadded, URL-safe body; bare-string header; no params.
        let p = parse(
            json!({"method": "post", "url": "x", "headers": {"x-http-method-override": "PATCH"},
            "body": "-_8"}),
        )
        .unwrap();
        assert_eq!(p.body(), [0xfb, 0xff]);
        assert_eq!(p.effective_method(), "PATCH");
        assert!(p.params().is_empty());
        // No body and no headers at all; null body.
        let p = parse(json!({"method": "GET", "url": "x"})).unwrap();
        assert!(p.body().is_empty() && p.headers().is_empty());
        assert!(
            parse(json!({"method": "GET", "url": "x", "body": null}))
                .unwrap()
                .body()
                .is_empty()
        );
        // Parameter scalars are kept as their JSON text.
        let p =
            parse(json!({"method": "GET", "url": "x", "params": {"n": 5, "b": true, "s": "t"}}))
                .unwrap();
        assert_eq!(
            (p.params()["n"].as_str(), p.params()["b"].as_str()),
            ("5", "true")
        );
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
        rejects(json!({"url": "x"}), "payload.method is missing");
        rejects(json!({"method": "", "url": "x"}), "payload.method is empty");
        rejects(json!({"method": "GET"}), "payload.url is missing");
        rejects(json!({"method": "GET", "url": ""}), "payload.url is empty");
        rejects(
            json!({"method": "GET", "url": 3}),
            "payload.url is a number",
        );
        rejects(
            json!({"method": "GET", "url": "x", "body": "a*b"}),
            "payload.body is not valid base64",
        );
        rejects(
            json!({"method": "GET", "url": "x", "body": "a"}),
            "payload.body is not valid base64",
        );
        rejects(
            json!({"method": "GET", "url": "x", "body": 5}),
            "payload.body is a number",
        );
        rejects(
            json!({"method": "GET", "url": "x", "headers": []}),
            "payload.headers is an array",
        );
        rejects(
            json!({"method": "GET", "url": "x", "headers": {"h": 1}}),
            "payload.headers.h is a number",
        );
        rejects(
            json!({"method": "GET", "url": "x", "headers": {"h": [true]}}),
            "payload.headers.h[0] is a boolean",
        );
        rejects(
            json!({"method": "GET", "url": "x", "params": "p"}),
            "payload.params is a string",
        );
        rejects(
            json!({"method": "GET", "url": "x", "params": {"p": [1]}}),
            "payload.params.p is an array",
        );
    }
}
