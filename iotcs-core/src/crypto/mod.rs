//! The protocol's cryptography, as pure functions over keys passed in: JWT
//! client assertions ([`jwt`], spec §2.2), the direct-activation signature and
//! the activation wire types ([`activation`], spec §3), the indirect-activation
//! (ICD registration) signatures (spec §4), RSA keys and HMAC-SHA256.
//!
//! Everything is built on aws-lc-rs, the provider rustls already uses, so the
//! SDK carries one cryptographic library. Keys and secrets never appear in
//! `Debug` output.

pub mod activation;
mod icd;
pub mod jwt;
mod rsa;
mod wire;

pub use icd::{
    icd_signature_hmac, icd_signature_rsa, verify_icd_signature_hmac, verify_icd_signature_rsa,
};
pub use rsa::{RsaKeyPair, SUPPORTED_RSA_KEY_SIZES, verify_rsa_sha256};

use aws_lc_rs::hmac;

#[cfg(test)]
pub(crate) use rsa::tests::{other_test_key, test_key};

/// HMAC-SHA256 of `data` under `key` (any length; the raw shared-secret bytes
/// in this protocol).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Whether `tag` is the HMAC-SHA256 of `data` under `key`, compared in
/// constant time.
pub fn verify_hmac_sha256(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), data, tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::hex_encode;

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex_encode(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_hmac_sha256(
            b"Jefe",
            b"what do ya want for nothing?",
            &tag
        ));
        assert!(!verify_hmac_sha256(
            b"Jefe",
            b"what do ya want for nothing!",
            &tag
        ));
        assert!(!verify_hmac_sha256(
            b"Jefe",
            b"what do ya want for nothing?",
            &tag[..31]
        ));
    }
}
