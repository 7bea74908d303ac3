//! Persistence: the only module that touches sled. One tree per entity, JSON
//! values, written through on every change and read back in full at start.
//!
//! Durability is group-committed. Every write bumps a counter; a handler that
//! is about to answer takes the counter as its [`SyncPoint`] and awaits
//! [`Durability::wait`], which asks the flusher thread (`iotcs-server-sync`)
//! for a sync and wakes when the durable point passes its own. The flusher
//! runs one sync at a time and each sync covers every write made before it
//! started, so concurrent requests share one sync: under load, one sync per
//! round of waiting requests, not per request. A sync is sled's `flush`
//! (which on Linux ends in `sync_file_range`: enough for a process kill, but
//! it neither flushes the disk's write cache nor writes the file's metadata)
//! followed by our own `fdatasync` of sled's log file, as the device's
//! message store does (`iotcs-device/src/messaging/persist.rs`), so a power cut is
//! covered as far as the disk honours `fsync`. Waiters never block a tokio
//! worker: the flusher is its own thread and they await a `watch` channel.
//!
//! sled also flushes on its own every 500 ms, and [`Store::flush`] syncs at
//! shutdown. An ephemeral server has no store, so nothing waits.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use iotcs_core::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

/// The trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// Devices by id.
    Devices,
    /// Uploaded and draft device models by URN (built-in ones are not stored).
    Models,
    /// Messages by sequence number (8 bytes, big endian, so keys sort in order).
    Messages,
    /// Requests to devices by request id.
    Requests,
    /// Device policies by id.
    Policies,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Devices => "devices",
            Table::Models => "models",
            Table::Messages => "messages",
            Table::Requests => "requests",
            Table::Policies => "policies",
        }
    }
}

/// The sled database of a server, and the flusher thread that makes its
/// writes durable (joined on drop).
#[derive(Debug)]
pub(crate) struct Store {
    db: sled::Db,
    /// sled's log file, for `fdatasync` at shutdown.
    log: File,
    log_path: PathBuf,
    sync: Arc<Syncer>,
    flusher: Option<JoinHandle<()>>,
}

fn db_error(what: &str, e: sled::Error) -> Error {
    match e {
        sled::Error::Io(io) => Error::Io {
            path: None,
            source: std::sync::Arc::new(io),
        },
        other => Error::state(format!("database {what} failed: {other}")),
    }
}

/// How long an open waits for sled's directory lock to be released.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Whether `e` says the directory lock is held: sled 0.34 reports the
/// `WouldBlock` of its `flock` as an error of kind `Other` with this text.
fn is_lock_held(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io)
        if io.kind() == std::io::ErrorKind::WouldBlock
            || io.to_string().starts_with("could not acquire lock"))
}

