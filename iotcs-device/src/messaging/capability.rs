//! The capability resources every device serves (spec §8.6, protocol-js
//! §6.7) and the RESOURCES_REPORT that announces them at start (§6.8).
//!
//! | path under `deviceModels/` | methods | answer |
//! |---|---|---|
//! | `urn:oracle:iot:dcd:capability:message_dispatcher/counters` | GET | `{"load", "totalBytesSent", "totalBytesReceived", "totalMessagesReceived", "totalMessagesRetried", "totalMessagesSent", "totalProtocolErrors"}` |
//! | `…:message_dispatcher/reset` | PUT | zeroes the counters |
//! | `…:message_dispatcher/pollingInterval` | GET, PUT | `{"value": ms, "pollingInterval": ms}`; a PUT takes either spelling (Java's `value`, Node's `pollingInterval`), a non-negative integer |
//! | `urn:oracle:iot:dcd:capability:diagnostics/info` | GET | `{"freeDiskSpace", "ipAddress", "macAddress", "startTime", "totalDiskSpace", "version"}` |
//! | `…:diagnostics/testConnectivity` | GET, PUT | the test's state; a PUT `{"active": true, "count", "interval", "size"}` starts sending `count` test messages every `interval` ms, `{"active": false}` stops |
//! | `urn:oracle:iot:dcd:capability:device_policy/policyChanged` | PUT (and POST) | served by `crate::device_policies`, only advertised here: 200 for a JSON array of policy changes, 400 otherwise |
//!
//! `load` is the fill of the outgoing queue in percent with one decimal.
//! Values the host cannot tell (no `df`, no network interface) are
//! `"Unknown"`, as Oracle's libraries answer. The disk totals add up the
//! file systems of `[diagnostics] client_paths`.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender as Channel, select_biased};
use iotcs_core::message::{
    Message, Priority, Reliability, RequestPayload, Resource, ResourceStatus, ResourcesReport,
};
use iotcs_core::model::capability;
use iotcs_core::policy::POLICY_CHANGED_PATH;
use iotcs_core::{Config, Error, Value};
use serde_json::{Value as Json, json};

use crate::clock::Clock;
use crate::messaging::counters::Counters;
use crate::messaging::inbound::{Handled, Inbound, RequestHandler, bad_request};
use crate::messaging::outbox::{Outbox, Outgoing};
use crate::messaging::worker::{Joined, Worker};

/// The largest connectivity-test payload: the wire's limit on a string value
/// is 64 KiB.
const MAX_TEST_PAYLOAD: u64 = 60_000;

/// The paths and methods served, in the order of the report.
fn routes() -> [(String, &'static str); 5] {
    let dispatcher = format!("deviceModels/{}", capability::MESSAGE_DISPATCHER);
    let diagnostics = format!("deviceModels/{}", capability::DIAGNOSTICS);
    [
        (format!("{dispatcher}/counters"), "GET"),
        (format!("{dispatcher}/reset"), "PUT"),
        (format!("{dispatcher}/pollingInterval"), "GET,PUT"),
        (format!("{diagnostics}/info"), "GET"),
        (format!("{diagnostics}/testConnectivity"), "GET,PUT"),
    ]
}

/// What the capability handlers share with the dispatcher.
pub(crate) struct Capabilities {
    endpoint_id: String,
    counters: Arc<Counters>,
    outbox: Arc<Outbox>,
    clock: Clock,
    version: String,
    ip_address: Option<String>,
    mac_address: Option<String>,
    client_paths: Vec<PathBuf>,
    /// When the dispatcher started (server time, epoch ms).
    start_time: i64,
    test: Mutex<ConnectivityTest>,
}

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capabilities")
            .field("endpoint_id", &self.endpoint_id)
            .finish_non_exhaustive()
    }
}

/// The state of the connectivity test.
#[derive(Default)]
struct ConnectivityTest {
    active: bool,
    count: u64,
    current: u64,
    interval_ms: u64,
    size: u64,
    /// Stops the running test's thread (dropped or sent on).
    stop: Option<Channel<()>>,
    worker: Option<Worker<()>>,
}

/// Which resource a route serves.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Counters,
    Reset,
    PollingInterval,
    Info,
    TestConnectivity,
}

/// A route to one capability resource.
struct Route {
    capabilities: Arc<Capabilities>,
    kind: Kind,
}

