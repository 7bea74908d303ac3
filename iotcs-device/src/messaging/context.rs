//! What the device and its virtual devices share with the engine while the
//! device is open: the outbox to push messages into, the inbound side to
//! register request handlers with and answer requests through, the
//! server's clock for `eventTime`, and the default reliabilities. The
//! dispatcher builds it; the user API reaches the engine through it alone.

use std::fmt;
use std::sync::Arc;

use iotcs_core::message::Reliability;

use crate::clock::ServerClock;
use crate::messaging::inbound::Inbound;
use crate::messaging::outbox::Outbox;
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
    /// The device policies' shared state: the policy thread, the network
    /// cost, the store of held batches.
    pub(crate) policies: Arc<PolicyContext>,
}

impl fmt::Debug for DeviceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceContext")
            .field("queued", &self.outbox.len())
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
        policies,
    };
    (Arc::new(context), pool)
}
