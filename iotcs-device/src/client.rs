//! [`Client`]: what every kind of device client offers, so code can work
//! with a directly-connected device or (later) a gateway alike.

use iotcs_core::Error;
use iotcs_core::model::DeviceModel;

use crate::storage::StorageObject;
use crate::virtual_device::VirtualDevice;

/// A client of the cloud: a directly-connected device or a gateway.
/// Reference: `Client`.
pub trait Client {
    /// A new virtual device for `endpoint_id` implementing `model`.
    /// Reference: `createVirtualDevice(deviceId, deviceModel)`.
    ///
    /// # Errors
    ///
    /// As the implementation documents; at least [`Error::Argument`] when the
    /// device does not implement the model.
    fn create_virtual_device(
        &self,
        endpoint_id: &str,
        model: &DeviceModel,
    ) -> Result<VirtualDevice, Error>;

    /// The device model `urn`, or `None` when the cloud has none (or only a
    /// draft and drafts are not allowed). Reference:
    /// `getDeviceModel(deviceModelUrn)`.
    ///
    /// # Errors
    ///
    /// As the implementation documents; at least the transport errors of
    /// fetching the model.
    fn device_model(&self, urn: &str) -> Result<Option<DeviceModel>, Error>;

    /// A new storage object `name` of `content_type` (`None`:
    /// `application/octet-stream`), under this client's endpoint id.
    /// Reference: `createStorageObject(name, contentType)`.
    ///
    /// # Errors
    ///
    /// As the implementation documents; at least [`Error::Argument`] for an
    /// unusable name and the transport errors of asking the cloud for its
    /// storage container.
    fn create_storage_object(
        &self,
        name: &str,
        content_type: Option<&str>,
    ) -> Result<StorageObject, Error>;
}
