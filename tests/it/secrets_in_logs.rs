//! No secret reaches the log at any level. A child process (this test binary
//! again, with [`CHILD`] set and `RUST_LOG=trace`) sets its logger up the way
//! the examples do (`iotcs::logging::init`), starts a local cloud, runs a
//! directly-connected device, a gateway with an indirectly-connected device
//! and the admin client, and prints every secret of the run on stdout. The
//! parent reads the child's stderr (everything logged, ureq's and rustls's
//! own trace output included) and searches it for each secret: as text, hex
//! and base64, and inside ureq's hex dumps of the traffic (16 bytes a row,
//! `504f 5354 202f ... POST /...`), which it decodes back to bytes.

#![allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]
#![allow(
    clippy::print_stdout,
    reason = "the child reports the run's secrets to the parent on stdout"
)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iotcs_core::__private::crypto::RsaKeyPair;
use iotcs_core::__private::crypto::jwt::{client_assertion_hs256, client_assertion_rs256};
use iotcs_core::__private::encoding::{base64_encode, base64url_encode, hex_encode};
use iotcs_core::message::MessageType;
use iotcs_core::{TrustedAssets, TrustedAssetsStore};
use iotcs_device::{Config, DirectlyConnectedDevice};
use iotcs_gateway::{GatewayDevice, Registration};
use iotcs_server::{AdminClient, DeviceRegistration, MessageFilter, Server, ServerConfig};
use tempfile::TempDir;

use crate::util::{PATIENCE, THERMOSTAT, durable_config};

/// Set in the child.
const CHILD: &str = "IOTCS_SECRETS_IN_LOGS_CHILD";

/// The passphrase of the run's stores: long enough that a full 16-byte row of
/// a hex dump lies inside it wherever it falls.
const PASSPHRASE: &str = "logs-test-passphrase-Zq7Kp2Wx9Lm4Rt8V";

/// The indirectly-connected device's shared secret, in the gateway's file.
const ICD_SECRET: &[u8] = b"icd-shared-secret-Lm4Rt8Vb3Nc6Hj5Qw1";

/// How long the child may take in all.
const CHILD_PATIENCE: Duration = Duration::from_secs(120);

/// Assertions are signed for `now + 15 min`; the child computes every one
/// its devices could have signed in the run, give or take this many seconds.
const EXP_SLACK_SECS: i64 = 30;

/// Wire forms that carry a credential: none may appear in decoded traffic.
const WIRE_MARKERS: &[&str] = &["Bearer ", "Basic ", "access_token", "client_assertion="];

#[test]
fn no_secret_reaches_the_log_at_trace_level() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let (stdout, log) = run_child();
    let secrets: Vec<(String, Vec<u8>)> = stdout
        .lines()
        // libtest's `test ... ` may precede the first one on its line.
        .filter_map(|l| l.split_once("SECRET ").map(|(_, s)| s))
        .map(|l| {
            let (label, hex) = l.split_once(' ').unwrap();
            (
                label.to_owned(),
                iotcs_core::__private::encoding::hex_decode(hex).unwrap(),
            )
        })
        .collect();
    // The search can only fail if it has secrets to look for and a trace log
    // to look in.
    for label in [
        "passphrase",
        "admin-password",
        "admin-basic",
        "device-shared-secret",
        "gateway-shared-secret",
        "icd-shared-secret",
        "device-private-key",
        "gateway-private-key",
        "access-token",
        "client-assertion",
        "jwt-header",
    ] {
        assert!(
            secrets.iter().any(|(l, _)| l == label),
            "the child reported no {label} among {} secrets",
            secrets.len()
        );
    }
    assert!(
        log.contains(" TRACE iotcs::device::sender] sending"),
        "the child did not log at trace level (the sender's trace is missing)"
    );
    assert!(
        log.lines().any(|l| l
            .contains(" DEBUG iotcs::device::transport] POST /iot/api/v2/messages -> 20")
            && l.contains(" B sent, ")
            && l.ends_with(" ms")),
        "no protocol line (method, path, status, bytes, ms) under the iotcs target"
    );
    assert!(
        log.lines().any(|l| l.contains(" ureq::")),
        "ureq's own log records are missing: the child's logging is not the examples' path"
    );

    let dump = HexDump::parse(&log);
    let found = search(&secrets, &log, &dump);
    assert!(
        found.is_empty(),
        "secrets in a log at trace level ({} hex dump rows, {} bytes of log):\n{}",
        dump.rows.len(),
        log.len(),
        found.join("\n")
    );
}

