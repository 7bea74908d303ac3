//! Conformance tests of the model as a whole: a realistic model using every
//! feature, read field for field, and the `to_value` / `from_value` round
//! trip over generated models.

use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::*;
use crate::{Value, ValueType};

const EVERYTHING_JSON: &str = include_str!("../../models/test_everything.json");
const EVERYTHING: &str = "urn:com:example:iotcs:everything";

fn everything() -> DeviceModel {
    DeviceModel::from_json(EVERYTHING_JSON).unwrap()
}

#[test]
fn everything_model_top_level() {
    let m = everything();
    assert_eq!(m.urn(), EVERYTHING);
    assert_eq!(m.name(), "Everything");
    assert_eq!(
        m.description(),
        "A test model that uses every feature of the device-model format"
    );
    assert!(!m.is_system());
    assert!(m.is_draft());
    assert_eq!(m.created(), Some(1_600_000_000_000));
    assert_eq!(m.last_modified(), Some(1_600_000_123_456));
    assert_eq!(
        m.attributes_format_urn(),
        "urn:com:example:iotcs:everything:attributes"
    );
    assert_eq!(
        (m.attributes().len(), m.actions().len(), m.formats().len()),
        (15, 5, 2)
    );
}

#[test]
fn everything_model_attributes_field_for_field() {
    let m = everything();
    type Row<'a> = (
        &'a str,
        &'a str,
        ValueType,
        Option<&'a str>,
        Option<(f64, f64)>,
        bool,
        Option<Value>,
    );
    let expected: [Row<'_>; 15] = [
        (
            "ora_latitude",
            "GPS latitude",
            ValueType::Number,
            Some("ora_lat"),
            Some((-90.0, 90.0)),
            false,
            None,
        ),
        (
            "ora_longitude",
            "GPS longitude",
            ValueType::Number,
            Some("ora_lon"),
            Some((-180.0, 180.0)),
            false,
            None,
        ),
        (
            "ora_altitude",
            "GPS altitude in metres",
            ValueType::Number,
            Some("ora_alt"),
            None,
            false,
            None,
        ),
        (
            "ora_uncertainty",
            "Location accuracy in metres",
            ValueType::Number,
            Some("ora_accuracy"),
            None,
            false,
            None,
        ),
        (
            "ora_zone",
            "Zone the device is in",
            ValueType::String,
            None,
            None,
            false,
            None,
        ),
        (
            "ora_txPower",
            "Transmit power",
            ValueType::Integer,
            Some("ora_mssi"),
            None,
            false,
            None,
        ),
        (
            "ora_rssi",
            "Received signal strength",
            ValueType::Integer,
            None,
            Some((-128.0, 0.0)),
            false,
            None,
        ),
        (
            "count",
            "A counter",
            ValueType::Integer,
            None,
            Some((0.0, 1000.0)),
            true,
            Some(Value::Integer(42)),
        ),
        (
            "ratio",
            "",
            ValueType::Number,
            None,
            Some((0.0, 1.0)),
            true,
            Some(Value::Number(0.5)),
        ),
        (
            "label",
            "",
            ValueType::String,
            None,
            None,
            true,
            Some(Value::from("hello")),
        ),
        (
            "enabled",
            "",
            ValueType::Boolean,
            None,
            None,
            true,
            Some(Value::Boolean(false)),
        ),
        (
            "since",
            "When counting started",
            ValueType::DateTime,
            None,
            None,
            true,
            Some(Value::DateTime(1_600_000_000_000)),
        ),
        (
            "lastSeen",
            "Given as an ISO-8601 default",
            ValueType::DateTime,
            None,
            None,
            false,
            Some(Value::DateTime(1_600_000_000_000)),
        ),
        (
            "manual",
            "Link to the manual",
            ValueType::Uri,
            None,
            None,
            true,
            Some(Value::Uri("https://example.com/manual.pdf".into())),
        ),
        (
            "firmware",
            "Firmware image",
            ValueType::Uri,
            None,
            None,
            false,
            None,
        ),
    ];
    for (a, (name, description, ty, alias, range, writable, default)) in
        m.attributes().iter().zip(expected)
    {
        assert_eq!(a.name(), name);
        assert_eq!(a.model_urn(), EVERYTHING);
        assert_eq!(a.description(), description, "{name}");
        assert_eq!(a.value_type(), ty, "{name}");
        assert_eq!(a.alias(), alias, "{name}");
        assert_eq!(a.range().map(|r| (r.min(), r.max())), range, "{name}");
        assert_eq!(a.is_writable(), writable, "{name}");
        assert_eq!(a.default_value(), default.as_ref(), "{name}");
        assert_eq!(m.attribute(name), Some(a));
        if let Some(alias) = alias {
            assert_eq!(m.attribute(alias), Some(a), "look-up by alias {alias}");
        }
    }
    assert!(m.attribute("ORA_LAT").is_none() && m.attribute("").is_none());
}

