//! `sampleQuality` (spec §7.2): lets through every value (rate 0), about
//! one value in 30 at random (rate -1), or every Nth value (rate N).
//!
//! Oracle's library compared its counter with the rate as boxed integers,
//! so a rate of 128 or more never let anything through; here the count is
//! a plain integer and any positive rate works.

use iotcs_core::Error;

/// How often values pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rate {
    All,
    Random,
    Every(u64),
}

/// One `sampleQuality` function's state.
#[derive(Debug)]
pub(crate) struct Sample {
    rate: Rate,
    /// Values seen since the last one passed.
    seen: u64,
    /// xorshift64* state for rate -1: a sample needs no cryptographic
    /// randomness, only independence from the values.
    random: u64,
}

/// The chance of a value passing at rate -1 is one in this.
const RANDOM_ONE_IN: u64 = 30;

impl Sample {
    /// A sampler of `rate`: 0, -1 or a positive N.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for a rate below -1.
    pub(crate) fn new(rate: i64) -> Result<Self, Error> {
        let mut seed = [0u8; 8];
        // A failed system RNG leaves a fixed seed: sampling still works.
        let _ = iotcs_core::__private::fill_random(&mut seed);
        Self::with_seed(rate, u64::from_le_bytes(seed))
    }

    /// As [`Sample::new`] with a given seed, so tests are repeatable.
    pub(crate) fn with_seed(rate: i64, seed: u64) -> Result<Self, Error> {
        let rate = match rate {
            0 => Rate::All,
            -1 => Rate::Random,
            n if n > 0 => Rate::Every(n.unsigned_abs()),
            n => {
                return Err(Error::argument(format!(
                    "sampleQuality: rate must be 0 (all), -1 (random) or a positive count, not {n}"
                )));
            }
        };
        Ok(Sample {
            rate,
            seen: 0,
            // xorshift never leaves 0.
            random: seed | 1,
        })
    }

    /// Whether the value offered now passes.
    pub(crate) fn pass(&mut self) -> bool {
        match self.rate {
            Rate::All => true,
            Rate::Random => self.next_random().is_multiple_of(RANDOM_ONE_IN),
            Rate::Every(n) => {
                self.seen += 1;
                if self.seen >= n {
                    self.seen = 0;
                    true
                } else {
                    false
                }
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.random;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.random = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(sample: &mut Sample, n: usize) -> Vec<usize> {
        (1..=n).filter(|_| sample.pass()).collect()
    }

    #[test]
    fn rate_zero_passes_everything() {
        let mut s = Sample::with_seed(0, 7).unwrap();
        assert_eq!(passes(&mut s, 5), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn rate_n_passes_every_nth_value() {
        let mut s = Sample::with_seed(3, 7).unwrap();
        assert_eq!(passes(&mut s, 10), vec![3, 6, 9]);
        let mut one = Sample::with_seed(1, 7).unwrap();
        assert_eq!(passes(&mut one, 3), vec![1, 2, 3]);
    }

    #[test]
    fn large_rates_fire_too() {
        // Oracle's boxed-integer comparison never fired from 128 on.
        for rate in [127, 128, 129, 1000] {
            let mut s = Sample::with_seed(rate, 7).unwrap();
            let n = rate as usize;
            assert_eq!(passes(&mut s, 2 * n), vec![n, 2 * n], "rate {rate}");
        }
    }

    #[test]
    fn random_rate_passes_about_one_in_thirty() {
        let mut s = Sample::with_seed(-1, 12345).unwrap();
        let n = passes(&mut s, 30_000).len();
        // Expected 1000; a fair coin of this size stays far inside ±300.
        assert!((700..=1300).contains(&n), "{n} of 30000 passed");
    }

    #[test]
    fn rates_below_minus_one_are_refused() {
        let e = Sample::with_seed(-2, 0).unwrap_err().to_string();
        assert!(e.contains("sampleQuality") && e.contains("-2"), "{e}");
    }
}
