//! The sender thread (`iotcs-sender`): drains the outbox in batches of up to
//! `dispatcher_max_messages_per_connection`, highest priority first, one
//! `POST /iot/api/v2/messages` per batch.
//!
//! A failed batch goes back to the front of the queue with one retry spent
//! per message; messages out of retries are reported to their listeners.
//! After a failure the thread pauses for `message_dispatcher_backoff` before
//! trying again (a fixed pause; the growing back-off of spec §8.4 comes with
//! issue 5). On stop it closes the outbox, makes one attempt at every batch
//! still queued, and hands what could not be sent back to its owner.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, select_biased};
use iotcs_core::Error;
use iotcs_core::message::{Message, write_json_array};

use crate::inbound::Inbound;
use crate::outbox::{Outbox, Outgoing};
use crate::rest::{RestClient, transport_error};
use crate::transport::HttpRequest;

/// The messages endpoint.
pub(crate) const MESSAGES_PATH: &str = "/iot/api/v2/messages";

/// How the sender behaves, from the configuration.
#[derive(Clone, Debug)]
pub(crate) struct SenderSettings {
    /// `dispatcher_max_messages_per_connection`.
    pub(crate) batch_max: usize,
    /// Whether responses to our POSTs may carry requests: only when long
    /// polling is off (with long polling, Java sends `acceptBytes=0` and
    /// requests come on the long poll).
    pub(crate) accept_requests: bool,
    /// The pause after a failed POST (`message_dispatcher_backoff`).
    pub(crate) retry_pause: Duration,
    /// `[logging] pretty_print_messages`, for the trace log of sent batches.
    pub(crate) pretty_print: bool,
}

/// What the sender leaves behind when it stops.
#[derive(Debug, Default)]
pub(crate) struct SenderExit {
    /// Messages that could not be sent before the thread stopped.
    pub(crate) unsent: Vec<Outgoing>,
    /// Why the first of them failed.
    pub(crate) error: Option<Error>,
}

/// The sender actor.
pub(crate) struct Sender {
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) rest: Arc<RestClient>,
    pub(crate) inbound: Arc<Inbound>,
    pub(crate) settings: SenderSettings,
    /// Reused for every batch's JSON.
    pub(crate) buffer: Vec<u8>,
}

impl Sender {
    /// The thread body: wakes on `wake`, stops when `stop` receives or
    /// disconnects.
    pub(crate) fn run(mut self, stop: &Receiver<()>, wake: &Receiver<()>) -> SenderExit {
        'running: loop {
            select_biased! {
                recv(stop) -> _ => break 'running,
                recv(wake) -> _ => {}
            }
            loop {
                let batch = self.outbox.pop_batch(self.settings.batch_max);
                if batch.is_empty() {
                    break;
                }
                if let Err(e) = self.post(batch.iter().map(|entry| &entry.item.message)) {
                    log::warn!("sending {} message(s) failed: {e}", batch.len());
                    for entry in self.outbox.requeue(batch) {
                        report_failed(&entry.item, &e);
                    }
                    select_biased! {
                        recv(stop) -> _ => break 'running,
                        default(self.settings.retry_pause) => {}
                    }
                } else {
                    for entry in &batch {
                        if let Some(listener) = &entry.item.listener {
                            listener.delivered(&entry.item.message);
                        }
                    }
                }
            }
        }
        self.flush()
    }

    /// The last pass at stop: no new messages, one attempt per batch, and
    /// after the first failure no more network calls.
    fn flush(mut self) -> SenderExit {
        self.outbox.close();
        let mut exit = SenderExit::default();
        loop {
            let batch = self.outbox.pop_batch(self.settings.batch_max);
            if batch.is_empty() {
                break;
            }
            if exit.error.is_none() {
                match self.post(batch.iter().map(|entry| &entry.item.message)) {
                    Ok(()) => {
                        for entry in &batch {
                            if let Some(listener) = &entry.item.listener {
                                listener.delivered(&entry.item.message);
                            }
                        }
                        continue;
                    }
                    Err(e) => {
                        log::warn!("could not send the queued messages before closing: {e}");
                        exit.error = Some(e);
                    }
                }
            }
            exit.unsent
                .extend(batch.into_iter().map(|entry| entry.item));
        }
        exit
    }

    /// POSTs one batch; hands any requests in the answer to the inbound side.
    fn post<'a>(&mut self, messages: impl Iterator<Item = &'a Message>) -> Result<(), Error> {
        self.buffer.clear();
        write_json_array(messages, &mut self.buffer);
        if log::log_enabled!(log::Level::Trace) {
            log::trace!(
                "sending {}",
                render(&self.buffer, self.settings.pretty_print)
            );
        }
        let accept = if self.settings.accept_requests {
            self.inbound.accept_bytes()
        } else {
            0
        };
        let path = format!("{MESSAGES_PATH}?acceptBytes={accept}");
        let response = self
            .rest
            .call(HttpRequest::post(path, self.buffer.clone()))?;
        if !response.is_success() {
            return Err(transport_error("POST", MESSAGES_PATH, &response));
        }
        if accept > 0 {
            self.inbound.dispatch(&response.body);
        }
        Ok(())
    }
}

