//! The refusals a program reacts to are kinds it can match, not texts: one
//! table pins which variant each public method returns for each bad input
//! (issue 16), and a full queue, a full store and a closed device hand the
//! refused messages back; each from the real SDK against the local cloud.

use std::time::Duration;

use iotcs_core::model::samples;
use iotcs_device::{DirectlyConnectedDevice, Error, VirtualDevice};
use iotcs_gateway::Registration;
use iotcs_server::{DeviceRegistration, Fault};

use crate::util::{
    MESSAGES, PASSPHRASE, THERMOSTAT, TestCloud, config, durable_config, thermostat,
    thermostat_with,
};

/// The variant a row expects.
#[derive(Clone, Copy, Debug)]
enum Expect {
    UnknownAttribute,
    UnknownFormat,
    UnknownAction,
    Validation,
    /// Not activated.
    State,
    Closed,
    /// `Error::Unsent` handing the messages back, because the device is closed.
    UnsentClosed,
}

impl Expect {
    fn matches(self, e: &Error) -> bool {
        match self {
            Expect::UnknownAttribute => matches!(e, Error::UnknownAttribute { .. }),
            Expect::UnknownFormat => matches!(e, Error::UnknownFormat { .. }),
            Expect::UnknownAction => matches!(e, Error::UnknownAction { .. }),
            Expect::Validation => matches!(e, Error::Validation(_)),
            Expect::State => matches!(e, Error::State { .. }),
            Expect::Closed => *e == Error::Closed,
            Expect::UnsentClosed => {
                matches!(e, Error::Unsent { .. })
                    && *e.unsent_reason() == Error::Closed
                    && !e.unsent_messages().is_empty()
            }
        }
    }
}

/// One row: the method, the bad input, what it returned, what it must.
type Row = (&'static str, &'static str, Result<(), Error>, Expect);

/// Fails listing every row whose result is not the expected variant.
fn check(table: Vec<Row>) {
    let wrong: Vec<String> = table
        .into_iter()
        .filter(|(_, _, result, expect)| !result.as_ref().is_err_and(|e| expect.matches(e)))
        .map(|(method, input, result, expect)| {
            format!("{method} with {input}: expected {expect:?}, got {result:?}")
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// Every call of the builders and callbacks goes through these helpers, so
// the table reads as one row per situation.

fn alert_set(
    vd: &VirtualDevice,
    field: &str,
    value: impl Into<iotcs_device::Value>,
) -> Result<(), Error> {
    let _alert = vd
        .create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)?
        .set(field, value)?;
    Ok(())
}

fn data_set(
    vd: &VirtualDevice,
    field: &str,
    value: impl Into<iotcs_device::Value>,
) -> Result<(), Error> {
    let _data = vd
        .create_data(samples::TEMPERATURE_SUMMARY_FORMAT)?
        .set(field, value)?;
    Ok(())
}

/// Raises a complete too-hot alert.
fn raise(vd: &VirtualDevice) -> Result<(), Error> {
    let alert = vd
        .create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)?
        .set("temp", 80.0)?
        .set("maxThreshold", 70.0)?;
    alert.raise()
}

/// Raises a too-hot alert without its required fields.
fn raise_incomplete(vd: &VirtualDevice) -> Result<(), Error> {
    vd.create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)?
        .raise()
}

/// Submits a complete summary.
fn submit(vd: &VirtualDevice) -> Result<(), Error> {
    let data = vd
        .create_data(samples::TEMPERATURE_SUMMARY_FORMAT)?
        .set("minTemp", 1.0)?
        .set("maxTemp", 2.0)?
        .set("averageTemp", 1.5)?
        .set("samples", 2)?;
    data.submit()
}

/// Submits a summary without its required fields.
fn submit_incomplete(vd: &VirtualDevice) -> Result<(), Error> {
    vd.create_data(samples::TEMPERATURE_SUMMARY_FORMAT)?
        .submit()
}

fn on_change(vd: &VirtualDevice, attribute: &str) -> Result<(), Error> {
    vd.on_change(attribute, |_| Ok(())).map(drop)
}

