//! The admin API (HTTP Basic, user `admin`), shaped like Oracle's REST API:
//! devices and provisioning files, device models, received messages, requests
//! to devices and their status, device policies (`admin_policies.rs`), and
//! fault injection (`/iot/admin/faults`).

use iotcs_core::__private::encoding::base64_decode;
use iotcs_core::TrustedAssets;
use iotcs_core::message::{Direction, MessageType};
use iotcs_core::model::DeviceModel;
use serde_json::{Map, Value, json};

use crate::admin_policies;
use crate::app::App;
use crate::faults;
use crate::http::{ApiError, Reply, Req, constant_time_eq};
use crate::state::{DeviceState, MessageQuery, NewRequest, Registration, now_ms};

/// The default and largest page of `GET /iot/api/v2/messages`.
const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 10_000;

/// Routes an admin request (after checking the credentials).
// One arm per route, so it runs past 80 lines: the admin API reads as one
// table here, and each arm only calls its handler.
pub(crate) fn route(app: &App, req: &Req) -> Result<Reply, ApiError> {
    check_credentials(app, req)?;
    check_same_origin(req)?;
    let segs = req.segments();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    match (m, s.as_slice()) {
        ("POST", ["iot", "admin", "faults"]) => add_fault(app, req),
        ("GET", ["iot", "admin", "faults"]) => {
            Ok(Reply::json(200, &json!({"items": app.faults().rules()})))
        }
        ("DELETE", ["iot", "admin", "faults"]) => {
            let n = app.faults().clear();
            Ok(Reply::json(200, &json!({"cleared": n})))
        }
        (_, ["iot", "admin", "storage", rest @ ..]) => storage_admin(app, req, rest),
        ("POST", ["iot", "api", "v2", "devices"]) => register(app, req),
        ("GET", ["iot", "api", "v2", "devices"]) => list_devices(app, req),
        ("GET", ["iot", "api", "v2", "devices", id]) => {
            let state = app.state();
            let d = state.device(id).ok_or_else(|| no_device(id))?;
            Ok(Reply::json(200, &d.to_admin_json()))
        }
        ("DELETE", ["iot", "api", "v2", "devices", id]) => {
            let deleted = app.state().delete_device(id)?;
            Ok(Reply::json(200, &json!({"deleted": deleted})))
        }
        ("POST", ["iot", "api", "v2", "devices", id, "provisioningFile"]) => {
            provisioning_file(app, req, id)
        }
        ("POST", ["iot", "api", "v2", "deviceModels"]) => {
            let body = req.json()?;
            let mut state = app.state();
            let model = state.add_model(&body)?;
            Ok(Reply::json(201, &model.to_value()))
        }
        ("GET", ["iot", "api", "v2", "deviceModels"]) => {
            let state = app.state();
            let items: Vec<Value> = state.models().map(|m| m.to_value()).collect();
            Ok(Reply::json(
                200,
                &json!({"count": items.len(), "items": items, "hasMore": false}),
            ))
        }
        (
            _,
            [
                "iot",
                "api",
                "v2",
                "deviceModels",
                urn,
                "devicePolicies",
                rest @ ..,
            ],
        ) => admin_policies::route(app, req, urn, rest),
        ("GET", ["iot", "api", "v2", "deviceModels", urn]) => {
            let state = app.state();
            let model = state
                .model(urn)
                .ok_or_else(|| ApiError::not_found(format!("no device model {urn}")))?;
            Ok(Reply::json(200, &model.to_value()))
        }
        ("GET", ["iot", "api", "v2", "messages"]) => messages(app, req),
        ("GET", ["iot", "api", "v2", "requests", id]) => {
            let mut state = app.state();
            let r = state
                .request(id, now_ms())?
                .ok_or_else(|| ApiError::not_found(format!("no request {id}")))?;
            Ok(Reply::json(200, &r.to_json()))
        }
        ("GET", ["iot", "api", "v2", "requests", id, "response"]) => {
            let mut state = app.state();
            let r = state
                .request(id, now_ms())?
                .ok_or_else(|| ApiError::not_found(format!("no request {id}")))?;
            let resp = r
                .response
                .as_ref()
                .ok_or_else(|| ApiError::not_found(format!("request {id} has no response yet")))?;
            Ok(Reply::json(200, &json!(resp)))
        }
        (_, ["iot", "api", "v2", "apps", app_id, rest @ ..]) => {
            device_request(app, req, app_id, rest)
        }
        (_, ["iot", "api", "v2", rest @ ..])
            if rest.first() == Some(&"devices") && rest.len() >= 4 =>
        {
            device_request(app, req, crate::state::SERVER_SOURCE, rest)
        }
        _ => Err(ApiError::not_found(format!(
            "no admin resource {} {}",
            m, req.path
        ))),
    }
}

