//! The admin client's device policies (`admin_policies.rs` on the server).

use iotcs_core::Error;
use iotcs_core::policy::DevicePolicy;
use serde_json::{Value, json};

use super::{AdminClient, bad_answer};
use crate::http::percent_encode;

/// A device policy as the admin API shows it: the policy JSON of protocol
/// §7.2 plus `deviceModelUrn`, `created` and the number of `devices`.
#[derive(Clone, Debug)]
pub struct PolicyInfo {
    json: Value,
}

impl PolicyInfo {
    fn from_json(json: Value) -> Result<PolicyInfo, Error> {
        if json["id"].as_str().is_none() || json["lastModified"].as_i64().is_none() {
            return Err(bad_answer("device policy", "no id or lastModified"));
        }
        Ok(PolicyInfo { json })
    }

    /// The policy's id.
    pub fn id(&self) -> &str {
        self.json["id"].as_str().unwrap_or_default()
    }

    /// The device model it is for.
    pub fn device_model_urn(&self) -> &str {
        self.json["deviceModelUrn"].as_str().unwrap_or_default()
    }

    /// Whether it is enabled.
    pub fn enabled(&self) -> bool {
        self.json["enabled"].as_bool().unwrap_or(true)
    }

    /// When it last changed, epoch milliseconds.
    pub fn last_modified(&self) -> i64 {
        self.json["lastModified"].as_i64().unwrap_or_default()
    }

    /// How many devices it is assigned to.
    pub fn device_count(&self) -> usize {
        self.json["devices"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or_default()
    }

    /// The policy read by `iotcs-core`, as a device reads it.
    ///
    /// # Errors
    ///
    /// [`Error::Policy`] if it does not read (the server checked it, so
    /// only if the server and this client disagree).
    pub fn policy(&self) -> Result<DevicePolicy, Error> {
        DevicePolicy::from_value(&self.json)
    }

    /// The whole JSON object.
    pub fn json(&self) -> &Value {
        &self.json
    }
}

fn base(urn: &str) -> String {
    format!(
        "/iot/api/v2/deviceModels/{}/devicePolicies",
        percent_encode(urn)
    )
}

fn one(urn: &str, id: &str) -> String {
    format!("{}/{}", base(urn), percent_encode(id))
}

impl AdminClient {
    /// Creates a device policy for model `urn`
    /// (`POST …/deviceModels/{urn}/devicePolicies`) from
    /// `{"description"?, "enabled"?, "pipelines": [...]}` (protocol §7.2).
    ///
    /// ```
    /// use iotcs_core::model::samples::TEMPERATURE_SENSOR_URN as URN;
    /// use iotcs_server::{Server, ServerConfig};
    /// use serde_json::json;
    ///
    /// let server = Server::start(ServerConfig::for_tests())?;
    /// let admin = server.admin()?;
    /// let policy = admin.create_policy(URN, &json!({"pipelines": [
    ///     {"attributeName": "temp", "pipeline": [{"id": "mean", "parameters": {"window": 5000}}]}
    /// ]}))?;
    /// assert!(policy.enabled());
    /// let err = admin.create_policy(URN, &json!({"pipelines": [
    ///     {"attributeName": "temp", "pipeline": [{"id": "filterCondition", "parameters": {"condition": "$(temp) >"}}]}
    /// ]})).unwrap_err();
    /// assert_eq!(err.status_code(), Some(400));
    /// assert!(err.to_string().contains("at character 10"), "{err}");
    /// assert!(err.to_string().contains(r#"function \"filterCondition\""#), "{err}");
    /// # Ok::<(), iotcs_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] 400 naming what is wrong (an unknown function, a
    /// bad parameter, a formula with its position, an attribute the model
    /// does not have), 404 for an unknown model.
    pub fn create_policy(&self, urn: &str, policy: &Value) -> Result<PolicyInfo, Error> {
        PolicyInfo::from_json(self.call_json("POST", &base(urn), Some(policy))?)
    }

    /// The policy `id` of model `urn`; `None` if there is none.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] or [`Error::Transport`] (other than 404).
    pub fn policy(&self, urn: &str, id: &str) -> Result<Option<PolicyInfo>, Error> {
        match self.call_json("GET", &one(urn, id), None) {
            Ok(json) => PolicyInfo::from_json(json).map(Some),
            Err(e) if e.status_code() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every policy of model `urn`.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] 404 for an unknown model.
    pub fn policies(&self, urn: &str) -> Result<Vec<PolicyInfo>, Error> {
        self.items(&base(urn))?
            .into_iter()
            .map(PolicyInfo::from_json)
            .collect()
    }

    /// Replaces a policy (`PUT`): description, enabled and pipelines as
    /// given, absent ones to their defaults. Its devices hear `changed`.
    ///
    /// # Errors
    ///
    /// As [`create_policy`](Self::create_policy); 404 for an unknown policy.
    pub fn update_policy(&self, urn: &str, id: &str, policy: &Value) -> Result<PolicyInfo, Error> {
        PolicyInfo::from_json(self.call_json("PUT", &one(urn, id), Some(policy))?)
    }

    /// Enables or disables a policy (`PATCH {"enabled": …}`). Its devices
    /// hear `changed`.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] 404 for an unknown policy.
    pub fn set_policy_enabled(
        &self,
        urn: &str,
        id: &str,
        enabled: bool,
    ) -> Result<PolicyInfo, Error> {
        let body = json!({ "enabled": enabled });
        PolicyInfo::from_json(self.call_json("PATCH", &one(urn, id), Some(&body))?)
    }

    /// Deletes a policy; its devices hear `unassigned`.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] 404 for an unknown policy.
    pub fn delete_policy(&self, urn: &str, id: &str) -> Result<(), Error> {
        self.call("DELETE", &one(urn, id), None).map(drop)
    }

    /// Assigns a policy to devices (`POST …/{id}/devices
    /// {"devices": [...]}`); each newly assigned device (or its gateway)
    /// hears `assigned`.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] 404 for an unknown policy or device, 400 for a
    /// device that does not implement the model, 409 for one that has
    /// another policy of the model.
    pub fn assign_policy(&self, urn: &str, id: &str, devices: &[&str]) -> Result<(), Error> {
        let body = json!({ "devices": devices });
        let path = format!("{}/devices", one(urn, id));
        self.call("POST", &path, Some(&body)).map(drop)
    }

    /// Unassigns a policy from a device, which (or whose gateway) hears
    /// `unassigned`.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] 404 if it is not assigned to the device.
    pub fn unassign_policy(&self, urn: &str, id: &str, device: &str) -> Result<(), Error> {
        let path = format!("{}/devices/{}", one(urn, id), percent_encode(device));
        self.call("DELETE", &path, None).map(drop)
    }

    /// The ids of the devices a policy is assigned to.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] 404 for an unknown policy.
    pub fn policy_devices(&self, urn: &str, id: &str) -> Result<Vec<String>, Error> {
        let path = format!("{}/devices", one(urn, id));
        self.items(&path)?
            .iter()
            .map(|d| {
                d["id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad_answer(&path, "an item without id"))
            })
            .collect()
    }
}
