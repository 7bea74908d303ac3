//! `batchBySize`, `batchByTime` and `batchByCost` (spec §7.2): hold whole
//! messages and let them out together.
//!
//! - `batchBySize {batchSize}`: out when `batchSize` are held;
//! - `batchByTime {delayLimit}`: out `delayLimit` ms after the first one
//!   was held (the policy timer calls [`Batch::expire`], so nothing waits
//!   for the next offer);
//! - `batchByCost {networkCost}`: held while the device's network (the
//!   shared [`NetworkCostCell`], from `[device_policy] network_cost`,
//!   changeable at run time) costs more than the policy's; out at the next
//!   offer or timer tick once it does not.
//!
//! An ALERT whose severity is at least the function's `alertSeverity`
//! (default CRITICAL) bypasses the batch: it goes out at once and the held
//! messages stay held ([`bypasses`]).
//!
//! The held items are generic: the pipeline holds messages, this unit only
//! decides when they go. Keeping them durable is the caller's part.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use iotcs_core::Error;
use iotcs_core::NetworkCost;
use iotcs_core::message::Severity;

/// The device's current network cost, shared by every `batchByCost` of a
/// device and changed at run time.
#[derive(Clone, Debug, Default)]
pub(crate) struct NetworkCostCell(Arc<AtomicU8>);

impl NetworkCostCell {
    pub(crate) fn new(cost: NetworkCost) -> Self {
        let cell = NetworkCostCell::default();
        cell.set(cost);
        cell
    }

    pub(crate) fn set(&self, cost: NetworkCost) {
        self.0.store(rank(cost), Ordering::Relaxed);
    }

