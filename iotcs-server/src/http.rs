//! HTTP plumbing shared by every handler: the request as handlers see it, the
//! reply they return, JSON error bodies, the response body type (which can cut
//! a connection on purpose), and lenient URL/form decoding.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::HeaderMap;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use iotcs_core::__private::protocol::status;
use serde_json::{Value, json};

use crate::state::DomainError;

/// A request with its body read, as the handlers see it. `Debug` leaves
/// the headers and body out (they carry credentials).
pub(crate) struct Req {
    /// The method, upper case.
    pub(crate) method: String,
    /// The path exactly as received (still percent-encoded).
    pub(crate) path: String,
    /// The decoded query parameters in order; a key without `=` has value "".
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) peer: SocketAddr,
}

impl fmt::Debug for Req {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Req")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Req {
    /// A header as text; `None` when absent or not visible ASCII.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first value of a query parameter.
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path split into percent-decoded segments (empty segments dropped).
    pub(crate) fn segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect()
    }

    /// The body parsed as JSON.
    pub(crate) fn json(&self) -> Result<Value, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "the request body is empty; a JSON value is required",
            ));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
    }
}

/// What a handler answers.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// A JSON reply. Every 2xx on `/iot/...` has one (Oracle's JS client treats
    /// an empty body as a failure).
    pub(crate) fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: value.to_string().into_bytes(),
        }
    }

    /// A JSON reply whose body text is already serialised.
    pub(crate) fn json_text(status: u16, text: String) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: text.into_bytes(),
        }
    }

    /// Raw bytes.
    pub(crate) fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// A failed request: a status and a reason, answered as a JSON problem body
/// `{"type", "title", "status", "detail"}` (never HTML).
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) detail: String,
    /// Extra members merged into the body (the token endpoint's OAuth fields).
    pub(crate) extra: serde_json::Map<String, Value>,
    /// Extra headers (e.g. `WWW-Authenticate`).
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error with this status and reason.
    pub(crate) fn new(status: u16, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            extra: serde_json::Map::new(),
            headers: Vec::new(),
        }
    }
    pub(crate) fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(status::BAD_REQUEST, detail)
    }
    pub(crate) fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(status::UNAUTHORIZED, detail)
    }
    pub(crate) fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(status::FORBIDDEN, detail)
    }
    pub(crate) fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(status::NOT_FOUND, detail)
    }
    pub(crate) fn method_not_allowed(method: &str, path: &str) -> ApiError {
        ApiError::new(
            status::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}"),
        )
    }
    pub(crate) fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(status::CONFLICT, detail)
    }
    pub(crate) fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(status::INTERNAL_SERVER_ERROR, detail)
    }

    /// Adds a member to the JSON body.
    pub(crate) fn with(mut self, key: &str, value: Value) -> ApiError {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// The reply carrying this error.
    pub(crate) fn into_reply(self) -> Reply {
        let title = hyper::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let mut body = json!({
            "type": "about:blank",
            "title": title,
            "status": self.status,
            "detail": self.detail,
        });
        if let Value::Object(map) = &mut body {
            map.extend(self.extra);
        }
        let mut reply = Reply::json(self.status, &body);
        reply.headers = self.headers;
        reply
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

/// The one place where the domain's refusals become HTTP statuses.
impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        match e {
            DomainError::Invalid(d) => ApiError::new(status::BAD_REQUEST, d),
            DomainError::Forbidden(d) => ApiError::new(status::FORBIDDEN, d),
            DomainError::NotFound(d) => ApiError::new(status::NOT_FOUND, d),
            DomainError::Conflict(d) => ApiError::new(status::CONFLICT, d),
            DomainError::Internal(d) => ApiError::new(status::INTERNAL_SERVER_ERROR, d),
            DomainError::TooLarge(d) => ApiError::new(413, d),
        }
    }
}

/// A core error met by a handler means what it means to the domain.
impl From<iotcs_core::Error> for ApiError {
    fn from(e: iotcs_core::Error) -> ApiError {
        ApiError::from(DomainError::from(e))
    }
}

/// The response body: the whole reply at once, a stream of chunks from a
/// reading thread (storage downloads), or (fault injection) part of either
/// followed by an error, which makes hyper abort the connection after a
/// `Content-Length` it cannot honour.
#[derive(Debug)]
pub(crate) struct ResponseBody {
    source: Source,
    declared: u64,
    /// Fail once this many bytes have been sent (fault injection).
    cut_after: Option<u64>,
    sent: u64,
}

#[derive(Debug)]
enum Source {
    Full(Option<Bytes>),
    Stream(tokio::sync::mpsc::Receiver<io::Result<Bytes>>),
}

impl ResponseBody {
    /// A complete body.
    pub(crate) fn full(bytes: Vec<u8>) -> ResponseBody {
        let declared = bytes.len() as u64;
        ResponseBody {
            source: Source::Full(Some(Bytes::from(bytes))),
            declared,
            cut_after: None,
            sent: 0,
        }
    }

    /// A body that announces its full length, sends half of it and breaks.
    pub(crate) fn truncated(bytes: Vec<u8>) -> ResponseBody {
        let half = bytes.len() as u64 / 2;
        ResponseBody::full(bytes).cut_after(half)
    }

    /// A body of `len` bytes arriving as chunks on `chunks`; an error item
    /// (or fewer bytes than `len`) aborts the connection.
    pub(crate) fn stream(
        chunks: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
        len: u64,
    ) -> ResponseBody {
        ResponseBody {
            source: Source::Stream(chunks),
            declared: len,
            cut_after: None,
            sent: 0,
        }
    }

