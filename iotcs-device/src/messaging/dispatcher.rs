//! The message dispatcher: the threads of an activated device and the
//! context its virtual devices share.
//!
//! Threads (each named, each owned by [`Dispatcher`], each joined by
//! [`Dispatcher::stop`]):
//! - `iotcs-sender` drains the outbox ([`crate::messaging::sender`]);
//! - `iotcs-receiver` long-polls for requests ([`crate::messaging::receiver`]);
//! - `iotcs-callback-1..N` run request handlers and user callbacks
//!   ([`crate::messaging::pool`]).
//!
//! - `iotcs-watchdog` answers `503` for requests whose callback does not
//!   return within `request_callback_timeout` ([`crate::messaging::watchdog`]);
//! - `iotcs-sync`, only with `[message_persistence] sync_interval` positive,
//!   syncs the message store once per interval
//!   ([`crate::messaging::syncer`]).
//!
//! Shutdown, in this order so nothing accepted is dropped silently, within
//! [`CLOSE_TIMEOUT`] (20 s) of its start, `D`:
//! 1. the receiver is told to stop and its held long poll is interrupted, so
//!    no new request comes in; the connectivity test stops;
//! 2. by `D - 10 s`, every request already received is answered: by its
//!    handler, or `503` (by the watchdog at its callback limit, or here for
//!    those still open then); the handlers are then unregistered, which
//!    releases the virtual devices;
//! 3. the sender is told to stop: it closes the outbox, makes one attempt
//!    at everything still queued and returns what it could not send;
//!    persisted guaranteed messages stay in the store instead and are sent
//!    at the next open. At `D - 2 s` every request still in flight, of any
//!    thread, is interrupted (its socket shut down), so a server that never
//!    answers cannot hold a thread;
//! 4. `iotcs-sync` syncs the store a last time and stops;
//! 5. what the sender could not send is reported to its listeners, whose
//!    `on_error` callbacks run on the callback pool, which is still running:
//!    the sender's failure reports always end before the pool stops, so none
//!    runs on an IO thread;
//! 6. the pool runs every job queued so far and stops, by `D`.
//!
//! At start, with `[message_persistence] enabled`, the store is opened (its
//! failure fails the open: a device that promised durability must not run
//! without it); the RESOURCES_REPORT announcing the capability resources
//! ([`crate::messaging::capability`]) is queued, then what an earlier run
//! left, then the resources are registered and the threads start. Nothing at
//! start waits for room in the queue, because nothing drains it yet: the
//! report comes first into the empty queue and takes an ordinary place of
//! `dispatcher_max_queue_size`, and restored messages take theirs whatever
//! the bound ([`crate::messaging::room`]), so `open` never waits
//! `message_queue_waittime` and drops nothing, however many messages the
//! store holds.
//!
//! Every join waits at most until `D`. The one thread that can miss it is a
//! callback thread inside a user callback that never returns: it cannot be
//! interrupted, so it is left running detached (it ends when the callback
//! returns) and `close` reports it ([`crate::messaging::pool`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender as Channel};
use iotcs_core::message::Message;
use iotcs_core::{Config, Error};

use crate::cloud::rest::RestClient;
use crate::cloud::transport::LONG_POLL_HOLD;
use crate::messaging::backoff::{Backoff, system_random};
use crate::messaging::capability::Capabilities;
use crate::messaging::context::DeviceContext;
use crate::messaging::counters::Counters;
use crate::messaging::durable::PersistSettings;
use crate::messaging::health::{self, Health};
use crate::messaging::held_store::HeldStore;
use crate::messaging::inbound::Inbound;
use crate::messaging::outbox::{Outbox, Outgoing, Queued};
use crate::messaging::persist::MessageStore;
use crate::messaging::pool::{self, CallbackPool};
use crate::messaging::receiver::{ReceiverLoop, ReceiverSettings};
use crate::messaging::restored::{self, Survivors};
use crate::messaging::sender::{self, Sender, SenderExit, SenderSettings};
use crate::messaging::syncer::Syncer;
use crate::messaging::worker::{Joined, Worker};
use crate::policy::context::PolicyContext;

