//! Device policies (protocol §7): the policy JSON the cloud serves, its
//! pipelines of typed [`Function`]s, and the [`Formula`] language their
//! conditions and computed values are written in.
//!
//! Everything here is checked when a policy is read, so that a device or
//! the local cloud refuses a bad policy with an error naming the policy,
//! the pipeline's attribute, the function, the parameter and, inside a
//! formula, the character position. Running the functions (windows,
//! batches, alerts) is the device's job: `iotcs-device`'s policy module.
//!
//! Also here: the one change notification of §7.3
//! ([`PolicyChange`]), which the cloud sends and the device reads.
//!
//! # Formulas
//!
//! Parse a [`Formula`] once; evaluate it against any [`AttributeSource`]:
//!
//! ```
//! use iotcs_core::Value;
//! use iotcs_core::policy::{Formula, FormulaValue, Lookup};
//!
//! let hot = Formula::parse("$(temp) > 30 && LOWER($$(room)) LIKE 'lab%'")?;
//! assert_eq!(hot.attributes().collect::<Vec<_>>(), ["temp", "room"]);
//! let values = |name: &str, _: Lookup| match name {
//!     "temp" => Some(Value::Number(31.5)),
//!     "room" => Some(Value::from("Lab-2")),
//!     _ => None,
//! };
//! assert!(hot.evaluate(&values)?.is_true());
//! assert_eq!(
//!     Formula::parse("$(temp) * 9 / 5 + 32")?.evaluate(&values)?,
//!     FormulaValue::Number(88.7)
//! );
//! // Errors name the position (1-based in the text).
//! let err = Formula::parse("$(temp) > ").unwrap_err();
//! assert!(err.to_string().contains("at character 11"), "{err}");
//! # Ok::<(), iotcs_core::Error>(())
//! ```
//!
//! ## The language
//!
//! | construct | meaning |
//! |---|---|
//! | `12`, `1.5e3`, `'text'`, `"text"` | literals (a backslash escapes the next character in a string) |
//! | `$(attr)` | the value being processed for `attr`, else its last known value |
//! | `$$(attr)` | the last known value of `attr` |
//! | `+ - * / %` | arithmetic on numbers; `+` joins text when either side is text |
//! | `= != < <= > >=` (also `==`, `<>`) | comparisons, giving 1 or 0 |
//! | `a LIKE 'p%t_rn'` | SQL pattern match, case-sensitive: `%` any run, `_` one character |
//! | `&& \|\| !` | logic on truthiness, giving 1 or 0; `&&` and `\|\|` stop early |
//! | `c ? a : b` | the ternary; only the chosen side is evaluated |
//! | `LOWER(x)`, `UPPER(x)` | case of the text form |
//!
//! Precedence, loosest first: `?:` (right to left), `||`, `&&`, `= !=`,
//! `< <= > >= LIKE`, `+ -`, `* / %`, unary `! -`. Keywords ignore case.
//!
//! Values are numbers or text: an INTEGER, NUMBER or DATETIME attribute
//! reads as a number, a BOOLEAN as 1 or 0, a STRING or URI as text.
//! Truthiness (§7.2): a number is true unless it is 0, NaN or infinite; a
//! text is true unless it is empty. Where a number is needed, a text is read
//! as a decimal number (an error if it is not one); a comparison of a number
//! with a text compares numbers when the text reads as one, else the texts.
//! Division by zero follows IEEE 754 (infinite or NaN, both false), never
//! an error. A number's text form has no `.0` when it is whole.

mod change;
mod error;
mod expression;
mod formula;
mod function;
mod model;
mod params;

pub use self::change::{PolicyChange, PolicyOp};
pub use self::error::PolicyError;
pub use self::expression::Expression;
pub use self::formula::{
    AttributeRef, AttributeSource, Formula, FormulaValue, Lookup, MAX_FORMULA_DEPTH,
};
pub use self::function::{ActionSpec, AlertSpec, Function, PrivacyLevel, SampleRate, Window};
pub use self::model::{DevicePolicy, Pipeline};

/// The URN of the device-policy capability (§5.6, §7.3).
pub const DEVICE_POLICY_URN: &str = "urn:oracle:iot:dcd:capability:device_policy";

/// The path of the `policyChanged` resource, as advertised in the
/// RESOURCES_REPORT (§5.6) and used as the URL of the cloud's REQUEST.
pub const POLICY_CHANGED_PATH: &str =
    "deviceModels/urn:oracle:iot:dcd:capability:device_policy/policyChanged";

#[cfg(test)]
mod tests;
