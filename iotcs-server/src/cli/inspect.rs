//! `devices` and `messages [--device HWID] [--follow]`.

use std::collections::HashMap;
use std::time::Duration;

use clap::Args;
use iotcs_core::__private::time::format_iso8601;
use iotcs_server::{AdminClient, MessageFilter, ReceivedMessage};
use serde_json::{Value, json};

use super::{Connect, Failure, Output, connect, device, print_json, print_table};

/// How often `messages --follow` asks for new messages.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// `devices`: every device with its hardware id first.
pub(crate) fn devices(c: &Connect, o: &Output) -> Result<(), Failure> {
    let admin = connect(c)?;
    let all = admin.devices()?;
    if o.json {
        print_json(&Value::Array(
            all.iter().map(|d| d.json().clone()).collect(),
        ));
        return Ok(());
    }
    let names: HashMap<&str, &str> = all.iter().map(|d| (d.id(), d.hardware_id())).collect();
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|d| {
            let kind = match (d.is_gateway(), d.gateway_id()) {
                (true, _) => "gateway".to_owned(),
                (false, Some(gw)) => format!("via {}", names.get(gw).copied().unwrap_or(gw)),
                (false, None) => "device".to_owned(),
            };
            vec![
                d.hardware_id().to_owned(),
                d.state().as_str().to_owned(),
                kind,
                d.id().to_owned(),
                d.device_models().join(","),
            ]
        })
        .collect();
    print_table(
        &["HARDWARE ID", "STATE", "KIND", "ENDPOINT ID", "MODELS"],
        &rows,
    );
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct MessagesArgs {
    /// Only this device's messages.
    #[arg(long, value_name = "HWID")]
    device: Option<String>,
    /// Keep printing new messages as they arrive (Ctrl-C stops).
    #[arg(long)]
    follow: bool,
    /// Show the last N messages (before following).
    #[arg(long, value_name = "N", default_value_t = 50)]
    last: usize,
}

/// `messages`: the last ones, oldest first, then new ones with `--follow`.
pub(crate) fn messages(c: &Connect, o: &Output, a: &MessagesArgs) -> Result<(), Failure> {
    let admin = connect(c)?;
    let mut filter = MessageFilter::new();
    if let Some(hw) = &a.device {
        filter = filter.device(device(&admin, hw)?.id());
    }
    let mut names = Names::default();
    let all = admin.messages(&filter)?;
    let last = &all[all.len().saturating_sub(a.last)..];
    if o.json && !a.follow {
        let items: Vec<Value> = last.iter().map(|m| m.json().clone()).collect();
        print_json(&Value::Array(items));
        return Ok(());
    }
    if last.is_empty() && !o.json {
        eprintln!("no messages yet{}", if a.follow { "; waiting" } else { "" });
    }
    let mut printer = Printer {
        json: o.json,
        header_done: false,
    };
    for m in last {
        printer.print(m, names.of(&admin, endpoint(m)));
    }
    if !a.follow {
        return Ok(());
    }
    // New messages: received at or after the newest seen, not seen before.
    let mut since = last
        .last()
        .and_then(ReceivedMessage::received_time)
        .unwrap_or(0);
    let mut seen: Vec<String> = last.iter().map(|m| m.id().to_owned()).collect();
    loop {
        std::thread::sleep(FOLLOW_EVERY);
        for m in admin.messages(&filter.clone().since(since))? {
            if seen.iter().any(|id| id == m.id()) {
                continue;
            }
            let time = m.received_time().unwrap_or(since);
            if time > since {
                since = time;
                seen.clear();
            }
            seen.push(m.id().to_owned());
            printer.print(&m, names.of(&admin, endpoint(&m)));
        }
    }
}

/// The device a message is about: its source, or its destination for a
/// request to a device.
fn endpoint(m: &ReceivedMessage) -> &str {
    match m.json()["direction"].as_str() {
        Some("TO_DEVICE") => m.json()["destination"].as_str().unwrap_or_default(),
        _ => m.source(),
    }
}

/// Hardware ids by endpoint id, asked for once per unknown id.
#[derive(Default)]
struct Names(HashMap<String, String>);

impl Names {
    fn of(&mut self, admin: &AdminClient, id: &str) -> String {
        if let Some(hw) = self.0.get(id) {
            return hw.clone();
        }
        let hw = admin
            .device(id)
            .map_or_else(|_| id.to_owned(), |d| d.hardware_id().to_owned());
        self.0.insert(id.to_owned(), hw.clone());
        hw
    }
}

struct Printer {
    json: bool,
    header_done: bool,
}

impl Printer {
    fn print(&mut self, m: &ReceivedMessage, hardware_id: String) {
        let j = m.json();
        if self.json {
            let mut line = j.clone();
            if let Value::Object(map) = &mut line {
                map.insert("hardwareId".to_owned(), json!(hardware_id));
            }
            println!("{line}");
            return;
        }
        if !self.header_done {
            println!("RECEIVED                  HARDWARE ID  TYPE      DIRECTION    PAYLOAD");
            self.header_done = true;
        }
        let time = m.received_time().map(format_iso8601).unwrap_or_default();
        println!(
            "{time:<24}  {hardware_id:<11}  {:<8}  {:<11}  {}",
            j["type"].as_str().unwrap_or("?"),
            j["direction"].as_str().unwrap_or("?"),
            j["payload"]
        );
    }
}
