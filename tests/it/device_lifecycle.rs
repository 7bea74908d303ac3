//! Opening, activation, tokens, close.

use iotcs_core::message::MessageType;
use iotcs_core::model::samples;
use iotcs_core::{TrustedAssets, TrustedAssetsStore};
use iotcs_device::{DirectlyConnectedDevice, ErrorKind, Value};
use iotcs_server::{DeviceState, Server, ServerConfig};

use crate::util::{self, PASSPHRASE, THERMOSTAT, TestCloud};

#[test]
fn activation_writes_the_store_and_a_reopen_needs_none() {
    let cloud = TestCloud::start("activation");
    let (info, path) = cloud.provision("dcd-activation");
    let before = std::fs::read(&path).unwrap();

    let mut device =
        DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, util::config()).unwrap();
    assert!(!device.is_activated());
    assert_eq!(device.endpoint_id(), None);
    assert_eq!(device.activation_id(), "dcd-activation");
    // Nothing but activation works before activation.
    assert_eq!(
        device.device_model(THERMOSTAT).unwrap_err().kind(),
        ErrorKind::State
    );

    device.activate(&[THERMOSTAT]).unwrap();
    assert!(device.is_activated());
    let endpoint = device.endpoint_id().unwrap().to_owned();
    assert_eq!(endpoint, info.id());
    assert_ne!(
        std::fs::read(&path).unwrap(),
        before,
        "the store was rewritten"
    );
    let server_view = cloud.admin.device(info.id()).unwrap();
    assert_eq!(server_view.state(), DeviceState::Activated);
    assert!(server_view.device_models().contains(&THERMOSTAT));
    device.close().unwrap();

    // Reopened: activated already, and working without a new activation.
    let device =
        DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, util::config()).unwrap();
    assert!(device.is_activated());
    assert_eq!(device.endpoint_id(), Some(endpoint.as_str()));
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    vd.set("temp", 19.5).unwrap();
    let data = cloud.wait_for(&endpoint, MessageType::Data, 1);
    assert_eq!(
        util::data_of(&data[0]).1,
        [("temp".to_owned(), serde_json::json!(19.5))]
    );
    device.close().unwrap();
}

#[test]
fn activating_twice_is_a_state_error() {
    let cloud = TestCloud::start("twice");
    let mut t = util::thermostat(&cloud, "dcd-twice");
    let e = t.device.activate(&[THERMOSTAT]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::State, "{e}");
    // The device still works after the refused second activation.
    t.vd.set("temp", 20.0).unwrap();
    cloud.wait_for(&t.endpoint, MessageType::Data, 1);
}

#[test]
fn a_wrong_passphrase_is_a_security_error() {
    let cloud = TestCloud::start("passphrase");
    let (_, path) = cloud.provision("dcd-passphrase");
    let e = DirectlyConnectedDevice::open(&path, "wrong").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Security, "{e}");
    let e = DirectlyConnectedDevice::open(cloud.dir.path().join("missing.tas"), PASSPHRASE)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
}

#[test]
fn tls_trusts_only_the_stores_anchors() {
    let cloud = TestCloud::start("trust");
    let (_, path) = cloud.provision("dcd-trust");
    // The same device, but trusting another cloud's CA.
    let assets = TrustedAssetsStore::open(&path, PASSPHRASE)
        .unwrap()
        .assets()
        .clone();
    let other = Server::start(ServerConfig::for_tests()).unwrap();
    let stranger = TrustedAssets::new(
        &assets.server_uri(),
        assets.client_id(),
        assets.shared_secret(),
    )
    .unwrap()
    .with_trust_anchor(other.ca_der().to_vec());
    let stranger_path = cloud.dir.path().join("stranger.tas");
    TrustedAssetsStore::create(&stranger_path, PASSPHRASE, stranger).unwrap();
    let before = std::fs::read(&stranger_path).unwrap();
    let mut device =
        DirectlyConnectedDevice::open_with_config(&stranger_path, PASSPHRASE, util::config())
            .unwrap();
    let e = device.activate(&[THERMOSTAT]).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Network | ErrorKind::Security),
        "{e}"
    );
    assert!(!device.is_activated());
    assert_eq!(std::fs::read(&stranger_path).unwrap(), before);
    other.shutdown().unwrap();
}

