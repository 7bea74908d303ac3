//! Devices: registration by the admin, direct activation, and indirect
//! activation of devices by a gateway.

use std::collections::HashMap;
use std::fmt;

use iotcs_core::__private::crypto::activation::IndirectActivationRequest;
use iotcs_core::__private::crypto::{verify_icd_signature_hmac, verify_icd_signature_rsa};
use iotcs_core::__private::encoding::{base64_decode, base64_encode};
use iotcs_core::__private::time::format_iso8601;
use iotcs_core::model::capability;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::DomainError;
use super::State;
use crate::store::Table;

/// The lifecycle state of a device, as the admin API reports it.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum DeviceState {
    /// Registered by the admin, not yet activated.
    Registered,
    /// Activated (directly, or indirectly by a gateway).
    Activated,
}

impl DeviceState {
    /// The wire name, `REGISTERED` or `ACTIVATED`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Registered => "REGISTERED",
            DeviceState::Activated => "ACTIVATED",
        }
    }
}

/// One device, as stored. `Debug` leaves the shared secret out.
#[derive(Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Device {
    /// The id, which is also the endpoint id after activation.
    pub(crate) id: String,
    pub(crate) hardware_id: String,
    /// Standard base64 of the shared secret; `None` for an indirectly-connected
    /// device a gateway registered without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shared_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    pub(crate) state: DeviceState,
    /// May register indirectly-connected devices.
    #[serde(default)]
    pub(crate) gateway: bool,
    /// Standard base64 of the SubjectPublicKeyInfo DER registered at direct
    /// activation (verifies RS256 client assertions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) public_key: Option<String>,
    /// For an indirectly-connected device: the gateway that registered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gateway_id: Option<String>,
    /// Locked to `gateway_id` by an RSA-signed registration.
    #[serde(default)]
    pub(crate) restricted: bool,
    #[serde(default)]
    pub(crate) metadata: Map<String, Value>,
    #[serde(default)]
    pub(crate) device_models: Vec<String>,
    /// For a gateway: hardware ids of devices whose secrets go into its
    /// provisioning file.
    #[serde(default)]
    pub(crate) icds: Vec<String>,
    pub(crate) created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) activation_time: Option<i64>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("hardware_id", &self.hardware_id)
            .field("state", &self.state)
            .field("gateway", &self.gateway)
            .field("gateway_id", &self.gateway_id)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// The shared secret's bytes.
    pub(crate) fn secret(&self) -> Option<Vec<u8>> {
        self.shared_secret
            .as_deref()
            .and_then(|s| base64_decode(s).ok())
    }

    /// The registered public key's DER.
    pub(crate) fn public_key_der(&self) -> Option<Vec<u8>> {
        self.public_key
            .as_deref()
            .and_then(|s| base64_decode(s).ok())
    }

    /// Oracle's device `type`.
    pub(crate) fn kind(&self) -> &'static str {
        if self.gateway {
            "GATEWAY"
        } else if self.gateway_id.is_some() {
            "INDIRECTLY_CONNECTED_DEVICE"
        } else {
            "DIRECTLY_CONNECTED_DEVICE"
        }
    }

    /// The device as the admin API shows it.
    pub(crate) fn to_admin_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "hardwareId": self.hardware_id,
            "type": self.kind(),
            "state": self.state.as_str(),
            "enabled": true,
            "gateway": self.gateway,
            "created": self.created,
            "createdAsString": format_iso8601(self.created),
            "deviceModels": self.device_models.iter().map(|u| json!({"urn": u})).collect::<Vec<_>>(),
            "metadata": self.metadata,
        });
        let Value::Object(m) = &mut v else { return v };
        let mut opt = |k: &str, val: Option<Value>| {
            if let Some(val) = val {
                m.insert(k.to_owned(), val);
            }
        };
        opt("sharedSecret", self.shared_secret.clone().map(Value::from));
        opt("name", self.name.clone().map(Value::from));
        opt("description", self.description.clone().map(Value::from));
        opt(
            "directlyConnectedOwner",
            self.gateway_id.clone().map(Value::from),
        );
        opt("activationTime", self.activation_time.map(Value::from));
        opt(
            "activationTimeAsString",
            self.activation_time.map(|t| format_iso8601(t).into()),
        );
        if self.gateway_id.is_some() {
            m.insert("restricted".into(), self.restricted.into());
        }
        if self.gateway {
            m.insert("icds".into(), self.icds.clone().into());
        }
        v
    }
}

