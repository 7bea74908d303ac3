//! The network behind one small trait, so everything above it (tokens,
//! activation, the dispatcher) is tested with an in-memory fake, and the
//! real implementation over ureq + rustls is the only code that opens
//! sockets.
//!
//! The ureq transport trusts exactly the trust anchors of the trusted assets
//! store (no system or Mozilla roots), checks the host name, and uses two
//! agents: one for ordinary calls with the configured response timeout, one
//! for long polls whose timeout is the long-poll hold plus the configured
//! offset. `close` shuts the long-poll agent down, which interrupts a held
//! poll at once instead of waiting for the server to answer, and at the end
//! of its network phase shuts both down, which interrupts whatever request
//! is still in flight (ureq shuts its socket down, even mid-TLS-handshake).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use iotcs_core::__private::protocol::Method;
use iotcs_core::{Config, Error};

use crate::cloud::resolver::RememberingResolver;

/// One HTTP request, path relative to the server root.
#[derive(Clone)]
pub(crate) struct HttpRequest {
    /// `GET` or `POST`.
    pub(crate) method: Method,
    /// Path and query, e.g. `/iot/api/v2/messages?acceptBytes=4190`.
    pub(crate) path: String,
    /// Request headers. `Authorization` is never printed by `Debug`.
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The body; empty for GET. Shared, so the retry after a 401 and the
    /// sender's reused buffer cost no copy of a batch.
    pub(crate) body: Arc<Vec<u8>>,
    /// A long poll: sent on the long-poll agent with its longer timeout.
    pub(crate) long_poll: bool,
}

impl HttpRequest {
    /// A GET of `path`.
    pub(crate) fn get(path: impl Into<String>) -> Self {
        HttpRequest {
            method: Method::Get,
            path: path.into(),
            headers: Vec::new(),
            body: Arc::default(),
            long_poll: false,
        }
    }

    /// A POST of `body` to `path`.
    pub(crate) fn post(path: impl Into<String>, body: Vec<u8>) -> Self {
        HttpRequest::post_shared(path, Arc::new(body))
    }

    /// A POST of a body the caller keeps a handle on (to reuse its buffer
    /// once the request is done).
    pub(crate) fn post_shared(path: impl Into<String>, body: Arc<Vec<u8>>) -> Self {
        HttpRequest {
            method: Method::Post,
            path: path.into(),
            headers: Vec::new(),
            body,
            long_poll: false,
        }
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The request path without its query string, for error messages: a
    /// query may carry nothing secret today, but paths are what errors name.
    pub(crate) fn path_only(&self) -> &str {
        self.path.split_once('?').map_or(&self.path, |(p, _)| p)
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                if n.eq_ignore_ascii_case("authorization") {
                    (*n, "<redacted>")
                } else {
                    (*n, v.as_str())
                }
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method.as_str())
            .field("path", &self.path)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .field("long_poll", &self.long_poll)
            .finish()
    }
}

/// One HTTP response.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    /// The status code.
    pub(crate) status: u16,
    /// Response headers, names lower-cased.
    pub(crate) headers: Vec<(String, String)>,
    /// The whole body.
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status means success (the clients accept 200, 201, 202).
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends HTTP requests to the one server of the trusted assets store.
pub(crate) trait Transport: Send + Sync + fmt::Debug {
    /// Sends `request` and returns the response whatever its status. Fails
    /// only when no response arrived: connection, TLS, timeout.
    fn round_trip(&self, request: &HttpRequest) -> Result<HttpResponse, Error>;

    /// Interrupts long polls in flight and makes later ones fail at once;
    /// ordinary requests keep working (the sender's last flush needs them).
    fn interrupt_long_polls(&self);

    /// Interrupts every request in flight (a TLS handshake included) and
    /// makes later ones fail at once: the end of `close`'s network phase.
    /// Permanent: the transport is not used again.
    fn interrupt_all(&self);
}

/// The long-poll hold asked of the server (`iot.timeout`), in seconds. The
/// reference's high-level dispatchers send none and wait forever; asking for
/// a hold lets the client bound its own wait (hold plus
/// `long_polling_timeout_offset`), so a connection that died silently is
/// noticed.
pub(crate) const LONG_POLL_HOLD: Duration = Duration::from_secs(30);

