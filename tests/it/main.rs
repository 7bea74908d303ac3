//! End-to-end tests of the SDK against the local cloud (`iotcs-server`),
//! started in-process on `127.0.0.1:0` over TLS. One binary, one module per
//! concern; the harness is in `util.rs`.
//!
//! Nothing here sleeps to wait for something: tests wait on channels or poll
//! the admin API with a deadline. Speed is measured in
//! `examples/directly_connected_device.rs --bench`, never asserted here.

// Shared harness: a cloud per test, provisioning, activated devices, waiting.
mod util;

// Activation, re-open without activation, activating twice, close and
// reopen, an expired token recovered transparently.
mod device_lifecycle;
// Device to cloud: `set`, transactions, alerts, custom data, validation
// failures that send nothing.
mod device_messages;
// Cloud to device: attribute changes (PUT and PATCH) with their echo, a
// read-only change refused, actions and their responses, polling without
// long polls.
mod device_requests;
// Start-up with a full store: 10,000 stored guaranteed messages restored
// without `open` waiting for room, the start-up report and each message
// delivered once.
mod startup;
// Guaranteed messages through SIGKILL: a child process killed at random
// moments, then reopened; the cloud holds each acknowledged message once, in
// both durability modes (sync before return, sync per interval).
mod reliability_crash;
// The local cloud through SIGKILL: a cloud process killed three times while a
// device sends guaranteed messages; nothing it acknowledged is lost or doubled.
mod cloud_crash;
// The sender against a misbehaving cloud: 503 storms with back-off, expired
// tokens, cut connections, a restarted cloud, a poisoned message, a full
// queue with its overflow alert.
mod reliability_faults;
// The capability resources of a real device through the cloud's resource
// requests: counters and their reset, the polling interval, diagnostics,
// 405 for a method a resource does not accept.
mod reliability_capability;
// The message store through the device API: guaranteed messages kept across
// close and open, a corrupt store refused with a clear error.
mod reliability_persistence;
// Gateways: 100 devices registered with metadata, each sending with its own
// source; re-registration after reopening; restricted and pre-provisioned
// registrations; an unknown model refused.
mod gateway_registration;
// Gateways: a cloud request for one indirectly-connected device reaches only
// that device's callback; endpoints not registered are refused.
mod gateway_routing;
// close() against a cloud that never answers (TCP only, or TLS but no HTTP):
// bounded, every thread joined, `set` returning at once; a user callback
// that never returns gets its request answered 503 and close still returns.
mod close_bounded;
// close(&self) on a device or gateway shared in an Arc: two threads at once,
// one result for both, messages flushed; the closed kind afterwards.
mod shared_close;
// The bundled gateway example, run as a program: exit status and summary.
mod example_gateway;
// No secret in the log at trace level: a child runs a device, a gateway and
// the admin client with RUST_LOG=trace; its log is searched for every secret.
mod secrets_in_logs;
// The reference's semantics: a `set` joins an open `update()`, an
// attribute's `on_error` hears of a failed alert, and the queue bound
// counts messages in flight.
mod reference_semantics;
// The refusals a program reacts to are kinds it can match: a table of which
// variant each method returns for each bad input (unknown attribute, format
// or action, wrong type, out of range, not activated, closed), a full queue,
// a full store.
mod error_kinds;
// A roamed indirectly-connected device: the cloud's 403 for its queued
// messages is reported through its on_error and holds back nothing, also
// after a restart that restores them from the store.
mod roaming;
// Booting with the cloud down: a gateway's earlier registrations and a
// device's models kept locally; readings buffered and delivered once the
// cloud is back.
mod offline_boot;
// Where state lives: a device without HOME, two devices with default
// configurations on one host, an activation refused before the cloud is
// asked when its store cannot be opened.
mod state_location;
// Storage objects: an upload with metadata checked byte for byte and held
// before its message, a failed upload that blocks nothing, a refused storage
// token, a download through a cloud-set URI attribute, a 64 MiB upload cut
// by a dropped connection that resumes, a custom data field carrying an
// object named without the endpoint prefix, close interrupting a transfer.
mod storage_objects;
// A segmented upload through SIGKILL: a child killed mid-upload, the device
// reopened, the upload resumed from its last acknowledged segment.
mod storage_crash;
// `[media_storage] max_concurrent_transfers`: N transfers at once, never more.
mod storage_concurrency;
// A GUARANTEED message held for its object's upload, through SIGKILL: sent
// after the resumed upload at the next open.
mod storage_held_crash;
// `[media_storage] proxy`: storage through an HTTP CONNECT proxy to a
// storage host only the proxy reaches.
mod storage_proxy;
// Issue 16's "Why" list as a new user writes it: an alert built in a `let`,
// an update finished on another thread, callbacks by name or `_any` that
// reject with a status, a registration with no metadata and `restricted()`.
mod api_shape;
// The local cloud's web console in headless Chromium (WebDriver in
// `webdriver.rs`): a message appears live, an attribute set from the page
// reaches the device's callback. Skips loudly without Chromium, fails in CI.
mod console_browser;
mod webdriver;
// Device policies: a policy assigned through the admin API changes what
// `offer` sends; every function of §7.2 in a pipeline that combines two.
mod policy_functions;
// Device policies over time: a change replaces the pipeline without a
// restart, unassignment restores `set`, an indirectly-connected device's own
// policy, a held batch through SIGKILL of the device process.
mod policy_lifecycle;
// status() through a cut: connected, backing off with the last error and
// the queued messages, connected again; a gateway's status.
mod device_status;
// Errors a person can act on: a provisioning file of another cloud (the
// anchor differs, said at once), a refused credential with the cloud's
// detail, a file that is not a store.
mod error_messages;
// gateway_firmware stopped by SIGTERM or Ctrl-C: it closes the gateway,
// exits 0, and every reading it sent is in the cloud; an action invoked on
// its sensor (as from the console) is answered 200; a bad --ini is
// reported with its file and line.
mod firmware_signals;
// Tidy: every Cargo profile unwinds (the SDK catches panicking callbacks),
// the firmware profile is the small one, and RUST_LOG's target filters work
// with env_logger built without its regex feature.
mod firmware_profile;
// Tidy: every log line of the SDK crates has an `iotcs::` target, so
// RUST_LOG=iotcs=debug selects them all.
mod log_targets;
// Device policies on a gateway: on `assigned` it asks which of its devices
// have the policy and starts it for exactly those; values offered before a
// policy is known survive SIGKILL.
mod policy_gateway;
