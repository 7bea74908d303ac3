//! Reading one function's `parameters` object into typed values. Every
//! refusal names the parameter; the caller adds the function and pipeline.
//!
//! Numbers are taken as JSON numbers or as decimal strings (Oracle's
//! console sent some as strings, and Oracle's Java library crashed on
//! them); anything else is refused with what was expected.

use std::time::Duration;

use serde_json::{Map, Value as Json};

use super::expression::Expression;
use super::{ActionSpec, AlertSpec, PolicyError};
use crate::config::NetworkCost;
use crate::message::Severity;
use crate::tas::Secret;

/// The parameters of one function.
pub(super) struct Params<'a> {
    map: Option<&'a Map<String, Json>>,
}

/// `Err` naming the parameter.
fn bad(name: &str, reason: String) -> PolicyError {
    PolicyError::new(reason).in_parameter(name)
}

/// A JSON value as a person reads it in a message.
fn shown(v: &Json) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

impl<'a> Params<'a> {
    pub(super) fn new(parameters: Option<&'a Json>) -> Result<Self, PolicyError> {
        match parameters {
            None | Some(Json::Null) => Ok(Params { map: None }),
            Some(Json::Object(map)) => Ok(Params { map: Some(map) }),
            Some(other) => Err(PolicyError::new(format!(
                "\"parameters\" must be an object, got {}",
                shown(other)
            ))),
        }
    }

