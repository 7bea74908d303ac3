//! A trusted assets store bound to its file: read once at open, rewritten
//! atomically on every change, so a crash or a full disk never leaves a
//! half-written store (losing it would lose the device's identity).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::TrustedAssets;
use super::secret::Secret;
use crate::Error;

/// The permissions of a store file: it holds the device's secrets.
const MODE: u32 = 0o600;

/// A trusted assets store file and its decrypted content.
///
/// The passphrase is kept (in a [`Secret`]) to re-encrypt on [`update`]; each
/// write uses a fresh IV. Not synchronised between processes: one process
/// owns a store at a time.
///
/// [`update`]: TrustedAssetsStore::update
pub struct TrustedAssetsStore {
    path: PathBuf,
    passphrase: Secret,
    assets: TrustedAssets,
}

impl TrustedAssetsStore {
    /// Reads and decrypts the store at `path`. The file is only read, so a
    /// failed open never changes it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be read; otherwise as
    /// [`TrustedAssets::decode`] (a wrong passphrase, a corrupted file, ...).
    pub fn open(path: impl AsRef<Path>, passphrase: &str) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        let assets = TrustedAssets::decode(&bytes, passphrase).map_err(|e| match e {
            // Which file was refused: a device may be given the wrong one.
            Error::Security { reason } => {
                Error::security(format!("{reason} (file {})", path.display()))
            }
            other => other,
        })?;
        warn_if_readable_by_others(path);
        Ok(TrustedAssetsStore {
            path: path.to_owned(),
            passphrase: Secret::from(passphrase),
            assets,
        })
    }

    /// Writes `assets` to a new store at `path` (mode 0600), replacing any
    /// file already there atomically, as Oracle's provisioning tools do.
    ///
    /// # Errors
    ///
    /// As [`TrustedAssets::encode`], or [`Error::Io`] if the file cannot be
    /// written; nothing at `path` changes then.
    pub fn create(
        path: impl AsRef<Path>,
        passphrase: &str,
        assets: TrustedAssets,
    ) -> Result<Self, Error> {
        let store = TrustedAssetsStore {
            path: path.as_ref().to_owned(),
            passphrase: Secret::from(passphrase),
            assets,
        };
        store.save()?;
        Ok(store)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The decrypted content.
    pub fn assets(&self) -> &TrustedAssets {
        &self.assets
    }

    /// Changes the content with `change` and rewrites the file atomically.
    /// If the write fails, neither the file nor [`TrustedAssetsStore::assets`]
    /// changes.
    ///
    /// # Errors
    ///
    /// As [`TrustedAssetsStore::save`].
    pub fn update<R>(&mut self, change: impl FnOnce(&mut TrustedAssets) -> R) -> Result<R, Error> {
        let mut next = self.assets.clone();
        let result = change(&mut next);
        write_atomically(&self.path, &next.encode(self.passphrase_str())?)?;
        self.assets = next;
        Ok(result)
    }

    /// Rewrites the file from the current content (with a fresh IV).
    ///
    /// # Errors
    ///
    /// As [`TrustedAssets::encode`], or [`Error::Io`] if a step of the atomic
    /// rewrite fails; the file is then unchanged.
    pub fn save(&self) -> Result<(), Error> {
        write_atomically(&self.path, &self.assets.encode(self.passphrase_str())?)
    }

    fn passphrase_str(&self) -> &str {
        std::str::from_utf8(self.passphrase.expose())
            .expect("the passphrase was stored from a &str, so it is UTF-8")
    }
}

impl fmt::Debug for TrustedAssetsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedAssetsStore")
            .field("path", &self.path)
            .field("passphrase", &self.passphrase)
            .field("assets", &self.assets)
            .finish()
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            log::warn!(target: "iotcs::core::tas",
                "trusted assets store {} has mode {mode:o}; 600 keeps other users out",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(MODE);
    }
    options.open(path)
}

