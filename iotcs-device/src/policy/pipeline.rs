//! An attribute's pipeline (spec §7.2, §7.4): its functions in order, each
//! with its own state. A value offered runs through them; a function may
//! drop it (`filterCondition`, `sampleQuality`, `eliminateDuplicates`, an
//! `alertCondition` or `actionCondition` with `filter`), hold it (a
//! window), replace it (`computedMetric`, `privacyPolicy`, a window's
//! aggregate) or ask for an alert or an action on the side ([`Effect`]).
//!
//! A window's aggregate continues through the functions after the window,
//! either at the next offer or when the timer calls
//! [`AttributePipeline::expire`]; it leaves with the window's end as its
//! time.
//!
//! No IO, no clock: callers pass `now` (epoch milliseconds).

use iotcs_core::message::Severity;
use iotcs_core::{Error, Value};

use super::duplicates::{DetectDuplicates, EliminateDuplicates};
use super::expression::{AttributeValues, Expression, InProcess};
use super::privacy::Privacy;
use super::sample::Sample;
use super::window::Window;

/// The alert an `alertCondition` or `detectDuplicates` raises.
#[derive(Debug)]
pub(crate) struct AlertSpec {
    /// The alert format's URN.
    pub(crate) urn: String,
    /// Each field with the formula of its value.
    pub(crate) fields: Vec<(String, Box<dyn Expression>)>,
    /// The policy's severity; NORMAL when it names none.
    pub(crate) severity: Severity,
}

/// The device's own action an `actionCondition` invokes.
#[derive(Debug)]
pub(crate) struct ActionSpec {
    pub(crate) name: String,
    pub(crate) arguments: Vec<Box<dyn Expression>>,
}

/// One function of an attribute's pipeline, with its state.
#[derive(Debug)]
pub(crate) enum Step {
    /// `filterCondition`: drops the value when the condition is true.
    Filter(Box<dyn Expression>),
    Sample(Sample),
    Window(Window),
    EliminateDuplicates(EliminateDuplicates),
    DetectDuplicates(DetectDuplicates, AlertSpec),
    AlertCondition {
        condition: Box<dyn Expression>,
        alert: AlertSpec,
        filter: bool,
    },
    ActionCondition {
        condition: Box<dyn Expression>,
        action: ActionSpec,
        filter: bool,
    },
    /// `computedMetric`: replaces the value by the formula's.
    ComputedMetric(Box<dyn Expression>),
    Privacy(Privacy),
}

impl Step {
    /// The function id of the policy JSON, for error messages.
    fn id(&self) -> &'static str {
        match self {
            Step::Filter(_) => "filterCondition",
            Step::Sample(_) => "sampleQuality",
            Step::Window(w) => w.id(),
            Step::EliminateDuplicates(_) => "eliminateDuplicates",
            Step::DetectDuplicates(..) => "detectDuplicates",
            Step::AlertCondition { .. } => "alertCondition",
            Step::ActionCondition { .. } => "actionCondition",
            Step::ComputedMetric(_) => "computedMetric",
            Step::Privacy(_) => "privacyPolicy",
        }
    }
}

/// What a pipeline asks for besides values.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Effect {
    /// Raise an alert of format `urn` with these field values.
    Alert {
        urn: String,
        fields: Vec<(String, Value)>,
        severity: Severity,
    },
    /// Invoke the device's own action `name` with these arguments.
    Action { name: String, arguments: Vec<Value> },
}

/// What came out of a pipeline: values to send, each with its time, and
/// effects, in the order they happened.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Output {
    pub(crate) values: Vec<(Value, i64)>,
    pub(crate) effects: Vec<Effect>,
}

/// One attribute's pipeline.
#[derive(Debug)]
pub(crate) struct AttributePipeline {
    attribute: String,
    steps: Vec<Step>,
    /// The other attributes its formulas read: among values offered
    /// together, it runs after theirs (spec §7.2 `computedMetric`, §7.4).
    inputs: Vec<String>,
}

impl AttributePipeline {
    pub(crate) fn new(attribute: impl Into<String>, steps: Vec<Step>) -> Self {
        AttributePipeline {
            attribute: attribute.into(),
            steps,
            inputs: Vec::new(),
        }
    }

