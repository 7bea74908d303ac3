//! Device policies end to end (spec §7): a policy created and assigned
//! through the local cloud's admin API changes what `offer` sends. Every
//! function of §7.2 appears in at least one pipeline that combines two.

#![allow(
    clippy::unwrap_used,
    reason = "a helper's failure is a failed test, which is what a panic reports"
)]

use std::sync::mpsc;

use iotcs_core::NetworkCost;
use iotcs_core::message::Payload;
use iotcs_device::Value;
use serde_json::{Value as Json, json};

use crate::util::{self, THERMOSTAT, TestCloud, Thermostat};

/// The too-hot alert of the thermostat model.
const TOO_HOT: &str = "urn:com:example:iotcs:temperature_sensor:too_hot";

/// Creates a policy of `pipelines` for the thermostat model and assigns it
/// to `endpoint`; returns its id.
pub(crate) fn assign(cloud: &TestCloud, endpoint: &str, pipelines: Json) -> String {
    let policy = cloud
        .admin
        .create_policy(
            THERMOSTAT,
            &json!({"description": "test", "pipelines": pipelines}),
        )
        .unwrap();
    cloud
        .admin
        .assign_policy(THERMOSTAT, policy.id(), &[endpoint])
        .unwrap();
    policy.id().to_owned()
}

/// The values of `field` in the DATA messages from `endpoint`, in order.
pub(crate) fn field(cloud: &TestCloud, endpoint: &str, name: &str) -> Vec<Json> {
    cloud
        .messages_from(endpoint)
        .iter()
        .filter_map(|m| match m.payload() {
            Payload::Data(d) => d.get(name).cloned(),
            _ => None,
        })
        .collect()
}

/// The `temp` field of the too-hot alerts from `endpoint`.
fn alerts(cloud: &TestCloud, endpoint: &str) -> Vec<Json> {
    cloud
        .messages_from(endpoint)
        .iter()
        .filter_map(|m| match m.payload() {
            Payload::Alert(a) if a.format() == TOO_HOT => a.get("temp").cloned(),
            _ => None,
        })
        .collect()
}

/// Waits until `endpoint` sent `n` DATA messages carrying `name`.
fn wait_for_field(cloud: &TestCloud, endpoint: &str, name: &str, n: usize) -> Vec<Json> {
    util::eventually(&format!("{n} values of {name}"), || {
        field(cloud, endpoint, name).len() >= n
    });
    field(cloud, endpoint, name)
}

/// Sends a `set` after the offers and waits for it: messages are delivered
/// in order, so what the offers sent before it is in the cloud by then.
fn drain(cloud: &TestCloud, t: &Thermostat) {
    t.vd.set("reportingInterval", 3333).unwrap();
    util::eventually("the closing set arrived", || {
        field(cloud, &t.endpoint, "reportingInterval").contains(&json!(3333))
    });
}

/// A thermostat of its own for one case, with `pipelines` assigned.
fn case(cloud: &TestCloud, name: &str, pipelines: Json) -> Thermostat {
    let t = util::thermostat(cloud, name);
    assign(cloud, &t.endpoint, pipelines);
    t
}

fn offer_all(t: &Thermostat, attribute: &str, values: &[f64]) {
    for v in values {
        t.vd.offer(attribute, *v).unwrap();
    }
}

#[test]
fn filter_then_mean() {
    let cloud = TestCloud::start("policy-filter-mean");
    let t = case(
        &cloud,
        "filter-mean",
        json!([{"attributeName": "temp", "pipeline": [
            {"id": "filterCondition", "parameters": {"condition": "$(temp) < 0"}},
            {"id": "mean", "parameters": {"window": 500}}]}]),
    );
    offer_all(&t, "temp", &[-5.0, 10.0, 20.0]);
    // The policy thread lets the window out when it ends, with no offer.
    assert_eq!(
        wait_for_field(&cloud, &t.endpoint, "temp", 1),
        [json!(15.0)]
    );
    drain(&cloud, &t);
    assert_eq!(field(&cloud, &t.endpoint, "temp"), [json!(15.0)]);
}

