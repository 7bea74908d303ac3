//! [`GatewayDevice`]: a directly-connected device that registers
//! indirectly-connected devices with the cloud and proxies their messages.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use iotcs_core::model::{DeviceModel, capability};
use iotcs_core::{Config, Error, TrustedAssets};
use iotcs_device::{Client, DirectlyConnectedDevice, VirtualDevice};

use crate::registration::build_request;

/// A gateway: a directly-connected device that registers
/// indirectly-connected devices (sensors behind Modbus, BLE, serial...) with
/// the cloud and proxies their messages. Reference: `GatewayDevice` (a
/// `DirectlyConnectedDevice`).
///
/// ```no_run
/// use iotcs_gateway::GatewayDevice;
///
/// const SENSOR: &str = "urn:com:example:iotcs:temperature_sensor";
///
/// let mut gateway = GatewayDevice::open("gateway.tas", "changeit")?;
/// if !gateway.is_activated() {
///     gateway.activate(&[])?;
/// }
/// let endpoint_id = gateway.register_device(
///     "modbus-17",
///     [
///         (GatewayDevice::MANUFACTURER, "Acme"),
///         (GatewayDevice::PROTOCOL, "Modbus RTU"),
///         (GatewayDevice::PROTOCOL_DEVICE_ID, "17"),
///     ],
///     &[SENSOR],
///     true,
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
    /// Endpoints registered through this gateway since it was opened, with
    /// the models each was registered with, so `create_virtual_device` can
    /// refuse an endpoint or model the cloud would refuse.
    registered: Mutex<HashMap<String, Registered>>,
}

/// An indirectly-connected device registered in this process.
#[derive(Debug)]
struct Registered {
    hardware_id: String,
    models: Vec<String>,
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
        Ok(GatewayDevice {
            device: DirectlyConnectedDevice::open_with_config(path, passphrase, config)?,
            registered: Mutex::new(HashMap::new()),
        })
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

    /// The gateway as the directly-connected device it also is.
    pub fn as_directly_connected(&self) -> &DirectlyConnectedDevice {
        &self.device
    }

    /// Registers an indirectly-connected device with the cloud and returns
    /// its endpoint id. Reference: `registerDevice(hardwareId, metaData,
    /// deviceModels, restricted)`.
    ///
    /// `metadata` pairs go to the cloud as given (string values; see the
    /// key constants such as [`GatewayDevice::MANUFACTURER`]). The request is
    /// signed by the rules of the protocol (spec §4): with the device's own
    /// secret when the gateway's provisioning file holds one; else, when
    /// `restricted`, with the gateway's key, which locks the device to this
    /// gateway; else not at all. Registering the same hardware id again
    /// returns the same endpoint id (the cloud keeps it), also after a
    /// restart; the metadata and models sent last are the ones kept.
    ///
    /// With `allow_draft_device_models` off (the default), every model must
    /// be one the cloud knows.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for an empty hardware id, no model, an empty URN
    /// or metadata key, or a reserved metadata key (`hardwareId`,
    /// `deviceModels`, `signature`); [`Error::Model`] for a model the cloud
    /// does not know; [`Error::State`] before activation or after close;
    /// [`Error::Transport`] when the cloud refuses the registration (a
    /// missing or wrong signature, a device restricted to another gateway;
    /// the error carries the cloud's reason); [`Error::Network`] /
    /// [`Error::Security`] when the cloud cannot be asked.
    pub fn register_device<K, V>(
        &self,
        hardware_id: &str,
        metadata: impl IntoIterator<Item = (K, V)>,
        device_models: &[&str],
        restricted: bool,
    ) -> Result<String, Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let (request, credentials) = build_request(
            self.device.trusted_assets(),
            hardware_id,
            metadata,
            device_models,
            restricted,
        )?;
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
        let endpoint_id = self.device.activate_indirect(&request)?;
        log::info!(
            "registered {hardware_id} as endpoint {endpoint_id} ({})",
            credentials.as_str()
        );
        self.registered().insert(
            endpoint_id.clone(),
            Registered {
                hardware_id: hardware_id.to_owned(),
                models: device_models.iter().map(|m| (*m).to_owned()).collect(),
            },
        );
        Ok(endpoint_id)
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

    /// A new virtual device for `endpoint_id` implementing `model`: the
    /// gateway's own endpoint, or an indirectly-connected device registered
    /// through this gateway since it was opened (with `model` among its
    /// models). Its messages carry `endpoint_id` as `source`; requests for
    /// it are routed by `destination`. Reference:
    /// `createVirtualDevice(endpointId, deviceModel)`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if the endpoint was not registered through this
    /// gateway in this process (register it again: the cloud returns the
    /// same endpoint id) or not with `model`; [`Error::State`] before
    /// activation or after close.
    pub fn create_virtual_device(
        &self,
        endpoint_id: &str,
        model: &DeviceModel,
    ) -> Result<VirtualDevice, Error> {
        if self.endpoint_id() == Some(endpoint_id) {
            return self.device.create_virtual_device(endpoint_id, model);
        }
        match self.registered().get(endpoint_id) {
            None => {
                return Err(Error::argument(format!(
                    "endpoint {endpoint_id} was not registered through this gateway since it \
                     was opened; call register_device (it returns the same endpoint id for \
                     the same hardware id)"
                )));
            }
            Some(registered) if !registered.models.iter().any(|m| m == model.urn()) => {
                return Err(Error::argument(format!(
                    "device {} (endpoint {endpoint_id}) was registered with device models {}, \
                     not {}",
                    registered.hardware_id,
                    registered.models.join(", "),
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
    /// # Errors
    ///
    /// As [`DirectlyConnectedDevice::close`].
    pub fn close(self) -> Result<(), Error> {
        self.device.close()
    }

    fn registered(&self) -> MutexGuard<'_, HashMap<String, Registered>> {
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
                "ICD-1",
                [(GatewayDevice::MANUFACTURER, "Acme")],
                &["urn:x"],
                false,
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::State, "{e}");
        let model = iotcs_core::model::samples::temperature_sensor();
        let e = gateway.create_virtual_device("EP-X", &model).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Argument, "{e}");
        assert!(e.to_string().contains("register_device"), "{e}");
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
