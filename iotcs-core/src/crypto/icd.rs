//! The optional `signature` of an indirect activation (spec §4, protocol-js
//! §5): a gateway proves that it may register an indirectly-connected device
//! by signing its own endpoint id, either with the device's provisioned secret
//! (HMAC) or, for a "restricted" device without one, with the gateway's key.

use super::rsa::{RsaKeyPair, verify_rsa_sha256};
use super::{hmac_sha256, verify_hmac_sha256};
use crate::encoding::{base64_decode, base64_encode};

/// Standard base64 of HMAC-SHA256(key = the ICD's shared secret, message = the
/// gateway's endpoint id): the signature when the ICD's secret is provisioned
/// in the gateway's trusted assets store.
pub fn icd_signature_hmac(icd_secret: &[u8], gateway_endpoint_id: &str) -> String {
    base64_encode(&hmac_sha256(icd_secret, gateway_endpoint_id.as_bytes()))
}

/// Standard base64 of the gateway's `SHA256withRSA` signature over its own
/// endpoint id: the signature of a restricted registration of an ICD without a
/// provisioned secret (it locks the ICD to this gateway).
pub fn icd_signature_rsa(gateway_key: &RsaKeyPair, gateway_endpoint_id: &str) -> String {
    base64_encode(&gateway_key.sign_sha256(gateway_endpoint_id.as_bytes()))
}

/// Server side: whether `signature` (base64 in either alphabet) is the HMAC
/// signature of `gateway_endpoint_id` under the ICD's secret.
pub fn verify_icd_signature_hmac(
    icd_secret: &[u8],
    gateway_endpoint_id: &str,
    signature: &str,
) -> bool {
    base64_decode(signature)
        .is_ok_and(|tag| verify_hmac_sha256(icd_secret, gateway_endpoint_id.as_bytes(), &tag))
}

/// Server side: whether `signature` (base64 in either alphabet) is the
/// gateway's RSA signature of its endpoint id, under the gateway's registered
/// public key `gateway_spki_der`.
pub fn verify_icd_signature_rsa(
    gateway_spki_der: &[u8],
    gateway_endpoint_id: &str,
    signature: &str,
) -> bool {
    base64_decode(signature)
        .is_ok_and(|sig| verify_rsa_sha256(gateway_spki_der, gateway_endpoint_id.as_bytes(), &sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{other_test_key, test_key};

    #[test]
    fn hmac_signature_is_base64_of_the_mac() {
        let sig = icd_signature_hmac(b"icdSecretA", "GW-EP-1");
        assert_eq!(
            base64_decode(&sig).unwrap(),
            hmac_sha256(b"icdSecretA", b"GW-EP-1")
        );
        assert!(sig.ends_with('='), "32 bytes encode with one '=': {sig}");
        assert!(verify_icd_signature_hmac(b"icdSecretA", "GW-EP-1", &sig));
        assert!(!verify_icd_signature_hmac(b"icdSecretB", "GW-EP-1", &sig));
        assert!(!verify_icd_signature_hmac(b"icdSecretA", "GW-EP-2", &sig));
        assert!(!verify_icd_signature_hmac(
            b"icdSecretA",
            "GW-EP-1",
            "not base64!"
        ));
        assert!(!verify_icd_signature_hmac(b"icdSecretA", "GW-EP-1", ""));
    }

    #[test]
    fn rsa_signature_verifies_with_the_gateway_key_only() {
        let sig = icd_signature_rsa(test_key(), "GW-EP-1");
        assert!(verify_icd_signature_rsa(
            test_key().public_key_der(),
            "GW-EP-1",
            &sig
        ));
        assert!(!verify_icd_signature_rsa(
            other_test_key().public_key_der(),
            "GW-EP-1",
            &sig
        ));
        assert!(!verify_icd_signature_rsa(
            test_key().public_key_der(),
            "GW-EP-2",
            &sig
        ));
        let url_safe = sig.replace('+', "-").replace('/', "_");
        assert!(verify_icd_signature_rsa(
            test_key().public_key_der(),
            "GW-EP-1",
            &url_safe
        ));
        assert!(!verify_icd_signature_rsa(
            test_key().public_key_der(),
            "GW-EP-1",
            "%%"
        ));
    }
}
