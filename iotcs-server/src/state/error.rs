//! Why the state refused an operation. The state knows nothing of HTTP: the
//! HTTP edge (`crate::http`, `From<DomainError> for ApiError`) is the one
//! place that turns these into statuses and JSON problem bodies.

use std::fmt;

use iotcs_core::ErrorKind;

/// A refused operation; the state changed nothing. Each kind says what went
/// wrong, the text says which thing and why, for the person reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DomainError {
    /// The input is malformed or breaks a model.
    Invalid(String),
    /// The caller may not do this (identity, gateway ownership).
    Forbidden(String),
    /// The thing named does not exist.
    NotFound(String),
    /// It clashes with what exists (a taken hardware id, a second activation).
    Conflict(String),
    /// The server failed: a change could not be stored, randomness failed.
    Internal(String),
    /// It would exceed a size limit (the storage quota).
    TooLarge(String),
}

impl DomainError {
    pub(crate) fn invalid(detail: impl Into<String>) -> DomainError {
        DomainError::Invalid(detail.into())
    }
    pub(crate) fn forbidden(detail: impl Into<String>) -> DomainError {
        DomainError::Forbidden(detail.into())
    }
    pub(crate) fn not_found(detail: impl Into<String>) -> DomainError {
        DomainError::NotFound(detail.into())
    }
    pub(crate) fn conflict(detail: impl Into<String>) -> DomainError {
        DomainError::Conflict(detail.into())
    }
    pub(crate) fn internal(detail: impl Into<String>) -> DomainError {
        DomainError::Internal(detail.into())
    }
    pub(crate) fn too_large(detail: impl Into<String>) -> DomainError {
        DomainError::TooLarge(detail.into())
    }

    /// The reason, for a person.
    pub(crate) fn detail(&self) -> &str {
        match self {
            DomainError::Invalid(d)
            | DomainError::Forbidden(d)
            | DomainError::NotFound(d)
            | DomainError::Conflict(d)
            | DomainError::Internal(d)
            | DomainError::TooLarge(d) => d,
        }
    }

    /// The same error with `prefix: ` before its reason (e.g. which message
    /// of a batch).
    pub(crate) fn prefixed(self, prefix: &str) -> DomainError {
        let with = |d: String| format!("{prefix}: {d}");
        match self {
            DomainError::Invalid(d) => DomainError::Invalid(with(d)),
            DomainError::Forbidden(d) => DomainError::Forbidden(with(d)),
            DomainError::NotFound(d) => DomainError::NotFound(with(d)),
            DomainError::Conflict(d) => DomainError::Conflict(with(d)),
            DomainError::Internal(d) => DomainError::Internal(with(d)),
            DomainError::TooLarge(d) => DomainError::TooLarge(with(d)),
        }
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

/// A core error met by a domain operation (a model that does not parse, a
/// secret that is not base64, randomness that failed), by what it means.
impl From<iotcs_core::Error> for DomainError {
    fn from(e: iotcs_core::Error) -> DomainError {
        let detail = e.to_string();
        match e.kind() {
            ErrorKind::Argument | ErrorKind::Http | ErrorKind::Security => {
                DomainError::Invalid(detail)
            }
            ErrorKind::State => DomainError::Conflict(detail),
            _ => DomainError::Internal(detail),
        }
    }
}
