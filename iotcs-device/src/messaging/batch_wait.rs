//! The sender's batching wait, `dispatcher_batch_wait`: when fewer messages
//! are queued than fill a POST, the sender may wait a little for more, so
//! the messages of a slow producer (a `GUARANTEED_DELIVERY` `set` returns
//! only once its message is on disk) share a POST instead of costing one
//! each, on the device and in the cloud.
//!
//! The rule, decided here without IO or clock (the sender passes `now`):
//! - the wait ends as soon as a batch is full
//!   (`dispatcher_max_messages_per_connection` queued);
//! - it ends at `since + wait` at the latest, where `since` is no later than
//!   the arrival of the first message waiting: the sender sets it when a
//!   push wakes it from idle and again at each pop, never per message, so a
//!   steady trickle cannot hold a message longer than the wait;
//! - it does not apply while something urgent is queued ([`urgent`]): a
//!   RESPONSE to a cloud request, because the cloud's caller waits on it and
//!   the request latency goal (p50 ≤ 2 ms, p99 ≤ 10 ms from the cloud's
//!   request to the completed request, about 0.8 ms today on loopback)
//!   leaves no room for a few milliseconds more; and a `HIGHEST` priority
//!   message (alerts, the resources report), which is urgent by its
//!   priority. They go at once, with whatever is queued beside them;
//! - zero turns it off: whatever is queued goes at once, as before.
//!
//! `close` never waits: the sender's last flush pops without asking, and a
//! stop ends a wait at once.

use std::time::{Duration, Instant};

use iotcs_core::message::{MessageType, Priority};

/// What the sender does next with the messages queued.
#[derive(Debug, Eq, PartialEq)]
pub(crate) enum Next {
    /// Pop a batch and send it now.
    Send,
    /// Wait for more messages at most this long (each push wakes the
    /// sender, which asks again). [`Duration::MAX`] is a wait too long for
    /// the clock: until the batch fills or something urgent comes.
    Wait(Duration),
}

/// `dispatcher_batch_wait` and the batch size it waits to fill.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchWait {
    /// The most a message waits for others; zero never waits.
    wait: Duration,
    /// `dispatcher_max_messages_per_connection`: a full batch.
    full: usize,
}

impl BatchWait {
    /// A wait of at most `wait` for a batch of `full` messages.
    pub(crate) fn new(wait: Duration, full: usize) -> BatchWait {
        BatchWait {
            wait,
            full: full.max(1),
        }
    }

    /// Whether to send now or wait, with `queued` messages waiting, the
    /// first of which arrived no earlier than `since`; `urgent` says whether
    /// one of them must go at once (asked only when it matters, since it
    /// looks through the queue).
    pub(crate) fn next(
        &self,
        queued: usize,
        urgent: impl FnOnce() -> bool,
        since: Instant,
        now: Instant,
    ) -> Next {
        if self.wait.is_zero() || queued == 0 || queued >= self.full || urgent() {
            return Next::Send;
        }
        match since.checked_add(self.wait) {
            Some(until) if until <= now => Next::Send,
            Some(until) => Next::Wait(until - now),
            None => Next::Wait(Duration::MAX),
        }
    }
}

/// Whether a queued message of type `kind` and `priority` must go at once
/// rather than wait for others (module docs).
pub(crate) fn urgent(kind: MessageType, priority: Priority) -> bool {
    kind == MessageType::Response || priority == Priority::Highest
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn never() -> bool {
        false
    }

    #[test]
    fn a_few_messages_wait_until_the_deadline_counted_from_since() {
        let rule = BatchWait::new(5 * MS, 100);
        let since = Instant::now();
        assert_eq!(rule.next(1, never, since, since), Next::Wait(5 * MS));
        // More messages do not restart it: the deadline stays since + wait.
        assert_eq!(
            rule.next(40, never, since, since + 3 * MS),
            Next::Wait(2 * MS)
        );
        assert_eq!(rule.next(41, never, since, since + 5 * MS), Next::Send);
        assert_eq!(rule.next(41, never, since, since + 9 * MS), Next::Send);
    }

    #[test]
    fn a_full_batch_an_empty_queue_and_a_zero_wait_send_at_once() {
        let since = Instant::now();
        let rule = BatchWait::new(5 * MS, 10);
        assert_eq!(rule.next(10, never, since, since), Next::Send);
        assert_eq!(rule.next(11, never, since, since), Next::Send);
        // Nothing to wait with: the sender finds an empty batch and idles.
        assert_eq!(rule.next(0, never, since, since), Next::Send);
        let off = BatchWait::new(Duration::ZERO, 10);
        assert_eq!(off.next(1, never, since, since), Next::Send);
    }

    #[test]
    fn something_urgent_sends_at_once_and_is_asked_only_when_it_matters() {
        let since = Instant::now();
        let rule = BatchWait::new(5 * MS, 10);
        assert_eq!(rule.next(3, || true, since, since), Next::Send);
        let asked = std::cell::Cell::new(false);
        let ask = || {
            asked.set(true);
            true
        };
        assert_eq!(rule.next(10, ask, since, since), Next::Send);
        assert!(!asked.get(), "a full batch needs no look through the queue");
    }

    #[test]
    fn a_wait_too_long_for_the_clock_waits_for_a_full_batch() {
        let rule = BatchWait::new(Duration::MAX, 10);
        let since = Instant::now();
        assert_eq!(rule.next(3, never, since, since), Next::Wait(Duration::MAX));
        assert_eq!(rule.next(10, never, since, since), Next::Send);
    }

    #[test]
    fn responses_and_highest_priority_are_urgent() {
        assert!(urgent(MessageType::Response, Priority::Medium));
        assert!(urgent(MessageType::Response, Priority::High));
        assert!(urgent(MessageType::Alert, Priority::Highest));
        assert!(urgent(MessageType::Data, Priority::Highest));
        assert!(!urgent(MessageType::Alert, Priority::High));
        assert!(!urgent(MessageType::Data, Priority::Medium));
    }
}
