//! `privacyPolicy` (spec §7.2): replaces a value by a digest of its text.
//!
//! - `one-way`: SHA-256 of the value's text, base64url without padding;
//! - `two-way`: HMAC-SHA256 keyed with `hashingKey`, encoded the same way
//!   (Oracle's Java library has it; "two-way" means the holder of the key
//!   can check a guess, not undo the digest);
//! - `random`: a fresh random UUID, unrelated to the value;
//! - `none`: the value unchanged.
//!
//! Values that are not strings are hashed from their text (`12`, `1.5`,
//! `true`, a DATETIME's epoch milliseconds) rather than failing as Oracle's
//! library did; the result is always a STRING.

use aws_lc_rs::digest;
use iotcs_core::__private::crypto::hmac_sha256;
use iotcs_core::__private::encoding::base64url_encode;
use iotcs_core::{Error, Value};

/// What a privacy policy does to values.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Privacy {
    /// `none`.
    None,
    /// `one-way`.
    OneWay,
    /// `two-way` with its key.
    TwoWay(Vec<u8>),
    /// `random`.
    Random,
}

impl std::fmt::Debug for Privacy {
    // The hashing key is a secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Privacy::None => "Privacy::None",
            Privacy::OneWay => "Privacy::OneWay",
            Privacy::TwoWay(_) => "Privacy::TwoWay(<key>)",
            Privacy::Random => "Privacy::Random",
        })
    }
}

impl Privacy {
    /// The policy of `level` (`one-way`, `two-way`, `random` or `none`,
    /// ASCII case ignored), with `hashing_key` for `two-way`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for another level, or `two-way` without a key.
    #[cfg(test)]
    pub(crate) fn new(level: &str, hashing_key: Option<&str>) -> Result<Self, Error> {
        match level.to_ascii_lowercase().as_str() {
            "none" => Ok(Privacy::None),
            "one-way" => Ok(Privacy::OneWay),
            "random" => Ok(Privacy::Random),
            "two-way" => match hashing_key {
                Some(key) if !key.is_empty() => Ok(Privacy::TwoWay(key.as_bytes().to_vec())),
                _ => Err(Error::argument(
                    "privacyPolicy: level two-way needs a non-empty hashingKey",
                )),
            },
            other => Err(Error::argument(format!(
                "privacyPolicy: level must be one-way, two-way, random or none, not {other:?}"
            ))),
        }
    }

    /// The value as the policy lets it out.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] if `random` cannot get randomness from the system.
    pub(crate) fn apply(&self, value: &Value) -> Result<Value, Error> {
        let text = || text_of(value);
        Ok(match self {
            Privacy::None => value.clone(),
            Privacy::OneWay => Value::String(base64url_encode(
                digest::digest(&digest::SHA256, text().as_bytes()).as_ref(),
            )),
            Privacy::TwoWay(key) => {
                Value::String(base64url_encode(&hmac_sha256(key, text().as_bytes())))
            }
            Privacy::Random => Value::String(iotcs_core::__private::uuid_v4()?),
        })
    }
}

/// The text a value is hashed from.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) | Value::Uri(s) => s.clone(),
        Value::Integer(i) | Value::DateTime(i) => i.to_string(),
        Value::Number(x) => x.to_string(),
        Value::Boolean(b) => b.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_way_is_base64url_sha256_without_padding() {
        let p = Privacy::new("one-way", None).unwrap();
        // SHA-256("abc"), a FIPS 180-2 test vector, in base64url.
        assert_eq!(
            p.apply(&Value::String("abc".into())).unwrap(),
            Value::String("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0".into())
        );
    }

    #[test]
    fn two_way_is_keyed_hmac_sha256() {
        let p = Privacy::new("TWO-WAY", Some("key")).unwrap();
        // RFC 4231-style check: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        let out = p
            .apply(&Value::String(
                "The quick brown fox jumps over the lazy dog".into(),
            ))
            .unwrap();
        assert_eq!(
            out,
            Value::String("97yD9DBThCSxMpjmqm-xQ-9NWaFJRhdZl0edvC0aPNg".into())
        );
        let other = Privacy::new("two-way", Some("other key")).unwrap();
        assert_ne!(
            other.apply(&Value::String("x".into())).unwrap(),
            p.apply(&Value::String("x".into())).unwrap()
        );
    }

    #[test]
    fn values_of_every_type_are_hashed_from_their_text() {
        let p = Privacy::new("one-way", None).unwrap();
        for (value, text) in [
            (Value::Integer(12), "12"),
            (Value::Number(1.5), "1.5"),
            (Value::Boolean(true), "true"),
            (Value::DateTime(1_000), "1000"),
            (Value::Uri("http://x".into()), "http://x"),
        ] {
            assert_eq!(
                p.apply(&value).unwrap(),
                p.apply(&Value::String(text.into())).unwrap(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn none_keeps_and_random_replaces() {
        let v = Value::Integer(7);
        assert_eq!(Privacy::new("none", None).unwrap().apply(&v).unwrap(), v);
        let random = Privacy::new("random", None).unwrap();
        let (a, b) = (random.apply(&v).unwrap(), random.apply(&v).unwrap());
        assert_ne!(a, b);
        assert!(matches!(a, Value::String(s) if s.len() == 36));
    }

    #[test]
    fn bad_levels_and_missing_keys_are_errors() {
        let e = Privacy::new("secret", None).unwrap_err().to_string();
        assert!(e.contains("privacyPolicy") && e.contains("secret"), "{e}");
        let e = Privacy::new("two-way", Some("")).unwrap_err().to_string();
        assert!(e.contains("hashingKey"), "{e}");
        assert!(!format!("{:?}", Privacy::new("two-way", Some("k3y")).unwrap()).contains("k3y"));
    }
}