#[test]
fn everything_model_actions_field_for_field() {
    let m = everything();
    let reboot = m.action("reboot").unwrap();
    assert_eq!(
        (reboot.description(), reboot.alias(), reboot.arg_type()),
        ("Restart the device", None, None)
    );
    assert!(!reboot.takes_arguments() && reboot.range().is_none() && reboot.arguments().is_empty());

    let level = m.action("level").unwrap();
    assert_eq!(level.name(), "setLevel");
    assert_eq!(level.description(), "Set the output level");
    assert_eq!(level.arg_type(), Some(ValueType::Integer));
    assert_eq!(level.range(), Some(&Range::new(0.0, 10.0).unwrap()));
    assert_eq!(m.action("setLevel"), Some(level));

    assert_eq!(
        m.action("rename").unwrap().arg_type(),
        Some(ValueType::String)
    );
    let boost = m.action("boost").unwrap();
    assert_eq!(
        (boost.arg_type(), boost.arguments().len()),
        (Some(ValueType::Number), 0)
    );

    let schedule = m.action("schedule").unwrap();
    assert_eq!(schedule.description(), "Run a job later");
    assert_eq!(schedule.arg_type(), None);
    let args: Vec<_> = schedule
        .arguments()
        .iter()
        .map(|a| {
            (
                a.name(),
                a.description(),
                a.value_type(),
                a.range().copied(),
                a.default_value().cloned(),
            )
        })
        .collect();
    assert_eq!(
        args,
        [
            ("at", "When to run", ValueType::DateTime, None, None),
            (
                "times",
                "How often",
                ValueType::Integer,
                Some(Range::new(1.0, 5.0).unwrap()),
                Some(Value::Integer(1))
            ),
            (
                "factor",
                "",
                ValueType::Number,
                None,
                Some(Value::Number(1.5))
            ),
            (
                "repeat",
                "",
                ValueType::Boolean,
                None,
                Some(Value::Boolean(false))
            ),
            (
                "note",
                "",
                ValueType::String,
                None,
                Some(Value::from("none"))
            ),
            ("script", "", ValueType::Uri, None, None),
        ]
    );
    assert!(m.action("nope").is_none());
}

#[test]
fn everything_model_formats_field_for_field() {
    let m = everything();
    let alarm = m.format("urn:com:example:iotcs:everything:alarm").unwrap();
    assert_eq!(alarm.name(), "alarm");
    assert_eq!(alarm.description(), "Something needs attention");
    assert_eq!(alarm.format_type(), FormatType::Alert);
    assert_eq!(alarm.device_model(), EVERYTHING);
    let fields: Vec<_> = alarm
        .fields()
        .iter()
        .map(|f| (f.name(), f.value_type(), f.is_optional()))
        .collect();
    assert_eq!(
        fields,
        [
            ("level", ValueType::Integer, false),
            ("reading", ValueType::Number, false),
            ("message", ValueType::String, true),
            ("acknowledged", ValueType::Boolean, false),
            ("at", ValueType::DateTime, true),
            ("snapshot", ValueType::Uri, true),
        ]
    );
    let report = m.format("urn:com:example:iotcs:everything:report").unwrap();
    assert_eq!(report.format_type(), FormatType::Data);
    assert_eq!(
        report.device_model(),
        EVERYTHING,
        "defaults to the declaring model"
    );
    assert_eq!(report.fields().len(), 1);
    assert!(m.format("alarm").is_none(), "formats are looked up by URN");
}

#[test]
fn everything_model_writes_oracle_json_back() {
    let m = everything();
    let v = m.to_value();
    assert_eq!(v["createdAsString"], "2020-09-13T12:26:40.000Z");
    assert_eq!(v["lastModifiedAsString"], "2020-09-13T12:28:43.456Z");
    assert_eq!(
        v["attributes"][6]["type"], "INTEGER",
        "type names are written upper-case"
    );
    assert_eq!(v["attributes"][0]["range"], "-90,90");
    assert_eq!(
        v["attributes"][12]["defaultValue"], 1_600_000_000_000i64,
        "DATETIME defaults as ms"
    );
    assert!(
        v["attributes"][10].get("alias").is_none(),
        "an empty alias is no alias"
    );
    assert_eq!(v["actions"][4]["arguments"][2]["type"], "NUMBER");
    assert!(v["actions"][3].get("arguments").is_none());
    assert_eq!(v["formats"][1]["type"], "DATA");
    assert_eq!(v["formats"][1]["value"]["fields"][0]["optional"], false);
    assert!(v.get("links").is_none());
    assert_eq!(DeviceModel::from_value(&v).unwrap(), m);
    // Through text as well, as the local cloud serves it.
    assert_eq!(DeviceModel::from_json(&v.to_string()).unwrap(), m);
}

/// A JSON value of `ty`, with numbers kept small enough to sit in ranges.
fn json_of(ty: ValueType, i: i64, f: f64, b: bool, s: &str) -> Json {
    match ty {
        ValueType::Integer | ValueType::DateTime => json!(i),
        ValueType::Number => json!(f),
        ValueType::Boolean => json!(b),
        ValueType::String | ValueType::Uri => json!(s),
    }
}

fn type_name(ty: ValueType, lower: bool) -> String {
    if lower {
        ty.as_str().to_ascii_lowercase()
    } else {
        ty.as_str().to_owned()
    }
}

