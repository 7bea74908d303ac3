//! Access tokens: opaque 32 lower-case hex characters, mapped to the device
//! they were issued to, their scope and their expiry.

use std::collections::HashMap;

use super::DomainError;
use super::State;

/// What a token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// The device id the token was issued to.
    pub(crate) subject: String,
    /// `oracle/iot/activation` scope (only the activation endpoints), as
    /// opposed to the empty scope (everything else).
    pub(crate) activation: bool,
    /// Expiry in epoch milliseconds.
    pub(crate) expires: i64,
}

/// Above this many tokens, expired ones are swept at the next issue.
const SWEEP_ABOVE: usize = 1024;

/// The access tokens. Invariants: memory only (after a restart clients get
/// 401 and fetch a new one, as from the real service); an expired token is
/// never answered as valid, and is dropped when met.
#[derive(Default)]
pub(crate) struct Tokens {
    /// Tokens by their value.
    pub(super) by_value: HashMap<String, Token>,
}

impl Tokens {
    /// Issues a token for `subject`, valid for `lifetime_ms` from `now`;
    /// sweeps expired tokens first when there are many.
    fn issue(
        &mut self,
        subject: &str,
        activation: bool,
        lifetime_ms: i64,
        now: i64,
    ) -> Result<String, DomainError> {
        if self.by_value.len() > SWEEP_ABOVE {
            self.by_value.retain(|_, t| t.expires > now);
        }
        let mut bytes = [0u8; 16];
        iotcs_core::__private::fill_random(&mut bytes).map_err(DomainError::from)?;
        let token = iotcs_core::__private::encoding::hex_encode(&bytes).to_ascii_lowercase();
        self.by_value.insert(
            token.clone(),
            Token {
                subject: subject.to_owned(),
                activation,
                expires: now.saturating_add(lifetime_ms),
            },
        );
        Ok(token)
    }

    /// The grant of a valid, unexpired token; an expired one is dropped.
    fn grant(&mut self, token: &str, now: i64) -> Option<Token> {
        match self.by_value.get(token) {
            Some(t) if t.expires > now => Some(t.clone()),
            Some(_) => {
                self.by_value.remove(token);
                None
            }
            None => None,
        }
    }
}

impl State {
    /// Issues a token for `subject`; returns it and its lifetime in ms.
    pub(crate) fn issue_token(
        &mut self,
        subject: &str,
        activation: bool,
        now: i64,
    ) -> Result<(String, i64), DomainError> {
        let lifetime = self.limits.token_lifetime_ms;
        let token = self.tokens.issue(subject, activation, lifetime, now)?;
        Ok((token, lifetime))
    }

    /// The grant of a valid, unexpired token.
    pub(crate) fn token(&mut self, token: &str, now: i64) -> Option<Token> {
        self.tokens.grant(token, now)
    }

    /// Every token held (issued, not yet revoked or swept).
    pub(crate) fn token_values(&self) -> Vec<String> {
        self.tokens.by_value.keys().cloned().collect()
    }

    /// Invalidates every token (fault injection: "expire every token now").
    pub(crate) fn expire_tokens(&mut self) -> usize {
        let n = self.tokens.by_value.len();
        self.tokens.by_value.clear();
        n
    }

    /// Invalidates the tokens of one device (when its credentials change).
    pub(crate) fn revoke_tokens_of(&mut self, subject: &str) {
        self.tokens.by_value.retain(|_, t| t.subject != subject);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::state;

    #[test]
    fn tokens_are_hex_and_expire() {
        let mut s = state();
        let (t, lifetime) = s.issue_token("DEV", false, 1000).unwrap();
        assert_eq!(t.len(), 32);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{t}"
        );
        assert_eq!(lifetime, 3_600_000);
        assert_eq!(s.token(&t, 1000).unwrap().subject, "DEV");
        assert!(s.token(&t, 1000 + lifetime).is_none(), "expired");
        assert!(s.token(&t, 1000).is_none(), "and removed");
        assert!(s.token("nope", 0).is_none());
    }

    #[test]
    fn tokens_can_be_expired_and_revoked() {
        let mut s = state();
        let (a, _) = s.issue_token("A", true, 0).unwrap();
        let (b, _) = s.issue_token("B", false, 0).unwrap();
        s.revoke_tokens_of("A");
        assert!(s.token(&a, 1).is_none());
        assert!(s.token(&b, 1).is_some());
        assert_eq!(s.expire_tokens(), 1);
        assert!(s.token(&b, 1).is_none());
    }
}
