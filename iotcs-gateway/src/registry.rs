//! The indirectly-connected devices registered through this gateway, kept
//! in the gateway's state directory (`registrations.json`, written
//! atomically through `DirectlyConnectedDevice::write_state_file`), so a
//! gateway restarted without network still knows them: it creates their
//! virtual devices and answers `register_device` for them from here.
//!
//! The file names the gateway's endpoint id: a file written by an earlier
//! activation (the provisioning file was replaced) is ignored. A file that
//! cannot be read or parsed is ignored with a warning and rewritten at the
//! next registration; the cloud still knows every device, so registering
//! again (online) rebuilds it.

use std::collections::{BTreeMap, HashMap};

use iotcs_core::Error;
use iotcs_device::DirectlyConnectedDevice;
use serde::{Deserialize, Serialize};

/// The state file of the registrations.
pub(crate) const FILE: &str = "registrations.json";

/// One indirectly-connected device as the cloud registered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    pub(crate) hardware_id: String,
    pub(crate) endpoint_id: String,
    /// The device model URNs, as given.
    pub(crate) device_models: Vec<String>,
    /// The metadata sent with the registration.
    pub(crate) metadata: BTreeMap<String, String>,
    /// Whether the registration was restricted to this gateway.
    pub(crate) restricted: bool,
}

/// The file's layout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    /// The gateway endpoint the devices were registered through.
    gateway_endpoint_id: String,
    devices: Vec<Record>,
}

/// The registrations of one gateway endpoint, by hardware id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    by_hardware: BTreeMap<String, Record>,
    /// Endpoint id → hardware id.
    by_endpoint: HashMap<String, String>,
}

impl Registry {
    /// The registrations recorded for `gateway`'s endpoint; empty before
    /// activation or when there are none usable (see the module docs).
    pub(crate) fn load(gateway: &DirectlyConnectedDevice) -> Registry {
        let Some(endpoint_id) = gateway.endpoint_id() else {
            return Registry::default();
        };
        let bytes = match gateway.read_state_file(FILE) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Registry::default(),
            Err(e) => {
                log::warn!(target: "iotcs::gateway::registry", "{e}; registered devices must be registered again");
                return Registry::default();
            }
        };
        match Registry::decode(&bytes, endpoint_id) {
            Ok(registry) => registry,
            Err(reason) => {
                log::warn!(target: "iotcs::gateway::registry",
                    "{}: {reason}; ignoring it (registering a device again rewrites it)",
                    gateway.state_directory().join(FILE).display()
                );
                Registry::default()
            }
        }
    }

    /// Parses the file's content for `gateway_endpoint_id`.
    fn decode(bytes: &[u8], gateway_endpoint_id: &str) -> Result<Registry, String> {
        let stored: Stored =
            serde_json::from_slice(bytes).map_err(|e| format!("not a registrations file ({e})"))?;
        if stored.gateway_endpoint_id != gateway_endpoint_id {
            return Err(format!(
                "the registrations are of gateway endpoint {}, not {gateway_endpoint_id}",
                stored.gateway_endpoint_id
            ));
        }
        let mut registry = Registry::default();
        for registration in stored.devices {
            registry.insert(registration);
        }
        Ok(registry)
    }

    /// The file's content for `gateway_endpoint_id`.
    pub(crate) fn encode(&self, gateway_endpoint_id: &str) -> Result<Vec<u8>, Error> {
        let stored = Stored {
            gateway_endpoint_id: gateway_endpoint_id.to_owned(),
            devices: self.by_hardware.values().cloned().collect(),
        };
        serde_json::to_vec_pretty(&stored)
            .map_err(|e| Error::protocol(format!("cannot encode the registrations: {e}")))
    }

    /// How many devices are registered.
    pub(crate) fn len(&self) -> usize {
        self.by_hardware.len()
    }

    /// The registration of `hardware_id`.
    pub(crate) fn by_hardware_id(&self, hardware_id: &str) -> Option<&Record> {
        self.by_hardware.get(hardware_id)
    }

    /// The registration of `endpoint_id`.
    pub(crate) fn by_endpoint_id(&self, endpoint_id: &str) -> Option<&Record> {
        self.by_hardware.get(self.by_endpoint.get(endpoint_id)?)
    }

    /// Records `registration`, replacing the one of its hardware id; whether
    /// anything changed (an unchanged registration need not be written).
    pub(crate) fn insert(&mut self, registration: Record) -> bool {
        if self.by_hardware.get(&registration.hardware_id) == Some(&registration) {
            return false;
        }
        if let Some(old) = self.by_hardware.get(&registration.hardware_id) {
            self.by_endpoint.remove(&old.endpoint_id);
        }
        self.by_endpoint.insert(
            registration.endpoint_id.clone(),
            registration.hardware_id.clone(),
        );
        self.by_hardware
            .insert(registration.hardware_id.clone(), registration);
        true
    }

    /// Forgets `hardware_id` (a failed write is rolled back this way).
    pub(crate) fn remove(&mut self, hardware_id: &str) {
        if let Some(old) = self.by_hardware.remove(hardware_id) {
            self.by_endpoint.remove(&old.endpoint_id);
        }
    }
}

