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
//!   return within `request_callback_timeout` ([`crate::messaging::watchdog`]).
//!
//! Shutdown, in this order so nothing accepted is dropped silently, within
//! [`crate::device::CLOSE_TIMEOUT`] (20 s) of its start, `D`:
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
//! 4. what the sender could not send is reported to its listeners, whose
//!    `on_error` callbacks run on the callback pool, which is still running:
//!    the sender's failure reports always end before the pool stops, so none
//!    runs on an IO thread;
//! 5. the pool runs every job queued so far and stops, by `D`.
//!
//! At start, with `[message_persistence] enabled`, the store is opened (its
//! failure fails the open: a device that promised durability must not run
//! without it), what an earlier run left is queued again, the capability
//! resources are registered ([`crate::messaging::capability`]) and the RESOURCES_REPORT
//! announcing them is queued.
//!
//! Every join waits at most until `D`. The one thread that can miss it is a
//! callback thread inside a user callback that never returns: it cannot be
//! interrupted, so it is left running detached (it ends when the callback
//! returns) and `close` reports it ([`crate::messaging::pool`]).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender as Channel;
use iotcs_core::message::{Message, Reliability};
use iotcs_core::{Config, Error};

use crate::cloud::rest::RestClient;
use crate::messaging::backoff::{Backoff, system_random};
use crate::messaging::capability::Capabilities;
use crate::messaging::counters::Counters;
use crate::messaging::inbound::Inbound;
use crate::messaging::outbox::{Outbox, Outgoing, PersistSettings, Queued};
use crate::messaging::persist::MessageStore;
use crate::messaging::pool::{self, CallbackPool, Spawner};
use crate::messaging::receiver::{ReceiverLoop, ReceiverSettings};
use crate::messaging::restored::{self, Registry};
use crate::messaging::sender::{self, Sender, SenderExit, SenderSettings};
use crate::messaging::worker::{Joined, Worker};

/// The long-poll hold asked of the server (`iot.timeout`), in seconds. The
/// reference's high-level dispatchers send none and wait forever; asking for
/// a hold lets the client bound its own wait (hold plus
/// `long_polling_timeout_offset`), so a connection that died silently is
/// noticed.
pub(crate) const LONG_POLL_HOLD: Duration = Duration::from_secs(30);

/// Extra time a long poll may take beyond the hold and the configured offset
/// before the client gives up on it: the server answers at the end of the
/// hold, and the answer needs a moment to arrive.
const LONG_POLL_GRACE: Duration = Duration::from_secs(5);

/// At close, how long before the deadline the requests received must all be
/// answered (module docs, step 2): the other half of the close timeout is
/// the sender's, for the last flush.
const CLOSE_SENDER_SHARE: Duration = Duration::from_secs(10);

/// At close, how long before the deadline every request in flight is
/// interrupted: the time left to join the threads and run the failure
/// reports.
const CLOSE_JOIN_SHARE: Duration = Duration::from_secs(2);

/// What the device and its virtual devices share while the device is open.
pub(crate) struct DeviceContext {
    /// Where messages wait for the sender.
    pub(crate) outbox: Arc<Outbox>,
    /// The request routing table and the pool.
    pub(crate) inbound: Arc<Inbound>,
    /// For server-corrected event times.
    pub(crate) rest: Arc<RestClient>,
    /// `data_message_reliability`.
    pub(crate) data_reliability: Reliability,
    /// `alert_message_reliability`.
    pub(crate) alert_reliability: Reliability,
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
        self.rest.server_now()
    }

    /// The callback pool.
    pub(crate) fn spawner(&self) -> &Spawner {
        self.inbound.spawner()
    }
}

/// The owner of the dispatcher threads.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    context: Arc<DeviceContext>,
    // Each stop channel is dropped (disconnected) to stop its actor; the
    // actors also stop on a message, which `close` sends first.
    receiver_stop: Option<Channel<()>>,
    sender_stop: Option<Channel<()>>,
    watchdog_stop: Option<Channel<()>>,
    receiver: Option<Worker<()>>,
    sender: Option<Worker<SenderExit>>,
    watchdog: Option<Worker<()>>,
    pool: Option<CallbackPool>,
    /// The capability resources (their connectivity test owns a thread).
    capabilities: Option<Arc<Capabilities>>,
}

