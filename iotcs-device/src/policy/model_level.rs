//! The device-model-level (`*`) pipeline (spec §7.2, §7.4): it applies to
//! whole messages, DATA and ALERT, after the attribute pipelines. As in
//! Oracle's library only its first function counts; the functions that
//! make sense on whole messages are the batching ones, so a `*` pipeline
//! is a [`MessageBatch`] or nothing (another first function is logged and
//! ignored when the policy is built).
//!
//! A held message is durable ([`HeldMessages`]) before `offer` returns.
//! An ALERT of at least the function's `alertSeverity` bypasses the batch.

use iotcs_core::Error;
use iotcs_core::message::{Message, Payload, Severity};

use super::batch::{Batch, Release, bypasses};
use super::held::HeldMessages;

/// A message a batch let out; once the outbox took it, pass its key to
/// [`MessageBatch::release`]. `L` is what the caller attached to the
/// message (its delivery listener); a message restored from an earlier run
/// has none.
#[derive(Debug)]
pub(crate) struct Released<L> {
    /// `None` for an alert that bypassed the batch (never held).
    pub(crate) key: Option<u64>,
    pub(crate) message: Message,
    pub(crate) attached: Option<L>,
}

/// A held message: its key in the store, the message, what was attached.
type Held<L> = (u64, Message, Option<L>);

/// A batching function applied to whole messages.
#[derive(Debug)]
pub(crate) struct MessageBatch<L> {
    batch: Batch<Held<L>>,
    /// `alertSeverity`: alerts of this severity or above are not held.
    threshold: Severity,
    held: HeldMessages,
}

impl<L> MessageBatch<L> {
    /// A batch releasing by `release`, keeping its messages in `held`, which
    /// hands back what it held before a restart (`restored`, oldest first):
    /// they are held again from `now`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for a bad size or delay (see [`Batch::new`]).
    pub(crate) fn new(
        release: Release,
        threshold: Severity,
        held: HeldMessages,
        restored: Vec<(u64, Message)>,
        now: i64,
    ) -> Result<Self, Error> {
        let mut batch = Batch::new(release)?;
        batch.restore(
            now,
            restored.into_iter().map(|(k, m)| (k, m, None)).collect(),
        );
        Ok(MessageBatch {
            batch,
            threshold,
            held,
        })
    }

    /// Holds `message` (durably) or lets it through; returns what goes out
    /// now, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the message cannot be made durable; it is then
    /// neither held nor sent, and the caller reports it.
    pub(crate) fn offer(
        &mut self,
        now: i64,
        message: Message,
        attached: Option<L>,
    ) -> Result<Vec<Released<L>>, Error> {
        if let Payload::Alert(alert) = message.payload()
            && bypasses(alert.severity(), self.threshold)
        {
            return Ok(vec![Released {
                key: None,
                message,
                attached,
            }]);
        }
        let key = self.held.hold(&message)?;
        Ok(released(self.batch.offer(now, (key, message, attached))))
    }

    /// What an expired `batchByTime`, or a `batchByCost` whose network got
    /// cheap enough, lets out at `now`.
    pub(crate) fn expire(&mut self, now: i64) -> Vec<Released<L>> {
        released(self.batch.expire(now))
    }

    /// Lets every held message out (the policy changed or went).
    pub(crate) fn drain(&mut self) -> Vec<Released<L>> {
        released(self.batch.drain())
    }

    /// When the timer must call [`MessageBatch::expire`] (`batchByTime`).
    pub(crate) fn deadline(&self) -> Option<i64> {
        self.batch.deadline()
    }

    /// Whether the timer must poll this batch: a `batchByCost` holding
    /// messages is released by a change of the network's cost, which has no
    /// deadline.
    pub(crate) fn polls(&self) -> bool {
        matches!(self.batch.release(), Release::Cost(..)) && !self.batch.held().is_empty()
    }

    /// Forgets the durable copies of messages the outbox took.
    pub(crate) fn release(&mut self, keys: &[u64]) {
        self.held.release(keys);
    }

    /// How many messages are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.batch.held().len()
    }
}

fn released<L>(items: Vec<Held<L>>) -> Vec<Released<L>> {
    items
        .into_iter()
        .map(|(key, message, attached)| Released {
            key: Some(key),
            message,
            attached,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: i64) -> Message {
        Message::data("ep", "urn:m:attributes", [("n", n)], n).unwrap()
    }

    fn alert(severity: Severity) -> Message {
        Message::alert("ep", "urn:m:hot", "hot", severity, [("n", 1)], 0).unwrap()
    }

    fn times(out: &[Released<()>]) -> Vec<i64> {
        out.iter().map(|r| r.message.event_time()).collect()
    }

    #[test]
    fn messages_go_out_as_a_batch() {
        let mut b: MessageBatch<()> = MessageBatch::new(
            Release::Size(2),
            Severity::Critical,
            HeldMessages::in_memory(),
            vec![],
            0,
        )
        .unwrap();
        assert!(b.offer(0, data(1), None).unwrap().is_empty());
        assert_eq!(b.len(), 1);
        let out = b.offer(1, data(2), Some(())).unwrap();
        assert_eq!(times(&out), vec![1, 2]);
        assert!(out.iter().all(|r| r.key.is_some()));
    }

    #[test]
    fn critical_alerts_bypass_and_others_are_held() {
        let mut b: MessageBatch<()> = MessageBatch::new(
            Release::Size(3),
            Severity::Critical,
            HeldMessages::in_memory(),
            vec![],
            0,
        )
        .unwrap();
        b.offer(0, data(1), None).unwrap();
        let out = b.offer(1, alert(Severity::Critical), None).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].key.is_none());
        assert_eq!(b.len(), 1, "the held message stays held");
        assert!(
            b.offer(2, alert(Severity::Significant), None)
                .unwrap()
                .is_empty()
        );
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn restored_messages_go_first() {
        let restored = vec![(0, data(1)), (1, data(2))];
        let mut b: MessageBatch<()> = MessageBatch::new(
            Release::Time(100),
            Severity::Critical,
            HeldMessages::in_memory(),
            restored,
            50,
        )
        .unwrap();
        assert_eq!(b.deadline(), Some(150));
        b.offer(60, data(3), None).unwrap();
        assert_eq!(times(&b.expire(150)), vec![1, 2, 3]);
    }
}
