//! Oracle's built-in capability models (protocol §3.4, §8.6).
//!
//! Devices list these URNs at activation beside their own models: every
//! device `direct_activation` and `device_policy`, a gateway also
//! `indirect_activation`, and the high-level API `diagnostics` and
//! `message_dispatcher`. The server holds them as system models
//! (`"system": true`). Only two have formats:
//!
//! - `diagnostics`: DATA [`DIAGNOSTICS_TEST_MESSAGE_FORMAT`] with `current`,
//!   `count` (INTEGER) and `payload` (STRING), the connectivity test's
//!   messages. `current` is optional because Oracle's JS library sends only
//!   `count` and `payload`, while Java sends all three.
//! - `message_dispatcher`: ALERT [`MESSAGE_DISPATCHER_OVERFLOW_FORMAT`] with
//!   `description` (STRING) and `maxNumMessages` (INTEGER).
//!
//! A device may also name capability URNs that have no model here (Oracle
//! tooling uses `logging`, `power_management`, `software_management`); use
//! [`is_capability_urn`] to recognise them.

use super::DeviceModel;

/// The prefix shared by every capability URN.
pub const URN_PREFIX: &str = "urn:oracle:iot:dcd:capability:";

/// The capability of a device that activates itself.
pub const DIRECT_ACTIVATION: &str = "urn:oracle:iot:dcd:capability:direct_activation";
/// The capability of a gateway that registers indirectly connected devices.
pub const INDIRECT_ACTIVATION: &str = "urn:oracle:iot:dcd:capability:indirect_activation";
/// The diagnostics capability: `info` and `testConnectivity` resources.
pub const DIAGNOSTICS: &str = "urn:oracle:iot:dcd:capability:diagnostics";
/// The message dispatcher capability: `counters`, `reset`, `pollingInterval`.
pub const MESSAGE_DISPATCHER: &str = "urn:oracle:iot:dcd:capability:message_dispatcher";
/// The device policy capability: the `policyChanged` notification.
pub const DEVICE_POLICY: &str = "urn:oracle:iot:dcd:capability:device_policy";

/// The DATA format of the diagnostics connectivity test messages.
pub const DIAGNOSTICS_TEST_MESSAGE_FORMAT: &str =
    "urn:oracle:iot:dcd:capability:diagnostics:test_message";
/// The ALERT format raised when the message dispatcher's queue overflows.
pub const MESSAGE_DISPATCHER_OVERFLOW_FORMAT: &str =
    "urn:oracle:iot:dcd:capability:message_dispatcher:overflow";

/// The JSON of the direct activation model.
pub const DIRECT_ACTIVATION_JSON: &str = include_str!("../../models/direct_activation.json");
/// The JSON of the indirect activation model.
pub const INDIRECT_ACTIVATION_JSON: &str = include_str!("../../models/indirect_activation.json");
/// The JSON of the diagnostics model.
pub const DIAGNOSTICS_JSON: &str = include_str!("../../models/diagnostics.json");
/// The JSON of the message dispatcher model.
pub const MESSAGE_DISPATCHER_JSON: &str = include_str!("../../models/message_dispatcher.json");
/// The JSON of the device policy model.
pub const DEVICE_POLICY_JSON: &str = include_str!("../../models/device_policy.json");

/// Every (URN, JSON) pair, in the order of [`models`].
const ALL: [(&str, &str); 5] = [
    (DIRECT_ACTIVATION, DIRECT_ACTIVATION_JSON),
    (INDIRECT_ACTIVATION, INDIRECT_ACTIVATION_JSON),
    (DIAGNOSTICS, DIAGNOSTICS_JSON),
    (MESSAGE_DISPATCHER, MESSAGE_DISPATCHER_JSON),
    (DEVICE_POLICY, DEVICE_POLICY_JSON),
];

/// Whether `urn` names a capability (starts with [`URN_PREFIX`] and has a
/// name after it), whether or not a model for it is bundled.
pub fn is_capability_urn(urn: &str) -> bool {
    urn.strip_prefix(URN_PREFIX)
        .is_some_and(|name| !name.is_empty())
}

/// The bundled capability models: direct activation, indirect activation,
/// diagnostics, message dispatcher, device policy.
pub fn models() -> Vec<DeviceModel> {
    ALL.iter().map(|(_, json)| bundled(json)).collect()
}