/// Refuses an admin request a browser sent from another site's page: once
/// someone has logged in to the console, the browser attaches the Basic
/// credentials to any request to this origin, including a form another
/// page posts. Browsers name the page's origin in `Origin` on such
/// requests; programs (curl, `AdminClient`) send none.
pub(crate) fn check_same_origin(req: &Req) -> Result<(), ApiError> {
    let Some(origin) = req.header("origin") else {
        return Ok(());
    };
    let same = origin.strip_prefix("https://").is_some_and(|o| {
        req.header("host")
            .is_some_and(|h| h.eq_ignore_ascii_case(o))
    });
    if same {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "admin requests from the page of another origin ({origin}) are refused"
        )))
    }
}

/// Whether the request names an admin resource (whatever its credentials).
pub(crate) fn is_admin_resource(req: &Req) -> bool {
    let segs = req.segments();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    matches!(
        (req.method.as_str(), s.as_slice()),
        (_, ["iot", "admin", ..])
            | (
                _,
                [
                    "iot",
                    "api",
                    "v2",
                    "devices" | "requests" | "apps" | "deviceModels",
                    ..
                ]
            )
            | ("GET", ["iot", "api", "v2", "messages"])
    )
}

/// Checks `Authorization: Basic base64(admin:PASSWORD)`.
pub(crate) fn check_credentials(app: &App, req: &Req) -> Result<(), ApiError> {
    check_basic(app, &req.headers)
}

/// Checks the admin credentials among `headers`.
pub(crate) fn check_basic(app: &App, headers: &hyper::HeaderMap) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        ApiError::unauthorized(format!("admin credentials required: {why}")).with_header(
            "www-authenticate",
            "Basic realm=\"iotcs-server\"".to_owned(),
        )
    };
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    let Some(encoded) = header.get(6..).filter(|_| {
        header
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("basic "))
    }) else {
        return Err(refuse("no HTTP Basic Authorization header"));
    };
    let decoded = base64_decode(encoded.trim())
        .map_err(|_| refuse("the Basic credentials are not base64"))?;
    let text = String::from_utf8_lossy(&decoded);
    let (user, password) = text.split_once(':').unwrap_or((&text, ""));
    let ok =
        user == "admin" && constant_time_eq(password.as_bytes(), app.admin_password.as_bytes());
    if ok {
        Ok(())
    } else {
        Err(refuse("wrong user or password"))
    }
}

fn no_device(id: &str) -> ApiError {
    ApiError::not_found(format!("no device {id}"))
}

fn string_field(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!("{key} must be a string"))),
    }
}

fn secret_field(body: &Map<String, Value>, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
    string_field(body, key)?
        .map(|s| {
            base64_decode(&s)
                .map_err(|_| ApiError::bad_request(format!("{key} must be base64 of the secret")))
        })
        .transpose()
}

/// `POST /iot/api/v2/devices`.
fn register(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let Value::Object(body) = req.json()? else {
        return Err(ApiError::bad_request("the device must be a JSON object"));
    };
    let mut reg = Registration {
        hardware_id: string_field(&body, "hardwareId")?.unwrap_or_default(),
        shared_secret: secret_field(&body, "sharedSecret")?,
        name: string_field(&body, "name")?,
        description: string_field(&body, "description")?,
        ..Registration::default()
    };
    reg.gateway = match body.get("gateway") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("gateway must be a boolean")),
    };
    reg.metadata = match body.get("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(ApiError::bad_request("metadata must be an object")),
    };
    if let Some(icds) = body.get("icds").filter(|v| !v.is_null()) {
        let Value::Array(items) = icds else {
            return Err(ApiError::bad_request(
                "icds must be an array of {hardwareId, sharedSecret?}",
            ));
        };
        for item in items {
            let Value::Object(icd) = item else {
                return Err(ApiError::bad_request(
                    "icds must be an array of {hardwareId, sharedSecret?}",
                ));
            };
            let hw = string_field(icd, "hardwareId")?.unwrap_or_default();
            reg.icds.push((hw, secret_field(icd, "sharedSecret")?));
        }
    }
    let mut state = app.state();
    let device = state.register(reg, now_ms())?;
    Ok(Reply::json(201, &device.to_admin_json()))
}