/// How long `DirectlyConnectedDevice::close` (and `Drop`) waits in total for
/// the threads to stop and the queued messages to go out: the bound of the
/// module docs' `D`. Longer than the default response timeout (15 s), so one
/// last POST can finish.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(20);

/// At close, how long before the deadline the requests received must all be
/// answered (module docs, step 2): the other half of the close timeout is
/// the sender's, for the last flush.
const CLOSE_SENDER_SHARE: Duration = Duration::from_secs(10);

/// At close, how long before the deadline every request in flight is
/// interrupted: the time left to join the threads and run the failure
/// reports.
const CLOSE_JOIN_SHARE: Duration = Duration::from_secs(2);

/// The owner of the dispatcher threads.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    context: Arc<DeviceContext>,
    /// The client the threads call the cloud with; `stop` interrupts its
    /// transport.
    rest: Arc<RestClient>,
    // Each stop channel is dropped (disconnected) to stop its actor; the
    // actors also stop on a message, which `close` sends first.
    receiver_stop: Option<Channel<()>>,
    sender_stop: Option<Channel<()>>,
    watchdog_stop: Option<Channel<()>>,
    receiver: Option<Worker<()>>,
    sender: Option<Worker<SenderExit>>,
    watchdog: Option<Worker<()>>,
    /// `iotcs-sync`, with `[message_persistence] sync_interval` positive.
    syncer: Option<Syncer>,
    pool: Option<CallbackPool>,
    /// The capability resources (their connectivity test owns a thread).
    capabilities: Option<Arc<Capabilities>>,
    /// The counters the sender and receiver keep, for `status()`.
    counters: Arc<Counters>,
    /// The link's state the sender and receiver keep, for `status()`.
    health: Arc<Health>,
}

/// What the dispatcher knows for a device's `status()`.
#[derive(Clone, Debug)]
pub(crate) struct Report {
    pub(crate) health: health::Snapshot,
    pub(crate) counters: crate::messaging::counters::Snapshot,
    /// Messages accepted and not yet delivered or given up, a batch being
    /// posted included.
    pub(crate) queued: usize,
    /// Guaranteed messages in the store.
    pub(crate) persisted: usize,
}

/// The bound of the message store, `[message_persistence] max_messages`.
fn max_persisted_messages(config: &Config) -> usize {
    config.message_persistence.max_messages
}

/// Queues the RESOURCES_REPORT of the capability resources into the empty
/// outbox of a starting device, without waiting for room (an empty queue
/// always has one place); a failure is logged (the cloud then only lacks the
/// report, the device works).
fn queue_resources_report(capabilities: &Capabilities, outbox: &Outbox) {
    match capabilities.report() {
        Ok(report) => {
            if let Err(e) = outbox.try_push_by(vec![Outgoing::new(report)], Instant::now()) {
                let e = Error::from(e);
                log::warn!(target: "iotcs::device::dispatcher", "the resources report could not be queued: {e}");
            }
        }
        Err(e) => {
            log::warn!(target: "iotcs::device::dispatcher", "cannot build the resources report: {e}")
        }
    }
}

/// Opens the message store of `endpoint_id` at `path` (the device resolves
/// it, see `crate::state`) if persistence is enabled.
///
/// # Errors
///
/// [`Error::Io`] if the store cannot be opened.
fn open_store(
    config: &Config,
    path: &Path,
    endpoint_id: &str,
) -> Result<Option<PersistSettings>, Error> {
    if !config.message_persistence.enabled {
        return Ok(None);
    }
    let store = MessageStore::open(path, endpoint_id)?;
    // Each open says which mode it runs in: a database left deferring by a
    // device of this process that did not close syncs again.
    store.defer_syncs(false);
    Ok(Some(PersistSettings {
        store: Arc::new(store),
        max_messages: max_persisted_messages(config),
    }))
}

