//! The one error type of iotcs. Every crate of the workspace returns
//! `Result<_, iotcs_core::Error>` (re-exported as `iotcs::Error`), so a user
//! matches on one enum whatever layer failed.
//!
//! Each variant corresponds to one exception of the reference API; [`Error::kind`]
//! names it when code wants to branch on the category rather than the detail.
//!
//! | reference exception | [`ErrorKind`] | variants |
//! | --- | --- | --- |
//! | `ArgumentException`, `ValueError` | `Argument` | [`Error::Argument`], [`Error::Validation`], [`Error::Model`], [`Error::Policy`], [`Error::Config`] |
//! | `ArgumentException` for an attribute the model does not have | `Argument` | [`Error::UnknownAttribute`] |
//! | `ArgumentException` for a format or action the model does not have | `Argument` | [`Error::UnknownFormat`], [`Error::UnknownAction`] |
//! | `StateException` (and `IllegalArgumentException` for a second `activate`) | `State` | [`Error::State`] |
//! | `StateException` for a full queue, a full store, a closed device | `State` | [`Error::QueueFull`], [`Error::StoreFull`], [`Error::Closed`] (as the `source` of an [`Error::Unsent`] that hands the messages back) |
//! | `SecurityException` | `Security` | [`Error::Security`] |
//! | `TransportException` (`getStatusCode()` → [`Error::status_code`]) | `Transport` | [`Error::Transport`] |
//! | `NetworkException`, `SocketException` | `Network` | [`Error::Network`] |
//! | `SocketTimeoutException` | `Timeout` | [`Error::Timeout`] |
//! | `HttpException` | `Http` | [`Error::Protocol`] |
//! | `IOError`, `OSError` | `Io` | [`Error::Io`] |
//! | (none: an iotcs addition) | that of its source | [`Error::Unsent`] hands refused messages back |
//!
//! A program that wants to react to a full queue matches the reason the
//! messages were refused, not the text:
//!
//! ```
//! use iotcs_core::Error;
//!
//! fn should_retry_later(e: &Error) -> bool {
//!     matches!(e.unsent_reason(), Error::QueueFull { .. } | Error::StoreFull { .. })
//! }
//! # let full = Error::Unsent { messages: Vec::new(), source: Box::new(Error::QueueFull { capacity: 1 }) };
//! # assert!(should_retry_later(&full));
//! # assert!(!should_retry_later(&Error::Closed));
//! ```

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::message::Message;
use crate::model::FormatType;
use crate::policy::PolicyError;
use crate::validate::{ValidationError, ValidationRule, ValidationTarget};

