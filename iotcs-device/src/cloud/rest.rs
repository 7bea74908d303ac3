//! The authenticated REST client: every call to the cloud goes through
//! [`RestClient::call`], which adds the token and identity headers, fetches a
//! token when there is none or it is about to expire, and on 401/403 fetches a
//! new one and retries the call once (spec §2.3-§2.4).
//!
//! Before activation the device authenticates as its activation id with an
//! HS256 assertion (scope `oracle/iot/activation`); after activation as its
//! endpoint id with an RS256 assertion signed by its private key (empty
//! scope). Tokens, assertions and keys are never logged.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use iotcs_core::__private::crypto::RsaKeyPair;
use iotcs_core::__private::crypto::activation::TokenResponse;
use iotcs_core::__private::crypto::jwt;
use iotcs_core::__private::protocol::{Method, header, path, status};
use iotcs_core::{Error, ErrorKind, Secret};

use crate::clock::{Clock, ServerClock};
use crate::cloud::token::{Refused, TokenState};
use crate::cloud::transport::{HttpRequest, HttpResponse, Transport};

/// Who the device is to the server.
enum Identity {
    /// Not activated: the activation id and shared secret (HS256).
    Activation { id: String, secret: Secret },
    /// Activated: the endpoint id and the device key (RS256).
    Endpoint { id: String, key: Arc<RsaKeyPair> },
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Activation { id, .. } => write!(f, "Activation({id})"),
            Identity::Endpoint { id, .. } => write!(f, "Endpoint({id})"),
        }
    }
}

/// Calls the cloud's REST API with the right credentials.
pub(crate) struct RestClient {
    transport: Arc<dyn Transport>,
    identity: RwLock<Identity>,
    /// Held while a token is fetched, so concurrent callers wait for one
    /// fetch instead of starting their own.
    token: Mutex<TokenState>,
    /// Local time, and a copy of the token state's server clock offset,
    /// readable without the token lock (see [`ServerClock`]).
    clock: ServerClock,
    /// `access_token_max_retries`: attempts at the token endpoint when it
    /// cannot be reached or fails with 5xx.
    token_attempts: u32,
}

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient")
            .field("transport", &self.transport)
            .field(
                "identity",
                &*self.identity.read().unwrap_or_else(|e| e.into_inner()),
            )
            .finish_non_exhaustive()
    }
}

impl RestClient {
    /// A client for a device not yet activated.
    pub(crate) fn for_activation(
        transport: Arc<dyn Transport>,
        activation_id: &str,
        secret: &[u8],
        clock: Clock,
        token_attempts: u32,
    ) -> Self {
        RestClient {
            transport,
            identity: RwLock::new(Identity::Activation {
                id: activation_id.to_owned(),
                secret: Secret::new(secret),
            }),
            token: Mutex::new(TokenState::new()),
            clock: ServerClock::new(clock),
            token_attempts: token_attempts.max(1),
        }
    }

    /// Switches to the endpoint identity after activation (or at open of an
    /// activated store); the activation token is dropped.
    pub(crate) fn set_endpoint(&self, endpoint_id: &str, key: Arc<RsaKeyPair>) {
        *self.identity.write().unwrap_or_else(|e| e.into_inner()) = Identity::Endpoint {
            id: endpoint_id.to_owned(),
            key,
        };
        self.lock_token().invalidate();
    }

    /// The endpoint id once the identity is the activated endpoint's.
    pub(crate) fn endpoint_id(&self) -> Option<String> {
        match &*self.identity.read().unwrap_or_else(|e| e.into_inner()) {
            Identity::Endpoint { id, .. } => Some(id.clone()),
            Identity::Activation { .. } => None,
        }
    }

    /// The transport, for callers that need to interrupt long polls.
    pub(crate) fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// Local now, epoch ms.
    pub(crate) fn now(&self) -> i64 {
        self.clock.local_now()
    }

    /// The server's clock (corrected for a skew learnt at the token
    /// endpoint), for `eventTime`: the engine and the virtual devices keep a
    /// clone and read it without calling into this client.
    pub(crate) fn server_clock(&self) -> ServerClock {
        self.clock.clone()
    }