/// What the admin asks for when registering a device.
#[derive(Clone, Default)]
pub(crate) struct Registration {
    pub(crate) hardware_id: String,
    pub(crate) shared_secret: Option<Vec<u8>>,
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) gateway: bool,
    pub(crate) metadata: Map<String, Value>,
    /// Indirectly-connected devices to pre-register for a gateway, with their
    /// secrets (generated when `None`).
    pub(crate) icds: Vec<(String, Option<Vec<u8>>)>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("hardware_id", &self.hardware_id)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

/// A new endpoint id: an upper-case UUID, as later Oracle instances used.
pub(super) fn new_id() -> Result<String, DomainError> {
    Ok(iotcs_core::__private::uuid_v4()
        .map_err(DomainError::from)?
        .to_ascii_uppercase())
}

fn secret_or_random(given: Option<Vec<u8>>) -> Result<Vec<u8>, DomainError> {
    match given {
        Some(s) if !s.is_empty() => Ok(s),
        Some(_) => Err(DomainError::invalid("sharedSecret is empty")),
        None => Ok(crate::files::random_secret()
            .map_err(DomainError::from)?
            .into_bytes()),
    }
}

/// The devices. Invariants: `by_hardware_id` holds exactly one entry per
/// device, `hardware_id -> id`, so a hardware id names at most one device;
/// a device's id is its endpoint id and never changes; an indirectly
/// activated device names its gateway, which is in `by_id` and a gateway.
#[derive(Default)]
pub(crate) struct Devices {
    /// Devices by id (= endpoint id).
    pub(super) by_id: HashMap<String, Device>,
    /// Device ids by hardware id.
    pub(super) by_hardware_id: HashMap<String, String>,
}

impl Devices {
    /// Adds or replaces a device, keeping `by_hardware_id` in step (a
    /// device's hardware id never changes once registered).
    pub(super) fn insert(&mut self, device: Device) {
        self.by_hardware_id
            .insert(device.hardware_id.clone(), device.id.clone());
        self.by_id.insert(device.id.clone(), device);
    }
}

impl State {
    /// The device with this id.
    pub(crate) fn device(&self, id: &str) -> Option<&Device> {
        self.devices.by_id.get(id)
    }

    /// The device with this hardware id.
    pub(crate) fn device_by_hardware_id(&self, hardware_id: &str) -> Option<&Device> {
        self.devices
            .by_hardware_id
            .get(hardware_id)
            .and_then(|id| self.devices.by_id.get(id))
    }

    /// The device an activation id names: its hardware id, or its id (the
    /// real service seems to have accepted both).
    pub(crate) fn device_by_activation_id(&self, activation_id: &str) -> Option<&Device> {
        self.device_by_hardware_id(activation_id)
            .or_else(|| self.device(activation_id))
    }

    /// Every device, oldest first.
    pub(crate) fn devices(&self) -> Vec<&Device> {
        let mut all: Vec<&Device> = self.devices.by_id.values().collect();
        all.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        all
    }

    /// The endpoint whose connection carries `endpoint_id`'s traffic: its
    /// gateway for an indirectly-connected device, else itself.
    pub(crate) fn mailbox(&self, endpoint_id: &str) -> String {
        self.devices
            .by_id
            .get(endpoint_id)
            .and_then(|d| d.gateway_id.clone())
            .unwrap_or_else(|| endpoint_id.to_owned())
    }