impl Dispatcher {
    /// Starts the pool, the sender and the receiver for an activated device.
    ///
    /// # Errors
    ///
    /// [`Error::State`] if the client is not activated; [`Error::Io`] if
    /// the message store at `store_path` cannot be opened or read, or a
    /// thread cannot be spawned (those started are stopped again).
    pub(crate) fn start(
        rest: Arc<RestClient>,
        config: &Config,
        store_path: &Path,
        survivors: Arc<dyn Survivors>,
        policies: Arc<PolicyContext>,
    ) -> Result<Self, Error> {
        let messaging = &config.device_messaging;
        let endpoint_id = rest
            .endpoint_id()
            .ok_or_else(|| Error::state("the message dispatcher needs an activated device"))?;
        let persist = open_store(config, store_path, &endpoint_id)?;
        let store = persist.as_ref().map(|p| Arc::clone(&p.store));
        // Beside the outbox's store: guaranteed messages held for uploads.
        let held_store = match persist {
            Some(_) => Some(HeldStore::open(store_path, &endpoint_id)?),
            None => None,
        };
        let clock = rest.server_clock();
        let (outbox, wake) = Outbox::durable(
            messaging.dispatcher_max_queue_size,
            messaging.dispatcher_basic_number_of_retries,
            messaging.message_queue_waittime,
            persist,
            &endpoint_id,
            clock.as_clock(),
        );
        let counters = Arc::new(Counters::default());
        counters.set_polling_interval(messaging.dispatcher_polling_interval);
        let capabilities = Capabilities::new(
            &endpoint_id,
            config,
            Arc::clone(&counters),
            Arc::clone(&outbox),
            clock.as_clock(),
        );
        // The start-up report goes in first, while the queue is empty, so it
        // takes an ordinary place at once: queued after the restored
        // messages, which may fill the queue and beyond, it would wait
        // `message_queue_waittime` for room that only the sender (not yet
        // running) can make, and then be dropped.
        queue_resources_report(&capabilities, &outbox);
        // Restored messages report to the virtual devices of this run.
        outbox.restore(&restored::listener(survivors))?;
        let pool = CallbackPool::start(messaging.request_dispatcher_thread_pool_size.max(1))?;
        let inbound = Arc::new(
            Inbound::new(
                pool.spawner(),
                Arc::clone(&outbox),
                clock.as_clock(),
                messaging.request_buffer_size,
                messaging.dispatcher_settle_time,
            )
            .with_callback_timeout(messaging.request_callback_timeout),
        );
        let context = Arc::new(DeviceContext {
            outbox: Arc::clone(&outbox),
            inbound: Arc::clone(&inbound),
            clock: clock.clone(),
            data_reliability: messaging.data_message_reliability,
            alert_reliability: messaging.alert_message_reliability,
            hold: Mutex::default(),
            policies,
            held_store,
        });
        let mut dispatcher = Dispatcher {
            context,
            rest: Arc::clone(&rest),
            receiver_stop: None,
            sender_stop: None,
            watchdog_stop: None,
            receiver: None,
            sender: None,
            watchdog: None,
            syncer: None,
            pool: Some(pool),
            capabilities: None,
            counters: Arc::clone(&counters),
            health: Arc::default(),
        };
        capabilities.register(&inbound);
        dispatcher.capabilities = Some(capabilities);
        let every = config.message_persistence.sync_interval;
        if let Some(store) = store.filter(|_| !every.is_zero()) {
            dispatcher.syncer = Some(Syncer::start(store, every)?);
        }
        dispatcher.spawn_threads(config, rest, outbox, wake, counters)?;
        Ok(dispatcher)
    }

