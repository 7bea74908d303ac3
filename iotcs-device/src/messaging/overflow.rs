//! The overflow report: when the outbox refuses messages because the queue
//! or the store is full, one `message_dispatcher:overflow` alert goes to the
//! cloud, and no second one until that one is delivered or given up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use iotcs_core::Error;
use iotcs_core::message::{Message, Priority, Reliability, Severity};
use iotcs_core::model::capability;

use crate::clock::Clock;

/// Who the overflow alert comes from.
struct Source {
    endpoint_id: String,
    clock: Clock,
}

/// Whether and as whom overflow alerts are raised.
pub(crate) struct Overflow {
    /// `None` raises none (unit tests).
    source: Mutex<Option<Source>>,
    /// An alert is queued and not yet delivered or given up.
    pending: Arc<AtomicBool>,
}

/// The alert raised is settled (delivered, given up, or never queued): the
/// next overflow may raise another.
pub(crate) struct Pending(Arc<AtomicBool>);

impl Pending {
    /// Lets the next overflow raise an alert.
    pub(crate) fn settle(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Overflow {
    /// Raises no alert until [`Overflow::raise_as`].
    pub(crate) fn new() -> Self {
        Overflow {
            source: Mutex::new(None),
            pending: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Raises alerts as `endpoint_id`, timed by `clock`.
    pub(crate) fn raise_as(&self, endpoint_id: &str, clock: Clock) {
        *self.source() = Some(Source {
            endpoint_id: endpoint_id.to_owned(),
            clock,
        });
    }

    /// The alert for a refusal with `error` by a queue of `capacity`, with
    /// the handle that settles it; `None` when no alert is wanted (none is
    /// raised here, or one is still on its way).
    pub(crate) fn alert(&self, error: &Error, capacity: usize) -> Option<(Message, Pending)> {
        let source = self.source();
        let source = source.as_ref()?;
        if self.pending.swap(true, Ordering::SeqCst) {
            return None;
        }
        let pending = Pending(Arc::clone(&self.pending));
        let max = i64::try_from(capacity).unwrap_or(i64::MAX);
        let alert = Message::alert(
            &source.endpoint_id,
            capability::MESSAGE_DISPATCHER_OVERFLOW_FORMAT,
            "The device's outgoing message queue is full and messages were refused",
            Severity::Significant,
            vec![
                (
                    "description".to_owned(),
                    iotcs_core::Value::from(error.to_string()),
                ),
                ("maxNumMessages".to_owned(), iotcs_core::Value::Integer(max)),
            ],
            (source.clock)(),
        );
        match alert {
            Ok(alert) => Some((
                alert
                    .with_priority(Priority::Highest)
                    .with_reliability(Reliability::BestEffort),
                pending,
            )),
            Err(e) => {
                log::warn!(target: "iotcs::device::overflow", "cannot build the overflow alert: {e}");
                pending.settle();
                None
            }
        }
    }

    fn source(&self) -> MutexGuard<'_, Option<Source>> {
        // Set once, read after; nothing can leave it torn.
        self.source.lock().unwrap_or_else(|e| e.into_inner())
    }
}
