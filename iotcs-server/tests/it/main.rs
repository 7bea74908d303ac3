//! End-to-end tests of `iotcs-server`: each starts a server in-process on
//! `127.0.0.1:0` and drives it over TLS with ureq (trusting only the server's
//! CA) and `iotcs-core`, as a device and as the admin.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure, which fails the test, as they should"
)]

// Module index.
mod admin_api; // devices, provisioning files, models, message queries, request validation
mod cli; // the `iotcs-server` binary: --help, provision against a running server
mod delivery; // acceptBytes, exactly-once delivery, long polls, resends, expiry
mod faults; // injected statuses, delays, dropped connections, expired tokens
mod gateway; // indirect activation (HMAC, unsigned, restricted) and messages for ICDs
mod inspect; // the inspection commands: devices, messages, set, invoke, faults, reset
mod lifecycle; // provision -> token -> policy -> activation -> messages -> request -> response
mod persistence; // a restart keeps devices, keys, messages, requests and the CA
mod policies; // device policies: admin API, validation, private API, policyChanged, gateways, restart
mod rejections; // every rejection path, answered with the right status, nothing stored
mod resources; // requests to any device resource (capabilities): method, url, body, refusals
mod robustness; // garbage requests never crash the server or change its state
mod slips; // issue 14: 401 for admin routes, 413 with a body, integers sent as floats
mod startup; // certificates, server.json, trust, shutdown releasing long polls
mod storage; // the storage service: tokens, objects, Range, manifests, listing, quota, faults, admin
mod util;
