//! The `iotcs-server` command: `serve` runs the local cloud, `provision`
//! registers a device on a running one and writes its provisioning file.

#![allow(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use iotcs_core::Error;
use iotcs_server::{AdminClient, DeviceRegistration, Server, ServerConfig};

/// What `--help` shows above the generated option list.
const USAGE: &str = "\
iotcs-server serve --data-dir DIR [--listen 127.0.0.1:7443] [--models DIR]
                          [--admin-password P] [--ephemeral]
                          [--storage-host HOST] [--storage-quota BYTES]
       iotcs-server provision --data-dir DIR --hardware-id ID --passphrase P --out FILE
                          [--gateway] [--icd HWID:SECRET ...] [--secret S] [--name N]
                          [--server URL] [--admin-password P]";

const AFTER_HELP: &str = "\
Logging: RUST_LOG=debug (one line per request), RUST_LOG=info (default); protocol
dumps and credentials are never logged.";

/// The local Oracle IoT Cloud Service, and its provisioning tool.
#[derive(Parser, Debug)]
#[command(
    name = "iotcs-server",
    override_usage = USAGE,
    after_help = AFTER_HELP,
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the local IoT Cloud Service over TLS.
    ///
    /// On first start it creates a CA and a server certificate (DIR/ca.pem, DIR/server.pem) and an admin
    /// password (DIR/admin-password); it writes DIR/server.json with its URL
    /// and prints 'iotcs-server listening on https://HOST:PORT'. Stop it with
    /// Ctrl-C.
    Serve(ServeArgs),
    /// Registers a device and writes its provisioning file.
    ///
    /// The running server's URL, CA and admin password are read from DIR;
    /// the provisioning file (a unified trusted assets store encrypted with
    /// the passphrase) goes to FILE.
    Provision(ProvisionArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The data directory (certificates, admin password, database).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free one) [default: 127.0.0.1:7443].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Also load every *.json device model in DIR.
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Admin password instead of DIR/admin-password.
    #[arg(long, value_name = "P")]
    admin_password: Option<String>,
    /// Keep devices and messages in memory only.
    #[arg(long)]
    ephemeral: bool,
    /// Host name of the storage container URL (added to the server
    /// certificate); clients must resolve it to the listen address
    /// [default: the listen address].
    #[arg(long, value_name = "HOST")]
    storage_host: Option<String>,
    /// Most bytes the storage service keeps [default: 4 GiB].
    #[arg(long, value_name = "BYTES")]
    storage_quota: Option<u64>,
}

#[derive(Args, Debug)]
struct ProvisionArgs {
    /// The running server's data directory (server.json, ca.pem, admin-password).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The device's hardware id.
    #[arg(long, value_name = "ID")]
    hardware_id: String,
    /// The passphrase that encrypts the provisioning file.
    #[arg(long, value_name = "P")]
    passphrase: String,
    /// Where to write the provisioning file (mode 0600).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Register a gateway.
    #[arg(long)]
    gateway: bool,
    /// (gateway) Pre-register an indirectly-connected device whose secret goes
    /// into the gateway's file; repeatable.
    #[arg(long, value_name = "HWID:SECRET", value_parser = parse_icd, requires = "gateway")]
    icd: Vec<(String, String)>,
    /// The device's shared secret [default: generated].
    #[arg(long, value_name = "S")]
    secret: Option<String>,
    /// The device's name.
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// Override the URL from DIR/server.json.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Admin password instead of DIR/admin-password.
    #[arg(long, value_name = "P")]
    admin_password: Option<String>,
}

/// `--icd HWID:SECRET`, both parts non-empty.
fn parse_icd(v: &str) -> Result<(String, String), String> {
    v.split_once(':')
        .filter(|(h, s)| !h.is_empty() && !s.is_empty())
        .map(|(h, s)| (h.to_owned(), s.to_owned()))
        .ok_or_else(|| format!("wants HWID:SECRET, got {v:?}"))
}