    /// Starts the sender, the receiver and the watchdog, in that order.
    fn spawn_threads(
        &mut self,
        config: &Config,
        rest: Arc<RestClient>,
        outbox: Arc<Outbox>,
        wake: Receiver<()>,
        counters: Arc<Counters>,
    ) -> Result<(), Error> {
        let messaging = &config.device_messaging;
        let long_poll = !messaging.disable_long_polling;
        let sender = Sender {
            outbox,
            rest: Arc::clone(&rest),
            inbound: Arc::clone(&self.context.inbound),
            settings: SenderSettings {
                batch_max: messaging.dispatcher_max_messages_per_connection.max(1),
                batch_wait: messaging.dispatcher_batch_wait,
                accept_requests: !long_poll,
                pretty_print: config.logging.pretty_print_messages,
            },
            counters: Arc::clone(&counters),
            health: Arc::clone(&self.health),
            backoff: Backoff::new(messaging.message_dispatcher_backoff, system_random()),
            buffer: Vec::with_capacity(4096),
        };
        let (stop, worker) = self.spawn_io("iotcs-sender", move |stop| sender.run(stop, &wake))?;
        (self.sender_stop, self.sender) = (Some(stop), Some(worker));
        let receiver = ReceiverLoop {
            rest,
            inbound: Arc::clone(&self.context.inbound),
            settings: ReceiverSettings {
                long_poll,
                hold: LONG_POLL_HOLD,
                polling_interval: messaging.dispatcher_polling_interval,
                min_spacing: messaging.send_receive_timeout,
            },
            counters,
            health: Arc::clone(&self.health),
            backoff: Backoff::new(messaging.message_dispatcher_backoff, system_random()),
        };
        let (stop, worker) = self.spawn_io("iotcs-receiver", move |stop| receiver.run(stop))?;
        (self.receiver_stop, self.receiver) = (Some(stop), Some(worker));
        let watched = Arc::clone(&self.context.inbound);
        let (stop, worker) = self.spawn_io("iotcs-watchdog", move |stop| {
            crate::messaging::watchdog::run(&watched, stop);
        })?;
        (self.watchdog_stop, self.watchdog) = (Some(stop), Some(worker));
        Ok(())
    }

