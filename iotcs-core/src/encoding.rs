//! Base64 and hex. The `base64` crate (already in the SDK through ureq)
//! does the coding; this module adds the leniency the protocol needs, which
//! none of the crate's engines offers alone: Oracle's clients mix the
//! standard and URL-safe alphabets (Node maps a standard text to the URL
//! alphabet half-way through a JWT), pad or do not (more `=` than needed
//! too), end on non-canonical trailing bits, and wrap lines (Java's
//! provisioning writer, spec §1.1, §2.2). [`base64_decode`] therefore
//! gives the text to a standard engine that takes padding or none and
//! allows trailing bits; what that engine refuses is checked and normalised
//! in one pass (white space dropped, URL digits mapped to the standard
//! ones, padding stripped) and decoded again. Encoders are strict and
//! produce one canonical form each. Hex is ten lines, so it stays here.

use std::fmt;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};

/// The decoder behind [`base64_decode`]: standard alphabet, padding
/// optional, trailing bits allowed (Oracle's readers never checked them).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why a base64 or hex text could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A character outside both base64 alphabets (or outside `0-9a-fA-F` for hex).
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its byte offset in the input.
        offset: usize,
    },
    /// The text ends in the middle of a byte (one base64 digit left over, or an odd hex length).
    Truncated,
    /// A `=` appears before the end of the text.
    MisplacedPadding {
        /// Byte offset of the first `=` that is followed by data.
        offset: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::InvalidCharacter { character, offset } => {
                write!(f, "invalid character {character:?} at offset {offset}")
            }
            DecodeError::Truncated => f.write_str("text ends in the middle of a byte"),
            DecodeError::MisplacedPadding { offset } => {
                write!(f, "padding '=' at offset {offset} is followed by more data")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Standard base64 (RFC 4648 §4) with `=` padding, on one line.
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// URL-safe base64 without padding (RFC 7515 "base64url"), as in JWTs.
pub fn base64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The text as the standard engine takes it: white space dropped, URL-safe
/// digits mapped to standard ones, trailing padding stripped. Errors carry
/// offsets into `text` itself, which the engine could not give after the
/// text was rewritten.
fn normalise(text: &str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(text.len());
    let mut padding_at: Option<usize> = None;
    for (offset, c) in text.bytes().enumerate() {
        let digit = match c {
            _ if c.is_ascii_whitespace() => continue,
            b'=' => {
                padding_at.get_or_insert(offset);
                continue;
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => c,
            b'-' => b'+',
            b'_' => b'/',
            _ => {
                let character = text[offset..].chars().next().unwrap_or('\u{fffd}');
                return Err(DecodeError::InvalidCharacter { character, offset });
            }
        };
        if let Some(at) = padding_at {
            return Err(DecodeError::MisplacedPadding { offset: at });
        }
        out.push(digit);
    }
    Ok(out)
}

/// Decodes base64 in either alphabet (even mixed), padded or not, ignoring
/// ASCII white space (Java's provisioning writer wraps lines at 76 columns
/// with CRLF).
///
/// # Errors
///
/// [`DecodeError`] for a character outside both alphabets, a `=` followed by data,
/// or a text that ends in the middle of a byte.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    // Most texts (message bodies, secrets) are one line of standard base64,
    // which the engine takes as it is, in one pass. Anything else, and every
    // error, goes through `normalise`, which accepts a superset and names the
    // problem with an offset into `text`.
    if let Ok(bytes) = LENIENT.decode(text) {
        return Ok(bytes);
    }
    let digits = normalise(text)?;
    // Every byte is a standard digit now, so the only failure left is a
    // length that ends inside a byte (one digit over a multiple of four).
    LENIENT.decode(&digits).map_err(|_| DecodeError::Truncated)
}

/// Lower-case hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// Decodes hex in either case.
///
/// # Errors
///
/// [`DecodeError`] for a non-hex character or an odd length.
pub fn hex_decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(DecodeError::Truncated);
    }
    let nibble = |offset: usize| -> Result<u8, DecodeError> {
        let c = bytes[offset];
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(DecodeError::InvalidCharacter {
                character: text[offset..].chars().next().unwrap_or('\u{fffd}'),
                offset,
            }),
        }
    };
    (0..bytes.len())
        .step_by(2)
        .map(|i| Ok((nibble(i)? << 4) | nibble(i + 1)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
            assert_eq!(
                base64_decode(encoded.trim_end_matches('=')).unwrap(),
                plain.as_bytes()
            );
        }
    }

    #[test]
    fn decodes_both_alphabets_and_wrapped_lines() {
        let bytes = [0xfb, 0xff, 0xfe, 0x3e];
        assert_eq!(base64_encode(&bytes), "+//+Pg==");
        assert_eq!(base64url_encode(&bytes), "-__-Pg");
        assert_eq!(base64_decode("-__-Pg").unwrap(), bytes);
        assert_eq!(base64_decode("+//+\r\nPg==\n").unwrap(), bytes);
        // Mixed alphabets, extra padding, non-canonical trailing bits: all
        // seen from Oracle's clients, none accepted by one standard engine.
        assert_eq!(base64_decode("+/_-Pg").unwrap(), bytes);
        assert_eq!(base64_decode("Zg===").unwrap(), b"f");
        assert_eq!(base64_decode("Zh").unwrap(), b"f");
        assert_eq!(base64_decode(" = ").unwrap(), b"");
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        assert_eq!(
            base64_decode("Zm9v!"),
            Err(DecodeError::InvalidCharacter {
                character: '!',
                offset: 4
            })
        );
        assert_eq!(base64_decode("Zm9vY"), Err(DecodeError::Truncated));
        assert_eq!(
            base64_decode("Zg==Zg=="),
            Err(DecodeError::MisplacedPadding { offset: 2 })
        );
        assert_eq!(hex_decode("abc"), Err(DecodeError::Truncated));
        assert!(matches!(
            hex_decode("zz"),
            Err(DecodeError::InvalidCharacter { .. })
        ));
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex_encode(&[0x13, 0x5f, 0xa0]), "135fa0");
        assert_eq!(hex_decode("135FA0").unwrap(), vec![0x13, 0x5f, 0xa0]);
    }

    proptest! {
        #[test]
        fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes.clone());
            prop_assert_eq!(base64_decode(&base64url_encode(&bytes)).unwrap(), bytes.clone());
            prop_assert_eq!(hex_decode(&hex_encode(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn the_one_pass_path_agrees_with_the_normalising_one(text in "[A-Za-z0-9+/=]{0,40}") {
            let normalised = normalise(&text)
                .and_then(|digits| LENIENT.decode(digits).map_err(|_| DecodeError::Truncated));
            prop_assert_eq!(base64_decode(&text), normalised);
        }

        #[test]
        fn base64_decode_never_panics(text in ".{0,64}") {
            let _ = base64_decode(&text);
            let _ = hex_decode(&text);
        }
    }
}
