//! The outbox: where virtual devices, alerts, data and request handlers put
//! messages for the sender thread.
//!
//! It is the [`OutboundQueue`] behind a mutex plus a wake-up channel. Pushes
//! are synchronous, so a caller learns at once that the queue is full or the
//! device is closing; the sender thread is woken through a one-slot channel
//! (a full slot already means "there is work"). A push into a full queue
//! waits up to `message_queue_waittime` for the sender to make room before it
//! fails. Issue 5 swaps the in-memory queue for a durable one behind the same
//! methods.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use iotcs_core::Error;
use iotcs_core::message::{Message, Priority, Reliability};

use crate::queue::{Entry, OutboundQueue, PushError};

/// Told what became of a message once the sender is done with it. Called on
/// the sender thread, so implementations only record state or hand work to
/// the callback pool; they never run user code.
pub(crate) trait DeliveryListener: Send + Sync {
    /// The server accepted the message.
    fn delivered(&self, message: &Message);
    /// The message was given up: retries exhausted, or the device closed
    /// before it could be sent.
    fn failed(&self, message: &Message, error: &Error);
}

/// A message waiting to be sent, and who wants to hear about it.
pub(crate) struct Outgoing {
    /// The message.
    pub(crate) message: Message,
    /// Told about delivery or failure; `None` for fire-and-forget messages
    /// (responses to requests).
    pub(crate) listener: Option<Arc<dyn DeliveryListener>>,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("client_id", &self.message.client_id())
            .field("type", &self.message.message_type())
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

impl Outgoing {
    /// A message with no listener.
    pub(crate) fn new(message: Message) -> Self {
        Outgoing {
            message,
            listener: None,
        }
    }

    /// A message whose fate `listener` wants to know.
    pub(crate) fn with_listener(message: Message, listener: Arc<dyn DeliveryListener>) -> Self {
        Outgoing {
            message,
            listener: Some(listener),
        }
    }
}

/// The queue shared by producers and the sender thread.
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Mutex<OutboundQueue<Outgoing, Priority>>,
    /// Signalled when the sender takes messages out (or the queue closes),
    /// for pushes waiting for room.
    space: Condvar,
    /// `message_queue_waittime`: how long a push waits for room.
    wait: Duration,
    /// One-slot wake-up for the sender thread.
    wake: Sender<()>,
    /// `max(3, dispatcher_basic_number_of_retries)` (spec §8.4).
    retries_base: u32,
    /// `dispatcher_max_queue_size`, for error messages.
    capacity: usize,
}

impl Outbox {
    /// An empty outbox whose pushes fail at once when it is full, and the
    /// receiving end of its wake-up channel.
    #[cfg(test)]
    pub(crate) fn new(capacity: usize, retries_base: u32) -> (Arc<Outbox>, Receiver<()>) {
        Outbox::with_wait(capacity, retries_base, Duration::ZERO)
    }

    /// An empty outbox whose pushes wait up to `wait` for room.
    pub(crate) fn with_wait(
        capacity: usize,
        retries_base: u32,
        wait: Duration,
    ) -> (Arc<Outbox>, Receiver<()>) {
        let (wake, woken) = crossbeam_channel::bounded(1);
        let outbox = Outbox {
            queue: Mutex::new(OutboundQueue::new(capacity)),
            space: Condvar::new(),
            wait,
            wake,
            retries_base: retries_base.max(3),
            capacity: capacity.max(1),
        };
        (Arc::new(outbox), woken)
    }

    /// How many failed attempts a message of `reliability` survives (spec
    /// §8.4): the base for `NO_GUARANTEE`, twice that for `BEST_EFFORT`,
    /// unlimited for `GUARANTEED_DELIVERY`.
    pub(crate) fn retries_for(&self, reliability: Reliability) -> Option<u32> {
        match reliability {
            Reliability::NoGuarantee => Some(self.retries_base),
            Reliability::BestEffort => Some(self.retries_base * 2),
            Reliability::GuaranteedDelivery => None,
        }
    }