/// `GET /iot/api/v2/devices[?hardwareId=...]`.
fn list_devices(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let state = app.state();
    let items: Vec<Value> = state
        .devices()
        .into_iter()
        .filter(|d| req.query("hardwareId").is_none_or(|h| d.hardware_id == h))
        .map(|d| d.to_admin_json())
        .collect();
    Ok(Reply::json(
        200,
        &json!({"count": items.len(), "items": items, "hasMore": false}),
    ))
}

/// `POST /iot/api/v2/devices/{id}/provisioningFile` `{"passphrase": "..."}`:
/// the unified trusted assets store for the device.
fn provisioning_file(app: &App, req: &Req, id: &str) -> Result<Reply, ApiError> {
    let Value::Object(body) = req.json()? else {
        return Err(ApiError::bad_request(
            "the body must be {\"passphrase\": \"...\"}",
        ));
    };
    let passphrase = string_field(&body, "passphrase")?.filter(|p| !p.is_empty());
    let passphrase =
        passphrase.ok_or_else(|| ApiError::bad_request("passphrase is missing or empty"))?;
    let state = app.state();
    let device = state.device(id).ok_or_else(|| no_device(id))?;
    let secret = device.secret().ok_or_else(|| {
        ApiError::conflict(format!("device {id} has no shared secret to provision"))
    })?;
    if device.state == DeviceState::Activated {
        log::warn!(
            "provisioning file for {id}, which is already activated (the file cannot activate it again)"
        );
    }
    let mut assets = TrustedAssets::new(&app.url, &device.hardware_id, &secret)?
        .with_trust_anchor(app.ca_der.clone());
    for hw in &device.icds {
        if let Some(s) = state.device_by_hardware_id(hw).and_then(|d| d.secret()) {
            assets = assets.with_icd(hw, &s);
        }
    }
    let bytes = assets.encode(&passphrase)?;
    log::info!(
        "wrote a provisioning file for {} ({id})",
        device.hardware_id
    );
    Ok(Reply::bytes(200, "application/octet-stream", bytes))
}

fn number<T: std::str::FromStr>(req: &Req, key: &str) -> Result<Option<T>, ApiError> {
    req.query(key)
        .map(|v| {
            v.trim()
                .parse::<T>()
                .map_err(|_| ApiError::bad_request(format!("{key} {v:?} is not a valid number")))
        })
        .transpose()
}

/// `GET /iot/api/v2/messages?device=&type=&direction=&since=&until=&offset=&limit=`.
fn messages(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let message_type = req
        .query("type")
        .map(|t| {
            MessageType::parse(t)
                .ok_or_else(|| ApiError::bad_request(format!("unknown message type {t:?}")))
        })
        .transpose()?;
    let direction = req
        .query("direction")
        .map(|d| {
            Direction::parse(d)
                .ok_or_else(|| ApiError::bad_request(format!("unknown direction {d:?}")))
        })
        .transpose()?;
    let limit = number::<usize>(req, "limit")?
        .unwrap_or(DEFAULT_LIMIT)
        .min(MAX_LIMIT);
    let offset = number::<usize>(req, "offset")?.unwrap_or(0);
    let q = MessageQuery {
        device: req.query("device").map(str::to_owned),
        message_type,
        direction,
        since: number(req, "since")?,
        until: number(req, "until")?,
        offset,
        limit,
    };
    let state = app.state();
    let (items, more) = state.query_messages(&q);
    Ok(Reply::json(
        200,
        &json!({
            "count": items.len(), "offset": offset, "limit": limit, "hasMore": more, "items": items,
        }),
    ))
}

/// `POST /iot/admin/faults`.
fn add_fault(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let parsed = faults::parse_request(&req.json()?)?;
    let mut expired = 0;
    if parsed.expire_tokens {
        expired = app.state().expire_tokens() + app.storage.store.expire_tokens();
        log::info!("fault injection: expired {expired} tokens");
    }
    let mut f = app.faults();
    if let Some(rule) = parsed.rule {
        log::info!("fault injection rule added: {rule:?}");
        f.add(rule);
    }
    Ok(Reply::json(
        200,
        &json!({"items": f.rules(), "expiredTokens": expired}),
    ))
}

