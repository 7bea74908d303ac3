//! `mean`, `min`, `max` and `standardDeviation` (spec §7.2): an aggregate
//! of the values offered over a time window that moves by a slide.
//!
//! Values go into buckets of gcd(window, slide) milliseconds, so a window
//! that overlaps the next (slide < window) or leaves a gap before it
//! (slide > window) shares buckets instead of keeping every value. A window
//! `[start, start + window)` expires once `now` reaches its end; its
//! aggregate is emitted with the end as its time, and the next window
//! starts `slide` later. A window without values emits nothing (Oracle's
//! library emitted the largest double for `min`, `5e-324` for the `max` of
//! negative values and nothing for a `mean` whose sum was 0: none of that
//! here). When no value is left in any bucket the window is no longer
//! anchored, and the next value starts a new one at its own time.
//!
//! No IO, no clock: callers pass `now` (epoch milliseconds).

use std::collections::VecDeque;

use iotcs_core::Error;

/// The most buckets a window may need: a window of a day that slides by a
/// millisecond would otherwise hold 86 million of them.
const MAX_BUCKETS: i64 = 10_000;

/// Which aggregate a window computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Aggregate {
    /// `mean`: the arithmetic mean.
    Mean,
    /// `min`: the smallest value.
    Min,
    /// `max`: the largest value.
    Max,
    /// `standardDeviation`: the sample standard deviation (n - 1 in the
    /// denominator; 0 for a single value).
    StandardDeviation,
}

impl Aggregate {
    /// The function id of the policy JSON.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Aggregate::Mean => "mean",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::StandardDeviation => "standardDeviation",
        }
    }
}

/// The values of one bucket, kept as count, mean and sum of squared
/// deviations (Welford), which merge exactly and do not lose precision the
/// way a running sum of squares does.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    count: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Bucket {
    fn add(&mut self, x: f64) {
        self.merge(&Bucket {
            count: 1,
            mean: x,
            m2: 0.0,
            min: x,
            max: x,
        });
    }

    /// Chan et al.'s pairwise combination.
    fn merge(&mut self, other: &Bucket) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let n = (self.count + other.count) as f64;
        let delta = other.mean - self.mean;
        let other_share = other.count as f64 / n;
        self.m2 += other.m2 + delta * delta * self.count as f64 * other_share;
        self.mean += delta * other_share;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    fn result(&self, aggregate: Aggregate) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match aggregate {
            Aggregate::Mean => self.mean,
            Aggregate::Min => self.min,
            Aggregate::Max => self.max,
            Aggregate::StandardDeviation if self.count == 1 => 0.0,
            Aggregate::StandardDeviation => (self.m2 / (self.count - 1) as f64).sqrt(),
        })
    }
}

/// One window function's state.
#[derive(Debug)]
pub(crate) struct Window {
    aggregate: Aggregate,
    window: i64,
    slide: i64,
    /// gcd(window, slide): the span of one bucket.
    span: i64,
    /// The start of the current window; `None` until a value arrives, and
    /// again once every bucket is empty.
    start: Option<i64>,
    /// Bucket `i` holds the values of `[start + i * span, start + (i + 1) * span)`.
    buckets: VecDeque<Bucket>,
}

impl Window {
    /// A window of `window` ms moving by `slide` ms (0 means `window`).
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `window` is not positive or `slide` negative.
    pub(crate) fn new(aggregate: Aggregate, window: i64, slide: i64) -> Result<Self, Error> {
        let id = aggregate.id();
        if window <= 0 {
            return Err(Error::argument(format!(
                "{id}: window must be a positive number of milliseconds, not {window}"
            )));
        }
        if slide < 0 {
            return Err(Error::argument(format!(
                "{id}: slide must be 0 or a positive number of milliseconds, not {slide}"
            )));
        }
        let slide = if slide == 0 { window } else { slide };
        let span = gcd(window, slide);
        if window.max(slide) / span > MAX_BUCKETS {
            return Err(Error::argument(format!(
                "{id}: window {window} ms and slide {slide} ms share no divisor above {span} ms, \
                 which needs more than {MAX_BUCKETS} buckets; pick a window and slide with a larger common divisor"
            )));
        }
        Ok(Window {
            aggregate,
            window,
            slide,
            span,
            start: None,
            buckets: VecDeque::new(),
        })
    }

