//! The outbound message queue: priority first (HIGHEST before LOWEST), then
//! first-in first-out within a priority, with a per-message retry budget.
//! Its bound, `dispatcher_max_queue_size`, is the outbox's: it counts the
//! messages in flight too ([`crate::messaging::room`]).
//!
//! This is plain state with no IO, no clock and no threads (STYLE practice 8):
//! the sender thread pops batches, posts them, and hands failed batches back
//! with [`OutboundQueue::requeue`], which decides what is retried and what has
//! run out of attempts. Durability lives a layer up, in the outbox.

use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};

/// One queued item with the bookkeeping the queue needs.
#[derive(Debug)]
pub(crate) struct Entry<T, P> {
    /// What is queued (a message plus its delivery bookkeeping).
    pub(crate) item: T,
    /// The lane the item waits in.
    pub(crate) priority: P,
    /// How many more failed attempts the item survives; `None` is unlimited
    /// (`GUARANTEED_DELIVERY`).
    pub(crate) retries_left: Option<u32>,
}

/// Why [`OutboundQueue::push`] refused an item; the item is handed back so
/// the caller can report it rather than lose it.
#[cfg(test)]
#[derive(Debug)]
pub(crate) enum PushError<T> {
    /// The queue no longer accepts items (the device is closing).
    Closed(T),
}

/// A bounded priority queue of outgoing items.
#[derive(Debug)]
pub(crate) struct OutboundQueue<T, P: Ord> {
    /// One FIFO lane per priority; `Reverse` makes iteration start at the
    /// highest priority.
    lanes: BTreeMap<Reverse<P>, VecDeque<Entry<T, P>>>,
    /// Items in all lanes.
    len: usize,
    /// Set once by [`OutboundQueue::close`]; later pushes fail, but what is
    /// queued can still be drained.
    closed: bool,
}

