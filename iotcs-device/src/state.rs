//! Where a device keeps its state on disk, and the small files in it.
//!
//! Every device has a state directory beside its provisioning file, named
//! after it: `gateway.tas` keeps its state in `gateway.tas.state/`. That
//! directory must be writable anyway (activation rewrites the provisioning
//! file atomically through a temporary file beside it), it needs no `HOME`
//! (systemd services have none), and two devices on one host never share
//! it. It holds, by default:
//! - `msps.db/`: the message store (`[message_persistence] db_name` empty,
//!   the default; see [`message_store_path`] for the other cases);
//! - `bbps.db/`: messages held by `batchBy*` device policies, once one
//!   holds any ([`batch_store_path`]);
//! - `models/`: the device models the device used (`[device_model]
//!   device_model_store` empty, the default);
//! - `device.json`: the endpoint id and the device models it was activated
//!   with ([`DeviceRecord`]), so a restarted device checks
//!   `create_virtual_device` without the cloud;
//! - files the gateway writes through
//!   [`crate::DirectlyConnectedDevice::write_state_file`] (its registrations).
//!
//! Small files are replaced atomically ([`write_atomically`]): a reader sees
//! the old or the new content, never half of one, also after a power cut.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use iotcs_core::{Config, Error};
use serde::{Deserialize, Serialize};

/// The file name of the message store inside the state directory.
const MESSAGE_STORE: &str = "msps.db";

/// The directory of cached device models inside the state directory.
const MODELS: &str = "models";

/// The file of the device's own record inside the state directory.
const DEVICE_RECORD: &str = "device.json";

/// Names inside the state directory the library itself uses.
const RESERVED: [&str; 4] = [MESSAGE_STORE, MODELS, DEVICE_RECORD, BATCH_STORE];

/// The state directory of the device provisioned in `provisioning`: beside
/// it, its file name plus `.state`, made absolute so a later change of the
/// working directory does not move it.
pub(crate) fn state_directory(provisioning: &Path) -> PathBuf {
    let mut name = provisioning
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("iotcs"));
    name.push(".state");
    let dir = provisioning.with_file_name(name);
    std::path::absolute(&dir).unwrap_or(dir)
}

/// The message store of a device whose state directory is `state`:
/// - `db_name` empty (the default): `<state>/msps.db`;
/// - absolute: `db_name` as written;
/// - relative, with `home` (`HOME`) set and not empty: under `home`, as the
///   reference resolves it;
/// - relative without `HOME`: under `state`, where the reference would fail.
pub(crate) fn message_store_path(config: &Config, state: &Path, home: Option<OsString>) -> PathBuf {
    let name = &config.message_persistence.db_name;
    if name.as_os_str().is_empty() {
        return state.join(MESSAGE_STORE);
    }
    if name.is_absolute() {
        return name.clone();
    }
    match home.filter(|h| !h.is_empty()) {
        Some(home) => Path::new(&home).join(name),
        None => state.join(name),
    }
}

/// The reference's default `[batchby_persistence] db_name`, which this
/// crate reads as "the device's state directory" (see
/// [`batch_store_path`]).
const REFERENCE_BATCH_STORE: &str = "iotcs/bbps.db";

/// The file name of the store of held batches inside the state directory.
const BATCH_STORE: &str = "bbps.db";

/// The store of messages held by `batchBy*` policies of a device whose
/// state directory is `state`, resolved like [`message_store_path`], with
/// one deviation: the reference's default `iotcs/bbps.db` (under `HOME`)
/// is `<state>/bbps.db`, for the reasons `[message_persistence]`'s default
/// moved there (two devices of a host would fight over one sled lock; a
/// service may have no `HOME`).
pub(crate) fn batch_store_path(config: &Config, state: &Path, home: Option<OsString>) -> PathBuf {
    let name = &config.batchby_persistence.db_name;
    if name.as_os_str().is_empty() || name == Path::new(REFERENCE_BATCH_STORE) {
        return state.join(BATCH_STORE);
    }
    if name.is_absolute() {
        return name.clone();
    }
    match home.filter(|h| !h.is_empty()) {
        Some(home) => Path::new(&home).join(name),
        None => state.join(name),
    }
}