    /// Adds a value offered at `now`, after emitting the windows that ended
    /// by then (each as `(aggregate, window end)`).
    pub(crate) fn offer(&mut self, now: i64, value: f64) -> Vec<(f64, i64)> {
        let emitted = self.expire(now);
        let start = *self.start.get_or_insert(now);
        // A clock stepped back puts the value in the first bucket rather
        // than before the window.
        let index = (now.saturating_sub(start).max(0) / self.span) as usize;
        if self.buckets.len() <= index {
            self.buckets.resize(index + 1, Bucket::default());
        }
        self.buckets[index].add(value);
        emitted
    }

    /// Emits every window that ended by `now`, oldest first, as
    /// `(aggregate, window end)`; empty windows emit nothing.
    pub(crate) fn expire(&mut self, now: i64) -> Vec<(f64, i64)> {
        let mut emitted = Vec::new();
        while let Some(start) = self.start {
            let end = start.saturating_add(self.window);
            if now < end {
                break;
            }
            let in_window = (self.window / self.span) as usize;
            let mut total = Bucket::default();
            for bucket in self.buckets.iter().take(in_window) {
                total.merge(bucket);
            }
            if let Some(result) = total.result(self.aggregate) {
                emitted.push((result, end));
            }
            let leaving = ((self.slide / self.span) as usize).min(self.buckets.len());
            self.buckets.drain(..leaving);
            self.start = if self.buckets.iter().all(|b| b.count == 0) {
                self.buckets.clear();
                None
            } else {
                Some(start.saturating_add(self.slide))
            };
        }
        emitted
    }

