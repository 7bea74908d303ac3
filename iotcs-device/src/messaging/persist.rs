//! The durable store of `GUARANTEED_DELIVERY` messages: the one module that
//! touches sled.
//!
//! Layout: one sled database per `[message_persistence] db_name`, one tree
//! per owning endpoint (the device whose dispatcher sends the messages, so a
//! gateway's tree also holds its indirectly-connected devices' messages).
//! Keys are a big-endian `u64` sequence number, so iteration is insertion
//! order; values are the message's wire JSON, which carries its `clientId`.
//!
//! Crash-safety assumptions, stated once:
//! - [`MessageStore::insert`] writes into sled's log buffer and
//!   [`MessageStore::flush`] writes the log out and then `fdatasync`s sled's
//!   log file itself; the outbox calls both before `set` returns, so a
//!   message is durable from then on, through a process kill and, as far as
//!   the disk honours `fsync`, a power loss. The `fdatasync` is ours because
//!   sled 0.34's `flush` on Linux ends with `sync_file_range`, which (its man
//!   page says) neither flushes the disk's write cache nor writes the file's
//!   metadata, so it survives a process kill but promises nothing through a
//!   power cut; sled `fsync`s only when a segment fills. Concurrent producers
//!   insert under the queue lock and flush after it, so they share the
//!   syncs: one group commit costs one `pwrite` and one `sync_file_range`
//!   (on one of sled's IO threads, which `flush` waits for) and our one
//!   `fdatasync`.
//! - With `[message_persistence] sync_interval` positive
//!   ([`MessageStore::defer_syncs`]), `flush` stops after sled's write: the
//!   message is in the operating system's page cache when `set` returns, so
//!   a process kill loses nothing, and [`MessageStore::sync_written`], run by
//!   the dispatcher's `iotcs-sync` thread every interval and at close, syncs
//!   once for everything written since; a power loss may lose what was
//!   written in the last interval. The mode belongs to the database, so the
//!   held tree (`held_store.rs`) follows it too.
//! - sled runs no periodic flusher (`flush_every_ms(None)`): every write
//!   that must be durable is flushed by its caller, and the flusher would
//!   add a thread, a write and an `fsync` twice a second for nothing. Its
//!   other job, compacting the log, is not needed by a store whose records
//!   are deleted soon after they are written: a segment is reused once the
//!   pages written in it are rewritten elsewhere, which every insert and
//!   delete does to the tree's two ends. sled's IO pool is seven threads
//!   for the whole process, started at the first flush; it grows only when
//!   more than seven writes wait at once, which one group commit at a time
//!   never makes.
//! - [`MessageStore::remove`] does not flush. Losing a removal in a crash
//!   means the message is sent again after the restart with the same
//!   `clientId`, which the cloud de-duplicates: a lost removal costs a
//!   resend, never a loss or a duplicate.
//! - sled detects torn writes at the end of its log by checksum and drops
//!   them at recovery; a message whose `put` did not return may or may not
//!   survive, which is the contract (its `set` never returned success).
//! - A database whose files are corrupt beyond that is reported as an
//!   [`Error::Io`] naming the path, with sled's reason. sled 0.34 can panic on
//!   some malformed files instead of returning an error; opening runs inside
//!   [`std::panic::catch_unwind`] so that too becomes an error.
//!
//! The path is resolved by the device (`crate::state`): by default each
//! device has its own database beside its provisioning file. Several devices
//! in one process may share a `db_name`: the database is opened once per
//! path and shared (sled locks its directory against other processes, so two
//! processes need two `db_name`s, which the default gives them).
//!
//! Tests inject failures through [`FailPoints`], checked before every sled
//! call (STYLE practice 11).

use std::collections::HashMap;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use iotcs_core::Error;
use iotcs_core::message::Message;

/// Named failure sites, for tests: when a name is armed, the next call at
/// that site fails with an injected I/O error.
#[derive(Debug, Default)]
pub(crate) struct FailPoints {
    armed: Mutex<Vec<&'static str>>,
}

