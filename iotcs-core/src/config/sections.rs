//! One struct per `iotcs.ini` section, each with the reference library's
//! defaults. The parser in `parse.rs` fills these in; nothing here reads a file.
//!
//! Every field names its ini key and the unit the ini file uses, because the
//! Rust type (`Duration`) hides the unit that a person editing the file needs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::message::Reliability;

/// `[device_model]`: where device models are cached and whether drafts are allowed.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct DeviceModelConfig {
    /// Directory that stores fetched device models so a restart need not fetch
    /// them again (and can start without the network). `None` (an empty
    /// value) stores them in the device's own state directory
    /// (`<provisioning file>.state/models`); the reference disables the store
    /// then, but a device that must boot offline needs its models.
    /// Key `device_model_store`, a path. Defaults to `None`.
    pub device_model_store: Option<PathBuf>,
    /// File-name prefix of models in the store.
    /// Key `prefix`, text. Defaults to `"dm-"`.
    pub prefix: String,
    /// File-name suffix of models in the store.
    /// Key `suffix`, text. Defaults to `".json"`.
    pub suffix: String,
    /// Lets a device activate although the server has no model for it; the
    /// server then creates an empty draft model, and setting attributes fails
    /// until the real model is provisioned.
    /// Key `allow_draft_device_models`, a boolean. Defaults to `false`.
    pub allow_draft_device_models: bool,
}

impl Default for DeviceModelConfig {
    fn default() -> Self {
        DeviceModelConfig {
            device_model_store: None,
            prefix: "dm-".to_owned(),
            suffix: ".json".to_owned(),
            allow_draft_device_models: false,
        }
    }
}

/// `[rest_api]`: which server API family to use.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct RestApiConfig {
    /// Use the IoT Cloud Service web REST API.
    /// Key `use_webapi`, a boolean. Defaults to `false`.
    pub use_webapi: bool,
}

