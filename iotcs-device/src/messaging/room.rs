//! The bound `dispatcher_max_queue_size` puts on everything the dispatcher
//! holds: a message takes a [`Place`] when it is queued and gives it back
//! when its fate is settled, not when the sender takes it out of the queue.
//!
//! Why a place that travels with the message: the sender takes batches out
//! of the queue, retries them, splits them and reports their failures; if
//! only the queue counted, every batch in flight would make room for as many
//! new messages again (a bound of 5 accepted 15). The place sits inside the
//! queued message ([`crate::messaging::outbox::Queued`]) through all of that, and
//! dropping it (which happens exactly when the dispatcher lets go of the
//! message: delivered, given up and reported, or handed back at close) frees
//! it and wakes a producer waiting for room. No path has to remember to.
//!
//! Lock order: the room's lock is taken alone or inside the outbox's queue
//! lock, never the other way round, so a place may be dropped anywhere.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the room holds.
#[derive(Debug, Default)]
struct State {
    /// Places taken and not given back.
    held: usize,
    /// Producers waiting for room: only then does a freed place notify.
    waiting: usize,
    /// No more places are given out.
    closed: bool,
}

/// The places of one outbox.
#[derive(Debug)]
pub(crate) struct Room {
    state: Mutex<State>,
    /// Signalled when places are freed or the room closes.
    freed: Condvar,
    /// `dispatcher_max_queue_size`.
    capacity: usize,
}

/// Why [`Room::take`] gave no places.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// The room is closed (the device is closing).
    Closed,
    /// Still full when the wait ended.
    Full,
}

/// One message's place in the bound, given back when dropped.
#[derive(Debug)]
pub(crate) struct Place(Arc<Room>);

/// Places taken together by [`Room::take`], handed out one by one (no
/// allocation for them: a push of one message is the hot path); those not
/// handed out are given back when this is dropped.
#[derive(Debug)]
pub(crate) struct Places {
    room: Arc<Room>,
    left: usize,
}

impl Places {
    /// How many are left to hand out.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.left
    }
}

impl Iterator for Places {
    type Item = Place;

    fn next(&mut self) -> Option<Place> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(Place(Arc::clone(&self.room)))
    }
}

impl Drop for Places {
    fn drop(&mut self) {
        // Each becomes a place and is given back as one.
        for place in self.by_ref() {
            drop(place);
        }
    }
}

impl Room {
    /// An empty room of `capacity` places (at least one).
    pub(crate) fn new(capacity: usize) -> Arc<Room> {
        Arc::new(Room {
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
            capacity: capacity.max(1),
        })
    }

    /// Takes `n` places, waiting up to `wait` for them to be free.
    ///
    /// # Errors
    ///
    /// [`NoRoom::Closed`] once [`Room::close`] was called (also while
    /// waiting); [`NoRoom::Full`] if there was no room when `wait` ended.
    pub(crate) fn take(self: &Arc<Self>, n: usize, wait: Duration) -> Result<Places, NoRoom> {
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(NoRoom::Closed);
            }
            if state.held + n <= self.capacity {
                state.held += n;
                drop(state);
                return Ok(Places {
                    room: Arc::clone(self),
                    left: n,
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoRoom::Full);
            }
            state.waiting += 1;
            // The same invariant as `lock`: a poisoned room is still sound.
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.waiting -= 1;
        }
    }

    /// Takes a place whatever the bound: for messages that must not be
    /// refused (those restored from the store, the overflow alert). They
    /// count, so producers wait until the room is back under its capacity.
    pub(crate) fn force(self: &Arc<Self>) -> Place {
        self.lock().held += 1;
        Place(Arc::clone(self))
    }

    /// Gives out no more places and wakes every waiting producer.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.freed.notify_all();
    }

    /// Places taken and not given back.
    pub(crate) fn held(&self) -> usize {
        self.lock().held
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is a counter step or a flag; a panic cannot leave the
        // state torn.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.held = state.held.saturating_sub(1);
        let waiting = state.waiting > 0;
        drop(state);
        if waiting {
            self.0.freed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_held_until_dropped_and_forced_ones_count() {
        let room = Room::new(3);
        let two = room.take(2, Duration::ZERO).unwrap();
        assert_eq!(room.take(2, Duration::ZERO).unwrap_err(), NoRoom::Full);
        let forced = room.force();
        assert_eq!(room.held(), 3);
        assert_eq!(room.take(1, Duration::ZERO).unwrap_err(), NoRoom::Full);
        drop(two);
        drop(forced);
        assert_eq!(room.take(3, Duration::ZERO).unwrap().len(), 3);
        assert_eq!(room.held(), 0, "dropped at once: the places are free");
        room.close();
        assert_eq!(room.take(1, Duration::ZERO).unwrap_err(), NoRoom::Closed);
    }

    #[test]
    fn a_waiting_taker_is_woken_by_a_freed_place_or_by_close() {
        let room = Room::new(1);
        let held = room.take(1, Duration::ZERO).unwrap();
        let r = Arc::clone(&room);
        let waiting =
            std::thread::spawn(move || r.take(1, Duration::from_secs(60)).map(|p| p.len()));
        while room.lock().waiting == 0 {
            std::thread::yield_now();
        }
        drop(held);
        assert_eq!(waiting.join().unwrap(), Ok(1));
        let held = room.take(1, Duration::ZERO).unwrap();
        let r = Arc::clone(&room);
        let waiting =
            std::thread::spawn(move || r.take(1, Duration::from_secs(60)).map(|p| p.len()));
        while room.lock().waiting == 0 {
            std::thread::yield_now();
        }
        room.close();
        assert_eq!(waiting.join().unwrap(), Err(NoRoom::Closed));
        drop(held);
    }
}
