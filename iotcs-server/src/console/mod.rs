//! The web console, `https://HOST:PORT/console`, behind the admin password:
//! one page (HTML, CSS and a little JavaScript compiled into the binary, no
//! build step, no CDN) and the JSON routes it polls, all read-only: devices
//! with their last reported attributes, the messages after a sequence
//! number, and the device policies (`policies.rs`). Requests to
//! devices go through the admin API itself (the page follows each one's
//! fate at `/iot/api/v2/requests/{id}`). Storage objects are listed,
//! downloaded and deleted through the admin storage API; device policies
//! are changed through the admin API and read through
//! `/console/api/policies`, which adds the hardware ids and the assigned
//! devices the admin API's listing does not give.

mod policies;

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::admin;
use crate::app::App;
use crate::http::{ApiError, Reply, Req};
use crate::state::{State, StoredMessage};

const INDEX_HTML: &str = include_str!("index.html");
const CONSOLE_JS: &str = include_str!("console.js");
const CONSOLE_CSS: &str = include_str!("console.css");

/// How many messages one poll of `/console/api/messages` returns at most
/// (the newest ones when more are waiting).
const FEED_PAGE: usize = 200;

/// Whether the request is for the console.
pub(crate) fn is_console(req: &Req) -> bool {
    req.path == "/console" || req.path.starts_with("/console/")
}

/// Routes a console request (after checking the admin credentials).
pub(crate) fn route(app: &App, req: &Req) -> Result<Reply, ApiError> {
    admin::check_credentials(app, req)?;
    admin::check_same_origin(req)?;
    let text = |content_type, body: &str| Ok(Reply::bytes(200, content_type, body.into()));
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/console" | "/console/") => text("text/html; charset=utf-8", INDEX_HTML),
        ("GET", "/console/console.js") => text("text/javascript; charset=utf-8", CONSOLE_JS),
        ("GET", "/console/console.css") => text("text/css; charset=utf-8", CONSOLE_CSS),
        ("GET", "/console/api/devices") => Ok(Reply::json(200, &devices(&app.state()))),
        ("GET", "/console/api/messages") => {
            let after = match req.query("after") {
                None => 0,
                Some(v) => v.trim().parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("after {v:?} is not a sequence number"))
                })?,
            };
            Ok(Reply::json(200, &messages(&app.state(), after)))
        }
        ("GET", "/console/api/policies") => Ok(Reply::json(200, &policies::policies(&app.state()))),
        (m, path) => Err(ApiError::not_found(format!(
            "no console resource {m} {path}"
        ))),
    }
}

/// `{"items": [...]}`: every device with its models (as the admin API shows
/// them, for the forms), its gateway's or its devices' hardware ids, and its
/// attributes as last reported.
fn devices(state: &State) -> Value {
    let reported = last_reported(state);
    let hardware_id = |id: &str| state.device(id).map(|d| d.hardware_id.clone());
    let items: Vec<Value> = state
        .devices()
        .into_iter()
        .map(|d| {
            let mut icds: Vec<String> = d.icds.clone();
            for other in state.devices() {
                if other.gateway_id.as_deref() == Some(d.id.as_str())
                    && !icds.contains(&other.hardware_id)
                {
                    icds.push(other.hardware_id.clone());
                }
            }
            let models: Vec<Value> = d
                .device_models
                .iter()
                .filter_map(|urn| state.model(urn))
                .filter(|m| !m.is_system())
                .map(|m| m.to_value())
                .collect();
            json!({
                "id": d.id,
                "hardwareId": d.hardware_id,
                "state": d.state.as_str(),
                "type": d.kind(),
                "gateway": d.gateway_id.as_deref().and_then(hardware_id),
                "icds": icds,
                "models": models,
                "attributes": reported.get(d.id.as_str()).cloned().unwrap_or_default(),
            })
        })
        .collect();
    json!({ "items": items })
}

