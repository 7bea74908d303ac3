//! ISO-8601 date-times and epoch milliseconds.
//!
//! The protocol carries times as epoch milliseconds (`eventTime`, `created`,
//! DATETIME values), but Oracle's JavaScript library sends DATETIME values as
//! ISO-8601 strings such as `2020-09-13T12:26:40.000Z`, and models carry
//! `...AsString` companions. These two functions convert between the forms
//! with plain calendar arithmetic: no clock, no time-zone database, no
//! allocation beyond the output string.
//!
//! ```
//! use iotcs_core::__private::time::{format_iso8601, parse_iso8601};
//!
//! assert_eq!(parse_iso8601("2020-09-13T12:26:40Z"), Some(1_600_000_000_000));
//! assert_eq!(format_iso8601(1_600_000_000_000), "2020-09-13T12:26:40.000Z");
//! ```

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// Parses an ISO-8601 / RFC 3339 date-time into epoch milliseconds.
///
/// Accepted: `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by a zone, which is
/// `Z`, `±hh:mm` or `±hhmm`. The fraction may have any number of digits (also
/// after a `,`); digits beyond milliseconds are truncated. A year outside
/// 0000..=9999 uses the expanded form, a sign and at least six digits
/// (`+275760-09-13T00:00:00.000Z`), as JavaScript writes it. `T` and `Z` may
/// be lower case.
///
/// Rejected (returns `None`): a date without a time, a time without a zone
/// (its meaning would depend on the local zone, which the core cannot know),
/// impossible dates such as February 30th, hour 24, leap second 60, and any
/// trailing text.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let mut p = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let year = p.year()?;
    p.expect(b'-')?;
    let month = p.digits(2)?;
    p.expect(b'-')?;
    let day = p.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if !(p.eat(b'T') || p.eat(b't')) {
        return None;
    }
    let hour = p.digits(2)?;
    p.expect(b':')?;
    let minute = p.digits(2)?;
    let (second, millis) = if p.eat(b':') {
        let second = p.digits(2)?;
        let millis = if p.eat(b'.') || p.eat(b',') {
            p.fraction_millis()?
        } else {
            0
        };
        (second, millis)
    } else {
        (0, 0)
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset_ms = p.zone()?;
    if p.pos != p.bytes.len() {
        return None;
    }
    // i128 keeps the far ends of the i64 range from overflowing in the middle
    // of the sum; the final conversion rejects what really does not fit.
    let ms = i128::from(days_from_civil(year, month, day)) * i128::from(MS_PER_DAY)
        + i128::from(hour) * i128::from(MS_PER_HOUR)
        + i128::from(minute) * i128::from(MS_PER_MINUTE)
        + i128::from(second) * i128::from(MS_PER_SECOND)
        + i128::from(millis)
        - i128::from(offset_ms);
    i64::try_from(ms).ok()
}