impl FailPoints {
    /// Makes the next call at `site` fail (test seam).
    #[cfg(test)]
    pub(crate) fn arm(&self, site: &'static str) {
        self.armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(site);
    }

    /// Whether `site` is armed; disarms it.
    fn hit(&self, site: &'static str) -> bool {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        match armed.iter().position(|s| *s == site) {
            Some(i) => {
                armed.remove(i);
                true
            }
            None => false,
        }
    }
}

/// One open sled database, shared by every store of its path in this process.
struct SharedDb {
    db: sled::Db,
    /// sled's log file (`<path>/db`), opened for `fdatasync` after each
    /// flush (see the module docs).
    log: std::fs::File,
    path: PathBuf,
    /// Whether [`MessageStore::flush`] syncs (durable before return) or
    /// leaves it to [`MessageStore::sync_written`] (`sync_interval`).
    sync_each: AtomicBool,
    /// Something was flushed since the last [`MessageStore::sync_written`].
    unsynced: AtomicBool,
    /// `fdatasync`s of the log so far (tests count them).
    syncs: AtomicU64,
}

/// The open databases of this process, by path.
fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<SharedDb>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<SharedDb>>>> = OnceLock::new();
    OPEN.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The persisted messages of one endpoint.
pub(crate) struct MessageStore {
    shared: Arc<SharedDb>,
    tree: sled::Tree,
    /// Injected failures (tests).
    pub(crate) fail: FailPoints,
}