    /// Whether the endpoint `caller` may post messages with `source`: its own
    /// id, or that of a device it registered as a gateway.
    pub(crate) fn may_send_as(&self, caller: &str, source: &str) -> bool {
        source == caller
            || self
                .devices
                .by_id
                .get(source)
                .is_some_and(|d| d.gateway_id.as_deref() == Some(caller))
    }

    fn save_device(&mut self, device: Device) -> Result<(), DomainError> {
        self.persist(Table::Devices, device.id.as_bytes(), &device)?;
        self.devices.insert(device);
        Ok(())
    }

    fn new_device(
        &self,
        hardware_id: &str,
        secret: Option<Vec<u8>>,
        now: i64,
    ) -> Result<Device, DomainError> {
        let mut id = new_id()?;
        while self.devices.by_id.contains_key(&id) || self.devices.by_hardware_id.contains_key(&id)
        {
            id = new_id()?;
        }
        Ok(Device {
            id,
            hardware_id: hardware_id.to_owned(),
            shared_secret: secret.map(|s| base64_encode(&s)),
            name: None,
            description: None,
            state: DeviceState::Registered,
            gateway: false,
            public_key: None,
            gateway_id: None,
            restricted: false,
            metadata: Map::new(),
            device_models: Vec::new(),
            icds: Vec::new(),
            created: now,
            activation_time: None,
        })
    }

    /// Registers a device (admin). For a gateway, also registers (or links)
    /// the indirectly-connected devices whose secrets go into its
    /// provisioning file.
    pub(crate) fn register(&mut self, reg: Registration, now: i64) -> Result<&Device, DomainError> {
        let hw = reg.hardware_id.trim();
        if hw.is_empty() {
            return Err(DomainError::invalid("hardwareId is missing or empty"));
        }
        if self.devices.by_hardware_id.contains_key(hw) {
            return Err(DomainError::conflict(format!(
                "a device with hardwareId {hw:?} exists"
            )));
        }
        if !reg.icds.is_empty() && !reg.gateway {
            return Err(DomainError::invalid(
                "icds are only allowed for a gateway (\"gateway\": true)",
            ));
        }
        // Check every indirectly-connected device before changing anything.
        let mut icds: Vec<Device> = Vec::new();
        let mut icd_ids: Vec<String> = Vec::new();
        for (icd_hw, secret) in &reg.icds {
            let icd_hw = icd_hw.trim();
            if icd_hw.is_empty() || icd_hw == hw || icd_ids.iter().any(|h| h == icd_hw) {
                return Err(DomainError::invalid(format!(
                    "icds: hardware id {icd_hw:?} is empty, the gateway's own, or repeated"
                )));
            }
            icd_ids.push(icd_hw.to_owned());
            match self.device_by_hardware_id(icd_hw) {
                Some(existing) => {
                    let same = secret.is_none() || existing.secret() == secret.clone();
                    if existing.secret().is_none() || !same {
                        return Err(DomainError::conflict(format!(
                            "icds: device {icd_hw:?} exists with another or no shared secret"
                        )));
                    }
                }
                None => {
                    icds.push(self.new_device(
                        icd_hw,
                        Some(secret_or_random(secret.clone())?),
                        now,
                    )?);
                }
            }
        }
        let mut device = self.new_device(hw, Some(secret_or_random(reg.shared_secret)?), now)?;
        device.name = reg.name;
        device.description = reg.description;
        device.gateway = reg.gateway;
        device.metadata = reg.metadata;
        device.icds = icd_ids;
        for icd in icds {
            log::info!(
                "registered indirectly-connected device {} ({})",
                icd.hardware_id,
                icd.id
            );
            self.save_device(icd)?;
        }
        let id = device.id.clone();
        log::info!("registered {} {} ({id})", device.kind(), device.hardware_id);
        self.save_device(device)?;
        Ok(&self.devices.by_id[&id])
    }

