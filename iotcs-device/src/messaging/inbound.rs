//! Requests from the cloud: parsed off a `/messages` response, handed to the
//! callback pool, routed to their handler, and answered.
//!
//! Every REQUEST gets exactly one RESPONSE: the handler's status (200, 400,
//! ...), 404 when nothing is registered at the path, 405 for a method the
//! resource does not accept, 500 when a handler (a user callback) panics.
//! What a handler wants sent after its response (the DATA echo of an
//! accepted attribute change) is queued right behind it.
//!
//! Settle time (`dispatcher_settle_time`, as Oracle's Java library): during
//! the first seconds after the device starts, a request for a path nobody has
//! registered yet is parked instead of answered 404, because the application
//! may simply not have created its virtual devices yet. Parked requests are
//! dispatched again whenever handlers are registered, and once the settle
//! time is over they get their answer (404 if still nobody serves them).
//!
//! A handler that does not return within `request_callback_timeout` has its
//! request answered `503` by the watchdog ([`crate::messaging::watchdog`]),
//! which also has its pool thread replaced so the requests behind it are
//! served ([`crate::messaging::pool`]).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

use iotcs_core::Error;
use iotcs_core::message::{Headers, Message, Payload, Priority, RequestPayload};
use serde_json::value::RawValue;

use crate::clock::Clock;
use crate::messaging::counters::Counters;
use crate::messaging::outbox::{Outbox, Outgoing};
use crate::messaging::pool::{self, Spawner};
use crate::messaging::router::{Lookup, Router};
use crate::messaging::tickets::{DEFAULT_CALLBACK_TIMEOUT, Open, Tickets};

/// The bytes `acceptBytes` holds back for the `[]` of the array (Java and
/// Node both subtract 2).
const ARRAY_OVERHEAD: usize = 2;

/// Serves requests for one resource path.
pub(crate) trait RequestHandler: Send + Sync {
    /// Handles one request whose effective method the router has already
    /// checked. Runs on a callback-pool thread.
    fn handle(&self, request: &RequestPayload) -> Handled;
}

/// A handler's answer.
#[derive(Debug)]
pub(crate) struct Handled {
    /// The HTTP status of the RESPONSE.
    pub(crate) status: u16,
    /// The RESPONSE body (text).
    pub(crate) body: Vec<u8>,
    /// Messages to queue right after the RESPONSE.
    pub(crate) followups: Vec<Outgoing>,
}

impl Handled {
    /// A response with `status` and a short text body.
    pub(crate) fn status(status: u16, text: impl Into<String>) -> Self {
        Handled {
            status,
            body: text.into().into_bytes(),
            followups: Vec::new(),
        }
    }

    /// 200 `OK`, as Oracle's JS library answers.
    pub(crate) fn ok() -> Self {
        Handled::status(200, "OK")
    }

    /// Adds messages to send after the response.
    pub(crate) fn with_followups(mut self, followups: Vec<Outgoing>) -> Self {
        self.followups = followups;
        self
    }
}

/// Routes and answers requests.
pub(crate) struct Inbound {
    router: RwLock<Router<Arc<dyn RequestHandler>>>,
    spawner: Spawner,
    outbox: Arc<Outbox>,
    /// Server-corrected time for the responses' `eventTime`.
    clock: Clock,
    /// Bytes of requests received and not yet handled.
    pending: AtomicUsize,
    /// `request_buffer_size`.
    buffer_size: usize,
    /// The end of the settle time.
    settle_until: Instant,
    /// Requests for unknown paths received during the settle time, with
    /// their size in the request buffer.
    parked: Mutex<Vec<(Message, usize)>>,
    /// Requests handed to the pool and not yet answered.
    tickets: Tickets,
}

impl fmt::Debug for Inbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbound")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .field("buffer_size", &self.buffer_size)
            .finish_non_exhaustive()
    }
}

impl Inbound {
    /// An empty routing table answering through `outbox`, parking requests
    /// for unknown paths during `settle` from now.
    pub(crate) fn new(
        spawner: Spawner,
        outbox: Arc<Outbox>,
        clock: Clock,
        buffer_size: usize,
        settle: Duration,
    ) -> Self {
        Inbound {
            router: RwLock::new(Router::new()),
            spawner,
            outbox,
            clock,
            pending: AtomicUsize::new(0),
            buffer_size,
            settle_until: Instant::now() + settle,
            parked: Mutex::new(Vec::new()),
            tickets: Tickets::new(DEFAULT_CALLBACK_TIMEOUT),
        }
    }

