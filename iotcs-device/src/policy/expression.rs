//! The seam between the pipeline and the formula language: what a
//! `filterCondition`, `alertCondition`, `actionCondition`, `computedMetric`,
//! an alert field or an action argument needs from a parsed formula.
//!
//! The formula language lives in `iotcs-core` (parsed once when a policy
//! arrives); the pipeline sees it only through [`Expression`], so its
//! functions are tested here with plain closures.

use std::fmt;

use iotcs_core::{Error, Value};

/// The attribute values a formula reads.
pub(crate) trait AttributeValues {
    /// `$(name)`: the value being processed for `name`, if there is one.
    fn current(&self, name: &str) -> Option<Value>;
    /// `$$(name)`: the last value of `name` the cloud is known to have.
    fn last_known(&self, name: &str) -> Option<Value>;
}

/// A parsed formula.
pub(crate) trait Expression: fmt::Debug + Send + Sync {
    /// Its value: a NUMBER or a STRING.
    ///
    /// # Errors
    ///
    /// When an attribute it reads has no value, or an operand is not of a
    /// usable type; the message names the problem.
    fn value(&self, values: &dyn AttributeValues) -> Result<Value, Error>;

    /// Its truth, by the language's rules (a number other than 0, NaN or
    /// infinite; booleans are 1 and 0).
    ///
    /// # Errors
    ///
    /// As [`Expression::value`].
    fn is_true(&self, values: &dyn AttributeValues) -> Result<bool, Error>;
}

/// The values a pipeline step reads: the value in process for the
/// pipeline's attribute, everything else from `base`.
pub(crate) struct InProcess<'a> {
    pub(crate) attribute: &'a str,
    pub(crate) value: &'a Value,
    pub(crate) base: &'a dyn AttributeValues,
}

impl AttributeValues for InProcess<'_> {
    fn current(&self, name: &str) -> Option<Value> {
        if name == self.attribute {
            Some(self.value.clone())
        } else {
            self.base.current(name)
        }
    }

    fn last_known(&self, name: &str) -> Option<Value> {
        self.base.last_known(name)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Expressions from closures, for the pipeline's tests.

    use std::collections::HashMap;

    use super::*;

    type Eval = Box<dyn Fn(&dyn AttributeValues) -> Result<Value, Error> + Send + Sync>;

    /// An expression computed by a closure.
    pub(crate) struct Closure {
        eval: Eval,
    }

    impl fmt::Debug for Closure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Closure")
        }
    }

    impl Closure {
        pub(crate) fn new(
            eval: impl Fn(&dyn AttributeValues) -> Result<Value, Error> + Send + Sync + 'static,
        ) -> Box<Closure> {
            Box::new(Closure {
                eval: Box::new(eval),
            })
        }

        /// `$(attribute) > limit`.
        pub(crate) fn above(attribute: &'static str, limit: f64) -> Box<Closure> {
            Closure::new(move |v| {
                let x = number(v.current(attribute))?;
                Ok(Value::Number(if x > limit { 1.0 } else { 0.0 }))
            })
        }
    }

    pub(crate) fn number(value: Option<Value>) -> Result<f64, Error> {
        match value {
            Some(Value::Number(x)) => Ok(x),
            Some(Value::Integer(i)) => Ok(i as f64),
            other => Err(Error::argument(format!("not a number: {other:?}"))),
        }
    }

    impl Expression for Closure {
        fn value(&self, values: &dyn AttributeValues) -> Result<Value, Error> {
            (self.eval)(values)
        }

        fn is_true(&self, values: &dyn AttributeValues) -> Result<bool, Error> {
            Ok(match self.value(values)? {
                Value::Number(x) => x != 0.0 && x.is_finite(),
                Value::String(s) => !s.is_empty(),
                _ => false,
            })
        }
    }

    /// Attribute values from maps.
    #[derive(Default)]
    pub(crate) struct Values {
        pub(crate) current: HashMap<String, Value>,
        pub(crate) last_known: HashMap<String, Value>,
    }

    impl AttributeValues for Values {
        fn current(&self, name: &str) -> Option<Value> {
            self.current.get(name).cloned()
        }

        fn last_known(&self, name: &str) -> Option<Value> {
            self.last_known.get(name).cloned()
        }
    }
}
