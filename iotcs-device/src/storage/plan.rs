//! The transfer rules, without IO: how a file is cut into segments, what an
//! interrupted upload records so it can resume, what a resumed download
//! asks for, and what to do after each answer of the storage cloud. The
//! transfer thread (`transfer.rs`) does the IO and follows these rules.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// The size of one uploaded segment, and the size above which an upload is
/// segmented (Swift's large-object upload: segments under `<name>/`, then a
/// manifest). 8 MiB keeps the work redone after a cut small while costing
/// one request per 8 MiB.
pub(crate) const SEGMENT_SIZE: u64 = 8 * 1024 * 1024;

/// The buffer files are streamed through: memory does not grow with the
/// file.
pub(crate) const CHUNK_SIZE: usize = 64 * 1024;

/// How an upload of `length` bytes is cut.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct Plan {
    length: u64,
    segment_size: u64,
}

impl Plan {
    /// The plan for `length` bytes in segments of `segment_size` (at least 1).
    pub(crate) fn new(length: u64, segment_size: u64) -> Self {
        Plan {
            length,
            segment_size: segment_size.max(1),
        }
    }

    /// Whether the upload goes in segments plus a manifest rather than in
    /// one `PUT`.
    pub(crate) fn is_segmented(&self) -> bool {
        self.length > self.segment_size
    }

    /// How many segments (at least one: an empty file is one empty PUT).
    pub(crate) fn segments(&self) -> u64 {
        self.length.div_ceil(self.segment_size).max(1)
    }

    /// The byte range of segment `index`.
    pub(crate) fn segment(&self, index: u64) -> Range<u64> {
        let start = (index * self.segment_size).min(self.length);
        start..(start + self.segment_size).min(self.length)
    }

    /// The segment size in use.
    pub(crate) fn segment_size(&self) -> u64 {
        self.segment_size
    }
}

/// The name of segment `index` of object `name`: zero-padded so that name
/// order is upload order, which is the order the manifest concatenates.
pub(crate) fn segment_name(name: &str, index: u64) -> String {
    format!("{name}/{index:08}")
}

/// What an upload in progress records after each acknowledged segment, in
/// the device's state directory: enough to resume from the next segment
/// after a network cut or a restart, and to notice that the file changed
/// in between (then it starts over).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub(crate) struct UploadProgress {
    /// The object's full name (with its endpoint prefix).
    pub(crate) object: String,
    /// The file uploaded, as given to `set_input_path`.
    pub(crate) source: String,
    /// The file's length when the upload started.
    pub(crate) length: u64,
    /// The file's modification time (nanoseconds since the epoch) when the
    /// upload started.
    pub(crate) modified: u128,
    /// The segment size of the upload.
    pub(crate) segment_size: u64,
    /// Segments acknowledged by the storage cloud (201 with a matching
    /// ETag): the next one to send.
    pub(crate) segment: u64,
    /// Bytes acknowledged: `segment * segment_size`, capped at `length`.
    pub(crate) offset: u64,
}

impl UploadProgress {
    /// A fresh record for an upload that starts at the first segment.
    pub(crate) fn start(
        object: &str,
        source: &str,
        length: u64,
        modified: u128,
        plan: Plan,
    ) -> Self {
        UploadProgress {
            object: object.to_owned(),
            source: source.to_owned(),
            length,
            modified,
            segment_size: plan.segment_size(),
            segment: 0,
            offset: 0,
        }
    }

    /// Where an upload of `object` from `source`, now `length` bytes
    /// modified at `modified`, resumes given this record: the next segment,
    /// or `None` when the record is about another upload or the file
    /// changed (then it starts over).
    pub(crate) fn resume_at(
        &self,
        object: &str,
        source: &str,
        length: u64,
        modified: u128,
    ) -> Option<u64> {
        let same = self.object == object
            && self.source == source
            && self.length == length
            && self.modified == modified;
        let plan = Plan::new(self.length, self.segment_size);
        (same && self.segment <= plan.segments()).then_some(self.segment)
    }

    /// Records segment `index` as acknowledged.
    pub(crate) fn acknowledge(&mut self, index: u64) {
        let plan = Plan::new(self.length, self.segment_size);
        self.segment = index + 1;
        self.offset = plan.segment(index).end;
    }

