//! The library's tunable parameters: the reference's `iotcs.ini`, parsed once
//! into one typed [`Config`].
//!
//! `Config::default()` equals the reference's defaults, except where a field's
//! docs say why it cannot (`[message_persistence] db_name` and `[device_model]
//! device_model_store`: a device's state lives beside its provisioning file,
//! not under `HOME`), and the documented `iotcs.ini` at the repository root
//! parses to exactly that (a test pins it).
//! Each section of the file is one field of [`Config`], each key one field of
//! that section's struct, named as in the file.
//!
//! What the parser does with a line it cannot use depends on whether the
//! library could go on safely:
//! - an unknown section or key, a key outside any section, or a value the
//!   reference itself adjusts (a thread pool below 1, a polling limit outside
//!   10..=200, a back-off below 100 ms) is a [`ConfigWarning`]: it is logged
//!   with `log::warn!`, returned by [`Config::parse`], and the rest of the file
//!   still counts;
//! - a value that does not fit its key (`dispatcher_max_queue_size = lots`), a
//!   key set twice in a section, or text that is not ini is an
//!   [`Error::Config`] naming the section, the key and the value.
//!
//! Only [`Config::load`] and [`BatchByPersistenceConfig::db_path_from_env`]
//! touch the file system or the environment; everything else works on strings
//! and values. (The message store's path depends on the device, so
//! `iotcs_device` resolves it.)

mod parse;
mod sections;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::Error;
pub use sections::{
    BatchByPersistenceConfig, DeviceMessagingConfig, DeviceModelConfig, DevicePolicyConfig,
    DiagnosticsConfig, EnterpriseMessagingConfig, HttpConfig, LoggingConfig, MediaStorageConfig,
    MessagePersistenceConfig, NetworkCost, RestApiConfig,
};

/// Every tunable parameter of the library, one field per `iotcs.ini` section.
///
/// Build one with [`Config::default`] (the reference's defaults), from ini text
/// with [`Config::from_ini_str`] or [`Config::parse`], from a file with
/// [`Config::load`], or with [`Config::for_tests`]; then adjust fields
/// directly. Values set in code are not checked against the ini rules (such as
/// the 100 ms least back-off): code is trusted to mean what it says.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `[device_model]`: the local model store and draft models.
    pub device_model: DeviceModelConfig,
    /// `[rest_api]`: which server API family to use.
    pub rest_api: RestApiConfig,
    /// `[device_messaging]`: the outgoing queue, dispatcher and polling.
    pub device_messaging: DeviceMessagingConfig,
    /// `[diagnostics]`: what the diagnostics capability reports.
    pub diagnostics: DiagnosticsConfig,
    /// `[enterprise_messaging]`: the enterprise message poller.
    pub enterprise_messaging: EnterpriseMessagingConfig,
    /// `[logging]`: how logged messages look.
    pub logging: LoggingConfig,
    /// `[http]`: timeouts and proxy of the server connection.
    pub http: HttpConfig,
    /// `[media_storage]`: the storage service for URI attributes.
    pub media_storage: MediaStorageConfig,
    /// `[device_policy]`: inputs of device policy functions.
    pub device_policy: DevicePolicyConfig,
    /// `[message_persistence]`: the store of guaranteed-delivery messages.
    pub message_persistence: MessagePersistenceConfig,
    /// `[batchby_persistence]`: the store of data held by batching policies.
    pub batchby_persistence: BatchByPersistenceConfig,
}

impl Config {
    /// Parses `iotcs.ini` text; see [`Config::parse`] for the rules. Warnings
    /// are logged and otherwise dropped.
    ///
    /// # Errors
    ///
    /// As [`Config::parse`].
    pub fn from_ini_str(text: &str) -> Result<Config, Error> {
        Config::parse(text).map(|(config, _)| config)
    }

