//! From ini text to a typed [`Config`], in one pass: every value is converted
//! to its field's type here, so no other module sees the ini's strings.
//!
//! The text is read with rust-ini configured like Python's `configparser`,
//! which the reference library uses: no quote stripping and no backslash
//! escapes, `=` or `:` between key and value, comments only at the start of a
//! line. Keys are matched ignoring ASCII case (`configparser` lower-cases
//! them); section names are matched exactly, as `configparser` does.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ini::{Ini, ParseOption};

use super::sections::NetworkCost;
use super::{Config, ConfigWarning};
use crate::Error;
use crate::message::Reliability;

/// The sections of the reference's config module, in its order.
pub(super) const SECTIONS: [&str; 11] = [
    "device_model",
    "rest_api",
    "device_messaging",
    "diagnostics",
    "enterprise_messaging",
    "logging",
    "http",
    "media_storage",
    "device_policy",
    "message_persistence",
    "batchby_persistence",
];

/// Proxy schemes the HTTP client can use; anything else is a typo best caught
/// when the file is read rather than at the first request.
const PROXY_SCHEMES: [&str; 5] = ["http", "https", "socks4", "socks4a", "socks5"];

/// Longest excerpt of a file line quoted in a syntax error.
const MAX_QUOTED_LINE: usize = 80;

/// See [`Config::parse`].
pub(super) fn parse(text: &str) -> Result<(Config, Vec<ConfigWarning>), Error> {
    let options = ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..Default::default()
    };
    let ini = Ini::load_from_str_opt(text, options).map_err(|e| syntax_error(text, &e))?;

    let mut config = Config::default();
    let mut warnings = Vec::new();
    let mut seen_keys: HashSet<(&str, String)> = HashSet::new();
    let mut warned_sections: HashSet<&str> = HashSet::new();
    for (section, properties) in &ini {
        let Some(section) = section else {
            for (key, _) in properties.iter() {
                warn(
                    &mut warnings,
                    "",
                    Some(key),
                    None,
                    "key is outside any section, ignored",
                );
            }
            continue;
        };
        if section.contains(['\n', '\r']) {
            return Err(Error::Config {
                section: first_line(section).to_owned(),
                key: String::new(),
                value: String::new(),
                reason: "section header has no closing ']'".to_owned(),
            });
        }
        if !SECTIONS.contains(&section) {
            if warned_sections.insert(section) {
                warn(
                    &mut warnings,
                    section,
                    None,
                    None,
                    "unknown section, ignored",
                );
            }
            continue;
        }
        apply_section(
            &mut config,
            section,
            properties,
            &mut seen_keys,
            &mut warnings,
        )?;
    }
    check_together(&config, &mut warnings);
    Ok((config, warnings))
}

/// Sets the fields of one known section from its `properties`; `seen`
/// holds the (section, key) pairs the file set so far, to refuse a second.
fn apply_section<'s>(
    config: &mut Config,
    section: &'s str,
    properties: &ini::Properties,
    seen: &mut HashSet<(&'s str, String)>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), Error> {
    for (key, value) in properties.iter() {
        // rust-ini reads a line without a separator as the start of a key
        // that continues onto the next line; configparser rejects it.
        if key.contains(['\n', '\r']) {
            return Err(Error::Config {
                section: section.to_owned(),
                key: first_line(key).trim().to_owned(),
                value: String::new(),
                reason: "line has no '=' (expected key=value)".to_owned(),
            });
        }
        let key = key.to_ascii_lowercase();
        let field = Field {
            section,
            key: &key,
            value,
        };
        if !seen.insert((section, key.clone())) {
            return Err(field.error("key is set more than once in this section"));
        }
        if !apply(config, &field, warnings)? {
            warn(warnings, section, Some(&key), None, "unknown key, ignored");
        }
    }
    Ok(())
}

