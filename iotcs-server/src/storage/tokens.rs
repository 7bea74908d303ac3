//! Storage auth tokens (`X-Auth-Token`): opaque, in memory only, each with an
//! expiry. Like Swift's, a token is good for the whole container, not for
//! one endpoint's objects: a gateway uploads for its devices, and a device
//! downloads whatever object the cloud points it at.

use std::collections::HashMap;

use crate::state::DomainError;

/// Above this many tokens, expired ones are swept at the next issue.
const SWEEP_ABOVE: usize = 1024;

/// The storage tokens and their expiry (epoch ms).
#[derive(Debug, Default)]
pub(crate) struct StorageTokens {
    expiry: HashMap<String, i64>,
}

impl StorageTokens {
    /// A new token valid for `lifetime_ms` from `now`.
    pub(crate) fn issue(&mut self, lifetime_ms: i64, now: i64) -> Result<String, DomainError> {
        if self.expiry.len() > SWEEP_ABOVE {
            self.expiry.retain(|_, e| *e > now);
        }
        let mut bytes = [0u8; 16];
        iotcs_core::__private::fill_random(&mut bytes).map_err(DomainError::from)?;
        let token = format!("iotcs_st_{}", super::object::hex(&bytes));
        self.expiry
            .insert(token.clone(), now.saturating_add(lifetime_ms));
        Ok(token)
    }

    /// Whether `token` is known and unexpired; an expired one is dropped.
    pub(crate) fn valid(&mut self, token: &str, now: i64) -> bool {
        match self.expiry.get(token) {
            Some(e) if *e > now => true,
            Some(_) => {
                self.expiry.remove(token);
                false
            }
            None => false,
        }
    }

    /// Forgets every token (fault injection's `expireTokens`); returns how many.
    pub(crate) fn expire_all(&mut self) -> usize {
        std::mem::take(&mut self.expiry).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_can_be_revoked() {
        let mut t = StorageTokens::default();
        let a = t.issue(1000, 0).unwrap();
        assert!(t.valid(&a, 999));
        assert!(!t.valid(&a, 1000), "expired at its expiry");
        assert!(!t.valid(&a, 0), "and forgotten");
        let b = t.issue(1000, 0).unwrap();
        assert_ne!(a, b);
        assert!(!t.valid("nope", 0));
        assert_eq!(t.expire_all(), 1);
        assert!(!t.valid(&b, 0));
    }
}