#[test]
fn models_and_virtual_devices_are_checked() {
    let cloud = TestCloud::start("models");
    let t = util::thermostat(&cloud, "dcd-models");
    assert!(
        t.device
            .device_model("urn:com:example:nosuch")
            .unwrap()
            .is_none()
    );
    let humidity = t
        .device
        .device_model(samples::HUMIDITY_SENSOR_URN)
        .unwrap()
        .unwrap();
    let e = t
        .device
        .create_virtual_device(&t.endpoint, &humidity)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Argument, "{e}");
    let e = t
        .device
        .create_virtual_device("someone-else", &t.model)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Argument, "{e}");
    assert_eq!(t.vd.device_model().urn(), THERMOSTAT);
    assert_eq!(t.vd.endpoint_id(), t.endpoint);
}

#[test]
fn an_expired_token_is_recovered_transparently() {
    let cloud = TestCloud::start("token");
    let t = util::thermostat(&cloud, "dcd-token");
    t.vd.set("temp", 20.0).unwrap();
    cloud.wait_for(&t.endpoint, MessageType::Data, 1);

    cloud.admin.expire_tokens().unwrap();
    // The next POST is refused with 401, a new token is fetched, the POST
    // is repeated; the caller sees nothing of it.
    t.vd.set("temp", 21.0).unwrap();
    let data = cloud.wait_for(&t.endpoint, MessageType::Data, 2);
    assert_eq!(
        util::data_of(&data[1]).1,
        [("temp".to_owned(), serde_json::json!(21.0))]
    );

    // Requests from the cloud still arrive after the held long poll was
    // refused too.
    cloud.admin.expire_tokens().unwrap();
    let id = cloud
        .admin
        .set_attribute(
            &t.endpoint,
            THERMOSTAT,
            "maxThreshold",
            serde_json::json!(42),
        )
        .unwrap();
    let request = cloud.admin.wait_for_request(&id, util::PATIENCE).unwrap();
    assert_eq!(request.response_status(), Some(200));
    assert_eq!(t.vd.get("maxThreshold").unwrap(), Some(Value::Number(42.0)));
}

#[test]
fn close_sends_what_is_queued_and_a_reopen_carries_on() {
    let cloud = TestCloud::start("close");
    let t = util::thermostat(&cloud, "dcd-close");
    for i in 0..5 {
        t.vd.set("temp", f64::from(i)).unwrap();
    }
    let util::Thermostat {
        device,
        vd,
        endpoint,
        model,
    } = t;
    device.close().unwrap();
    // Everything queued went out before close returned.
    let data: Vec<_> = cloud
        .messages_from(&endpoint)
        .into_iter()
        .filter(|m| m.message_type() == MessageType::Data)
        .collect();
    assert_eq!(data.len(), 5);
    // The virtual device outlives its device but can no longer send.
    assert_eq!(vd.set("temp", 9.0).unwrap_err().kind(), ErrorKind::State);

    let path = cloud.dir.path().join("dcd-close.tas");
    let device =
        DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, util::config()).unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    vd.set("temp", 10.0).unwrap();
    cloud.wait_for(&endpoint, MessageType::Data, 6);
    // Dropping is the best-effort close.
    drop(device);
}

#[test]
fn close_in_every_state() {
    let cloud = TestCloud::start("close-states");
    // Never activated.
    let (_, path) = cloud.provision("dcd-never");
    DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, util::config())
        .unwrap()
        .close()
        .unwrap();
    // Activated and idle (a long poll is held by the cloud).
    let t = util::thermostat(&cloud, "dcd-idle");
    t.device.close().unwrap();
    // Unreachable cloud with messages queued: close gives up within its bound
    // and reports the loss.
    let t = util::thermostat(&cloud, "dcd-gone");
    let TestCloud { admin, dir, server } = cloud;
    drop(admin);
    server.shutdown().unwrap();
    t.vd.set("temp", 1.0).unwrap();
    let e = t.device.close();
    drop(dir);
    // The message either went out before the shutdown took effect or its
    // loss is reported; either way close returned.
    if let Err(e) = e {
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Network | ErrorKind::Timeout | ErrorKind::Transport
            ),
            "{e}"
        );
    }
}
