//! [`GatewayDevice`]: a directly-connected device that registers
//! indirectly-connected devices with the cloud and proxies their messages.

use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use iotcs_core::__private::crypto::activation::IndirectActivationRequest;
use iotcs_core::model::{DeviceModel, capability};
use iotcs_core::{Config, Error, TrustedAssets};
use iotcs_device::{Client, DirectlyConnectedDevice, Status, StorageObject, VirtualDevice};

use crate::registration::Registration;
use crate::registration::build_request;
use crate::registry::{self, Record, Registry};

/// A gateway: a directly-connected device that registers
/// indirectly-connected devices (sensors behind Modbus, BLE, serial...) with
/// the cloud and proxies their messages. Reference: `GatewayDevice` (a
/// `DirectlyConnectedDevice`).
///
/// ```no_run
/// use iotcs_gateway::{GatewayDevice, Registration};
///
/// const SENSOR: &str = "urn:com:example:iotcs:temperature_sensor";
///
/// let mut gateway = GatewayDevice::open("gateway.tas", "changeit")?;
/// if !gateway.is_activated() {
///     gateway.activate(&[])?;
/// }
/// let endpoint_id = gateway.register_device(
///     Registration::new("modbus-17", &[SENSOR])
///         .metadata(GatewayDevice::MANUFACTURER, "Acme")
///         .metadata(GatewayDevice::PROTOCOL, "Modbus RTU")
///         .metadata(GatewayDevice::PROTOCOL_DEVICE_ID, "17")
///         .restricted(),
/// )?;
/// let model = gateway.device_model(SENSOR)?.expect("the cloud knows the model");
/// let sensor = gateway.create_virtual_device(&endpoint_id, &model)?;
/// sensor.set("temp", 21.5)?; // source: the sensor's endpoint id
/// gateway.close()?;
/// # Ok::<(), iotcs_core::Error>(())
/// ```
///
/// All devices share the gateway's connection and its few threads (see
/// `iotcs_device`'s crate docs): a virtual device is a handle and a few
/// routing-table entries, so thousands of them cost no thread. Requests from
/// the cloud are routed by their `destination` to the virtual device of that
/// endpoint.
pub struct GatewayDevice {
    device: DirectlyConnectedDevice,
    /// Devices registered through this gateway, in this run or an earlier
    /// one (kept in the state directory), with the models each was
    /// registered with, so `create_virtual_device` can refuse an endpoint or
    /// model the cloud would refuse, and works without the network.
    registered: Mutex<Registry>,
}

impl fmt::Debug for GatewayDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayDevice")
            .field("device", &self.device)
            .field("registered", &self.registered().len())
            .finish()
    }
}

impl GatewayDevice {
    /// The metadata key of the device's manufacturer. Reference:
    /// `MANUFACTURER`.
    pub const MANUFACTURER: &'static str = "manufacturer";
    /// The metadata key of the device's model number. Reference:
    /// `MODEL_NUMBER`.
    pub const MODEL_NUMBER: &'static str = "modelNumber";
    /// The metadata key of the device's serial number. Reference:
    /// `SERIAL_NUMBER`.
    pub const SERIAL_NUMBER: &'static str = "serialNumber";
    /// The metadata key of the device's class. Reference: `DEVICE_CLASS`.
    pub const DEVICE_CLASS: &'static str = "deviceClass";
    /// The metadata key of the protocol between gateway and device (Modbus,
    /// BLE...). Reference: `PROTOCOL`.
    pub const PROTOCOL: &'static str = "protocol";
    /// The metadata key of the device's class in that protocol. Reference:
    /// `PROTOCOL_DEVICE_CLASS`.
    pub const PROTOCOL_DEVICE_CLASS: &'static str = "protocolDeviceClass";
    /// The metadata key of the device's id in that protocol (an address).
    /// Reference: `PROTOCOL_DEVICE_ID`.
    pub const PROTOCOL_DEVICE_ID: &'static str = "protocolDeviceId";

