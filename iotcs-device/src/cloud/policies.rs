//! Device policies from the cloud's private API (spec §7.1): the policy of
//! one device for one model (a virtual device's first `offer`), one policy
//! by id and which of a gateway's devices a policy is assigned to (what a
//! gateway asks on `assigned` and `unassigned`, `crate::device_policies`).
//! Only the policy thread calls them (`crate::policy::context`), never
//! `offer`.

use iotcs_core::__private::protocol::{Endpoint, Method, percent_encode, query, status};
use iotcs_core::Error;
use iotcs_core::policy::DevicePolicy;
use serde_json::Value as Json;

use crate::cloud::rest::{RestClient, transport_error};
use crate::cloud::transport::HttpRequest;

/// The policy assigned to `endpoint_id` for model `urn`; `None` when there
/// is none.
///
/// # Errors
///
/// [`Error::Transport`] / [`Error::Network`] when the cloud fails;
/// [`Error::Policy`] (from the core) when the policy it serves is invalid.
pub(crate) fn policy_of_device(
    rest: &RestClient,
    urn: &str,
    endpoint_id: &str,
) -> Result<Option<DevicePolicy>, Error> {
    let base = Endpoint::DevicePolicies(urn).path();
    let path = format!(
        "{base}?{}={}&{}={}",
        query::Q,
        percent_encode(&query::policy_of_device(endpoint_id)),
        query::FIELDS,
        percent_encode(query::POLICY_FIELDS)
    );
    let response = rest.call(HttpRequest::get(path))?;
    match response.status {
        status::NOT_FOUND => Ok(None),
        status::OK => first_item(&response.body),
        _ => Err(transport_error(Method::Get, &base, &response)),
    }
}

/// The policy `id` of model `urn`; `None` when the cloud has no such
/// policy (any more).
///
/// # Errors
///
/// As [`policy_of_device`].
pub(crate) fn policy_by_id(
    rest: &RestClient,
    urn: &str,
    id: &str,
) -> Result<Option<DevicePolicy>, Error> {
    let base = Endpoint::DevicePolicy(urn, id).path();
    let path = format!(
        "{base}?{}={}",
        query::FIELDS,
        percent_encode(query::POLICY_FIELDS)
    );
    let response = rest.call(HttpRequest::get(path))?;
    match response.status {
        status::NOT_FOUND => Ok(None),
        status::OK => DevicePolicy::from_value(&parse(&response.body)?).map(Some),
        _ => Err(transport_error(Method::Get, &base, &response)),
    }
}

/// The endpoint ids of `gateway_id`'s indirectly-connected devices that
/// policy `id` of model `urn` is assigned to; none when the policy is gone.
///
/// # Errors
///
/// [`Error::Transport`] / [`Error::Network`] when the cloud fails;
/// [`Error::Protocol`] when the answer is not JSON.
pub(crate) fn devices_of_policy(
    rest: &RestClient,
    urn: &str,
    id: &str,
    gateway_id: &str,
) -> Result<Vec<String>, Error> {
    let base = Endpoint::DevicePolicyDevices(urn, id).path();
    let path = format!(
        "{base}?{}={}&{}={}",
        query::Q,
        percent_encode(&query::devices_of_gateway(gateway_id)),
        query::FIELDS,
        percent_encode(query::DEVICE_FIELDS)
    );
    let response = rest.call(HttpRequest::get(path))?;
    match response.status {
        status::NOT_FOUND => Ok(Vec::new()),
        status::OK if response.body.len() < 3 => Ok(Vec::new()),
        status::OK => Ok(items(&parse(&response.body)?)
            .iter()
            .filter_map(|item| item.get("id").and_then(Json::as_str))
            .map(str::to_owned)
            .collect()),
        _ => Err(transport_error(Method::Get, &base, &response)),
    }
}

/// The first item of a `{"items": […]}` answer as a policy; a body shorter
/// than 3 bytes, `{}` or no items is no policy (spec §7.1).
fn first_item(body: &[u8]) -> Result<Option<DevicePolicy>, Error> {
    if body.len() < 3 {
        return Ok(None);
    }
    match items(&parse(body)?).first() {
        Some(item) => DevicePolicy::from_value(item).map(Some),
        None => Ok(None),
    }
}

fn parse(body: &[u8]) -> Result<Json, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::protocol(format!("the cloud's device policy answer is not JSON: {e}")))
}

fn items(json: &Json) -> &[Json] {
    json.get("items")
        .and_then(Json::as_array)
        .map_or(&[], Vec::as_slice)
}
