//! `eliminateDuplicates` and `detectDuplicates` (spec §7.2).
//!
//! `eliminateDuplicates {window}`: a value equal to the last value that
//! passed, offered less than `window` ms after it passed, is dropped; once
//! the window is over an equal value passes again and opens a new window.
//!
//! `detectDuplicates {window, alert}`: every value passes; a value equal
//! to the one offered before it is a duplicate, and the first duplicate of
//! a window asks for the policy's alert. Later duplicates ask again only
//! once `window` ms have passed since that alert.
//!
//! No IO, no clock: callers pass `now` (epoch milliseconds).

use iotcs_core::{Error, Value};

fn check_window(id: &str, window: i64) -> Result<(), Error> {
    if window <= 0 {
        return Err(Error::argument(format!(
            "{id}: window must be a positive number of milliseconds, not {window}"
        )));
    }
    Ok(())
}

/// One `eliminateDuplicates` function's state.
#[derive(Debug)]
pub(crate) struct EliminateDuplicates {
    window: i64,
    /// The last value that passed and when.
    last: Option<(Value, i64)>,
}

impl EliminateDuplicates {
    /// # Errors
    ///
    /// [`Error::Argument`] if `window` is not positive.
    pub(crate) fn new(window: i64) -> Result<Self, Error> {
        check_window("eliminateDuplicates", window)?;
        Ok(EliminateDuplicates { window, last: None })
    }

    /// Whether `value`, offered at `now`, passes.
    pub(crate) fn pass(&mut self, now: i64, value: &Value) -> bool {
        if let Some((last, at)) = &self.last
            && last == value
            && now < at.saturating_add(self.window)
        {
            return false;
        }
        self.last = Some((value.clone(), now));
        true
    }
}

/// One `detectDuplicates` function's state.
#[derive(Debug)]
pub(crate) struct DetectDuplicates {
    window: i64,
    /// The value offered last.
    last: Option<Value>,
    /// When the last alert was asked for.
    alerted: Option<i64>,
}

impl DetectDuplicates {
    /// # Errors
    ///
    /// [`Error::Argument`] if `window` is not positive.
    pub(crate) fn new(window: i64) -> Result<Self, Error> {
        check_window("detectDuplicates", window)?;
        Ok(DetectDuplicates {
            window,
            last: None,
            alerted: None,
        })
    }

    /// Whether `value`, offered at `now`, should raise the policy's alert.
    /// The value itself always passes.
    pub(crate) fn alert(&mut self, now: i64, value: &Value) -> bool {
        let duplicate = self.last.as_ref() == Some(value);
        self.last = Some(value.clone());
        let quiet = self
            .alerted
            .is_some_and(|at| now < at.saturating_add(self.window));
        if duplicate && !quiet {
            self.alerted = Some(now);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_inside_the_window_are_dropped() {
        let mut e = EliminateDuplicates::new(1000).unwrap();
        let one = Value::Number(1.0);
        assert!(e.pass(0, &one));
        assert!(!e.pass(10, &one));
        assert!(!e.pass(999, &one));
        assert!(e.pass(1000, &one), "the window is over");
        assert!(!e.pass(1500, &one), "a new window opened at 1000");
    }

    #[test]
    fn a_different_value_passes_and_restarts_the_window() {
        let mut e = EliminateDuplicates::new(1000).unwrap();
        assert!(e.pass(0, &Value::Integer(1)));
        assert!(e.pass(10, &Value::Integer(2)));
        assert!(e.pass(20, &Value::Integer(1)));
        assert!(!e.pass(30, &Value::Integer(1)));
        // Values of another type are not equal.
        assert!(e.pass(40, &Value::Number(1.0)));
    }

    #[test]
    fn duplicates_raise_one_alert_per_window() {
        let mut d = DetectDuplicates::new(1000).unwrap();
        let a = Value::String("a".into());
        assert!(!d.alert(0, &a), "the first value is no duplicate");
        assert!(d.alert(10, &a));
        assert!(!d.alert(20, &a), "once per window");
        assert!(!d.alert(1009, &a));
        assert!(d.alert(1010, &a), "the next window");
    }

    #[test]
    fn only_consecutive_equal_values_are_duplicates() {
        let mut d = DetectDuplicates::new(1000).unwrap();
        assert!(!d.alert(0, &Value::Integer(1)));
        assert!(!d.alert(1, &Value::Integer(2)));
        assert!(!d.alert(2, &Value::Integer(1)));
        assert!(d.alert(3, &Value::Integer(1)));
    }

    #[test]
    fn a_window_must_be_positive() {
        let e = EliminateDuplicates::new(0).unwrap_err().to_string();
        assert!(e.contains("eliminateDuplicates"), "{e}");
        let e = DetectDuplicates::new(-5).unwrap_err().to_string();
        assert!(e.contains("detectDuplicates") && e.contains("-5"), "{e}");
    }
}
