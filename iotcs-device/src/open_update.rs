//! The update a virtual device has open ([`SharedUpdate`]): the values
//! gathered and who is queueing them, shared by every clone of the device
//! and its [`crate::Update`] handles. `crate::update` holds the handle and
//! its rules; this file only the state, so the virtual device can hold it
//! without importing the handle that borrows the device.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

use iotcs_core::Value;

/// The update a virtual device has open, shared by every clone of it.
#[derive(Debug, Default)]
pub(crate) struct SharedUpdate {
    state: Mutex<Transaction>,
    /// Signalled when a `finish` has queued what it took.
    queued: Condvar,
}

/// What [`SharedUpdate`] guards.
#[derive(Debug, Default)]
pub(crate) struct Transaction {
    /// Live [`crate::Update`] handles: the update is open while there is one.
    pub(crate) holders: usize,
    /// The validated values gathered, by canonical name, in the order first
    /// set; a later value for an attribute replaces the earlier one.
    pub(crate) values: Vec<(String, Value)>,
    /// The thread whose `finish` took the values and is queueing them.
    /// Others wait before they queue; that thread itself does not (an error
    /// callback run inline from its push may call `set`).
    pub(crate) queueing: Option<ThreadId>,
}

impl SharedUpdate {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Transaction> {
        // Each change to it is a single push, count or flag; a panic cannot
        // leave it torn.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks once no other thread's `finish` is queueing.
    pub(crate) fn lock_when_queued(&self) -> MutexGuard<'_, Transaction> {
        let me = thread::current().id();
        let mut state = self.lock();
        while state.queueing.is_some_and(|id| id != me) {
            state = self.queued.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state
    }
}

impl Transaction {
    pub(crate) fn put(&mut self, name: String, value: Value) {
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
    }
}

/// Marks this thread as queueing an update's message until dropped.
pub(crate) struct Queueing<'a> {
    pub(crate) shared: &'a SharedUpdate,
    pub(crate) previous: Option<ThreadId>,
}

impl Drop for Queueing<'_> {
    fn drop(&mut self) {
        self.shared.lock().queueing = self.previous;
        self.shared.queued.notify_all();
    }
}