    /// Opens the gateway of the trusted assets store at `path`, with the
    /// default configuration. Reference: `GatewayDevice(path, passphrase)`.
    ///
    /// # Errors
    ///
    /// As [`DirectlyConnectedDevice::open`].
    pub fn open(path: impl AsRef<Path>, passphrase: &str) -> Result<Self, Error> {
        GatewayDevice::open_with_config(path, passphrase, Config::default())
    }

    /// As [`GatewayDevice::open`], with `config`.
    ///
    /// # Errors
    ///
    /// As [`DirectlyConnectedDevice::open_with_config`].
    pub fn open_with_config(
        path: impl AsRef<Path>,
        passphrase: &str,
        config: Config,
    ) -> Result<Self, Error> {
        let device = DirectlyConnectedDevice::open_with_config(path, passphrase, config)?;
        let registered = Mutex::new(Registry::load(&device));
        Ok(GatewayDevice { device, registered })
    }

    /// Whether the store holds an activation. Reference: `isActivated()`.
    pub fn is_activated(&self) -> bool {
        self.device.is_activated()
    }

    /// Activates the gateway with the device models it implements itself
    /// (often none): the library adds the capability URNs, including
    /// `indirect_activation`, which makes the endpoint a gateway. Reference:
    /// `activate(deviceModels)`.
    ///
    /// # Errors
    ///
    /// As [`DirectlyConnectedDevice::activate`].
    pub fn activate(&mut self, device_models: &[&str]) -> Result<(), Error> {
        let mut models = device_models.to_vec();
        if !models.contains(&capability::INDIRECT_ACTIVATION) {
            models.push(capability::INDIRECT_ACTIVATION);
        }
        self.device.activate(&models)
    }

    /// The gateway's endpoint id; `None` before activation. Reference:
    /// `getEndpointId()`.
    pub fn endpoint_id(&self) -> Option<&str> {
        self.device.endpoint_id()
    }

    /// The gateway's activation id (client id).
    pub fn activation_id(&self) -> &str {
        self.device.activation_id()
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        self.device.config()
    }

    /// The gateway's trusted assets (read-only; `Debug` shows no secret).
    pub fn trusted_assets(&self) -> &TrustedAssets {
        self.device.trusted_assets()
    }

    /// How the gateway is doing: its link to the cloud, its queued and
    /// persisted messages (its indirectly-connected devices' included:
    /// they share its dispatcher), its last delivery and its counters.
    /// See [`DirectlyConnectedDevice::status`].
    pub fn status(&self) -> Status {
        self.device.status()
    }

    /// The gateway as the directly-connected device it also is.
    pub fn as_directly_connected(&self) -> &DirectlyConnectedDevice {
        &self.device
    }