    /// The function id of the policy JSON.
    pub(crate) fn id(&self) -> &'static str {
        self.aggregate.id()
    }

    /// When the current window ends, if one is open: the timer's next
    /// deadline for this function.
    pub(crate) fn deadline(&self) -> Option<i64> {
        self.start.map(|s| s.saturating_add(self.window))
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(aggregate: Aggregate, window: i64, slide: i64) -> Window {
        Window::new(aggregate, window, slide).unwrap()
    }

    #[test]
    fn mean_of_a_window_is_emitted_at_its_end_and_not_before() {
        let mut w = window(Aggregate::Mean, 1000, 0);
        assert!(w.offer(0, 1.0).is_empty());
        assert!(w.offer(500, 2.0).is_empty());
        assert!(w.offer(999, 3.0).is_empty());
        assert_eq!(w.deadline(), Some(1000));
        assert!(w.expire(999).is_empty());
        assert_eq!(w.expire(1000), vec![(2.0, 1000)]);
        assert!(
            w.expire(5000).is_empty(),
            "nothing twice, nothing for empty windows"
        );
        assert_eq!(w.deadline(), None);
    }

    #[test]
    fn a_zero_sum_mean_is_emitted() {
        let mut w = window(Aggregate::Mean, 100, 0);
        w.offer(0, -5.0);
        w.offer(10, 5.0);
        assert_eq!(w.expire(100), vec![(0.0, 100)]);
    }

    #[test]
    fn min_and_max_of_negative_values() {
        let mut min = window(Aggregate::Min, 100, 0);
        let mut max = window(Aggregate::Max, 100, 0);
        for (t, x) in [(0, -3.0), (10, -7.5), (20, -1.25)] {
            min.offer(t, x);
            max.offer(t, x);
        }
        assert_eq!(min.expire(100), vec![(-7.5, 100)]);
        assert_eq!(max.expire(100), vec![(-1.25, 100)]);
    }

    #[test]
    fn empty_windows_emit_nothing_for_every_aggregate() {
        for a in [
            Aggregate::Mean,
            Aggregate::Min,
            Aggregate::Max,
            Aggregate::StandardDeviation,
        ] {
            let mut w = window(a, 100, 0);
            assert!(w.expire(10_000).is_empty());
            assert_eq!(w.deadline(), None);
        }
    }

    #[test]
    fn standard_deviation_is_the_sample_one() {
        let mut w = window(Aggregate::StandardDeviation, 1000, 0);
        for (i, x) in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
            .into_iter()
            .enumerate()
        {
            w.offer(i as i64 * 100, x);
        }
        let (sd, end) = w.expire(1000)[0];
        assert_eq!(end, 1000);
        // Sum of squared deviations 32 over n - 1 = 7.
        assert!((sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-12, "{sd}");
        let mut one = window(Aggregate::StandardDeviation, 10, 0);
        one.offer(0, 42.0);
        assert_eq!(one.expire(10), vec![(0.0, 10)]);
    }

    #[test]
    fn a_slide_shorter_than_the_window_shares_values_between_windows() {
        // Window 300, slide 100: windows [0,300), [100,400), [200,500).
        let mut w = window(Aggregate::Mean, 300, 100);
        w.offer(0, 1.0);
        w.offer(150, 2.0);
        w.offer(250, 3.0);
        assert_eq!(w.expire(300), vec![(2.0, 300)]);
        w.offer(350, 10.0);
        // [100,400) holds 2, 3, 10.
        assert_eq!(w.expire(400), vec![(5.0, 400)]);
        // [200,500) holds 3, 10; [300,600) holds 10; then nothing is left.
        assert_eq!(w.expire(600), vec![(6.5, 500), (10.0, 600)]);
        assert_eq!(w.deadline(), None);
    }

    #[test]
    fn min_and_std_use_every_bucket_of_an_overlapping_window() {
        // Oracle's library used too few buckets here; window 5, slide 2.
        let mut min = window(Aggregate::Min, 5, 2);
        let mut sd = window(Aggregate::StandardDeviation, 5, 2);
        for (t, x) in [(0, 9.0), (4, 1.0)] {
            min.offer(t, x);
            sd.offer(t, x);
        }
        assert_eq!(min.expire(5), vec![(1.0, 5)]);
        let (s, _) = sd.expire(5)[0];
        assert!((s - 32f64.sqrt()).abs() < 1e-12, "{s}");
    }

    #[test]
    fn a_slide_longer_than_the_window_skips_the_gap() {
        // Window 100, slide 300: windows [0,100), [300,400).
        let mut w = window(Aggregate::Max, 100, 300);
        w.offer(0, 1.0);
        assert_eq!(w.offer(150, 50.0), vec![(1.0, 100)]);
        // 150 fell in the gap after the first window: the window restarted
        // at 150 because nothing else was held.
        assert_eq!(w.expire(250), vec![(50.0, 250)]);
    }

    #[test]
    fn values_far_apart_restart_the_window_without_a_long_loop() {
        let mut w = window(Aggregate::Mean, 1, 1);
        w.offer(0, 1.0);
        assert_eq!(w.offer(i64::MAX / 2, 3.0), vec![(1.0, 1)]);
        assert_eq!(w.expire(i64::MAX), vec![(3.0, i64::MAX / 2 + 1)]);
    }

    #[test]
    fn bad_parameters_are_errors_naming_the_function() {
        let e = Window::new(Aggregate::Mean, 0, 0).unwrap_err().to_string();
        assert!(e.contains("mean") && e.contains("window"), "{e}");
        let e = Window::new(Aggregate::Max, 10, -1).unwrap_err().to_string();
        assert!(e.contains("max") && e.contains("slide"), "{e}");
        let e = Window::new(Aggregate::Min, 86_400_000, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("min") && e.contains("buckets"), "{e}");
    }
}
