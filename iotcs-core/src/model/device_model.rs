//! The device model itself: reading and writing Oracle's JSON, and look-ups.

use serde_json::{Map, Value as Json, json};

use super::parse::{self, Obj, Reason};
use super::{Action, Attribute, Format};
use crate::error::Error;
use crate::time;

/// The suffix of the implicit format of attribute DATA messages.
const ATTRIBUTES_FORMAT_SUFFIX: &str = ":attributes";

/// A device model: the attributes, actions and formats of a type of device.
///
/// Read with [`DeviceModel::from_json`] / [`DeviceModel::from_value`], written
/// with [`DeviceModel::to_value`]; both directions use Oracle's JSON shape.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceModel {
    urn: String,
    name: String,
    description: String,
    system: bool,
    draft: bool,
    created: Option<i64>,
    last_modified: Option<i64>,
    attributes: Vec<Attribute>,
    actions: Vec<Action>,
    formats: Vec<Format>,
}

impl DeviceModel {
    /// Parses device-model JSON text.
    ///
    /// # Errors
    ///
    /// [`Error::Model`] when the text is not JSON, or as
    /// [`DeviceModel::from_value`].
    pub fn from_json(json: &str) -> Result<DeviceModel, Error> {
        let value: Json = serde_json::from_str(json)
            .map_err(|e| Error::model(urn_of_text(json), format!("not valid JSON: {e}")))?;
        DeviceModel::from_value(&value)
    }

    /// Reads a device model in Oracle's JSON shape (protocol §6.2). Unknown
    /// keys (`links`, `createdAsString`, `sourceId`, ...) are ignored and
    /// `null` counts as absent; type names may be in any case.
    ///
    /// # Errors
    ///
    /// [`Error::Model`] naming the model's URN (`<unknown>` when that is
    /// missing) and the field path, e.g. `attributes[2].type: expected one of
    /// INTEGER, NUMBER, STRING, BOOLEAN, DATETIME, URI; got "FLOAT"`, when:
    /// a required field (`urn`, `name`; `name` and `type` of attributes,
    /// arguments and fields; `name` of actions; `urn` and `type` of formats)
    /// is missing or empty, a field has the wrong JSON type, a type name is
    /// unknown, a range does not parse, has min > max or sits on a
    /// non-numeric type, a default value does not fit its type or range, an
    /// action has both `argType` and `arguments`, or a name is used twice
    /// (attribute names and aliases, action names and aliases, format URNs,
    /// argument names within an action, field names within a format).
    pub fn from_value(v: &Json) -> Result<DeviceModel, Error> {
        let urn = v
            .get("urn")
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("<unknown>");
        DeviceModel::read(v).map_err(|reason| Error::model(urn, reason))
    }

    fn read(v: &Json) -> Result<DeviceModel, Reason> {
        let o = Obj::new(v, String::new())?;
        let urn = o.req_name("urn")?.to_owned();
        let attributes = parse::each(&o, "attributes", |a| Attribute::from_obj(&urn, &a))?;
        let actions = parse::each(&o, "actions", |a| Action::from_obj(&urn, &a))?;
        let formats = parse::each(&o, "formats", |f| Format::from_obj(&urn, &f))?;
        // Names and aliases share one namespace per kind: a look-up by either
        // must find exactly one member.
        parse::check_unique(
            names_and_aliases(
                attributes.iter().map(|a| (a.name(), a.alias())),
                "attributes",
            ),
            "attribute name or alias",
        )?;
        parse::check_unique(
            names_and_aliases(actions.iter().map(|a| (a.name(), a.alias())), "actions"),
            "action name or alias",
        )?;
        parse::check_unique(
            formats
                .iter()
                .enumerate()
                .map(|(i, f)| (f.urn(), format!("formats[{i}].urn"))),
            "format URN",
        )?;
        Ok(DeviceModel {
            name: o.req_str("name")?.to_owned(),
            description: o.opt_str("description")?.unwrap_or_default().to_owned(),
            system: o.opt_bool("system")?.unwrap_or(false),
            draft: o.opt_bool("draft")?.unwrap_or(false),
            created: o.opt_i64("created")?,
            last_modified: o.opt_i64("lastModified")?,
            urn,
            attributes,
            actions,
            formats,
        })
    }

