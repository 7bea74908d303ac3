//! Received (and sent) messages: checking a device's batch, storing it once
//! per `(source, clientId)`, and querying for the admin API.
//!
//! At most `max_messages` are kept (default 50 000); beyond that the oldest go
//! first, from memory at once and from the database with the last message of
//! their record (one record per stored batch).

use std::collections::{HashSet, VecDeque};

use iotcs_core::Value as CoreValue;
use iotcs_core::message::{Direction, MessageType};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::DomainError;
use super::State;
use super::incoming::Incoming;
use super::seen::Seen;
use crate::store::Table;

/// One stored message.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredMessage {
    /// Storage order.
    pub(crate) seq: u64,
    /// The message as the admin API serves it: the wire JSON plus the server
    /// fields `id`, `direction` and `receivedTime`. Kept as text: it is only
    /// read when the admin API lists messages, and a parsed tree costs
    /// several times the memory and time on every message received.
    pub(crate) json: Box<RawValue>,
    /// The device it is about: the source of a message from a device, the
    /// destination of one to a device.
    pub(crate) endpoint: String,
    pub(crate) message_type: String,
    pub(crate) direction: String,
    pub(crate) received_time: i64,
    /// The client's id, for messages from devices (duplicate detection).
    #[serde(default)]
    pub(crate) client_id: Option<String>,
}

impl StoredMessage {
    /// `(source, clientId)` of a message from a device.
    pub(crate) fn dedup_key(&self) -> Option<(&str, &str)> {
        let from_device = self.direction == Direction::FromDevice.as_str();
        self.client_id
            .as_deref()
            .filter(|_| from_device)
            .map(|c| (self.endpoint.as_str(), c))
    }
}

/// The filter of `GET /iot/api/v2/messages`.
#[derive(Clone, Debug, Default)]
pub(crate) struct MessageQuery {
    pub(crate) device: Option<String>,
    pub(crate) message_type: Option<MessageType>,
    pub(crate) direction: Option<Direction>,
    /// Received at or after, epoch ms.
    pub(crate) since: Option<i64>,
    /// Received at or before, epoch ms.
    pub(crate) until: Option<i64>,
    pub(crate) offset: usize,
    pub(crate) limit: usize,
}

/// The stored messages. Invariants: `log` is in arrival order (`seq`
/// increasing) and holds at most `Limits::max_messages` (the oldest go
/// first); `seen` holds the `(source, clientId)` of exactly the device
/// messages in `log`, so a resend is stored once; `next_seq` is above every
/// `seq` in `log`.
pub(crate) struct Messages {
    /// Stored messages, oldest first.
    pub(super) log: VecDeque<StoredMessage>,
    /// The `(source, clientId)` of the stored device messages.
    pub(super) seen: Seen,
    pub(super) next_seq: u64,
    /// The database records holding `log`, oldest first: the key (the first
    /// `seq` of the record) and the last `seq` in it. A record holds the
    /// messages stored together (a posted batch), so the database sees one
    /// write per batch instead of one per message; it is deleted once all
    /// its messages are evicted.
    pub(super) chunks: VecDeque<(u64, u64)>,
}

impl Messages {
    /// Whether a message `client_id` from `source` is stored already.
    fn contains(&self, source: &str, client_id: &str) -> bool {
        self.seen.contains(source, client_id, &self.log)
    }

    /// Appends a message (the newest), remembering its `(source,
    /// clientId)` and keeping `next_seq` above it.
    pub(super) fn push(&mut self, m: StoredMessage) {
        self.next_seq = self.next_seq.max(m.seq + 1);
        if let Some((source, client_id)) = m.dedup_key() {
            self.seen.insert(source, client_id, m.seq);
        }
        self.log.push_back(m);
    }

    /// Drops the oldest message and forgets its `(source, clientId)`.
    fn pop_oldest(&mut self) {
        let Some(old) = self.log.pop_front() else {
            return;
        };
        if let Some((source, client_id)) = old.dedup_key() {
            self.seen.remove(source, client_id, old.seq);
        }
    }
}

impl Default for Messages {
    fn default() -> Messages {
        Messages {
            log: VecDeque::new(),
            seen: Seen::default(),
            next_seq: 1,
            chunks: VecDeque::new(),
        }
    }
}