/// Warnings about values that are fine alone but not together.
fn check_together(config: &Config, warnings: &mut Vec<ConfigWarning>) {
    let diagnostics = &config.diagnostics;
    if diagnostics.client_ip_address.is_some() && diagnostics.client_mac_address.is_none() {
        warn(
            warnings,
            "diagnostics",
            Some("client_ip_address"),
            diagnostics.client_ip_address.as_deref(),
            "client_mac_address is not set; the reference assumes both are",
        );
    }
}

/// Sets the field that `field` names; `Ok(false)` when the key is unknown.
fn apply(c: &mut Config, f: &Field<'_>, warnings: &mut Vec<ConfigWarning>) -> Result<bool, Error> {
    match (f.section, f.key) {
        ("device_model", "device_model_store") => c.device_model.device_model_store = f.opt_path(),
        ("device_model", "prefix") => c.device_model.prefix = f.value.to_owned(),
        ("device_model", "suffix") => c.device_model.suffix = f.value.to_owned(),
        ("device_model", "allow_draft_device_models") => {
            c.device_model.allow_draft_device_models = f.boolean()?;
        }

        ("rest_api", "use_webapi") => c.rest_api.use_webapi = f.boolean()?,

        ("device_messaging", key) => return device_messaging(c, f, key, warnings),

        ("diagnostics", "client_version") => c.diagnostics.client_version = f.value.to_owned(),
        ("diagnostics", "client_ip_address") => c.diagnostics.client_ip_address = f.ip()?,
        ("diagnostics", "client_mac_address") => {
            c.diagnostics.client_mac_address = f.opt_text();
        }
        ("diagnostics", "client_paths") => c.diagnostics.client_paths = f.paths()?,

        ("enterprise_messaging", "message_polling_interval") => {
            c.enterprise_messaging.message_polling_interval = f.millis()?;
        }
        ("enterprise_messaging", "message_polling_limit") => {
            let limit = f.whole::<i64>("messages")?;
            let clamped = limit.clamp(10, 200);
            if clamped != limit {
                warnings.push(f.warning(format!(
                    "clamped to {clamped}: a poll returns 10 to 200 messages"
                )));
            }
            c.enterprise_messaging.message_polling_limit =
                u32::try_from(clamped).expect("clamped to 10..=200, which fits in u32");
        }
        ("enterprise_messaging", "message_refill_count") => {
            c.enterprise_messaging.message_refill_count = f.at_least_one("messages")?;
        }

        ("logging", "pretty_print_messages") => c.logging.pretty_print_messages = f.boolean()?,

        ("http", "http_connection_timeout") => c.http.http_connection_timeout = f.opt_seconds()?,
        ("http", "http_read_timeout") => c.http.http_read_timeout = f.opt_seconds()?,
        ("http", "proxy") => c.http.proxy = f.proxy()?,
        ("http", "proxy_auth") => c.http.proxy_auth = f.proxy_auth()?,

        ("media_storage", "disable_storage_object_prefix") => {
            c.media_storage.disable_storage_object_prefix = f.boolean()?;
        }
        ("media_storage", "storage_connection_host_name") => {
            if f.value.is_empty() || f.value.contains(char::is_whitespace) {
                return Err(f.error("expected a host name"));
            }
            c.media_storage.storage_connection_host_name = f.value.to_owned();
        }
        ("media_storage", "storage_connection_retry_limit") => {
            c.media_storage.storage_connection_retry_limit = f.whole("attempts")?;
        }
        ("media_storage", "proxy") => c.media_storage.proxy = f.proxy()?,
        ("media_storage", "max_concurrent_transfers") => {
            c.media_storage.max_concurrent_transfers = match f.value.parse::<usize>() {
                Ok(n @ 1..=16) => n,
                _ => return Err(f.error("expected a whole number of transfers from 1 to 16")),
            };
        }

        ("device_policy", "network_cost") => {
            c.device_policy.network_cost = NetworkCost::parse(f.value)
                .ok_or_else(|| f.error("expected one of ETHERNET, CELLULAR, SATELLITE"))?;
        }

        ("message_persistence", "db_name") => {
            // Empty is the default: the device's own state directory.
            c.message_persistence.db_name = f.opt_path().unwrap_or_default();
        }
        ("message_persistence", "enabled") => c.message_persistence.enabled = f.boolean()?,
        ("message_persistence", "max_messages") => {
            c.message_persistence.max_messages = f.at_least_one("messages")?
        }
        ("message_persistence", "sync_interval") => {
            c.message_persistence.sync_interval = f.millis()?
        }
        ("batchby_persistence", "db_name") => c.batchby_persistence.db_name = f.path()?,
        ("batchby_persistence", "enabled") => c.batchby_persistence.enabled = f.boolean()?,

        _ => return Ok(false),
    }
    Ok(true)
}

