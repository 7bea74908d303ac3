//! Device policies (protocol §7): the admin API (create, read, list,
//! replace, enable/disable, delete, assign, unassign), its validation, the
//! device's private API, the `policyChanged` requests every change sends,
//! gateways and their devices, and persistence across a restart.

use iotcs_core::__private::crypto::activation::IndirectActivationRequest;
use iotcs_core::__private::crypto::icd_signature_hmac;
use iotcs_core::__private::encoding::base64_decode;
use iotcs_core::__private::protocol::query::{devices_of_gateway, policy_of_device};
use iotcs_core::__private::protocol::{Endpoint, percent_encode};
use iotcs_core::model::capability;
use iotcs_core::policy::{Function, POLICY_CHANGED_PATH, PolicyChange, PolicyOp};
use iotcs_server::{DeviceRegistration, Server, ServerConfig};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::util::*;

/// A policy body: a 5-second mean of temperature and an alert above 30.
fn mean_and_alert() -> Value {
    json!({"description": "demo", "pipelines": [
        {"attributeName": "temp", "pipeline": [
            {"id": "mean", "parameters": {"window": 5000}},
            {"id": "alertCondition", "parameters": {
                "condition": "$(temp) > 30",
                "alert": {"urn": format!("{TEMPERATURE}:too_hot"), "fields": {"temp": "$(temp)"}, "severity": "CRITICAL"},
                "filter": false}}
        ]}
    ]})
}

/// The `policyChanged` changes waiting for `d`: each REQUEST's body.
fn notifications(d: &TestDevice) -> Vec<(Value, Vec<PolicyChange>)> {
    let answer = d.post(&[], "").expect(202).json();
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|req| {
            assert_eq!(req["type"], "REQUEST");
            assert_eq!(req["destination"], d.id.as_str());
            assert_eq!(req["payload"]["url"], POLICY_CHANGED_PATH);
            assert_eq!(req["payload"]["method"], "PUT");
            let body = base64_decode(req["payload"]["body"].as_str().unwrap()).unwrap();
            (req.clone(), PolicyChange::parse_array(&body).unwrap())
        })
        .collect()
}

/// The one change waiting for `d`.
#[track_caller]
fn one_change(d: &TestDevice) -> PolicyChange {
    let mut all = notifications(d);
    assert_eq!(all.len(), 1, "{all:?}");
    let (_, mut changes) = all.remove(0);
    assert_eq!(changes.len(), 1, "{changes:?}");
    changes.remove(0)
}

/// The `detail` of a refusal's JSON problem body.
fn detail(err: &iotcs_core::Error) -> String {
    match err {
        iotcs_core::Error::Transport { body, .. } => {
            let v: Value = serde_json::from_str(body).unwrap();
            v["detail"].as_str().unwrap().to_owned()
        }
        other => panic!("{other:?}"),
    }
}

/// `GET` of a private-API endpoint with a query, as device `d`.
fn private(d: &TestDevice, endpoint: Endpoint<'_>, query: &str) -> Resp {
    d.call("GET", &format!("{}{query}", endpoint.path()), None)
}

fn q(filter: &str, fields: &str) -> String {
    format!(
        "?q={}&fields={}",
        percent_encode(filter),
        percent_encode(fields)
    )
}