#[test]
fn sample_then_max_and_duplicates_then_min() {
    let cloud = TestCloud::start("policy-sample-max");
    let max = case(
        &cloud,
        "sample-max",
        json!([{"attributeName": "temp", "pipeline": [
            {"id": "sampleQuality", "parameters": {"rate": 2}},
            {"id": "max", "parameters": {"window": 500}}]}]),
    );
    let min = case(
        &cloud,
        "dups-min",
        json!([{"attributeName": "temp", "pipeline": [
            {"id": "eliminateDuplicates", "parameters": {"window": 60000}},
            {"id": "min", "parameters": {"window": 500}}]}]),
    );
    // Every second value: 5, 9, 4.
    offer_all(&max, "temp", &[1.0, 5.0, 2.0, 9.0, 3.0, 4.0]);
    // Duplicates gone: 5, 3, 7.
    offer_all(&min, "temp", &[5.0, 5.0, 3.0, 3.0, 7.0]);
    assert_eq!(
        wait_for_field(&cloud, &max.endpoint, "temp", 1),
        [json!(9.0)]
    );
    assert_eq!(
        wait_for_field(&cloud, &min.endpoint, "temp", 1),
        [json!(3.0)]
    );
}

#[test]
fn standard_deviation_then_computed_metric() {
    let cloud = TestCloud::start("policy-sd");
    let t = case(
        &cloud,
        "sd-computed",
        json!([{"attributeName": "temp", "pipeline": [
            {"id": "standardDeviation", "parameters": {"window": 500}},
            {"id": "computedMetric", "parameters": {"formula": "$(temp) * 2"}}]}]),
    );
    offer_all(&t, "temp", &[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
    let got = wait_for_field(&cloud, &t.endpoint, "temp", 1);
    let expected = 2.0 * (32.0f64 / 7.0).sqrt();
    assert!(
        (got[0].as_f64().unwrap() - expected).abs() < 1e-9,
        "{got:?}"
    );
}

#[test]
fn detect_duplicates_then_privacy() {
    let cloud = TestCloud::start("policy-privacy");
    let t = case(
        &cloud,
        "dups-privacy",
        json!([{"attributeName": "unit", "pipeline": [
            {"id": "detectDuplicates", "parameters": {"window": 60000,
                "alert": {"urn": TOO_HOT, "fields": {"temp": "99", "unit": "$(unit)"}}}},
            {"id": "privacyPolicy", "parameters": {"level": "one-way"}}]}]),
    );
    t.vd.offer("unit", "secret").unwrap();
    t.vd.offer("unit", "secret").unwrap();
    drain(&cloud, &t);
    let units = field(&cloud, &t.endpoint, "unit");
    // base64url(SHA-256("secret")), no padding.
    let hashed = json!("K7gNU3sdo-OL0wNhqoVWhr3g6s1xYv72ol_pe_Unols");
    assert_eq!(units, [hashed.clone(), hashed]);
    assert_eq!(
        alerts(&cloud, &t.endpoint),
        [json!(99.0)],
        "one alert per window"
    );
}

#[test]
fn alert_and_action_conditions() {
    let cloud = TestCloud::start("policy-alert-action");
    let t = case(
        &cloud,
        "alert-action",
        json!([{"attributeName": "temp", "pipeline": [
            {"id": "alertCondition", "parameters": {"condition": "$(temp) > 80", "filter": false,
                "alert": {"urn": TOO_HOT, "fields": {"temp": "$(temp)", "unit": "hot"}, "severity": "CRITICAL"}}},
            {"id": "actionCondition", "parameters": {"condition": "$(temp) > 100",
                "action": {"name": "power", "arguments": ["0"]}}}]}]),
    );
    let (tx, rx) = mpsc::channel();
    t.vd.on_action("power", move |e| {
        tx.send(e.argument().cloned()).unwrap();
        Ok(())
    })
    .unwrap();
    offer_all(&t, "temp", &[20.0, 90.0, 110.0]);
    // The action ran once, on the device itself, with its argument.
    assert_eq!(util::recv(&rx), Some(Value::Boolean(false)));
    drain(&cloud, &t);
    // 110 is filtered by the action's condition (filter defaults to true).
    assert_eq!(
        field(&cloud, &t.endpoint, "temp"),
        [json!(20.0), json!(90.0)]
    );
    assert_eq!(alerts(&cloud, &t.endpoint), [json!(90.0), json!(110.0)]);
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(50))
            .is_err()
    );
}

