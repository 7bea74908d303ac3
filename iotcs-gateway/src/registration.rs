//! The indirect activation request of spec §4 (protocol-js §5): checked,
//! filled with the device's metadata and signed by the rules of the
//! protocol, with no IO.
//!
//! The signature is over the gateway's endpoint id (UTF-8):
//! 1. the device's own secret is provisioned in the gateway's trusted assets
//!    (or the hardware id is the gateway's own activation id): base64 of
//!    HMAC-SHA256 under that secret, whatever `restricted` says;
//! 2. otherwise, `restricted`: base64 of the gateway's SHA256withRSA
//!    signature, which locks the device to this gateway;
//! 3. otherwise no signature.

use iotcs_core::__private::crypto::activation::IndirectActivationRequest;
use iotcs_core::__private::crypto::{RsaKeyPair, icd_signature_hmac, icd_signature_rsa};
use iotcs_core::{Error, TrustedAssets};

/// Which credentials a registration carries (rule 1, 2 or 3 of the module
/// docs).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Credentials {
    /// HMAC under the device's provisioned secret.
    DeviceSecret,
    /// RSA signature by the gateway's key: the device is restricted to it.
    GatewayKey,
    /// None: the cloud decides whether the device may be registered so.
    Unsigned,
}

impl Credentials {
    /// How the log names them.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Credentials::DeviceSecret => "signed with its provisioned secret",
            Credentials::GatewayKey => "restricted to this gateway",
            Credentials::Unsigned => "unsigned",
        }
    }
}

/// What [`crate::GatewayDevice::register_device`] registers: an
/// indirectly-connected device's hardware id and device models, with
/// optional metadata, and whether it is restricted to this gateway.
/// Reference: the arguments of `registerDevice(hardwareId, metaData,
/// deviceModels, restricted)`.
///
/// ```
/// use iotcs_gateway::{GatewayDevice, Registration};
///
/// const HUMIDITY: &str = "urn:com:example:iotcs:humidity_sensor";
/// // No metadata, not restricted: nothing to annotate.
/// let plain = Registration::new("ble-hum-1", &[HUMIDITY]);
/// assert!(!plain.is_restricted());
/// let locked = Registration::new("ble-hum-2", &[HUMIDITY])
///     .metadata(GatewayDevice::MANUFACTURER, "Acme")
///     .metadata(GatewayDevice::PROTOCOL, "BLE")
///     .restricted();
/// assert!(locked.is_restricted());
/// assert_eq!(locked.hardware_id(), "ble-hum-2");
/// ```
///
/// The reference's positional form, with a bare `bool`, is not the Rust one:
///
/// ```compile_fail,E0061
/// # fn f(gateway: &iotcs_gateway::GatewayDevice) -> Result<(), iotcs_core::Error> {
/// gateway.register_device("ble-hum-1", [("manufacturer", "Acme")], &["urn:x"], true)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
#[must_use = "a device is registered only by `GatewayDevice::register_device`"]
pub struct Registration {
    hardware_id: String,
    device_models: Vec<String>,
    metadata: Vec<(String, String)>,
    restricted: bool,
}

impl Registration {
    /// The device `hardware_id`, implementing `device_models` (URNs), with
    /// no metadata, not restricted. Checked when registered: the hardware id
    /// and the URNs must not be empty, and there must be a model.
    pub fn new(hardware_id: impl AsRef<str>, device_models: &[&str]) -> Self {
        Registration {
            hardware_id: hardware_id.as_ref().to_owned(),
            device_models: device_models.iter().map(|&urn| urn.to_owned()).collect(),
            metadata: Vec::new(),
            restricted: false,
        }
    }