    /// Completes a verified direct activation of `device_id` with its public
    /// key and models.
    pub(crate) fn activate_direct(
        &mut self,
        device_id: &str,
        spki_der: &[u8],
        models: Vec<String>,
        now: i64,
    ) -> Result<&Device, DomainError> {
        let Some(existing) = self.devices.by_id.get(device_id) else {
            return Err(DomainError::not_found(format!("no device {device_id}")));
        };
        if existing.state == DeviceState::Activated {
            return Err(DomainError::conflict(format!(
                "device {device_id} is already activated"
            )));
        }
        let mut device = existing.clone();
        device.gateway |= models.iter().any(|u| u == capability::INDIRECT_ACTIVATION);
        device.state = DeviceState::Activated;
        device.public_key = Some(base64_encode(spki_der));
        device.device_models = models;
        device.activation_time = Some(now);
        log::info!(
            "activated {} {} ({device_id})",
            device.kind(),
            device.hardware_id
        );
        self.save_device(device)?;
        Ok(&self.devices.by_id[device_id])
    }

    /// Deletes a device so its hardware id can be registered and provisioned
    /// again (`iotcs-server reset`): with it go its tokens and, for a
    /// gateway, the devices it activated indirectly (they name it). Its
    /// messages stay, as history. Returns the hardware ids deleted.
    pub(crate) fn delete_device(&mut self, id: &str) -> Result<Vec<String>, DomainError> {
        if !self.devices.by_id.contains_key(id) {
            return Err(DomainError::not_found(format!("no device {id}")));
        }
        let mut ids: Vec<String> = self
            .devices
            .by_id
            .values()
            .filter(|d| d.gateway_id.as_deref() == Some(id))
            .map(|d| d.id.clone())
            .collect();
        ids.push(id.to_owned());
        let mut deleted = Vec::new();
        for id in ids {
            self.unpersist(Table::Devices, id.as_bytes())?;
            self.revoke_tokens_of(&id);
            if let Some(d) = self.devices.by_id.remove(&id) {
                self.devices.by_hardware_id.remove(&d.hardware_id);
                log::info!("deleted {} {} ({id})", d.kind(), d.hardware_id);
                deleted.push(d.hardware_id);
            }
        }
        Ok(deleted)
    }

    /// Indirect activation: the gateway `gateway_id` registers a device.
    /// Returns its endpoint id and activation time.
    ///
    /// Rules: the caller must be an activated gateway; a device registered
    /// with a secret needs a valid HMAC signature; a device locked to another
    /// gateway is refused; an RSA signature by the gateway locks the device to
    /// it; the same hardware id always gets the same endpoint id.
    pub(crate) fn register_indirect(
        &mut self,
        gateway_id: &str,
        req: &IndirectActivationRequest,
        create_draft: bool,
        now: i64,
    ) -> Result<(String, i64), DomainError> {
        let Some(gateway) = self.devices.by_id.get(gateway_id).cloned() else {
            return Err(DomainError::forbidden(format!("no gateway {gateway_id}")));
        };
        if !gateway.gateway || gateway.state != DeviceState::Activated {
            return Err(DomainError::forbidden(format!(
                "endpoint {gateway_id} is not an activated gateway and may not register devices"
            )));
        }
        let hw = req.hardware_id.trim();
        if hw.is_empty() {
            return Err(DomainError::invalid("hardwareId is missing or empty"));
        }
        let existing = self.device_by_hardware_id(hw).cloned();
        if let Some(d) = &existing {
            if d.id == gateway_id || d.public_key.is_some() {
                return Err(DomainError::forbidden(format!(
                    "device {hw:?} is directly activated and cannot be registered by a gateway"
                )));
            }
            if d.restricted && d.gateway_id.as_deref() != Some(gateway_id) {
                return Err(DomainError::forbidden(format!(
                    "device {hw:?} is restricted to another gateway"
                )));
            }
        }
        let secret = existing.as_ref().and_then(Device::secret);
        let gateway_key = gateway.public_key_der().unwrap_or_default();
        let restricted = match (&secret, req.signature.as_deref()) {
            (Some(secret), Some(sig)) if verify_icd_signature_hmac(secret, gateway_id, sig) => {
                false
            }
            (Some(_), Some(_)) => {
                return Err(DomainError::invalid(format!(
                    "the signature for device {hw:?} does not verify with its shared secret"
                )));
            }
            (Some(_), None) => {
                return Err(DomainError::invalid(format!(
                    "device {hw:?} was registered with a shared secret; the request must be signed with it"
                )));
            }
            (None, Some(sig)) if verify_icd_signature_rsa(&gateway_key, gateway_id, sig) => true,
            (None, Some(_)) => {
                return Err(DomainError::invalid(format!(
                    "the signature for device {hw:?} does not verify with the gateway's key"
                )));
            }
            (None, None) => existing.as_ref().is_some_and(|d| d.restricted),
        };
        let models = self.activation_models(&req.device_models, create_draft, now)?;
        let mut device = match existing {
            Some(d) => d,
            None => self.new_device(hw, None, now)?,
        };
        device.gateway_id = Some(gateway_id.to_owned());
        device.restricted = restricted;
        device.state = DeviceState::Activated;
        for (k, v) in &req.metadata {
            device.metadata.insert(k.clone(), Value::from(v.clone()));
        }
        device.device_models = models;
        let activated = *device.activation_time.get_or_insert(now);
        let id = device.id.clone();
        log::info!(
            "gateway {gateway_id} registered {hw} ({id}{})",
            if restricted { ", restricted" } else { "" }
        );
        self.save_device(device)?;
        Ok((id, activated))
    }
}

