//! The functions of a pipeline (§7.2), one variant each, with their
//! parameters parsed and checked when the policy is read.

use std::time::Duration;

use serde_json::Value as Json;

use super::params::Params;
use super::{Expression, Formula, PolicyError};
use crate::config::NetworkCost;
use crate::message::Severity;
use crate::tas::Secret;

/// One function of a pipeline, with its typed parameters.
///
/// The device runs them (the SDK's policy module); this type only says what
/// each is configured to do. Parameters the protocol does not name are
/// ignored, as Oracle's libraries pass them through.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Function {
    /// `filterCondition`: drop the value when `condition` is true ("filter
    /// means out"), pass it on when false.
    FilterCondition {
        /// Parameter `condition`.
        condition: Formula,
    },
    /// `sampleQuality`: pass every value, a random one, or every Nth.
    SampleQuality {
        /// Parameter `rate`: 0, -1 or N above 0.
        rate: SampleRate,
    },
    /// `mean`: the mean of each window; no value for an empty window.
    Mean(Window),
    /// `min`: the least value of each window.
    Min(Window),
    /// `max`: the greatest value of each window.
    Max(Window),
    /// `standardDeviation`: the standard deviation of each window.
    StandardDeviation(Window),
    /// `batchBySize`: hold whole messages until `size` are collected.
    BatchBySize {
        /// Parameter `batchSize`, at least 1.
        size: u32,
        /// Parameter `alertSeverity`: alerts at least this severe skip the
        /// batch. Defaults to CRITICAL.
        alert_severity: Severity,
    },
    /// `batchByTime`: hold whole messages; release them `delay_limit`
    /// after the first was held.
    BatchByTime {
        /// Parameter `delayLimit`, milliseconds above 0.
        delay_limit: Duration,
        /// As in [`Function::BatchBySize`].
        alert_severity: Severity,
    },
    /// `batchByCost`: hold whole messages while the device's network is
    /// costlier than `network_cost`.
    BatchByCost {
        /// Parameter `networkCost`: ETHERNET, CELLULAR or SATELLITE.
        network_cost: NetworkCost,
        /// As in [`Function::BatchBySize`].
        alert_severity: Severity,
    },
    /// `eliminateDuplicates`: drop a value equal to the previous one within
    /// the window.
    EliminateDuplicates {
        /// Parameter `window`, milliseconds above 0.
        window: Duration,
    },
    /// `detectDuplicates`: pass values on, and raise `alert` once per window
    /// when a duplicate is seen.
    DetectDuplicates {
        /// Parameter `window`, milliseconds above 0.
        window: Duration,
        /// Parameter `alert`.
        alert: AlertSpec,
    },
    /// `alertCondition`: when `condition` is true raise `alert`, and drop
    /// the value if `filter`.
    AlertCondition {
        /// Parameter `condition`.
        condition: Formula,
        /// Parameter `alert`.
        alert: AlertSpec,
        /// Parameter `filter`. Defaults to `true`.
        filter: bool,
    },
    /// `actionCondition`: when `condition` is true call the device's own
    /// action, and drop the value if `filter`.
    ActionCondition {
        /// Parameter `condition`.
        condition: Formula,
        /// Parameter `action`.
        action: ActionSpec,
        /// Parameter `filter`. Defaults to `true`.
        filter: bool,
    },
    /// `computedMetric`: replace the value by the formula's result; it runs
    /// after the attributes the formula reads.
    ComputedMetric {
        /// Parameter `formula`.
        formula: Formula,
    },
    /// `privacyPolicy`: replace the value by a hash of its text form.
    PrivacyPolicy {
        /// Parameter `level`.
        level: PrivacyLevel,
        /// Parameter `hashingKey`: the HMAC key of `two-way`, required for
        /// it. Never shown in `Debug`.
        hashing_key: Option<Secret>,
    },
}

/// `sampleQuality`'s `rate`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum SampleRate {
    /// `0`: every value.
    All,
    /// `-1`: a random value, about one in 30.
    Random,
    /// `N` above 0: every Nth value (1 is every value).
    EveryNth(u32),
}

/// `privacyPolicy`'s `level`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum PrivacyLevel {
    /// `none`: the value passes unchanged.
    None,
    /// `one-way`: base64url (no padding) of the SHA-256 of the text form.
    OneWay,
    /// `two-way`: base64url (no padding) of the HMAC-SHA256 of the text
    /// form with `hashingKey`.
    TwoWay,
    /// `random`: the level the protocol names without saying what it does;
    /// read so that such policies load, the device decides.
    Random,
}