    /// Registers an indirectly-connected device with the cloud and returns
    /// its endpoint id. Reference: `registerDevice(hardwareId, metaData,
    /// deviceModels, restricted)`.
    ///
    /// The [`Registration`]'s metadata goes to the cloud as given (see the
    /// key constants such as [`GatewayDevice::MANUFACTURER`]). The request is
    /// signed by the rules of the protocol (spec §4): with the device's own
    /// secret when the gateway's provisioning file holds one; else, when
    /// [`Registration::restricted`], with the gateway's key, which locks the device to this
    /// gateway; else not at all. Registering the same hardware id again
    /// returns the same endpoint id (the cloud keeps it), also after a
    /// restart; the metadata and models sent last are the ones kept.
    ///
    /// The registration is recorded in the gateway's state directory
    /// ([`DirectlyConnectedDevice::state_directory`], file
    /// `registrations.json`), so after a restart
    /// [`GatewayDevice::create_virtual_device`] accepts the device without
    /// registering it again, and without the network.
    ///
    /// **Offline:** when the cloud cannot be asked (no connection, a
    /// timeout, 408, 429 or 5xx) and this hardware id was registered through
    /// this gateway before with the same device models, the recorded
    /// endpoint id is returned instead of the error, and a warning is
    /// logged. The reference raises `IOError` whenever the request cannot be
    /// sent; iotcs answers from the record because the cloud would answer
    /// with that same endpoint id, so a gateway that boots without network
    /// runs the same code as one that boots with it. Metadata that differs
    /// from the record is not sent then: it reaches the cloud at the next
    /// `register_device` that does. New devices, or other models, still need
    /// the cloud. To skip the attempt altogether, look the endpoint id up
    /// with [`GatewayDevice::registered_endpoint_id`].
    ///
    /// With `allow_draft_device_models` off (the default), every model must
    /// be one the cloud knows.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for an empty hardware id, no model, an empty URN
    /// or metadata key, or a reserved metadata key (`hardwareId`,
    /// `deviceModels`, `signature`); [`Error::Model`] for a model the cloud
    /// does not know; [`Error::State`] before activation, [`Error::Closed`]
    /// after close (both checked before the arguments);
    /// [`Error::Transport`] when the cloud refuses the registration (a
    /// missing or wrong signature, a device restricted to another gateway;
    /// the error carries the cloud's reason); [`Error::Security`] when it
    /// refuses the gateway's credentials; [`Error::Network`] /
    /// [`Error::Timeout`] (or the 408, 429 or 5xx [`Error::Transport`]) when
    /// the cloud cannot be asked and no matching registration is recorded;
    /// [`Error::Io`] when the
    /// registration (made in the cloud) cannot be recorded: calling again
    /// returns the same endpoint id and retries the record.
    pub fn register_device(&self, registration: Registration) -> Result<String, Error> {
        self.device.ensure_running()?;
        let (request, credentials) = build_request(self.device.trusted_assets(), &registration)?;
        let hardware_id = registration.hardware_id();
        let device_models: Vec<&str> = registration
            .device_models()
            .iter()
            .map(String::as_str)
            .collect();
        let device_models = device_models.as_slice();
        let endpoint_id = match self.register_with_cloud(hardware_id, &request, device_models) {
            Ok(endpoint_id) => endpoint_id,
            Err(e) if registry::is_unreachable(&e) => {
                return self.registered_offline(hardware_id, &request, e);
            }
            Err(e) => return Err(e),
        };
        log::info!(target: "iotcs::gateway::gateway",
            "registered {hardware_id} as endpoint {endpoint_id} ({})",
            credentials.as_str()
        );
        self.record(Record {
            hardware_id: hardware_id.to_owned(),
            endpoint_id: endpoint_id.clone(),
            device_models: request.device_models.clone(),
            metadata: request.metadata.clone(),
            restricted: registration.is_restricted(),
        })?;
        Ok(endpoint_id)
    }

    /// The endpoint id of `hardware_id` if it was registered through this
    /// gateway, in this run or an earlier one; no network involved. A
    /// gateway that boots offline can create the virtual devices of its
    /// known devices with it.
    pub fn registered_endpoint_id(&self, hardware_id: &str) -> Option<String> {
        self.registered()
            .by_hardware_id(hardware_id)
            .map(|r| r.endpoint_id.clone())
    }

    /// Checks the models and asks the cloud.
    fn register_with_cloud(
        &self,
        hardware_id: &str,
        request: &IndirectActivationRequest,
        device_models: &[&str],
    ) -> Result<String, Error> {
        if !self.config().device_model.allow_draft_device_models {
            // Asking first gives a clear error naming the model; the cloud
            // would refuse the registration anyway.
            for urn in device_models
                .iter()
                .filter(|urn| !capability::is_capability_urn(urn))
            {
                if self.device.device_model(urn)?.is_none() {
                    return Err(Error::model(
                        *urn,
                        format!(
                            "the cloud has no such device model (or only a draft, and \
                             allow_draft_device_models is off), so device {hardware_id:?} \
                             cannot be registered with it"
                        ),
                    ));
                }
            }
        }
        self.device.activate_indirect(request)
    }

