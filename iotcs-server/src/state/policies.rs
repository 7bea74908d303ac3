//! Device policies (protocol §7): created, changed, enabled, deleted,
//! assigned to and unassigned from devices by the admin API; read by
//! devices through the private API. Every change, assignment and
//! unassignment queues a `policyChanged` REQUEST (§7.3) for each endpoint
//! whose connection carries an affected device (the device itself, or the
//! gateway of an indirectly-connected one).

use std::collections::{BTreeMap, BTreeSet};

use iotcs_core::__private::time::format_iso8601;
use iotcs_core::policy::{DevicePolicy, POLICY_CHANGED_PATH, PolicyChange, PolicyOp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{DeviceState, DomainError, NewRequest, SERVER_SOURCE, State};
use crate::store::Table;

/// One policy, as stored. `pipelines` is the JSON the admin gave, which
/// `iotcs_core::policy::DevicePolicy` accepted.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolicyRecord {
    pub(crate) id: String,
    pub(crate) device_model_urn: String,
    #[serde(default)]
    pub(crate) description: String,
    pub(crate) enabled: bool,
    pub(crate) created: i64,
    /// Strictly increases with every change of content or state.
    pub(crate) last_modified: i64,
    pub(crate) pipelines: Value,
    /// The devices it is assigned to.
    #[serde(default)]
    pub(crate) devices: BTreeSet<String>,
}

impl PolicyRecord {
    /// The policy as the admin API and (projected by `fields`) the private
    /// API show it.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "deviceModelUrn": self.device_model_urn,
            "description": self.description,
            "enabled": self.enabled,
            "created": self.created,
            "createdAsString": format_iso8601(self.created),
            "lastModified": self.last_modified,
            "lastModifiedAsString": format_iso8601(self.last_modified),
            "pipelines": self.pipelines,
            "devices": self.devices.len(),
        })
    }
}

/// The policies. Invariants: keyed by id; every record's pipelines pass
/// `DevicePolicy::from_value` and name only attributes of its model; a
/// device has at most one policy per device model (the private API's
/// lookup answers 0 or 1 item).
#[derive(Default)]
pub(crate) struct Policies {
    pub(super) by_id: BTreeMap<String, PolicyRecord>,
}

/// What the admin gives to create or replace a policy.
#[derive(Debug, Default)]
pub(crate) struct PolicyInput {
    pub(crate) description: Option<String>,
    pub(crate) enabled: Option<bool>,
    pub(crate) pipelines: Option<Value>,
}

impl PolicyInput {
    /// Reads `{"description", "enabled", "pipelines"}`; other keys (such as
    /// the `id` or `lastModified` of a policy read back) are ignored.
    pub(crate) fn from_json(body: &Value) -> Result<PolicyInput, DomainError> {
        let Value::Object(map) = body else {
            return Err(DomainError::invalid(
                "a device policy is a JSON object {description?, enabled?, pipelines}",
            ));
        };
        let description = match map.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(DomainError::invalid("description must be a string")),
        };
        let enabled = match map.get("enabled") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(DomainError::invalid("enabled must be true or false")),
        };
        let pipelines = map.get("pipelines").filter(|v| !v.is_null()).cloned();
        Ok(PolicyInput {
            description,
            enabled,
            pipelines,
        })
    }
}

impl State {
    /// Every policy of a model, by id.
    pub(crate) fn policies_of(&self, urn: &str) -> Vec<&PolicyRecord> {
        self.policies
            .by_id
            .values()
            .filter(|p| p.device_model_urn == urn)
            .collect()
    }

    /// The policy `id` of model `urn`.
    pub(crate) fn policy(&self, urn: &str, id: &str) -> Result<&PolicyRecord, DomainError> {
        self.policies
            .by_id
            .get(id)
            .filter(|p| p.device_model_urn == urn)
            .ok_or_else(|| DomainError::not_found(format!("no device policy {id} for model {urn}")))
    }

    /// The policy of model `urn` assigned to `device`, if any.
    pub(crate) fn policy_of_device(&self, urn: &str, device: &str) -> Option<&PolicyRecord> {
        self.policies
            .by_id
            .values()
            .find(|p| p.device_model_urn == urn && p.devices.contains(device))
    }