/// `[device_messaging]`, the largest section, kept apart so `apply` stays readable.
fn device_messaging(
    c: &mut Config,
    f: &Field<'_>,
    key: &str,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<bool, Error> {
    let m = &mut c.device_messaging;
    match key {
        "request_buffer_size" => m.request_buffer_size = f.whole("bytes")?,
        "disable_long_polling" => m.disable_long_polling = f.boolean()?,
        "request_dispatcher_thread_pool_size" => {
            let threads = f.whole::<i64>("threads")?;
            m.request_dispatcher_thread_pool_size = if threads < 1 {
                warnings.push(f.warning("raised to 1: request handlers need at least one thread"));
                1
            } else {
                usize::try_from(threads).map_err(|_| f.error("too many threads"))?
            };
        }
        "dispatcher_max_queue_size" => m.dispatcher_max_queue_size = f.at_least_one("messages")?,
        "dispatcher_max_messages_per_connection" => {
            m.dispatcher_max_messages_per_connection = f.at_least_one("messages")?;
        }
        "dispatcher_batch_wait" => m.dispatcher_batch_wait = f.millis()?,
        "dispatcher_polling_interval" => m.dispatcher_polling_interval = f.millis()?,
        "long_polling_timeout_offset" => m.long_polling_timeout_offset = f.millis()?,
        "send_receive_timeout" => m.send_receive_timeout = f.millis()?,
        "http_response_timeout" => m.http_response_timeout = f.millis()?,
        "dispatcher_basic_number_of_retries" => {
            m.dispatcher_basic_number_of_retries = f.whole("retries")?;
        }
        "dispatcher_settle_time" => m.dispatcher_settle_time = f.millis()?,
        "access_token_max_retries" => m.access_token_max_retries = f.whole("attempts")?,
        "message_queue_waittime" => m.message_queue_waittime = f.seconds()?,
        "message_dispatcher_backoff" => {
            let least = Duration::from_millis(100);
            let backoff = f.millis()?;
            m.message_dispatcher_backoff = if backoff < least {
                warnings.push(f.warning("raised to 100 ms, the least back-off allowed"));
                least
            } else {
                backoff
            };
        }
        "request_callback_timeout" => {
            let least = Duration::from_millis(100);
            let limit = f.millis()?;
            m.request_callback_timeout = if limit < least {
                warnings.push(f.warning("raised to 100 ms, the least callback limit allowed"));
                least
            } else {
                limit
            };
        }
        "data_message_reliability" => m.data_message_reliability = f.reliability()?,
        "alert_message_reliability" => m.alert_message_reliability = f.reliability()?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// One `key = value` line, with the conversions its field may need. Each
/// conversion's error names the section, the key, the value and the rule.
struct Field<'a> {
    section: &'a str,
    /// Lower-cased.
    key: &'a str,
    /// As rust-ini returns it: surrounding whitespace trimmed.
    value: &'a str,
}

impl Field<'_> {
    fn error(&self, reason: impl Into<String>) -> Error {
        self.error_showing(self.shown_value(), reason)
    }

    fn error_showing(&self, value: String, reason: impl Into<String>) -> Error {
        Error::Config {
            section: self.section.to_owned(),
            key: self.key.to_owned(),
            value,
            reason: reason.into(),
        }
    }

    /// The value as errors and warnings may show it: a proxy password never
    /// leaves this module.
    fn shown_value(&self) -> String {
        if self.key == "proxy_auth" {
            match self.value.split_once(':') {
                Some((user, _)) => format!("{user}:<redacted>"),
                None => "<redacted>".to_owned(),
            }
        } else {
            self.value.to_owned()
        }
    }

    /// Logs the warning and returns it for the caller's list.
    fn warning(&self, reason: impl Into<String>) -> ConfigWarning {
        let warning = ConfigWarning {
            section: self.section.to_owned(),
            key: Some(self.key.to_owned()),
            value: Some(self.shown_value()),
            reason: reason.into(),
        };
        log::warn!(target: "iotcs::core::config", "{warning}");
        warning
    }

    /// The spellings `configparser.getboolean` accepts, in any case.
    fn boolean(&self) -> Result<bool, Error> {
        match self.value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(self.error("expected True or False (or true/false, yes/no, on/off, 1/0)")),
        }
    }

    fn whole<T: FromStr>(&self, unit: &str) -> Result<T, Error> {
        self.value
            .parse()
            .map_err(|_| self.error(format!("expected a whole number of {unit}")))
    }

    fn at_least_one<T: FromStr + PartialOrd + From<u8>>(&self, unit: &str) -> Result<T, Error> {
        match self.value.parse::<T>() {
            Ok(n) if n >= T::from(1) => Ok(n),
            _ => Err(self.error(format!("expected a whole number of {unit}, at least 1"))),
        }
    }

    fn millis(&self) -> Result<Duration, Error> {
        self.whole("milliseconds").map(Duration::from_millis)
    }

    fn seconds(&self) -> Result<Duration, Error> {
        self.whole("seconds").map(Duration::from_secs)
    }

    /// Seconds as a decimal; -1 and 0 mean "defer to the server" (`None`), as
    /// the reference's `[http]` timeouts do.
    fn opt_seconds(&self) -> Result<Option<Duration>, Error> {
        let reason = "expected seconds greater than 0, or -1 or 0 to defer to the server";
        let secs: f64 = self.value.parse().map_err(|_| self.error(reason))?;
        if secs == -1.0 || secs == 0.0 {
            return Ok(None);
        }
        if secs < 0.0 {
            return Err(self.error(reason));
        }
        // Rejects NaN, infinity and values too large for a Duration.
        Duration::try_from_secs_f64(secs)
            .map(Some)
            .map_err(|_| self.error(reason))
    }

    fn reliability(&self) -> Result<Reliability, Error> {
        match self.value.to_ascii_uppercase().as_str() {
            "GUARANTEED_DELIVERY" => Ok(Reliability::GuaranteedDelivery),
            "BEST_EFFORT" => Ok(Reliability::BestEffort),
            "NO_GUARANTEE" => Ok(Reliability::NoGuarantee),
            _ => Err(self.error("expected one of GUARANTEED_DELIVERY, BEST_EFFORT, NO_GUARANTEE")),
        }
    }

    fn opt_text(&self) -> Option<String> {
        (!self.value.is_empty()).then(|| self.value.to_owned())
    }

    fn opt_path(&self) -> Option<PathBuf> {
        (!self.value.is_empty()).then(|| PathBuf::from(self.value))
    }

    fn path(&self) -> Result<PathBuf, Error> {
        self.opt_path()
            .ok_or_else(|| self.error("expected a file path"))
    }

    /// Colon-separated paths; an empty value is an empty list.
    fn paths(&self) -> Result<Vec<PathBuf>, Error> {
        if self.value.is_empty() {
            return Ok(Vec::new());
        }
        self.value
            .split(':')
            .map(|path| match path.trim() {
                "" => Err(self.error("expected colon-separated paths, found an empty path")),
                path => Ok(PathBuf::from(path)),
            })
            .collect()
    }

    fn ip(&self) -> Result<Option<String>, Error> {
        match self.opt_text() {
            Some(ip) if ip.parse::<IpAddr>().is_err() => {
                Err(self.error("expected an IPv4 or IPv6 address"))
            }
            ip => Ok(ip),
        }
    }

    fn proxy(&self) -> Result<Option<String>, Error> {
        if self.value.is_empty() {
            return Ok(None);
        }
        let syntax = "expected <scheme>://<host>:<port>/, e.g. https://proxy.example.com:9090/";
        let Some((scheme, rest)) = self.value.split_once("://") else {
            return Err(self.error(syntax));
        };
        if !PROXY_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
            return Err(self.error(format!("expected scheme {}", PROXY_SCHEMES.join(", "))));
        }
        if let Some((_, after)) = rest.rsplit_once('@') {
            // The credentials must not reach an error message or a log.
            let shown = format!("{scheme}://<redacted>@{after}");
            return Err(self.error_showing(shown, "put the user and password in proxy_auth"));
        }
        let Some(authority) = rest.strip_suffix('/') else {
            return Err(self.error("the proxy URL must end with '/'"));
        };
        if authority.contains(['/', '?', '#']) {
            return Err(self.error("expected no path after the host and port"));
        }
        if !is_host_and_port(authority) {
            return Err(self.error(syntax));
        }
        Ok(Some(self.value.to_owned()))
    }

    fn proxy_auth(&self) -> Result<Option<String>, Error> {
        match self.value.split_once(':') {
            _ if self.value.is_empty() => Ok(None),
            Some((user, _)) if !user.is_empty() => Ok(Some(self.value.to_owned())),
            _ => Err(self.error("expected user:password with a non-empty user")),
        }
    }
}

