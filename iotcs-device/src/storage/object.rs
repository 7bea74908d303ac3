//! [`StorageObject`]: content in the storage cloud, uploaded from or
//! downloaded to a file by the device's transfer thread, and the value of a
//! URI attribute or field. Its state rules (`Content`) are plain data,
//! tested without files or network; the handle adds the file checks and
//! hands transfers to the device's storage (`hub.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use iotcs_core::{Error, Value};

use crate::storage::hub::Hub;
use crate::storage::status::{SyncEvent, SyncStatus};
use crate::virtual_device::VirtualDevice;

/// The default content type (reference: `createStorageObject` with
/// `contentType=None`).
pub(crate) const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// An `on_sync` callback as stored.
pub(crate) type SyncCallback = Arc<dyn Fn(&SyncEvent) + Send + Sync>;
/// An `on_progress` callback as stored: bytes done, bytes in all.
pub(crate) type ProgressCallback = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Which way a sync goes.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum Direction {
    /// From this file to the storage cloud.
    Upload(PathBuf),
    /// From the storage cloud to this file.
    Download(PathBuf),
}

/// What a storage object knows, and the reference's rules for changing it.
#[derive(Clone)]
pub(crate) struct Content {
    pub(crate) content_type: String,
    pub(crate) encoding: Option<String>,
    /// `None`: unknown (the reference's -1).
    pub(crate) length: Option<u64>,
    /// When the storage cloud last stored it, ISO 8601.
    pub(crate) date: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    input: Option<PathBuf>,
    output: Option<PathBuf>,
    pub(crate) status: SyncStatus,
    pub(crate) on_sync: Option<SyncCallback>,
    pub(crate) on_progress: Option<ProgressCallback>,
}

impl Content {
    pub(crate) fn new(content_type: Option<&str>) -> Self {
        Content {
            content_type: content_type
                .filter(|c| !c.trim().is_empty())
                .unwrap_or(DEFAULT_CONTENT_TYPE)
                .to_owned(),
            encoding: None,
            length: None,
            date: None,
            metadata: BTreeMap::new(),
            input: None,
            output: None,
            status: SyncStatus::NotInSync,
            on_sync: None,
            on_progress: None,
        }
    }

    fn refuse_while_pending(&self, what: &str) -> Result<(), Error> {
        if self.status == SyncStatus::SyncPending {
            return Err(Error::state(format!(
                "cannot set the {what} path while a sync is pending"
            )));
        }
        Ok(())
    }

    /// `setInputPath`: clears the output path; a new path resets the status
    /// to `NOT_IN_SYNC`; refused while a sync is pending. `length` is the
    /// file's, checked readable by the caller.
    pub(crate) fn set_input(
        &mut self,
        path: Option<PathBuf>,
        length: Option<u64>,
    ) -> Result<(), Error> {
        self.refuse_while_pending("input")?;
        if let Some(path) = path {
            self.output = None;
            if self.input.as_ref() != Some(&path) {
                self.status = SyncStatus::NotInSync;
            }
            self.input = Some(path);
            self.length = length;
        } else {
            self.input = None;
        }
        Ok(())
    }

    /// `setOutputPath`: the mirror of [`Content::set_input`].
    pub(crate) fn set_output(&mut self, path: Option<PathBuf>) -> Result<(), Error> {
        self.refuse_while_pending("output")?;
        if let Some(path) = path {
            self.input = None;
            if self.output.as_ref() != Some(&path) {
                self.status = SyncStatus::NotInSync;
            }
            self.output = Some(path);
        } else {
            self.output = None;
        }
        Ok(())
    }

    /// `sync`: the transfer to start, if any. Only `NOT_IN_SYNC` starts one
    /// (it becomes `SYNC_PENDING`); any other status does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::State`] when neither path is set.
    pub(crate) fn begin_sync(&mut self) -> Result<Option<Direction>, Error> {
        let direction = match (&self.input, &self.output) {
            (Some(input), _) => Direction::Upload(input.clone()),
            (None, Some(output)) => Direction::Download(output.clone()),
            (None, None) => {
                return Err(Error::state(
                    "set an input path (to upload) or an output path (to download) before sync",
                ));
            }
        };
        if self.status != SyncStatus::NotInSync {
            return Ok(None);
        }
        self.status = SyncStatus::SyncPending;
        Ok(Some(direction))
    }

