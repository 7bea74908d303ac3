//! `set HWID ATTR=VALUE` and `invoke HWID ACTION [ARG]`: a request to a
//! device, found by hardware id, whose model is looked up for the attribute
//! or action; then its fate (COMPLETED, FAILED, EXPIRED and the device's
//! answer) within `--wait` seconds.

use std::time::Duration;

use clap::Args;
use iotcs_core::Error;
use iotcs_server::{AdminClient, DeviceInfo, DeviceState, RequestStatus};
use serde_json::{Value, json};

use super::{Connect, Failure, Output, connect, device, print_json};

#[derive(Args, Debug)]
pub(crate) struct SetArgs {
    /// The device's hardware id.
    hardware_id: String,
    /// The writable attribute and its new value, e.g. maxThreshold=70.
    #[arg(value_name = "ATTR=VALUE", value_parser = parse_assignment)]
    assignment: (String, String),
    /// How long to wait for the device's answer, in seconds (0: do not wait).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    wait: u64,
}

#[derive(Args, Debug)]
pub(crate) struct InvokeArgs {
    /// The device's hardware id.
    hardware_id: String,
    /// The action's name.
    action: String,
    /// The action's argument, if it takes one.
    arg: Option<String>,
    /// How long to wait for the device's answer, in seconds (0: do not wait).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    wait: u64,
}

fn parse_assignment(v: &str) -> Result<(String, String), String> {
    v.split_once('=')
        .filter(|(a, _)| !a.is_empty())
        .map(|(a, v)| (a.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("wants ATTR=VALUE, got {v:?}"))
}

/// `text` as a JSON value of the model's `type`: text stays text for
/// STRING and URI, anything else is read as JSON (`70`, `true`, `2.5`).
fn typed(text: &str, value_type: &str) -> Value {
    match value_type {
        "STRING" | "URI" => json!(text),
        _ => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
    }
}

/// The first of the device's models whose `list` ("attributes" or
/// "actions") has `name`: its URN and that entry.
fn find(
    admin: &AdminClient,
    d: &DeviceInfo,
    list: &str,
    name: &str,
) -> Result<(String, Value), Failure> {
    if d.state() != DeviceState::Activated {
        return Err(Failure(format!(
            "{} is {}, not activated: requests go to activated devices (their models come with \
             activation)",
            d.hardware_id(),
            d.state().as_str()
        )));
    }
    for urn in d.device_models() {
        let Some(model) = admin.model(urn)? else {
            continue;
        };
        let entries = model[list].as_array().cloned().unwrap_or_default();
        if let Some(entry) = entries.into_iter().find(|e| e["name"] == name) {
            return Ok((urn.to_owned(), entry));
        }
    }
    Err(Failure(format!(
        "{}'s models ({}) have no {} {name:?}",
        d.hardware_id(),
        d.device_models().join(", "),
        list.trim_end_matches('s')
    )))
}

pub(crate) fn set(c: &Connect, o: &Output, a: &SetArgs) -> Result<(), Failure> {
    let admin = connect(c)?;
    let d = device(&admin, &a.hardware_id)?;
    let (name, text) = &a.assignment;
    let (urn, attribute) = find(&admin, &d, "attributes", name)?;
    let value = typed(text, attribute["type"].as_str().unwrap_or_default());
    let id = admin.set_attribute(d.id(), &urn, name, value)?;
    fate(&admin, o, &id, a.wait)
}

pub(crate) fn invoke(c: &Connect, o: &Output, a: &InvokeArgs) -> Result<(), Failure> {
    let admin = connect(c)?;
    let d = device(&admin, &a.hardware_id)?;
    let (urn, action) = find(&admin, &d, "actions", &a.action)?;
    let arg_type = action["argType"].as_str().unwrap_or_default();
    let value = a.arg.as_deref().map(|t| typed(t, arg_type));
    let id = admin.invoke_action(d.id(), &urn, &a.action, value)?;
    fate(&admin, o, &id, a.wait)
}

/// Prints the request's fate after waiting up to `wait` seconds; fails
/// (exit 1) when the device refused it or it expired.
fn fate(admin: &AdminClient, o: &Output, id: &str, wait: u64) -> Result<(), Failure> {
    let info = match admin.wait_for_request(id, Duration::from_secs(wait)) {
        Ok(info) => info,
        Err(Error::Timeout { .. }) => admin.request(id)?,
        Err(e) => return Err(e.into()),
    };
    if o.json {
        print_json(info.json());
    } else {
        let answer = match (info.response_status(), info.response_body()) {
            (Some(status), Some(body)) => format!(" {status} {body}"),
            (Some(status), None) => format!(" {status}"),
            _ => String::new(),
        };
        println!("request {id}: {}{answer}", info.status().as_str());
    }
    match info.status() {
        RequestStatus::Failed | RequestStatus::Expired => {
            Err(Failure(format!("request {id} {}", info.status().as_str())))
        }
        _ => Ok(()),
    }
}
