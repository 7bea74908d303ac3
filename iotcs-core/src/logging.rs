//! Logging that never carries a credential: a wrapper around any [`log::Log`]
//! that drops the protocol dumps of the HTTP and TLS stacks and redacts
//! credentials from every other record.
//!
//! Why a wrapper: the device talks HTTP through ureq, whose protocol crate
//! (`ureq_proto`) logs every byte written to and read from a connection at
//! `trace`, as a hex dump of 16 bytes per record (`504f 5354 202f ... POST /`).
//! Those bytes are the plaintext HTTP: `Authorization: Bearer` and `Basic`
//! headers, client assertions, `access_token` answers, `sharedSecret` fields
//! and the passphrases the admin client posts. A credential there is split
//! across records, so no text filter can find it; the records must not be
//! written at all. rustls logs whole handshake messages at `trace` (session
//! tickets among them), and sled, under the device's message store and the
//! local cloud's store, prints stored records at `trace`, the cloud's device
//! records with their shared secrets among them. `RUST_LOG=trace` enables all
//! of that, so a filter the
//! user sets cannot be the defence: [`RedactingLogger`] drops records of
//! [`PROTOCOL_DUMP_CAPS`] targets above their cap whatever the filter says,
//! and rewrites any other record whose text shows a credential (see
//! [`redact`]).
//!
//! The SDK's own log lines name devices, endpoints, paths and statuses, never
//! a secret; [`redact`] is the second line of defence, for dependencies and
//! for error texts that quote a peer.
//!
//! An application that installs its own logger wraps it:
//! [`install`]`(my_logger, max_level)`, or `log::set_boxed_logger(Box::new(`
//! [`RedactingLogger::new`]`(my_logger)))` followed by `log::set_max_level`.
//! A logger installed without the wrapper writes ureq's hex dumps (with every
//! token and password in them) whenever it enables `trace` for `ureq_proto`.

use std::borrow::Cow;

use log::{LevelFilter, Log, Metadata, Record, SetLoggerError};

/// Log targets (and their submodules) whose records above the given level
/// are dropped by [`RedactingLogger`] whatever the logger's own filter says:
/// ureq's protocol hex dumps (`trace`), rustls's handshake dumps (`trace`)
/// and sled's dumps of stored records (`trace`, `debug`). ureq's and rustls's
/// `debug` records (connections, redacted request lines, cipher suites) are
/// kept.
pub const PROTOCOL_DUMP_CAPS: &[(&str, LevelFilter)] = &[
    ("ureq_proto", LevelFilter::Debug),
    ("rustls", LevelFilter::Debug),
    ("tokio_rustls", LevelFilter::Debug),
    // sled prints stored records as byte lists at `trace` (the local cloud
    // stores devices' shared secrets) and a page at `debug` when one is
    // unexpected.
    ("sled", LevelFilter::Info),
];

/// What replaces a credential in a log record.
pub const REDACTED: &str = "<redacted>";

/// A [`log::Log`] that forwards to `L` every record except protocol dumps
/// ([`PROTOCOL_DUMP_CAPS`]), with credentials replaced by [`REDACTED`]
/// ([`redact`]).
#[derive(Debug)]
pub struct RedactingLogger<L> {
    inner: L,
}

impl<L: Log> RedactingLogger<L> {
    /// Wraps `inner`.
    pub fn new(inner: L) -> Self {
        RedactingLogger { inner }
    }

    /// The wrapped logger.
    pub fn inner(&self) -> &L {
        &self.inner
    }
}

/// Whether a record of `metadata` passes [`PROTOCOL_DUMP_CAPS`].
pub fn within_caps(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    PROTOCOL_DUMP_CAPS.iter().all(|(prefix, cap)| {
        let inside = target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"));
        !inside || metadata.level() <= *cap
    })
}