    /// `setCustomMetadata`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for an empty key or value, or a key that cannot
    /// be an HTTP header name.
    pub(crate) fn set_metadata(&mut self, key: &str, value: &str) -> Result<(), Error> {
        if key.trim().is_empty() || value.trim().is_empty() {
            return Err(Error::argument(format!(
                "custom metadata {key:?} = {value:?}: neither key nor value may be empty"
            )));
        }
        let token = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if !key.chars().all(token) {
            return Err(Error::argument(format!(
                "custom metadata key {key:?} may only have letters, digits, '-', '_' and '.' (it becomes an X-Object-Meta- header)"
            )));
        }
        if value.chars().any(|c| c.is_control()) || !value.is_ascii() {
            return Err(Error::argument(format!(
                "custom metadata value {value:?} of {key:?} must be printable ASCII (it becomes a header value)"
            )));
        }
        self.metadata.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

/// What every clone of a storage object shares.
pub(crate) struct Shared {
    name: String,
    uri: String,
    hub: Weak<Hub>,
    content: Mutex<Content>,
}

/// Content in the storage cloud: a file the device uploads, or one the
/// cloud pointed it at to download. Reference: `StorageObject` (an
/// `ExternalObject`).
///
/// Create one with `DirectlyConnectedDevice::create_storage_object` (or
/// [`VirtualDevice::create_storage_object`] for an indirectly-connected
/// device of a gateway), give it an input path and use it as the value of a
/// URI attribute or field: the message carrying it waits until the upload is
/// `IN_SYNC`. A cloud-set URI attribute that names a storage object reaches
/// the change callback as a URI; [`VirtualDevice::storage_object`] makes it
/// a `StorageObject` to download with [`StorageObject::set_output_path`] and
/// [`StorageObject::sync`].
///
/// Clones share one state. Transfers run on the device's `iotcs-storage-<n>`
/// threads; callbacks run on its callback threads.
#[derive(Clone)]
pub struct StorageObject {
    shared: Arc<Shared>,
}

impl fmt::Debug for StorageObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageObject")
            .field("name", &self.shared.name)
            .field("uri", &self.shared.uri)
            .field("status", &self.lock().status)
            .finish_non_exhaustive()
    }
}

impl StorageObject {
    pub(crate) fn new(name: String, uri: String, hub: Weak<Hub>, content: Content) -> Self {
        StorageObject {
            shared: Arc::new(Shared {
                name,
                uri,
                hub,
                content: Mutex::new(content),
            }),
        }
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        StorageObject { shared }
    }

    pub(crate) fn downgrade(&self) -> Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    /// The object's URL in the storage cloud: the value a message carries.
    /// Reference: `getURI()`.
    pub fn uri(&self) -> &str {
        &self.shared.uri
    }

    /// The name in the storage cloud, with the endpoint id prefix unless
    /// `disable_storage_object_prefix`. Reference: `getName()`.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The content's length in bytes, `None` when unknown (the reference's
    /// -1). Reference: `getLength()`.
    pub fn length(&self) -> Option<u64> {
        self.lock().length
    }

    /// The content's mime type. Reference: `getContentType()`.
    pub fn content_type(&self) -> String {
        self.lock().content_type.clone()
    }

    /// The content's compression scheme, `None` when not compressed.
    /// Reference: `getEncoding()`.
    pub fn encoding(&self) -> Option<String> {
        self.lock().encoding.clone()
    }

    /// When the storage cloud last stored the content (ISO 8601), `None`
    /// before it was uploaded. Reference: `getDate()`.
    pub fn date(&self) -> Option<String> {
        self.lock().date.clone()
    }

    /// A copy of the custom metadata, sent as `X-Object-Meta-<key>`
    /// headers. Reference: `getCustomMetadata()`.
    pub fn custom_metadata(&self) -> BTreeMap<String, String> {
        self.lock().metadata.clone()
    }

    /// Sets custom metadata `key` to `value` for the next upload.
    /// Reference: `setCustomMetadata(key, value)`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for an empty key or value, a key other than
    /// letters, digits, `-`, `_`, `.`, or a value that is not printable
    /// ASCII (both become an HTTP header).
    pub fn set_custom_metadata(&self, key: &str, value: &str) -> Result<&Self, Error> {
        self.lock().set_metadata(key, value)?;
        Ok(self)
    }

    /// The file uploaded from, if set. Reference: `getInputPath()`.
    pub fn input_path(&self) -> Option<PathBuf> {
        self.lock().input.clone()
    }

    /// The file downloaded to, if set. Reference: `getOutputPath()`.
    pub fn output_path(&self) -> Option<PathBuf> {
        self.lock().output.clone()
    }

    /// Uploads from `path` at the next sync: clears the output path, and a
    /// path other than the current one makes the status `NOT_IN_SYNC`.
    /// `None` clears the input path. Reference: `setInputPath(inputPath)`.
    ///
    /// # Errors
    ///
    /// [`Error::State`] while a sync is pending; [`Error::Io`] when the file
    /// cannot be read.
    pub fn set_input_path(&self, path: Option<&Path>) -> Result<&Self, Error> {
        let length = match path {
            Some(path) => Some(readable_length(path)?),
            None => None,
        };
        self.lock().set_input(path.map(Path::to_path_buf), length)?;
        Ok(self)
    }