    /// The same, answering `503` for a handler that takes longer than
    /// `limit` (`request_callback_timeout`).
    pub(crate) fn with_callback_timeout(mut self, limit: Duration) -> Self {
        self.tickets = Tickets::new(limit);
        self
    }

    /// The requests handed to the pool and not yet answered.
    pub(crate) fn tickets(&self) -> &Tickets {
        &self.tickets
    }

    /// Answers `open` with `503` and `text`, for the watchdog and close,
    /// waiting for room in a full queue until `by` at most.
    pub(crate) fn answer_unavailable(&self, open: &Open, text: &str, by: Instant) {
        log::warn!(target: "iotcs::device::inbound", "answering request {:?} with 503: {text}", open.request.id());
        self.pending.fetch_sub(open.size, Ordering::SeqCst);
        let response = Message::response_to(
            &open.request,
            503,
            Headers::new(),
            format!("Service Unavailable: {text}").into_bytes(),
            (self.clock)(),
        );
        let queued = response.and_then(|response| {
            self.outbox
                .try_push_by(
                    vec![Outgoing::new(response.with_priority(Priority::High))],
                    by,
                )
                .map_err(|refused| refused.error)
        });
        if let Err(e) = queued {
            log::warn!(target: "iotcs::device::inbound",
                "the 503 answer to request {:?} could not be queued: {e}",
                open.request.id()
            );
        }
    }

    /// Answers every request still waiting for its handler with `503`
    /// (at close), waiting for room in a full queue until `by` at most.
    pub(crate) fn answer_all_unavailable(&self, text: &str, by: Instant) {
        for open in self.tickets.all() {
            self.answer_unavailable(&open, text, by);
        }
    }