    /// Creates a policy for model `urn` (`pipelines` is required).
    pub(crate) fn create_policy(
        &mut self,
        urn: &str,
        input: PolicyInput,
        now: i64,
    ) -> Result<&PolicyRecord, DomainError> {
        let pipelines = input.pipelines.ok_or_else(pipelines_required)?;
        let mut id = super::devices::new_id()?;
        while self.policies.by_id.contains_key(&id) {
            id = super::devices::new_id()?;
        }
        let record = PolicyRecord {
            id: id.clone(),
            device_model_urn: urn.to_owned(),
            description: input.description.unwrap_or_default(),
            enabled: input.enabled.unwrap_or(true),
            created: now,
            last_modified: now,
            pipelines,
            devices: BTreeSet::new(),
        };
        self.check_policy(&record)?;
        self.persist(Table::Policies, id.as_bytes(), &record)?;
        log::info!("device policy {id} created for {urn}");
        self.policies.by_id.insert(id.clone(), record);
        Ok(&self.policies.by_id[&id])
    }

    /// Changes a policy: `replace` (PUT) sets every field, absent ones to
    /// their defaults (`pipelines` is required); otherwise (PATCH) only the
    /// given ones. The devices it
    /// is assigned to hear `changed`. Returns the mailboxes to wake.
    pub(crate) fn update_policy(
        &mut self,
        urn: &str,
        id: &str,
        input: PolicyInput,
        replace: bool,
        now: i64,
    ) -> Result<Vec<String>, DomainError> {
        let mut record = self.policy(urn, id)?.clone();
        if replace {
            record.description = input.description.unwrap_or_default();
            record.enabled = input.enabled.unwrap_or(true);
            record.pipelines = input.pipelines.ok_or_else(pipelines_required)?;
        } else {
            if let Some(d) = input.description {
                record.description = d;
            }
            if let Some(e) = input.enabled {
                record.enabled = e;
            }
            if let Some(p) = input.pipelines {
                record.pipelines = p;
            }
        }
        record.last_modified = now.max(record.last_modified + 1);
        self.check_policy(&record)?;
        self.save_policy(record.clone())?;
        log::info!("device policy {id} of {urn} changed");
        let devices: Vec<String> = record.devices.iter().cloned().collect();
        self.notify_policy(&record, &devices, PolicyOp::Changed, now)
    }

    /// Deletes a policy; the devices it was assigned to hear `unassigned`.
    pub(crate) fn delete_policy(
        &mut self,
        urn: &str,
        id: &str,
        now: i64,
    ) -> Result<Vec<String>, DomainError> {
        let record = self.policy(urn, id)?.clone();
        self.unpersist(Table::Policies, id.as_bytes())?;
        self.policies.by_id.remove(id);
        log::info!("device policy {id} of {urn} deleted");
        let devices: Vec<String> = record.devices.iter().cloned().collect();
        self.notify_policy(&record, &devices, PolicyOp::Unassigned, now)
    }

    /// Assigns a policy to devices; each newly assigned one hears
    /// `assigned`. A device that already has it is left alone; one with
    /// another policy of the same model is a conflict.
    pub(crate) fn assign_policy(
        &mut self,
        urn: &str,
        id: &str,
        devices: &[String],
        now: i64,
    ) -> Result<Vec<String>, DomainError> {
        let mut record = self.policy(urn, id)?.clone();
        let mut added = Vec::new();
        for device_id in devices {
            self.check_assignable(urn, id, device_id)?;
            if record.devices.insert(device_id.clone()) {
                added.push(device_id.clone());
            }
        }
        if added.is_empty() {
            return Ok(Vec::new());
        }
        self.save_policy(record.clone())?;
        log::info!("device policy {id} of {urn} assigned to {added:?}");
        self.notify_policy(&record, &added, PolicyOp::Assigned, now)
    }

    /// Unassigns a policy from one device, which hears `unassigned`.
    pub(crate) fn unassign_policy(
        &mut self,
        urn: &str,
        id: &str,
        device_id: &str,
        now: i64,
    ) -> Result<Vec<String>, DomainError> {
        let mut record = self.policy(urn, id)?.clone();
        if !record.devices.remove(device_id) {
            return Err(DomainError::not_found(format!(
                "device policy {id} is not assigned to device {device_id}"
            )));
        }
        self.save_policy(record.clone())?;
        log::info!("device policy {id} of {urn} unassigned from {device_id}");
        self.notify_policy(&record, &[device_id.to_owned()], PolicyOp::Unassigned, now)
    }