    /// The plan this record follows.
    pub(crate) fn plan(&self) -> Plan {
        Plan::new(self.length, self.segment_size)
    }
}

/// The `Range` header of a download that already has `have` bytes, `None`
/// for a fresh one.
pub(crate) fn range_from(have: u64) -> Option<String> {
    (have > 0).then(|| format!("bytes={have}-"))
}

/// Whether a download answer resumes at `have`: a 206 whose
/// `Content-Range` starts there. A 200 sends the whole object again (the
/// partial file is then truncated); anything else is an error.
pub(crate) fn resumes_at(status: u16, content_range: Option<&str>, have: u64) -> Option<bool> {
    match status {
        200 => Some(false),
        206 => {
            let start = content_range
                .and_then(|r| r.trim().strip_prefix("bytes "))
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.trim().parse::<u64>().ok());
            (start == Some(have)).then_some(true)
        }
        _ => None,
    }
}

/// Whether the storage cloud's `ETag` names `md5` (lower-case hex). The
/// service answers the bare hex MD5 (protocol §9.1); quotes and case are
/// tolerated since they say the same.
pub(crate) fn etag_matches(etag: Option<&str>, md5: &str) -> bool {
    etag.is_some_and(|e| e.trim().trim_matches('"').eq_ignore_ascii_case(md5))
}

/// What the transfer does after one attempt at a request.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Next {
    /// It worked: go on.
    Proceed,
    /// Fetch a new storage token and try again (a 401 spends no attempt:
    /// refreshing is the cure, not a retry).
    RefreshToken,
    /// Try again: one attempt spent.
    Retry,
    /// Give up: `SYNC_FAILED`.
    Fail,
}

/// The outcome of one attempt, as `Attempts` sees it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Outcome {
    /// The expected status and, where there is one, a matching ETag.
    Success,
    /// 401: the storage token is refused.
    Unauthorized,
    /// A status worth retrying (5xx, 408, 429), no answer at all, or an
    /// ETag that does not match what was sent.
    Transient,
    /// A status that no retry changes (another 4xx), or a local file error.
    Permanent,
}

/// The attempts left at one request: `storage_connection_retry_limit`
/// retries after the first try, and at most that many token refreshes
/// (Java stops at its retry limit too, so a storage cloud that refuses
/// every token cannot keep a transfer looping).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempts {
    retries_left: u32,
    refreshes_left: u32,
}

impl Attempts {
    /// A budget of `retry_limit` retries and as many refreshes.
    pub(crate) fn new(retry_limit: u32) -> Self {
        Attempts {
            retries_left: retry_limit,
            refreshes_left: retry_limit.max(1),
        }
    }

    /// What to do after `outcome`, spending from the budget.
    pub(crate) fn after(&mut self, outcome: Outcome) -> Next {
        match outcome {
            Outcome::Success => Next::Proceed,
            Outcome::Permanent => Next::Fail,
            Outcome::Unauthorized if self.refreshes_left > 0 => {
                self.refreshes_left -= 1;
                Next::RefreshToken
            }
            Outcome::Unauthorized | Outcome::Transient if self.retries_left > 0 => {
                self.retries_left -= 1;
                Next::Retry
            }
            Outcome::Unauthorized | Outcome::Transient => Next::Fail,
        }
    }
}