/// Where each secret, in each of its [`forms`], shows in `log` or `dump`.
fn search(secrets: &[(String, Vec<u8>)], log: &str, dump: &HexDump) -> Vec<String> {
    let mut found = Vec::new();
    for (label, secret) in secrets {
        for (form, bytes) in forms(secret) {
            if contains(log.as_bytes(), &bytes) {
                found.push(format!("{label} ({form}) in the log text"));
            }
            if contains(&dump.stream, &bytes) {
                found.push(format!("{label} ({form}) in ureq's hex dump"));
            }
            if bytes.len() >= 16
                && let Some(row) = dump.rows.iter().find(|row| contains(&bytes, row))
            {
                found.push(format!(
                    "{label} ({form}): hex dump row {:?} lies inside it",
                    String::from_utf8_lossy(row)
                ));
            }
        }
    }
    for marker in WIRE_MARKERS {
        if contains(&dump.stream, marker.as_bytes()) {
            found.push(format!("{marker:?} in ureq's hex dump"));
        }
    }
    found
}

/// Runs the child; returns its stdout and stderr.
fn run_child() -> (String, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "secrets_in_logs::no_secret_reaches_the_log_at_trace_level",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("RUST_LOG", "trace")
        .env_remove("RUST_LOG_STYLE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes while the child runs, or a full pipe stalls it.
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = wait_within(&mut child, CHILD_PATIENCE);
    let stdout = String::from_utf8(stdout.join().unwrap()).unwrap();
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        panic!(
            "the child failed ({status}):\n{stdout}\n... last lines of its log:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    (stdout, stderr)
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).unwrap();
        bytes
    })
}

fn wait_within(child: &mut Child, patience: Duration) -> std::process::ExitStatus {
    crate::util::wait_for_exit(child, patience, "the child")
}

/// The forms a secret can take in a log: as is, hex, base64, and each of
/// those as the list of decimal bytes that `{:?}` of a byte slice prints
/// (sled's trace output shows stored records that way).
fn forms(secret: &[u8]) -> Vec<(String, Vec<u8>)> {
    let hex = hex_encode(secret);
    let plain = [
        ("raw", secret.to_vec()),
        ("hex", hex.to_ascii_lowercase().into_bytes()),
        ("HEX", hex.to_ascii_uppercase().into_bytes()),
        ("base64", base64_encode(secret).into_bytes()),
        ("base64url", base64url_encode(secret).into_bytes()),
    ];
    let mut forms = Vec::new();
    for (name, bytes) in plain {
        let listed = format!("{bytes:?}");
        let listed = listed.trim_start_matches('[').trim_end_matches(']');
        forms.push((
            format!("{name} as decimal bytes"),
            listed.as_bytes().to_vec(),
        ));
        forms.push((name.to_owned(), bytes));
    }
    forms
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return false;
    }
    // `str::contains` is much faster than comparing every window.
    match (std::str::from_utf8(haystack), std::str::from_utf8(needle)) {
        (Ok(h), Ok(n)) => h.contains(n),
        _ => haystack.windows(needle.len()).any(|w| w == needle),
    }
}

/// The bytes of ureq's hex dumps (`ureq_proto::util`, one record per 16
/// bytes: eight groups of four hex digits, `--` past the end, then the
/// printable characters).
struct HexDump {
    /// Every full row, decoded.
    rows: Vec<Vec<u8>>,
    /// All rows in log order (rows of concurrent connections interleave).
    stream: Vec<u8>,
}

impl HexDump {
    fn parse(log: &str) -> HexDump {
        let mut dump = HexDump {
            rows: Vec::new(),
            stream: Vec::new(),
        };
        for line in log.lines() {
            let message = line.split_once("] ").map_or(line, |(_, m)| m);
            let Some(row) = parse_row(message) else {
                continue;
            };
            dump.stream.extend_from_slice(&row);
            if row.len() == 16 {
                dump.rows.push(row);
            }
        }
        dump
    }
}

fn parse_row(message: &str) -> Option<Vec<u8>> {
    let b = message.as_bytes();
    if b.len() < 41 || !(0..8).all(|g| b[g * 5 + 4] == b' ') || b[40] != b' ' {
        return None;
    }
    let mut row = Vec::with_capacity(16);
    for i in 0..16 {
        let at = (i / 2) * 5 + (i % 2) * 2;
        let pair = &message[at..at + 2];
        if pair == "--" {
            continue;
        }
        row.push(u8::from_str_radix(pair, 16).ok()?);
    }
    Some(row)
}

