//! The durable record of `GUARANTEED_DELIVERY` messages held for a storage
//! upload (`hold.rs`), so that the GUARANTEED promise holds for them too:
//! durable before `set`/`raise`/`submit` returns, through a process kill.
//!
//! A held message is not in the outbox's store (the outbox would send it at
//! the next open, before its object), but in a tree of its own beside it in
//! the same database (`<endpoint>#held`, through `persist.rs`), one record
//! per message: its wire JSON and, for each object it waits for, what it
//! takes to upload it again (URI, name, input file, type, encoding,
//! metadata). When the upload releases it, the outbox stores it as any
//! guaranteed message and then its held record is removed; a crash between
//! the two leaves both, and the message is sent twice with one `clientId`,
//! which the cloud de-duplicates. At the next open the device restores each
//! record still held, resumes the uploads (from their last segment: the
//! progress is under `<state>/storage/`) and releases it as before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use iotcs_core::Error;
use iotcs_core::message::Message;
use serde::{Deserialize, Serialize};

use crate::messaging::persist::MessageStore;

/// What it takes to upload a storage object again after a restart.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
pub(crate) struct ObjectRecord {
    pub(crate) uri: String,
    pub(crate) name: String,
    pub(crate) input: PathBuf,
    pub(crate) content_type: String,
    #[serde(default)]
    pub(crate) encoding: Option<String>,
    #[serde(default)]
    pub(crate) metadata: BTreeMap<String, String>,
}

/// One held message as stored.
#[derive(Debug, Deserialize, Serialize)]
struct HeldRecord {
    /// The message's wire JSON.
    message: String,
    /// The objects it waits for.
    objects: Vec<ObjectRecord>,
}

/// A held message read back at open.
#[derive(Debug)]
pub(crate) struct RestoredHeld {
    pub(crate) key: u64,
    pub(crate) message: Message,
    pub(crate) objects: Vec<ObjectRecord>,
}

/// The held tree of one endpoint.
#[derive(Debug)]
pub(crate) struct HeldStore {
    store: MessageStore,
    next_key: AtomicU64,
    /// What the previous run left, until the device restores it.
    left: Mutex<Vec<RestoredHeld>>,
}

impl HeldStore {
    /// Opens the held tree of `endpoint_id` in the database at `path` and
    /// reads what a previous run left. A record that cannot be read is
    /// logged and removed, as the outbox's store does.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the database cannot be opened or read.
    pub(crate) fn open(path: &Path, endpoint_id: &str) -> Result<Self, Error> {
        let store = MessageStore::open(path, &format!("{endpoint_id}#held"))?;
        let mut left = Vec::new();
        let mut bad = Vec::new();
        let mut next = 0;
        for (key, bytes) in store.load_records()? {
            next = key + 1;
            let record = serde_json::from_slice::<HeldRecord>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    Message::parse(&r.message)
                        .map(|m| (m, r.objects))
                        .map_err(|e| e.to_string())
                });
            match record {
                Ok((message, objects)) => left.push(RestoredHeld {
                    key,
                    message,
                    objects,
                }),
                Err(reason) => {
                    log::warn!(target: "iotcs::device::persist",
                        "{}: dropping unreadable held message {key}: {reason}",
                        path.display()
                    );
                    bad.push(key);
                }
            }
        }
        if !bad.is_empty() {
            store.remove(&bad)?;
        }
        Ok(HeldStore {
            store,
            next_key: AtomicU64::new(next),
            left: Mutex::new(left),
        })
    }

    /// Stores `message` (its wire JSON) as held for `objects` and makes it
    /// durable before returning; its key.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the store cannot write or flush.
    pub(crate) fn persist(&self, message: &str, objects: &[ObjectRecord]) -> Result<u64, Error> {
        let record = HeldRecord {
            message: message.to_owned(),
            objects: objects.to_vec(),
        };
        let json = serde_json::to_string(&record)
            .map_err(|e| Error::protocol(format!("cannot encode a held message: {e}")))?;
        let key = self.next_key.fetch_add(1, Ordering::SeqCst);
        self.store.insert(&[(key, &json)])?;
        self.store.flush()?;
        Ok(key)
    }

    /// Removes the records of `keys` (released to the outbox, or reported
    /// through `on_error`). Not flushed: a lost removal costs a resend the
    /// cloud de-duplicates.
    pub(crate) fn forget(&self, keys: &[u64]) {
        if keys.is_empty() {
            return;
        }
        if let Err(e) = self.store.remove(keys) {
            log::warn!(target: "iotcs::device::persist", "cannot delete {} released held message(s): {e}", keys.len());
        }
    }

    /// What the previous run left held, in the order it was held; once.
    pub(crate) fn take_left(&self) -> Vec<RestoredHeld> {
        std::mem::take(&mut *self.left.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(all(test, feature = "persistence"))]
mod tests {
    use super::*;

    fn object(uri: &str) -> ObjectRecord {
        ObjectRecord {
            uri: uri.into(),
            name: "EP-1/a.bin".into(),
            input: PathBuf::from("/data/a.bin"),
            content_type: "image/png".into(),
            encoding: None,
            metadata: BTreeMap::from([("k".into(), "v".into())]),
        }
    }

    #[test]
    fn held_messages_survive_a_reopen_in_order_until_forgotten() {
        let dir = std::env::temp_dir().join(format!(
            "iotcs-held-{}-{}",
            std::process::id(),
            iotcs_core::__private::uuid_v4().unwrap()
        ));
        let path = dir.join("msps.db");
        let wire = |n: i64| {
            Message::data("EP-1", "urn:x:attributes", [("n", n)], 0)
                .unwrap()
                .to_json()
        };
        {
            let store = HeldStore::open(&path, "EP-1").unwrap();
            assert!(store.take_left().is_empty());
            let a = store.persist(&wire(1), &[object("u1")]).unwrap();
            let b = store.persist(&wire(2), &[object("u2")]).unwrap();
            store.persist(&wire(3), &[object("u3")]).unwrap();
            store.forget(&[b]);
            assert!(a < b);
        }
        let store = HeldStore::open(&path, "EP-1").unwrap();
        let left = store.take_left();
        let uris: Vec<&str> = left.iter().map(|r| r.objects[0].uri.as_str()).collect();
        assert_eq!(uris, ["u1", "u3"]);
        assert_eq!(left[0].objects[0], object("u1"));
        assert!(left[1].message.to_json().contains("\"n\":3"));
        assert!(store.take_left().is_empty(), "handed over once");
        let next = store.persist(&wire(4), &[]).unwrap();
        assert!(next > left[1].key, "keys go on after the ones left");
        // The outbox's own tree does not see them.
        let outbox = MessageStore::open(&path, "EP-1").unwrap();
        assert!(outbox.load_all().unwrap().is_empty());
        drop((store, outbox));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