#[test]
fn the_admin_api_creates_reads_changes_and_deletes_policies() {
    let t = TestServer::start("policy-crud");
    let created = t
        .admin
        .create_policy(TEMPERATURE, &mean_and_alert())
        .unwrap();
    assert!(created.enabled());
    assert_eq!(created.device_model_urn(), TEMPERATURE);
    assert_eq!(created.json()["description"], "demo");
    assert_eq!(created.device_count(), 0);
    let policy = created.policy().unwrap();
    let functions = policy.pipeline("temp").unwrap().functions();
    assert!(matches!(functions[0], Function::Mean(_)));
    assert!(matches!(
        functions[1],
        Function::AlertCondition { filter: false, .. }
    ));

    let id = created.id().to_owned();
    let read = t.admin.policy(TEMPERATURE, &id).unwrap().unwrap();
    assert_eq!(read.json(), created.json());
    assert_eq!(t.admin.policies(TEMPERATURE).unwrap().len(), 1);
    assert!(t.admin.policies(HUMIDITY).unwrap().is_empty());
    assert!(
        t.admin.policy(HUMIDITY, &id).unwrap().is_none(),
        "another model's"
    );

    let err = t
        .admin
        .update_policy(TEMPERATURE, &id, &json!({"enabled": false}))
        .unwrap_err();
    assert_eq!(
        err.status_code(),
        Some(400),
        "PUT replaces: pipelines required"
    );
    let replaced = t
        .admin
        .update_policy(TEMPERATURE, &id, &json!({"pipelines": []}))
        .unwrap();
    assert!(replaced.last_modified() > created.last_modified());
    assert_eq!(
        replaced.json()["description"],
        "",
        "PUT replaces everything"
    );
    assert_eq!(replaced.json()["pipelines"], json!([]));
    let disabled = t.admin.set_policy_enabled(TEMPERATURE, &id, false).unwrap();
    assert!(!disabled.enabled());
    assert!(disabled.last_modified() > replaced.last_modified());
    assert_eq!(
        disabled.json()["pipelines"],
        json!([]),
        "PATCH keeps the rest"
    );

    t.admin.delete_policy(TEMPERATURE, &id).unwrap();
    assert!(t.admin.policy(TEMPERATURE, &id).unwrap().is_none());
    let gone = t.admin.delete_policy(TEMPERATURE, &id).unwrap_err();
    assert_eq!(gone.status_code(), Some(404));
    let no_model = t
        .admin
        .create_policy("urn:test:none", &mean_and_alert())
        .unwrap_err();
    assert_eq!(no_model.status_code(), Some(404));
    assert_eq!(
        t.admin.policies("urn:test:none").unwrap_err().status_code(),
        Some(404)
    );
}

// One table: each line is a refused body and what the refusal must name.
#[test]
fn bad_policies_are_refused_naming_the_problem() {
    let t = TestServer::start("policy-validation");
    let pipeline =
        |functions: Value| json!({"pipelines": [{"attributeName": "temp", "pipeline": functions}]});
    for (body, words) in [
        (
            pipeline(json!([{"id": "teleport"}])),
            "unknown function \"teleport\"",
        ),
        (
            pipeline(json!([{"id": "mean", "parameters": {"window": -1}}])),
            "function \"mean\", parameter \"window\"",
        ),
        (
            pipeline(
                json!([{"id": "filterCondition", "parameters": {"condition": "$(temp) > > 2"}}]),
            ),
            "parameter \"condition\", at character 11",
        ),
        (
            pipeline(json!([{"id": "batchByCost", "parameters": {"networkCost": "PIGEON"}}])),
            "PIGEON",
        ),
        (
            json!({"pipelines": [{"attributeName": "colour", "pipeline": []}]}),
            "pipeline \"colour\": device model",
        ),
        (json!({"pipelines": {}}), "\"pipelines\" must be an array"),
        (json!({"description": "none"}), "pipelines is required"),
        (
            json!({"enabled": "yes", "pipelines": []}),
            "enabled must be true or false",
        ),
        (json!([1]), "a device policy is a JSON object"),
    ] {
        let err = t.admin.create_policy(TEMPERATURE, &body).unwrap_err();
        assert_eq!(err.status_code(), Some(400), "{body}: {err}");
        assert!(detail(&err).contains(words), "{body}: {err}");
    }
    assert!(
        t.admin.policies(TEMPERATURE).unwrap().is_empty(),
        "nothing stored"
    );

    // An update is checked the same way and changes nothing when refused.
    let p = t
        .admin
        .create_policy(TEMPERATURE, &mean_and_alert())
        .unwrap();
    let err = t
        .admin
        .update_policy(TEMPERATURE, p.id(), &pipeline(json!([{"id": "min"}])))
        .unwrap_err();
    assert_eq!(err.status_code(), Some(400));
    assert!(detail(&err).contains("\"window\": is required"), "{err}");
    let after = t.admin.policy(TEMPERATURE, p.id()).unwrap().unwrap();
    assert_eq!(after.json(), p.json());
}

