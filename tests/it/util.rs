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
};
use tempfile::TempDir;

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
        let _ = iotcs::logging::try_init_from(env_logger::builder().is_test(true));
        let dir = TempDir::with_prefix(format!("it-{name}")).unwrap();
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

/// The test configuration with `[message_persistence]` on, in `db`, and
/// every data message `GUARANTEED_DELIVERY`.
pub(crate) fn durable_config(db: &std::path::Path) -> Config {
    let mut config = Config::for_tests();
    config.message_persistence.enabled = true;
    config.message_persistence.db_name = db.to_owned();
    config.device_messaging.data_message_reliability =
        iotcs_core::message::Reliability::GuaranteedDelivery;
    config
}

impl TestCloud {
    /// Starts a cloud for the test `name` that holds long polls for up to a
    /// minute: once a device's long poll is held
    /// ([`TestCloud::wait_for_held_poll`]), faults injected on
    /// `/iot/api/v2/messages` hit that device's sender only.
    pub(crate) fn start_holding_polls(name: &str) -> TestCloud {
        let _ = iotcs::logging::try_init_from(env_logger::builder().is_test(true));
        let dir = TempDir::with_prefix(format!("it-{name}")).unwrap();
        let server =
            Server::start(ServerConfig::for_tests().long_poll_limit(Duration::from_secs(60)))
                .unwrap();
        let admin = server.admin().unwrap();
        TestCloud { admin, dir, server }
    }

    /// Waits until the server holds a long poll.
    pub(crate) fn wait_for_held_poll(&self) {
        eventually("a long poll is held", || self.server.held_long_polls() > 0);
    }

    /// Waits until the device's start-up traffic (its resources report) is
    /// in and its receiver's long poll is parked in the cloud, so faults
    /// injected afterwards hit the sender's POSTs.
    pub(crate) fn settled(&self, endpoint: &str) {
        self.wait_for(endpoint, MessageType::ResourcesReport, 1);
        self.wait_for_held_poll();
    }

    /// Makes the cloud answer message POSTs slower (3 s) than the device
    /// waits for them, so nothing the sender takes leaves it.
    pub(crate) fn stall_messages(&self) {
        self.admin
            .inject_fault(
                &iotcs_server::Fault::delay(Duration::from_secs(3))
                    .times(1000)
                    .on_path(MESSAGES),
            )
            .unwrap();
    }
}

/// The messages endpoint, where the tests inject faults.
pub(crate) const MESSAGES: &str = "/iot/api/v2/messages";

/// The integer `field` of every DATA message from `endpoint` the cloud
/// holds (up to 10,000), in arrival order.
pub(crate) fn data_field_values(admin: &AdminClient, endpoint: &str, field: &str) -> Vec<i64> {
    let filter = MessageFilter::new()
        .device(endpoint)
        .message_type(MessageType::Data)
        .limit(10_000);
    admin
        .messages(&filter)
        .unwrap()
        .iter()
        .filter_map(|m| match m.message().unwrap().payload() {
            Payload::Data(d) => d.data().get(field).and_then(serde_json::Value::as_i64),
            _ => None,
        })
        .collect()
}

/// Polls `check` until it holds or `patience` passes.
#[track_caller]
pub(crate) fn eventually_within(what: &str, patience: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        // A poll interval, not a wait for something: `check` decides.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that `values` holds every one of `expected` exactly once, and
/// nothing twice.
#[track_caller]
pub(crate) fn assert_exactly_once(values: &[i64], expected: impl IntoIterator<Item = i64>) {
    let mut counts = std::collections::BTreeMap::new();
    for v in values {
        *counts.entry(*v).or_insert(0usize) += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let missing: Vec<i64> = expected
        .into_iter()
        .filter(|v| !counts.contains_key(v))
        .collect();
    assert!(missing.is_empty(), "never stored: {missing:?}");
}

/// Registers a gateway (with `icds` pre-registered: their generated secrets
/// go into its provisioning file), writes its store, opens it with the test
/// configuration and activates it. Returns the gateway and the store's path.
pub(crate) fn gateway(
    cloud: &TestCloud,
    hardware_id: &str,
    icds: &[&str],
) -> (iotcs_gateway::GatewayDevice, PathBuf) {
    let mut registration = DeviceRegistration::new(hardware_id).gateway(true);
    for icd in icds {
        registration = registration.icd(icd, None);
    }
    let (_, store) = cloud.admin.provision(&registration, PASSPHRASE).unwrap();
    let path = cloud.dir.path().join(format!("{hardware_id}.tas"));
    std::fs::write(&path, store).unwrap();
    let mut gateway =
        iotcs_gateway::GatewayDevice::open_with_config(&path, PASSPHRASE, config()).unwrap();
    gateway.activate(&[]).unwrap();
    (gateway, path)
}

/// Waits for `child` to exit within `patience`; kills it and fails the test
/// if it does not (a broken child must not hang the suite).
pub(crate) fn wait_for_exit(
    child: &mut std::process::Child,
    patience: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + patience;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {patience:?}");
        }
        // A poll interval, not a wait for something: `try_wait` decides.
        std::thread::sleep(Duration::from_millis(50));
    }
}