impl std::fmt::Debug for MessageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStore")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl MessageStore {
    /// Opens (creating it if needed) the database at `path` and the tree of
    /// `endpoint_id` in it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` when the directory cannot be created, is
    /// locked by another process, or is corrupt (including a panic inside
    /// sled, which is caught here).
    pub(crate) fn open(path: &Path, endpoint_id: &str) -> Result<Self, Error> {
        let shared = open_shared(path)?;
        let tree = guarded(path, "open the message tree", || {
            shared.db.open_tree(endpoint_id.as_bytes())
        })?;
        Ok(MessageStore {
            shared,
            tree,
            fail: FailPoints::default(),
        })
    }

    /// The database directory.
    pub(crate) fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Writes `messages` under their keys and makes them durable (sled
    /// `flush`, which `fsync`s) before returning.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when sled cannot write or flush; some of the messages
    /// may then be stored, which is harmless: a stored message is resent
    /// with its `clientId` and de-duplicated by the cloud.
    #[cfg(test)]
    pub(crate) fn put(&self, messages: &[(u64, &str)]) -> Result<(), Error> {
        self.insert(messages)?;
        self.flush()
    }

    /// Writes `messages` (each a message's wire JSON) under their keys
    /// without waiting for the disk; a [`MessageStore::flush`] must follow
    /// before they count as durable.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when sled cannot write.
    pub(crate) fn insert(&self, messages: &[(u64, &str)]) -> Result<(), Error> {
        if self.fail.hit("put") {
            return Err(self.injected("put"));
        }
        // One `insert` each, not a `Batch`: sled's first `apply_batch` puts
        // every later operation of the process behind a global reader-writer
        // lock that a `flush` holds while it waits for the disk, so inserts
        // would queue behind each sync and group commit would not group.
        // Atomicity across a push's messages is not needed: see `put`.
        for (key, json) in messages {
            self.tree
                .insert(key.to_be_bytes(), json.as_bytes())
                .map_err(|e| self.error("write guaranteed messages", e))?;
        }
        Ok(())
    }

    /// Makes everything written so far durable as the database's mode
    /// promises: synced to the disk before returning, or (after
    /// [`MessageStore::defer_syncs`]) written to the operating system, and
    /// synced by the next [`MessageStore::sync_written`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when sled cannot flush or the log cannot be synced.
    pub(crate) fn flush(&self) -> Result<(), Error> {
        if self.fail.hit("flush") {
            return Err(self.injected("flush"));
        }
        self.tree
            .flush()
            .map_err(|e| self.error("flush guaranteed messages", e))?;
        if self.shared.sync_each.load(Ordering::SeqCst) {
            self.sync_log()
        } else {
            self.shared.unsynced.store(true, Ordering::SeqCst);
            Ok(())
        }
    }

    /// From now on, [`MessageStore::flush`] of every store of this database
    /// leaves the sync to [`MessageStore::sync_written`], which the caller
    /// runs on a timer (`[message_persistence] sync_interval`); `false`
    /// restores a sync in every flush.
    pub(crate) fn defer_syncs(&self, defer: bool) {
        self.shared.sync_each.store(!defer, Ordering::SeqCst);
    }

    /// Syncs the log if anything was flushed since the last sync: one sync
    /// covers every store of the database and every producer.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the log cannot be synced; what was flushed stays
    /// to be synced by the next call.
    pub(crate) fn sync_written(&self) -> Result<(), Error> {
        // Cleared before the sync: a flush that ends after this point sets
        // it again and is covered by the next call.
        if !self.shared.unsynced.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        self.sync_log().inspect_err(|_| {
            self.shared.unsynced.store(true, Ordering::SeqCst);
        })
    }

    /// How many times the log was synced since the database was opened in
    /// this process (tests compare it with the messages written).
    #[cfg(test)]
    pub(crate) fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::SeqCst)
    }

    /// `fdatasync` of sled's log file (see the module docs).
    fn sync_log(&self) -> Result<(), Error> {
        if self.fail.hit("sync") {
            return Err(self.injected("sync"));
        }
        self.shared.syncs.fetch_add(1, Ordering::SeqCst);
        self.shared.log.sync_data().map_err(|e| {
            Error::io(
                &self.shared.path,
                io::Error::new(e.kind(), format!("cannot sync guaranteed messages: {e}")),
            )
        })
    }

    /// Deletes the messages with `keys` (delivered, or rejected for good).
    /// Not flushed: see the module docs.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when sled cannot write.
    pub(crate) fn remove(&self, keys: &[u64]) -> Result<(), Error> {
        if self.fail.hit("remove") {
            return Err(self.injected("remove"));
        }
        // One `remove` each, not a `Batch`, for the reason given in
        // `insert`.
        for key in keys {
            self.tree
                .remove(key.to_be_bytes())
                .map_err(|e| self.error("delete delivered messages", e))?;
        }
        Ok(())
    }

    /// The stored wire JSON of `key`, or `None` when nothing is stored under
    /// it: a restored message is queued without its JSON and read back here
    /// when the sender takes it (see `Outbox::restore`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when sled cannot read, or the record is not UTF-8.
    pub(crate) fn get(&self, key: u64) -> Result<Option<Box<str>>, Error> {
        if self.fail.hit("get") {
            return Err(self.injected("get"));
        }
        let value = self
            .tree
            .get(key.to_be_bytes())
            .map_err(|e| self.error("read a guaranteed message", e))?;
        let Some(value) = value else {
            return Ok(None);
        };
        match std::str::from_utf8(&value) {
            Ok(json) => Ok(Some(json.into())),
            Err(e) => Err(Error::io(
                &self.shared.path,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("guaranteed message {key} is not UTF-8: {e}"),
                ),
            )),
        }
    }

    /// Every stored message with its key, in insertion order. An entry that
    /// is not a valid message (written by an incompatible version, or
    /// damaged) is logged, deleted and skipped, so one bad record cannot
    /// block the others forever.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when sled cannot read.
    pub(crate) fn load_all(&self) -> Result<Vec<(u64, Message)>, Error> {
        let mut out = Vec::new();
        self.load_each(|key, _, message| out.push((key, message)))?;
        Ok(out)
    }

    /// Hands every stored message to `each` in insertion order, with its key
    /// and its stored wire JSON, one at a time: a restart with thousands of
    /// stored messages never holds them all parsed at once (the outbox keeps
    /// only the JSON). Unreadable entries are dropped as in
    /// [`MessageStore::load_all`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when sled cannot read.
    pub(crate) fn load_each(&self, mut each: impl FnMut(u64, &str, Message)) -> Result<(), Error> {
        if self.fail.hit("load") {
            return Err(self.injected("load"));
        }
        let mut bad = Vec::new();
        for item in self.tree.iter() {
            let (key, value) = item.map_err(|e| self.error("read guaranteed messages", e))?;
            let Ok(key_bytes) = <[u8; 8]>::try_from(key.as_ref()) else {
                log::warn!(target: "iotcs::device::persist",
                    "{}: skipping a record with a {}-byte key",
                    self.path().display(),
                    key.len()
                );
                bad.push(key);
                continue;
            };
            let seq = u64::from_be_bytes(key_bytes);
            let parsed = std::str::from_utf8(&value)
                .map_err(|e| e.to_string())
                .and_then(|json| {
                    Message::parse(json)
                        .map(|m| (json, m))
                        .map_err(|e| e.to_string())
                });
            match parsed {
                Ok((json, message)) => each(seq, json, message),
                Err(reason) => {
                    log::warn!(target: "iotcs::device::persist",
                        "{}: dropping unreadable persisted message {seq}: {reason}",
                        self.path().display()
                    );
                    bad.push(key);
                }
            }
        }
        for key in bad {
            let _ = self.tree.remove(key);
        }
        Ok(())
    }

    /// Every stored record with its key, in insertion order, unparsed: for
    /// the records of messages held for a storage upload
    /// (`messaging/held_store.rs`), which wrap a message. A record with a
    /// key that is not 8 bytes is skipped.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when sled cannot read.
    pub(crate) fn load_records(&self) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        if self.fail.hit("load") {
            return Err(self.injected("load"));
        }
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (key, value) = item.map_err(|e| self.error("read held messages", e))?;
            match <[u8; 8]>::try_from(key.as_ref()) {
                Ok(key) => out.push((u64::from_be_bytes(key), value.to_vec())),
                Err(_) => log::warn!(target: "iotcs::device::persist",
                    "{}: skipping a held record with a {}-byte key",
                    self.path().display(),
                    key.len()
                ),
            }
        }
        Ok(out)
    }

    /// How many messages are stored (walks the tree: for tests and start-up).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tree.len()
    }

    fn error(&self, what: &str, e: sled::Error) -> Error {
        sled_error(&self.shared.path, what, e)
    }

    fn injected(&self, site: &str) -> Error {
        Error::io(
            &self.shared.path,
            io::Error::other(format!("injected failure at {site}")),
        )
    }
}