impl Capabilities {
    /// The capability state of the device `endpoint_id`.
    pub(crate) fn new(
        endpoint_id: &str,
        config: &Config,
        counters: Arc<Counters>,
        outbox: Arc<Outbox>,
        clock: Clock,
    ) -> Arc<Self> {
        let diagnostics = &config.diagnostics;
        let start_time = clock();
        Arc::new(Capabilities {
            endpoint_id: endpoint_id.to_owned(),
            counters,
            outbox,
            clock,
            version: diagnostics.client_version.clone(),
            ip_address: diagnostics.client_ip_address.clone(),
            mac_address: diagnostics.client_mac_address.clone(),
            client_paths: diagnostics.client_paths.clone(),
            start_time,
            test: Mutex::new(ConnectivityTest::default()),
        })
    }

    /// Registers the five resources for the endpoint.
    pub(crate) fn register(self: &Arc<Self>, inbound: &Arc<Inbound>) {
        let kinds = [
            Kind::Counters,
            Kind::Reset,
            Kind::PollingInterval,
            Kind::Info,
            Kind::TestConnectivity,
        ];
        let routes = routes()
            .into_iter()
            .zip(kinds)
            .map(|((path, methods), kind)| {
                let methods: &'static [&'static str] = match methods {
                    "GET" => &["GET"],
                    "PUT" => &["PUT"],
                    _ => &["GET", "PUT"],
                };
                let handler: Arc<dyn RequestHandler> = Arc::new(Route {
                    capabilities: Arc::clone(self),
                    kind,
                });
                (path, methods, handler)
            })
            .collect();
        inbound.register(&self.endpoint_id, routes);
    }

    /// The RESOURCES_REPORT (UPDATE) announcing the resources, priority
    /// HIGHEST as Oracle's JS library sends it.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if the endpoint id is empty.
    pub(crate) fn report(&self) -> Result<Message, Error> {
        // policyChanged is served by the device's policy side
        // (`crate::device_policies`), advertised here with the others (§5.6).
        let policy = (POLICY_CHANGED_PATH.to_owned(), "PUT");
        let resources = routes()
            .into_iter()
            .chain(std::iter::once(policy))
            .map(|(path, methods)| {
                Resource::new(path.clone(), path, methods, ResourceStatus::Added)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let report = ResourcesReport::new(
            iotcs_core::message::ReportType::Update,
            &self.endpoint_id,
            resources,
        )?
        .with_computed_mark();
        Ok(
            Message::resources_report(&self.endpoint_id, report, (self.clock)())?
                .with_priority(Priority::Highest),
        )
    }

    /// Stops a running connectivity test and joins its thread by `deadline`.
    pub(crate) fn stop(&self, deadline: Instant) {
        let worker = {
            let mut test = self.test();
            test.stop = None;
            test.worker.take()
        };
        if let Some(worker) = worker
            && !matches!(worker.join_until(deadline), Joined::Finished(()))
        {
            log::warn!(target: "iotcs::device::capability", "the connectivity test thread did not stop cleanly");
        }
    }

    fn test(&self) -> MutexGuard<'_, ConnectivityTest> {
        // Plain field updates; a panic cannot leave the state torn.
        self.test.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn counters_json(&self) -> Json {
        let s = self.counters.snapshot();
        let capacity = self.outbox.capacity().max(1) as f64;
        let load = (self.outbox.len() as f64 * 1000.0 / capacity).round() / 10.0;
        json!({
            "load": load,
            "totalBytesSent": s.bytes_sent,
            "totalBytesReceived": s.bytes_received,
            "totalMessagesReceived": s.messages_received,
            "totalMessagesRetried": s.messages_retried,
            "totalMessagesSent": s.messages_sent,
            "totalProtocolErrors": s.protocol_errors,
        })
    }

    fn polling_interval(&self) -> Json {
        let ms = self
            .counters
            .polling_interval()
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        json!({"value": ms, "pollingInterval": ms})
    }

    fn set_polling_interval(&self, body: &serde_json::Map<String, Json>) -> Handled {
        let value = body.get("pollingInterval").or_else(|| body.get("value"));
        match value.and_then(Json::as_u64) {
            Some(ms) if body.len() == 1 => {
                self.counters
                    .set_polling_interval(Duration::from_millis(ms));
                Handled::status(200, "")
            }
            _ => bad_request(&Error::argument(
                "the body must be {\"pollingInterval\": <ms>} or {\"value\": <ms>} with a non-negative integer",
            )),
        }
    }

    fn info(&self) -> Json {
        let (total, free) = disk_space(&self.client_paths);
        let unknown = || Json::from("Unknown");
        json!({
            "freeDiskSpace": free.map_or_else(unknown, Json::from),
            "ipAddress": self.ip_address.clone().or_else(local_ip).map_or_else(unknown, Json::from),
            "macAddress": self.mac_address.clone().or_else(local_mac).map_or_else(unknown, Json::from),
            "startTime": self.start_time,
            "totalDiskSpace": total.map_or_else(unknown, Json::from),
            "version": self.version,
        })
    }

    fn test_state(&self) -> Json {
        let test = self.test();
        json!({
            "active": test.active,
            "count": test.count,
            "currentCount": test.current,
            "interval": test.interval_ms,
            "size": test.size,
        })
    }

    fn put_test(self: &Arc<Self>, body: &serde_json::Map<String, Json>) -> Handled {
        match body.get("active").and_then(Json::as_bool) {
            Some(false) => {
                let mut test = self.test();
                test.stop = None;
                test.active = false;
                Handled::status(200, "")
            }
            Some(true) => {
                let field = |name: &str| body.get(name).and_then(Json::as_u64);
                let (Some(count), Some(interval_ms), Some(size)) =
                    (field("count"), field("interval"), field("size"))
                else {
                    return bad_request(&Error::argument(
                        "starting a test needs non-negative integers count, interval and size",
                    ));
                };
                if size > MAX_TEST_PAYLOAD {
                    return bad_request(&Error::argument(format!(
                        "size {size} is over the largest test payload, {MAX_TEST_PAYLOAD}"
                    )));
                }
                self.start_test(count, interval_ms, size)
            }
            None => bad_request(&Error::argument("the body must have a boolean \"active\"")),
        }
    }

    fn start_test(self: &Arc<Self>, count: u64, interval_ms: u64, size: u64) -> Handled {
        let mut test = self.test();
        if test.active {
            return Handled::status(409, "a connectivity test is already running");
        }
        // The previous test's thread has finished or is finishing.
        if let Some(worker) = test.worker.take() {
            let _ = worker.join_until(Instant::now() + Duration::from_secs(1));
        }
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let capabilities = Arc::clone(self);
        let spawned = Worker::spawn("iotcs-connectivity", move || {
            capabilities.run_test(&stop, count, interval_ms, size);
        });
        match spawned {
            Ok(worker) => {
                *test = ConnectivityTest {
                    active: true,
                    count,
                    current: 0,
                    interval_ms,
                    size,
                    stop: Some(stop_tx),
                    worker: Some(worker),
                };
                Handled::status(200, "")
            }
            Err(e) => Handled::status(500, format!("cannot start the test: {e}")),
        }
    }

    /// The test thread: one message per interval until `count` or a stop.
    fn run_test(
        &self,
        stop: &crossbeam_channel::Receiver<()>,
        count: u64,
        interval: u64,
        size: u64,
    ) {
        let payload = "*".repeat(usize::try_from(size).unwrap_or(0));
        for n in 1..=count {
            select_biased! {
                recv(stop) -> _ => break,
                default(Duration::from_millis(interval)) => {}
            }
            let message = Message::data(
                &self.endpoint_id,
                capability::DIAGNOSTICS_TEST_MESSAGE_FORMAT,
                vec![
                    (
                        "count".to_owned(),
                        Value::Integer(i64::try_from(count).unwrap_or(i64::MAX)),
                    ),
                    (
                        "current".to_owned(),
                        Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
                    ),
                    ("payload".to_owned(), Value::from(payload.as_str())),
                ],
                (self.clock)(),
            );
            match message {
                Ok(message) => {
                    let message = message
                        .with_priority(Priority::Lowest)
                        .with_reliability(Reliability::BestEffort);
                    if let Err(e) = self.outbox.push(vec![Outgoing::new(message)]) {
                        log::warn!(target: "iotcs::device::capability", "connectivity test message {n} not queued: {e}");
                    }
                }
                Err(e) => {
                    log::warn!(target: "iotcs::device::capability", "cannot build connectivity test message {n}: {e}")
                }
            }
            self.test().current = n;
        }
        self.test().active = false;
    }
}

impl RequestHandler for Route {
    fn handle(&self, request: &RequestPayload) -> Handled {
        let c = &self.capabilities;
        let get = request.effective_method().eq_ignore_ascii_case("GET");
        let ok = |value: Json| Handled::status(200, value.to_string());
        match self.kind {
            Kind::Counters => ok(c.counters_json()),
            Kind::Reset => {
                c.counters.reset();
                Handled::status(200, "")
            }
            Kind::PollingInterval if get => ok(c.polling_interval()),
            Kind::Info => ok(c.info()),
            Kind::TestConnectivity if get => ok(c.test_state()),
            Kind::PollingInterval | Kind::TestConnectivity => match body_object(request.body()) {
                Ok(body) if matches!(self.kind, Kind::PollingInterval) => {
                    c.set_polling_interval(&body)
                }
                Ok(body) => c.put_test(&body),
                Err(e) => bad_request(&e),
            },
        }
    }
}

/// A request body that must be a JSON object.
fn body_object(body: &[u8]) -> Result<serde_json::Map<String, Json>, Error> {
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(map)) => Ok(map),
        _ => Err(Error::argument("the body must be a JSON object")),
    }
}