    /// Downloads to `path` at the next sync (its directory is created if
    /// needed): clears the input path, and a path other than the current one
    /// makes the status `NOT_IN_SYNC`. `None` clears the output path.
    /// Reference: `setOutputPath(outputPath)`.
    ///
    /// # Errors
    ///
    /// [`Error::State`] while a sync is pending; [`Error::Io`] when the
    /// path's directory cannot be created or the path is a directory.
    pub fn set_output_path(&self, path: Option<&Path>) -> Result<&Self, Error> {
        if let Some(path) = path {
            writable_target(path)?;
        }
        self.lock().set_output(path.map(Path::to_path_buf))?;
        Ok(self)
    }

    /// Where the content stands. Reference: `getSyncStatus()`.
    pub fn sync_status(&self) -> SyncStatus {
        self.lock().status
    }

    /// Calls `callback` when a sync of this object ends, in sync or failed,
    /// on a callback thread. Replaces the callback set before. Reference:
    /// `setOnSync(callback)`.
    pub fn on_sync(&self, callback: impl Fn(&SyncEvent) + Send + Sync + 'static) -> &Self {
        self.lock().on_sync = Some(Arc::new(callback));
        self
    }

    /// Removes the `on_sync` callback. Reference: `setOnSync(None)`.
    pub fn remove_on_sync(&self) -> &Self {
        self.lock().on_sync = None;
        self
    }

    /// Calls `callback` with the bytes transferred so far and the bytes in
    /// all, on a callback thread, after each segment of an upload and each
    /// MiB of a download (not in the reference: for applications that show
    /// progress).
    pub fn on_progress(&self, callback: impl Fn(u64, u64) + Send + Sync + 'static) -> &Self {
        self.lock().on_progress = Some(Arc::new(callback));
        self
    }

    /// Starts uploading (input path set) or downloading (output path set)
    /// on the device's transfer thread, and returns at once. Does nothing
    /// unless the status is `NOT_IN_SYNC`. The outcome reaches the
    /// `on_sync` callback; failures of a sync started by a message also
    /// reach the virtual device's `on_error`. Reference: `sync()`.
    ///
    /// # Errors
    ///
    /// [`Error::State`] when neither path is set; [`Error::Io`] when the
    /// input cannot be read or the output's directory cannot be created;
    /// [`Error::Closed`] when the device is closed.
    pub fn sync(&self) -> Result<(), Error> {
        self.sync_for(None, None).map(|_| ())
    }

    /// As [`StorageObject::sync`], for the value `name` of `device`'s
    /// message (the sync event names them). Returns whether an upload is
    /// pending afterwards (started now or before), which holds the message.
    pub(crate) fn sync_for(
        &self,
        name: Option<&str>,
        device: Option<&VirtualDevice>,
    ) -> Result<bool, Error> {
        let direction = {
            let mut content = self.lock();
            match content.begin_sync()? {
                Some(direction) => direction,
                None => {
                    let pending =
                        content.status == SyncStatus::SyncPending && content.input.is_some();
                    return Ok(pending);
                }
            }
        };
        let checked = match &direction {
            Direction::Upload(path) => readable_length(path).map(|_| ()),
            Direction::Download(path) => writable_target(path),
        };
        let hub = self.shared.hub.upgrade().ok_or(Error::Closed);
        let submitted = checked.and(hub).and_then(|hub| {
            let event = SyncEvent::new(self.clone(), name.map(str::to_owned), device.cloned());
            hub.submit(self.clone(), direction.clone(), event)
        });
        if let Err(e) = submitted {
            self.lock().status = SyncStatus::NotInSync;
            return Err(e);
        }
        Ok(matches!(direction, Direction::Upload(_)))
    }

    /// The state, for the transfer thread.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Content> {
        // No operation on `Content` panics half-way.
        self.shared
            .content
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl From<&StorageObject> for Value {
    fn from(object: &StorageObject) -> Self {
        Value::Uri(object.uri().to_owned())
    }
}

impl From<StorageObject> for Value {
    fn from(object: StorageObject) -> Self {
        Value::from(&object)
    }
}

/// The length of the readable file at `path`.
fn readable_length(path: &Path) -> Result<u64, Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a directory, not a file",
            ),
        ));
    }
    Ok(meta.len())
}