    /// Spawns the IO thread `name` running `body` with the receiving end of
    /// its stop channel, and returns the sending end with the thread. If the
    /// thread cannot be spawned, stops those started and returns why.
    fn spawn_io<T: Send + 'static>(
        &mut self,
        name: &str,
        body: impl FnOnce(&Receiver<()>) -> T + Send + 'static,
    ) -> Result<(Channel<()>, Worker<T>), Error> {
        let (stop_tx, stop) = crossbeam_channel::bounded(1);
        let spawned = Worker::spawn(name, move || {
            // The sender, receiver and watchdog never run user code.
            pool::mark_io_thread();
            body(&stop)
        });
        match spawned {
            Ok(worker) => Ok((stop_tx, worker)),
            Err(e) => {
                // The spawn error is the one worth reporting.
                let _ = self.stop(Instant::now() + Duration::from_secs(5));
                Err(e)
            }
        }
    }

    /// The link, the queue and the counters now, for `status()`.
    pub(crate) fn report(&self) -> Report {
        let outbox = &self.context.outbox;
        Report {
            health: self.health.snapshot(),
            counters: self.counters.snapshot(),
            queued: outbox.unsettled(),
            persisted: outbox.persisted(),
        }
    }

    /// The context virtual devices share.
    pub(crate) fn context(&self) -> &Arc<DeviceContext> {
        &self.context
    }

    /// Stops every thread in the order of the module docs, waiting until
    /// `deadline` at most. Idempotent.
    ///
    /// # Errors
    ///
    /// The first of: a message that could not be sent before closing (its
    /// error), a thread that panicked or did not stop in time
    /// ([`Error::State`], [`Error::Timeout`]).
    pub(crate) fn stop(&mut self, deadline: Instant) -> Result<(), Error> {
        let mut errors: Vec<Error> = Vec::new();
        let requests_by = deadline.checked_sub(CLOSE_SENDER_SHARE).unwrap_or(deadline);
        let network_by = deadline.checked_sub(CLOSE_JOIN_SHARE).unwrap_or(deadline);
        if let Some(stop) = self.receiver_stop.take() {
            let _ = stop.try_send(());
        }
        let transport = Arc::clone(self.rest.transport());
        transport.interrupt_long_polls();
        if let Some(capabilities) = self.capabilities.take() {
            capabilities.stop(deadline);
        }
        // The policy thread stops before the sender's last attempt, so what
        // its last round let out goes with it.
        if !self
            .context
            .policies
            .close_with(requests_by, network_by, || transport.interrupt_all())
        {
            errors.push(Error::Timeout {
                operation: "stopping thread iotcs-policy-timer at close".into(),
            });
        }
        // A receiver that has not stopped by now is inside a request that
        // the server does not answer; nothing more will come in.
        let mut interrupted = self
            .receiver
            .as_ref()
            .is_some_and(|r| !r.wait_until(requests_by));
        if interrupted {
            transport.interrupt_all();
        }
        self.answer_requests(requests_by, network_by);
        if let Some(stop) = self.watchdog_stop.take() {
            let _ = stop.try_send(());
        }
        if let Some(stop) = self.sender_stop.take() {
            let _ = stop.try_send(());
        }
        if self
            .sender
            .as_ref()
            .is_some_and(|s| !s.wait_until(network_by))
        {
            interrupted = true;
            transport.interrupt_all();
        }
        for worker in [self.receiver.take(), self.watchdog.take()]
            .into_iter()
            .flatten()
        {
            if let Err(e) = joined(worker, deadline) {
                errors.push(e);
            }
        }
        if let Some(sender) = self.sender.take() {
            match joined(sender, deadline) {
                Ok(exit) => {
                    if let Some(error) = exit.error {
                        // On the pool, which is still running.
                        for item in &exit.unsent {
                            sender::report_failed(item, &error);
                        }
                        errors.insert(0, unsent_error(&exit.unsent, error, interrupted));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if let Some(syncer) = self.syncer.take()
            && let Err(e) = syncer.stop(deadline)
        {
            errors.push(e);
        }
        if let Some(mut pool) = self.pool.take()
            && let Err(e) = pool.stop_checked(deadline)
        {
            errors.push(e);
        }
        errors.into_iter().next().map_or(Ok(()), Err)
    }

    /// Step 2 of the shutdown: waits until every request received is
    /// answered or `by`, answers `503` for those still open (waiting for
    /// room in a full queue until `queue_by`), and unregisters the handlers.
    fn answer_requests(&self, by: Instant, queue_by: Instant) {
        let inbound = &self.context.inbound;
        // Requests parked for the settle time get their answer now.
        inbound.release_parked(true);
        if !inbound.tickets().wait_settled(by) {
            inbound
                .answer_all_unavailable("the device closed before its callback answered", queue_by);
        }
        inbound.clear();
    }
}

impl Drop for Dispatcher {
    /// The best-effort `stop`: bounded, errors logged.
    fn drop(&mut self) {
        if (self.sender.is_some()
            || self.receiver.is_some()
            || self.watchdog.is_some()
            || self.syncer.is_some()
            || self.pool.is_some()
            || self.capabilities.is_some())
            && let Err(e) = self.stop(Instant::now() + CLOSE_TIMEOUT)
        {
            log::warn!(target: "iotcs::device::dispatcher", "closing the device: {e}");
        }
    }
}

/// The error `close` returns for messages its last flush could not send:
/// they are handed back, and the cause says when the server did not answer
/// in time (its request was interrupted).
fn unsent_error(unsent: &[Queued], error: Error, interrupted: bool) -> Error {
    let source = if interrupted {
        Error::Timeout {
            operation: format!(
                "sending {} queued message(s) at close: the server did not answer before \
                 the close deadline ({error})",
                unsent.len()
            ),
        }
    } else {
        error
    };
    Error::Unsent {
        // The outbox wrote each JSON from a `Message`, so each parses back.
        messages: unsent
            .iter()
            .filter_map(|item| Message::parse(item.wire()).ok())
            .collect(),
        source: Box::new(source),
    }
}

/// Joins `worker` by `deadline`, mapping every other outcome to an error.
fn joined<T: Send + 'static>(worker: Worker<T>, deadline: Instant) -> Result<T, Error> {
    let name = worker.name().to_owned();
    match worker.join_until(deadline) {
        Joined::Finished(value) => Ok(value),
        Joined::Panicked => Err(Error::state(format!("thread {name} panicked"))),
        Joined::TimedOut => Err(Error::Timeout {
            operation: format!("stopping thread {name}"),
        }),
        Joined::OwnThread => Err(Error::state(format!("thread {name} cannot stop itself"))),
    }
}
