//! The storage service's HTTP side (protocol.md §9.1, Swift-like): `PUT`,
//! `GET`, `HEAD` and `DELETE` of `/v1/Storage-iotcs/iotcs/<name>` with
//! `X-Auth-Token`, the container listing, and the admin's download of an
//! object's bytes (`GET /iot/admin/storage/content/<name>`).
//!
//! Unlike the rest of the API these requests are not read whole first: the
//! router hands them over with their body still on the wire, uploads are
//! written to disk as they arrive and downloads are streamed from disk (see
//! `crate::storage`). File IO runs in `block_in_place` (uploads) or on a
//! blocking thread (downloads), never on the runtime's worker as such.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

use hyper::body::{Body, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Request, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::block_in_place;

use crate::app::App;
use crate::faults::Injected;
use crate::http::{ApiError, Reply, ResponseBody, parse_pairs, percent_decode};
use crate::router::into_response;
use crate::state::now_ms;
use crate::storage::{
    self, CHANNEL_CHUNKS, Content, NewObject, ObjectMeta, RangeAsk, StorageService, http_date,
};

/// The path of the container; objects are under it.
fn container_path() -> String {
    format!("/v1/{}/{}", storage::ACCOUNT, storage::CONTAINER)
}

/// Where admins download an object's bytes.
const ADMIN_CONTENT: &str = "/iot/admin/storage/content/";

/// The default and largest page of a container listing (Swift's).
const LIST_LIMIT: usize = 10_000;

/// Whether the router must hand this request over with its body unread.
pub(crate) fn is_storage(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/") || path.starts_with(ADMIN_CONTENT)
}

/// A storage response (possibly one that cuts its connection, for fault
/// injection), or an error to answer as a JSON problem.
type Answer = Result<Response<ResponseBody>, ApiError>;

/// Handles one storage request.
pub(crate) async fn handle(app: &Arc<App>, request: Request<Incoming>) -> Response<ResponseBody> {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_ascii_uppercase();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(parse_pairs).unwrap_or_default();
    let result = if let Some(name) = path.strip_prefix(ADMIN_CONTENT) {
        admin_content(app, &method, &percent_decode(name), &parts.headers).await
    } else {
        object_api(app, &method, &path, &query, &parts.headers, body).await
    };
    result.unwrap_or_else(|e| {
        if e.status >= 500 {
            log::error!("{method} {path} failed: {e}");
        } else {
            log::info!("refused {method} {path}: {e}");
        }
        into_response(e.into_reply(), false)
    })
}

/// `GET /iot/admin/storage/content/<name>` (admin credentials): the object's
/// bytes, as a device would get them.
async fn admin_content(app: &Arc<App>, method: &str, name: &str, headers: &HeaderMap) -> Answer {
    crate::admin::check_basic(app, headers)?;
    if method != "GET" {
        return Err(ApiError::method_not_allowed(method, ADMIN_CONTENT));
    }
    get(app, name, headers, false).await
}

/// The device-facing object API.
async fn object_api(
    app: &Arc<App>,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Incoming,
) -> Answer {
    let container = container_path();
    let rest = path.strip_prefix(container.as_str());
    let name = match rest {
        Some("" | "/") => None,
        Some(r) if r.starts_with('/') => Some(percent_decode(&r[1..])),
        _ => {
            return Err(ApiError::not_found(format!(
                "no container {path}; the storage container is {container}"
            )));
        }
    };
    let injected = app.faults().take(path);
    let mut deferred = None;
    if let Some(f) = injected {
        log::info!("fault injected into {method} {path}: {f:?}");
        if let Some(delay) = f.delay {
            tokio::time::sleep(delay).await;
        }
        if f.after_bytes.is_some() && method == "PUT" {
            deferred = Some(f);
        } else if let Some(status) = f.status {
            let e = ApiError::new(
                status,
                "fault injected by the test (POST /iot/admin/faults)",
            );
            return Ok(into_response(e.into_reply(), f.drop));
        } else if f.drop {
            let answer = route(app, method, name, query, headers, body, None).await?;
            return Ok(cut_halfway(answer));
        }
    }
    route(app, method, name, query, headers, body, deferred).await
}

async fn route(
    app: &Arc<App>,
    method: &str,
    name: Option<String>,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Incoming,
    fault: Option<Injected>,
) -> Answer {
    check_token(app, headers)?;
    match (method, name) {
        ("GET" | "HEAD", None) => Ok(list(&app.storage, query, headers)),
        (_, None) => Err(ApiError::method_not_allowed(method, &container_path())),
        ("PUT", Some(name)) => put(app, name, headers, body, fault).await,
        ("GET", Some(name)) => get(app, &name, headers, false).await,
        ("HEAD", Some(name)) => get(app, &name, headers, true).await,
        ("DELETE", Some(name)) => {
            block_in_place(|| app.storage.store.delete(&name))?;
            Ok(empty(204, Vec::new()))
        }
        (m, Some(_)) => Err(ApiError::method_not_allowed(m, "a storage object")),
    }
}

/// `X-Auth-Token` (or Swift's other name for it, `X-Storage-Token`) must be a
/// valid storage token: 401 otherwise, so the device fetches a new one.
fn check_token(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = ["x-auth-token", "x-storage-token"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::unauthorized("the X-Auth-Token header is missing"));
    }
    if !app.storage.store.token_valid(token, now_ms()) {
        return Err(ApiError::unauthorized(
            "the storage token is unknown or expired; get a new one from /iot/api/v2/provisioner/storage",
        ));
    }
    Ok(())
}

