//! Conformance with the reference's config module: every section and key it
//! lists is documented in `iotcs.ini` with its default, and is read into the
//! field of [`Config`] that carries its name.
//!
//! The key list is copied from the reference (Oracle's Python library,
//! `iotcs.config`), so a key dropped from the parser or the file fails here.

use std::path::PathBuf;
use std::time::Duration;

use super::{Config, NetworkCost};
use crate::message::Reliability;

/// The documented default file, pinned to `Config::default()`.
const DEFAULT_INI: &str = include_str!("../../../iotcs.ini");

/// Section, key, a non-default value, and the change that value must make to
/// `Config::default()`.
type KeyCase = (&'static str, &'static str, &'static str, fn(&mut Config));

/// One [`KeyCase`]: `case!(section, key, value => field.path = new value)`.
macro_rules! case {
    ($section:literal, $key:literal, $value:literal => $($field:ident).+ = $new:expr) => {
        ($section, $key, $value, |c: &mut Config| c.$($field).+ = $new)
    };
}

/// Every key of the reference's config module, in its order.
pub(super) const EVERY_KEY: [KeyCase; 42] = [
    case!("device_model", "device_model_store", "/var/lib/iotcs/models"
        => device_model.device_model_store = Some(PathBuf::from("/var/lib/iotcs/models"))),
    case!("device_model", "prefix", "model-" => device_model.prefix = "model-".into()),
    case!("device_model", "suffix", ".dm" => device_model.suffix = ".dm".into()),
    case!("device_model", "allow_draft_device_models", "True"
        => device_model.allow_draft_device_models = true),
    case!("rest_api", "use_webapi", "True" => rest_api.use_webapi = true),
    case!("device_messaging", "request_buffer_size", "8192"
        => device_messaging.request_buffer_size = 8192),
    case!("device_messaging", "disable_long_polling", "True"
        => device_messaging.disable_long_polling = true),
    case!("device_messaging", "request_dispatcher_thread_pool_size", "4"
        => device_messaging.request_dispatcher_thread_pool_size = 4),
    case!("device_messaging", "dispatcher_max_queue_size", "5"
        => device_messaging.dispatcher_max_queue_size = 5),
    case!("device_messaging", "dispatcher_max_messages_per_connection", "7"
        => device_messaging.dispatcher_max_messages_per_connection = 7),
    case!("device_messaging", "dispatcher_polling_interval", "1500"
        => device_messaging.dispatcher_polling_interval = Duration::from_millis(1500)),
    case!("device_messaging", "long_polling_timeout_offset", "250"
        => device_messaging.long_polling_timeout_offset = Duration::from_millis(250)),
    case!("device_messaging", "send_receive_timeout", "0"
        => device_messaging.send_receive_timeout = Duration::ZERO),
    case!("device_messaging", "http_response_timeout", "30000"
        => device_messaging.http_response_timeout = Duration::from_secs(30)),
    case!("device_messaging", "dispatcher_basic_number_of_retries", "5"
        => device_messaging.dispatcher_basic_number_of_retries = 5),
    case!("device_messaging", "dispatcher_settle_time", "2000"
        => device_messaging.dispatcher_settle_time = Duration::from_secs(2)),
    case!("device_messaging", "access_token_max_retries", "9"
        => device_messaging.access_token_max_retries = 9),
    case!("device_messaging", "message_queue_waittime", "30"
        => device_messaging.message_queue_waittime = Duration::from_secs(30)),
    case!("device_messaging", "message_dispatcher_backoff", "250"
        => device_messaging.message_dispatcher_backoff = Duration::from_millis(250)),
    case!("device_messaging", "data_message_reliability", "GUARANTEED_DELIVERY"
        => device_messaging.data_message_reliability = Reliability::GuaranteedDelivery),
    case!("device_messaging", "alert_message_reliability", "NO_GUARANTEE"
        => device_messaging.alert_message_reliability = Reliability::NoGuarantee),
    case!("diagnostics", "client_version", "1.2.3"
        => diagnostics.client_version = "1.2.3".into()),
    case!("diagnostics", "client_ip_address", "192.168.1.10"
        => diagnostics.client_ip_address = Some("192.168.1.10".into())),
    case!("diagnostics", "client_mac_address", "00:11:22:33:44:55"
        => diagnostics.client_mac_address = Some("00:11:22:33:44:55".into())),
    case!("diagnostics", "client_paths", "/:/tmp"
        => diagnostics.client_paths = vec![PathBuf::from("/"), PathBuf::from("/tmp")]),
    case!("enterprise_messaging", "message_polling_interval", "500"
        => enterprise_messaging.message_polling_interval = Duration::from_millis(500)),
    case!("enterprise_messaging", "message_polling_limit", "150"
        => enterprise_messaging.message_polling_limit = 150),
    case!("enterprise_messaging", "message_refill_count", "25"
        => enterprise_messaging.message_refill_count = 25),
    case!("logging", "pretty_print_messages", "True" => logging.pretty_print_messages = true),
    case!("http", "http_connection_timeout", "30"
        => http.http_connection_timeout = Some(Duration::from_secs(30))),
    case!("http", "http_read_timeout", "1.5"
        => http.http_read_timeout = Some(Duration::from_millis(1500))),
    case!("http", "proxy", "https://proxyserver.com:9090/"
        => http.proxy = Some("https://proxyserver.com:9090/".into())),
    case!("http", "proxy_auth", "userid:password"
        => http.proxy_auth = Some("userid:password".into())),
    case!("media_storage", "disable_storage_object_prefix", "True"
        => media_storage.disable_storage_object_prefix = true),
    case!("media_storage", "storage_connection_host_name", "objects.example.com"
        => media_storage.storage_connection_host_name = "objects.example.com".into()),
    case!("media_storage", "storage_connection_retry_limit", "5"
        => media_storage.storage_connection_retry_limit = 5),
    case!("media_storage", "proxy", "http://proxy.example:3128/"
        => media_storage.proxy = Some("http://proxy.example:3128/".into())),
    case!("device_policy", "network_cost", "SATELLITE"
        => device_policy.network_cost = NetworkCost::Satellite),
    case!("message_persistence", "db_name", "/var/lib/iotcs/m.db"
        => message_persistence.db_name = PathBuf::from("/var/lib/iotcs/m.db")),
    case!("message_persistence", "enabled", "False" => message_persistence.enabled = false),
    case!("batchby_persistence", "db_name", "other/b.db"
        => batchby_persistence.db_name = PathBuf::from("other/b.db")),
    case!("batchby_persistence", "enabled", "False" => batchby_persistence.enabled = false),
];

/// Keys iotcs adds beyond the reference, each documented in the file like
/// the reference's own and read into its field. Keep this list short: every
/// entry is a knob Oracle's libraries do not have.
const EXTENSION_KEYS: [KeyCase; 5] = [
    case!("message_persistence", "max_messages", "500"
        => message_persistence.max_messages = 500),
    case!("message_persistence", "sync_interval", "250"
        => message_persistence.sync_interval = Duration::from_millis(250)),
    case!("device_messaging", "request_callback_timeout", "2500"
        => device_messaging.request_callback_timeout = Duration::from_millis(2500)),
    case!("media_storage", "max_concurrent_transfers", "4"
        => media_storage.max_concurrent_transfers = 4),
    case!("device_messaging", "dispatcher_batch_wait", "0"
        => device_messaging.dispatcher_batch_wait = Duration::ZERO),
];

/// The keys the reference leaves commented out, and so must the file.
const COMMENTED_OUT: [(&str, &str); 5] = [
    ("diagnostics", "client_ip_address"),
    ("diagnostics", "client_mac_address"),
    ("http", "proxy"),
    ("http", "proxy_auth"),
    ("media_storage", "proxy"),
];

/// One `key=value` line of the file, live or behind a `#`.
#[derive(Debug)]
struct DocumentedKey {
    section: String,
    key: String,
    commented_out: bool,
    /// The line above, which must be the key's one-line comment.
    comment: String,
}

fn documented_keys(text: &str) -> Vec<DocumentedKey> {
    let mut section = String::new();
    let mut previous = "";
    let mut keys = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[') {
            section = name.trim_end_matches(']').to_owned();
        } else if let Some((key, _)) = line.split_once('=') {
            let key_text = key.trim_start_matches('#').trim();
            // Prose in comments may contain '='; a key is one word.
            if !key_text.contains(' ') {
                keys.push(DocumentedKey {
                    section: section.clone(),
                    key: key_text.to_owned(),
                    commented_out: key.starts_with('#'),
                    comment: previous.to_owned(),
                });
            }
        }
        previous = line;
    }
    keys
}