/// Whether `e` means the cloud could not be asked (rather than that it
/// refused): no connection, a timeout, or an answer that says "not now"
/// (408, 429, 5xx).
pub(crate) fn is_unreachable(e: &Error) -> bool {
    match e {
        Error::Network { .. } | Error::Timeout { .. } => true,
        Error::Transport { status, .. } => matches!(status, 408 | 429 | 500..=599),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(hardware_id: &str, endpoint_id: &str) -> Record {
        Record {
            hardware_id: hardware_id.into(),
            endpoint_id: endpoint_id.into(),
            device_models: vec!["urn:a".into()],
            metadata: BTreeMap::from([("manufacturer".into(), "Acme".into())]),
            restricted: false,
        }
    }

    #[test]
    fn registrations_round_trip_for_their_gateway_only() {
        let mut registry = Registry::default();
        assert!(registry.insert(registration("hw-1", "EP-1")));
        assert!(!registry.insert(registration("hw-1", "EP-1")), "unchanged");
        assert!(registry.insert(registration("hw-2", "EP-2")));
        let bytes = registry.encode("GW").unwrap();
        let back = Registry::decode(&bytes, "GW").unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.by_endpoint_id("EP-2").unwrap().hardware_id, "hw-2");
        assert_eq!(back.by_hardware_id("hw-1").unwrap().endpoint_id, "EP-1");
        let e = Registry::decode(&bytes, "OTHER").unwrap_err();
        assert!(e.contains("GW"), "{e}");
        assert!(Registry::decode(b"{", "GW").is_err());
    }

    #[test]
    fn a_new_endpoint_for_a_hardware_id_replaces_the_old_one() {
        let mut registry = Registry::default();
        registry.insert(registration("hw-1", "EP-1"));
        registry.insert(registration("hw-1", "EP-9"));
        assert!(registry.by_endpoint_id("EP-1").is_none());
        assert_eq!(registry.by_endpoint_id("EP-9").unwrap().hardware_id, "hw-1");
        registry.remove("hw-1");
        assert!(registry.by_endpoint_id("EP-9").is_none());
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn only_failures_to_ask_count_as_unreachable() {
        let transport = |status| Error::Transport {
            status,
            method: "POST".into(),
            path: "/p".into(),
            body: String::new(),
        };
        assert!(is_unreachable(&Error::Network {
            reason: "refused".into(),
            source: None
        }));
        assert!(is_unreachable(&Error::Timeout {
            operation: "x".into()
        }));
        assert!(is_unreachable(&transport(503)));
        assert!(is_unreachable(&transport(429)));
        assert!(!is_unreachable(&transport(400)));
        assert!(!is_unreachable(&transport(403)));
        assert!(!is_unreachable(&Error::argument("x")));
    }
}
