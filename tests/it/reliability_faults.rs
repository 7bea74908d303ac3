//! The sender against a misbehaving cloud: 503 storms, expired tokens,
//! connections cut mid-response, a cloud stopped and restarted, a message
//! the cloud rejects for good, and a full queue. Every test checks the
//! cloud's copy: each message accepted by `set` stored exactly once.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use iotcs_core::message::{MessageType, Payload};
use iotcs_device::{DeviceModel, DirectlyConnectedDevice, ErrorKind, Value};
use iotcs_server::{DeviceRegistration, Fault, Server, ServerConfig};
use tempfile::TempDir;

use crate::util::{
    MESSAGES, PASSPHRASE, THERMOSTAT, TestCloud, assert_exactly_once, data_field_values,
    durable_config, eventually_within, thermostat,
};

/// The attribute whose value numbers the messages of these tests.
const NUMBER: &str = "reportingInterval";

/// Waits up to a minute until `endpoint` has stored `count` numbered
/// messages, then checks each of `1..=count` is there exactly once.
#[track_caller]
fn all_once(admin: &iotcs_server::AdminClient, endpoint: &str, count: i64) {
    eventually_within(
        &format!("{count} messages are stored"),
        Duration::from_secs(60),
        || data_field_values(admin, endpoint, NUMBER).len() as i64 >= count,
    );
    assert_exactly_once(&data_field_values(admin, endpoint, NUMBER), 1..=count);
}

#[test]
fn a_503_storm_is_ridden_out_with_a_growing_back_off() {
    let cloud = TestCloud::start_holding_polls("storm");
    let t = thermostat(&cloud, "storm-1");
    cloud.settled(&t.endpoint);
    cloud
        .admin
        .inject_fault(&Fault::status(503).times(6).on_path(MESSAGES))
        .unwrap();
    let started = Instant::now();
    for n in 1..=30 {
        t.vd.set(NUMBER, n).unwrap();
    }
    all_once(&cloud.admin, &t.endpoint, 30);
    // Six failures cost at least 1+1+2+3+5+8 steps of the 100 ms base: a
    // lower bound the back-off guarantees, not a speed assertion.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(2000), "{elapsed:?}");
    t.device.close().unwrap();
}

#[test]
fn tokens_expired_mid_stream_are_renewed_without_loss() {
    let cloud = TestCloud::start("tokens");
    let t = thermostat(&cloud, "tokens-1");
    for n in 1..=40 {
        t.vd.set(NUMBER, n).unwrap();
        if n % 10 == 0 {
            cloud.admin.expire_tokens().unwrap();
        }
    }
    all_once(&cloud.admin, &t.endpoint, 40);
    t.device.close().unwrap();
}

#[test]
fn connections_cut_mid_response_are_resent_and_stored_once() {
    let cloud = TestCloud::start_holding_polls("dropped");
    let t = thermostat(&cloud, "dropped-1");
    cloud.settled(&t.endpoint);
    cloud
        .admin
        .inject_fault(&Fault::drop_connection().times(3).on_path(MESSAGES))
        .unwrap();
    for n in 1..=30 {
        t.vd.set(NUMBER, n).unwrap();
    }
    all_once(&cloud.admin, &t.endpoint, 30);
    t.device.close().unwrap();
}

#[test]
fn a_poisoned_message_is_reported_and_does_not_block_the_rest() {
    let cloud = TestCloud::start("poison");
    let t = thermostat(&cloud, "poison-1");
    // The device's copy of the model allows temperatures the cloud's
    // refuses, so the cloud rejects that one message (and its batch) for good.
    let mut json = t.model.to_value();
    for attribute in json["attributes"].as_array_mut().unwrap() {
        if attribute["name"] == "temp" {
            attribute["range"] = "-40,1000".into();
        }
    }
    let lax = DeviceModel::from_value(&json).unwrap();
    let lax_vd = t.device.create_virtual_device(&t.endpoint, &lax).unwrap();
    let (tx, errors) = mpsc::channel();
    lax_vd.on_error_any(move |event| {
        let values: Vec<(String, Value)> = event
            .named_value()
            .unwrap()
            .iter()
            .map(|v| (v.name().to_owned(), v.value().clone()))
            .collect();
        tx.send(values).unwrap();
    });
    for n in 1..=10 {
        t.vd.set(NUMBER, n).unwrap();
    }
    lax_vd.set("temp", 500.0).unwrap();
    for n in 11..=20 {
        t.vd.set(NUMBER, n).unwrap();
    }
    let failed = errors.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(failed, [("temp".to_owned(), Value::Number(500.0))]);
    all_once(&cloud.admin, &t.endpoint, 20);
    let temps: Vec<_> = cloud
        .messages_from(&t.endpoint)
        .into_iter()
        .filter(|m| matches!(m.payload(), Payload::Data(d) if d.data().contains_key("temp")))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    t.device.close().unwrap();
}