    /// The same, running after the other attributes `inputs` among values
    /// offered together.
    pub(crate) fn with_inputs(mut self, inputs: Vec<String>) -> Self {
        self.inputs = inputs;
        self
    }

    pub(crate) fn attribute(&self) -> &str {
        &self.attribute
    }

    pub(crate) fn inputs(&self) -> &[String] {
        &self.inputs
    }

    /// Runs `value`, offered at `now`, through the pipeline; windows that
    /// ended by `now` go first.
    ///
    /// # Errors
    ///
    /// A formula that cannot be evaluated or a value a function cannot
    /// take, naming the function. The steps before it have seen the value.
    pub(crate) fn offer(
        &mut self,
        now: i64,
        value: Value,
        values: &dyn AttributeValues,
    ) -> Result<Output, Error> {
        let mut out = self.expire(now, values)?;
        self.run(0, value, now, values, &mut out)?;
        Ok(out)
    }

    /// What windows that ended by `now` let out, through the functions
    /// after them.
    ///
    /// # Errors
    ///
    /// As [`AttributePipeline::offer`].
    pub(crate) fn expire(
        &mut self,
        now: i64,
        values: &dyn AttributeValues,
    ) -> Result<Output, Error> {
        let mut out = Output::default();
        for i in 0..self.steps.len() {
            let emitted = match &mut self.steps[i] {
                Step::Window(w) => w.expire(now),
                _ => continue,
            };
            for (x, end) in emitted {
                self.run(i + 1, Value::Number(x), end, values, &mut out)?;
            }
        }
        Ok(out)
    }

    /// The earliest time a window of this pipeline ends.
    pub(crate) fn deadline(&self) -> Option<i64> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Window(w) => w.deadline(),
                _ => None,
            })
            .min()
    }

    /// Runs `value` of time `time` through the steps from `first` on.
    fn run(
        &mut self,
        first: usize,
        mut value: Value,
        time: i64,
        base: &dyn AttributeValues,
        out: &mut Output,
    ) -> Result<(), Error> {
        for i in first..self.steps.len() {
            let attribute = self.attribute.as_str();
            let step = &mut self.steps[i];
            let id = step.id();
            let values = InProcess {
                attribute,
                value: &value,
                base,
            };
            let in_function = |e: Error| Error::argument(format!("{id} of {attribute:?}: {e}"));
            let next = match step {
                Step::Filter(condition) => {
                    (!condition.is_true(&values).map_err(in_function)?).then(|| value.clone())
                }
                Step::Sample(sample) => sample.pass().then(|| value.clone()),
                Step::Window(window) => {
                    let x = number(&value).map_err(in_function)?;
                    let emitted = window.offer(time, x);
                    for (x, end) in emitted {
                        self.run(i + 1, Value::Number(x), end, base, out)?;
                    }
                    None
                }
                Step::EliminateDuplicates(e) => e.pass(time, &value).then(|| value.clone()),
                Step::DetectDuplicates(d, alert) => {
                    if d.alert(time, &value) {
                        out.effects
                            .push(raise(alert, &values).map_err(in_function)?);
                    }
                    Some(value.clone())
                }
                Step::AlertCondition {
                    condition,
                    alert,
                    filter,
                } => {
                    let hit = condition.is_true(&values).map_err(in_function)?;
                    if hit {
                        out.effects
                            .push(raise(alert, &values).map_err(in_function)?);
                    }
                    (!(hit && *filter)).then(|| value.clone())
                }
                Step::ActionCondition {
                    condition,
                    action,
                    filter,
                } => {
                    let hit = condition.is_true(&values).map_err(in_function)?;
                    if hit {
                        out.effects
                            .push(invoke(action, &values).map_err(in_function)?);
                    }
                    (!(hit && *filter)).then(|| value.clone())
                }
                Step::ComputedMetric(formula) => Some(formula.value(&values).map_err(in_function)?),
                Step::Privacy(p) => Some(p.apply(&value).map_err(in_function)?),
            };
            match next {
                Some(v) => value = v,
                None => return Ok(()),
            }
        }
        out.values.push((value, time));
        Ok(())
    }
}

