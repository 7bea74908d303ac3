//! Actions of a device model, their arguments, and argument validation.
//!
//! Two styles exist. A legacy action declares at most one unnamed argument
//! with `argType` (and `range`); a new-style action (Oracle's later JS library)
//! declares named `arguments`. Request bodies carry them as `{}` (no
//! argument), `{"value": v}` (one argument of either style) or
//! `{"name1": v1, "name2": v2}` (several named arguments), protocol-js §6.6.

use std::fmt;

use serde_json::{Map, Value as Json, json};

use super::parse::{self, Obj, Reason};
use super::range::Range;
use crate::validate::{self, ValidationError, ValidationRule, ValidationTarget};
use crate::value::{Value, ValueType};

/// The key of the single argument in a request body.
const SINGLE_KEY: &str = "value";

/// An action of a device model: something the cloud asks the device to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    model_urn: String,
    name: String,
    description: String,
    alias: Option<String>,
    arg_type: Option<ValueType>,
    range: Option<Range>,
    arguments: Vec<Argument>,
}

/// A named argument of a new-style action.
#[derive(Clone, Debug, PartialEq)]
pub struct Argument {
    name: String,
    description: String,
    value_type: ValueType,
    range: Option<Range>,
    default_value: Option<Value>,
}

/// The arguments of an action invocation, in the three shapes a request body
/// can have.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "one variant per request-body shape of the frozen protocol; callers may match exhaustively"
)]
pub enum ActionArguments {
    /// No argument: body `{}`.
    None,
    /// The single argument of a legacy (`argType`) action: body
    /// `{"value": v}`.
    Single(Value),
    /// Named arguments of a new-style action, in the model's order once
    /// validated (defaults filled in).
    Named(Vec<(String, Value)>),
}

impl ActionArguments {
    /// The request body the cloud sends to invoke the action.
    ///
    /// One argument, named or not, is sent as `{"value": v}`: Oracle's JS
    /// library reads a one-key body as the single argument whatever the key,
    /// and [`Action::validate_body`] maps `value` back to the only declared
    /// argument. Several named arguments become `{"name": v, ...}`.
    pub fn to_body(&self) -> Json {
        let mut m = Map::new();
        match self {
            ActionArguments::None => {}
            ActionArguments::Single(v) => {
                m.insert(SINGLE_KEY.into(), v.to_json());
            }
            ActionArguments::Named(args) if args.len() == 1 => {
                m.insert(SINGLE_KEY.into(), args[0].1.to_json());
            }
            ActionArguments::Named(args) => {
                for (name, v) in args {
                    m.insert(name.clone(), v.to_json());
                }
            }
        }
        Json::Object(m)
    }
}

impl Argument {
    /// The argument's name, unique within the action.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Free-form description; empty when the model has none.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The declared type.
    pub fn value_type(&self) -> ValueType {
        self.value_type
    }

    /// The inclusive range of an INTEGER or NUMBER argument.
    pub fn range(&self) -> Option<&Range> {
        self.range.as_ref()
    }

    /// The value used when an invocation leaves the argument out.
    pub fn default_value(&self) -> Option<&Value> {
        self.default_value.as_ref()
    }

    fn from_obj(o: &Obj<'_>) -> Result<Argument, Reason> {
        let name = o.req_name("name")?.to_owned();
        let value_type = o.req_type("type")?;
        let range = o.opt_range("range", Some(value_type))?;
        Ok(Argument {
            name,
            description: o.opt_str("description")?.unwrap_or_default().to_owned(),
            value_type,
            default_value: o.opt_default("defaultValue", value_type, range.as_ref())?,
            range,
        })
    }

    fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("description".into(), json!(self.description));
        m.insert("type".into(), json!(self.value_type.as_str()));
        if let Some(range) = &self.range {
            m.insert("range".into(), json!(range.to_model_string()));
        }
        if let Some(v) = &self.default_value {
            m.insert("defaultValue".into(), v.to_json());
        }
        Json::Object(m)
    }
}

