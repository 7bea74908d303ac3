//! How the link to the cloud is doing, as the sender and the receiver see
//! it: whether the last exchange succeeded, until when the sender backs
//! off, the last error, the last delivery. The device's `status()` reads a
//! [`Snapshot`] of it.
//!
//! It also decides the two INFO lines of a device's log: when the link is
//! lost (the first failed exchange after a good one) and when it is
//! restored (with how long it was lost and what went through). Further
//! failures while lost stay at DEBUG/WARN in their own modules, and a
//! healthy device logs nothing at INFO here.
//!
//! Plain state: callers pass both clocks in (`Instant` for durations,
//! `SystemTime` for what a person reads), so it is tested without threads.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use iotcs_core::Error;

/// The link's state, shared by the sender, the receiver and `status()`.
#[derive(Debug, Default)]
pub(crate) struct Health {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Whether an exchange has succeeded since the last failure (`false`
    /// before the first exchange).
    connected: bool,
    /// When the link was lost, while it is.
    lost_at: Option<(Instant, SystemTime)>,
    /// Failed exchanges since the link was lost.
    failures: u64,
    /// The sender's back-off deadline, while it waits.
    backing_off_until: Option<SystemTime>,
    last_error: Option<Error>,
    last_delivery: Option<SystemTime>,
}

/// What `status()` reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) connected: bool,
    pub(crate) lost_since: Option<SystemTime>,
    pub(crate) backing_off_until: Option<SystemTime>,
    pub(crate) last_error: Option<Error>,
    pub(crate) last_delivery: Option<SystemTime>,
}

/// A change of the link worth a line at INFO.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Change {
    /// The first failure after a good exchange (or the first exchange).
    Lost,
    /// The first success after failures.
    Restored {
        /// How long the link was lost.
        after: Duration,
        /// Failed exchanges meanwhile.
        failures: u64,
        /// Messages delivered by the exchange that restored it.
        delivered: usize,
    },
}

impl Health {
    /// An exchange succeeded at `now`/`wall`, delivering `delivered`
    /// messages (0 for a poll). Logs and returns a restoration.
    pub(crate) fn succeeded(
        &self,
        now: Instant,
        wall: SystemTime,
        delivered: usize,
    ) -> Option<Change> {
        let mut state = self.lock();
        state.connected = true;
        state.backing_off_until = None;
        if delivered > 0 {
            state.last_delivery = Some(wall);
        }
        let (lost_at, _) = state.lost_at.take()?;
        let change = Change::Restored {
            after: now.saturating_duration_since(lost_at),
            failures: std::mem::take(&mut state.failures),
            delivered,
        };
        drop(state);
        log_change(&change, None);
        Some(change)
    }

    /// An exchange failed at `now`/`wall` with `error`; the sender passes
    /// its back-off deadline. Logs and returns a loss.
    pub(crate) fn failed(
        &self,
        now: Instant,
        wall: SystemTime,
        error: &Error,
        retry_at: Option<Instant>,
    ) -> Option<Change> {
        let mut state = self.lock();
        state.connected = false;
        state.failures += 1;
        state.last_error = Some(error.clone());
        if let Some(at) = retry_at {
            state.backing_off_until = Some(wall + at.saturating_duration_since(now));
        }
        if state.lost_at.is_some() {
            return None;
        }
        state.lost_at = Some((now, wall));
        drop(state);
        log_change(&Change::Lost, Some(error));
        Some(Change::Lost)
    }

    /// The state now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        Snapshot {
            connected: state.connected,
            lost_since: state.lost_at.map(|(_, wall)| wall),
            backing_off_until: state.backing_off_until,
            last_error: state.last_error.clone(),
            last_delivery: state.last_delivery,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update above leaves the state whole before it could panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn log_change(change: &Change, error: Option<&Error>) {
    match (change, error) {
        (Change::Lost, Some(error)) => log::info!(
            target: "iotcs::device::health",
            "connection to the cloud lost: {error}; retrying with back-off"
        ),
        (Change::Lost, None) => log::info!(
            target: "iotcs::device::health",
            "connection to the cloud lost; retrying with back-off"
        ),
        (
            Change::Restored {
                after,
                failures,
                delivered,
            },
            _,
        ) => log::info!(
            target: "iotcs::device::health",
            "connection to the cloud restored after {:.1} s ({failures} failed attempt(s)); \
             {delivered} message(s) delivered on reconnecting",
            after.as_secs_f64()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Error {
        Error::Network {
            reason: "connection refused".into(),
            source: None,
        }
    }

    #[test]
    fn loss_and_restoration_are_reported_once_each() {
        let health = Health::default();
        let (t0, w0) = (Instant::now(), SystemTime::UNIX_EPOCH);
        assert_eq!(health.succeeded(t0, w0, 3), None, "healthy: nothing to say");
        assert!(health.snapshot().connected);
        assert_eq!(health.snapshot().last_delivery, Some(w0));
        let t1 = t0 + Duration::from_secs(1);
        let w1 = w0 + Duration::from_secs(1);
        let retry = t1 + Duration::from_secs(2);
        assert_eq!(
            health.failed(t1, w1, &refused(), Some(retry)),
            Some(Change::Lost)
        );
        assert_eq!(health.failed(t1, w1, &refused(), None), None, "still lost");
        let lost = health.snapshot();
        assert!(!lost.connected);
        assert_eq!(lost.lost_since, Some(w1));
        assert_eq!(lost.backing_off_until, Some(w1 + Duration::from_secs(2)));
        assert_eq!(lost.last_error, Some(refused()));
        let t2 = t1 + Duration::from_secs(5);
        assert_eq!(
            health.succeeded(t2, w1 + Duration::from_secs(5), 4),
            Some(Change::Restored {
                after: Duration::from_secs(5),
                failures: 2,
                delivered: 4
            })
        );
        let back = health.snapshot();
        assert!(back.connected);
        assert_eq!(back.backing_off_until, None);
        assert_eq!(back.lost_since, None);
        assert_eq!(back.last_delivery, Some(w1 + Duration::from_secs(5)));
        // The last error stays for diagnosis.
        assert_eq!(back.last_error, Some(refused()));
    }

    #[test]
    fn a_poll_restores_without_a_delivery() {
        let health = Health::default();
        let (t0, w0) = (Instant::now(), SystemTime::UNIX_EPOCH);
        health.failed(t0, w0, &refused(), None);
        assert!(matches!(
            health.succeeded(t0, w0, 0),
            Some(Change::Restored { delivered: 0, .. })
        ));
        assert_eq!(health.snapshot().last_delivery, None);
    }
}
