//! Writing an upload: a temporary file in the storage's `tmp/` directory,
//! hashed while written, synced at the end, removed if the upload fails.
//! Blocking file IO: the HTTP side calls it from `block_in_place`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::object::hex;

/// The write buffer: the unit in which uploads reach the disk.
const WRITE_BUFFER: usize = 64 * 1024;

/// An upload being received. Dropping it before [`Upload::finish`] removes
/// the temporary file.
#[derive(Debug)]
pub(crate) struct Upload {
    file: Option<BufWriter<File>>,
    path: PathBuf,
    md5: Md5,
    bytes: u64,
}

/// A complete upload, synced to disk, waiting to be committed under its name.
/// Dropping it uncommitted removes the file.
#[derive(Debug)]
pub(crate) struct Staged {
    path: Option<PathBuf>,
    pub(crate) bytes: u64,
    /// Lower-case hex MD5 of the bytes.
    pub(crate) hash: String,
}

impl Upload {
    /// Starts an upload in `tmp_dir`, under a random name.
    pub(crate) fn create(tmp_dir: &Path) -> io::Result<Upload> {
        let mut random = [0u8; 8];
        iotcs_core::__private::fill_random(&mut random).map_err(io::Error::other)?;
        let path = tmp_dir.join(format!("{}.part", hex(&random)));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Upload {
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            path,
            md5: Md5::new(),
            bytes: 0,
        })
    }

    /// Appends `data`.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("the upload is already finished"))?;
        file.write_all(data)?;
        self.md5.update(data);
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// Flushes and syncs the file: the bytes are on disk when this returns.
    pub(crate) fn finish(mut self) -> io::Result<Staged> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("the upload is already finished"))?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let md5 = std::mem::take(&mut self.md5);
        Ok(Staged {
            path: Some(std::mem::take(&mut self.path)),
            bytes: self.bytes,
            hash: hex(&md5.finalize()),
        })
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            drop(self.file.take());
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Staged {
    /// Moves the file to `target` (same file system, so atomic); the staged
    /// upload is then spent.
    pub(crate) fn persist(mut self, target: &Path) -> io::Result<()> {
        let path = self
            .path
            .take()
            .ok_or_else(|| io::Error::other("the upload is already committed"))?;
        if let Err(e) = fs::rename(&path, target) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_hashes_what_it_writes_and_cleans_up_when_abandoned() {
        let dir = tempfile::TempDir::with_prefix("upload").unwrap();
        let mut u = Upload::create(dir.path()).unwrap();
        u.write(b"hello ").unwrap();
        u.write(b"world").unwrap();
        let staged = u.finish().unwrap();
        assert_eq!(staged.bytes, 11);
        assert_eq!(staged.hash, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        let target = dir.path().join("kept");
        staged.persist(&target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"hello world");

        let mut abandoned = Upload::create(dir.path()).unwrap();
        abandoned.write(b"x").unwrap();
        drop(abandoned);
        let staged = Upload::create(dir.path()).unwrap().finish().unwrap();
        drop(staged);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the committed file remains");
    }
}
