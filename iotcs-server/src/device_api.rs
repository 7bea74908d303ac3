//! The device-facing REST API (spec protocol.md §2-§6, protocol-js.md §14):
//! token, activation policy, direct and indirect activation, messages with
//! long polling, device models, and the private API's device policies
//! (`device_policies.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use iotcs_core::__private::crypto::activation::{
    ActivationPolicy, DirectActivationRequest, DirectActivationResponse, IndirectActivationRequest,
};
use iotcs_core::__private::crypto::jwt::{self, ACTIVATION_SCOPE, Algorithm};
use iotcs_core::__private::protocol::query::{ACCEPT_BYTES, CREATE_DRAFT, SYNC, TIMEOUT};
use iotcs_core::__private::protocol::{Endpoint, Method};
use iotcs_core::__private::time::format_iso8601;
use serde_json::json;

use crate::app::{App, HeldPoll};
use crate::device_policies;
use crate::http::{ApiError, Reply, Req, pairs_map, parse_pairs};
use crate::state::{Delivery, DeviceState, Token, now_ms};

/// Routes a device-API request.
pub(crate) async fn route(app: &Arc<App>, req: &Req) -> Result<Reply, ApiError> {
    let segs = req.segments();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    // The endpoints the SDK calls, spelled once in iotcs-core.
    if let Some(endpoint) = Endpoint::from_segments(&s) {
        // The storage provisioner checks the bearer before the method: a
        // JS device's first, token-less call must get its 401 (see below).
        if endpoint != Endpoint::ProvisionerStorage {
            only(m, endpoint.method(), req)?;
        }
        return match endpoint {
            Endpoint::Token => token(app, req),
            Endpoint::ActivationPolicy => policy(app, req),
            Endpoint::ActivationDirect => direct(app, req),
            Endpoint::ActivationIndirect => indirect(app, req),
            Endpoint::Messages => messages(app, req).await,
            Endpoint::DeviceModel(urn) => model(app, req, urn),
            Endpoint::DevicePolicies(urn) => {
                device_policies::of_device(app, req, &device_auth(app, req)?, urn)
            }
            Endpoint::DevicePolicy(urn, id) => {
                device_auth(app, req)?;
                device_policies::one(app, req, urn, id)
            }
            Endpoint::DevicePolicyDevices(urn, id) => {
                device_policies::devices(app, req, &device_auth(app, req)?, urn, id)
            }
            Endpoint::ProvisionerStorage => storage_authorization(app, req),
        };
    }
    match s.as_slice() {
        ["iot", "api"] | ["iot", "api", "v2"] if m == "GET" => Ok(Reply::json(
            200,
            &json!({"items": [{"version": "v2", "isLatest": true}]}),
        )),
        _ => Err(ApiError::not_found(format!("no resource {}", req.path))),
    }
}

/// `GET /iot/api/v2/provisioner/storage` (protocol.md §9.1): the storage
/// container URL and a storage token, plus (an addition to Oracle's answer)
/// `expiresIn`, the token's lifetime in ms. A `POST` (the OCI object storage
/// form of §9.2) is a 405, which Oracle's JS library takes as "classic
/// storage". A missing or bad bearer is a 401, as JS expects.
fn storage_authorization(app: &App, req: &Req) -> Result<Reply, ApiError> {
    device_auth(app, req)?;
    only(&req.method, Method::Get, req)?;
    let (token, lifetime) = app.storage.store.issue_token(now_ms())?;
    Ok(Reply::json(
        200,
        &json!({
            "storageContainerUrl": app.storage.container_url,
            "authToken": token,
            "expiresIn": lifetime,
        }),
    ))
}

fn only(method: &str, allowed: Method, req: &Req) -> Result<(), ApiError> {
    if method == allowed.as_str() {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(method, &req.path)
            .with_header("allow", allowed.as_str().to_owned()))
    }
}

