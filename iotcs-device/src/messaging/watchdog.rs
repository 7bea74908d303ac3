//! Every request from the cloud is answered, also when its user callback
//! never returns.
//!
//! A request handed to the callback pool gets a ticket with a deadline,
//! `request_callback_timeout` from then (so a request queued behind a stuck
//! callback is covered too). Whoever settles the ticket first answers: the
//! pool thread when the handler returns in time, or the watchdog thread
//! (`iotcs-watchdog`) at the deadline, with `503` and a text saying the
//! callback did not answer in time. A handler that returns later finds its
//! ticket settled and its answer is dropped with a warning; a request whose
//! ticket was settled before its turn in the pool is not run at all. At
//! close, the tickets still open when the requests' share of the close
//! timeout ends are answered `503` the same way.
//!
//! A request answered so while its callback still runs holds a pool thread:
//! the watchdog retires that thread and has the pool start another in its
//! place ([`crate::messaging::pool::Spawner::replace`]), so a callback that
//! never returns does not hold back the requests behind it.
//!
//! The thread never runs user code: it only builds responses and queues
//! them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select_biased};

use crate::messaging::inbound::Inbound;

/// How long the watchdog waits for room in a full queue for one answer;
/// the outbox is closed (and the wait ends) at close.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// The body of `iotcs-watchdog`: answers overdue requests until `stop`
/// receives or disconnects.
pub(crate) fn run(inbound: &Arc<Inbound>, stop: &Receiver<()>) {
    let tickets = inbound.tickets();
    loop {
        let (overdue, next) = tickets.overdue(Instant::now());
        let limit = tickets.limit();
        for open in overdue {
            if let Some(stuck) = &open.running_on {
                // Its callback holds a pool thread: let another serve the
                // requests behind it.
                inbound.spawner().replace(stuck);
            }
            inbound.answer_unavailable(
                &open,
                &format!(
                    "the device's callback did not answer within request_callback_timeout ({} ms)",
                    limit.as_millis()
                ),
                Instant::now() + ANSWER_WAIT,
            );
        }
        match next {
            Some(at) => select_biased! {
                recv(stop) -> _ => return,
                recv(tickets.woken) -> _ => {}
                default(at.saturating_duration_since(Instant::now())) => {}
            },
            None => select_biased! {
                recv(stop) -> _ => return,
                recv(tickets.woken) -> _ => {}
            },
        }
    }
}
