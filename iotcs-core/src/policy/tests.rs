//! Reading policies: every function with its parameters, and each refusal
//! naming the policy, pipeline, function, parameter and position.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::config::NetworkCost;
use crate::message::Severity;
use crate::{Error, Value};

fn policy(functions: serde_json::Value) -> Result<DevicePolicy, Error> {
    DevicePolicy::from_value(&json!({
        "id": "P-1", "lastModified": 42, "enabled": true,
        "pipelines": [{"attributeName": "temp", "pipeline": functions}]
    }))
}

fn one(id: &str, parameters: serde_json::Value) -> Result<Function, Error> {
    let p = policy(json!([{"id": id, "parameters": parameters}]))?;
    Ok(p.pipeline("temp").unwrap().functions()[0].clone())
}

#[track_caller]
fn refused(id: &str, parameters: serde_json::Value, expected: &str) -> PolicyError {
    match one(id, parameters) {
        Err(Error::Policy { policy, detail }) => {
            assert_eq!(policy, "P-1");
            assert_eq!(detail.function(), Some(id), "{detail}");
            assert_eq!(detail.attribute(), Some("temp"));
            let text = Error::Policy {
                policy: policy.clone(),
                detail: detail.clone(),
            }
            .to_string();
            assert!(text.contains(expected), "{text}");
            detail
        }
        other => panic!("{id}: {other:?}"),
    }
}

#[test]
fn every_function_reads_its_parameters() {
    let ms = Duration::from_millis;
    assert!(matches!(
        one("filterCondition", json!({"condition": "$(temp) > 5"})).unwrap(),
        Function::FilterCondition { condition } if condition.as_str() == "$(temp) > 5"
    ));
    for (rate, expected) in [
        (json!(0), SampleRate::All),
        (json!(-1), SampleRate::Random),
        (json!(200), SampleRate::EveryNth(200)),
        (json!("3"), SampleRate::EveryNth(3)),
    ] {
        assert_eq!(
            one("sampleQuality", json!({"rate": rate})).unwrap(),
            Function::SampleQuality { rate: expected }
        );
    }
    let w = one("mean", json!({"window": 6000, "slide": 4000})).unwrap();
    let Function::Mean(window) = w else {
        panic!("{w:?}")
    };
    assert_eq!(
        (window.window, window.slide, window.bucket()),
        (ms(6000), ms(4000), ms(2000))
    );
    for id in ["min", "max", "standardDeviation"] {
        let f = one(id, json!({"window": "1000"})).unwrap();
        assert_eq!(f.id(), id);
        let (Function::Min(w) | Function::Max(w) | Function::StandardDeviation(w)) = f else {
            panic!("{f:?}")
        };
        assert_eq!(w.slide, ms(1000), "absent slide is the window");
    }
    assert_eq!(
        one("batchBySize", json!({"batchSize": 128})).unwrap(),
        Function::BatchBySize {
            size: 128,
            alert_severity: Severity::Critical
        }
    );
    assert_eq!(
        one(
            "batchByTime",
            json!({"delayLimit": 500, "alertSeverity": "significant"})
        )
        .unwrap(),
        Function::BatchByTime {
            delay_limit: ms(500),
            alert_severity: Severity::Significant
        }
    );
    let cost = one("batchByCost", json!({"networkCost": "SATELLITE"})).unwrap();
    assert_eq!(
        cost,
        Function::BatchByCost {
            network_cost: NetworkCost::Satellite,
            alert_severity: Severity::Critical
        }
    );
    assert!(cost.is_batching());
    assert_eq!(
        one("eliminateDuplicates", json!({"window": 100})).unwrap(),
        Function::EliminateDuplicates { window: ms(100) }
    );
    assert!(matches!(
        one("computedMetric", json!({"formula": "$(temp) * 2"})).unwrap(),
        Function::ComputedMetric { .. }
    ));
}

