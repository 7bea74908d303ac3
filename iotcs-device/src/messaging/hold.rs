//! The hold-until-synced rule (protocol §9.3): a message whose value is a
//! storage object being uploaded waits here, not in the outbox, until the
//! upload is `IN_SYNC`; the messages its source sends after it wait behind
//! it, so a source's order is kept; other sources are not held. When the
//! upload fails, the messages that refer to it are given up ("content sync
//! failed") and those behind them go on. No IO: `context.rs` pushes what
//! this releases into the outbox.

use std::collections::{HashMap, VecDeque};

use crate::messaging::outbox::Outgoing;

/// A held message and the uploads it waits for.
#[derive(Debug)]
struct Parked {
    item: Outgoing,
    waits_for: Vec<String>,
    /// Its key in the held store (`held_store.rs`), when it is persisted.
    stored: Option<u64>,
}

/// What `Holding::admit` does with a message.
#[derive(Debug)]
pub(crate) enum Admit {
    /// Nothing to wait for: to the outbox.
    Send(Outgoing),
    /// Held until its uploads end.
    Held,
    /// To be held, but the hold is full: refused.
    Full(Outgoing),
}

/// What settling an upload releases, in each source's order.
#[derive(Debug, Default)]
pub(crate) struct Released {
    /// Messages whose uploads are all in sync: to the outbox.
    pub(crate) send: Vec<Outgoing>,
    /// Messages that refer to an upload that failed, with that upload's
    /// URI: to their `on_error`.
    pub(crate) failed: Vec<(Outgoing, String)>,
    /// The held-store keys of the released messages that had one: removed
    /// once the outbox has them (or their failure is reported).
    pub(crate) stored: Vec<u64>,
}

/// The uploads in progress and the messages held for them.
#[derive(Debug, Default)]
pub(crate) struct Holding {
    /// Uploads started and not yet settled, by object URI (a count: an
    /// object may be synced again after a failure).
    pending: HashMap<String, usize>,
    /// Uploads that failed while messages waited for them.
    failed: HashMap<String, usize>,
    /// Held messages by source, oldest first.
    held: HashMap<String, VecDeque<Parked>>,
}

impl Holding {
    /// An upload of `uri` starts: messages referring to it wait from now on.
    pub(crate) fn expect(&mut self, uri: &str) {
        *self.pending.entry(uri.to_owned()).or_default() += 1;
    }

    /// Holds `item` if it refers to a pending upload among `refers_to` or
    /// its source has messages held already; hands it back to be sent
    /// otherwise. At most `limit` messages are held (the queue's bound:
    /// a stalled upload must not let a chatty source fill the memory): past
    /// it, the item comes back as [`Admit::Full`].
    #[cfg(test)]
    pub(crate) fn admit(&mut self, item: Outgoing, refers_to: &[String], limit: usize) -> Admit {
        self.admit_stored(item, refers_to, limit, None)
    }

    /// Whether a message from `source` referring to `refers_to` would be
    /// held now, room permitting: the caller persists a guaranteed one
    /// before [`Holding::admit_stored`] holds it.
    pub(crate) fn would_hold(&self, source: &str, refers_to: &[String], limit: usize) -> bool {
        let waits = refers_to.iter().any(|uri| self.pending.contains_key(uri));
        let behind = self.held.get(source).is_some_and(|q| !q.is_empty());
        (waits || behind) && self.len() < limit
    }

    /// As `admit`, for a message persisted in the held store under
    /// `stored` (its key comes back in [`Released::stored`]).
    pub(crate) fn admit_stored(
        &mut self,
        item: Outgoing,
        refers_to: &[String],
        limit: usize,
        stored: Option<u64>,
    ) -> Admit {
        let waits_for: Vec<String> = refers_to
            .iter()
            .filter(|uri| self.pending.contains_key(*uri))
            .cloned()
            .collect();
        let source = item.source();
        let behind = self.held.get(source).is_some_and(|q| !q.is_empty());
        if waits_for.is_empty() && !behind {
            return Admit::Send(item);
        }
        if self.len() >= limit {
            return Admit::Full(item);
        }
        self.held
            .entry(source.to_owned())
            .or_default()
            .push_back(Parked {
                item,
                waits_for,
                stored,
            });
        Admit::Held
    }

    /// The upload of `uri` ended, `ok` or not: releases, source by source,
    /// the held messages at the front that wait for nothing pending any more.
    pub(crate) fn settle(&mut self, uri: &str, ok: bool) -> Released {
        if let Some(count) = self.pending.get_mut(uri) {
            *count -= 1;
            if *count == 0 {
                self.pending.remove(uri);
            }
        }
        if !ok {
            *self.failed.entry(uri.to_owned()).or_default() += 1;
        }
        let mut released = Released::default();
        for queue in self.held.values_mut() {
            while let Some(front) = queue.front() {
                if front.waits_for.iter().any(|u| self.pending.contains_key(u)) {
                    break;
                }
                let Some(parked) = queue.pop_front() else {
                    break;
                };
                released.stored.extend(parked.stored);
                match parked
                    .waits_for
                    .iter()
                    .find(|u| self.failed.contains_key(*u))
                {
                    Some(failed) => released.failed.push((parked.item, failed.clone())),
                    None => released.send.push(parked.item),
                }
            }
        }
        self.held.retain(|_, q| !q.is_empty());
        // A failure matters only to the messages held when it happened.
        if self.held.is_empty() {
            self.failed.clear();
        }
        released
    }

    /// Every held message with its held-store key, at close: the device
    /// stops before their uploads end.
    pub(crate) fn drain(&mut self) -> Vec<(Outgoing, Option<u64>)> {
        self.pending.clear();
        self.failed.clear();
        self.held
            .drain()
            .flat_map(|(_, q)| q.into_iter().map(|p| (p.item, p.stored)))
            .collect()
    }

