//! [`Rejection`]: what a change or action callback returns to refuse the
//! cloud's request, and how it is answered.

use std::fmt;

use iotcs_core::Error;

/// A change or action callback's refusal: the cloud's request is answered
/// with [`Rejection::status`] and [`Rejection::message`] as its body, and an
/// attribute change is not applied (the reference: "if an error occurs
/// attempting to change the value, the new value is not set").
///
/// ```
/// use iotcs_device::Rejection;
///
/// let too_hot: Rejection = "too hot".into();
/// assert_eq!((too_hot.status(), too_hot.message()), (400, "too hot"));
/// let busy = Rejection::new("the valve is moving").with_status(409);
/// assert_eq!(busy.status(), 409);
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Rejection {
    status: u16,
    message: String,
}

impl Rejection {
    /// The status a rejection is answered with unless
    /// [`Rejection::with_status`] says otherwise: 400 Bad Request.
    pub const DEFAULT_STATUS: u16 = 400;

    /// A rejection answered [`Rejection::DEFAULT_STATUS`] (400) with
    /// `message` as the response body the cloud sees.
    pub fn new(message: impl Into<String>) -> Self {
        Rejection {
            status: Self::DEFAULT_STATUS,
            message: message.into(),
        }
    }

    /// Answers with `status` instead. Only a client or server error status
    /// (400 to 599) says "refused" to the cloud; any other is replaced by
    /// [`Rejection::DEFAULT_STATUS`] (and a warning logged), so a rejection
    /// can never read as a success.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        if (400..=599).contains(&status) {
            self.status = status;
        } else {
            log::warn!(target: "iotcs::device::rejection",
                "a callback rejected a request with status {status}, which is not an error \
                 status; answering {} instead",
                Self::DEFAULT_STATUS
            );
            self.status = Self::DEFAULT_STATUS;
        }
        self
    }

    /// The HTTP status the request is answered with.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The response body the cloud sees.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request rejected ({}): {}", self.status, self.message)
    }
}

impl std::error::Error for Rejection {}

impl From<&str> for Rejection {
    fn from(message: &str) -> Self {
        Rejection::new(message)
    }
}

impl From<String> for Rejection {
    fn from(message: String) -> Self {
        Rejection::new(message)
    }
}

/// An SDK error inside a callback (`?` on a `set`, say) rejects the request
/// with 500 Internal Server Error and the error's text: the device, not the
/// request, failed.
impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Rejection::new(error.to_string()).with_status(500)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_become_400_and_statuses_stay_errors() {
        let r: Rejection = String::from("too hot").into();
        assert_eq!((r.status(), r.message()), (400, "too hot"));
        assert_eq!(Rejection::new("x").with_status(503).status(), 503);
        for not_an_error in [0, 200, 204, 302, 600] {
            assert_eq!(Rejection::new("x").with_status(not_an_error).status(), 400);
        }
        let r = Rejection::from(Error::argument("no such thing"));
        assert_eq!(r.status(), 500);
        assert!(r.message().contains("no such thing"), "{}", r.message());
        assert_eq!(
            r.to_string(),
            format!("request rejected (500): {}", r.message())
        );
    }
}
