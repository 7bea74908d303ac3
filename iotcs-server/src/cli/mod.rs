//! The `iotcs-server` inspection commands (`devices`, `messages`, `set`,
//! `invoke`, `faults`, `reset`): each talks to a running server over HTTPS
//! with the URL, CA and admin password of its data directory, names devices
//! by hardware id, prints a table for people or JSON (`--json`) for scripts.
//! Part of the binary, not of the library.

mod inspect;
mod operate;
mod requests;

use std::path::{Path, PathBuf};

use clap::Args;
use iotcs_core::Error;
use iotcs_server::{AdminClient, DeviceInfo};

pub(crate) use inspect::{MessagesArgs, devices, messages};
pub(crate) use operate::{FaultsCommand, faults, reset};
pub(crate) use requests::{InvokeArgs, SetArgs, invoke, set};

/// Why a command failed (exit 1; usage errors are clap's, exit 2).
pub(crate) struct Failure(pub(crate) String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Error> for Failure {
    /// The error and its causes, each once (`Error::report` without its
    /// `error: ` lead, which `main` prints).
    fn from(e: Error) -> Failure {
        let report = e.report().to_string();
        Failure(report.strip_prefix("error: ").unwrap_or(&report).to_owned())
    }
}

/// Which server to talk to: its data directory, optionally overridden.
#[derive(Args, Debug)]
pub(crate) struct Connect {
    /// The running server's data directory (server.json, ca.pem, admin-password).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: PathBuf,
    /// Override the URL from DIR/server.json.
    #[arg(long, value_name = "URL")]
    pub(crate) server: Option<String>,
    /// Admin password instead of DIR/admin-password.
    #[arg(long, value_name = "P")]
    pub(crate) admin_password: Option<String>,
}

/// Output options shared by the inspection commands.
#[derive(Args, Debug)]
pub(crate) struct Output {
    /// Print JSON (one document; `messages --follow` prints one per line).
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| {
        Failure(format!(
            "cannot read {}: {e} (has `iotcs-server serve --data-dir` run there?)",
            path.display()
        ))
    })
}

/// An admin client for the server of `c`.
pub(crate) fn connect(c: &Connect) -> Result<AdminClient, Failure> {
    let dir = &c.data_dir;
    let url = match &c.server {
        Some(url) => url.clone(),
        None => {
            let path = dir.join("server.json");
            let info: serde_json::Value = serde_json::from_str(&read(&path)?)
                .map_err(|e| Failure(format!("{} is not JSON: {e}", path.display())))?;
            info["url"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Failure(format!("{} has no url", path.display())))?
        }
    };
    let password = match &c.admin_password {
        Some(p) => p.clone(),
        None => read(&dir.join("admin-password"))?.trim().to_owned(),
    };
    Ok(AdminClient::from_pem(
        &url,
        &read(&dir.join("ca.pem"))?,
        &password,
    )?)
}

/// The device with this hardware id, or a failure saying how to list them.
pub(crate) fn device(admin: &AdminClient, hardware_id: &str) -> Result<DeviceInfo, Failure> {
    admin.device_by_hardware_id(hardware_id)?.ok_or_else(|| {
        Failure(format!(
            "no device with hardware id {hardware_id:?} (`iotcs-server devices` lists them)"
        ))
    })
}

/// Prints JSON, pretty.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!("{value:#}");
}

/// Prints rows as a table whose columns are as wide as their widest cell.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