/// The window of `mean`, `min`, `max` and `standardDeviation`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Window {
    /// Parameter `window`: how much time one result covers, above 0.
    pub window: Duration,
    /// Parameter `slide`: how often a result is due; absent or 0 means the
    /// window (windows that do not overlap).
    pub slide: Duration,
}

impl Window {
    /// A window of `window`, moving by `slide` (0 means `window`).
    ///
    /// # Errors
    ///
    /// [`Error::Argument`](crate::Error::Argument) for a window of 0 or
    /// either below a millisecond.
    pub fn new(window: Duration, slide: Duration) -> Result<Window, crate::Error> {
        let slide = if slide.is_zero() { window } else { slide };
        if window.as_millis() == 0 || slide.as_millis() == 0 {
            return Err(crate::Error::argument(
                "a policy window and its slide are whole milliseconds above 0",
            ));
        }
        Ok(Window { window, slide })
    }

    /// The bucket the values are summed in: the greatest common divisor of
    /// window and slide, so that every window is a whole number of buckets.
    pub fn bucket(&self) -> Duration {
        let (mut a, mut b) = (self.window.as_millis(), self.slide.as_millis());
        while b != 0 {
            (a, b) = (b, a % b);
        }
        // Both are whole milliseconds above 0, so a is too, and fits u64.
        Duration::from_millis(u64::try_from(a).unwrap_or(u64::MAX))
    }
}

/// The alert that `alertCondition` and `detectDuplicates` raise.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AlertSpec {
    /// `urn`: the alert format's URN.
    pub format_urn: String,
    /// `fields`: each field's value, by field name.
    pub fields: Vec<(String, Expression)>,
    /// `severity`. Defaults to NORMAL.
    pub severity: Severity,
}

/// The action that `actionCondition` calls on the device itself.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ActionSpec {
    /// `name`: the action's name in the device model.
    pub name: String,
    /// `arguments`: the values passed, in order.
    pub arguments: Vec<Expression>,
}

impl Function {
    /// Every function id of §7.2, as policies spell them.
    pub const IDS: [&'static str; 15] = [
        "filterCondition",
        "sampleQuality",
        "mean",
        "min",
        "max",
        "standardDeviation",
        "batchBySize",
        "batchByTime",
        "batchByCost",
        "eliminateDuplicates",
        "detectDuplicates",
        "alertCondition",
        "actionCondition",
        "computedMetric",
        "privacyPolicy",
    ];

