//! Booting without the cloud: a gateway that registered devices in an
//! earlier run, and a directly-connected device, reopen while nothing
//! answers (the local cloud is shut down), create their virtual devices from
//! what they kept in their state directories (registrations, activation
//! record, device models), buffer readings, and deliver every one exactly
//! once when the cloud is back on the same address.

use std::path::{Path, PathBuf};
use std::time::Duration;

use iotcs_core::message::Reliability;
use iotcs_core::model::samples;
use iotcs_device::{Config, DirectlyConnectedDevice, ErrorKind};
use iotcs_gateway::{GatewayDevice, Registration};
use iotcs_server::{DeviceRegistration, Server, ServerConfig, ServerHandle};
use tempfile::TempDir;

use crate::util::{
    PASSPHRASE, THERMOSTAT, assert_exactly_once, data_field_values, eventually_within,
};

/// The attribute whose value numbers the readings.
const NUMBER: &str = "reportingInterval";

/// The test configuration with the default (per-device) message store and
/// guaranteed data, so readings buffered offline also survive on disk.
fn durable() -> Config {
    let mut config = Config::for_tests();
    config.message_persistence.enabled = true;
    config.device_messaging.data_message_reliability = Reliability::GuaranteedDelivery;
    config
}

/// A local cloud that keeps its state in `dir` and can be stopped and
/// started again on the same address.
struct Cloud {
    dir: PathBuf,
    server: ServerHandle,
}

#[allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]
impl Cloud {
    fn start(dir: &Path) -> Cloud {
        let _ = env_logger::builder().is_test(true).try_init();
        let server = Server::start(ServerConfig::for_tests().data_dir(dir)).unwrap();
        Cloud {
            dir: dir.to_owned(),
            server,
        }
    }

    /// Provisions `registration` and writes its store into `dir`.
    fn provision(&self, registration: &DeviceRegistration, dir: &Path, name: &str) -> PathBuf {
        let admin = self.server.admin().unwrap();
        let (_, store) = admin.provision(registration, PASSPHRASE).unwrap();
        let path = dir.join(format!("{name}.tas"));
        std::fs::write(&path, store).unwrap();
        path
    }

    /// Stops the cloud; `restart` brings it back on the same address.
    fn stop(self) -> (PathBuf, std::net::SocketAddr) {
        let addr = self.server.addr();
        self.server.shutdown().unwrap();
        (self.dir, addr)
    }

    fn restart((dir, addr): (PathBuf, std::net::SocketAddr)) -> Cloud {
        let server = Server::start(ServerConfig::for_tests().data_dir(&dir).listen(addr)).unwrap();
        Cloud { dir, server }
    }

    /// Waits until every numbered reading in `expected` from `endpoint` is
    /// stored, then checks each is there exactly once.
    fn assert_delivered(&self, endpoint: &str, expected: &[i64]) {
        let admin = self.server.admin().unwrap();
        eventually_within(
            &format!("{} readings of {endpoint} are stored", expected.len()),
            Duration::from_secs(60),
            || {
                let values = data_field_values(&admin, endpoint, NUMBER);
                expected.iter().all(|n| values.contains(n))
            },
        );
        assert_exactly_once(
            &data_field_values(&admin, endpoint, NUMBER),
            expected.iter().copied(),
        );
    }
}