    fn check_assignable(&self, urn: &str, id: &str, device_id: &str) -> Result<(), DomainError> {
        let device = self
            .device(device_id)
            .ok_or_else(|| DomainError::not_found(format!("no device {device_id}")))?;
        // Before activation a device's models are not known yet.
        if device.state == DeviceState::Activated && !device.device_models.iter().any(|u| u == urn)
        {
            return Err(DomainError::invalid(format!(
                "device {device_id} does not implement device model {urn}"
            )));
        }
        if let Some(other) = self.policy_of_device(urn, device_id).filter(|p| p.id != id) {
            return Err(DomainError::conflict(format!(
                "device {device_id} already has device policy {} for {urn}; unassign it first",
                other.id
            )));
        }
        Ok(())
    }

    /// Refuses a policy the core does not accept, or with a pipeline for an
    /// attribute its model does not have.
    fn check_policy(&self, record: &PolicyRecord) -> Result<(), DomainError> {
        let urn = &record.device_model_urn;
        let model = self
            .model(urn)
            .ok_or_else(|| DomainError::not_found(format!("no device model {urn}")))?;
        let json = json!({
            "id": record.id, "lastModified": record.last_modified,
            "enabled": record.enabled, "pipelines": record.pipelines,
        });
        // A new policy's id means nothing to the admin yet: name it only
        // once it exists.
        let named = self.policies.by_id.contains_key(&record.id);
        let policy = DevicePolicy::from_value(&json).map_err(|e| match e {
            iotcs_core::Error::Policy { detail, .. } if !named => {
                DomainError::invalid(format!("device policy: {detail}"))
            }
            other => DomainError::from(other),
        })?;
        for pipeline in policy.pipelines() {
            if let Some(name) = pipeline.attribute()
                && model.attribute(name).is_none()
            {
                return Err(DomainError::invalid(format!(
                    "device policy: pipeline {name:?}: device model {urn} has no such attribute"
                )));
            }
        }
        Ok(())
    }

    fn save_policy(&mut self, record: PolicyRecord) -> Result<(), DomainError> {
        self.persist(Table::Policies, record.id.as_bytes(), &record)?;
        self.policies.by_id.insert(record.id.clone(), record);
        Ok(())
    }

    /// Queues one `policyChanged` REQUEST per endpoint carrying `devices`
    /// (an activated device, or the gateway of an ICD); returns those
    /// endpoints, whose long polls the caller wakes.
    fn notify_policy(
        &mut self,
        record: &PolicyRecord,
        devices: &[String],
        op: PolicyOp,
        now: i64,
    ) -> Result<Vec<String>, DomainError> {
        let mut targets: Vec<String> = Vec::new();
        for device_id in devices {
            let activated = self
                .device(device_id)
                .is_some_and(|d| d.state == DeviceState::Activated);
            let mailbox = self.mailbox(device_id);
            if activated && !targets.contains(&mailbox) {
                targets.push(mailbox);
            }
        }
        let change = PolicyChange::new(
            record.device_model_urn.clone(),
            record.id.clone(),
            record.last_modified,
            op,
        );
        let body: Value = serde_json::to_value([&change])
            .map_err(|e| DomainError::internal(format!("cannot encode a policy change: {e}")))?;
        for target in &targets {
            let new = NewRequest {
                endpoint_id: target,
                source: SERVER_SOURCE,
                method: "PUT",
                patch_override: false,
                url: POLICY_CHANGED_PATH.to_owned(),
                body: body.clone(),
            };
            self.queue_request(new, now)?;
        }
        Ok(targets)
    }
}

fn pipelines_required() -> DomainError {
    DomainError::invalid("pipelines is required: an array of {attributeName, pipeline}")
}

