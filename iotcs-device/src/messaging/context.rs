//! What the device and its virtual devices share with the engine while the
//! device is open: the outbox to push messages into, the inbound side to
//! register request handlers with and answer requests through, the
//! server's clock for `eventTime`, the default reliabilities, and the hold
//! of messages waiting for their storage objects' uploads (`hold.rs`). The
//! dispatcher builds it; the user API reaches the engine through it alone.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use iotcs_core::Error;
use iotcs_core::message::Reliability;

use crate::clock::ServerClock;
use crate::messaging::held_store::{HeldStore, ObjectRecord};
use crate::messaging::hold::{Admit, Holding};
use crate::messaging::inbound::Inbound;
use crate::messaging::outbox::{Outbox, Outgoing, Refused};
use crate::messaging::pool::Spawner;
use crate::policy::context::PolicyContext;

/// What the device and its virtual devices share while the device is open.
pub(crate) struct DeviceContext {
    /// Where messages wait for the sender.
    pub(crate) outbox: Arc<Outbox>,
    /// The request routing table and the pool.
    pub(crate) inbound: Arc<Inbound>,
    /// For server-corrected event times.
    pub(crate) clock: ServerClock,
    /// `data_message_reliability`.
    pub(crate) data_reliability: Reliability,
    /// `alert_message_reliability`.
    pub(crate) alert_reliability: Reliability,
    /// Messages waiting for uploads (`hold.rs`). Held across the outbox
    /// push of what an upload releases, so that a source's released
    /// messages reach the queue before its next one.
    pub(crate) hold: Mutex<Holding>,
    /// The device policies' shared state: the policy thread, the network
    /// cost, the store of held batches.
    pub(crate) policies: Arc<PolicyContext>,
    /// Where held guaranteed messages are persisted (`held_store.rs`);
    /// `None` without message persistence.
    pub(crate) held_store: Option<HeldStore>,
}

impl fmt::Debug for DeviceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceContext")
            .field("queued", &self.outbox.len())
            .field("held", &self.lock_hold().len())
            .finish_non_exhaustive()
    }
}

impl DeviceContext {
    /// Now, in the server's clock, for `eventTime`. Lock-free: `set`,
    /// `raise` and `submit` call it and must never wait on the network.
    pub(crate) fn event_time(&self) -> i64 {
        self.clock.now()
    }

    /// The callback pool.
    pub(crate) fn spawner(&self) -> &Spawner {
        self.inbound.spawner()
    }

    /// Queues `item`, or holds it while an upload of one of the storage
    /// objects it `refers_to` is in progress, or while its source has
    /// messages held. A held `GUARANTEED_DELIVERY` message is durable in
    /// the held store (with what it takes to upload its objects again)
    /// before this returns, as the outbox makes its own.
    ///
    /// # Errors
    ///
    /// As `Outbox::push`; a message to be held while `dispatcher_max_queue_size`
    /// messages are held already is refused with [`Error::QueueFull`], one
    /// the held store cannot write with [`Error::Io`] (each in an
    /// [`Error::Unsent`] handing it back). A held message is checked
    /// against the wire's limits when released, and reported through its
    /// listener then.
    pub(crate) fn push(&self, item: Outgoing, refers_to: &[ObjectRecord]) -> Result<(), Error> {
        let uris: Vec<String> = refers_to.iter().map(|o| o.uri.clone()).collect();
        let limit = self.outbox.capacity();
        // Not held across the outbox push: a refused push may run `on_error`
        // callbacks inline (after the pool stopped), and those may `set`.
        // A source's released messages still come first: `settle_upload`
        // pushes them under the lock, which `admit` waits for. The held
        // store's write is under it, so that what is held and what is
        // stored agree.
        let mut hold = self.lock_hold();
        let stored = match &self.held_store {
            Some(store)
                if item.reliability() == Reliability::GuaranteedDelivery
                    && hold.would_hold(item.source(), &uris, limit) =>
            {
                match store.persist(&item.json(), refers_to) {
                    Ok(key) => Some(key),
                    Err(error) => {
                        drop(hold);
                        return Err(Refused {
                            error,
                            items: vec![item],
                        }
                        .into());
                    }
                }
            }
            _ => None,
        };
        let admitted = hold.admit_stored(item, &uris, limit, stored);
        drop(hold);
        match admitted {
            Admit::Send(item) => self.outbox.push_one(item),
            Admit::Held => Ok(()),
            Admit::Full(item) => {
                // As the outbox does for an overflow: the listener hears of
                // it, the caller gets the message back.
                let error = Error::QueueFull {
                    capacity: self.outbox.capacity(),
                };
                if let Some(listener) = &item.listener {
                    listener.failed(item.kind(), &item.json(), &error);
                }
                Err(Refused {
                    error,
                    items: vec![item],
                }
                .into())
            }
        }
    }

