//! Requests to devices (attribute changes, actions): queued by the admin API,
//! delivered exactly once in the body of the endpoint's next `POST /messages`
//! (within its `acceptBytes`), completed by the device's RESPONSE, or expired.

use std::collections::{BTreeMap, HashMap};

use iotcs_core::__private::time::format_iso8601;
use iotcs_core::message::{Direction, Headers, Message, Priority, ResponsePayload};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::DomainError;
use super::{State, StoredMessage};
use crate::store::Table;

/// Where a request to a device is in its life, as
/// `GET /iot/api/v2/requests/{id}` reports it.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum RequestStatus {
    /// Queued, not yet delivered.
    Received,
    /// Delivered to the device (or its gateway), not yet answered.
    Dispatched,
    /// Answered with a 2xx status.
    Completed,
    /// Answered with another status.
    Failed,
    /// Not delivered or not answered in time.
    Expired,
}

impl RequestStatus {
    /// The wire name, e.g. `DISPATCHED`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Received => "RECEIVED",
            RequestStatus::Dispatched => "DISPATCHED",
            RequestStatus::Completed => "COMPLETED",
            RequestStatus::Failed => "FAILED",
            RequestStatus::Expired => "EXPIRED",
        }
    }

    fn is_open(self) -> bool {
        matches!(self, RequestStatus::Received | RequestStatus::Dispatched)
    }
}

/// The device's answer.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResponseInfo {
    pub(crate) status_code: u16,
    pub(crate) headers: Value,
    /// The decoded body: JSON when it parses as JSON, else text.
    pub(crate) body: Value,
}

/// One request to a device.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestRecord {
    pub(crate) id: String,
    /// Delivery order.
    pub(crate) seq: u64,
    /// The target endpoint (a directly-connected device, a gateway or an ICD).
    pub(crate) endpoint_id: String,
    /// The effective method (`PUT`, `PATCH`, `POST`; any of `GET`, `PUT`, `POST`, `DELETE` for a resource request).
    pub(crate) method: String,
    pub(crate) url: String,
    /// The request body as JSON.
    pub(crate) body: Value,
    /// The REQUEST message exactly as delivered.
    pub(crate) wire: String,
    pub(crate) status: RequestStatus,
    pub(crate) created: i64,
    #[serde(default)]
    pub(crate) dispatched: Option<i64>,
    #[serde(default)]
    pub(crate) completed: Option<i64>,
    #[serde(default)]
    pub(crate) response: Option<ResponseInfo>,
}

impl RequestRecord {
    /// The request as `GET /iot/api/v2/requests/{id}` shows it.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "requestId": self.id,
            "endpointId": self.endpoint_id,
            "status": self.status.as_str(),
            "complete": !self.status.is_open(),
            "requestMethod": self.method,
            "requestUrl": self.url,
            "requestBody": self.body,
            "created": self.created,
            "createdAsString": format_iso8601(self.created),
        });
        if let Value::Object(m) = &mut v {
            if let Some(t) = self.dispatched {
                m.insert("dispatched".into(), t.into());
            }
            if let Some(t) = self.completed {
                m.insert("completed".into(), t.into());
            }
            if let Some(r) = &self.response {
                m.insert("response".into(), json!(r));
                m.insert("responseStatusCode".into(), r.status_code.into());
            }
        }
        v
    }
}

/// What a `POST /messages` delivers.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    /// The REQUEST messages' JSON, in order.
    pub(crate) messages: Vec<String>,
    /// Set when the next pending request did not fit in `acceptBytes`: its size.
    pub(crate) min_accept_bytes: Option<usize>,
}

impl Delivery {
    /// The response body: a compact JSON array.
    pub(crate) fn body(&self) -> String {
        format!("[{}]", self.messages.join(","))
    }
}

