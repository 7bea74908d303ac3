//! What becomes of the messages of a `POST /iot/api/v2/messages`, by the
//! cloud's answer: the one table, applied by the sender ([`crate::messaging::sender`]).
//! No IO; the sender posts, this module decides.
//!
//! | The cloud's answer | Fate of the batch's messages |
//! |---|---|
//! | 2xx | delivered: listeners hear `delivered`, stored copies are deleted |
//! | 401 | [`crate::cloud::rest::RestClient::call`] fetches a new token and sends once more; 401 again: back off and retry |
//! | 403 or 404, the batch from one source that is not our own endpoint | rejected for good: the cloud no longer accepts that indirectly-connected device from us (it roamed to another gateway, or was deleted) |
//! | 400, 409, 413 or 422, the batch one message | rejected for good: the message is bad |
//! | 403, 404, 400, 409, 413 or 422, the batch from several sources | the culprit is looked for: one request per source, our own first (from more than [`MAX_SPLIT`] sources: two requests of half the sources each, split again if rejected) |
//! | 400, 409, 413 or 422, the batch from one source, several messages | the culprit is looked for: the batch is sent in halves |
//! | 403 or 404 for our own endpoint | back off and retry: it is about our identity, not about these messages (a 403 also gets a new token, at once or at the next attempt) |
//! | 408, 429, 5xx | back off and retry |
//! | any other status (3xx, another 4xx) | back off and retry: it says nothing about particular messages, and nothing is dropped on a guess |
//! | no connection, a timeout, a token refused | back off and retry |
//!
//! *Rejected for good*: the messages are removed from the queue and from the
//! store, and their listeners report the error, with the cloud's status and
//! detail, to the `on_error` of the virtual device that sent them (for a
//! message restored after a restart: of the matching virtual device of this
//! run, [`crate::messaging::restored`]). The messages beside and behind them go on.
//!
//! *Back off and retry*: the batch and those still to be tried go back to the
//! front of the queue with one retry spent each (`GUARANTEED_DELIVERY`
//! unlimited); messages out of retries are reported; the sender waits out
//! [`crate::messaging::backoff`]'s delay.
//!
//! A 403 condemns another source's messages only when the token it was sent
//! with is as good as can be had: just refreshed, or accepted by the cloud
//! for the last POST, with no retryable failure since. The sender sees to
//! that ([`refresh_on_403`]).

use std::borrow::Cow;

use iotcs_core::__private::protocol::StatusClass;
use iotcs_core::Error;

/// Where the messages of a batch come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sources {
    /// All from our own endpoint.
    Own,
    /// All from one other endpoint (an indirectly-connected device).
    Other,
    /// From more than one endpoint.
    Several,
}

/// What the sender does with a batch the cloud did not accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Back off and send again later.
    Retry,
    /// Send the messages of each source on their own.
    BySource,
    /// Send each half on its own.
    Halve,
    /// Give the messages up for good.
    Reject,
}

/// The fate of a batch of `len` messages from `sources` that failed with
/// `error` (see the module docs).
pub(crate) fn fate(error: &Error, sources: Sources, len: usize) -> Fate {
    let Some(status) = error.status_code() else {
        return Fate::Retry;
    };
    let class = StatusClass::of(status);
    let refuses_source = class == StatusClass::RefusesSource;
    let refuses_message = class == StatusClass::RefusesMessage;
    match sources {
        _ if !refuses_source && !refuses_message => Fate::Retry,
        Sources::Several => Fate::BySource,
        Sources::Own if refuses_source => Fate::Retry,
        Sources::Other if refuses_source => Fate::Reject,
        _ if len > 1 => Fate::Halve,
        _ => Fate::Reject,
    }
}

/// Whether a POST of a batch should fetch a new token and try again on 403.
/// Not when the cloud accepted the token in use for the last POST
/// (`vouched`), so that a 403 [`fate`] takes for another source's is never a
/// stale token's; nor for a batch from several sources, which a 403 only
/// splits. `sources` is asked only when it matters: reading them parses
/// every message.
pub(crate) fn refresh_on_403(vouched: bool, sources: impl FnOnce() -> Sources) -> bool {
    !vouched && sources() != Sources::Several
}

