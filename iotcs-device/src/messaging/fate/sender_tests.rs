//! The table of [`crate::messaging::fate`] applied by the sender, against the in-memory
//! transport: requests counted, fates checked, stored copies removed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use iotcs_core::__private::crypto::RsaKeyPair;
use iotcs_core::__private::protocol::path::{MESSAGES, TOKEN};
use iotcs_core::Error;
use iotcs_core::message::{Message, MessageType, Reliability};

use crate::cloud::rest::RestClient;
use crate::cloud::transport::memory::{MemoryTransport, json};
use crate::messaging::backoff::Backoff;
use crate::messaging::counters::Counters;
use crate::messaging::durable::PersistSettings;
use crate::messaging::inbound::Inbound;
use crate::messaging::outbox::{DeliveryListener, Outbox, Outgoing};
use crate::messaging::persist::MessageStore;
use crate::messaging::pool::CallbackPool;
use crate::messaging::sender::{Sender, SenderSettings};

/// The gateway's own endpoint.
const OWN: &str = "GW";

/// One key for every test: generating one takes a moment.
fn key() -> Arc<RsaKeyPair> {
    static KEY: OnceLock<Arc<RsaKeyPair>> = OnceLock::new();
    Arc::clone(KEY.get_or_init(|| Arc::new(RsaKeyPair::generate(2048).unwrap())))
}

/// What became of each message, by `clientId`.
#[derive(Default)]
struct Fates {
    delivered: AtomicUsize,
    failed: Mutex<Vec<(String, String)>>,
}

impl DeliveryListener for Fates {
    fn delivered(&self) {
        self.delivered.fetch_add(1, Ordering::SeqCst);
    }
    fn failed(&self, _: MessageType, json: &str, error: &Error) {
        let source = crate::messaging::fate::source(json)
            .unwrap_or_default()
            .into_owned();
        self.failed
            .lock()
            .unwrap()
            .push((source, error.to_string()));
    }
}

impl Fates {
    fn failed_sources(&self) -> Vec<String> {
        self.failed
            .lock()
            .unwrap()
            .iter()
            .map(|f| f.0.clone())
            .collect()
    }
}

struct Rig {
    sender: Sender,
    /// Carried from round to round, as the sender's thread does.
    vouched: bool,
    transport: Arc<MemoryTransport>,
    outbox: Arc<Outbox>,
    _pool: CallbackPool,
}

impl Rig {
    /// A sender for the activated endpoint [`OWN`] draining `outbox`; the
    /// cloud answers POSTs of messages with `answer`.
    fn new(
        outbox: Arc<Outbox>,
        answer: impl Fn(&str) -> (u16, &'static str) + Send + Sync + 'static,
    ) -> Rig {
        let transport = Arc::new(MemoryTransport::new(move |req| {
            if req.path == TOKEN {
                return json(
                    200,
                    r#"{"access_token":"t","token_type":"Bearer","expires_in":3600000}"#,
                );
            }
            let (status, body) = answer(&String::from_utf8_lossy(&req.body));
            json(status, body)
        }));
        let rest = Arc::new(RestClient::for_activation(
            transport.clone(),
            "ACT",
            b"s",
            crate::clock::system_clock(),
            1,
        ));
        rest.set_endpoint(OWN, key());
        let pool = CallbackPool::start(1).unwrap();
        let inbound = Arc::new(Inbound::new(
            pool.spawner(),
            outbox.clone(),
            Arc::new(|| 1),
            4192,
            Duration::ZERO,
        ));
        let sender = Sender {
            outbox: outbox.clone(),
            rest,
            inbound,
            settings: SenderSettings {
                batch_max: 100,
                batch_wait: Duration::ZERO,
                accept_requests: false,
                pretty_print: false,
            },
            counters: Arc::new(Counters::default()),
            health: Arc::default(),
            backoff: Backoff::new(Duration::from_millis(1), Box::new(|| 0)),
            buffer: Vec::new(),
        };
        Rig {
            sender,
            vouched: false,
            transport,
            outbox,
            _pool: pool,
        }
    }

    /// Queues a message from each of `sources` (in order), all told to
    /// `fates`.
    fn queue(&self, sources: &[&str], fates: &Arc<Fates>) {
        for (n, source) in sources.iter().enumerate() {
            let listener: Arc<dyn DeliveryListener> = fates.clone();
            self.outbox
                .push(vec![Outgoing::with_listener(
                    from(source, n as i64),
                    listener,
                )])
                .unwrap();
        }
    }

    /// One round of the sender over everything queued; whether it backs off.
    fn deliver_all(&mut self) -> bool {
        let batch = self.outbox.pop_batch(100);
        self.sender.deliver(batch, &mut self.vouched).is_some()
    }

    /// The sources of each POST of messages, in order.
    fn posts(&self) -> Vec<Vec<String>> {
        self.transport
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.1.starts_with(MESSAGES))
            .map(|r| {
                serde_json::from_slice::<Vec<serde_json::Value>>(&r.3)
                    .unwrap()
                    .iter()
                    .map(|m| m["source"].as_str().unwrap().to_owned())
                    .collect()
            })
            .collect()
    }

