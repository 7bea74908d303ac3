//! Device models: the built-in capability and sample models, those loaded
//! from `--models`, uploaded ones, and drafts created at activation.

use std::collections::BTreeMap;

use iotcs_core::model::{DeviceModel, Format, capability, samples};
use serde_json::{Value, json};

use super::DomainError;
use super::State;
use crate::store::Table;

/// A model and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct ModelEntry {
    pub(crate) model: DeviceModel,
    /// Built in or loaded from `--models` at start (not stored, not replaceable).
    pub(crate) builtin: bool,
}

/// The device models. Invariants: keyed by URN; a built-in model (or one
/// loaded from `--models`) is never replaced by an upload (409); a draft is
/// replaced by the device's own upload.
#[derive(Default)]
pub(crate) struct Models {
    /// Device models by URN: built-in, loaded from `--models`, uploaded, drafts.
    pub(super) by_urn: BTreeMap<String, ModelEntry>,
}

impl State {
    pub(super) fn load_builtin_models(&mut self, extra: Vec<DeviceModel>) {
        let all = capability::models()
            .into_iter()
            .chain(samples::models())
            .chain(extra);
        for model in all {
            self.models.by_urn.insert(
                model.urn().to_owned(),
                ModelEntry {
                    model,
                    builtin: true,
                },
            );
        }
    }

    pub(super) fn load_stored_model(&mut self, json: &Value) {
        match DeviceModel::from_value(json) {
            Ok(model)
                if !self
                    .models
                    .by_urn
                    .get(model.urn())
                    .is_some_and(|e| e.builtin) =>
            {
                self.models.by_urn.insert(
                    model.urn().to_owned(),
                    ModelEntry {
                        model,
                        builtin: false,
                    },
                );
            }
            Ok(model) => log::debug!("stored model {} is now built in", model.urn()),
            Err(e) => log::warn!("skipping a stored device model: {e}"),
        }
    }

    /// The model with this URN.
    pub(crate) fn model(&self, urn: &str) -> Option<&DeviceModel> {
        self.models.by_urn.get(urn).map(|e| &e.model)
    }

    /// Every model, in URN order.
    pub(crate) fn models(&self) -> impl Iterator<Item = &DeviceModel> {
        self.models.by_urn.values().map(|e| &e.model)
    }

    /// The format with this URN, in whichever model declares it.
    pub(crate) fn format(&self, urn: &str) -> Option<&Format> {
        self.models().find_map(|m| m.format(urn))
    }

    /// Adds an uploaded model. A draft may be replaced; any other existing
    /// URN is a conflict.
    pub(crate) fn add_model(&mut self, json: &Value) -> Result<&DeviceModel, DomainError> {
        let model = DeviceModel::from_value(json).map_err(DomainError::from)?;
        let urn = model.urn().to_owned();
        if let Some(existing) = self.models.by_urn.get(&urn)
            && (existing.builtin || !existing.model.is_draft())
        {
            return Err(DomainError::conflict(format!(
                "device model {urn} already exists"
            )));
        }
        self.persist(Table::Models, urn.as_bytes(), &model.to_value())?;
        log::info!("device model {urn} added");
        let entry = self.models.by_urn.entry(urn).or_insert(ModelEntry {
            model: model.clone(),
            builtin: false,
        });
        entry.model = model;
        Ok(&entry.model)
    }

    /// Checks the device-model URNs of an activation: capability URNs always
    /// pass, duplicates are dropped, and an unknown URN is refused (400 naming
    /// it) when `create_draft` is false, or else gets a draft model.
    pub(crate) fn activation_models(
        &mut self,
        urns: &[String],
        create_draft: bool,
        now: i64,
    ) -> Result<Vec<String>, DomainError> {
        let mut out: Vec<String> = Vec::new();
        for urn in urns {
            if urn.trim().is_empty() {
                return Err(DomainError::invalid("deviceModels contains an empty URN"));
            }
            if !out.contains(urn) {
                out.push(urn.clone());
            }
        }
        let unknown: Vec<&String> = out
            .iter()
            .filter(|u| !capability::is_capability_urn(u) && !self.models.by_urn.contains_key(*u))
            .collect();
        if let Some(urn) = unknown.first().filter(|_| !create_draft) {
            return Err(DomainError::invalid(format!(
                "unknown device model {urn} (createDraft=false)"
            )));
        }
        let drafts: Vec<String> = unknown.into_iter().cloned().collect();
        for urn in drafts {
            let json = json!({
                "urn": urn, "name": urn, "description": "draft created at activation",
                "system": false, "draft": true, "created": now, "lastModified": now,
                "attributes": [], "actions": [], "formats": [],
            });
            let model = DeviceModel::from_value(&json).map_err(DomainError::from)?;
            self.persist(Table::Models, urn.as_bytes(), &model.to_value())?;
            log::info!("created draft device model {urn}");
            self.models.by_urn.insert(
                urn,
                ModelEntry {
                    model,
                    builtin: false,
                },
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{HttpStatus, state};
    use super::*;

    #[test]
    fn builtin_models_are_there() {
        let s = state();
        assert!(s.model(samples::TEMPERATURE_SENSOR_URN).is_some());
        assert!(s.model(samples::HUMIDITY_SENSOR_URN).is_some());
        assert!(s.model(capability::DIAGNOSTICS).is_some());
        assert!(s.format(samples::TEMPERATURE_TOO_HOT_FORMAT).is_some());
        assert!(s.format("urn:no").is_none());
    }

    #[test]
    fn uploads_conflict_except_over_drafts() {
        let mut s = state();
        let m = json!({"urn": "urn:test:m", "name": "M", "attributes": []});
        s.add_model(&m).unwrap();
        assert_eq!(s.add_model(&m).unwrap_err().status(), 409);
        let builtin = json!({"urn": samples::TEMPERATURE_SENSOR_URN, "name": "x"});
        assert_eq!(s.add_model(&builtin).unwrap_err().status(), 409);
        assert_eq!(
            s.add_model(&json!({"name": "no urn"}))
                .unwrap_err()
                .status(),
            400
        );

        let urns = vec!["urn:test:draft".to_owned()];
        s.activation_models(&urns, true, 1).unwrap();
        assert!(s.model("urn:test:draft").unwrap().is_draft());
        s.add_model(&json!({"urn": "urn:test:draft", "name": "Real"}))
            .unwrap();
        assert!(!s.model("urn:test:draft").unwrap().is_draft());
    }

    #[test]
    fn activation_models_accept_capabilities_and_refuse_unknown_urns() {
        let mut s = state();
        let urns: Vec<String> = [
            samples::TEMPERATURE_SENSOR_URN,
            capability::DEVICE_POLICY,
            capability::DEVICE_POLICY,
            "urn:oracle:iot:dcd:capability:not_modelled",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let out = s.activation_models(&urns, false, 1).unwrap();
        assert_eq!(out.len(), 3, "duplicates dropped: {out:?}");
        let bad = vec!["urn:test:unknown".to_owned()];
        let e = s.activation_models(&bad, false, 1).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.detail().contains("urn:test:unknown"), "{}", e.detail());
        assert!(s.model("urn:test:unknown").is_none());
        assert_eq!(
            s.activation_models(&[String::new()], true, 1)
                .unwrap_err()
                .status(),
            400
        );
    }
}