    /// Adds a metadata pair sent with the registration (see the key
    /// constants such as [`crate::GatewayDevice::MANUFACTURER`]); a second
    /// value for the same key replaces the first. The keys `hardwareId`,
    /// `deviceModels` and `signature` are reserved: registering with one is
    /// an [`Error::Argument`].
    pub fn metadata(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let (key, value) = (key.as_ref().to_owned(), value.as_ref().to_owned());
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key, value)),
        }
        self
    }

    /// Restricts the device to this gateway: without a secret of its own
    /// provisioned, the registration is signed with the gateway's key, and
    /// the cloud then refuses the device through any other gateway.
    pub fn restricted(mut self) -> Self {
        self.restricted = true;
        self
    }

    /// The hardware id.
    pub fn hardware_id(&self) -> &str {
        &self.hardware_id
    }

    /// The device model URNs.
    pub fn device_models(&self) -> &[String] {
        &self.device_models
    }

    /// Whether [`Registration::restricted`] was called.
    pub fn is_restricted(&self) -> bool {
        self.restricted
    }
}

/// Builds the signed request registering `registration` through the
/// gateway whose trusted assets are `assets`.
///
/// # Errors
///
/// [`Error::Argument`] for an empty hardware id, no device model, an empty
/// model URN or metadata key, or a metadata key the request reserves
/// (`hardwareId`, `deviceModels`, `signature`); [`Error::State`] if the
/// gateway is not activated; [`Error::Security`] if its key cannot be read.
pub(crate) fn build_request(
    assets: &TrustedAssets,
    registration: &Registration,
) -> Result<(IndirectActivationRequest, Credentials), Error> {
    let hardware_id = registration.hardware_id.as_str();
    let device_models = &registration.device_models;
    if hardware_id.trim().is_empty() {
        return Err(Error::argument(
            "the hardware id of an indirectly-connected device is empty",
        ));
    }
    if device_models.is_empty() {
        return Err(Error::argument(format!(
            "device {hardware_id:?} needs at least one device model URN"
        )));
    }
    if device_models.iter().any(|urn| urn.trim().is_empty()) {
        return Err(Error::argument(format!(
            "a device model URN of device {hardware_id:?} is empty"
        )));
    }
    let Some(gateway_endpoint) = assets.endpoint_id() else {
        return Err(Error::state(format!(
            "gateway {} is not activated; call activate before registering devices",
            assets.client_id()
        )));
    };
    let mut request = IndirectActivationRequest::new(hardware_id, device_models.clone());
    for (key, value) in &registration.metadata {
        if key.trim().is_empty() {
            return Err(Error::argument(format!(
                "a metadata key of device {hardware_id:?} is empty"
            )));
        }
        request = request.with_metadata(key, value)?;
    }
    let secret = assets.icd_secret(hardware_id).or_else(|| {
        // As Oracle's libraries: a gateway registering its own hardware id
        // proves it with its own secret.
        (hardware_id == assets.client_id()).then(|| assets.shared_secret())
    });
    let credentials = match secret {
        Some(secret) => {
            request = request.with_signature(icd_signature_hmac(secret, gateway_endpoint));
            Credentials::DeviceSecret
        }
        None if registration.restricted => {
            let der = assets.private_key().ok_or_else(|| {
                Error::security(format!(
                    "the trusted assets of gateway {gateway_endpoint} hold no private key"
                ))
            })?;
            let key = RsaKeyPair::from_pkcs8(der)?;
            request = request.with_signature(icd_signature_rsa(&key, gateway_endpoint));
            Credentials::GatewayKey
        }
        None => Credentials::Unsigned,
    };
    Ok((request, credentials))
}

#[cfg(test)]
mod tests {
    use iotcs_core::__private::crypto::{verify_icd_signature_hmac, verify_icd_signature_rsa};
    use iotcs_core::ErrorKind;

    use super::*;

    /// An activated gateway `GW-ACT` (endpoint `GW-EP`) with the secret of
    /// `ICD-SECRET` provisioned.
    fn gateway() -> (TrustedAssets, RsaKeyPair) {
        let key = RsaKeyPair::generate(2048).unwrap();
        let mut assets = TrustedAssets::new("https://127.0.0.1:9", "GW-ACT", b"gateway secret")
            .unwrap()
            .with_icd("ICD-SECRET", b"icd secret");
        assets.set_activation("GW-EP", key.pkcs8_der(), key.public_key_der());
        (assets, key)
    }

