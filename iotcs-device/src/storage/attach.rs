//! Storage objects as values of a virtual device: creating one under the
//! virtual device's endpoint (a gateway's indirectly-connected devices
//! upload under their own endpoint id), finding the object a cloud-set URI
//! names, and, before a message is queued, starting the uploads of the
//! objects it carries so that `messaging/hold.rs` holds it until they are
//! in sync.

use std::sync::Arc;

use iotcs_core::{Error, Value};

use crate::events::ChangeEvent;
use crate::messaging::held_store::ObjectRecord;
use crate::storage::hub::Hub;
use crate::storage::object::StorageObject;
use crate::virtual_device::VirtualDevice;

/// The storage objects among `values` whose upload is pending (started now
/// when one is `NOT_IN_SYNC` with an input path), as the held store
/// records them: the message carrying `values` waits for them.
///
/// # Errors
///
/// The errors of [`StorageObject::sync`]: an input file that cannot be read
/// any more, a device closing.
pub(crate) fn uploads_for<'a>(
    device: &VirtualDevice,
    values: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> Result<Vec<ObjectRecord>, Error> {
    let mut uris = Vec::new();
    let Some(hub) = device.storage() else {
        return Ok(uris);
    };
    for (name, value) in values {
        let Value::Uri(uri) = value else {
            continue;
        };
        let Some(object) = hub.find(uri) else {
            continue;
        };
        if let Some(input) = object.input_path()
            && object.sync_for(Some(name), Some(device))?
        {
            uris.push(record_of(&object, input));
        }
    }
    Ok(uris)
}

/// Describes (`HEAD`) the storage objects among `values`, which the cloud
/// set, and keeps each as its attribute's latest object, so that
/// [`VirtualDevice::storage_object`] hands it to the change callback
/// without asking the storage cloud again. A failure is logged: the callback
/// still gets the URI, and `storage_object` asks again.
pub(crate) fn describe_remote(device: &VirtualDevice, values: &[(String, Value)]) {
    let Some(hub) = device.storage() else {
        return;
    };
    for (name, value) in values {
        let Value::Uri(uri) = value else {
            continue;
        };
        if !hub.is_storage_uri(uri) {
            continue;
        }
        match hub.open(uri) {
            Ok(object) => hub.pin(device.endpoint_id(), name, object),
            Err(e) => {
                log::warn!(target: "iotcs::device::storage", "cannot describe the storage object {uri} of {name}: {e}")
            }
        }
    }
}

/// What it takes to upload `object` from `input` again after a restart.
fn record_of(object: &StorageObject, input: std::path::PathBuf) -> ObjectRecord {
    let content = object.lock();
    ObjectRecord {
        uri: object.uri().to_owned(),
        name: object.name().to_owned(),
        input,
        content_type: content.content_type.clone(),
        encoding: content.encoding.clone(),
        metadata: content.metadata.clone(),
    }
}

fn hub_of(device: &VirtualDevice) -> Result<Arc<Hub>, Error> {
    device.storage().ok_or(Error::Closed)
}

impl VirtualDevice {
    /// A new storage object `name` of this virtual device's endpoint: as
    /// `DirectlyConnectedDevice::create_storage_object`, but prefixed with
    /// this endpoint's id, so that a gateway uploads an indirectly-connected
    /// device's files under that device's own endpoint id.
    ///
    /// # Errors
    ///
    /// As `DirectlyConnectedDevice::create_storage_object`.
    pub fn create_storage_object(
        &self,
        name: &str,
        content_type: Option<&str>,
    ) -> Result<StorageObject, Error> {
        hub_of(self)?.create(self.endpoint_id(), name, content_type)
    }

    /// The storage object a URI value names, to download: `None` when `uri`
    /// is not in the storage cloud (then it is an [`crate::ExternalObject`]).
    /// When the cloud sets a URI attribute to a storage object, the device
    /// describes it with a `HEAD` (length, type, encoding, date, metadata)
    /// before the `on_change` callbacks run, and this returns that object
    /// without asking again; set its output path and `sync` to download it.
    /// In a change callback, [`ChangeEvent::storage_object`] is the shorter
    /// way to the same object.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the device is closed; the `HEAD`'s errors
    /// ([`Error::Transport`] when the object does not exist or the storage
    /// cloud refuses).
    pub fn storage_object(&self, uri: &str) -> Result<Option<StorageObject>, Error> {
        let hub = hub_of(self)?;
        if !hub.is_storage_uri(uri) {
            return Ok(None);
        }
        hub.open(uri).map(Some)
    }
}

impl ChangeEvent {
    /// The storage object the cloud set the first changed attribute to
    /// (the attribute of an `on_change(name, ..)` callback), already
    /// described (`HEAD`) before the callback ran: set its output path and
    /// `sync` to download it. `None` when that value is not a URI of the
    /// storage cloud (an [`crate::ExternalObject`]) or the device could not
    /// describe it (logged; [`VirtualDevice::storage_object`] asks again).
    /// Reference: the `StorageObject` value of the event's `NamedValue`.
    #[must_use]
    pub fn storage_object(&self) -> Option<StorageObject> {
        self.storage_object_of(self.named_value().name())
    }

    /// As [`ChangeEvent::storage_object`], for the changed attribute
    /// `attribute` (an `on_change_any` callback sees every attribute a
    /// request changed).
    #[must_use]
    pub fn storage_object_of(&self, attribute: &str) -> Option<StorageObject> {
        let Some(Value::Uri(uri)) = self.named_value().find(attribute) else {
            return None;
        };
        let device = self.virtual_device();
        device
            .storage()?
            .pinned(device.endpoint_id(), attribute, uri)
    }
}
