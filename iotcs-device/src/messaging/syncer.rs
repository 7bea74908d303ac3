//! The `iotcs-sync` thread of `[message_persistence] sync_interval`: one
//! sync of the message store every interval, for every producer, instead of
//! one before each `set` returns (`persist.rs` states the promise).
//!
//! Owned by the dispatcher, which starts it only when the interval is
//! positive and stops it at close after the sender, so close returns only
//! after a last sync of everything written.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use iotcs_core::Error;

use crate::messaging::persist::MessageStore;
use crate::messaging::worker::{Joined, Worker};

/// The thread's name.
pub(crate) const THREAD_NAME: &str = "iotcs-sync";

/// The running `iotcs-sync` thread.
#[derive(Debug)]
pub(crate) struct Syncer {
    store: Arc<MessageStore>,
    stop: Sender<()>,
    worker: Worker<Result<(), Error>>,
}

impl Syncer {
    /// Puts `store`'s database in the deferred-sync mode and starts syncing
    /// it every `every`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the thread cannot be spawned (the store is then
    /// back in the sync-before-return mode).
    pub(crate) fn start(store: Arc<MessageStore>, every: Duration) -> Result<Syncer, Error> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        store.defer_syncs(true);
        let syncing = Arc::clone(&store);
        let worker = Worker::spawn(THREAD_NAME, move || {
            loop {
                let stopping =
                    !matches!(stopped.recv_timeout(every), Err(RecvTimeoutError::Timeout));
                let synced = syncing.sync_written();
                if stopping {
                    return synced;
                }
                if let Err(e) = synced {
                    log::warn!(target: "iotcs::device::persist",
                        "cannot sync guaranteed messages (trying again in {every:?}): {e}"
                    );
                }
            }
        })
        .inspect_err(|_| store.defer_syncs(false))?;
        Ok(Syncer {
            store,
            stop,
            worker,
        })
    }

    /// Stops the thread after a last sync, waiting until `deadline` at most.
    ///
    /// # Errors
    ///
    /// The last sync's [`Error::Io`]; [`Error::Timeout`] or
    /// [`Error::State`] when the thread did not stop in time or panicked.
    pub(crate) fn stop(self, deadline: Instant) -> Result<(), Error> {
        let _ = self.stop.try_send(());
        let joined = self.worker.join_until(deadline);
        // Whatever flushes after this point syncs itself again, and what was
        // flushed between the thread's last sync and here is synced now.
        self.store.defer_syncs(false);
        let synced = self.store.sync_written();
        match joined {
            Joined::Finished(last) => last.and(synced),
            Joined::Panicked => Err(Error::state(format!("thread {THREAD_NAME} panicked"))),
            Joined::TimedOut => Err(Error::Timeout {
                operation: format!("stopping thread {THREAD_NAME}"),
            }),
            Joined::OwnThread => Err(Error::state(format!(
                "thread {THREAD_NAME} cannot stop itself"
            ))),
        }
    }
}

#[cfg(all(test, feature = "persistence"))]
mod tests {
    use super::*;

    #[test]
    fn flushes_wait_for_the_thread_which_syncs_once_for_all_and_at_stop() {
        let dir = std::env::temp_dir().join(format!(
            "iotcs-syncer-{}",
            iotcs_core::__private::uuid_v4().unwrap()
        ));
        let store = Arc::new(MessageStore::open(&dir.join("msps.db"), "EP-1").unwrap());
        // An interval that never ends within the test: only the stop syncs.
        let syncer = Syncer::start(Arc::clone(&store), Duration::from_secs(3600)).unwrap();
        let json = r#"{"n":1}"#;
        for key in 0..50 {
            store.insert(&[(key, json)]).unwrap();
            store.flush().unwrap();
        }
        assert_eq!(store.syncs(), 0, "no flush synced");
        syncer
            .stop(Instant::now() + Duration::from_secs(30))
            .unwrap();
        assert_eq!(store.syncs(), 1, "one sync at stop covered all 50");
        // Nothing written since: no sync.
        store.sync_written().unwrap();
        assert_eq!(store.syncs(), 1);
        // Stopped: every flush syncs again, as without the thread.
        store.insert(&[(50, json)]).unwrap();
        store.flush().unwrap();
        assert_eq!(store.syncs(), 2);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