/// Calls `open` until it stops failing with `WouldBlock` (sled's directory
/// lock is held) or `wait` has passed.
///
/// Why: sled 0.34 releases the lock only when its flusher thread exits, a
/// little after the last handle is dropped (spacejam/sled#1234), so a server
/// restarted in the same process (tests, examples) can meet the lock still
/// held. Another live server on the same directory still fails, after `wait`.
fn open_waiting_for_lock<T>(
    wait: Duration,
    mut open: impl FnMut() -> sled::Result<T>,
) -> sled::Result<T> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        match open() {
            Err(e) if is_lock_held(&e) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

impl Store {
    /// Opens (or creates) the database in `dir/db`.
    pub(crate) fn open(dir: &Path) -> Result<Store, Error> {
        let path = dir.join("db");
        let config = sled::Config::new().path(&path);
        let db = open_waiting_for_lock(LOCK_WAIT, || config.open()).map_err(|e| match e {
            sled::Error::Io(io) => Error::io(&path, io),
            other => Error::state(format!(
                "cannot open the database {} (is another server using this data directory?): {other}",
                path.display()
            )),
        })?;
        // Read-only is enough: Linux syncs through any descriptor of the file.
        let log_path = path.join("db");
        let log = File::open(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let sync = Arc::new(Syncer::default());
        let flusher = {
            let (db, log, log_path, sync) = (
                db.clone(),
                log.try_clone().map_err(|e| Error::io(&log_path, e))?,
                log_path.clone(),
                sync.clone(),
            );
            std::thread::Builder::new()
                .name("iotcs-server-sync".into())
                .spawn(move || run_flusher(&db, &log, &log_path, &sync))
                .map_err(|e| Error::io(PathBuf::from("<iotcs-server-sync thread>"), e))?
        };
        Ok(Store {
            db,
            log,
            log_path,
            sync,
            flusher: Some(flusher),
        })
    }

    /// The handle handlers use to wait until their writes are durable.
    pub(crate) fn durability(&self) -> Durability {
        Durability {
            sync: self.sync.clone(),
        }
    }

    fn tree(&self, table: Table) -> Result<sled::Tree, Error> {
        self.db
            .open_tree(table.name())
            .map_err(|e| db_error("open", e))
    }

    /// Writes one record.
    pub(crate) fn put<T: Serialize>(
        &self,
        table: Table,
        key: &[u8],
        value: &T,
    ) -> Result<(), Error> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::state(format!("cannot encode a {} record: {e}", table.name())))?;
        self.tree(table)?
            .insert(key, bytes)
            .map_err(|e| db_error("write", e))?;
        self.sync.written.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Deletes one record (absent is fine).
    pub(crate) fn remove(&self, table: Table, key: &[u8]) -> Result<(), Error> {
        self.tree(table)?
            .remove(key)
            .map_err(|e| db_error("delete", e))?;
        self.sync.written.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Every record of a table in key order. A record that no longer decodes
    /// (written by another version) is skipped with a warning rather than
    /// keeping the server from starting.
    pub(crate) fn load<T: DeserializeOwned>(
        &self,
        table: Table,
    ) -> Result<Vec<(Vec<u8>, T)>, Error> {
        let mut out = Vec::new();
        for item in self.tree(table)?.iter() {
            let (key, value) = item.map_err(|e| db_error("read", e))?;
            match serde_json::from_slice(&value) {
                Ok(v) => out.push((key.to_vec(), v)),
                Err(e) => log::warn!(
                    "skipping an unreadable {} record {:?}: {e}",
                    table.name(),
                    String::from_utf8_lossy(&key)
                ),
            }
        }
        Ok(out)
    }

    /// Writes everything to disk and syncs it (at shutdown).
    pub(crate) fn flush(&self) -> Result<(), Error> {
        sync_once(&self.db, &self.log, &self.log_path)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.sync.demand().stop = true;
        self.sync.wake.notify_all();
        if let Some(flusher) = self.flusher.take()
            && flusher.join().is_err()
        {
            log::error!("the database flusher thread panicked");
        }
    }
}

/// sled's flush, then `fdatasync` of its log file (see the module docs).
fn sync_once(db: &sled::Db, log: &File, log_path: &Path) -> Result<(), Error> {
    db.flush().map_err(|e| db_error("flush", e))?;
    log.sync_data().map_err(|e| {
        Error::io(
            log_path,
            io::Error::new(e.kind(), format!("cannot sync the database: {e}")),
        )
    })
}

/// A count of writes: everything written up to it is durable once the
/// durable point reaches it.
pub(crate) type SyncPoint = u64;

/// What waiters ask of the flusher (guarded by [`Syncer::demand`]).
#[derive(Debug, Default)]
struct Demand {
    /// A waiter asked for a sync that has not started yet.
    pending: bool,
    /// Syncs started so far.
    started: u64,
    /// Whether the last started sync is still running, and its target.
    in_flight: bool,
    target: SyncPoint,
    /// The store is closing: the flusher ends once nothing is pending.
    stop: bool,
}

/// What the flusher has done (published on [`Syncer::done`]).
#[derive(Clone, Debug, Default)]
struct Done {
    /// Every write up to this point is durable.
    durable: SyncPoint,
    /// Syncs finished so far, and the error of the last one if it failed.
    finished: u64,
    failure: Option<(io::ErrorKind, Arc<str>)>,
}

/// The state shared by the store, its flusher and the waiters.
#[derive(Debug)]
struct Syncer {
    /// Writes that returned so far.
    written: AtomicU64,
    demand: Mutex<Demand>,
    wake: Condvar,
    done: watch::Sender<Done>,
}

impl Default for Syncer {
    fn default() -> Syncer {
        Syncer {
            written: AtomicU64::new(0),
            demand: Mutex::new(Demand::default()),
            wake: Condvar::new(),
            done: watch::Sender::new(Done::default()),
        }
    }
}

impl Syncer {
    /// The demand; nothing panics while holding it, so poison is ignored.
    fn demand(&self) -> MutexGuard<'_, Demand> {
        self.demand.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The flusher thread: one sync at a time, each covering every write made
/// before it started, until the store closes and nothing is pending.
fn run_flusher(db: &sled::Db, log: &File, log_path: &Path, sync: &Syncer) {
    loop {
        let (attempt, target) = {
            let mut demand = sync.demand();
            while !demand.pending && !demand.stop {
                demand = sync
                    .wake
                    .wait(demand)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if !demand.pending {
                return;
            }
            demand.pending = false;
            demand.started += 1;
            demand.in_flight = true;
            // Read before syncing: every write counted here is in sled
            // already, so this sync covers it.
            demand.target = sync.written.load(Ordering::SeqCst);
            (demand.started, demand.target)
        };
        let result = sync_once(db, log, log_path);
        if let Err(e) = &result {
            log::error!("cannot make the database durable: {e}");
        }
        // Published under the demand lock, so a waiter sees the sync either
        // running or finished, never finished but still marked running.
        let mut demand = sync.demand();
        demand.in_flight = false;
        sync.done.send_modify(|done| {
            done.finished = attempt;
            match result {
                Ok(()) => {
                    done.durable = done.durable.max(target);
                    done.failure = None;
                }
                Err(e) => {
                    let kind = match &e {
                        Error::Io { source, .. } => source.kind(),
                        _ => io::ErrorKind::Other,
                    };
                    done.failure = Some((kind, e.to_string().into()));
                }
            }
        });
        drop(demand);
    }
}

/// Waits until writes are durable; cheap to clone, one per server.
#[derive(Clone, Debug)]
pub(crate) struct Durability {
    sync: Arc<Syncer>,
}

impl Durability {
    /// Every write that returned before this call.
    pub(crate) fn point(&self) -> SyncPoint {
        self.sync.written.load(Ordering::SeqCst)
    }

    /// Returns once every write up to `point` is durable, sharing the sync
    /// with every other waiter. Never blocks the thread: the sync runs on the
    /// flusher thread.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the sync that was to cover `point` failed (the
    /// client should retry; the next sync tries again), [`Error::State`] if
    /// the store is closing.
    pub(crate) async fn wait(&self, point: SyncPoint) -> Result<(), Error> {
        let mut done = self.sync.done.subscribe();
        if done.borrow().durable >= point {
            return Ok(());
        }
        let asked_after = {
            let mut demand = self.sync.demand();
            if demand.stop {
                return Err(Error::state("the database is closing"));
            }
            if demand.in_flight && demand.target >= point {
                // The running sync covers `point`: share it.
                demand.started - 1
            } else {
                demand.pending = true;
                self.sync.wake.notify_one();
                // A sync that starts from now on covers `point`.
                demand.started
            }
        };
        let done = done
            .wait_for(|d| d.durable >= point || d.finished > asked_after)
            .await
            .map_err(|_| Error::state("the database is closing"))?;
        if done.durable >= point {
            return Ok(());
        }
        // The sync meant to cover `point` finished without reaching it: it failed.
        let (kind, why) = done
            .failure
            .clone()
            .unwrap_or((io::ErrorKind::Other, "the sync failed".into()));
        Err(Error::Io {
            path: None,
            source: std::sync::Arc::new(io::Error::new(kind, why.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening() {
        let dir = tempfile::TempDir::with_prefix("store").unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.put(Table::Devices, b"a", &serde_json::json!({"x": 1}))
                .unwrap();
            s.put(Table::Devices, b"b", &serde_json::json!({"x": 2}))
                .unwrap();
            s.remove(Table::Devices, b"b").unwrap();
            s.remove(Table::Devices, b"missing").unwrap();
            s.put(Table::Messages, &7u64.to_be_bytes(), &"m").unwrap();
            s.flush().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let devices: Vec<(Vec<u8>, serde_json::Value)> = s.load(Table::Devices).unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].1["x"], 1);
        let messages: Vec<(Vec<u8>, String)> = s.load(Table::Messages).unwrap();
        assert_eq!(messages[0].1, "m");
    }

    #[test]
    fn opening_waits_for_a_lock_being_released_but_not_for_a_live_one() {
        let dir = tempfile::TempDir::with_prefix("store").unwrap();
        let held = Store::open(dir.path()).unwrap();
        let path = dir.path().join("db");
        let e = open_waiting_for_lock(Duration::from_millis(50), || {
            sled::Config::new().path(&path).open()
        })
        .unwrap_err();
        assert!(is_lock_held(&e), "{e:?}");
        // Released once the open has met the lock: the open succeeds.
        let (met_tx, met) = std::sync::mpsc::channel::<()>();
        let releaser = std::thread::spawn(move || {
            met.recv().unwrap();
            drop(held);
        });
        let db = open_waiting_for_lock(Duration::from_secs(30), || {
            let opened = sled::Config::new().path(&path).open();
            if opened.as_ref().is_err_and(is_lock_held) {
                let _ = met_tx.send(());
            }
            opened
        })
        .unwrap();
        releaser.join().unwrap();
        drop(db);
        let reopened = Store::open(dir.path()).unwrap();
        reopened.put(Table::Models, b"k", &1u32).unwrap();
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_wait_returns_once_a_sync_covers_its_point() {
        let dir = tempfile::TempDir::with_prefix("store").unwrap();
        let s = Store::open(dir.path()).unwrap();
        let d = s.durability();
        block_on(d.wait(d.point())).unwrap();
        assert_eq!(s.sync.demand().started, 0, "nothing written: no sync");
        s.put(Table::Devices, b"a", &1u32).unwrap();
        s.remove(Table::Devices, b"b").unwrap();
        let point = d.point();
        assert_eq!(point, 2);
        block_on(d.wait(point)).unwrap();
        assert!(s.sync.done.borrow().durable >= point);
        assert_eq!(s.sync.demand().started, 1);
        block_on(d.wait(1)).unwrap();
        assert_eq!(s.sync.demand().started, 1, "durable already: no new sync");
    }

    #[test]
    fn concurrent_waiters_share_one_sync() {
        let dir = tempfile::TempDir::with_prefix("store").unwrap();
        let s = Store::open(dir.path()).unwrap();
        let d = s.durability();
        for i in 0u32..20 {
            s.put(Table::Messages, &i.to_be_bytes(), &i).unwrap();
        }
        let point = d.point();
        block_on(async {
            let waiters: Vec<_> = (0..20)
                .map(|_| {
                    let d = d.clone();
                    tokio::spawn(async move { d.wait(point).await })
                })
                .collect();
            for w in waiters {
                w.await.unwrap().unwrap();
            }
        });
        assert_eq!(s.sync.demand().started, 1);
    }

    #[test]
    fn a_wait_after_the_store_closed_fails_instead_of_hanging() {
        let dir = tempfile::TempDir::with_prefix("store").unwrap();
        let s = Store::open(dir.path()).unwrap();
        let d = s.durability();
        s.put(Table::Devices, b"a", &1u32).unwrap();
        drop(s);
        let e = block_on(d.wait(d.point())).unwrap_err();
        assert!(e.to_string().contains("closing"), "{e}");
    }

    #[test]
    fn undecodable_records_are_skipped() {
        let dir = tempfile::TempDir::with_prefix("store").unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.put(Table::Models, b"good", &5u32).unwrap();
        s.put(Table::Models, b"bad", &"text").unwrap();
        let loaded: Vec<(Vec<u8>, u32)> = s.load(Table::Models).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].0, b"good");
    }
}