/// The bundled capability model with this URN.
pub fn model(urn: &str) -> Option<DeviceModel> {
    ALL.iter()
        .find(|(u, _)| *u == urn)
        .map(|(_, json)| bundled(json))
}

/// The direct activation model.
pub fn direct_activation() -> DeviceModel {
    bundled(DIRECT_ACTIVATION_JSON)
}

/// The indirect activation model.
pub fn indirect_activation() -> DeviceModel {
    bundled(INDIRECT_ACTIVATION_JSON)
}

/// The diagnostics model.
pub fn diagnostics() -> DeviceModel {
    bundled(DIAGNOSTICS_JSON)
}

/// The message dispatcher model.
pub fn message_dispatcher() -> DeviceModel {
    bundled(MESSAGE_DISPATCHER_JSON)
}

/// The device policy model.
pub fn device_policy() -> DeviceModel {
    bundled(DEVICE_POLICY_JSON)
}

fn bundled(json: &str) -> DeviceModel {
    DeviceModel::from_json(json)
        .expect("bundled capability models are valid; the tests parse every one")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ValueType;
    use crate::model::FormatType;

    #[test]
    fn every_bundled_model_parses_and_is_a_system_model() {
        let models = models();
        assert_eq!(models.len(), 5);
        for (model, (urn, _)) in models.iter().zip(ALL) {
            assert_eq!(model.urn(), urn);
            assert!(model.is_system() && !model.is_draft(), "{urn}");
            assert!(
                !model.name().is_empty() && !model.description().is_empty(),
                "{urn}"
            );
            assert!(is_capability_urn(model.urn()));
            assert_eq!(
                model.urn().strip_prefix(URN_PREFIX).map(str::is_empty),
                Some(false)
            );
            assert_eq!(super::model(urn).as_ref(), Some(model));
        }
        assert_eq!(direct_activation().urn(), DIRECT_ACTIVATION);
        assert_eq!(indirect_activation().urn(), INDIRECT_ACTIVATION);
        assert_eq!(device_policy().urn(), DEVICE_POLICY);
        assert!(direct_activation().formats().is_empty());
        assert!(super::model("urn:oracle:iot:dcd:capability:logging").is_none());
    }

    #[test]
    fn diagnostics_has_the_test_message_format() {
        let m = diagnostics();
        assert_eq!(m.urn(), DIAGNOSTICS);
        let f = m.format(DIAGNOSTICS_TEST_MESSAGE_FORMAT).unwrap();
        assert_eq!(f.format_type(), FormatType::Data);
        assert_eq!(f.device_model(), DIAGNOSTICS);
        let fields: Vec<_> = f
            .fields()
            .iter()
            .map(|f| (f.name(), f.value_type()))
            .collect();
        assert_eq!(
            fields,
            [
                ("current", ValueType::Integer),
                ("count", ValueType::Integer),
                ("payload", ValueType::String)
            ]
        );
        // What Oracle's JS library sends passes.
        assert!(f.check_complete(["count", "payload"]).is_ok());
    }

    #[test]
    fn message_dispatcher_has_the_overflow_alert() {
        let m = message_dispatcher();
        assert_eq!(m.urn(), MESSAGE_DISPATCHER);
        let f = m.format(MESSAGE_DISPATCHER_OVERFLOW_FORMAT).unwrap();
        assert_eq!(f.format_type(), FormatType::Alert);
        assert!(
            !f.description().is_empty(),
            "Oracle's JS library needs an alert description"
        );
        let fields: Vec<_> = f
            .fields()
            .iter()
            .map(|f| (f.name(), f.value_type(), f.is_optional()))
            .collect();
        assert_eq!(
            fields,
            [
                ("description", ValueType::String, false),
                ("maxNumMessages", ValueType::Integer, false)
            ]
        );
    }

    #[test]
    fn recognises_capability_urns() {
        assert!(is_capability_urn("urn:oracle:iot:dcd:capability:logging"));
        assert!(is_capability_urn(DEVICE_POLICY));
        assert!(!is_capability_urn(URN_PREFIX));
        assert!(!is_capability_urn(
            "urn:com:example:iotcs:temperature_sensor"
        ));
        assert!(!is_capability_urn("URN:ORACLE:IOT:DCD:CAPABILITY:LOGGING"));
        assert!(!is_capability_urn(""));
    }
}