fn main() -> ExitCode {
    // Parsed before the logger exists: clap prints usage errors (exit 2) and
    // help (exit 0) itself.
    let cli = Cli::parse();
    let env = env_logger::Env::default().default_filter_or("info");
    let logger = env_logger::Builder::from_env(env)
        .format_timestamp_millis()
        .build();
    // Wrapped so that protocol dumps and credentials (`provision` sends the
    // admin password and a passphrase) never reach the log.
    let max_level = logger.filter();
    iotcs_core::logging::install(logger, max_level).expect("main installs the only logger");
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Provision(args) => provision(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iotcs-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(o: ServeArgs) -> Result<(), Failure> {
    let mut config = ServerConfig::default()
        .data_dir(o.data_dir)
        .ephemeral(o.ephemeral);
    if let Some(addr) = o.listen {
        config = config.listen(addr);
    }
    if let Some(models) = o.models {
        config = config.models_dir(models);
    }
    if let Some(p) = o.admin_password {
        config = config.admin_password(p);
    }
    if let Some(host) = o.storage_host {
        config = config.storage_host(host);
    }
    if let Some(quota) = o.storage_quota {
        config = config.storage_quota(quota);
    }
    let server = Server::start(config)?;
    println!("iotcs-server listening on {}", server.url());
    server.wait_for_signal()?;
    server.shutdown()?;
    Ok(())
}

/// Why a command failed (exit 1; usage errors are clap's, exit 2).
struct Failure(String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure(e.to_string())
    }
}

fn read(path: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| {
        Failure(format!(
            "cannot read {}: {e} (has `iotcs-server serve --data-dir` run there?)",
            path.display()
        ))
    })
}

fn provision(o: ProvisionArgs) -> Result<(), Failure> {
    let dir = o.data_dir;
    let hardware_id = o.hardware_id;
    let passphrase = o.passphrase;
    let out = o.out;
    let url = match o.server {
        Some(url) => url,
        None => {
            let info: serde_json::Value = serde_json::from_str(&read(&dir.join("server.json"))?)
                .map_err(|e| {
                    Failure(format!(
                        "{} is not JSON: {e}",
                        dir.join("server.json").display()
                    ))
                })?;
            info["url"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Failure("server.json has no url".to_owned()))?
        }
    };
    let password = match o.admin_password {
        Some(p) => p,
        None => read(&dir.join("admin-password"))?.trim().to_owned(),
    };
    let admin = AdminClient::from_pem(&url, &read(&dir.join("ca.pem"))?, &password)?;
    let mut registration = DeviceRegistration::new(&hardware_id).gateway(o.gateway);
    if let Some(secret) = &o.secret {
        registration = registration.shared_secret(secret);
    }
    if let Some(name) = &o.name {
        registration = registration.name(name);
    }
    for (hw, secret) in &o.icd {
        registration = registration.icd(hw, Some(secret.as_bytes()));
    }
    let device = match admin.register_device(&registration) {
        Ok(d) => d,
        Err(Error::Transport { status: 409, .. }) => {
            let existing = admin.device_by_hardware_id(&hardware_id)?;
            let d = existing
                .ok_or_else(|| Failure(format!("hardware id {hardware_id:?} conflicts")))?;
            eprintln!(
                "iotcs-server: {hardware_id} was registered before ({}); writing its file",
                d.state().as_str()
            );
            d
        }
        Err(e) => return Err(e.into()),
    };
    let file = admin.provisioning_file(device.id(), &passphrase)?;
    write_secret_file(&out, &file)?;
    println!(
        "provisioned {} {} (id {}, {}) into {}",
        if device.is_gateway() {
            "gateway"
        } else {
            "device"
        },
        device.hardware_id(),
        device.id(),
        device.state().as_str(),
        out.display()
    );
    Ok(())
}

/// Writes the store with mode 0600: it holds the shared secret.
fn write_secret_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let fail = |e: std::io::Error| Failure(format!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut f = options.open(path).map_err(fail)?;
    f.write_all(bytes).map_err(fail)
}