/// The bound of the message store, `[message_persistence] max_messages`.
fn max_persisted_messages(config: &Config) -> usize {
    config.message_persistence.max_messages
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
        devices: &Registry,
    ) -> Result<Self, Error> {
        let messaging = &config.device_messaging;
        let endpoint_id = rest
            .endpoint_id()
            .ok_or_else(|| Error::state("the message dispatcher needs an activated device"))?;
        let persist = open_store(config, store_path, &endpoint_id)?;
        let clock_rest = Arc::clone(&rest);
        let (outbox, wake) = Outbox::durable(
            messaging.dispatcher_max_queue_size,
            messaging.dispatcher_basic_number_of_retries,
            messaging.message_queue_waittime,
            persist,
            &endpoint_id,
            Arc::new(move || clock_rest.server_now()),
        );
        // Restored messages report to the virtual devices of this run.
        outbox.restore(&restored::listener(devices))?;
        let pool = CallbackPool::start(messaging.request_dispatcher_thread_pool_size.max(1))?;
        let counters = Arc::new(Counters::default());
        counters.set_polling_interval(messaging.dispatcher_polling_interval);
        let clock_rest = Arc::clone(&rest);
        let inbound = Arc::new(
            Inbound::new(
                pool.spawner(),
                Arc::clone(&outbox),
                Arc::new(move || clock_rest.server_now()),
                messaging.request_buffer_size,
                messaging.dispatcher_settle_time,
            )
            .with_callback_timeout(messaging.request_callback_timeout),
        );
        let context = Arc::new(DeviceContext {
            outbox: Arc::clone(&outbox),
            inbound: Arc::clone(&inbound),
            rest: Arc::clone(&rest),
            data_reliability: messaging.data_message_reliability,
            alert_reliability: messaging.alert_message_reliability,
        });
        let mut dispatcher = Dispatcher {
            context,
            receiver_stop: None,
            sender_stop: None,
            watchdog_stop: None,
            receiver: None,
            sender: None,
            watchdog: None,
            pool: Some(pool),
            capabilities: None,
        };
        let clock_rest = Arc::clone(&rest);
        let capabilities = Capabilities::new(
            &endpoint_id,
            config,
            Arc::clone(&counters),
            Arc::clone(&outbox),
            Arc::new(move || clock_rest.server_now()),
        );
        capabilities.register(&inbound);
        match capabilities.report() {
            Ok(report) => {
                if let Err(e) = outbox.send(vec![Outgoing::new(report)]) {
                    log::warn!("the resources report could not be queued: {e}");
                }
            }
            Err(e) => log::warn!("cannot build the resources report: {e}"),
        }
        dispatcher.capabilities = Some(capabilities);
        let long_poll = !messaging.disable_long_polling;
        let sender = Sender {
            outbox,
            rest: Arc::clone(&rest),
            inbound: Arc::clone(&inbound),
            settings: SenderSettings {
                batch_max: messaging.dispatcher_max_messages_per_connection.max(1),
                accept_requests: !long_poll,
                pretty_print: config.logging.pretty_print_messages,
            },
            counters: Arc::clone(&counters),
            backoff: Backoff::new(messaging.message_dispatcher_backoff, system_random()),
            buffer: Vec::with_capacity(4096),
        };
        let (stop_tx, stop) = crossbeam_channel::bounded(1);
        dispatcher.sender_stop = Some(stop_tx);
        match Worker::spawn("iotcs-sender", move || {
            pool::mark_io_thread();
            sender.run(&stop, &wake)
        }) {
            Ok(worker) => dispatcher.sender = Some(worker),
            Err(e) => {
                // The spawn error is the one worth reporting.
                let _ = dispatcher.stop(Instant::now() + Duration::from_secs(5));
                return Err(e);
            }
        }
        let receiver = ReceiverLoop {
            rest,
            inbound,
            settings: ReceiverSettings {
                long_poll,
                hold: LONG_POLL_HOLD,
                polling_interval: messaging.dispatcher_polling_interval,
                min_spacing: messaging.send_receive_timeout,
            },
            counters,
            backoff: Backoff::new(messaging.message_dispatcher_backoff, system_random()),
        };
        let (stop_tx, stop) = crossbeam_channel::bounded(1);
        dispatcher.receiver_stop = Some(stop_tx);
        match Worker::spawn("iotcs-receiver", move || {
            pool::mark_io_thread();
            receiver.run(&stop)
        }) {
            Ok(worker) => dispatcher.receiver = Some(worker),
            Err(e) => {
                // The spawn error is the one worth reporting.
                let _ = dispatcher.stop(Instant::now() + Duration::from_secs(5));
                return Err(e);
            }
        }
        let (stop_tx, stop) = crossbeam_channel::bounded(1);
        dispatcher.watchdog_stop = Some(stop_tx);
        let watched = Arc::clone(&dispatcher.context.inbound);
        match Worker::spawn("iotcs-watchdog", move || {
            // It never runs user code either.
            pool::mark_io_thread();
            crate::messaging::watchdog::run(&watched, &stop);
        }) {
            Ok(worker) => dispatcher.watchdog = Some(worker),
            Err(e) => {
                let _ = dispatcher.stop(Instant::now() + Duration::from_secs(5));
                return Err(e);
            }
        }
        Ok(dispatcher)
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
        let transport = Arc::clone(self.context.rest.transport());
        transport.interrupt_long_polls();
        if let Some(capabilities) = self.capabilities.take() {
            capabilities.stop(deadline);
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
            || self.pool.is_some()
            || self.capabilities.is_some())
            && let Err(e) = self.stop(Instant::now() + crate::device::CLOSE_TIMEOUT)
        {
            log::warn!("closing the device: {e}");
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

/// The timeouts of the ureq transport, from `[http]` and `[device_messaging]`.
pub(crate) fn http_settings(config: &Config) -> crate::cloud::transport::HttpSettings {
    let messaging = &config.device_messaging;
    let response_timeout = config
        .http
        .http_read_timeout
        .filter(|d| !d.is_zero())
        .unwrap_or(messaging.http_response_timeout);
    crate::cloud::transport::HttpSettings {
        connect_timeout: config.http.http_connection_timeout.filter(|d| !d.is_zero()),
        response_timeout: Some(response_timeout).filter(|d| !d.is_zero()),
        long_poll_timeout: Some(
            LONG_POLL_HOLD + messaging.long_polling_timeout_offset + LONG_POLL_GRACE,
        ),
        proxy: config.http.proxy.clone(),
        proxy_auth: config.http.proxy_auth.clone(),
    }
}

/// A context with an in-memory transport and no sender or receiver, for
/// unit tests of virtual devices: messages stay in the outbox.
#[cfg(test)]
pub(crate) fn test_context() -> (Arc<DeviceContext>, CallbackPool) {
    use crate::cloud::transport::memory::{MemoryTransport, json};
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
        rest,
        data_reliability: Reliability::BestEffort,
        alert_reliability: Reliability::GuaranteedDelivery,
    };
    (Arc::new(context), pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_settings_follow_the_config() {
        let mut config = Config::default();
        let s = http_settings(&config);
        assert_eq!(s.response_timeout, Some(Duration::from_secs(15)));
        assert_eq!(s.connect_timeout, None);
        assert_eq!(s.long_poll_timeout, Some(Duration::from_millis(35_100)));
        config.http.http_read_timeout = Some(Duration::from_secs(3));
        config.http.http_connection_timeout = Some(Duration::from_secs(2));
        config.http.proxy = Some("http://proxy:3128/".into());
        let s = http_settings(&config);
        assert_eq!(s.response_timeout, Some(Duration::from_secs(3)));
        assert_eq!(s.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(s.proxy.as_deref(), Some("http://proxy:3128/"));
    }
}
