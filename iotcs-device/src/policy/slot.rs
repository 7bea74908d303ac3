//! What a virtual device knows of its policy: not asked yet, being
//! fetched (with the values offered meanwhile, which wait in order and
//! durably, `waiting.rs`), known to be none (cached until a change
//! notification, spec §7.1), or running.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use iotcs_core::Value;
use iotcs_core::message::Message;
use iotcs_core::policy::PolicyOp;

use super::active::ActivePolicy;
use super::timer::Tick;
use super::waiting::Waiting;

/// Values offered while the policy is fetched wait, at most this many
/// (the rest are sent as `set` sends them, with a warning): a cloud that
/// never answers must not grow memory without bound.
pub(crate) const MAX_PENDING: usize = 10_000;

/// What waited for the policy to be known, in order.
#[derive(Debug)]
pub(crate) enum Pending<L> {
    /// A value offered: it runs through the attribute's pipeline.
    Offered {
        attribute: String,
        value: Value,
        /// When it was offered.
        time: i64,
    },
    /// A message of `set` or `update`: it passes the model-level batch
    /// only, after the values offered before it. Restored after a restart,
    /// it has no delivery listener.
    Message(Box<Message>, Option<L>),
}

/// The states of a virtual device's policy.
#[derive(Debug)]
pub(crate) enum Known<L> {
    /// Not asked yet, or asked again after a change notification.
    Unknown,
    /// Being fetched on the policy thread, with the change notifications
    /// that came meanwhile (policy id, op, lastModified): they apply to the
    /// answer, which may predate them.
    Fetching {
        pending: Waiting<L>,
        changes: Vec<(String, PolicyOp, i64)>,
    },
    /// None is assigned (or it is disabled or empty).
    Absent,
    /// Running.
    Active(ActivePolicy<L>),
}

/// A virtual device's policy state.
pub(crate) struct PolicySlot<L> {
    state: Mutex<Known<L>>,
    /// Signalled when a fetch ends.
    fetched: Condvar,
    /// What the timer drives this device through, once a policy ran: the
    /// timer holds it weakly, the device strongly.
    tick: OnceLock<Arc<dyn Tick>>,
}

impl<L: std::fmt::Debug> std::fmt::Debug for PolicySlot<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySlot")
            .field("state", &*self.lock())
            .finish_non_exhaustive()
    }
}

impl<L> Default for PolicySlot<L> {
    fn default() -> Self {
        PolicySlot {
            state: Mutex::new(Known::Unknown),
            fetched: Condvar::new(),
            tick: OnceLock::new(),
        }
    }
}

impl<L> PolicySlot<L> {
    /// The state, locked. Held while a value runs through the pipelines,
    /// so one device's values keep their order.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Known<L>> {
        // A panic inside a pipeline leaves its state as it was between two
        // values: usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes those waiting for a fetch to end ([`PolicySlot::wait_fetched`]).
    pub(crate) fn fetch_ended(&self) {
        self.fetched.notify_all();
    }

    /// Waits until the state is no longer [`Known::Fetching`], `timeout` at
    /// most; the state then, locked.
    pub(crate) fn wait_fetched(&self, timeout: Duration) -> MutexGuard<'_, Known<L>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while matches!(*state, Known::Fetching { .. }) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .fetched
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state
    }

    /// The device's tick, made by `make` the first time only; `Some` then,
    /// for the caller to hand to the timer.
    pub(crate) fn first_tick(
        &self,
        make: impl FnOnce() -> Arc<dyn Tick>,
    ) -> Option<Weak<dyn Tick>> {
        let mut made = None;
        let tick = self.tick.get_or_init(|| {
            let tick = make();
            made = Some(Arc::downgrade(&tick));
            tick
        });
        let _ = tick;
        made
    }
}