/// The directory of cached device models: `device_model_store` when set,
/// else `<state>/models`.
pub(crate) fn model_store_path(config: &Config, state: &Path) -> PathBuf {
    config
        .device_model
        .device_model_store
        .clone()
        .unwrap_or_else(|| state.join(MODELS))
}

/// What a device records about itself at activation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceRecord {
    /// The endpoint the record belongs to: a record of an earlier
    /// activation (the provisioning file was replaced) is ignored.
    pub(crate) endpoint_id: String,
    /// The device models given to `activate`.
    pub(crate) device_models: Vec<String>,
}

/// Reads the record of `endpoint_id` from `state`; a missing, unreadable or
/// foreign record is `None` (logged when it exists but cannot be used: the
/// device then works as if activated by another program).
pub(crate) fn read_device_record(state: &Path, endpoint_id: &str) -> Option<DeviceRecord> {
    let path = state.join(DEVICE_RECORD);
    let bytes = match read_file(&path) {
        Ok(bytes) => bytes?,
        Err(e) => {
            log::warn!(target: "iotcs::device::state", "{e}; the device models of the activation are not checked");
            return None;
        }
    };
    match serde_json::from_slice::<DeviceRecord>(&bytes) {
        Ok(record) if record.endpoint_id == endpoint_id => Some(record),
        Ok(record) => {
            log::warn!(target: "iotcs::device::state",
                "{} belongs to endpoint {}, not {endpoint_id}; ignoring it",
                path.display(),
                record.endpoint_id
            );
            None
        }
        Err(e) => {
            log::warn!(target: "iotcs::device::state",
                "{} is not a device record ({e}); ignoring it",
                path.display()
            );
            None
        }
    }
}

/// Writes `record` into `state`.
///
/// # Errors
///
/// [`Error::Io`] naming the file when it cannot be written.
pub(crate) fn write_device_record(state: &Path, record: &DeviceRecord) -> Result<(), Error> {
    let bytes = serde_json::to_vec(record)
        .map_err(|e| Error::protocol(format!("cannot encode the device record: {e}")))?;
    write_atomically(&state.join(DEVICE_RECORD), &bytes)
}

/// The path of the state file `name` in `state`, or why `name` is not one.
///
/// # Errors
///
/// [`Error::Argument`] unless `name` is a plain file name of ASCII letters,
/// digits, `.`, `-` and `_`, not starting with `.`, and not a name the
/// library uses itself.
pub(crate) fn state_file(state: &Path, name: &str) -> Result<PathBuf, Error> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !plain {
        return Err(Error::argument(format!(
            "state file name {name:?} must be a plain file name of letters, digits, '.', '-' \
             and '_', not starting with '.'"
        )));
    }
    if RESERVED.contains(&name) {
        return Err(Error::argument(format!(
            "state file name {name:?} is used by the library itself"
        )));
    }
    Ok(state.join(name))
}

/// The content of `path`; `None` if it does not exist.
///
/// # Errors
///
/// [`Error::Io`] naming the file for any other failure.
pub(crate) fn read_file(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Checks that files can be created in `dir` (creating it if needed), by
/// writing, syncing and removing a probe file: activation calls it before
/// it talks to the cloud, so a directory it cannot use fails the activation
/// while nothing has changed yet.
///
/// # Errors
///
/// [`Error::Io`] naming the directory or the probe file.
pub(crate) fn check_writable(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let probe = dir.join(format!(".iotcs-probe-{}", std::process::id()));
    let written = std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(b"probe").and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| Error::io(&probe, e))
}