/// Gives back the quota taken for an upload unless it was committed.
struct Reservation<'a> {
    storage: &'a storage::Storage,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.storage.release(self.bytes);
    }
}

/// `PUT <name>`: the body streamed to a temporary file, then committed.
/// With `X-Object-Manifest: <container>/<prefix>` the object is a manifest
/// whose content is its segments'.
async fn put(
    app: &Arc<App>,
    name: String,
    headers: &HeaderMap,
    mut body: Incoming,
    fault: Option<Injected>,
) -> Answer {
    let store = &app.storage.store;
    storage::check_name(&name)?;
    let new = new_object(name, headers)?;
    let declared = header(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared {
        // Refuse at once what cannot fit, before reading a byte.
        store.reserve(n)?;
        store.release(n);
    }
    let mut upload = block_in_place(|| store.begin())?;
    let mut reservation = Reservation {
        storage: store,
        bytes: 0,
    };
    match receive(
        store,
        &new.name,
        &mut body,
        &mut upload,
        &mut reservation,
        fault.as_ref(),
    )
    .await?
    {
        Received::Complete => {}
        Received::Failed(e) => return Err(e),
        Received::Cut(e) => return Ok(into_response(e.into_reply(), true)),
    }
    let staged = block_in_place(|| upload.finish())
        .map_err(|e| ApiError::internal(format!("cannot store the upload of {}: {e}", new.name)))?;
    if let Some(expected) =
        header(headers, "etag").map(|e| e.trim_matches('"').to_ascii_lowercase())
        && expected != staged.hash
    {
        return Err(ApiError::new(
            422,
            format!(
                "the upload's MD5 is {}, not the ETag sent ({expected})",
                staged.hash
            ),
        ));
    }
    let meta = block_in_place(|| store.commit(new, staged, now_ms()))?;
    // The object now holds its bytes' share of the quota.
    reservation.bytes = 0;
    log::info!("stored object {} ({} bytes)", meta.name, meta.bytes);
    Ok(empty(
        201,
        vec![
            ("etag".into(), meta.hash.clone()),
            ("last-modified".into(), http_date(meta.last_modified_ms)),
        ],
    ))
}

/// How reading an upload's body ended.
enum Received {
    /// Every byte is in the upload.
    Complete,
    /// A fault failed the upload: the body was read to its end, nothing kept.
    Failed(ApiError),
    /// A fault cuts the connection now.
    Cut(ApiError),
}

/// Reads an upload's body into `upload` frame by frame, counting the bytes
/// received and taking their share of the quota; applies a fault's
/// `afterBytes`. A failing fault lets the rest of the body arrive (so the
/// client reads the status rather than a broken pipe), storing none of it.
async fn receive(
    store: &storage::Storage,
    name: &str,
    body: &mut Incoming,
    upload: &mut storage::Upload,
    reservation: &mut Reservation<'_>,
    fault: Option<&Injected>,
) -> Result<Received, ApiError> {
    let mut failing = None;
    let mut received = 0u64;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(format!("the upload broke off after {received} bytes: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        store.count_received(name, data.len() as u64);
        received += data.len() as u64;
        if let Some(f) = fault
            && f.after_bytes.is_some_and(|limit| received >= limit)
            && failing.is_none()
        {
            log::info!("fault: upload of {name} failed after {received} bytes");
            let e = ApiError::new(
                f.status.unwrap_or(500),
                "fault injected by the test (POST /iot/admin/faults)",
            );
            if f.drop {
                return Ok(Received::Cut(e));
            }
            failing = Some(e);
        }
        if failing.is_some() {
            continue;
        }
        store.reserve(data.len() as u64)?;
        reservation.bytes += data.len() as u64;
        block_in_place(|| upload.write(&data))
            .map_err(|e| ApiError::internal(format!("cannot write the upload of {name}: {e}")))?;
    }
    Ok(failing.map_or(Received::Complete, Received::Failed))
}

/// The object's headers from the request: type, encoding, metadata, manifest.
fn new_object(name: String, headers: &HeaderMap) -> Result<NewObject, ApiError> {
    let content_type = header(headers, "content-type")
        .filter(|t| !t.trim().is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let content_encoding = header(headers, "content-encoding")
        .filter(|e| !e.trim().is_empty())
        .map(str::to_owned);
    let mut meta = BTreeMap::new();
    for (k, v) in headers {
        if let (Some(key), Ok(value)) = (k.as_str().strip_prefix("x-object-meta-"), v.to_str()) {
            meta.insert(key.to_owned(), value.to_owned());
        }
    }
    let manifest = match header(headers, "x-object-manifest") {
        None => None,
        Some(m) => {
            let m = percent_decode(m.trim());
            let prefix = m
                .strip_prefix(storage::CONTAINER)
                .and_then(|p| p.strip_prefix('/'))
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "X-Object-Manifest must be {}/<prefix>, not {m:?}",
                        storage::CONTAINER
                    ))
                })?;
            Some(prefix.to_owned())
        }
    };
    Ok(NewObject {
        name,
        content_type,
        content_encoding,
        meta,
        manifest,
    })
}

