//! One stored object's metadata (the sidecar file beside its bytes), the
//! rules for object names, and the HTTP date of `Last-Modified`.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::state::DomainError;

/// The longest object name, in bytes (Swift's limit).
pub(crate) const MAX_NAME_BYTES: usize = 1024;

/// What the sidecar `<key>.json` records about an object. The bytes live in
/// `data_file`, never here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObjectMeta {
    /// The object's name in the container, e.g. `<endpointId>/<name>`.
    pub(crate) name: String,
    /// The length of the stored bytes (0 for a manifest).
    pub(crate) bytes: u64,
    /// Lower-case hex MD5 of the stored bytes.
    pub(crate) hash: String,
    pub(crate) content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_encoding: Option<String>,
    /// Epoch milliseconds of the upload.
    pub(crate) last_modified_ms: i64,
    /// `X-Object-Meta-<key>` headers, keys lower case without the prefix.
    #[serde(default)]
    pub(crate) meta: BTreeMap<String, String>,
    /// For a manifest: the prefix (inside the container) of its segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) manifest: Option<String>,
    /// The file (in the objects directory) that holds the bytes.
    pub(crate) data_file: String,
}

/// Checks an object name: not empty, at most [`MAX_NAME_BYTES`], no NUL.
/// Names never become paths (files are named by a hash), so `..` is harmless.
pub(crate) fn check_name(name: &str) -> Result<(), DomainError> {
    if name.is_empty() {
        return Err(DomainError::invalid("the object name is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(DomainError::invalid(format!(
            "the object name is {} bytes long; the limit is {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    if name.contains('\0') {
        return Err(DomainError::invalid("the object name contains a NUL byte"));
    }
    Ok(())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file-name key of an object: hex MD5 of its name, so any name (slashes,
/// unicode, 1 KiB long) maps to a short safe file name. Two names with the
/// same MD5 would share a key; [`crate::storage::Storage`] checks the sidecar's
/// name and refuses the second rather than mixing them up.
pub(crate) fn key_of(name: &str) -> String {
    hex(&Md5::digest(name.as_bytes()))
}

/// Swift's ETag of a dynamic large object: the MD5 of the concatenated hex
/// ETags of its segments, in quotes (Swift quotes it to say it is not the
/// MD5 of the content).
pub(crate) fn manifest_etag<'a>(segment_hashes: impl Iterator<Item = &'a str>) -> String {
    let mut md5 = Md5::new();
    for h in segment_hashes {
        md5.update(h.as_bytes());
    }
    format!("\"{}\"", hex(&md5.finalize()))
}

/// An HTTP date (RFC 9110 IMF-fixdate), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    format!(
        "{weekday}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month (1-12), day of the proleptic Gregorian calendar for days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn names_are_checked_and_keyed_safely() {
        assert!(check_name("dev/a.jpg").is_ok());
        assert!(check_name("../../etc/passwd").is_ok(), "never a path");
        assert!(check_name("").is_err());
        assert!(check_name("a\0b").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_BYTES + 1)).is_err());
        assert_eq!(key_of(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(key_of("a/b").len(), 32);
    }

    #[test]
    fn a_manifest_etag_is_swifts_quoted_md5_of_the_segment_etags() {
        // md5("") quoted for no segments; md5("ab") for segments "a", "b".
        assert_eq!(
            manifest_etag(std::iter::empty()),
            "\"d41d8cd98f00b204e9800998ecf8427e\""
        );
        assert_eq!(
            manifest_etag(["a", "b"].into_iter()),
            "\"187ef4436122d1cc2f40dc2b92f0eba0\""
        );
    }
}
