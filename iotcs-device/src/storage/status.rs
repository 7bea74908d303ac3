//! [`SyncStatus`] and [`SyncEvent`]: where a storage object's content stands
//! and what its `on_sync` callback hears.

use std::fmt;

use crate::storage::object::StorageObject;
use crate::virtual_device::VirtualDevice;

/// Where a storage object's content stands with the storage cloud.
/// Reference: `StorageObject.SyncStatus`.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum SyncStatus {
    /// The upload or download is complete. Reference: `IN_SYNC`.
    InSync,
    /// The content has not been uploaded or downloaded. Reference:
    /// `NOT_IN_SYNC`.
    NotInSync,
    /// The upload or download failed. Reference: `SYNC_FAILED`.
    SyncFailed,
    /// An upload or download is queued or running. Reference:
    /// `SYNC_PENDING`.
    SyncPending,
}

impl SyncStatus {
    /// The reference's name: `IN_SYNC`, `NOT_IN_SYNC`, `SYNC_FAILED`,
    /// `SYNC_PENDING`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SyncStatus::InSync => "IN_SYNC",
            SyncStatus::NotInSync => "NOT_IN_SYNC",
            SyncStatus::SyncFailed => "SYNC_FAILED",
            SyncStatus::SyncPending => "SYNC_PENDING",
        }
    }
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A storage object's content was synchronized with the storage cloud, or
/// failed to be. Passed to the [`StorageObject::on_sync`] callback.
/// Reference: `StorageObject.SyncEvent`.
#[derive(Clone, Debug)]
pub struct SyncEvent {
    source: StorageObject,
    name: Option<String>,
    virtual_device: Option<VirtualDevice>,
}

impl SyncEvent {
    pub(crate) fn new(
        source: StorageObject,
        name: Option<String>,
        virtual_device: Option<VirtualDevice>,
    ) -> Self {
        SyncEvent {
            source,
            name,
            virtual_device,
        }
    }

    /// The storage object; its [`StorageObject::sync_status`] says whether
    /// the transfer succeeded. Reference: `getSource()`.
    pub fn source(&self) -> &StorageObject {
        &self.source
    }

    /// The attribute or field whose value the object is, or `None` when
    /// [`StorageObject::sync`] was called on its own. Reference: `getName()`.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The virtual device whose message carries the object, or `None` when
    /// [`StorageObject::sync`] was called on its own. Reference:
    /// `getVirtualDevice()`.
    pub fn virtual_device(&self) -> Option<&VirtualDevice> {
        self.virtual_device.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_the_reference_names() {
        let all = [
            SyncStatus::InSync,
            SyncStatus::NotInSync,
            SyncStatus::SyncFailed,
            SyncStatus::SyncPending,
        ];
        let names: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            ["IN_SYNC", "NOT_IN_SYNC", "SYNC_FAILED", "SYNC_PENDING"]
        );
    }
}