fn on_error(vd: &VirtualDevice, attribute: &str) -> Result<(), Error> {
    vd.on_error(attribute, |_| {}).map(drop)
}

fn on_action(vd: &VirtualDevice, action: &str) -> Result<(), Error> {
    vd.on_action(action, |_| Ok(())).map(drop)
}

fn update_set(
    vd: &VirtualDevice,
    attribute: &str,
    value: impl Into<iotcs_device::Value>,
) -> Result<(), Error> {
    vd.update().set(attribute, value).map(drop)
}

fn update_finish(vd: &VirtualDevice) -> Result<(), Error> {
    vd.update().set("reportingInterval", 5)?.finish()
}

#[test]
fn each_bad_input_is_one_variant_whichever_method_meets_it() {
    let cloud = TestCloud::start("kind-table");
    let t = thermostat(&cloud, "kind-table-1");
    let vd = &t.vd;
    let m = samples::TEMPERATURE_SUMMARY_FORMAT;
    let hot = samples::TEMPERATURE_TOO_HOT_FORMAT;
    check(vec![
        (
            "get",
            "unknown attribute",
            vd.get("colour").map(drop),
            Expect::UnknownAttribute,
        ),
        (
            "last_known",
            "unknown attribute",
            vd.last_known("colour").map(drop),
            Expect::UnknownAttribute,
        ),
        (
            "set",
            "unknown attribute",
            vd.set("colour", 1).map(drop),
            Expect::UnknownAttribute,
        ),
        (
            "offer",
            "unknown attribute",
            vd.offer("colour", 1).map(drop),
            Expect::UnknownAttribute,
        ),
        (
            "update().set",
            "unknown attribute",
            update_set(vd, "colour", 1),
            Expect::UnknownAttribute,
        ),
        (
            "on_change",
            "unknown attribute",
            on_change(vd, "colour"),
            Expect::UnknownAttribute,
        ),
        (
            "remove_on_change",
            "unknown attribute",
            vd.remove_on_change("colour").map(drop),
            Expect::UnknownAttribute,
        ),
        (
            "on_error",
            "unknown attribute",
            on_error(vd, "colour"),
            Expect::UnknownAttribute,
        ),
        (
            "remove_on_error",
            "unknown attribute",
            vd.remove_on_error("colour").map(drop),
            Expect::UnknownAttribute,
        ),
        (
            "set",
            "wrong type",
            vd.set("temp", "warm").map(drop),
            Expect::Validation,
        ),
        (
            "offer",
            "wrong type",
            vd.offer("temp", "warm").map(drop),
            Expect::Validation,
        ),
        (
            "update().set",
            "wrong type",
            update_set(vd, "temp", "warm"),
            Expect::Validation,
        ),
        (
            "Alert::set",
            "wrong type",
            alert_set(vd, "temp", "warm"),
            Expect::Validation,
        ),
        (
            "Data::set",
            "wrong type",
            data_set(vd, "samples", "many"),
            Expect::Validation,
        ),
        (
            "set",
            "out of range",
            vd.set("temp", 130.5).map(drop),
            Expect::Validation,
        ),
        (
            "update().set",
            "out of range",
            update_set(vd, "reportingInterval", 0),
            Expect::Validation,
        ),
        (
            "Alert::set",
            "unknown field",
            alert_set(vd, "colour", 1),
            Expect::Validation,
        ),
        (
            "Data::set",
            "unknown field",
            data_set(vd, "colour", 1),
            Expect::Validation,
        ),
        (
            "Alert::raise",
            "required field not set",
            raise_incomplete(vd),
            Expect::Validation,
        ),
        (
            "Data::submit",
            "required field not set",
            submit_incomplete(vd),
            Expect::Validation,
        ),
        (
            "create_alert",
            "unknown format URN",
            vd.create_alert("urn:nosuch").map(drop),
            Expect::UnknownFormat,
        ),
        (
            "create_alert",
            "a DATA format's URN",
            vd.create_alert(m).map(drop),
            Expect::UnknownFormat,
        ),
        (
            "create_data",
            "unknown format URN",
            vd.create_data("urn:nosuch").map(drop),
            Expect::UnknownFormat,
        ),
        (
            "create_data",
            "an ALERT format's URN",
            vd.create_data(hot).map(drop),
            Expect::UnknownFormat,
        ),
        (
            "on_action",
            "unknown action",
            on_action(vd, "explode"),
            Expect::UnknownAction,
        ),
        (
            "remove_on_action",
            "unknown action",
            vd.remove_on_action("explode").map(drop),
            Expect::UnknownAction,
        ),
    ]);

    // The same device, closed.
    t.device.close().unwrap();
    let model = t.model.clone();
    check(vec![
        (
            "device_model",
            "closed device",
            t.device.device_model(THERMOSTAT).map(drop),
            Expect::Closed,
        ),
        (
            "create_virtual_device",
            "closed device",
            t.device
                .create_virtual_device(&t.endpoint, &model)
                .map(drop),
            Expect::Closed,
        ),
        (
            "create_proxy_virtual_device",
            "closed device",
            t.device
                .create_proxy_virtual_device("EP-X", &model)
                .map(drop),
            Expect::Closed,
        ),
        (
            "set",
            "closed device",
            vd.set("reportingInterval", 5).map(drop),
            Expect::UnsentClosed,
        ),
        (
            "offer",
            "closed device",
            vd.offer("reportingInterval", 5).map(drop),
            Expect::UnsentClosed,
        ),
        (
            "Update::finish",
            "closed device",
            update_finish(vd),
            Expect::UnsentClosed,
        ),
        (
            "Alert::raise",
            "closed device",
            raise(vd),
            Expect::UnsentClosed,
        ),
        (
            "Data::submit",
            "closed device",
            submit(vd),
            Expect::UnsentClosed,
        ),
    ]);
    let mut device = t.device;
    check(vec![(
        "activate",
        "closed device",
        device.activate(&[THERMOSTAT]),
        Expect::Closed,
    )]);
}