#[cfg(test)]
mod tests {
    use iotcs_core::__private::crypto::{RsaKeyPair, icd_signature_hmac, icd_signature_rsa};

    use super::super::test_support::{HttpStatus, state};
    use super::*;

    fn reg(hw: &str) -> Registration {
        Registration {
            hardware_id: hw.to_owned(),
            ..Registration::default()
        }
    }

    #[test]
    fn a_deleted_device_frees_its_hardware_id() {
        let mut s = state();
        let id = s.register(reg("old"), 1).unwrap().id.clone();
        assert_eq!(s.delete_device(&id).unwrap(), vec!["old".to_owned()]);
        assert!(s.device(&id).is_none() && s.device_by_hardware_id("old").is_none());
        assert_eq!(s.delete_device(&id).unwrap_err().status(), 404);
        let again = s.register(reg("old"), 2).unwrap().id.clone();
        assert_ne!(again, id);
    }

    /// A state with an activated gateway `GW` (key returned) and its id.
    fn with_gateway(icds: Vec<(String, Option<Vec<u8>>)>) -> (State, String, RsaKeyPair) {
        let mut s = state();
        let key = RsaKeyPair::generate(2048).unwrap();
        let r = Registration {
            gateway: true,
            icds,
            ..reg("GW")
        };
        let id = s.register(r, 1).unwrap().id.clone();
        s.activate_direct(
            &id,
            key.public_key_der(),
            vec![capability::INDIRECT_ACTIVATION.to_owned()],
            2,
        )
        .unwrap();
        (s, id, key)
    }

    fn icd_request(hw: &str, signature: Option<String>) -> IndirectActivationRequest {
        let mut r = IndirectActivationRequest::new(
            hw,
            vec![iotcs_core::model::samples::HUMIDITY_SENSOR_URN.into()],
        )
        .with_metadata("manufacturer", "ACME")
        .unwrap();
        if let Some(sig) = signature {
            r = r.with_signature(sig);
        }
        r
    }

