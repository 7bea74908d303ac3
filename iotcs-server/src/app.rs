//! The shared application: state, faults, long-poll wake-ups, what the
//! request handlers (`router`, `device_api`, `admin`) all hold. It imports no
//! handler, so the handlers and the router can all import it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::faults::Faults;
use crate::state::State;
use crate::storage::StorageService;
use crate::store::Durability;

/// Everything the request handlers share. `Debug` shows no secrets.
pub(crate) struct App {
    pub(crate) state: Mutex<State>,
    /// Waits until the store's writes are durable; `None` when ephemeral.
    pub(crate) durability: Option<Durability>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) admin_password: String,
    /// `https://HOST:PORT`, the server URI of provisioning files.
    pub(crate) url: String,
    pub(crate) ca_der: Vec<u8>,
    pub(crate) long_poll_limit: Duration,
    pub(crate) max_body_bytes: usize,
    /// The storage service's objects, tokens and container URL.
    pub(crate) storage: StorageService,
    /// One wake-up per endpoint whose connection carries requests (a
    /// directly-connected device or a gateway), for long polls.
    mailboxes: Mutex<HashMap<String, Arc<Notify>>>,
    /// Becomes true at shutdown; long polls answer at once.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Long polls being held, so shutdown can wait for them to answer.
    pub(crate) held_polls: AtomicUsize,
    /// How often devices read device policies, by call (for tests).
    pub(crate) policy_reads: crate::device_policies::ReadCounters,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl App {
    // One argument per shared part; a settings struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        state: State,
        admin_password: String,
        url: String,
        ca_der: Vec<u8>,
        long_poll_limit: Duration,
        max_body_bytes: usize,
        storage: StorageService,
        shutdown: watch::Receiver<bool>,
    ) -> App {
        App {
            durability: state.durability(),
            state: Mutex::new(state),
            faults: Mutex::new(Faults::default()),
            admin_password,
            url,
            ca_der,
            long_poll_limit,
            max_body_bytes,
            storage,
            mailboxes: Mutex::new(HashMap::new()),
            shutdown,
            held_polls: AtomicUsize::new(0),
            policy_reads: crate::device_policies::ReadCounters::default(),
        }
    }

    /// The state. A handler never panics while holding the lock, but if one
    /// ever did, the data is still consistent (every change is applied after
    /// its checks), so a poisoned lock is simply taken over.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The wake-up of the endpoint `mailbox`.
    pub(crate) fn mailbox(&self, mailbox: &str) -> Arc<Notify> {
        let mut map = self
            .mailboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(mailbox.to_owned()).or_default().clone()
    }

    /// Wakes the long polls of `mailbox`.
    pub(crate) fn wake(&self, mailbox: &str) {
        self.mailbox(mailbox).notify_waiters();
    }

    /// Whether the server is shutting down.
    pub(crate) fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Decrements the held-poll count when a long poll ends, however it ends.
pub(crate) struct HeldPoll<'a>(&'a AtomicUsize);

impl<'a> HeldPoll<'a> {
    pub(crate) fn new(count: &'a AtomicUsize) -> HeldPoll<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        HeldPoll(count)
    }
}

impl Drop for HeldPoll<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
