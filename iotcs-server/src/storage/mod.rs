//! The storage service's object store (protocol.md §9.1): objects as files
//! under the storage directory, each with a small JSON sidecar, an index of
//! the sidecars in memory, the quota, the storage tokens, and the count of
//! bytes received per object (for tests of resumed uploads).
//!
//! Layout of the directory: `objects/<key>.json` (the sidecar, see
//! [`ObjectMeta`]), `objects/<key>-<random>.data` (the bytes), `tmp/` (uploads
//! in progress). `<key>` is the hex MD5 of the object's name. An upload is
//! written to `tmp/`, synced, renamed into `objects/`, and only then does the
//! sidecar (written atomically) make it visible: the sidecar is the commit
//! point, so a crash leaves either the old object or the new one, never half
//! of one. At start, files no sidecar names are removed.
//!
//! Bytes never pass through memory whole: uploads are written as they arrive
//! (`upload.rs`), downloads read in fixed-size chunks (`download.rs`). The
//! HTTP side is `crate::storage_api`.

mod download;
mod object;
mod range;
mod tokens;
mod upload;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use iotcs_core::Error;

pub(crate) use download::{CHANNEL_CHUNKS, Part, pump, slice};
pub(crate) use object::{ObjectMeta, check_name, http_date};
pub(crate) use range::{RangeAsk, parse as parse_range};
use tokens::StorageTokens;
pub(crate) use upload::{Staged, Upload};

use crate::state::DomainError;

/// The account and container of the local cloud's storage: object URLs are
/// `https://HOST:PORT/v1/Storage-iotcs/iotcs/<name>`, the `/v1/<account>/
/// <container>` shape that Oracle's libraries take for classic storage.
pub(crate) const ACCOUNT: &str = "Storage-iotcs";
pub(crate) const CONTAINER: &str = "iotcs";

/// The storage service as the request handlers see it: the store and the
/// container URL handed to devices.
#[derive(Debug)]
pub(crate) struct StorageService {
    pub(crate) store: Storage,
    /// `https://HOST:PORT/v1/Storage-iotcs/iotcs`, explicit port always
    /// (Oracle's JS library assumes 443 otherwise).
    pub(crate) container_url: String,
}

impl StorageService {
    /// The URL of object `name`.
    pub(crate) fn object_url(&self, name: &str) -> String {
        let encoded: Vec<String> = name.split('/').map(crate::http::percent_encode).collect();
        format!("{}/{}", self.container_url, encoded.join("/"))
    }
}

/// Ways to open a store.
#[derive(Clone, Debug)]
pub(crate) struct StorageSettings {
    /// The directory of the store.
    pub(crate) root: PathBuf,
    /// Remove the directory when the store is dropped (servers without a
    /// data directory, or ephemeral ones).
    pub(crate) temporary: bool,
    /// The most bytes all objects (and uploads in progress) may take.
    pub(crate) quota: u64,
    /// How long a storage token is valid.
    pub(crate) token_lifetime: Duration,
}

/// What a `PUT` says about the object besides its bytes.
#[derive(Clone, Debug, Default)]
pub(crate) struct NewObject {
    pub(crate) name: String,
    pub(crate) content_type: String,
    pub(crate) content_encoding: Option<String>,
    pub(crate) meta: BTreeMap<String, String>,
    /// A manifest's segment prefix (inside the container).
    pub(crate) manifest: Option<String>,
}

/// An object's content, ready to stream: its metadata, its ETag (bare hex
/// MD5, or Swift's quoted one for a manifest), its length and its parts.
#[derive(Debug)]
pub(crate) struct Content {
    pub(crate) meta: ObjectMeta,
    pub(crate) etag: String,
    pub(crate) len: u64,
    pub(crate) parts: Vec<Part>,
}

/// The sidecars in memory, and the bytes they account for.
#[derive(Debug, Default)]
struct Index {
    objects: BTreeMap<String, ObjectMeta>,
    /// Bytes of all objects plus the uploads in progress.
    used: u64,
}

/// The object store. Every operation that touches the disk blocks; the HTTP
/// side calls them from `block_in_place`.
#[derive(Debug)]
pub(crate) struct Storage {
    settings: StorageSettings,
    index: Mutex<Index>,
    tokens: Mutex<StorageTokens>,
    received: Mutex<BTreeMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change is applied after its checks, so a poisoned lock still
    // guards consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn internal(what: &str, path: &Path, e: impl std::fmt::Display) -> DomainError {
    DomainError::internal(format!("cannot {what} {}: {e}", path.display()))
}

