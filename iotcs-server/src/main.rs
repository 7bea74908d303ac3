//! The `iotcs-server` command: `serve` runs the local cloud, `provision`
//! registers a device on a running one and writes its provisioning file.

#![allow(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::path::PathBuf;
use std::process::ExitCode;

use iotcs_core::Error;
use iotcs_server::{AdminClient, DeviceRegistration, Server, ServerConfig};

const USAGE: &str = "\
usage: iotcs-server serve --data-dir DIR [--listen 127.0.0.1:7443] [--models DIR]
                          [--admin-password P] [--ephemeral]
       iotcs-server provision --data-dir DIR --hardware-id ID --passphrase P --out FILE
                          [--gateway] [--icd HWID:SECRET ...] [--secret S] [--name N]
                          [--server URL] [--admin-password P]

serve      runs the local IoT Cloud Service over TLS. On first start it creates a CA and a
           server certificate (DIR/ca.pem, DIR/server.pem) and an admin password
           (DIR/admin-password); it writes DIR/server.json with its URL and prints
           'iotcs-server listening on https://HOST:PORT'. Stop it with Ctrl-C.
             --listen ADDR       address to listen on (port 0 picks a free one)
             --models DIR        also load every *.json device model in DIR
             --admin-password P  admin password instead of DIR/admin-password
             --ephemeral         keep devices and messages in memory only
provision  registers a device on the running server (URL, CA and admin password read
           from DIR) and writes its provisioning file (a unified trusted assets store
           encrypted with the passphrase) to FILE.
             --gateway           register a gateway
             --icd HWID:SECRET   (gateway) pre-register an indirectly-connected device
                                 whose secret goes into the gateway's file; repeatable
             --secret S          the device's shared secret (default: generated)
             --server URL        override the URL from DIR/server.json

Logging: RUST_LOG=debug (one line per request), RUST_LOG=info (default); protocol
dumps and credentials are never logged.";

fn main() -> ExitCode {
    let env = env_logger::Env::default().default_filter_or("info");
    let logger = env_logger::Builder::from_env(env)
        .format_timestamp_millis()
        .build();
    // Wrapped so that protocol dumps and credentials (`provision` sends the
    // admin password and a passphrase) never reach the log.
    let max_level = logger.filter();
    iotcs_core::logging::install(logger, max_level).expect("main installs the only logger");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => Options::parse(&args[1..]).and_then(serve),
        Some("provision") => Options::parse(&args[1..]).and_then(provision),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(Usage(format!("unknown command {other:?}"))),
        None => Err(Usage("a command is required".to_owned())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Usage(msg)) if msg.is_empty() => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(Usage(msg)) => {
            eprintln!("iotcs-server: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failed(msg)) => {
            eprintln!("iotcs-server: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command did not succeed.
enum Failure {
    /// Bad arguments (exit 2, with the usage); empty for `--help`.
    Usage(String),
    /// The command failed (exit 1).
    Failed(String),
}

use Failure::{Failed, Usage};

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failed(e.to_string())
    }
}

#[derive(Default)]
struct Options {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    models: Option<PathBuf>,
    admin_password: Option<String>,
    ephemeral: bool,
    hardware_id: Option<String>,
    gateway: bool,
    icds: Vec<(String, String)>,
    secret: Option<String>,
    name: Option<String>,
    passphrase: Option<String>,
    out: Option<PathBuf>,
    server: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, Failure> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = || -> Result<String, Failure> {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| Usage(format!("{flag} needs a value")))
            };
            match flag {
                "-h" | "--help" => return Err(Usage(String::new())),
                "--data-dir" => o.data_dir = Some(value()?.into()),
                "--listen" => o.listen = Some(value()?),
                "--models" => o.models = Some(value()?.into()),
                "--admin-password" => o.admin_password = Some(value()?),
                "--ephemeral" => o.ephemeral = true,
                "--hardware-id" => o.hardware_id = Some(value()?),
                "--gateway" => o.gateway = true,
                "--icd" => {
                    let v = value()?;
                    let (hw, secret) = v
                        .split_once(':')
                        .filter(|(h, s)| !h.is_empty() && !s.is_empty())
                        .ok_or_else(|| Usage(format!("--icd wants HWID:SECRET, got {v:?}")))?;
                    o.icds.push((hw.to_owned(), secret.to_owned()));
                }
                "--secret" => o.secret = Some(value()?),
                "--name" => o.name = Some(value()?),
                "--passphrase" => o.passphrase = Some(value()?),
                "--out" => o.out = Some(value()?.into()),
                "--server" => o.server = Some(value()?),
                other => return Err(Usage(format!("unknown option {other:?}"))),
            }
        }
        Ok(o)
    }
}

fn required<T>(v: Option<T>, flag: &str) -> Result<T, Failure> {
    v.ok_or_else(|| Usage(format!("{flag} is required")))
}

fn serve(o: Options) -> Result<(), Failure> {
    let dir = required(o.data_dir, "--data-dir")?;
    let mut config = ServerConfig::default().data_dir(dir).ephemeral(o.ephemeral);
    if let Some(listen) = o.listen {
        let addr = listen
            .parse()
            .map_err(|_| Usage(format!("--listen {listen:?} is not HOST:PORT")))?;
        config = config.listen(addr);
    }
    if let Some(models) = o.models {
        config = config.models_dir(models);
    }
    if let Some(p) = o.admin_password {
        config = config.admin_password(p);
    }
    let server = Server::start(config)?;
    println!("iotcs-server listening on {}", server.url());
    server.wait_for_signal()?;
    server.shutdown()?;
    Ok(())
}

fn read(path: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| {
        Failed(format!(
            "cannot read {}: {e} (has `iotcs-server serve --data-dir` run there?)",
            path.display()
        ))
    })
}

fn provision(o: Options) -> Result<(), Failure> {
    let dir = required(o.data_dir, "--data-dir")?;
    let hardware_id = required(o.hardware_id, "--hardware-id")?;
    let passphrase = required(o.passphrase, "--passphrase")?;
    let out = required(o.out, "--out")?;
    if !o.icds.is_empty() && !o.gateway {
        return Err(Usage("--icd needs --gateway".to_owned()));
    }
    let url = match o.server {
        Some(url) => url,
        None => {
            let info: serde_json::Value = serde_json::from_str(&read(&dir.join("server.json"))?)
                .map_err(|e| {
                    Failed(format!(
                        "{} is not JSON: {e}",
                        dir.join("server.json").display()
                    ))
                })?;
            info["url"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Failed("server.json has no url".to_owned()))?
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
    for (hw, secret) in &o.icds {
        registration = registration.icd(hw, Some(secret.as_bytes()));
    }
    let device = match admin.register_device(&registration) {
        Ok(d) => d,
        Err(Error::Transport { status: 409, .. }) => {
            let existing = admin.device_by_hardware_id(&hardware_id)?;
            let d =
                existing.ok_or_else(|| Failed(format!("hardware id {hardware_id:?} conflicts")))?;
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
    let fail = |e: std::io::Error| Failed(format!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut f = options.open(path).map_err(fail)?;
    f.write_all(bytes).map_err(fail)
}