/// `[device_messaging]`: the outgoing queue, the dispatcher and request polling
/// (protocol §5.1 and §8).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct DeviceMessagingConfig {
    /// Bytes of received but not yet handled request messages the client can
    /// hold; it sets the `acceptBytes` query parameter (protocol §5.1).
    /// Key `request_buffer_size`, in bytes. Defaults to 4192.
    pub request_buffer_size: usize,
    /// Turns long polling off, so requests are fetched by polling every
    /// [`dispatcher_polling_interval`](Self::dispatcher_polling_interval).
    /// Key `disable_long_polling`, a boolean. Defaults to `false`.
    pub disable_long_polling: bool,
    /// Threads that run request handlers in parallel. The ini parser raises
    /// values below 1 to 1 with a warning, as the reference does.
    /// Key `request_dispatcher_thread_pool_size`, a count. Defaults to 1.
    pub request_dispatcher_thread_pool_size: usize,
    /// Outgoing messages the dispatcher holds, queued or being sent (until
    /// delivered or given up); sending when it holds this many is an error
    /// after `message_queue_waittime`.
    /// Key `dispatcher_max_queue_size`, a count of at least 1. Defaults to 10000.
    pub dispatcher_max_queue_size: usize,
    /// Most outgoing messages sent in one POST.
    /// Key `dispatcher_max_messages_per_connection`, a count of at least 1.
    /// Defaults to 100.
    pub dispatcher_max_messages_per_connection: usize,
    /// How long the sender may wait for more messages when fewer than
    /// [`dispatcher_max_messages_per_connection`](Self::dispatcher_max_messages_per_connection)
    /// are queued, so that a slow producer's messages share a POST instead
    /// of costing one each. Counted from the first message's arrival, never
    /// restarted; a full batch, a RESPONSE to a cloud request, a `HIGHEST`
    /// priority message and `close` end it at once. Zero sends whatever is
    /// queued at once. Not in the reference, which sends at once.
    /// Key `dispatcher_batch_wait`, in milliseconds. Defaults to 3 ms.
    pub dispatcher_batch_wait: Duration,
    /// Time between polls that solicit queued requests when nothing was sent.
    /// Key `dispatcher_polling_interval`, in milliseconds (the reference's
    /// comment says seconds, but its value 3000 is milliseconds).
    /// Defaults to 3 s.
    pub dispatcher_polling_interval: Duration,
    /// Added to the application's receive timeout to get the transport timeout.
    /// Key `long_polling_timeout_offset`, in milliseconds. Defaults to 100 ms.
    pub long_polling_timeout_offset: Duration,
    /// Without long polling: the least time since the last send before an
    /// empty receive buffer makes `receive` poll the server; zero skips that
    /// poll. Larger values delay requests but cost less network traffic.
    /// Key `send_receive_timeout`, in milliseconds. Defaults to 100 ms.
    pub send_receive_timeout: Duration,
    /// Without long polling: how long to wait for the server to answer one
    /// HTTPS request.
    /// Key `http_response_timeout`, in milliseconds. Defaults to 15 s.
    pub http_response_timeout: Duration,
    /// Retry budget of a failed message before its error callback runs; the
    /// message's reliability scales it (protocol §8.4).
    /// Key `dispatcher_basic_number_of_retries`, a count. Defaults to 3.
    pub dispatcher_basic_number_of_retries: u32,
    /// How long requests that arrived before their handler was registered wait
    /// before they are dispatched.
    /// Key `dispatcher_settle_time`, in milliseconds. Defaults to 10 s.
    pub dispatcher_settle_time: Duration,
    /// Attempts at obtaining an access token before giving up.
    /// Key `access_token_max_retries`, a count. Defaults to 3.
    pub access_token_max_retries: u32,
    /// How long to wait for a message to arrive in the queue, or for space in
    /// a full queue.
    /// Key `message_queue_waittime`, in whole seconds. Defaults to 10 s.
    pub message_queue_waittime: Duration,
    /// Starting back-off after a 503; it grows while 503s continue (protocol
    /// §8.4). The ini parser raises values below 100 ms to 100 ms with a
    /// warning, following the reference's "not less than 100 milliseconds".
    /// Key `message_dispatcher_backoff`, in milliseconds. Defaults to 1 s.
    pub message_dispatcher_backoff: Duration,
    /// How long a request from the cloud waits for its user callback
    /// (`on_change`, `on_action`), counted from when the request reaches
    /// the callback pool: a request not answered by then is answered `503`
    /// (Service Unavailable) and the callback's late answer is dropped. At
    /// close, requests get at most half of the close timeout (10 s) whatever
    /// this says. Not in the reference, which waits forever.
    /// Key `request_callback_timeout`, in milliseconds; values below 100 are
    /// raised to 100 with a warning. Defaults to 10 s.
    pub request_callback_timeout: Duration,
    /// Reliability given to data messages that do not set one.
    /// Key `data_message_reliability`, one of `GUARANTEED_DELIVERY`,
    /// `BEST_EFFORT`, `NO_GUARANTEE`. Defaults to [`Reliability::BestEffort`].
    pub data_message_reliability: Reliability,
    /// Reliability given to alert messages that do not set one.
    /// Key `alert_message_reliability`, one of `GUARANTEED_DELIVERY`,
    /// `BEST_EFFORT`, `NO_GUARANTEE`. Defaults to
    /// [`Reliability::GuaranteedDelivery`].
    pub alert_message_reliability: Reliability,
}

impl Default for DeviceMessagingConfig {
    fn default() -> Self {
        DeviceMessagingConfig {
            request_buffer_size: 4192,
            disable_long_polling: false,
            request_dispatcher_thread_pool_size: 1,
            dispatcher_max_queue_size: 10_000,
            dispatcher_max_messages_per_connection: 100,
            dispatcher_batch_wait: Duration::from_millis(3),
            dispatcher_polling_interval: Duration::from_millis(3000),
            long_polling_timeout_offset: Duration::from_millis(100),
            send_receive_timeout: Duration::from_millis(100),
            http_response_timeout: Duration::from_millis(15_000),
            dispatcher_basic_number_of_retries: 3,
            dispatcher_settle_time: Duration::from_millis(10_000),
            access_token_max_retries: 3,
            message_queue_waittime: Duration::from_secs(10),
            message_dispatcher_backoff: Duration::from_millis(1000),
            request_callback_timeout: Duration::from_secs(10),
            data_message_reliability: Reliability::BestEffort,
            alert_message_reliability: Reliability::GuaranteedDelivery,
        }
    }
}

