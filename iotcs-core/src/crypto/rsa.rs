//! RSA key pairs for the device identity: generated at activation with the
//! policy's key size, stored as PKCS#8 in the trusted assets store, used for
//! RS256 client assertions and the activation and ICD signatures
//! (RSASSA-PKCS1-v1_5 with SHA-256, which Oracle calls `SHA256withRSA`).

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKey};
use aws_lc_rs::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey,
};

use crate::Error;
use crate::tas::Secret;

/// The key sizes, in bits, that [`RsaKeyPair::generate`] accepts (those
/// aws-lc-rs can generate).
pub const SUPPORTED_RSA_KEY_SIZES: [u32; 4] = [2048, 3072, 4096, 8192];

/// An RSA key pair. `Debug` shows only the key size.
#[derive(Clone)]
pub struct RsaKeyPair {
    inner: KeyPair,
    pkcs8: Secret,
    spki: Vec<u8>,
}

impl RsaKeyPair {
    /// Generates a new key pair of `bits` bits (public exponent 65537), e.g.
    /// the activation policy's `keySize`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `bits` is not one of
    /// [`SUPPORTED_RSA_KEY_SIZES`]; [`Error::Security`] if generation fails.
    pub fn generate(bits: u32) -> Result<Self, Error> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            _ => {
                return Err(Error::argument(format!(
                    "RSA key size {bits} is not supported; supported sizes are 2048, 3072, 4096 \
                     and 8192 bits"
                )));
            }
        };
        let inner =
            KeyPair::generate(size).map_err(|_| Error::security("RSA key generation failed"))?;
        let pkcs8: Pkcs8V1Der<'static> = inner
            .as_der()
            .map_err(|_| Error::security("cannot encode the RSA private key"))?;
        let pkcs8 = Secret::from(pkcs8.as_ref());
        Self::with_pkcs8(inner, pkcs8)
    }

    /// Loads a private key from unencrypted PKCS#8 DER, as stored in tag 6 of
    /// the trusted assets store.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] if the bytes are not a valid PKCS#8 RSA key of 2048
    /// to 8192 bits.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, Error> {
        let inner = KeyPair::from_pkcs8(der).map_err(|e| {
            Error::security(format!(
                "the private key is not a usable PKCS#8 RSA key: {e}"
            ))
        })?;
        Self::with_pkcs8(inner, Secret::from(der))
    }

    fn with_pkcs8(inner: KeyPair, pkcs8: Secret) -> Result<Self, Error> {
        let spki: PublicKeyX509Der<'static> = inner
            .public_key()
            .as_der()
            .map_err(|_| Error::security("cannot encode the RSA public key"))?;
        let spki = spki.as_ref().to_vec();
        Ok(RsaKeyPair { inner, pkcs8, spki })
    }

    /// The private key as PKCS#8 DER (secret: store it only encrypted).
    pub fn pkcs8_der(&self) -> &[u8] {
        self.pkcs8.expose()
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER: the bytes of the
    /// activation request's `publicKey` and of TAS tag 7.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> u32 {
        u32::try_from(self.inner.public_modulus_len() * 8).unwrap_or(u32::MAX)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (`SHA256withRSA`) over `data`.
    pub fn sign_sha256(&self, data: &[u8]) -> Vec<u8> {
        let mut signature = vec![0u8; self.inner.public_modulus_len()];
        self.inner
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                data,
                &mut signature,
            )
            .expect(
                "PKCS#1 v1.5 signing with a validated key into a modulus-sized buffer cannot fail",
            );
        signature
    }

    /// Whether `spki_der` (SubjectPublicKeyInfo or PKCS#1 RSAPublicKey DER) is
    /// this pair's public key, comparing the key and not its encoding.
    pub(crate) fn matches_public_key(&self, spki_der: &[u8]) -> bool {
        PublicKey::from_der(spki_der)
            .is_ok_and(|other| other.as_ref() == self.inner.public_key().as_ref())
    }
}

impl fmt::Debug for RsaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKeyPair")
            .field("bits", &self.bits())
            .finish_non_exhaustive()
    }
}

/// Whether `signature` is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of
/// `data` by the RSA key `spki_der` (SubjectPublicKeyInfo DER; PKCS#1
/// RSAPublicKey DER is accepted too). Keys below 2048 bits never verify.
pub fn verify_rsa_sha256(spki_der: &[u8], data: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki_der)
        .verify(data, signature)
        .is_ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::ErrorKind;

    /// One 2048-bit key for all tests of the crate: generation costs ~100 ms.
    pub(crate) fn test_key() -> &'static RsaKeyPair {
        static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
        KEY.get_or_init(|| RsaKeyPair::generate(2048).unwrap())
    }

    /// A second, different key.
    pub(crate) fn other_test_key() -> &'static RsaKeyPair {
        static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
        KEY.get_or_init(|| RsaKeyPair::generate(2048).unwrap())
    }

    #[test]
    fn sign_and_verify() {
        let key = test_key();
        assert_eq!(key.bits(), 2048);
        let sig = key.sign_sha256(b"hello");
        assert_eq!(sig.len(), 256);
        assert!(verify_rsa_sha256(key.public_key_der(), b"hello", &sig));
        assert!(!verify_rsa_sha256(key.public_key_der(), b"hellO", &sig));
        assert!(!verify_rsa_sha256(
            other_test_key().public_key_der(),
            b"hello",
            &sig
        ));
        assert!(!verify_rsa_sha256(b"not a key", b"hello", &sig));
        assert!(!verify_rsa_sha256(
            key.public_key_der(),
            b"hello",
            &sig[1..]
        ));
    }

    #[test]
    fn pkcs8_round_trip() {
        let key = test_key();
        let again = RsaKeyPair::from_pkcs8(key.pkcs8_der()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());
        assert_eq!(again.pkcs8_der(), key.pkcs8_der());
        assert!(again.matches_public_key(key.public_key_der()));
        assert!(!again.matches_public_key(other_test_key().public_key_der()));
        assert!(!again.matches_public_key(b"junk"));
        // The SPKI starts with SEQUENCE { SEQUENCE { OID rsaEncryption ...
        assert_eq!(&key.public_key_der()[..2], &[0x30, 0x82]);
    }

    #[test]
    fn rejects_unsupported_sizes_and_bad_keys() {
        let e = RsaKeyPair::generate(1024).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Argument);
        assert!(
            e.to_string().contains("1024") && e.to_string().contains("2048, 3072"),
            "{e}"
        );
        let e = RsaKeyPair::from_pkcs8(b"\x30\x03\x02\x01\x00").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Security);
    }

    #[test]
    fn debug_shows_no_key_material() {
        let text = format!("{:?}", test_key());
        assert_eq!(text, "RsaKeyPair { bits: 2048, .. }");
    }
}