impl State {
    /// Checks a DATA or ALERT payload against the model that declares its
    /// format. Formats no model declares pass unchecked (a device may send
    /// data the server has no model for; the real service kept it too).
    /// Returns the values as validation read them (none when unchecked).
    fn check_payload(&self, m: &Incoming<'_>) -> Result<Vec<(String, CoreValue)>, DomainError> {
        let Some((format, data)) = m.format_and_data() else {
            return Ok(Vec::new());
        };
        let result = match format
            .strip_suffix(":attributes")
            .and_then(|urn| self.model(urn))
        {
            Some(model) => model.validate_attributes_json(&data),
            None => match self.format(format) {
                Some(f) => f.validate_data_json(&data),
                None => {
                    log::debug!("no model declares format {format}; storing unchecked");
                    Ok(Vec::new())
                }
            },
        };
        result.map_err(|e| DomainError::invalid(format!("format {format}: {e}")))
    }

    /// Stores a batch posted by the endpoint `caller`: every message must come
    /// from `caller` or a device registered through it (else 403) and match
    /// its model (else 400); then nothing is stored, otherwise everything not
    /// seen before. RESPONSE messages complete their requests. Returns how
    /// many messages were new.
    pub(crate) fn ingest<'a, M: Into<Incoming<'a>>>(
        &mut self,
        caller: &str,
        batch: impl IntoIterator<Item = M>,
        now: i64,
    ) -> Result<usize, DomainError> {
        let batch: Vec<Incoming<'a>> = batch.into_iter().map(Into::into).collect();
        let mut checked = Vec::with_capacity(batch.len());
        for (i, m) in batch.iter().enumerate() {
            if !self.may_send_as(caller, m.source()) {
                return Err(DomainError::forbidden(format!(
                    "message {i}: source {:?} is neither endpoint {caller} nor a device registered \
                     through it",
                    m.source()
                )));
            }
            checked.push(
                self.check_payload(m)
                    .map_err(|e| e.prefixed(&format!("message {i}")))?,
            );
        }
        let fresh = self.fresh(&batch);
        // RESPONSEs (rare, and never on the fast path) complete their
        // requests once stored.
        let responses: Vec<_> = batch
            .iter()
            .zip(&fresh)
            .filter(|(_, new)| **new)
            .filter_map(|(m, _)| Some((m.source().to_owned(), m.response()?.clone())))
            .collect();
        let mut records = Vec::with_capacity(batch.len());
        for ((m, values), new) in batch.into_iter().zip(checked).zip(fresh) {
            if !new {
                continue;
            }
            let id = iotcs_core::__private::uuid_v4().map_err(DomainError::from)?;
            records.push(StoredMessage {
                seq: self.messages.next_seq + records.len() as u64,
                endpoint: m.source().to_owned(),
                message_type: m.message_type().as_str().to_owned(),
                direction: Direction::FromDevice.as_str().to_owned(),
                received_time: now,
                client_id: Some(m.client_id().to_owned()),
                json: m.stored_json(id, now, &values)?,
            });
        }
        let stored = records.len();
        self.store_messages(records)?;
        for (source, r) in responses {
            self.complete_request(&source, &r, now)?;
        }
        Ok(stored)
    }

    /// Which messages of `batch` are new: not stored before, and not an
    /// earlier message of the same batch sent again.
    fn fresh(&self, batch: &[Incoming<'_>]) -> Vec<bool> {
        let mut in_batch = HashSet::with_capacity(batch.len());
        batch
            .iter()
            .map(|m| {
                let key = (m.source(), m.client_id());
                let new = !self.messages.contains(key.0, key.1) && in_batch.insert(key);
                if !new {
                    log::debug!(
                        "message {} from {} was stored before; ignoring the resend",
                        key.1,
                        key.0
                    );
                }
                new
            })
            .collect()
    }

    /// Stores one message (see [`State::store_messages`]).
    pub(super) fn store_message(&mut self, m: StoredMessage) -> Result<(), DomainError> {
        self.store_messages(vec![m])
    }

    /// Stores messages whose `seq`s follow on from `next_seq`, in one
    /// database record written before memory changes, then drops the
    /// oldest beyond the cap.
    pub(super) fn store_messages(&mut self, batch: Vec<StoredMessage>) -> Result<(), DomainError> {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(());
        };
        let chunk = (first.seq, last.seq);
        self.persist(Table::Messages, &chunk.0.to_be_bytes(), &batch)?;
        self.messages.chunks.push_back(chunk);
        for m in batch {
            self.messages.push(m);
        }
        self.evict_over_cap()
    }

