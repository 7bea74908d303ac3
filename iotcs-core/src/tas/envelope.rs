//! The encrypted container of the unified trusted assets store (spec §1.1,
//! protocol-js §1.2): `'!'` || base64(IV || AES-128-CBC-PKCS#7(plaintext)) ||
//! `"\n"` || comment, with key = PBKDF2-HMAC-SHA1(passphrase, salt = IV,
//! 10000 iterations, 16 bytes). What the plaintext means is `format`'s job.
//!
//! The container has no MAC: a modified ciphertext is noticed only when it
//! breaks the padding here or the TLV structure there.

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    AES_128, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::pbkdf2;

use super::secret::Secret;
use crate::Error;
use crate::encoding::{base64_decode, base64_encode};

/// The only version byte there is (ASCII `!`); 34..=126 are reserved.
const VERSION: u8 = b'!';
const PBKDF2_ITERATIONS: u32 = 10_000;
/// The IV, which is also the PBKDF2 salt.
pub(super) const IV_LEN: usize = 16;
const BLOCK_LEN: usize = 16;

/// The start of every error that a wrong passphrase can cause.
pub(super) const WRONG_PASSPHRASE: &str = "wrong passphrase or corrupted trusted assets store";
fn derive_key(passphrase: &[u8], iv: &[u8; IV_LEN]) -> Secret {
    let mut key = Secret::new(vec![0u8; 16]);
    let iterations = NonZeroU32::new(PBKDF2_ITERATIONS).expect("10000 is not zero");
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA1,
        iterations,
        iv,
        passphrase,
        key.expose_mut(),
    );
    key
}

pub(super) fn check_passphrase(passphrase: &[u8]) -> Result<(), Error> {
    if passphrase.is_empty() {
        return Err(Error::argument(
            "the trusted assets store passphrase is empty",
        ));
    }
    Ok(())
}

/// Encrypts `plaintext` and lays out the whole file.
pub(super) fn seal(
    plaintext: &[u8],
    passphrase: &[u8],
    iv: [u8; IV_LEN],
    comment: &[u8],
) -> Result<Vec<u8>, Error> {
    check_passphrase(passphrase)?;
    let key = derive_key(passphrase, &iv);
    let cipher = UnboundCipherKey::new(&AES_128, key.expose())
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|_| Error::security("cannot set up AES-128-CBC encryption"))?;
    let mut blob = Vec::with_capacity(IV_LEN + plaintext.len() + BLOCK_LEN);
    blob.extend_from_slice(&iv);
    // Reserve the padding up front: growing the buffer would leave a copy of
    // the plaintext in freed memory.
    let mut data = Secret::new(Vec::with_capacity(plaintext.len() + BLOCK_LEN));
    data.expose_mut().extend_from_slice(plaintext);
    cipher
        .less_safe_encrypt(
            data.expose_mut(),
            EncryptionContext::Iv128(FixedLength::from(iv)),
        )
        .map_err(|_| Error::security("AES-128-CBC encryption failed"))?;
    blob.extend_from_slice(data.expose());
    let text = base64_encode(&blob);
    let comment: &[u8] = if comment.is_empty() { b"#" } else { comment };
    let mut file = Vec::with_capacity(1 + text.len() + 1 + comment.len());
    file.push(VERSION);
    file.extend_from_slice(text.as_bytes());
    file.push(b'\n');
    file.extend_from_slice(comment);
    Ok(file)
}

