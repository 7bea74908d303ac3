//! The sender thread (`iotcs-sender`): drains the outbox in batches of up to
//! `dispatcher_max_messages_per_connection`, highest priority first, one
//! `POST /iot/api/v2/messages` per batch. With fewer messages queued than
//! fill a batch it may first wait up to `dispatcher_batch_wait` for more
//! ([`crate::messaging::batch_wait`]: not for responses to the cloud's
//! requests nor `HIGHEST` priority, never at close).
//!
//! What a POST's outcome does to its batch is the table of [`crate::messaging::fate`]:
//! - accepted (2xx): listeners hear `delivered`, stored copies are deleted,
//!   the back-off resets;
//! - rejected for good (the cloud refuses a whole batch when one message or
//!   one source is bad): the culprit is looked for by source first (one
//!   request per source), then by halves, down to single messages, so the
//!   messages the cloud will never take are found, deleted and reported to
//!   `on_error`, and the messages beside and behind them go through;
//! - failed for now (5xx, 403 for our own endpoint, 408, 429, a status that
//!   says nothing about the messages, no connection, a timeout): the batch
//!   goes back to the front of the queue with one retry spent per message
//!   (unlimited for `GUARANTEED_DELIVERY`), messages out of retries are
//!   reported, and the thread backs off ([`crate::messaging::backoff`]): it waits on
//!   its stop channel until the deadline, so a server that is down costs no
//!   CPU and new messages do not cut the wait short.
//!
//! On stop it closes the outbox, makes one attempt at every batch still
//! queued (finding and giving up messages rejected for good as above, so
//! they hold back nothing), stops at the first failure worth retrying, and
//! hands what could not be sent back to its owner; persisted
//! guaranteed messages are not handed back, they stay in the store for the
//! next open.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, select_biased};
use iotcs_core::__private::protocol::Method;
use iotcs_core::__private::protocol::path::MESSAGES;
use iotcs_core::__private::protocol::query::ACCEPT_BYTES;
use iotcs_core::Error;
use iotcs_core::message::Priority;

use crate::cloud::rest::RestClient;
use crate::cloud::transport::HttpRequest;
use crate::messaging::backoff::Backoff;
use crate::messaging::batch_wait::{self, BatchWait, Next};
use crate::messaging::counters::Counters;
use crate::messaging::fate::{self, Fate};
use crate::messaging::health::Health;
use crate::messaging::inbound::Inbound;
use crate::messaging::outbox::{Outbox, Queued};
use crate::messaging::queue::Entry;

/// How the sender behaves, from the configuration.
#[derive(Clone, Debug)]
pub(crate) struct SenderSettings {
    /// `dispatcher_max_messages_per_connection`.
    pub(crate) batch_max: usize,
    /// `dispatcher_batch_wait`: how long a batch that is not full may wait
    /// for more messages.
    pub(crate) batch_wait: Duration,
    /// Whether responses to our POSTs may carry requests: only when long
    /// polling is off (with long polling, Java sends `acceptBytes=0` and
    /// requests come on the long poll).
    pub(crate) accept_requests: bool,
    /// `[logging] pretty_print_messages`, for the trace log of sent batches.
    pub(crate) pretty_print: bool,
}

/// What the sender leaves behind when it stops.
#[derive(Debug, Default)]
pub(crate) struct SenderExit {
    /// Messages that could not be sent before the thread stopped (persisted
    /// guaranteed messages are not among them: they wait in the store).
    pub(crate) unsent: Vec<Queued>,
    /// Why the first of them failed.
    pub(crate) error: Option<Error>,
    /// Persisted messages left in the store for the next open.
    pub(crate) kept: usize,
}

/// The sender actor.
pub(crate) struct Sender {
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) rest: Arc<RestClient>,
    pub(crate) inbound: Arc<Inbound>,
    pub(crate) settings: SenderSettings,
    pub(crate) counters: Arc<Counters>,
    /// The link's state for `status()` and the lost/restored log lines.
    pub(crate) health: Arc<Health>,
    pub(crate) backoff: Backoff,
    /// Reused for every batch's JSON.
    pub(crate) buffer: Vec<u8>,
}

/// A batch of queue entries.
type Batch = Vec<Entry<Queued, Priority>>;