    /// The function's id, as policies spell it.
    pub fn id(&self) -> &'static str {
        match self {
            Function::FilterCondition { .. } => "filterCondition",
            Function::SampleQuality { .. } => "sampleQuality",
            Function::Mean(_) => "mean",
            Function::Min(_) => "min",
            Function::Max(_) => "max",
            Function::StandardDeviation(_) => "standardDeviation",
            Function::BatchBySize { .. } => "batchBySize",
            Function::BatchByTime { .. } => "batchByTime",
            Function::BatchByCost { .. } => "batchByCost",
            Function::EliminateDuplicates { .. } => "eliminateDuplicates",
            Function::DetectDuplicates { .. } => "detectDuplicates",
            Function::AlertCondition { .. } => "alertCondition",
            Function::ActionCondition { .. } => "actionCondition",
            Function::ComputedMetric { .. } => "computedMetric",
            Function::PrivacyPolicy { .. } => "privacyPolicy",
        }
    }

    /// For the batching functions, the least alert severity that skips the
    /// batch; `None` for the others.
    pub fn alert_severity(&self) -> Option<Severity> {
        match self {
            Function::BatchBySize { alert_severity, .. }
            | Function::BatchByTime { alert_severity, .. }
            | Function::BatchByCost { alert_severity, .. } => Some(*alert_severity),
            _ => None,
        }
    }

    /// Whether the function holds whole messages (`batchBy*`).
    pub fn is_batching(&self) -> bool {
        self.alert_severity().is_some()
    }

    /// The attributes the function's formulas read (its condition or
    /// formula, alert fields and action arguments), each once.
    pub fn attributes<'a>(&'a self) -> Vec<&'a str> {
        let mut names: Vec<&str> = Vec::new();
        let mut add = |more: Vec<&'a str>| {
            for n in more {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        };
        match self {
            Function::FilterCondition { condition } => add(condition.attributes().collect()),
            Function::ComputedMetric { formula } => add(formula.attributes().collect()),
            Function::AlertCondition {
                condition, alert, ..
            } => {
                add(condition.attributes().collect());
                alert.fields.iter().for_each(|(_, e)| add(e.attributes()));
            }
            Function::DetectDuplicates { alert, .. } => {
                alert.fields.iter().for_each(|(_, e)| add(e.attributes()));
            }
            Function::ActionCondition {
                condition, action, ..
            } => {
                add(condition.attributes().collect());
                action.arguments.iter().for_each(|e| add(e.attributes()));
            }
            _ => {}
        }
        names
    }

    /// Reads `{"id": "...", "parameters": {...}}`.
    pub(super) fn from_json(v: &Json) -> Result<Function, PolicyError> {
        let Json::Object(f) = v else {
            return Err(PolicyError::new(format!(
                "a function is an object with id and parameters, got {v}"
            )));
        };
        let id = match f.get("id") {
            Some(Json::String(id)) => id.as_str(),
            _ => return Err(PolicyError::new("a function has no \"id\" string")),
        };
        let p = Params::new(f.get("parameters")).map_err(|e| e.in_function(id))?;
        Function::with_params(id, &p).map_err(|e| e.in_function(id))
    }

    fn with_params(id: &str, p: &Params<'_>) -> Result<Function, PolicyError> {
        let severity = |p: &Params<'_>| p.severity_or("alertSeverity", Severity::Critical);
        let window = |p: &Params<'_>| -> Result<Window, PolicyError> {
            let window = p.millis("window")?;
            Ok(Window {
                window,
                slide: p.millis_or("slide", window)?,
            })
        };
        Ok(match id {
            "filterCondition" => Function::FilterCondition {
                condition: p.formula("condition")?,
            },
            "sampleQuality" => Function::SampleQuality {
                rate: match p.integer_in("rate", -1, i64::from(u32::MAX))? {
                    0 => SampleRate::All,
                    -1 => SampleRate::Random,
                    // In 1..=u32::MAX by integer_in.
                    n => SampleRate::EveryNth(u32::try_from(n).unwrap_or(u32::MAX)),
                },
            },
            "mean" => Function::Mean(window(p)?),
            "min" => Function::Min(window(p)?),
            "max" => Function::Max(window(p)?),
            "standardDeviation" => Function::StandardDeviation(window(p)?),
            "batchBySize" => Function::BatchBySize {
                // In 1..=u32::MAX by integer_in.
                size: u32::try_from(p.integer_in("batchSize", 1, i64::from(u32::MAX))?)
                    .unwrap_or(u32::MAX),
                alert_severity: severity(p)?,
            },
            "batchByTime" => Function::BatchByTime {
                delay_limit: p.millis("delayLimit")?,
                alert_severity: severity(p)?,
            },
            "batchByCost" => Function::BatchByCost {
                network_cost: p.network_cost("networkCost")?,
                alert_severity: severity(p)?,
            },
            "eliminateDuplicates" => Function::EliminateDuplicates {
                window: p.millis("window")?,
            },
            "detectDuplicates" => Function::DetectDuplicates {
                window: p.millis("window")?,
                alert: p.alert("alert")?,
            },
            "alertCondition" => Function::AlertCondition {
                condition: p.formula("condition")?,
                alert: p.alert("alert")?,
                filter: p.flag("filter", true)?,
            },
            "actionCondition" => Function::ActionCondition {
                condition: p.formula("condition")?,
                action: p.action("action")?,
                filter: p.flag("filter", true)?,
            },
            "computedMetric" => Function::ComputedMetric {
                formula: p.formula("formula")?,
            },
            "privacyPolicy" => privacy(p)?,
            unknown => {
                return Err(PolicyError::new(format!(
                    "unknown function {unknown:?}; the functions are {}",
                    Function::IDS.join(", ")
                )));
            }
        })
    }
}

fn privacy(p: &Params<'_>) -> Result<Function, PolicyError> {
    let level = match p.text("level")? {
        "none" => PrivacyLevel::None,
        "one-way" => PrivacyLevel::OneWay,
        "two-way" => PrivacyLevel::TwoWay,
        "random" => PrivacyLevel::Random,
        other => {
            return Err(PolicyError::new(format!(
                "expected one-way, two-way, random or none, got {other:?}"
            ))
            .in_parameter("level"));
        }
    };
    let hashing_key = p.secret("hashingKey")?;
    if level == PrivacyLevel::TwoWay && hashing_key.is_none() {
        return Err(
            PolicyError::new("two-way hashing needs a hashing key").in_parameter("hashingKey")
        );
    }
    Ok(Function::PrivacyPolicy { level, hashing_key })
}