#[test]
fn every_change_assignment_and_unassignment_notifies_the_device() {
    let t = TestServer::start("policy-notify");
    let d = t.activated("pol-dev", &[TEMPERATURE]);
    let other = t.activated("pol-other", &[HUMIDITY]);
    let p = t
        .admin
        .create_policy(TEMPERATURE, &mean_and_alert())
        .unwrap();
    let id = p.id().to_owned();
    assert!(notifications(&d).is_empty(), "creating assigns nothing");

    t.admin.assign_policy(TEMPERATURE, &id, &[&d.id]).unwrap();
    let change = one_change(&d);
    assert_eq!(
        change,
        PolicyChange::new(TEMPERATURE, &id, p.last_modified(), PolicyOp::Assigned)
    );
    assert_eq!(
        t.admin.policy_devices(TEMPERATURE, &id).unwrap(),
        std::slice::from_ref(&d.id)
    );
    t.admin.assign_policy(TEMPERATURE, &id, &[&d.id]).unwrap();
    assert!(
        notifications(&d).is_empty(),
        "assigning again changes nothing"
    );

    let changed = t
        .admin
        .update_policy(TEMPERATURE, &id, &mean_and_alert())
        .unwrap();
    let change = one_change(&d);
    assert_eq!(
        (change.op, change.last_modified),
        (PolicyOp::Changed, changed.last_modified())
    );
    let disabled = t.admin.set_policy_enabled(TEMPERATURE, &id, false).unwrap();
    assert_eq!(one_change(&d).last_modified, disabled.last_modified());

    t.admin.unassign_policy(TEMPERATURE, &id, &d.id).unwrap();
    assert_eq!(one_change(&d).op, PolicyOp::Unassigned);
    let not_assigned = t
        .admin
        .unassign_policy(TEMPERATURE, &id, &d.id)
        .unwrap_err();
    assert_eq!(not_assigned.status_code(), Some(404));

    t.admin.assign_policy(TEMPERATURE, &id, &[&d.id]).unwrap();
    assert_eq!(one_change(&d).op, PolicyOp::Assigned);
    t.admin.delete_policy(TEMPERATURE, &id).unwrap();
    assert_eq!(
        one_change(&d).op,
        PolicyOp::Unassigned,
        "deleting unassigns"
    );

    // Refusals: a device without the model, an unknown device, a second
    // policy of the same model; none notifies anyone.
    let p1 = t
        .admin
        .create_policy(TEMPERATURE, &mean_and_alert())
        .unwrap();
    let p2 = t
        .admin
        .create_policy(TEMPERATURE, &json!({"pipelines": []}))
        .unwrap();
    let err = t
        .admin
        .assign_policy(TEMPERATURE, p1.id(), &[&other.id])
        .unwrap_err();
    assert_eq!(err.status_code(), Some(400), "{err}");
    let err = t
        .admin
        .assign_policy(TEMPERATURE, p1.id(), &["NO-SUCH-DEVICE"])
        .unwrap_err();
    assert_eq!(err.status_code(), Some(404), "{err}");
    t.admin
        .assign_policy(TEMPERATURE, p1.id(), &[&d.id])
        .unwrap();
    one_change(&d);
    let err = t
        .admin
        .assign_policy(TEMPERATURE, p2.id(), &[&d.id])
        .unwrap_err();
    assert_eq!(err.status_code(), Some(409), "{err}");
    assert!(err.to_string().contains(p1.id()), "{err}");
    assert!(notifications(&d).is_empty());
    assert!(notifications(&other).is_empty());
    let err = t
        .admin
        .assign_policy(TEMPERATURE, p1.id(), &[])
        .unwrap_err();
    assert_eq!(err.status_code(), Some(400));
}

#[test]
fn the_raw_admin_routes_assign_one_device_and_refuse_other_methods() {
    let t = TestServer::start("policy-raw");
    let d = t.activated("pol-raw", &[TEMPERATURE]);
    let p = t
        .admin
        .create_policy(TEMPERATURE, &mean_and_alert())
        .unwrap();
    let credentials = iotcs_core::__private::encoding::base64_encode(
        format!("admin:{}", t.server.admin_password()).as_bytes(),
    );
    let auth = format!("Basic {credentials}");
    let admin = |method: &str, path: &str| {
        t.http()
            .send(method, path, &[("Authorization", auth.as_str())], None)
    };
    let base = format!("/iot/api/v2/deviceModels/{TEMPERATURE}/devicePolicies");
    let one = format!("{base}/{}/devices/{}", p.id(), d.id);
    let listed = admin("PUT", &one).expect(200).json();
    assert_eq!(listed["items"], json!([{"id": d.id}]));
    assert_eq!(one_change(&d).op, PolicyOp::Assigned);
    assert_eq!(admin("DELETE", &one).expect(200).json()["items"], json!([]));
    assert_eq!(one_change(&d).op, PolicyOp::Unassigned);
    admin("PATCH", &base).expect(405);
    admin("POST", &format!("{base}/{}", p.id())).expect(405);
    admin("GET", &format!("{base}/{}/devices/{}", p.id(), d.id)).expect(405);
    admin("GET", &format!("{base}/{}/other", p.id())).expect(404);
    // Without credentials the admin resource asks for them (issue 14: 401,
    // not the device API's 404).
    assert_eq!(t.http().send("GET", &base, &[], None).status, 401);
}