/// A value given for an argument, typed or still JSON.
enum Given<'a> {
    Value(Value),
    Json(&'a Json),
}

impl Given<'_> {
    fn check(self, ty: ValueType, range: Option<&Range>) -> Result<Value, ValidationError> {
        match self {
            Given::Value(v) => validate::check(v, ty, range),
            Given::Json(j) => validate::check_json(j, ty, range),
        }
    }
}

impl fmt::Display for Given<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Given::Value(v) => write!(f, "{v}"),
            Given::Json(j) => write!(f, "{j}"),
        }
    }
}

impl Action {
    /// The URN of the model that declares the action.
    pub fn model_urn(&self) -> &str {
        &self.model_urn
    }

    /// The action's name, unique within the model.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Free-form description; empty when the model has none.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// An alternative name accepted wherever the name is.
    pub fn alias(&self) -> Option<&str> {
        self.alias.as_deref()
    }

    /// The type of a legacy action's single argument; `None` for an action
    /// without argument or a new-style action.
    pub fn arg_type(&self) -> Option<ValueType> {
        self.arg_type
    }

    /// The inclusive range of a legacy action's numeric argument.
    pub fn range(&self) -> Option<&Range> {
        self.range.as_ref()
    }

    /// The named arguments of a new-style action, in model order; empty for a
    /// legacy action.
    pub fn arguments(&self) -> &[Argument] {
        &self.arguments
    }

    /// A named argument of a new-style action.
    pub fn argument(&self, name: &str) -> Option<&Argument> {
        self.arguments.iter().find(|a| a.name == name)
    }

    /// Whether the action takes any argument.
    pub fn takes_arguments(&self) -> bool {
        self.arg_type.is_some() || !self.arguments.is_empty()
    }

    /// Whether `name_or_alias` is this action's name or alias.
    pub fn is_named(&self, name_or_alias: &str) -> bool {
        self.name == name_or_alias || self.alias.as_deref() == Some(name_or_alias)
    }

    /// Checks the arguments of an invocation and returns them normalised:
    ///
    /// - no argument declared: only [`ActionArguments::None`] (or an empty
    ///   `Named`) passes;
    /// - legacy `argType`: exactly one value, of the type and within the
    ///   range, returned as [`ActionArguments::Single`] (a `Named` list
    ///   holding just `value` is accepted too);
    /// - new-style `arguments`: every given name declared (a lone `Single`
    ///   value or a `value` name stands for the only declared argument), each
    ///   value of its type and within its range (Oracle's JS library checks
    ///   only the type; the range is the model's, so it is enforced here),
    ///   missing arguments taken from their default; returned as
    ///   [`ActionArguments::Named`] in model order.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] naming the argument (and action and model) with
    /// rule [`ValidationRule::Unexpected`] (the action takes no argument),
    /// [`ValidationRule::Unknown`], [`ValidationRule::Duplicate`], [`ValidationRule::Missing`] or a type or
    /// range rule.
    pub fn validate(&self, args: ActionArguments) -> Result<ActionArguments, ValidationError> {
        let given = match args {
            ActionArguments::None => Vec::new(),
            ActionArguments::Single(v) => vec![(SINGLE_KEY.to_owned(), Given::Value(v))],
            ActionArguments::Named(list) => list
                .into_iter()
                .map(|(n, v)| (n, Given::Value(v)))
                .collect(),
        };
        self.check_given(given)
    }

    /// Reads and checks the body of an invocation request (`POST
    /// deviceModels/<urn>/actions/<name>`): `{}`, `{"value": v}` or
    /// `{"name": v, ...}`, with values read strictly as
    /// [`Value::from_json`] does. The rules are those of
    /// [`Action::validate`].
    ///
    /// # Errors
    ///
    /// [`ValidationRule::NotAnObject`] when the body is not a JSON object, otherwise as
    /// [`Action::validate`].
    pub fn validate_body(&self, body: &Json) -> Result<ActionArguments, ValidationError> {
        let Json::Object(map) = body else {
            return Err(ValidationError::new(ValidationRule::NotAnObject)
                .with_json(body)
                .with_target(self.target(None)));
        };
        self.check_given(
            map.iter()
                .map(|(k, v)| (k.clone(), Given::Json(v)))
                .collect(),
        )
    }