/// Extra time a long poll may take beyond the hold and the configured offset
/// before the client gives up on it: the server answers at the end of the
/// hold, and the answer needs a moment to arrive.
const LONG_POLL_GRACE: Duration = Duration::from_secs(5);

/// Timeouts and proxy of the ureq transport, from `[http]` and
/// `[device_messaging]`.
#[derive(Clone, Debug, Default)]
pub(crate) struct HttpSettings {
    /// TCP connect limit (`http_connection_timeout`, when positive).
    pub(crate) connect_timeout: Option<Duration>,
    /// Limit for a whole ordinary request (`http_read_timeout` when
    /// positive, else `http_response_timeout`).
    pub(crate) response_timeout: Option<Duration>,
    /// Limit for a whole long poll: hold + `long_polling_timeout_offset`.
    pub(crate) long_poll_timeout: Option<Duration>,
    /// `[http] proxy`, e.g. `https://proxy.example.com:9090/`.
    pub(crate) proxy: Option<String>,
    /// `[http] proxy_auth`, `user:password`.
    pub(crate) proxy_auth: Option<String>,
}

impl HttpSettings {
    /// The timeouts and proxy of the ureq transport, from `[http]` and
    /// `[device_messaging]`.
    pub(crate) fn from_config(config: &Config) -> Self {
        let messaging = &config.device_messaging;
        let response_timeout = config
            .http
            .http_read_timeout
            .filter(|d| !d.is_zero())
            .unwrap_or(messaging.http_response_timeout);
        HttpSettings {
            connect_timeout: config.http.http_connection_timeout.filter(|d| !d.is_zero()),
            response_timeout: Some(response_timeout).filter(|d| !d.is_zero()),
            long_poll_timeout: Some(
                LONG_POLL_HOLD + messaging.long_polling_timeout_offset + LONG_POLL_GRACE,
            ),
            proxy: config.http.proxy.clone(),
            proxy_auth: config.http.proxy_auth.clone(),
        }
    }
}

/// The real transport: HTTPS with ureq and rustls (aws-lc-rs).
pub(crate) struct UreqTransport {
    /// `https://host:port`, no trailing slash.
    base: String,
    /// Ordinary calls.
    agent: ureq::Agent,
    /// Long polls only, so that shutting it down spares ordinary calls.
    long_poll_agent: ureq::Agent,
    /// Where the trust anchors come from (the provisioning file), for the
    /// error that says the server's certificate is not signed by them.
    anchors_from: String,
}

impl fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UreqTransport")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl UreqTransport {
    /// A transport to `scheme://host:port` trusting only `trust_anchors`
    /// (DER certificates).
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for a scheme other than `https` or an unusable
    /// proxy setting; [`Error::Security`] when there is no trust anchor.
    pub(crate) fn new(
        scheme: &str,
        host: &str,
        port: u16,
        trust_anchors: &[Vec<u8>],
        settings: &HttpSettings,
    ) -> Result<Self, Error> {
        if !scheme.eq_ignore_ascii_case("https") {
            return Err(Error::argument(format!(
                "server scheme {scheme:?} is not supported: only https is"
            )));
        }
        let tls = tls_config(trust_anchors, "the server")?;
        let proxy = proxy(settings)?;
        let build = |timeout: Option<Duration>| {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .https_only(true)
                .tls_config(tls.clone())
                .proxy(proxy.clone())
                .max_redirects(0)
                .user_agent(concat!("iotcs-device/", env!("CARGO_PKG_VERSION")))
                .timeout_connect(settings.connect_timeout)
                .timeout_global(timeout)
                .build();
            ureq::Agent::with_parts(
                config,
                ureq::unversioned::transport::DefaultConnector::default(),
                RememberingResolver::default(),
            )
        };
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        Ok(UreqTransport {
            base: format!("https://{host}:{port}"),
            agent: build(settings.response_timeout),
            long_poll_agent: build(settings.long_poll_timeout),
            anchors_from: "the provisioning file".to_owned(),
        })
    }

    /// Names the file the trust anchors come from in certificate errors.
    pub(crate) fn with_anchors_from(mut self, path: &Path) -> Self {
        self.anchors_from = path.display().to_string();
        self
    }
}

