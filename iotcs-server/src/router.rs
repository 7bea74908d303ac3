//! The request entry point: hand storage requests (bodies streamed) to
//! `storage_api`; for the rest read the body, apply faults, route to the device
//! or admin API, wait until what the request changed is durable (before any
//! 2xx), log, answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response};

use crate::app::App;
use crate::http::{ApiError, BodyError, Reply, Req, ResponseBody, collect, drain, parse_pairs};
use crate::state::State;
use crate::{admin, console, device_api, storage_api};

/// Whether a request goes to the admin API: under `/iot/admin/`, or carrying
/// HTTP Basic credentials (devices use bearer tokens).
fn is_admin(req: &Req) -> bool {
    req.path.starts_with("/iot/admin/")
        || req.path == "/iot/admin"
        || req.header("authorization").is_some_and(|a| {
            a.trim_start()
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("basic "))
        })
}

/// " (device HWID ENDPOINT_ID)" for a request that names its device
/// (`X-EndpointId`, `X-ActivationId`), so the log speaks of hardware ids.
fn device_name(state: &State, headers: &hyper::HeaderMap) -> String {
    let named = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let device = named("x-endpointid")
        .and_then(|id| state.device(id))
        .or_else(|| named("x-activationid").and_then(|id| state.device_by_activation_id(id)));
    device.map_or_else(String::new, |d| {
        format!(" (device {} {})", d.hardware_id, d.id)
    })
}

/// Handles one HTTP request.
pub(crate) async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ResponseBody> {
    let started = Instant::now();
    let method = request.method().as_str().to_ascii_uppercase();
    let path = request.uri().path().to_owned();
    if storage_api::is_storage(&path) {
        // Storage bodies are streamed, never read whole into memory.
        let response = storage_api::handle(&app, request).await;
        log::debug!(
            "{method} {path} -> {} ({} ms) from {peer}",
            response.status(),
            started.elapsed().as_millis()
        );
        return response;
    }
    let query = request.uri().query().map(parse_pairs).unwrap_or_default();
    let (parts, mut body) = request.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            413,
            format!("the request body is over {} bytes", app.max_body_bytes),
        )
    };
    // Looked up before the headers move into the request.
    let who = if log::log_enabled!(log::Level::Debug) {
        device_name(&app.state(), &parts.headers)
    } else {
        String::new()
    };
    let read = if declared.is_some_and(|n| n > app.max_body_bytes as u64) {
        Err(BodyError::TooLarge)
    } else {
        collect(&mut body, app.max_body_bytes).await
    };
    let body = match read {
        Ok(body) => Ok(body),
        Err(BodyError::TooLarge) => {
            // Read the rest, or the client still sending it sees a reset
            // connection instead of this answer.
            drain(&mut body).await;
            Err(too_large().with_header("connection", "close".to_owned()))
        }
        Err(BodyError::Read(e)) => Err(ApiError::bad_request(format!(
            "cannot read the request body: {e}"
        ))),
    };
    let (reply, drop) = match body {
        Err(e) => (e.into_reply(), false),
        Ok(body) => {
            let req = Req {
                method,
                path,
                query,
                headers: parts.headers,
                body,
                peer,
            };
            respond(&app, &req).await
        }
    };
    log::debug!(
        "{} {} -> {} ({} ms, {} bytes) from {peer}{who}",
        parts.method,
        parts.uri.path(),
        reply.status,
        started.elapsed().as_millis(),
        reply.body.len(),
    );
    into_response(reply, drop)
}

