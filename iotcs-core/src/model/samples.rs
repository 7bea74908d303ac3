//! Sample device models for the examples, the local cloud and tests: a
//! temperature sensor and a humidity sensor.
//!
//! Both have read-only readings with ranges, writable thresholds and a
//! reporting interval, an action with an argument and one without, an ALERT
//! format (with a description, which Oracle's JS library needs to raise it)
//! and a DATA format. No attribute or action is named like a property of the
//! JS `VirtualDevice` (`client`, `update`, `attributes`, ...), which the JS
//! library would silently fail to link.
//!
//! | model | attributes | actions | formats |
//! |---|---|---|---|
//! | temperature sensor | `temp` (alias `temperature`), `minTemp`, `maxTemp`, `unit`, `startTime` read-only; `minThreshold`, `maxThreshold`, `reportingInterval` writable | `reset`, `power(BOOLEAN)` | ALERT `:too_hot`, ALERT `:too_cold`, DATA `:summary` |
//! | humidity sensor | `humidity`, `dewPoint` read-only; `maxThreshold`, `reportingInterval`, `location` writable | `calibrate(NUMBER -10..10)`, `selfTest` | ALERT `:too_humid`, DATA `:summary` |

use super::DeviceModel;

/// The URN of the temperature sensor model.
pub const TEMPERATURE_SENSOR_URN: &str = "urn:com:example:iotcs:temperature_sensor";
/// The URN of the humidity sensor model.
pub const HUMIDITY_SENSOR_URN: &str = "urn:com:example:iotcs:humidity_sensor";

/// The temperature sensor's too-hot ALERT format.
pub const TEMPERATURE_TOO_HOT_FORMAT: &str = "urn:com:example:iotcs:temperature_sensor:too_hot";
/// The temperature sensor's too-cold ALERT format.
pub const TEMPERATURE_TOO_COLD_FORMAT: &str = "urn:com:example:iotcs:temperature_sensor:too_cold";
/// The temperature sensor's summary DATA format.
pub const TEMPERATURE_SUMMARY_FORMAT: &str = "urn:com:example:iotcs:temperature_sensor:summary";
/// The humidity sensor's too-humid ALERT format.
pub const HUMIDITY_TOO_HUMID_FORMAT: &str = "urn:com:example:iotcs:humidity_sensor:too_humid";
/// The humidity sensor's summary DATA format.
pub const HUMIDITY_SUMMARY_FORMAT: &str = "urn:com:example:iotcs:humidity_sensor:summary";

/// The temperature sensor model as Oracle device-model JSON.
pub const TEMPERATURE_SENSOR_JSON: &str = include_str!("../../models/temperature_sensor.json");
/// The humidity sensor model as Oracle device-model JSON.
pub const HUMIDITY_SENSOR_JSON: &str = include_str!("../../models/humidity_sensor.json");

/// The temperature sensor model.
pub fn temperature_sensor() -> DeviceModel {
    bundled(TEMPERATURE_SENSOR_JSON)
}

/// The humidity sensor model.
pub fn humidity_sensor() -> DeviceModel {
    bundled(HUMIDITY_SENSOR_JSON)
}

/// Both sample models.
pub fn models() -> Vec<DeviceModel> {
    vec![temperature_sensor(), humidity_sensor()]
}