#[test]
fn a_device_reads_its_policy_through_the_private_api() {
    let t = TestServer::start("policy-private");
    let d = t.activated("pol-reader", &[TEMPERATURE]);
    let stranger = t.activated("pol-stranger", &[TEMPERATURE]);
    let mine = q(
        &policy_of_device(&d.id),
        "id,pipelines,enabled,lastModified",
    );
    let none = private(&d, Endpoint::DevicePolicies(TEMPERATURE), &mine).expect(200);
    assert_eq!(none.json()["items"], json!([]));

    let p = t
        .admin
        .create_policy(TEMPERATURE, &mean_and_alert())
        .unwrap();
    t.admin
        .assign_policy(TEMPERATURE, p.id(), &[&d.id])
        .unwrap();
    let found = private(&d, Endpoint::DevicePolicies(TEMPERATURE), &mine)
        .expect(200)
        .json();
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let mut keys: Vec<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["enabled", "id", "lastModified", "pipelines"],
        "fields projects"
    );
    let policy = iotcs_core::policy::DevicePolicy::from_value(&items[0]).unwrap();
    assert_eq!(policy.id(), p.id());
    // Without q: the caller's own.
    let own = private(&d, Endpoint::DevicePolicies(TEMPERATURE), "")
        .expect(200)
        .json();
    assert_eq!(own["items"][0]["id"], p.id());
    assert_eq!(
        private(&stranger, Endpoint::DevicePolicies(TEMPERATURE), "")
            .expect(200)
            .json()["items"],
        json!([])
    );
    private(&stranger, Endpoint::DevicePolicies(TEMPERATURE), &mine).expect(403);
    let bad_q = format!("?q={}", percent_encode("{\"devices\":1}"));
    private(&d, Endpoint::DevicePolicies(TEMPERATURE), &bad_q).expect(400);

    let by_id = private(
        &d,
        Endpoint::DevicePolicy(TEMPERATURE, p.id()),
        "?fields=id,enabled",
    )
    .expect(200)
    .json();
    assert_eq!(by_id, json!({"id": p.id(), "enabled": true}));
    private(&d, Endpoint::DevicePolicy(TEMPERATURE, "NOPE"), "").expect(404);
    private(&d, Endpoint::DevicePolicy(HUMIDITY, p.id()), "").expect(404);

    // Device bearer auth as on every device route; GET only.
    let path = Endpoint::DevicePolicy(TEMPERATURE, p.id()).path();
    assert_eq!(t.http().send("GET", &path, &[], None).status, 401);
    assert_eq!(d.call("POST", &path, Some(b"{}")).status, 405);

    t.admin.unassign_policy(TEMPERATURE, p.id(), &d.id).unwrap();
    let after = private(&d, Endpoint::DevicePolicies(TEMPERATURE), &mine).expect(200);
    assert_eq!(after.json()["items"], json!([]));
}

