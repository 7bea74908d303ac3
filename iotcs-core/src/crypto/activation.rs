//! Direct activation (spec §3, protocol-js §4): the signed, CSR-like request a
//! device sends with its new public key, and the other JSON bodies of the
//! activation and token endpoints.
//!
//! The signature binds the key to the shared secret without sending it: it is
//! `SHA256withRSA` by the new key over `id\nkeyType\nX.509\nHmacSHA256\n` ||
//! HMAC-SHA256(secret, id) || the public key's SubjectPublicKeyInfo DER.

use serde::{Deserialize, Serialize};

use super::hmac_sha256;
use super::rsa::{RsaKeyPair, verify_rsa_sha256};
use crate::Error;
use crate::encoding::{base64_decode, base64_encode};

pub use super::wire::{
    ACTIVATED, ActivationPolicy, DirectActivationResponse, IndirectActivationRequest,
    IndirectActivationResponse, TokenResponse,
};

/// The `format` of the submitted public key.
pub const KEY_FORMAT: &str = "X.509";
/// The `secretHashAlgorithm`: how the shared secret enters the signature.
pub const SECRET_HASH_ALGORITHM: &str = "HmacSHA256";
/// The only `signatureAlgorithm` this crate signs and verifies.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";

/// The bytes the activation signature covers: UTF-8
/// `activation_id\nkey_type\nX.509\nHmacSHA256\n`, then
/// HMAC-SHA256(key = shared secret, message = activation id), then the public
/// key's SubjectPublicKeyInfo DER.
pub fn signature_input(
    activation_id: &str,
    key_type: &str,
    shared_secret: &[u8],
    spki_der: &[u8],
) -> Vec<u8> {
    let text = format!("{activation_id}\n{key_type}\n{KEY_FORMAT}\n{SECRET_HASH_ALGORITHM}\n");
    let mut out = Vec::with_capacity(text.len() + 32 + spki_der.len());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&hmac_sha256(shared_secret, activation_id.as_bytes()));
    out.extend_from_slice(spki_der);
    out
}

/// `certificationRequestInfo.subjectPublicKeyInfo` of a direct activation.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SubjectPublicKeyInfo {
    /// The policy's `keyType`, `RSA`.
    pub algorithm: String,
    /// Standard base64 of the SubjectPublicKeyInfo DER, on one line.
    pub public_key: String,
    /// `X.509`.
    pub format: String,
    /// `HmacSHA256`.
    pub secret_hash_algorithm: String,
}

/// `certificationRequestInfo` of a direct activation.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CertificationRequestInfo {
    /// The activation id.
    pub subject: String,
    /// The new public key.
    pub subject_public_key_info: SubjectPublicKeyInfo,
    /// Always `{}` in practice, and not part of the signature input here.
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// The body of `POST /iot/api/v2/activation/direct`.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DirectActivationRequest {
    /// Who is asking, and with which key.
    pub certification_request_info: CertificationRequestInfo,
    /// The policy's `hashAlgorithm`, echoed: `SHA256withRSA`.
    pub signature_algorithm: String,
    /// Standard base64 of the signature over [`signature_input`].
    pub signature: String,
    /// The device model URNs the device implements, capability URNs included.
    #[serde(default)]
    pub device_models: Vec<String>,
}