/// A database opened and held open without a tree: activation opens the
/// message store this way before it talks to the cloud, so a store that
/// cannot be opened fails the activation while nothing has changed yet, and
/// the dispatcher started after it finds the database already open.
pub(crate) struct OpenDatabase {
    _shared: Arc<SharedDb>,
}

impl std::fmt::Debug for OpenDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenDatabase")
            .field("path", &self._shared.path)
            .finish()
    }
}

/// Opens the database at `path` (creating it if needed) and holds it open.
///
/// # Errors
///
/// As [`MessageStore::open`].
pub(crate) fn open_database(path: &Path) -> Result<OpenDatabase, Error> {
    Ok(OpenDatabase {
        _shared: open_shared(path)?,
    })
}

/// The shared database of `path`, opening it if this process has not.
fn open_shared(path: &Path) -> Result<Arc<SharedDb>, Error> {
    let mut open = registry().lock().unwrap_or_else(|e| e.into_inner());
    open.retain(|_, db| db.strong_count() > 0);
    if let Some(shared) = open.get(path).and_then(Weak::upgrade) {
        return Ok(shared);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let config = sled::Config::new()
        .path(path)
        // Messages are read back only at start and the sender needs only
        // the two ends of the tree (inserts at one, removals at the other):
        // a small cache keeps a device holding thousands of messages small.
        .cache_capacity(CACHE_CAPACITY)
        .segment_size(segment_size_of(path))
        .mode(sled::Mode::LowSpace)
        // No periodic flusher thread: the group commit writes sled's log
        // buffer and syncs it (`MessageStore::flush`), and nothing else
        // needs writing on a timer.
        .flush_every_ms(None);
    let db = guarded(path, "open the message store", || {
        open_waiting_for_lock(LOCK_WAIT, || config.open())
    })?;
    // Read-only is enough: Linux syncs through any descriptor of the file.
    let log_path = path.join("db");
    let log = std::fs::File::open(&log_path).map_err(|e| Error::io(&log_path, e))?;
    let shared = Arc::new(SharedDb {
        db,
        log,
        path: path.to_owned(),
        sync_each: AtomicBool::new(true),
        unsynced: AtomicBool::new(false),
        syncs: AtomicU64::new(0),
    });
    open.insert(path.to_owned(), Arc::downgrade(&shared));
    Ok(shared)
}

/// sled's page cache, in bytes.
const CACHE_CAPACITY: u64 = 1024 * 1024;

/// sled's log segment (and IO buffer) size for a new database, in bytes.
/// sled's default is 512 KiB; it keeps several buffers of this size and a
/// segment table sized by it, so 128 KiB holds about 0.45 MiB less both
/// while 10,000 messages are written and when they are read back after a
/// restart. Not smaller: at 64 KiB writing 10,000 messages held 3.5 MiB
/// more (more segments in flight). A tree page larger than a quarter of a
/// segment (32 KiB: a leaf of up to 17 messages) is written by sled to a
/// file of its own, which is correct, only slower.
const SEGMENT_SIZE: usize = 128 * 1024;

/// The segment size to open the database at `path` with: the one it was
/// created with (sled refuses to open a database with another size, so
/// databases created before [`SEGMENT_SIZE`] changed keep theirs), or
/// [`SEGMENT_SIZE`] for a new one. A `conf` that cannot be read or does not
/// name a size sled accepts leaves the choice to sled's own check, which
/// reports it as an error.
fn segment_size_of(path: &Path) -> usize {
    let Ok(conf) = std::fs::read(path.join("conf")) else {
        return SEGMENT_SIZE;
    };
    // sled writes `key: value` lines and ends the file with a 4-byte CRC.
    String::from_utf8_lossy(&conf)
        .lines()
        .find_map(|line| line.strip_prefix("segment_size: "))
        .and_then(|raw| raw.trim().parse::<usize>().ok())
        .filter(|size| size.is_power_of_two() && (256..=1 << 24).contains(size))
        .unwrap_or(SEGMENT_SIZE)
}

/// How long an open waits for sled's directory lock to be released.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Whether `e` says the directory lock is held: sled 0.34 reports the
/// `WouldBlock` of its `flock` as an error of kind `Other` with this text.
fn is_lock_held(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io)
        if io.kind() == io::ErrorKind::WouldBlock
            || io.to_string().starts_with("could not acquire lock"))
}

