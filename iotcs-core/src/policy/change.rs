//! The body of a `policyChanged` request (§7.3): a JSON array of changes,
//! written by the cloud and read by the device.

use serde::{Deserialize, Serialize};

/// One entry of a `policyChanged` request's body.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PolicyChange {
    /// `deviceModelUrn`: the model the policy is for.
    pub device_model_urn: String,
    /// `id`: the policy's id.
    pub id: String,
    /// `lastModified`: epoch milliseconds of the change.
    pub last_modified: i64,
    /// `op`. Defaults to [`PolicyOp::Changed`].
    #[serde(default)]
    pub op: PolicyOp,
}

/// What happened to a policy (§7.3's `op`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(
    clippy::exhaustive_enums,
    reason = "§7.3 defines exactly these three operations and the service is frozen"
)]
pub enum PolicyOp {
    /// `changed`: its content changed (or it was enabled, disabled or
    /// deleted); fetch it again.
    #[default]
    Changed,
    /// `assigned`: it now applies to the device (or, for a gateway, to
    /// some of its devices: ask which).
    Assigned,
    /// `unassigned`: it no longer applies.
    Unassigned,
}

impl PolicyChange {
    /// A change of `op` to policy `id` of model `device_model_urn`.
    pub fn new(
        device_model_urn: impl Into<String>,
        id: impl Into<String>,
        last_modified: i64,
        op: PolicyOp,
    ) -> Self {
        PolicyChange {
            device_model_urn: device_model_urn.into(),
            id: id.into(),
            last_modified,
            op,
        }
    }

    /// Reads a request body (already base64-decoded).
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`](crate::Error::Protocol) when the body is not a
    /// JSON array of changes; the device answers 400 with its text.
    pub fn parse_array(body: &[u8]) -> Result<Vec<PolicyChange>, crate::Error> {
        serde_json::from_slice(body).map_err(|e| {
            crate::Error::protocol(format!(
                "a policyChanged body is a JSON array of {{deviceModelUrn, id, lastModified, op}}: {e}"
            ))
        })
    }

    /// The body of a request carrying `changes`.
    pub fn to_json_array(changes: &[PolicyChange]) -> String {
        // Plain strings, numbers and enums: serializing cannot fail.
        serde_json::to_string(changes).unwrap_or_else(|_| "[]".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_defaults_to_changed_and_round_trips() {
        let body = br#"[{"deviceModelUrn":"urn:x","id":"P1","lastModified":5},
            {"deviceModelUrn":"urn:x","id":"P2","lastModified":6,"op":"unassigned"}]"#;
        let changes = PolicyChange::parse_array(body).unwrap();
        assert_eq!(changes[0].op, PolicyOp::Changed);
        assert_eq!(changes[1].op, PolicyOp::Unassigned);
        let wire = PolicyChange::to_json_array(&changes);
        assert!(wire.contains(r#""op":"unassigned""#), "{wire}");
        assert_eq!(PolicyChange::parse_array(wire.as_bytes()).unwrap(), changes);
    }

    #[test]
    fn a_body_that_is_not_an_array_is_refused() {
        for body in [
            &b"{}"[..],
            b"not json",
            br#"[{"id":"P"}]"#,
            br#"[{"deviceModelUrn":"u","id":"P","lastModified":1,"op":"moved"}]"#,
        ] {
            let err = PolicyChange::parse_array(body).unwrap_err();
            assert!(err.to_string().contains("JSON array"), "{err}");
        }
    }
}
