//! A byte buffer for secrets: shared secrets, private keys, passphrases and the
//! decrypted store. It keeps them out of `Debug` output (the architecture rule
//! "secrets never appear in logs") and overwrites them when dropped, so a
//! secret does not outlive the object that owns it in freed heap memory.

use std::fmt;

/// Secret bytes: printed as `<redacted>`, compared in constant time, zeroed on
/// drop.
///
/// Zeroing is best effort: the crate forbids `unsafe`, so it overwrites the
/// whole allocation and then hides the buffer from the optimiser with
/// [`std::hint::black_box`] instead of using volatile writes, and copies made
/// before the bytes reached the `Secret` (for example while a `Vec` grew) are
/// out of its reach.
#[derive(Clone, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps bytes that are already secret.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }

    /// The secret bytes. Named so that every use is easy to find in review.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The number of secret bytes (not itself secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Mutable access for code in this crate that fills or transforms the
    /// buffer in place (decryption), so no unprotected copy is needed.
    pub(crate) fn expose_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl PartialEq for Secret {
    /// Constant-time in the content (the length is not secret), so comparing a
    /// guessed secret does not leak how many leading bytes were right.
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl Eq for Secret {}

impl Drop for Secret {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Overwrites every byte of the allocation, including the spare capacity: a
/// `Vec` that was truncated (PKCS#7 unpadding) still holds secret bytes past
/// its length.
pub(crate) fn wipe(buf: &mut Vec<u8>) {
    let capacity = buf.capacity();
    buf.clear();
    buf.resize(capacity, 0);
    std::hint::black_box(buf);
}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }
}

impl From<&[u8]> for Secret {
    fn from(bytes: &[u8]) -> Self {
        Secret(bytes.to_vec())
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Secret(text.as_bytes().to_vec())
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(text.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        assert_eq!(s.expose(), b"hunter2");
        assert_eq!(s.len(), 7);
        assert!(!s.is_empty());
        assert!(Secret::default().is_empty());
    }

    #[test]
    fn equality_compares_content() {
        assert_eq!(Secret::from("abc"), Secret::from(b"abc".as_slice()));
        assert_ne!(Secret::from("abc"), Secret::from("abd"));
        assert_ne!(Secret::from("abc"), Secret::from("abcd"));
    }

    #[test]
    fn wipe_zeroes_the_whole_allocation() {
        let mut buf = vec![7u8; 32];
        buf.truncate(4);
        let capacity = buf.capacity();
        wipe(&mut buf);
        assert_eq!(buf.len(), capacity);
        assert!(buf.iter().all(|&b| b == 0));
        assert_eq!(buf.capacity(), capacity, "wiping must not reallocate");
    }
}