/// The child: the whole story at trace level, then the secrets on stdout.
fn child() {
    iotcs::logging::init("warn");
    let started = now_secs();
    let dir = TempDir::with_prefix("it-secrets-in-logs").unwrap();
    // Stores on disk on both sides, so sled's own trace output is in the log.
    let server =
        Server::start(ServerConfig::for_tests().data_dir(dir.path().join("cloud"))).unwrap();
    let admin = server.admin().unwrap();
    let mut tokens = Vec::new();

    // A directly-connected device: activation, a token, a message.
    let device_store = provision(&admin, &DeviceRegistration::new("secrets-device"), &dir);
    let mut device = DirectlyConnectedDevice::open_with_config(
        &device_store,
        PASSPHRASE,
        durable(&dir, "device"),
    )
    .unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    vd.set("temp", 21.5).unwrap();
    wait_for_data(&admin, &endpoint);
    tokens.extend(server.issued_tokens());
    device.close().unwrap();

    // A gateway registering an indirectly-connected device with its secret.
    let registration = DeviceRegistration::new("secrets-gateway")
        .gateway(true)
        .icd("secrets-icd", Some(ICD_SECRET));
    let gateway_store = provision(&admin, &registration, &dir);
    let mut gateway =
        GatewayDevice::open_with_config(&gateway_store, PASSPHRASE, durable(&dir, "gateway"))
            .unwrap();
    gateway.activate(&[]).unwrap();
    let icd = gateway
        .register_device(Registration::new("secrets-icd", &[THERMOSTAT]))
        .unwrap();
    let model = gateway.device_model(THERMOSTAT).unwrap().unwrap();
    let icd_vd = gateway.create_virtual_device(&icd, &model).unwrap();
    icd_vd.set("temp", 22.5).unwrap();
    wait_for_data(&admin, &icd);
    tokens.extend(server.issued_tokens());
    gateway.close().unwrap();
    let ended = now_secs();

    let secret = |label: &str, bytes: &[u8]| println!("SECRET {label} {}", hex_encode(bytes));
    secret("passphrase", PASSPHRASE.as_bytes());
    secret("admin-password", server.admin_password().as_bytes());
    let basic = base64_encode(format!("admin:{}", server.admin_password()).as_bytes());
    secret("admin-basic", basic.as_bytes());
    for token in &tokens {
        secret("access-token", token.as_bytes());
    }
    for alg in ["HS256", "RS256"] {
        let header = format!(r#"{{"typ":"JWT","alg":"{alg}"}}"#);
        secret("jwt-header", base64url_encode(header.as_bytes()).as_bytes());
    }
    let exps = started + 900 - EXP_SLACK_SECS..=ended + 900 + EXP_SLACK_SECS;
    for (name, store) in [("device", &device_store), ("gateway", &gateway_store)] {
        let assets = TrustedAssetsStore::open(store, PASSPHRASE).unwrap();
        let assets = assets.assets();
        secret(&format!("{name}-shared-secret"), assets.shared_secret());
        let key = assets.private_key().unwrap();
        secret(&format!("{name}-private-key"), key);
        for assertion in assertions(assets, exps.clone()) {
            secret("client-assertion", assertion.as_bytes());
        }
        for icd in assets.icds() {
            secret("icd-shared-secret", icd.secret());
        }
    }
    server.shutdown().unwrap();
}

/// Every client assertion a device with `assets` signs for an `exp` in
/// `exps`: HS256 with its shared secret before activation, RS256 with its
/// key after.
fn assertions(assets: &TrustedAssets, exps: std::ops::RangeInclusive<i64>) -> Vec<String> {
    let key = RsaKeyPair::from_pkcs8(assets.private_key().unwrap()).unwrap();
    let endpoint = assets.endpoint_id().unwrap();
    exps.flat_map(|exp| {
        [
            client_assertion_hs256(assets.client_id(), assets.shared_secret(), exp),
            client_assertion_rs256(endpoint, &key, exp).unwrap(),
        ]
    })
    .collect()
}

fn provision(
    admin: &AdminClient,
    registration: &DeviceRegistration,
    dir: &TempDir,
) -> std::path::PathBuf {
    let (device, file) = admin.provision(registration, PASSPHRASE).unwrap();
    let path = dir.path().join(format!("{}.tas", device.hardware_id()));
    write_private(&path, &file);
    path
}

fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn durable(dir: &TempDir, name: &str) -> Config {
    durable_config(&dir.path().join(format!("{name}.db")))
}

fn wait_for_data(admin: &AdminClient, endpoint: &str) {
    let filter = MessageFilter::new()
        .device(endpoint)
        .message_type(MessageType::Data);
    admin.wait_for_messages(&filter, 1, PATIENCE).unwrap();
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
