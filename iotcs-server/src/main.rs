//! The `iotcs-server` command: `serve` runs the local cloud, `provision`
//! registers a device on a running one and writes its provisioning file, and
//! the inspection commands (`cli`) look at and act on a running one.

#![allow(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

mod cli;

use clap::{Args, Parser, Subcommand};
use cli::{Connect, Failure, Output};
use iotcs_core::Error;
use iotcs_server::{DeviceRegistration, DeviceState, Server, ServerConfig};

/// What `--help` shows above the generated option list.
const USAGE: &str = "\
iotcs-server serve --data-dir DIR [--listen 127.0.0.1:7443] [--models DIR]
                          [--admin-password P] [--ephemeral]
                          [--storage-host HOST] [--storage-quota BYTES]
       iotcs-server provision --data-dir DIR --hardware-id ID --passphrase P --out FILE
                          [--gateway] [--icd HWID:SECRET ...] [--secret S] [--name N]
                          [--server URL] [--admin-password P] [--reset]
       iotcs-server devices --data-dir DIR [--json]
       iotcs-server messages --data-dir DIR [--device HWID] [--follow] [--json]
       iotcs-server set --data-dir DIR HWID ATTR=VALUE [--wait SECS]
       iotcs-server invoke --data-dir DIR HWID ACTION [ARG] [--wait SECS]
       iotcs-server faults --data-dir DIR list|add|clear|expire-tokens
       iotcs-server reset --data-dir DIR HWID";

const AFTER_HELP: &str = "\
Logging: RUST_LOG=debug (one line per request), RUST_LOG=info (default); protocol
dumps and credentials are never logged.";

/// The local Oracle IoT Cloud Service, its provisioning tool and its inspection commands.
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
    /// and prints 'iotcs-server listening on https://HOST:PORT'. The web
    /// console is https://HOST:PORT/console (user admin, the admin password).
    /// Stop it with Ctrl-C.
    Serve(ServeArgs),
    /// Registers a device and writes its provisioning file.
    ///
    /// The running server's URL, CA and admin password are read from DIR;
    /// the provisioning file (a unified trusted assets store encrypted with
    /// the passphrase) goes to FILE.
    Provision(ProvisionArgs),
    /// Lists the devices of a running server.
    Devices {
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        output: Output,
    },
    /// Prints the messages a running server received and sent, oldest first.
    Messages {
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        args: cli::MessagesArgs,
    },
    /// Sets a writable attribute of a device and prints the request's fate.
    Set {
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        args: cli::SetArgs,
    },
    /// Invokes an action of a device and prints the request's fate.
    Invoke {
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        args: cli::InvokeArgs,
    },
    /// Lists, adds or clears the faults injected into the device API.
    Faults {
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        output: Output,
        #[command(subcommand)]
        command: cli::FaultsCommand,
    },
    /// Deletes a device so its hardware id can be provisioned again.
    Reset {
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        output: Output,
        /// The device's hardware id.
        hardware_id: String,
    },
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
    #[command(flatten)]
    connect: Connect,
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
    /// If the hardware id is already activated, delete that device and
    /// register it anew (its old provisioning file stops working).
    #[arg(long)]
    reset: bool,
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
        Command::Devices { connect, output } => cli::devices(&connect, &output),
        Command::Messages {
            connect,
            output,
            args,
        } => cli::messages(&connect, &output, &args),
        Command::Set {
            connect,
            output,
            args,
        } => cli::set(&connect, &output, &args),
        Command::Invoke {
            connect,
            output,
            args,
        } => cli::invoke(&connect, &output, &args),
        Command::Faults {
            connect,
            output,
            command,
        } => cli::faults(&connect, &output, &command),
        Command::Reset {
            connect,
            output,
            hardware_id,
        } => cli::reset(&connect, &output, &hardware_id),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `error: …` then `  caused by: …` lines, as the examples print.
            eprintln!("iotcs-server: error: {e}");
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

fn provision(o: ProvisionArgs) -> Result<(), Failure> {
    let hardware_id = o.hardware_id;
    let passphrase = o.passphrase;
    let out = o.out;
    let admin = cli::connect(&o.connect)?;
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
    let existing = admin.device_by_hardware_id(&hardware_id)?;
    if let Some(d) = existing.filter(|d| d.state() == DeviceState::Activated) {
        // Its file could never work: activation happens once per device.
        if !o.reset {
            return Err(Failure(format!(
                "{hardware_id} is already activated (endpoint {}), so a new provisioning file \
                 could not activate it; add --reset to delete it and register it anew",
                d.id()
            )));
        }
        let deleted = admin.delete_device(d.id())?;
        eprintln!(
            "iotcs-server: deleted {} to register it anew",
            deleted.join(", ")
        );
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