prop_compose! {
    fn member()(
        ty in 0usize..6, lower in any::<bool>(), alias in any::<bool>(), description in ".{0,12}",
        flag in any::<bool>(), ranged in any::<bool>(), defaulted in any::<bool>(),
        a in -1.0e6f64..1.0e6, b in -1.0e6f64..1.0e6, i in any::<i64>(), s in ".{0,8}",
    ) -> (ValueType, Json) {
        let ty = ValueType::ALL[ty];
        let mut m = json!({"type": type_name(ty, lower), "description": description, "writable": flag});
        let (lo, hi) = (a.min(b).floor(), a.max(b).ceil());
        if ty.is_numeric() && ranged {
            m["range"] = json!(format!("{lo},{hi}"));
        }
        if defaulted {
            // Inside the range when there is one: its lower bound.
            m["defaultValue"] = if ty.is_numeric() && ranged {
                if ty == ValueType::Integer { json!(lo as i64) } else { json!(lo) }
            } else {
                json_of(ty, i, a, flag, &s)
            };
        }
        if alias {
            m["alias"] = json!("alias");
        }
        (ty, m)
    }
}

prop_compose! {
    fn action()(kind in 0usize..3, arg in member(), args in prop::collection::vec(member(), 1..4), alias in any::<bool>()) -> Json {
        let mut a = json!({"description": "an action"});
        if alias {
            a["alias"] = json!("alias");
        }
        match kind {
            0 => {}
            1 => {
                let (ty, m) = arg;
                a["argType"] = json!(ty.as_str());
                if let Some(r) = m.get("range") {
                    a["range"] = r.clone();
                }
            }
            _ => {
                let list: Vec<Json> = args.into_iter().enumerate().map(|(i, (_, mut m))| {
                    m["name"] = json!(format!("arg{i}"));
                    m.as_object_mut().unwrap().remove("alias");
                    m.as_object_mut().unwrap().remove("writable");
                    m
                }).collect();
                a["arguments"] = Json::Array(list);
            }
        }
        a
    }
}

prop_compose! {
    fn format()(alert in any::<bool>(), fields in prop::collection::vec((0usize..6, prop::option::of(any::<bool>())), 0..5), description in ".{0,12}") -> Json {
        let fields: Vec<Json> = fields.into_iter().enumerate().map(|(i, (ty, optional))| {
            let mut f = json!({"name": format!("field{i}"), "type": ValueType::ALL[ty].as_str()});
            if let Some(o) = optional {
                f["optional"] = json!(o);
            }
            f
        }).collect();
        json!({"name": "f", "description": description, "type": if alert { "ALERT" } else { "DATA" }, "value": {"fields": fields}})
    }
}

prop_compose! {
    fn model_json()(
        attributes in prop::collection::vec(member(), 0..8),
        actions in prop::collection::vec(action(), 0..4),
        formats in prop::collection::vec(format(), 0..3),
        name in ".{0,16}", system in any::<bool>(), draft in any::<bool>(),
        created in prop::option::of(any::<i64>()), modified in prop::option::of(any::<i64>()),
    ) -> Json {
        // Names are lower-case and aliases end in "Alias", so they never clash.
        let attributes: Vec<Json> = attributes.into_iter().enumerate().map(|(i, (_, mut a))| {
            a["name"] = json!(format!("attr{i}"));
            if a.get("alias").is_some() {
                a["alias"] = json!(format!("attr{i}Alias"));
            }
            a
        }).collect();
        let actions: Vec<Json> = actions.into_iter().enumerate().map(|(i, mut a)| {
            a["name"] = json!(format!("act{i}"));
            if a.get("alias").is_some() {
                a["alias"] = json!(format!("act{i}Alias"));
            }
            a
        }).collect();
        let formats: Vec<Json> = formats.into_iter().enumerate().map(|(i, mut f)| {
            f["urn"] = json!(format!("urn:test:model:f{i}"));
            f
        }).collect();
        let mut m = json!({
            "urn": "urn:test:model", "name": name, "system": system, "draft": draft,
            "attributes": attributes, "actions": actions, "formats": formats,
        });
        if let Some(c) = created {
            m["created"] = json!(c);
        }
        if let Some(l) = modified {
            m["lastModified"] = json!(l);
        }
        m
    }
}

proptest! {
    #[test]
    fn to_value_round_trips(json in model_json()) {
        let m1 = DeviceModel::from_value(&json).unwrap();
        let v1 = m1.to_value();
        let m2 = DeviceModel::from_value(&v1).unwrap();
        prop_assert_eq!(&m2, &m1);
        prop_assert_eq!(m2.to_value(), v1);
        for a in m1.attributes() {
            prop_assert_eq!(m1.attribute(a.name()), Some(a));
            if let Some(alias) = a.alias() {
                prop_assert_eq!(m1.attribute(alias), Some(a));
            }
            if let Some(d) = a.default_value() {
                prop_assert_eq!(&a.validate(d.clone()).unwrap(), d);
            }
        }
        for f in m1.formats() {
            prop_assert_eq!(m1.format(f.urn()), Some(f));
        }
    }
}