/// `json` restricted to the comma-separated `fields` (all of it without).
pub(crate) fn project(json: Value, fields: Option<&str>) -> Value {
    let (Some(fields), Value::Object(map)) = (fields, &json) else {
        return json;
    };
    let wanted: Vec<&str> = fields.split(',').map(str::trim).collect();
    let kept: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| wanted.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use iotcs_core::model::samples::{HUMIDITY_SENSOR_URN, TEMPERATURE_SENSOR_URN as URN};

    use super::super::Registration;
    use super::super::test_support::{HttpStatus, state};
    use super::*;

    fn input(pipelines: Value) -> PolicyInput {
        PolicyInput::from_json(&json!({ "pipelines": pipelines })).unwrap()
    }

    fn registered(s: &mut State, hw: &str) -> String {
        let reg = Registration {
            hardware_id: hw.to_owned(),
            ..Registration::default()
        };
        s.register(reg, 1).unwrap().id.clone()
    }

    #[test]
    fn last_modified_grows_with_every_change_even_within_a_millisecond() {
        let mut s = state();
        let id = s
            .create_policy(URN, input(json!([])), 100)
            .unwrap()
            .id
            .clone();
        let mut last = 100;
        for _ in 0..3 {
            s.update_policy(URN, &id, PolicyInput::default(), false, 100)
                .unwrap();
            let now = s.policy(URN, &id).unwrap().last_modified;
            assert!(now > last, "{now} after {last}");
            last = now;
        }
    }

    #[test]
    fn refused_operations_change_nothing() {
        let mut s = state();
        let bad = json!([{"attributeName": "temp", "pipeline": [{"id": "nope"}]}]);
        assert_eq!(
            s.create_policy(URN, input(bad.clone()), 1)
                .unwrap_err()
                .status(),
            400
        );
        assert!(s.policies_of(URN).is_empty());
        let id = s
            .create_policy(URN, input(json!([])), 1)
            .unwrap()
            .id
            .clone();
        let before = s.policy(URN, &id).unwrap().to_json();
        let e = s.update_policy(URN, &id, input(bad), true, 2).unwrap_err();
        assert!(
            e.detail().starts_with(&format!("device policy {id}: ")),
            "{e}"
        );
        assert_eq!(s.policy(URN, &id).unwrap().to_json(), before);
        let d = registered(&mut s, "dev");
        let e = s
            .assign_policy(URN, &id, &[d.clone(), "missing".to_owned()], 3)
            .unwrap_err();
        assert_eq!(e.status(), 404);
        assert!(
            s.policy(URN, &id).unwrap().devices.is_empty(),
            "all or nothing"
        );
        assert_eq!(
            s.policy(HUMIDITY_SENSOR_URN, &id).unwrap_err().status(),
            404
        );
    }

    #[test]
    fn a_device_has_one_policy_per_model_and_registered_devices_hear_nothing() {
        let mut s = state();
        let d = registered(&mut s, "dev");
        let a = s
            .create_policy(URN, input(json!([])), 1)
            .unwrap()
            .id
            .clone();
        let b = s
            .create_policy(URN, input(json!([])), 1)
            .unwrap()
            .id
            .clone();
        let h = s
            .create_policy(HUMIDITY_SENSOR_URN, input(json!([])), 1)
            .unwrap()
            .id
            .clone();
        // Not activated: assignable (its models are not known yet), no
        // request queued.
        assert!(
            s.assign_policy(URN, &a, std::slice::from_ref(&d), 2)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.assign_policy(URN, &b, std::slice::from_ref(&d), 2)
                .unwrap_err()
                .status(),
            409
        );
        s.assign_policy(HUMIDITY_SENSOR_URN, &h, std::slice::from_ref(&d), 2)
            .unwrap();
        assert_eq!(s.policy_of_device(URN, &d).unwrap().id, a);
        assert_eq!(s.policy_of_device(HUMIDITY_SENSOR_URN, &d).unwrap().id, h);
        s.unassign_policy(URN, &a, &d, 3).unwrap();
        s.assign_policy(URN, &b, std::slice::from_ref(&d), 4)
            .unwrap();
        assert_eq!(s.policy_of_device(URN, &d).unwrap().id, b);
    }

    #[test]
    fn fields_project_the_json() {
        let v = json!({"id": "P", "enabled": true, "pipelines": []});
        assert_eq!(
            project(v.clone(), Some("id, pipelines")),
            json!({"id": "P", "pipelines": []})
        );
        assert_eq!(project(v.clone(), None), v);
        assert_eq!(project(json!([1]), Some("id")), json!([1]));
    }
}