    /// Registers `routes` (path, methods, handler) at `destination`, then
    /// dispatches the parked requests again.
    pub(crate) fn register(
        self: &Arc<Self>,
        destination: &str,
        routes: Vec<(String, &'static [&'static str], Arc<dyn RequestHandler>)>,
    ) {
        {
            let mut router = self.router_mut();
            for (path, methods, handler) in routes {
                router.register(destination, &path, methods, handler);
            }
        }
        let parked = std::mem::take(&mut *self.parked());
        for (message, size) in parked {
            self.spawn_answer(message, size);
        }
    }

    /// Once the settle time is over, dispatches the parked requests for their
    /// final answer. Called by the receiver between polls and at close.
    pub(crate) fn release_parked(self: &Arc<Self>, force: bool) {
        if !force && Instant::now() < self.settle_until {
            return;
        }
        let parked = std::mem::take(&mut *self.parked());
        for (message, size) in parked {
            self.spawn_answer_final(message, size);
        }
    }

    /// How long until parked requests must be released; `None` when none
    /// is parked. The receiver shortens its long poll to this.
    pub(crate) fn settle_remaining(&self) -> Option<Duration> {
        if self.parked().is_empty() {
            None
        } else {
            Some(self.settle_until.saturating_duration_since(Instant::now()))
        }
    }

    /// Drops every handler (at close, which also frees the virtual devices
    /// the handlers hold).
    pub(crate) fn clear(&self) {
        *self.router_mut() = Router::new();
    }

    /// The `acceptBytes` to offer: the request buffer minus what is still
    /// waiting for the pool.
    pub(crate) fn accept_bytes(&self) -> usize {
        self.buffer_size
            .saturating_sub(self.pending.load(Ordering::SeqCst) + ARRAY_OVERHEAD)
    }

    /// The pool, for jobs that are not requests (error callbacks).
    pub(crate) fn spawner(&self) -> &Spawner {
        &self.spawner
    }

    /// Takes the body of a `/messages` response: every REQUEST in it goes to
    /// the pool; anything else is logged and dropped. The requests are
    /// counted in `counters` before any is handed on, so a handler that reads
    /// the counters (the capability resource) sees its own request. Returns
    /// how many requests were taken.
    pub(crate) fn dispatch(self: &Arc<Self>, body: &[u8], counters: &Counters) -> usize {
        let requests: Vec<(Message, usize)> = parse_messages(body)
            .into_iter()
            .filter(|(message, _)| {
                let request = matches!(message.payload(), Payload::Request(_));
                if !request {
                    log::debug!(target: "iotcs::device::inbound",
                        "ignoring a {} message from the server",
                        message.message_type()
                    );
                }
                request
            })
            .collect();
        let taken = requests.len();
        if taken > 0 {
            counters.received(taken, body.len());
        }
        for (message, size) in requests {
            self.pending.fetch_add(size, Ordering::SeqCst);
            self.spawn_answer(message, size);
        }
        taken
    }

    /// Answers `message` on the pool, or parks it during the settle time
    /// when nobody serves its path yet. `size` is released from the request
    /// buffer once it is answered.
    fn spawn_answer(self: &Arc<Self>, message: Message, size: usize) {
        let inbound = Arc::clone(self);
        let ticket = self.tickets.admit(&message, size);
        self.spawner.spawn(Box::new(move || {
            if !inbound.tickets.start(ticket, pool::current_thread()) {
                // Answered 503 while it waited behind a slow callback.
                return;
            }
            // Looked up once: the same lookup parks the request or answers it.
            let lookup = inbound.route(&message);
            if Instant::now() < inbound.settle_until && matches!(lookup, Some(Lookup::NotFound)) {
                if inbound.tickets.claim(ticket) {
                    log::debug!(target: "iotcs::device::inbound",
                        "parking request {:?} until handlers are registered",
                        message.id()
                    );
                    inbound.parked().push((message, size));
                }
                return;
            }
            inbound.finish(ticket, &message, size, lookup);
        }));
    }

    /// Answers `message` on the pool, parked or not.
    fn spawn_answer_final(self: &Arc<Self>, message: Message, size: usize) {
        let inbound = Arc::clone(self);
        let ticket = self.tickets.admit(&message, size);
        self.spawner.spawn(Box::new(move || {
            if inbound.tickets.start(ticket, pool::current_thread()) {
                let lookup = inbound.route(&message);
                inbound.finish(ticket, &message, size, lookup);
            }
        }));
    }

    /// Answers and queues the answer, unless the watchdog answered first.
    fn finish(
        &self,
        ticket: u64,
        message: &Message,
        size: usize,
        lookup: Option<Lookup<Arc<dyn RequestHandler>>>,
    ) {
        let answer = self.answer_routed(message, lookup);
        if !self.tickets.claim(ticket) {
            log::warn!(target: "iotcs::device::inbound",
                "the callback for request {:?} returned after the request was answered 503; \
                 its answer is dropped",
                message.id()
            );
            return;
        }
        self.pending.fetch_sub(size, Ordering::SeqCst);
        self.queue_answer(message, answer);
    }

    /// Queues a request's answer (and what follows it).
    fn queue_answer(&self, request: &Message, answer: Vec<Outgoing>) {
        if !answer.is_empty()
            && let Err(e) = self.outbox.push(answer)
        {
            log::warn!(target: "iotcs::device::inbound",
                "the response to request {:?} could not be queued: {e}",
                request.id()
            );
        }
    }

    /// Whether nothing is registered at the request's destination and path.
    /// The handler of `request` (`None` when it is not a request).
    fn route(&self, request: &Message) -> Option<Lookup<Arc<dyn RequestHandler>>> {
        let Payload::Request(payload) = request.payload() else {
            return None;
        };
        let method = payload.effective_method().to_ascii_uppercase();
        Some(
            self.router
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .lookup(request.destination(), &method, payload.url()),
        )
    }

    fn parked(&self) -> MutexGuard<'_, Vec<(Message, usize)>> {
        // Only pushes and takes; a panic cannot leave the list torn.
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Routes `request`, runs its handler and returns the RESPONSE followed by
    /// the handler's follow-ups (empty when no response can be built).
    #[cfg(test)]
    pub(crate) fn answer(&self, request: &Message) -> Vec<Outgoing> {
        self.answer_routed(request, self.route(request))
    }

    /// Runs the handler `lookup` found for `request` and returns the RESPONSE
    /// followed by the handler's follow-ups (empty when no response can be
    /// built).
    fn answer_routed(
        &self,
        request: &Message,
        lookup: Option<Lookup<Arc<dyn RequestHandler>>>,
    ) -> Vec<Outgoing> {
        let (Payload::Request(payload), Some(lookup)) = (request.payload(), lookup) else {
            return Vec::new();
        };
        let method = payload.effective_method().to_ascii_uppercase();
        let handled = match lookup {
            Lookup::Found(handler) => {
                match catch_unwind(AssertUnwindSafe(|| handler.handle(payload))) {
                    Ok(handled) => handled,
                    Err(_) => {
                        log::error!(target: "iotcs::device::inbound",
                            "a callback panicked while handling {method} {}",
                            payload.url()
                        );
                        Handled::status(500, "Internal Server Error")
                    }
                }
            }
            Lookup::NotFound => Handled::status(404, "Not Found"),
            Lookup::MethodNotAllowed => Handled::status(405, "Method Not Allowed"),
        };
        log::debug!(target: "iotcs::device::inbound", "{method} {} -> {}", payload.url(), handled.status);
        let response = match Message::response_to(
            request,
            handled.status,
            Headers::new(),
            handled.body,
            (self.clock)(),
        ) {
            Ok(response) => response.with_priority(Priority::High),
            Err(e) => {
                log::warn!(target: "iotcs::device::inbound", "cannot answer a request from the server: {e}");
                return Vec::new();
            }
        };
        let mut out = vec![Outgoing::new(response)];
        out.extend(handled.followups);
        out
    }

    fn router_mut(&self) -> RwLockWriteGuard<'_, Router<Arc<dyn RequestHandler>>> {
        // Router updates are single map operations; a panic cannot leave one
        // half done.
        self.router.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The messages of a `/messages` response body, each with its size as