/// A request to queue: what the admin API asked for, checked against the model.
#[derive(Debug)]
pub(crate) struct NewRequest<'a> {
    /// The target endpoint.
    pub(crate) endpoint_id: &'a str,
    /// The REQUEST's `source`: the application id, or [`SERVER_SOURCE`].
    pub(crate) source: &'a str,
    /// The effective method (`PUT`, `PATCH`, `POST`; any of `GET`, `PUT`, `POST`, `DELETE` for a resource request).
    pub(crate) method: &'a str,
    /// Send as POST with `x-http-method-override: ["PATCH"]`, which both of
    /// Oracle's clients understand.
    pub(crate) patch_override: bool,
    pub(crate) url: String,
    pub(crate) body: Value,
}

/// The source of requests when no application id is given.
pub(crate) const SERVER_SOURCE: &str = "iotcs-server";

/// The requests to devices. Invariants: `pending` holds exactly the
/// requests in `by_id` whose status is `RECEIVED`, by `seq`, so they are
/// delivered in the order they were made and each once; `next_seq` is above
/// every `seq` in `by_id`.
pub(crate) struct Requests {
    /// Requests to devices by id.
    pub(super) by_id: HashMap<String, RequestRecord>,
    /// Request ids not yet delivered, by sequence number (delivery order).
    pub(super) pending: BTreeMap<u64, String>,
    pub(super) next_seq: u64,
}

impl Requests {
    /// Adds or replaces a record, keeping `pending` to the `RECEIVED` ones
    /// and `next_seq` above every record.
    pub(super) fn insert(&mut self, record: RequestRecord) {
        self.next_seq = self.next_seq.max(record.seq + 1);
        if record.status == RequestStatus::Received {
            self.pending.insert(record.seq, record.id.clone());
        } else {
            self.pending.remove(&record.seq);
        }
        self.by_id.insert(record.id.clone(), record);
    }
}

impl Default for Requests {
    fn default() -> Requests {
        Requests {
            by_id: HashMap::new(),
            pending: BTreeMap::new(),
            next_seq: 1,
        }
    }
}

impl State {
    /// Queues a request for its endpoint.
    pub(crate) fn queue_request(
        &mut self,
        new: NewRequest<'_>,
        now: i64,
    ) -> Result<&RequestRecord, DomainError> {
        let NewRequest {
            endpoint_id,
            source,
            method,
            patch_override,
            url,
            body,
        } = new;
        let mut headers = Headers::new();
        let wire_method = if patch_override {
            headers.insert(
                "x-http-method-override".to_owned(),
                vec!["PATCH".to_owned()],
            );
            "POST"
        } else {
            method
        };
        let bytes = body.to_string().into_bytes();
        let message = Message::request(endpoint_id, source, wire_method, &url, headers, bytes, now)
            .map_err(DomainError::from)?
            .with_priority(Priority::Highest);
        let id = message.id().unwrap_or_default().to_owned();
        let record = RequestRecord {
            id: id.clone(),
            seq: self.requests.next_seq,
            endpoint_id: endpoint_id.to_owned(),
            method: method.to_owned(),
            url: url.clone(),
            body,
            wire: message.to_json(),
            status: RequestStatus::Received,
            created: now,
            dispatched: None,
            completed: None,
            response: None,
        };
        self.persist(Table::Requests, id.as_bytes(), &record)?;
        let logged = message
            .with_direction(Direction::ToDevice)
            .with_received_time(now);
        let json = serde_json::value::RawValue::from_string(logged.to_json())
            .map_err(|e| DomainError::internal(format!("cannot re-read a request: {e}")))?;
        self.store_message(StoredMessage {
            seq: self.messages.next_seq,
            json,
            endpoint: endpoint_id.to_owned(),
            message_type: "REQUEST".to_owned(),
            direction: Direction::ToDevice.as_str().to_owned(),
            received_time: now,
            client_id: None,
        })?;
        log::info!("queued request {id}: {method} {url} for {endpoint_id}");
        self.requests.insert(record);
        Ok(&self.requests.by_id[&id])
    }

    fn save_request(&mut self, record: RequestRecord) -> Result<(), DomainError> {
        self.persist(Table::Requests, record.id.as_bytes(), &record)?;
        self.requests.insert(record);
        Ok(())
    }