/// Formats epoch milliseconds as ISO-8601 in UTC with milliseconds, the form
/// JavaScript's `Date.toISOString()` produces: `2020-09-13T12:26:40.000Z`.
///
/// Years outside 0000..=9999 use the expanded form with a sign and at least
/// six digits, which [`parse_iso8601`] reads back, so every `i64` round-trips.
pub fn format_iso8601(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let hour = in_day / MS_PER_HOUR;
    let minute = in_day % MS_PER_HOUR / MS_PER_MINUTE;
    let second = in_day % MS_PER_MINUTE / MS_PER_SECOND;
    let millis = in_day % MS_PER_SECOND;
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else if year < 0 {
        format!("-{:06}", year.unsigned_abs())
    } else {
        format!("+{year:06}")
    };
    format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// A byte cursor over the text being parsed.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<i64> {
        let mut v = 0i64;
        for _ in 0..n {
            let d = self.peek().filter(u8::is_ascii_digit)?;
            v = v * 10 + i64::from(d - b'0');
            self.pos += 1;
        }
        Some(v)
    }

    /// Four digits, or a sign and six to nine digits (nine is past what an
    /// `i64` of milliseconds can reach, so more could never be valid).
    fn year(&mut self) -> Option<i64> {
        let negative = match self.peek() {
            Some(b'+') => false,
            Some(b'-') => true,
            _ => return self.digits(4),
        };
        self.pos += 1;
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let len = self.pos - start;
        if !(6..=9).contains(&len) {
            return None;
        }
        self.pos = start;
        let v = self.digits(len)?;
        Some(if negative { -v } else { v })
    }

    /// One or more fraction digits, truncated to milliseconds.
    fn fraction_millis(&mut self) -> Option<i64> {
        let start = self.pos;
        let mut millis = 0;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            let index = self.pos - start;
            if index < 3 {
                millis += i64::from(d - b'0') * [100, 10, 1][index];
            }
            self.pos += 1;
        }
        (self.pos > start).then_some(millis)
    }

    /// `Z`, `±hh:mm` or `±hhmm`, as milliseconds east of UTC.
    fn zone(&mut self) -> Option<i64> {
        if self.eat(b'Z') || self.eat(b'z') {
            return Some(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let hours = self.digits(2)?;
        self.eat(b':');
        let minutes = self.digits(2)?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * (hours * MS_PER_HOUR + minutes * MS_PER_MINUTE))
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), valid for every year an `i64` of milliseconds reaches.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn formats_the_epoch_and_known_instants() {
        assert_eq!(format_iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_iso8601(1_600_000_000_000),
            "2020-09-13T12:26:40.000Z"
        );
        assert_eq!(
            format_iso8601(1_600_000_000_123),
            "2020-09-13T12:26:40.123Z"
        );
        assert_eq!(format_iso8601(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            format_iso8601(8_640_000_000_000_000),
            "+275760-09-13T00:00:00.000Z"
        );
        assert_eq!(
            format_iso8601(-62_198_755_200_000),
            "-000001-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn parses_utc_and_offsets() {
        assert_eq!(
            parse_iso8601("2020-09-13T12:26:40.000Z"),
            Some(1_600_000_000_000)
        );
        assert_eq!(
            parse_iso8601("2020-09-13t12:26:40z"),
            Some(1_600_000_000_000)
        );
        assert_eq!(
            parse_iso8601("2020-09-13T14:26:40+02:00"),
            Some(1_600_000_000_000)
        );
        assert_eq!(
            parse_iso8601("2020-09-13T14:26:40+0200"),
            Some(1_600_000_000_000)
        );
        assert_eq!(
            parse_iso8601("2020-09-13T07:56:40-04:30"),
            Some(1_600_000_000_000)
        );
        assert_eq!(parse_iso8601("2020-09-13T12:26Z"), Some(1_599_999_960_000));
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(
            parse_iso8601("+275760-09-13T00:00:00.000Z"),
            Some(8_640_000_000_000_000)
        );
    }

    #[test]
    fn fractions_of_any_length_truncate_to_milliseconds() {
        let base = 1_600_000_000_000;
        assert_eq!(parse_iso8601("2020-09-13T12:26:40.1Z"), Some(base + 100));
        assert_eq!(parse_iso8601("2020-09-13T12:26:40.12Z"), Some(base + 120));
        assert_eq!(parse_iso8601("2020-09-13T12:26:40.123Z"), Some(base + 123));
        assert_eq!(
            parse_iso8601("2020-09-13T12:26:40.123999999Z"),
            Some(base + 123)
        );
        assert_eq!(parse_iso8601("2020-09-13T12:26:40,5Z"), Some(base + 500));
    }

    #[test]
    fn rejects_malformed_and_impossible_input() {
        for bad in [
            "",
            "2020-09-13",
            "2020-09-13T12:26:40",
            "2020-09-13 12:26:40Z",
            "2020-09-13T12:26:40.Z",
            "2020-09-13T12:26:40Z ",
            " 2020-09-13T12:26:40Z",
            "2020-13-01T00:00:00Z",
            "2020-00-01T00:00:00Z",
            "2019-02-29T00:00:00Z",
            "2020-04-31T00:00:00Z",
            "2020-09-13T24:00:00Z",
            "2020-09-13T12:60:00Z",
            "2020-09-13T12:26:60Z",
            "2020-09-13T12:26:40+24:00",
            "2020-09-13T12:26:40+02",
            "20-09-13T12:26:40Z",
            "+2020-09-13T12:26:40Z",
            "+1234567890-01-01T00:00:00Z",
            "2020-9-13T12:26:40Z",
            "1600000000000",
            "yesterday",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad:?} should be rejected");
        }
        assert_eq!(
            parse_iso8601("2020-02-29T00:00:00Z"),
            Some(1_582_934_400_000)
        );
    }

    #[test]
    fn rejects_instants_beyond_i64_milliseconds() {
        assert_eq!(parse_iso8601("+999999999-12-31T23:59:59.999Z"), None);
        assert_eq!(parse_iso8601("-999999999-01-01T00:00:00Z"), None);
    }

    #[test]
    fn extreme_values_round_trip() {
        for ms in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, 0, -1, 1] {
            assert_eq!(parse_iso8601(&format_iso8601(ms)), Some(ms), "{ms}");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in any::<i64>()) {
            prop_assert_eq!(parse_iso8601(&format_iso8601(ms)), Some(ms));
        }

        #[test]
        fn offsets_shift_by_their_amount(
            ms in -8_000_000_000_000_000i64..8_000_000_000_000_000,
            hours in 0i64..24,
            minutes in 0i64..60,
            east in any::<bool>(),
        ) {
            // Write the instant as the wall-clock time of a zone at the given
            // offset; parsing must give back the same instant.
            let offset = (hours * 60 + minutes) * MS_PER_MINUTE * if east { 1 } else { -1 };
            let local = format_iso8601(ms + offset);
            let sign = if east { '+' } else { '-' };
            let text = format!("{}{sign}{hours:02}:{minutes:02}", &local[..local.len() - 1]);
            prop_assert_eq!(parse_iso8601(&text), Some(ms));
        }

        #[test]
        fn civil_round_trips(days in -100_000_000_000i64..100_000_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