/// Checks that a file can be written at `path`, creating its directory.
fn writable_target(path: &Path) -> Result<(), Error> {
    if path.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a directory, not a file",
            ),
        ));
    }
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> Content {
        Content::new(None)
    }

    #[test]
    fn defaults_follow_the_reference() {
        let c = content();
        assert_eq!(c.content_type, DEFAULT_CONTENT_TYPE);
        assert_eq!(c.status, SyncStatus::NotInSync);
        assert_eq!(c.length, None);
        assert_eq!(Content::new(Some("image/png")).content_type, "image/png");
    }

    #[test]
    fn input_and_output_paths_exclude_each_other() {
        let mut c = content();
        c.set_output(Some("out".into())).expect("not pending");
        c.set_input(Some("in".into()), Some(3))
            .expect("not pending");
        assert_eq!(
            (c.input.as_deref(), c.output.as_deref()),
            (Some(Path::new("in")), None)
        );
        assert_eq!(c.length, Some(3));
        c.set_output(Some("out".into())).expect("not pending");
        assert_eq!(
            (c.input.as_deref(), c.output.as_deref()),
            (None, Some(Path::new("out")))
        );
    }

    #[test]
    fn a_new_path_resets_the_status_and_the_same_path_keeps_it() {
        let mut c = content();
        c.set_input(Some("in".into()), Some(1)).expect("ok");
        c.status = SyncStatus::InSync;
        c.set_input(Some("in".into()), Some(1)).expect("ok");
        assert_eq!(c.status, SyncStatus::InSync, "same path");
        c.set_input(Some("other".into()), Some(1)).expect("ok");
        assert_eq!(c.status, SyncStatus::NotInSync, "new path");
        c.status = SyncStatus::SyncFailed;
        c.set_output(Some("out".into())).expect("ok");
        assert_eq!(c.status, SyncStatus::NotInSync);
    }

    #[test]
    fn paths_cannot_change_while_a_sync_is_pending() {
        let mut c = content();
        c.set_input(Some("in".into()), Some(1)).expect("ok");
        assert_eq!(
            c.begin_sync().expect("has input"),
            Some(Direction::Upload("in".into()))
        );
        assert_eq!(c.status, SyncStatus::SyncPending);
        let e = c.set_input(Some("x".into()), Some(1)).expect_err("pending");
        assert!(matches!(e, Error::State { .. }), "{e}");
        assert!(matches!(
            c.set_output(Some("x".into())),
            Err(Error::State { .. })
        ));
        assert!(matches!(c.set_input(None, None), Err(Error::State { .. })));
        assert_eq!(c.input.as_deref(), Some(Path::new("in")), "unchanged");
    }

    #[test]
    fn sync_needs_a_path_and_starts_only_when_not_in_sync() {
        let mut c = content();
        assert!(matches!(c.begin_sync(), Err(Error::State { .. })));
        c.set_output(Some("out".into())).expect("ok");
        assert_eq!(
            c.begin_sync().expect("ok"),
            Some(Direction::Download("out".into()))
        );
        assert_eq!(c.begin_sync().expect("ok"), None, "already pending");
        for status in [SyncStatus::InSync, SyncStatus::SyncFailed] {
            c.status = status;
            assert_eq!(c.begin_sync().expect("ok"), None, "{status}");
            assert_eq!(c.status, status);
        }
    }

    #[test]
    fn metadata_must_be_a_usable_header() {
        let mut c = content();
        c.set_metadata("camera", "front").expect("valid");
        assert_eq!(c.metadata.get("camera").map(String::as_str), Some("front"));
        for (k, v) in [
            ("", "v"),
            ("k", ""),
            ("a b", "v"),
            ("k", "line\nbreak"),
            ("k", "é"),
        ] {
            let e = c.set_metadata(k, v).expect_err(k);
            assert!(matches!(e, Error::Argument { .. }), "{k:?}={v:?}: {e}");
        }
    }

    #[test]
    fn the_handle_checks_files_before_the_rules() {
        let dir = std::env::temp_dir().join(format!("iotcs-storage-object-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("in.bin");
        std::fs::write(&file, b"12345").expect("write");
        let object = StorageObject::new(
            "EP/o".into(),
            "https://h:1/v1/a/c/EP/o".into(),
            Weak::new(),
            content(),
        );
        let e = object
            .set_input_path(Some(&dir.join("missing")))
            .expect_err("no file");
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(matches!(
            object.set_input_path(Some(&dir)),
            Err(Error::Io { .. })
        ));
        object.set_input_path(Some(&file)).expect("readable");
        assert_eq!(object.length(), Some(5));
        assert_eq!(
            Value::from(&object),
            Value::Uri("https://h:1/v1/a/c/EP/o".into())
        );
        // Without a device to run it, a sync is refused and changes nothing.
        assert!(matches!(object.sync(), Err(Error::Closed)));
        assert_eq!(object.sync_status(), SyncStatus::NotInSync);
        object
            .set_output_path(Some(&dir.join("sub/out.bin")))
            .expect("creatable");
        assert!(dir.join("sub").is_dir());
        assert_eq!(object.input_path(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