#[test]
fn a_gateway_hears_of_and_lists_its_devices_policies() {
    let t = TestServer::start("policy-gateway");
    let registration = DeviceRegistration::new("pol-gw")
        .gateway(true)
        .icd("pol-icd", Some(b"icd-secret"));
    let mut gw = TestDevice::provision(&t, registration);
    gw.activate(&[
        capability::DIRECT_ACTIVATION,
        capability::INDIRECT_ACTIVATION,
    ]);
    let other_gw = t.activated("pol-gw-2", &[capability::DIRECT_ACTIVATION]);
    let icd = IndirectActivationRequest::new("pol-icd", vec![HUMIDITY.to_owned()])
        .with_signature(icd_signature_hmac(b"icd-secret", &gw.id));
    let body = serde_json::to_vec(&icd).unwrap();
    let answer = gw
        .call(
            "POST",
            "/iot/api/v2/activation/indirect/device",
            Some(&body),
        )
        .expect(200)
        .json();
    let icd_id = answer["endpointId"].as_str().unwrap().to_owned();

    let policy = json!({"pipelines": [{"attributeName": "humidity", "pipeline": [
        {"id": "sampleQuality", "parameters": {"rate": 2}}]}]});
    let p = t.admin.create_policy(HUMIDITY, &policy).unwrap();
    t.admin.assign_policy(HUMIDITY, p.id(), &[&icd_id]).unwrap();
    let change = one_change(&gw);
    assert_eq!(
        (change.op, change.id.as_str()),
        (PolicyOp::Assigned, p.id())
    );
    assert_eq!(change.device_model_urn, HUMIDITY);

    let mine = q(&devices_of_gateway(&gw.id), "id");
    let listed = private(&gw, Endpoint::DevicePolicyDevices(HUMIDITY, p.id()), &mine)
        .expect(200)
        .json();
    assert_eq!(listed["items"], json!([{"id": icd_id}]));
    private(
        &other_gw,
        Endpoint::DevicePolicyDevices(HUMIDITY, p.id()),
        &mine,
    )
    .expect(403);
    let theirs = private(
        &other_gw,
        Endpoint::DevicePolicyDevices(HUMIDITY, p.id()),
        "",
    )
    .expect(200)
    .json();
    assert_eq!(theirs["items"], json!([]));
    // The gateway reads its device's policy.
    let of_icd = q(&policy_of_device(&icd_id), "id");
    let read = private(&gw, Endpoint::DevicePolicies(HUMIDITY), &of_icd)
        .expect(200)
        .json();
    assert_eq!(read["items"], json!([{"id": p.id()}]));
    private(&other_gw, Endpoint::DevicePolicies(HUMIDITY), &of_icd).expect(403);

    t.admin.set_policy_enabled(HUMIDITY, p.id(), false).unwrap();
    assert_eq!(one_change(&gw).op, PolicyOp::Changed);
    t.admin.unassign_policy(HUMIDITY, p.id(), &icd_id).unwrap();
    assert_eq!(one_change(&gw).op, PolicyOp::Unassigned);
    assert!(notifications(&other_gw).is_empty());
}

#[test]
fn policies_and_their_assignments_survive_a_restart() {
    let dir = TempDir::with_prefix("policy-persist").unwrap();
    let config = || ServerConfig::for_tests().data_dir(dir.path());
    let server = Server::start(config()).unwrap();
    let t = TestServer {
        admin: server.admin().unwrap(),
        server,
        dir: TempDir::with_prefix("unused").unwrap(),
    };
    let mut d = t.activated("pol-persist", &[TEMPERATURE]);
    let p = t
        .admin
        .create_policy(TEMPERATURE, &mean_and_alert())
        .unwrap();
    t.admin
        .assign_policy(TEMPERATURE, p.id(), &[&d.id])
        .unwrap();
    let disabled = t
        .admin
        .set_policy_enabled(TEMPERATURE, p.id(), false)
        .unwrap();
    t.server.shutdown().unwrap();

    let server = Server::start(config()).unwrap();
    let admin = server.admin().unwrap();
    let back = admin.policy(TEMPERATURE, p.id()).unwrap().unwrap();
    assert_eq!(back.json(), disabled.json());
    assert_eq!(
        admin.policy_devices(TEMPERATURE, p.id()).unwrap(),
        std::slice::from_ref(&d.id)
    );
    d.http = Http::new(&server);
    d.refresh_token();
    let own = private(&d, Endpoint::DevicePolicies(TEMPERATURE), "")
        .expect(200)
        .json();
    assert_eq!(own["items"][0]["enabled"], false);
    // The notifications queued before the restart are still delivered.
    let ops: Vec<PolicyOp> = notifications(&d)
        .into_iter()
        .flat_map(|(_, changes)| changes)
        .map(|c| c.op)
        .collect();
    assert_eq!(ops, [PolicyOp::Assigned, PolicyOp::Changed]);
    server.shutdown().unwrap();
}
