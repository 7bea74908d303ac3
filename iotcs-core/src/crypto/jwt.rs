//! The JWT client assertion of the token request (spec §2.2, protocol-js §3).
//!
//! The device signs `{"iss":id,"sub":id,"aud":"oracle/iot/oauth2/token","exp":E}`
//! with its shared secret (HS256, before activation) or its private key
//! (RS256, after). We emit unpadded base64url (RFC 7515). The parser is for the
//! server side and is lenient, because Oracle's clients differ: Java pads every
//! segment, and Node signs the *standard*-alphabet text and only then maps it
//! to the URL alphabet, so a verifier has to try both forms.

use std::fmt;

use serde_json::Value;

use super::rsa::{RsaKeyPair, verify_rsa_sha256};
use super::{hmac_sha256, verify_hmac_sha256};
use crate::Error;
use crate::encoding::{base64_decode, base64url_encode};

/// The `aud` claim every client assertion carries.
pub const AUDIENCE: &str = "oracle/iot/oauth2/token";

/// The token request's `grant_type`.
pub const GRANT_TYPE: &str = "client_credentials";

/// The token request's `client_assertion_type`: a JWT bearer assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The `scope` of an activation token (HS256 assertion, before
/// activation); a device token's scope is empty.
pub const ACTIVATION_SCOPE: &str = "oracle/iot/activation";

/// How far in the future a client assertion may expire. Oracle's clients
/// use 15 minutes; beyond an hour the client's clock is taken to be wrong.
pub const MAX_ASSERTION_AHEAD_SECS: i64 = 3600;

/// The signature algorithm of a client assertion.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA256 keyed with the shared secret (before activation).
    Hs256,
    /// RSASSA-PKCS1-v1_5 SHA-256 with the device key (after activation).
    Rs256,
}

impl Algorithm {
    /// The JOSE name, `HS256` or `RS256`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Algorithm::Hs256 => "HS256",
            Algorithm::Rs256 => "RS256",
        }
    }
}