#[test]
fn alerts_actions_and_privacy() {
    let alert = json!({"urn": "urn:x:hot", "fields": {"t": "$(temp)", "note": "hot", "n": 3}});
    let f = one(
        "alertCondition",
        json!({"condition": "$(temp) > 30", "alert": alert, "filter": "false"}),
    )
    .unwrap();
    let Function::AlertCondition { alert, filter, .. } = &f else {
        panic!("{f:?}")
    };
    assert!(!filter);
    assert_eq!(alert.severity, Severity::Normal, "NORMAL by default");
    assert_eq!(alert.format_urn, "urn:x:hot");
    let fields: Vec<&str> = alert.fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(fields, ["n", "note", "t"], "by name");
    assert_eq!(alert.fields[1].1, Expression::Literal(Value::from("hot")));
    assert_eq!(alert.fields[0].1, Expression::Literal(Value::Integer(3)));
    assert!(matches!(alert.fields[2].1, Expression::Formula(_)));
    assert!(!f.is_batching());

    let d = one(
        "detectDuplicates",
        json!({"window": 10, "alert": {"urn": "urn:x:dup", "severity": "CRITICAL"}}),
    )
    .unwrap();
    assert!(
        matches!(d, Function::DetectDuplicates { ref alert, .. } if alert.severity == Severity::Critical)
    );

    let a = one(
        "actionCondition",
        json!({"condition": "1", "action": {"name": "reset", "arguments": ["$(temp) + 1", true]}}),
    )
    .unwrap();
    let Function::ActionCondition { action, filter, .. } = &a else {
        panic!("{a:?}")
    };
    assert!(*filter, "true by default");
    assert_eq!(action.name, "reset");
    assert_eq!(action.arguments.len(), 2);
    let src = |_: &str, _: Lookup| Some(Value::Number(1.5));
    assert_eq!(
        action.arguments[0].evaluate(&src).unwrap(),
        FormulaValue::Number(2.5)
    );
    assert_eq!(a.attributes(), ["temp"]);

    let p = one(
        "privacyPolicy",
        json!({"level": "two-way", "hashingKey": "k3y"}),
    )
    .unwrap();
    let Function::PrivacyPolicy { level, hashing_key } = &p else {
        panic!("{p:?}")
    };
    assert_eq!(*level, PrivacyLevel::TwoWay);
    assert_eq!(hashing_key.as_ref().unwrap().expose(), b"k3y");
    assert!(
        !format!("{p:?}").contains("k3y"),
        "the key never shows in Debug"
    );
    assert!(matches!(
        one("privacyPolicy", json!({"level": "one-way"})).unwrap(),
        Function::PrivacyPolicy {
            level: PrivacyLevel::OneWay,
            ..
        }
    ));
}

// A table of refusals, one line each: long, but one concern.
#[test]
fn refusals_name_the_function_and_parameter() {
    let e = refused("teleport", json!({}), "unknown function \"teleport\"");
    assert!(
        e.to_string().contains("filterCondition"),
        "lists the known ones"
    );
    let e = refused(
        "mean",
        json!({}),
        "parameter \"window\": is required and missing",
    );
    assert_eq!(e.parameter(), Some("window"));
    refused("mean", json!({"window": 0}), "milliseconds above 0, got 0");
    refused(
        "mean",
        json!({"window": 10, "slide": -5}),
        "parameter \"slide\"",
    );
    refused("sampleQuality", json!({"rate": -2}), "from -1 to");
    refused("sampleQuality", json!({"rate": "often"}), "got \"often\"");
    refused(
        "batchBySize",
        json!({"batchSize": 0}),
        "parameter \"batchSize\"",
    );
    refused(
        "batchByTime",
        json!({"delayLimit": 5, "alertSeverity": "MEH"}),
        "parameter \"alertSeverity\": expected LOW, NORMAL",
    );
    refused(
        "batchByCost",
        json!({"networkCost": "PIGEON"}),
        "expected ETHERNET, CELLULAR or SATELLITE, got \"PIGEON\"",
    );
    refused(
        "alertCondition",
        json!({"condition": "1"}),
        "parameter \"alert\": is required",
    );
    refused(
        "alertCondition",
        json!({"condition": "1", "alert": {"fields": {}}}),
        "parameter \"alert.urn\"",
    );
    refused(
        "alertCondition",
        json!({"condition": "1", "alert": {"urn": "u", "severity": "HUGE"}}),
        "parameter \"alert.severity\"",
    );
    let e = refused(
        "alertCondition",
        json!({"condition": "1", "alert": {"urn": "u", "fields": {"t": "$(temp) +"}}}),
        "parameter \"alert.fields.t\", at character 10",
    );
    assert_eq!(e.position(), Some(9));
    refused(
        "alertCondition",
        json!({"condition": "1", "alert": {"urn": "u"}, "filter": 3}),
        "expected true or false",
    );
    refused(
        "actionCondition",
        json!({"condition": "1", "action": {"arguments": []}}),
        "parameter \"action.name\"",
    );
    refused(
        "actionCondition",
        json!({"condition": "1", "action": {"name": "a", "arguments": ["$(", 1]}}),
        "parameter \"action.arguments[0]\"",
    );
    refused(
        "actionCondition",
        json!({"condition": "1", "action": {"name": "a", "arguments": 1}}),
        "parameter \"action.arguments\"",
    );
    refused(
        "privacyPolicy",
        json!({"level": "two-way"}),
        "parameter \"hashingKey\": two-way hashing needs a hashing key",
    );
    refused(
        "privacyPolicy",
        json!({"level": "scramble"}),
        "parameter \"level\"",
    );
    refused(
        "computedMetric",
        json!({"formula": 5}),
        "expected a formula as a string",
    );
    let e = refused(
        "filterCondition",
        json!({"condition": "$(temp) >> 3"}),
        "parameter \"condition\", at character 10: expected a value, found \">\"",
    );
    assert_eq!(e.position(), Some(9));
    refused(
        "filterCondition",
        json!("x"),
        "\"parameters\" must be an object",
    );
}