/// The alert `spec` asks for, its fields evaluated now.
fn raise(spec: &AlertSpec, values: &dyn AttributeValues) -> Result<Effect, Error> {
    let fields = spec
        .fields
        .iter()
        .map(|(name, e)| Ok((name.clone(), e.value(values)?)))
        .collect::<Result<_, Error>>()?;
    Ok(Effect::Alert {
        urn: spec.urn.clone(),
        fields,
        severity: spec.severity,
    })
}

/// The action `spec` asks for, its arguments evaluated now.
fn invoke(spec: &ActionSpec, values: &dyn AttributeValues) -> Result<Effect, Error> {
    let arguments = spec
        .arguments
        .iter()
        .map(|a| a.value(values))
        .collect::<Result<_, _>>()?;
    Ok(Effect::Action {
        name: spec.name.clone(),
        arguments,
    })
}

/// A window's input as a number.
fn number(value: &Value) -> Result<f64, Error> {
    match value {
        Value::Number(x) => Ok(*x),
        Value::Integer(i) | Value::DateTime(i) => Ok(*i as f64),
        other => Err(Error::argument(format!(
            "needs a number, not the {} {other:?}",
            other.value_type()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::expression::testing::{Closure, Values, number as num};
    use super::super::window::Aggregate;
    use super::*;

    fn none() -> Values {
        Values::default()
    }

    fn n(x: f64) -> Value {
        Value::Number(x)
    }

    fn alert(urn: &str) -> AlertSpec {
        AlertSpec {
            urn: urn.into(),
            fields: vec![(
                "temp".into(),
                Closure::new(|v| Ok(v.current("temp").unwrap())),
            )],
            severity: Severity::Normal,
        }
    }

    #[test]
    fn a_pipeline_without_functions_passes_values_at_their_time() {
        let mut p = AttributePipeline::new("temp", vec![]);
        let out = p.offer(5, n(1.0), &none()).unwrap();
        assert_eq!(out.values, vec![(n(1.0), 5)]);
        assert!(out.effects.is_empty());
    }

    #[test]
    fn filter_drops_values_whose_condition_is_true() {
        let mut p =
            AttributePipeline::new("temp", vec![Step::Filter(Closure::above("temp", 30.0))]);
        assert!(p.offer(0, n(31.0), &none()).unwrap().values.is_empty());
        assert_eq!(
            p.offer(1, n(29.0), &none()).unwrap().values,
            vec![(n(29.0), 1)]
        );
    }

    #[test]
    fn a_window_then_a_filter_filters_the_aggregate() {
        // mean over 1 s, then drop means above 30.
        let mut p = AttributePipeline::new(
            "temp",
            vec![
                Step::Window(Window::new(Aggregate::Mean, 1000, 0).unwrap()),
                Step::Filter(Closure::above("temp", 30.0)),
            ],
        );
        for (t, x) in [(0, 10.0), (100, 20.0)] {
            assert_eq!(p.offer(t, n(x), &none()).unwrap(), Output::default());
        }
        assert_eq!(p.deadline(), Some(1000));
        assert_eq!(
            p.expire(1000, &none()).unwrap().values,
            vec![(n(15.0), 1000)]
        );
        p.offer(1500, n(40.0), &none()).unwrap();
        assert_eq!(
            p.expire(2500, &none()).unwrap(),
            Output::default(),
            "a mean of 40 is filtered"
        );
    }

    #[test]
    fn the_next_offer_lets_out_an_expired_window_before_itself() {
        let mut p = AttributePipeline::new(
            "temp",
            vec![Step::Window(Window::new(Aggregate::Max, 100, 0).unwrap())],
        );
        p.offer(0, n(3.0), &none()).unwrap();
        let out = p.offer(150, n(1.0), &none()).unwrap();
        assert_eq!(out.values, vec![(n(3.0), 100)]);
    }

    #[test]
    fn alert_condition_raises_and_filters_by_default() {
        let mut p = AttributePipeline::new(
            "temp",
            vec![Step::AlertCondition {
                condition: Closure::above("temp", 30.0),
                alert: alert("urn:hot"),
                filter: true,
            }],
        );
        let out = p.offer(0, n(35.0), &none()).unwrap();
        assert!(out.values.is_empty());
        assert_eq!(
            out.effects,
            vec![Effect::Alert {
                urn: "urn:hot".into(),
                fields: vec![("temp".into(), n(35.0))],
                severity: Severity::Normal
            }]
        );
        let out = p.offer(1, n(20.0), &none()).unwrap();
        assert_eq!((out.values, out.effects), (vec![(n(20.0), 1)], vec![]));
    }

    #[test]
    fn alert_condition_without_filter_passes_the_value() {
        let mut p = AttributePipeline::new(
            "temp",
            vec![Step::AlertCondition {
                condition: Closure::above("temp", 30.0),
                alert: alert("urn:hot"),
                filter: false,
            }],
        );
        let out = p.offer(0, n(35.0), &none()).unwrap();
        assert_eq!(out.values, vec![(n(35.0), 0)]);
        assert_eq!(out.effects.len(), 1);
    }

    #[test]
    fn action_condition_evaluates_its_arguments() {
        let mut p = AttributePipeline::new(
            "temp",
            vec![Step::ActionCondition {
                condition: Closure::above("temp", 30.0),
                action: ActionSpec {
                    name: "cool".into(),
                    arguments: vec![Closure::new(|v| Ok(n(num(v.current("temp"))? - 30.0)))],
                },
                filter: false,
            }],
        );
        let out = p.offer(0, n(32.5), &none()).unwrap();
        assert_eq!(out.values, vec![(n(32.5), 0)]);
        assert_eq!(
            out.effects,
            vec![Effect::Action {
                name: "cool".into(),
                arguments: vec![n(2.5)]
            }]
        );
    }

    #[test]
    fn computed_metric_reads_other_attributes_and_privacy_hashes_the_result() {
        let mut values = none();
        values.last_known.insert("offset".into(), n(2.0));
        let plus_offset =
            Closure::new(|v| Ok(n(num(v.current("temp"))? + num(v.last_known("offset"))?)));
        let mut p = AttributePipeline::new(
            "temp",
            vec![
                Step::ComputedMetric(plus_offset),
                Step::Privacy(Privacy::new("one-way", None).unwrap()),
            ],
        );
        let out = p.offer(0, n(1.0), &values).unwrap();
        let expected = Privacy::new("one-way", None)
            .unwrap()
            .apply(&n(3.0))
            .unwrap();
        assert_eq!(out.values, vec![(expected, 0)]);
    }

    #[test]
    fn sample_and_duplicates_in_one_pipeline() {
        let mut p = AttributePipeline::new(
            "temp",
            vec![
                Step::EliminateDuplicates(EliminateDuplicates::new(1000).unwrap()),
                Step::Sample(Sample::with_seed(2, 1).unwrap()),
            ],
        );
        let sent: Vec<_> = [(0, 1.0), (1, 1.0), (2, 2.0), (3, 3.0), (4, 3.0), (5, 4.0)]
            .into_iter()
            .flat_map(|(t, x)| p.offer(t, n(x), &none()).unwrap().values)
            .collect();
        // Duplicates go first (1, 2, 3, 4 remain), then every second passes.
        assert_eq!(sent, vec![(n(2.0), 2), (n(4.0), 5)]);
    }

    #[test]
    fn detect_duplicates_passes_values_and_raises_once() {
        let mut p = AttributePipeline::new(
            "temp",
            vec![Step::DetectDuplicates(
                DetectDuplicates::new(1000).unwrap(),
                alert("urn:dup"),
            )],
        );
        let outs: Vec<_> = (0..3)
            .map(|t| p.offer(t, n(7.0), &none()).unwrap())
            .collect();
        assert!(outs.iter().all(|o| o.values.len() == 1));
        assert_eq!(outs.iter().map(|o| o.effects.len()).sum::<usize>(), 1);
    }

    #[test]
    fn failures_name_the_function_and_attribute() {
        let mut p = AttributePipeline::new(
            "label",
            vec![Step::Window(Window::new(Aggregate::Mean, 10, 0).unwrap())],
        );
        let e = p
            .offer(0, Value::String("x".into()), &none())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mean") && e.contains("label") && e.contains("STRING"),
            "{e}"
        );
        let mut p = AttributePipeline::new(
            "temp",
            vec![Step::Filter(Closure::new(|v| {
                Ok(n(num(v.current("other"))?))
            }))],
        );
        let e = p.offer(0, n(1.0), &none()).unwrap_err().to_string();
        assert!(e.contains("filterCondition"), "{e}");
    }
}