/// Everything that can go wrong in iotcs.
///
/// `Display` text is lower-case, has no trailing period, and says what to do
/// where there is something to do. Secrets, tokens and keys never appear in it.
///
/// `Clone`, so that a device's `close` can hand every caller the same result: the sources that are not `Clone`
/// themselves (an [`io::Error`], a network library's error) are shared
/// behind an [`Arc`].
///
/// `PartialEq` compares the variant and its fields; the sources of
/// [`Error::Io`] and [`Error::Network`] compare by their
/// [`io::ErrorKind`] (for IO) and their text, since the underlying error
/// types have no equality of their own. Tests and callers comparing results
/// of one operation get what they expect; two errors that merely look alike
/// compare equal, which is the intent.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A method received an argument it cannot use: an empty id, an unknown
    /// attribute or format name, an unsupported option. Reference:
    /// `ArgumentException` / `ValueError`.
    Argument {
        /// What was wrong, naming the argument.
        reason: String,
    },
    /// A value was rejected by the device model before anything was sent: wrong
    /// type, out of range, not writable, a required field missing. Reference:
    /// `ValueError`. An attribute the model does not have is
    /// [`Error::UnknownAttribute`] instead.
    Validation(ValidationError),
    /// The device model has no attribute of that name or alias: from
    /// `get`, `set`, `update().set` and the attribute callbacks alike.
    /// Reference: `ArgumentException`.
    UnknownAttribute {
        /// The device model's URN.
        model: String,
        /// The name as the caller gave it.
        name: String,
    },
    /// The device model has no format of that URN and type: from
    /// `create_alert` (an ALERT format) and `create_data` (a DATA format).
    /// Reference: `ArgumentException`.
    UnknownFormat {
        /// The device model's URN.
        model: String,
        /// The format URN as the caller gave it.
        urn: String,
        /// The type of format that was asked for.
        format_type: FormatType,
    },
    /// The device model has no action of that name or alias: from
    /// `on_action`, `remove_on_action` and `set_callable` alike. Reference:
    /// `ArgumentException`.
    UnknownAction {
        /// The device model's URN.
        model: String,
        /// The name as the caller gave it.
        name: String,
    },
    /// A device model's JSON is missing a required field or has a field of the
    /// wrong type. Reference: `ValueError`.
    Model {
        /// The model's URN, or `"<unknown>"` when the URN itself is missing.
        urn: String,
        /// The field and what is wrong with it.
        reason: String,
    },
    /// A device policy, or a formula of one, could not be read: an unknown
    /// function, a missing or bad parameter, a formula that does not parse
    /// (with its position); or a formula could not be evaluated. Reference:
    /// `ValueError`.
    Policy {
        /// The policy's id; empty when unknown (a formula on its own).
        policy: String,
        /// Where in the policy, and what is wrong.
        detail: PolicyError,
    },
    /// A configuration value could not be used. Reference: `ValueError`.
    Config {
        /// The ini section, e.g. `device_messaging`.
        section: String,
        /// The key within the section.
        key: String,
        /// The value as written in the file.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The operation is not allowed in the object's current state: activating an
    /// activated device, sending before activation, using a closed device.
    /// Reference: `StateException` (and the `IllegalArgumentException` that the
    /// reference raises for a second `activate`).
    State {
        /// What state forbids the operation.
        reason: String,
    },
    /// The outgoing message queue holds `dispatcher_max_queue_size`
    /// messages (those being sent included), and no room was made within
    /// `message_queue_waittime`. Arrives as the `source` of an
    /// [`Error::Unsent`] that hands the messages back. Reference:
    /// `StateException`.
    QueueFull {
        /// `[device_messaging] dispatcher_max_queue_size`.
        capacity: usize,
    },
    /// The store of guaranteed-delivery messages holds `[message_persistence]
    /// max_messages`. Arrives as the `source` of an [`Error::Unsent`] that
    /// hands the messages back. Reference: `StateException`.
    StoreFull {
        /// `[message_persistence] max_messages`.
        max_messages: usize,
    },
    /// The device is closed (or closing): returned by every method of the
    /// device that needs the cloud, and, from methods that send, as the
    /// `source` of an [`Error::Unsent`] that hands the refused messages back.
    /// Reference: `StateException`.
    Closed,
    /// Credentials failed: wrong passphrase, a tampered or truncated trusted
    /// assets store, an unknown store version, a bad signature or key.
    /// Reference: `SecurityException`.
    Security {
        /// What failed. Never contains the secret itself.
        reason: String,
    },
    /// The server answered with an HTTP status that means failure. Reference:
    /// `TransportException` (with `getStatusCode`).
    Transport {
        /// The HTTP status code.
        status: u16,
        /// The request method.
        method: String,
        /// The request path (no query string, so no tokens).
        path: String,
        /// The start of the response body, for diagnosis.
        body: String,
    },
    /// The server could not be reached: DNS, connection refused, TLS handshake,
    /// a connection dropped mid-response. Reference: `NetworkException` /
    /// `SocketException`.
    Network {
        /// What failed, for a person.
        reason: String,
        /// The underlying error, when there is one (shared, so that the
        /// error is `Clone`).
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// An operation took longer than its configured limit. Reference:
    /// `SocketTimeoutException`.
    Timeout {
        /// What timed out, naming the limit.
        operation: String,
    },
    /// The server's answer was not what the protocol allows: not JSON, a
    /// required field missing, a malformed message. Reference: `HttpException`.
    Protocol {
        /// What was wrong with the answer.
        reason: String,
    },
    /// Messages could not be queued or stored: the outgoing queue or the
    /// message store is full, or the device is closing. The messages are
    /// handed back untouched (crossbeam's `SendError<T>` pattern), so nothing
    /// is lost silently: keep them, resend them later, or drop them knowingly.
    /// Its [`kind`](Error::kind) is that of `source`.
    Unsent {
        /// The refused messages, exactly as they would have been sent.
        messages: Vec<Message>,
        /// Why they were refused.
        source: Box<Error>,
    },
    /// A file or directory operation failed. Reference: `IOError` / `OSError`.
    Io {
        /// The file involved, when known.
        path: Option<PathBuf>,
        /// The operating system's error (shared, so that the error is
        /// `Clone`).
        source: Arc<io::Error>,
    },
}

/// The reference API's exception that an [`Error`] corresponds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `ArgumentException` / `ValueError`: bad arguments, values, models or config.
    Argument,
    /// `StateException`.
    State,
    /// `SecurityException`.
    Security,
    /// `TransportException`: an HTTP error status.
    Transport,
    /// `NetworkException` / `SocketException`.
    Network,
    /// `SocketTimeoutException`.
    Timeout,
    /// `HttpException`: a malformed answer.
    Http,
    /// `IOError`.
    Io,
}