/// Replaces `path` with `bytes`: a temporary file in the same directory
/// (created if needed), `fsync`, rename over the target, `fsync` of the
/// directory so the rename itself is durable. On failure the temporary file
/// is removed and the target is untouched.
///
/// # Errors
///
/// [`Error::Io`] naming the file of the step that failed.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        file.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    sync_dir(dir)
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), Error> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Directories cannot be opened for syncing here; the rename is what it is.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), Error> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("iotcs-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_state_directory_is_beside_the_provisioning_file() {
        let dir = state_directory(Path::new("/etc/iotcs/gateway.tas"));
        assert_eq!(dir, PathBuf::from("/etc/iotcs/gateway.tas.state"));
        let relative = state_directory(Path::new("gw.tas"));
        assert!(relative.is_absolute(), "{}", relative.display());
        assert!(relative.ends_with("gw.tas.state"));
    }

    #[test]
    fn the_message_store_needs_home_only_for_a_relative_name() {
        let state = Path::new("/var/lib/gw.tas.state");
        let home = || Some(OsString::from("/home/dev"));
        let mut config = Config::default();
        assert_eq!(
            message_store_path(&config, state, home()),
            state.join("msps.db"),
            "the default is per device, whatever HOME says"
        );
        config.message_persistence.db_name = PathBuf::from("iotcs/msps.db");
        assert_eq!(
            message_store_path(&config, state, home()),
            PathBuf::from("/home/dev/iotcs/msps.db")
        );
        assert_eq!(
            message_store_path(&config, state, None),
            state.join("iotcs/msps.db")
        );
        assert_eq!(
            message_store_path(&config, state, Some(OsString::new())),
            state.join("iotcs/msps.db")
        );
        config.message_persistence.db_name = PathBuf::from("/data/m.db");
        assert_eq!(
            message_store_path(&config, state, home()),
            PathBuf::from("/data/m.db")
        );
    }

    #[test]
    fn held_batches_default_to_the_state_directory() {
        let state = Path::new("/var/lib/gw.tas.state");
        let home = || Some(OsString::from("/home/dev"));
        let mut config = Config::default();
        assert_eq!(
            batch_store_path(&config, state, home()),
            state.join("bbps.db")
        );
        config.batchby_persistence.db_name = PathBuf::from("other/b.db");
        assert_eq!(
            batch_store_path(&config, state, home()),
            PathBuf::from("/home/dev/other/b.db")
        );
        assert_eq!(
            batch_store_path(&config, state, None),
            state.join("other/b.db")
        );
        config.batchby_persistence.db_name = PathBuf::from("/data/b.db");
        assert_eq!(
            batch_store_path(&config, state, home()),
            PathBuf::from("/data/b.db")
        );
    }

    #[test]
    fn models_default_to_the_state_directory() {
        let state = Path::new("/s");
        let mut config = Config::default();
        assert_eq!(model_store_path(&config, state), PathBuf::from("/s/models"));
        config.device_model.device_model_store = Some(PathBuf::from("/m"));
        assert_eq!(model_store_path(&config, state), PathBuf::from("/m"));
    }

    #[test]
    fn the_device_record_round_trips_and_a_foreign_one_is_ignored() {
        let dir = temp_dir("record");
        assert_eq!(read_device_record(&dir, "EP-1"), None);
        let record = DeviceRecord {
            endpoint_id: "EP-1".into(),
            device_models: vec!["urn:a".into()],
        };
        write_device_record(&dir, &record).unwrap();
        assert_eq!(read_device_record(&dir, "EP-1"), Some(record));
        assert_eq!(read_device_record(&dir, "EP-2"), None);
        std::fs::write(dir.join(DEVICE_RECORD), "garbage").unwrap();
        assert_eq!(read_device_record(&dir, "EP-1"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn atomic_writes_replace_and_leave_no_temporary_file() {
        let dir = temp_dir("atomic");
        let path = dir.join("sub").join("f.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(read_file(&path).unwrap().unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [OsString::from("f.json")]);
        assert_eq!(read_file(&dir.join("missing")).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_directory_that_cannot_be_created_is_an_io_error() {
        let dir = temp_dir("blocked");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, "x").unwrap();
        let e = check_writable(&file.join("state")).unwrap_err();
        assert_eq!(e.kind(), iotcs_core::ErrorKind::Io, "{e}");
        assert!(e.to_string().contains("file"), "{e}");
        check_writable(&dir.join("ok")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn state_file_names_are_plain_and_not_the_librarys() {
        let state = Path::new("/s");
        assert_eq!(
            state_file(state, "registrations.json").unwrap(),
            PathBuf::from("/s/registrations.json")
        );
        for bad in [
            "",
            ".hidden",
            "a/b",
            "..",
            "msps.db",
            "models",
            "device.json",
            "é",
        ] {
            assert!(state_file(state, bad).is_err(), "{bad:?}");
        }
    }
}
