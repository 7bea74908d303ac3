//! Base64 and hex, written here because the protocol needs a lenient decoder
//! that no general-purpose crate offers as one call: Oracle's clients mix the
//! standard and URL-safe alphabets, pad or do not, and wrap lines (spec §1.1,
//! §2.2). Encoders are strict and produce one canonical form each.

use std::fmt;

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

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

fn encode_with(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let digits = chunk.len() + 1;
        for i in 0..4 {
            if i < digits {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (RFC 4648 §4) with `=` padding, on one line.
pub fn base64_encode(bytes: &[u8]) -> String {
    encode_with(bytes, STD, true)
}

/// URL-safe base64 without padding (RFC 7515 "base64url"), as in JWTs.
pub fn base64url_encode(bytes: &[u8]) -> String {
    encode_with(bytes, URL, false)
}

fn digit(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    } as u32)
}

/// Decodes base64 in either alphabet, padded or not, ignoring ASCII white space
/// (Java's provisioning writer wraps lines at 76 columns with CRLF).
///
/// # Errors
///
/// [`DecodeError`] for a character outside both alphabets, a `=` followed by data,
/// or a text that ends in the middle of a byte.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut count = 0usize;
    let mut padding_at: Option<usize> = None;
    for (offset, c) in text.bytes().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding_at.get_or_insert(offset);
            continue;
        }
        if let Some(at) = padding_at {
            return Err(DecodeError::MisplacedPadding { offset: at });
        }
        let Some(d) = digit(c) else {
            let character = text[offset..].chars().next().unwrap_or('\u{fffd}');
            return Err(DecodeError::InvalidCharacter { character, offset });
        };
        acc = (acc << 6) | d;
        count += 1;
        if count == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            count = 0;
        }
    }
    match count {
        0 => {}
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return Err(DecodeError::Truncated),
    }
    Ok(out)
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
        fn base64_decode_never_panics(text in ".{0,64}") {
            let _ = base64_decode(&text);
            let _ = hex_decode(&text);
        }
    }
}