    fn check_given(
        &self,
        given: Vec<(String, Given<'_>)>,
    ) -> Result<ActionArguments, ValidationError> {
        if let Some(ty) = self.arg_type {
            return self.check_legacy(ty, given);
        }
        if self.arguments.is_empty() {
            return match given.into_iter().next() {
                None => Ok(ActionArguments::None),
                Some((name, g)) => {
                    let name = (name != SINGLE_KEY).then_some(name);
                    Err(ValidationError::new(ValidationRule::Unexpected)
                        .with_value(g)
                        .with_target(self.target(name)))
                }
            };
        }
        self.check_named(given)
    }

    fn check_legacy(
        &self,
        ty: ValueType,
        given: Vec<(String, Given<'_>)>,
    ) -> Result<ActionArguments, ValidationError> {
        let mut value = None;
        for (name, g) in given {
            if name != SINGLE_KEY {
                return Err(ValidationError::new(ValidationRule::Unknown)
                    .with_value(g)
                    .with_target(self.target(Some(name))));
            }
            if value.is_some() {
                return Err(ValidationError::new(ValidationRule::Duplicate)
                    .with_value(g)
                    .with_target(self.target(None)));
            }
            value = Some(
                g.check(ty, self.range.as_ref())
                    .map_err(|e| e.with_target(self.target(None)))?,
            );
        }
        value.map(ActionArguments::Single).ok_or_else(|| {
            ValidationError::new(ValidationRule::Missing).with_target(self.target(None))
        })
    }

    fn check_named(
        &self,
        given: Vec<(String, Given<'_>)>,
    ) -> Result<ActionArguments, ValidationError> {
        let mut slots: Vec<Option<Value>> = vec![None; self.arguments.len()];
        for (name, g) in given {
            let index = self
                .arguments
                .iter()
                .position(|a| a.name == name)
                .or_else(|| {
                    // A one-key body names no argument: it is the only one.
                    (name == SINGLE_KEY && self.arguments.len() == 1).then_some(0)
                });
            let Some(index) = index else {
                return Err(ValidationError::new(ValidationRule::Unknown)
                    .with_value(g)
                    .with_target(self.target(Some(name))));
            };
            let arg = &self.arguments[index];
            let target = || self.target(Some(arg.name.clone()));
            if slots[index].is_some() {
                return Err(ValidationError::new(ValidationRule::Duplicate)
                    .with_value(g)
                    .with_target(target()));
            }
            slots[index] = Some(
                g.check(arg.value_type, arg.range.as_ref())
                    .map_err(|e| e.with_target(target()))?,
            );
        }
        let mut out = Vec::with_capacity(slots.len());
        for (arg, slot) in self.arguments.iter().zip(slots) {
            match slot.or_else(|| arg.default_value.clone()) {
                Some(v) => out.push((arg.name.clone(), v)),
                None => {
                    return Err(ValidationError::new(ValidationRule::Missing)
                        .with_target(self.target(Some(arg.name.clone()))));
                }
            }
        }
        Ok(ActionArguments::Named(out))
    }

    fn target(&self, name: Option<String>) -> ValidationTarget {
        ValidationTarget::Argument {
            model: self.model_urn.clone(),
            action: self.name.clone(),
            name,
        }
    }

    /// Reads one element of a model's `actions` array.
    pub(super) fn from_obj(model_urn: &str, o: &Obj<'_>) -> Result<Action, Reason> {
        let name = o.req_name("name")?.to_owned();
        let arg_type = o.opt_type("argType")?;
        let range = o.opt_range("range", arg_type)?;
        let arguments = parse::each(o, "arguments", |a| Argument::from_obj(&a))?;
        parse::check_unique(
            arguments.iter().enumerate().map(|(i, a)| {
                (
                    a.name.as_str(),
                    format!("{}[{i}].name", o.path_of("arguments")),
                )
            }),
            "argument name",
        )?;
        if arg_type.is_some() && !arguments.is_empty() {
            return Err(format!(
                "{}: an action has either argType or arguments, not both",
                o.path_of("arguments")
            ));
        }
        Ok(Action {
            model_urn: model_urn.to_owned(),
            name,
            description: o.opt_str("description")?.unwrap_or_default().to_owned(),
            alias: o.opt_nonempty_str("alias")?.map(str::to_owned),
            arg_type,
            range,
            arguments,
        })
    }

    /// The Oracle JSON form of the action.
    pub(super) fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("description".into(), json!(self.description));
        if let Some(alias) = &self.alias {
            m.insert("alias".into(), json!(alias));
        }
        if let Some(t) = self.arg_type {
            m.insert("argType".into(), json!(t.as_str()));
        }
        if let Some(range) = &self.range {
            m.insert("range".into(), json!(range.to_model_string()));
        }
        if !self.arguments.is_empty() {
            m.insert(
                "arguments".into(),
                self.arguments.iter().map(Argument::to_json).collect(),
            );
        }
        Json::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn action(json: Json) -> Result<Action, Reason> {
        Action::from_obj("urn:x", &Obj::new(&json, "actions[0]".into())?)
    }

    fn reset() -> Action {
        action(json!({"name": "reset", "description": "Reset counters"})).unwrap()
    }

    fn dim() -> Action {
        action(json!({"name": "dim", "alias": "setLevel", "argType": "integer", "range": "0,10"}))
            .unwrap()
    }

    fn configure() -> Action {
        action(json!({"name": "configure", "arguments": [
            {"name": "level", "type": "NUMBER", "range": "0,1", "description": "Level"},
            {"name": "label", "type": "STRING", "defaultValue": "none"},
            {"name": "at", "type": "DATETIME"}
        ]}))
        .unwrap()
    }

    #[test]
    fn reads_legacy_and_new_style_actions() {
        let a = dim();
        assert_eq!(
            (a.name(), a.alias(), a.arg_type()),
            ("dim", Some("setLevel"), Some(ValueType::Integer))
        );
        assert_eq!(a.range(), Some(&Range::new(0.0, 10.0).unwrap()));
        assert!(a.arguments().is_empty() && a.takes_arguments() && a.is_named("setLevel"));
        assert_eq!(a.model_urn(), "urn:x");

        let r = reset();
        assert_eq!(r.description(), "Reset counters");
        assert!(!r.takes_arguments() && r.arg_type().is_none());

        let c = configure();
        assert!(c.takes_arguments() && c.arg_type().is_none());
        let names: Vec<_> = c.arguments().iter().map(Argument::name).collect();
        assert_eq!(names, ["level", "label", "at"]);
        let level = c.argument("level").unwrap();
        assert_eq!(
            (level.value_type(), level.description()),
            (ValueType::Number, "Level")
        );
        assert_eq!(level.range(), Some(&Range::new(0.0, 1.0).unwrap()));
        assert_eq!(
            c.argument("label").unwrap().default_value(),
            Some(&Value::from("none"))
        );
        assert!(c.argument("nope").is_none());
    }

    #[test]
    fn refuses_bad_definitions() {
        let cases = [
            (
                json!({"description": "x"}),
                "actions[0].name: required field is missing",
            ),
            (
                json!({"name": "a", "argType": "FLOAT"}),
                "actions[0].argType: expected one of INTEGER, NUMBER, STRING, BOOLEAN, DATETIME, URI; got \"FLOAT\"",
            ),
            (
                json!({"name": "a", "range": "0,1"}),
                "actions[0].range: a range needs a type to apply to",
            ),
            (
                json!({"name": "a", "argType": "BOOLEAN", "range": "0,1"}),
                "actions[0].range: a range is only allowed on INTEGER and NUMBER, not BOOLEAN",
            ),
            (
                json!({"name": "a", "argType": "NUMBER", "range": "2,1"}),
                "actions[0].range: range minimum 2 is greater than its maximum 1",
            ),
            (
                json!({"name": "a", "arguments": [{"name": "x"}]}),
                "actions[0].arguments[0].type: required field is missing",
            ),
            (
                json!({"name": "a", "arguments": [{"name": "x", "type": "STRING", "range": "0,1"}]}),
                "actions[0].arguments[0].range: a range is only allowed on INTEGER and NUMBER, not STRING",
            ),
            (
                json!({"name": "a", "arguments": [{"name": "x", "type": "INTEGER", "defaultValue": 0.5}]}),
                "actions[0].arguments[0].defaultValue: value 0.5 is not an INTEGER",
            ),
            (
                json!({"name": "a", "arguments": [{"name": "x", "type": "INTEGER"}, {"name": "x", "type": "STRING"}]}),
                "actions[0].arguments[1].name: duplicate argument name \"x\" (also actions[0].arguments[0].name)",
            ),
            (
                json!({"name": "a", "argType": "INTEGER", "arguments": [{"name": "x", "type": "INTEGER"}]}),
                "actions[0].arguments: an action has either argType or arguments, not both",
            ),
            (
                json!({"name": "a", "arguments": {}}),
                "actions[0].arguments: expected an array; got {}",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(action(json).unwrap_err(), expected);
        }
        // An empty `arguments` beside `argType` is the legacy style.
        assert_eq!(
            action(json!({"name": "a", "argType": "INTEGER", "arguments": []}))
                .unwrap()
                .arg_type(),
            Some(ValueType::Integer)
        );
    }

    #[test]
    fn actions_without_argument_refuse_one() {
        let r = reset();
        assert_eq!(
            r.validate(ActionArguments::None).unwrap(),
            ActionArguments::None
        );
        assert_eq!(
            r.validate(ActionArguments::Named(vec![])).unwrap(),
            ActionArguments::None
        );
        assert_eq!(r.validate_body(&json!({})).unwrap(), ActionArguments::None);
        let e = r
            .validate(ActionArguments::Single(Value::Integer(1)))
            .unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::Unexpected);
        assert_eq!(
            e.to_string(),
            "argument of action \"reset\" of urn:x: value 1 refused: the action takes no argument"
        );
        let e = r.validate_body(&json!({"force": true})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument \"force\" of action \"reset\" of urn:x: value true refused: the action takes no argument"
        );
    }

    #[test]
    fn legacy_argument_is_typed_and_ranged() {
        let d = dim();
        assert_eq!(
            d.validate(ActionArguments::Single(Value::Number(3.0)))
                .unwrap(),
            ActionArguments::Single(Value::Integer(3))
        );
        assert_eq!(
            d.validate_body(&json!({"value": 10})).unwrap(),
            ActionArguments::Single(Value::Integer(10))
        );
        assert_eq!(
            d.validate(ActionArguments::Named(vec![(
                "value".into(),
                Value::Integer(0)
            )]))
            .unwrap(),
            ActionArguments::Single(Value::Integer(0))
        );

        let e = d.validate_body(&json!({"value": 11})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument of action \"dim\" of urn:x: value 11 is outside the range 0..10"
        );
        let e = d.validate_body(&json!({"value": "3"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument of action \"dim\" of urn:x: value \"3\" is not an INTEGER"
        );
        let e = d.validate_body(&json!({})).unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::Missing);
        assert_eq!(
            e.to_string(),
            "argument of action \"dim\" of urn:x: a value is required but none was given"
        );
        assert_eq!(
            d.validate(ActionArguments::None).unwrap_err().rule(),
            &ValidationRule::Missing
        );
        let e = d
            .validate_body(&json!({"value": 1, "extra": 2}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument \"extra\" of action \"dim\" of urn:x: unknown argument: the action has no argument of that name"
        );
        let two = ActionArguments::Named(vec![
            ("value".into(), Value::Integer(1)),
            ("value".into(), Value::Integer(2)),
        ]);
        assert_eq!(
            d.validate(two).unwrap_err().rule(),
            &ValidationRule::Duplicate
        );
        let e = d.validate_body(&json!([1])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument of action \"dim\" of urn:x: value [1] refused: the request body must be a JSON object"
        );
    }

    #[test]
    fn named_arguments_are_typed_defaulted_and_ordered() {
        let c = configure();
        let got = c
            .validate_body(&json!({"at": "2020-09-13T12:26:40Z", "level": 1}))
            .unwrap();
        assert_eq!(
            got,
            ActionArguments::Named(vec![
                ("level".into(), Value::Number(1.0)),
                ("label".into(), Value::from("none")),
                ("at".into(), Value::DateTime(1_600_000_000_000)),
            ])
        );
        let e = c.validate_body(&json!({"at": 0, "level": 2})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument \"level\" of action \"configure\" of urn:x: value 2 is outside the range 0..1"
        );
        let e = c.validate_body(&json!({"level": 0.5})).unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::Missing);
        assert_eq!(e.name(), Some("at"));
        assert_eq!(
            e.to_string(),
            "argument \"at\" of action \"configure\" of urn:x: a value is required but none was given"
        );
        let e = c
            .validate_body(&json!({"at": 0, "level": 0, "colour": "red"}))
            .unwrap_err();
        assert_eq!(e.rule(), &ValidationRule::Unknown);
        assert_eq!(e.value(), Some("\"red\""));
        let e = c
            .validate(ActionArguments::Named(vec![(
                "label".into(),
                Value::Integer(1),
            )]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument \"label\" of action \"configure\" of urn:x: value 1 is not a STRING"
        );
        let dup = ActionArguments::Named(vec![
            ("at".into(), Value::DateTime(0)),
            ("level".into(), Value::Number(0.0)),
            ("at".into(), Value::DateTime(1)),
        ]);
        assert_eq!(
            c.validate(dup).unwrap_err().rule(),
            &ValidationRule::Duplicate
        );
    }

    #[test]
    fn one_named_argument_travels_as_value() {
        let a =
            action(json!({"name": "rename", "arguments": [{"name": "label", "type": "STRING"}]}))
                .unwrap();
        let expected = ActionArguments::Named(vec![("label".into(), Value::from("x"))]);
        assert_eq!(a.validate_body(&json!({"value": "x"})).unwrap(), expected);
        assert_eq!(a.validate_body(&json!({"label": "x"})).unwrap(), expected);
        assert_eq!(
            a.validate(ActionArguments::Single(Value::from("x")))
                .unwrap(),
            expected
        );
        assert_eq!(expected.to_body(), json!({"value": "x"}));
        assert_eq!(a.validate_body(&expected.to_body()).unwrap(), expected);
        let both = json!({"value": "x", "label": "y"});
        assert_eq!(
            a.validate_body(&both).unwrap_err().rule(),
            &ValidationRule::Duplicate
        );
    }

    #[test]
    fn bodies_round_trip() {
        assert_eq!(ActionArguments::None.to_body(), json!({}));
        assert_eq!(
            ActionArguments::Single(Value::Integer(4)).to_body(),
            json!({"value": 4})
        );
        let c = configure();
        let args = c
            .validate_body(&json!({"at": 5, "level": 0.25, "label": "a"}))
            .unwrap();
        assert_eq!(
            args.to_body(),
            json!({"at": 5, "level": 0.25, "label": "a"})
        );
        assert_eq!(c.validate_body(&args.to_body()).unwrap(), args);
        let d = dim();
        let single = ActionArguments::Single(Value::Integer(4));
        assert_eq!(d.validate_body(&single.to_body()).unwrap(), single);
    }

    #[test]
    fn json_form_round_trips() {
        for a in [reset(), dim(), configure()] {
            let j = a.to_json();
            assert_eq!(action(j.clone()).unwrap(), a, "{j}");
        }
        assert_eq!(
            dim().to_json(),
            json!({"name": "dim", "description": "", "alias": "setLevel", "argType": "INTEGER", "range": "0,10"})
        );
    }
}
