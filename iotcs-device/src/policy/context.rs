//! What every virtual device of a device (a gateway's indirectly-connected
//! devices included) shares for policies: the one timer thread, created
//! when a first policy needs it; the device's network cost, which
//! `batchByCost` reads and the program may change at run time; where held
//! batches are kept; and how a policy is fetched, which happens on the
//! timer's thread, never in `offer`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use iotcs_core::message::{Message, Severity};
use iotcs_core::{Error, NetworkCost};

use super::batch::{NetworkCostCell, Release};
use super::held::{HeldMessages, Opened};
use super::model_level::MessageBatch;
use super::pipeline::AttributePipeline;
use super::timer::{Clock, Job, PolicyTimer, Tick};

/// What a model-level (`*`) pipeline does to whole messages.
#[derive(Debug, Clone)]
pub(crate) struct MessageRule {
    pub(crate) release: Release,
    pub(crate) alert_severity: Severity,
}

/// A policy's pipelines, ready to run.
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) attributes: Vec<AttributePipeline>,
    pub(crate) messages: Option<MessageRule>,
}

/// A policy as fetched: its identity and, unless it is disabled or empty,
/// its pipelines.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) id: String,
    pub(crate) last_modified: i64,
    pub(crate) built: Option<Built>,
}

/// Fetches the policy of `(endpoint id, model URN)`: `None` when none is
/// assigned. Called on the timer's thread.
pub(crate) type Fetch =
    Arc<dyn Fn(&str, &str, &NetworkCostCell) -> Result<Option<Fetched>, Error> + Send + Sync>;

/// The policy state a device shares with its virtual devices.
pub(crate) struct PolicyContext {
    network: NetworkCostCell,
    /// Where held batches are kept; `None` keeps them in memory
    /// (`[batchby_persistence] enabled` false).
    held_path: Option<PathBuf>,
    clock: Clock,
    fetch: Option<Fetch>,
    timer: Mutex<Timer>,
}

#[derive(Default)]
enum Timer {
    /// Not needed yet.
    #[default]
    None,
    Running(PolicyTimer),
    /// The device closed: nothing starts again.
    Closed,
}

/// Hands a fetch's answer to its callback once; dropped unanswered (the job
/// never ran), it answers [`Error::Closed`].
struct Answer<F: FnOnce(Result<Option<Fetched>, Error>)>(Option<F>);

impl<F: FnOnce(Result<Option<Fetched>, Error>)> Answer<F> {
    fn give(&mut self, answer: Result<Option<Fetched>, Error>) {
        if let Some(done) = self.0.take() {
            done(answer);
        }
    }
}

impl<F: FnOnce(Result<Option<Fetched>, Error>)> Drop for Answer<F> {
    fn drop(&mut self) {
        self.give(Err(Error::Closed));
    }
}

impl std::fmt::Debug for PolicyContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyContext")
            .field("network", &self.network)
            .field("held_path", &self.held_path)
            .finish_non_exhaustive()
    }
}

impl PolicyContext {
    pub(crate) fn new(
        network: NetworkCost,
        held_path: Option<PathBuf>,
        clock: Clock,
        fetch: Option<Fetch>,
    ) -> Self {
        PolicyContext {
            network: NetworkCostCell::new(network),
            held_path,
            clock,
            fetch,
            timer: Mutex::new(Timer::None),
        }
    }

    /// The device's network cost, shared by its `batchByCost` functions.
    pub(crate) fn network(&self) -> &NetworkCostCell {
        &self.network
    }

    /// Whether policies can be fetched: not once the device closed, nor
    /// without a cloud (unit tests): `offer` is then `set`.
    pub(crate) fn can_fetch(&self) -> bool {
        self.fetch.is_some() && !matches!(*self.timer(), Timer::Closed)
    }

    /// Fetches the policy of `(endpoint_id, urn)` on the timer's thread and
    /// hands the result to `done` there. `false` if the device is closed
    /// (or has no fetcher): `done` is not called.
    pub(crate) fn fetch(
        &self,
        endpoint_id: &str,
        urn: &str,
        done: impl FnOnce(Result<Option<Fetched>, Error>) + Send + 'static,
    ) -> bool {
        let Some(fetch) = self.fetch.clone() else {
            return false;
        };
        let (endpoint_id, urn, network) =
            (endpoint_id.to_owned(), urn.to_owned(), self.network.clone());
        // A job the thread never runs (the device closed first) still tells
        // `done`, so the values waiting for the answer are reported.
        let mut done = Answer(Some(done));
        let job: Job = Box::new(move || done.give(fetch(&endpoint_id, &urn, &network)));
        self.with_timer(|timer| timer.run(job))
    }

    /// Runs `job` on the timer's thread (what a gateway asks the cloud when
    /// a policy is assigned or unassigned); `false` once the device is
    /// closed or without a fetcher (unit tests): `job` does not run.
    pub(crate) fn run(&self, job: Job) -> bool {
        self.fetch.is_some() && self.with_timer(|timer| timer.run(job))
    }

