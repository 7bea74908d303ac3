//! Randomness, from the same source rustls uses (aws-lc-rs), so the core needs no
//! other crate. Used for message `clientId`s (a random prefix drawn once per
//! process, see [`ClientId`]), trusted-store IVs and generated secrets.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// A message `clientId`: this process's random prefix and the next value of
/// its counter, in the shape of a UUID (`8-4-4-4-12` lower-case hex digits,
/// version 8, RFC 9562's layout for "custom" UUIDs), so that anything that
/// stores or checks them as UUIDs (Oracle's Node library keys its message
/// store by them) takes them.
///
/// Why not a random UUID per message: a draw from the system's random
/// source costs more than writing the rest of a message. Why these are as
/// good for the cloud's de-duplication, which compares a message's
/// `source` and `clientId` with those it has seen: within one process no
/// two messages share a counter value (62 bits, not reached at a million
/// messages a second in 140,000 years); two processes (runs, restarts,
/// devices of one gateway) share ids only if they drew the same 60-bit
/// prefix, a chance of about n²/2⁶¹ among n processes of one source, one in
/// two million for a million restarts. A message restored from the store
/// keeps the id it was first written with. (A process that forks after its
/// first message shares its prefix with the child: the child must not send
/// messages of its own through the same SDK state.)
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientId([u8; 36]);

impl ClientId {
    /// The next id of this process.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] if the operating system's random source fails
    /// when the prefix is drawn (once per process).
    pub fn next() -> Result<ClientId, Error> {
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let prefix = match PREFIX.get() {
            Some(prefix) => *prefix,
            None => {
                let mut b = [0u8; 8];
                fill_random(&mut b)?;
                // A racing thread's draw may win: either is as good.
                *PREFIX.get_or_init(|| u64::from_le_bytes(b))
            }
        };
        Ok(ClientId::layout(
            prefix,
            COUNTER.fetch_add(1, Ordering::Relaxed),
        ))
    }

    /// The id of `prefix` (its low 60 bits) and `counter` (its low 62).
    fn layout(prefix: u64, counter: u64) -> ClientId {
        // The first 16 digits: 12 of the prefix, the version (8), its last 3;
        // the last 16: the variant bits (0b10) over the counter's 62.
        let prefix = prefix & ((1 << 60) - 1);
        let high = ((prefix >> 12) << 16) | (8 << 12) | (prefix & 0xfff);
        let low = (counter & ((1 << 62) - 1)) | (1 << 63);
        let (h, l) = (hex16(high), hex16(low));
        let mut out = [b'-'; 36];
        out[..8].copy_from_slice(&h[..8]);
        out[9..13].copy_from_slice(&h[8..12]);
        out[14..18].copy_from_slice(&h[12..]);
        out[19..23].copy_from_slice(&l[..4]);
        out[24..].copy_from_slice(&l[4..]);
        ClientId(out)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits and hyphens are ASCII")
    }
}

/// `v` as 16 lower-case hex digits, most significant first.
fn hex16(v: u64) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, digit) in out.iter_mut().enumerate() {
        *digit = HEX[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_uuid_shaped_and_count_up_under_one_prefix() {
        let a = ClientId::next().unwrap();
        let b = ClientId::next().unwrap();
        assert_ne!(a, b);
        let (a, b) = (a.as_str(), b.as_str());
        assert_eq!(a.len(), 36);
        assert_eq!(&a[..18], &b[..18], "one prefix per process: {a} {b}");
        assert_eq!(&a[14..15], "8", "version 8: {a}");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        let hyphens: Vec<usize> = a.match_indices('-').map(|(i, _)| i).collect();
        assert_eq!(hyphens, [8, 13, 18, 23]);
    }

    #[test]
    fn the_layout_keeps_60_bits_of_prefix_and_the_counter() {
        let id = ClientId::layout(0x0123_4567_89ab_cdef, 0x2fed_cba9_8765_4321);
        assert_eq!(id.as_str(), "12345678-9abc-8def-afed-cba987654321");
        let id = ClientId::layout(u64::MAX, 0);
        assert_eq!(id.to_string(), "ffffffff-ffff-8fff-8000-000000000000");
        assert_ne!(
            ClientId::layout(7 << 4, 1),
            ClientId::layout(7 << 4, 2),
            "the counter's last digit counts"
        );
    }

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