impl Sender {
    /// The thread body: wakes on `wake`, stops when `stop` receives or
    /// disconnects.
    pub(crate) fn run(mut self, stop: &Receiver<()>, wake: &Receiver<()>) -> SenderExit {
        // The cloud accepted the token in use (see `fate::refresh_on_403`).
        let mut vouched = false;
        'running: loop {
            select_biased! {
                recv(stop) -> _ => break 'running,
                recv(wake) -> _ => {}
            }
            // A push woke the idle sender: its message arrived just now.
            let mut since = Instant::now();
            loop {
                if !self.gather(since, stop, wake) {
                    break 'running;
                }
                let batch = self.outbox.pop_batch(self.settings.batch_max);
                // What is queued from now on arrived after this pop.
                since = Instant::now();
                if batch.is_empty() {
                    break;
                }
                if let Some(until) = self.deliver(batch, &mut vouched) {
                    let pause = until.saturating_duration_since(Instant::now());
                    log::debug!(target: "iotcs::device::sender",
                        "backing off for {pause:?} after {} failure(s)",
                        self.backoff.failures()
                    );
                    select_biased! {
                        recv(stop) -> _ => break 'running,
                        default(pause) => {}
                    }
                }
            }
        }
        self.flush()
    }

    /// Waits, as `dispatcher_batch_wait` allows, for more messages to join
    /// the next batch ([`crate::messaging::batch_wait`]), the first of those
    /// queued having arrived no earlier than `since`. Meanwhile only a push
    /// that fills the batch or queues something urgent wakes it: a wake-up
    /// per message would cost the sender and the producer more than the
    /// POSTs it saves. Returns false when told to stop, at once: close does
    /// not wait.
    fn gather(&self, since: Instant, stop: &Receiver<()>, wake: &Receiver<()>) -> bool {
        if self.settings.batch_wait.is_zero() {
            return true;
        }
        let rule = BatchWait::new(self.settings.batch_wait, self.settings.batch_max);
        // Before looking at the queue, so that no push that matters is missed.
        self.outbox.wake_only_at(self.settings.batch_max);
        let go = loop {
            let urgent = || {
                self.outbox
                    .any_queued(|item, priority| batch_wait::urgent(item.kind(), priority))
            };
            match rule.next(self.outbox.len(), urgent, since, Instant::now()) {
                Next::Send => break true,
                Next::Wait(pause) => select_biased! {
                    recv(stop) -> _ => break false,
                    recv(wake) -> _ => {}
                    default(pause) => {}
                },
            }
        };
        // Before the pop: a push after it must wake the sender again.
        self.outbox.wake_only_at(0);
        go
    }

    /// Sends `batch` as [`Sender::attempt`] does; returns the back-off
    /// deadline after a retryable failure, with the messages not yet sent
    /// back in the queue.
    pub(crate) fn deliver(&mut self, batch: Batch, vouched: &mut bool) -> Option<Instant> {
        self.attempt(batch, vouched)
            .err()
            .map(|(rest, error)| self.retry_later(rest, &error))
    }

    /// Sends `batch`, looking for the culprit when the cloud rejects it for
    /// good ([`crate::messaging::fate`]): rejected messages are given up and reported,
    /// the rest delivered. After a retryable failure, hands back what is not
    /// yet sent with the error. `vouched` says whether the cloud accepted the
    /// token in use for the last POST, and is kept up to date.
    fn attempt(&mut self, batch: Batch, vouched: &mut bool) -> Result<(), (Batch, Error)> {
        let own = self.rest.endpoint_id();
        let sources_of =
            |batch: &Batch| fate::sources(batch.iter().map(|e| e.item.wire()), own.as_deref());
        let mut pending: VecDeque<Batch> = VecDeque::from([batch]);
        while let Some(mut batch) = pending.pop_front() {
            let refresh = fate::refresh_on_403(*vouched, || sources_of(&batch));
            let error = match self.post_with(batch.iter().map(|e| e.item.wire()), refresh) {
                Ok(bytes) => {
                    *vouched = true;
                    self.backoff.succeeded();
                    self.health
                        .succeeded(Instant::now(), SystemTime::now(), batch.len());
                    self.delivered(&batch, bytes);
                    continue;
                }
                Err(e) => e,
            };
            self.counters.protocol_error();
            // A 403 after a refresh: the token is as good as can be had.
            *vouched |= refresh && error.status_code() == Some(403);
            let sources = sources_of(&batch);
            match fate::fate(&error, sources, batch.len()) {
                Fate::BySource => {
                    let groups = fate::split_by_source(batch, |e| e.item.wire(), own.as_deref());
                    log::debug!(target: "iotcs::device::sender",
                        "the cloud rejected a batch from several sources ({error}); sending it \
                         in {} parts by source",
                        groups.len()
                    );
                    for group in groups.into_iter().rev() {
                        pending.push_front(group);
                    }
                }
                Fate::Halve => {
                    log::debug!(target: "iotcs::device::sender",
                        "the cloud rejected a batch of {} ({error}); sending it in halves",
                        batch.len()
                    );
                    let second = batch.split_off(batch.len() / 2);
                    pending.push_front(second);
                    pending.push_front(batch);
                }
                Fate::Reject => self.rejected(batch, &error),
                Fate::Retry => {
                    // Whatever failed, the next POST checks the token again.
                    *vouched = false;
                    batch.extend(pending.drain(..).flatten());
                    return Err((batch, error));
                }
            }
        }
        Ok(())
    }

    /// Gives `batch` up for good: out of the queue and the store, reported.
    fn rejected(&self, batch: Batch, error: &Error) {
        for entry in batch {
            log::warn!(target: "iotcs::device::sender",
                "the cloud rejected message {} for good: {error}",
                entry.item.client_id()
            );
            self.outbox.forget(std::iter::once(&entry.item));
            report_failed(&entry.item, error);
        }
    }

    /// Puts `batch` back with one retry spent, reports the messages out of
    /// retries, and returns the back-off deadline.
    fn retry_later(&mut self, batch: Batch, error: &Error) -> Instant {
        log::warn!(target: "iotcs::device::sender", "sending {} message(s) failed: {error}", batch.len());
        let total = batch.len();
        let exhausted = self.outbox.requeue(batch);
        self.counters.retried(total - exhausted.len());
        for entry in exhausted {
            self.outbox.forget(std::iter::once(&entry.item));
            report_failed(&entry.item, error);
        }
        let now = Instant::now();
        let until = self.backoff.failed(now);
        self.health
            .failed(now, SystemTime::now(), error, Some(until));
        until
    }

    /// Bookkeeping for an accepted batch.
    fn delivered(&self, batch: &Batch, bytes: usize) {
        self.counters.sent(batch.len(), bytes);
        self.outbox.forget(batch.iter().map(|entry| &entry.item));
        for entry in batch {
            if let Some(listener) = &entry.item.listener {
                listener.delivered();
            }
        }
    }

    /// The last pass at stop: no new messages, one attempt per batch, and
    /// after the first failure worth retrying no more network calls;
    /// messages rejected for good are given up as on the running path.
    fn flush(mut self) -> SenderExit {
        self.outbox.close();
        // Requests taken now could no longer be answered: the outbox is
        // closed.
        self.settings.accept_requests = false;
        let mut exit = SenderExit::default();
        let mut failure: Option<Error> = None;
        // Messages the cloud rejects for good are found and given up here
        // as on the running path, so they hold back nothing behind them.
        let mut vouched = false;
        loop {
            let mut batch = self.outbox.pop_batch(self.settings.batch_max);
            if batch.is_empty() {
                break;
            }
            if failure.is_none() {
                match self.attempt(batch, &mut vouched) {
                    Ok(()) => continue,
                    Err((rest, e)) => {
                        log::warn!(target: "iotcs::device::sender", "could not send the queued messages before closing: {e}");
                        failure = Some(e);
                        batch = rest;
                    }
                }
            }
            for entry in batch {
                if entry.item.key.is_some() {
                    exit.kept += 1;
                } else {
                    exit.unsent.push(entry.item);
                }
            }
        }
        if exit.kept > 0 {
            log::info!(target: "iotcs::device::sender",
                "{} guaranteed message(s) stay persisted for the next open",
                exit.kept
            );
        }
        if !exit.unsent.is_empty() {
            exit.error = failure;
        }
        exit
    }

    /// POSTs one batch and hands any requests in the answer to the inbound
    /// side; returns the bytes sent. Fetches a new token on 403 only if
    /// `refresh_on_403` ([`fate::refresh_on_403`]). A failure is an
    /// [`Error::Transport`] carrying the cloud's status and its explanation.
    fn post_with<'a>(
        &mut self,
        messages: impl Iterator<Item = &'a str>,
        refresh_on_403: bool,
    ) -> Result<usize, Error> {
        // The messages were written as JSON when queued: the batch is their
        // array.
        self.buffer.clear();
        self.buffer.push(b'[');
        for (i, json) in messages.enumerate() {
            if i > 0 {
                self.buffer.push(b',');
            }
            self.buffer.extend_from_slice(json.as_bytes());
        }
        self.buffer.push(b']');
        if log::log_enabled!(target: "iotcs::device::sender", log::Level::Trace) {
            log::trace!(target: "iotcs::device::sender",
                "sending {}",
                render(&self.buffer, self.settings.pretty_print)
            );
        }
        let accept = if self.settings.accept_requests {
            self.inbound.accept_bytes()
        } else {
            0
        };
        let path = format!("{MESSAGES}?{ACCEPT_BYTES}={accept}");
        let bytes = self.buffer.len();
        // The request shares the buffer rather than copying it; once the call
        // is over nobody else holds it, and it comes back for the next batch.
        let body = Arc::new(std::mem::take(&mut self.buffer));
        let result = self.rest.call_with(
            HttpRequest::post_shared(path, Arc::clone(&body)),
            refresh_on_403,
        );
        if let Ok(buffer) = Arc::try_unwrap(body) {
            self.buffer = buffer;
        }
        let response = result?;
        if !response.is_success() {
            return Err(Error::Transport {
                status: response.status,
                method: Method::Post.to_string(),
                path: MESSAGES.to_owned(),
                body: fate::detail(&response.body),
            });
        }
        if accept > 0 {
            self.inbound.dispatch(&response.body, &self.counters);
        }
        Ok(bytes)
    }
}