impl Error {
    /// The reference exception this error corresponds to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Argument { .. }
            | Error::Validation(_)
            | Error::Model { .. }
            | Error::Config { .. }
            | Error::Policy { .. }
            | Error::UnknownAttribute { .. }
            | Error::UnknownFormat { .. }
            | Error::UnknownAction { .. } => ErrorKind::Argument,
            Error::State { .. }
            | Error::QueueFull { .. }
            | Error::StoreFull { .. }
            | Error::Closed => ErrorKind::State,
            Error::Security { .. } => ErrorKind::Security,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Network { .. } => ErrorKind::Network,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Protocol { .. } => ErrorKind::Http,
            Error::Unsent { source, .. } => source.kind(),
            Error::Io { .. } => ErrorKind::Io,
        }
    }

    /// The messages an [`Error::Unsent`] hands back; empty for every other error.
    pub fn unsent_messages(&self) -> &[Message] {
        match self {
            Error::Unsent { messages, .. } => messages,
            _ => &[],
        }
    }

    /// Why the messages of an [`Error::Unsent`] were refused (its `source`);
    /// any other error itself. Match this for [`Error::QueueFull`],
    /// [`Error::StoreFull`] or [`Error::Closed`].
    pub fn unsent_reason(&self) -> &Error {
        match self {
            Error::Unsent { source, .. } => source.unsent_reason(),
            other => other,
        }
    }

    /// Takes the messages an [`Error::Unsent`] hands back; empty for every
    /// other error.
    pub fn into_unsent_messages(self) -> Vec<Message> {
        match self {
            Error::Unsent { messages, .. } => messages,
            _ => Vec::new(),
        }
    }

    /// The HTTP status of a [`Error::Transport`], as the reference's
    /// `TransportException.getStatusCode()`.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Transport { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Shorthand for [`Error::Argument`].
    pub fn argument(reason: impl Into<String>) -> Self {
        Error::Argument {
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::State`].
    pub fn state(reason: impl Into<String>) -> Self {
        Error::State {
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Security`].
    pub fn security(reason: impl Into<String>) -> Self {
        Error::Security {
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Protocol`].
    pub fn protocol(reason: impl Into<String>) -> Self {
        Error::Protocol {
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Model`].
    pub fn model(urn: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Model {
            urn: urn.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Io`] about one file.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: Some(path.into()),
            source: Arc::new(source),
        }
    }
}

impl PartialEq for Error {
    // One arm per variant, so it runs long: splitting the match would only
    // scatter the list a new variant must be added to.
    fn eq(&self, other: &Self) -> bool {
        use Error as E;
        match (self, other) {
            (E::Argument { reason: a }, E::Argument { reason: b })
            | (E::State { reason: a }, E::State { reason: b })
            | (E::Security { reason: a }, E::Security { reason: b })
            | (E::Protocol { reason: a }, E::Protocol { reason: b })
            | (E::Timeout { operation: a }, E::Timeout { operation: b }) => a == b,
            (E::Validation(a), E::Validation(b)) => a == b,
            (
                E::UnknownAttribute { model, name },
                E::UnknownAttribute {
                    model: m2,
                    name: n2,
                },
            ) => model == m2 && name == n2,
            (
                E::UnknownAction { model, name },
                E::UnknownAction {
                    model: m2,
                    name: n2,
                },
            ) => model == m2 && name == n2,
            (
                E::UnknownFormat {
                    model,
                    urn,
                    format_type,
                },
                E::UnknownFormat {
                    model: m2,
                    urn: u2,
                    format_type: t2,
                },
            ) => model == m2 && urn == u2 && format_type == t2,
            (
                E::Model { urn, reason },
                E::Model {
                    urn: u2,
                    reason: r2,
                },
            ) => urn == u2 && reason == r2,
            (
                E::Policy { policy, detail },
                E::Policy {
                    policy: p2,
                    detail: d2,
                },
            ) => policy == p2 && detail == d2,
            (
                E::Config {
                    section,
                    key,
                    value,
                    reason,
                },
                E::Config {
                    section: s2,
                    key: k2,
                    value: v2,
                    reason: r2,
                },
            ) => section == s2 && key == k2 && value == v2 && reason == r2,
            (E::QueueFull { capacity: a }, E::QueueFull { capacity: b }) => a == b,
            (E::StoreFull { max_messages: a }, E::StoreFull { max_messages: b }) => a == b,
            (E::Closed, E::Closed) => true,
            (
                E::Transport {
                    status,
                    method,
                    path,
                    body,
                },
                E::Transport {
                    status: s2,
                    method: m2,
                    path: p2,
                    body: b2,
                },
            ) => status == s2 && method == m2 && path == p2 && body == b2,
            (
                E::Network { reason, source },
                E::Network {
                    reason: r2,
                    source: s2,
                },
            ) => {
                reason == r2
                    && source.as_ref().map(ToString::to_string)
                        == s2.as_ref().map(ToString::to_string)
            }
            (
                E::Unsent { messages, source },
                E::Unsent {
                    messages: m2,
                    source: s2,
                },
            ) => messages == m2 && source == s2,
            (
                E::Io { path, source },
                E::Io {
                    path: p2,
                    source: s2,
                },
            ) => path == p2 && source.kind() == s2.kind() && source.to_string() == s2.to_string(),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    // One arm per variant (long for that reason): the messages read best side
    // by side.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Argument { reason } => write!(f, "invalid argument: {reason}"),
            Error::Validation(e) => write!(f, "{e}"),
            Error::Model { urn, reason } => write!(f, "device model {urn}: {reason}"),
            Error::Policy { policy, detail } if policy.is_empty() => {
                write!(f, "device policy: {detail}")
            }
            Error::Policy { policy, detail } => write!(f, "device policy {policy}: {detail}"),
            Error::Config {
                section,
                key,
                value,
                reason,
            } => {
                write!(f, "config [{section}] {key} = {value:?}: {reason}")
            }
            Error::UnknownAttribute { model, name } => write!(
                f,
                "device model {model} has no attribute {name:?}; use one of its attribute names or aliases"
            ),
            Error::UnknownFormat {
                model,
                urn,
                format_type,
            } => {
                let what = match format_type {
                    FormatType::Alert => "alert",
                    FormatType::Data => "data",
                };
                write!(
                    f,
                    "device model {model} has no {what} format {urn:?}; use one of its {what} format URNs"
                )
            }
            Error::UnknownAction { model, name } => write!(
                f,
                "device model {model} has no action {name:?}; use one of its action names or aliases"
            ),
            Error::State { reason } => write!(f, "not allowed now: {reason}"),
            Error::QueueFull { capacity } => write!(
                f,
                "the outgoing message queue is full ([device_messaging] \
                 dispatcher_max_queue_size = {capacity}, messages being sent included); \
                 resend later, or raise the limit"
            ),
            Error::StoreFull { max_messages } => write!(
                f,
                "the store of guaranteed messages is full ([message_persistence] \
                 max_messages = {max_messages}); resend once messages are delivered, \
                 or raise the limit"
            ),
            Error::Closed => f.write_str("the device is closed; open it again to send"),
            Error::Security { reason } => write!(f, "security: {reason}"),
            Error::Transport {
                status,
                method,
                path,
                body,
            } => {
                write!(f, "server answered {status} to {method} {path}")?;
                if !body.is_empty() {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            Error::Network { reason, source } => {
                write!(f, "network: {reason}")?;
                if let Some(source) = source {
                    write!(f, ": {source}")?;
                }
                Ok(())
            }
            Error::Timeout { operation } => write!(f, "timed out: {operation}"),
            Error::Protocol { reason } => write!(f, "protocol: {reason}"),
            Error::Unsent { messages, source } => {
                write!(f, "{} message(s) not sent: {source}", messages.len())
            }
            Error::Io {
                path: Some(path),
                source,
            } => write!(f, "{}: {source}", path.display()),
            Error::Io { path: None, source } => write!(f, "i/o: {source}"),
        }
    }
}

/// `Display` already says what the immediate cause says (a person printing
/// `{e}` alone gets the whole story of one line), so `source` continues the
/// chain below it: the cause's own cause. A chain printed link by link
/// ([`Report`]) then says everything once.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Validation(e) => std::error::Error::source(e),
            Error::Unsent { source, .. } => std::error::Error::source(source.as_ref()),
            Error::Network {
                source: Some(source),
                ..
            } => source.source(),
            Error::Io { source, .. } => source.source(),
            _ => None,
        }
    }
}

impl Error {
    /// The error and its causes for a person, as programs print them on
    /// exit: `error: …` then one `  caused by: …` line per cause that the
    /// lines before do not already say.
    ///
    /// ```
    /// let e = iotcs_core::Error::io("/etc/device.conf", std::io::ErrorKind::NotFound.into());
    /// assert_eq!(e.report().to_string(), "error: /etc/device.conf: entity not found");
    /// ```
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }
}

/// An error and its chain of causes, each said once: what
/// [`Error::report`] returns, and [`Report::new`] makes of any error a
/// program meets (a command line's, an IO error).
#[derive(Clone, Copy, Debug)]
pub struct Report<'a>(&'a (dyn std::error::Error + 'static));

impl<'a> Report<'a> {
    /// The report of `error`.
    pub fn new(error: &'a (dyn std::error::Error + 'static)) -> Self {
        Report(error)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut said = self.0.to_string();
        write!(f, "error: {said}")?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let text = error.to_string();
            // Libraries underneath often repeat their source in their own
            // text; a line that says nothing new is left out.
            if !said.contains(&text) {
                write!(f, "\n  caused by: {text}")?;
                said.push_str(&text);
            }
            cause = error.source();
        }
        Ok(())
    }
}

impl From<ValidationError> for Error {
    /// [`Error::Validation`], except that an attribute the model does not
    /// have is [`Error::UnknownAttribute`], so that `set` and `get` fail
    /// alike for it.
    fn from(e: ValidationError) -> Self {
        match (e.rule(), e.target()) {
            (ValidationRule::Unknown, Some(ValidationTarget::Attribute { model, name })) => {
                Error::UnknownAttribute {
                    model: model.clone(),
                    name: name.clone(),
                }
            }
            _ => Error::Validation(e),
        }
    }
}

impl From<PolicyError> for Error {
    /// [`Error::Policy`] of no particular policy.
    fn from(detail: PolicyError) -> Self {
        Error::Policy {
            policy: String::new(),
            detail,
        }
    }
}

impl From<io::Error> for Error {
    fn from(source: io::Error) -> Self {
        Error::Io {
            path: None,
            source: Arc::new(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_error_size() {
        // Results travel through every call; keep the error small enough that
        // `Result<(), Error>` stays cheap to move. Grows only deliberately.
        assert!(
            std::mem::size_of::<Error>() <= 112,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    fn _ensure_send_sync() {
        fn is_send_sync<T: Send + Sync + Clone + PartialEq + 'static>() {}
        is_send_sync::<Error>();
        is_send_sync::<ErrorKind>();
    }

    #[test]
    fn kinds_follow_the_reference_exceptions() {
        assert_eq!(Error::argument("x").kind(), ErrorKind::Argument);
        assert_eq!(Error::state("x").kind(), ErrorKind::State);
        assert_eq!(Error::security("x").kind(), ErrorKind::Security);
        let t = Error::Transport {
            status: 503,
            method: "POST".into(),
            path: "/iot/api/v2/messages".into(),
            body: String::new(),
        };
        assert_eq!(t.kind(), ErrorKind::Transport);
        assert_eq!(t.status_code(), Some(503));
        assert_eq!(
            t.to_string(),
            "server answered 503 to POST /iot/api/v2/messages"
        );
        assert_eq!(Error::protocol("x").kind(), ErrorKind::Http);
        let msg = Message::data("EP", "urn:x:attributes", [("a", 1)], 0).unwrap();
        let unsent = Error::Unsent {
            messages: vec![msg.clone()],
            source: Box::new(Error::QueueFull { capacity: 7 }),
        };
        assert_eq!(unsent.kind(), ErrorKind::State);
        assert_eq!(unsent.unsent_messages(), std::slice::from_ref(&msg));
        assert!(matches!(
            unsent.unsent_reason(),
            Error::QueueFull { capacity: 7 }
        ));
        assert_eq!(
            unsent.to_string(),
            "1 message(s) not sent: the outgoing message queue is full ([device_messaging] \
             dispatcher_max_queue_size = 7, messages being sent included); resend later, \
             or raise the limit"
        );
        // Display says the reason; the chain goes on below it.
        assert!(std::error::Error::source(&unsent).is_none());
        assert_eq!(unsent.into_unsent_messages(), vec![msg]);
        assert!(Error::state("x").into_unsent_messages().is_empty());
        assert_eq!(
            Error::StoreFull { max_messages: 1 }.kind(),
            ErrorKind::State
        );
        assert_eq!(Error::Closed.kind(), ErrorKind::State);
        assert!(matches!(Error::Closed.unsent_reason(), Error::Closed));
        let io = Error::io("/tmp/x", io::Error::other("boom"));
        assert_eq!(io.kind(), ErrorKind::Io);
        assert_eq!(io.to_string(), "/tmp/x: boom");
    }

    #[test]
    fn an_unknown_attribute_is_one_kind_whatever_found_it() {
        let unknown = ValidationError::new(ValidationRule::Unknown).with_target(
            ValidationTarget::Attribute {
                model: "urn:x".into(),
                name: "colour".into(),
            },
        );
        let e = Error::from(unknown);
        assert!(
            matches!(&e, Error::UnknownAttribute { model, name } if model == "urn:x" && name == "colour"),
            "{e:?}"
        );
        assert_eq!(e.kind(), ErrorKind::Argument);
        assert_eq!(
            e.to_string(),
            "device model urn:x has no attribute \"colour\"; use one of its attribute names or aliases"
        );
        // Other rejections, and unknown fields or arguments, stay validations.
        let field =
            ValidationError::new(ValidationRule::Unknown).with_target(ValidationTarget::Field {
                format: "urn:x:f".into(),
                name: "colour".into(),
            });
        assert!(matches!(Error::from(field), Error::Validation(_)));
        let range = ValidationError::new(ValidationRule::Missing).with_target(
            ValidationTarget::Attribute {
                model: "urn:x".into(),
                name: "temp".into(),
            },
        );
        assert!(matches!(Error::from(range), Error::Validation(_)));
    }

    #[test]
    fn a_clone_equals_its_original_and_other_fields_do_not() {
        let io = Error::io("/tmp/x", io::Error::other("boom"));
        assert_eq!(io.clone(), io);
        assert_ne!(io, Error::io("/tmp/y", io::Error::other("boom")));
        assert_ne!(
            io,
            Error::io("/tmp/x", io::Error::from(io::ErrorKind::NotFound))
        );
        let msg = Message::data("EP", "urn:x:attributes", [("a", 1)], 0).unwrap();
        let unsent = Error::Unsent {
            messages: vec![msg],
            source: Box::new(Error::Closed),
        };
        assert_eq!(unsent.clone(), unsent);
        assert_ne!(unsent, Error::Closed);
        let net = Error::Network {
            reason: "GET /x failed".into(),
            source: Some(Arc::new(io::Error::other("refused"))),
        };
        assert_eq!(net.clone(), net);
        assert_ne!(
            net,
            Error::Network {
                reason: "GET /x failed".into(),
                source: None,
            }
        );
        assert_eq!(Error::argument("a"), Error::argument("a"));
        assert_ne!(Error::argument("a"), Error::state("a"));
    }

    #[derive(Debug)]
    struct Wrapped(io::Error);

    impl fmt::Display for Wrapped {
        /// As some libraries do: its text repeats its source's.
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "io: {}", self.0)
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_chain_prints_each_cause_once() {
        let refused = || io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        let net = Error::Network {
            reason: "POST /iot/api/v2/messages failed".into(),
            source: Some(Arc::new(Wrapped(refused()))),
        };
        assert_eq!(
            net.to_string(),
            "network: POST /iot/api/v2/messages failed: io: connection refused"
        );
        assert_eq!(
            net.report().to_string(),
            "error: network: POST /iot/api/v2/messages failed: io: connection refused",
            "the source's own source says nothing new"
        );
        let unsent = Error::Unsent {
            messages: Vec::new(),
            source: Box::new(net),
        };
        let text = unsent.report().to_string();
        assert_eq!(text.matches("connection refused").count(), 1, "{text}");
        // A cause that says something new gets its line.
        let inner = io::Error::new(io::ErrorKind::InvalidData, Wrapped(refused()));
        let io = Error::io("/tmp/store", inner);
        assert_eq!(
            io.report().to_string(),
            "error: /tmp/store: io: connection refused"
        );
        let config = io::Error::other(Error::Closed);
        assert_eq!(
            Report::new(&config).to_string(),
            "error: the device is closed; open it again to send"
        );
        #[derive(Debug)]
        struct Outer(Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("cannot start the gateway")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(
            Report::new(&Outer(Error::Closed)).to_string(),
            "error: cannot start the gateway\n  caused by: the device is closed; open it again to send"
        );
    }

    #[test]
    fn display_is_lower_case_without_trailing_period() {
        let samples = [
            Error::argument("endpoint id is empty"),
            Error::Config {
                section: "device_messaging".into(),
                key: "dispatcher_max_queue_size".into(),
                value: "lots".into(),
                reason: "expected a whole number".into(),
            },
            Error::Timeout {
                operation: "token request after 15 s".into(),
            },
            Error::QueueFull { capacity: 1 },
            Error::StoreFull { max_messages: 1 },
            Error::Closed,
            Error::UnknownAttribute {
                model: "urn:x".into(),
                name: "colour".into(),
            },
            Error::UnknownFormat {
                model: "urn:x".into(),
                urn: "urn:x:hot".into(),
                format_type: FormatType::Alert,
            },
            Error::UnknownAction {
                model: "urn:x".into(),
                name: "reset".into(),
            },
        ];
        for e in samples {
            let text = e.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert!(
                text.chars().next().is_some_and(|c| !c.is_uppercase()),
                "{text}"
            );
        }
    }
}