#[test]
fn the_documented_ini_file_is_exactly_the_default() {
    let (config, warnings) = Config::parse(DEFAULT_INI).unwrap();
    assert_eq!(config, Config::default());
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn the_ini_file_documents_every_key_of_the_reference() {
    let documented = documented_keys(DEFAULT_INI);
    for &(section, key, _, _) in EVERY_KEY.iter().chain(&EXTENSION_KEYS) {
        let Some(found) = documented
            .iter()
            .find(|d| d.section == section && d.key == key)
        else {
            panic!("iotcs.ini lacks [{section}] {key}");
        };
        let commented_out = COMMENTED_OUT.contains(&(section, key));
        assert_eq!(
            found.commented_out, commented_out,
            "[{section}] {key} commented out"
        );
        assert!(
            found.comment.starts_with("# "),
            "[{section}] {key} has no comment"
        );
        assert!(found.comment.contains("Default: "), "{found:?}");
    }
    assert_eq!(
        documented.len(),
        EVERY_KEY.len() + EXTENSION_KEYS.len(),
        "{documented:?}"
    );
}

#[test]
fn every_key_sets_its_own_field() {
    for &(section, key, value, change) in EVERY_KEY.iter().chain(&EXTENSION_KEYS) {
        let mut expected = Config::default();
        change(&mut expected);
        assert_ne!(
            expected,
            Config::default(),
            "[{section}] {key}: value is a default"
        );
        let text = format!("[{section}]\n{key}={value}\n");
        let (config, warnings) = Config::parse(&text).unwrap();
        assert_eq!(config, expected, "[{section}] {key} = {value}");
        let unknown = warnings.iter().filter(|w| w.reason.contains("unknown"));
        assert_eq!(unknown.count(), 0, "{warnings:?}");
    }
}

#[test]
fn all_keys_together_make_all_changes() {
    let mut expected = Config::default();
    let mut text = String::new();
    for (section, key, value, change) in EVERY_KEY {
        change(&mut expected);
        text.push_str(&format!("[{section}]\n{key} = {value}\n"));
    }
    let (config, warnings) = Config::parse(&text).unwrap();
    assert_eq!(config, expected);
    assert!(warnings.is_empty(), "{warnings:?}");
}
