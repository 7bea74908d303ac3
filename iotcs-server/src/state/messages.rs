//! Received (and sent) messages: checking a device's batch, storing it once
//! per `(source, clientId)`, and querying for the admin API.
//!
//! At most `max_messages` are kept (default 50 000); beyond that the oldest go
//! first, from memory and from the database.

use std::collections::{HashMap, HashSet, VecDeque};

use iotcs_core::Value as CoreValue;
use iotcs_core::message::{Direction, MessageType};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::DomainError;
use super::State;
use super::incoming::Incoming;
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
    /// The clientIds of stored device messages by source (nested so a
    /// look-up needs no allocation).
    pub(super) seen: HashMap<String, HashSet<String>>,
    pub(super) next_seq: u64,
}

impl Messages {
    /// Whether a message `client_id` from `source` is stored already.
    fn contains(&self, source: &str, client_id: &str) -> bool {
        self.seen
            .get(source)
            .is_some_and(|ids| ids.contains(client_id))
    }

    /// Appends a message (the newest), remembering its `(source,
    /// clientId)` and keeping `next_seq` above it.
    pub(super) fn push(&mut self, m: StoredMessage) {
        self.next_seq = self.next_seq.max(m.seq + 1);
        if let Some((source, client_id)) = m.dedup_key() {
            // Looked up before `entry`, which would copy the source's name
            // for every message.
            match self.seen.get_mut(source) {
                Some(ids) => ids.insert(client_id.to_owned()),
                None => self
                    .seen
                    .entry(source.to_owned())
                    .or_default()
                    .insert(client_id.to_owned()),
            };
        }
        self.log.push_back(m);
    }

    /// The oldest message when there are more than `max`.
    fn oldest_over(&self, max: usize) -> Option<&StoredMessage> {
        self.log.front().filter(|_| self.log.len() > max)
    }

    /// Drops the oldest message and forgets its `(source, clientId)`.
    fn pop_oldest(&mut self) {
        let Some(old) = self.log.pop_front() else {
            return;
        };
        if let Some((source, client_id)) = old.dedup_key()
            && let Some(ids) = self.seen.get_mut(source)
        {
            ids.remove(client_id);
            if ids.is_empty() {
                self.seen.remove(source);
            }
        }
    }
}

impl Default for Messages {
    fn default() -> Messages {
        Messages {
            log: VecDeque::new(),
            seen: HashMap::new(),
            next_seq: 1,
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
        let mut stored = 0;
        for (m, values) in batch.into_iter().zip(checked) {
            if self.messages.contains(m.source(), m.client_id()) {
                log::debug!(
                    "message {} from {} was stored before; ignoring the resend",
                    m.client_id(),
                    m.source()
                );
                continue;
            }
            let id = iotcs_core::__private::uuid_v4().map_err(DomainError::from)?;
            // A RESPONSE (rare, and never on the fast path) is cloned to
            // complete its request after the message is stored.
            let response = m.response().cloned();
            let record = StoredMessage {
                seq: self.messages.next_seq,
                endpoint: m.source().to_owned(),
                message_type: m.message_type().as_str().to_owned(),
                direction: Direction::FromDevice.as_str().to_owned(),
                received_time: now,
                client_id: Some(m.client_id().to_owned()),
                json: m.stored_json(id, now, &values)?,
            };
            let source = response.as_ref().map(|_| record.endpoint.clone());
            self.store_message(record)?;
            stored += 1;
            if let (Some(r), Some(source)) = (response, source) {
                self.complete_request(&source, &r, now)?;
            }
        }
        Ok(stored)
    }

    /// Stores one message and drops the oldest beyond the cap, on disk
    /// first, then in memory.
    pub(super) fn store_message(&mut self, m: StoredMessage) -> Result<(), DomainError> {
        self.persist(Table::Messages, &m.seq.to_be_bytes(), &m)?;
        self.messages.push(m);
        while let Some(old) = self.messages.oldest_over(self.limits.max_messages) {
            self.unpersist(Table::Messages, &old.seq.to_be_bytes())?;
            self.messages.pop_oldest();
        }
        Ok(())
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

    use super::super::test_support::{HttpStatus, limits};
    use super::super::{Limits, Registration};
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
        let id = s
            .register(
                Registration {
                    hardware_id: "D".into(),
                    ..Registration::default()
                },
                1,
            )
            .unwrap()
            .id
            .clone();
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