/// `host`, `host:port`, `[ipv6]` or `[ipv6]:port`, with a host made of
/// letters, digits, `.`, `-` and `_`, and a port from 1 to 65535.
fn is_host_and_port(authority: &str) -> bool {
    let (host_ok, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((ip, after)) = bracketed.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            after => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        (ip.parse::<Ipv6Addr>().is_ok(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        (host_ok, port)
    };
    host_ok && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

fn warn(
    warnings: &mut Vec<ConfigWarning>,
    section: &str,
    key: Option<&str>,
    value: Option<&str>,
    reason: &str,
) {
    let warning = ConfigWarning {
        section: section.to_owned(),
        key: key.map(str::to_owned),
        value: value.map(str::to_owned),
        reason: reason.to_owned(),
    };
    log::warn!(target: "iotcs::core::config", "{warning}");
    warnings.push(warning);
}

/// rust-ini reports a position and a message about its parser's states, so
/// the error quotes the line, names the section it is in (found by
/// scanning the headers above it) and says what the line should look like.
fn syntax_error(text: &str, e: &ini::ParseError) -> Error {
    let line_index = e.line.saturating_sub(1);
    let line = text.lines().nth(line_index).unwrap_or("");
    let section = text
        .lines()
        .take(line_index)
        .filter_map(|l| l.trim().strip_prefix('[')?.split(']').next())
        .last()
        .unwrap_or("");
    Error::Config {
        section: section.trim().to_owned(),
        key: String::new(),
        value: line.chars().take(MAX_QUOTED_LINE).collect(),
        reason: format!("not valid ini at line {}: {}", e.line, syntax_hint(line)),
    }
}

/// What a line that does not parse should look like, in the file's terms
/// rather than the parser's (whose message names its internal states).
fn syntax_hint(line: &str) -> &'static str {
    let line = line.trim();
    if line.starts_with('[') {
        "a section header is `[name]` alone on its line (comments go on lines of their own)"
    } else {
        "expected `key = value`, a `[section]` header, or a comment starting with `#` or `;`"
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(key: &'a str, value: &'a str) -> Field<'a> {
        Field {
            section: "s",
            key,
            value,
        }
    }

    #[test]
    fn booleans_accept_every_configparser_spelling_in_any_case() {
        for (text, expected) in [
            ("True", true),
            ("true", true),
            ("TRUE", true),
            ("yes", true),
            ("Yes", true),
            ("on", true),
            ("1", true),
            ("False", false),
            ("false", false),
            ("FALSE", false),
            ("no", false),
            ("NO", false),
            ("off", false),
            ("0", false),
        ] {
            assert_eq!(field("k", text).boolean().unwrap(), expected, "{text}");
        }
        for text in ["", "2", "truthy", "t", "y"] {
            assert!(field("k", text).boolean().is_err(), "{text}");
        }
    }

    #[test]
    fn proxies_need_scheme_host_and_trailing_slash() {
        for good in [
            "https://proxyserver.com:9090/",
            "http://proxy/",
            "HTTP://10.0.0.1:3128/",
            "socks5://[::1]:1080/",
            "http://[fe80::1]/",
        ] {
            assert_eq!(field("proxy", good).proxy().unwrap().as_deref(), Some(good));
        }
        assert_eq!(field("proxy", "").proxy().unwrap(), None);
        for bad in [
            "https://proxyserver.com:9090",
            "proxyserver.com:9090/",
            "ftp://proxy:21/",
            "https://:9090/",
            "https://proxy:0/",
            "https://proxy:99999/",
            "https://proxy:port/",
            "https://proxy:9090/path/",
            "https://[::1/",
            "https://[::1]x/",
            "https://bad host/",
        ] {
            assert!(field("proxy", bad).proxy().is_err(), "{bad}");
        }
    }

    #[test]
    fn proxy_credentials_never_appear_in_errors() {
        let err = field("proxy", "http://bob:hunter2@proxy:80/")
            .proxy()
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("proxy_auth"), "{err}");
        let err = field("proxy_auth", ":hunter2").proxy_auth().unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = field("proxy_auth", "hunter2").proxy_auth().unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn proxy_auth_is_user_colon_password() {
        let auth = field("proxy_auth", "alice:pa:ss").proxy_auth().unwrap();
        assert_eq!(auth.as_deref(), Some("alice:pa:ss"));
        assert_eq!(
            field("proxy_auth", "alice:")
                .proxy_auth()
                .unwrap()
                .as_deref(),
            Some("alice:")
        );
        assert_eq!(field("proxy_auth", "").proxy_auth().unwrap(), None);
    }

    #[test]
    fn optional_seconds_defer_on_minus_one_and_zero() {
        for defer in ["-1", "-1.0", "0", "0.0"] {
            assert_eq!(field("t", defer).opt_seconds().unwrap(), None, "{defer}");
        }
        assert_eq!(
            field("t", "2.5").opt_seconds().unwrap(),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            field("t", "30").opt_seconds().unwrap(),
            Some(Duration::from_secs(30))
        );
        for bad in ["-2", "-0.5", "NaN", "inf", "1e300", "soon", ""] {
            assert!(field("t", bad).opt_seconds().is_err(), "{bad}");
        }
    }

    #[test]
    fn client_paths_split_on_colons() {
        let paths = field("client_paths", "/:/var/lib").paths().unwrap();
        assert_eq!(paths, vec![PathBuf::from("/"), PathBuf::from("/var/lib")]);
        assert_eq!(
            field("client_paths", "").paths().unwrap(),
            Vec::<PathBuf>::new()
        );
        assert!(field("client_paths", "/a::/b").paths().is_err());
        assert!(field("client_paths", "/a:").paths().is_err());
    }

    #[test]
    fn syntax_errors_quote_the_line_and_its_section() {
        let err = parse("[http]\nproxy=x\n[logging] # trailing comment\n").unwrap_err();
        match err {
            Error::Config {
                section,
                value,
                reason,
                ..
            } => {
                assert_eq!(section, "http");
                assert_eq!(value, "[logging] # trailing comment");
                assert!(reason.starts_with("not valid ini at line 3"), "{reason}");
                assert!(reason.contains("alone on its line"), "{reason}");
                assert!(
                    !reason.contains("expecting"),
                    "no parser internals: {reason}"
                );
                assert!(!reason.ends_with('.'), "{reason}");
            }
            other => panic!("unexpected error {other:?}"),
        }
    }
}