    fn tokens(&self) -> usize {
        self.transport
            .paths()
            .iter()
            .filter(|p| *p == TOKEN)
            .count()
    }
}

fn from(source: &str, n: i64) -> Message {
    Message::data(source, "urn:x:attributes", [("n", n)], 0)
        .unwrap()
        .with_reliability(Reliability::GuaranteedDelivery)
}

/// The cloud refuses every batch holding a message from `bad` with `status`.
fn refusing(
    bad: &'static str,
    status: u16,
) -> impl Fn(&str) -> (u16, &'static str) + Send + Sync + 'static {
    let needle = format!(r#""source":"{bad}""#);
    move |body| {
        if body.contains(&needle) {
            (
                status,
                r#"{"title":"Refused","detail":"source X is not yours"}"#,
            )
        } else {
            (202, "[]")
        }
    }
}

/// A gateway's batch: its own messages and those of three devices, "X"
/// and "Y" with several each, "P" with one.
const MIXED: [&str; 10] = ["X", OWN, "Y", "X", "P", "Y", "X", "Y", OWN, "X"];

/// Delivers [`MIXED`] against a cloud that refuses every batch holding a
/// message from `bad` with `status`; returns the rig and the fates.
fn mixed_batch_refusing(bad: &'static str, status: u16) -> (Rig, Arc<Fates>) {
    let (outbox, _wake) = Outbox::new(100, 3);
    let mut rig = Rig::new(outbox, refusing(bad, status));
    let fates = Arc::new(Fates::default());
    rig.queue(&MIXED, &fates);
    assert!(!rig.deliver_all(), "{status}: no back-off");
    (rig, fates)
}

#[test]
fn a_refused_source_costs_two_requests_and_the_rest_go_through() {
    for status in [403, 404] {
        let (rig, fates) = mixed_batch_refusing("X", status);
        let posts = rig.posts();
        let carrying_x = posts.iter().filter(|p| p.contains(&"X".into())).count();
        // The batch, then one request per source, our own first.
        assert_eq!(carrying_x, 2, "{status}: {posts:?}");
        let sizes: Vec<usize> = posts.iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 2, 4, 3, 1], "{status}: {posts:?}");
        assert!(posts[1].iter().all(|s| s == OWN), "{status}: {posts:?}");
        // No token fetched beyond the first: our own group vouched for it.
        assert_eq!(rig.tokens(), 1, "{status}");
        assert_eq!(fates.delivered.load(Ordering::SeqCst), 6, "{status}");
        assert_eq!(fates.failed_sources(), ["X"; 4], "{status}");
        for (_, text) in fates.failed.lock().unwrap().iter() {
            assert!(text.contains(&status.to_string()), "{text}");
            assert!(text.contains("source X is not yours"), "{text}");
        }
        assert_eq!(rig.outbox.len(), 0, "{status}");
    }
}

