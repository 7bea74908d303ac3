//! From a policy as the core reads it ([`DevicePolicy`], its functions
//! typed and checked) to the running units of this module, each with fresh
//! state. A policy that is disabled, or has no function, builds nothing:
//! the device then behaves as without a policy (Oracle's library ran
//! disabled policies; §7.5 lists that among its defects).

use iotcs_core::policy::{
    self as model, AttributeSource, DevicePolicy, Formula, FormulaValue, Function, Lookup,
    PrivacyLevel, SampleRate,
};
use iotcs_core::{Error, Value};

use super::batch::{NetworkCostCell, Release};
use super::context::{Built, MessageRule};
use super::duplicates::{DetectDuplicates, EliminateDuplicates};
use super::expression::{AttributeValues, Expression};
use super::pipeline::{ActionSpec, AlertSpec, AttributePipeline, Step};
use super::privacy::Privacy;
use super::sample::Sample;
use super::window::{Aggregate, Window};

/// Builds `policy`'s pipelines; `None` when it is disabled or empty.
///
/// # Errors
///
/// [`Error::Argument`] naming the function when a unit refuses its
/// parameters (the core has checked them, so only limits of this crate,
/// such as a window needing too many buckets).
pub(crate) fn build(
    policy: &DevicePolicy,
    network: &NetworkCostCell,
) -> Result<Option<Built>, Error> {
    if !policy.enabled() || policy.is_empty() {
        return Ok(None);
    }
    let mut attributes = Vec::new();
    let mut messages = None;
    for pipeline in policy.pipelines() {
        match pipeline.attribute() {
            Some(attribute) => {
                let steps = pipeline
                    .functions()
                    .iter()
                    .filter_map(|f| step(attribute, f).transpose())
                    .collect::<Result<Vec<_>, _>>()?;
                let inputs = pipeline.inputs().into_iter().map(str::to_owned).collect();
                attributes.push(AttributePipeline::new(attribute, steps).with_inputs(inputs));
            }
            None => messages = message_rule(policy.id(), pipeline.functions(), network),
        }
    }
    Ok(Some(Built {
        attributes,
        messages,
    }))
}

/// The model-level pipeline's first function, the only one honoured (as
/// in Oracle's library); only batching makes sense on whole messages.
fn message_rule(
    id: &str,
    functions: &[Function],
    network: &NetworkCostCell,
) -> Option<MessageRule> {
    let first = functions.first()?;
    let release = match first {
        Function::BatchBySize { size, .. } => Release::Size(*size as usize),
        Function::BatchByTime { delay_limit, .. } => Release::Time(millis(*delay_limit)),
        Function::BatchByCost { network_cost, .. } => Release::Cost(*network_cost, network.clone()),
        other => {
            log::warn!(target: "iotcs::device::policy",
                "policy {id}: the device-model pipeline starts with {}, which does not apply to whole messages; ignored",
                other.id()
            );
            return None;
        }
    };
    if functions.len() > 1 {
        log::warn!(target: "iotcs::device::policy", "policy {id}: only the first function of the device-model pipeline applies");
    }
    Some(MessageRule {
        release,
        alert_severity: first
            .alert_severity()
            .unwrap_or(iotcs_core::message::Severity::Critical),
    })
}