    /// Parses `iotcs.ini` text into a [`Config`] and the warnings about lines
    /// that were ignored or adjusted (each also logged with `log::warn!`).
    ///
    /// Keys and sections left out keep their defaults. Keys are matched
    /// ignoring ASCII case, section names exactly, as Python's `configparser`
    /// (which the reference uses) does; `=` or `:` separates key and value,
    /// with optional spaces around it; quotes and backslashes are kept as
    /// written. Booleans are `True`/`False`, `yes`/`no`, `on`/`off` or `1`/`0`
    /// in any case. An empty value of an optional key (`proxy=`) leaves it
    /// unset.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the section, key and value (a proxy password
    /// shown as `<redacted>`) when a value does not fit its key, a key is set
    /// twice in one section, or the text is not ini; for a syntax error the key
    /// is empty and the value is the offending line.
    pub fn parse(text: &str) -> Result<(Config, Vec<ConfigWarning>), Error> {
        parse::parse(text)
    }

    /// Reads and parses an `iotcs.ini` file, as [`Config::from_ini_str`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file when it cannot be read (including when it
    /// is not UTF-8), else as [`Config::parse`].
    pub fn load(path: impl AsRef<Path>) -> Result<Config, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Config::from_ini_str(&text).map_err(|e| in_file(e, path, &text))
    }

    /// A configuration for tests: tiny queues so overflow paths run, short
    /// intervals so tests finish quickly, and persistence off so a test that
    /// does not care writes no store (a test of persistence sets `enabled`,
    /// and its store goes beside its provisioning file, or to an absolute
    /// `db_name` in its own temporary directory).
    ///
    /// Differences from [`Config::default`]:
    /// - `device_messaging`: `dispatcher_max_queue_size` 100,
    ///   `dispatcher_max_messages_per_connection` 10,
    ///   `dispatcher_polling_interval` 50 ms, `long_polling_timeout_offset`
    ///   50 ms, `send_receive_timeout` 10 ms, `http_response_timeout` 2 s,
    ///   `dispatcher_settle_time` 100 ms, `message_queue_waittime` 1 s,
    ///   `message_dispatcher_backoff` 100 ms;
    /// - `enterprise_messaging`: `message_polling_interval` 50 ms;
    /// - `http`: `http_connection_timeout` 2 s (the read timeout still defers
    ///   to the server, which holds long polls);
    /// - `message_persistence` and `batchby_persistence`: `enabled` false.
    pub fn for_tests() -> Config {
        let mut config = Config::default();
        let messaging = &mut config.device_messaging;
        messaging.dispatcher_max_queue_size = 100;
        messaging.dispatcher_max_messages_per_connection = 10;
        messaging.dispatcher_polling_interval = Duration::from_millis(50);
        messaging.long_polling_timeout_offset = Duration::from_millis(50);
        messaging.send_receive_timeout = Duration::from_millis(10);
        messaging.http_response_timeout = Duration::from_secs(2);
        messaging.dispatcher_settle_time = Duration::from_millis(100);
        messaging.message_queue_waittime = Duration::from_secs(1);
        messaging.message_dispatcher_backoff = Duration::from_millis(100);
        config.enterprise_messaging.message_polling_interval = Duration::from_millis(50);
        config.http.http_connection_timeout = Some(Duration::from_secs(2));
        config.message_persistence.enabled = false;
        config.batchby_persistence.enabled = false;
        config
    }
}