#[test]
fn batch_by_size_after_sampling_and_the_alert_bypass() {
    let cloud = TestCloud::start("policy-batch-size");
    let t = case(
        &cloud,
        "batch-size",
        json!([
            {"attributeName": "temp", "pipeline": [
                {"id": "sampleQuality", "parameters": {"rate": 2}},
                {"id": "alertCondition", "parameters": {"condition": "$(temp) > 100",
                    "alert": {"urn": TOO_HOT, "fields": {"temp": "$(temp)"}, "severity": "CRITICAL"}}}]},
            {"attributeName": "*", "pipeline": [
                {"id": "batchBySize", "parameters": {"batchSize": 3}}]}]),
    );
    offer_all(&t, "temp", &[1.0, 2.0, 3.0, 4.0]);
    // A CRITICAL alert is not held by the batch, which holds 2 and 4.
    t.vd.offer("temp", 0.0).unwrap();
    t.vd.offer("temp", 110.0).unwrap();
    util::eventually("the alert", || alerts(&cloud, &t.endpoint).len() == 1);
    assert!(field(&cloud, &t.endpoint, "temp").is_empty());
    offer_all(&t, "temp", &[5.0, 6.0]);
    assert_eq!(
        wait_for_field(&cloud, &t.endpoint, "temp", 3),
        [json!(2.0), json!(4.0), json!(6.0)]
    );
}

#[test]
fn batch_by_time_and_by_cost() {
    let cloud = TestCloud::start("policy-batch-time");
    let by_time = case(
        &cloud,
        "batch-time",
        json!([
            {"attributeName": "unit", "pipeline": [
                {"id": "privacyPolicy", "parameters": {"level": "two-way", "hashingKey": "k"}}]},
            {"attributeName": "*", "pipeline": [
                {"id": "batchByTime", "parameters": {"delayLimit": 500}}]}]),
    );
    by_time.vd.offer("unit", "a").unwrap();
    by_time.vd.offer("temp", 1.0).unwrap();
    // Let out by the policy thread once the delay is over, both together.
    assert_eq!(
        wait_for_field(&cloud, &by_time.endpoint, "temp", 1),
        [json!(1.0)]
    );
    assert_eq!(field(&cloud, &by_time.endpoint, "unit").len(), 1);
    assert_ne!(field(&cloud, &by_time.endpoint, "unit"), [json!("a")]);

    let mut config = util::config();
    config.device_policy.network_cost = NetworkCost::Satellite;
    let by_cost = util::thermostat_with(&cloud, "batch-cost", config);
    assign(
        &cloud,
        &by_cost.endpoint,
        json!([
            {"attributeName": "temp", "pipeline": [
                {"id": "filterCondition", "parameters": {"condition": "$(temp) < 0"}}]},
            {"attributeName": "*", "pipeline": [
                {"id": "batchByCost", "parameters": {"networkCost": "CELLULAR"}}]}]),
    );
    offer_all(&by_cost, "temp", &[-1.0, 7.0, 8.0]);
    by_cost.vd.set("reportingInterval", 60).unwrap();
    // Held while the network is a satellite link; out once it is cheap.
    cloud.settled(&by_cost.endpoint);
    assert!(field(&cloud, &by_cost.endpoint, "temp").is_empty());
    by_cost
        .device
        .set_network_cost(NetworkCost::Ethernet)
        .unwrap();
    assert_eq!(
        wait_for_field(&cloud, &by_cost.endpoint, "temp", 2),
        [json!(7.0), json!(8.0)]
    );
    assert_eq!(
        field(&cloud, &by_cost.endpoint, "reportingInterval"),
        [json!(60)],
        "set passes the model-level batch too"
    );
}