    /// Sends `request` with credentials; on 401 or 403 fetches a new token
    /// and sends it once more. Returns the response whatever its status.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] when no token can be had (credentials refused),
    /// [`Error::Network`] / [`Error::Timeout`] when the server cannot be
    /// reached.
    pub(crate) fn call(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        self.call_with(request, true)
    }

    /// As [`RestClient::call`], fetching a new token on 403 only if
    /// `refresh_on_403` (a 401 always does): the sender knows when a 403 is
    /// about a message's source rather than our token ([`crate::messaging::fate`]).
    ///
    /// # Errors
    ///
    /// As [`RestClient::call`].
    pub(crate) fn call_with(
        &self,
        request: HttpRequest,
        refresh_on_403: bool,
    ) -> Result<HttpResponse, Error> {
        let authorization = self.authorization()?;
        let response = self
            .transport
            .round_trip(&self.with_headers(request.clone(), &authorization))?;
        if response.status != status::UNAUTHORIZED
            && !(refresh_on_403 && response.status == status::FORBIDDEN)
        {
            return Ok(response);
        }
        log::debug!(target: "iotcs::device::rest",
            "{} {} answered {}; fetching a new token",
            request.method,
            request.path_only(),
            response.status
        );
        self.lock_token().invalidate_if(&authorization);
        let authorization = self.authorization()?;
        self.transport
            .round_trip(&self.with_headers(request, &authorization))
    }

    /// Like [`RestClient::call`], turning any status other than 2xx into
    /// [`Error::Transport`].
    ///
    /// # Errors
    ///
    /// As [`RestClient::call`], plus [`Error::Transport`].
    #[cfg(test)]
    pub(crate) fn call_ok(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let method = request.method;
        let path = request.path_only().to_owned();
        let response = self.call(request)?;
        if response.is_success() {
            Ok(response)
        } else {
            Err(transport_error(method, &path, &response))
        }
    }

    /// Adds the headers every call carries.
    fn with_headers(&self, request: HttpRequest, authorization: &str) -> HttpRequest {
        let identity = self.identity.read().unwrap_or_else(|e| e.into_inner());
        let request = request
            .header("Authorization", authorization)
            .header("Accept", "application/json");
        let request = match &*identity {
            Identity::Activation { id, .. } => request.header(header::ACTIVATION_ID, id.as_str()),
            Identity::Endpoint { id, .. } => request.header(header::ENDPOINT_ID, id.as_str()),
        };
        if request.method == Method::Post {
            request.header("Content-Type", "application/json")
        } else {
            request
        }
    }

