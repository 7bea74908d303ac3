//! Logging for programs built on the SDK, without credentials in it.
//!
//! With `RUST_LOG=trace`, the HTTP stack under the SDK (ureq) hex-dumps every
//! byte it sends and receives, bearer tokens, client assertions, `access_token`
//! answers and passphrases included; rustls dumps TLS handshake messages, and
//! sled (the message store) prints stored records.
//! [`RedactingLogger`] (from `iotcs-core`) wraps any [`log::Log`], drops those
//! dumps ([`PROTOCOL_DUMP_CAPS`]) whatever the filter says, and replaces
//! credentials in every other record ([`redact`]).
//!
//! With the `env_logger` feature, `init(default_filter)` sets env_logger up
//! the way the examples and `iotcs-server` do: `RUST_LOG` (or
//! `default_filter`) chooses what is written, to stderr, through the wrapper.
//! `try_init_from(builder)` does the same for an env_logger builder the
//! program configured itself.
//!
//! The SDK's own lines have targets under `iotcs::` (`iotcs::device::transport`
//! logs one DEBUG line per HTTP request, `iotcs::device::sender` and
//! `iotcs::device::inbound` the message bodies at TRACE,
//! `iotcs::device::health` the connection lost and restored at INFO): filter
//! them with `RUST_LOG=iotcs=debug`. A plain `RUST_LOG=debug` also enables
//! ureq, rustls and sled.
//!
//! **An application that installs its own logger** (any `log` backend) must
//! install it through [`install`]`(logger, max_level)`, or wrap it in
//! [`RedactingLogger::new`] before `log::set_boxed_logger`. Otherwise
//! enabling `trace` for `ureq_proto` writes every token and password the
//! device sends into the log.

pub use iotcs_core::logging::{
    PROTOCOL_DUMP_CAPS, REDACTED, RedactingLogger, install, redact, within_caps,
};

/// An env_logger builder reading `RUST_LOG`, with `default_filter` (e.g.
/// `"warn"`) when it is unset. Install it with [`try_init_from`], which adds
/// the wrapper that keeps credentials out.
#[cfg(feature = "env_logger")]
pub fn builder(default_filter: &str) -> env_logger::Builder {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
}

/// Builds `builder` (e.g. `env_logger::builder().is_test(true)`) and
/// installs the logger, wrapped in a [`RedactingLogger`], as the
/// global logger.
///
/// # Errors
///
/// [`log::SetLoggerError`] when a global logger is installed already.
#[cfg(feature = "env_logger")]
pub fn try_init_from(builder: &mut env_logger::Builder) -> Result<(), log::SetLoggerError> {
    let logger = builder.build();
    let max_level = logger.filter();
    install(logger, max_level)
}

/// [`try_init_from`]`(&mut `[`builder`]`(default_filter))`.
///
/// # Errors
///
/// [`log::SetLoggerError`] when a global logger is installed already.
#[cfg(feature = "env_logger")]
pub fn try_init(default_filter: &str) -> Result<(), log::SetLoggerError> {
    try_init_from(&mut builder(default_filter))
}

/// [`try_init`] for a program's `main`: logs to stderr, filtered by
/// `RUST_LOG` or else `default_filter`, with credentials kept out.
///
/// # Panics
///
/// When a global logger is installed already (a program sets its logger up
/// once, first thing in `main`).
#[cfg(feature = "env_logger")]
pub fn init(default_filter: &str) {
    try_init(default_filter).expect("a logger is installed once, at the start of main");
}