    /// An upload of the object at `uri` starts: messages referring to it
    /// are held from now on.
    pub(crate) fn expect_upload(&self, uri: &str) {
        self.lock_hold().expect(uri);
    }

    /// The upload of the object at `uri` ended: the messages it held go to
    /// the outbox, or, when `failure` says it failed, those referring to it
    /// are reported to their listeners ("content sync failed"). An upload
    /// stopped by close ([`Error::Closed`]) settles nothing.
    pub(crate) fn settle_upload(&self, uri: &str, failure: Option<&Error>) {
        if matches!(failure, Some(Error::Closed)) {
            // Not a failure of the content: the device is closing, and
            // `drain_held` decides (a persisted message waits for the next
            // open, which resumes the upload).
            return;
        }
        let mut hold = self.lock_hold();
        let released = hold.settle(uri, failure.is_none());
        self.release(released.send);
        drop(hold);
        for (item, uri) in released.failed {
            let cause = failure.map(ToString::to_string).unwrap_or_default();
            let error = Error::state(format!("content sync failed for {uri}: {cause}"));
            if let Some(listener) = &item.listener {
                listener.failed(item.kind(), &item.json(), &error);
            }
        }
        // The outbox has the released ones (durable in its store when
        // guaranteed), the failed ones are reported: no longer held.
        if let Some(store) = &self.held_store {
            store.forget(&released.stored);
        }
    }

    /// Holds a message restored from the held store under `key`, waiting
    /// for the uploads of `uris` (restarted by the caller), or queues it
    /// when none is pending any more. Beyond the hold's bound if need be:
    /// refusing it now would lose it.
    pub(crate) fn restore_held(&self, item: Outgoing, uris: &[String], key: u64) {
        let mut hold = self.lock_hold();
        if let Admit::Send(item) = hold.admit_stored(item, uris, usize::MAX, Some(key)) {
            self.release(vec![item]);
            drop(hold);
            if let Some(store) = &self.held_store {
                store.forget(&[key]);
            }
        }
    }

    /// Pushes released messages to the outbox; called under the hold lock.
    fn release(&self, items: Vec<Outgoing>) {
        for item in items {
            if let Err(refused) = self.outbox.try_push(vec![item]) {
                // An overflow (queue or store full) was reported to the
                // listeners by the outbox already.
                let reported = matches!(
                    refused.error,
                    Error::QueueFull { .. } | Error::StoreFull { .. }
                );
                for item in refused.items.iter().filter(|_| !reported) {
                    if let Some(listener) = &item.listener {
                        listener.failed(item.kind(), &item.json(), &refused.error);
                    }
                }
            }
        }
    }

    /// At close: reports every held message as unsent, but those in the
    /// held store, which the next open restores and sends after their
    /// objects.
    pub(crate) fn drain_held(&self) {
        let held = self.lock_hold().drain();
        let error =
            Error::state("the device closed before the content the message refers to was uploaded");
        let kept = held.iter().filter(|(_, key)| key.is_some()).count();
        if kept > 0 {
            log::info!(target: "iotcs::device::storage",
                "{kept} guaranteed message(s) still wait for their storage objects' uploads; \
                 kept for the next open"
            );
        }
        for (item, _) in held.into_iter().filter(|(_, key)| key.is_none()) {
            if let Some(listener) = &item.listener {
                listener.failed(item.kind(), &item.json(), &error);
            }
        }
    }