/// `[diagnostics]`: what the diagnostics capability reports (protocol §8.6).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct DiagnosticsConfig {
    /// Library version reported as `version`.
    /// Key `client_version`, text. Defaults to `"18.3.5"`, the reference's.
    pub client_version: String,
    /// Fixed IP address to report instead of a detected one. The reference
    /// assumes [`client_mac_address`](Self::client_mac_address) is set with it,
    /// so the parser warns when it is not.
    /// Key `client_ip_address`, an IPv4 or IPv6 address. Defaults to `None`.
    pub client_ip_address: Option<String>,
    /// MAC address to report.
    /// Key `client_mac_address`, text. Defaults to `None`.
    pub client_mac_address: Option<String>,
    /// Paths whose file systems' total and free space are reported.
    /// Key `client_paths`, colon-separated paths. Defaults to `["."]`.
    pub client_paths: Vec<PathBuf>,
}

impl Default for DiagnosticsConfig {
    fn default() -> Self {
        DiagnosticsConfig {
            client_version: "18.3.5".to_owned(),
            client_ip_address: None,
            client_mac_address: None,
            client_paths: vec![PathBuf::from(".")],
        }
    }
}

/// `[enterprise_messaging]`: the enterprise-side message poller and enumerator.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct EnterpriseMessagingConfig {
    /// Time between polls for messages by the message poller; it bounds how
    /// often a message listener can be called.
    /// Key `message_polling_interval`, in milliseconds. Defaults to 3 s.
    pub message_polling_interval: Duration,
    /// Most messages returned by one poll. The ini parser clamps it to
    /// 10..=200 with a warning, as the reference does.
    /// Key `message_polling_limit`, a count. Defaults to 10.
    pub message_polling_limit: u32,
    /// Messages per page fetched by the message enumerator.
    /// Key `message_refill_count`, a count of at least 1. Defaults to 10.
    pub message_refill_count: u32,
}

impl Default for EnterpriseMessagingConfig {
    fn default() -> Self {
        EnterpriseMessagingConfig {
            message_polling_interval: Duration::from_millis(3000),
            message_polling_limit: 10,
            message_refill_count: 10,
        }
    }
}

/// `[logging]`: how logged messages look.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct LoggingConfig {
    /// Pretty-print the JSON of logged messages instead of one compact line.
    /// Key `pretty_print_messages`, a boolean. Defaults to `false`: the
    /// reference's comment says true, but its file sets False, and the file
    /// is what a user of the reference gets.
    pub pretty_print_messages: bool,
}

/// `[http]`: timeouts and proxy of the connection to the server.
///
/// `Debug` shows [`proxy_auth`](Self::proxy_auth) with the password replaced,
/// so a logged configuration leaks no credentials.
#[derive(Clone, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Longest wait for a connection to the server; `None` defers to the
    /// server (the ini's -1 or 0).
    /// Key `http_connection_timeout`, in seconds (decimals allowed).
    /// Defaults to `None`.
    pub http_connection_timeout: Option<Duration>,
    /// Longest wait for the server's response. A long poll is held by the
    /// server (typically up to 10 minutes), so a value here must allow for
    /// that; `None` defers to the server (the ini's -1 or 0).
    /// Key `http_read_timeout`, in seconds (decimals allowed). Defaults to `None`.
    pub http_read_timeout: Option<Duration>,
    /// Proxy for all requests, `<scheme>://<host>[:<port>]/` with the trailing
    /// slash the reference requires; credentials go in
    /// [`proxy_auth`](Self::proxy_auth), not in the URL.
    /// Key `proxy`, a URL. Defaults to `None` (no proxy).
    pub proxy: Option<String>,
    /// User ID and password for basic proxy authentication, `user:password`.
    /// Key `proxy_auth`, text. Defaults to `None`.
    pub proxy_auth: Option<String>,
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep the user visible (it helps diagnose a wrong account) and hide
        // only the password.
        let proxy_auth = self
            .proxy_auth
            .as_deref()
            .map(|auth| match auth.split_once(':') {
                Some((user, _)) => format!("{user}:<redacted>"),
                // Without a colon the whole value may be the password.
                None => "<redacted>".to_owned(),
            });
        f.debug_struct("HttpConfig")
            .field("http_connection_timeout", &self.http_connection_timeout)
            .field("http_read_timeout", &self.http_read_timeout)
            .field("proxy", &self.proxy)
            .field("proxy_auth", &proxy_auth)
            .finish()
    }
}

