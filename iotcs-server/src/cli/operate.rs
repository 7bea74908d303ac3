//! `faults list|add|clear|expire-tokens` and `reset HWID`.

use std::time::Duration;

use clap::{Args, Subcommand};
use iotcs_server::Fault;
use serde_json::Value;

use super::{Connect, Failure, Output, connect, device, print_json, print_table};

#[derive(Subcommand, Debug)]
pub(crate) enum FaultsCommand {
    /// Lists the active fault rules.
    List,
    /// Adds a rule for the next device-API requests.
    Add(AddFault),
    /// Removes every rule.
    Clear,
    /// Invalidates every access token now (devices fetch new ones).
    ExpireTokens,
}

#[derive(Args, Debug)]
pub(crate) struct AddFault {
    /// Answer with this HTTP status.
    #[arg(long, value_name = "CODE")]
    status: Option<u16>,
    /// Wait this long before answering.
    #[arg(long, value_name = "MS")]
    delay_ms: Option<u64>,
    /// Cut the connection halfway through the answer.
    #[arg(long)]
    drop: bool,
    /// How many requests the rule applies to.
    #[arg(long, value_name = "N", default_value_t = 1)]
    count: u32,
    /// Only requests whose path starts with this.
    #[arg(long, value_name = "PREFIX")]
    path: Option<String>,
}

pub(crate) fn faults(c: &Connect, o: &Output, command: &FaultsCommand) -> Result<(), Failure> {
    let admin = connect(c)?;
    match command {
        FaultsCommand::List => {}
        FaultsCommand::Add(a) => {
            let delay = a.delay_ms.map(Duration::from_millis);
            let mut fault = match (a.status, a.drop, delay) {
                (Some(status), _, _) => Fault::status(status),
                (None, true, _) => Fault::drop_connection(),
                (None, false, Some(d)) => Fault::delay(d),
                (None, false, None) => {
                    return Err(Failure(
                        "a fault needs --status, --drop or --delay-ms".to_owned(),
                    ));
                }
            };
            if let (Some(d), true) = (delay, a.status.is_some() || a.drop) {
                fault = fault.with_delay(d);
            }
            fault = fault.times(a.count);
            if let Some(p) = &a.path {
                fault = fault.on_path(p);
            }
            admin.inject_fault(&fault)?;
        }
        FaultsCommand::Clear => admin.clear_faults()?,
        FaultsCommand::ExpireTokens => admin.expire_tokens()?,
    }
    let rules = admin.faults()?;
    if o.json {
        print_json(&Value::Array(rules));
        return Ok(());
    }
    let cell = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|r| {
            ["status", "delayMs", "drop", "count", "path"]
                .map(|k| cell(&r[k]))
                .to_vec()
        })
        .collect();
    print_table(&["STATUS", "DELAY MS", "DROP", "COUNT", "PATH"], &rows);
    Ok(())
}

/// `reset HWID`: deletes the device so it can be provisioned again.
pub(crate) fn reset(c: &Connect, o: &Output, hardware_id: &str) -> Result<(), Failure> {
    let admin = connect(c)?;
    let d = device(&admin, hardware_id)?;
    let deleted = admin.delete_device(d.id())?;
    if o.json {
        print_json(&serde_json::json!({ "deleted": deleted }));
    } else {
        println!(
            "deleted {} (provision it again with `iotcs-server provision`)",
            deleted.join(", ")
        );
    }
    Ok(())
}
