//! JSON bodies of the token and activation endpoints that carry no signature
//! logic (spec §2.1, §3.1, §3.3, §4). Field names are exactly the wire's, so a
//! device and the local cloud serialise them the same way. Fields are public
//! for reading; the structs are `#[non_exhaustive]`, so build them with the
//! constructors.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::Error;

/// The answer of `GET /iot/api/v2/activation/policy`:
/// `{"keyType":"RSA","keySize":2048,"hashAlgorithm":"SHA256withRSA"}`.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ActivationPolicy {
    /// The key algorithm; Oracle's clients only make RSA keys.
    pub key_type: String,
    /// The RSA modulus size in bits.
    pub key_size: u32,
    /// The signature algorithm, echoed in the activation request; Java uses it
    /// as a JCA name, so it must be `SHA256withRSA`.
    pub hash_algorithm: String,
}

impl ActivationPolicy {
    /// A policy with the given fields.
    pub fn new(key_type: &str, key_size: u32, hash_algorithm: &str) -> Self {
        ActivationPolicy {
            key_type: key_type.to_owned(),
            key_size,
            hash_algorithm: hash_algorithm.to_owned(),
        }
    }
}

impl Default for ActivationPolicy {
    /// What Oracle's cloud answers: RSA, 2048 bits, `SHA256withRSA`.
    fn default() -> Self {
        ActivationPolicy::new("RSA", 2048, "SHA256withRSA")
    }
}

/// The `endpointState` of a successful activation.
pub const ACTIVATED: &str = "ACTIVATED";

/// Accepts `activationTime` as a string (what the samples show) or a number.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// The answer of a direct or indirect activation:
/// `{"endpointId":"…","activationTime":"…","endpointState":"ACTIVATED"}`.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DirectActivationResponse {
    /// The endpoint id the server assigned.
    pub endpoint_id: String,
    /// When the device was activated, as the server formats it.
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub activation_time: Option<String>,
    /// `ACTIVATED` on success.
    pub endpoint_state: String,
    /// An endpoint certificate; Java expects base64 DER and JS PEM, so a server
    /// should leave it out (both clients then make a self-signed one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// The answer of `POST /iot/api/v2/activation/indirect/device`: the same shape
/// as a direct activation's, without a certificate.
pub type IndirectActivationResponse = DirectActivationResponse;

impl DirectActivationResponse {
    /// A successful activation of `endpoint_id`.
    pub fn activated(endpoint_id: &str) -> Self {
        DirectActivationResponse {
            endpoint_id: endpoint_id.to_owned(),
            activation_time: None,
            endpoint_state: ACTIVATED.to_owned(),
            certificate: None,
        }
    }

    /// Sets `activationTime` (e.g. ISO-8601 text).
    #[must_use]
    pub fn with_activation_time(mut self, time: &str) -> Self {
        self.activation_time = Some(time.to_owned());
        self
    }

    /// The endpoint id if the answer reports success, as Oracle's clients
    /// require: a non-empty `endpointId` and `endpointState` `ACTIVATED`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] naming the field that is wrong.
    pub fn ensure_activated(&self) -> Result<&str, Error> {
        if self.endpoint_id.is_empty() {
            return Err(Error::protocol("activation answer has an empty endpointId"));
        }
        if self.endpoint_state != ACTIVATED {
            return Err(Error::protocol(format!(
                "activation answer has endpointState {:?}, expected \"ACTIVATED\"",
                self.endpoint_state
            )));
        }
        Ok(&self.endpoint_id)
    }
}

/// The body of `POST /iot/api/v2/activation/indirect/device`: flat, with the
/// device's metadata (`manufacturer`, `modelNumber`, `serialNumber`, …) at the
/// top level beside `hardwareId`, `deviceModels` and the optional `signature`.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IndirectActivationRequest {
    /// The indirectly-connected device's hardware id.
    pub hardware_id: String,
    /// Metadata, string values only, sent as top-level keys.
    #[serde(flatten)]
    pub metadata: BTreeMap<String, String>,
    /// The device model URNs of the device.
    pub device_models: Vec<String>,
    /// Base64 of the HMAC or RSA signature of the gateway's endpoint id (see
    /// [`super::icd_signature_hmac`] and [`super::icd_signature_rsa`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Keys of [`IndirectActivationRequest`] that metadata may not use.
const RESERVED_KEYS: [&str; 3] = ["hardwareId", "deviceModels", "signature"];

impl IndirectActivationRequest {
    /// A request without metadata or signature.
    pub fn new(hardware_id: &str, device_models: Vec<String>) -> Self {
        IndirectActivationRequest {
            hardware_id: hardware_id.to_owned(),
            metadata: BTreeMap::new(),
            device_models,
            signature: None,
        }
    }

    /// Adds one metadata key.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `key` is `hardwareId`, `deviceModels` or
    /// `signature`, which would collide with the request's own fields.
    pub fn with_metadata(mut self, key: &str, value: &str) -> Result<Self, Error> {
        if RESERVED_KEYS.contains(&key) {
            return Err(Error::argument(format!(
                "metadata key {key:?} is reserved by the indirect activation request"
            )));
        }
        self.metadata.insert(key.to_owned(), value.to_owned());
        Ok(self)
    }

    /// Sets the signature (standard base64).
    #[must_use]
    pub fn with_signature(mut self, signature: String) -> Self {
        self.signature = Some(signature);
        self
    }
}