    fn rank(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The order of costs, cheapest first; a cost added to the core's
/// non-exhaustive enum counts as the most costly until it is placed.
fn rank(cost: NetworkCost) -> u8 {
    match cost {
        NetworkCost::Ethernet => 0,
        NetworkCost::Cellular => 1,
        NetworkCost::Satellite => 2,
        _ => u8::MAX,
    }
}

/// Whether an ALERT of `severity` bypasses a batch whose `alertSeverity`
/// is `threshold` (the policy's default is [`Severity::Critical`]).
pub(crate) fn bypasses(severity: Severity, threshold: Severity) -> bool {
    severity >= threshold
}

/// When a batch lets its messages out.
#[derive(Clone, Debug)]
pub(crate) enum Release {
    /// `batchBySize`.
    Size(usize),
    /// `batchByTime`, in ms.
    Time(i64),
    /// `batchByCost`: the most costly network on which to send.
    Cost(NetworkCost, NetworkCostCell),
}

/// One batching function's state.
#[derive(Debug)]
pub(crate) struct Batch<T> {
    release: Release,
    held: Vec<T>,
    /// When the first held item came.
    since: Option<i64>,
}

impl<T> Batch<T> {
    /// # Errors
    ///
    /// [`Error::Argument`] for a size below 1 or a delay that is not
    /// positive.
    pub(crate) fn new(release: Release) -> Result<Self, Error> {
        match release {
            Release::Size(0) => Err(Error::argument(
                "batchBySize: batchSize must be at least 1, not 0",
            )),
            Release::Time(ms) if ms <= 0 => Err(Error::argument(format!(
                "batchByTime: delayLimit must be a positive number of milliseconds, not {ms}"
            ))),
            release => Ok(Batch {
                release,
                held: Vec::new(),
                since: None,
            }),
        }
    }

    /// Holds `item`, offered at `now`; returns what goes out now, oldest
    /// first (empty while the batch holds).
    pub(crate) fn offer(&mut self, now: i64, item: T) -> Vec<T> {
        self.since.get_or_insert(now);
        self.held.push(item);
        let out = match &self.release {
            Release::Size(n) => self.held.len() >= *n,
            Release::Time(_) => self.deadline().is_some_and(|d| now >= d),
            Release::Cost(..) => self.cheap_enough(),
        };
        if out { self.take() } else { Vec::new() }
    }

    /// What goes out at `now` without a new item: an expired
    /// `batchByTime`, or a `batchByCost` whose network became cheap enough.
    pub(crate) fn expire(&mut self, now: i64) -> Vec<T> {
        let out = match &self.release {
            Release::Size(_) => false,
            Release::Time(_) => self.deadline().is_some_and(|d| now >= d),
            Release::Cost(..) => !self.held.is_empty() && self.cheap_enough(),
        };
        if out { self.take() } else { Vec::new() }
    }

    /// When a `batchByTime` holding items lets them out.
    pub(crate) fn deadline(&self) -> Option<i64> {
        match (&self.release, self.since) {
            (Release::Time(ms), Some(since)) => Some(since.saturating_add(*ms)),
            _ => None,
        }
    }

    /// Lets every held item out, whatever the rule says (the policy
    /// changed or went).
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.take()
    }

    /// When it lets its items out.
    pub(crate) fn release(&self) -> &Release {
        &self.release
    }

    /// The items held, oldest first.
    pub(crate) fn held(&self) -> &[T] {
        &self.held
    }

    /// Puts back items held before a restart, oldest first, held since
    /// `now` (a restored `batchByTime` waits its delay again rather than
    /// flooding out at once).
    pub(crate) fn restore(&mut self, now: i64, items: Vec<T>) {
        if !items.is_empty() {
            self.since.get_or_insert(now);
            self.held.extend(items);
        }
    }

    fn cheap_enough(&self) -> bool {
        match &self.release {
            Release::Cost(limit, current) => current.rank() <= rank(*limit),
            _ => false,
        }
    }

    fn take(&mut self) -> Vec<T> {
        self.since = None;
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_size_lets_out_every_n_items_in_order() {
        let mut b = Batch::new(Release::Size(3)).unwrap();
        assert!(b.offer(0, 1).is_empty());
        assert!(b.offer(1, 2).is_empty());
        assert_eq!(b.held(), &[1, 2]);
        assert_eq!(b.offer(2, 3), vec![1, 2, 3]);
        assert!(b.held().is_empty());
        assert!(b.expire(1_000_000).is_empty(), "size never expires");
    }

    #[test]
    fn large_batch_sizes_fire() {
        // Oracle's boxed-integer comparison never fired from 128 on.
        let mut b = Batch::new(Release::Size(200)).unwrap();
        let out: Vec<i32> = (0..200).flat_map(|i| b.offer(i64::from(i), i)).collect();
        assert_eq!(out, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn by_time_lets_out_at_the_delay_after_the_first_item() {
        let mut b = Batch::new(Release::Time(1000)).unwrap();
        assert_eq!(b.deadline(), None);
        assert!(b.offer(100, "a").is_empty());
        assert!(b.offer(600, "b").is_empty());
        assert_eq!(b.deadline(), Some(1100));
        assert!(b.expire(1099).is_empty());
        assert_eq!(b.expire(1100), vec!["a", "b"]);
        assert_eq!(b.deadline(), None);
        // An item offered after the deadline without a tick goes with it.
        b.offer(2000, "c");
        assert_eq!(b.offer(3000, "d"), vec!["c", "d"]);
    }

    #[test]
    fn by_cost_holds_while_the_network_is_too_costly() {
        let network = NetworkCostCell::new(NetworkCost::Satellite);
        let mut b = Batch::new(Release::Cost(NetworkCost::Cellular, network.clone())).unwrap();
        assert!(b.offer(0, 1).is_empty());
        assert!(b.offer(1, 2).is_empty());
        assert!(b.expire(2).is_empty());
        network.set(NetworkCost::Cellular);
        assert_eq!(b.expire(3), vec![1, 2]);
        network.set(NetworkCost::Ethernet);
        assert_eq!(b.offer(4, 3), vec![3], "cheap enough: no holding");
    }

    #[test]
    fn restored_items_come_first_and_wait_the_delay_again() {
        let mut b = Batch::new(Release::Time(100)).unwrap();
        b.restore(50, vec![1, 2]);
        assert_eq!(b.deadline(), Some(150));
        b.offer(60, 3);
        assert_eq!(b.expire(150), vec![1, 2, 3]);
    }

    #[test]
    fn alerts_at_or_above_the_threshold_bypass() {
        assert!(bypasses(Severity::Critical, Severity::Critical));
        assert!(!bypasses(Severity::Significant, Severity::Critical));
        assert!(bypasses(Severity::Normal, Severity::Low));
    }

    #[test]
    fn bad_parameters_are_errors_naming_the_function() {
        let e = Batch::<()>::new(Release::Size(0)).unwrap_err().to_string();
        assert!(e.contains("batchBySize"), "{e}");
        let e = Batch::<()>::new(Release::Time(0)).unwrap_err().to_string();
        assert!(e.contains("batchByTime") && e.contains("delayLimit"), "{e}");
    }
}
