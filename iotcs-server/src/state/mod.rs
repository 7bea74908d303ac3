//! The server's state: devices, device models, device policies, messages,
//! requests to devices and access tokens, kept in memory behind one mutex and written through to
//! sled (see [`crate::store`]) unless the server is ephemeral.
//!
//! Every change follows the same order: build the new record, persist it,
//! then change the maps. A failed write therefore leaves memory as it was and
//! becomes a 500, never a state that disagrees with the disk.
//!
//! The methods are the operations of the HTTP API and return [`DomainError`]s
//! directly: a rejected operation changes nothing.

mod devices;
mod error;
mod incoming;
mod messages;
mod models;
mod policies;
mod requests;
mod seen;
mod tokens;

use std::time::{SystemTime, UNIX_EPOCH};

use iotcs_core::Error;
use serde::Serialize;

pub use devices::DeviceState;
use devices::Devices;
pub(crate) use devices::{Device, Registration};
pub(crate) use error::DomainError;
pub(crate) use incoming::parse_batch;
use messages::Messages;
pub(crate) use messages::{MessageQuery, StoredMessage};
use models::Models;
use policies::Policies;
pub(crate) use policies::{PolicyInput, PolicyRecord, project};
pub use requests::RequestStatus;
use requests::Requests;
pub(crate) use requests::{Delivery, NewRequest, RequestRecord, SERVER_SOURCE};
pub(crate) use tokens::Token;
use tokens::Tokens;

use crate::store::{Store, Table};

/// The current time in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Limits and lifetimes the state enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) token_lifetime_ms: i64,
    pub(crate) request_expiry_ms: i64,
    pub(crate) max_messages: usize,
}

/// Everything the server knows. `Debug` shows counts only (no secrets or
/// tokens).
pub(crate) struct State {
    limits: Limits,
    store: Option<Store>,
    devices: Devices,
    models: Models,
    policies: Policies,
    messages: Messages,
    requests: Requests,
    tokens: Tokens,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("devices", &self.devices.by_id.len())
            .field("models", &self.models.by_urn.len())
            .field("policies", &self.policies.by_id.len())
            .field("messages", &self.messages.log.len())
            .field("requests", &self.requests.by_id.len())
            .field("tokens", &self.tokens.by_value.len())
            .finish_non_exhaustive()
    }
}

impl State {
    /// A state with the built-in models, then `extra_models`, then what the
    /// store holds.
    pub(crate) fn new(
        limits: Limits,
        store: Option<Store>,
        extra_models: Vec<iotcs_core::model::DeviceModel>,
    ) -> Result<State, Error> {
        let mut state = State {
            limits,
            store,
            devices: Devices::default(),
            models: Models::default(),
            policies: Policies::default(),
            messages: Messages::default(),
            requests: Requests::default(),
            tokens: Tokens::default(),
        };
        state.load_builtin_models(extra_models);
        state.load_stored()?;
        Ok(state)
    }

    fn load_stored(&mut self) -> Result<(), Error> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let devices: Vec<(Vec<u8>, Device)> = store.load(Table::Devices)?;
        let models: Vec<(Vec<u8>, serde_json::Value)> = store.load(Table::Models)?;
        let messages: Vec<(Vec<u8>, Box<serde_json::value::RawValue>)> =
            store.load(Table::Messages)?;
        let requests: Vec<(Vec<u8>, RequestRecord)> = store.load(Table::Requests)?;
        let policies: Vec<(Vec<u8>, PolicyRecord)> = store.load(Table::Policies)?;
        for (_, d) in devices {
            self.devices.insert(d);
        }
        for (_, json) in models {
            self.load_stored_model(&json);
        }
        for (key, record) in messages {
            self.load_messages(&key, &record);
        }
        // The cap may be lower than when the messages were stored.
        self.evict_over_cap()
            .map_err(|e| Error::state(format!("cannot drop messages over the cap: {e}")))?;
        for (_, r) in requests {
            self.requests.insert(r);
        }
        for (_, p) in policies {
            self.policies.by_id.insert(p.id.clone(), p);
        }
        log::info!(
            "loaded {} devices, {} policies, {} messages, {} requests from the database",
            self.devices.by_id.len(),
            self.policies.by_id.len(),
            self.messages.log.len(),
            self.requests.by_id.len()
        );
        Ok(())
    }

    /// Writes one record when persistent.
    fn persist<T: Serialize>(
        &self,
        table: Table,
        key: &[u8],
        value: &T,
    ) -> Result<(), DomainError> {
        match &self.store {
            None => Ok(()),
            Some(store) => store.put(table, key, value).map_err(|e| {
                log::error!("cannot persist a change: {e}");
                DomainError::internal(format!("the change could not be stored: {e}"))
            }),
        }
    }

    /// Deletes one record when persistent.
    fn unpersist(&self, table: Table, key: &[u8]) -> Result<(), DomainError> {
        match &self.store {
            None => Ok(()),
            Some(store) => store.remove(table, key).map_err(|e| {
                log::error!("cannot persist a deletion: {e}");
                DomainError::internal(format!("the change could not be stored: {e}"))
            }),
        }
    }

    /// How to wait until writes are durable; `None` when ephemeral.
    pub(crate) fn durability(&self) -> Option<crate::store::Durability> {
        self.store.as_ref().map(Store::durability)
    }

    /// Flushes the database (at shutdown).
    pub(crate) fn flush(&self) -> Result<(), Error> {
        match &self.store {
            None => Ok(()),
            Some(store) => store.flush(),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// An in-memory state with default limits.
    pub(crate) fn state() -> State {
        State::new(limits(), None, Vec::new()).unwrap()
    }

    /// The HTTP status a refusal becomes at the edge, so tests can say
    /// "this is a 409" in the API's own terms.
    pub(crate) trait HttpStatus {
        fn status(&self) -> u16;
    }

    impl HttpStatus for DomainError {
        fn status(&self) -> u16 {
            crate::http::ApiError::from(self.clone()).status
        }
    }

    /// Registers a device of hardware id `D`; its endpoint id.
    pub(crate) fn register_d(s: &mut State) -> String {
        s.register(
            Registration {
                hardware_id: "D".into(),
                ..Registration::default()
            },
            1,
        )
        .unwrap()
        .id
        .clone()
    }

    pub(crate) fn limits() -> Limits {
        Limits {
            token_lifetime_ms: 3_600_000,
            request_expiry_ms: 600_000,
            max_messages: 100,
        }
    }
}
