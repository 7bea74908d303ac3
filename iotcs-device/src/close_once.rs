//! [`CloseOnce`]: the state of a handle's `close(&self)`, so that a device
//! shared in an `Arc` closes once, whichever thread asks first, and every
//! caller gets the same result.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use iotcs_core::Error;

/// How long past the first caller's deadline the others wait for its
/// result: the close is bounded by that deadline, so this only covers the
/// time to store the result and wake them.
const WAIT_GRACE: Duration = Duration::from_secs(1);

enum State {
    Open,
    /// A thread is closing, bounded by `deadline`.
    Closing {
        deadline: Instant,
    },
    /// Closed, with the result every caller gets.
    Closed(Result<(), Error>),
}

/// Open, closing or closed, with the result of the one close that ran.
pub(crate) struct CloseOnce {
    state: Mutex<State>,
    done: Condvar,
}

impl Default for CloseOnce {
    fn default() -> Self {
        CloseOnce {
            state: Mutex::new(State::Open),
            done: Condvar::new(),
        }
    }
}

impl std::fmt::Debug for CloseOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_open() { "open" } else { "closed" })
    }
}

impl CloseOnce {
    // A panic while the lock is held cannot leave the state half-written:
    // every write is one assignment.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether no close has started.
    pub(crate) fn is_open(&self) -> bool {
        matches!(*self.lock(), State::Open)
    }

    /// The first caller runs `close`, which must finish by `deadline`; every
    /// later or concurrent caller waits for its result (until the first
    /// caller's deadline and a second) and gets a clone of it.
    ///
    /// # Errors
    ///
    /// The result of `close`; [`Error::Timeout`] for a waiter whose wait
    /// ran out (the first close did not finish, e.g. it panicked).
    pub(crate) fn run(
        &self,
        deadline: Instant,
        close: impl FnOnce() -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut state = self.lock();
        match &*state {
            State::Open => {
                *state = State::Closing { deadline };
                drop(state);
                let result = close();
                *self.lock() = State::Closed(result.clone());
                self.done.notify_all();
                result
            }
            State::Closing { deadline } => {
                let until = *deadline + WAIT_GRACE;
                loop {
                    if let State::Closed(result) = &*state {
                        return result.clone();
                    }
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Timeout {
                            operation: "waiting for another thread's close of the device".into(),
                        });
                    }
                    state = self
                        .done
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            State::Closed(result) => result.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;

    use super::*;

    #[test]
    fn the_first_caller_closes_and_every_caller_gets_its_result() {
        let once = Arc::new(CloseOnce::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + Duration::from_secs(30);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (once, runs) = (Arc::clone(&once), Arc::clone(&runs));
                thread::spawn(move || {
                    once.run(deadline, || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Err(Error::state("thread x panicked"))
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(
                t.join().expect("no panic"),
                Err(Error::state("thread x panicked"))
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(!once.is_open());
        // Later callers too, without running it again.
        assert_eq!(
            once.run(deadline, || Ok(())),
            Err(Error::state("thread x panicked"))
        );
    }

    #[test]
    fn a_waiter_gives_up_after_the_first_callers_deadline() {
        let once = CloseOnce::default();
        // The first close "never finishes": its deadline is already past.
        let past = Instant::now()
            .checked_sub(WAIT_GRACE)
            .unwrap_or_else(Instant::now);
        *once.lock() = State::Closing { deadline: past };
        let e = once.run(Instant::now(), || Ok(())).unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    }
}
