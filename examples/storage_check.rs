//! Storage objects across libraries: the conformance step
//! (`scripts/oracle-js-conformance.sh`) runs it beside Oracle's JavaScript
//! library against the local cloud.
//!
//! ```text
//! cargo run --example storage_check -- --config FILE --passphrase P --model URN
//!     [--proxy URL] [--download URL --out FILE] [--upload FILE --name NAME]
//!     Opens (and if needed activates with the model) the device of that
//!     provisioning file; downloads the storage object at URL to FILE;
//!     uploads FILE as the storage object NAME; prints one JSON line per
//!     result ({"event":"downloaded",...}, {"event":"uploaded","uri":...}).
//! ```
//!
//! `--proxy` is `[media_storage] proxy`: the storage service's URLs name a
//! host under `storage.oraclecloud.com`, as Oracle's libraries require, and
//! the conformance step reaches it through an HTTP CONNECT proxy that maps
//! that name to the local cloud (no `/etc/hosts` edit, no root).

#![allow(
    clippy::print_stdout,
    reason = "an example reports to its user on stdout"
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use iotcs::{Config, DirectlyConnectedDevice, Error, StorageObject, SyncStatus};
use lexopt::Arg::{Long, Short};

mod cli;

const HELP: &str = "\
Storage objects across libraries: downloads a storage object by its URL
and/or uploads a file as a storage object, printing one JSON line each.

usage: storage_check --config FILE --passphrase P --model URN [--proxy URL]
                     [--download URL --out FILE] [--upload FILE --name NAME]

  --config FILE     the device's provisioning file (required)
  --passphrase P    its passphrase (required)
  --model URN       the model to activate with, one with a URI attribute
  --proxy URL       [media_storage] proxy, e.g. http://127.0.0.1:3128/
  --download URL    a storage object to download ...
  --out FILE        ... into this file
  --upload FILE     a file to upload ...
  --name NAME       ... as this storage object
  -h, --help        print this help
";

/// How long one transfer may take before the example gives up.
const PATIENCE: Duration = Duration::from_secs(60);

/// The command line.
#[derive(Debug, Default)]
struct Options {
    store: PathBuf,
    passphrase: String,
    model: String,
    proxy: Option<String>,
    download: Option<(String, PathBuf)>,
    upload: Option<(PathBuf, String)>,
}

impl Options {
    fn parse(parser: &mut lexopt::Parser) -> Result<cli::Command<Options>, lexopt::Error> {
        let (mut store, mut passphrase, mut model) = (None, None, None);
        let (mut proxy, mut url, mut out, mut file, mut name) = (None, None, None, None, None);
        let text = |p: &mut lexopt::Parser, flag: &str| cli::value(p, flag, "text", |_| true);
        while let Some(arg) = parser.next()? {
            match arg {
                Short('h') | Long("help") => return Ok(cli::Command::Help),
                Long("config") => store = Some(PathBuf::from(parser.value()?)),
                Long("passphrase") => passphrase = Some(text(parser, "--passphrase")?),
                Long("model") => model = Some(text(parser, "--model")?),
                Long("proxy") => proxy = Some(text(parser, "--proxy")?),
                Long("download") => url = Some(text(parser, "--download")?),
                Long("out") => out = Some(PathBuf::from(parser.value()?)),
                Long("upload") => file = Some(PathBuf::from(parser.value()?)),
                Long("name") => name = Some(text(parser, "--name")?),
                _ => return Err(arg.unexpected()),
            }
        }
        let (Some(store), Some(passphrase), Some(model)) = (store, passphrase, model) else {
            return Err("--config, --passphrase and --model are required".into());
        };
        let download = match (url, out) {
            (Some(url), Some(out)) => Some((url, out)),
            (None, None) => None,
            _ => return Err("--download and --out go together".into()),
        };
        let upload = match (file, name) {
            (Some(file), Some(name)) => Some((file, name)),
            (None, None) => None,
            _ => return Err("--upload and --name go together".into()),
        };
        Ok(cli::Command::Run(Options {
            store,
            passphrase,
            model,
            proxy,
            download,
            upload,
        }))
    }
}

fn main() -> ExitCode {
    iotcs::logging::init("warn");
    cli::run("storage_check", HELP, Options::parse, run)
}

/// Syncs `object` and waits for the outcome.
fn sync(object: &StorageObject) -> Result<(), Error> {
    let (tx, rx) = mpsc::channel();
    object.on_sync(move |e| {
        let _ = tx.send(e.source().sync_status());
    });
    object.sync()?;
    match rx.recv_timeout(PATIENCE) {
        Ok(SyncStatus::InSync) => Ok(()),
        Ok(status) => Err(Error::state(format!(
            "the sync of {} ended {status:?}",
            object.uri()
        ))),
        Err(_) => Err(Error::Timeout {
            operation: format!("syncing {}", object.uri()),
        }),
    }
}

fn run(options: Options) -> Result<(), Error> {
    let mut config = Config::default();
    config.media_storage.proxy = options.proxy;
    let mut device =
        DirectlyConnectedDevice::open_with_config(&options.store, &options.passphrase, config)?;
    if !device.is_activated() {
        device.activate(&[options.model.as_str()])?;
    }
    let endpoint = device.endpoint_id().unwrap_or_default().to_owned();
    let model = device
        .device_model(&options.model)?
        .ok_or_else(|| Error::model(&options.model, "the cloud does not know this model"))?;
    let vd = device.create_virtual_device(&endpoint, &model)?;
    if let Some((url, out)) = &options.download {
        let object = vd
            .storage_object(url)?
            .ok_or_else(|| Error::argument(format!("{url} is not a storage object")))?;
        object.set_output_path(Some(out))?;
        sync(&object)?;
        let line = serde_json::json!({"event": "downloaded", "uri": url,
            "length": object.length(), "contentType": object.content_type()});
        println!("{line}");
    }
    if let Some((file, name)) = &options.upload {
        let object = device.create_storage_object(name, Some("application/octet-stream"))?;
        object.set_input_path(Some(file))?;
        sync(&object)?;
        let line = serde_json::json!({"event": "uploaded", "uri": object.uri(),
            "name": object.name(), "length": object.length()});
        println!("{line}");
    }
    device.close()
}