    /// Marks open requests older than the expiry as expired.
    fn expire_requests(&mut self, now: i64) -> Result<(), DomainError> {
        let limit = self.limits.request_expiry_ms;
        let expired: Vec<RequestRecord> = self
            .requests
            .by_id
            .values()
            .filter(|r| r.status.is_open() && now.saturating_sub(r.created) >= limit)
            .cloned()
            .collect();
        for mut r in expired {
            log::info!(
                "request {} for {} expired ({})",
                r.id,
                r.endpoint_id,
                r.status.as_str()
            );
            r.status = RequestStatus::Expired;
            r.completed = Some(now);
            self.save_request(r)?;
        }
        Ok(())
    }

    /// Takes the requests waiting for `caller`, oldest first, as many as fit
    /// in `accept_bytes` (the JSON of the messages and the commas between
    /// them, the brackets not counted, as Oracle's clients compute it).
    pub(crate) fn take_pending(
        &mut self,
        caller: &str,
        accept_bytes: Option<usize>,
        now: i64,
    ) -> Result<Delivery, DomainError> {
        self.expire_requests(now)?;
        let mut delivery = Delivery::default();
        let mut used = 0usize;
        let ids: Vec<String> = self.requests.pending.values().cloned().collect();
        for id in ids {
            let Some(record) = self.requests.by_id.get(&id) else {
                continue;
            };
            if self.mailbox(&record.endpoint_id) != caller {
                continue;
            }
            let size = record.wire.len() + usize::from(!delivery.messages.is_empty());
            if accept_bytes.is_some_and(|limit| used + size > limit) {
                if delivery.messages.is_empty() {
                    delivery.min_accept_bytes = Some(record.wire.len());
                }
                break;
            }
            used += size;
            let mut record = record.clone();
            record.status = RequestStatus::Dispatched;
            record.dispatched = Some(now);
            delivery.messages.push(record.wire.clone());
            log::debug!("delivering request {id} to {caller}");
            self.save_request(record)?;
        }
        Ok(delivery)
    }

    /// Records a device's RESPONSE from `source`.
    pub(super) fn complete_request(
        &mut self,
        source: &str,
        response: &ResponsePayload,
        now: i64,
    ) -> Result<(), DomainError> {
        let id = response.request_id();
        let Some(record) = self.requests.by_id.get(id) else {
            log::debug!("response from {source} to unknown request {id:?}");
            return Ok(());
        };
        if record.endpoint_id != source {
            log::warn!(
                "{source} answered request {id}, which was sent to {}; ignored",
                record.endpoint_id
            );
            return Ok(());
        }
        if !record.status.is_open() {
            log::debug!(
                "request {id} answered again ({}); keeping the first answer",
                record.status.as_str()
            );
            return Ok(());
        }
        let text = String::from_utf8_lossy(response.body()).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let status_code = response.status_code();
        let mut record = record.clone();
        record.status = if (200..300).contains(&status_code) {
            RequestStatus::Completed
        } else {
            RequestStatus::Failed
        };
        record.completed = Some(now);
        record.response = Some(ResponseInfo {
            status_code,
            headers: json!(response.headers()),
            body,
        });
        log::info!("request {id} answered {status_code} by {source}");
        self.save_request(record)
    }

    /// The request with this id, expiry applied.
    pub(crate) fn request(
        &mut self,
        id: &str,
        now: i64,
    ) -> Result<Option<&RequestRecord>, DomainError> {
        self.expire_requests(now)?;
        Ok(self.requests.by_id.get(id))
    }
}

#[cfg(test)]
mod tests {
    use iotcs_core::message::{Headers, Message};
    use serde_json::json;

    use super::super::test_support::{limits, register_d, state};
    use super::super::{Limits, State};
    use super::*;

    /// A state with an activated device `D` (returned id).
    fn with_device(s: &mut State) -> String {
        let id = register_d(s);
        s.activate_direct(&id, b"k", Vec::new(), 1).unwrap();
        id
    }

    fn queue(s: &mut State, id: &str, n: i64, now: i64) -> String {
        let new = NewRequest {
            endpoint_id: id,
            source: SERVER_SOURCE,
            method: "POST",
            patch_override: false,
            url: "deviceModels/urn:x/actions/a".into(),
            body: json!({"value": n}),
        };
        s.queue_request(new, now).unwrap().id.clone()
    }