/// The running unit of one function of `attribute`'s pipeline; `None` for
/// a batching function, which holds whole messages and belongs in the
/// model-level pipeline (logged).
fn step(attribute: &str, function: &Function) -> Result<Option<Step>, Error> {
    Ok(Some(match function {
        Function::FilterCondition { condition } => Step::Filter(formula(condition)),
        Function::SampleQuality { rate } => Step::Sample(Sample::new(match rate {
            SampleRate::All => 0,
            SampleRate::Random => -1,
            SampleRate::EveryNth(n) => i64::from(*n),
            _ => 0,
        })?),
        Function::Mean(w) => Step::Window(window(Aggregate::Mean, w)?),
        Function::Min(w) => Step::Window(window(Aggregate::Min, w)?),
        Function::Max(w) => Step::Window(window(Aggregate::Max, w)?),
        Function::StandardDeviation(w) => Step::Window(window(Aggregate::StandardDeviation, w)?),
        Function::EliminateDuplicates { window } => {
            Step::EliminateDuplicates(EliminateDuplicates::new(millis(*window))?)
        }
        Function::DetectDuplicates { window, alert } => {
            Step::DetectDuplicates(DetectDuplicates::new(millis(*window))?, alert_spec(alert))
        }
        Function::AlertCondition {
            condition,
            alert,
            filter,
        } => Step::AlertCondition {
            condition: formula(condition),
            alert: alert_spec(alert),
            filter: *filter,
        },
        Function::ActionCondition {
            condition,
            action,
            filter,
        } => Step::ActionCondition {
            condition: formula(condition),
            action: ActionSpec {
                name: action.name.clone(),
                arguments: action.arguments.iter().map(expression).collect(),
            },
            filter: *filter,
        },
        Function::ComputedMetric { formula: f } => Step::ComputedMetric(formula(f)),
        Function::PrivacyPolicy { level, hashing_key } => Step::Privacy(match level {
            PrivacyLevel::OneWay => Privacy::OneWay,
            PrivacyLevel::TwoWay => match hashing_key {
                Some(key) => Privacy::TwoWay(key.expose().to_vec()),
                None => {
                    return Err(Error::argument(format!(
                        "privacyPolicy of {attribute:?}: level two-way needs a hashingKey"
                    )));
                }
            },
            PrivacyLevel::Random => Privacy::Random,
            _ => Privacy::None,
        }),
        other if other.is_batching() => {
            log::warn!(target: "iotcs::device::policy",
                "{} in the pipeline of {attribute:?} holds whole messages and applies only in the device-model pipeline; ignored",
                other.id()
            );
            return Ok(None);
        }
        other => {
            return Err(Error::argument(format!(
                "{} of {attribute:?}: not supported by this version",
                other.id()
            )));
        }
    }))
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn window(aggregate: Aggregate, w: &model::Window) -> Result<Window, Error> {
    Window::new(aggregate, millis(w.window), millis(w.slide))
}

fn alert_spec(alert: &model::AlertSpec) -> AlertSpec {
    AlertSpec {
        urn: alert.format_urn.clone(),
        fields: alert
            .fields
            .iter()
            .map(|(name, e)| (name.clone(), expression(e)))
            .collect(),
        severity: alert.severity,
    }
}

fn formula(f: &Formula) -> Box<dyn Expression> {
    Box::new(CoreFormula(f.clone()))
}

fn expression(e: &model::Expression) -> Box<dyn Expression> {
    Box::new(CoreExpression(e.clone()))
}

/// The core's formulas behind this module's seam.
#[derive(Debug)]
struct CoreFormula(Formula);

#[derive(Debug)]
struct CoreExpression(model::Expression);

/// The values a formula reads, as the core asks for them.
fn source(values: &dyn AttributeValues) -> impl AttributeSource + '_ {
    move |name: &str, lookup: Lookup| match lookup {
        Lookup::LastKnown => values.last_known(name),
        _ => values.current(name),
    }
}

fn to_value(v: FormulaValue) -> Value {
    match v {
        FormulaValue::Number(x) => Value::Number(x),
        FormulaValue::Text(s) => Value::String(s),
    }
}

impl Expression for CoreFormula {
    fn value(&self, values: &dyn AttributeValues) -> Result<Value, Error> {
        self.0.evaluate(&source(values)).map(to_value)
    }

    fn is_true(&self, values: &dyn AttributeValues) -> Result<bool, Error> {
        Ok(self.0.evaluate(&source(values))?.is_true())
    }
}

impl Expression for CoreExpression {
    fn value(&self, values: &dyn AttributeValues) -> Result<Value, Error> {
        self.0.evaluate(&source(values)).map(to_value)
    }

    fn is_true(&self, values: &dyn AttributeValues) -> Result<bool, Error> {
        Ok(self.0.evaluate(&source(values))?.is_true())
    }
}