/// The most sources a rejected batch is split into at once, one request
/// each. A gateway's batch from more devices than that is split in two
/// halves of its sources instead (no source cut in two), and a half the
/// cloud rejects is split again: one bad device among 100 then costs about
/// 15 requests instead of 101.
pub(crate) const MAX_SPLIT: usize = 8;

/// The `source` of a message, read from its wire JSON; `None` if it has
/// none (the outbox wrote the JSON, so only a bug gets there).
pub(crate) fn source(wire: &str) -> Option<Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct Source<'a> {
        #[serde(borrow)]
        source: Cow<'a, str>,
    }
    serde_json::from_str::<Source<'_>>(wire)
        .ok()
        .map(|s| s.source)
}

/// Where the messages with wire JSON `wires` come from, `own` being our
/// endpoint id. A message whose source cannot be read counts as another
/// endpoint's: a 403 for it must not be taken for one about our identity.
pub(crate) fn sources<'a>(wires: impl Iterator<Item = &'a str>, own: Option<&str>) -> Sources {
    let mut first: Option<Option<Cow<'a, str>>> = None;
    for wire in wires {
        let source = source(wire);
        match &first {
            None => first = Some(source),
            Some(seen) if *seen != source => return Sources::Several,
            Some(_) => {}
        }
    }
    match first {
        Some(Some(source)) if Some(&*source) == own => Sources::Own,
        _ => Sources::Other,
    }
}

/// A rejected batch from several sources, in the parts to send on their
/// own: one per source (order kept within each), our own endpoint's first,
/// then the others in order of first appearance; or, from more than
/// [`MAX_SPLIT`] sources, two parts of half the sources each.
pub(crate) fn split_by_source<T>(
    items: Vec<T>,
    wire: impl Fn(&T) -> &str,
    own: Option<&str>,
) -> Vec<Vec<T>> {
    let mut groups: Vec<(Option<String>, Vec<T>)> = Vec::new();
    for item in items {
        let source = source(wire(&item)).map(Cow::into_owned);
        match groups.iter_mut().find(|(s, _)| *s == source) {
            Some((_, group)) => group.push(item),
            None => groups.push((source, vec![item])),
        }
    }
    // A stable sort: only our own group moves, to the front.
    groups.sort_by_key(|(source, _)| own.is_none() || source.as_deref() != own);
    let mut groups: Vec<Vec<T>> = groups.into_iter().map(|(_, group)| group).collect();
    if groups.len() > MAX_SPLIT {
        let second = groups.split_off(groups.len() / 2).into_iter().flatten();
        let first = groups.into_iter().flatten();
        return vec![first.collect(), second.collect()];
    }
    groups
}

/// The explanation of an error answer (the cloud's `detail`).
pub(crate) use crate::cloud::rest::detail;