/// `GET` or `HEAD <name>`, with `Range` on a `GET`.
async fn get(app: &Arc<App>, name: &str, headers: &HeaderMap, head: bool) -> Answer {
    let content = block_in_place(|| app.storage.store.content(name))?;
    let mut out = object_headers(&content);
    let len = content.len;
    if head {
        out.push(("content-length".into(), len.to_string()));
        return Ok(respond(200, out, ResponseBody::full(Vec::new())));
    }
    let (status, start, count) = match storage::parse_range(header(headers, "range"), len) {
        RangeAsk::Whole => (200, 0, len),
        RangeAsk::Part { start, end } => {
            out.push(("content-range".into(), format!("bytes {start}-{end}/{len}")));
            (206, start, end - start + 1)
        }
        RangeAsk::Unsatisfiable => {
            return Err(
                ApiError::new(416, format!("the object is {len} bytes long"))
                    .with_header("content-range", format!("bytes */{len}")),
            );
        }
    };
    out.push(("content-length".into(), count.to_string()));
    let parts = storage::slice(content.parts, start, count);
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || storage::pump(parts, &tx));
    Ok(respond(status, out, ResponseBody::stream(rx, count)))
}

/// The headers describing an object on `GET` and `HEAD`. `Content-Encoding`
/// only when the upload had one (Oracle's JS library passes it on).
fn object_headers(content: &Content) -> Vec<(String, String)> {
    let meta = &content.meta;
    let mut out = vec![
        ("content-type".into(), meta.content_type.clone()),
        ("etag".into(), content.etag.clone()),
        ("last-modified".into(), http_date(meta.last_modified_ms)),
        ("accept-ranges".into(), "bytes".into()),
    ];
    if let Some(e) = &meta.content_encoding {
        out.push(("content-encoding".into(), e.clone()));
    }
    if let Some(prefix) = &meta.manifest {
        out.push((
            "x-object-manifest".into(),
            format!("{}/{prefix}", storage::CONTAINER),
        ));
    }
    for (k, v) in &meta.meta {
        out.push((format!("x-object-meta-{k}"), v.clone()));
    }
    out
}

/// `GET <container>?prefix=&marker=&limit=&format=json`: the objects in name
/// order, as Swift lists them: names one per line (204 when none), or with
/// `format=json` (or `Accept: application/json`) an array of `{"name",
/// "bytes", "hash", "content_type", "last_modified"}`.
fn list(
    service: &StorageService,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Response<ResponseBody> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let limit = q("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(LIST_LIMIT)
        .min(LIST_LIMIT);
    let objects = service
        .store
        .list(q("prefix").unwrap_or(""), q("marker"), limit);
    let json = q("format") == Some("json")
        || header(headers, "accept").is_some_and(|a| a.contains("application/json"));
    if json {
        let items: Vec<Value> = objects.iter().map(listing_entry).collect();
        let reply = Reply::json(200, &Value::Array(items));
        return into_response(reply, false);
    }
    if objects.is_empty() {
        return empty(204, Vec::new());
    }
    let text: String = objects.iter().map(|m| format!("{}\n", m.name)).collect();
    respond(
        200,
        vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        ResponseBody::full(text.into_bytes()),
    )
}

/// One object in a JSON listing (Swift's fields; `hash` is the stored bytes'
/// MD5, so for a manifest the MD5 of its empty body).
pub(crate) fn listing_entry(m: &ObjectMeta) -> Value {
    json!({
        "name": m.name,
        "bytes": m.bytes,
        "hash": m.hash,
        "content_type": m.content_type,
        "last_modified": iotcs_core::__private::time::format_iso8601(m.last_modified_ms),
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A response with no body.
fn empty(status: u16, headers: Vec<(String, String)>) -> Response<ResponseBody> {
    let mut headers = headers;
    headers.push(("content-length".into(), "0".into()));
    respond(status, headers, ResponseBody::full(Vec::new()))
}

fn respond(
    status: u16,
    headers: Vec<(String, String)>,
    body: ResponseBody,
) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let map = response.headers_mut();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            map.insert(name, value);
        }
    }
    response
}

/// The same answer, its body cut halfway (fault injection's `drop`).
fn cut_halfway(response: Response<ResponseBody>) -> Response<ResponseBody> {
    let (parts, body) = response.into_parts();
    let half = body.size_hint().exact().unwrap_or(0) / 2;
    Response::from_parts(parts, body.cut_after(half))
}