    /// The recorded endpoint id of `hardware_id` when the cloud could not be
    /// asked (`unreachable` says why), if the record has the same models;
    /// else `unreachable` itself.
    fn registered_offline(
        &self,
        hardware_id: &str,
        request: &IndirectActivationRequest,
        unreachable: Error,
    ) -> Result<String, Error> {
        let registered = self.registered();
        let Some(record) = registered.by_hardware_id(hardware_id) else {
            return Err(unreachable);
        };
        let mut recorded = record.device_models.clone();
        let mut asked = request.device_models.clone();
        recorded.sort();
        asked.sort();
        if recorded != asked {
            log::warn!(target: "iotcs::gateway::gateway",
                "{hardware_id} was registered with device models {}, not {}; the cloud must \
                 be asked, and cannot be",
                record.device_models.join(", "),
                request.device_models.join(", ")
            );
            return Err(unreachable);
        }
        log::warn!(target: "iotcs::gateway::gateway",
            "the cloud cannot be asked to register {hardware_id} ({unreachable}); answering \
             with its recorded endpoint {}",
            record.endpoint_id
        );
        if record.metadata != request.metadata {
            log::warn!(target: "iotcs::gateway::gateway",
                "the metadata of {hardware_id} changed; it is sent at the next register_device \
                 that reaches the cloud"
            );
        }
        Ok(record.endpoint_id.clone())
    }

    /// Records `registration` in memory and in the state directory; on a
    /// failed write the memory is rolled back, so a retry writes again.
    fn record(&self, registration: Record) -> Result<(), Error> {
        let mut registered = self.registered();
        let hardware_id = registration.hardware_id.clone();
        let old = registered.by_hardware_id(&hardware_id).cloned();
        if !registered.insert(registration) {
            return Ok(());
        }
        let gateway = self.endpoint_id().unwrap_or_default();
        let written = registered
            .encode(gateway)
            .and_then(|bytes| self.device.write_state_file(registry::FILE, &bytes));
        if written.is_err() {
            registered.remove(&hardware_id);
            if let Some(old) = old {
                registered.insert(old);
            }
        }
        written
    }

    /// The device model `urn`, from the cloud or the local model store.
    /// Reference: `getDeviceModel(deviceModelUrn)`.
    ///
    /// # Errors
    ///
    /// As [`DirectlyConnectedDevice::device_model`].
    pub fn device_model(&self, urn: &str) -> Result<Option<DeviceModel>, Error> {
        self.device.device_model(urn)
    }

    /// A new storage object `name` under the gateway's own endpoint id. For
    /// a file of an indirectly-connected device, use its virtual device's
    /// [`VirtualDevice::create_storage_object`], which uploads it under that
    /// device's endpoint id. Reference: `createStorageObject(name,
    /// contentType)`.
    ///
    /// # Errors
    ///
    /// As [`DirectlyConnectedDevice::create_storage_object`].
    pub fn create_storage_object(
        &self,
        name: &str,
        content_type: Option<&str>,
    ) -> Result<StorageObject, Error> {
        self.device.create_storage_object(name, content_type)
    }

    /// A new virtual device for `endpoint_id` implementing `model`: the
    /// gateway's own endpoint, or an indirectly-connected device registered
    /// through this gateway (with `model` among its models), in this run or
    /// an earlier one: registrations are kept in the state directory, so a
    /// gateway restarted without network creates its devices' virtual
    /// devices and buffers their messages until the cloud is back. Its
    /// messages carry `endpoint_id` as `source`; requests for it are routed
    /// by `destination`. Reference: `createVirtualDevice(endpointId,
    /// deviceModel)`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if the endpoint was never registered through
    /// this gateway (or its record was lost: register it again, the cloud
    /// returns the same endpoint id) or not with `model`; [`Error::State`]
    /// before activation, [`Error::Closed`] after close (both checked
    /// first).
    pub fn create_virtual_device(
        &self,
        endpoint_id: &str,
        model: &DeviceModel,
    ) -> Result<VirtualDevice, Error> {
        self.device.ensure_running()?;
        if self.endpoint_id() == Some(endpoint_id) {
            return self.device.create_virtual_device(endpoint_id, model);
        }
        match self.registered().by_endpoint_id(endpoint_id) {
            None => {
                return Err(Error::argument(format!(
                    "endpoint {endpoint_id} was not registered through this gateway (none is \
                     recorded in {}); call register_device (it returns the same endpoint id \
                     for the same hardware id)",
                    self.device.state_directory().display()
                )));
            }
            Some(registered) if !registered.device_models.iter().any(|m| m == model.urn()) => {
                return Err(Error::argument(format!(
                    "device {} (endpoint {endpoint_id}) was registered with device models {}, \
                     not {}",
                    registered.hardware_id,
                    registered.device_models.join(", "),
                    model.urn()
                )));
            }
            Some(_) => {}
        }
        self.device.create_proxy_virtual_device(endpoint_id, model)
    }