    fn lock_hold(&self) -> MutexGuard<'_, Holding> {
        // `Holding` has no operation that can panic half-way.
        self.hold.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A context with an in-memory transport and no sender or receiver, for
/// unit tests of virtual devices: messages stay in the outbox.
#[cfg(test)]
pub(crate) fn test_context() -> (Arc<DeviceContext>, crate::messaging::pool::CallbackPool) {
    test_context_with(Arc::new(PolicyContext::new(
        iotcs_core::NetworkCost::Ethernet,
        None,
        Arc::new(|| 1_000),
        None,
    )))
}

/// [`test_context`] with the given policy side.
#[cfg(test)]
pub(crate) fn test_context_with(
    policies: Arc<PolicyContext>,
) -> (Arc<DeviceContext>, crate::messaging::pool::CallbackPool) {
    use crate::cloud::rest::RestClient;
    use crate::cloud::transport::memory::{MemoryTransport, json};
    use crate::messaging::pool::CallbackPool;
    let transport = Arc::new(MemoryTransport::new(|_| {
        json(200, r#"{"access_token":"t","token_type":"Bearer"}"#)
    }));
    let rest = Arc::new(RestClient::for_activation(
        transport,
        "EP-1",
        b"s",
        Arc::new(|| 1_000),
        1,
    ));
    let pool = CallbackPool::start(1).expect("a thread for tests");
    let (outbox, _) = Outbox::new(100, 3);
    let inbound = Arc::new(Inbound::new(
        pool.spawner(),
        Arc::clone(&outbox),
        Arc::new(|| 1_000),
        4192,
        std::time::Duration::ZERO,
    ));
    let context = DeviceContext {
        outbox,
        inbound,
        clock: rest.server_clock(),
        data_reliability: Reliability::BestEffort,
        alert_reliability: Reliability::GuaranteedDelivery,
        hold: Mutex::default(),
        policies,
        held_store: None,
    };
    (Arc::new(context), pool)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use iotcs_core::message::{Message, MessageType};

    use super::*;
    use crate::messaging::outbox::DeliveryListener;

    #[derive(Default)]
    struct Failures(Mutex<Vec<String>>);

    impl DeliveryListener for Failures {
        fn delivered(&self) {}
        fn failed(&self, _: MessageType, _: &str, error: &Error) {
            self.0.lock().unwrap().push(error.to_string());
        }
    }

    fn item(n: i64, listener: &Arc<Failures>) -> Outgoing {
        let message = Message::data("EP-1", "urn:x:attributes", [("n", n)], 0).unwrap();
        Outgoing::with_listener(message, Arc::clone(listener) as Arc<dyn DeliveryListener>)
    }

    fn refs(uri: &str) -> Vec<ObjectRecord> {
        vec![ObjectRecord {
            uri: uri.to_owned(),
            name: "EP-1/o".into(),
            input: "/o".into(),
            content_type: "application/octet-stream".into(),
            encoding: None,
            metadata: std::collections::BTreeMap::new(),
        }]
    }

    #[test]
    fn held_messages_reach_the_outbox_when_their_upload_ends() {
        let (context, _pool) = test_context();
        let failures = Arc::new(Failures::default());
        let uri = refs("https://h:1/v1/a/c/EP-1/o");
        context.expect_upload(&uri[0].uri);
        context.push(item(1, &failures), &uri).unwrap();
        context.push(item(2, &failures), &[]).unwrap();
        assert_eq!(context.outbox.len(), 0, "both held");
        context.settle_upload(&uri[0].uri, None);
        assert_eq!(context.outbox.len(), 2);
        assert!(failures.0.lock().unwrap().is_empty());
    }

    #[test]
    fn a_failed_upload_reports_its_messages_and_releases_those_behind() {
        let (context, _pool) = test_context();
        let failures = Arc::new(Failures::default());
        let uri = refs("https://h:1/v1/a/c/EP-1/o");
        context.expect_upload(&uri[0].uri);
        context.push(item(1, &failures), &uri).unwrap();
        context.push(item(2, &failures), &[]).unwrap();
        context.settle_upload(&uri[0].uri, Some(&Error::protocol("etag mismatch")));
        assert_eq!(context.outbox.len(), 1, "the one behind goes on");
        let failures = failures.0.lock().unwrap();
        assert_eq!(failures.len(), 1);
        assert!(failures[0].contains("content sync failed"), "{failures:?}");
    }

    #[test]
    fn a_full_hold_refuses_and_hands_the_message_back() {
        let (context, _pool) = test_context();
        let failures = Arc::new(Failures::default());
        let uri = refs("u");
        context.expect_upload("u");
        for n in 0..context.outbox.capacity() {
            context.push(item(n as i64, &failures), &uri).unwrap();
        }
        let e = context.push(item(-1, &failures), &uri).unwrap_err();
        assert!(matches!(e.unsent_reason(), Error::QueueFull { .. }), "{e}");
        assert_eq!(e.unsent_messages().len(), 1);
        assert_eq!(failures.0.lock().unwrap().len(), 1, "its listener heard");
    }

    #[test]
    fn close_reports_what_is_still_held() {
        let (context, _pool) = test_context();
        let failures = Arc::new(Failures::default());
        let uri = refs("u");
        context.expect_upload("u");
        context.push(item(1, &failures), &uri).unwrap();
        context.drain_held();
        assert_eq!(failures.0.lock().unwrap().len(), 1);
        assert_eq!(context.outbox.len(), 0);
    }
}
