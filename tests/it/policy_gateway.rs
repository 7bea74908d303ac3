//! Device policies on a gateway (spec §7.1's third call, §7.3): when a
//! policy is assigned to one of its indirectly-connected devices, the
//! gateway asks the cloud which of its devices have it and starts it for
//! exactly those, and stops it for them on unassignment, without any of
//! them asking for its own policy again.

#![allow(
    clippy::unwrap_used,
    reason = "a helper's failure is a failed test, which is what a panic reports"
)]

use serde_json::json;

use crate::policy_functions::{assign, field};
use crate::policy_lifecycle::{TwoThermostats, two_thermostats};
use crate::util::{self, PATIENCE, THERMOSTAT, TestCloud};

/// Whether `endpoint` sent a temp in `range`.
fn sent_in(cloud: &TestCloud, endpoint: &str, range: std::ops::Range<f64>) -> bool {
    field(cloud, endpoint, "temp")
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .any(|x| range.contains(&x))
}

#[test]
fn a_gateway_asks_which_of_its_devices_have_an_assigned_policy() {
    let cloud = TestCloud::start("policy-gw-assign");
    let TwoThermostats {
        gateway: _gateway,
        a,
        b,
        vd_a,
        vd_b,
    } = two_thermostats(&cloud, "policy-gw-assign");
    // Each asks once for its own policy (§7.1's first call): none.
    assert!(!vd_a.fetch_policy(PATIENCE).unwrap());
    assert!(!vd_b.fetch_policy(PATIENCE).unwrap());
    assert_eq!(cloud.server.policy_reads().of_device, 2);

    let id = assign(
        &cloud,
        &a,
        json!([{"attributeName": "temp", "pipeline": [
            {"id": "computedMetric", "parameters": {"formula": "$(temp) * 2"}}]}]),
    );
    // Offered 30.x (the model allows -40 to 125); doubled once the gateway
    // started the policy for a.
    let mut n = 0.0;
    util::eventually("a's offers are doubled", || {
        n += 0.0001;
        vd_a.offer("temp", 30.0 + n).unwrap();
        sent_in(&cloud, &a, 60.0..62.0)
    });
    vd_b.offer("temp", 10.0).unwrap();
    util::eventually("b's offer arrived", || sent_in(&cloud, &b, 10.0..10.5));
    assert_eq!(field(&cloud, &b, "temp"), [json!(10.0)]);
    let reads = cloud.server.policy_reads();
    assert!(reads.devices >= 1, "{reads:?}");
    assert!(reads.by_id >= 1, "{reads:?}");
    // Neither device asked for its own policy again.
    assert_eq!(reads.of_device, 2, "{reads:?}");

    cloud.admin.unassign_policy(THERMOSTAT, &id, &a).unwrap();
    let mut n = 0.0;
    util::eventually("a's offers are plain again", || {
        n += 0.0001;
        vd_a.offer("temp", 40.0 + n).unwrap();
        sent_in(&cloud, &a, 40.0..41.0)
    });
    // b, which never ran it, still knows it has none.
    vd_b.offer("temp", 11.0).unwrap();
    util::eventually("b's second offer arrived", || {
        sent_in(&cloud, &b, 11.0..11.5)
    });
    let reads = cloud.server.policy_reads();
    assert!(reads.devices >= 2, "{reads:?}");
    assert_eq!(reads.of_device, 2, "{reads:?}");
}