/// Calls `open` until it stops failing with `WouldBlock` (sled's directory
/// lock is held) or `wait` has passed.
///
/// Why: sled 0.34 releases the lock only when its flusher thread exits, a
/// little after the last handle is dropped (spacejam/sled#1234), and the
/// kernel releases a killed process's lock a little after it dies. So a
/// device reopened in the same process, or restarted right after a crash,
/// can meet the lock still held by nobody who will keep it. A lock that
/// another live process keeps still fails, after `wait`.
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

/// Runs a sled call, turning its errors and panics into [`Error::Io`].
fn guarded<T>(path: &Path, what: &str, f: impl FnOnce() -> sled::Result<T>) -> Result<T, Error> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(sled_error(path, what, e)),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Error::io(
                path,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "cannot {what}: the message store is corrupt (sled panicked: {reason}); \
                         move the directory away to start with an empty store"
                    ),
                ),
            ))
        }
    }
}

/// A sled error as [`Error::Io`] with a reason a user can act on.
fn sled_error(path: &Path, what: &str, e: sled::Error) -> Error {
    let source = match e {
        e if is_lock_held(&e) => io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "cannot {what}: the message store is in use by another process (give each \
                 device process its own [message_persistence] db_name)"
            ),
        ),
        sled::Error::Io(io) => io::Error::new(io.kind(), format!("cannot {what}: {io}")),
        sled::Error::Corruption { at, .. } => io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "cannot {what}: the message store is corrupt (at {at:?}); move the directory \
                 away to start with an empty store"
            ),
        ),
        other => io::Error::other(format!("cannot {what}: {other}")),
    };
    Error::io(path, source)
}