    /// The same body, broken after `n` bytes.
    pub(crate) fn cut_after(mut self, n: u64) -> ResponseBody {
        self.cut_after = Some(n);
        self
    }

    fn cut() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection dropped by fault injection",
        )
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if this.cut_after.is_some_and(|n| this.sent >= n) {
            this.cut_after = None;
            this.source = Source::Full(None);
            return Poll::Ready(Some(Err(ResponseBody::cut())));
        }
        let next = match &mut this.source {
            Source::Full(data) => data.take().filter(|d| !d.is_empty()).map(Ok),
            Source::Stream(rx) => match rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(item) => item,
            },
        };
        match next {
            Some(Ok(mut data)) => {
                if let Some(n) = this.cut_after {
                    let room = usize::try_from(n - this.sent).unwrap_or(usize::MAX);
                    data.truncate(room);
                }
                this.sent += data.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e))),
            None if this.cut_after.take().is_some() || this.sent < this.declared => {
                this.source = Source::Full(None);
                this.declared = this.sent;
                Poll::Ready(Some(Err(ResponseBody::cut())))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.source, Source::Full(None)) && self.cut_after.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared)
    }
}

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than the limit.
    TooLarge,
    /// The connection failed while reading.
    Read(hyper::Error),
}

/// Reads a request body, refusing more than `limit` bytes.
pub(crate) async fn collect(body: &mut Incoming, limit: usize) -> Result<Bytes, BodyError> {
    // Sized from Content-Length (within the limit) so a batch is not copied
    // again each time the buffer would double.
    let declared = usize::try_from(Body::size_hint(body).lower()).unwrap_or(0);
    let mut buf: Vec<u8> = Vec::with_capacity(declared.min(limit));
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        let frame = frame.map_err(BodyError::Read)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// How much of a refused body [`drain`] reads and throws away, and for how
/// long, before giving up on the client and letting the connection drop.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and discards the rest of a body the server refuses (413), so that
/// the client, still sending, gets the answer rather than a reset
/// connection; within [`DRAIN_BYTES`] and [`DRAIN_TIME`].
pub(crate) async fn drain(body: &mut Incoming) {
    let read_all = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
        {
            seen += frame.data_ref().map_or(0, Bytes::len);
            if seen > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read_all).await;
}

/// Percent-decodes `s` leniently: a `%` not followed by two hex digits stays
/// as it is, `+` stays a plus (JWTs and base64 may contain it), and invalid
/// UTF-8 is replaced rather than refused.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Everything but RFC 3986's unreserved characters.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything but unreserved characters (RFC 3986), for
/// building URLs.
pub(crate) fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// Splits `a=1&b=2` (a query or a form body) into decoded pairs, on `&` and
/// on the first `=` only, as the spec requires for Java's unescaped `=`.
pub(crate) fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// The pairs as a map (first occurrence wins).
pub(crate) fn pairs_map(pairs: Vec<(String, String)>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in pairs {
        map.entry(k).or_insert(v);
    }
    map
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("urn%3Acom%3Aexample"), "urn:com:example");
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%E2%82%AC"), "€");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
        assert_eq!(percent_decode(""), "");
    }

    #[test]
    fn encoding_round_trips() {
        for s in ["urn:com:example:x", "a b/c?d", "€"] {
            assert_eq!(percent_decode(&percent_encode(s)), s);
        }
        assert_eq!(percent_encode("urn:a"), "urn%3Aa");
    }

    #[test]
    fn pairs_split_on_the_first_equals() {
        let p = parse_pairs(
            "grant_type=client_credentials&client_assertion=ab==.c=&scope=oracle/iot/activation&flag&=x",
        );
        assert_eq!(p[1], ("client_assertion".into(), "ab==.c=".into()));
        assert_eq!(p[2].1, "oracle/iot/activation");
        assert_eq!(p[3], ("flag".into(), String::new()));
        assert_eq!(p[4], (String::new(), "x".into()));
        let m = pairs_map(parse_pairs("a=1&a=2"));
        assert_eq!(m["a"], "1");
    }

    #[test]
    fn each_domain_refusal_has_its_status_and_keeps_its_reason() {
        let cases = [
            (DomainError::invalid("bad"), 400),
            (DomainError::forbidden("bad"), 403),
            (DomainError::not_found("bad"), 404),
            (DomainError::conflict("bad"), 409),
            (DomainError::internal("bad"), 500),
            (DomainError::too_large("bad"), 413),
        ];
        for (e, status) in cases {
            let api = ApiError::from(e.prefixed("message 2"));
            assert_eq!(
                (api.status, api.detail.as_str()),
                (status, "message 2: bad")
            );
        }
    }

    #[test]
    fn error_bodies_are_problem_json() {
        let r = ApiError::bad_request("field x is missing")
            .with("currentTime", json!(5))
            .into_reply();
        assert_eq!(r.status, 400);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["title"], "Bad Request");
        assert_eq!(v["status"], 400);
        assert_eq!(v["detail"], "field x is missing");
        assert_eq!(v["currentTime"], 5);
        let odd = ApiError::new(599, "x").into_reply();
        assert_eq!(
            serde_json::from_slice::<Value>(&odd.body).unwrap()["title"],
            "Error"
        );
    }

    proptest::proptest! {
        #[test]
        fn percent_encoding_round_trips(s in "\\PC*") {
            proptest::prop_assert_eq!(percent_decode(&percent_encode(&s)), s);
        }

        #[test]
        fn pair_parsing_takes_anything(s in "\\PC*") {
            let pairs = parse_pairs(&s);
            proptest::prop_assert!(pairs.len() <= s.split('&').count());
        }
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