    /// Stops the messaging threads of the gateway and of every device it
    /// proxies, as [`DirectlyConnectedDevice::close`]. Reference: `close()`.
    /// Dropping the gateway does the same, logging instead of returning.
    ///
    /// Takes `&self`: a gateway shared in an `Arc` closes without
    /// unwrapping it; the first call closes, every call gets an equal
    /// result, and calls on the closed gateway return [`Error::Closed`], all
    /// as [`DirectlyConnectedDevice::close`].
    ///
    /// # Errors
    ///
    /// As [`DirectlyConnectedDevice::close`].
    pub fn close(&self) -> Result<(), Error> {
        self.device.close()
    }

    fn registered(&self) -> MutexGuard<'_, Registry> {
        // Entries are inserted whole; a panic cannot leave one torn.
        self.registered.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Client for GatewayDevice {
    fn create_virtual_device(
        &self,
        endpoint_id: &str,
        model: &DeviceModel,
    ) -> Result<VirtualDevice, Error> {
        GatewayDevice::create_virtual_device(self, endpoint_id, model)
    }

    fn device_model(&self, urn: &str) -> Result<Option<DeviceModel>, Error> {
        GatewayDevice::device_model(self, urn)
    }

    fn create_storage_object(
        &self,
        name: &str,
        content_type: Option<&str>,
    ) -> Result<StorageObject, Error> {
        GatewayDevice::create_storage_object(self, name, content_type)
    }
}

#[cfg(test)]
mod tests {
    use iotcs_core::{ErrorKind, TrustedAssetsStore};

    use super::*;

    fn store(name: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("iotcs-gateway-{name}-{}.tas", std::process::id()));
        let assets = TrustedAssets::new("https://127.0.0.1:9", "GW-1", b"secret")
            .unwrap()
            .with_trust_anchor(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        TrustedAssetsStore::create(&path, "pass", assets).unwrap();
        path
    }

    #[test]
    fn an_unactivated_gateway_refuses_registration_and_virtual_devices() {
        let path = store("unactivated");
        let gateway = GatewayDevice::open(&path, "pass").unwrap();
        assert!(!gateway.is_activated());
        assert_eq!(gateway.endpoint_id(), None);
        assert_eq!(gateway.activation_id(), "GW-1");
        let e = gateway
            .register_device(
                Registration::new("ICD-1", &["urn:x"])
                    .metadata(GatewayDevice::MANUFACTURER, "Acme"),
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::State, "{e}");
        let model = iotcs_core::model::samples::temperature_sensor();
        // Not activated comes before the endpoint's registration, as for
        // every method that needs the cloud.
        let e = gateway.create_virtual_device("EP-X", &model).unwrap_err();
        assert!(matches!(e, Error::State { .. }), "{e:?}");
        assert!(e.to_string().contains("activate"), "{e}");
        assert!(format!("{gateway:?}").contains("registered: 0"));
        gateway.close().unwrap();
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_wrong_passphrase_is_an_error() {
        let path = store("passphrase");
        let e = GatewayDevice::open(&path, "wrong").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Security, "{e}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn metadata_keys_are_the_references() {
        assert_eq!(
            [
                GatewayDevice::MANUFACTURER,
                GatewayDevice::MODEL_NUMBER,
                GatewayDevice::SERIAL_NUMBER,
                GatewayDevice::DEVICE_CLASS,
                GatewayDevice::PROTOCOL,
                GatewayDevice::PROTOCOL_DEVICE_CLASS,
                GatewayDevice::PROTOCOL_DEVICE_ID,
            ],
            [
                "manufacturer",
                "modelNumber",
                "serialNumber",
                "deviceClass",
                "protocol",
                "protocolDeviceClass",
                "protocolDeviceId",
            ]
        );
    }

    fn _ensure_send_sync() {
        fn is_send_sync<T: Send + Sync + 'static>() {}
        is_send_sync::<GatewayDevice>();
    }
}