    #[test]
    fn registration_generates_secrets_and_refuses_duplicates() {
        let mut s = state();
        let d = s.register(reg("HW-1"), 5).unwrap().clone();
        assert_eq!(d.state, DeviceState::Registered);
        assert_eq!(
            d.secret().unwrap().len(),
            32,
            "a printable generated secret"
        );
        assert_eq!(d.id.len(), 36);
        assert_eq!(s.device_by_activation_id("HW-1").unwrap().id, d.id);
        assert_eq!(s.device_by_activation_id(&d.id).unwrap().id, d.id);
        assert_eq!(s.register(reg("HW-1"), 6).unwrap_err().status(), 409);
        assert_eq!(s.register(reg("  "), 6).unwrap_err().status(), 400);
        let given = Registration {
            shared_secret: Some(b"abc".to_vec()),
            ..reg("HW-2")
        };
        assert_eq!(s.register(given, 7).unwrap().secret().unwrap(), b"abc");
        let empty = Registration {
            shared_secret: Some(Vec::new()),
            ..reg("HW-3")
        };
        assert_eq!(s.register(empty, 7).unwrap_err().status(), 400);
        let json = s.device_by_hardware_id("HW-2").unwrap().to_admin_json();
        assert_eq!(json["sharedSecret"], "YWJj");
        assert_eq!(json["type"], "DIRECTLY_CONNECTED_DEVICE");
        assert!(!format!("{:?}", s.device_by_hardware_id("HW-2").unwrap()).contains("YWJj"));
    }

    #[test]
    fn gateway_registration_pre_registers_icds() {
        let icds = vec![
            ("ICD-A".to_owned(), Some(b"a".to_vec())),
            ("ICD-B".to_owned(), None),
        ];
        let (s, gw, _) = with_gateway(icds);
        assert_eq!(s.device(&gw).unwrap().icds, vec!["ICD-A", "ICD-B"]);
        assert_eq!(
            s.device_by_hardware_id("ICD-A").unwrap().secret().unwrap(),
            b"a"
        );
        assert!(s.device_by_hardware_id("ICD-B").unwrap().secret().is_some());

        let mut s = state();
        let not_gw = Registration {
            icds: vec![("X".into(), None)],
            ..reg("D")
        };
        assert_eq!(s.register(not_gw, 1).unwrap_err().status(), 400);
        let own = Registration {
            gateway: true,
            icds: vec![("G".into(), None)],
            ..reg("G")
        };
        assert_eq!(s.register(own, 1).unwrap_err().status(), 400);
        s.register(
            Registration {
                shared_secret: Some(b"x".to_vec()),
                ..reg("TAKEN")
            },
            1,
        )
        .unwrap();
        let clash = Registration {
            gateway: true,
            icds: vec![("TAKEN".into(), Some(b"y".to_vec()))],
            ..reg("G2")
        };
        assert_eq!(s.register(clash, 1).unwrap_err().status(), 409);
        assert!(
            s.device_by_hardware_id("G2").is_none(),
            "nothing registered on conflict"
        );
    }

    #[test]
    fn direct_activation_marks_gateways_and_refuses_a_second_time() {
        let mut s = state();
        let id = s.register(reg("D"), 1).unwrap().id.clone();
        let d = s
            .activate_direct(
                &id,
                b"spki",
                vec![capability::INDIRECT_ACTIVATION.to_owned()],
                9,
            )
            .unwrap();
        assert!(d.gateway, "declaring indirect_activation makes a gateway");
        assert_eq!(d.public_key_der().unwrap(), b"spki");
        assert_eq!(d.activation_time, Some(9));
        assert_eq!(
            s.activate_direct(&id, b"spki", Vec::new(), 10)
                .unwrap_err()
                .status(),
            409
        );
        assert_eq!(
            s.activate_direct("nope", b"", Vec::new(), 10)
                .unwrap_err()
                .status(),
            404
        );
    }