/// Requests to a device: `devices/{id}/deviceModels/{urn}/attributes/{attr}`
/// (PUT `{"value": v}`), `.../attributes` (POST or PATCH `{"a": v, ...}`),
/// `.../actions/{action}` (POST `{"value": v}` or `{}`), and any resource
/// `devices/{id}/resources/{path}` ([`resource_request`]). `rest` starts at
/// `devices`.
fn device_request(app: &App, req: &Req, source: &str, rest: &[&str]) -> Result<Reply, ApiError> {
    let m = req.method.as_str();
    let (id, urn, tail) = match rest {
        ["devices", id, "resources", path @ ..] if !path.is_empty() => {
            return resource_request(app, req, source, id, path);
        }
        ["devices", id, "deviceModels", urn, tail @ ..] if !tail.is_empty() => (*id, *urn, tail),
        _ => {
            return Err(ApiError::not_found(format!(
                "no admin resource {m} {}",
                req.path
            )));
        }
    };
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        req.json()?
    };
    let body = storage_object_value(app, body)?;
    let state = app.state();
    let device = state.device(id).ok_or_else(|| no_device(id))?;
    if device.state != DeviceState::Activated {
        return Err(ApiError::conflict(format!("device {id} is not activated")));
    }
    if !device.device_models.iter().any(|u| u == urn) {
        return Err(ApiError::not_found(format!(
            "device {id} does not implement {urn}"
        )));
    }
    let model = state
        .model(urn)
        .ok_or_else(|| ApiError::not_found(format!("no device model {urn}")))?;
    let (method, patch, url, payload) = model_request(model, urn, req, tail, &body)?;
    let new = NewRequest {
        endpoint_id: id,
        source,
        method,
        patch_override: patch,
        url,
        body: payload,
    };
    queue(app, state, new)
}

/// `{"storageObject": "<name>"}` in place of `{"value": v}`: the value is
/// the URL of that stored object, which must exist (so a test can point a
/// device's URI attribute at an object without spelling the URL).
fn storage_object_value(app: &App, body: Value) -> Result<Value, ApiError> {
    let Some(name) = body.get("storageObject") else {
        return Ok(body);
    };
    let name = name
        .as_str()
        .filter(|_| body.as_object().is_some_and(|o| o.len() == 1))
        .ok_or_else(|| ApiError::bad_request("the body must be {\"storageObject\": \"<name>\"}"))?;
    if app.storage.store.object(name).is_none() {
        return Err(ApiError::not_found(format!("no storage object {name}")));
    }
    Ok(json!({"value": app.storage.object_url(name)}))
}

/// The storage admin API under `/iot/admin/storage/`: `GET objects?prefix=`
/// (the objects, as a JSON listing plus `url`), `DELETE objects/<name>`, and
/// `GET received` (body bytes received per object name, every attempt
/// counted). The bytes of an object are `GET content/<name>`, streamed by
/// `storage_api`.
fn storage_admin(app: &App, req: &Req, rest: &[&str]) -> Result<Reply, ApiError> {
    let store = &app.storage.store;
    match (req.method.as_str(), rest) {
        ("GET", ["objects"]) => {
            let prefix = req.query("prefix").unwrap_or("");
            let items: Vec<Value> = store
                .list(prefix, None, usize::MAX)
                .iter()
                .map(|m| {
                    let mut v = crate::storage_api::listing_entry(m);
                    v["url"] = json!(app.storage.object_url(&m.name));
                    v["metadata"] = json!(m.meta);
                    if let Some(e) = &m.content_encoding {
                        v["content_encoding"] = json!(e);
                    }
                    if let Some(p) = &m.manifest {
                        v["manifest"] = json!(p);
                    }
                    v
                })
                .collect();
            Ok(Reply::json(200, &json!({"items": items})))
        }
        ("DELETE", ["objects", name @ ..]) if !name.is_empty() => {
            tokio::task::block_in_place(|| store.delete(&name.join("/")))?;
            Ok(Reply::json(200, &json!({"deleted": name.join("/")})))
        }
        ("GET", ["received"]) => Ok(Reply::json(200, &json!(store.received()))),
        _ => Err(ApiError::not_found(format!(
            "no admin resource {} {}",
            req.method, req.path
        ))),
    }
}

