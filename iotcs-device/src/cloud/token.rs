//! The access token's lifecycle as plain state driven by its inputs (the
//! current time, the token endpoint's answers), with no IO and no clock.
//!
//! The protocol (spec §2): a token is fetched with a signed JWT client
//! assertion; it is refreshed before it expires and whenever an API call is
//! answered 401 or 403 (the call is then retried once). When the token request
//! itself is refused with 400 (18.x servers) or 403 (19.x) and the error body
//! carries the server's `currentTime`, the client's clock is off: remember the
//! offset, sign a new assertion in server time and try once more. The offset
//! also corrects every message's `eventTime`.

use std::fmt;

/// How long a client assertion is valid, from (server) now: 15 minutes, as
/// both Oracle libraries.
const ASSERTION_LIFETIME_SECS: i64 = 15 * 60;

/// A token is refreshed this long before it expires (or at half its lifetime
/// when that is shorter), so a request never leaves with a token that dies in
/// flight.
const REFRESH_MARGIN_MS: i64 = 60_000;

/// The lifetime assumed when the token response gives none: one hour, as the
/// service's observed `expires_in`.
const DEFAULT_LIFETIME_MS: i64 = 3_600_000;

/// What to do after the token endpoint refused an assertion.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The answer carried the server's time; the offset has been updated:
    /// sign a new assertion and try once more.
    RetryInServerTime,
    /// Give up: the credentials are not accepted.
    Fail,
}

/// The current token and the server clock offset.
pub(crate) struct TokenState {
    /// The `Authorization` header value (`"<token_type> <access_token>"`) and
    /// when it expires (local epoch ms).
    token: Option<(String, i64)>,
    /// Server time minus local time, in ms, learnt from a clock-skew refusal.
    server_offset_ms: i64,
}

impl TokenState {
    /// No token yet, no known offset.
    pub(crate) fn new() -> Self {
        TokenState {
            token: None,
            server_offset_ms: 0,
        }
    }

    /// The `Authorization` header value to use at `now`, or `None` when a
    /// token must be fetched first (none yet, or about to expire).
    pub(crate) fn authorization(&self, now: i64) -> Option<&str> {
        match &self.token {
            Some((header, expires_at)) if now < *expires_at => Some(header),
            _ => None,
        }
    }

    /// The `exp` claim (epoch seconds) of an assertion signed at local `now`.
    pub(crate) fn assertion_exp(&self, now: i64) -> i64 {
        self.server_now(now).div_euclid(1000) + ASSERTION_LIFETIME_SECS
    }

    /// Local `now` translated to the server's clock, for `eventTime`.
    pub(crate) fn server_now(&self, now: i64) -> i64 {
        now.saturating_add(self.server_offset_ms)
    }

    /// Server time minus local time, in ms (0 until a skew was learnt).
    pub(crate) fn server_offset_ms(&self) -> i64 {
        self.server_offset_ms
    }

    /// Records a token received at `now`: `authorization` is the header
    /// value (`"<token_type> <access_token>"`), `lifetime_ms` the normalised
    /// `expires_in` (`TokenResponse::lifetime_ms`). The stored expiry
    /// includes the refresh margin.
    pub(crate) fn accept(&mut self, authorization: String, lifetime_ms: Option<i64>, now: i64) {
        let lifetime = match lifetime_ms {
            Some(v) if v > 0 => v,
            _ => DEFAULT_LIFETIME_MS,
        };
        let margin = REFRESH_MARGIN_MS.min(lifetime / 2);
        self.token = Some((authorization, now.saturating_add(lifetime - margin)));
    }

    /// Forgets the token: an API call was answered 401/403, or the identity
    /// changed (activation).
    pub(crate) fn invalidate(&mut self) {
        self.token = None;
    }

    /// Forgets the token only if it is still `authorization`: a call refused
    /// with an old token must not throw away the new one another thread has
    /// fetched meanwhile.
    pub(crate) fn invalidate_if(&mut self, authorization: &str) {
        if self
            .token
            .as_ref()
            .is_some_and(|(current, _)| current == authorization)
        {
            self.token = None;
        }
    }

    /// Decides what to do after the token endpoint answered `status` with
    /// `body` at local `now`. `retried` says whether this was already the
    /// retry in server time (there is only one).
    pub(crate) fn refused(&mut self, status: u16, body: &[u8], now: i64, retried: bool) -> Refused {
        if retried || !(status == 400 || status == 403) {
            return Refused::Fail;
        }
        match server_time(body) {
            Some(server_ms) => {
                self.server_offset_ms = server_ms.saturating_sub(now);
                log::warn!(target: "iotcs::device::token",
                    "clock skew: the server's clock is {} ms ahead of ours",
                    self.server_offset_ms
                );
                Refused::RetryInServerTime
            }
            None => Refused::Fail,
        }
    }
}

