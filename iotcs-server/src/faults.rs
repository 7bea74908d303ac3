//! Fault injection for tests: make the next device-API requests fail with a
//! status, wait before answering, or lose the connection halfway through the
//! response. Admin requests are never affected.
//!
//! On the storage service (`/v1/...`), `afterBytes` delays a rule's
//! status or drop until that many bytes of an upload's body have arrived, so
//! a test can fail or cut an upload halfway.
//!
//! Rules are consumed in the order they were added: a request takes one use
//! of the first rule that still has uses and whose path prefix matches.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::ApiError;

/// The longest delay a rule may ask for.
const MAX_DELAY_MS: u64 = 600_000;

/// One fault rule, as `POST /iot/admin/faults` takes it (without
/// `expireTokens`, which acts at once).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FaultRule {
    /// Answer with this status instead of handling the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    /// Wait this long first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) delay_ms: Option<u64>,
    /// Handle the request, then cut the connection halfway through the answer.
    #[serde(default)]
    pub(crate) drop: bool,
    /// Uses left.
    pub(crate) count: u32,
    /// Only requests whose path starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    /// Storage uploads only: apply the status or drop once this many body
    /// bytes have arrived, instead of before reading the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) after_bytes: Option<u64>,
}

/// What to do to one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Injected {
    pub(crate) delay: Option<Duration>,
    pub(crate) status: Option<u16>,
    pub(crate) drop: bool,
    pub(crate) after_bytes: Option<u64>,
}

/// The active rules.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<FaultRule>,
}

/// A parsed `POST /iot/admin/faults` body.
#[derive(Debug)]
pub(crate) struct FaultRequest {
    pub(crate) rule: Option<FaultRule>,
    pub(crate) expire_tokens: bool,
}

/// Reads `{"status"?, "delayMs"?, "drop"?: bool | n, "count"?, "path"?,
/// "afterBytes"?, "expireTokens"?}`. `"drop": n` is short for `"drop": true, "count": n`.
pub(crate) fn parse_request(body: &Value) -> Result<FaultRequest, ApiError> {
    let Value::Object(m) = body else {
        return Err(ApiError::bad_request("the fault must be a JSON object"));
    };
    for key in m.keys() {
        const KEYS: [&str; 7] = [
            "status",
            "delayMs",
            "drop",
            "count",
            "path",
            "afterBytes",
            "expireTokens",
        ];
        if !KEYS.contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown fault field {key:?}"
            )));
        }
    }
    let uint = |key: &str| -> Result<Option<u64>, ApiError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                ApiError::bad_request(format!("fault field {key} must be a non-negative integer"))
            }),
        }
    };
    let status = uint("status")?;
    if let Some(s) = status.filter(|s| !(100..=599).contains(s)) {
        return Err(ApiError::bad_request(format!(
            "fault status {s} is not an HTTP status"
        )));
    }
    let delay_ms = uint("delayMs")?;
    if let Some(d) = delay_ms.filter(|d| *d > MAX_DELAY_MS) {
        return Err(ApiError::bad_request(format!(
            "fault delayMs {d} is over {MAX_DELAY_MS}"
        )));
    }
    let (drop, drop_count) = parse_drop(m.get("drop"))?;
    let count = uint("count")?.or(drop_count).unwrap_or(1);
    let count = u32::try_from(count)
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!("fault count {count} must be 1 to {}", u32::MAX))
        })?;
    let path = match m.get("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return Err(ApiError::bad_request("fault field path must be a string")),
    };
    let after_bytes = uint("afterBytes")?;
    if after_bytes.is_some() && status.is_none() && !drop {
        return Err(ApiError::bad_request(
            "fault afterBytes needs a status or drop to apply",
        ));
    }
    let expire_tokens = parse_expire_tokens(m.get("expireTokens"))?;
    let has_rule = status.is_some() || delay_ms.is_some() || drop;
    if !has_rule && !expire_tokens {
        return Err(ApiError::bad_request(
            "a fault needs status, delayMs, drop or expireTokens",
        ));
    }
    let status = status.map(|s| u16::try_from(s).unwrap_or(500));
    let rule = has_rule.then_some(FaultRule {
        status,
        delay_ms,
        drop,
        count,
        path,
        after_bytes,
    });
    Ok(FaultRequest {
        rule,
        expire_tokens,
    })
}

