//! Reading device-model JSON with errors that name the field path
//! (`attributes[2].type: ...`).
//!
//! The readers are lenient where Oracle's servers and hand-written models
//! differ harmlessly (unknown keys are ignored, `null` counts as absent, type
//! names ignore case) and strict where a wrong value would change behaviour
//! (a boolean written as a string, an unknown type name, a bad range).

use serde_json::{Map, Value as Json};

use super::range::Range;
use crate::validate;
use crate::value::{Value, ValueType};

/// Why a model was refused: the field path and what is wrong with it. The
/// caller wraps it into `Error::Model` with the model's URN.
pub(super) type Reason = String;

/// A JSON object being read, and where it sits in the model.
pub(super) struct Obj<'a> {
    map: &'a Map<String, Json>,
    path: String,
}

impl<'a> Obj<'a> {
    /// Reads `json` as an object found at `path` (`""` for the top level).
    pub(super) fn new(json: &'a Json, path: String) -> Result<Obj<'a>, Reason> {
        match json {
            Json::Object(map) => Ok(Obj { map, path }),
            other => Err(format!(
                "{}: expected an object; got {}",
                display_path(&path),
                show(other)
            )),
        }
    }

    /// The path of a key of this object.
    pub(super) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value of `key`, treating `null` as absent.
    fn get(&self, key: &str) -> Option<&'a Json> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, expected: &str, got: &Json) -> Reason {
        format!(
            "{}: expected {expected}; got {}",
            self.path_of(key),
            show(got)
        )
    }

    fn missing(&self, key: &str) -> Reason {
        format!("{}: required field is missing", self.path_of(key))
    }

    /// A required string.
    pub(super) fn req_str(&self, key: &str) -> Result<&'a str, Reason> {
        self.opt_str(key)?.ok_or_else(|| self.missing(key))
    }

    /// A required, non-empty string: a name or URN used for look-ups.
    pub(super) fn req_name(&self, key: &str) -> Result<&'a str, Reason> {
        let s = self.req_str(key)?;
        if s.is_empty() {
            return Err(format!("{}: must not be empty", self.path_of(key)));
        }
        Ok(s)
    }

    /// An optional string.
    pub(super) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, Reason> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// An optional string where `""` also means absent (aliases).
    pub(super) fn opt_nonempty_str(&self, key: &str) -> Result<Option<&'a str>, Reason> {
        Ok(self.opt_str(key)?.filter(|s| !s.is_empty()))
    }

    /// An optional boolean.
    pub(super) fn opt_bool(&self, key: &str) -> Result<Option<bool>, Reason> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    /// An optional integer (epoch milliseconds).
    pub(super) fn opt_i64(&self, key: &str) -> Result<Option<i64>, Reason> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an integer", v)),
        }
    }

    /// An optional array; absent reads as empty.
    pub(super) fn opt_array(&self, key: &str) -> Result<&'a [Json], Reason> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Json::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// An optional object.
    pub(super) fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>, Reason> {
        self.get(key)
            .map(|v| Obj::new(v, self.path_of(key)))
            .transpose()
    }

    /// A value type name, case-insensitive.
    pub(super) fn req_type(&self, key: &str) -> Result<ValueType, Reason> {
        self.opt_type(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional value type name, case-insensitive.
    pub(super) fn opt_type(&self, key: &str) -> Result<Option<ValueType>, Reason> {
        let Some(json) = self.get(key) else {
            return Ok(None);
        };
        let expected = "one of INTEGER, NUMBER, STRING, BOOLEAN, DATETIME, URI";
        match json.as_str().and_then(ValueType::parse) {
            Some(t) => Ok(Some(t)),
            None => Err(self.wrong(key, expected, json)),
        }
    }

    /// An optional `"min,max"` range, allowed only on numeric types.
    pub(super) fn opt_range(
        &self,
        key: &str,
        ty: Option<ValueType>,
    ) -> Result<Option<Range>, Reason> {
        let Some(text) = self.opt_str(key)? else {
            return Ok(None);
        };
        match ty {
            Some(t) if t.is_numeric() => {}
            Some(t) => {
                return Err(format!(
                    "{}: a range is only allowed on INTEGER and NUMBER, not {t}",
                    self.path_of(key)
                ));
            }
            None => {
                return Err(format!(
                    "{}: a range needs a type to apply to",
                    self.path_of(key)
                ));
            }
        }
        Range::parse(text).map(Some).map_err(|e| match e {
            crate::Error::Argument { reason } => format!("{}: {reason}", self.path_of(key)),
            other => format!("{}: {other}", self.path_of(key)),
        })
    }

    /// An optional typed default value, checked against the type and range.
    pub(super) fn opt_default(
        &self,
        key: &str,
        ty: ValueType,
        range: Option<&Range>,
    ) -> Result<Option<Value>, Reason> {
        let Some(json) = self.get(key) else {
            return Ok(None);
        };
        validate::check_json(json, ty, range)
            .map(Some)
            .map_err(|e| format!("{}: {e}", self.path_of(key)))
    }
}

/// Reads each element of the array at `key` as an object with `read`, which
/// gets the element and its path (`attributes[2]`).
pub(super) fn each<T>(
    obj: &Obj<'_>,
    key: &str,
    mut read: impl FnMut(Obj<'_>) -> Result<T, Reason>,
) -> Result<Vec<T>, Reason> {
    obj.opt_array(key)?
        .iter()
        .enumerate()
        .map(|(i, item)| read(Obj::new(item, format!("{}[{i}]", obj.path_of(key)))?))
        .collect()
}

/// Refuses a name that an earlier element already has. `names` holds
/// (name, path of the element that has it).
pub(super) fn check_unique<'n>(
    names: impl IntoIterator<Item = (&'n str, String)>,
    what: &str,
) -> Result<(), Reason> {
    let mut seen: Vec<(&str, String)> = Vec::new();
    for (name, path) in names {
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            return Err(format!("{path}: duplicate {what} {name:?} (also {first})"));
        }
        seen.push((name, path));
    }
    Ok(())
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "model" } else { path }
}

