//! The storage threads' stop signal: `close` sets it, and a transfer that
//! waits before a retry wakes at once instead of sleeping out its pause.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Set once, by `close`; never cleared.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Stop {
    // Every write is one assignment, so a poisoned lock still holds a
    // whole value.
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.set.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `close` asked the transfers to stop.
    pub(crate) fn is_set(&self) -> bool {
        *self.lock()
    }

    /// Asks every transfer to stop, and wakes those that wait.
    pub(crate) fn set(&self) {
        *self.lock() = true;
        self.changed.notify_all();
    }

    /// Waits up to `total`, or until the signal is set; returns whether it
    /// is set.
    pub(crate) fn wait(&self, total: Duration) -> bool {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, total, |set| !*set)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::Stop;

    #[test]
    fn a_wait_ends_when_the_signal_is_set() {
        let stop = Arc::new(Stop::default());
        assert!(!stop.wait(Duration::from_millis(1)));
        let setter = Arc::clone(&stop);
        let started = Instant::now();
        let thread = std::thread::spawn(move || setter.set());
        // Far longer than the test runs: only the signal can end it.
        assert!(stop.wait(Duration::from_secs(600)));
        assert!(started.elapsed() < Duration::from_secs(600));
        thread.join().unwrap();
        assert!(stop.is_set());
    }
}