/// received (what it takes of the request buffer; measured on the wire, not
/// by writing the message again), skipping (with a warning) any element that
/// is not a valid message, so one bad element does not hide the others.
fn parse_messages(body: &[u8]) -> Vec<(Message, usize)> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Vec::new();
    }
    // Requests from the cloud carry no credentials: their bodies are what
    // TRACE is for, as the sender's batches are.
    log::trace!(target: "iotcs::device::inbound", "received {}", String::from_utf8_lossy(body));
    // An array of messages, or one message; anything else holds none.
    let items: Result<Vec<&RawValue>, _> = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(body),
        Some(b'{') => serde_json::from_slice::<&RawValue>(body).map(|one| vec![one]),
        _ => serde_json::from_slice::<&RawValue>(body).map(|_| Vec::new()),
    };
    let items = items.unwrap_or_else(|e| {
        log::warn!(target: "iotcs::device::inbound", "the server's messages are not JSON: {e}");
        Vec::new()
    });
    items
        .into_iter()
        .filter_map(|item| {
            let json = item.get();
            match Message::parse(json) {
                Ok(message) => Some((message, json.len())),
                Err(e) => {
                    log::warn!(target: "iotcs::device::inbound", "skipping a message from the server: {e}");
                    None
                }
            }
        })
        .collect()
}