impl<L: Log> Log for RedactingLogger<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        within_caps(metadata) && self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        // The `log` macros call `log` without asking `enabled` first.
        if !self.enabled(record.metadata()) {
            return;
        }
        let formatted;
        let text = match record.args().as_str() {
            Some(text) => text,
            None => {
                formatted = record.args().to_string();
                &formatted
            }
        };
        match redact(text) {
            Cow::Borrowed(_) => self.inner.log(record),
            Cow::Owned(clean) => self.inner.log(
                &Record::builder()
                    .metadata(record.metadata().clone())
                    .args(format_args!("{clean}"))
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            ),
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs `logger`, wrapped in a [`RedactingLogger`], as the global logger
/// and sets the global maximum level to `max_level` (for env_logger:
/// `logger.filter()`).
///
/// # Errors
///
/// [`SetLoggerError`] when a global logger is installed already (the
/// `log` crate allows one per process).
pub fn install<L: Log + 'static>(logger: L, max_level: LevelFilter) -> Result<(), SetLoggerError> {
    log::set_boxed_logger(Box::new(RedactingLogger::new(logger)))?;
    log::set_max_level(max_level);
    Ok(())
}

/// Names after which a `:` or `=` introduces a credential (JSON, form and
/// header spellings).
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "client_assertion",
    "sharedSecret",
    "shared_secret",
    "passphrase",
    "password",
];

/// HTTP authorization schemes whose credential follows a space.
const SCHEMES: &[&str] = &["Bearer ", "Basic "];

