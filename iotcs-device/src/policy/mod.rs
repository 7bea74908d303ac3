//! Device policies (spec §7): the functions a policy's pipelines are made
//! of, each a small unit with its own state, and what runs them.
//!
//! Every function is IO-free and clock-free: the caller passes `now`
//! (epoch milliseconds), so tests drive time by hand and one timer can
//! flush the windows and batches of every pipeline of a device.
//!
//! - The functions: `window.rs` (`mean`, `min`, `max`,
//!   `standardDeviation`), `sample.rs` (`sampleQuality`), `duplicates.rs`
//!   (`eliminateDuplicates`, `detectDuplicates`), `batch.rs`
//!   (`batchBySize`, `batchByTime`, `batchByCost`, the alert bypass),
//!   `privacy.rs` (`privacyPolicy`); `filterCondition`, `alertCondition`,
//!   `actionCondition` and `computedMetric` are steps of `pipeline.rs`
//!   over the core's formulas, reached through `expression.rs`.
//! - `pipeline.rs`: an attribute's functions in order; `build.rs` makes
//!   them from the core's `DevicePolicy`.
//! - `model_level.rs`: whole messages through a batch; `held.rs` keeps
//!   what it holds durable.
//! - `active.rs` (a running policy), `slot.rs` (what a virtual device
//!   knows of its policy), `waiting.rs` (what waits, durably, for it to
//!   be known), `context.rs` (what a device's virtual devices
//!   share), `timer.rs` (the one policy thread), `notification.rs` (the
//!   `policyChanged` resource).
//!
//! `crate::offer` puts them to work for a virtual device.

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
pub(crate) mod waiting;
pub(crate) mod window;