    /// Drops the oldest messages beyond the cap, and the database records
    /// none of whose messages remain. Memory goes first here: a record
    /// whose deletion fails stays on disk and is dropped again at the next
    /// start (the cap applies when loading), never a message missing on
    /// disk that memory still serves.
    pub(super) fn evict_over_cap(&mut self) -> Result<(), DomainError> {
        while self.messages.log.len() > self.limits.max_messages {
            self.messages.pop_oldest();
        }
        let oldest = self.messages.log.front().map_or(u64::MAX, |m| m.seq);
        while let Some(&(key, last)) = self.messages.chunks.front()
            && last < oldest
        {
            self.unpersist(Table::Messages, &key.to_be_bytes())?;
            self.messages.chunks.pop_front();
        }
        Ok(())
    }

    /// Loads one database record of messages: an array of them, or (as
    /// written before records held batches) one message.
    pub(super) fn load_messages(&mut self, key: &[u8], record: &RawValue) {
        let text = record.get().trim_start();
        let batch = if text.starts_with('[') {
            serde_json::from_str::<Vec<StoredMessage>>(text)
        } else {
            serde_json::from_str::<StoredMessage>(text).map(|m| vec![m])
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                log::warn!("skipping an unreadable messages record {key:?}: {e}");
                return;
            }
        };
        if let (Some(first), Some(last)) = (batch.first(), batch.last()) {
            let key = key.try_into().map_or(first.seq, u64::from_be_bytes);
            self.messages.chunks.push_back((key, last.seq));
        }
        for m in batch {
            self.messages.push(m);
        }
    }

    /// Every stored message, oldest first (the console reads them).
    pub(crate) fn stored_messages(&self) -> impl DoubleEndedIterator<Item = &StoredMessage> {
        self.messages.log.iter()
    }

    /// The messages matching `q`, oldest first, and whether more match.
    pub(crate) fn query_messages(&self, q: &MessageQuery) -> (Vec<&RawValue>, bool) {
        let matches = self.messages.log.iter().filter(|m| {
            q.device.as_deref().is_none_or(|d| m.endpoint == d)
                && q.message_type.is_none_or(|t| m.message_type == t.as_str())
                && q.direction.is_none_or(|d| m.direction == d.as_str())
                && q.since.is_none_or(|s| m.received_time >= s)
                && q.until.is_none_or(|u| m.received_time <= u)
        });
        let mut page: Vec<&RawValue> = matches
            .skip(q.offset)
            .take(q.limit.saturating_add(1))
            .map(|m| &*m.json)
            .collect();
        let more = page.len() > q.limit;
        page.truncate(q.limit);
        (page, more)
    }
}

#[cfg(test)]
mod tests {
    use iotcs_core::message::Message;
    use iotcs_core::model::samples::TEMPERATURE_SENSOR_URN;

    use super::super::Limits;
    use super::super::test_support::{HttpStatus, limits, register_d};
    use super::*;

    fn setup(max_messages: usize) -> (State, String) {
        let mut s = State::new(
            Limits {
                max_messages,
                ..limits()
            },
            None,
            Vec::new(),
        )
        .unwrap();
        let id = register_d(&mut s);
        (s, id)
    }

    fn temp(source: &str, v: f64) -> Message {
        Message::data(
            source,
            format!("{TEMPERATURE_SENSOR_URN}:attributes"),
            [("temp", v)],
            5,
        )
        .unwrap()
    }

    #[test]
    fn resends_are_stored_once_and_the_cap_drops_the_oldest() {
        let (mut s, d) = setup(2);
        let m = temp(&d, 1.0);
        assert_eq!(s.ingest(&d, vec![m.clone(), m.clone()], 10).unwrap(), 1);
        assert_eq!(s.ingest(&d, vec![m.clone()], 11).unwrap(), 0);
        s.ingest(&d, vec![temp(&d, 2.0), temp(&d, 3.0)], 12)
            .unwrap();
        let q = MessageQuery {
            limit: 10,
            ..MessageQuery::default()
        };
        let (all, more) = s.query_messages(&q);
        assert_eq!((all.len(), more), (2, false));
        let all: Vec<serde_json::Value> = all
            .iter()
            .map(|raw| serde_json::from_str(raw.get()).unwrap())
            .collect();
        assert_eq!(all[0]["payload"]["data"]["temp"], 2.0);
        assert_eq!(all[0]["direction"], "FROM_DEVICE");
        assert_eq!(all[0]["receivedTime"], 12);
        // The first one was evicted, so its resend is new again.
        assert_eq!(s.ingest(&d, vec![m], 13).unwrap(), 1);
    }