#[test]
fn devices_and_gateways_not_yet_activated_or_closed_answer_alike() {
    let cloud = TestCloud::start("kind-table-state");
    let model = samples::temperature_sensor();
    let (_, path) = cloud.provision("kind-table-state-1");
    let device = DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, config()).unwrap();
    let registration = DeviceRegistration::new("kind-table-state-gw").gateway(true);
    let (_, store) = cloud.admin.provision(&registration, PASSPHRASE).unwrap();
    let gw_path = cloud.dir.path().join("kind-table-state-gw.tas");
    std::fs::write(&gw_path, store).unwrap();
    let gateway =
        iotcs_gateway::GatewayDevice::open_with_config(&gw_path, PASSPHRASE, config()).unwrap();
    check(vec![
        (
            "device_model",
            "not activated",
            device.device_model(THERMOSTAT).map(drop),
            Expect::State,
        ),
        (
            "create_virtual_device",
            "not activated",
            device.create_virtual_device("EP", &model).map(drop),
            Expect::State,
        ),
        (
            "GatewayDevice::device_model",
            "not activated",
            gateway.device_model(THERMOSTAT).map(drop),
            Expect::State,
        ),
        (
            "GatewayDevice::register_device",
            "not activated",
            gateway
                .register_device(Registration::new("hw-1", &[THERMOSTAT]))
                .map(drop),
            Expect::State,
        ),
        (
            "GatewayDevice::create_virtual_device",
            "not activated",
            gateway.create_virtual_device("EP", &model).map(drop),
            Expect::State,
        ),
    ]);
    device.close().unwrap();
    gateway.close().unwrap();
    check(vec![
        (
            "device_model",
            "closed device",
            device.device_model(THERMOSTAT).map(drop),
            Expect::Closed,
        ),
        (
            "create_virtual_device",
            "closed device",
            device.create_virtual_device("EP", &model).map(drop),
            Expect::Closed,
        ),
        (
            "GatewayDevice::device_model",
            "closed gateway",
            gateway.device_model(THERMOSTAT).map(drop),
            Expect::Closed,
        ),
        (
            "GatewayDevice::register_device",
            "closed gateway",
            gateway
                .register_device(Registration::new("hw-1", &[THERMOSTAT]))
                .map(drop),
            Expect::Closed,
        ),
        (
            "GatewayDevice::create_virtual_device",
            "closed gateway",
            gateway.create_virtual_device("EP", &model).map(drop),
            Expect::Closed,
        ),
    ]);
}

