//! The tickets of the requests handed to the callback pool and not yet
//! answered: whoever settles a ticket first answers its request (the pool
//! thread, or the watchdog at the deadline; see [`crate::messaging::watchdog`]).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use iotcs_core::message::Message;

use crate::messaging::pool::Retire;

/// `request_callback_timeout`'s default, for an `Inbound` built without a
/// configuration (unit tests).
pub(crate) const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// A request waiting for its answer.
#[derive(Debug)]
pub(crate) struct Open {
    ticket: u64,
    deadline: Instant,
    /// The request, to answer it.
    pub(crate) request: Message,
    /// Its size in the request buffer.
    pub(crate) size: usize,
    /// The pool thread running its handler, once one does.
    pub(crate) running_on: Option<Retire>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    /// In deadline order: every ticket gets now + the same limit.
    open: VecDeque<Open>,
}

/// The open tickets.
#[derive(Debug)]
pub(crate) struct Tickets {
    limit: Duration,
    state: Mutex<State>,
    /// Signalled whenever a ticket is settled.
    settled: Condvar,
    /// Wakes the watchdog thread when a ticket is added.
    wake: Sender<()>,
    pub(crate) woken: Receiver<()>,
}

impl Tickets {
    /// No open ticket; each new one has `limit` to be settled.
    pub(crate) fn new(limit: Duration) -> Self {
        let (wake, woken) = crossbeam_channel::bounded(1);
        Tickets {
            limit,
            state: Mutex::new(State::default()),
            settled: Condvar::new(),
            wake,
            woken,
        }
    }

    /// `request_callback_timeout`.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }

    /// Opens a ticket for `request`, `size` bytes of the request buffer.
    pub(crate) fn admit(&self, request: &Message, size: usize) -> u64 {
        let mut state = self.lock();
        let ticket = state.next;
        state.next += 1;
        // Taken under the lock, so the queue stays in deadline order.
        let deadline = Instant::now() + self.limit;
        state.open.push_back(Open {
            ticket,
            deadline,
            request: request.clone(),
            size,
            running_on: None,
        });
        drop(state);
        let _ = self.wake.try_send(());
        ticket
    }

    /// Records that `thread` runs `ticket`'s handler now; whether the ticket
    /// is still open (when not, its request was answered already and the
    /// handler must not run).
    pub(crate) fn start(&self, ticket: u64, thread: Option<Retire>) -> bool {
        let mut state = self.lock();
        match state.open.iter_mut().find(|o| o.ticket == ticket) {
            Some(open) => {
                open.running_on = thread;
                true
            }
            None => false,
        }
    }

    /// Settles `ticket`; `true` if the caller settled it (and so answers),
    /// `false` if it was settled already.
    pub(crate) fn claim(&self, ticket: u64) -> bool {
        let mut state = self.lock();
        let Some(at) = state.open.iter().position(|o| o.ticket == ticket) else {
            return false;
        };
        state.open.remove(at);
        drop(state);
        self.settled.notify_all();
        true
    }

    /// Settles and returns the tickets whose deadline is `now` or earlier,
    /// and the next deadline.
    pub(crate) fn overdue(&self, now: Instant) -> (Vec<Open>, Option<Instant>) {
        let mut state = self.lock();
        let due = state.open.iter().take_while(|o| o.deadline <= now).count();
        let overdue: Vec<Open> = state.open.drain(..due).collect();
        let next = state.open.front().map(|o| o.deadline);
        drop(state);
        if !overdue.is_empty() {
            self.settled.notify_all();
        }
        (overdue, next)
    }

    /// Settles and returns every open ticket.
    pub(crate) fn all(&self) -> Vec<Open> {
        let open: Vec<Open> = self.lock().open.drain(..).collect();
        self.settled.notify_all();
        open
    }

    /// Waits until no ticket is open or `until` passes; whether none is.
    pub(crate) fn wait_settled(&self, until: Instant) -> bool {
        let mut state = self.lock();
        while !state.open.is_empty() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .settled
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is one push or removal; a panic cannot tear it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use iotcs_core::message::Message;

    use super::*;

    fn request(n: u32) -> Message {
        Message::request(
            "EP-1",
            "cloud",
            "POST",
            format!("a/{n}"),
            iotcs_core::message::Headers::new(),
            Vec::new(),
            1,
        )
        .unwrap()
    }

    #[test]
    fn the_first_to_claim_answers() {
        let tickets = Tickets::new(Duration::from_secs(60));
        let a = tickets.admit(&request(1), 10);
        assert!(tickets.start(a, None));
        assert!(tickets.claim(a));
        assert!(!tickets.claim(a));
        assert!(!tickets.start(a, None));
    }

    #[test]
    fn overdue_tickets_are_settled_in_deadline_order() {
        let tickets = Tickets::new(Duration::ZERO);
        let a = tickets.admit(&request(1), 10);
        let b = tickets.admit(&request(2), 20);
        let (overdue, next) = tickets.overdue(Instant::now());
        assert_eq!(overdue.iter().map(|o| o.size).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(next, None);
        assert!(!tickets.claim(a) && !tickets.claim(b));
        assert!(tickets.wait_settled(Instant::now()));
    }

    #[test]
    fn tickets_within_their_limit_stay_open() {
        let tickets = Tickets::new(Duration::from_secs(60));
        let a = tickets.admit(&request(1), 10);
        let (overdue, next) = tickets.overdue(Instant::now());
        assert!(overdue.is_empty() && next.is_some());
        assert!(!tickets.wait_settled(Instant::now() + Duration::from_millis(20)));
        assert_eq!(tickets.all().len(), 1);
        assert!(!tickets.start(a, None));
        assert!(tickets.wait_settled(Instant::now()));
    }
}
