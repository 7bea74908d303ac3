//! `GET /console/api/policies`: the device policies per device model in one
//! answer, for the page's policies view. The admin API has them too, but
//! per model, with the assigned devices only as a count (their endpoint ids
//! one more request per policy away) and never by hardware id; this route
//! adds what the page shows and nothing it could change. Changes go through
//! the admin API (`admin_policies.rs`), which validates and notifies.

use serde_json::{Value, json};

use crate::state::State;

/// `{"models": [...]}`: every device model that a device implements or a
/// policy names (system models aside), in URN order, each with its devices
/// (to assign to) and its policies.
pub(super) fn policies(state: &State) -> Value {
    let devices = state.devices();
    let hardware_id = |id: &str| {
        state
            .device(id)
            .map_or_else(|| id.to_owned(), |d| d.hardware_id.clone())
    };
    let models: Vec<Value> = state
        .models()
        .filter(|m| !m.is_system())
        .filter_map(|m| {
            let urn = m.urn();
            let implementing: Vec<Value> = devices
                .iter()
                .filter(|d| d.device_models.iter().any(|u| u == urn))
                .map(|d| json!({"id": d.id, "hardwareId": d.hardware_id}))
                .collect();
            let policies: Vec<Value> = state
                .policies_of(urn)
                .into_iter()
                .map(|p| {
                    let assigned: Vec<Value> = p
                        .devices
                        .iter()
                        .map(|id| json!({"id": id, "hardwareId": hardware_id(id)}))
                        .collect();
                    json!({
                        "id": p.id,
                        "description": p.description,
                        "enabled": p.enabled,
                        "lastModified": p.last_modified,
                        "pipelines": summarise(&p.pipelines),
                        "devices": assigned,
                    })
                })
                .collect();
            if implementing.is_empty() && policies.is_empty() {
                return None;
            }
            Some(json!({
                "urn": urn,
                "name": m.name(),
                "devices": implementing,
                "policies": policies,
            }))
        })
        .collect();
    json!({ "models": models })
}

/// Each pipeline as `attr: fn1 → fn2` (`*` for the model-level one), in
/// order. The admin API stored only pipelines `iotcs_core::policy` accepted,
/// so a shape this does not know is shown as `?`, never refused.
fn summarise(pipelines: &Value) -> Vec<String> {
    let Some(items) = pipelines.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| {
            let attribute = item["attributeName"].as_str().unwrap_or("*");
            let functions: Vec<&str> = item["pipeline"]
                .as_array()
                .map(|fs| fs.iter().map(|f| f["id"].as_str().unwrap_or("?")).collect())
                .unwrap_or_default();
            format!("{attribute}: {}", functions.join(" → "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use iotcs_core::model::samples::TEMPERATURE_SENSOR_URN;

    use super::*;
    use crate::state::test_support::state;
    use crate::state::{PolicyInput, Registration};

    #[test]
    fn pipelines_read_as_attribute_and_functions() {
        let pipelines = json!([
            {"attributeName": "temp", "pipeline": [{"id": "mean"}, {"id": "alertCondition"}]},
            {"pipeline": [{"id": "batchBySize"}]},
        ]);
        assert_eq!(
            summarise(&pipelines),
            ["temp: mean → alertCondition", "*: batchBySize"]
        );
        assert!(summarise(&Value::Null).is_empty());
    }

    #[test]
    fn a_model_lists_its_devices_and_its_policies_with_their_devices_by_hardware_id() {
        let mut s = state();
        let reg = Registration {
            hardware_id: "hw-1".into(),
            ..Registration::default()
        };
        let id = s.register(reg, 1).unwrap().id.clone();
        s.activate_direct(&id, b"k", vec![TEMPERATURE_SENSOR_URN.into()], 2)
            .unwrap();
        let input = PolicyInput {
            description: Some("calm".into()),
            enabled: Some(false),
            pipelines: Some(json!([{"attributeName": "temp",
                "pipeline": [{"id": "sampleQuality", "parameters": {"rate": 2}}]}])),
        };
        let policy = s
            .create_policy(TEMPERATURE_SENSOR_URN, input, 5)
            .unwrap()
            .id
            .clone();
        s.assign_policy(
            TEMPERATURE_SENSOR_URN,
            &policy,
            std::slice::from_ref(&id),
            6,
        )
        .unwrap();
        let all = policies(&s);
        let models = all["models"].as_array().unwrap();
        assert_eq!(models.len(), 1, "only the model a device implements");
        let model = &models[0];
        assert_eq!(model["urn"], TEMPERATURE_SENSOR_URN);
        assert_eq!(model["devices"], json!([{"id": id, "hardwareId": "hw-1"}]));
        let p = &model["policies"][0];
        assert_eq!(p["description"], "calm");
        assert_eq!(p["enabled"], false);
        assert_eq!(p["pipelines"], json!(["temp: sampleQuality"]));
        assert_eq!(p["devices"], json!([{"id": id, "hardwareId": "hw-1"}]));
    }
}