fn is_unknown(e: &Error, attribute: &str) -> bool {
    matches!(e, Error::UnknownAttribute { name, .. } if name == attribute)
}

#[test]
fn an_unknown_attribute_is_one_kind_from_get_set_and_update() {
    let cloud = TestCloud::start("unknown-attribute");
    let t = thermostat(&cloud, "unknown-attribute-1");
    let e = t.vd.get("colour").unwrap_err();
    assert!(is_unknown(&e, "colour"), "get: {e:?}");
    let e = t.vd.last_known("colour").unwrap_err();
    assert!(is_unknown(&e, "colour"), "last_known: {e:?}");
    let e = t.vd.set("colour", 1).unwrap_err();
    assert!(is_unknown(&e, "colour"), "set: {e:?}");
    let e = t.vd.update().set("colour", 1).unwrap_err();
    assert!(is_unknown(&e, "colour"), "update().set: {e:?}");
    assert!(e.to_string().contains(THERMOSTAT), "{e}");
    // A known attribute with a bad value is still a validation error.
    let e = t.vd.set("temp", "warm").unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e:?}");
    t.device.close().unwrap();
}

#[test]
fn a_full_queue_is_queue_full_with_the_message_handed_back() {
    let cloud = TestCloud::start_holding_polls("kind-queue-full");
    let mut config = config();
    config.device_messaging.dispatcher_max_queue_size = 2;
    config.device_messaging.message_queue_waittime = Duration::from_millis(200);
    let t = thermostat_with(&cloud, "kind-queue-full-1", config);
    cloud.settled(&t.endpoint);
    // The cloud answers slower than the device waits: nothing leaves.
    cloud.stall_messages();
    let mut sent = 0;
    let refused = loop {
        match t.vd.set("reportingInterval", sent + 1) {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 100, "the queue never filled");
    };
    assert!(
        matches!(refused.unsent_reason(), Error::QueueFull { capacity: 2 }),
        "{refused:?}"
    );
    assert_eq!(refused.unsent_messages().len(), 1, "{refused:?}");
    cloud.admin.clear_faults().unwrap();
    t.device.close().unwrap();
}

#[test]
fn a_full_store_is_store_full_with_the_message_handed_back() {
    let cloud = TestCloud::start_holding_polls("kind-store-full");
    let (_, store) = cloud.provision("kind-store-full-1");
    let mut config = durable_config(&cloud.dir.path().join("full.db"));
    config.message_persistence.max_messages = 3;
    let mut device = DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, config).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    cloud.settled(&endpoint);
    cloud
        .admin
        .inject_fault(&Fault::status(503).times(10_000).on_path(MESSAGES))
        .unwrap();
    let mut stored = 0;
    let refused = loop {
        match vd.set("reportingInterval", stored + 1) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 100, "the store never filled");
    };
    assert!(
        matches!(
            refused.unsent_reason(),
            Error::StoreFull { max_messages: 3 }
        ),
        "{refused:?}"
    );
    assert_eq!(refused.unsent_messages().len(), 1, "{refused:?}");
    cloud.admin.clear_faults().unwrap();
    drop(vd);
    device.close().unwrap();
}

#[test]
fn a_closed_device_is_closed_with_the_message_handed_back() {
    let cloud = TestCloud::start("kind-closed");
    let t = thermostat(&cloud, "kind-closed-1");
    let vd = t.vd.clone();
    t.device.close().unwrap();
    let refused = vd.set("temp", 9.0).unwrap_err();
    assert!(
        matches!(refused.unsent_reason(), Error::Closed),
        "{refused:?}"
    );
    assert_eq!(refused.unsent_messages().len(), 1, "{refused:?}");
}