fn signing_input(alg: Algorithm, id: &str, exp_secs: i64) -> String {
    // Written by hand to keep Oracle's key order; `Value::from(id)` escapes the id.
    let header = format!(r#"{{"typ":"JWT","alg":"{}"}}"#, alg.as_str());
    let id = Value::from(id);
    let claims = format!(r#"{{"iss":{id},"sub":{id},"aud":"{AUDIENCE}","exp":{exp_secs}}}"#);
    format!(
        "{}.{}",
        base64url_encode(header.as_bytes()),
        base64url_encode(claims.as_bytes())
    )
}

/// An HS256 client assertion for the device `id` (its activation id), signed
/// with the raw shared-secret bytes, expiring at `exp_secs` (Unix seconds;
/// Oracle's clients use now + 15 minutes).
pub fn client_assertion_hs256(id: &str, secret: &[u8], exp_secs: i64) -> String {
    let input = signing_input(Algorithm::Hs256, id, exp_secs);
    let signature = base64url_encode(&hmac_sha256(secret, input.as_bytes()));
    format!("{input}.{signature}")
}

/// An RS256 client assertion for the endpoint `id`, signed with the device's
/// private key, expiring at `exp_secs` (Unix seconds).
///
/// # Errors
///
/// None today; the `Result` leaves room for keys held elsewhere (e.g. a
/// hardware module) whose signing can fail.
pub fn client_assertion_rs256(id: &str, key: &RsaKeyPair, exp_secs: i64) -> Result<String, Error> {
    let input = signing_input(Algorithm::Rs256, id, exp_secs);
    let signature = base64url_encode(&key.sign_sha256(input.as_bytes()));
    Ok(format!("{input}.{signature}"))
}

/// A parsed, not yet verified client assertion. `Debug` omits the signature
/// and the token text, which are credentials until `exp`.
#[derive(Clone, Eq, PartialEq)]
pub struct ClientAssertion {
    alg: Algorithm,
    iss: String,
    sub: Option<String>,
    aud: String,
    exp: i64,
    signing_input: String,
    signature: Vec<u8>,
}

impl ClientAssertion {
    /// The header's `alg`.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The issuer: the activation id (HS256) or the endpoint id (RS256).
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// The subject, equal to the issuer in Oracle's libraries; absent in
    /// Oracle's REST sample.
    pub fn sub(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// The audience; Oracle's clients send [`AUDIENCE`].
    pub fn aud(&self) -> &str {
        &self.aud
    }

    /// The expiry in Unix seconds. Checking it against the clock is the
    /// caller's job (this crate reads no clock).
    pub fn exp(&self) -> i64 {
        self.exp
    }

    /// The received text before the last `.`, which the signature covers.
    pub fn signing_input(&self) -> &str {
        &self.signing_input
    }

    /// The signature input as Node signed it: URL alphabet mapped back to the
    /// standard one. `None` when that is the same text.
    fn standard_alphabet_input(&self) -> Option<String> {
        self.signing_input
            .contains(['-', '_'])
            .then(|| self.signing_input.replace('-', "+").replace('_', "/"))
    }

    fn verify_with(&self, check: impl Fn(&[u8]) -> bool) -> bool {
        check(self.signing_input.as_bytes())
            || self
                .standard_alphabet_input()
                .is_some_and(|text| check(text.as_bytes()))
    }

    /// Whether this is an HS256 assertion whose signature is valid under the
    /// shared secret `secret` (over the received text, or its standard-alphabet
    /// form for Node's clients).
    pub fn verify_hs256(&self, secret: &[u8]) -> bool {
        self.alg == Algorithm::Hs256
            && self.verify_with(|input| verify_hmac_sha256(secret, input, &self.signature))
    }

    /// Whether this is an RS256 assertion whose signature is valid under the
    /// device's public key `spki_der` (SubjectPublicKeyInfo DER).
    pub fn verify_rs256(&self, spki_der: &[u8]) -> bool {
        self.alg == Algorithm::Rs256
            && self.verify_with(|input| verify_rsa_sha256(spki_der, input, &self.signature))
    }
}

/// Why a token endpoint refuses a client assertion's claims (its signature
/// is checked apart, with the key of the device `iss` names).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ClaimError {
    /// `aud` is not [`AUDIENCE`].
    Audience,
    /// `sub` is present and is not `iss`.
    Subject,
    /// `exp` has passed.
    Expired {
        /// The claim, Unix seconds.
        exp: i64,
        /// The verifier's clock, Unix seconds.
        now: i64,
    },
    /// `exp` is more than [`MAX_ASSERTION_AHEAD_SECS`] away.
    TooFarAhead {
        /// The claim, Unix seconds.
        exp: i64,
        /// The verifier's clock, Unix seconds.
        now: i64,
    },
}

impl ClaimError {
    /// Whether the problem is the clock (the client's or the verifier's)
    /// rather than who the assertion is for.
    pub fn is_clock(&self) -> bool {
        matches!(
            self,
            ClaimError::Expired { .. } | ClaimError::TooFarAhead { .. }
        )
    }
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (why, exp, now) = match self {
            ClaimError::Audience => return write!(f, "aud must be {AUDIENCE:?}"),
            ClaimError::Subject => return f.write_str("sub differs from iss"),
            ClaimError::Expired { exp, now } => ("has expired", exp, now),
            ClaimError::TooFarAhead { exp, now } => ("expires too far in the future", exp, now),
        };
        write!(
            f,
            "the client assertion {why} (exp {exp}, server time {now}); check the clock"
        )
    }
}

impl std::error::Error for ClaimError {}

impl ClientAssertion {
    /// Checks who the assertion is for: `aud` is [`AUDIENCE`], and `sub`,
    /// when present, is `iss`. A token endpoint checks this before looking
    /// the device up.
    ///
    /// # Errors
    ///
    /// [`ClaimError::Audience`] or [`ClaimError::Subject`].
    pub fn check_audience(&self) -> Result<(), ClaimError> {
        if self.aud != AUDIENCE {
            return Err(ClaimError::Audience);
        }
        if self.sub.as_ref().is_some_and(|sub| *sub != self.iss) {
            return Err(ClaimError::Subject);
        }
        Ok(())
    }

    /// Checks `exp` against the verifier's clock `now_secs` (Unix seconds):
    /// not passed, and at most [`MAX_ASSERTION_AHEAD_SECS`] away.
    ///
    /// # Errors
    ///
    /// [`ClaimError::Expired`] or [`ClaimError::TooFarAhead`].
    pub fn check_expiry(&self, now_secs: i64) -> Result<(), ClaimError> {
        let (exp, now) = (self.exp, now_secs);
        if exp < now {
            Err(ClaimError::Expired { exp, now })
        } else if exp > now.saturating_add(MAX_ASSERTION_AHEAD_SECS) {
            Err(ClaimError::TooFarAhead { exp, now })
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertion")
            .field("alg", &self.alg)
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

fn bad(reason: impl fmt::Display) -> Error {
    Error::security(format!("malformed client assertion: {reason}"))
}

fn json_segment(segment: &str, name: &str) -> Result<serde_json::Map<String, Value>, Error> {
    let bytes = base64_decode(segment).map_err(|e| bad(format!("{name} is not base64: {e}")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad(format!("{name} is not a JSON object"))),
        Err(e) => Err(bad(format!("{name} is not JSON: {e}"))),
    }
}

fn string_claim(
    claims: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<String>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("claim {name:?} is not a string"))),
    }
}

/// Parses a client assertion without verifying it. Accepts both base64
/// alphabets, padded or not, in every segment (`=` may end the header and
/// claims segments, as Node's clients send them).
///
/// # Errors
///
/// [`Error::Security`] naming the problem: not three `.`-separated segments,
/// a segment that is not base64 or not a JSON object, an `alg` other than
/// HS256 or RS256, or a missing or mistyped `iss`, `aud` or `exp`.
pub fn parse(token: &str) -> Result<ClientAssertion, Error> {
    let segments: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = segments[..] else {
        return Err(bad(format!(
            "expected 3 dot-separated segments, found {}",
            segments.len()
        )));
    };
    let header = json_segment(header, "header")?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => Algorithm::Hs256,
        Some(Value::String(alg)) if alg == "RS256" => Algorithm::Rs256,
        Some(Value::String(alg)) => {
            return Err(bad(format!(
                "unsupported alg {alg:?}; expected HS256 or RS256"
            )));
        }
        _ => return Err(bad("header has no string \"alg\"")),
    };
    let claims = json_segment(claims, "claims")?;
    let iss = string_claim(&claims, "iss")?.ok_or_else(|| bad("claim \"iss\" is missing"))?;
    let sub = string_claim(&claims, "sub")?;
    let aud = string_claim(&claims, "aud")?.ok_or_else(|| bad("claim \"aud\" is missing"))?;
    let exp = match claims.get("exp") {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| bad("claim \"exp\" is not a whole number of seconds"))?,
        Some(_) => return Err(bad("claim \"exp\" is not a number")),
        None => return Err(bad("claim \"exp\" is missing")),
    };
    let signature =
        base64_decode(signature).map_err(|e| bad(format!("signature is not base64: {e}")))?;
    let signing_input = token[..token.rfind('.').expect("three segments have a '.'")].to_owned();
    Ok(ClientAssertion {
        alg,
        iss,
        sub,
        aud,
        exp,
        signing_input,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ErrorKind;
    use crate::crypto::{other_test_key, test_key};
    use crate::encoding::base64_encode;

    /// Written by Oracle's Node library (protocol-js §3): note the `=` that
    /// survives at the end of the claims segment.
    const NODE_VECTOR: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJBQ1QtREVWSUNFLTEiLCJzdWIiOiJBQ1QtREVWSUNFLTEiLCJhdWQiOiJvcmFjbGUvaW90L29hdXRoMi90b2tlbiIsImV4cCI6MTc5NTUzMTI2N30=.88-xGLmhDsAJtTyIpBjAVOyO4XciR6aexyA-bCIZ_LM";

    #[test]
    fn oracle_node_vector_verifies() {
        let a = parse(NODE_VECTOR).unwrap();
        assert_eq!(a.alg(), Algorithm::Hs256);
        assert_eq!(a.iss(), "ACT-DEVICE-1");
        assert_eq!(a.sub(), Some("ACT-DEVICE-1"));
        assert_eq!(a.aud(), AUDIENCE);
        assert_eq!(a.exp(), 1_795_531_267);
        assert!(a.verify_hs256(b"sharedSecret123"));
        assert!(!a.verify_hs256(b"sharedSecret124"));
        assert!(
            !a.verify_rs256(test_key().public_key_der()),
            "alg confusion"
        );
        // Our encoder differs only in dropping that padding.
        let ours = client_assertion_hs256("ACT-DEVICE-1", b"sharedSecret123", 1_795_531_267);
        let (ours_input, _) = ours.rsplit_once('.').unwrap();
        let (node_input, _) = NODE_VECTOR.rsplit_once('.').unwrap();
        assert_eq!(ours_input, node_input.trim_end_matches('='));
    }

    #[test]
    fn hs256_layout_and_round_trip() {
        let token = client_assertion_hs256("dev \"1\"", b"secret", 42);
        assert!(!token.contains(['=', '+', '/']), "{token}");
        let segments: Vec<&str> = token.split('.').collect();
        assert_eq!(
            base64_decode(segments[0]).unwrap(),
            br#"{"typ":"JWT","alg":"HS256"}"#
        );
        assert_eq!(
            String::from_utf8(base64_decode(segments[1]).unwrap()).unwrap(),
            r#"{"iss":"dev \"1\"","sub":"dev \"1\"","aud":"oracle/iot/oauth2/token","exp":42}"#
        );
        let a = parse(&token).unwrap();
        assert_eq!(a.iss(), "dev \"1\"");
        assert!(a.verify_hs256(b"secret"));
        assert!(!a.verify_hs256(b"Secret"));
    }

    #[test]
    fn rs256_round_trip() {
        let token = client_assertion_rs256("EP-1", test_key(), 1_700_000_000).unwrap();
        let a = parse(&token).unwrap();
        assert_eq!(a.alg(), Algorithm::Rs256);
        assert_eq!(a.exp(), 1_700_000_000);
        assert!(a.verify_rs256(test_key().public_key_der()));
        assert!(!a.verify_rs256(other_test_key().public_key_der()));
        assert!(!a.verify_hs256(b"anything"));
    }

    #[test]
    fn java_padded_and_node_standard_alphabet_forms_verify() {
        // Java: base64url with padding, signed over what it sends.
        let header = br#"{"typ":"JWT","alg":"HS256"}"#;
        // Claims chosen so that standard base64 contains '+' and '/'.
        let claims = br#"{"iss":"a>>>?","sub":"a>>>?","aud":"oracle/iot/oauth2/token","exp":7}"#;
        let std_input = format!("{}.{}", base64_encode(header), base64_encode(claims));
        assert!(std_input.contains(['+', '/']), "{std_input}");
        let url_input = std_input.replace('+', "-").replace('/', "_");
        let java = format!(
            "{url_input}.{}",
            base64_encode(&hmac_sha256(b"k", url_input.as_bytes()))
                .replace('+', "-")
                .replace('/', "_")
        );
        assert!(parse(&java).unwrap().verify_hs256(b"k"));
        // Node: signs the standard-alphabet text, then maps the whole token.
        let node = format!(
            "{std_input}.{}",
            base64_encode(&hmac_sha256(b"k", std_input.as_bytes()))
        )
        .replace('+', "-")
        .replace('/', "_");
        let node = node.trim_end_matches('=');
        let a = parse(node).unwrap();
        assert_eq!(a.iss(), "a>>>?");
        assert!(a.verify_hs256(b"k"));
        assert!(!a.verify_hs256(b"j"));
    }

    #[test]
    fn tampered_tokens_fail() {
        let token = client_assertion_hs256("DEV", b"secret", 100);
        let (input, sig) = token.rsplit_once('.').unwrap();
        let forged_claims = base64url_encode(
            br#"{"iss":"EVIL","sub":"EVIL","aud":"oracle/iot/oauth2/token","exp":100}"#,
        );
        let header = input.split('.').next().unwrap();
        assert!(
            !parse(&format!("{header}.{forged_claims}.{sig}"))
                .unwrap()
                .verify_hs256(b"secret")
        );
        let mut bad_sig = base64_decode(sig).unwrap();
        bad_sig[0] ^= 1;
        let tampered = format!("{input}.{}", base64url_encode(&bad_sig));
        assert!(!parse(&tampered).unwrap().verify_hs256(b"secret"));
        let truncated = format!(
            "{input}.{}",
            base64url_encode(&base64_decode(sig).unwrap()[..31])
        );
        assert!(!parse(&truncated).unwrap().verify_hs256(b"secret"));
    }

    #[test]
    fn malformed_tokens_are_security_errors() {
        let seg = |json: &str| base64url_encode(json.as_bytes());
        let h = seg(r#"{"typ":"JWT","alg":"HS256"}"#);
        let c = seg(r#"{"iss":"a","aud":"b","exp":1}"#);
        let cases = [
            (
                "a.b".to_owned(),
                "expected 3 dot-separated segments, found 2",
            ),
            (format!("{h}.{c}.x.y"), "found 4"),
            (format!("{h}.{c}.!!"), "signature is not base64"),
            (format!("!.{c}.AA"), "header is not base64"),
            (
                format!("{}.{c}.AA", seg("[1]")),
                "header is not a JSON object",
            ),
            (format!("{}.{c}.AA", seg("{")), "header is not JSON"),
            (
                format!("{}.{c}.AA", seg(r#"{"alg":"none"}"#)),
                "unsupported alg \"none\"",
            ),
            (
                format!("{}.{c}.AA", seg(r#"{"alg":1}"#)),
                "no string \"alg\"",
            ),
            (
                format!("{h}.{}.AA", seg(r#"{"aud":"b","exp":1}"#)),
                "\"iss\" is missing",
            ),
            (
                format!("{h}.{}.AA", seg(r#"{"iss":"a","exp":1}"#)),
                "\"aud\" is missing",
            ),
            (
                format!("{h}.{}.AA", seg(r#"{"iss":"a","aud":"b"}"#)),
                "\"exp\" is missing",
            ),
            (
                format!("{h}.{}.AA", seg(r#"{"iss":"a","aud":"b","exp":"1"}"#)),
                "not a number",
            ),
            (
                format!("{h}.{}.AA", seg(r#"{"iss":"a","aud":"b","exp":1.5}"#)),
                "whole number",
            ),
            (
                format!("{h}.{}.AA", seg(r#"{"iss":5,"aud":"b","exp":1}"#)),
                "\"iss\" is not a string",
            ),
        ];
        for (token, expected) in cases {
            let e = parse(&token).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Security);
            assert!(e.to_string().contains(expected), "{token}: {e}");
        }
        // A float exp with no fraction is fine; sub is optional.
        let a = parse(&format!(
            "{h}.{}.AA",
            seg(r#"{"iss":"a","aud":"b","exp":5.0}"#)
        ))
        .unwrap();
        assert_eq!((a.exp(), a.sub()), (5, None));
    }

    #[test]
    fn claims_a_token_endpoint_checks() {
        let seg = |json: &str| base64url_encode(json.as_bytes());
        let h = seg(r#"{"typ":"JWT","alg":"HS256"}"#);
        let with = |claims: &str| parse(&format!("{h}.{}.AA", seg(claims))).unwrap();
        let good = parse(&client_assertion_hs256("D", b"k", 1_000)).unwrap();
        assert_eq!(good.check_audience(), Ok(()));
        // sub may be absent (Oracle's REST sample), not different.
        assert_eq!(
            with(r#"{"iss":"D","aud":"oracle/iot/oauth2/token","exp":1}"#).check_audience(),
            Ok(())
        );
        let e = with(r#"{"iss":"D","sub":"E","aud":"oracle/iot/oauth2/token","exp":1}"#)
            .check_audience()
            .unwrap_err();
        assert_eq!(
            (e.clone(), e.to_string()),
            (ClaimError::Subject, "sub differs from iss".into())
        );
        let e = with(r#"{"iss":"D","aud":"other","exp":1}"#)
            .check_audience()
            .unwrap_err();
        assert_eq!(e.to_string(), r#"aud must be "oracle/iot/oauth2/token""#);
        assert!(!e.is_clock());
        // exp: not passed, at most an hour ahead, both ends included.
        assert_eq!(good.check_expiry(1_000), Ok(()));
        assert_eq!(good.check_expiry(1_000 - 3600), Ok(()));
        let e = good.check_expiry(1_001).unwrap_err();
        assert!(e.is_clock());
        assert_eq!(
            e.to_string(),
            "the client assertion has expired (exp 1000, server time 1001); check the clock"
        );
        assert_eq!(
            good.check_expiry(1_000 - 3601),
            Err(ClaimError::TooFarAhead {
                exp: 1_000,
                now: -2601
            })
        );
        assert_eq!(
            good.check_expiry(i64::MIN).unwrap_err().to_string(),
            format!(
                "the client assertion expires too far in the future (exp 1000, server time {}); check the clock",
                i64::MIN
            )
        );
    }

    #[test]
    fn debug_hides_the_signature() {
        let a = parse(NODE_VECTOR).unwrap();
        let text = format!("{a:?}");
        assert!(
            text.contains("ACT-DEVICE-1") && !text.contains("eyJ"),
            "{text}"
        );
        assert!(!text.contains("signature"), "{text}");
    }

    proptest! {
        #[test]
        fn parse_never_panics(token in ".{0,200}") {
            let _ = parse(&token);
        }

        #[test]
        fn parse_never_panics_on_near_tokens(a in "[A-Za-z0-9_=+/-]{0,60}", b in "[A-Za-z0-9_=+/-]{0,80}", c in "[A-Za-z0-9_=-]{0,60}") {
            let _ = parse(&format!("{a}.{b}.{c}"));
        }

        #[test]
        fn hs256_round_trips(id in "\\PC{1,40}", secret in proptest::collection::vec(any::<u8>(), 1..64), exp in 0i64..4_000_000_000) {
            let a = parse(&client_assertion_hs256(&id, &secret, exp)).unwrap();
            prop_assert_eq!(a.iss(), id.as_str());
            prop_assert_eq!(a.exp(), exp);
            prop_assert!(a.verify_hs256(&secret));
        }
    }
}