/// The grant of the request's bearer token. A missing, empty, malformed,
/// unknown or expired token is a 401 (clients then fetch a new one).
fn bearer(app: &App, req: &Req) -> Result<Token, ApiError> {
    let header = req
        .header("authorization")
        .map(str::trim)
        .unwrap_or_default();
    if header.is_empty() {
        return Err(ApiError::unauthorized(
            "the Authorization header is missing or empty",
        ));
    }
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(ApiError::unauthorized(
                "the Authorization header is not a bearer token",
            ));
        }
    };
    app.state()
        .token(token, now_ms())
        .ok_or_else(|| ApiError::unauthorized("the access token is unknown or expired"))
}

/// A device endpoint's identity: an empty-scope token whose subject is the
/// `X-EndpointId` header.
fn device_auth(app: &App, req: &Req) -> Result<String, ApiError> {
    let token = bearer(app, req)?;
    if token.activation {
        return Err(ApiError::forbidden(
            "an activation-scope token is only good for /activation/policy and /activation/direct",
        ));
    }
    match req.header("x-endpointid").map(str::trim) {
        None | Some("") => Err(ApiError::bad_request("the X-EndpointId header is missing")),
        Some(id) if id == token.subject => Ok(token.subject),
        Some(id) => Err(ApiError::forbidden(format!(
            "the access token belongs to endpoint {}, not X-EndpointId {id}",
            token.subject
        ))),
    }
}

/// An activation call's identity: an activation-scope token; `X-ActivationId`,
/// when sent, must name the same device. An empty-scope token means the
/// device is activated, which Oracle's clients expect as a 401.
fn activation_auth(app: &App, req: &Req) -> Result<Token, ApiError> {
    let token = bearer(app, req)?;
    if !token.activation {
        return Err(ApiError::unauthorized(format!(
            "endpoint {} is already activated (the token's scope is not {ACTIVATION_SCOPE})",
            token.subject
        )));
    }
    if let Some(id) = req
        .header("x-activationid")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let state = app.state();
        if state.device_by_activation_id(id).map(|d| d.id.as_str()) != Some(token.subject.as_str())
        {
            return Err(ApiError::forbidden(format!(
                "X-ActivationId {id} is not the token's device"
            )));
        }
    }
    Ok(token)
}

fn oauth_error(status: u16, code: &str, detail: impl Into<String>) -> ApiError {
    let detail = detail.into();
    ApiError::new(status, detail.clone())
        .with("error", code.into())
        .with("error_description", detail.into())
}

/// `POST /iot/api/v2/oauth2/token`: the form (`token_request`), the
/// device the assertion names, its signature and scope (`check_signature`),
/// its expiry, then a new token.
fn token(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let (assertion, activation) = token_request(req)?;
    let now = now_ms();
    let mut state = app.state();
    let device = state
        .device_by_activation_id(assertion.iss())
        .cloned()
        .ok_or_else(|| {
            oauth_error(
                401,
                "invalid_client",
                format!("no device {:?}", assertion.iss()),
            )
        })?;
    check_signature(&device, &assertion, activation)?;
    assertion.check_expiry(now.div_euclid(1000)).map_err(|e| {
        oauth_error(400, "invalid_client", e.to_string()).with("currentTime", now.into())
    })?;
    let (access_token, lifetime) = state.issue_token(&device.id, activation, now)?;
    log::debug!(
        "issued a {} token to {}",
        if activation { "activation" } else { "device" },
        device.id
    );
    Ok(Reply::json(
        200,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }),
    ))
}