/// A JSON value as compact text, shortened for messages.
pub(super) fn show(json: &Json) -> String {
    let mut text = json.to_string();
    if let Some((cut, _)) = text.char_indices().nth(60) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(json: &Json) -> Obj<'_> {
        Obj::new(json, "attributes[2]".into()).unwrap()
    }

    #[test]
    fn errors_name_the_path() {
        let j = json!({"name": 5, "type": "FLOAT", "writable": "yes", "range": "1,0", "alias": ""});
        let o = obj(&j);
        assert_eq!(
            o.req_str("name").unwrap_err(),
            "attributes[2].name: expected a string; got 5"
        );
        assert_eq!(
            o.req_type("type").unwrap_err(),
            "attributes[2].type: expected one of INTEGER, NUMBER, STRING, BOOLEAN, DATETIME, URI; got \"FLOAT\""
        );
        assert_eq!(
            o.opt_bool("writable").unwrap_err(),
            "attributes[2].writable: expected a boolean; got \"yes\""
        );
        assert_eq!(
            o.req_str("description").unwrap_err(),
            "attributes[2].description: required field is missing"
        );
        assert_eq!(
            o.opt_range("range", Some(ValueType::Integer)).unwrap_err(),
            "attributes[2].range: range minimum 1 is greater than its maximum 0"
        );
        assert_eq!(
            o.opt_range("range", Some(ValueType::String)).unwrap_err(),
            "attributes[2].range: a range is only allowed on INTEGER and NUMBER, not STRING"
        );
        assert_eq!(o.opt_nonempty_str("alias").unwrap(), None);
        assert_eq!(
            Obj::new(&json!([1]), String::new()).err().unwrap(),
            "model: expected an object; got [1]"
        );
    }

    #[test]
    fn null_counts_as_absent() {
        let j = json!({"description": null, "writable": null, "attributes": null});
        let o = obj(&j);
        assert_eq!(o.opt_str("description").unwrap(), None);
        assert_eq!(o.opt_bool("writable").unwrap(), None);
        assert!(o.opt_array("attributes").unwrap().is_empty());
        assert_eq!(
            o.req_name("description").unwrap_err(),
            "attributes[2].description: required field is missing"
        );
    }

    #[test]
    fn empty_names_are_refused() {
        let j = json!({"name": ""});
        assert_eq!(
            obj(&j).req_name("name").unwrap_err(),
            "attributes[2].name: must not be empty"
        );
    }

    #[test]
    fn defaults_are_typed_and_range_checked() {
        let j = json!({"a": 5, "b": "x", "c": 200});
        let o = obj(&j);
        assert_eq!(
            o.opt_default("a", ValueType::Number, None).unwrap(),
            Some(Value::Number(5.0))
        );
        assert_eq!(
            o.opt_default("b", ValueType::Integer, None).unwrap_err(),
            "attributes[2].b: value \"x\" is not an INTEGER"
        );
        let r = Range::new(0.0, 100.0).unwrap();
        assert_eq!(
            o.opt_default("c", ValueType::Integer, Some(&r))
                .unwrap_err(),
            "attributes[2].c: value 200 is outside the range 0..100"
        );
    }

    #[test]
    fn duplicates_name_both_places() {
        let names = [
            ("a", "x[0]".to_owned()),
            ("b", "x[1]".to_owned()),
            ("a", "x[2]".to_owned()),
        ];
        assert_eq!(
            check_unique(names, "attribute name").unwrap_err(),
            "x[2]: duplicate attribute name \"a\" (also x[0])"
        );
        assert!(check_unique([("a", String::new())], "x").is_ok());
    }

    #[test]
    fn long_values_are_shortened() {
        let long = Json::from("x".repeat(500));
        assert_eq!(show(&long).chars().count(), 61);
    }
}