fn bundled(json: &str) -> DeviceModel {
    DeviceModel::from_json(json)
        .expect("bundled sample models are valid; the tests parse every one")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{ActionArguments, FormatType};
    use crate::{ValidationRule, Value, ValueType};

    /// Properties and methods of Oracle's JS `VirtualDevice` that a model
    /// member must not shadow.
    const JS_RESERVED: [&str; 13] = [
        "client",
        "update",
        "attributes",
        "actions",
        "model",
        "onChange",
        "onError",
        "close",
        "offer",
        "createAlert",
        "createData",
        "getEndpointId",
        "getDeviceModel",
    ];

    #[test]
    fn samples_parse_with_their_urns() {
        let t = temperature_sensor();
        assert_eq!(t.urn(), TEMPERATURE_SENSOR_URN);
        assert_eq!(
            t.attributes_format_urn(),
            "urn:com:example:iotcs:temperature_sensor:attributes"
        );
        let h = humidity_sensor();
        assert_eq!(h.urn(), HUMIDITY_SENSOR_URN);
        assert_eq!(models(), [t, h]);
    }

    #[test]
    fn samples_have_what_examples_and_the_cloud_need() {
        for m in models() {
            let urn = m.urn();
            assert!(!m.is_system() && !m.is_draft(), "{urn}");
            assert!(
                m.attributes().iter().any(|a| !a.is_writable()
                    && a.value_type().is_numeric()
                    && a.range().is_some()),
                "{urn}: a read-only numeric reading with a range"
            );
            assert!(
                m.attributes()
                    .iter()
                    .any(|a| a.is_writable() && a.default_value().is_some()),
                "{urn}"
            );
            assert!(
                m.actions().iter().any(|a| a.takes_arguments()),
                "{urn}: an action with an argument"
            );
            assert!(
                m.actions().iter().any(|a| !a.takes_arguments()),
                "{urn}: an action without"
            );
            let alert = m
                .formats()
                .iter()
                .find(|f| f.format_type() == FormatType::Alert);
            assert!(
                alert.is_some_and(|f| !f.description().is_empty()),
                "{urn}: an ALERT with a description"
            );
            assert!(
                m.formats()
                    .iter()
                    .any(|f| f.format_type() == FormatType::Data),
                "{urn}: a DATA format"
            );
            for f in m.formats() {
                assert!(f.urn().starts_with(urn), "{}", f.urn());
                assert_eq!(f.device_model(), urn);
                assert!(!f.description().is_empty(), "{}", f.urn());
            }
        }
        let t = temperature_sensor();
        for urn in [
            TEMPERATURE_TOO_HOT_FORMAT,
            TEMPERATURE_TOO_COLD_FORMAT,
            TEMPERATURE_SUMMARY_FORMAT,
        ] {
            assert!(t.format(urn).is_some(), "{urn}");
        }
        let h = humidity_sensor();
        for urn in [HUMIDITY_TOO_HUMID_FORMAT, HUMIDITY_SUMMARY_FORMAT] {
            assert!(h.format(urn).is_some(), "{urn}");
        }
    }

    #[test]
    fn no_member_shadows_a_js_virtual_device_property() {
        for m in models() {
            let names = m
                .attributes()
                .iter()
                .flat_map(|a| [Some(a.name()), a.alias()])
                .chain(m.actions().iter().flat_map(|a| [Some(a.name()), a.alias()]))
                .flatten();
            for name in names {
                assert!(
                    !JS_RESERVED.contains(&name) && !name.starts_with('_'),
                    "{}: {name}",
                    m.urn()
                );
            }
        }
    }

    #[test]
    fn temperature_sensor_validates_as_documented() {
        let t = temperature_sensor();
        let (temp, v) = t
            .validate_attribute("temperature", Value::from(21))
            .unwrap();
        assert_eq!((temp.name(), v), ("temp", Value::Number(21.0)));
        let e = t
            .validate_attribute("temp", Value::from(130.5))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "attribute \"temp\" of urn:com:example:iotcs:temperature_sensor: value 130.5 is outside the range -40..125"
        );
        assert_eq!(
            t.attribute("maxThreshold").unwrap().default_value(),
            Some(&Value::Number(70.0))
        );
        assert_eq!(
            t.attribute("startTime").unwrap().value_type(),
            ValueType::DateTime
        );

        let body = json!({"maxThreshold": 60, "reportingInterval": 5});
        let got = t
            .validate_remote_attributes_json(body.as_object().unwrap())
            .unwrap();
        assert_eq!(
            got,
            [
                ("maxThreshold".to_owned(), Value::Number(60.0)),
                ("reportingInterval".to_owned(), Value::Integer(5))
            ]
        );
        let body = json!({"temp": 20});
        let e = t
            .validate_remote_attributes_json(body.as_object().unwrap())
            .unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::NotWritable);

        let power = t.action("power").unwrap();
        assert_eq!(
            power.validate_body(&json!({"value": false})).unwrap(),
            ActionArguments::Single(Value::Boolean(false))
        );
        assert_eq!(
            t.action("reset")
                .unwrap()
                .validate_body(&json!({}))
                .unwrap(),
            ActionArguments::None
        );

        let hot = t.format(TEMPERATURE_TOO_HOT_FORMAT).unwrap();
        let fields = vec![
            ("temp".to_owned(), Value::from(80)),
            ("maxThreshold".to_owned(), Value::from(70)),
        ];
        assert!(hot.validate_fields(fields).is_ok());
    }

    #[test]
    fn humidity_sensor_validates_as_documented() {
        let h = humidity_sensor();
        assert_eq!(
            h.validate_attribute("humidity", Value::from(55.0))
                .unwrap()
                .1,
            Value::Integer(55)
        );
        assert!(h.validate_attribute("humidity", Value::from(55.5)).is_err());
        assert!(h.validate_attribute("humidity", Value::from(101)).is_err());
        let cal = h.action("calibrate").unwrap();
        assert_eq!(
            cal.validate_body(&json!({"value": -2.5})).unwrap(),
            ActionArguments::Single(Value::Number(-2.5))
        );
        assert_eq!(
            cal.validate_body(&json!({"value": 11})).unwrap_err().rule(),
            &ValidationRule::OutOfRange {
                range: *cal.range().unwrap()
            }
        );
        let summary = h.format(HUMIDITY_SUMMARY_FORMAT).unwrap();
        assert!(
            summary
                .check_complete(["minHumidity", "maxHumidity"])
                .is_ok()
        );
    }
}