#[test]
fn a_batch_from_many_sources_is_split_in_halves_of_whole_sources() {
    let sources: Vec<String> = (0..20).map(|n| format!("S{n}")).collect();
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    let (outbox, _wake) = Outbox::new(100, 3);
    let mut rig = Rig::new(outbox, refusing("S3", 403));
    let fates = Arc::new(Fates::default());
    rig.queue(&sources, &fates);
    assert!(!rig.deliver_all());
    let posts = rig.posts();
    let sizes: Vec<usize> = posts.iter().map(Vec::len).collect();
    // 20 sources, 10, 5, then one request each for S0..S4, and the rest.
    assert_eq!(sizes, [20, 10, 5, 1, 1, 1, 1, 1, 5, 10], "{posts:?}");
    assert_eq!(fates.failed_sources(), ["S3"]);
    assert_eq!(fates.delivered.load(Ordering::SeqCst), 19);
}

#[test]
fn a_poisoned_message_alone_from_its_source_costs_two_requests() {
    for status in [400, 409, 413, 422] {
        let (rig, fates) = mixed_batch_refusing("P", status);
        let posts = rig.posts();
        let carrying_p = posts.iter().filter(|p| p.contains(&"P".into())).count();
        assert_eq!(carrying_p, 2, "{status}: {posts:?}");
        assert_eq!(posts.len(), 5, "{status}: {posts:?}");
        assert_eq!(fates.delivered.load(Ordering::SeqCst), 9, "{status}");
        assert_eq!(fates.failed_sources(), ["P"], "{status}");
        assert_eq!(rig.outbox.len(), 0, "{status}");
    }
}

#[test]
fn a_poisoned_message_among_its_sources_others_is_found_by_halves() {
    // Every message of X is refused one by one: the source's group is
    // halved down to single messages.
    let (rig, fates) = mixed_batch_refusing("X", 400);
    let posts = rig.posts();
    let sizes: Vec<usize> = posts.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 2, 4, 2, 1, 1, 2, 1, 1, 3, 1], "{posts:?}");
    assert_eq!(fates.failed_sources(), ["X"; 4]);
    assert_eq!(fates.delivered.load(Ordering::SeqCst), 6);
}