    #[test]
    fn a_batch_is_one_record_removed_with_its_last_message_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let open = |max_messages| {
            let store = crate::store::Store::open(dir.path()).unwrap();
            let limits = Limits {
                max_messages,
                ..limits()
            };
            State::new(limits, Some(store), Vec::new()).unwrap()
        };
        let records = |s: &State| {
            let store = s.store.as_ref().unwrap();
            let all: Vec<(Vec<u8>, Box<RawValue>)> = store.load(Table::Messages).unwrap();
            all.len()
        };
        let mut s = open(3);
        let d = register_d(&mut s);
        let again = temp(&d, 4.0);
        s.ingest(&d, vec![temp(&d, 1.0), temp(&d, 2.0)], 10)
            .unwrap();
        s.ingest(&d, vec![temp(&d, 3.0), again.clone()], 11)
            .unwrap();
        assert_eq!(
            (s.messages.log.len(), records(&s)),
            (3, 2),
            "1 evicted, 2 kept"
        );
        s.ingest(&d, vec![temp(&d, 5.0)], 12).unwrap();
        assert_eq!((s.messages.log.len(), records(&s)), (3, 2), "2 evicted");
        drop(s);

        let mut s = open(2);
        let temps: Vec<f64> = s
            .stored_messages()
            .map(|m| {
                let v: serde_json::Value = serde_json::from_str(m.json.get()).unwrap();
                v["payload"]["data"]["temp"].as_f64().unwrap()
            })
            .collect();
        assert_eq!(temps, [4.0, 5.0], "the lower cap applies at start");
        assert_eq!(s.messages.chunks, [(3, 4), (5, 5)]);
        assert_eq!(s.ingest(&d, vec![again], 13).unwrap(), 0, "a resend");
        assert_eq!(s.messages.next_seq, 6);
    }

    #[test]
    fn a_record_of_one_message_as_written_before_batches_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let old = StoredMessage {
            seq: 7,
            json: RawValue::from_string(r#"{"type":"DATA"}"#.into()).unwrap(),
            endpoint: "E".into(),
            message_type: "DATA".into(),
            direction: Direction::FromDevice.as_str().into(),
            received_time: 1,
            client_id: Some("c".into()),
        };
        store
            .put(Table::Messages, &7u64.to_be_bytes(), &old)
            .unwrap();
        let s = State::new(limits(), Some(store), Vec::new()).unwrap();
        assert_eq!(s.messages.chunks, [(7, 7)]);
        assert!(s.messages.contains("E", "c"));
        assert_eq!(s.messages.next_seq, 8);
    }

    #[test]
    fn a_bad_message_stores_nothing_of_its_batch() {
        let (mut s, d) = setup(10);
        let wrong_type = Message::data(
            &d,
            format!("{TEMPERATURE_SENSOR_URN}:attributes"),
            [("temp", "hot")],
            5,
        )
        .unwrap();
        let e = s
            .ingest(&d, vec![temp(&d, 1.0), wrong_type], 10)
            .unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.detail().starts_with("message 1:"), "{}", e.detail());
        assert_eq!(
            s.ingest(&d, vec![temp("OTHER", 1.0)], 10)
                .unwrap_err()
                .status(),
            403
        );
        let q = MessageQuery {
            limit: 10,
            ..MessageQuery::default()
        };
        assert!(s.query_messages(&q).0.is_empty());
    }

    #[test]
    fn queries_filter_and_page() {
        let (mut s, d) = setup(10);
        for (i, now) in [(1.0, 100), (2.0, 200), (3.0, 300)] {
            s.ingest(&d, vec![temp(&d, i)], now).unwrap();
        }
        let page = |q: MessageQuery| s.query_messages(&q).0.len();
        let base = MessageQuery {
            limit: 10,
            ..MessageQuery::default()
        };
        assert_eq!(
            page(MessageQuery {
                since: Some(200),
                ..base.clone()
            }),
            2
        );
        assert_eq!(
            page(MessageQuery {
                until: Some(200),
                ..base.clone()
            }),
            2
        );
        assert_eq!(
            page(MessageQuery {
                device: Some("x".into()),
                ..base.clone()
            }),
            0
        );
        assert_eq!(
            page(MessageQuery {
                message_type: Some(MessageType::Alert),
                ..base.clone()
            }),
            0
        );
        assert_eq!(
            page(MessageQuery {
                offset: 2,
                ..base.clone()
            }),
            1
        );
        let (two, more) = s.query_messages(&MessageQuery { limit: 2, ..base });
        assert_eq!((two.len(), more), (2, true));
    }
}