/// The token request's form: the grant and assertion types, the scope
/// (`true` for activation, `false` for the empty scope) and the parsed
/// assertion, whose audience must be this server.
fn token_request(req: &Req) -> Result<(jwt::ClientAssertion, bool), ApiError> {
    let form = pairs_map(parse_pairs(&String::from_utf8_lossy(&req.body)));
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("grant_type") != jwt::GRANT_TYPE {
        return Err(oauth_error(
            400,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        ));
    }
    if field("client_assertion_type") != jwt::ASSERTION_TYPE {
        return Err(oauth_error(
            400,
            "invalid_request",
            "client_assertion_type must be the JWT bearer type",
        ));
    }
    let activation = match field("scope") {
        ACTIVATION_SCOPE => true,
        "" => false,
        other => {
            return Err(oauth_error(
                400,
                "invalid_scope",
                format!("scope {other:?} is not allowed"),
            ));
        }
    };
    let assertion = jwt::parse(field("client_assertion"))
        .map_err(|e| oauth_error(400, "invalid_request", e.to_string()))?;
    assertion
        .check_audience()
        .map_err(|e| oauth_error(401, "invalid_client", e.to_string()))?;
    Ok((assertion, activation))
}

/// Whether `assertion` is signed as `device` may sign: HS256 with its shared
/// secret while registered (activation scope only), RS256 with its key once
/// activated (empty scope only).
fn check_signature(
    device: &crate::state::Device,
    assertion: &jwt::ClientAssertion,
    activation: bool,
) -> Result<(), ApiError> {
    match assertion.alg() {
        Algorithm::Hs256 => {
            if device.state != DeviceState::Registered {
                return Err(oauth_error(
                    401,
                    "invalid_client",
                    format!(
                        "device {} is activated; use an RS256 assertion signed with its key",
                        device.id
                    ),
                ));
            }
            let verified = device.secret().is_some_and(|s| assertion.verify_hs256(&s));
            if !verified {
                return Err(oauth_error(
                    401,
                    "invalid_client",
                    "the HS256 signature does not verify (wrong shared secret?)",
                ));
            }
            if !activation {
                return Err(oauth_error(
                    400,
                    "invalid_scope",
                    format!("HS256 assertions are only for scope {ACTIVATION_SCOPE}"),
                ));
            }
        }
        Algorithm::Rs256 => {
            let key = device
                .public_key_der()
                .filter(|_| device.state == DeviceState::Activated);
            let Some(key) = key else {
                return Err(oauth_error(
                    401,
                    "invalid_client",
                    format!("device {} is not activated", device.id),
                ));
            };
            if !assertion.verify_rs256(&key) {
                return Err(oauth_error(
                    401,
                    "invalid_client",
                    "the RS256 signature does not verify",
                ));
            }
            if activation {
                return Err(oauth_error(
                    400,
                    "invalid_scope",
                    "RS256 assertions are only for the empty scope",
                ));
            }
        }
        _ => {
            return Err(oauth_error(
                400,
                "invalid_request",
                "unsupported assertion algorithm",
            ));
        }
    }
    Ok(())
}

/// `GET /iot/api/v2/activation/policy`.
fn policy(app: &App, req: &Req) -> Result<Reply, ApiError> {
    activation_auth(app, req)?;
    let policy = serde_json::to_value(ActivationPolicy::default())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Reply::json(200, &policy))
}

fn create_draft(req: &Req) -> bool {
    !req.query(CREATE_DRAFT)
        .is_some_and(|v| v.eq_ignore_ascii_case("false"))
}

fn parse_body<T: serde::de::DeserializeOwned>(req: &Req, what: &str) -> Result<T, ApiError> {
    serde_json::from_value(req.json()?)
        .map_err(|e| ApiError::bad_request(format!("malformed {what} request: {e}")))
}

