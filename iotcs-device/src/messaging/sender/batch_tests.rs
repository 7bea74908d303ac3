//! The batching wait of [`crate::messaging::batch_wait`] as the sender thread
//! applies it, against the in-memory transport: POSTs counted, never timed.
//! Where a test must show that something did not wait, the wait is an hour
//! and the test waits at most [`PATIENCE`] for the outcome; where it must
//! show that messages waited for each other, they come far faster than the
//! wait.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use iotcs_core::message::{Headers, Message, Priority};

use super::SenderExit;
use super::tests::{Counts, Rig, data, posted, posted_ns, rig};
use crate::cloud::transport::memory::json;
use crate::messaging::outbox::Outgoing;

/// Longer than any test runs: a wait this long never ends by itself.
const HOUR: Duration = Duration::from_secs(3600);

/// How long a test waits for what must happen soon; generous, so a loaded
/// machine does not fail it.
const PATIENCE: Duration = Duration::from_secs(20);

/// A sender thread with `dispatcher_max_messages_per_connection = batch_max`
/// and `dispatcher_batch_wait = wait`, whose cloud accepts everything.
struct Running {
    rig_outbox: Arc<crate::messaging::outbox::Outbox>,
    transport: Arc<crate::cloud::transport::memory::MemoryTransport>,
    counts: Arc<Counts>,
    stop: crossbeam_channel::Sender<()>,
    /// A second handle on the sender's wake-up channel: empty once the
    /// sender took the last push's wake-up.
    wake: Receiver<()>,
    thread: JoinHandle<SenderExit>,
}

impl Running {
    fn start(batch_max: usize, wait: Duration) -> Running {
        let (
            Rig {
                mut sender,
                transport,
                outbox,
                _pool,
            },
            wake,
        ) = rig(batch_max, |_| json(202, "[]"));
        sender.settings.batch_wait = wait;
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let woken = wake.clone();
        let thread = std::thread::spawn(move || {
            let _pool = _pool;
            sender.run(&stopped, &wake)
        });
        Running {
            rig_outbox: outbox,
            transport,
            counts: Arc::default(),
            stop,
            wake: woken,
            thread,
        }
    }

    /// Queues `message`, heard by the counts.
    fn push(&self, message: Message) {
        self.rig_outbox
            .push(vec![Outgoing::with_listener(message, self.counts.clone())])
            .unwrap();
    }

    fn delivered(&self) -> usize {
        self.counts.delivered.load(Ordering::SeqCst)
    }

    /// Waits until `done` holds, for [`PATIENCE`] at most; whether it did.
    fn until(&self, done: impl Fn(&Running) -> bool) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while !done(self) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// The sizes of the POSTs so far.
    fn sizes(&self) -> Vec<usize> {
        posted(&self.transport).iter().map(Vec::len).collect()
    }

    /// Stops the sender and joins it within [`PATIENCE`]; `None` if it did
    /// not stop by then.
    fn stop(self) -> Option<(SenderExit, Vec<usize>)> {
        self.stop.send(()).unwrap();
        let deadline = Instant::now() + PATIENCE;
        while !self.thread.is_finished() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let sizes = self.sizes();
        Some((self.thread.join().unwrap(), sizes))
    }
}

fn medium(n: i64) -> Message {
    data(n, Priority::Medium)
}

#[test]
fn a_trickle_faster_than_the_wait_shares_posts() {
    let running = Running::start(100, Duration::from_millis(200));
    let count = 40;
    for n in 0..count {
        running.push(medium(n));
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(running.until(|r| r.delivered() == count as usize));
    let posts = running.sizes().len();
    // Without the wait each message would wake an idle sender: one POST each.
    assert!(posts <= count as usize / 4, "{posts} POSTs for {count}");
    running.stop().unwrap();
}

#[test]
fn the_wait_counts_from_the_first_message_not_the_last() {
    // Messages keep coming faster than the wait: if each restarted it, the
    // first would never go while they come.
    let running = Running::start(10_000, Duration::from_millis(50));
    let deadline = Instant::now() + PATIENCE;
    let mut n = 0;
    while running.delivered() == 0 && Instant::now() < deadline {
        running.push(medium(n));
        n += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(running.delivered() > 0, "nothing went out in {n} pushes");
    running.stop().unwrap();
}

#[test]
fn with_no_wait_each_message_goes_at_once() {
    let running = Running::start(100, Duration::ZERO);
    for n in 0..5 {
        running.push(medium(n));
        // Each must go alone: the next is queued only once it is delivered.
        assert!(running.until(|r| r.delivered() == n as usize + 1));
    }
    assert_eq!(running.sizes(), [1, 1, 1, 1, 1]);
    running.stop().unwrap();
}

#[test]
fn a_full_batch_goes_at_once_and_the_rest_waits() {
    let running = Running::start(5, HOUR);
    for n in 0..12 {
        running.push(medium(n));
    }
    assert!(running.until(|r| r.delivered() == 10));
    // The two left wait for more (an hour), until close sends them.
    assert_eq!(running.sizes(), [5, 5]);
    let (exit, sizes) = running.stop().unwrap();
    assert!(exit.unsent.is_empty() && exit.error.is_none());
    assert_eq!(sizes, [5, 5, 2]);
}

#[test]
fn a_highest_priority_message_ends_the_wait() {
    let running = Running::start(100, HOUR);
    running.push(medium(1));
    running.push(data(2, Priority::Highest));
    assert!(running.until(|r| r.delivered() == 2));
    // It takes the message waiting before it along, behind it.
    assert_eq!(posted_ns(&running.transport), [vec![2, 1]]);
    running.stop().unwrap();
}

#[test]
fn a_response_to_a_cloud_request_ends_the_wait() {
    let running = Running::start(100, HOUR);
    running.push(medium(1));
    let request = Message::request(
        "EP-1",
        "cloud",
        "PUT",
        "deviceModels/urn:x/attributes/n",
        Headers::new(),
        b"{\"value\":1}".to_vec(),
        0,
    )
    .unwrap();
    let response = Message::response_to(&request, 200, Headers::new(), Vec::new(), 0).unwrap();
    running
        .rig_outbox
        .push(vec![Outgoing::new(response)])
        .unwrap();
    assert!(running.until(|r| r.sizes() == [2]));
    assert_eq!(running.delivered(), 1);
    running.stop().unwrap();
}

#[test]
fn close_does_not_wait() {
    let running = Running::start(100, HOUR);
    for n in 0..3 {
        running.push(medium(n));
    }
    // Once the sender has taken the last wake-up it is waiting for more.
    assert!(running.until(|r| r.wake.is_empty()));
    assert_eq!(running.delivered(), 0);
    let counts = running.counts.clone();
    let (exit, sizes) = running.stop().expect("close waited for the batch");
    assert!(exit.unsent.is_empty() && exit.error.is_none());
    assert_eq!(sizes, [3]);
    assert_eq!(counts.delivered.load(Ordering::SeqCst), 3);
}
