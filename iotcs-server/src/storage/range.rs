//! The `Range` header of a `GET` (RFC 9110 §14): one byte range, no IO.

/// What a `Range` header asks of an object of a given length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeAsk {
    /// No usable range: send the whole object (200). A malformed header or
    /// one with several ranges lands here too: RFC 9110 lets a server ignore
    /// a `Range` it does not support, and Swift's clients only ask for one.
    Whole,
    /// Bytes `start..=end` (206).
    Part { start: u64, end: u64 },
    /// A well-formed range that lies outside the object (416).
    Unsatisfiable,
}

/// Reads `bytes=a-b`, `bytes=a-` or `bytes=-n` against an object of `len`
/// bytes; an end past the object is cut to its last byte.
pub(crate) fn parse(header: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = header
        .map(str::trim)
        .and_then(|h| h.strip_prefix("bytes="))
        .map(str::trim)
    else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeAsk::Whole;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // `-n`: the last n bytes.
        (true, false) => match number(last) {
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if len == 0 => RangeAsk::Unsatisfiable,
            Some(n) => RangeAsk::Part {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            None => RangeAsk::Whole,
        },
        // `a-`: from a to the end.
        (false, true) => match number(first) {
            Some(a) if a < len => RangeAsk::Part {
                start: a,
                end: len - 1,
            },
            Some(_) => RangeAsk::Unsatisfiable,
            None => RangeAsk::Whole,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a > b => RangeAsk::Whole,
            (Some(a), Some(_)) if a >= len => RangeAsk::Unsatisfiable,
            (Some(a), Some(b)) => RangeAsk::Part {
                start: a,
                end: b.min(len - 1),
            },
            _ => RangeAsk::Whole,
        },
        (true, true) => RangeAsk::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::RangeAsk::{Part, Unsatisfiable, Whole};
    use super::*;

    #[test]
    fn single_ranges_are_read_and_clamped() {
        assert_eq!(parse(Some("bytes=0-9"), 100), Part { start: 0, end: 9 });
        assert_eq!(parse(Some("bytes=90-"), 100), Part { start: 90, end: 99 });
        assert_eq!(parse(Some("bytes=-10"), 100), Part { start: 90, end: 99 });
        assert_eq!(parse(Some("bytes=-500"), 100), Part { start: 0, end: 99 });
        assert_eq!(
            parse(Some("bytes=95-200"), 100),
            Part { start: 95, end: 99 }
        );
        assert_eq!(parse(Some(" bytes= 1-1 "), 100), Part { start: 1, end: 1 });
    }

    #[test]
    fn ranges_outside_the_object_are_unsatisfiable() {
        assert_eq!(parse(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse(Some("bytes=100-200"), 100), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-5"), 0), Unsatisfiable);
    }

    #[test]
    fn anything_else_means_the_whole_object() {
        for h in [
            None,
            Some(""),
            Some("items=0-1"),
            Some("bytes=0-1,5-6"),
            Some("bytes=5-1"),
            Some("bytes=x-"),
            Some("bytes=-"),
            Some("bytes=7"),
        ] {
            assert_eq!(parse(h, 100), Whole, "{h:?}");
        }
    }
}
