//! The resources a virtual device serves to the cloud (protocol-js §6.6) and
//! how each request is answered.
//!
//! | path | method | body | answer |
//! |---|---|---|---|
//! | `deviceModels/<urn>/attributes/<name or alias>` | PUT | `{"value": v}` | 200 + DATA echo |
//! | `deviceModels/<urn>/attributes` | PATCH (or POST with `X-HTTP-Method-Override: PATCH`) | `{"a": v, ...}` | 200 + one DATA echo |
//! | `deviceModels/<urn>/actions/<name or alias>` | POST | `{}`, `{"value": v}` or named arguments | 200 |
//!
//! A body that is not the expected JSON, an unknown or read-only attribute in
//! a PATCH body, or a value that breaks the model is answered 400 and no
//! callback runs. A read-only attribute's own path is answered 400 too (the
//! resource exists, changing it is refused). An action without any
//! `on_action` callback is answered 404, a callback that returns a
//! [`crate::Rejection`] with its status and message (nothing is changed), a
//! panicking callback 500; other
//! paths 404 and other methods 405 (see [`crate::messaging::inbound`]). Success is 200
//! with body `OK`, as Oracle's JavaScript library answers (its Java library
//! answers 202; the cloud accepts both).

use std::sync::Arc;

use iotcs_core::message::{Message, RequestPayload};
use iotcs_core::model::ActionArguments;
use iotcs_core::{Error, Value};

use crate::messaging::inbound::{Handled, Inbound, RequestHandler, bad_request};
use crate::messaging::outbox::Outgoing;
use crate::named_value::NamedValue;
use crate::rejection::Rejection;
use crate::virtual_device::VirtualDevice;

/// Which resource of a virtual device a route serves.
#[derive(Clone, Debug)]
enum Resource {
    /// One attribute, by canonical name.
    Attribute(String),
    /// All attributes at once (PATCH).
    Attributes,
    /// One action, by canonical name.
    Action(String),
}

/// The handler of every route of one virtual device: which resource a
/// request is for follows from its path, which the router matched exactly
/// against one that [`register`] listed. One handler per device, not one per
/// route, because a gateway has thousands of devices with a dozen routes each.
struct Route {
    device: VirtualDevice,
}

/// Registers every resource of `device` for its endpoint, under the names
/// and the aliases of its attributes and actions.
pub(crate) fn register(inbound: &Arc<Inbound>, device: &VirtualDevice) {
    let model = device.device_model();
    let base = format!("deviceModels/{}", model.urn());
    let handler: Arc<dyn RequestHandler> = Arc::new(Route {
        device: device.clone(),
    });
    let mut routes: Vec<(String, &'static [&'static str], Arc<dyn RequestHandler>)> = Vec::new();
    for attribute in model.attributes() {
        for name in std::iter::once(attribute.name()).chain(attribute.alias()) {
            routes.push((
                format!("{base}/attributes/{name}"),
                &["PUT"],
                Arc::clone(&handler),
            ));
        }
    }
    routes.push((
        format!("{base}/attributes"),
        &["PATCH"],
        Arc::clone(&handler),
    ));
    for action in model.actions() {
        for name in std::iter::once(action.name()).chain(action.alias()) {
            routes.push((
                format!("{base}/actions/{name}"),
                &["POST"],
                Arc::clone(&handler),
            ));
        }
    }
    inbound.register(device.endpoint_id(), routes);
}

impl RequestHandler for Route {
    fn handle(&self, request: &RequestPayload) -> Handled {
        let Some(resource) = self.resource(request.url()) else {
            return Handled::status(404, "Not Found");
        };
        let body = match body_object(request.body()) {
            Ok(body) => body,
            Err(e) => return bad_request(&e),
        };
        match &resource {
            Resource::Attribute(name) => self.put_attribute(name, &body),
            Resource::Attributes => self.patch_attributes(&body),
            Resource::Action(name) => self.invoke(name, &body),
        }
    }
}

