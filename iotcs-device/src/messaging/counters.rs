//! The message dispatcher's counters, served by the `message_dispatcher`
//! capability (spec §8.6) and reset by it.
//!
//! Unlike Oracle's libraries, `totalMessagesRetried` does count: every
//! message put back after a failed POST adds one.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by the sender, the receiver and the capability handlers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    messages_sent: AtomicU64,
    bytes_sent: AtomicU64,
    messages_received: AtomicU64,
    bytes_received: AtomicU64,
    messages_retried: AtomicU64,
    protocol_errors: AtomicU64,
    /// Not a counter: the polling interval in ms as last set by the cloud
    /// (0: not set, use the configured one). It lives here because the
    /// capability handlers and the receiver share this one struct.
    polling_interval_ms: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) messages_sent: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) messages_received: u64,
    pub(crate) bytes_received: u64,
    pub(crate) messages_retried: u64,
    pub(crate) protocol_errors: u64,
}

impl Counters {
    /// A POST carrying `messages` messages in `bytes` bytes was accepted.
    pub(crate) fn sent(&self, messages: usize, bytes: usize) {
        self.messages_sent
            .fetch_add(messages as u64, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `messages` requests in `bytes` bytes came from the cloud.
    pub(crate) fn received(&self, messages: usize, bytes: usize) {
        self.messages_received
            .fetch_add(messages as u64, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `messages` messages go back to the queue after a failure.
    pub(crate) fn retried(&self, messages: usize) {
        self.messages_retried
            .fetch_add(messages as u64, Ordering::Relaxed);
    }

    /// A POST failed.
    pub(crate) fn protocol_error(&self) {
        self.protocol_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The polling interval set by the cloud, if it set one.
    pub(crate) fn polling_interval(&self) -> Option<std::time::Duration> {
        match self.polling_interval_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(std::time::Duration::from_millis(ms)),
        }
    }

    /// Sets the polling interval (at least 1 ms).
    pub(crate) fn set_polling_interval(&self, interval: std::time::Duration) {
        let ms = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.polling_interval_ms.store(ms, Ordering::Relaxed);
    }

    /// Zeroes every counter (not the polling interval).
    pub(crate) fn reset(&self) {
        for counter in [
            &self.messages_sent,
            &self.bytes_sent,
            &self.messages_received,
            &self.bytes_received,
            &self.messages_retried,
            &self.protocol_errors,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// The current values.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            messages_sent: self.messages_sent.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            messages_received: self.messages_received.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            messages_retried: self.messages_retried.load(Ordering::Relaxed),
            protocol_errors: self.protocol_errors.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_resets() {
        let c = Counters::default();
        c.sent(3, 300);
        c.received(1, 50);
        c.retried(2);
        c.protocol_error();
        let s = c.snapshot();
        assert_eq!(
            s,
            Snapshot {
                messages_sent: 3,
                bytes_sent: 300,
                messages_received: 1,
                bytes_received: 50,
                messages_retried: 2,
                protocol_errors: 1,
            }
        );
        c.set_polling_interval(std::time::Duration::from_millis(1500));
        c.reset();
        assert_eq!(c.snapshot(), Snapshot::default());
        assert_eq!(
            c.polling_interval(),
            Some(std::time::Duration::from_millis(1500))
        );
    }
}
