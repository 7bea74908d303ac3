//! The receiver thread (`iotcs-receiver`): fetches requests from the cloud
//! and hands them to the callback pool.
//!
//! With long polling (the default) it keeps one `POST
//! /iot/api/v2/messages?acceptBytes=N&iot.sync&iot.timeout=T` open at a time,
//! so a request queued in the cloud arrives within a round trip. With
//! `disable_long_polling` it polls every `dispatcher_polling_interval`
//! instead. It never runs user code: [`Inbound::dispatch`] queues the
//! requests for the pool and returns.
//!
//! Stopping: the owner drops (or sends on) the stop channel and interrupts
//! the long-poll agent, so a held poll fails at once and the loop sees the
//! stop before its next request.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, TryRecvError, select_biased};
use iotcs_core::__private::protocol::path::MESSAGES;
use iotcs_core::__private::protocol::query::{ACCEPT_BYTES, SYNC, TIMEOUT};

use crate::cloud::rest::RestClient;
use crate::cloud::transport::HttpRequest;
use crate::messaging::backoff::Backoff;
use crate::messaging::counters::Counters;
use crate::messaging::health::Health;
use crate::messaging::inbound::Inbound;

/// How the receiver behaves, from the configuration.
#[derive(Clone, Debug)]
pub(crate) struct ReceiverSettings {
    /// `!disable_long_polling`.
    pub(crate) long_poll: bool,
    /// The `iot.timeout` asked of the server for a long poll.
    pub(crate) hold: Duration,
    /// `dispatcher_polling_interval`: the gap between polls without long
    /// polling.
    pub(crate) polling_interval: Duration,
    /// `send_receive_timeout`: the least time between two empty answers, so
    /// a server that does not hold long polls is not hammered.
    pub(crate) min_spacing: Duration,
}

/// The receiver actor.
#[derive(Debug)]
pub(crate) struct ReceiverLoop {
    pub(crate) rest: Arc<RestClient>,
    pub(crate) inbound: Arc<Inbound>,
    pub(crate) settings: ReceiverSettings,
    /// Received-message counters and the polling interval the cloud may
    /// change (the message-dispatcher capability).
    pub(crate) counters: Arc<Counters>,
    /// The link's state for `status()` and the lost/restored log lines.
    pub(crate) health: Arc<Health>,
    /// The pause after failed polls: the sender's schedule (from
    /// `message_dispatcher_backoff`), so a cloud that is down for hours is
    /// asked about once a minute, not once a second.
    pub(crate) backoff: Backoff,
}

impl ReceiverLoop {
    /// The thread body; returns when `stop` receives or disconnects.
    pub(crate) fn run(mut self, stop: &Receiver<()>) {
        let mut warned_min_accept = false;
        loop {
            if !matches!(stop.try_recv(), Err(TryRecvError::Empty)) {
                return;
            }
            self.inbound.release_parked(false);
            let accept = self.inbound.accept_bytes();
            if accept == 0 {
                // Requests already received fill the buffer; let the pool
                // work through them first.
                if wait(
                    stop,
                    self.settings.min_spacing.max(Duration::from_millis(10)),
                ) {
                    return;
                }
                continue;
            }
            let started = Instant::now();
            let mut request = HttpRequest::post(self.path(accept), b"[]".to_vec());
            request.long_poll = self.settings.long_poll;
            let pause = match self.rest.call(request) {
                Ok(response) if response.is_success() => {
                    self.backoff.succeeded();
                    self.health.succeeded(Instant::now(), SystemTime::now(), 0);
                    let taken = self.inbound.dispatch(&response.body, &self.counters);
                    if let Some(needed) = response.header("x-min-acceptbytes").filter(|v| *v != "0")
                        && !warned_min_accept
                    {
                        log::warn!(target: "iotcs::device::receiver",
                            "a request of {needed} bytes waits in the cloud but only {accept} are accepted \
                             (raise request_buffer_size)"
                        );
                        warned_min_accept = true;
                    }
                    if !self.settings.long_poll {
                        self.counters
                            .polling_interval()
                            .unwrap_or(self.settings.polling_interval)
                    } else if taken == 0 && started.elapsed() < self.settings.min_spacing {
                        self.settings.min_spacing
                    } else {
                        Duration::ZERO
                    }
                }
                Ok(response) => {
                    log::warn!(target: "iotcs::device::receiver",
                        "polling for requests: the server answered {}",
                        response.status
                    );
                    let error = iotcs_core::Error::Transport {
                        status: response.status,
                        method: iotcs_core::__private::protocol::Method::Post.to_string(),
                        path: MESSAGES.to_owned(),
                        body: String::new(),
                    };
                    self.backoff_pause(&error)
                }
                Err(e) => {
                    if !matches!(stop.try_recv(), Err(TryRecvError::Empty)) {
                        return;
                    }
                    log::warn!(target: "iotcs::device::receiver", "polling for requests failed: {e}");
                    self.backoff_pause(&e)
                }
            };
            if !pause.is_zero() && wait(stop, pause) {
                return;
            }
        }
    }