/// `[media_storage]`: the storage cloud service for files attached to URI
/// attributes (protocol §9).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct MediaStorageConfig {
    /// Stop prefixing storage object names with the device's client ID and `/`.
    /// Key `disable_storage_object_prefix`, a boolean. Defaults to `false`.
    pub disable_storage_object_prefix: bool,
    /// Host name of the storage cloud service.
    /// Key `storage_connection_host_name`, a host name. Defaults to
    /// `"storage.oraclecloud.com"`.
    pub storage_connection_host_name: String,
    /// Attempts at one storage request before giving up.
    /// Key `storage_connection_retry_limit`, a count. Defaults to 2.
    pub storage_connection_retry_limit: u32,
    /// Proxy for media storage requests, in the same form as
    /// [`HttpConfig::proxy`].
    /// Key `proxy`, a URL. Defaults to `None` (no proxy).
    pub proxy: Option<String>,
    /// Most storage transfers (uploads and downloads) a device runs at once,
    /// each on its own transfer thread (an iotcs extension: the reference
    /// runs one); further syncs wait their turn in the order of `sync`.
    /// Key `max_concurrent_transfers`, a whole number from 1 to 16. Defaults
    /// to 1.
    pub max_concurrent_transfers: usize,
}

impl Default for MediaStorageConfig {
    fn default() -> Self {
        MediaStorageConfig {
            disable_storage_object_prefix: false,
            storage_connection_host_name: "storage.oraclecloud.com".to_owned(),
            storage_connection_retry_limit: 2,
            proxy: None,
            max_concurrent_transfers: 1,
        }
    }
}

/// `[device_policy]`: inputs of device policy functions (protocol §7).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct DevicePolicyConfig {
    /// Type of the connected network, read by the `batchByCost` function; an
    /// application may change it when the network changes.
    /// Key `network_cost`, one of `ETHERNET`, `CELLULAR`, `SATELLITE`.
    /// Defaults to [`NetworkCost::Ethernet`].
    pub network_cost: NetworkCost,
}

/// The type of connected network, cheapest first, as `batchByCost` compares
/// them: a policy batching "by cost" sends when the network is at most as
/// costly as its threshold.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
#[non_exhaustive]
pub enum NetworkCost {
    /// A wired network (`ETHERNET`), the cheapest.
    #[default]
    Ethernet,
    /// A mobile network (`CELLULAR`).
    Cellular,
    /// A satellite link (`SATELLITE`), the most costly.
    Satellite,
}

