//! The durable side of the outbox: the store of `GUARANTEED_DELIVERY`
//! messages, the keys that order them, how many it holds, and the group
//! commit that makes a push durable before it returns while concurrent
//! pushes share one flush.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use iotcs_core::Error;
use iotcs_core::message::Message;

use crate::messaging::persist::MessageStore;

/// The message store and its bound, when persistence is enabled.
#[derive(Debug)]
pub(crate) struct PersistSettings {
    /// The open store.
    pub(crate) store: Arc<MessageStore>,
    /// The most messages the store holds; guaranteed messages beyond it are
    /// refused (see the outbox's docs). Config key
    /// `[message_persistence] max_messages`.
    pub(crate) max_messages: usize,
}

/// The state of the group commit.
#[derive(Debug, Default)]
struct GroupCommit {
    /// Every key below this is durable.
    durable_upto: u64,
    /// A caller is flushing now.
    flushing: bool,
}

/// The store with its keys, count and group commit.
pub(crate) struct Durable {
    settings: PersistSettings,
    /// The next store key; keys grow with every push, so the store's order
    /// is the order of pushes.
    next_key: AtomicU64,
    /// Messages in the store.
    persisted: AtomicUsize,
    /// The group commit's state (see [`Durable::make_durable`]).
    commit: Mutex<GroupCommit>,
    /// Signalled when a group-commit flush ends.
    committed: Condvar,
}

impl fmt::Debug for Durable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Durable")
            .field("persisted", &self.persisted())
            .field("max_messages", &self.settings.max_messages)
            .finish_non_exhaustive()
    }
}

impl Durable {
    /// An empty record of `settings`' store; [`Durable::load`] reads it.
    pub(crate) fn new(settings: PersistSettings) -> Self {
        Durable {
            settings,
            next_key: AtomicU64::new(0),
            persisted: AtomicUsize::new(0),
            commit: Mutex::new(GroupCommit::default()),
            committed: Condvar::new(),
        }
    }

    /// The store, for messages naming it.
    pub(crate) fn store(&self) -> &MessageStore {
        &self.settings.store
    }

    /// `[message_persistence] max_messages`.
    pub(crate) fn max_messages(&self) -> usize {
        self.settings.max_messages
    }

    /// Messages in the store.
    pub(crate) fn persisted(&self) -> usize {
        self.persisted.load(Ordering::SeqCst)
    }

    /// The next key to be taken.
    pub(crate) fn next_key(&self) -> u64 {
        self.next_key.load(Ordering::SeqCst)
    }

    /// Hands what a previous run left to `each`, in store order, one
    /// message at a time with its stored wire JSON; later keys follow them.
    /// Returns how many there were.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the store cannot be read.
    pub(crate) fn load(&self, mut each: impl FnMut(u64, &str, Message)) -> Result<usize, Error> {
        let mut count = 0;
        let mut last = None;
        self.settings.store.load_each(|key, wire, message| {
            count += 1;
            last = Some(key);
            each(key, wire, message);
        })?;
        if let Some(last) = last {
            self.next_key.store(last + 1, Ordering::SeqCst);
        }
        self.persisted.store(count, Ordering::SeqCst);
        Ok(count)
    }

    /// Gives each record a key and inserts it with its wire JSON; returns the
    /// key after the last one written, durable once the group commit has
    /// flushed up to it. Called under the queue lock, so store order is
    /// queue order; the flush comes after it ([`Durable::make_durable`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the store cannot write; no key is then counted.
    pub(crate) fn write<'a>(
        &self,
        records: impl Iterator<Item = (&'a mut Option<u64>, &'a str)>,
    ) -> Result<u64, Error> {
        let keyed: Vec<(u64, &str)> = records
            .map(|(key, wire)| {
                let k = self.next_key.fetch_add(1, Ordering::SeqCst);
                *key = Some(k);
                (k, wire)
            })
            .collect();
        self.settings.store.insert(&keyed)?;
        self.persisted.fetch_add(keyed.len(), Ordering::SeqCst);
        Ok(self.next_key())
    }

    /// Group commit: returns once every key below `upto` is flushed. One
    /// caller at a time flushes, covering everything inserted so far; the
    /// others wait for it and return without a flush of their own when it
    /// covered them, so concurrent producers share `fsync`s. `inserted`
    /// reads the next key under the queue lock: keys are taken and inserted
    /// under it, so every key below the one it reads is in sled's log.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the flush fails.
    pub(crate) fn make_durable(&self, upto: u64, inserted: impl Fn() -> u64) -> Result<(), Error> {
        let mut commit = self.commit.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if commit.durable_upto >= upto {
                return Ok(());
            }
            if !commit.flushing {
                commit.flushing = true;
                drop(commit);
                let target = inserted();
                let result = self.settings.store.flush();
                commit = self.commit.lock().unwrap_or_else(|e| e.into_inner());
                commit.flushing = false;
                if result.is_ok() {
                    commit.durable_upto = commit.durable_upto.max(target);
                }
                self.committed.notify_all();
                result?;
                continue;
            }
            commit = self
                .committed
                .wait(commit)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Deletes the stored messages of `keys` (delivered, or rejected for
    /// good). A failure is logged: the message would only be resent and
    /// de-duplicated by the cloud.
    pub(crate) fn forget(&self, keys: &[u64]) {
        if keys.is_empty() {
            return;
        }
        match self.settings.store.remove(keys) {
            Ok(()) => {
                self.persisted.fetch_sub(keys.len(), Ordering::SeqCst);
            }
            Err(e) => {
                log::warn!(target: "iotcs::device::durable", "cannot delete {} delivered message(s): {e}", keys.len())
            }
        }
    }
}