/// Total and free bytes of the file systems holding `paths`, from `df -Pk`
/// (std has no `statvfs` and the crate has no unsafe code). A file system
/// shared by several paths counts once.
fn disk_space(paths: &[PathBuf]) -> (Option<u64>, Option<u64>) {
    let mut seen = Vec::new();
    let (mut total, mut free, mut any) = (0u64, 0u64, false);
    for path in paths {
        let Ok(output) = std::process::Command::new("df")
            .arg("-Pk")
            .arg(path)
            .output()
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let Some(line) = text.lines().nth(1) else {
            continue;
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(fs), Some(size), Some(avail)) = (fields.first(), fields.get(1), fields.get(3))
        else {
            continue;
        };
        if seen.iter().any(|s: &String| s == fs) {
            continue;
        }
        if let (Ok(size), Ok(avail)) = (size.parse::<u64>(), avail.parse::<u64>()) {
            seen.push((*fs).to_owned());
            total = total.saturating_add(size.saturating_mul(1024));
            free = free.saturating_add(avail.saturating_mul(1024));
            any = true;
        }
    }
    if any {
        (Some(total), Some(free))
    } else {
        (None, None)
    }
}

/// The address of the interface the default route leaves by: a UDP
/// "connect" picks it without sending anything.
fn local_ip() -> Option<String> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then(|| ip.to_string())
}