#[test]
fn policy_level_refusals() {
    let err = |v: serde_json::Value| DevicePolicy::from_value(&v).unwrap_err().to_string();
    assert!(err(json!({"lastModified": 1})).contains("no \"id\""));
    assert!(err(json!({"id": "P"})).contains("\"lastModified\" is required"));
    assert!(err(json!({"id": "P", "lastModified": "yesterday"})).contains("epoch milliseconds"));
    assert!(err(json!({"id": "P", "lastModified": 1, "enabled": "yes"})).contains("\"enabled\""));
    assert!(
        err(json!({"id": "P", "lastModified": 1, "pipelines": {}})).contains("must be an array")
    );
    let twice = json!({"id": "P", "lastModified": 1, "pipelines": [
        {"attributeName": "*", "pipeline": []}, {"pipeline": []}]});
    assert_eq!(
        err(twice),
        "device policy P: model-level pipeline: the policy has two pipelines for it"
    );
    assert!(
        err(json!({"id": "P", "lastModified": 1, "pipelines": [{"attributeName": 5}]}))
            .contains("attributeName")
    );
    assert!(err(json!({"id": "P", "lastModified": 1, "pipelines": [{"attributeName": "a", "pipeline": [{}]}]})).contains("pipeline \"a\": a function has no \"id\""));
    assert!(
        DevicePolicy::from_json("{")
            .unwrap_err()
            .to_string()
            .starts_with("device policy: the policy is not JSON")
    );
    assert_eq!(
        DevicePolicy::from_json("{").unwrap_err().kind(),
        crate::ErrorKind::Argument
    );
}

#[test]
fn a_policy_reads_its_header_and_pipelines() {
    let p = DevicePolicy::from_value(&json!({
        "id": "P-9", "description": "demo", "lastModified": 1_700_000_000_000_i64, "enabled": false,
        "pipelines": [
            {"attributeName": "f", "pipeline": [{"id": "computedMetric", "parameters": {"formula": "$(c) * 9 / 5 + 32 + $(f) * 0"}}]},
            {"pipeline": [{"id": "batchBySize", "parameters": {"batchSize": 3}}]},
            {"attributeName": "c", "pipeline": []}
        ],
        "unknownKey": 1
    })).unwrap();
    assert_eq!(
        (p.id(), p.description(), p.enabled(), p.last_modified()),
        ("P-9", "demo", false, 1_700_000_000_000)
    );
    assert_eq!(p.pipelines().len(), 3);
    assert_eq!(
        p.pipeline("f").unwrap().inputs(),
        ["c"],
        "its own attribute is not an input"
    );
    assert_eq!(p.model_pipeline().unwrap().attribute(), None);
    assert!(p.pipeline("nothing").is_none());
    assert!(!p.is_empty());
    let none = DevicePolicy::from_value(&json!({"id": "P", "lastModified": 1})).unwrap();
    assert!(none.is_empty() && none.enabled());
}

/// Any JSON leaf: what a hostile or careless policy may hold.
fn json_leaf() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        "[$()'a-z0-9 <>=!&|?:%*/+-]{0,20}".prop_map(serde_json::Value::from),
    ]
}

fn json_tree() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "condition",
                    "window",
                    "slide",
                    "rate",
                    "batchSize",
                    "delayLimit",
                    "networkCost",
                    "alertSeverity",
                    "alert",
                    "urn",
                    "fields",
                    "severity",
                    "action",
                    "name",
                    "arguments",
                    "filter",
                    "formula",
                    "level",
                    "hashingKey",
                ])
                .prop_map(str::to_string),
                inner,
                0..5,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    /// Whatever the parameters, reading a policy answers Ok or an error
    /// naming the function: it never panics.
    #[test]
    fn any_parameters_read_or_are_refused_cleanly(
        id in proptest::sample::select(Function::IDS.to_vec()),
        parameters in json_tree(),
    ) {
        match one(id, parameters) {
            Ok(f) => proptest::prop_assert_eq!(f.id(), id),
            Err(Error::Policy { detail, .. }) => {
                proptest::prop_assert_eq!(detail.function(), Some(id));
            }
            Err(other) => proptest::prop_assert!(false, "{other:?}"),
        }
    }
}