/// Tells a message's listener it was given up.
pub(crate) fn report_failed(item: &Outgoing, error: &Error) {
    log::warn!(
        "giving up on {} message {}: {error}",
        item.message.message_type(),
        item.message.client_id()
    );
    if let Some(listener) = &item.listener {
        listener.failed(&item.message, error);
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
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use iotcs_core::message::{Priority, Reliability};

    use super::*;
    use crate::outbox::DeliveryListener;
    use crate::pool::CallbackPool;
    use crate::transport::memory::{MemoryTransport, json};

    #[derive(Default)]
    struct Counts {
        delivered: AtomicUsize,
        failed: AtomicUsize,
    }

    impl DeliveryListener for Counts {
        fn delivered(&self, _: &Message) {
            self.delivered.fetch_add(1, Ordering::SeqCst);
        }
        fn failed(&self, _: &Message, _: &Error) {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Rig {
        sender: Sender,
        transport: Arc<MemoryTransport>,
        outbox: Arc<Outbox>,
        _pool: CallbackPool,
    }

    fn rig(
        batch_max: usize,
        answer: impl Fn(&HttpRequest) -> Result<crate::transport::HttpResponse, Error>
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
            crate::rest::system_clock(),
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
            accept_requests: false,
            retry_pause: Duration::from_millis(1),
            pretty_print: true,
        };
        let sender = Sender {
            outbox: outbox.clone(),
            rest,
            inbound,
            settings,
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

    fn data(n: i64, priority: Priority) -> Message {
        Message::data("EP-1", "urn:x:attributes", [("n", n)], 0)
            .unwrap()
            .with_priority(priority)
    }

    fn posted(transport: &MemoryTransport) -> Vec<Vec<serde_json::Value>> {
        transport
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.1.starts_with(MESSAGES_PATH))
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
                .send(vec![Outgoing::with_listener(data(n, p), counts.clone())])
                .unwrap();
        }
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        // Stop is checked first, so everything goes out in the final flush.
        stop_tx.send(()).unwrap();
        let exit = rig.sender.run(&stop, &wake);
        assert!(exit.unsent.is_empty() && exit.error.is_none());
        let batches = posted(&rig.transport);
        let order: Vec<Vec<i64>> = batches
            .iter()
            .map(|b| {
                b.iter()
                    .map(|m| m["payload"]["data"]["n"].as_i64().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(order, [vec![2, 4], vec![1, 3]]);
        assert_eq!(counts.delivered.load(Ordering::SeqCst), 4);
        assert!(
            rig.outbox
                .send(vec![Outgoing::new(data(5, Priority::Low))])
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
            .send(vec![Outgoing::with_listener(message, counts.clone())])
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
                .send(vec![Outgoing::new(data(n, Priority::Medium))])
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

    #[test]
    fn requests_in_answers_are_dispatched_when_not_long_polling() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let (mut rig, wake) = rig(10, move |req| {
            s.lock().unwrap().push(req.path.clone());
            json(202, "[]")
        });
        rig.sender.settings.accept_requests = true;
        rig.outbox
            .send(vec![Outgoing::new(data(1, Priority::Medium))])
            .unwrap();
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        stop_tx.send(()).unwrap();
        rig.sender.run(&stop, &wake);
        assert_eq!(
            seen.lock().unwrap()[0],
            "/iot/api/v2/messages?acceptBytes=4190"
        );
    }

    #[test]
    fn render_pretty_prints_on_request() {
        assert_eq!(render(b"[1]", false), "[1]");
        assert!(render(b"[1]", true).contains('\n'));
        assert_eq!(render(b"not json", true), "not json");
    }
}
