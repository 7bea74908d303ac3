//! The `policyChanged` notification (spec §7.3, §5.6): a request from the
//! cloud to `deviceModels/urn:oracle:iot:dcd:capability:device_policy/policyChanged`
//! whose body is a JSON array of changes. The handler answers 200 once the
//! body parsed, 400 naming the problem when it is not a JSON array of
//! change objects; what a change does (`crate::device_policies`: forget a
//! cached answer, stop a policy that changed) is the listener's, which
//! runs on the callback thread that answers, before the answer goes.

use std::sync::Arc;

use iotcs_core::Error;
use iotcs_core::message::RequestPayload;
use iotcs_core::policy::{POLICY_CHANGED_PATH, PolicyChange};

use crate::messaging::inbound::{Handled, Inbound, RequestHandler, bad_request};

/// Parses a `policyChanged` body (the core's reading of §7.3).
///
/// # Errors
///
/// [`Error::Protocol`] when the body is not a JSON array of changes.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<PolicyChange>, Error> {
    PolicyChange::parse_array(body)
}

/// The path of the resource under the endpoint.
pub(crate) fn path() -> String {
    POLICY_CHANGED_PATH.to_owned()
}

/// What hears of the changes.
pub(crate) type Listener = Arc<dyn Fn(Vec<PolicyChange>) + Send + Sync>;

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
    fn bodies_that_are_not_arrays_of_changes_are_refused() {
        for body in [&b"{}"[..], b"not json", b"[{\"id\":\"p\"}]"] {
            let e = parse(body).unwrap_err().to_string();
            assert!(e.contains("array"), "{e}");
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
        let ok = handler.handle(&request(
            br#"[{"deviceModelUrn":"urn:m","id":"p","lastModified":1,"op":"assigned"}]"#,
        ));
        assert_eq!(ok.status, 200);
        assert_eq!(heard.lock().unwrap().len(), 1);
        let bad = handler.handle(&request(b"{\"a\":1}"));
        assert_eq!(bad.status, 400);
        assert!(String::from_utf8_lossy(&bad.body).contains("array"));
        assert_eq!(heard.lock().unwrap().len(), 1);
    }
}
