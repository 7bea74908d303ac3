//! The `(source, clientId)` of the stored device messages, so that a resend
//! is stored once.
//!
//! Why not a set of the strings: with 50 000 messages kept, inserting,
//! looking up and evicting owned strings (an allocation each, and a pointer
//! to follow on every probe) was a fifth of the server's CPU per message.
//! Here each key is a 64-bit fingerprint (SipHash under a per-process random
//! key, so no client can aim at a collision) mapped to the `seq` of its
//! message; a fingerprint found is confirmed against that message in the
//! log, so the answer stays exact, and the rare key whose fingerprint is
//! taken by another key is kept whole in `clashes`.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use super::StoredMessage;

/// Invariant: every key is in exactly one of `by_print` (as the message
/// `seq` whose fingerprint it is) or `clashes`.
#[derive(Default)]
pub(super) struct Seen {
    keys: RandomState,
    by_print: HashMap<u64, u64, BuildHasherDefault<Prehashed>>,
    clashes: HashSet<(String, String)>,
}

impl Seen {
    fn print(&self, source: &str, client_id: &str) -> u64 {
        let mut h = self.keys.build_hasher();
        h.write(source.as_bytes());
        // Not in UTF-8, so ("ab", "c") and ("a", "bc") differ.
        h.write_u8(0xff);
        h.write(client_id.as_bytes());
        h.finish()
    }

    /// Whether `(source, client_id)` is a stored message of `log`.
    pub(super) fn contains(
        &self,
        source: &str,
        client_id: &str,
        log: &VecDeque<StoredMessage>,
    ) -> bool {
        self.contains_at(self.print(source, client_id), source, client_id, log)
    }

    fn contains_at(
        &self,
        print: u64,
        source: &str,
        client_id: &str,
        log: &VecDeque<StoredMessage>,
    ) -> bool {
        let found = self
            .by_print
            .get(&print)
            .and_then(|seq| message(log, *seq))
            .and_then(StoredMessage::dedup_key);
        found == Some((source, client_id))
            || (!self.clashes.is_empty()
                && self
                    .clashes
                    .contains(&(source.to_owned(), client_id.to_owned())))
    }

    /// Remembers the key of message `seq`, which is not remembered yet.
    pub(super) fn insert(&mut self, source: &str, client_id: &str, seq: u64) {
        self.insert_at(self.print(source, client_id), source, client_id, seq);
    }

    fn insert_at(&mut self, print: u64, source: &str, client_id: &str, seq: u64) {
        match self.by_print.entry(print) {
            Entry::Vacant(v) => {
                v.insert(seq);
            }
            Entry::Occupied(_) => {
                self.clashes
                    .insert((source.to_owned(), client_id.to_owned()));
            }
        }
    }

    /// Forgets the key of message `seq` (evicted).
    pub(super) fn remove(&mut self, source: &str, client_id: &str, seq: u64) {
        self.remove_at(self.print(source, client_id), source, client_id, seq);
    }

    fn remove_at(&mut self, print: u64, source: &str, client_id: &str, seq: u64) {
        if self.by_print.get(&print) == Some(&seq) {
            self.by_print.remove(&print);
        } else if !self.clashes.is_empty() {
            self.clashes
                .remove(&(source.to_owned(), client_id.to_owned()));
        }
    }
}

/// Message `seq` of `log`, which is in `seq` order: found at once while the
/// `seq`s have no gap (they are given out one by one), else by bisection.
fn message(log: &VecDeque<StoredMessage>, seq: u64) -> Option<&StoredMessage> {
    let first = log.front()?.seq;
    let direct = usize::try_from(seq.checked_sub(first)?)
        .ok()
        .and_then(|i| log.get(i))
        .filter(|m| m.seq == seq);
    direct.or_else(|| {
        log.binary_search_by_key(&seq, |m| m.seq)
            .ok()
            .map(|i| &log[i])
    })
}

/// The hasher of `by_print`: its keys are fingerprints already, uniform and
/// unknown to clients, so hashing them again would add nothing.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; this keeps any other input well mixed.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn stored(seq: u64, source: &str, client_id: &str) -> StoredMessage {
        StoredMessage {
            seq,
            json: RawValue::from_string("{}".into()).unwrap(),
            endpoint: source.into(),
            message_type: "DATA".into(),
            direction: "FROM_DEVICE".into(),
            received_time: 1,
            client_id: Some(client_id.into()),
        }
    }

    #[test]
    fn keys_are_exact_even_when_fingerprints_clash() {
        let mut seen = Seen::default();
        let mut log = VecDeque::new();
        for (seq, cid) in [(1, "a"), (2, "b")] {
            log.push_back(stored(seq, "S", cid));
            // Both under one fingerprint: "b" clashes with "a".
            seen.insert_at(7, "S", cid, seq);
        }
        assert!(seen.contains_at(7, "S", "a", &log));
        assert!(seen.contains_at(7, "S", "b", &log));
        assert!(
            !seen.contains_at(7, "S", "c", &log),
            "same print, other key"
        );
        assert!(!seen.contains_at(7, "T", "a", &log), "other source");
        log.pop_front();
        seen.remove_at(7, "S", "a", 1);
        assert!(!seen.contains_at(7, "S", "a", &log));
        assert!(seen.contains_at(7, "S", "b", &log));
        log.pop_front();
        seen.remove_at(7, "S", "b", 2);
        assert!(!seen.contains_at(7, "S", "b", &log));
        assert!(seen.by_print.is_empty() && seen.clashes.is_empty());
    }

    #[test]
    fn messages_are_found_by_seq_with_or_without_gaps() {
        let log: VecDeque<_> = [3, 4, 6, 9]
            .into_iter()
            .map(|seq| stored(seq, "S", "c"))
            .collect();
        for seq in [3, 4, 6, 9] {
            assert_eq!(message(&log, seq).map(|m| m.seq), Some(seq));
        }
        for seq in [0, 2, 5, 7, 10, u64::MAX] {
            assert!(message(&log, seq).is_none(), "{seq}");
        }
        let mut seen = Seen::default();
        seen.insert("S", "c", 6);
        assert!(seen.contains("S", "c", &log));
        assert!(!seen.contains("S", "d", &log));
        assert!(!seen.contains("S\u{ff}", "c", &log));
    }
}