/// TLS that trusts only the provisioning file's anchors, with aws-lc-rs:
/// the device API and the storage service are both verified this way.
/// `peer` says whom for in the error.
///
/// # Errors
///
/// [`Error::Security`] when the store has no trust anchor.
pub(crate) fn tls_config(
    trust_anchors: &[Vec<u8>],
    peer: &str,
) -> Result<ureq::tls::TlsConfig, Error> {
    if trust_anchors.is_empty() {
        return Err(Error::security(format!(
            "the trusted assets store has no trust anchor to verify {peer} with"
        )));
    }
    let roots: Vec<ureq::tls::Certificate<'static>> = trust_anchors
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
        .collect();
    Ok(ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .build())
}

/// The ureq proxy for `settings`, with `proxy_auth` as its credentials
/// (the storage transfers use it too, with `[media_storage] proxy`).
pub(crate) fn proxy(settings: &HttpSettings) -> Result<Option<ureq::Proxy>, Error> {
    let Some(url) = settings
        .proxy
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    else {
        return Ok(None);
    };
    let bad = |reason: &str| Error::Config {
        section: "http".into(),
        key: "proxy".into(),
        value: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = ureq::Proxy::new(url.trim_end_matches('/')).map_err(|_| bad("not a proxy url"))?;
    let Some(auth) = settings.proxy_auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(Some(parsed));
    };
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    ureq::Proxy::builder(parsed.protocol())
        .host(parsed.host())
        .port(parsed.port())
        .username(user)
        .password(password)
        .build()
        .map(Some)
        .map_err(|_| bad("the proxy url and proxy_auth do not form a usable proxy"))
}

impl Transport for UreqTransport {
    /// One exchange, with the one DEBUG line per request that
    /// `RUST_LOG=iotcs=debug` promises: method, path (never the query),
    /// status, bytes each way, milliseconds. Bodies are not logged here:
    /// the token exchange's carry credentials; the sender and the inbound
    /// side log message bodies at TRACE.
    fn round_trip(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
        let started = std::time::Instant::now();
        let result = self.exchange(request);
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(response) => log::debug!(
                target: "iotcs::device::transport",
                "{} {} -> {}, {} B sent, {} B received, {ms} ms",
                request.method,
                request.path_only(),
                response.status,
                request.body.len(),
                response.body.len()
            ),
            Err(e) => log::debug!(
                target: "iotcs::device::transport",
                "{} {} failed after {ms} ms: {e}",
                request.method,
                request.path_only()
            ),
        }
        result
    }

    fn interrupt_long_polls(&self) {
        self.long_poll_agent.clone().shutdown();
    }

    fn interrupt_all(&self) {
        // ureq shuts the sockets of requests in flight down, which wakes a
        // blocked read at once, and refuses new connections.
        self.long_poll_agent.clone().shutdown();
        self.agent.clone().shutdown();
    }
}

