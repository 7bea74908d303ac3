//! Device policies from the cloud's private API (spec §7.1): the policy of
//! one device for one model. Only the policy thread calls it
//! (`crate::policy::context`), never `offer`. The other two calls of §7.1
//! (one policy by id; which of a gateway's devices a policy is assigned
//! to) are not needed: after a change notification each virtual device
//! asks for its own policy again (`crate::device_policies`).

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