impl Storage {
    /// Opens (or creates) the store and loads its index.
    pub(crate) fn open(settings: StorageSettings) -> Result<Storage, Error> {
        let objects = settings.root.join("objects");
        let tmp = settings.root.join("tmp");
        fs::create_dir_all(&objects).map_err(|e| Error::io(&objects, e))?;
        // Uploads cut by a stop never finish: start with an empty tmp/.
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let index = load_index(&objects)?;
        log::info!(
            "storage in {}: {} objects, {} bytes, quota {} bytes",
            settings.root.display(),
            index.objects.len(),
            index.used,
            settings.quota
        );
        Ok(Storage {
            settings,
            index: Mutex::new(index),
            tokens: Mutex::new(StorageTokens::default()),
            received: Mutex::new(BTreeMap::new()),
        })
    }

    /// The store's directory.
    pub(crate) fn root(&self) -> &Path {
        &self.settings.root
    }

    fn objects_dir(&self) -> PathBuf {
        self.settings.root.join("objects")
    }

    /// A new storage token and its lifetime in ms.
    pub(crate) fn issue_token(&self, now: i64) -> Result<(String, i64), DomainError> {
        let lifetime = i64::try_from(self.settings.token_lifetime.as_millis()).unwrap_or(i64::MAX);
        let token = lock(&self.tokens).issue(lifetime, now)?;
        Ok((token, lifetime))
    }

    /// Whether a storage token is valid now.
    pub(crate) fn token_valid(&self, token: &str, now: i64) -> bool {
        lock(&self.tokens).valid(token, now)
    }

    /// Revokes every storage token; returns how many there were.
    pub(crate) fn expire_tokens(&self) -> usize {
        lock(&self.tokens).expire_all()
    }

    /// Starts an upload (a temporary file).
    pub(crate) fn begin(&self) -> Result<Upload, DomainError> {
        let tmp = self.settings.root.join("tmp");
        Upload::create(&tmp).map_err(|e| internal("create an upload in", &tmp, e))
    }

    /// Takes `n` more bytes of the quota for an upload in progress; refused
    /// when the objects and uploads would exceed it.
    pub(crate) fn reserve(&self, n: u64) -> Result<(), DomainError> {
        let mut index = lock(&self.index);
        let after = index.used.saturating_add(n);
        if after > self.settings.quota {
            return Err(DomainError::too_large(format!(
                "the storage quota of {} bytes is used up ({} bytes stored or uploading)",
                self.settings.quota, index.used
            )));
        }
        index.used = after;
        Ok(())
    }

    /// Gives back bytes taken by [`Storage::reserve`].
    pub(crate) fn release(&self, n: u64) {
        let mut index = lock(&self.index);
        index.used = index.used.saturating_sub(n);
    }

    /// Makes a staged upload the object `new.name` (replacing any object of
    /// that name). The caller's reservation of `staged.bytes` becomes the
    /// object's share of the quota.
    pub(crate) fn commit(
        &self,
        new: NewObject,
        staged: Staged,
        now: i64,
    ) -> Result<ObjectMeta, DomainError> {
        check_name(&new.name)?;
        let dir = self.objects_dir();
        let key = object::key_of(&new.name);
        let mut index = lock(&self.index);
        if let Some(other) = index
            .objects
            .values()
            .find(|m| m.name != new.name && m.data_file.starts_with(&key))
        {
            return Err(DomainError::conflict(format!(
                "object name {:?} has the same key as {:?}; choose another name",
                new.name, other.name
            )));
        }
        let mut random = [0u8; 6];
        iotcs_core::__private::fill_random(&mut random).map_err(DomainError::from)?;
        let data_file = format!("{key}-{}.data", object::hex(&random));
        let meta = ObjectMeta {
            name: new.name,
            bytes: staged.bytes,
            hash: staged.hash.clone(),
            content_type: new.content_type,
            content_encoding: new.content_encoding,
            last_modified_ms: now,
            meta: new.meta,
            manifest: new.manifest,
            data_file: data_file.clone(),
        };
        let data_path = dir.join(&data_file);
        staged
            .persist(&data_path)
            .map_err(|e| internal("store", &data_path, e))?;
        sync_dir(&dir);
        let sidecar = dir.join(format!("{key}.json"));
        let text = serde_json::to_vec(&meta).map_err(|e| internal("encode", &sidecar, e))?;
        if let Err(e) = crate::files::write_atomic(&sidecar, &text, 0o644) {
            let _ = fs::remove_file(&data_path);
            return Err(DomainError::internal(e.to_string()));
        }
        sync_dir(&dir);
        if let Some(old) = index.objects.insert(meta.name.clone(), meta.clone()) {
            index.used = index.used.saturating_sub(old.bytes);
            let _ = fs::remove_file(dir.join(old.data_file));
        }
        Ok(meta)
    }

