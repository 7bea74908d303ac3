//! The policy a virtual device runs: its attribute pipelines and its
//! model-level batch, with their state. Built fresh for every version of a
//! policy, so a change resets every window, sample count and duplicate
//! memory (spec §7.3). Messages the old version's batch held are let out
//! when it is replaced (they were already accepted, see `held.rs`).

use std::collections::HashMap;

use iotcs_core::message::Message;
use iotcs_core::{Error, Value};

use super::expression::AttributeValues;
use super::model_level::{MessageBatch, Released};
use super::pipeline::{AttributePipeline, Output};

/// One virtual device's running policy; `L` is what its messages carry
/// through the batch (their delivery listeners).
#[derive(Debug)]
pub(crate) struct ActivePolicy<L> {
    id: String,
    last_modified: i64,
    pipelines: HashMap<String, AttributePipeline>,
    batch: Option<MessageBatch<L>>,
}

impl<L> ActivePolicy<L> {
    pub(crate) fn new(
        id: impl Into<String>,
        last_modified: i64,
        pipelines: Vec<AttributePipeline>,
        batch: Option<MessageBatch<L>>,
    ) -> Self {
        ActivePolicy {
            id: id.into(),
            last_modified,
            pipelines: pipelines
                .into_iter()
                .map(|p| (p.attribute().to_owned(), p))
                .collect(),
            batch,
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn last_modified(&self) -> i64 {
        self.last_modified
    }

    /// Runs an offered value through its attribute's pipeline; a value of
    /// an attribute without one passes as it is, at `now`.
    ///
    /// # Errors
    ///
    /// As [`AttributePipeline::offer`].
    pub(crate) fn offer_value(
        &mut self,
        now: i64,
        attribute: &str,
        value: Value,
        values: &dyn AttributeValues,
    ) -> Result<Output, Error> {
        match self.pipelines.get_mut(attribute) {
            Some(p) => p.offer(now, value, values),
            None => Ok(Output {
                values: vec![(value, now)],
                effects: Vec::new(),
            }),
        }
    }

    /// What the attribute pipelines let out at `now` without an offer,
    /// by attribute; failures are returned beside the outputs.
    pub(crate) fn expire_values(
        &mut self,
        now: i64,
        values: &dyn AttributeValues,
    ) -> Vec<(String, Result<Output, Error>)> {
        self.pipelines
            .iter_mut()
            .filter(|(_, p)| p.deadline().is_some_and(|d| d <= now))
            .map(|(name, p)| (name.clone(), p.expire(now, values)))
            .collect()
    }

    /// Passes a whole message through the model-level batch, if any.
    ///
    /// # Errors
    ///
    /// As [`MessageBatch::offer`].
    pub(crate) fn offer_message(
        &mut self,
        now: i64,
        message: Message,
        attached: Option<L>,
    ) -> Result<Vec<Released<L>>, Error> {
        match &mut self.batch {
            Some(batch) => batch.offer(now, message, attached),
            None => Ok(vec![Released {
                key: None,
                message,
                attached,
            }]),
        }
    }

    /// What the model-level batch lets out at `now` without an offer.
    pub(crate) fn expire_messages(&mut self, now: i64) -> Vec<Released<L>> {
        self.batch.as_mut().map_or_else(Vec::new, |b| b.expire(now))
    }

    /// Forgets the durable copies of released messages the outbox took.
    pub(crate) fn release(&mut self, keys: &[u64]) {
        if let Some(batch) = &mut self.batch {
            batch.release(keys);
        }
    }

    /// When the timer must come back: the earliest window end or batch
    /// delay, or a poll while a `batchByCost` holds messages.
    pub(crate) fn deadline(&self, now: i64, poll: i64) -> Option<i64> {
        let windows = self
            .pipelines
            .values()
            .filter_map(AttributePipeline::deadline);
        let batch = self.batch.as_ref().and_then(|b| {
            b.deadline()
                .or_else(|| b.polls().then(|| now.saturating_add(poll)))
        });
        windows.chain(batch).min()
    }

    /// Lets out every message the batch holds: the policy is being
    /// replaced or removed, and what it held was already accepted.
    pub(crate) fn drain_messages(&mut self) -> Vec<Released<L>> {
        self.batch
            .as_mut()
            .map_or_else(Vec::new, MessageBatch::drain)
    }
}

#[cfg(test)]
mod tests {
    use iotcs_core::message::Severity;

    use super::super::batch::Release;
    use super::super::expression::testing::Values;
    use super::super::held::HeldMessages;
    use super::super::pipeline::Step;
    use super::super::window::{Aggregate, Window};
    use super::*;

    fn policy() -> ActivePolicy<()> {
        let mean = AttributePipeline::new(
            "temp",
            vec![Step::Window(Window::new(Aggregate::Mean, 1000, 0).unwrap())],
        );
        let batch = MessageBatch::new(
            Release::Time(500),
            Severity::Critical,
            HeldMessages::in_memory(),
            vec![],
            0,
        )
        .unwrap();
        ActivePolicy::new("p1", 7, vec![mean], Some(batch))
    }

    #[test]
    fn attributes_without_a_pipeline_pass_and_windows_expire_by_deadline() {
        let mut p = policy();
        let v = Values::default();
        let out = p
            .offer_value(5, "humidity", Value::Number(1.0), &v)
            .unwrap();
        assert_eq!(out.values, vec![(Value::Number(1.0), 5)]);
        assert!(
            p.offer_value(0, "temp", Value::Number(4.0), &v)
                .unwrap()
                .values
                .is_empty()
        );
        assert_eq!(p.deadline(0, 1000), Some(1000));
        assert!(p.expire_values(999, &v).is_empty());
        let expired = p.expire_values(1000, &v);
        assert_eq!(expired.len(), 1);
        assert_eq!(
            expired[0].1.as_ref().unwrap().values,
            vec![(Value::Number(4.0), 1000)]
        );
    }

    #[test]
    fn messages_are_batched_and_released_by_time() {
        let mut p = policy();
        let m = Message::data("ep", "urn:m:attributes", [("temp", 1.0)], 0).unwrap();
        assert!(p.offer_message(0, m, None).unwrap().is_empty());
        assert_eq!(p.deadline(0, 1000), Some(500));
        assert_eq!(p.expire_messages(500).len(), 1);
        assert_eq!((p.id(), p.last_modified()), ("p1", 7));
    }
}