/// Tells a message's listener it was given up.
pub(crate) fn report_failed(item: &Queued, error: &Error) {
    log::warn!(target: "iotcs::device::sender",
        "giving up on {} message {}: {error}",
        item.kind(),
        item.client_id()
    );
    if let Some(listener) = &item.listener {
        listener.failed(item.kind(), item.wire(), error);
    }
}

/// A batch for the log: compact as sent, or pretty-printed.
pub(crate) fn render(json: &[u8], pretty: bool) -> String {
    if pretty
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(json)
        && let Ok(text) = serde_json::to_string_pretty(&value)
    {
        return text;
    }
    String::from_utf8_lossy(json).into_owned()
}

#[cfg(test)]
mod batch_tests;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use iotcs_core::message::{Message, MessageType, Priority, Reliability};

    use super::*;
    use crate::cloud::transport::memory::{MemoryTransport, json};
    use crate::messaging::outbox::{DeliveryListener, Outgoing};
    use crate::messaging::pool::CallbackPool;

    #[derive(Default)]
    pub(super) struct Counts {
        pub(super) delivered: AtomicUsize,
        pub(super) failed: AtomicUsize,
    }

    impl DeliveryListener for Counts {
        fn delivered(&self) {
            self.delivered.fetch_add(1, Ordering::SeqCst);
        }
        fn failed(&self, _: MessageType, _: &str, _: &Error) {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub(super) struct Rig {
        pub(super) sender: Sender,
        pub(super) transport: Arc<MemoryTransport>,
        pub(super) outbox: Arc<Outbox>,
        pub(super) _pool: CallbackPool,
    }

    pub(super) fn rig(
        batch_max: usize,
        answer: impl Fn(&HttpRequest) -> Result<crate::cloud::transport::HttpResponse, Error>
        + Send
        + Sync
        + 'static,
    ) -> (Rig, Receiver<()>) {
        let transport = Arc::new(MemoryTransport::new(move |req| {
            if req.path.starts_with("/iot/api/v2/oauth2/token") {
                json(
                    200,
                    r#"{"access_token":"t","token_type":"Bearer","expires_in":3600000}"#,
                )
            } else {
                answer(req)
            }
        }));
        let rest = Arc::new(RestClient::for_activation(
            transport.clone(),
            "EP-1",
            b"s",
            crate::clock::system_clock(),
            1,
        ));
        let (outbox, wake) = Outbox::new(100, 3);
        let pool = CallbackPool::start(1).unwrap();
        let inbound = Arc::new(Inbound::new(
            pool.spawner(),
            outbox.clone(),
            Arc::new(|| 1),
            4192,
            std::time::Duration::ZERO,
        ));
        let settings = SenderSettings {
            batch_max,
            batch_wait: Duration::ZERO,
            accept_requests: false,
            pretty_print: true,
        };
        let sender = Sender {
            outbox: outbox.clone(),
            rest,
            inbound,
            settings,
            counters: Arc::new(Counters::default()),
            health: Arc::default(),
            backoff: Backoff::new(Duration::from_millis(1), Box::new(|| 0)),
            buffer: Vec::new(),
        };
        (
            Rig {
                sender,
                transport,
                outbox,
                _pool: pool,
            },
            wake,
        )
    }

    pub(super) fn data(n: i64, priority: Priority) -> Message {
        Message::data("EP-1", "urn:x:attributes", [("n", n)], 0)
            .unwrap()
            .with_priority(priority)
    }

    /// The `n` data value of each message of each POST so far, in order.
    pub(super) fn posted_ns(transport: &MemoryTransport) -> Vec<Vec<i64>> {
        posted(transport)
            .iter()
            .map(|b| {
                b.iter()
                    .map(|m| m["payload"]["data"]["n"].as_i64().unwrap())
                    .collect()
            })
            .collect()
    }

    pub(super) fn posted(transport: &MemoryTransport) -> Vec<Vec<serde_json::Value>> {
        transport
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.1.starts_with(MESSAGES))
            .map(|r| serde_json::from_slice::<Vec<serde_json::Value>>(&r.3).unwrap())
            .collect()
    }

    #[test]
    fn batches_go_out_highest_first_and_stop_flushes() {
        let (rig, wake) = rig(2, |_| json(202, "[]"));
        let counts = Arc::new(Counts::default());
        for (n, p) in [
            (1, Priority::Low),
            (2, Priority::Highest),
            (3, Priority::Low),
            (4, Priority::Highest),
        ] {
            rig.outbox
                .push(vec![Outgoing::with_listener(data(n, p), counts.clone())])
                .unwrap();
        }
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        // Stop is checked first, so everything goes out in the final flush.
        stop_tx.send(()).unwrap();
        let exit = rig.sender.run(&stop, &wake);
        assert!(exit.unsent.is_empty() && exit.error.is_none());
        assert_eq!(posted_ns(&rig.transport), [vec![2, 4], vec![1, 3]]);
        assert_eq!(counts.delivered.load(Ordering::SeqCst), 4);
        assert!(
            rig.outbox
                .push(vec![Outgoing::new(data(5, Priority::Low))])
                .is_err()
        );
        let path = &rig.transport.paths()[1];
        assert_eq!(path, "/iot/api/v2/messages?acceptBytes=0");
    }

    #[test]
    fn failures_spend_retries_then_report() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let (rig, wake) = rig(10, move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            json(500, "down")
        });
        let counts = Arc::new(Counts::default());
        let message = data(1, Priority::Medium).with_reliability(Reliability::NoGuarantee);
        rig.outbox
            .push(vec![Outgoing::with_listener(message, counts.clone())])
            .unwrap();
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let outbox = rig.outbox.clone();
        let handle = std::thread::spawn(move || rig.sender.run(&stop, &wake));
        let deadline = Instant::now() + Duration::from_secs(10);
        while counts.failed.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        // NO_GUARANTEE with base 3: the first attempt and three retries.
        assert_eq!(counts.failed.load(Ordering::SeqCst), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(outbox.len(), 0);
        stop_tx.send(()).unwrap();
        let exit = handle.join().unwrap();
        assert!(exit.unsent.is_empty());
    }

    #[test]
    fn final_flush_stops_at_the_first_failure_and_returns_the_rest() {
        let (rig, wake) = rig(1, |_| json(503, "busy"));
        for n in 0..3 {
            rig.outbox
                .push(vec![Outgoing::new(data(n, Priority::Medium))])
                .unwrap();
        }
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        drop(stop_tx);
        let transport = rig.transport.clone();
        let exit = rig.sender.run(&stop, &wake);
        assert_eq!(exit.unsent.len(), 3);
        assert_eq!(exit.error.unwrap().status_code(), Some(503));
        assert_eq!(posted(&transport).len(), 1);
    }

    /// A sender whose cloud rejects any batch holding `"n":bad` with 400,
    /// and `count` messages pushed one by one, each heard by the returned
    /// counts.
    fn poisoned(bad: i64, count: i64) -> (Rig, Receiver<()>, Arc<Counts>) {
        let marker = format!(r#""n":{bad}"#);
        let (rig, wake) = rig(10, move |req| {
            if String::from_utf8_lossy(&req.body).contains(&marker) {
                json(400, r#"{"detail":"bad value"}"#)
            } else {
                json(202, "[]")
            }
        });
        let counts = Arc::new(Counts::default());
        for n in 0..count {
            rig.outbox
                .push(vec![Outgoing::with_listener(
                    data(n, Priority::Medium),
                    counts.clone(),
                )])
                .unwrap();
        }
        (rig, wake, counts)
    }

    #[test]
    fn final_flush_gives_up_a_rejected_message_and_delivers_the_rest() {
        let (rig, wake, counts) = poisoned(1, 4);
        // Stopped before it ever ran: everything goes out in the last flush.
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        drop(stop_tx);
        let exit = rig.sender.run(&stop, &wake);
        assert!(exit.unsent.is_empty(), "{:?}", exit.unsent.len());
        assert!(exit.error.is_none());
        assert_eq!(counts.delivered.load(Ordering::SeqCst), 3);
        assert_eq!(counts.failed.load(Ordering::SeqCst), 1);
    }

    /// A sender that may take requests in its answers (no long polling),
    /// one message queued, and the paths its POSTs went to.
    fn accepting_requests() -> (Rig, Receiver<()>, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let (mut rig, wake) = rig(10, move |req| {
            s.lock().unwrap().push(req.path.clone());
            json(202, "[]")
        });
        rig.sender.settings.accept_requests = true;
        rig.outbox
            .push(vec![Outgoing::new(data(1, Priority::Medium))])
            .unwrap();
        (rig, wake, seen)
    }

    #[test]
    fn requests_in_answers_are_dispatched_when_not_long_polling() {
        let (rig, wake, seen) = accepting_requests();
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let sender = rig.sender;
        let handle = std::thread::spawn(move || sender.run(&stop, &wake));
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().is_empty() && Instant::now() < deadline {
            std::thread::yield_now();
        }
        stop_tx.send(()).unwrap();
        handle.join().unwrap();
        assert_eq!(
            seen.lock().unwrap()[0],
            "/iot/api/v2/messages?acceptBytes=4190"
        );
    }

    #[test]
    fn the_last_flush_takes_no_requests() {
        let (rig, wake, seen) = accepting_requests();
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        // Stop is checked first, so the message goes out in the flush, when
        // a request could no longer be answered.
        stop_tx.send(()).unwrap();
        rig.sender.run(&stop, &wake);
        assert_eq!(
            *seen.lock().unwrap(),
            ["/iot/api/v2/messages?acceptBytes=0"]
        );
    }

    #[test]
    fn a_poisoned_message_is_isolated_and_the_rest_delivered() {
        let (rig, wake, counts) = poisoned(3, 7);
        let counters = rig.sender.counters.clone();
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let outbox = rig.outbox.clone();
        let handle = std::thread::spawn(move || rig.sender.run(&stop, &wake));
        let deadline = Instant::now() + Duration::from_secs(10);
        while counts.delivered.load(Ordering::SeqCst) < 6 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        stop_tx.send(()).unwrap();
        let exit = handle.join().unwrap();
        assert!(exit.unsent.is_empty());
        assert_eq!(counts.delivered.load(Ordering::SeqCst), 6);
        assert_eq!(counts.failed.load(Ordering::SeqCst), 1);
        assert_eq!(outbox.len(), 0);
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.messages_sent, 6);
        assert!(snapshot.protocol_errors >= 3, "{snapshot:?}");
        assert_eq!(snapshot.messages_retried, 0);
        // Rejections are not retries: the budget is untouched by bisection.
        let posted = posted(&rig.transport);
        let sizes: Vec<usize> = posted.iter().map(Vec::len).collect();
        assert_eq!(sizes, [7, 3, 4, 2, 1, 1, 2], "{sizes:?}");
    }

    #[test]
    fn render_pretty_prints_on_request() {
        assert_eq!(render(b"[1]", false), "[1]");
        assert!(render(b"[1]", true).contains('\n'));
        assert_eq!(render(b"not json", true), "not json");
    }
}
