//! Storage objects (protocol §9): files attached to URI attributes and
//! fields, uploaded to and downloaded from the storage cloud.
//!
//! - `object.rs`: [`StorageObject`], the user's handle, and its state rules;
//!   `status.rs`: [`SyncStatus`], [`SyncEvent`].
//! - `hub.rs`: the device's storage, owner of the `iotcs-storage-<n>` transfer
//!   threads; `transfer.rs`: the uploads and downloads they run.
//! - `authority.rs`: the container URL and storage token; `http.rs`: the
//!   streamed HTTPS client; `plan.rs`: segments, resume records, retries
//!   (no IO); `names.rs`: names, URLs, dates (no IO).
//!
//! The hold of messages until their object is uploaded is the messaging
//! engine's (`messaging/hold.rs`); `attach.rs` connects a virtual device's
//! values to it.

pub(crate) mod attach;
pub(crate) mod authority;
pub(crate) mod http;
pub(crate) mod hub;
pub(crate) mod names;
pub(crate) mod object;
pub(crate) mod plan;
pub(crate) mod resume;
pub(crate) mod status;
pub(crate) mod stop;
pub(crate) mod transfer;

pub use object::StorageObject;
pub use status::{SyncEvent, SyncStatus};