impl UreqTransport {
    /// The request over ureq, its answer read whole.
    fn exchange(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
        let agent = if request.long_poll {
            &self.long_poll_agent
        } else {
            &self.agent
        };
        let url = format!("{}{}", self.base, request.path);
        let result = match request.method {
            Method::Get => {
                let mut builder = agent.get(&url);
                for (name, value) in &request.headers {
                    builder = builder.header(*name, value);
                }
                builder.call()
            }
            _ => {
                let mut builder = agent.post(&url);
                for (name, value) in &request.headers {
                    builder = builder.header(*name, value);
                }
                builder.send(&request.body[..])
            }
        };
        let mut response = result.map_err(|e| self.network_error(request, e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (n.as_str().to_ascii_lowercase(), v.to_owned()))
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| self.network_error(request, e))?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl UreqTransport {
    /// Maps a ureq failure to the error kinds of the reference: a refused
    /// server certificate to [`Error::Security`] (permanent: no retry makes
    /// a certificate valid; [`certificate_error`]), timeouts to
    /// [`Error::Timeout`], the rest to [`Error::Network`].
    fn network_error(&self, request: &HttpRequest, e: ureq::Error) -> Error {
        if let Some(refused) = rustls_error(&e)
            && let Some(error) = certificate_error(refused, &self.base, &self.anchors_from)
        {
            return error;
        }
        match e {
            ureq::Error::Timeout(which) => Error::Timeout {
                operation: format!("{} {} ({which})", request.method, request.path_only()),
            },
            other => Error::Network {
                reason: format!("{} {} failed", request.method, request.path_only()),
                source: Some(std::sync::Arc::new(other)),
            },
        }
    }
}

/// The rustls error inside a ureq failure: ureq reports a handshake's
/// failure as its own variant or as an IO error wrapping it.
fn rustls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(inner) => Some(inner),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// The [`Error::Security`] for a server certificate that rustls refused,
/// naming the server and the file whose anchors refused it; `None` for
/// other TLS failures (those stay network errors, worth retrying).
pub(crate) fn certificate_error(
    e: &rustls::Error,
    server: &str,
    anchors_from: &str,
) -> Option<Error> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(refused) = e else {
        return None;
    };
    let reason = match refused {
        C::UnknownIssuer | C::BadSignature => format!(
            "the server's certificate is not signed by the trust anchor in {anchors_from} \
             ({server} presented a certificate of another authority: is the provisioning \
             file for this server?)"
        ),
        other => format!(
            "the certificate of {server} was refused ({other:?}); the trust anchor comes \
             from {anchors_from}"
        ),
    };
    Some(Error::security(reason))
}

/// An in-memory transport for unit tests: a handler answers every request,
/// and every request is recorded.
#[cfg(test)]
pub(crate) mod memory {
    use std::sync::Mutex;

    use super::*;

    type Handler = Box<dyn Fn(&HttpRequest) -> Result<HttpResponse, Error> + Send + Sync>;

    /// One recorded request: method, path, headers, body.
    pub(crate) type Recorded = (String, String, Vec<(String, String)>, Vec<u8>);

    /// The fake.
    pub(crate) struct MemoryTransport {
        handler: Handler,
        /// (method, path, headers, body) of every request, in order.
        pub(crate) log: Mutex<Vec<Recorded>>,
    }

    impl fmt::Debug for MemoryTransport {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("MemoryTransport")
        }
    }

    impl MemoryTransport {
        /// A transport answering with `handler`.
        pub(crate) fn new(
            handler: impl Fn(&HttpRequest) -> Result<HttpResponse, Error> + Send + Sync + 'static,
        ) -> Self {
            MemoryTransport {
                handler: Box::new(handler),
                log: Mutex::new(Vec::new()),
            }
        }

        /// The paths requested so far.
        pub(crate) fn paths(&self) -> Vec<String> {
            self.log
                .lock()
                .unwrap()
                .iter()
                .map(|r| r.1.clone())
                .collect()
        }
    }