/// `text` with every credential it shows replaced by [`REDACTED`]; borrowed
/// when there was none. Recognised: the value after an HTTP `Bearer` or
/// `Basic` scheme, the value of an `access_token`, `client_assertion`,
/// `sharedSecret`, `shared_secret`, `passphrase` or `password` field (JSON,
/// form or header style), a JWT (`eyJ...` with dots), and a PEM private key.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    // Everything before `done` is already in `out` (or needs no change).
    let mut done = 0;
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let Some((value_start, value_end)) = secret_at(rest) else {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        out.push_str(&text[done..at + value_start]);
        out.push_str(REDACTED);
        done = at + value_end;
        at = done.max(at + 1);
    }
    if done == 0 && out.is_empty() {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

/// If a credential starts at the beginning of `text` (a marker, then the
/// value), the byte range of what to hide.
fn secret_at(text: &str) -> Option<(usize, usize)> {
    if let Some(after) = text.strip_prefix("-----BEGIN") {
        let label_end = after.find("-----")?;
        if !after[..label_end].contains("PRIVATE KEY") {
            return None;
        }
        // To the end of the key, or of the record if it is cut short.
        let end = text.find("-----END").map_or(text.len(), |e| {
            text[e + 8..]
                .find("-----")
                .map_or(text.len(), |i| e + 8 + i + 5)
        });
        return Some((0, end));
    }
    if text.starts_with("eyJ") {
        let end = value_end(text);
        // A JWT has three dot-separated segments.
        return (text[..end].matches('.').count() >= 2).then_some((0, end));
    }
    for scheme in SCHEMES {
        if let Some(value) = text.strip_prefix(scheme) {
            let start = scheme.len();
            let end = start + value_end(value);
            // `Basic realm="..."` names no credential; a token is long.
            return (end - start >= 8).then_some((start, end));
        }
    }
    for key in SECRET_KEYS {
        if let Some(after) = text.strip_prefix(key) {
            // `"key":"v"`, `key=v`, `key: v`.
            let trimmed = after.trim_start_matches(['"', '\'', ' ']);
            let Some(separator) = trimmed.strip_prefix([':', '=']) else {
                continue;
            };
            let value = separator.trim_start_matches(['"', '\'', ' ']);
            let start = text.len() - value.len();
            let end = start + value_end(value);
            return (end > start).then_some((start, end));
        }
    }
    None
}

/// The length of the credential at the start of `text`: up to whitespace or
/// a delimiter of JSON, forms and headers.
fn value_end(text: &str) -> usize {
    text.find(|c: char| c.is_whitespace() || "\"',&;)}]".contains(c))
        .unwrap_or(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_in_every_spelling() {
        let cases = [
            (
                "Authorization: Bearer 0123456789abcdef",
                "Authorization: Bearer <redacted>",
            ),
            (
                "Authorization: Basic YWRtaW46c2VjcmV0",
                "Authorization: Basic <redacted>",
            ),
            (
                r#"{"access_token":"abc123","token_type":"Bearer"}"#,
                r#"{"access_token":"<redacted>","token_type":"Bearer"}"#,
            ),
            (
                "grant_type=x&client_assertion=a.b.c&scope=",
                "grant_type=x&client_assertion=<redacted>&scope=",
            ),
            (
                r#"{"sharedSecret": "c2VjcmV0"}"#,
                r#"{"sharedSecret": "<redacted>"}"#,
            ),
            ("passphrase=changeit", "passphrase=<redacted>"),
            (
                "token eyJ0eXAiOiJKV1QifQ.eyJpc3MiOiJ4In0.c2ln end",
                "token <redacted> end",
            ),
            (
                "key -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY----- after",
                "key <redacted> after",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for text in [
            "registered modbus-1 as endpoint 0-AB (signed with its provisioned secret)",
            "wrong user or password",
            "401 Unauthorized: Basic realm=\"iotcs-server\"",
            "token endpoint answered 503; trying again",
            "",
            "ünïcode Bearer",
        ] {
            assert!(
                matches!(redact(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    /// Keeps what it is given.
    #[derive(Debug, Default)]
    struct Capture(std::sync::Mutex<Vec<String>>);

    impl Log for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &Record<'_>) {
            let line = format!("{} {}", record.target(), record.args());
            self.0.lock().expect("not poisoned").push(line);
        }
        fn flush(&self) {}
    }

    #[test]
    fn the_wrapper_drops_dumps_and_redacts_the_rest() {
        let logger = RedactingLogger::new(Capture::default());
        let log = |target: &str, level, args: std::fmt::Arguments<'_>| {
            logger.log(
                &Record::builder()
                    .target(target)
                    .level(level)
                    .args(args)
                    .build(),
            );
        };
        let token = "0123456789abcdef";
        log(
            "ureq_proto::util",
            log::Level::Trace,
            format_args!("4265 6172 Bearer {token}"),
        );
        log(
            "rustls::client::hs",
            log::Level::Trace,
            format_args!("Sending ClientHello"),
        );
        log(
            "ureq::run",
            log::Level::Debug,
            format_args!("Authorization: Bearer {token}"),
        );
        log(
            "iotcs_device::rest",
            log::Level::Info,
            format_args!("GET /iot/api/v2/messages"),
        );
        let lines = logger.inner().0.lock().expect("not poisoned").clone();
        assert_eq!(
            lines,
            [
                "ureq::run Authorization: Bearer <redacted>",
                "iotcs_device::rest GET /iot/api/v2/messages"
            ]
        );
        let dump = Metadata::builder()
            .target("ureq_proto::util")
            .level(log::Level::Trace)
            .build();
        assert!(!logger.enabled(&dump));
    }

    #[test]
    fn protocol_dumps_are_capped_by_target_and_level() {
        let meta = |target, level| Metadata::builder().target(target).level(level).build();
        use log::Level::{Debug, Info, Trace};
        assert!(!within_caps(&meta("ureq_proto::util", Trace)));
        assert!(!within_caps(&meta("ureq_proto", Trace)));
        assert!(!within_caps(&meta("rustls::client::hs", Trace)));
        assert!(within_caps(&meta("ureq_proto::client", Debug)));
        assert!(within_caps(&meta("rustls", Info)));
        assert!(!within_caps(&meta("sled::pagecache", Debug)));
        assert!(within_caps(&meta("sled", Info)));
        // Only whole path segments match.
        assert!(within_caps(&meta("ureq_protocols", Trace)));
        assert!(within_caps(&meta("ureq::run", Trace)));
        assert!(within_caps(&meta("iotcs_device::sender", Trace)));
    }
}