#[cfg(test)]
mod tests {
    use iotcs_core::message::Reliability;

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "iotcs-persist-{name}-{}-{}",
            std::process::id(),
            iotcs_core::__private::uuid_v4().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn message(n: i64) -> Message {
        Message::data("EP-1", "urn:x:attributes", [("n", n)], n)
            .unwrap()
            .with_reliability(Reliability::GuaranteedDelivery)
    }

    #[test]
    fn a_database_keeps_the_segment_size_it_was_created_with() {
        let dir = temp_dir("segment");
        // Created before the segment size changed: sled's default size.
        let old = dir.join("old.db");
        let stored = message(1);
        {
            let db = sled::Config::new().path(&old).open().unwrap();
            let json = stored.to_json();
            db.open_tree("EP-1")
                .unwrap()
                .insert(7u64.to_be_bytes(), json.as_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        assert_eq!(segment_size_of(&old), 512 * 1024);
        let store = MessageStore::open(&old, "EP-1").unwrap();
        let loaded = store.load_all().unwrap();
        assert_eq!(loaded, vec![(7, stored)]);
        drop(store);
        // A new database gets the smaller size, and keeps it.
        let new = dir.join("new.db");
        assert_eq!(segment_size_of(&new), SEGMENT_SIZE);
        drop(MessageStore::open(&new, "EP-1").unwrap());
        assert_eq!(segment_size_of(&new), SEGMENT_SIZE);
        assert!(MessageStore::open(&new, "EP-1").is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn put_load_remove_round_trip_in_insertion_order() {
        let dir = temp_dir("roundtrip");
        let path = dir.join("msps.db");
        let messages: Vec<Message> = (0..5).map(message).collect();
        {
            let store = MessageStore::open(&path, "EP-1").unwrap();
            let json: Vec<String> = messages.iter().map(Message::to_json).collect();
            let refs: Vec<(u64, &str)> = json
                .iter()
                .enumerate()
                .map(|(i, m)| (10 - i as u64, m.as_str()))
                .collect();
            store.put(&refs).unwrap();
            assert_eq!(store.len(), 5);
            store.remove(&[10]).unwrap();
        }
        // Reopened (the registry dropped the database with the last store).
        let store = MessageStore::open(&path, "EP-1").unwrap();
        let loaded = store.load_all().unwrap();
        let keys: Vec<u64> = loaded.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [6, 7, 8, 9]);
        assert_eq!(loaded[3].1.client_id(), messages[1].client_id());
        // Another endpoint's tree is separate.
        let other = MessageStore::open(&path, "EP-2").unwrap();
        assert_eq!(other.len(), 0);
        drop((store, other));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn opening_waits_for_a_lock_that_is_being_released() {
        let dir = temp_dir("lock");
        let path = dir.join("msps.db");
        let held = sled::Config::new().path(&path).open().unwrap();
        // While it is held, a second open fails after the wait.
        let e = open_waiting_for_lock(Duration::from_millis(50), || {
            sled::Config::new().path(&path).open()
        })
        .unwrap_err();
        assert!(is_lock_held(&e), "{e:?}");
        let text = sled_error(&path, "open the message store", e).to_string();
        assert!(text.contains("in use by another process"), "{text}");
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
        let store = MessageStore::open(&path, "EP-1").unwrap();
        store.put(&[(1, &message(1).to_json())]).unwrap();
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn other_open_errors_are_not_retried() {
        let mut calls = 0;
        let e = open_waiting_for_lock(Duration::from_secs(60), || -> sled::Result<()> {
            calls += 1;
            Err(sled::Error::Io(io::Error::from(
                io::ErrorKind::PermissionDenied,
            )))
        })
        .unwrap_err();
        assert!(matches!(e, sled::Error::Io(_)));
        assert_eq!(calls, 1);
    }

    #[test]
    fn two_stores_of_one_path_share_the_database() {
        let dir = temp_dir("shared");
        let path = dir.join("msps.db");
        let a = MessageStore::open(&path, "EP-1").unwrap();
        let b = MessageStore::open(&path, "EP-1").unwrap();
        a.put(&[(1, &message(1).to_json())]).unwrap();
        assert_eq!(b.len(), 1);
        drop((a, b));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_flush_syncs_unless_syncs_are_deferred() {
        let dir = temp_dir("syncs");
        let store = MessageStore::open(&dir.join("msps.db"), "EP-1").unwrap();
        let json = message(1).to_json();
        for key in 0..5 {
            store.put(&[(key, &json)]).unwrap();
        }
        assert_eq!(store.syncs(), 5, "durable before return: one sync each");
        store.defer_syncs(true);
        for key in 5..10 {
            store.put(&[(key, &json)]).unwrap();
        }
        assert_eq!(store.syncs(), 5, "deferred: none");
        store.sync_written().unwrap();
        store.sync_written().unwrap();
        assert_eq!(
            store.syncs(),
            6,
            "one for the five, none when nothing is new"
        );
        // A failed sync leaves the writes to be synced by the next call.
        store.put(&[(10, &json)]).unwrap();
        store.fail.arm("sync");
        assert!(store.sync_written().is_err());
        store.sync_written().unwrap();
        assert_eq!(store.syncs(), 7);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn injected_failures_are_errors_naming_the_site() {
        let dir = temp_dir("fail");
        let store = MessageStore::open(&dir.join("msps.db"), "EP-1").unwrap();
        for site in ["put", "flush", "sync", "remove", "load"] {
            store.fail.arm(site);
        }
        let e = store.put(&[(1, &message(1).to_json())]).unwrap_err();
        assert!(e.to_string().contains("injected failure at put"), "{e}");
        assert_eq!(store.len(), 0);
        assert!(store.flush().is_err());
        let e = store.flush().unwrap_err();
        assert!(e.to_string().contains("injected failure at sync"), "{e}");
        assert!(store.remove(&[1]).is_err());
        assert!(store.load_all().is_err());
        // Disarmed after one hit.
        store.put(&[(1, &message(1).to_json())]).unwrap();
        assert_eq!(store.load_all().unwrap().len(), 1);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unreadable_records_are_dropped_not_fatal() {
        let dir = temp_dir("badrecord");
        let store = MessageStore::open(&dir.join("msps.db"), "EP-1").unwrap();
        store.put(&[(1, &message(1).to_json())]).unwrap();
        store
            .tree
            .insert(2u64.to_be_bytes(), &b"not json"[..])
            .unwrap();
        store.tree.insert(b"short", &b"{}"[..]).unwrap();
        let loaded = store.load_all().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(store.len(), 1);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_directory_is_a_clear_error_and_no_panic() {
        let dir = temp_dir("corrupt");
        let path = dir.join("msps.db");
        {
            let store = MessageStore::open(&path, "EP-1").unwrap();
            let json: Vec<String> = (0..50).map(|n| message(n).to_json()).collect();
            let refs: Vec<(u64, &str)> = json
                .iter()
                .enumerate()
                .map(|(i, m)| (i as u64, m.as_str()))
                .collect();
            store.put(&refs).unwrap();
        }
        // Garbage over every file sled wrote.
        let mut garbage = vec![0u8; 4096];
        iotcs_core::__private::fill_random(&mut garbage).unwrap();
        for entry in std::fs::read_dir(&path).unwrap() {
            let file = entry.unwrap().path();
            if file.is_file() {
                std::fs::write(&file, &garbage).unwrap();
            }
        }
        let e = MessageStore::open(&path, "EP-1").unwrap_err();
        let text = e.to_string();
        assert_eq!(e.kind(), iotcs_core::ErrorKind::Io, "{text}");
        assert!(text.contains("msps.db"), "{text}");
        assert!(text.contains("cannot open the message store"), "{text}");
        // A file where the directory should be is an error too.
        let file_path = dir.join("not-a-dir");
        std::fs::write(&file_path, b"x").unwrap();
        assert!(MessageStore::open(&file_path, "EP-1").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
