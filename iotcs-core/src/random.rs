//! Randomness, from the same source rustls uses (aws-lc-rs), so the core needs no
//! other crate. Used for message `clientId`s, trusted-store IVs and generated secrets.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::Error;

/// Fills `buf` with cryptographically secure random bytes.
///
/// # Errors
///
/// [`Error::Security`] if the operating system's random source fails.
pub fn fill_random(buf: &mut [u8]) -> Result<(), Error> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::security("the system random number generator failed"))
}

/// A random UUID version 4 in lower-case hyphenated form, as Oracle's clients
/// write message `clientId`s.
///
/// # Errors
///
/// [`Error::Security`] if the operating system's random source fails.
pub fn uuid_v4() -> Result<String, Error> {
    let mut b = [0u8; 16];
    fill_random(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::encoding::hex_encode(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant() {
        let a = uuid_v4().unwrap();
        let b = uuid_v4().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }
}
