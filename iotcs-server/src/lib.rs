//! `iotcs-server`: a local stand-in for the Oracle IoT Cloud Service's
//! device-facing REST API, over TLS, faithful enough that Oracle's own
//! JavaScript device library works against it unchanged.
//!
//! Start one in-process (tests, examples) with [`Server::start`], or run the
//! `iotcs-server` binary (`serve`, `provision`). Drive it through the admin
//! API with [`AdminClient`], look at it in a browser at `/console`, or from
//! the shell with the binary's inspection commands.
//!
//! ```
//! use std::time::Duration;
//! use iotcs_server::{DeviceRegistration, MessageFilter, Server, ServerConfig};
//!
//! let dir = tempfile::TempDir::with_prefix("doc")?;
//! let server = Server::start(ServerConfig::for_tests().data_dir(dir.path()))?;
//! let admin = server.admin()?;
//! let (device, store) = admin.provision(&DeviceRegistration::new("thermometer-1"), "changeit")?;
//! std::fs::write(dir.path().join("thermometer-1.tas"), store)?;
//! // ... a device activates with that file and sends data; then:
//! let data = admin.messages(&MessageFilter::new().device(device.id()))?;
//! assert!(data.is_empty());
//! server.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The device API
//!
//! As in protocol.md §2-§6 and protocol-js.md §14: `POST /iot/api/v2/oauth2/token`
//! (HS256 assertions for registered devices with scope `oracle/iot/activation`,
//! RS256 for activated ones with the empty scope; `expires_in` in
//! milliseconds; an expired or far-future `exp` is a 400 with `currentTime`),
//! `GET /iot/api/v2/activation/policy`, `POST /iot/api/v2/activation/direct`,
//! `POST /iot/api/v2/activation/indirect/device`,
//! `POST /iot/api/v2/messages?acceptBytes=N[&iot.sync][&iot.timeout=S]`,
//! `GET /iot/api/v2/deviceModels/{urn}`, and the device policies of
//! protocol.md §7.1 (see "Device policies" below).
//!
//! Identity is enforced: a token's subject must equal `X-EndpointId`, and a
//! message's `source` must be the endpoint or a device registered through it
//! (else 403 and nothing of the batch is stored). A message that does not
//! match its model is a 400, again storing nothing. A message resent with
//! the same `(source, clientId)` is stored once.
//!
//! Requests to a device are delivered exactly once, in the body of whichever
//! `POST /messages` of the device (or its gateway) comes first, within
//! `acceptBytes` (counting the messages and commas, not the brackets); when
//! the next one does not fit, the answer is `[]` with header
//! `X-min-acceptBytes: <its size>`. A long poll (`iot.sync`) is held until a
//! request is pending, `iot.timeout` or the hold limit passes, or the server
//! stops.
//!
//! # The admin API
//!
//! HTTP Basic, user `admin`, password from [`ServerConfig::admin_password`] or
//! `DATA_DIR/admin-password` (generated at first start, mode 0600):
//!
//! | request | answer |
//! |---|---|
//! | `POST /iot/api/v2/devices` `{"hardwareId", "sharedSecret"? (base64), "name"?, "gateway"?, "metadata"?, "icds"?: [{"hardwareId", "sharedSecret"?}]}` | 201, the device (`id`, `hardwareId`, `state`, `sharedSecret`, ...) |
//! | `GET /iot/api/v2/devices[?hardwareId=]`, `GET /iot/api/v2/devices/{id}` | `{"items": [...]}`, the device |
//! | `DELETE /iot/api/v2/devices/{id}` | `{"deleted": [hardware ids]}`: the device, its tokens and (a gateway's) the devices it activated; its hardware id can be registered again |
//! | `POST /iot/api/v2/devices/{id}/provisioningFile` `{"passphrase"}` | the unified trusted assets store (server URI, client id, secret, the CA, a gateway's ICD secrets) |
//! | `POST /iot/api/v2/deviceModels`, `GET /iot/api/v2/deviceModels[/{urn}]` | 201 / the model(s) |
//! | `GET /iot/api/v2/messages?device=&type=&direction=&since=&until=&offset=&limit=` | `{"items": [...], "hasMore"}`, oldest first, with `id`, `direction`, `receivedTime` |
//! | `PUT [apps/{app}/]devices/{id}/deviceModels/{urn}/attributes/{attr}` `{"value"}` | 202 `{"id", "status", ...}` |
//! | `POST` (or `PATCH`) `.../deviceModels/{urn}/attributes` `{"a": v, ...}` | 202; sent as POST + `x-http-method-override: PATCH` |
//! | `POST .../deviceModels/{urn}/actions/{action}` `{"value"}` or `{}` | 202 |
//! | `GET`, `PUT`, `POST` or `DELETE` `[apps/{app}/]devices/{id}/resources/{path}` (JSON body optional) | 202; any resource, e.g. the capability resources (protocol.md §8.6), sent with that method, url `{path}` and the body (`{}` when none) |
//! | `GET /iot/api/v2/requests/{id}[/response]` | status `RECEIVED`, `DISPATCHED`, `COMPLETED`, `FAILED`, `EXPIRED`, and the response |
//! | `POST /iot/admin/faults` `{"status"?, "delayMs"?, "drop"?, "count"? (1), "path"?, "afterBytes"?, "expireTokens"?}` | the active rules (`expireTokens` revokes access and storage tokens) |
//! | `GET /iot/admin/faults`, `DELETE /iot/admin/faults` | the rules / clears them |
//! | `GET /iot/admin/storage/objects?prefix=` | `{"items": [...]}`: the stored objects (`name`, `bytes`, `hash`, `content_type`, `last_modified`, `url`, `metadata`, `content_encoding`?, `manifest`?) |
//! | `GET /iot/admin/storage/content/{name}` | the object's bytes (a manifest's: its segments'), streamed |
//! | `DELETE /iot/admin/storage/objects/{name}` | deletes it |
//! | `GET /iot/admin/storage/received` | `{"<name>": bytes}`: upload body bytes received per object, every attempt counted |
//! | `PUT .../attributes/{attr}` `{"storageObject": "<name>"}` | 202; as `{"value": "<the object's URL>"}`, 404 if there is no such object |
//!
//! Fault rules also apply to the storage service (`"path": "/v1/"`); there,
//! `"afterBytes": n` with a status fails an upload once `n` bytes of its body
//! have arrived (the rest is read, nothing stored), and with `"drop"` cuts
//! the connection at that point.
//!
//! Requests to a device obey the model: unknown attribute or action 404,
//! read-only attribute or a value of the wrong type or range 400. A request
//! to an admin resource without credentials is a 401 with a Basic challenge.
//!
//! # The console
//!
//! `https://HOST:PORT/console`, behind the admin password (HTTP Basic; a
//! browser asks for it): the devices (hardware id, endpoint id, state,
//! models, a gateway's devices), a live feed of messages (the page polls
//! every second), a device's attributes as last reported, and forms that set
//! a writable attribute or invoke an action and follow the request to its
//! fate; the storage objects (download, delete) and the device policies per
//! model (create from JSON, enable or disable, assign or unassign), changed
//! through the admin API above. Plain HTML, CSS and JavaScript inside the
//! binary. The page reads `GET /console/api/devices`,
//! `GET /console/api/messages?after=SEQ` and `GET /console/api/policies`;
//! these shapes are the page's, not an API. An admin or console request
//! whose `Origin` header names another origin is refused (403): a browser
//! holding the console's credentials would otherwise send them with another
//! site's forms.
//!
//! # The command line
//!
//! `iotcs-server serve --data-dir DIR` runs a server; `provision` registers a
//! device and writes its provisioning file (an activated hardware id is
//! refused unless `--reset`). Against a running server, through `DIR`:
//! `devices`, `messages [--device HWID] [--follow]`, `set HWID ATTR=VALUE`,
//! `invoke HWID ACTION [ARG]`, `faults list|add|clear|expire-tokens`, and
//! `reset HWID` (delete a device so it can be provisioned again); devices by
//! hardware id, tables by default, `--json` for scripts.
//!
//! # The storage service
//!
//! Storage objects (protocol.md §9.1) are served by the same server, on the
//! same port and under the same CA, Swift-like:
//!
//! - `GET /iot/api/v2/provisioner/storage` (device bearer + `X-EndpointId`;
//!   401 without a good bearer, 405 for `POST`) answers
//!   `{"storageContainerUrl": "https://HOST:PORT/v1/Storage-iotcs/iotcs",
//!   "authToken", "expiresIn"}`. The token is good for the whole container
//!   for [`ServerConfig::storage_token_lifetime`] (1 h by default); after it,
//!   or after `expireTokens`, the storage service answers 401.
//! - `PUT <container>/<name>` (`X-Auth-Token`; `Content-Type`, default
//!   `application/octet-stream`; `Content-Encoding`; `X-Object-Meta-*`; a
//!   sized or chunked body; an optional `ETag` checked against the bytes'
//!   MD5, 422 when it differs) → **201** with `ETag` = the bare lower-case hex
//!   MD5 and `Last-Modified`. Names are by convention
//!   `<endpointId>/<name>`; any name up to 1024 bytes is accepted.
//! - `GET` → 200, or 206 for one `Range` (`bytes=a-b`, `a-`, `-n`; 416 with
//!   `Content-Range: bytes */len` when outside; several ranges get the whole
//!   object); `HEAD` → the same headers: `Content-Length`, `Content-Type`,
//!   `ETag`, `Last-Modified`, `Accept-Ranges`, `X-Object-Meta-*`, and
//!   `Content-Encoding` only if the upload had one. `DELETE` → 204.
//! - Segmented (resumable) uploads, Swift's dynamic large objects: segments
//!   are ordinary objects under a prefix (e.g. `<name>/seg/00000001`); a
//!   `PUT <name>` with `X-Object-Manifest: iotcs/<prefix>` and an empty body
//!   makes the manifest, whose `GET`/`HEAD` is the concatenation of the
//!   objects under the prefix (manifests excluded) in name order, `Range`
//!   included. Its `ETag` follows Swift: the MD5 of the concatenated hex
//!   ETags of the segments, **in quotes** (it is not the content's MD5).
//! - `GET <container>?prefix=&marker=&limit=` lists objects in name order,
//!   one name per line (204 when none), or with `format=json` as
//!   `[{"name", "bytes", "hash", "content_type", "last_modified"}]`, so a
//!   device can find the last segment it stored.
//!
//! Objects are files under `DATA_DIR/storage` (a temporary directory,
//! removed at shutdown, for a server without a data directory or an
//! ephemeral one), written to a temporary file, synced and renamed before a
//! small JSON sidecar commits them, and streamed both ways in 64 KiB
//! chunks: an object is never held in memory or in the database. All objects
//! plus the uploads in progress stay within [`ServerConfig::storage_quota`]
//! (4 GiB by default; 413 beyond). [`ServerConfig::storage_host`] sets the
//! host name of the container URL (and adds it to the server certificate).
//!
//! # Device policies
//!
//! Policies (protocol.md §7) live under their device model, as in Oracle's
//! REST API; `{p}` below is `/iot/api/v2/deviceModels/{urn}/devicePolicies`
//! (the URN raw or percent-encoded). The [`AdminClient`] method of each row
//! is in the last column.
//!
//! | request | answer | client |
//! |---|---|---|
//! | `POST {p}` `{"description"?, "enabled"? (true), "pipelines": [...]}` | 201, the policy: `id`, `deviceModelUrn`, `description`, `enabled`, `lastModified`, `created`, `pipelines`, `devices` (how many) | [`create_policy`](AdminClient::create_policy) |
//! | `GET {p}`, `GET {p}/{id}` | `{"items": [...]}`, the policy | [`policies`](AdminClient::policies), [`policy`](AdminClient::policy) |
//! | `PUT {p}/{id}` (same body) | 200; every field replaced (absent: default; `pipelines` required) | [`update_policy`](AdminClient::update_policy) |
//! | `PATCH {p}/{id}` `{"enabled": false}` (any of the fields) | 200; only those changed: enable, disable | [`set_policy_enabled`](AdminClient::set_policy_enabled) |
//! | `DELETE {p}/{id}` | 200 `{"id", "deleted": true}` | [`delete_policy`](AdminClient::delete_policy) |
//! | `GET {p}/{id}/devices` | `{"items": [{"id"}, ...]}` | [`policy_devices`](AdminClient::policy_devices) |
//! | `POST {p}/{id}/devices` `{"devices": ["id", ...]}`, `PUT {p}/{id}/devices/{device}` | 200, the devices | [`assign_policy`](AdminClient::assign_policy) |
//! | `DELETE {p}/{id}/devices/{device}` | 200, the devices | [`unassign_policy`](AdminClient::unassign_policy) |
//!
//! A policy is checked with `iotcs_core::policy::DevicePolicy` on create and
//! on change: an unknown function, a missing or bad parameter, a formula
//! that does not parse (with its position) or a pipeline for an attribute
//! the model does not have is a 400 whose `detail` names the pipeline, the
//! function and the parameter; nothing changes. Assigning to an unknown
//! device is a 404, to an activated device without the model a 400, to a
//! device that has another policy of the model a 409 (a device has at most
//! one policy per model). Policies and assignments are stored like devices.
//!
//! Every change reaches the devices concerned as a REQUEST `PUT
//! deviceModels/urn:oracle:iot:dcd:capability:device_policy/policyChanged`
//! (§7.3) whose body is `[{"deviceModelUrn", "id", "lastModified", "op"}]`,
//! queued for the device, or for the gateway of an indirectly-connected
//! one (one request per endpoint), activated devices only: `op` is
//! `assigned` on assignment, `changed` on `PUT` and `PATCH` (so also on
//! enable and disable; `lastModified` grows with each), `unassigned` on
//! unassignment and on `DELETE`.
//!
//! Devices read them with their bearer token (private API, §7.1):
//! `GET /iot/privateapi/v2/deviceModels/{urn}/devicePolicies?q={"devices.id":"ID"}&fields=…`
//! gives the policy of device `ID` (the caller or one of its
//! indirectly-connected devices, else 403; without `q`, the caller) as
//! `{"items": [...]}` with 0 or 1 item, disabled or not;
//! `…/devicePolicies/{id}?fields=…` one policy; and
//! `…/devicePolicies/{id}/devices?q={"directlyConnectedOwner":"GW"}&fields=id`
//! the caller's own devices that have it (`GW` must be the caller).
//! `fields` keeps only the listed members.
//!
//! # State and limits
//!
//! Devices, models, policies, messages and requests live in memory and are written
//! through to sled in `DATA_DIR/db`, so a restart keeps them; tokens are not
//! kept (clients get a 401 and fetch a new one). A change is on disk (synced)
//! before the 2xx that acknowledges it, so a device that forgets a message
//! once it has the answer loses nothing if the server is killed; concurrent
//! requests share the syncs. Without a data directory, or
//! with [`ServerConfig::ephemeral`], nothing is stored. At most
//! [`ServerConfig::max_messages`] messages are kept (oldest dropped first).
//! Request bodies over [`ServerConfig::max_body_bytes`] get 413 (the rest of
//! the body is read and dropped first, up to 64 MiB, so the client sees the
//! answer). INTEGER and DATETIME values sent as JSON floats (`1.7E12`) are
//! stored as integers. Errors are
//! JSON `{"type", "title", "status", "detail"}`.
//!
//! # Layout
//!
//! `server` (runtime, listener, [`ServerHandle`]), `router` (the request
//! entry point), `device_api` (with `device_policies`), `admin` (with
//! `admin_policies`), `console` (the web console), `app` (what the handlers
//! share),
//! `faults`, `http` (the HTTP edge: requests, replies, errors as statuses),
//! `state` (the domain: one sub-structure per entity, domain errors),
//! `storage` (the object store on disk: objects, sidecars, quota, storage
//! tokens, Range), `storage_api` (its HTTP side, streamed), `store` (sled), `tls` (rcgen CA and server certificate), `client`
//! ([`AdminClient`]), `files`, `config`. See ARCHITECTURE.md.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod admin;
mod admin_policies;
mod app;
mod client;
mod config;
mod console;
mod device_api;
mod device_policies;
mod faults;
mod files;
mod http;
mod router;
mod server;
mod state;
mod storage;
mod storage_api;
mod store;
mod tls;

pub use client::{
    AdminClient, DeviceInfo, DeviceRegistration, Fault, MessageFilter, PolicyInfo, ReceivedMessage,
    RequestInfo, StorageObjectInfo,
};
pub use config::ServerConfig;
pub use device_policies::PolicyReads;
pub use server::{Server, ServerHandle};
pub use state::{DeviceState, RequestStatus};
