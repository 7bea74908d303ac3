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
