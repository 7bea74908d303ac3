//! The messaging engine: the outbox and its durable store, the sender,
//! receiver, watchdog and callback threads the dispatcher owns, and the
//! routing and answering of requests from the cloud.

pub(crate) mod admission;
pub(crate) mod backoff;
pub(crate) mod batch_wait;
pub(crate) mod capability;
pub(crate) mod context;
pub(crate) mod counters;
pub(crate) mod dispatcher;
pub(crate) mod durable;
pub(crate) mod fate;
pub(crate) mod health;
pub(crate) mod held_store;
pub(crate) mod hold;
pub(crate) mod inbound;
pub(crate) mod outbox;
pub(crate) mod overflow;
// sled only with the `persistence` feature; without it, a stand-in with
// the same API whose store cannot be opened.
#[cfg(feature = "persistence")]
pub(crate) mod persist;
#[cfg(not(feature = "persistence"))]
#[path = "persist_off.rs"]
pub(crate) mod persist;
pub(crate) mod pool;
pub(crate) mod queue;
pub(crate) mod receiver;
pub(crate) mod restored;
pub(crate) mod room;
pub(crate) mod router;
pub(crate) mod sender;
pub(crate) mod syncer;
pub(crate) mod tickets;
pub(crate) mod watchdog;
pub(crate) mod worker;
