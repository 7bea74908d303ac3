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

/// Builds the signed request registering `hardware_id` through the gateway
/// whose trusted assets are `assets`.
///
/// # Errors
///
/// [`Error::Argument`] for an empty hardware id, no device model, an empty
/// model URN or metadata key, or a metadata key the request reserves
/// (`hardwareId`, `deviceModels`, `signature`); [`Error::State`] if the
/// gateway is not activated; [`Error::Security`] if its key cannot be read.
pub(crate) fn build_request<K, V>(
    assets: &TrustedAssets,
    hardware_id: &str,
    metadata: impl IntoIterator<Item = (K, V)>,
    device_models: &[&str],
    restricted: bool,
) -> Result<(IndirectActivationRequest, Credentials), Error>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
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
    let models = device_models.iter().map(|m| (*m).to_owned()).collect();
    let mut request = IndirectActivationRequest::new(hardware_id, models);
    for (key, value) in metadata {
        let key = key.as_ref();
        if key.trim().is_empty() {
            return Err(Error::argument(format!(
                "a metadata key of device {hardware_id:?} is empty"
            )));
        }
        request = request.with_metadata(key, value.as_ref())?;
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
        None if restricted => {
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

    const NO_METADATA: [(&str, &str); 0] = [];

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
            let (request, credentials) = build_request(
                &assets,
                "ICD-SECRET",
                [("manufacturer", "Acme")],
                &["urn:test:m"],
                restricted,
            )
            .unwrap();
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
        let (request, credentials) =
            build_request(&assets, "ICD-FREE", NO_METADATA, &["urn:test:m"], true).unwrap();
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
        let metadata = std::collections::HashMap::from([
            ("serialNumber".to_owned(), "42".to_owned()),
            ("protocol".to_owned(), "Modbus".to_owned()),
        ]);
        let (request, credentials) =
            build_request(&assets, "ICD-FREE", &metadata, &["urn:test:m"], false).unwrap();
        assert_eq!(credentials, Credentials::Unsigned);
        assert_eq!(request.signature, None);
        assert_eq!(request.metadata.len(), 2);
    }

    #[test]
    fn the_gateways_own_hardware_id_uses_its_secret() {
        let (assets, _) = gateway();
        let (request, credentials) =
            build_request(&assets, "GW-ACT", NO_METADATA, &["urn:test:m"], false).unwrap();
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
            let e = build_request(&assets, hardware_id, metadata.iter().copied(), models, true)
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Argument, "{e}");
            assert!(e.to_string().contains(reason), "{e}");
        }
    }

    #[test]
    fn a_gateway_that_is_not_activated_cannot_register() {
        let assets = TrustedAssets::new("https://127.0.0.1:9", "GW-ACT", b"s").unwrap();
        let e = build_request(&assets, "ICD", NO_METADATA, &["urn:test:m"], true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::State);
        assert!(e.to_string().contains("activate"), "{e}");
    }
}
