//! The back-off after failed sends (the sender's) and polls (the
//! receiver's), as plain state: the caller passes `now` in and gets a
//! deadline back, and the jitter comes from an injected random source, so
//! the schedule is unit-tested without clocks or threads (STYLE practice 8).
//!
//! The schedule follows Oracle's Java dispatcher (spec §8.4): Fibonacci
//! multiples of `message_dispatcher_backoff` (1, 1, 2, 3, 5, 8, ... × base),
//! capped, here for every retryable failure (503, 5xx, 408, 429, refused
//! connections, timeouts) rather than 503 only, so a server that is down
//! for minutes is asked about once a minute. Each delay is stretched by a
//! random 0-25 %, so devices that lost the same server do not come back in
//! lock step. Any success resets the schedule.

use std::time::{Duration, Instant};

/// The longest wait between two attempts, whatever the base.
const MAX_CAP: Duration = Duration::from_secs(60);

/// The cap as a multiple of the base (before [`MAX_CAP`]).
const CAP_FACTOR: u32 = 100;

/// A source of random numbers for the jitter.
pub(crate) type Random = Box<dyn FnMut() -> u64 + Send>;

/// A random source seeded from the operating system (xorshift64*; the
/// jitter needs spread, not secrecy).
pub(crate) fn system_random() -> Random {
    let mut seed = [0u8; 8];
    // Without OS randomness the jitter degrades to a fixed offset, which is
    // still a correct back-off.
    let _ = iotcs_core::__private::fill_random(&mut seed);
    let mut state = u64::from_le_bytes(seed) | 1;
    Box::new(move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// The back-off state.
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    /// Consecutive failures so far.
    failures: u32,
    random: Random,
}

impl std::fmt::Debug for Backoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backoff")
            .field("base", &self.base)
            .field("cap", &self.cap)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl Backoff {
    /// A schedule starting at `base` (at least 1 ms), capped at 100 × base
    /// or one minute, whichever is less (but never below `base`).
    pub(crate) fn new(base: Duration, random: Random) -> Self {
        let base = base.max(Duration::from_millis(1));
        let cap = base.saturating_mul(CAP_FACTOR).min(MAX_CAP).max(base);
        Backoff {
            base,
            cap,
            failures: 0,
            random,
        }
    }

    /// Records a failure at `now` and returns when to try again.
    pub(crate) fn failed(&mut self, now: Instant) -> Instant {
        self.failures = self.failures.saturating_add(1);
        let delay = self.delay(self.failures);
        let jitter_ppm = (self.random)() % 250_001;
        let jitter = delay.mul_f64(jitter_ppm as f64 / 1_000_000.0);
        now + delay + jitter
    }

    /// Records a success: the next failure starts from the base again.
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// The delay before jitter after `n` consecutive failures (n ≥ 1).
    fn delay(&self, n: u32) -> Duration {
        let (mut a, mut b) = (1u32, 1u32);
        for _ in 1..n {
            (a, b) = (b, a.saturating_add(b));
            if a >= CAP_FACTOR {
                break;
            }
        }
        self.base.saturating_mul(a).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(value: u64) -> Random {
        Box::new(move || value)
    }

    fn schedule(backoff: &mut Backoff, n: usize) -> Vec<u128> {
        let now = Instant::now();
        (0..n)
            .map(|_| (backoff.failed(now) - now).as_millis())
            .collect()
    }

    #[test]
    fn delays_follow_fibonacci_from_the_base_and_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), fixed(0));
        assert_eq!(
            schedule(&mut b, 14),
            [
                100, 100, 200, 300, 500, 800, 1300, 2100, 3400, 5500, 8900, 10_000, 10_000, 10_000
            ]
        );
        assert_eq!(b.failures(), 14);
    }

    #[test]
    fn the_cap_is_one_minute_for_large_bases() {
        let mut b = Backoff::new(Duration::from_secs(1), fixed(0));
        let delays = schedule(&mut b, 20);
        assert_eq!(delays[0], 1000);
        assert_eq!(delays[10], 60_000);
        assert_eq!(*delays.last().unwrap(), 60_000);
        // A base above the cap is used as it is.
        let mut b = Backoff::new(Duration::from_secs(120), fixed(0));
        assert_eq!(schedule(&mut b, 3), [120_000, 120_000, 120_000]);
    }

    #[test]
    fn jitter_stretches_by_at_most_a_quarter() {
        let mut b = Backoff::new(Duration::from_millis(1000), fixed(250_000));
        assert_eq!(schedule(&mut b, 3), [1250, 1250, 2500]);
        let mut b = Backoff::new(Duration::from_millis(1000), system_random());
        for (i, d) in schedule(&mut b, 8).into_iter().enumerate() {
            let plain = [1000, 1000, 2000, 3000, 5000, 8000, 13_000, 21_000][i];
            assert!(d >= plain && d <= plain * 5 / 4, "{i}: {d}");
        }
    }

    #[test]
    fn success_resets_and_zero_base_is_raised() {
        let mut b = Backoff::new(Duration::from_millis(10), fixed(0));
        schedule(&mut b, 5);
        b.succeeded();
        assert_eq!(b.failures(), 0);
        assert_eq!(schedule(&mut b, 2), [10, 10]);
        let mut b = Backoff::new(Duration::ZERO, fixed(0));
        assert_eq!(schedule(&mut b, 1), [1]);
    }
}