    /// How many messages are held.
    pub(crate) fn len(&self) -> usize {
        self.held.values().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use iotcs_core::message::Message;

    use super::*;

    fn data(source: &str, n: i64) -> Outgoing {
        Outgoing::new(Message::data(source, "urn:x:attributes", [("n", n)], 0).expect("valid"))
    }

    const LIMIT: usize = 100;

    fn sent(admit: Admit) -> bool {
        matches!(admit, Admit::Send(_))
    }

    fn held(admit: Admit) -> bool {
        matches!(admit, Admit::Held)
    }

    fn numbers(items: &[Outgoing]) -> Vec<String> {
        items
            .iter()
            .map(|i| format!("{}:{}", i.source(), i.json().len()))
            .collect()
    }

    fn uri(u: &str) -> Vec<String> {
        vec![u.to_owned()]
    }

    #[test]
    fn a_message_without_pending_content_passes() {
        let mut hold = Holding::default();
        assert!(sent(hold.admit(data("A", 1), &[], LIMIT)));
        assert!(
            sent(hold.admit(data("A", 2), &uri("u"), LIMIT)),
            "u is not pending"
        );
        assert_eq!(hold.len(), 0);
    }

    #[test]
    fn a_message_waits_for_its_upload_and_its_source_keeps_order_behind_it() {
        let mut hold = Holding::default();
        hold.expect("u");
        assert!(held(hold.admit(data("A", 1), &uri("u"), LIMIT)));
        assert!(
            held(hold.admit(data("A", 2), &[], LIMIT)),
            "behind the held one"
        );
        assert!(
            sent(hold.admit(data("B", 3), &[], LIMIT)),
            "other sources go on"
        );
        assert_eq!(hold.len(), 2);
        let released = hold.settle("u", true);
        assert!(released.failed.is_empty());
        let out: Vec<String> = released
            .send
            .iter()
            .map(|i| i.json().into_owned())
            .collect();
        assert_eq!(out.len(), 2);
        assert!(
            out[0].contains("\"n\":1") && out[1].contains("\"n\":2"),
            "{out:?}"
        );
        assert_eq!(hold.len(), 0);
        assert!(sent(hold.admit(data("A", 4), &uri("u"), LIMIT)), "settled");
    }

    #[test]
    fn a_failed_upload_gives_up_its_messages_and_frees_those_behind() {
        let mut hold = Holding::default();
        hold.expect("u");
        hold.expect("v");
        assert!(held(hold.admit(data("A", 1), &uri("u"), LIMIT)));
        assert!(held(hold.admit(data("A", 2), &uri("v"), LIMIT)));
        assert!(held(hold.admit(data("A", 3), &[], LIMIT)));
        let released = hold.settle("u", false);
        assert_eq!(released.failed.len(), 1);
        assert_eq!(released.failed[0].1, "u");
        assert!(released.send.is_empty(), "2 still waits for v, 3 behind it");
        let released = hold.settle("v", true);
        assert_eq!(numbers(&released.send).len(), 2);
        assert!(released.failed.is_empty());
    }

    #[test]
    fn stored_keys_come_back_with_what_they_release() {
        let mut hold = Holding::default();
        hold.expect("u");
        assert!(hold.would_hold("A", &uri("u"), LIMIT));
        assert!(!hold.would_hold("A", &uri("v"), LIMIT), "v is not pending");
        assert!(!hold.would_hold("A", &uri("u"), 0), "no room");
        assert!(held(hold.admit_stored(
            data("A", 1),
            &uri("u"),
            LIMIT,
            Some(3)
        )));
        assert!(hold.would_hold("A", &[], LIMIT), "behind a held one");
        assert!(held(hold.admit(data("A", 2), &[], LIMIT)));
        let released = hold.settle("u", false);
        assert_eq!(released.stored, [3]);
        assert_eq!((released.failed.len(), released.send.len()), (1, 1));
    }

    #[test]
    fn an_object_synced_twice_stays_pending_until_both_settle() {
        let mut hold = Holding::default();
        hold.expect("u");
        hold.expect("u");
        assert!(held(hold.admit(data("A", 1), &uri("u"), LIMIT)));
        assert!(hold.settle("u", true).send.is_empty());
        assert_eq!(hold.settle("u", true).send.len(), 1);
    }

    #[test]
    fn the_hold_is_bounded() {
        let mut hold = Holding::default();
        hold.expect("u");
        assert!(held(hold.admit(data("A", 1), &uri("u"), 2)));
        assert!(held(hold.admit(data("A", 2), &[], 2)));
        assert!(matches!(hold.admit(data("A", 3), &[], 2), Admit::Full(_)));
        assert!(
            sent(hold.admit(data("B", 4), &[], 2)),
            "not held: not bounded"
        );
        assert_eq!(hold.len(), 2);
    }

    #[test]
    fn close_drains_every_held_message() {
        let mut hold = Holding::default();
        hold.expect("u");
        assert!(held(hold.admit(data("A", 1), &uri("u"), LIMIT)));
        assert!(held(hold.admit_stored(
            data("B", 2),
            &uri("u"),
            LIMIT,
            Some(7)
        )));
        let mut keys: Vec<Option<u64>> = hold.drain().into_iter().map(|(_, k)| k).collect();
        keys.sort_unstable();
        assert_eq!(keys, [None, Some(7)]);
        assert_eq!(hold.len(), 0);
        assert!(
            sent(hold.admit(data("A", 3), &uri("u"), LIMIT)),
            "nothing pending"
        );
    }
}