#[test]
fn a_full_queue_refuses_hands_the_values_back_and_alerts() {
    let cloud = TestCloud::start_holding_polls("full");
    let t = thermostat(&cloud, "full-1");
    cloud.settled(&t.endpoint);
    let (tx, errors) = mpsc::channel();
    t.vd.on_error_any(move |event| {
        let value = event.named_value().unwrap().value().clone();
        tx.send((value, event.message().to_owned())).unwrap();
    });
    // Answers slower than the client waits: nothing leaves the queue.
    cloud.stall_messages();
    let mut accepted = 0;
    let refused = loop {
        match t.vd.set(NUMBER, accepted + 1) {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 1000, "the queue never filled");
    };
    assert_eq!(refused.kind(), ErrorKind::State, "{refused}");
    assert!(
        refused.to_string().contains("dispatcher_max_queue_size"),
        "{refused}"
    );
    // The refused message comes back in the error, untouched...
    let [unsent] = refused.unsent_messages() else {
        panic!("one message handed back: {refused:?}");
    };
    match unsent.payload() {
        Payload::Data(data) => assert_eq!(
            data.get(NUMBER).and_then(|v| v.as_i64()),
            Some(accepted + 1),
            "{unsent:?}"
        ),
        other => panic!("not a DATA message: {other:?}"),
    }
    // ...and the refused value through on_error.
    let (value, message) = errors.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(value, Value::Integer(accepted + 1));
    assert!(message.contains("queue is full"), "{message}");
    cloud.admin.clear_faults().unwrap();
    all_once(&cloud.admin, &t.endpoint, accepted);
    let alerts = cloud.wait_for(&t.endpoint, MessageType::Alert, 1);
    assert!(
        alerts
            .iter()
            .any(|a| matches!(a.payload(), Payload::Alert(p)
            if p.format() == iotcs_core::model::capability::MESSAGE_DISPATCHER_OVERFLOW_FORMAT)),
        "{alerts:?}"
    );
    t.device.close().unwrap();
}

#[test]
fn a_cloud_stopped_and_restarted_mid_stream_gets_everything_once() {
    let _ = iotcs::logging::try_init_from(env_logger::builder().is_test(true));
    let dir = TempDir::with_prefix("it-restart").unwrap();
    let cloud_dir = dir.path().join("cloud");
    let server = Server::start(ServerConfig::for_tests().data_dir(&cloud_dir)).unwrap();
    let addr = server.addr();
    let admin = server.admin().unwrap();
    let (_, store) = admin
        .provision(&DeviceRegistration::new("restart-1"), PASSPHRASE)
        .unwrap();
    let store_path = dir.path().join("restart-1.tas");
    std::fs::write(&store_path, store).unwrap();
    let db = dir.path().join("msps.db");
    let mut device =
        DirectlyConnectedDevice::open_with_config(&store_path, PASSPHRASE, durable_config(&db))
            .unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    for n in 1..=20 {
        vd.set(NUMBER, n).unwrap();
    }
    drop(admin);
    server.shutdown().unwrap();
    // The cloud is gone: `set` still succeeds, the messages wait on disk.
    for n in 21..=60 {
        vd.set(NUMBER, n).unwrap();
    }
    let server =
        Server::start(ServerConfig::for_tests().data_dir(&cloud_dir).listen(addr)).unwrap();
    let admin = server.admin().unwrap();
    for n in 61..=80 {
        vd.set(NUMBER, n).unwrap();
    }
    all_once(&admin, &endpoint, 80);
    device.close().unwrap();
    drop(admin);
    server.shutdown().unwrap();
}