    fn lock_token(&self) -> MutexGuard<'_, TokenState> {
        // The state stays consistent even if a holder panicked: every update
        // is a single assignment.
        self.token.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `Authorization` header value, fetching a token when needed.
    fn authorization(&self) -> Result<String, Error> {
        let mut state = self.lock_token();
        if let Some(authorization) = state.authorization(self.now()) {
            return Ok(authorization.to_owned());
        }
        self.fetch_token(&mut state)?;
        state
            .authorization(self.now())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::security("the token endpoint gave a token that is already expired")
            })
    }

    /// Fetches a token into `state`, retrying once in server time after a
    /// clock-skew refusal and up to `token_attempts` times when the endpoint
    /// is unreachable or fails with 5xx.
    fn fetch_token(&self, state: &mut TokenState) -> Result<(), Error> {
        let mut retried_skew = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = self.now();
            let body = self.token_request_body(state.assertion_exp(now))?;
            let request = HttpRequest::post(path::TOKEN, body.into_bytes())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json");
            let response = match self.transport.round_trip(&request) {
                Ok(response) => response,
                // A refused certificate is permanent: retrying cannot help.
                Err(e) if attempt < self.token_attempts && e.kind() != ErrorKind::Security => {
                    log::warn!(target: "iotcs::device::rest", "token request failed ({e}); trying again");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if response.status == 200 {
                let token: TokenResponse = serde_json::from_slice(&response.body).map_err(|e| {
                    Error::protocol(format!("token response is not the expected JSON: {e}"))
                })?;
                state.accept(token.authorization(), token.lifetime_ms(), self.now());
                return Ok(());
            }
            if response.status >= 500 && attempt < self.token_attempts {
                log::warn!(target: "iotcs::device::rest", "token endpoint answered {}; trying again", response.status);
                continue;
            }
            match state.refused(response.status, &response.body, self.now(), retried_skew) {
                Refused::RetryInServerTime => {
                    retried_skew = true;
                    self.clock.set_offset(state.server_offset_ms());
                }
                Refused::Fail if response.status >= 500 => {
                    return Err(transport_error(Method::Post, path::TOKEN, &response));
                }
                Refused::Fail => {
                    return Err(Error::security(format!(
                        "the server refused the device's credentials (token endpoint answered {}: {})",
                        response.status,
                        detail(&response.body)
                    )));
                }
            }
        }
    }

    /// The form body of a token request. The assertion is base64url and the
    /// scope has no characters that need escaping; the colons of the
    /// assertion type are escaped as both Oracle libraries do.
    fn token_request_body(&self, exp: i64) -> Result<String, Error> {
        let identity = self.identity.read().unwrap_or_else(|e| e.into_inner());
        let (assertion, scope) = match &*identity {
            Identity::Activation { id, secret } => (
                jwt::client_assertion_hs256(id, secret.expose(), exp),
                jwt::ACTIVATION_SCOPE,
            ),
            Identity::Endpoint { id, key } => (jwt::client_assertion_rs256(id, key, exp)?, ""),
        };
        Ok(format!(
            "grant_type={}&client_assertion_type={}&client_assertion={assertion}&scope={scope}",
            jwt::GRANT_TYPE,
            jwt::ASSERTION_TYPE.replace(':', "%3A"),
        ))
    }
}

/// An [`Error::Transport`] for a failed call, with the start of the body.
pub(crate) fn transport_error(method: Method, path: &str, response: &HttpResponse) -> Error {
    Error::Transport {
        status: response.status,
        method: method.as_str().to_owned(),
        path: path.to_owned(),
        body: detail(&response.body),
    }
}