/// The answer of `POST /iot/api/v2/oauth2/token`. `Debug` hides the token.
#[derive(Clone, Deserialize, Eq, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The opaque bearer token.
    pub access_token: String,
    /// `Bearer`; the `Authorization` header is `<token_type> <access_token>`.
    pub token_type: String,
    /// The lifetime, in milliseconds in Oracle's cloud (see
    /// [`TokenResponse::lifetime_ms`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
}

impl TokenResponse {
    /// A bearer token valid for `expires_in_ms` milliseconds.
    pub fn bearer(access_token: &str, expires_in_ms: i64) -> Self {
        TokenResponse {
            access_token: access_token.to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: Some(expires_in_ms),
        }
    }

    /// The value of the `Authorization` header.
    pub fn authorization(&self) -> String {
        format!("{} {}", self.token_type, self.access_token)
    }

    /// The lifetime in milliseconds. Oracle's cloud sends milliseconds, but a
    /// standard OAuth2 server sends seconds, so a value under 60000 (a minute
    /// in milliseconds, which no real token lasts) is taken as seconds
    /// (spec §2.1). Negative values count as 0.
    pub fn lifetime_ms(&self) -> Option<i64> {
        self.expires_in.map(|v| match v {
            ..=0 => 0,
            1..60_000 => v * 1000,
            _ => v,
        })
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn policy_wire_format() {
        let p: ActivationPolicy = serde_json::from_str(
            r#"{"keyType":"RSA","hashAlgorithm":"SHA256withRSA","keySize":2048}"#,
        )
        .unwrap();
        assert_eq!(p, ActivationPolicy::default());
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"keyType":"RSA","keySize":2048,"hashAlgorithm":"SHA256withRSA"}"#
        );
        assert!(serde_json::from_str::<ActivationPolicy>(r#"{"keyType":"RSA"}"#).is_err());
    }

    #[test]
    fn activation_response_wire_format() {
        let r: DirectActivationResponse = serde_json::from_str(
            r#"{"endpointId":"EP-1","activationTime":"2020-01-01T00:00:00.000Z","endpointState":"ACTIVATED"}"#,
        )
        .unwrap();
        assert_eq!(r.ensure_activated().unwrap(), "EP-1");
        assert_eq!(
            r.activation_time.as_deref(),
            Some("2020-01-01T00:00:00.000Z")
        );
        let r: DirectActivationResponse = serde_json::from_str(
            r#"{"endpointId":"EP","activationTime":1600000000000,"endpointState":"ACTIVATED"}"#,
        )
        .unwrap();
        assert_eq!(r.activation_time.as_deref(), Some("1600000000000"));
        let built = DirectActivationResponse::activated("EP-2").with_activation_time("t");
        assert_eq!(
            serde_json::to_string(&built).unwrap(),
            r#"{"endpointId":"EP-2","activationTime":"t","endpointState":"ACTIVATED"}"#
        );
        let pending = DirectActivationResponse {
            endpoint_state: "PENDING".into(),
            ..built.clone()
        };
        let e = pending.ensure_activated().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Http);
        assert!(e.to_string().contains("\"PENDING\""), "{e}");
        let empty = IndirectActivationResponse::activated("");
        assert!(
            empty
                .ensure_activated()
                .unwrap_err()
                .to_string()
                .contains("endpointId")
        );
    }

    #[test]
    fn indirect_request_is_flat() {
        let r = IndirectActivationRequest::new("ICD-1", vec!["urn:test:sensor".into()])
            .with_metadata("manufacturer", "Acme")
            .unwrap()
            .with_metadata("serialNumber", "42")
            .unwrap()
            .with_signature("c2ln".into());
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"hardwareId":"ICD-1","manufacturer":"Acme","serialNumber":"42","deviceModels":["urn:test:sensor"],"signature":"c2ln"}"#
        );
        let back: IndirectActivationRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let unsigned: IndirectActivationRequest =
            serde_json::from_str(r#"{"deviceModels":[],"hardwareId":"X","protocol":"zigbee"}"#)
                .unwrap();
        assert_eq!(unsigned.signature, None);
        assert_eq!(
            unsigned.metadata.get("protocol").map(String::as_str),
            Some("zigbee")
        );
        let e = IndirectActivationRequest::new("X", vec![])
            .with_metadata("signature", "x")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Argument);
    }

    #[test]
    fn token_response_lifetime_and_debug() {
        let t: TokenResponse = serde_json::from_str(
            r#"{"expires_in":3600000,"token_type":"Bearer","access_token":"0123456789abcdef0123456789abcdef"}"#,
        )
        .unwrap();
        assert_eq!(t.lifetime_ms(), Some(3_600_000));
        assert_eq!(t.authorization(), "Bearer 0123456789abcdef0123456789abcdef");
        let text = format!("{t:?}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert_eq!(
            TokenResponse::bearer("x", 3600).lifetime_ms(),
            Some(3_600_000)
        );
        assert_eq!(
            TokenResponse::bearer("x", 60_000).lifetime_ms(),
            Some(60_000)
        );
        assert_eq!(TokenResponse::bearer("x", -5).lifetime_ms(), Some(0));
        let no_expiry: TokenResponse =
            serde_json::from_str(r#"{"token_type":"Bearer","access_token":"a"}"#).unwrap();
        assert_eq!(no_expiry.lifetime_ms(), None);
        assert_eq!(
            serde_json::to_string(&TokenResponse::bearer("a", 5)).unwrap(),
            r#"{"access_token":"a","token_type":"Bearer","expires_in":5}"#
        );
    }
}