/// `POST /iot/api/v2/activation/direct`.
fn direct(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let token = activation_auth(app, req)?;
    let body: DirectActivationRequest = parse_body(req, "direct activation")?;
    let now = now_ms();
    let mut state = app.state();
    let device = state.device(&token.subject).cloned().ok_or_else(|| {
        ApiError::unauthorized(format!("device {} no longer exists", token.subject))
    })?;
    if state
        .device_by_activation_id(body.subject())
        .map(|d| d.id.as_str())
        != Some(device.id.as_str())
    {
        return Err(ApiError::forbidden(format!(
            "certificationRequestInfo.subject {:?} is not the token's device",
            body.subject()
        )));
    }
    let secret = device
        .secret()
        .ok_or_else(|| ApiError::bad_request("the device has no shared secret"))?;
    let spki = body
        .verify(&secret)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let models = state.activation_models(&body.device_models, create_draft(req), now)?;
    let activated = state.activate_direct(&device.id, &spki, models, now)?;
    let answer = DirectActivationResponse::activated(&activated.id)
        .with_activation_time(&format_iso8601(now));
    state.revoke_tokens_of(&device.id);
    Ok(Reply::json(
        200,
        &serde_json::to_value(answer).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// `POST /iot/api/v2/activation/indirect/device`.
fn indirect(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let gateway = device_auth(app, req)?;
    let body: IndirectActivationRequest = parse_body(req, "indirect activation")?;
    let now = now_ms();
    let (id, activated) = app
        .state()
        .register_indirect(&gateway, &body, create_draft(req), now)?;
    let answer =
        DirectActivationResponse::activated(&id).with_activation_time(&format_iso8601(activated));
    Ok(Reply::json(
        200,
        &serde_json::to_value(answer).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// `GET /iot/api/v2/deviceModels/{urn}` (URN raw or percent-encoded).
fn model(app: &App, req: &Req, urn: &str) -> Result<Reply, ApiError> {
    device_auth(app, req)?;
    let state = app.state();
    let model = state
        .model(urn)
        .ok_or_else(|| ApiError::not_found(format!("no device model {urn}")))?;
    Ok(Reply::json(200, &model.to_value()))
}

/// `POST /iot/api/v2/messages?acceptBytes=N[&iot.sync][&iot.timeout=S]`.
async fn messages(app: &Arc<App>, req: &Req) -> Result<Reply, ApiError> {
    let caller = device_auth(app, req)?;
    let accept_bytes = match req.query(ACCEPT_BYTES) {
        None => None,
        Some(v) => Some(v.trim().parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("acceptBytes {v:?} is not a non-negative integer"))
        })?),
    };
    let hold = match (req.query(SYNC), req.query(TIMEOUT)) {
        (None, _) => None,
        (Some(_), None) => Some(app.long_poll_limit),
        (Some(_), Some(t)) => {
            let secs = t.trim().parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "iot.timeout {t:?} is not a whole number of seconds"
                ))
            })?;
            Some(Duration::from_secs(secs).min(app.long_poll_limit))
        }
    };
    let batch =
        crate::state::parse_batch(&req.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if !batch.is_empty() {
        let posted = batch.len();
        let stored = app.state().ingest(&caller, batch, now_ms())?;
        log::debug!("{caller} posted {posted} messages, {stored} new");
    }
    let delivery = match hold {
        None => app.state().take_pending(&caller, accept_bytes, now_ms())?,
        Some(hold) => long_poll(app, &caller, accept_bytes, hold).await?,
    };
    let mut reply = Reply::json_text(202, delivery.body());
    if let Some(min) = delivery.min_accept_bytes {
        reply = reply.with_header("x-min-acceptbytes", min.to_string());
    }
    Ok(reply)
}

/// Holds a long poll until a request is waiting for `caller`, the hold
/// limit passes or the server shuts down.
async fn long_poll(
    app: &Arc<App>,
    caller: &str,
    accept_bytes: Option<usize>,
    hold: Duration,
) -> Result<Delivery, ApiError> {
    let _held = HeldPoll::new(&app.held_polls);
    let deadline = Instant::now() + hold;
    let mut shutdown = app.shutdown.clone();
    loop {
        let notify = app.mailbox(caller);
        let notified = notify.notified();
        tokio::pin!(notified);
        // Registered before looking, so a request queued in between still wakes us.
        notified.as_mut().enable();
        let delivery = app.state().take_pending(caller, accept_bytes, now_ms())?;
        if !delivery.messages.is_empty()
            || delivery.min_accept_bytes.is_some()
            || app.shutting_down()
        {
            return Ok(delivery);
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline.into()) => return Ok(Delivery::default()),
            _ = shutdown.changed() => return Ok(Delivery::default()),
        }
    }
}
