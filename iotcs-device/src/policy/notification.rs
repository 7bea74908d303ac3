//! The `policyChanged` notification (spec §7.3, §5.6): a request from the
//! cloud to `deviceModels/urn:oracle:iot:dcd:capability:device_policy/policyChanged`
//! whose body is a JSON array of changes. The handler answers 200 once the
//! body parsed, 400 naming the problem when it is not a JSON array of
//! change objects; what a change does (fetch the policy again, reset the
//! pipelines' state, re-ask which indirectly-connected devices are
//! assigned) is the listener's, which runs on the callback thread that
//! answers, after the answer is decided.

use std::sync::Arc;

use iotcs_core::Error;
use iotcs_core::message::RequestPayload;
use iotcs_core::model::capability;
use serde::Deserialize;

use crate::messaging::inbound::{Handled, Inbound, RequestHandler, bad_request};

/// What happened to a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `changed` (the default): the policy's content changed.
    Changed,
    /// `assigned`: the policy now applies to the device (or, for a
    /// gateway, to some of its devices).
    Assigned,
    /// `unassigned`: the policy no longer applies.
    Unassigned,
}

/// One change of a `policyChanged` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) model_urn: String,
    pub(crate) policy_id: String,
    /// Epoch ms; 0 when the cloud sent none.
    pub(crate) last_modified: i64,
    pub(crate) op: Op,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireChange {
    device_model_urn: String,
    id: String,
    #[serde(default)]
    last_modified: Option<serde_json::Value>,
    #[serde(default)]
    op: Option<String>,
}

/// Parses a `policyChanged` body.
///
/// # Errors
///
/// [`Error::Argument`] when the body is not a JSON array of objects with a
/// `deviceModelUrn` and an `id`, or names an unknown `op`.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<Change>, Error> {
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Error::argument(format!("the body is not JSON: {e}")))?;
    let serde_json::Value::Array(items) = json else {
        return Err(Error::argument(
            "the body must be a JSON array of policy changes",
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let wire: WireChange = serde_json::from_value(item).map_err(|e| {
                Error::argument(format!("policy change {i}: {e}"))
            })?;
            let op = match wire.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("changed") => Op::Changed,
                Some("assigned") => Op::Assigned,
                Some("unassigned") => Op::Unassigned,
                Some(other) => {
                    return Err(Error::argument(format!(
                        "policy change {i}: op must be changed, assigned or unassigned, not {other:?}"
                    )));
                }
            };
            // lastModified is ms as a number; tolerate a numeric string.
            let last_modified = match wire.last_modified {
                Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
                Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(0),
                _ => 0,
            };
            Ok(Change {
                model_urn: wire.device_model_urn,
                policy_id: wire.id,
                last_modified,
                op,
            })
        })
        .collect()
}

/// The path of the resource under the endpoint.
pub(crate) fn path() -> String {
    format!("deviceModels/{}/policyChanged", capability::DEVICE_POLICY)
}

/// What hears of the changes.
pub(crate) type Listener = Arc<dyn Fn(Vec<Change>) + Send + Sync>;

struct Handler {
    listener: Listener,
}

impl RequestHandler for Handler {
    fn handle(&self, request: &RequestPayload) -> Handled {
        match parse(request.body()) {
            Ok(changes) => {
                (self.listener)(changes);
                Handled::status(200, "")
            }
            Err(e) => bad_request(&e),
        }
    }
}

/// Serves the resource for `endpoint_id` (PUT, which the library
/// advertises, and POST, which Oracle's cloud sends).
pub(crate) fn register(inbound: &Arc<Inbound>, endpoint_id: &str, listener: Listener) {
    let handler: Arc<dyn RequestHandler> = Arc::new(Handler { listener });
    inbound.register(endpoint_id, vec![(path(), &["PUT", "POST"][..], handler)]);
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn a_body_of_changes_parses_with_op_defaulting_to_changed() {
        let body = br#"[{"deviceModelUrn":"urn:m","id":"p1","lastModified":5},
                        {"deviceModelUrn":"urn:m","id":"p2","op":"assigned"},
                        {"deviceModelUrn":"urn:n","id":"p3","op":"UNASSIGNED","lastModified":"7"}]"#;
        let changes = parse(body).unwrap();
        assert_eq!(
            changes
                .iter()
                .map(|c| (c.policy_id.as_str(), c.op, c.last_modified))
                .collect::<Vec<_>>(),
            vec![
                ("p1", Op::Changed, 5),
                ("p2", Op::Assigned, 0),
                ("p3", Op::Unassigned, 7)
            ]
        );
        assert_eq!(changes[2].model_urn, "urn:n");
    }

    #[test]
    fn bodies_that_are_not_arrays_of_changes_are_refused() {
        for (body, names) in [
            (&b"{}"[..], "array"),
            (b"not json", "not JSON"),
            (b"[{\"id\":\"p\"}]", "deviceModelUrn"),
            (
                b"[{\"deviceModelUrn\":\"u\",\"id\":\"p\",\"op\":\"moved\"}]",
                "moved",
            ),
        ] {
            let e = parse(body).unwrap_err().to_string();
            assert!(e.contains(names), "{e}");
        }
        assert_eq!(parse(b"[]").unwrap(), vec![]);
    }

    #[test]
    fn the_handler_answers_200_and_tells_the_listener_or_400() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = heard.clone();
        let handler = Handler {
            listener: Arc::new(move |changes| h.lock().unwrap().extend(changes)),
        };
        let request = |body: &[u8]| {
            RequestPayload::new("POST", path())
                .unwrap()
                .with_body(body.to_vec())
        };
        let ok = handler.handle(&request(br#"[{"deviceModelUrn":"urn:m","id":"p"}]"#));
        assert_eq!(ok.status, 200);
        assert_eq!(heard.lock().unwrap().len(), 1);
        let bad = handler.handle(&request(b"{\"a\":1}"));
        assert_eq!(bad.status, 400);
        assert!(String::from_utf8_lossy(&bad.body).contains("array"));
        assert_eq!(heard.lock().unwrap().len(), 1);
    }
}