/// The MAC address of the first interface that is up and not loopback.
fn local_mac() -> Option<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    names.into_iter().find_map(|dir| {
        let state = std::fs::read_to_string(dir.join("operstate")).ok()?;
        let mac = std::fs::read_to_string(dir.join("address")).ok()?;
        let mac = mac.trim();
        (state.trim() == "up" && mac != "00:00:00:00:00:00" && !mac.is_empty())
            .then(|| mac.to_uppercase())
    })
}

#[cfg(test)]
mod tests {
    use iotcs_core::message::{Headers, Payload};

    use super::*;

    fn setup() -> (Arc<Capabilities>, Arc<Outbox>, Arc<Counters>) {
        let (outbox, _) = Outbox::new(200, 3);
        let counters = Arc::new(Counters::default());
        let caps = Capabilities::new(
            "EP-1",
            &Config::default(),
            counters.clone(),
            outbox.clone(),
            Arc::new(|| 42),
        );
        (caps, outbox, counters)
    }

    fn call(caps: &Arc<Capabilities>, kind: Kind, method: &str, body: &str) -> (u16, Json) {
        let request = Message::request(
            "EP-1",
            "cloud",
            method,
            "x",
            Headers::new(),
            body.as_bytes().to_vec(),
            1,
        )
        .unwrap();
        let Payload::Request(payload) = request.payload() else {
            unreachable!()
        };
        let handled = Route {
            capabilities: caps.clone(),
            kind,
        }
        .handle(payload);
        let json = serde_json::from_slice(&handled.body).unwrap_or(Json::Null);
        (handled.status, json)
    }

    #[test]
    fn counters_report_load_and_reset_zeroes_them() {
        let (caps, outbox, counters) = setup();
        counters.sent(5, 500);
        counters.protocol_error();
        for n in 0..3 {
            let m = Message::data("EP-1", "urn:x:attributes", [("n", n)], 0).unwrap();
            outbox.push(vec![Outgoing::new(m)]).unwrap();
        }
        let (status, json) = call(&caps, Kind::Counters, "GET", "");
        assert_eq!(status, 200);
        assert_eq!(json["totalMessagesSent"], 5);
        assert_eq!(json["totalBytesSent"], 500);
        assert_eq!(json["totalProtocolErrors"], 1);
        assert_eq!(json["load"], 1.5);
        assert_eq!(call(&caps, Kind::Reset, "PUT", "").0, 200);
        assert_eq!(
            call(&caps, Kind::Counters, "GET", "").1["totalMessagesSent"],
            0
        );
    }