    /// The model in Oracle's JSON shape, as the server returns it from
    /// `GET /iot/api/v2/deviceModels/<urn>`: type names in upper case,
    /// ranges as `"min,max"`, DATETIME defaults as epoch milliseconds,
    /// `created`/`lastModified` with their `...AsString` companions when
    /// known. [`DeviceModel::from_value`] reads it back to an equal model.
    pub fn to_value(&self) -> Json {
        let mut m = Map::new();
        m.insert("urn".into(), json!(self.urn));
        m.insert("name".into(), json!(self.name));
        m.insert("description".into(), json!(self.description));
        m.insert("system".into(), json!(self.system));
        m.insert("draft".into(), json!(self.draft));
        if let Some(ms) = self.created {
            m.insert("created".into(), json!(ms));
            m.insert("createdAsString".into(), json!(time::format_iso8601(ms)));
        }
        if let Some(ms) = self.last_modified {
            m.insert("lastModified".into(), json!(ms));
            m.insert(
                "lastModifiedAsString".into(),
                json!(time::format_iso8601(ms)),
            );
        }
        m.insert(
            "attributes".into(),
            self.attributes.iter().map(Attribute::to_json).collect(),
        );
        m.insert(
            "actions".into(),
            self.actions.iter().map(Action::to_json).collect(),
        );
        m.insert(
            "formats".into(),
            self.formats.iter().map(Format::to_json).collect(),
        );
        Json::Object(m)
    }

    /// The model's URN, e.g. `urn:com:example:iotcs:temperature_sensor`.
    pub fn urn(&self) -> &str {
        &self.urn
    }

    /// The model's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Free-form description; empty when the model has none.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether this is one of Oracle's built-in capability models.
    pub fn is_system(&self) -> bool {
        self.system
    }

    /// Whether the model is an unpublished draft, which devices refuse unless
    /// drafts are allowed.
    pub fn is_draft(&self) -> bool {
        self.draft
    }

    /// When the model was created, epoch milliseconds, if the server said.
    pub fn created(&self) -> Option<i64> {
        self.created
    }

    /// When the model was last changed, epoch milliseconds, if the server said.
    pub fn last_modified(&self) -> Option<i64> {
        self.last_modified
    }

    /// The attributes, in model order.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// The actions, in model order.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// The ALERT and DATA formats, in model order.
    pub fn formats(&self) -> &[Format] {
        &self.formats
    }

    /// The attribute with this name or alias.
    pub fn attribute(&self, name_or_alias: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.is_named(name_or_alias))
    }

    /// The action with this name or alias.
    pub fn action(&self, name_or_alias: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.is_named(name_or_alias))
    }

    /// The format with this URN.
    pub fn format(&self, urn: &str) -> Option<&Format> {
        self.formats.iter().find(|f| f.urn() == urn)
    }

    /// The implicit format of attribute DATA messages: `<urn>:attributes`.
    pub fn attributes_format_urn(&self) -> String {
        format!("{}{ATTRIBUTES_FORMAT_SUFFIX}", self.urn)
    }
}

/// The model URN of an attribute DATA format `<model urn>:attributes`, or
/// `None` when `format_urn` is not of that form. The local cloud uses it to
/// find the model that a device's attribute message refers to.
pub fn attributes_format_model_urn(format_urn: &str) -> Option<&str> {
    format_urn
        .strip_suffix(ATTRIBUTES_FORMAT_SUFFIX)
        .filter(|urn| !urn.is_empty())
}

/// (name or alias, path) pairs for the duplicate check.
fn names_and_aliases<'a>(
    members: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    array: &'a str,
) -> impl Iterator<Item = (&'a str, String)> {
    members.enumerate().flat_map(move |(i, (name, alias))| {
        // An alias equal to its own name is redundant, not ambiguous.
        let alias = alias
            .filter(|a| *a != name)
            .map(|a| (a, format!("{array}[{i}].alias")));
        std::iter::once((name, format!("{array}[{i}].name"))).chain(alias)
    })
}

