//! Small files in the data directory (admin password, `server.json`) and
//! atomic writes.

use std::fs;
use std::io::Write;
use std::path::Path;

use iotcs_core::Error;

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename) with
/// the given Unix mode, so a reader never sees half a file and a secret file
/// is never readable by others, not even briefly.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// A random printable secret: 24 random bytes as unpadded base64url (32
/// characters). Printable because Oracle's JavaScript library handles secrets
/// as text.
pub(crate) fn random_secret() -> Result<String, Error> {
    let mut b = [0u8; 24];
    iotcs_core::__private::fill_random(&mut b)?;
    Ok(iotcs_core::__private::encoding::base64url_encode(&b))
}

/// The admin password: the one given, else the one stored in
/// `DATA_DIR/admin-password`, else a new random one. With a data directory
/// the password in use is what `DATA_DIR/admin-password` holds (mode 0600),
/// a given one included, because `provision --data-dir` and the inspection
/// commands read it from there.
pub(crate) fn admin_password(given: Option<&str>, dir: Option<&Path>) -> Result<String, Error> {
    let Some(dir) = dir else {
        return given.map_or_else(random_secret, |p| Ok(p.to_owned()));
    };
    let path = dir.join("admin-password");
    let stored = fs::read_to_string(&path).ok();
    if let Some(p) = given {
        if stored.as_deref().map(str::trim) != Some(p) {
            write_atomic(&path, format!("{p}\n").as_bytes(), 0o600)?;
        }
        return Ok(p.to_owned());
    }
    match stored {
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(_) | None => {
            let p = random_secret()?;
            write_atomic(&path, format!("{p}\n").as_bytes(), 0o600)?;
            log::info!("generated an admin password in {}", path.display());
            Ok(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_sets_the_mode() {
        let dir = tempfile::TempDir::with_prefix("files").unwrap();
        let p = dir.path().join("secret");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let missing = dir.path().join("no/such/dir/file");
        assert!(matches!(
            write_atomic(&missing, b"x", 0o600),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn admin_password_is_generated_once_and_reused() {
        let dir = tempfile::TempDir::with_prefix("pw").unwrap();
        let a = admin_password(None, Some(dir.path())).unwrap();
        let b = admin_password(None, Some(dir.path())).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert_eq!(
            admin_password(Some("given"), Some(dir.path())).unwrap(),
            "given"
        );
        assert_eq!(
            admin_password(None, Some(dir.path())).unwrap(),
            "given",
            "a given password is what the directory holds from then on"
        );
        assert_ne!(
            admin_password(None, None).unwrap(),
            a,
            "no dir: a fresh random one"
        );
    }
}
