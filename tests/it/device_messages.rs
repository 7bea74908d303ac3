//! Device to cloud: attribute values, transactions, alerts, custom data.

use iotcs_core::message::{MessageType, Payload, Reliability, Severity};
use iotcs_core::model::samples;
use iotcs_device::{ErrorKind, Value};

use crate::util::{self, TestCloud};

#[test]
fn set_arrives_with_the_attributes_format_and_values() {
    let cloud = TestCloud::start("set");
    let t = util::thermostat(&cloud, "dcd-set");
    t.vd.set("temp", 23.5)
        .unwrap()
        .set("unit", "Celsius")
        .unwrap();
    // An alias names the same attribute.
    t.vd.set("temperature", 24).unwrap();
    let data = cloud.wait_for(&t.endpoint, MessageType::Data, 3);
    let format = format!("{}:attributes", util::THERMOSTAT);
    let values: Vec<_> = data
        .iter()
        .map(|m| {
            let (f, d) = util::data_of(m);
            assert_eq!(f, format);
            assert_eq!(m.source(), t.endpoint);
            assert_eq!(m.reliability(), Reliability::BestEffort);
            d
        })
        .collect();
    assert_eq!(values[0], [("temp".to_owned(), serde_json::json!(23.5))]);
    assert_eq!(
        values[1],
        [("unit".to_owned(), serde_json::json!("Celsius"))]
    );
    assert_eq!(values[2], [("temp".to_owned(), serde_json::json!(24.0))]);
    assert_eq!(t.vd.get("temp").unwrap(), Some(Value::Number(24.0)));
    util::eventually("the last value is known delivered", || {
        t.vd.last_known("temp").unwrap() == Some(Value::Number(24.0))
    });
}

#[test]
fn a_transaction_arrives_as_one_message() {
    let cloud = TestCloud::start("update");
    let t = util::thermostat(&cloud, "dcd-update");
    let start = 1_600_000_000_000_i64;
    t.vd.update()
        .set("minTemp", 18.0)
        .unwrap()
        .set("maxTemp", 26.0)
        .unwrap()
        .set("startTime", Value::DateTime(start))
        .unwrap()
        .finish()
        .unwrap();
    t.vd.offer("temp", 20.0).unwrap();
    let data = cloud.wait_for(&t.endpoint, MessageType::Data, 2);
    let (_, values) = util::data_of(&data[0]);
    assert_eq!(
        values,
        [
            ("maxTemp".to_owned(), serde_json::json!(26.0)),
            ("minTemp".to_owned(), serde_json::json!(18.0)),
            ("startTime".to_owned(), serde_json::json!(start)),
        ]
    );
    assert_eq!(
        util::data_of(&data[1]).1,
        [("temp".to_owned(), serde_json::json!(20.0))]
    );
}

#[test]
fn alerts_and_custom_data_arrive() {
    let cloud = TestCloud::start("alert");
    let t = util::thermostat(&cloud, "dcd-alert");
    t.vd.create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)
        .unwrap()
        .set("temp", 81.5)
        .unwrap()
        .set("maxThreshold", 70.0)
        .unwrap()
        .set_severity(Severity::Critical)
        .raise()
        .unwrap();
    t.vd.create_data(samples::TEMPERATURE_SUMMARY_FORMAT)
        .unwrap()
        .set("minTemp", 18.0)
        .unwrap()
        .set("maxTemp", 24.5)
        .unwrap()
        .set("averageTemp", 21.0)
        .unwrap()
        .set("samples", 360)
        .unwrap()
        .submit()
        .unwrap();

    let alerts = cloud.wait_for(&t.endpoint, MessageType::Alert, 1);
    match alerts[0].payload() {
        Payload::Alert(a) => {
            assert_eq!(a.format(), samples::TEMPERATURE_TOO_HOT_FORMAT);
            assert_eq!(a.severity(), Severity::Critical);
            assert_eq!(
                a.description(),
                "Temperature has risen above the maximum threshold"
            );
            assert_eq!(a.get("temp"), Some(&serde_json::json!(81.5)));
            assert_eq!(a.get("maxThreshold"), Some(&serde_json::json!(70.0)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(alerts[0].reliability(), Reliability::GuaranteedDelivery);
    let data = cloud.wait_for(&t.endpoint, MessageType::Data, 1);
    let (format, values) = util::data_of(&data[0]);
    assert_eq!(format, samples::TEMPERATURE_SUMMARY_FORMAT);
    assert_eq!(values.len(), 4);
    assert_eq!(
        values.iter().find(|(n, _)| n == "samples").unwrap().1,
        serde_json::json!(360)
    );
}

#[test]
fn validation_failures_send_nothing() {
    let cloud = TestCloud::start("validation");
    let t = util::thermostat(&cloud, "dcd-validation");
    let refused = [
        t.vd.set("temp", 500.0).map(|_| ()),
        t.vd.set("temp", "warm").map(|_| ()),
        t.vd.set("reportingInterval", 2.5).map(|_| ()),
        t.vd.set("nosuch", 1).map(|_| ()),
        t.vd.update()
            .set("minTemp", 1.0)
            .and_then(|u| u.set("maxTemp", f64::NAN))
            .and_then(|u| u.finish()),
        t.vd.create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)
            .unwrap()
            .set("temp", 90.0)
            .map(|_| ()),
        t.vd.create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)
            .unwrap()
            .set("temp", 90.0)
            .unwrap()
            .raise(),
        t.vd.create_data(samples::TEMPERATURE_SUMMARY_FORMAT)
            .unwrap()
            .set("samples", "many")
            .map(|_| ()),
        t.vd.create_data(samples::TEMPERATURE_SUMMARY_FORMAT)
            .unwrap()
            .submit(),
        t.vd.create_alert("urn:com:example:nosuch").map(|_| ()),
    ];
    // The sixth call is valid (it only sets a field); every other one fails.
    for (i, result) in refused.iter().enumerate() {
        if i == 5 {
            assert!(result.is_ok());
        } else {
            let e = result.as_ref().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Argument, "call {i}: {e}");
        }
    }
    // A marker goes through the same queue after all of them: once it has
    // arrived, anything refused above would have arrived before it.
    t.vd.set("unit", "marker").unwrap();
    cloud.wait_for(&t.endpoint, MessageType::Data, 1);
    // The RESOURCES_REPORT of the capability resources is sent at start.
    let sent: Vec<_> = cloud
        .messages_from(&t.endpoint)
        .into_iter()
        .filter(|m| m.message_type() != MessageType::ResourcesReport)
        .collect();
    let kinds: Vec<MessageType> = sent.iter().map(|m| m.message_type()).collect();
    assert_eq!(kinds, [MessageType::Data], "{sent:?}");
    assert_eq!(
        util::data_of(&sent[0]).1,
        [("unit".to_owned(), serde_json::json!("marker"))]
    );
    assert_eq!(t.vd.get("temp").unwrap(), None);
}