/// A line of `iotcs.ini` that was ignored or whose value was adjusted, as
/// returned by [`Config::parse`] (and logged with `log::warn!`).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct ConfigWarning {
    /// The section as written; empty for keys before the first section header.
    pub section: String,
    /// The key, lower-cased; `None` when the warning is about a whole section.
    pub key: Option<String>,
    /// The value as written when the warning is about the value (a proxy
    /// password shown as `<redacted>`); `None` for unknown keys and sections,
    /// whose values are not repeated in case they hold a secret.
    pub value: Option<String>,
    /// What was ignored or adjusted, and why.
    pub reason: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config [{}]", self.section)?;
        if let Some(key) = &self.key {
            write!(f, " {key}")?;
        }
        if let Some(value) = &self.value {
            write!(f, " = {value:?}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

// The conformance table of every reference key is long enough to be its own file.
#[cfg(test)]
mod reference_tests;

/// Adds where an [`Error::Config`] comes from to its reason: the file,
/// and the line of the key when the error is about one.
fn in_file(e: Error, path: &Path, text: &str) -> Error {
    let Error::Config {
        section,
        key,
        value,
        reason,
    } = e
    else {
        return e;
    };
    let place = match line_of(text, &section, &key) {
        Some(line) => format!("{}, line {line}", path.display()),
        None => path.display().to_string(),
    };
    Error::Config {
        section,
        key,
        value,
        reason: format!("{reason} (in {place})"),
    }
}

/// The 1-based line that sets `key` in `[section]` of `text`, if any.
fn line_of(text: &str, section: &str, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    let mut current = "";
    // The last: a key set twice is refused at its second line.
    let mut found = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            current = header.split(']').next().unwrap_or("").trim();
        } else if current == section
            && let Some((name, _)) = line.split_once(['=', ':'])
            && name.trim().eq_ignore_ascii_case(key)
        {
            found = Some(index + 1);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse_one(section: &str, key: &str, value: &str) -> Result<Config, Error> {
        Config::from_ini_str(&format!("[{section}]\n{key}={value}\n"))
    }

    fn assert_config_error(err: Error, section: &str, key: &str, value: &str) {
        let text = err.to_string();
        match err {
            Error::Config {
                section: s,
                key: k,
                value: v,
                reason,
            } => {
                assert_eq!((s.as_str(), k.as_str()), (section, key), "{text}");
                if key != "proxy_auth" {
                    assert_eq!(v, value, "{text}");
                }
                assert!(!reason.is_empty(), "{text}");
                assert!(!text.ends_with('.'), "{text}");
            }
            other => panic!("[{section}] {key} = {value:?}: unexpected error {other:?}"),
        }
    }

    #[test]
    fn every_bad_value_is_an_error_naming_section_key_and_value() {
        let cases = [
            ("device_model", "allow_draft_device_models", "maybe"),
            ("rest_api", "use_webapi", "2"),
            ("device_messaging", "request_buffer_size", "-1"),
            ("device_messaging", "disable_long_polling", "nope"),
            (
                "device_messaging",
                "request_dispatcher_thread_pool_size",
                "two",
            ),
            ("device_messaging", "dispatcher_max_queue_size", "0"),
            ("device_messaging", "dispatcher_max_queue_size", "lots"),
            (
                "device_messaging",
                "dispatcher_max_messages_per_connection",
                "0",
            ),
            ("device_messaging", "dispatcher_batch_wait", "2.5"),
            ("device_messaging", "dispatcher_polling_interval", "3s"),
            ("device_messaging", "long_polling_timeout_offset", "-100"),
            ("device_messaging", "send_receive_timeout", "1.5"),
            ("device_messaging", "http_response_timeout", ""),
            (
                "device_messaging",
                "dispatcher_basic_number_of_retries",
                "-1",
            ),
            ("device_messaging", "dispatcher_settle_time", "x"),
            ("device_messaging", "access_token_max_retries", "many"),
            ("device_messaging", "message_queue_waittime", "10.5"),
            ("device_messaging", "message_dispatcher_backoff", "fast"),
            ("device_messaging", "data_message_reliability", "SOMETIMES"),
            (
                "device_messaging",
                "alert_message_reliability",
                "best effort",
            ),
            ("diagnostics", "client_ip_address", "999.1.1.1"),
            ("diagnostics", "client_paths", "/a::/b"),
            ("enterprise_messaging", "message_polling_interval", "-5"),
            ("enterprise_messaging", "message_polling_limit", "ten"),
            ("enterprise_messaging", "message_refill_count", "0"),
            ("logging", "pretty_print_messages", "pretty"),
            ("http", "http_connection_timeout", "-2"),
            ("http", "http_read_timeout", "later"),
            ("http", "proxy", "https://proxyserver.com:9090"),
            ("http", "proxy_auth", "nocolon"),
            ("media_storage", "storage_connection_host_name", ""),
            ("media_storage", "storage_connection_retry_limit", "-1"),
            ("media_storage", "proxy", "proxyserver.com:9090/"),
            ("media_storage", "max_concurrent_transfers", "0"),
            ("media_storage", "max_concurrent_transfers", "17"),
            ("device_policy", "network_cost", "WIFI"),
            ("message_persistence", "enabled", "perhaps"),
            ("message_persistence", "max_messages", "0"),
            ("message_persistence", "sync_interval", "-5"),
            ("batchby_persistence", "db_name", ""),
            ("batchby_persistence", "enabled", "2"),
        ];
        for (section, key, value) in cases {
            let err = parse_one(section, key, value).unwrap_err();
            assert_config_error(err, section, key, value);
        }
    }

    #[test]
    fn the_millisecond_error_says_what_was_expected() {
        let err = parse_one("device_messaging", "dispatcher_settle_time", "10s").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config [device_messaging] dispatcher_settle_time = \"10s\": \
             expected a whole number of milliseconds"
        );
    }

    #[test]
    fn unknown_sections_and_keys_are_warnings_and_the_rest_still_counts() {
        let text = "stray=1\n[mqtt]\nhost=x\nport=1\n[logging]\npretty=1\n\
                    pretty_print_messages=True\n";
        let (config, warnings) = Config::parse(text).unwrap();
        assert!(config.logging.pretty_print_messages);
        let named: Vec<_> = warnings
            .iter()
            .map(|w| (w.section.as_str(), w.key.as_deref()))
            .collect();
        assert_eq!(
            named,
            [
                ("", Some("stray")),
                ("mqtt", None),
                ("logging", Some("pretty"))
            ]
        );
        assert!(warnings.iter().all(|w| w.value.is_none()), "{warnings:?}");
        assert_eq!(
            warnings[1].to_string(),
            "config [mqtt]: unknown section, ignored"
        );
        assert_eq!(
            warnings[2].to_string(),
            "config [logging] pretty: unknown key, ignored"
        );
    }

    #[test]
    fn section_names_are_case_sensitive_and_keys_are_not() {
        let (config, warnings) =
            Config::parse("[device_messaging]\nDISPATCHER_MAX_QUEUE_SIZE=5\n[Logging]\nx=1\n")
                .unwrap();
        assert_eq!(config.device_messaging.dispatcher_max_queue_size, 5);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].section, "Logging");
    }

    #[test]
    fn spaces_and_tabs_around_the_separator_are_ignored() {
        for line in [
            "dispatcher_basic_number_of_retries = 7",
            "dispatcher_basic_number_of_retries=7",
            "dispatcher_basic_number_of_retries =7",
            "dispatcher_basic_number_of_retries= 7",
            "dispatcher_basic_number_of_retries\t=\t7  ",
            "dispatcher_basic_number_of_retries: 7",
        ] {
            let config = Config::from_ini_str(&format!("[device_messaging]\n{line}\n")).unwrap();
            assert_eq!(
                config.device_messaging.dispatcher_basic_number_of_retries, 7,
                "{line:?}"
            );
        }
    }

    #[test]
    fn windows_line_endings_parse() {
        let text = "[logging]\r\npretty_print_messages=yes\r\n[rest_api]\r\nuse_webapi=1\r\n";
        let config = Config::from_ini_str(text).unwrap();
        assert!(config.logging.pretty_print_messages);
        assert!(config.rest_api.use_webapi);
    }

    #[test]
    fn booleans_parse_in_every_spelling() {
        for (text, expected) in [
            ("True", true),
            ("true", true),
            ("TRUE", true),
            ("yes", true),
            ("on", true),
            ("1", true),
            ("False", false),
            ("false", false),
            ("no", false),
            ("OFF", false),
            ("0", false),
        ] {
            let config = parse_one("message_persistence", "enabled", text).unwrap();
            assert_eq!(config.message_persistence.enabled, expected, "{text}");
        }
    }

    #[test]
    fn adjusted_values_are_warnings_with_the_adjusted_result() {
        /// Section, key, value, how to read the field, the adjusted value.
        type AdjustCase = (
            &'static str,
            &'static str,
            &'static str,
            fn(&Config) -> u64,
            u64,
        );
        let cases: [AdjustCase; 6] = [
            (
                "device_messaging",
                "request_dispatcher_thread_pool_size",
                "0",
                pool,
                1,
            ),
            (
                "device_messaging",
                "request_dispatcher_thread_pool_size",
                "-3",
                pool,
                1,
            ),
            (
                "enterprise_messaging",
                "message_polling_limit",
                "5",
                limit,
                10,
            ),
            (
                "enterprise_messaging",
                "message_polling_limit",
                "500",
                limit,
                200,
            ),
            (
                "device_messaging",
                "message_dispatcher_backoff",
                "50",
                backoff,
                100,
            ),
            (
                "device_messaging",
                "message_dispatcher_backoff",
                "0",
                backoff,
                100,
            ),
        ];
        fn pool(c: &Config) -> u64 {
            c.device_messaging.request_dispatcher_thread_pool_size as u64
        }
        fn limit(c: &Config) -> u64 {
            c.enterprise_messaging.message_polling_limit.into()
        }
        fn backoff(c: &Config) -> u64 {
            c.device_messaging.message_dispatcher_backoff.as_millis() as u64
        }
        for (section, key, value, read, expected) in cases {
            let (config, warnings) =
                Config::parse(&format!("[{section}]\n{key}={value}\n")).unwrap();
            assert_eq!(read(&config), expected, "{key} = {value}");
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert_eq!(warnings[0].key.as_deref(), Some(key));
            assert_eq!(warnings[0].value.as_deref(), Some(value));
        }
        for (section, key, value) in [
            ("enterprise_messaging", "message_polling_limit", "10"),
            ("enterprise_messaging", "message_polling_limit", "200"),
            ("device_messaging", "message_dispatcher_backoff", "100"),
            (
                "device_messaging",
                "request_dispatcher_thread_pool_size",
                "1",
            ),
        ] {
            let (_, warnings) = Config::parse(&format!("[{section}]\n{key}={value}\n")).unwrap();
            assert!(warnings.is_empty(), "{key} = {value}: {warnings:?}");
        }
    }

    #[test]
    fn an_ip_address_without_a_mac_address_is_a_warning() {
        let (config, warnings) =
            Config::parse("[diagnostics]\nclient_ip_address=10.0.0.2\n").unwrap();
        assert_eq!(
            config.diagnostics.client_ip_address.as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].reason.contains("client_mac_address"),
            "{warnings:?}"
        );
        let (_, warnings) = Config::parse(
            "[diagnostics]\nclient_ip_address=::1\nclient_mac_address=02:00:00:00:00:01\n",
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn empty_optional_values_stay_unset() {
        let text = "[http]\nproxy=\nproxy_auth=\n[media_storage]\nproxy=\n\
                    [diagnostics]\nclient_ip_address=\nclient_mac_address=\n";
        let (config, warnings) = Config::parse(text).unwrap();
        assert_eq!(config, Config::default());
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn a_key_set_twice_is_an_error() {
        let text = "[http]\nhttp_read_timeout=5\n[http]\nHTTP_READ_TIMEOUT=6\n";
        let err = Config::from_ini_str(text).unwrap_err();
        assert_config_error(err, "http", "http_read_timeout", "6");
    }

    #[test]
    fn a_line_without_a_separator_is_an_error() {
        let err = Config::from_ini_str("[logging]\npretty_print_messages\nx=1\n").unwrap_err();
        assert_config_error(err, "logging", "pretty_print_messages", "");
        let err = Config::from_ini_str("[logging]\npretty_print_messages").unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
    }

    #[test]
    fn quotes_and_hashes_are_kept_as_written_like_configparser() {
        let config =
            Config::from_ini_str("[device_model]\nprefix=\"dm-\"\nsuffix=.json # model\n").unwrap();
        assert_eq!(config.device_model.prefix, "\"dm-\"");
        assert_eq!(config.device_model.suffix, ".json # model");
    }

    #[test]
    fn load_reads_a_file_and_names_it_when_it_cannot() {
        let dir = std::env::temp_dir().join(format!(
            "iotcs-config-{}",
            crate::random::uuid_v4().unwrap()
        ));
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("iotcs.ini");
        std::fs::write(&path, "[device_policy]\nnetwork_cost=cellular\n").unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.device_policy.network_cost, NetworkCost::Cellular);

        std::fs::write(
            &path,
            "[http]\n\n[device_messaging]\n\ndispatcher_max_queue_size = lots\n",
        )
        .unwrap();
        let err = Config::load(&path).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("config [device_messaging] dispatcher_max_queue_size = \"lots\": "),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("(in {}, line 5)", path.display())),
            "{text}"
        );

        std::fs::write(&path, "[http] # proxy\nproxy=x\n").unwrap();
        let text = Config::load(&path).unwrap_err().to_string();
        assert!(
            text.contains("not valid ini at line 1: a section header"),
            "{text}"
        );
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(!text.contains("expecting"), "no parser internals: {text}");

        std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
        let err = Config::load(&path).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: Some(p), .. } if p == &path),
            "{err:?}"
        );

        let missing = dir.join("missing.ini");
        let err = Config::load(&missing).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: Some(p), .. } if p == &missing),
            "{err:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_test_config_is_small_fast_and_writes_nothing() {
        let config = Config::for_tests();
        let messaging = &config.device_messaging;
        assert_eq!(messaging.dispatcher_max_queue_size, 100);
        assert_eq!(messaging.dispatcher_max_messages_per_connection, 10);
        assert_eq!(
            messaging.dispatcher_polling_interval,
            Duration::from_millis(50)
        );
        assert_eq!(
            messaging.message_dispatcher_backoff,
            Duration::from_millis(100)
        );
        assert!(!config.message_persistence.enabled);
        assert!(!config.batchby_persistence.enabled);
        assert_eq!(config.http.http_read_timeout, None);
    }

    /// Lines that look like `iotcs.ini`, so the parser's deeper paths run.
    fn ini_line() -> impl Strategy<Value = String> {
        let section = prop::sample::select(parse::SECTIONS.to_vec()).prop_map(|s| format!("[{s}]"));
        let key = prop::sample::select(
            reference_tests::EVERY_KEY
                .iter()
                .map(|(_, k, _, _)| *k)
                .collect::<Vec<_>>(),
        );
        let assignment = (key, "[ \t]{0,2}[=:][ \t]{0,2}", "\\PC{0,12}")
            .prop_map(|(k, sep, v)| format!("{k}{sep}{v}"));
        prop_oneof![
            section,
            assignment,
            "\\PC{0,20}",
            "[#;\\[\\]=: \t\\\\\"'\r]{0,8}"
        ]
    }

    proptest! {
        #[test]
        fn no_text_makes_the_parser_panic(text in "\\PC*") {
            if let Err(err) = Config::parse(&text) {
                prop_assert!(matches!(err, Error::Config { .. }), "{err:?}");
            }
        }

        #[test]
        fn no_ini_like_text_makes_the_parser_panic(
            lines in prop::collection::vec(ini_line(), 0..24),
            newline in prop::sample::select(vec!["\n", "\r\n", "\r"]),
        ) {
            if let Err(err) = Config::parse(&lines.join(newline)) {
                prop_assert!(matches!(err, Error::Config { .. }), "{err:?}");
            }
        }

        #[test]
        fn any_positive_queue_size_round_trips(n in 1..=usize::MAX) {
            let config = parse_one("device_messaging", "dispatcher_max_queue_size", &n.to_string())
                .unwrap();
            prop_assert_eq!(config.device_messaging.dispatcher_max_queue_size, n);
        }
    }
}