/// What an error answer explains, for [`Error::Transport`]'s `body`: the
/// `detail` of a JSON problem (what the cloud says went wrong, e.g. why a
/// 401, 403 or 400), else the start of the body as text.
pub(crate) fn detail(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Problem {
        detail: String,
    }
    match serde_json::from_slice::<Problem>(body) {
        Ok(problem) => problem.detail.chars().take(400).collect(),
        Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    use super::*;
    use crate::cloud::transport::memory::{MemoryTransport, json};

    const NOW: i64 = 1_700_000_000_000;

    fn fixed_clock(now: Arc<AtomicI64>) -> Clock {
        Arc::new(move || now.load(Ordering::SeqCst))
    }

    fn form_value<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
        std::str::from_utf8(body).ok()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then_some(v)
        })
    }

    #[test]
    fn activation_identity_uses_hs256_and_the_activation_scope() {
        let transport = Arc::new(MemoryTransport::new(|req| {
            if req.path == path::TOKEN {
                let assertion = form_value(&req.body, "client_assertion").unwrap();
                let parsed = jwt::parse(assertion).unwrap();
                assert!(parsed.verify_hs256(b"secret"));
                assert_eq!(parsed.iss(), "ACT-1");
                assert_eq!(parsed.exp(), NOW / 1000 + 900);
                assert_eq!(
                    form_value(&req.body, "scope"),
                    Some("oracle/iot/activation")
                );
                json(
                    200,
                    r#"{"access_token":"t1","token_type":"Bearer","expires_in":3600000}"#,
                )
            } else {
                let auth = req.headers.iter().find(|h| h.0 == "Authorization").unwrap();
                assert_eq!(auth.1, "Bearer t1");
                assert!(
                    req.headers
                        .iter()
                        .any(|h| h.0 == "X-ActivationId" && h.1 == "ACT-1")
                );
                json(200, "{}")
            }
        }));
        let clock = fixed_clock(Arc::new(AtomicI64::new(NOW)));
        let rest = RestClient::for_activation(transport.clone(), "ACT-1", b"secret", clock, 3);
        rest.call_ok(HttpRequest::get("/iot/api/v2/activation/policy"))
            .unwrap();
        rest.call_ok(HttpRequest::get("/iot/api/v2/activation/policy"))
            .unwrap();
        // One token for both calls.
        assert_eq!(
            transport
                .paths()
                .iter()
                .filter(|p| *p == path::TOKEN)
                .count(),
            1
        );
    }

    #[test]
    fn endpoint_identity_uses_rs256_and_an_empty_scope() {
        let key = Arc::new(RsaKeyPair::generate(2048).unwrap());
        let spki = key.public_key_der().to_vec();
        let transport = Arc::new(MemoryTransport::new(move |req| {
            if req.path == path::TOKEN {
                let parsed =
                    jwt::parse(form_value(&req.body, "client_assertion").unwrap()).unwrap();
                assert!(parsed.verify_rs256(&spki));
                assert_eq!(parsed.iss(), "EP-1");
                assert_eq!(form_value(&req.body, "scope"), Some(""));
                json(
                    200,
                    r#"{"access_token":"t2","token_type":"Bearer","expires_in":3600000}"#,
                )
            } else {
                assert!(
                    req.headers
                        .iter()
                        .any(|h| h.0 == "X-EndpointId" && h.1 == "EP-1")
                );
                json(202, "[]")
            }
        }));
        let clock = fixed_clock(Arc::new(AtomicI64::new(NOW)));
        let rest = RestClient::for_activation(transport, "ACT-1", b"secret", clock, 3);
        rest.set_endpoint("EP-1", key);
        let response = rest
            .call_ok(HttpRequest::post("/iot/api/v2/messages", b"[]".to_vec()))
            .unwrap();
        assert_eq!(response.status, 202);
    }

    #[test]
    fn unauthorized_call_refreshes_the_token_and_retries_once() {
        let tokens = Arc::new(AtomicUsize::new(0));
        let t = tokens.clone();
        let transport = Arc::new(MemoryTransport::new(move |req| {
            if req.path == path::TOKEN {
                let n = t.fetch_add(1, Ordering::SeqCst) + 1;
                return json(
                    200,
                    &format!(
                        r#"{{"access_token":"t{n}","token_type":"Bearer","expires_in":3600000}}"#
                    ),
                );
            }
            let auth = &req
                .headers
                .iter()
                .find(|h| h.0 == "Authorization")
                .unwrap()
                .1;
            if auth == "Bearer t1" {
                json(401, "{}")
            } else {
                json(200, "{}")
            }
        }));
        let clock = fixed_clock(Arc::new(AtomicI64::new(NOW)));
        let rest = RestClient::for_activation(transport, "ACT-1", b"secret", clock, 3);
        assert_eq!(rest.call(HttpRequest::get("/x")).unwrap().status, 200);
        assert_eq!(tokens.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn still_unauthorized_after_the_retry_is_a_transport_error() {
        let transport = Arc::new(MemoryTransport::new(|req| {
            if req.path == path::TOKEN {
                json(
                    200,
                    r#"{"access_token":"t","token_type":"Bearer","expires_in":3600000}"#,
                )
            } else {
                json(403, "{}")
            }
        }));
        let clock = fixed_clock(Arc::new(AtomicI64::new(NOW)));
        let rest = RestClient::for_activation(transport.clone(), "ACT-1", b"secret", clock, 3);
        let e = rest
            .call_ok(HttpRequest::get("/iot/api/v2/deviceModels/x"))
            .unwrap_err();
        assert_eq!(e.status_code(), Some(403));
        // token, call, token, call: exactly one retry.
        assert_eq!(transport.paths().len(), 4);
    }

    #[test]
    fn expired_token_is_refreshed_before_the_call() {
        let now = Arc::new(AtomicI64::new(NOW));
        let transport = Arc::new(MemoryTransport::new(|req| {
            if req.path == path::TOKEN {
                json(
                    200,
                    r#"{"access_token":"t","token_type":"Bearer","expires_in":600000}"#,
                )
            } else {
                json(200, "{}")
            }
        }));
        let rest = RestClient::for_activation(
            transport.clone(),
            "ACT-1",
            b"s",
            fixed_clock(now.clone()),
            3,
        );
        rest.call_ok(HttpRequest::get("/x")).unwrap();
        now.fetch_add(600_000, Ordering::SeqCst);
        rest.call_ok(HttpRequest::get("/x")).unwrap();
        let paths = transport.paths();
        assert_eq!(paths, [path::TOKEN, "/x", path::TOKEN, "/x"]);
    }

    #[test]
    fn clock_skew_is_corrected_once() {
        let server_time = NOW + 3_600_000;
        let transport = Arc::new(MemoryTransport::new(move |req| {
            if req.path == path::TOKEN {
                let parsed =
                    jwt::parse(form_value(&req.body, "client_assertion").unwrap()).unwrap();
                if parsed.exp() < server_time / 1000 {
                    return json(
                        400,
                        &format!(r#"{{"error":"invalid_client","currentTime":{server_time}}}"#),
                    );
                }
                json(
                    200,
                    r#"{"access_token":"t","token_type":"Bearer","expires_in":3600000}"#,
                )
            } else {
                json(200, "{}")
            }
        }));
        let rest = RestClient::for_activation(
            transport,
            "ACT-1",
            b"s",
            fixed_clock(Arc::new(AtomicI64::new(NOW))),
            3,
        );
        rest.call_ok(HttpRequest::get("/x")).unwrap();
        assert_eq!(rest.server_clock().now(), server_time);
    }

    #[test]
    fn server_now_does_not_wait_for_a_token_request_in_flight() {
        let (entered_tx, entered) = crossbeam_channel::bounded::<()>(1);
        let (release, released) = crossbeam_channel::bounded::<()>(1);
        let transport = Arc::new(MemoryTransport::new(move |_| {
            let _ = entered_tx.send(());
            // The server that never answers, until the test lets it.
            let _ = released.recv();
            json(503, "{}")
        }));
        let rest = Arc::new(RestClient::for_activation(
            transport,
            "ACT-1",
            b"s",
            fixed_clock(Arc::new(AtomicI64::new(NOW))),
            1,
        ));
        let caller = Arc::clone(&rest);
        let call = std::thread::spawn(move || caller.call(HttpRequest::get("/x")).is_err());
        entered
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        // The token request holds the token lock now.
        let (now_tx, now_rx) = crossbeam_channel::bounded(1);
        let reader = Arc::clone(&rest);
        std::thread::spawn(move || now_tx.send(reader.server_clock().now()));
        let now = now_rx.recv_timeout(std::time::Duration::from_secs(10));
        release.send(()).unwrap();
        assert!(call.join().unwrap());
        assert_eq!(now.expect("server_now waited for the token request"), NOW);
    }

    #[test]
    fn refused_credentials_are_a_security_error() {
        let transport = Arc::new(MemoryTransport::new(|_| {
            json(400, r#"{"error":"invalid_client"}"#)
        }));
        let rest = RestClient::for_activation(
            transport,
            "ACT-1",
            b"s",
            fixed_clock(Arc::new(AtomicI64::new(NOW))),
            3,
        );
        let e = rest.call(HttpRequest::get("/x")).unwrap_err();
        assert_eq!(e.kind(), iotcs_core::ErrorKind::Security);
        assert!(e.to_string().contains("400"), "{e}");
    }

    #[test]
    fn token_endpoint_5xx_is_retried_up_to_the_limit() {
        let transport = Arc::new(MemoryTransport::new(|_| json(503, "busy")));
        let rest = RestClient::for_activation(
            transport.clone(),
            "ACT-1",
            b"s",
            fixed_clock(Arc::new(AtomicI64::new(NOW))),
            3,
        );
        let e = rest.call(HttpRequest::get("/x")).unwrap_err();
        assert_eq!(e.status_code(), Some(503));
        assert_eq!(transport.paths().len(), 3);
    }

    #[test]
    fn debug_shows_no_credentials() {
        let transport = Arc::new(MemoryTransport::new(|_| json(200, "{}")));
        let rest = RestClient::for_activation(
            transport,
            "ACT-1",
            b"topsecret",
            crate::clock::system_clock(),
            3,
        );
        let text = format!("{rest:?}");
        assert!(
            text.contains("ACT-1") && !text.contains("topsecret"),
            "{text}"
        );
    }
}