/// Replaces `path` with `bytes`: write a temporary file in the same directory
/// (so the rename cannot cross file systems), fsync it, rename it over the
/// target, fsync the directory so the rename itself is durable. On failure the
/// temporary file is removed and the target is untouched.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let name = path.file_name().ok_or_else(|| {
        Error::argument(format!(
            "trusted assets store path {} has no file name",
            path.display()
        ))
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut suffix = [0u8; 6];
    crate::random::fill_random(&mut suffix)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        crate::encoding::hex_encode(&suffix)
    ));
    let written = (|| {
        let mut file = create_private(&tmp).map_err(|e| Error::io(&tmp, e))?;
        file.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if let Err(e) = written {
        // The temporary file may not exist (creation failed); nothing else to do.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The new content is in place; a failing directory fsync only weakens
    // durability across a power cut, so report it rather than pretend.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::SystemTime;

    use super::*;
    use crate::ErrorKind;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "iotcs-tas-{tag}-{}",
                crate::random::uuid_v4().unwrap()
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn entries(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn assets() -> TrustedAssets {
        TrustedAssets::new("https://127.0.0.1:8443", "DEV-1", b"secret")
            .unwrap()
            .with_icd("ICD-1", b"icd")
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn snapshot(path: &Path) -> (Vec<u8>, SystemTime) {
        (
            fs::read(path).unwrap(),
            fs::metadata(path).unwrap().modified().unwrap(),
        )
    }

    #[test]
    fn create_open_update_round_trip() {
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join("dev.tas");
        let store = TrustedAssetsStore::create(&path, "pw", assets()).unwrap();
        assert_eq!(store.path(), path);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(dir.entries(), ["dev.tas"]);

        let mut store = TrustedAssetsStore::open(&path, "pw").unwrap();
        assert_eq!(store.assets(), &assets());
        let before = fs::read(&path).unwrap();
        let key = crate::crypto::test_key();
        let answer = store.update(|a| {
            a.set_activation("EP-1", key.pkcs8_der(), key.public_key_der());
            7
        });
        assert_eq!(answer.unwrap(), 7);
        assert_ne!(fs::read(&path).unwrap(), before);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            dir.entries(),
            ["dev.tas"],
            "no temporary file is left behind"
        );
        let activated = TrustedAssetsStore::open(&path, "pw").unwrap();
        assert_eq!(activated.assets().endpoint_id(), Some("EP-1"));
        assert_eq!(activated.assets().private_key(), Some(key.pkcs8_der()));

        store.update(TrustedAssets::reset_activation).unwrap();
        let reopened = TrustedAssetsStore::open(&path, "pw").unwrap();
        assert_eq!(reopened.assets(), &assets());
        // The passphrase and the shared secret.
        assert_eq!(
            format!("{reopened:?}").matches("<redacted>").count(),
            2,
            "{reopened:?}"
        );
    }

    #[test]
    fn create_replaces_an_existing_file_and_fixes_its_mode() {
        let dir = TempDir::new("replace");
        let path = dir.0.join("dev.tas");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        TrustedAssetsStore::create(&path, "pw", assets()).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            TrustedAssetsStore::open(&path, "pw").unwrap().assets(),
            &assets()
        );
    }

    #[test]
    fn failed_open_leaves_the_file_alone() {
        let dir = TempDir::new("failedopen");
        let path = dir.0.join("dev.tas");
        TrustedAssetsStore::create(&path, "pw", assets()).unwrap();
        let before = snapshot(&path);
        let e = TrustedAssetsStore::open(&path, "wrong").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Security);
        assert!(e.to_string().contains("wrong passphrase"), "{e}");
        assert!(
            !e.to_string().contains("wrong\""),
            "the passphrase is not echoed: {e}"
        );
        assert_eq!(snapshot(&path), before);
        assert_eq!(dir.entries(), ["dev.tas"]);

        let missing = TrustedAssetsStore::open(dir.0.join("nope.tas"), "pw").unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::Io);
        assert!(missing.to_string().contains("nope.tas"), "{missing}");
    }

    #[test]
    fn failed_update_changes_nothing() {
        let dir = TempDir::new("failedupdate");
        let path = dir.0.join("gw.tas");
        let mut store = TrustedAssetsStore::create(&path, "pw", assets()).unwrap();
        let before = snapshot(&path);
        let e = store
            .update(|a| a.set_icd("BIG", &vec![b'x'; 70_000]))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Argument);
        assert!(e.to_string().contains("at most 65535"), "{e}");
        assert_eq!(store.assets(), &assets(), "memory unchanged");
        assert_eq!(snapshot(&path), before, "file unchanged");
        assert_eq!(dir.entries(), ["gw.tas"]);
    }

    #[test]
    fn failed_rename_removes_the_temporary_file() {
        let dir = TempDir::new("failedrename");
        // A non-empty directory where the store should go: rename must fail.
        let path = dir.0.join("dev.tas");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "x").unwrap();
        let e = TrustedAssetsStore::create(&path, "pw", assets()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(dir.entries(), ["dev.tas"], "temporary file removed");
        assert!(path.join("keep").exists());
    }

    #[test]
    fn paths_without_a_file_name_or_directory_fail() {
        let e = write_atomically(Path::new("/"), b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Argument);
        let dir = TempDir::new("nodir");
        let e = write_atomically(&dir.0.join("missing/dev.tas"), b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
    }
}