    /// Queues `items` all together or not at all, and wakes the sender.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if a message breaks the wire's size limits;
    /// [`Error::State`] if the queue is full (`dispatcher_max_queue_size`) or
    /// the device is closing.
    pub(crate) fn send(&self, items: Vec<Outgoing>) -> Result<(), Error> {
        for item in &items {
            item.message.check_limits()?;
        }
        let entries = items
            .into_iter()
            .map(|item| {
                let priority = item.message.priority();
                let retries = self.retries_for(item.message.reliability());
                (item, priority, retries)
            })
            .collect::<Vec<_>>();
        let mut queue = self.lock();
        let deadline = Instant::now() + self.wait;
        while !queue.is_closed() && !queue.has_room(entries.len()) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // The same invariant as `lock`: a poisoned queue is still sound.
            queue = self
                .space
                .wait_timeout(queue, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        match queue.push_all(entries) {
            Ok(()) => {
                // A full slot means a wake-up is pending already.
                let _ = self.wake.try_send(());
                Ok(())
            }
            Err(PushError::Full(_)) => Err(Error::state(format!(
                "the outgoing message queue is full (dispatcher_max_queue_size = {})",
                self.capacity
            ))),
            Err(PushError::Closed(_)) => Err(Error::state("the device is closed")),
        }
    }

    /// Removes up to `max` messages, highest priority first.
    pub(crate) fn pop_batch(&self, max: usize) -> Vec<Entry<Outgoing, Priority>> {
        let batch = self.lock().pop_batch(max);
        if !batch.is_empty() {
            self.space.notify_all();
        }
        batch
    }

    /// Puts a failed batch back; returns the entries out of retries.
    pub(crate) fn requeue(
        &self,
        batch: Vec<Entry<Outgoing, Priority>>,
    ) -> Vec<Entry<Outgoing, Priority>> {
        self.lock().requeue(batch)
    }

    /// Refuses new messages from now on; queued ones can still be drained.
    pub(crate) fn close(&self) {
        self.lock().close();
        self.space.notify_all();
    }

    /// Messages waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, OutboundQueue<Outgoing, Priority>> {
        // Every queue operation leaves it consistent before it can panic
        // (there is nothing in them that panics), so a poisoned lock still
        // guards a sound queue.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: i64) -> Message {
        Message::data("EP-1", "urn:x:attributes", [("n", n)], 0).unwrap()
    }

    #[test]
    fn retry_budget_follows_reliability() {
        let (outbox, _) = Outbox::new(10, 1);
        assert_eq!(outbox.retries_for(Reliability::NoGuarantee), Some(3));
        assert_eq!(outbox.retries_for(Reliability::BestEffort), Some(6));
        assert_eq!(outbox.retries_for(Reliability::GuaranteedDelivery), None);
        let (outbox, _) = Outbox::new(10, 5);
        assert_eq!(outbox.retries_for(Reliability::BestEffort), Some(10));
    }

    #[test]
    fn send_wakes_the_sender_once_and_orders_by_priority() {
        let (outbox, woken) = Outbox::new(10, 3);
        outbox.send(vec![Outgoing::new(data(1))]).unwrap();
        outbox
            .send(vec![Outgoing::new(
                data(2).with_priority(Priority::Highest),
            )])
            .unwrap();
        assert!(woken.try_recv().is_ok());
        assert!(woken.try_recv().is_err());
        let batch = outbox.pop_batch(10);
        let first = &batch[0].item.message;
        assert_eq!(first.priority(), Priority::Highest);
        assert_eq!(batch[0].retries_left, Some(6));
        assert_eq!(outbox.len(), 0);
    }

    #[test]
    fn full_and_closed_are_state_errors() {
        let (outbox, _) = Outbox::new(1, 3);
        outbox.send(vec![Outgoing::new(data(1))]).unwrap();
        let e = outbox.send(vec![Outgoing::new(data(2))]).unwrap_err();
        assert!(
            e.to_string().contains("dispatcher_max_queue_size = 1"),
            "{e}"
        );
        outbox.close();
        let e = outbox.send(vec![Outgoing::new(data(3))]).unwrap_err();
        assert_eq!(e.kind(), iotcs_core::ErrorKind::State);
        assert_eq!(outbox.pop_batch(5).len(), 1);
    }

    #[test]
    fn a_full_queue_waits_for_room_then_gives_up() {
        let (outbox, _) = Outbox::with_wait(1, 3, Duration::from_secs(10));
        outbox.send(vec![Outgoing::new(data(1))]).unwrap();
        let o = outbox.clone();
        let waiting = std::thread::spawn(move || o.send(vec![Outgoing::new(data(2))]));
        // The sender makes room: the waiting push goes through.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut popped = 0;
        while popped == 0 && Instant::now() < deadline {
            popped = outbox.pop_batch(1).len();
        }
        assert_eq!(popped, 1);
        waiting.join().unwrap().unwrap();
        assert_eq!(outbox.len(), 1);
        // Without room it gives up after the wait.
        let (outbox, _) = Outbox::with_wait(1, 3, Duration::from_millis(20));
        outbox.send(vec![Outgoing::new(data(1))]).unwrap();
        assert!(outbox.send(vec![Outgoing::new(data(2))]).is_err());
        // Closing wakes a waiting push, which then fails.
        let (outbox, _) = Outbox::with_wait(1, 3, Duration::from_secs(60));
        outbox.send(vec![Outgoing::new(data(1))]).unwrap();
        let o = outbox.clone();
        let waiting = std::thread::spawn(move || o.send(vec![Outgoing::new(data(2))]));
        while outbox.len() == 1 && !waiting.is_finished() {
            outbox.close();
        }
        let e = waiting.join().unwrap().unwrap_err();
        assert!(e.to_string().contains("closed"), "{e}");
    }

    #[test]
    fn oversized_values_are_refused_before_queueing() {
        let (outbox, _) = Outbox::new(10, 3);
        let huge = "x".repeat(70_000);
        let message = Message::data("EP-1", "urn:x:attributes", [("s", huge.as_str())], 0).unwrap();
        assert!(outbox.send(vec![Outgoing::new(message)]).is_err());
        assert_eq!(outbox.len(), 0);
    }
}
