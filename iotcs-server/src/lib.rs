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
//! `GET /iot/api/v2/deviceModels/{urn}`, and "no policy" answers on
//! `/iot/privateapi/v2/deviceModels/{urn}/devicePolicies...`.
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
//! | `POST /iot/admin/faults` `{"status"?, "delayMs"?, "drop"?, "count"? (1), "path"?, "expireTokens"?}` | the active rules |
//! | `GET /iot/admin/faults`, `DELETE /iot/admin/faults` | the rules / clears them |
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
//! fate. Plain HTML, CSS and JavaScript inside the binary. The page reads
//! `GET /console/api/devices` and `GET /console/api/messages?after=SEQ`;
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
//! # State and limits
//!
//! Devices, models, messages and requests live in memory and are written
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
//! entry point), `device_api`, `admin`, `console` (the web console), `app`
//! (what the handlers share),
//! `faults`, `http` (the HTTP edge: requests, replies, errors as statuses),
//! `state` (the domain: one sub-structure per entity, domain errors), `store`
//! (sled), `tls` (rcgen CA and server certificate), `client`
//! ([`AdminClient`]), `files`, `config`. See ARCHITECTURE.md.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod admin;
mod app;
mod client;
mod config;
mod console;
mod device_api;
mod faults;
mod files;
mod http;
mod router;
mod server;
mod state;
mod store;
mod tls;

pub use client::{
    AdminClient, DeviceInfo, DeviceRegistration, Fault, MessageFilter, ReceivedMessage, RequestInfo,
};
pub use config::ServerConfig;
pub use server::{Server, ServerHandle};
pub use state::{DeviceState, RequestStatus};