    /// The metadata of an object.
    pub(crate) fn object(&self, name: &str) -> Option<ObjectMeta> {
        lock(&self.index).objects.get(name).cloned()
    }

    /// An object's content, its files opened: one file, or for a manifest
    /// every object under its prefix (but other manifests) in name order.
    pub(crate) fn content(&self, name: &str) -> Result<Content, DomainError> {
        let dir = self.objects_dir();
        let index = lock(&self.index);
        let meta = index
            .objects
            .get(name)
            .cloned()
            .ok_or_else(|| DomainError::not_found(format!("no object {name}")))?;
        let open = |m: &ObjectMeta| -> Result<Part, DomainError> {
            let path = dir.join(&m.data_file);
            let file = fs::File::open(&path).map_err(|e| internal("open", &path, e))?;
            Ok(Part {
                file,
                offset: 0,
                len: m.bytes,
            })
        };
        let Some(prefix) = &meta.manifest else {
            let part = open(&meta)?;
            return Ok(Content {
                etag: meta.hash.clone(),
                len: meta.bytes,
                parts: vec![part],
                meta,
            });
        };
        let segments: Vec<&ObjectMeta> = index
            .objects
            .range(prefix.clone()..)
            .take_while(|(n, _)| n.starts_with(prefix.as_str()))
            .map(|(_, m)| m)
            .filter(|m| m.manifest.is_none() && m.name != meta.name)
            .collect();
        let parts = segments.iter().map(|m| open(m)).collect::<Result<_, _>>()?;
        Ok(Content {
            etag: object::manifest_etag(segments.iter().map(|m| m.hash.as_str())),
            len: segments.iter().map(|m| m.bytes).sum(),
            parts,
            meta,
        })
    }

    /// Objects whose name starts with `prefix` and comes after `marker`, in
    /// name order, at most `limit`.
    pub(crate) fn list(&self, prefix: &str, marker: Option<&str>, limit: usize) -> Vec<ObjectMeta> {
        let index = lock(&self.index);
        index
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(n, _)| n.starts_with(prefix))
            .filter(|(n, _)| marker.is_none_or(|m| n.as_str() > m))
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Deletes an object (a manifest alone, not its segments, as Swift does).
    pub(crate) fn delete(&self, name: &str) -> Result<(), DomainError> {
        let dir = self.objects_dir();
        let mut index = lock(&self.index);
        if !index.objects.contains_key(name) {
            return Err(DomainError::not_found(format!("no object {name}")));
        }
        let sidecar = dir.join(format!("{}.json", object::key_of(name)));
        fs::remove_file(&sidecar).map_err(|e| internal("delete", &sidecar, e))?;
        sync_dir(&dir);
        if let Some(old) = index.objects.remove(name) {
            index.used = index.used.saturating_sub(old.bytes);
            let _ = fs::remove_file(dir.join(old.data_file));
        }
        Ok(())
    }

    /// Counts `n` body bytes received for `name` (every attempt counts).
    pub(crate) fn count_received(&self, name: &str, n: u64) {
        *lock(&self.received).entry(name.to_owned()).or_default() += n;
    }

    /// The body bytes received per object name since the start.
    pub(crate) fn received(&self) -> BTreeMap<String, u64> {
        lock(&self.received).clone()
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if self.settings.temporary {
            let _ = fs::remove_dir_all(&self.settings.root);
        }
    }
}

/// Makes a rename or removal in `dir` durable (best effort: some file
/// systems cannot sync a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads every sidecar of `objects`; removes data files no sidecar names and
/// sidecars whose data file is missing or of the wrong length.
fn load_index(objects: &Path) -> Result<Index, Error> {
    let mut index = Index::default();
    let mut data_files = Vec::new();
    for entry in fs::read_dir(objects).map_err(|e| Error::io(objects, e))? {
        let path = entry.map_err(|e| Error::io(objects, e))?.path();
        match path.extension().and_then(|x| x.to_str()) {
            Some("json") => {}
            Some("data") => {
                data_files.push(path);
                continue;
            }
            _ => continue,
        }
        let meta = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<ObjectMeta>(&b).ok());
        let len = meta
            .as_ref()
            .and_then(|m| fs::metadata(objects.join(&m.data_file)).ok())
            .map(|m| m.len());
        match meta {
            Some(m) if len == Some(m.bytes) => {
                index.used += m.bytes;
                index.objects.insert(m.name.clone(), m);
            }
            _ => {
                log::warn!("storage: dropping unreadable sidecar {}", path.display());
                let _ = fs::remove_file(&path);
            }
        }
    }
    for path in data_files {
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| index.objects.values().any(|m| m.data_file == n));
        if !named {
            let _ = fs::remove_file(&path);
        }
    }
    Ok(index)
}

#[cfg(test)]
mod tests;
