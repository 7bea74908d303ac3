//! The admin API's device policies, under a device model as in Oracle's
//! REST API (`/iot/api/v2/deviceModels/{urn}/devicePolicies`): create,
//! list, read, replace (PUT), change or enable/disable (PATCH), delete,
//! and assign to or unassign from devices. Bodies are checked with
//! `iotcs_core::policy` (400 naming the pipeline, function, parameter and
//! formula position); every change notifies the devices concerned (see
//! `state/policies.rs`).

use serde_json::{Value, json};

use crate::app::App;
use crate::http::{ApiError, Reply, Req};
use crate::state::{PolicyInput, now_ms};

/// Routes `…/deviceModels/{urn}/devicePolicies/{rest}`.
pub(crate) fn route(app: &App, req: &Req, urn: &str, rest: &[&str]) -> Result<Reply, ApiError> {
    let m = req.method.as_str();
    match (m, rest) {
        ("GET", []) => list(app, urn),
        ("POST", []) => {
            let input = PolicyInput::from_json(&req.json()?)?;
            let mut state = app.state();
            if state.model(urn).is_none() {
                return Err(ApiError::not_found(format!("no device model {urn}")));
            }
            let record = state.create_policy(urn, input, now_ms())?;
            Ok(Reply::json(201, &record.to_json()))
        }
        ("GET", [id]) => Ok(Reply::json(200, &app.state().policy(urn, id)?.to_json())),
        ("PUT" | "PATCH", [id]) => {
            let input = PolicyInput::from_json(&req.json()?)?;
            let mut state = app.state();
            let woken = state.update_policy(urn, id, input, m == "PUT", now_ms())?;
            let reply = Reply::json(200, &state.policy(urn, id)?.to_json());
            drop(state);
            wake(app, &woken);
            Ok(reply)
        }
        ("DELETE", [id]) => {
            let woken = app.state().delete_policy(urn, id, now_ms())?;
            wake(app, &woken);
            Ok(Reply::json(200, &json!({"id": id, "deleted": true})))
        }
        ("GET", [id, "devices"]) => devices(app, urn, id),
        ("POST", [id, "devices"]) => {
            let ids = device_ids(&req.json()?)?;
            let woken = app.state().assign_policy(urn, id, &ids, now_ms())?;
            wake(app, &woken);
            devices(app, urn, id)
        }
        ("PUT", [id, "devices", device]) => {
            let woken = app
                .state()
                .assign_policy(urn, id, &[(*device).to_owned()], now_ms())?;
            wake(app, &woken);
            devices(app, urn, id)
        }
        ("DELETE", [id, "devices", device]) => {
            let woken = app.state().unassign_policy(urn, id, device, now_ms())?;
            wake(app, &woken);
            devices(app, urn, id)
        }
        (_, [] | [_] | [_, "devices"] | [_, "devices", _]) => {
            Err(ApiError::method_not_allowed(m, &req.path))
        }
        _ => Err(ApiError::not_found(format!(
            "no admin resource {m} {}",
            req.path
        ))),
    }
}

fn list(app: &App, urn: &str) -> Result<Reply, ApiError> {
    let state = app.state();
    if state.model(urn).is_none() {
        return Err(ApiError::not_found(format!("no device model {urn}")));
    }
    let items: Vec<Value> = state.policies_of(urn).iter().map(|p| p.to_json()).collect();
    Ok(Reply::json(
        200,
        &json!({"items": items, "count": items.len(), "hasMore": false}),
    ))
}

/// `{"items": [{"id": …}, …]}`: the devices the policy is assigned to.
fn devices(app: &App, urn: &str, id: &str) -> Result<Reply, ApiError> {
    let state = app.state();
    let items: Vec<Value> = state
        .policy(urn, id)?
        .devices
        .iter()
        .map(|d| json!({"id": d}))
        .collect();
    Ok(Reply::json(
        200,
        &json!({"items": items, "count": items.len(), "hasMore": false}),
    ))
}

/// `{"devices": ["id", …]}`, at least one.
fn device_ids(body: &Value) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::bad_request("the body must be {\"devices\": [\"<device id>\", …]}");
    let items = body
        .get("devices")
        .and_then(Value::as_array)
        .ok_or_else(bad)?;
    let ids: Vec<String> = items
        .iter()
        .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    if ids.is_empty() {
        return Err(bad());
    }
    Ok(ids)
}

fn wake(app: &App, mailboxes: &[String]) {
    for mailbox in mailboxes {
        app.wake(mailbox);
    }
}
