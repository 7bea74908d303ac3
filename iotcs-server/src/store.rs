//! Persistence: the only module that touches sled. One tree per entity, JSON
//! values, written through on every change and read back in full at start.
//!
//! sled flushes on its own every 500 ms and [`Store::flush`] runs at shutdown,
//! so a clean shutdown loses nothing and a crash loses at most the last half
//! second.

use std::path::Path;
use std::time::{Duration, Instant};

use iotcs_core::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;

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
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Devices => "devices",
            Table::Models => "models",
            Table::Messages => "messages",
            Table::Requests => "requests",
        }
    }
}

/// The sled database of a server.
#[derive(Debug)]
pub(crate) struct Store {
    db: sled::Db,
}

fn db_error(what: &str, e: sled::Error) -> Error {
    match e {
        sled::Error::Io(io) => Error::Io {
            path: None,
            source: io,
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
        Ok(Store { db })
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
        Ok(())
    }

    /// Deletes one record (absent is fine).
    pub(crate) fn remove(&self, table: Table, key: &[u8]) -> Result<(), Error> {
        self.tree(table)?
            .remove(key)
            .map_err(|e| db_error("delete", e))?;
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

    /// Writes everything to disk.
    pub(crate) fn flush(&self) -> Result<(), Error> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|e| db_error("flush", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening() {
        let dir = crate::TempDir::new("store").unwrap();
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
        let dir = crate::TempDir::new("store").unwrap();
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

    #[test]
    fn undecodable_records_are_skipped() {
        let dir = crate::TempDir::new("store").unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.put(Table::Models, b"good", &5u32).unwrap();
        s.put(Table::Models, b"bad", &"text").unwrap();
        let loaded: Vec<(Vec<u8>, u32)> = s.load(Table::Models).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].0, b"good");
    }
}