impl NetworkCost {
    /// The ini and policy spelling: `ETHERNET`, `CELLULAR` or `SATELLITE`.
    pub fn as_str(&self) -> &'static str {
        match self {
            NetworkCost::Ethernet => "ETHERNET",
            NetworkCost::Cellular => "CELLULAR",
            NetworkCost::Satellite => "SATELLITE",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s spelling, ignoring ASCII case and
    /// surrounding whitespace; `None` for anything else.
    pub fn parse(s: &str) -> Option<NetworkCost> {
        [
            NetworkCost::Ethernet,
            NetworkCost::Cellular,
            NetworkCost::Satellite,
        ]
        .into_iter()
        .find(|cost| cost.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for NetworkCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[message_persistence]`: the store of GUARANTEED_DELIVERY messages
/// (protocol §8.5).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct MessagePersistenceConfig {
    /// Database of persisted messages. Empty (the default): the device's
    /// own state directory, beside its provisioning file
    /// (`<provisioning file>.state/msps.db`), so two devices on one host
    /// never share it and no `HOME` is needed. An absolute path is used as
    /// written. A relative path is under the user's home directory as in the
    /// reference when `HOME` is set, else under the device's state
    /// directory. The device resolves it (`iotcs_device`'s crate docs,
    /// "Where state lives"); the reference's default, `iotcs/msps.db` under
    /// `HOME`, made every device of a host share one database and failed
    /// without `HOME`.
    /// Key `db_name`, a path. Defaults to empty.
    pub db_name: PathBuf,
    /// Persist messages so they survive a restart.
    /// Key `enabled`, a boolean. Defaults to `true`.
    pub enabled: bool,
    /// Most GUARANTEED_DELIVERY messages the store holds (an iotcs extension:
    /// the reference leaves the store unbounded). A send beyond it fails, the
    /// messages' error callbacks run and a `message_dispatcher:overflow` alert
    /// is sent; stored messages are never dropped to make room.
    /// Key `max_messages`, a whole number of messages, at least 1. Defaults to `100000`.
    pub max_messages: usize,
    /// When a GUARANTEED_DELIVERY message is synced to the disk (an iotcs
    /// extension). Zero: before `set`, `raise` or `submit` returns, so an
    /// acknowledged message survives a process kill and a power loss.
    /// Positive: the message reaches the operating system before the call
    /// returns (a process kill loses nothing) and one sync every this many
    /// milliseconds covers everything written since, for all producers: fewer
    /// syncs and much less flash wear, at the price of at most this many
    /// milliseconds of acknowledged messages lost on a power loss. `close`
    /// syncs before it returns.
    /// Key `sync_interval`, in milliseconds. Defaults to 0.
    pub sync_interval: Duration,
}

impl Default for MessagePersistenceConfig {
    fn default() -> Self {
        MessagePersistenceConfig {
            db_name: PathBuf::new(),
            enabled: true,
            max_messages: 100_000,
            sync_interval: Duration::ZERO,
        }
    }
}

/// `[batchby_persistence]`: the store of data held by `batchBy` device
/// policies, and of values offered while a device's policy is being
/// fetched.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct BatchByPersistenceConfig {
    /// Database of held policy data; a relative path is under the user's home
    /// directory (see [`db_path`](Self::db_path)).
    /// Key `db_name`, a path. Defaults to `iotcs/bbps.db`.
    pub db_name: PathBuf,
    /// Persist held policy data so it survives a restart. (The reference's
    /// listing is cut off before this key's value; `true` mirrors
    /// `[message_persistence]`, whose comment is identical.)
    /// Key `enabled`, a boolean. Defaults to `true`.
    pub enabled: bool,
}

impl Default for BatchByPersistenceConfig {
    fn default() -> Self {
        BatchByPersistenceConfig {
            db_name: PathBuf::from("iotcs/bbps.db"),
            enabled: true,
        }
    }
}

impl BatchByPersistenceConfig {
    /// The database path: [`db_name`](Self::db_name) if it is absolute, else
    /// `db_name` under `home`, as the reference resolves it against `$HOME`.
    pub fn db_path(&self, home: &Path) -> PathBuf {
        resolve_under(home, &self.db_name)
    }

    /// [`db_path`](Self::db_path) with `home` taken from the `HOME`
    /// environment variable, which is read only when `db_name` is relative.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) naming `[batchby_persistence]
    /// db_name` when `db_name` is relative and `HOME` is unset or empty.
    pub fn db_path_from_env(&self) -> Result<PathBuf, crate::Error> {
        resolve_from_env("batchby_persistence", &self.db_name)
    }
}

/// `Path::join` already keeps an absolute `name` as it is; the function exists
/// to state the rule in one place.
fn resolve_under(home: &Path, name: &Path) -> PathBuf {
    if name.is_absolute() {
        name.to_path_buf()
    } else {
        home.join(name)
    }
}

fn resolve_from_env(section: &str, name: &Path) -> Result<PathBuf, crate::Error> {
    if name.is_absolute() {
        return Ok(name.to_path_buf());
    }
    resolve_with_home(section, name, std::env::var_os("HOME"))
}

/// The environment-free part of `resolve_from_env`, so tests can cover an
/// unset `HOME` without mutating the process environment.
fn resolve_with_home(
    section: &str,
    name: &Path,
    home: Option<std::ffi::OsString>,
) -> Result<PathBuf, crate::Error> {
    match home {
        Some(home) if !home.is_empty() => Ok(resolve_under(Path::new(&home), name)),
        _ => Err(crate::Error::Config {
            section: section.to_owned(),
            key: "db_name".to_owned(),
            value: name.display().to_string(),
            reason: "a relative path is resolved under $HOME, which is not set".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_db_names_resolve_under_home() {
        let home = Path::new("/home/dev");
        assert_eq!(
            BatchByPersistenceConfig::default().db_path(home),
            PathBuf::from("/home/dev/iotcs/bbps.db")
        );
    }

    #[test]
    fn absolute_db_names_ignore_home() {
        let batches = BatchByPersistenceConfig {
            db_name: PathBuf::from("/var/lib/b.db"),
            enabled: false,
        };
        assert_eq!(
            batches.db_path(Path::new("/home/dev")),
            PathBuf::from("/var/lib/b.db")
        );
        assert_eq!(
            batches.db_path_from_env().unwrap(),
            PathBuf::from("/var/lib/b.db")
        );
    }

    #[test]
    fn a_relative_db_name_without_home_is_an_error_naming_the_key() {
        for home in [None, Some(std::ffi::OsString::new())] {
            let err = resolve_with_home("batchby_persistence", Path::new("iotcs/bbps.db"), home)
                .unwrap_err();
            match err {
                crate::Error::Config {
                    section,
                    key,
                    value,
                    reason,
                } => {
                    assert_eq!(section, "batchby_persistence");
                    assert_eq!(key, "db_name");
                    assert_eq!(value, "iotcs/bbps.db");
                    assert!(reason.contains("$HOME"), "{reason}");
                }
                other => panic!("unexpected error {other:?}"),
            }
        }
        let found = resolve_with_home("x", Path::new("a.db"), Some("/h".into())).unwrap();
        assert_eq!(found, PathBuf::from("/h/a.db"));
    }

    #[test]
    fn a_dot_relative_db_name_is_still_under_home() {
        let batches = BatchByPersistenceConfig {
            db_name: PathBuf::from("./b.db"),
            ..BatchByPersistenceConfig::default()
        };
        assert_eq!(batches.db_path(Path::new("/h")), PathBuf::from("/h/./b.db"));
    }

    #[test]
    fn the_message_store_is_per_device_by_default() {
        assert_eq!(
            MessagePersistenceConfig::default().db_name,
            PathBuf::new(),
            "empty: the device's state directory, not HOME"
        );
    }

    #[test]
    fn network_costs_parse_their_own_spelling_in_any_case() {
        for cost in [
            NetworkCost::Ethernet,
            NetworkCost::Cellular,
            NetworkCost::Satellite,
        ] {
            assert_eq!(NetworkCost::parse(cost.as_str()), Some(cost));
            assert_eq!(
                NetworkCost::parse(&cost.as_str().to_lowercase()),
                Some(cost)
            );
            assert_eq!(cost.to_string(), cost.as_str());
        }
        assert_eq!(NetworkCost::parse("WIFI"), None);
        assert!(NetworkCost::Ethernet < NetworkCost::Cellular);
        assert!(NetworkCost::Cellular < NetworkCost::Satellite);
    }

    #[test]
    fn debug_hides_the_proxy_password() {
        let http = HttpConfig {
            proxy_auth: Some("alice:s3cret".to_owned()),
            ..HttpConfig::default()
        };
        let text = format!("{http:?}");
        assert!(text.contains("alice:<redacted>"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        let http = HttpConfig {
            proxy_auth: Some("s3cret".to_owned()),
            ..HttpConfig::default()
        };
        assert!(!format!("{http:?}").contains("s3cret"));
    }
}