/// The URN of a model whose text did not parse, for the error message, if it
/// can be found at all.
fn urn_of_text(text: &str) -> String {
    let after = text
        .split_once("\"urn\"")
        .map(|(_, rest)| rest.trim_start());
    after
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|rest| rest.trim_start().strip_prefix('"'))
        .and_then(|rest| rest.split_once('"'))
        .map_or_else(|| "<unknown>".to_owned(), |(urn, _)| urn.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn model_error(json: Json) -> (String, String) {
        match DeviceModel::from_value(&json) {
            Err(Error::Model { urn, reason }) => (urn, reason),
            other => panic!("expected a model error, got {other:?}"),
        }
    }

    #[test]
    fn model_level_errors_name_the_model_and_field() {
        let (urn, reason) = model_error(json!({"name": "x"}));
        assert_eq!(
            (urn.as_str(), reason.as_str()),
            ("<unknown>", "urn: required field is missing")
        );
        let (urn, reason) = model_error(json!({"urn": "urn:a"}));
        assert_eq!(
            (urn.as_str(), reason.as_str()),
            ("urn:a", "name: required field is missing")
        );
        let (_, reason) = model_error(json!({"urn": "urn:a", "name": "a", "draft": "no"}));
        assert_eq!(reason, "draft: expected a boolean; got \"no\"");
        let (_, reason) = model_error(json!({"urn": "urn:a", "name": "a", "created": "yesterday"}));
        assert_eq!(reason, "created: expected an integer; got \"yesterday\"");
        let (_, reason) = model_error(json!({"urn": "urn:a", "name": "a", "attributes": {}}));
        assert_eq!(reason, "attributes: expected an array; got {}");
        let (_, reason) = model_error(json!({"urn": "urn:a", "name": "a", "attributes": [5]}));
        assert_eq!(reason, "attributes[0]: expected an object; got 5");
        let (_, reason) = model_error(json!([]));
        assert_eq!(reason, "model: expected an object; got []");

        let bad_type = json!({"urn": "urn:a", "name": "a", "attributes": [
            {"name": "x", "type": "INTEGER"}, {"name": "y", "type": "STRING"}, {"name": "z", "type": "FLOAT"}
        ]});
        let e = DeviceModel::from_value(&bad_type).unwrap_err();
        assert_eq!(
            e.to_string(),
            "device model urn:a: attributes[2].type: expected one of INTEGER, NUMBER, STRING, BOOLEAN, DATETIME, URI; got \"FLOAT\""
        );
        assert_eq!(e.kind(), crate::ErrorKind::Argument);
    }

    #[test]
    fn names_and_aliases_must_be_unambiguous() {
        let attrs = |list: Json| json!({"urn": "urn:a", "name": "a", "attributes": list});
        let (_, reason) = model_error(attrs(
            json!([{"name": "t", "type": "NUMBER"}, {"name": "t", "type": "STRING"}]),
        ));
        assert_eq!(
            reason,
            "attributes[1].name: duplicate attribute name or alias \"t\" (also attributes[0].name)"
        );
        let (_, reason) = model_error(attrs(json!([
            {"name": "latitude", "type": "NUMBER", "alias": "lat"}, {"name": "lat", "type": "NUMBER"}
        ])));
        assert_eq!(
            reason,
            "attributes[1].name: duplicate attribute name or alias \"lat\" (also attributes[0].alias)"
        );
        let (_, reason) = model_error(attrs(json!([
            {"name": "a", "type": "NUMBER", "alias": "x"}, {"name": "b", "type": "NUMBER", "alias": "x"}
        ])));
        assert_eq!(
            reason,
            "attributes[1].alias: duplicate attribute name or alias \"x\" (also attributes[0].alias)"
        );
        assert!(
            DeviceModel::from_value(&attrs(
                json!([{"name": "a", "type": "NUMBER", "alias": "a"}])
            ))
            .is_ok()
        );

        let (_, reason) = model_error(
            json!({"urn": "urn:a", "name": "a", "actions": [{"name": "go"}, {"name": "go"}]}),
        );
        assert_eq!(
            reason,
            "actions[1].name: duplicate action name or alias \"go\" (also actions[0].name)"
        );
        let (_, reason) = model_error(json!({"urn": "urn:a", "name": "a", "formats": [
            {"urn": "urn:a:f", "type": "DATA"}, {"urn": "urn:a:f", "type": "ALERT"}
        ]}));
        assert_eq!(
            reason,
            "formats[1].urn: duplicate format URN \"urn:a:f\" (also formats[0].urn)"
        );
        // An attribute and an action may share a name: they live under different paths.
        let shared = json!({"urn": "urn:a", "name": "a", "attributes": [{"name": "power", "type": "BOOLEAN"}], "actions": [{"name": "power"}]});
        assert!(DeviceModel::from_value(&shared).is_ok());
    }

    #[test]
    fn invalid_json_text_is_a_model_error() {
        let e = DeviceModel::from_json("{\"urn\": \"urn:a\", \"name\": ").unwrap_err();
        match e {
            Error::Model { urn, reason } => {
                assert_eq!(urn, "urn:a");
                assert!(reason.starts_with("not valid JSON: "), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let e = DeviceModel::from_json("nope").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("device model <unknown>: not valid JSON"),
            "{e}"
        );
        let minimal = DeviceModel::from_json(r#"{"urn": "urn:a", "name": ""}"#).unwrap();
        assert!(
            minimal.attributes().is_empty()
                && minimal.actions().is_empty()
                && minimal.formats().is_empty()
        );
        assert!(!minimal.is_system() && !minimal.is_draft() && minimal.created().is_none());
    }

    #[test]
    fn attributes_format_urns_lead_back_to_their_model() {
        let m = DeviceModel::from_value(&json!({"urn": "urn:a:b", "name": "b"})).unwrap();
        assert_eq!(m.attributes_format_urn(), "urn:a:b:attributes");
        assert_eq!(
            attributes_format_model_urn(&m.attributes_format_urn()),
            Some("urn:a:b")
        );
        assert_eq!(attributes_format_model_urn("urn:a:b:alert"), None);
        assert_eq!(attributes_format_model_urn(":attributes"), None);
    }

    #[test]
    fn finds_the_urn_of_unparsable_text() {
        assert_eq!(urn_of_text(r#"{ "urn" : "urn:x:y", oops"#), "urn:x:y");
        assert_eq!(urn_of_text(r#"{"urn": 5}"#), "<unknown>");
        assert_eq!(urn_of_text(""), "<unknown>");
    }
}
