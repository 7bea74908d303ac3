//! The policy JSON of §7.2: a policy, its pipelines, each a list of
//! functions.

use serde_json::Value as Json;

use super::{Function, PolicyError};

/// A device policy as the cloud serves it (§7.2), read once and checked:
/// every function is known and has usable parameters, every formula parses.
///
/// ```
/// use iotcs_core::policy::{DevicePolicy, Function};
///
/// let policy = DevicePolicy::from_json(r#"{
///     "id": "P-1", "enabled": true, "lastModified": 1700000000000,
///     "pipelines": [
///         {"attributeName": "temp", "pipeline": [
///             {"id": "filterCondition", "parameters": {"condition": "$(temp) < -40"}},
///             {"id": "mean", "parameters": {"window": 5000}}
///         ]},
///         {"attributeName": "*", "pipeline": [
///             {"id": "batchBySize", "parameters": {"batchSize": 10}}
///         ]}
///     ]
/// }"#)?;
/// let temp = policy.pipeline("temp").expect("declared above");
/// assert_eq!(temp.functions()[1].id(), "mean");
/// assert!(matches!(policy.model_pipeline().unwrap().functions()[0], Function::BatchBySize { size: 10, .. }));
///
/// let err = DevicePolicy::from_json(r#"{"id": "P-2", "lastModified": 1, "pipelines": [
///     {"attributeName": "temp", "pipeline": [{"id": "mean", "parameters": {"window": "soon"}}]}
/// ]}"#).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "device policy P-2: pipeline \"temp\", function \"mean\", parameter \"window\": \
///      expected a whole number of milliseconds above 0, got \"soon\""
/// );
/// # Ok::<(), iotcs_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DevicePolicy {
    id: String,
    description: String,
    enabled: bool,
    last_modified: i64,
    pipelines: Vec<Pipeline>,
}

/// The functions applied, in order, to one attribute's values, or (the
/// model-level pipeline, attribute `*`) to whole messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    attribute: Option<String>,
    functions: Vec<Function>,
}

impl DevicePolicy {
    /// Reads a policy from its JSON text.
    ///
    /// # Errors
    ///
    /// [`Error::Policy`](crate::Error::Policy) for text that is not JSON,
    /// a missing or mistyped `id`, `lastModified` or `pipelines`, two
    /// pipelines for one attribute, or a function refused by
    /// [`DevicePolicy::from_value`]'s rules.
    pub fn from_json(text: &str) -> Result<DevicePolicy, crate::Error> {
        let json: Json = serde_json::from_str(text).map_err(|e| crate::Error::Policy {
            policy: String::new(),
            detail: PolicyError::new(format!("the policy is not JSON: {e}")),
        })?;
        DevicePolicy::from_value(&json)
    }

    /// Reads a policy from parsed JSON: `id` (a string), `lastModified`
    /// (epoch ms, required), `enabled` (default `true`), `description`
    /// (default empty) and `pipelines` (absent or empty: a policy with no
    /// pipelines, which does nothing). Unknown keys are ignored.
    ///
    /// # Errors
    ///
    /// As [`from_json`](Self::from_json); the error names the policy, the
    /// pipeline's attribute, the function, the parameter and, in a formula,
    /// the position.
    pub fn from_value(json: &Json) -> Result<DevicePolicy, crate::Error> {
        let id = json
            .get("id")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        read(json, &id).map_err(|detail| crate::Error::Policy { policy: id, detail })
    }

    /// The policy's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The description; empty when there is none.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether the policy applies: a disabled one does nothing (Oracle's
    /// Java library ran it anyway).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// When the policy last changed, epoch milliseconds.
    pub fn last_modified(&self) -> i64 {
        self.last_modified
    }

    /// Every pipeline, in the policy's order.
    pub fn pipelines(&self) -> &[Pipeline] {
        &self.pipelines
    }

    /// The pipeline of attribute `name`, if the policy has one.
    pub fn pipeline(&self, name: &str) -> Option<&Pipeline> {
        self.pipelines
            .iter()
            .find(|p| p.attribute.as_deref() == Some(name))
    }

    /// The model-level pipeline (attribute `*` or none), which applies to
    /// whole messages.
    pub fn model_pipeline(&self) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.attribute.is_none())
    }

    /// Whether the policy has no function at all: §7.2 treats it as no
    /// policy.
    pub fn is_empty(&self) -> bool {
        self.pipelines.iter().all(|p| p.functions.is_empty())
    }
}

impl Pipeline {
    /// The attribute the pipeline applies to; `None` for the model-level
    /// pipeline (`*`).
    pub fn attribute(&self) -> Option<&str> {
        self.attribute.as_deref()
    }

    /// The functions, in order.
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    /// The other attributes this pipeline's formulas read, each once: a
    /// pipeline with a `computedMetric` runs after them.
    pub fn inputs(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for f in &self.functions {
            for n in f.attributes() {
                if Some(n) != self.attribute.as_deref() && !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
    }
}

fn read(json: &Json, id: &str) -> Result<DevicePolicy, PolicyError> {
    let Json::Object(map) = json else {
        return Err(PolicyError::new("a policy is a JSON object"));
    };
    if id.is_empty() {
        return Err(PolicyError::new("the policy has no \"id\" string"));
    }
    let last_modified = match map.get("lastModified") {
        Some(Json::Number(n)) if n.as_i64().is_some() => n.as_i64().unwrap_or_default(),
        Some(other) => {
            return Err(PolicyError::new(format!(
                "\"lastModified\" must be epoch milliseconds, got {other}"
            )));
        }
        None => return Err(PolicyError::new("\"lastModified\" is required and missing")),
    };
    let enabled = match map.get("enabled") {
        None | Some(Json::Null) => true,
        Some(Json::Bool(b)) => *b,
        Some(other) => {
            return Err(PolicyError::new(format!(
                "\"enabled\" must be true or false, got {other}"
            )));
        }
    };
    let description = match map.get("description") {
        Some(Json::String(s)) => s.clone(),
        _ => String::new(),
    };
    let pipelines = match map.get("pipelines") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(items)) => read_pipelines(items)?,
        Some(other) => {
            return Err(PolicyError::new(format!(
                "\"pipelines\" must be an array, got {other}"
            )));
        }
    };
    Ok(DevicePolicy {
        id: id.to_string(),
        description,
        enabled,
        last_modified,
        pipelines,
    })
}

fn read_pipelines(items: &[Json]) -> Result<Vec<Pipeline>, PolicyError> {
    let mut pipelines: Vec<Pipeline> = Vec::new();
    for item in items {
        let attribute = match item.get("attributeName") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) if s == "*" => None,
            Some(Json::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(other) => {
                return Err(PolicyError::new(format!(
                    "\"attributeName\" must be an attribute name or \"*\", got {other}"
                )));
            }
        };
        let shown = attribute.as_deref().unwrap_or("*");
        if pipelines.iter().any(|p| p.attribute == attribute) {
            return Err(PolicyError::new("the policy has two pipelines for it").in_attribute(shown));
        }
        let functions = match item.get("pipeline") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(fs)) => fs
                .iter()
                .map(Function::from_json)
                .collect::<Result<_, _>>()
                .map_err(|e| e.in_attribute(shown))?,
            Some(other) => {
                return Err(PolicyError::new(format!(
                    "\"pipeline\" must be an array of functions, got {other}"
                ))
                .in_attribute(shown));
            }
        };
        pipelines.push(Pipeline {
            attribute,
            functions,
        });
    }
    Ok(pipelines)
}