    impl Transport for MemoryTransport {
        fn round_trip(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
            self.log.lock().unwrap().push((
                request.method.as_str().to_owned(),
                request.path.clone(),
                request
                    .headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), v.clone()))
                    .collect(),
                request.body.to_vec(),
            ));
            (self.handler)(request)
        }

        fn interrupt_long_polls(&self) {}

        fn interrupt_all(&self) {}
    }

    /// A response with `status` and a JSON `body`.
    pub(crate) fn json(status: u16, body: &str) -> Result<HttpResponse, Error> {
        Ok(HttpResponse {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_of_another_authority_is_a_security_error_naming_file_and_host() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = certificate_error(&refused, "https://cloud.example:7443", "/etc/gw.tas")
            .expect("a refused certificate");
        assert_eq!(e.kind(), iotcs_core::ErrorKind::Security);
        let text = e.to_string();
        assert!(
            text.contains("not signed by the trust anchor in /etc/gw.tas"),
            "{text}"
        );
        assert!(text.contains("https://cloud.example:7443"), "{text}");
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let e = certificate_error(&expired, "https://h:1", "/x.tas").expect("refused");
        assert!(e.to_string().contains("Expired"), "{e}");
        // Other TLS failures stay network errors (worth retrying).
        assert!(certificate_error(&rustls::Error::DecryptError, "https://h:1", "/x.tas").is_none());
        let wrapped = ureq::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature),
        ));
        assert!(matches!(
            rustls_error(&wrapped),
            Some(rustls::Error::InvalidCertificate(_))
        ));
    }

    #[test]
    fn debug_redacts_the_authorization_header() {
        let request = HttpRequest::get("/iot/api/v2/deviceModels/x")
            .header("Authorization", "Bearer very-secret")
            .header("X-EndpointId", "EP-1");
        let text = format!("{request:?}");
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("EP-1"), "{text}");
    }

    #[test]
    fn path_only_drops_the_query() {
        let request = HttpRequest::post("/iot/api/v2/messages?acceptBytes=0&iot.sync", Vec::new());
        assert_eq!(request.path_only(), "/iot/api/v2/messages");
    }

    #[test]
    fn only_https_with_trust_anchors_is_accepted() {
        let settings = HttpSettings::default();
        let e = UreqTransport::new("http", "localhost", 80, &[vec![1]], &settings).unwrap_err();
        assert!(e.to_string().contains("only https"), "{e}");
        let e = UreqTransport::new("https", "localhost", 443, &[], &settings).unwrap_err();
        assert_eq!(e.kind(), iotcs_core::ErrorKind::Security);
        assert!(UreqTransport::new("HTTPS", "localhost", 443, &[vec![1]], &settings).is_ok());
    }

    #[test]
    fn proxy_settings_are_parsed_with_credentials() {
        let mut settings = HttpSettings {
            proxy: Some("https://proxy.example.com:9090/".into()),
            proxy_auth: Some("user:pa:ss".into()),
            ..HttpSettings::default()
        };
        let p = proxy(&settings).unwrap().unwrap();
        assert_eq!(p.host(), "proxy.example.com");
        assert_eq!(p.port(), 9090);
        assert_eq!(p.username(), Some("user"));
        assert_eq!(p.password(), Some("pa:ss"));
        settings.proxy = Some("gopher://x:1/".into());
        let e = proxy(&settings).unwrap_err();
        assert!(e.to_string().contains("[http] proxy"), "{e}");
        settings.proxy = Some("  ".into());
        assert!(proxy(&settings).unwrap().is_none());
    }

    #[test]
    fn unreachable_server_is_a_network_error() {
        // Port 1 on localhost refuses connections; nothing leaves the machine.
        let settings = HttpSettings {
            connect_timeout: Some(Duration::from_secs(2)),
            response_timeout: Some(Duration::from_secs(2)),
            ..HttpSettings::default()
        };
        let t = UreqTransport::new("https", "127.0.0.1", 1, &[vec![1, 2, 3]], &settings).unwrap();
        let e = t
            .round_trip(&HttpRequest::get("/iot/api/v2/x?secret=1"))
            .unwrap_err();
        assert!(
            matches!(
                e.kind(),
                iotcs_core::ErrorKind::Network | iotcs_core::ErrorKind::Timeout
            ),
            "{e}"
        );
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn http_settings_follow_the_config() {
        let mut config = iotcs_core::Config::default();
        let s = HttpSettings::from_config(&config);
        assert_eq!(s.response_timeout, Some(Duration::from_secs(15)));
        assert_eq!(s.connect_timeout, None);
        assert_eq!(s.long_poll_timeout, Some(Duration::from_millis(35_100)));
        config.http.http_read_timeout = Some(Duration::from_secs(3));
        config.http.http_connection_timeout = Some(Duration::from_secs(2));
        config.http.proxy = Some("http://proxy:3128/".into());
        let s = HttpSettings::from_config(&config);
        assert_eq!(s.response_timeout, Some(Duration::from_secs(3)));
        assert_eq!(s.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(s.proxy.as_deref(), Some("http://proxy:3128/"));
    }
}
