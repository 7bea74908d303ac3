//! The harness of the end-to-end tests: a local cloud per test, devices
//! provisioned into a temporary directory, and waiting with deadlines.

#![allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]

use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use iotcs_core::message::{Message, MessageType, Payload};
use iotcs_core::model::samples;
use iotcs_device::{Config, DeviceModel, DirectlyConnectedDevice, VirtualDevice};
use iotcs_server::{
    AdminClient, DeviceInfo, DeviceRegistration, MessageFilter, Server, ServerConfig, ServerHandle,
    TempDir,
};

/// The passphrase of every test store.
pub(crate) const PASSPHRASE: &str = "changeit";

/// The model every test device implements.
pub(crate) const THERMOSTAT: &str = samples::TEMPERATURE_SENSOR_URN;

/// How long a test waits for anything before it fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// A local cloud for one test, with a temporary directory for stores.
pub(crate) struct TestCloud {
    pub(crate) admin: AdminClient,
    pub(crate) dir: TempDir,
    // Declared last: the server stops after the clients above are gone.
    pub(crate) server: ServerHandle,
}

impl TestCloud {
    /// Starts a cloud for the test `name`.
    pub(crate) fn start(name: &str) -> TestCloud {
        let _ = env_logger::builder().is_test(true).try_init();
        let dir = TempDir::new(&format!("it-{name}")).unwrap();
        let server = Server::start(ServerConfig::for_tests()).unwrap();
        let admin = server.admin().unwrap();
        TestCloud { admin, dir, server }
    }

    /// Registers a device and writes its trusted assets store; returns the
    /// device and the store's path.
    pub(crate) fn provision(&self, hardware_id: &str) -> (DeviceInfo, PathBuf) {
        let (device, store) = self
            .admin
            .provision(&DeviceRegistration::new(hardware_id), PASSPHRASE)
            .unwrap();
        let path = self.dir.path().join(format!("{hardware_id}.tas"));
        std::fs::write(&path, store).unwrap();
        // Stores hold secrets: readable by their owner only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        (device, path)
    }

    /// Messages of `kind` from `endpoint`, once at least `count` are there.
    pub(crate) fn wait_for(&self, endpoint: &str, kind: MessageType, count: usize) -> Vec<Message> {
        let filter = MessageFilter::new().device(endpoint).message_type(kind);
        let found = self
            .admin
            .wait_for_messages(&filter, count, PATIENCE)
            .unwrap();
        found.iter().map(|m| m.message().unwrap()).collect()
    }

    /// Every message from `endpoint` stored so far.
    pub(crate) fn messages_from(&self, endpoint: &str) -> Vec<Message> {
        let filter = MessageFilter::new().device(endpoint);
        self.admin
            .messages(&filter)
            .unwrap()
            .iter()
            .map(|m| m.message().unwrap())
            .collect()
    }
}

/// The test configuration: short intervals and tiny queues.
pub(crate) fn config() -> Config {
    Config::for_tests()
}

/// An opened, activated device with a thermostat virtual device.
pub(crate) struct Thermostat {
    pub(crate) device: DirectlyConnectedDevice,
    pub(crate) vd: VirtualDevice,
    pub(crate) endpoint: String,
    pub(crate) model: DeviceModel,
}

/// Provisions, opens and activates `hardware_id` with `config`, and creates
/// its thermostat.
pub(crate) fn thermostat_with(cloud: &TestCloud, hardware_id: &str, config: Config) -> Thermostat {
    let (_, path) = cloud.provision(hardware_id);
    let mut device = DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, config).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    Thermostat {
        device,
        vd,
        endpoint,
        model,
    }
}

/// As [`thermostat_with`] with the test configuration.
pub(crate) fn thermostat(cloud: &TestCloud, hardware_id: &str) -> Thermostat {
    thermostat_with(cloud, hardware_id, config())
}

/// The data of a DATA message, as (name, JSON) pairs sorted by name.
pub(crate) fn data_of(message: &Message) -> (String, Vec<(String, serde_json::Value)>) {
    match message.payload() {
        Payload::Data(d) => (
            d.format().to_owned(),
            d.data().clone().into_iter().collect(),
        ),
        other => panic!("not a DATA message: {other:?}"),
    }
}

/// The next value on `rx`, or a failed test after [`PATIENCE`].
pub(crate) fn recv<T>(rx: &Receiver<T>) -> T {
    rx.recv_timeout(PATIENCE).expect("nothing arrived in time")
}

/// Polls `check` until it holds or [`PATIENCE`] passes.
#[track_caller]
pub(crate) fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        // A poll interval, not a wait for something: `check` decides.
        std::thread::sleep(Duration::from_millis(10));
    }
}