#[test]
fn a_403_for_our_own_endpoint_is_retried_after_a_token_refresh() {
    let (outbox, _wake) = Outbox::new(100, 3);
    let mut rig = Rig::new(outbox, |_| (403, r#"{"detail":"who are you?"}"#));
    let fates = Arc::new(Fates::default());
    rig.queue(&[OWN, OWN, OWN], &fates);
    assert!(rig.deliver_all(), "backs off");
    assert_eq!(rig.posts().len(), 2, "one retry with a new token");
    assert_eq!(rig.tokens(), 2);
    assert!(fates.failed_sources().is_empty());
    assert_eq!(rig.outbox.len(), 3, "all queued again");
}

#[test]
fn another_source_is_not_condemned_when_our_own_identity_is_refused() {
    // Everything is refused: the 403 is about us, not about X.
    let (outbox, _wake) = Outbox::new(100, 3);
    let mut rig = Rig::new(outbox, |_| (403, r#"{"detail":"who are you?"}"#));
    let fates = Arc::new(Fates::default());
    rig.queue(&["X", OWN, "X"], &fates);
    assert!(rig.deliver_all(), "backs off");
    let posts = rig.posts();
    // The batch, then our own messages with a new token: refused again.
    assert_eq!(posts.len(), 3, "{posts:?}");
    assert!(posts[1].iter().all(|s| s == OWN), "{posts:?}");
    assert!(fates.failed_sources().is_empty());
    assert_eq!(rig.outbox.len(), 3, "all queued again");
}

#[test]
fn a_batch_of_another_source_alone_is_rejected_after_a_token_refresh() {
    let (outbox, _wake) = Outbox::new(100, 3);
    let mut rig = Rig::new(outbox, refusing("X", 403));
    let fates = Arc::new(Fates::default());
    rig.queue(&["X", "X"], &fates);
    assert!(!rig.deliver_all());
    assert_eq!(rig.posts().len(), 2, "sent again with a new token");
    assert_eq!(rig.tokens(), 2);
    assert_eq!(fates.failed_sources(), ["X", "X"]);
    // Nothing new stalls behind them.
    rig.queue(&["Y"], &fates);
    assert!(!rig.deliver_all());
    assert_eq!(fates.delivered.load(Ordering::SeqCst), 1);
}

#[test]
fn a_token_the_cloud_accepted_for_the_last_post_is_not_refreshed() {
    let (outbox, _wake) = Outbox::new(100, 3);
    let mut rig = Rig::new(outbox, refusing("X", 403));
    let fates = Arc::new(Fates::default());
    rig.queue(&["Y"], &fates);
    assert!(!rig.deliver_all());
    // The cloud took the last POST: a 403 for X alone condemns X at once.
    rig.queue(&["X"], &fates);
    assert!(!rig.deliver_all());
    assert_eq!(rig.posts().len(), 2);
    assert_eq!(rig.tokens(), 1);
    assert_eq!(fates.failed_sources(), ["X"]);
}

#[test]
fn statuses_about_the_request_are_retried_and_lose_nothing() {
    for status in [405, 408, 415, 429, 500, 503] {
        let (outbox, _wake) = Outbox::new(100, 3);
        let mut rig = Rig::new(outbox, move |_| (status, "{}"));
        let fates = Arc::new(Fates::default());
        rig.queue(&["X", OWN, "Y"], &fates);
        assert!(rig.deliver_all(), "{status}: backs off");
        assert_eq!(rig.posts().len(), 1, "{status}");
        assert!(fates.failed_sources().is_empty(), "{status}");
        assert_eq!(rig.outbox.len(), 3, "{status}");
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "iotcs-fate-{name}-{}",
        iotcs_core::__private::uuid_v4().unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn durable(dir: &std::path::Path) -> Arc<Outbox> {
    let store = MessageStore::open(&dir.join("msps.db"), OWN).unwrap();
    let persist = PersistSettings {
        store: Arc::new(store),
        max_messages: 100,
    };
    let clock: crate::clock::Clock = Arc::new(|| 1);
    Outbox::durable(100, 3, Duration::ZERO, Some(persist), OWN, clock).0
}

#[cfg(feature = "persistence")] // a durable outbox needs sled
#[test]
fn restored_messages_rejected_for_good_leave_the_store_and_hold_back_nothing() {
    let dir = temp_dir("restored");
    // An earlier run left X's and Y's guaranteed messages in the store.
    let outbox = durable(&dir);
    let fates = Arc::new(Fates::default());
    for (n, source) in ["X", "Y", "X"].iter().enumerate() {
        outbox
            .push(vec![Outgoing::new(from(source, n as i64))])
            .unwrap();
    }
    assert_eq!(outbox.persisted(), 3);
    drop(outbox);
    // This run restores them; the cloud no longer takes X's from us.
    let outbox = durable(&dir);
    let listener: Arc<dyn DeliveryListener> = fates.clone();
    assert_eq!(outbox.restore(&listener).unwrap(), 3);
    let mut rig = Rig::new(outbox, refusing("X", 403));
    assert!(!rig.deliver_all());
    assert_eq!(fates.failed_sources(), ["X", "X"]);
    assert_eq!(fates.delivered.load(Ordering::SeqCst), 1);
    assert_eq!(rig.outbox.persisted(), 0);
    drop(rig);
    // Nothing is left for the next run.
    let outbox = durable(&dir);
    assert_eq!(outbox.restore(&listener).unwrap(), 0);
    drop(outbox);
    std::fs::remove_dir_all(dir).unwrap();
}