    #[test]
    fn pending_holds_exactly_the_received_requests_and_next_seq_stays_ahead() {
        let mut r = Requests::default();
        let record = |id: &str, seq: u64, status: RequestStatus| RequestRecord {
            id: id.into(),
            seq,
            endpoint_id: "D".into(),
            method: "POST".into(),
            url: "u".into(),
            body: json!({}),
            wire: String::new(),
            status,
            created: 0,
            dispatched: None,
            completed: None,
            response: None,
        };
        r.insert(record("a", 7, RequestStatus::Received));
        r.insert(record("b", 3, RequestStatus::Completed));
        assert_eq!(r.pending.values().collect::<Vec<_>>(), ["a"]);
        assert_eq!(r.next_seq, 8);
        r.insert(record("a", 7, RequestStatus::Dispatched));
        assert!(r.pending.is_empty(), "a delivered request leaves pending");
        assert_eq!(r.by_id.len(), 2);
    }

    #[test]
    fn delivery_respects_accept_bytes_and_happens_once() {
        let mut s = state();
        let d = with_device(&mut s);
        let a = queue(&mut s, &d, 1, 10);
        let b = queue(&mut s, &d, 2, 10);
        let size = s.requests.by_id[&a].wire.len();
        assert_eq!(
            s.take_pending("other", None, 11).unwrap().messages.len(),
            0,
            "not for another endpoint"
        );
        let none = s.take_pending(&d, Some(size - 1), 11).unwrap();
        assert!(none.messages.is_empty());
        assert_eq!(none.min_accept_bytes, Some(size));
        assert_eq!(none.body(), "[]");
        let one = s.take_pending(&d, Some(size + 1), 11).unwrap();
        assert_eq!(one.messages.len(), 1, "a second one needs a comma too");
        assert_eq!(s.requests.by_id[&a].status, RequestStatus::Dispatched);
        assert_eq!(s.requests.by_id[&b].status, RequestStatus::Received);
        let rest = s.take_pending(&d, None, 11).unwrap();
        assert_eq!(rest.messages.len(), 1);
        assert!(rest.body().starts_with("[{") && rest.body().ends_with("}]"));
        assert!(s.take_pending(&d, None, 12).unwrap().messages.is_empty());
    }

    #[test]
    fn responses_complete_only_their_own_open_requests() {
        let mut s = state();
        let d = with_device(&mut s);
        let a = queue(&mut s, &d, 1, 10);
        let delivered = s.take_pending(&d, None, 11).unwrap();
        let request = Message::parse(&delivered.messages[0]).unwrap();
        let answer =
            Message::response_to(&request, 404, Headers::new(), b"{\"x\":1}".to_vec(), 12).unwrap();
        let iotcs_core::message::Payload::Response(r) = answer.payload() else {
            panic!()
        };
        s.complete_request("someone-else", r, 12).unwrap();
        assert_eq!(
            s.requests.by_id[&a].status,
            RequestStatus::Dispatched,
            "wrong source ignored"
        );
        s.complete_request(&d, r, 12).unwrap();
        let rec = &s.requests.by_id[&a];
        assert_eq!(rec.status, RequestStatus::Failed);
        assert_eq!(rec.response.as_ref().unwrap().body, json!({"x": 1}));
        assert_eq!(rec.to_json()["responseStatusCode"], 404);
        assert_eq!(rec.to_json()["complete"], true);
    }

    #[test]
    fn open_requests_expire() {
        let limits = Limits {
            request_expiry_ms: 100,
            ..limits()
        };
        let mut s = State::new(limits, None, Vec::new()).unwrap();
        let d = with_device(&mut s);
        let a = queue(&mut s, &d, 1, 1000);
        assert_eq!(
            s.request(&a, 1099).unwrap().unwrap().status,
            RequestStatus::Received
        );
        assert_eq!(
            s.request(&a, 1100).unwrap().unwrap().status,
            RequestStatus::Expired
        );
        assert!(s.take_pending(&d, None, 1200).unwrap().messages.is_empty());
        assert!(s.request("nope", 1200).unwrap().is_none());
    }
}
