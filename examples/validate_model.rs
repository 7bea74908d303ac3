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
use std::process::ExitCode;

use iotcs::core::message::Message;
use iotcs::core::model::{DeviceModel, samples};
use iotcs::{Config, Error, Value};
use lexopt::Arg::{Long, Short};

mod cli;

const HELP: &str = "\
Loads iotcs.ini and the sample temperature-sensor device model, shows what
the SDK validates before anything is sent, and prints the DATA message a
device would send. Needs no server and no network.

usage: validate_model

  -h, --help   print this help
";

fn main() -> ExitCode {
    cli::run("validate_model", HELP, parse, |()| run())
}

/// The command line: nothing but `--help`.
fn parse(parser: &mut lexopt::Parser) -> Result<cli::Command<()>, lexopt::Error> {
    match parser.next()? {
        None => Ok(cli::Command::Run(())),
        Some(Short('h') | Long("help")) => Ok(cli::Command::Help),
        Some(arg) => Err(arg.unexpected()),
    }
}

fn run() -> Result<(), Error> {
    show_config()?;
    let model = samples::temperature_sensor();
    show_model(&model);
    let accepted = validate(&model);

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

/// Loads the repository's `iotcs.ini` and prints its messaging settings.
fn show_config() -> Result<(), Error> {
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
    Ok(())
}

/// Prints the model's attributes, actions and formats.
fn show_model(model: &DeviceModel) {
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
}

/// Validates values a device might set; prints each verdict and returns the
/// accepted values, by attribute name.
fn validate(model: &DeviceModel) -> BTreeMap<String, Value> {
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
    accepted
}