/// The request to send for an attribute or action of `model` (`tail` is
/// what follows `deviceModels/{urn}`), checked against the model: its
/// method, whether it goes as POST + `x-http-method-override: PATCH`, its
/// url and its body.
fn model_request(
    model: &DeviceModel,
    urn: &str,
    req: &Req,
    tail: &[&str],
    body: &Value,
) -> Result<(&'static str, bool, String, Value), ApiError> {
    let bad = |e: iotcs_core::ValidationError| ApiError::bad_request(e.to_string());
    let m = req.method.as_str();
    let request = match (m, tail) {
        ("PUT", ["attributes", name]) => {
            let attribute = model
                .attribute(name)
                .ok_or_else(|| ApiError::not_found(format!("{urn} has no attribute {name}")))?;
            let value = body
                .get("value")
                .filter(|_| body.as_object().is_some_and(|o| o.len() == 1))
                .ok_or_else(|| ApiError::bad_request("the body must be {\"value\": v}"))?;
            let value = attribute.validate_remote_json(value).map_err(bad)?;
            let url = format!("deviceModels/{urn}/attributes/{}", attribute.name());
            ("PUT", false, url, json!({"value": value.to_json()}))
        }
        ("POST" | "PATCH", ["attributes"]) => {
            let map = body.as_object().filter(|o| !o.is_empty()).ok_or_else(|| {
                ApiError::bad_request("the body must be a non-empty object {\"attr\": v, ...}")
            })?;
            let values = model.validate_remote_attributes_json(map).map_err(bad)?;
            let out: Map<String, Value> =
                values.into_iter().map(|(n, v)| (n, v.to_json())).collect();
            (
                "PATCH",
                true,
                format!("deviceModels/{urn}/attributes"),
                Value::Object(out),
            )
        }
        ("POST", ["actions", name]) => {
            let action = model
                .action(name)
                .ok_or_else(|| ApiError::not_found(format!("{urn} has no action {name}")))?;
            let args = action.validate_body(body).map_err(bad)?;
            let url = format!("deviceModels/{urn}/actions/{}", action.name());
            ("POST", false, url, args.to_body())
        }
        (_, ["attributes", _] | ["attributes"] | ["actions", _]) => {
            return Err(ApiError::method_not_allowed(m, &req.path));
        }
        _ => {
            return Err(ApiError::not_found(format!(
                "no admin resource {m} {}",
                req.path
            )));
        }
    };
    Ok(request)
}

/// A request to any resource of a device (Oracle's enterprise form
/// `devices/{id}/resources/{path}`, protocol.md §5.4), e.g. the capability
/// resources of §8.6: sent as is, with the caller's method and JSON body
/// (`{}` when there is none). Unlike attributes and actions there is no
/// model to check the body against; the device answers 404/405 itself.
fn resource_request(
    app: &App,
    req: &Req,
    source: &str,
    id: &str,
    path: &[&str],
) -> Result<Reply, ApiError> {
    let method = match req.method.as_str() {
        m @ ("GET" | "PUT" | "POST" | "DELETE") => m,
        m => return Err(ApiError::method_not_allowed(m, &req.path)),
    };
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        req.json()?
    };
    let state = app.state();
    let device = state.device(id).ok_or_else(|| no_device(id))?;
    if device.state != DeviceState::Activated {
        return Err(ApiError::conflict(format!("device {id} is not activated")));
    }
    let new = NewRequest {
        endpoint_id: id,
        source,
        method,
        patch_override: false,
        url: path.join("/"),
        body,
    };
    queue(app, state, new)
}

/// Queues `new`, wakes the device's long poll and answers 202 with the
/// request record.
fn queue(
    app: &App,
    mut state: std::sync::MutexGuard<'_, crate::state::State>,
    new: NewRequest<'_>,
) -> Result<Reply, ApiError> {
    let id = new.endpoint_id;
    let record = state.queue_request(new, now_ms())?;
    let reply = Reply::json(202, &record.to_json());
    let mailbox = state.mailbox(id);
    drop(state);
    app.wake(&mailbox);
    Ok(reply)
}
