//! The messages a batching function holds, kept durable so that a batch
//! survives a restart and a process kill (`[batchby_persistence]`).
//!
//! Each batching function has its own tree in the database the device
//! resolves from `db_name` (through `messaging/persist.rs`, the one module
//! that touches sled). A message is written and synced before `offer`
//! returns, the same promise as a GUARANTEED_DELIVERY message; it is
//! deleted only after the batch let it out and the outbox took it (the
//! outbox keeps guaranteed ones durable from then on). A crash between the
//! two sends it again with its `clientId`, which the cloud de-duplicates.
//! With persistence disabled the messages live in memory only.

use std::path::Path;

use iotcs_core::Error;
use iotcs_core::message::Message;

use crate::messaging::persist::MessageStore;

/// A store tree just opened, with what it held from an earlier run
/// (keys and messages, oldest first).
pub(crate) type Opened = (HeldMessages, Vec<(u64, Message)>);

/// The durable copies of one batching function's held messages.
#[derive(Debug)]
pub(crate) struct HeldMessages {
    store: Option<MessageStore>,
    /// The key of the next message held.
    next: u64,
}

impl HeldMessages {
    /// Held messages kept in memory only (`[batchby_persistence] enabled`
    /// false).
    pub(crate) fn in_memory() -> Self {
        HeldMessages {
            store: None,
            next: 0,
        }
    }

    /// Opens the tree `name` of the database at `path` and returns what it
    /// held from an earlier run, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` when the database cannot be opened or read.
    pub(crate) fn open(path: &Path, name: &str) -> Result<(Self, Vec<(u64, Message)>), Error> {
        let store = MessageStore::open(path, name)?;
        let restored = store.load_all()?;
        let next = restored.last().map_or(0, |(key, _)| key + 1);
        Ok((
            HeldMessages {
                store: Some(store),
                next,
            },
            restored,
        ))
    }

    /// Keeps `message` durably; returns its key.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be written and synced: the message is
    /// then not held.
    pub(crate) fn hold(&mut self, message: &Message) -> Result<u64, Error> {
        let key = self.next;
        if let Some(store) = &self.store {
            let json = message.to_json();
            store.insert(&[(key, json.as_str())])?;
            if let Err(e) = store.flush() {
                // Not durable, so not held: a restart must not send it.
                let _ = store.remove(&[key]);
                return Err(e);
            }
        }
        self.next += 1;
        Ok(key)
    }

    /// Forgets messages the outbox took. A failure is logged: the message
    /// is then sent again after a restart, which the cloud de-duplicates.
    pub(crate) fn release(&mut self, keys: &[u64]) {
        if let (Some(store), false) = (&self.store, keys.is_empty())
            && let Err(e) = store.remove(keys)
        {
            log::warn!(target: "iotcs::device::policy", "cannot forget released batch messages: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: i64) -> Message {
        Message::data("ep", "urn:m:attributes", [("n", n)], n).unwrap()
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "iotcs-held-{name}-{}-{}",
            std::process::id(),
            iotcs_core::__private::uuid_v4().unwrap()
        ));
        dir.join("bbps.db")
    }

    #[test]
    fn held_messages_survive_a_reopen_until_released() {
        let path = scratch("reopen");
        {
            let (mut held, restored) = HeldMessages::open(&path, "t").unwrap();
            assert!(restored.is_empty());
            let keys: Vec<u64> = (0..3).map(|n| held.hold(&message(n)).unwrap()).collect();
            held.release(&keys[..1]);
        }
        let (mut held, restored) = HeldMessages::open(&path, "t").unwrap();
        let ns: Vec<_> = restored.iter().map(|(k, m)| (*k, m.event_time())).collect();
        assert_eq!(ns, vec![(1, 1), (2, 2)]);
        assert_eq!(
            held.hold(&message(9)).unwrap(),
            3,
            "keys continue after the restored ones"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn trees_of_different_functions_are_separate() {
        let path = scratch("trees");
        let (mut a, _) = HeldMessages::open(&path, "a").unwrap();
        a.hold(&message(1)).unwrap();
        let (_, restored) = HeldMessages::open(&path, "b").unwrap();
        assert!(restored.is_empty());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_failed_write_is_an_error_and_holds_nothing() {
        let path = scratch("fail");
        let (mut held, _) = HeldMessages::open(&path, "t").unwrap();
        held.store.as_ref().unwrap().fail.arm("flush");
        assert!(matches!(held.hold(&message(1)), Err(Error::Io { .. })));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn in_memory_holding_needs_no_disk() {
        let mut held = HeldMessages::in_memory();
        assert_eq!(held.hold(&message(1)).unwrap(), 0);
        assert_eq!(held.hold(&message(2)).unwrap(), 1);
        held.release(&[0, 1]);
    }
}