impl<T, P: Ord + Copy> OutboundQueue<T, P> {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        OutboundQueue {
            lanes: BTreeMap::new(),
            len: 0,
            closed: false,
        }
    }

    /// Queues `item` at the back of its priority's lane unless the queue is
    /// closed: the checked push the outbox makes in two steps
    /// ([`is_closed`] under its lock, then [`force_push`]); kept for these
    /// tests.
    ///
    /// `retries` is the number of failed attempts the item survives (`None`:
    /// unlimited).
    ///
    /// [`is_closed`]: OutboundQueue::is_closed
    /// [`force_push`]: OutboundQueue::force_push
    #[cfg(test)]
    pub(crate) fn push(
        &mut self,
        item: T,
        priority: P,
        retries: Option<u32>,
    ) -> Result<(), PushError<T>> {
        if self.closed {
            return Err(PushError::Closed(item));
        }
        self.lanes
            .entry(Reverse(priority))
            .or_default()
            .push_back(Entry {
                item,
                priority,
                retries_left: retries,
            });
        self.len += 1;
        Ok(())
    }

    /// Queues `item` at the back of its lane, closed or not: the outbox has
    /// checked the closed flag and taken the item's place in the bound.
    pub(crate) fn force_push(&mut self, item: T, priority: P, retries: Option<u32>) {
        self.lanes
            .entry(Reverse(priority))
            .or_default()
            .push_back(Entry {
                item,
                priority,
                retries_left: retries,
            });
        self.len += 1;
    }

    /// Removes and returns up to `max` items, highest priority first and in
    /// arrival order within a priority.
    pub(crate) fn pop_batch(&mut self, max: usize) -> Vec<Entry<T, P>> {
        let mut batch = Vec::with_capacity(max.min(self.len));
        for lane in self.lanes.values_mut() {
            while batch.len() < max {
                match lane.pop_front() {
                    Some(entry) => batch.push(entry),
                    None => break,
                }
            }
            if batch.len() == max {
                break;
            }
        }
        self.lanes.retain(|_, lane| !lane.is_empty());
        self.len -= batch.len();
        batch
    }

    /// Hands back a batch whose delivery failed. Each entry uses up one retry;
    /// those with retries left go back to the *front* of their lanes in their
    /// original order (so a retry does not overtake nor fall behind newer
    /// items of the same priority); the exhausted ones are returned.
    ///
    /// Requeued items keep the places in the bound they took when first
    /// pushed.
    pub(crate) fn requeue(&mut self, batch: Vec<Entry<T, P>>) -> Vec<Entry<T, P>> {
        let mut exhausted = Vec::new();
        let mut retry = Vec::new();
        for mut entry in batch {
            match entry.retries_left {
                Some(0) => exhausted.push(entry),
                Some(n) => {
                    entry.retries_left = Some(n - 1);
                    retry.push(entry);
                }
                None => retry.push(entry),
            }
        }
        for entry in retry.into_iter().rev() {
            self.lanes
                .entry(Reverse(entry.priority))
                .or_default()
                .push_front(entry);
            self.len += 1;
        }
        exhausted
    }

    /// Refuses further pushes; queued items stay and can still be popped.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Whether [`OutboundQueue::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether any waiting entry passes `test`, looked at highest priority
    /// first (so a test on the priority stops at the first entry).
    pub(crate) fn any(&self, test: impl FnMut(&Entry<T, P>) -> bool) -> bool {
        self.lanes.values().flatten().any(test)
    }

    /// Whether nothing is waiting.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn items(batch: &[Entry<&'static str, u8>]) -> Vec<&'static str> {
        batch.iter().map(|e| e.item).collect()
    }

    #[test]
    fn highest_priority_first_then_fifo() {
        let mut q = OutboundQueue::new();
        q.push("low-1", 1, Some(3)).unwrap();
        q.push("high-1", 4, Some(3)).unwrap();
        q.push("low-2", 1, Some(3)).unwrap();
        q.push("mid-1", 2, Some(3)).unwrap();
        q.push("high-2", 4, Some(3)).unwrap();
        assert_eq!(
            items(&q.pop_batch(10)),
            ["high-1", "high-2", "mid-1", "low-1", "low-2"]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn batches_are_limited_and_continue_where_they_stopped() {
        let mut q = OutboundQueue::new();
        for (i, name) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            q.push(name, u8::from(i % 2 == 0), None).unwrap();
        }
        assert_eq!(items(&q.pop_batch(2)), ["a", "c"]);
        assert_eq!(q.len(), 3);
        assert_eq!(items(&q.pop_batch(2)), ["e", "b"]);
        assert_eq!(items(&q.pop_batch(2)), ["d"]);
        assert!(q.pop_batch(2).is_empty());
    }

    #[test]
    fn any_looks_at_every_waiting_entry() {
        let mut q = OutboundQueue::new();
        assert!(!q.any(|_| true));
        q.push("low", 1, None).unwrap();
        q.push("high", 4, None).unwrap();
        assert!(q.any(|e| e.item == "low"));
        assert!(q.any(|e| e.priority == 4));
        assert!(!q.any(|e| e.item == "gone"));
        drop(q.pop_batch(1));
        assert!(!q.any(|e| e.item == "high"));
    }

    #[test]
    fn closed_queue_refuses_pushes_but_drains() {
        let mut q = OutboundQueue::new();
        q.push("a", 0, None).unwrap();
        q.close();
        assert!(q.is_closed());
        assert!(matches!(q.push("b", 0, None), Err(PushError::Closed("b"))));
        assert_eq!(items(&q.pop_batch(5)), ["a"]);
    }

    #[test]
    fn requeue_keeps_order_ahead_of_newer_items_and_spends_retries() {
        let mut q = OutboundQueue::new();
        q.push("a", 1, Some(1)).unwrap();
        q.push("b", 1, Some(0)).unwrap();
        q.push("c", 1, None).unwrap();
        let batch = q.pop_batch(3);
        q.push("newer", 1, Some(3)).unwrap();
        let exhausted = q.requeue(batch);
        assert_eq!(items(&exhausted), ["b"]);
        let again = q.pop_batch(10);
        assert_eq!(items(&again), ["a", "c", "newer"]);
        assert_eq!(again[0].retries_left, Some(0));
        assert_eq!(again[1].retries_left, None);
        // The second failure exhausts "a"; unlimited "c" stays.
        let exhausted = q.requeue(again);
        assert_eq!(items(&exhausted), ["a"]);
        assert_eq!(items(&q.pop_batch(10)), ["c", "newer"]);
    }

    proptest! {
        /// Whatever is pushed comes out exactly once, sorted by priority
        /// (highest first) and stable within a priority, in any batch size.
        #[test]
        fn pops_are_a_stable_sort_by_priority(
            priorities in proptest::collection::vec(0u8..5, 0..60),
            batch in 1usize..8,
        ) {
            let mut q = OutboundQueue::new();
            for (i, p) in priorities.iter().enumerate() {
                q.push(i, *p, None).unwrap();
            }
            let mut out = Vec::new();
            loop {
                let b = q.pop_batch(batch);
                if b.is_empty() {
                    break;
                }
                prop_assert!(b.len() <= batch);
                out.extend(b.into_iter().map(|e| e.item));
            }
            let mut expected: Vec<usize> = (0..priorities.len()).collect();
            expected.sort_by_key(|i| Reverse(priorities[*i]));
            prop_assert_eq!(out, expected);
            prop_assert_eq!(q.len(), 0);
        }
    }
}