    fn get(&self, name: &str) -> Option<&'a Json> {
        self.map.and_then(|m| m.get(name)).filter(|v| !v.is_null())
    }

    fn required(&self, name: &str) -> Result<&'a Json, PolicyError> {
        self.get(name)
            .ok_or_else(|| bad(name, "is required and missing".to_string()))
    }

    /// A whole number, from a JSON integer (or a float that is whole) or a
    /// decimal string.
    fn integer(&self, name: &str, v: &Json) -> Result<i64, PolicyError> {
        let n = match v {
            Json::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            }),
            Json::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        n.ok_or_else(|| bad(name, format!("expected a whole number, got {}", shown(v))))
    }

    /// A formula (see [`Formula`](super::Formula)); its errors keep their
    /// position.
    pub(super) fn formula(&self, name: &str) -> Result<super::Formula, PolicyError> {
        match self.required(name)? {
            Json::String(s) => super::Formula::parse_detail(s).map_err(|e| e.in_parameter(name)),
            other => Err(bad(
                name,
                format!("expected a formula as a string, got {}", shown(other)),
            )),
        }
    }

    /// A whole number of milliseconds above 0.
    pub(super) fn millis(&self, name: &str) -> Result<Duration, PolicyError> {
        let v = self.required(name)?;
        match self.integer(name, v) {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms.unsigned_abs())),
            _ => Err(bad(
                name,
                format!(
                    "expected a whole number of milliseconds above 0, got {}",
                    shown(v)
                ),
            )),
        }
    }

    /// Like [`millis`](Self::millis), but absent or 0 means `default`.
    pub(super) fn millis_or(&self, name: &str, default: Duration) -> Result<Duration, PolicyError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) if self.integer(name, v) == Ok(0) => Ok(default),
            Some(_) => self.millis(name),
        }
    }

    /// A whole number in `min..=max`.
    pub(super) fn integer_in(&self, name: &str, min: i64, max: i64) -> Result<i64, PolicyError> {
        let v = self.required(name)?;
        match self.integer(name, v) {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(bad(
                name,
                format!(
                    "expected a whole number from {min} to {max}, got {}",
                    shown(v)
                ),
            )),
        }
    }

    /// `true`/`false`, also as strings; absent is `default`.
    pub(super) fn flag(&self, name: &str, default: bool) -> Result<bool, PolicyError> {
        match self.get(name) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(Json::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Json::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(other) => Err(bad(
                name,
                format!("expected true or false, got {}", shown(other)),
            )),
        }
    }

    /// A non-empty string.
    pub(super) fn text(&self, name: &str) -> Result<&'a str, PolicyError> {
        match self.required(name)? {
            Json::String(s) if !s.trim().is_empty() => Ok(s),
            other => Err(bad(
                name,
                format!("expected a non-empty string, got {}", shown(other)),
            )),
        }
    }

    /// The device's or the policy's network cost.
    pub(super) fn network_cost(&self, name: &str) -> Result<NetworkCost, PolicyError> {
        let v = self.required(name)?;
        v.as_str().and_then(NetworkCost::parse).ok_or_else(|| {
            bad(
                name,
                format!("expected ETHERNET, CELLULAR or SATELLITE, got {}", shown(v)),
            )
        })
    }

    /// A severity, `default` when absent.
    pub(super) fn severity_or(
        &self,
        name: &str,
        default: Severity,
    ) -> Result<Severity, PolicyError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => severity(v).ok_or_else(|| {
                bad(
                    name,
                    format!(
                        "expected LOW, NORMAL, SIGNIFICANT or CRITICAL, got {}",
                        shown(v)
                    ),
                )
            }),
        }
    }

    /// A secret string (never shown in messages).
    pub(super) fn secret(&self, name: &str) -> Result<Option<Secret>, PolicyError> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::String(s)) if !s.is_empty() => Ok(Some(Secret::from(s.as_str()))),
            Some(_) => Err(bad(name, "expected a non-empty string".to_string())),
        }
    }

    /// `{"urn", "fields": {name: formula or literal}, "severity"}`.
    pub(super) fn alert(&self, name: &str) -> Result<AlertSpec, PolicyError> {
        let Json::Object(alert) = self.required(name)? else {
            return Err(bad(
                name,
                "expected an object with urn, fields and severity".into(),
            ));
        };
        let inner = Params { map: Some(alert) };
        let in_alert = |e: PolicyError| e.within(name);
        let format_urn = inner.text("urn").map_err(in_alert)?.to_string();
        let severity = inner
            .severity_or("severity", Severity::Normal)
            .map_err(in_alert)?;
        let mut fields = Vec::new();
        match inner.get("fields") {
            None => {}
            Some(Json::Object(map)) => {
                for (field, v) in map {
                    let e = Expression::from_json(v)
                        .map_err(|e| e.within(&format!("fields.{field}")).within(name))?;
                    fields.push((field.clone(), e));
                }
            }
            Some(other) => {
                return Err(in_alert(bad(
                    "fields",
                    format!("expected an object of field values, got {}", shown(other)),
                )));
            }
        }
        Ok(AlertSpec {
            format_urn,
            fields,
            severity,
        })
    }

    /// `{"name", "arguments": [formula or literal, …]}`.
    pub(super) fn action(&self, name: &str) -> Result<ActionSpec, PolicyError> {
        let Json::Object(action) = self.required(name)? else {
            return Err(bad(
                name,
                "expected an object with name and arguments".into(),
            ));
        };
        let inner = Params { map: Some(action) };
        let action_name = inner.text("name").map_err(|e| e.within(name))?.to_string();
        let mut arguments = Vec::new();
        match inner.get("arguments") {
            None => {}
            Some(Json::Array(items)) => {
                for (i, v) in items.iter().enumerate() {
                    let e = Expression::from_json(v)
                        .map_err(|e| e.within(&format!("{name}.arguments[{i}]")))?;
                    arguments.push(e);
                }
            }
            Some(other) => {
                return Err(bad(
                    "arguments",
                    format!("expected an array, got {}", shown(other)),
                )
                .within(name));
            }
        }
        Ok(ActionSpec {
            name: action_name,
            arguments,
        })
    }
}

/// A severity from its wire name, in any case (policies written by hand
/// are not consistent about it).
fn severity(v: &Json) -> Option<Severity> {
    let s = v.as_str()?.trim();
    Severity::ALL
        .iter()
        .copied()
        .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
}