/// Errors of handlers as 400 responses naming the problem.
pub(crate) fn bad_request(error: &Error) -> Handled {
    Handled::status(400, format!("Bad Request: {error}"))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::messaging::pool::CallbackPool;

    struct Fixed(u16);

    impl RequestHandler for Fixed {
        fn handle(&self, _: &RequestPayload) -> Handled {
            Handled::status(self.0, "x")
        }
    }

    struct Panics;

    impl RequestHandler for Panics {
        fn handle(&self, _: &RequestPayload) -> Handled {
            panic!("user bug")
        }
    }

    fn request(destination: &str, method: &str, url: &str, headers: Headers) -> Message {
        Message::request(
            destination,
            "cloud",
            method,
            url,
            headers,
            b"{}".to_vec(),
            1,
        )
        .unwrap()
    }

    fn status_of(out: &[Outgoing]) -> u16 {
        status_of_message(&out[0].message())
    }

    fn status_of_message(message: &Message) -> u16 {
        match message.payload() {
            Payload::Response(r) => r.status_code(),
            other => panic!("{other:?}"),
        }
    }

    fn inbound() -> (Arc<Inbound>, Arc<Outbox>, CallbackPool) {
        let pool = CallbackPool::start(1).unwrap();
        let (outbox, _) = Outbox::new(100, 3);
        let inbound = Arc::new(Inbound::new(
            pool.spawner(),
            outbox.clone(),
            Arc::new(|| 7),
            4192,
            std::time::Duration::ZERO,
        ));
        inbound.register(
            "EP-1",
            vec![
                ("a/b".to_owned(), &["PUT"], Arc::new(Fixed(200))),
                ("boom".to_owned(), &["POST"], Arc::new(Panics)),
            ],
        );
        (inbound, outbox, pool)
    }

    #[test]
    fn every_request_gets_the_right_status() {
        let (inbound, _, mut pool) = inbound();
        let ok = inbound.answer(&request("EP-1", "PUT", "a/b", Headers::new()));
        assert_eq!(status_of(&ok), 200);
        let response = &ok[0].message();
        assert_eq!(response.destination(), "cloud");
        assert_eq!(response.source(), "EP-1");
        assert_eq!(response.event_time(), 7);
        assert_eq!(
            status_of(&inbound.answer(&request("EP-1", "GET", "a/b", Headers::new()))),
            405
        );
        assert_eq!(
            status_of(&inbound.answer(&request("EP-1", "PUT", "a/c", Headers::new()))),
            404
        );
        assert_eq!(
            status_of(&inbound.answer(&request("EP-2", "PUT", "a/b", Headers::new()))),
            404
        );
        assert_eq!(
            status_of(&inbound.answer(&request("EP-1", "POST", "boom", Headers::new()))),
            500
        );
        inbound.clear();
        assert_eq!(
            status_of(&inbound.answer(&request("EP-1", "PUT", "a/b", Headers::new()))),
            404
        );
        pool.stop(Instant::now() + Duration::from_secs(10));
    }

    #[test]
    fn method_override_reaches_the_patch_handler() {
        let (inbound, _, mut pool) = inbound();
        inbound.register(
            "EP-1",
            vec![("attrs".to_owned(), &["PATCH"], Arc::new(Fixed(200)))],
        );
        let mut headers = Headers::new();
        headers.insert("X-HTTP-Method-Override".into(), vec!["patch".into()]);
        assert_eq!(
            status_of(&inbound.answer(&request("EP-1", "POST", "attrs", headers))),
            200
        );
        assert_eq!(
            status_of(&inbound.answer(&request("EP-1", "PATCH", "attrs", Headers::new()))),
            200
        );
        assert_eq!(
            status_of(&inbound.answer(&request("EP-1", "POST", "attrs", Headers::new()))),
            405
        );
        pool.stop(Instant::now() + Duration::from_secs(10));
    }

    #[test]
    fn dispatch_answers_through_the_pool_and_skips_bad_elements() {
        let (inbound, outbox, mut pool) = inbound();
        let good = request("EP-1", "PUT", "a/b", Headers::new()).to_json();
        let data = Message::data("EP-9", "urn:x:attributes", [("a", 1)], 1)
            .unwrap()
            .to_json();
        let body = format!(r#"[{good},{{"type":"REQUEST"}},{data}]"#);
        let counters = Counters::default();
        assert_eq!(inbound.dispatch(body.as_bytes(), &counters), 1);
        assert_eq!(counters.snapshot().messages_received, 1);
        pool.stop(Instant::now() + Duration::from_secs(10));
        let queued = outbox.pop_batch(10);
        assert_eq!(queued.len(), 1);
        assert_eq!(inbound.accept_bytes(), 4190);
        assert_eq!(inbound.dispatch(b"not json", &counters), 0);
        assert_eq!(inbound.dispatch(b"", &counters), 0);
        inbound.clear();
    }

    #[test]
    fn requests_for_unknown_paths_wait_out_the_settle_time() {
        let pool = CallbackPool::start(1).unwrap();
        let (outbox, _) = Outbox::new(100, 3);
        let inbound = Arc::new(Inbound::new(
            pool.spawner(),
            outbox.clone(),
            Arc::new(|| 7),
            4192,
            Duration::from_secs(60),
        ));
        let wait_until = |what: &str, check: &dyn Fn() -> bool| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !check() {
                assert!(Instant::now() < deadline, "{what}");
                std::thread::yield_now();
            }
        };
        let late = request("EP-1", "PUT", "late", Headers::new()).to_json();
        assert_eq!(
            inbound.dispatch(format!("[{late}]").as_bytes(), &Counters::default()),
            1
        );
        wait_until("parked", &|| inbound.settle_remaining().is_some());
        assert!(
            inbound.accept_bytes() < 4190,
            "a parked request holds its buffer space"
        );
        assert_eq!(outbox.len(), 0);
        inbound.register(
            "EP-1",
            vec![("late".to_owned(), &["PUT"], Arc::new(Fixed(200)))],
        );
        wait_until("answered after registration", &|| outbox.len() == 1);
        assert_eq!(
            status_of_message(&outbox.pop_batch(1)[0].item.message()),
            200
        );
        assert_eq!(inbound.settle_remaining(), None);

        let never = request("EP-1", "PUT", "never", Headers::new()).to_json();
        inbound.dispatch(format!("[{never}]").as_bytes(), &Counters::default());
        wait_until("parked", &|| inbound.settle_remaining().is_some());
        inbound.release_parked(false);
        assert!(inbound.settle_remaining().is_some(), "still settling");
        inbound.release_parked(true);
        wait_until("answered at release", &|| outbox.len() == 1);
        assert_eq!(
            status_of_message(&outbox.pop_batch(1)[0].item.message()),
            404
        );
        assert_eq!(inbound.accept_bytes(), 4190);
    }

    struct Blocks(crossbeam_channel::Receiver<()>);

    impl RequestHandler for Blocks {
        fn handle(&self, _: &RequestPayload) -> Handled {
            let _ = self.0.recv();
            Handled::ok()
        }
    }

    #[test]
    fn a_callback_that_does_not_return_in_time_gets_its_request_answered_503() {
        let mut pool = CallbackPool::start(1).unwrap();
        let (outbox, _) = Outbox::new(100, 3);
        let inbound = Arc::new(
            Inbound::new(
                pool.spawner(),
                outbox.clone(),
                Arc::new(|| 7),
                4192,
                Duration::ZERO,
            )
            .with_callback_timeout(Duration::from_millis(100)),
        );
        let (release, blocked) = crossbeam_channel::bounded(0);
        inbound.register(
            "EP-1",
            vec![("slow".to_owned(), &["POST"], Arc::new(Blocks(blocked)))],
        );
        let (stop_tx, stop) = crossbeam_channel::bounded(1);
        let watched = Arc::clone(&inbound);
        let watchdog = std::thread::spawn(move || crate::messaging::watchdog::run(&watched, &stop));
        // The second waits behind the first in the one-thread pool.
        let slow = request("EP-1", "POST", "slow", Headers::new()).to_json();
        let body = format!("[{slow},{slow}]");
        assert_eq!(inbound.dispatch(body.as_bytes(), &Counters::default()), 2);
        let deadline = Instant::now() + Duration::from_secs(10);
        while outbox.len() < 2 {
            assert!(Instant::now() < deadline, "no 503 in time");
            std::thread::yield_now();
        }
        // The stuck callbacks return at last and their answers are dropped.
        // The request behind the first may have started on the replacement
        // thread before its own deadline (the two deadlines differ by the
        // microseconds between the two tickets), so it may be blocked too:
        // closing the channel releases every blocked handler.
        drop(release);
        assert!(pool.stop(Instant::now() + Duration::from_secs(10)));
        stop_tx.send(()).unwrap();
        watchdog.join().unwrap();
        let answers = outbox.pop_batch(10);
        assert_eq!(answers.len(), 2);
        for answer in answers {
            let message = answer.item.message();
            assert_eq!(status_of_message(&message), 503);
            let Payload::Response(response) = message.payload() else {
                unreachable!()
            };
            assert!(
                String::from_utf8_lossy(response.body()).contains("request_callback_timeout"),
                "{message:?}"
            );
        }
        assert_eq!(inbound.accept_bytes(), 4190);
    }
}