/// Routes a request, with fault injection for the device API. Returns the
/// reply and whether to cut the connection while sending it.
async fn respond(app: &Arc<App>, req: &Req) -> (Reply, bool) {
    let admin = is_admin(req);
    let mut drop = false;
    if !admin && req.path.starts_with("/iot/") {
        let injected = app.faults().take(&req.path);
        if let Some(f) = injected {
            log::info!("fault injected into {} {}: {f:?}", req.method, req.path);
            if let Some(delay) = f.delay {
                tokio::time::sleep(delay).await;
            }
            if let Some(status) = f.status {
                let e = ApiError::new(
                    status,
                    "fault injected by the test (POST /iot/admin/faults)",
                );
                return (e.into_reply(), f.drop);
            }
            drop = f.drop;
        }
    }
    let mut result = if console::is_console(req) {
        console::route(app, req)
    } else if admin {
        admin::route(app, req)
    } else {
        match device_api::route(app, req).await {
            // An admin route asked for without any credentials: say so
            // (401, with the Basic challenge), not "no such resource". A
            // device's call (bearer token) keeps the device API's answer.
            Err(e)
                if matches!(e.status, 404 | 405)
                    && req.header("authorization").is_none()
                    && admin::is_admin_resource(req) =>
            {
                admin::route(app, req)
            }
            other => other,
        }
    };
    if let (Ok(reply), Some(durability)) = (&result, &app.durability)
        && (200..300).contains(&reply.status)
    {
        // The client may forget what it sent once it has a 2xx (a device
        // deletes its copy of a message): what this request wrote, and
        // anything written before, must be on disk first (group commit).
        let point = durability.point();
        if let Err(e) = durability.wait(point).await {
            result = Err(ApiError::internal(format!(
                "the change could not be made durable ({e}); try again"
            )));
        }
    }
    let reply = result.unwrap_or_else(|e| {
        let who = device_name(&app.state(), &req.headers);
        if matches!(e.status, 401 | 403) {
            log::warn!(
                "rejected {} {} from {}{who}: {}",
                req.method,
                req.path,
                req.peer,
                e
            );
        } else if e.status >= 500 {
            log::error!("{} {}{who} failed: {}", req.method, req.path, e);
        } else {
            log::info!("refused {} {}{who}: {}", req.method, req.path, e);
        }
        e.into_reply()
    });
    (reply, drop)
}

/// The HTTP response of a reply; with `drop`, cut halfway through the body.
pub(crate) fn into_response(reply: Reply, drop: bool) -> Response<ResponseBody> {
    let len = reply.body.len();
    let body = if drop {
        ResponseBody::truncated(reply.body)
    } else {
        ResponseBody::full(reply.body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use hyper::HeaderMap;
    use hyper::body::{Body, Bytes};

    use super::*;

    fn req(path: &str, auth: Option<&str>) -> Req {
        let mut headers = HeaderMap::new();
        if let Some(a) = auth {
            headers.insert("authorization", HeaderValue::from_str(a).unwrap());
        }
        Req {
            method: "GET".into(),
            path: path.into(),
            query: Vec::new(),
            headers,
            body: Bytes::new(),
            peer: "127.0.0.1:1".parse().unwrap(),
        }
    }

    #[test]
    fn basic_credentials_or_the_admin_prefix_select_the_admin_api() {
        assert!(is_admin(&req("/iot/admin/faults", None)));
        assert!(is_admin(&req(
            "/iot/api/v2/devices",
            Some("basic YWRtaW46eA==")
        )));
        assert!(!is_admin(&req("/iot/api/v2/devices", Some("Bearer abc"))));
        assert!(!is_admin(&req("/iot/api/v2/messages", None)));
        assert!(!is_admin(&req("/iot/administrator", Some("Basi"))));
    }

    #[test]
    fn the_log_names_devices_by_hardware_id() {
        let mut state = crate::state::test_support::state();
        let reg = crate::state::Registration {
            hardware_id: "kitchen-7".into(),
            ..Default::default()
        };
        let id = state.register(reg, 1).unwrap().id.clone();
        let mut headers = HeaderMap::new();
        assert_eq!(device_name(&state, &headers), "");
        headers.insert("x-endpointid", HeaderValue::from_str(&id).unwrap());
        assert_eq!(
            device_name(&state, &headers),
            format!(" (device kitchen-7 {id})")
        );
        let mut activating = HeaderMap::new();
        activating.insert("x-activationid", HeaderValue::from_static("kitchen-7"));
        assert!(device_name(&state, &activating).contains("kitchen-7"));
    }

    #[test]
    fn replies_become_responses_and_cut_ones_declare_the_full_length() {
        let r = into_response(
            Reply::json_text(202, "[1,2]".into()).with_header("x-min-acceptbytes", "9".into()),
            false,
        );
        assert_eq!(r.status(), 202);
        assert_eq!(r.headers()["content-length"], "5");
        assert_eq!(r.headers()["x-min-acceptbytes"], "9");
        let cut = into_response(Reply::json_text(200, "[1,2]".into()), true);
        assert_eq!(cut.headers()["content-length"], "5");
        assert_eq!(cut.body().size_hint().exact(), Some(5));
        let odd = into_response(Reply::json_text(1000, "{}".into()), false);
        assert_eq!(odd.status(), 500, "an impossible status becomes 500");
    }
}
