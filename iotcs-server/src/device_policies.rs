//! The device side's private policy API (protocol §7.1): the policy of one
//! device (or of one of a gateway's devices), one policy by id, and which
//! of a gateway's devices a policy is assigned to. `device_api.rs` checks
//! the device's bearer token first, as on every device route, and passes
//! the caller in; `fields` projects the answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::app::App;
use crate::http::{ApiError, Reply, Req};
use crate::state::project;

/// How many times devices called each policy read (spec §7.1), counted
/// as the request arrives, before any check.
#[derive(Debug, Default)]
pub(crate) struct ReadCounters {
    of_device: AtomicUsize,
    by_id: AtomicUsize,
    devices: AtomicUsize,
}

impl ReadCounters {
    pub(crate) fn snapshot(&self) -> PolicyReads {
        PolicyReads {
            of_device: self.of_device.load(Ordering::SeqCst),
            by_id: self.by_id.load(Ordering::SeqCst),
            devices: self.devices.load(Ordering::SeqCst),
        }
    }
}

/// How many times devices read device policies, by call
/// ([`crate::ServerHandle::policy_reads`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyReads {
    /// `GET …/devicePolicies?q={"devices.id":…}`: a device's own policy.
    pub of_device: usize,
    /// `GET …/devicePolicies/{id}`: one policy by id.
    pub by_id: usize,
    /// `GET …/devicePolicies/{id}/devices?q={"directlyConnectedOwner":…}`:
    /// which of a gateway's devices have a policy.
    pub devices: usize,
}

/// `GET …/deviceModels/{urn}/devicePolicies?q={"devices.id":"ID"}&fields=…`:
/// `{"items": [policy]}` with 0 or 1 item. Without `q`, the caller's own.
pub(crate) fn of_device(
    app: &Arc<App>,
    req: &Req,
    caller: &str,
    urn: &str,
) -> Result<Reply, ApiError> {
    app.policy_reads.of_device.fetch_add(1, Ordering::SeqCst);
    let device = filter(req, "devices.id")?.unwrap_or_else(|| caller.to_owned());
    let state = app.state();
    if !state.may_send_as(caller, &device) {
        return Err(ApiError::forbidden(format!(
            "endpoint {caller} may not read the policies of device {device}"
        )));
    }
    let items: Vec<Value> = state
        .policy_of_device(urn, &device)
        .map(|p| project(p.to_json(), req.query("fields")))
        .into_iter()
        .collect();
    Ok(Reply::json(
        200,
        &json!({"items": items, "count": items.len(), "hasMore": false}),
    ))
}

/// `GET …/deviceModels/{urn}/devicePolicies/{id}?fields=…`.
pub(crate) fn one(app: &Arc<App>, req: &Req, urn: &str, id: &str) -> Result<Reply, ApiError> {
    app.policy_reads.by_id.fetch_add(1, Ordering::SeqCst);
    let state = app.state();
    let policy = state.policy(urn, id)?;
    Ok(Reply::json(
        200,
        &project(policy.to_json(), req.query("fields")),
    ))
}

/// `GET …/devicePolicies/{id}/devices?q={"directlyConnectedOwner":"GW"}&fields=id`:
/// the caller's own devices the policy is assigned to.
pub(crate) fn devices(
    app: &Arc<App>,
    req: &Req,
    caller: &str,
    urn: &str,
    id: &str,
) -> Result<Reply, ApiError> {
    app.policy_reads.devices.fetch_add(1, Ordering::SeqCst);
    let owner = filter(req, "directlyConnectedOwner")?.unwrap_or_else(|| caller.to_owned());
    if owner != caller {
        return Err(ApiError::forbidden(format!(
            "endpoint {caller} may not list the devices of gateway {owner}"
        )));
    }
    let state = app.state();
    let policy = state.policy(urn, id)?;
    let items: Vec<Value> = policy
        .devices
        .iter()
        .filter(|d| {
            state
                .device(d)
                .is_some_and(|d| d.gateway_id.as_deref() == Some(owner.as_str()))
        })
        .map(|d| project(json!({"id": d}), req.query("fields")))
        .collect();
    Ok(Reply::json(
        200,
        &json!({"items": items, "count": items.len(), "hasMore": false}),
    ))
}

/// The string `key` of the `q` filter, a JSON object; `None` without `q`.
fn filter(req: &Req, key: &str) -> Result<Option<String>, ApiError> {
    let Some(q) = req.query("q") else {
        return Ok(None);
    };
    let parsed: Value = serde_json::from_str(q)
        .map_err(|e| ApiError::bad_request(format!("q is not a JSON object: {e}")))?;
    match parsed.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        _ => Err(ApiError::bad_request(format!(
            "q must be {{\"{key}\": \"<endpoint id>\"}}, got {q}"
        ))),
    }
}