    #[test]
    fn polling_interval_takes_both_spellings_and_refuses_bad_bodies() {
        let (caps, _, counters) = setup();
        counters.set_polling_interval(Duration::from_millis(3000));
        let (_, json) = call(&caps, Kind::PollingInterval, "GET", "");
        assert_eq!(
            (json["value"].clone(), json["pollingInterval"].clone()),
            (json!(3000), json!(3000))
        );
        assert_eq!(
            call(&caps, Kind::PollingInterval, "PUT", r#"{"value":5000}"#).0,
            200
        );
        assert_eq!(
            counters.polling_interval(),
            Some(Duration::from_millis(5000))
        );
        assert_eq!(
            call(
                &caps,
                Kind::PollingInterval,
                "PUT",
                r#"{"pollingInterval":1500}"#
            )
            .0,
            200
        );
        assert_eq!(
            call(&caps, Kind::PollingInterval, "GET", "").1["value"],
            1500
        );
        for bad in [
            r#"{"value":-1}"#,
            r#"{"value":"x"}"#,
            "[]",
            "nope",
            r#"{"other":1}"#,
        ] {
            assert_eq!(
                call(&caps, Kind::PollingInterval, "PUT", bad).0,
                400,
                "{bad}"
            );
        }
        assert_eq!(
            counters.polling_interval(),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn info_has_every_field() {
        let (caps, _, _) = setup();
        let (status, json) = call(&caps, Kind::Info, "GET", "");
        assert_eq!(status, 200);
        for key in [
            "freeDiskSpace",
            "ipAddress",
            "macAddress",
            "startTime",
            "totalDiskSpace",
            "version",
        ] {
            assert!(json.get(key).is_some(), "{key}: {json}");
        }
        assert_eq!(json["version"], "18.3.5");
        assert_eq!(json["startTime"], 42);
        assert!(json["totalDiskSpace"].as_u64().is_some(), "{json}");
    }

    #[test]
    fn connectivity_test_sends_count_messages_then_stops() {
        let (caps, outbox, _) = setup();
        let body = r#"{"active":true,"count":3,"interval":1,"size":5}"#;
        assert_eq!(call(&caps, Kind::TestConnectivity, "PUT", body).0, 200);
        let deadline = Instant::now() + Duration::from_secs(10);
        while call(&caps, Kind::TestConnectivity, "GET", "{}").1["active"] == true {
            assert!(Instant::now() < deadline);
            std::thread::yield_now();
        }
        let (_, state) = call(&caps, Kind::TestConnectivity, "GET", "{}");
        assert_eq!(state["currentCount"], 3);
        let sent = outbox.pop_batch(10);
        assert_eq!(sent.len(), 3);
        match sent[2].item.message().payload() {
            Payload::Data(d) => {
                assert_eq!(d.format(), capability::DIAGNOSTICS_TEST_MESSAGE_FORMAT);
                assert_eq!(d.data().get("payload"), Some(&json!("*****")));
                assert_eq!(d.data().get("current"), Some(&json!(3)));
            }
            other => panic!("{other:?}"),
        }
        // A long test is refused while running and stops on request.
        let long = r#"{"active":true,"count":1000,"interval":60000,"size":1}"#;
        assert_eq!(call(&caps, Kind::TestConnectivity, "PUT", long).0, 200);
        assert_eq!(call(&caps, Kind::TestConnectivity, "PUT", long).0, 409);
        assert_eq!(
            call(&caps, Kind::TestConnectivity, "PUT", r#"{"active":false}"#).0,
            200
        );
        caps.stop(Instant::now() + Duration::from_secs(10));
        assert_eq!(
            call(&caps, Kind::TestConnectivity, "PUT", r#"{"active":true}"#).0,
            400
        );
        assert_eq!(
            call(
                &caps,
                Kind::TestConnectivity,
                "PUT",
                r#"{"active":true,"count":1,"interval":1,"size":99999999}"#
            )
            .0,
            400
        );
    }

    #[test]
    fn the_report_lists_the_six_resources() {
        let (caps, _, _) = setup();
        let report = caps.report().unwrap();
        assert_eq!(report.priority(), Priority::Highest);
        let Payload::ResourcesReport(r) = report.payload() else {
            panic!("{report:?}")
        };
        assert_eq!(r.resources().len(), 6);
        assert_eq!(r.endpoint_name(), "EP-1");
        assert_eq!(r.resources()[2].methods(), "GET,PUT");
        assert_eq!(r.resources()[5].path(), POLICY_CHANGED_PATH);
    }
}