/// `"drop"`: absent, a boolean, or a count (`n` is short for `true` with
/// `"count": n`). Returns whether to drop and the count it implies.
fn parse_drop(v: Option<&Value>) -> Result<(bool, Option<u64>), ApiError> {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok((false, None)),
        Some(Value::Bool(true)) => Ok((true, None)),
        Some(v) => match v.as_u64() {
            Some(n) => Ok((n > 0, Some(n))),
            None => Err(ApiError::bad_request(
                "fault field drop must be a boolean or a count",
            )),
        },
    }
}

/// `"expireTokens"`: absent or a boolean.
fn parse_expire_tokens(v: Option<&Value>) -> Result<bool, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request(
            "fault field expireTokens must be a boolean",
        )),
    }
}

impl Faults {
    /// Adds a rule after the existing ones.
    pub(crate) fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    /// Removes every rule; returns how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        std::mem::take(&mut self.rules).len()
    }

    /// The active rules.
    pub(crate) fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Takes one use of the first rule matching `path`.
    pub(crate) fn take(&mut self, path: &str) -> Option<Injected> {
        let i = self
            .rules
            .iter()
            .position(|r| r.path.as_deref().is_none_or(|p| path.starts_with(p)))?;
        let rule = &mut self.rules[i];
        let injected = Injected {
            delay: rule.delay_ms.map(Duration::from_millis),
            status: rule.status,
            drop: rule.drop,
            after_bytes: rule.after_bytes,
        };
        rule.count -= 1;
        if rule.count == 0 {
            self.rules.remove(i);
        }
        Some(injected)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_the_documented_shapes() {
        let r = parse_request(&json!({"status": 503, "count": 3}))
            .unwrap()
            .rule
            .unwrap();
        assert_eq!((r.status, r.count, r.drop), (Some(503), 3, false));
        let r = parse_request(&json!({"delayMs": 500, "count": 2}))
            .unwrap()
            .rule
            .unwrap();
        assert_eq!((r.delay_ms, r.count), (Some(500), 2));
        let r = parse_request(&json!({"drop": 2})).unwrap().rule.unwrap();
        assert_eq!((r.drop, r.count), (true, 2));
        let r = parse_request(&json!({"drop": true, "path": "/iot/api/v2/messages"}))
            .unwrap()
            .rule
            .unwrap();
        assert_eq!(
            (r.drop, r.count, r.path.as_deref()),
            (true, 1, Some("/iot/api/v2/messages"))
        );
        let r = parse_request(&json!({"drop": true, "afterBytes": 1024}))
            .unwrap()
            .rule
            .unwrap();
        assert_eq!((r.drop, r.after_bytes), (true, Some(1024)));
        let e = parse_request(&json!({"expireTokens": true})).unwrap();
        assert!(e.expire_tokens && e.rule.is_none());
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            json!([]),
            json!({}),
            json!({"status": 42}),
            json!({"status": "503"}),
            json!({"status": 503, "count": 0}),
            json!({"delayMs": 10_000_000}),
            json!({"drop": "yes"}),
            json!({"status": 500, "path": 5}),
            json!({"status": 500, "colour": "red"}),
            json!({"expireTokens": "true"}),
            json!({"drop": false}),
            json!({"delayMs": 5, "afterBytes": 10}),
            json!({"status": 500, "afterBytes": -1}),
        ] {
            assert_eq!(parse_request(&bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn rules_are_used_up_in_order_and_filtered_by_path() {
        let mut f = Faults::default();
        f.add(
            parse_request(&json!({"status": 500, "path": "/iot/api/v2/messages"}))
                .unwrap()
                .rule
                .unwrap(),
        );
        f.add(
            parse_request(&json!({"delayMs": 5, "count": 2}))
                .unwrap()
                .rule
                .unwrap(),
        );
        let first = f.take("/iot/api/v2/oauth2/token").unwrap();
        assert_eq!(
            first.delay,
            Some(Duration::from_millis(5)),
            "the messages rule does not match"
        );
        let second = f.take("/iot/api/v2/messages").unwrap();
        assert_eq!(second.status, Some(500));
        assert_eq!(f.rules().len(), 1);
        assert!(f.take("/x").is_some());
        assert!(f.take("/x").is_none(), "all used up");
        f.add(parse_request(&json!({"drop": 1})).unwrap().rule.unwrap());
        assert_eq!(f.clear(), 1);
        assert!(f.take("/x").is_none());
    }
}
