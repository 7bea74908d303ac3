//! Loads `iotcs.ini` and the sample temperature-sensor device model, then shows
//! what the SDK validates before anything is sent: good values are accepted and
//! normalised, bad ones are refused with an error that names the attribute, the
//! value and the rule. Finally it prints the DATA message a device would send.
//!
//! Run it from the repository root:
//!
//! ```text
//! cargo run --example validate_model
//! ```
//!
//! It needs no server and no network.

#![allow(clippy::print_stdout)] // An example's job is to print.

use std::collections::BTreeMap;
use std::path::Path;

use iotcs::core::message::Message;
use iotcs::core::model::samples;
use iotcs::{Config, Error, Value};

fn main() -> Result<(), Error> {
    let ini = Path::new(env!("CARGO_MANIFEST_DIR")).join("iotcs.ini");
    let config = Config::load(&ini)?;
    let messaging = &config.device_messaging;
    println!("loaded {}", ini.display());
    println!(
        "  queue {} messages, {} per POST, long polling {}, data {} / alerts {}",
        messaging.dispatcher_max_queue_size,
        messaging.dispatcher_max_messages_per_connection,
        if messaging.disable_long_polling {
            "off"
        } else {
            "on"
        },
        messaging.data_message_reliability,
        messaging.alert_message_reliability,
    );

    let model = samples::temperature_sensor();
    println!("\ndevice model {} ({})", model.urn(), model.name());
    for attribute in model.attributes() {
        let range = attribute
            .range()
            .map(|r| format!(" range {r}"))
            .unwrap_or_default();
        let access = if attribute.is_writable() {
            "writable"
        } else {
            "read-only"
        };
        println!(
            "  attribute {:<18} {:<8} {access}{range}",
            attribute.name(),
            attribute.value_type()
        );
    }
    for action in model.actions() {
        let arg = action
            .arg_type()
            .map(|t| format!("({t})"))
            .unwrap_or_else(|| "()".into());
        println!("  action    {}{arg}", action.name());
    }
    for format in model.formats() {
        println!(
            "  format    {} {}",
            format.format_type().as_str(),
            format.urn()
        );
    }

    println!("\nvalidating values a device might set:");
    let attempts: Vec<(&str, Value)> = vec![
        ("temp", Value::from(21)),
        ("temperature", Value::from(22.5)),
        ("temp", Value::from(500.0)),
        ("temp", Value::from(f64::NAN)),
        ("temp", Value::from("hot")),
        ("unit", Value::from("Celsius")),
        ("maxThreshold", Value::from(80)),
        ("humidity", Value::from(40)),
    ];
    // One message carries each attribute once; a later value replaces an earlier one.
    let mut accepted = BTreeMap::new();
    for (name, value) in attempts {
        let shown = value.to_string();
        match model.validate_attribute(name, value) {
            Ok((attribute, value)) => {
                println!(
                    "  ok       {name} = {shown} -> {} = {value}",
                    attribute.name()
                );
                accepted.insert(attribute.name().to_string(), value);
            }
            Err(e) => println!("  refused  {name} = {shown}: {e}"),
        }
    }

    // The time is passed in: iotcs-core never reads the clock.
    let event_time = 1_700_000_000_000;
    let msg = Message::data(
        "EXAMPLE-ENDPOINT",
        model.attributes_format_urn(),
        accepted,
        event_time,
    )?;
    println!(
        "\nthe DATA message for the accepted values:\n{}",
        msg.to_json()
    );
    Ok(())
}