    #[test]
    fn indirect_activation_with_a_provisioned_secret_needs_its_hmac() {
        let (mut s, gw, _) = with_gateway(vec![("ICD-A".to_owned(), Some(b"icd-secret".to_vec()))]);
        assert_eq!(
            s.register_indirect(&gw, &icd_request("ICD-A", None), false, 3)
                .unwrap_err()
                .status(),
            400
        );
        let wrong = icd_signature_hmac(b"other", &gw);
        assert_eq!(
            s.register_indirect(&gw, &icd_request("ICD-A", Some(wrong)), false, 3)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            s.device_by_hardware_id("ICD-A").unwrap().state,
            DeviceState::Registered
        );
        let good = icd_signature_hmac(b"icd-secret", &gw);
        let (id, t) = s
            .register_indirect(&gw, &icd_request("ICD-A", Some(good.clone())), false, 3)
            .unwrap();
        assert_eq!(t, 3);
        let d = s.device(&id).unwrap();
        assert_eq!(
            (d.state, d.gateway_id.as_deref(), d.restricted),
            (DeviceState::Activated, Some(gw.as_str()), false)
        );
        assert_eq!(d.metadata["manufacturer"], "ACME");
        assert_eq!(d.kind(), "INDIRECTLY_CONNECTED_DEVICE");
        let (again, t2) = s
            .register_indirect(&gw, &icd_request("ICD-A", Some(good)), false, 4)
            .unwrap();
        assert_eq!(
            (again, t2),
            (id.clone(), 3),
            "same hardware id, same endpoint id"
        );
        assert!(s.may_send_as(&gw, &id));
        assert_eq!(s.mailbox(&id), gw);
    }

    #[test]
    fn unsigned_and_rsa_signed_registrations() {
        let (mut s, gw, key) = with_gateway(Vec::new());
        let (free, _) = s
            .register_indirect(&gw, &icd_request("FREE", None), false, 3)
            .unwrap();
        assert!(!s.device(&free).unwrap().restricted);
        assert!(s.device(&free).unwrap().secret().is_none());
        let bad = icd_signature_rsa(&RsaKeyPair::generate(2048).unwrap(), &gw);
        assert_eq!(
            s.register_indirect(&gw, &icd_request("LOCKED", Some(bad)), false, 3)
                .unwrap_err()
                .status(),
            400
        );
        let sig = icd_signature_rsa(&key, &gw);
        let (locked, _) = s
            .register_indirect(&gw, &icd_request("LOCKED", Some(sig)), false, 3)
            .unwrap();
        assert!(s.device(&locked).unwrap().restricted);

        // A second gateway may take over the free device but not the locked one.
        let other_key = RsaKeyPair::generate(2048).unwrap();
        let gw2 = s
            .register(
                Registration {
                    gateway: true,
                    ..reg("GW2")
                },
                1,
            )
            .unwrap()
            .id
            .clone();
        s.activate_direct(&gw2, other_key.public_key_der(), Vec::new(), 2)
            .unwrap();
        assert_eq!(
            s.register_indirect(&gw2, &icd_request("LOCKED", None), false, 5)
                .unwrap_err()
                .status(),
            403
        );
        let (moved, _) = s
            .register_indirect(&gw2, &icd_request("FREE", None), false, 5)
            .unwrap();
        assert_eq!(moved, free);
        assert_eq!(s.mailbox(&free), gw2);
        assert!(!s.may_send_as(&gw, &free));
    }

    #[test]
    fn only_activated_gateways_register_devices() {
        let mut s = state();
        let dcd = s.register(reg("DCD"), 1).unwrap().id.clone();
        assert_eq!(
            s.register_indirect(&dcd, &icd_request("X", None), false, 2)
                .unwrap_err()
                .status(),
            403
        );
        s.activate_direct(&dcd, b"k", Vec::new(), 2).unwrap();
        assert_eq!(
            s.register_indirect(&dcd, &icd_request("X", None), false, 2)
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(
            s.register_indirect("nobody", &icd_request("X", None), false, 2)
                .unwrap_err()
                .status(),
            403
        );
        let (mut s, gw, _) = with_gateway(Vec::new());
        assert_eq!(
            s.register_indirect(&gw, &icd_request("GW", None), false, 2)
                .unwrap_err()
                .status(),
            403
        );
        let unknown = IndirectActivationRequest::new("Y", vec!["urn:test:unknown".into()]);
        let e = s.register_indirect(&gw, &unknown, false, 2).unwrap_err();
        assert!(
            e.status() == 400 && e.detail().contains("urn:test:unknown"),
            "{e}"
        );
        assert!(s.device_by_hardware_id("Y").is_none());
        assert!(
            s.register_indirect(&gw, &unknown, true, 2).is_ok(),
            "with createDraft a draft is made"
        );
    }
}