/// The class of an HTTP status for `Attempts`, given the one that means
/// success.
pub(crate) fn classify(status: u16, success: &[u16]) -> Outcome {
    match status {
        s if success.contains(&s) => Outcome::Success,
        401 => Outcome::Unauthorized,
        408 | 429 | 500..=599 => Outcome::Transient,
        _ => Outcome::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_cut_into_fixed_segments_the_last_one_short() {
        let plan = Plan::new(25, 10);
        assert!(plan.is_segmented());
        assert_eq!(plan.segments(), 3);
        assert_eq!(plan.segment(0), 0..10);
        assert_eq!(plan.segment(2), 20..25);
        let small = Plan::new(10, 10);
        assert!(!small.is_segmented());
        assert_eq!(small.segments(), 1);
        assert_eq!(Plan::new(0, 10).segments(), 1);
        assert_eq!(Plan::new(0, 10).segment(0), 0..0);
    }

    #[test]
    fn segment_names_sort_in_upload_order() {
        let mut names: Vec<String> = [10, 2, 1].iter().map(|i| segment_name("o", *i)).collect();
        names.sort();
        assert_eq!(names, ["o/00000001", "o/00000002", "o/00000010"]);
    }

    #[test]
    fn an_upload_resumes_after_its_last_acknowledged_segment() {
        let plan = Plan::new(25, 10);
        let mut progress = UploadProgress::start("EP/o", "/f", 25, 7, plan);
        assert_eq!(progress.resume_at("EP/o", "/f", 25, 7), Some(0));
        progress.acknowledge(0);
        progress.acknowledge(1);
        assert_eq!(progress.offset, 20);
        assert_eq!(progress.resume_at("EP/o", "/f", 25, 7), Some(2));
        progress.acknowledge(2);
        assert_eq!(progress.offset, 25);
        // The record survives a restart as JSON.
        let json = serde_json::to_string(&progress).expect("serializable");
        let back: UploadProgress = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, progress);
    }

    #[test]
    fn a_changed_file_or_another_object_starts_over() {
        let mut progress = UploadProgress::start("EP/o", "/f", 25, 7, Plan::new(25, 10));
        progress.acknowledge(0);
        assert_eq!(progress.resume_at("EP/o", "/f", 26, 7), None, "length");
        assert_eq!(progress.resume_at("EP/o", "/f", 25, 8), None, "mtime");
        assert_eq!(progress.resume_at("EP/p", "/f", 25, 7), None, "object");
        assert_eq!(progress.resume_at("EP/o", "/g", 25, 7), None, "file");
    }

    #[test]
    fn a_download_resumes_only_where_the_answer_says() {
        assert_eq!(range_from(0), None);
        assert_eq!(range_from(5).as_deref(), Some("bytes=5-"));
        assert_eq!(resumes_at(206, Some("bytes 5-9/10"), 5), Some(true));
        assert_eq!(resumes_at(206, Some("bytes 4-9/10"), 5), None);
        assert_eq!(resumes_at(206, None, 5), None);
        assert_eq!(resumes_at(200, None, 5), Some(false));
        assert_eq!(resumes_at(416, None, 5), None);
    }

    #[test]
    fn etags_are_compared_as_bare_hex() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        assert!(etag_matches(Some(md5), md5));
        assert!(etag_matches(
            Some("\"D41D8CD98F00B204E9800998ECF8427E\""),
            md5
        ));
        assert!(!etag_matches(Some("0"), md5));
        assert!(!etag_matches(None, md5));
    }

    #[test]
    fn retries_follow_the_limit_and_a_401_refreshes_the_token() {
        let mut attempts = Attempts::new(2);
        assert_eq!(attempts.after(Outcome::Transient), Next::Retry);
        assert_eq!(attempts.after(Outcome::Unauthorized), Next::RefreshToken);
        assert_eq!(attempts.after(Outcome::Transient), Next::Retry);
        assert_eq!(attempts.after(Outcome::Transient), Next::Fail);
        let mut attempts = Attempts::new(0);
        assert_eq!(attempts.after(Outcome::Unauthorized), Next::RefreshToken);
        assert_eq!(attempts.after(Outcome::Unauthorized), Next::Fail);
        assert_eq!(Attempts::new(5).after(Outcome::Permanent), Next::Fail);
        assert_eq!(Attempts::new(5).after(Outcome::Success), Next::Proceed);
    }

    #[test]
    fn statuses_are_classified_for_retries() {
        assert_eq!(classify(201, &[201]), Outcome::Success);
        assert_eq!(classify(200, &[201]), Outcome::Permanent);
        assert_eq!(classify(401, &[201]), Outcome::Unauthorized);
        assert_eq!(classify(503, &[201]), Outcome::Transient);
        assert_eq!(classify(429, &[201]), Outcome::Transient);
        assert_eq!(classify(404, &[200, 206]), Outcome::Permanent);
    }
}
