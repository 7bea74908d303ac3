//! Issue 16's "Why" list, as a new user writes it: each snippet compiles in
//! its natural form and does what it says against the local cloud. The
//! forms that must not compile are pinned by `compile_fail` doctests on
//! `Alert`, `Update`, `VirtualDevice::on_change` and `Registration`.

use iotcs_core::message::{MessageType, Payload};
use iotcs_core::model::samples;
use iotcs_device::{Error, Rejection, Update, Value, VirtualDevice};
use iotcs_gateway::{GatewayDevice, Registration};
use serde_json::json;

use crate::util::{self, THERMOSTAT, TestCloud};

/// `let a = vd.create_alert(urn)?.set(..)?; a.raise()?`: the builder is
/// owned, so the `let` form compiles and raises what it says.
fn raise_in_two_statements(vd: &VirtualDevice) -> Result<(), Error> {
    let alert = vd
        .create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)?
        .set("temp", 81.5)?;
    let alert = alert.set("maxThreshold", 70.0)?;
    alert.raise()?;
    Ok(())
}

#[test]
fn an_alert_built_in_a_let_is_raised_with_its_fields() {
    let cloud = TestCloud::start("shape-alert");
    let t = util::thermostat(&cloud, "shape-alert");
    raise_in_two_statements(&t.vd).unwrap();
    let alerts = cloud.wait_for(&t.endpoint, MessageType::Alert, 1);
    match alerts[0].payload() {
        Payload::Alert(a) => {
            assert_eq!(a.format(), samples::TEMPERATURE_TOO_HOT_FORMAT);
            assert_eq!(a.get("temp"), Some(&json!(81.5)));
            assert_eq!(a.get("maxThreshold"), Some(&json!(70.0)));
        }
        other => panic!("not an alert: {other:?}"),
    }
}

#[test]
fn an_update_opened_on_one_thread_is_finished_on_another() {
    let cloud = TestCloud::start("shape-update");
    let t = util::thermostat(&cloud, "shape-update");
    let update: Update = t.vd.update().set("minThreshold", 10).unwrap();
    let finisher = std::thread::spawn(move || update.set("maxThreshold", 20)?.finish());
    finisher.join().unwrap().unwrap();
    let data = cloud.wait_for(&t.endpoint, MessageType::Data, 1);
    assert_eq!(
        util::data_of(&data[0]).1,
        [
            ("maxThreshold".to_owned(), json!(20.0)),
            ("minThreshold".to_owned(), json!(10.0))
        ]
    );
    assert_eq!(t.vd.get("maxThreshold").unwrap(), Some(Value::Number(20.0)));
}

#[test]
fn callbacks_name_their_attribute_or_say_any_and_can_reject() {
    let cloud = TestCloud::start("shape-callbacks");
    let t = util::thermostat(&cloud, "shape-callbacks");
    let (tx, rx) = std::sync::mpsc::channel();
    let any = tx.clone();
    t.vd.on_change("maxThreshold", |event| {
        if event.named_value().value() == &Value::Number(99.0) {
            return Err(Rejection::from("too hot"));
        }
        Ok(())
    })
    .unwrap()
    .on_change_any(move |event| {
        any.send(event.named_value().name().to_owned()).unwrap();
        Ok(())
    })
    .on_action_any(move |event| {
        tx.send(event.name().to_owned()).unwrap();
        Ok(())
    });
    let refused = cloud
        .admin
        .set_attribute(&t.endpoint, THERMOSTAT, "maxThreshold", json!(99))
        .unwrap();
    let accepted = cloud
        .admin
        .set_attribute(&t.endpoint, THERMOSTAT, "maxThreshold", json!(75))
        .unwrap();
    let action = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "reset", None)
        .unwrap();
    let status = |id: &str| {
        cloud
            .admin
            .wait_for_request(id, util::PATIENCE)
            .unwrap()
            .response_status()
    };
    assert_eq!(status(&refused), Some(400));
    assert_eq!(status(&accepted), Some(200));
    assert_eq!(status(&action), Some(200));
    // The general change callback ran only for the accepted change.
    assert_eq!(util::recv(&rx), "maxThreshold");
    assert_eq!(util::recv(&rx), "reset");
    assert_eq!(t.vd.get("maxThreshold").unwrap(), Some(Value::Number(75.0)));
}

#[test]
fn a_device_registers_without_metadata_annotations_and_restricted_by_name() {
    let cloud = TestCloud::start("shape-register");
    let (gateway, _path): (GatewayDevice, _) = util::gateway(&cloud, "shape-gw", &[]);
    let models = [THERMOSTAT];
    let plain = gateway
        .register_device(Registration::new("shape-plain", &models))
        .unwrap();
    let restricted = gateway
        .register_device(
            Registration::new("shape-restricted", &models)
                .metadata(GatewayDevice::MANUFACTURER, "Acme")
                .restricted(),
        )
        .unwrap();
    assert_ne!(plain, restricted);
    let info = cloud.admin.device(&restricted).unwrap();
    assert_eq!(info.gateway_id(), gateway.endpoint_id());
    assert_eq!(info.metadata().unwrap()["manufacturer"], json!("Acme"));
    gateway.close().unwrap();
}
