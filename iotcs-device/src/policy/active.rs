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
        let mut outs = self.offer_values(now, vec![(attribute.to_owned(), value)], values)?;
        Ok(outs.pop().map(|(_, out)| out).unwrap_or_default())
    }

    /// Runs values offered together (one message's, spec §7.4) through
    /// their pipelines, a pipeline whose formulas read others of them
    /// (a `computedMetric` over them) after those; `$(name)` of one of
    /// them reads what its pipeline let out, or the value offered while it
    /// has not run or let nothing out. Returns each attribute's output in
    /// the order they ran.
    ///
    /// [`crate::VirtualDevice::offer`] offers one value at a time (the
    /// reference's API has no way to offer several together), so there the
    /// order never matters; the crate docs say so.
    ///
    /// # Errors
    ///
    /// As [`AttributePipeline::offer`], for the first value that fails;
    /// those before it have run.
    pub(crate) fn offer_values(
        &mut self,
        now: i64,
        offered: Vec<(String, Value)>,
        values: &dyn AttributeValues,
    ) -> Result<Vec<(String, Output)>, Error> {
        if offered.len() == 1 {
            // The one value `offer` gives: nothing to order, nothing else to
            // read (its own value reaches its formulas as the value in
            // process); no copies on this path.
            let mut outs = Vec::with_capacity(1);
            for (attribute, value) in offered {
                let out = self.run_one(now, &attribute, value, values)?;
                outs.push((attribute, out));
            }
            return Ok(outs);
        }
        let order = self.run_order(&offered);
        let mut group = Group {
            values: offered.iter().cloned().collect(),
            base: values,
        };
        let mut slots: Vec<Option<(String, Value)>> = offered.into_iter().map(Some).collect();
        let mut outs = Vec::with_capacity(slots.len());
        for i in order {
            let Some((attribute, value)) = slots[i].take() else {
                continue;
            };
            let out = self.run_one(now, &attribute, value, &group)?;
            if let Some((last, _)) = out.values.last() {
                group.values.insert(attribute.clone(), last.clone());
            }
            outs.push((attribute, out));
        }
        Ok(outs)
    }

    /// One value through its attribute's pipeline, or as it is at `now`
    /// without one.
    fn run_one(
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

    /// The indexes of `offered` in the order they run: each after the
    /// others of them its pipeline reads, else in the order offered; a
    /// cycle (two computed metrics reading each other) runs in the order
    /// offered.
    fn run_order(&self, offered: &[(String, Value)]) -> Vec<usize> {
        let reads = |i: usize, j: usize| {
            self.pipelines
                .get(&offered[i].0)
                .is_some_and(|p| p.inputs().contains(&offered[j].0))
        };
        let mut left: Vec<usize> = (0..offered.len()).collect();
        let mut order = Vec::with_capacity(offered.len());
        while !left.is_empty() {
            let ready = left
                .iter()
                .position(|&i| !left.iter().any(|&j| j != i && reads(i, j)))
                .unwrap_or(0);
            order.push(left.remove(ready));
        }
        order
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

/// The values of one group of offered values, over the device's.
struct Group<'a> {
    values: HashMap<String, Value>,
    base: &'a dyn AttributeValues,
}

impl AttributeValues for Group<'_> {
    fn current(&self, name: &str) -> Option<Value> {
        self.values
            .get(name)
            .cloned()
            .or_else(|| self.base.current(name))
    }

    fn last_known(&self, name: &str) -> Option<Value> {
        self.base.last_known(name)
    }
}

#[cfg(test)]
mod tests {
    use iotcs_core::message::Severity;

    use super::super::batch::Release;
    use super::super::expression::testing::{Closure, Values, number};
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
    fn a_computed_metric_runs_after_the_attributes_it_reads() {
        // total = $(a) + $(b), offered before them; a doubles its value.
        let total = AttributePipeline::new(
            "total",
            vec![Step::ComputedMetric(Closure::new(|v| {
                Ok(Value::Number(
                    number(v.current("a"))? + number(v.current("b"))?,
                ))
            }))],
        )
        .with_inputs(vec!["a".to_owned(), "b".to_owned()]);
        let double = AttributePipeline::new(
            "a",
            vec![Step::ComputedMetric(Closure::new(|v| {
                Ok(Value::Number(2.0 * number(v.current("a"))?))
            }))],
        );
        let mut p: ActivePolicy<()> = ActivePolicy::new("p", 1, vec![total, double], None);
        let offered = vec![
            ("total".to_owned(), Value::Number(0.0)),
            ("a".to_owned(), Value::Number(1.0)),
            ("b".to_owned(), Value::Number(10.0)),
        ];
        let outs = p.offer_values(5, offered, &Values::default()).unwrap();
        let ran: Vec<(&str, &[(Value, i64)])> = outs
            .iter()
            .map(|(n, o)| (n.as_str(), o.values.as_slice()))
            .collect();
        assert_eq!(
            ran,
            [
                ("a", &[(Value::Number(2.0), 5)][..]),
                ("b", &[(Value::Number(10.0), 5)][..]),
                // a as its pipeline let it out, b as offered.
                ("total", &[(Value::Number(12.0), 5)][..]),
            ]
        );
        // Two metrics reading each other run in the order offered.
        let x = AttributePipeline::new("x", vec![]).with_inputs(vec!["y".to_owned()]);
        let y = AttributePipeline::new("y", vec![]).with_inputs(vec!["x".to_owned()]);
        let p: ActivePolicy<()> = ActivePolicy::new("p", 1, vec![x, y], None);
        let both = [
            ("y".to_owned(), Value::Number(1.0)),
            ("x".to_owned(), Value::Number(2.0)),
        ];
        assert_eq!(p.run_order(&both), [0, 1]);
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