#[cfg(test)]
#[cfg_attr(
    not(feature = "persistence"),
    allow(dead_code, reason = "the helpers of the durable tests")
)]
mod sender_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> Error {
        Error::Transport {
            status: s,
            method: "POST".into(),
            path: "/iot/api/v2/messages".into(),
            body: String::new(),
        }
    }

    #[test]
    fn the_table() {
        use Fate::*;
        use Sources::*;
        // (status, sources, len) → fate
        let cases = [
            (403, Other, 5, Reject),
            (404, Other, 1, Reject),
            (403, Own, 5, Retry),
            (404, Own, 1, Retry),
            (403, Several, 5, BySource),
            (404, Several, 2, BySource),
            (400, Several, 5, BySource),
            (422, Several, 2, BySource),
            (400, Own, 5, Halve),
            (409, Other, 2, Halve),
            (413, Own, 2, Halve),
            (400, Own, 1, Reject),
            (409, Other, 1, Reject),
            (413, Own, 1, Reject),
            (422, Own, 1, Reject),
            (401, Other, 1, Retry),
            (408, Other, 1, Retry),
            (429, Several, 5, Retry),
            (500, Other, 1, Retry),
            (503, Several, 5, Retry),
            (405, Other, 1, Retry),
            (415, Own, 1, Retry),
            (302, Own, 1, Retry),
        ];
        for (s, sources, len, expected) in cases {
            assert_eq!(
                fate(&status(s), sources, len),
                expected,
                "{s} {sources:?} {len}"
            );
        }
        for e in [
            Error::Timeout {
                operation: "POST".into(),
            },
            Error::Network {
                reason: "connection refused".into(),
                source: None,
            },
            Error::security("credentials refused"),
        ] {
            assert_eq!(fate(&e, Sources::Other, 1), Retry, "{e}");
        }
    }

    fn wire(source: &str, n: u32) -> String {
        format!(r#"{{"clientId":"c{n}","source":"{source}","type":"DATA"}}"#)
    }

    #[test]
    fn sources_and_groups() {
        let own = Some("GW");
        let batch: Vec<String> = [("X", 1), ("GW", 2), ("Y", 3), ("X", 4), ("GW", 5)]
            .iter()
            .map(|(s, n)| wire(s, *n))
            .collect();
        let of = |wires: &[String]| sources(wires.iter().map(String::as_str), own);
        assert_eq!(of(&batch), Sources::Several);
        assert_eq!(of(&[wire("GW", 1), wire("GW", 2)]), Sources::Own);
        assert_eq!(of(&[wire("X", 1), wire("X", 2)]), Sources::Other);
        assert_eq!(of(&["{}".to_owned()]), Sources::Other);
        assert_eq!(
            sources([wire("GW", 1)].iter().map(String::as_str), None),
            Sources::Other
        );
        let ids = |groups: Vec<Vec<String>>| -> Vec<Vec<String>> {
            groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|w| serde_json::from_str::<serde_json::Value>(w).unwrap())
                        .map(|v| v["clientId"].as_str().unwrap().to_owned())
                        .collect()
                })
                .collect()
        };
        assert_eq!(
            ids(split_by_source(batch.clone(), String::as_str, own)),
            [vec!["c2", "c5"], vec!["c1", "c4"], vec!["c3"]]
        );
        // Without our own among them the order of appearance stays.
        assert_eq!(
            ids(split_by_source(
                batch.clone(),
                String::as_str,
                Some("nobody")
            )),
            [vec!["c1", "c4"], vec!["c2", "c5"], vec!["c3"]]
        );
        // From more sources than MAX_SPLIT: two halves of whole sources.
        let many: Vec<String> = (0..20).map(|n| wire(&format!("S{}", n % 10), n)).collect();
        let halves = split_by_source(many, String::as_str, own);
        assert_eq!(halves.len(), 2);
        let sources_of = |half: &Vec<String>| -> Vec<String> {
            half.iter()
                .map(|w| source(w).unwrap().into_owned())
                .collect()
        };
        assert_eq!(
            sources_of(&halves[0]),
            ["S0", "S0", "S1", "S1", "S2", "S2", "S3", "S3", "S4", "S4"]
        );
        assert_eq!(halves[1].len(), 10);
        assert!(sources_of(&halves[1]).iter().all(|s| s >= &"S5".to_owned()));
    }

    #[test]
    fn a_refresh_on_403_unless_the_token_is_vouched_for_or_the_batch_is_mixed() {
        assert!(refresh_on_403(false, || Sources::Own));
        assert!(refresh_on_403(false, || Sources::Other));
        assert!(!refresh_on_403(false, || Sources::Several));
        assert!(!refresh_on_403(true, || unreachable!(
            "not read when vouched"
        )));
    }

    #[test]
    fn the_detail_of_a_problem_body() {
        assert_eq!(
            detail(br#"{"type":"about:blank","status":403,"detail":"not yours"}"#),
            "not yours"
        );
        assert_eq!(detail(b"<html>busy</html>"), "<html>busy</html>");
        assert_eq!(detail(&[b'x'; 500]).len(), 200);
    }
}