impl DirectActivationRequest {
    /// Builds and signs the request for `activation_id` with the new `key`,
    /// generated according to `policy`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] if the policy asks for a key type other than RSA
    /// or a signature algorithm other than `SHA256withRSA` (the server's
    /// answer is then not one this client can follow); [`Error::Argument`] if
    /// `key` does not have the policy's size.
    pub fn new(
        activation_id: &str,
        shared_secret: &[u8],
        key: &RsaKeyPair,
        device_models: Vec<String>,
        policy: &ActivationPolicy,
    ) -> Result<Self, Error> {
        if !policy.key_type.eq_ignore_ascii_case("RSA") {
            return Err(Error::protocol(format!(
                "activation policy keyType {:?} is not supported; only RSA is",
                policy.key_type
            )));
        }
        if !policy
            .hash_algorithm
            .eq_ignore_ascii_case(SIGNATURE_ALGORITHM)
        {
            return Err(Error::protocol(format!(
                "activation policy hashAlgorithm {:?} is not supported; only SHA256withRSA is",
                policy.hash_algorithm
            )));
        }
        if key.bits() != policy.key_size {
            return Err(Error::argument(format!(
                "the key has {} bits but the activation policy asks for keySize {}",
                key.bits(),
                policy.key_size
            )));
        }
        let spki = key.public_key_der();
        let input = signature_input(activation_id, &policy.key_type, shared_secret, spki);
        Ok(DirectActivationRequest {
            certification_request_info: CertificationRequestInfo {
                subject: activation_id.to_owned(),
                subject_public_key_info: SubjectPublicKeyInfo {
                    algorithm: policy.key_type.clone(),
                    public_key: base64_encode(spki),
                    format: KEY_FORMAT.to_owned(),
                    secret_hash_algorithm: SECRET_HASH_ALGORITHM.to_owned(),
                },
                attributes: serde_json::Map::new(),
            },
            signature_algorithm: policy.hash_algorithm.clone(),
            signature: base64_encode(&key.sign_sha256(&input)),
            device_models,
        })
    }

    /// The activation id the request is for (`certificationRequestInfo.subject`).
    pub fn subject(&self) -> &str {
        &self.certification_request_info.subject
    }