/// Whether what follows an unknown version byte looks like a sealed store
/// (a long line of base64), so that the error says "unsupported version"
/// only for what is likely a newer store, and "not a store" for a text file.
fn looks_sealed(rest: &[u8]) -> bool {
    let line = rest
        .split(|&b| b == b'\n' || b == b'#')
        .next()
        .unwrap_or(&[]);
    line.len() >= 64
        && line
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

/// Splits the file, decrypts it and returns the plaintext TLVs and the comment.
pub(super) fn unseal(file: &[u8], passphrase: &[u8]) -> Result<(Secret, Vec<u8>), Error> {
    check_passphrase(passphrase)?;
    let Some((&version, rest)) = file.split_first() else {
        return Err(Error::security("trusted assets store is empty"));
    };
    if version != VERSION {
        return Err(Error::security(match version {
            b'{' => "not a unified trusted assets store: it starts with '{' (the legacy JSON \
                     format, which is read only from files named *.json)"
                .to_owned(),
            34..=126 if looks_sealed(rest) => format!(
                "unsupported trusted assets store version {version} ({:?}); only version 33 ('!') \
                 is known",
                char::from(version)
            ),
            _ if version.is_ascii_graphic() || version.is_ascii_whitespace() => format!(
                "not a trusted assets store: it starts with {:?}, where a provisioning file \
                 (as `iotcs-server provision` or Oracle's provisioner writes it) starts with '!' \
                 and a line of base64",
                String::from_utf8_lossy(&file[..file.len().min(24)])
            ),
            _ => format!(
                "not a unified trusted assets store: first byte is 0x{version:02x}, not the \
                 version byte 33 ('!')"
            ),
        }));
    }
    let end = rest.iter().position(|&b| b == b'#').unwrap_or(rest.len());
    let (text, comment) = rest.split_at(end);
    let text = std::str::from_utf8(text).map_err(|_| {
        Error::security("trusted assets store is corrupted: non-ASCII bytes in its base64 part")
    })?;
    let blob = base64_decode(text).map_err(|e| {
        Error::security(format!(
            "trusted assets store is truncated or corrupted: base64: {e}"
        ))
    })?;
    if blob.len() < IV_LEN + BLOCK_LEN {
        return Err(Error::security(format!(
            "trusted assets store is truncated: {} bytes of encrypted data, at least {} expected",
            blob.len(),
            IV_LEN + BLOCK_LEN
        )));
    }
    if !(blob.len() - IV_LEN).is_multiple_of(BLOCK_LEN) {
        return Err(Error::security(format!(
            "trusted assets store is truncated or corrupted: {} bytes of encrypted data is not \
             a 16-byte IV and whole 16-byte blocks",
            blob.len()
        )));
    }
    let (iv, ciphertext) = blob.split_at(IV_LEN);
    let iv: [u8; IV_LEN] = iv.try_into().expect("split_at(16) leaves 16 bytes");
    let key = derive_key(passphrase, &iv);
    let cipher = UnboundCipherKey::new(&AES_128, key.expose())
        .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
        .map_err(|_| Error::security("cannot set up AES-128-CBC decryption"))?;
    let mut plain = Secret::new(ciphertext.to_vec());
    let len = cipher
        .decrypt(
            plain.expose_mut(),
            DecryptionContext::Iv128(FixedLength::from(iv)),
        )
        .map_err(|_| {
            // Oracle's writers always end the file with a '#' comment, so a
            // file without one has probably lost its end.
            let hint = if comment.is_empty() {
                "; no '#' follows the base64, so it may be truncated"
            } else {
                ""
            };
            Error::security(format!(
                "{WRONG_PASSPHRASE} (bad padding after decryption{hint})"
            ))
        })?
        .len();
    plain.expose_mut().truncate(len);
    Ok((plain, comment.to_vec()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ErrorKind;

    const IV: [u8; 16] = *b"0123456789abcdef";
    /// 200 bytes, 13 blocks of ciphertext with the padding. Distinct bytes, so
    /// that no block boundary of the plaintext looks like valid padding.
    const PLAIN: &[u8; 200] = &{
        let mut bytes = [0u8; 200];
        let mut i = 0;
        while i < 200 {
            bytes[i] = 20 + i as u8;
            i += 1;
        }
        bytes
    };

    fn security_reason<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
        match result {
            Err(e @ Error::Security { .. }) => e.to_string(),
            other => panic!("expected a security error, got {other:?}"),
        }
    }

    fn base64_part(file: &[u8]) -> &str {
        std::str::from_utf8(&file[1..file.len() - 2]).unwrap()
    }

    #[test]
    fn layout_matches_oracle_js_writer() {
        let file = seal(PLAIN, b"pw", IV, b"#").unwrap();
        assert_eq!(file[0], b'!');
        assert!(file.ends_with(b"\n#"));
        let text = base64_part(&file);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
            "one line"
        );
        let blob = base64_decode(text).unwrap();
        assert_eq!(blob[..16], IV);
        assert_eq!(blob.len(), 16 + 208);
        let (plain, comment) = unseal(&file, b"pw").unwrap();
        assert_eq!(plain.expose(), PLAIN);
        assert_eq!(comment, b"#");
        assert_eq!(
            seal(PLAIN, b"pw", IV, b"#").unwrap(),
            file,
            "deterministic for one IV"
        );
        // An empty comment still gets the '#' that Oracle's JS reader needs.
        assert!(seal(PLAIN, b"pw", IV, b"").unwrap().ends_with(b"\n#"));
    }

    #[test]
    fn key_is_pbkdf2_hmac_sha1_with_the_iv_as_salt() {
        // RFC 6070 case 2 (2 iterations) fixes the PRF; here check the
        // parameters by re-deriving with the primitive directly.
        let mut expected = [0u8; 16];
        let iterations = NonZeroU32::new(10_000).unwrap();
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA1,
            iterations,
            &IV,
            b"pw",
            &mut expected,
        );
        assert_eq!(derive_key(b"pw", &IV).expose(), expected);
        let mut rfc6070 = [0u8; 20];
        let two = NonZeroU32::new(2).unwrap();
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA1,
            two,
            b"salt",
            b"password",
            &mut rfc6070,
        );
        assert_eq!(
            crate::encoding::hex_encode(&rfc6070),
            "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"
        );
    }

    #[test]
    fn reads_java_style_wrapped_base64_and_keeps_comments() {
        let file = seal(PLAIN, b"pw", IV, b"#").unwrap();
        let text = base64_part(&file);
        let lines: Vec<&str> = text
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let comment = "#serverUri:https://iot.example.com:443\r\n#clientId:GW-1\r\n";
        let java = format!("!{}\r\n{comment}", lines.join("\r\n"));
        let (plain, kept) = unseal(java.as_bytes(), b"pw").unwrap();
        assert_eq!(plain.expose(), PLAIN);
        assert_eq!(kept, comment.as_bytes());
        // No '#' at all: readable, and the comment is empty.
        let (plain, kept) = unseal(&file[..file.len() - 2], b"pw").unwrap();
        assert_eq!((plain.expose(), kept.len()), (PLAIN.as_slice(), 0));
    }

    #[test]
    fn wrong_passphrase() {
        let file = seal(PLAIN, b"right", IV, b"#").unwrap();
        let reason = security_reason(unseal(&file, b"wrong"));
        assert_eq!(
            reason,
            "security: wrong passphrase or corrupted trusted assets store (bad padding after \
             decryption)"
        );
        assert_eq!(unseal(&file, b"").unwrap_err().kind(), ErrorKind::Argument);
        assert_eq!(
            seal(PLAIN, b"", IV, b"#").unwrap_err().kind(),
            ErrorKind::Argument
        );
    }

    #[test]
    fn truncated_files() {
        let file = seal(PLAIN, b"pw", IV, b"#").unwrap();
        for len in [
            0,
            1,
            2,
            20,
            44,
            file.len() / 2,
            file.len() - 4,
            file.len() - 7,
        ] {
            let reason = security_reason(unseal(&file[..len], b"pw"));
            assert!(
                ["empty", "truncated", "wrong passphrase or corrupted"]
                    .iter()
                    .any(|w| reason.contains(w)),
                "{len}: {reason}"
            );
        }
        assert!(security_reason(unseal(b"", b"pw")).contains("store is empty"));
        assert!(security_reason(unseal(b"!", b"pw")).contains("truncated: 0 bytes"));
        // Cut at a block boundary: only the missing '#' hints at truncation.
        let cut = 1 + (16 + 16 * 8) / 3 * 4;
        let reason = security_reason(unseal(&file[..cut], b"pw"));
        assert!(
            reason.contains("bad padding after decryption; no '#' follows"),
            "{reason}"
        );
        let odd = [b"!".as_slice(), base64_encode(&[0u8; 40]).as_bytes()].concat();
        assert!(security_reason(unseal(&odd, b"pw")).contains("whole 16-byte blocks"));
    }

    #[test]
    fn tampered_padding_block() {
        let file = seal(PLAIN, b"pw", IV, b"#").unwrap();
        let blob = base64_decode(base64_part(&file)).unwrap();
        // The last two blocks: flipping them garbles the padding.
        for at in [
            blob.len() - 1,
            blob.len() - 16,
            blob.len() - 17,
            blob.len() - 20,
        ] {
            let mut tampered = blob.clone();
            tampered[at] ^= 0x01;
            let file = [b"!".as_slice(), base64_encode(&tampered).as_bytes(), b"\n#"].concat();
            let reason = security_reason(unseal(&file, b"pw"));
            assert!(
                reason.contains("bad padding after decryption"),
                "byte {at}: {reason}"
            );
        }
    }

    #[test]
    fn bad_version_and_bad_base64() {
        let mut file = seal(PLAIN, b"pw", IV, b"#").unwrap();
        file[0] = b'"';
        let reason = security_reason(unseal(&file, b"pw"));
        assert!(
            reason.contains("unsupported trusted assets store version 34 ('\"')"),
            "{reason}"
        );
        let reason = security_reason(unseal(b"hello, this is a README\n", b"pw"));
        assert!(
            reason.contains("not a trusted assets store: it starts with \"hello, this is a README"),
            "{reason}"
        );
        file[0] = 0;
        assert!(security_reason(unseal(&file, b"pw")).contains("first byte is 0x00"));
        let reason = security_reason(unseal(br#"{"clientId":"x"}"#, b"pw"));
        assert!(reason.contains("legacy JSON format"), "{reason}");
        let reason = security_reason(unseal(b"!AAAA*AAA\n#", b"pw"));
        assert!(reason.contains("base64: invalid character '*'"), "{reason}");
        assert!(security_reason(unseal(b"!AAAA\xff\n#", b"pw")).contains("non-ASCII"));
    }

    proptest! {
        #[test]
        fn any_file_fails_cleanly(file in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = unseal(&file, b"pw");
        }

        #[test]
        fn base64_like_files_fail_cleanly(text in "![A-Za-z0-9+/=\r\n]{0,120}#?") {
            let _ = unseal(text.as_bytes(), b"pw");
        }
    }
}