impl Route {
    /// The resource at `url` (as the router normalizes it: no leading
    /// slash, no query), by the canonical name of its attribute or action;
    /// `None` for a path [`register`] did not list.
    fn resource(&self, url: &str) -> Option<Resource> {
        let model = self.device.device_model();
        let path = url.split_once('?').map_or(url, |(p, _)| p);
        let rest = path
            .trim_start_matches('/')
            .strip_prefix("deviceModels/")?
            .strip_prefix(model.urn())?;
        match rest.strip_prefix('/')?.split_once('/') {
            None if rest == "/attributes" => Some(Resource::Attributes),
            Some(("attributes", name)) => model
                .attribute(name)
                .map(|a| Resource::Attribute(a.name().to_owned())),
            Some(("actions", name)) => model
                .action(name)
                .map(|a| Resource::Action(a.name().to_owned())),
            _ => None,
        }
    }

    fn put_attribute(
        &self,
        name: &str,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> Handled {
        let (Some(json), 1) = (body.get("value"), body.len()) else {
            return bad_request(&Error::argument(format!(
                "the body to change attribute {name} must be {{\"value\": <new value>}}"
            )));
        };
        let Some(attribute) = self.device.device_model().attribute(name) else {
            return Handled::status(404, "Not Found");
        };
        match attribute.validate_remote_json(json) {
            Ok(value) => self.apply(vec![(name.to_owned(), value)]),
            Err(e) => bad_request(&e.into()),
        }
    }

    fn patch_attributes(&self, body: &serde_json::Map<String, serde_json::Value>) -> Handled {
        if body.is_empty() {
            return bad_request(&Error::argument("the body names no attribute to change"));
        }
        match self
            .device
            .device_model()
            .validate_remote_attributes_json(body)
        {
            Ok(values) => self.apply(values),
            Err(e) => bad_request(&e.into()),
        }
    }

    /// Runs the change callbacks, stores the values and answers 200 with the
    /// DATA echo. A callback's rejection is answered with its status and
    /// message, and nothing is stored; a panicking callback unwinds out of
    /// here before anything is stored, and is answered 500 by the caller.
    fn apply(&self, values: Vec<(String, Value)>) -> Handled {
        // Storage objects the values name are described (HEAD) before the
        // callbacks run, so `storage_object` hands them over at once.
        crate::storage::attach::describe_remote(&self.device, &values);
        if let Err(rejection) = self.device.run_change_callbacks(&values) {
            return rejected(&rejection);
        }
        self.device.store_remote(&values);
        match echo(&self.device, values) {
            Ok(echo) => Handled::ok().with_followups(vec![echo]),
            Err(e) => {
                log::warn!(target: "iotcs::device::remote", "could not build the echo of an attribute change: {e}");
                Handled::ok()
            }
        }
    }

    fn invoke(&self, name: &str, body: &serde_json::Map<String, serde_json::Value>) -> Handled {
        let Some(action) = self.device.device_model().action(name) else {
            return Handled::status(404, "Not Found");
        };
        let arguments = match action.validate_body(&serde_json::Value::Object(body.clone())) {
            Ok(arguments) => arguments,
            Err(e) => return bad_request(&e.into()),
        };
        let named_value = match arguments {
            ActionArguments::None => None,
            ActionArguments::Single(value) => Some(NamedValue::new("value", value)),
            ActionArguments::Named(list) => NamedValue::from_pairs(list),
        };
        match self.device.run_action_callbacks(name, named_value) {
            Ok(true) => Handled::ok(),
            Ok(false) => Handled::status(404, format!("Not Found: no callback for action {name}")),
            Err(rejection) => rejected(&rejection),
        }
    }
}

/// The answer to a request a callback rejected: its status, its message as
/// the body.
fn rejected(rejection: &Rejection) -> Handled {
    log::debug!(target: "iotcs::device::remote", "a callback rejected a request: {rejection}");
    Handled::status(rejection.status(), rejection.message())
}

/// The DATA message echoing attribute values the cloud set, so the cloud
/// records them as the device's state.
fn echo(device: &VirtualDevice, values: Vec<(String, Value)>) -> Result<Outgoing, Error> {
    let context = device.context();
    let message = Message::data(
        device.endpoint_id(),
        device.device_model().attributes_format_urn(),
        values,
        context.event_time(),
    )?
    .with_reliability(context.data_reliability);
    Ok(Outgoing::new(message))
}

/// The request body as a JSON object; an empty body counts as `{}`.
fn body_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::argument("the request body is not a JSON object")),
        Err(e) => Err(Error::argument(format!(
            "the request body is not JSON: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use iotcs_core::message::{Headers, Payload};
    use iotcs_core::model::samples;

    use super::*;
    use crate::messaging::context::test_context;
    use crate::messaging::pool::CallbackPool;

    const BASE: &str = "deviceModels/urn:com:example:iotcs:temperature_sensor";

    fn device() -> (VirtualDevice, CallbackPool) {
        let (context, pool) = test_context();
        let vd = VirtualDevice::new("EP-1", Arc::new(samples::temperature_sensor()), context);
        register(&vd.context().inbound, &vd);
        (vd, pool)
    }

    /// Sends a request through the router; returns the status, the body and
    /// the follow-up messages.
    fn request(
        vd: &VirtualDevice,
        method: &str,
        url: &str,
        body: &str,
    ) -> (u16, String, Vec<Outgoing>) {
        let mut headers = Headers::new();
        let method = if method == "PATCH-OVERRIDE" {
            headers.insert("x-http-method-override".into(), vec!["PATCH".into()]);
            "POST"
        } else {
            method
        };
        let request = Message::request(
            "EP-1",
            "cloud",
            method,
            url,
            headers,
            body.as_bytes().to_vec(),
            5,
        )
        .unwrap();
        let mut out = vd.context().inbound.answer(&request);
        let response = out.remove(0);
        match response.message().payload() {
            Payload::Response(r) => {
                assert_eq!(r.request_id(), request.id().unwrap());
                (
                    r.status_code(),
                    String::from_utf8_lossy(r.body()).into_owned(),
                    out,
                )
            }
            other => panic!("{other:?}"),
        }
    }

    fn record(vd: &VirtualDevice) -> Arc<Mutex<Vec<String>>> {
        let log = Arc::new(Mutex::new(Vec::new()));
        for name in ["minThreshold", "maxThreshold"] {
            let l = log.clone();
            vd.on_change(name, move |e| {
                let nv = e.named_value();
                l.lock()
                    .unwrap()
                    .push(format!("{}={}", nv.name(), nv.value()));
                Ok(())
            })
            .unwrap();
        }
        let l = log.clone();
        vd.on_change_any(move |e| {
            let names: Vec<&str> = e.named_value().iter().map(NamedValue::name).collect();
            l.lock().unwrap().push(format!("all:{}", names.join(",")));
            Ok(())
        });
        log
    }

    fn echoed(out: &[Outgoing]) -> Vec<(String, serde_json::Value)> {
        assert_eq!(out.len(), 1);
        match out[0].message().payload() {
            Payload::Data(d) => {
                assert_eq!(
                    d.format(),
                    "urn:com:example:iotcs:temperature_sensor:attributes"
                );
                d.data().clone().into_iter().collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn put_runs_the_attribute_then_the_general_callback_and_echoes() {
        let (vd, _pool) = device();
        let log = record(&vd);
        let (status, body, out) = request(
            &vd,
            "PUT",
            &format!("{BASE}/attributes/maxThreshold"),
            r#"{"value":55}"#,
        );
        assert_eq!((status, body.as_str()), (200, "OK"));
        assert_eq!(
            *log.lock().unwrap(),
            ["maxThreshold=55", "all:maxThreshold"]
        );
        assert_eq!(
            echoed(&out),
            [("maxThreshold".to_owned(), serde_json::json!(55.0))]
        );
        assert_eq!(vd.get("maxThreshold").unwrap(), Some(Value::Number(55.0)));
        assert_eq!(
            vd.last_known("maxThreshold").unwrap(),
            Some(Value::Number(55.0))
        );
    }

    #[test]
    fn put_to_a_read_only_attribute_is_refused_without_callback() {
        let (vd, _pool) = device();
        let log = record(&vd);
        for path in ["attributes/temp", "attributes/temperature"] {
            let (status, body, out) =
                request(&vd, "PUT", &format!("{BASE}/{path}"), r#"{"value":20}"#);
            assert_eq!(status, 400, "{body}");
            assert!(body.contains("temp"), "{body}");
            assert!(out.is_empty());
        }
        assert!(log.lock().unwrap().is_empty());
        assert_eq!(vd.get("temp").unwrap(), None);
    }

    #[test]
    fn bad_bodies_and_values_are_400() {
        let (vd, _pool) = device();
        let log = record(&vd);
        let path = format!("{BASE}/attributes/maxThreshold");
        for body in [
            "not json",
            "[1]",
            r#"{"v":1}"#,
            r#"{"value":1,"x":2}"#,
            r#"{"value":"hot"}"#,
            r#"{"value":999}"#,
        ] {
            let (status, _, out) = request(&vd, "PUT", &path, body);
            assert_eq!(status, 400, "{body}");
            assert!(out.is_empty());
        }
        assert!(log.lock().unwrap().is_empty());
        assert_eq!(vd.get("maxThreshold").unwrap(), Some(Value::Number(70.0)));
    }

    #[test]
    fn patch_changes_several_attributes_with_one_echo() {
        let (vd, _pool) = device();
        let log = record(&vd);
        let body = r#"{"minThreshold":5,"maxThreshold":50}"#;
        let (status, _, out) = request(&vd, "PATCH-OVERRIDE", &format!("{BASE}/attributes"), body);
        assert_eq!(status, 200);
        assert_eq!(
            *log.lock().unwrap(),
            [
                "maxThreshold=50",
                "minThreshold=5",
                "all:maxThreshold,minThreshold"
            ]
        );
        assert_eq!(echoed(&out).len(), 2);
        let (status, _, _) = request(
            &vd,
            "PATCH",
            &format!("{BASE}/attributes"),
            r#"{"reportingInterval":60}"#,
        );
        assert_eq!(status, 200);
        assert_eq!(
            vd.get("reportingInterval").unwrap(),
            Some(Value::Integer(60))
        );
    }

    #[test]
    fn patch_with_a_read_only_or_unknown_attribute_changes_nothing() {
        let (vd, _pool) = device();
        let log = record(&vd);
        for body in [
            r#"{"minThreshold":5,"temp":50}"#,
            r#"{"minThreshold":5,"nosuch":1}"#,
            "{}",
        ] {
            let (status, _, out) = request(&vd, "PATCH", &format!("{BASE}/attributes"), body);
            assert_eq!(status, 400, "{body}");
            assert!(out.is_empty());
        }
        assert!(log.lock().unwrap().is_empty());
        assert_eq!(vd.get("minThreshold").unwrap(), Some(Value::Number(0.0)));
    }

    #[test]
    fn actions_reach_their_callbacks_with_arguments() {
        let (vd, _pool) = device();
        let (status, _, _) = request(
            &vd,
            "POST",
            &format!("{BASE}/actions/power"),
            r#"{"value":true}"#,
        );
        assert_eq!(status, 404, "no callback yet");
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        vd.on_action("power", move |e| {
            l.lock().unwrap().push(format!("power:{:?}", e.argument()));
            Ok(())
        })
        .unwrap();
        let l = log.clone();
        vd.on_action_any(move |e| {
            l.lock().unwrap().push(format!("all:{}", e.name()));
            Ok(())
        });
        let (status, _, out) = request(
            &vd,
            "POST",
            &format!("{BASE}/actions/power"),
            r#"{"value":true}"#,
        );
        assert_eq!(status, 200);
        assert!(out.is_empty());
        let (status, _, _) = request(&vd, "POST", &format!("{BASE}/actions/reset"), "{}");
        assert_eq!(status, 200);
        let (status, _, _) = request(&vd, "POST", &format!("{BASE}/actions/reset"), "");
        assert_eq!(status, 200);
        assert_eq!(
            *log.lock().unwrap(),
            [
                "power:Some(Boolean(true))",
                "all:power",
                "all:reset",
                "all:reset"
            ]
        );
        let (status, _, _) = request(
            &vd,
            "POST",
            &format!("{BASE}/actions/power"),
            r#"{"value":"yes"}"#,
        );
        assert_eq!(status, 400);
        let (status, _, _) = request(
            &vd,
            "POST",
            &format!("{BASE}/actions/reset"),
            r#"{"value":1}"#,
        );
        assert_eq!(status, 400);
    }

    #[test]
    fn unknown_paths_wrong_methods_and_panics() {
        let (vd, _pool) = device();
        assert_eq!(
            request(&vd, "POST", &format!("{BASE}/actions/nosuch"), "{}").0,
            404
        );
        assert_eq!(
            request(
                &vd,
                "PUT",
                &format!("{BASE}/attributes/nosuch"),
                r#"{"value":1}"#
            )
            .0,
            404
        );
        assert_eq!(
            request(&vd, "GET", &format!("{BASE}/attributes/maxThreshold"), "{}").0,
            405
        );
        assert_eq!(
            request(&vd, "PUT", &format!("{BASE}/actions/reset"), "{}").0,
            405
        );
        assert_eq!(
            request(&vd, "POST", &format!("{BASE}/attributes"), "{}").0,
            405
        );
        vd.on_action("reset", |_| panic!("user bug")).unwrap();
        assert_eq!(
            request(&vd, "POST", &format!("{BASE}/actions/reset"), "{}").0,
            500
        );
        vd.on_change("maxThreshold", |_| panic!("user bug"))
            .unwrap();
        let (status, _, out) = request(
            &vd,
            "PUT",
            &format!("{BASE}/attributes/maxThreshold"),
            r#"{"value":1}"#,
        );
        assert_eq!(status, 500);
        assert!(out.is_empty());
        assert_eq!(
            vd.get("maxThreshold").unwrap(),
            Some(Value::Number(70.0)),
            "not stored after a panic"
        );
    }

    #[test]
    fn a_rejection_answers_its_status_and_message_and_changes_nothing() {
        let (vd, _pool) = device();
        let general_ran = Arc::new(Mutex::new(false));
        let g = general_ran.clone();
        vd.on_change("maxThreshold", |_| Err("too hot".into()))
            .unwrap()
            .on_change_any(move |_| {
                *g.lock().unwrap() = true;
                Ok(())
            });
        let body = r#"{"minThreshold":5,"maxThreshold":50}"#;
        let (status, text, out) = request(&vd, "PATCH", &format!("{BASE}/attributes"), body);
        assert_eq!((status, text.as_str()), (400, "too hot"));
        assert!(out.is_empty(), "no echo for a refused change");
        assert!(
            !*general_ran.lock().unwrap(),
            "the general callback is skipped"
        );
        assert_eq!(vd.get("maxThreshold").unwrap(), Some(Value::Number(70.0)));
        assert_eq!(vd.get("minThreshold").unwrap(), Some(Value::Number(0.0)));

        vd.on_action("reset", |_| Err(Rejection::new("busy").with_status(409)))
            .unwrap();
        let (status, text, _) = request(&vd, "POST", &format!("{BASE}/actions/reset"), "{}");
        assert_eq!((status, text.as_str()), (409, "busy"));
    }
}