    /// Records a failed poll; the time to wait before the next.
    fn backoff_pause(&mut self, error: &iotcs_core::Error) -> Duration {
        let now = Instant::now();
        // The sender's deadline is the one `status()` reports: a poll's
        // failure does not hold messages back.
        self.health.failed(now, SystemTime::now(), error, None);
        self.backoff.failed(now).saturating_duration_since(now)
    }

    /// The poll's path and query.
    fn path(&self, accept: usize) -> String {
        if self.settings.long_poll {
            // With requests parked for the settle time, come back when it ends
            // to answer them.
            let hold = match self.inbound.settle_remaining() {
                Some(remaining) => self.settings.hold.min(remaining),
                None => self.settings.hold,
            };
            format!(
                "{MESSAGES}?{ACCEPT_BYTES}={accept}&{SYNC}&{TIMEOUT}={}",
                hold.as_secs().max(1)
            )
        } else {
            format!("{MESSAGES}?{ACCEPT_BYTES}={accept}")
        }
    }
}

/// Waits `pause` unless told to stop first; returns whether to stop.
fn wait(stop: &Receiver<()>, pause: Duration) -> bool {
    select_biased! {
        recv(stop) -> _ => true,
        default(pause) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use iotcs_core::message::{Headers, Message};

    use super::*;
    use crate::cloud::transport::HttpResponse;
    use crate::cloud::transport::memory::{MemoryTransport, json};
    use crate::messaging::inbound::{Handled, RequestHandler};
    use crate::messaging::outbox::Outbox;
    use crate::messaging::pool::CallbackPool;

    struct Count(Arc<AtomicUsize>);

    impl RequestHandler for Count {
        fn handle(&self, _: &iotcs_core::message::RequestPayload) -> Handled {
            self.0.fetch_add(1, Ordering::SeqCst);
            Handled::ok()
        }
    }

    /// A receiver against `answer` (tokens are granted), with its pool, its
    /// outbox and the transport that records the calls.
    struct Rig {
        receiver: ReceiverLoop,
        pool: CallbackPool,
        outbox: Arc<Outbox>,
        transport: Arc<MemoryTransport>,
    }

    fn rig(
        long_poll: bool,
        backoff_base: Duration,
        answer: impl Fn(&str) -> Result<HttpResponse, iotcs_core::Error> + Send + Sync + 'static,
    ) -> Rig {
        let transport = Arc::new(MemoryTransport::new(move |req| {
            if req.path.contains("oauth2") {
                return json(
                    200,
                    r#"{"access_token":"t","token_type":"Bearer","expires_in":3600000}"#,
                );
            }
            answer(&req.path)
        }));
        let rest = Arc::new(RestClient::for_activation(
            transport.clone(),
            "EP-1",
            b"s",
            crate::clock::system_clock(),
            1,
        ));
        let pool = CallbackPool::start(1).unwrap();
        let (outbox, _) = Outbox::new(10, 3);
        let inbound = Arc::new(Inbound::new(
            pool.spawner(),
            outbox.clone(),
            Arc::new(|| 1),
            4192,
            std::time::Duration::ZERO,
        ));
        let receiver = ReceiverLoop {
            rest,
            inbound,
            settings: ReceiverSettings {
                long_poll,
                hold: Duration::from_secs(30),
                polling_interval: Duration::from_millis(1),
                min_spacing: Duration::from_millis(1),
            },
            counters: Arc::default(),
            health: Arc::default(),
            backoff: Backoff::new(backoff_base, Box::new(|| 0)),
        };
        Rig {
            receiver,
            pool,
            outbox,
            transport,
        }
    }

    fn message_paths(transport: &MemoryTransport) -> Vec<String> {
        transport
            .paths()
            .into_iter()
            .filter(|p| p.starts_with(MESSAGES))
            .collect()
    }

    fn run_until_handled(long_poll: bool) -> (Vec<String>, usize) {
        let request = Message::request(
            "EP-1",
            "cloud",
            "PUT",
            "x",
            Headers::new(),
            b"{}".to_vec(),
            1,
        )
        .unwrap();
        let body = format!("[{}]", request.to_json());
        let polls = AtomicUsize::new(0);
        // The first poll fails, the second brings the request, later ones nothing.
        let mut rig = rig(long_poll, Duration::from_millis(1), move |_| {
            match polls.fetch_add(1, Ordering::SeqCst) {
                0 => json(503, "busy"),
                1 => json(200, &body),
                _ => json(200, "[]"),
            }
        });
        let handled = Arc::new(AtomicUsize::new(0));
        rig.receiver.inbound.register(
            "EP-1",
            vec![("x".to_owned(), &["PUT"], Arc::new(Count(handled.clone())))],
        );
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let receiver = rig.receiver;
        let thread = std::thread::spawn(move || receiver.run(&stop));
        let deadline = Instant::now() + Duration::from_secs(10);
        while rig.outbox.len() == 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        drop(stop_tx);
        thread.join().unwrap();
        rig.pool.stop(Instant::now() + Duration::from_secs(10));
        (
            message_paths(&rig.transport),
            handled.load(Ordering::SeqCst),
        )
    }

    #[test]
    fn long_poll_delivers_requests_after_a_failed_poll() {
        let (paths, handled) = run_until_handled(true);
        assert_eq!(handled, 1);
        assert_eq!(
            paths[0],
            "/iot/api/v2/messages?acceptBytes=4190&iot.sync&iot.timeout=30"
        );
    }

    #[test]
    fn without_long_polling_it_polls_plainly() {
        let (paths, handled) = run_until_handled(false);
        assert_eq!(handled, 1);
        assert_eq!(paths[0], "/iot/api/v2/messages?acceptBytes=4190");
    }

    #[test]
    fn stop_before_start_makes_no_request() {
        let mut rig = rig(true, Duration::from_millis(1), |_| json(200, "[]"));
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        stop_tx.send(()).unwrap();
        rig.receiver.run(&stop);
        assert!(rig.transport.paths().is_empty());
        rig.pool.stop(Instant::now() + Duration::from_secs(10));
    }

    #[test]
    fn failed_polls_back_off_instead_of_hammering() {
        let polled = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
        let p = Arc::clone(&polled);
        let mut rig = rig(true, Duration::from_millis(10), move |_| {
            p.lock().unwrap().push(Instant::now());
            json(503, "down")
        });
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let receiver = rig.receiver;
        let thread = std::thread::spawn(move || receiver.run(&stop));
        let deadline = Instant::now() + Duration::from_secs(10);
        while polled.lock().unwrap().len() < 5 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        drop(stop_tx);
        thread.join().unwrap();
        rig.pool.stop(Instant::now() + Duration::from_secs(10));
        let polled = polled.lock().unwrap();
        assert!(polled.len() >= 5, "it retried: {} polls", polled.len());
        // Fibonacci pauses of 10, 10, 20 and 30 ms lie between the first
        // five polls (a fixed pause would give 40 ms). A slow machine makes
        // the gap longer, never shorter.
        let span = polled[4] - polled[0];
        assert!(
            span >= Duration::from_millis(70),
            "five polls within {span:?}: no back-off"
        );
    }
}
