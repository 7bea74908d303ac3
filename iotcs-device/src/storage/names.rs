//! Object names and URLs: which names are usable, how they go into a URL,
//! and the dates the storage cloud answers. No IO.

use iotcs_core::__private::time::format_iso8601;
use iotcs_core::Error;

/// Checks an object name: not empty, no control characters, no `.` or
/// `..` segment, no leading `/` (the storage URL is container + `/` +
/// name, and a `..` would leave the endpoint's directory).
///
/// # Errors
///
/// [`Error::Argument`] naming the rule.
pub(crate) fn check(name: &str) -> Result<(), Error> {
    let bad = |rule: &str| {
        Err(Error::argument(format!(
            "storage object name {name:?} {rule}"
        )))
    };
    if name.trim().is_empty() {
        return bad("is empty");
    }
    if name.chars().any(char::is_control) {
        return bad("has a control character");
    }
    if name.starts_with('/') || name.ends_with('/') {
        return bad("starts or ends with '/'");
    }
    if name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("has an empty, '.' or '..' segment");
    }
    Ok(())
}

/// `name` percent-encoded for a URL path, `/` kept.
pub(crate) fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~/:@!$&'()*+,;=".contains(&byte);
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `name` from its URL form (the inverse of [`encode`]); `None` when the
/// escapes are not valid UTF-8.
pub(crate) fn decode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = encoded.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The host of an `https://host:port/...` URL, without the port.
pub(crate) fn host_of(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

/// The last segment of the container URL: the container's name, which a
/// manifest's `X-Object-Manifest` starts with.
pub(crate) fn container_name(container_url: &str) -> &str {
    container_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) as ISO 8601; `None` when
/// it is not one.
pub(crate) fn iso_date(http_date: &str) -> Option<String> {
    let parts: Vec<&str> = http_date.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Bounded so that no answer can overflow the arithmetic below.
    if !(1..=9999).contains(&year) || !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(format_iso8601(
        ((days * 24 + h) * 60 + m) * 60_000 + s * 1000,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_their_directory_are_refused() {
        check("snapshots/cam 1.jpg").expect("valid");
        for bad in ["", " ", "/a", "a/", "a//b", "a/../b", ".", "a\nb"] {
            let e = check(bad).expect_err(bad);
            assert!(matches!(e, Error::Argument { .. }), "{bad:?}: {e}");
        }
    }

    #[test]
    fn names_round_trip_through_urls() {
        for name in ["EP-1/snap shot.jpg", "a/b%c?d#e", "ü/ñ"] {
            let encoded = encode(name);
            assert!(!encoded.contains([' ', '?', '#']), "{encoded}");
            assert_eq!(decode(&encoded).as_deref(), Some(name));
        }
        assert_eq!(decode("%zz"), None);
    }

    #[test]
    fn hosts_and_containers_are_read_from_urls() {
        assert_eq!(
            host_of("https://127.0.0.1:8443/v1/a/c/o"),
            Some("127.0.0.1")
        );
        assert_eq!(
            host_of("https://x.storage.oraclecloud.com/v1"),
            Some("x.storage.oraclecloud.com")
        );
        assert_eq!(host_of("https://[::1]:9/v1"), Some("::1"));
        assert_eq!(host_of("urn:x"), None);
        assert_eq!(container_name("https://h:1/v1/acct/images"), "images");
    }

    #[test]
    fn http_dates_become_iso_8601() {
        assert_eq!(
            iso_date("Sun, 06 Nov 1994 08:49:37 GMT").as_deref(),
            Some("1994-11-06T08:49:37.000Z")
        );
        assert_eq!(
            iso_date("Thu, 01 Jan 1970 00:00:00 GMT").as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(iso_date("yesterday"), None);
        assert_eq!(iso_date("Sun, 32 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(iso_date("Sun, 06 Nov 99999999999999999 08:49:37 GMT"), None);
        assert_eq!(
            iso_date("Sun, 06 Nov 1994 99999999999999999999:00:00 GMT"),
            None
        );
    }
}