    /// Server side: checks the request against the device's `shared_secret`
    /// and returns the submitted public key (SubjectPublicKeyInfo DER), to be
    /// stored for RS256 client assertions.
    ///
    /// Base64 is accepted in either alphabet, and algorithm names in any case.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] if a field is not what Oracle's clients send
    /// (`RSA`, `X.509`, `HmacSHA256`, `SHA256withRSA`), the key or signature
    /// is not base64, or the signature does not verify (a wrong shared secret
    /// or a modified request).
    pub fn verify(&self, shared_secret: &[u8]) -> Result<Vec<u8>, Error> {
        let info = &self.certification_request_info;
        let key_info = &info.subject_public_key_info;
        let expect = |field: &str, value: &str, wanted: &str| {
            if value.eq_ignore_ascii_case(wanted) {
                Ok(())
            } else {
                Err(Error::security(format!(
                    "activation request {field} is {value:?}, expected {wanted:?}"
                )))
            }
        };
        expect("subjectPublicKeyInfo.algorithm", &key_info.algorithm, "RSA")?;
        expect("subjectPublicKeyInfo.format", &key_info.format, KEY_FORMAT)?;
        expect(
            "subjectPublicKeyInfo.secretHashAlgorithm",
            &key_info.secret_hash_algorithm,
            SECRET_HASH_ALGORITHM,
        )?;
        expect(
            "signatureAlgorithm",
            &self.signature_algorithm,
            SIGNATURE_ALGORITHM,
        )?;
        let spki = base64_decode(&key_info.public_key).map_err(|e| {
            Error::security(format!("activation request publicKey is not base64: {e}"))
        })?;
        let signature = base64_decode(&self.signature).map_err(|e| {
            Error::security(format!("activation request signature is not base64: {e}"))
        })?;
        let input = signature_input(&info.subject, &key_info.algorithm, shared_secret, &spki);
        if !verify_rsa_sha256(&spki, &input, &signature) {
            return Err(Error::security(format!(
                "activation signature of {:?} does not verify (wrong shared secret, or the \
                 request was modified)",
                info.subject
            )));
        }
        Ok(spki)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::crypto::{other_test_key, test_key};

    fn request() -> DirectActivationRequest {
        let models = vec!["urn:test:sensor".to_owned()];
        DirectActivationRequest::new(
            "ACT-1",
            b"secret",
            test_key(),
            models,
            &ActivationPolicy::default(),
        )
        .unwrap()
    }

    #[test]
    fn signature_input_layout() {
        let input = signature_input("ACT-1", "RSA", b"secret", b"SPKI");
        let text = b"ACT-1\nRSA\nX.509\nHmacSHA256\n";
        assert_eq!(&input[..text.len()], text);
        assert_eq!(
            &input[text.len()..text.len() + 32],
            &hmac_sha256(b"secret", b"ACT-1")
        );
        assert_eq!(&input[text.len() + 32..], b"SPKI");
    }

    #[test]
    fn wire_format_has_oracle_names_and_order() {
        let r = request();
        let json = serde_json::to_string(&r).unwrap();
        let prefix = r#"{"certificationRequestInfo":{"subject":"ACT-1","subjectPublicKeyInfo":{"algorithm":"RSA","publicKey":""#;
        assert!(json.starts_with(prefix), "{json}");
        assert!(
            json.contains(r#"","format":"X.509","secretHashAlgorithm":"HmacSHA256"},"attributes":{}},"signatureAlgorithm":"SHA256withRSA","signature":""#),
            "{json}"
        );
        assert!(
            json.ends_with(r#"","deviceModels":["urn:test:sensor"]}"#),
            "{json}"
        );
        let back: DirectActivationRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.subject(), "ACT-1");
    }

    #[test]
    fn build_then_verify() {
        let spki = request().verify(b"secret").unwrap();
        assert_eq!(spki, test_key().public_key_der());
    }

    #[test]
    fn verify_fails_for_wrong_secret_or_modified_request() {
        let r = request();
        let e = r.verify(b"Secret").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Security);
        assert!(e.to_string().contains("does not verify"), "{e}");

        let mut other_key = r.clone();
        other_key
            .certification_request_info
            .subject_public_key_info
            .public_key = base64_encode(other_test_key().public_key_der());
        assert!(
            other_key
                .verify(b"secret")
                .unwrap_err()
                .to_string()
                .contains("does not verify")
        );

        let mut other_subject = r.clone();
        other_subject.certification_request_info.subject = "ACT-2".into();
        assert!(other_subject.verify(b"secret").is_err());

        let mut bad_base64 = r.clone();
        bad_base64.signature = "***".into();
        assert!(
            bad_base64
                .verify(b"secret")
                .unwrap_err()
                .to_string()
                .contains("not base64")
        );

        let mut bad_format = r.clone();
        bad_format
            .certification_request_info
            .subject_public_key_info
            .format = "PKCS#1".into();
        let e = bad_format.verify(b"secret").unwrap_err();
        assert!(
            e.to_string()
                .contains("subjectPublicKeyInfo.format is \"PKCS#1\""),
            "{e}"
        );

        let mut md5 = r;
        md5.signature_algorithm = "MD5withRSA".into();
        assert!(
            md5.verify(b"secret")
                .unwrap_err()
                .to_string()
                .contains("signatureAlgorithm")
        );
    }

    #[test]
    fn builder_follows_the_policy() {
        let e = DirectActivationRequest::new(
            "A",
            b"s",
            test_key(),
            vec![],
            &ActivationPolicy::new("EC", 256, "SHA256withECDSA"),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Http);
        let e = DirectActivationRequest::new(
            "A",
            b"s",
            test_key(),
            vec![],
            &ActivationPolicy::new("RSA", 2048, "SHA1withRSA"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("SHA1withRSA"), "{e}");
        let e = DirectActivationRequest::new(
            "A",
            b"s",
            test_key(),
            vec![],
            &ActivationPolicy::new("RSA", 4096, "SHA256withRSA"),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Argument);
        assert!(
            e.to_string().contains("2048 bits") && e.to_string().contains("4096"),
            "{e}"
        );
    }
}
