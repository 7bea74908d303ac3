//! What waits for a virtual device's policy to be known (the values
//! offered and the messages of `set` and `update` since the fetch began),
//! kept durable like a held batch: each is written and synced to the batch
//! store (`[batchby_persistence]`, `held.rs`) before `offer` returns, in a
//! tree of its own per endpoint and model, restored when the virtual device
//! is created again after a restart, and forgotten once it ran through the
//! policy the cloud answered with. With persistence off they wait in memory.
//!
//! An offered value is stored as a DATA message of the made-up format
//! [`OFFERED_FORMAT`], which never leaves the device: it is read back into
//! the attribute, value and time it was offered with; a `set` or `update`
//! message is stored as it is (its delivery listener is not: a restored
//! message has none).

use iotcs_core::message::{Message, Payload};
use iotcs_core::{Error, Value, ValueType};

use super::held::HeldMessages;
use super::slot::Pending;

/// The format of a stored offered value.
pub(crate) const OFFERED_FORMAT: &str = "urn:iotcs:device-policy:offered";

/// The things waiting for the policy, in order, with their durable copies.
#[derive(Debug)]
pub(crate) struct Waiting<L> {
    items: Vec<Pending<L>>,
    /// The keys of the durable copies, all of `held`.
    keys: Vec<u64>,
    /// Opened at the first item, when persistence is on.
    held: Option<HeldMessages>,
}

impl<L> Default for Waiting<L> {
    fn default() -> Self {
        Waiting {
            items: Vec::new(),
            keys: Vec::new(),
            held: None,
        }
    }
}

impl<L> Waiting<L> {
    /// What a store tree held from an earlier run, read back: offered
    /// values of an attribute `types` does not know, or whose value does
    /// not fit its type any more, are dropped with a warning.
    pub(crate) fn restored(
        held: HeldMessages,
        stored: Vec<(u64, Message)>,
        types: impl Fn(&str) -> Option<ValueType>,
    ) -> Self {
        let mut waiting = Waiting {
            items: Vec::with_capacity(stored.len()),
            keys: Vec::with_capacity(stored.len()),
            held: Some(held),
        };
        for (key, message) in stored {
            waiting.keys.push(key);
            match read(message, &types) {
                Ok(item) => waiting.items.push(item),
                Err(e) => {
                    log::warn!(target: "iotcs::device::policy", "a value offered before a restart is dropped: {e}")
                }
            }
        }
        waiting
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Adds `item`, durably first (`stored` is how it is stored); `open`
    /// opens the store the first time, `None` when persistence is off.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the store cannot be opened or written: the item
    /// does not wait.
    pub(crate) fn push(
        &mut self,
        item: Pending<L>,
        stored: &Message,
        open: impl FnOnce() -> Result<Option<HeldMessages>, Error>,
    ) -> Result<(), Error> {
        if self.held.is_none() {
            self.held = Some(open()?.unwrap_or_else(HeldMessages::in_memory));
        }
        if let Some(held) = &mut self.held {
            self.keys.push(held.hold(stored)?);
        }
        self.items.push(item);
        Ok(())
    }

    /// The items, for the caller to run through the policy, and what
    /// forgets their durable copies once they ran.
    pub(crate) fn take(self) -> (Vec<Pending<L>>, Ran) {
        (
            self.items,
            Ran {
                keys: self.keys,
                held: self.held,
            },
        )
    }
}

/// The durable copies of items that were taken to run.
#[derive(Debug)]
pub(crate) struct Ran {
    keys: Vec<u64>,
    held: Option<HeldMessages>,
}

impl Ran {
    /// Forgets them: they ran through the policy (what it holds is
    /// durable in its own batch) or were sent as `set` sends.
    pub(crate) fn forget(mut self) {
        if let Some(held) = &mut self.held {
            held.release(&self.keys);
        }
    }
}

/// How an offered value is stored.
///
/// # Errors
///
/// As [`Message::data`] (not for a value the model accepted).
pub(crate) fn offered(
    endpoint_id: &str,
    attribute: &str,
    value: Value,
    time: i64,
) -> Result<Message, Error> {
    Message::data(endpoint_id, OFFERED_FORMAT, [(attribute, value)], time)
}

/// A stored item, read back.
fn read<L>(
    message: Message,
    types: impl Fn(&str) -> Option<ValueType>,
) -> Result<Pending<L>, Error> {
    let offered = match message.payload() {
        Payload::Data(d) if d.format() == OFFERED_FORMAT => {
            d.data().iter().next().map(|(n, j)| (n.clone(), j.clone()))
        }
        _ => return Ok(Pending::Message(Box::new(message), None)),
    };
    let Some((attribute, json)) = offered else {
        return Err(Error::protocol("a stored offered value has no value"));
    };
    let ty = types(&attribute).ok_or_else(|| {
        Error::argument(format!("the model has no attribute {attribute} any more"))
    })?;
    let value =
        Value::from_json(&json, ty).map_err(|e| Error::argument(format!("{attribute}: {e}")))?;
    Ok(Pending::Offered {
        attribute,
        value,
        time: message.event_time(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> std::path::PathBuf {
        std::env::temp_dir()
            .join(format!(
                "iotcs-waiting-{}-{}",
                std::process::id(),
                iotcs_core::__private::uuid_v4().unwrap()
            ))
            .join("bbps.db")
    }

    fn types(name: &str) -> Option<ValueType> {
        (name == "temp").then_some(ValueType::Number)
    }

    #[test]
    fn what_waits_is_restored_in_order_until_it_ran() {
        let path = scratch();
        let open = || HeldMessages::open(&path, "pending/ep/urn:m").map(|(h, _)| Some(h));
        let mut waiting: Waiting<()> = Waiting::default();
        let value = |x: f64| Pending::Offered {
            attribute: "temp".to_owned(),
            value: Value::Number(x),
            time: 7,
        };
        waiting
            .push(
                value(1.5),
                &offered("ep", "temp", Value::Number(1.5), 7).unwrap(),
                open,
            )
            .unwrap();
        let set = Message::data("ep", "urn:m:attributes", [("temp", 2.0)], 8).unwrap();
        waiting
            .push(
                Pending::Message(Box::new(set.clone()), Some(())),
                &set,
                || unreachable!(),
            )
            .unwrap();
        drop(waiting);
        // A restart: both come back, the value as offered, the message whole.
        let (held, stored) = HeldMessages::open(&path, "pending/ep/urn:m").unwrap();
        let restored: Waiting<()> = Waiting::restored(held, stored, types);
        assert_eq!(restored.len(), 2);
        let (items, ran) = restored.take();
        match &items[0] {
            Pending::Offered {
                attribute,
                value,
                time,
            } => {
                assert_eq!(
                    (attribute.as_str(), value, *time),
                    ("temp", &Value::Number(1.5), 7)
                );
            }
            other => panic!("{other:?}"),
        }
        match &items[1] {
            Pending::Message(m, None) => assert_eq!(m.event_time(), 8),
            other => panic!("{other:?}"),
        }
        ran.forget();
        let (_, stored) = HeldMessages::open(&path, "pending/ep/urn:m").unwrap();
        assert!(stored.is_empty());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_stored_value_the_model_no_longer_takes_is_dropped() {
        let stored = vec![(0, offered("ep", "gone", Value::Number(1.0), 1).unwrap())];
        let restored: Waiting<()> = Waiting::restored(HeldMessages::in_memory(), stored, types);
        assert_eq!(restored.len(), 0);
    }
}