#[test]
fn a_gateway_booting_with_the_cloud_down_buffers_for_devices_registered_earlier() {
    let dir = TempDir::with_prefix("it-offline-gw").unwrap();
    let cloud = Cloud::start(&dir.path().join("cloud"));
    let registration = DeviceRegistration::new("gw-offline").gateway(true);
    let path = cloud.provision(&registration, dir.path(), "gw-offline");
    let sensors = ["offline-a", "offline-b"];

    // First run, online: activate, register the sensors, fetch their model.
    let endpoints: Vec<String> = {
        let mut gateway = GatewayDevice::open_with_config(&path, PASSPHRASE, durable()).unwrap();
        gateway.activate(&[]).unwrap();
        gateway.device_model(THERMOSTAT).unwrap().unwrap();
        let endpoints = sensors
            .iter()
            .map(|hw| {
                gateway
                    .register_device(
                        Registration::new(hw, &[THERMOSTAT])
                            .metadata(GatewayDevice::MANUFACTURER, "Acme"),
                    )
                    .unwrap()
            })
            .collect();
        gateway.close().unwrap();
        endpoints
    };
    let stopped = cloud.stop();

    // Second run, with nothing answering.
    let gateway = GatewayDevice::open_with_config(&path, PASSPHRASE, durable()).unwrap();
    let model = gateway
        .device_model(THERMOSTAT)
        .expect("the model used in the first run is kept locally")
        .unwrap();
    assert_eq!(
        gateway.registered_endpoint_id(sensors[0]).as_deref(),
        Some(endpoints[0].as_str())
    );
    // Registering a known device again answers from its record...
    let again = gateway
        .register_device(
            Registration::new(sensors[1], &[THERMOSTAT])
                .metadata(GatewayDevice::MANUFACTURER, "Acme"),
        )
        .expect("a known device is answered from the local record");
    assert_eq!(again, endpoints[1]);
    // ...a new device, or other models, still need the cloud.
    let e = gateway
        .register_device(
            Registration::new("offline-new", &[THERMOSTAT])
                .metadata(GatewayDevice::MANUFACTURER, "Acme"),
        )
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout),
        "{e}"
    );
    let humidity = samples::humidity_sensor();
    let e = gateway
        .register_device(
            Registration::new(sensors[0], &[humidity.urn()])
                .metadata(GatewayDevice::MANUFACTURER, "Acme"),
        )
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout),
        "{e}"
    );
    let devices: Vec<_> = endpoints
        .iter()
        .map(|endpoint| gateway.create_virtual_device(endpoint, &model).unwrap())
        .collect();
    let mut expected = vec![Vec::new(); devices.len()];
    for (i, device) in devices.iter().enumerate() {
        for n in 1..=10 {
            let value = (i as i64 + 1) * 100 + n;
            device.set(NUMBER, value).unwrap();
            expected[i].push(value);
        }
    }

    // The cloud comes back: everything buffered is delivered, once.
    let cloud = Cloud::restart(stopped);
    for (endpoint, values) in endpoints.iter().zip(&expected) {
        cloud.assert_delivered(endpoint, values);
    }
    gateway.close().unwrap();
    cloud.stop();
}

#[test]
fn a_device_booting_with_the_cloud_down_buffers_with_its_kept_model() {
    let dir = TempDir::with_prefix("it-offline-dcd").unwrap();
    let cloud = Cloud::start(&dir.path().join("cloud"));
    let path = cloud.provision(&DeviceRegistration::new("dcd-offline"), dir.path(), "dcd");

    let endpoint = {
        let mut device =
            DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, durable()).unwrap();
        device.activate(&[THERMOSTAT]).unwrap();
        device.device_model(THERMOSTAT).unwrap().unwrap();
        let endpoint = device.endpoint_id().unwrap().to_owned();
        device.close().unwrap();
        endpoint
    };
    let stopped = cloud.stop();

    let device = DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, durable()).unwrap();
    let model = device
        .device_model(THERMOSTAT)
        .expect("the model used in the first run is kept locally")
        .unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    // The models of the activation are kept too: one it was not activated
    // with is refused, as in the run that activated it.
    let e = device
        .create_virtual_device(&endpoint, &samples::humidity_sensor())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Argument, "{e}");
    let expected: Vec<i64> = (1..=10).collect();
    for n in &expected {
        vd.set(NUMBER, *n).unwrap();
    }

    let cloud = Cloud::restart(stopped);
    cloud.assert_delivered(&endpoint, &expected);
    device.close().unwrap();
    cloud.stop();
}