    /// Drives `tick` from the timer's thread while it lives.
    pub(crate) fn drive(&self, tick: Weak<dyn Tick>) -> bool {
        self.with_timer(|timer| timer.add(tick))
    }

    /// Asks the timer to look at every deadline again.
    pub(crate) fn wake(&self) {
        if let Timer::Running(timer) = &*self.timer() {
            timer.wake();
        }
    }

    /// The model-level batch of `rule`, keeping its messages in the store
    /// tree `name` (one per endpoint and model), restoring what that tree
    /// held before a restart.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the store cannot be opened; [`Error::Argument`]
    /// for a batch the unit refuses.
    pub(crate) fn batch<L>(
        &self,
        rule: &MessageRule,
        name: &str,
    ) -> Result<MessageBatch<L>, Error> {
        let (held, restored): (HeldMessages, Vec<(u64, Message)>) = match &self.held_path {
            Some(path) => HeldMessages::open(path, name)?,
            None => (HeldMessages::in_memory(), Vec::new()),
        };
        MessageBatch::new(
            rule.release.clone(),
            rule.alert_severity,
            held,
            restored,
            (self.clock)(),
        )
    }

    /// The store tree `name` of what waits for a policy (`waiting.rs`) and
    /// what it held before a restart; `None` when held batches are kept in
    /// memory.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the store cannot be opened.
    pub(crate) fn waiting_store(&self, name: &str) -> Result<Option<Opened>, Error> {
        self.held_path
            .as_deref()
            .map(|path| HeldMessages::open(path, name))
            .transpose()
    }

    /// Whether the store of held batches exists on disk (something may
    /// wait in it from an earlier run).
    pub(crate) fn has_store_on_disk(&self) -> bool {
        self.held_path
            .as_deref()
            .is_some_and(std::path::Path::exists)
    }

    /// Stops the timer thread, joining it by `deadline`; `false` if it was
    /// still busy then.
    #[cfg(test)]
    pub(crate) fn close(&self, deadline: Instant) -> bool {
        self.close_with(deadline, deadline, || {})
    }

    /// Stops the timer thread: if it is still busy at `busy_by` (a fetch
    /// the cloud does not answer), `interrupt` breaks its request off; it
    /// is joined by `deadline`. `false` if it was not.
    pub(crate) fn close_with(
        &self,
        busy_by: Instant,
        deadline: Instant,
        interrupt: impl FnOnce(),
    ) -> bool {
        let timer = std::mem::replace(&mut *self.timer(), Timer::Closed);
        match timer {
            Timer::Running(t) => t.close_with(busy_by, deadline, interrupt),
            Timer::None | Timer::Closed => true,
        }
    }

    /// Runs `f` with the timer, starting it if needed; `false` once closed
    /// or if the thread cannot start (logged).
    fn with_timer(&self, f: impl FnOnce(&PolicyTimer)) -> bool {
        let mut timer = self.timer();
        if let Timer::None = *timer {
            match PolicyTimer::start(Arc::clone(&self.clock)) {
                Ok(t) => *timer = Timer::Running(t),
                Err(e) => {
                    log::error!(target: "iotcs::device::policy", "cannot start the device policy thread: {e}");
                    return false;
                }
            }
        }
        match &*timer {
            Timer::Running(t) => {
                f(t);
                true
            }
            _ => false,
        }
    }

    fn timer(&self) -> MutexGuard<'_, Timer> {
        // Plain replacements only; a panic cannot leave it torn.
        self.timer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_fetch_runs_on_the_policy_thread_and_nothing_starts_after_close() {
        let fetch: Fetch = Arc::new(|endpoint, urn, _| {
            Ok(Some(Fetched {
                id: format!("{endpoint}/{urn}"),
                last_modified: 1,
                built: None,
            }))
        });
        let context = PolicyContext::new(NetworkCost::Ethernet, None, Arc::new(|| 0), Some(fetch));
        assert!(context.can_fetch());
        let (tx, rx) = crossbeam_channel::bounded(1);
        assert!(context.fetch("ep", "urn:m", move |r| {
            let _ = tx.send((
                r.unwrap().unwrap().id,
                std::thread::current().name().map(str::to_owned),
            ));
        }));
        let (id, thread) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(id, "ep/urn:m");
        assert_eq!(thread.as_deref(), Some("iotcs-policy-timer"));
        assert!(context.close(Instant::now() + Duration::from_secs(10)));
        assert!(!context.can_fetch());
        let (tx, rx) = crossbeam_channel::bounded(1);
        assert!(!context.fetch("ep", "urn:m", move |r| {
            let _ = tx.send(r.map(|_| ()));
        }));
        // Never run, but answered: the device is closed.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            Err(Error::Closed)
        );
    }

    #[test]
    fn without_a_fetcher_nothing_is_fetched_and_no_thread_starts() {
        let context = PolicyContext::new(NetworkCost::Ethernet, None, Arc::new(|| 0), None);
        assert!(!context.can_fetch());
        assert!(!context.fetch("ep", "urn:m", |_| panic!("no fetcher")));
        assert!(matches!(*context.timer(), Timer::None));
    }
}