/// Each device's attributes as its DATA messages of `URN:attributes`
/// formats last reported them, by endpoint id. One pass over the stored
/// messages (at most `max_messages`), parsing only those DATA messages.
fn last_reported(state: &State) -> HashMap<&str, Map<String, Value>> {
    let mut out: HashMap<&str, Map<String, Value>> = HashMap::new();
    for m in state.stored_messages() {
        // The text test skips parsing every message but attribute reports.
        if m.message_type != "DATA"
            || m.direction != "FROM_DEVICE"
            || !m.json.get().contains(":attributes\"")
        {
            continue;
        }
        let Ok(Value::Object(message)) = serde_json::from_str::<Value>(m.json.get()) else {
            continue;
        };
        let payload = &message["payload"];
        let is_attributes = payload["format"]
            .as_str()
            .is_some_and(|f| f.ends_with(":attributes"));
        if let (true, Some(data)) = (is_attributes, payload["data"].as_object()) {
            let seen = out.entry(m.endpoint.as_str()).or_default();
            seen.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    out
}

/// `{"items": [...]}`: the messages stored after sequence number `after`,
/// oldest first (the newest [`FEED_PAGE`] when more), each with the
/// hardware id of its device.
fn messages(state: &State, after: u64) -> Value {
    let mut newer: Vec<&StoredMessage> = state
        .stored_messages()
        .rev()
        .take_while(|m| m.seq > after)
        .take(FEED_PAGE)
        .collect();
    newer.reverse();
    let items: Vec<Value> = newer
        .into_iter()
        .map(|m| {
            let message: Value = serde_json::from_str(m.json.get()).unwrap_or(Value::Null);
            let hardware_id = state
                .device(&m.endpoint)
                .map_or(m.endpoint.as_str(), |d| d.hardware_id.as_str());
            json!({
                "seq": m.seq,
                "id": message["id"],
                "hardwareId": hardware_id,
                "endpointId": m.endpoint,
                "type": m.message_type,
                "direction": m.direction,
                "receivedTime": m.received_time,
                "payload": message["payload"],
            })
        })
        .collect();
    json!({ "items": items })
}

#[cfg(test)]
mod tests {
    use iotcs_core::message::Message;

    use super::*;
    use crate::state::Registration;
    use crate::state::test_support::state;

    #[test]
    fn devices_show_their_last_reported_attributes_and_the_feed_pages_by_seq() {
        let mut s = state();
        let reg = Registration {
            hardware_id: "hw-1".into(),
            ..Registration::default()
        };
        let id = s.register(reg, 1).unwrap().id.clone();
        let data = |temp: f64| {
            Message::data(&id, "urn:x:attributes", [("temp", temp)], 5)
                .unwrap()
                .with_client_id(format!("c{temp}"))
        };
        s.ingest(&id, vec![data(1.5), data(2.5)], 10).unwrap();
        let d = &devices(&s)["items"][0];
        assert_eq!(d["hardwareId"], "hw-1");
        assert_eq!(d["attributes"]["temp"], 2.5, "the last report wins");
        let all = messages(&s, 0);
        assert_eq!(all["items"].as_array().unwrap().len(), 2);
        assert_eq!(all["items"][0]["hardwareId"], "hw-1");
        let first = all["items"][0]["seq"].as_u64().unwrap();
        let rest = messages(&s, first);
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert_eq!(rest["items"][0]["payload"]["data"]["temp"], 2.5);
        assert!(
            messages(&s, first + 1)["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_gateway_lists_its_devices_and_they_name_it() {
        let mut s = state();
        let gateway = Registration {
            hardware_id: "gw".into(),
            gateway: true,
            icds: vec![("sensor-1".into(), Some(b"secret".to_vec()))],
            ..Registration::default()
        };
        s.register(gateway, 1).unwrap();
        let all = devices(&s);
        let gw = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["hardwareId"] == "gw")
            .unwrap();
        assert_eq!(gw["icds"], json!(["sensor-1"]));
        assert_eq!(gw["type"], "GATEWAY");
    }
}
