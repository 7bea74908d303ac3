//! The inclusive numeric range of an INTEGER or NUMBER attribute or argument.

use std::fmt;

use crate::error::Error;

/// An inclusive range `min..=max` of finite numbers, written `"min,max"` in
/// device-model JSON (e.g. `"-90.0,90.0"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    min: f64,
    max: f64,
}

impl Range {
    /// A range from `min` to `max`, both included.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] when a bound is NaN or infinite, or `min > max`.
    pub fn new(min: f64, max: f64) -> Result<Range, Error> {
        if !min.is_finite() || !max.is_finite() {
            return Err(Error::argument(format!(
                "range bounds must be finite numbers; got {min},{max}"
            )));
        }
        if min > max {
            return Err(Error::argument(format!(
                "range minimum {min} is greater than its maximum {max}"
            )));
        }
        Ok(Range { min, max })
    }

    /// Reads the model form `"min,max"`; spaces around either number are
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] when the text is not two finite numbers separated
    /// by a comma, or the minimum is greater than the maximum.
    pub fn parse(s: &str) -> Result<Range, Error> {
        let bound = |t: &str| t.trim().parse::<f64>().ok().filter(|f| f.is_finite());
        let parsed = s
            .split_once(',')
            .and_then(|(lo, hi)| Some((bound(lo)?, bound(hi)?)));
        let Some((min, max)) = parsed else {
            return Err(Error::argument(format!(
                "range {s:?} is not two finite numbers separated by a comma (\"min,max\")"
            )));
        };
        Range::new(min, max)
    }

    /// The smallest allowed value.
    pub fn min(&self) -> f64 {
        self.min
    }

    /// The largest allowed value.
    pub fn max(&self) -> f64 {
        self.max
    }

    /// Whether `v` lies within the range, bounds included (NaN never does).
    pub fn contains(&self, v: f64) -> bool {
        self.min <= v && v <= self.max
    }

    /// The model form `"min,max"`, which [`Range::parse`] reads back exactly.
    pub fn to_model_string(&self) -> String {
        // f64's Display prints the shortest text that parses back to the same
        // number, without an exponent.
        format!("{},{}", self.min, self.max)
    }
}

/// `min..max`, as in error messages: `0..100`.
impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_the_model_form() {
        let r = Range::parse("-90.0,90.0").unwrap();
        assert_eq!((r.min(), r.max()), (-90.0, 90.0));
        assert_eq!(
            Range::parse(" 0 , 100 ").unwrap(),
            Range::new(0.0, 100.0).unwrap()
        );
        assert_eq!(Range::parse("5,5").unwrap().to_string(), "5..5");
        assert_eq!(
            Range::parse("-1e3,1.5").unwrap().to_model_string(),
            "-1000,1.5"
        );
    }

    #[test]
    fn rejects_bad_ranges_naming_the_text() {
        for bad in ["", "5", "a,b", "1,2,3", ",5", "5,", "NaN,1", "0,inf", "1;2"] {
            let e = Range::parse(bad).unwrap_err();
            assert!(
                e.to_string().contains(&format!("{bad:?}")) || e.to_string().contains("finite"),
                "{bad}: {e}"
            );
        }
        let e = Range::parse("10,0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument: range minimum 10 is greater than its maximum 0"
        );
        assert!(Range::new(f64::NAN, 1.0).is_err());
    }

    #[test]
    fn contains_is_inclusive() {
        let r = Range::new(0.0, 1.0).unwrap();
        assert!(r.contains(0.0) && r.contains(1.0) && r.contains(0.5));
        assert!(!r.contains(-0.000_001) && !r.contains(1.000_001) && !r.contains(f64::NAN));
    }

    proptest! {
        #[test]
        fn model_string_round_trips(a in any::<f64>(), b in any::<f64>()) {
            prop_assume!(a.is_finite() && b.is_finite());
            let r = Range::new(a.min(b), a.max(b)).unwrap();
            prop_assert_eq!(Range::parse(&r.to_model_string()).unwrap(), r);
        }
    }
}