    #[test]
    fn a_provisioned_secret_signs_whatever_restricted_says() {
        let (assets, _) = gateway();
        for restricted in [false, true] {
            let mut registration =
                Registration::new("ICD-SECRET", &["urn:test:m"]).metadata("manufacturer", "Acme");
            if restricted {
                registration = registration.restricted();
            }
            let (request, credentials) = build_request(&assets, &registration).unwrap();
            assert_eq!(credentials, Credentials::DeviceSecret);
            let signature = request.signature.unwrap();
            assert!(verify_icd_signature_hmac(
                b"icd secret",
                "GW-EP",
                &signature
            ));
            assert_eq!(request.metadata["manufacturer"], "Acme");
            assert_eq!(request.device_models, ["urn:test:m"]);
        }
    }

    #[test]
    fn restricted_without_a_secret_is_signed_by_the_gateway_key() {
        let (assets, key) = gateway();
        let (request, credentials) = build_request(
            &assets,
            &Registration::new("ICD-FREE", &["urn:test:m"]).restricted(),
        )
        .unwrap();
        assert_eq!(credentials, Credentials::GatewayKey);
        assert!(verify_icd_signature_rsa(
            key.public_key_der(),
            "GW-EP",
            &request.signature.unwrap()
        ));
    }

    #[test]
    fn unrestricted_without_a_secret_is_unsigned() {
        let (assets, _) = gateway();
        let registration = Registration::new("ICD-FREE", &["urn:test:m"])
            .metadata("serialNumber", "41")
            .metadata("protocol", "Modbus")
            .metadata("serialNumber", "42");
        let (request, credentials) = build_request(&assets, &registration).unwrap();
        assert_eq!(credentials, Credentials::Unsigned);
        assert_eq!(request.signature, None);
        assert_eq!(request.metadata.len(), 2);
        assert_eq!(
            request.metadata["serialNumber"], "42",
            "the last value wins"
        );
    }

    #[test]
    fn the_gateways_own_hardware_id_uses_its_secret() {
        let (assets, _) = gateway();
        let (request, credentials) =
            build_request(&assets, &Registration::new("GW-ACT", &["urn:test:m"])).unwrap();
        assert_eq!(credentials, Credentials::DeviceSecret);
        assert!(verify_icd_signature_hmac(
            b"gateway secret",
            "GW-EP",
            &request.signature.unwrap()
        ));
    }

    #[test]
    fn bad_arguments_are_refused_with_the_reason() {
        let (assets, _) = gateway();
        // (hardware id, metadata, models, what the error names)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
        let cases: [Case<'_>; 5] = [
            (" ", &[], &["urn:test:m"], "hardware id"),
            ("ICD", &[], &[], "at least one device model"),
            ("ICD", &[], &["urn:test:m", ""], "URN"),
            ("ICD", &[("signature", "x")], &["urn:test:m"], "reserved"),
            ("ICD", &[("", "x")], &["urn:test:m"], "metadata key"),
        ];
        for (hardware_id, metadata, models, reason) in cases {
            let registration = metadata
                .iter()
                .fold(Registration::new(hardware_id, models), |r, &(k, v)| {
                    r.metadata(k, v)
                })
                .restricted();
            let e = build_request(&assets, &registration).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Argument, "{e}");
            assert!(e.to_string().contains(reason), "{e}");
        }
    }

    #[test]
    fn a_gateway_that_is_not_activated_cannot_register() {
        let assets = TrustedAssets::new("https://127.0.0.1:9", "GW-ACT", b"s").unwrap();
        let registration = Registration::new("ICD", &["urn:test:m"]).restricted();
        let e = build_request(&assets, &registration).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::State);
        assert!(e.to_string().contains("activate"), "{e}");
    }
}