impl fmt::Debug for TokenState {
    /// The token itself never appears in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenState")
            .field(
                "token",
                &self
                    .token
                    .as_ref()
                    .map(|(_, expires_at)| ("<redacted>", expires_at)),
            )
            .field("server_offset_ms", &self.server_offset_ms)
            .finish()
    }
}

/// The `currentTime` (epoch ms) of a token error body, as a number or a
/// numeric string.
fn server_time(body: &[u8]) -> Option<i64> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    match json.get("currentTime")? {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn no_token_means_fetch_first() {
        let state = TokenState::new();
        assert_eq!(state.authorization(NOW), None);
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    #[test]
    fn lifetime_is_used_until_the_refresh_margin() {
        let mut state = TokenState::new();
        state.accept(bearer("abc"), Some(3_600_000), NOW);
        assert_eq!(state.authorization(NOW), Some("Bearer abc"));
        assert_eq!(
            state.authorization(NOW + 3_600_000 - 60_001),
            Some("Bearer abc")
        );
        assert_eq!(state.authorization(NOW + 3_600_000 - 60_000), None);
    }

    #[test]
    fn short_lifetimes_refresh_at_half_life() {
        let mut state = TokenState::new();
        state.accept(bearer("abc"), Some(10_000), NOW);
        assert!(state.authorization(NOW + 4_999).is_some());
        assert!(state.authorization(NOW + 5_000).is_none());
    }

    #[test]
    fn missing_or_zero_lifetime_defaults_to_an_hour() {
        let mut state = TokenState::new();
        state.accept(bearer("abc"), None, NOW);
        assert_eq!(state.authorization(NOW + 3_000_000), Some("Bearer abc"));
        state.accept(bearer("abc"), Some(0), NOW);
        assert!(state.authorization(NOW + 3_000_000).is_some());
    }

    #[test]
    fn invalidate_forces_a_refresh() {
        let mut state = TokenState::new();
        state.accept(bearer("abc"), Some(3_600_000), NOW);
        state.invalidate();
        assert_eq!(state.authorization(NOW), None);
    }

    #[test]
    fn invalidate_if_spares_a_newer_token() {
        let mut state = TokenState::new();
        state.accept(bearer("new"), Some(3_600_000), NOW);
        state.invalidate_if("Bearer old");
        assert_eq!(state.authorization(NOW), Some("Bearer new"));
        state.invalidate_if("Bearer new");
        assert_eq!(state.authorization(NOW), None);
    }

    #[test]
    fn clock_skew_is_retried_once_in_server_time() {
        let mut state = TokenState::new();
        assert_eq!(state.assertion_exp(NOW), NOW / 1000 + 900);
        let body = br#"{"error":"invalid_client","currentTime":1700000600000}"#;
        assert_eq!(
            state.refused(400, body, NOW, false),
            Refused::RetryInServerTime
        );
        assert_eq!(state.server_now(NOW), NOW + 600_000);
        assert_eq!(state.assertion_exp(NOW), (NOW + 600_000) / 1000 + 900);
        // The retry failing again is final.
        assert_eq!(state.refused(400, body, NOW, true), Refused::Fail);
    }

    #[test]
    fn server_time_as_string_and_403_are_understood() {
        let mut state = TokenState::new();
        let body = br#"{"currentTime":"1699999990000"}"#;
        assert_eq!(
            state.refused(403, body, NOW, false),
            Refused::RetryInServerTime
        );
        assert_eq!(state.server_now(NOW), NOW - 10_000);
    }

    #[test]
    fn other_refusals_fail() {
        let mut state = TokenState::new();
        assert_eq!(state.refused(400, b"{}", NOW, false), Refused::Fail);
        assert_eq!(state.refused(400, b"not json", NOW, false), Refused::Fail);
        assert_eq!(
            state.refused(401, br#"{"currentTime":1}"#, NOW, false),
            Refused::Fail
        );
        assert_eq!(
            state.refused(400, br#"{"currentTime":true}"#, NOW, false),
            Refused::Fail
        );
        assert_eq!(state.server_now(NOW), NOW);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let mut state = TokenState::new();
        state.accept(bearer("secret-token-value"), Some(3_600_000), NOW);
        let text = format!("{state:?}");
        assert!(!text.contains("secret-token-value"), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
}
