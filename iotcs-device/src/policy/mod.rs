//! Device policies (spec §7): the functions a policy's pipelines are made
//! of, each a small unit with its own state.
//!
//! Every unit is IO-free and clock-free: the caller passes `now` (epoch
//! milliseconds), so tests drive time by hand and one timer can flush the
//! windows and batches of every pipeline of a device. The units that need
//! no formula are here: `window.rs` (`mean`, `min`, `max`,
//! `standardDeviation`), `sample.rs` (`sampleQuality`), `duplicates.rs`
//! (`eliminateDuplicates`, `detectDuplicates`), `batch.rs` (`batchBySize`,
//! `batchByTime`, `batchByCost`, the alert bypass) and `privacy.rs`
//! (`privacyPolicy`).
//!
//! Not yet: the functions built on the formula language (`filterCondition`,
//! `alertCondition`, `actionCondition`, `computedMetric`), the pipelines
//! built from the core's policy model, fetching policies, the timer thread
//! and `VirtualDevice::offer` running them. Until then `offer` is `set`.

pub(crate) mod active;
pub(crate) mod batch;
pub(crate) mod build;
pub(crate) mod context;
pub(crate) mod duplicates;
pub(crate) mod expression;
pub(crate) mod held;
pub(crate) mod model_level;
pub(crate) mod notification;
pub(crate) mod pipeline;
pub(crate) mod privacy;
pub(crate) mod sample;
pub(crate) mod slot;
pub(crate) mod timer;
pub(crate) mod window;
