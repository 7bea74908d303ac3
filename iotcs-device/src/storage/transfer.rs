//! The transfers, run on the `iotcs-storage-<n>` threads (`hub.rs`): uploads in
//! one `PUT` or, above the segment size, in segments plus a manifest with
//! the progress recorded after each acknowledged segment; downloads into a
//! partial file resumed with `Range`; every request retried as `plan.rs`
//! says, with a new storage token after a 401. Files are streamed through
//! fixed buffers and hashed on the way (MD5, checked against the `ETag`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use iotcs_core::Error;
use md5::{Digest, Md5};

use crate::state::write_atomically;
use crate::storage::authority::Grant;
use crate::storage::hub::{Engine, Job};
use crate::storage::names;
use crate::storage::object::{Content, Direction, StorageObject};
use crate::storage::plan::{
    Attempts, CHUNK_SIZE, Next, Outcome, Plan, UploadProgress, classify, etag_matches, range_from,
    resumes_at, segment_name,
};
use crate::storage::status::SyncStatus;

/// A failed attempt: how `Attempts` sees it, and the error to report if it
/// is the last.
type Failed = (Outcome, Error);

/// What a finished transfer learned about the object.
#[derive(Debug, Default)]
struct Facts {
    length: Option<u64>,
    content_type: Option<String>,
    encoding: Option<String>,
    date: Option<String>,
}

/// Runs `job` and reports its outcome: the object's status, its `on_sync`
/// callback (on the callback pool), and the messages held for an upload.
pub(crate) fn run(engine: &Arc<Engine>, job: Job) {
    let Job {
        object,
        direction,
        event,
    } = job;
    let result = match &direction {
        Direction::Upload(path) => upload(engine, &object, path),
        Direction::Download(path) => download(engine, &object, path),
    };
    let callback = {
        let mut content = object.lock();
        match &result {
            Ok(facts) => {
                content.status = SyncStatus::InSync;
                content.length = facts.length.or(content.length);
                if let Some(t) = &facts.content_type {
                    content.content_type.clone_from(t);
                }
                if facts.encoding.is_some() {
                    content.encoding.clone_from(&facts.encoding);
                }
                content.date = facts.date.clone().or(content.date.take());
            }
            Err(Error::Closed) => content.status = SyncStatus::NotInSync,
            Err(_) => content.status = SyncStatus::SyncFailed,
        }
        content.on_sync.clone()
    };
    match &result {
        Ok(_) => {
            log::debug!(target: "iotcs::device::storage", "storage object {} is in sync", object.name())
        }
        Err(e) => {
            log::warn!(target: "iotcs::device::storage", "storage object {}: sync failed: {e}", object.name())
        }
    }
    if matches!(direction, Direction::Upload(_)) {
        engine
            .context
            .settle_upload(object.uri(), result.as_ref().err());
    }
    let closed = matches!(result, Err(Error::Closed));
    if let (Some(callback), false) = (callback, closed) {
        engine
            .context
            .spawner()
            .spawn(Box::new(move || callback(&event)));
    }
}

/// Tries `once` until it succeeds or `Attempts` gives up, fetching a new
/// grant after a 401 and pausing a little before each retry.
fn attempt<T>(
    engine: &Engine,
    mut once: impl FnMut(&Grant) -> Result<T, Failed>,
) -> Result<T, Error> {
    let mut attempts = Attempts::new(engine.retry_limit);
    let mut grant = engine.authority.grant()?;
    let mut retries = 0u32;
    loop {
        if engine.stopping.is_set() {
            return Err(Error::Closed);
        }
        let (outcome, error) = match once(&grant) {
            Ok(value) => return Ok(value),
            Err(failed) => failed,
        };
        if engine.stopping.is_set() {
            return Err(Error::Closed);
        }
        match attempts.after(outcome) {
            Next::RefreshToken => {
                log::debug!(target: "iotcs::device::storage", "the storage cloud refused its token; fetching a new one");
                grant = engine.authority.refresh(&grant)?;
            }
            Next::Retry => {
                retries += 1;
                log::info!(target: "iotcs::device::storage", "storage request failed ({error}); retry {retries}");
                pause(engine, Duration::from_millis(250) * retries);
            }
            Next::Proceed | Next::Fail => return Err(error),
        }
    }
}

/// Waits `total` before a retry, returning early once the device closes.
fn pause(engine: &Engine, total: Duration) {
    engine.stopping.wait(total);
}

/// A network error: worth a retry.
fn transient(e: Error) -> Failed {
    (Outcome::Transient, e)
}

/// A local file error: no retry changes it.
fn local(path: &Path, e: io::Error) -> Failed {
    (Outcome::Permanent, Error::io(path, e))
}

/// An answer other than `expected`.
fn refused(method: &str, url: &str, status: u16, expected: &[u16]) -> Failed {
    let error = Error::Transport {
        status,
        method: method.to_owned(),
        path: url.split_once('?').map_or(url, |(p, _)| p).to_owned(),
        body: String::new(),
    };
    (classify(status, expected), error)
}

/// A reader that hashes what it reads and stops when the device closes.
struct Hashing<'a, R> {
    inner: R,
    md5: Md5,
    engine: &'a Engine,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.engine.stopping.is_set() {
            return Err(io::Error::other("the device is closing"));
        }
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        Ok(n)
    }
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The headers every storage request carries.
fn auth(grant: &Grant) -> Vec<(String, String)> {
    vec![("X-Auth-Token".to_owned(), grant.token.clone())]
}

/// The object's URL under the grant's container (the container may have
/// moved since the object was created: the name is what stays).
fn url_of(grant: &Grant, name: &str) -> String {
    format!("{}/{}", grant.container_url, names::encode(name))
}

/// `PUT`s bytes `range` of `path` to the object `name`, checking the
/// answer is 201 with the content's MD5 as `ETag`.
fn put_range(
    engine: &Engine,
    grant: &Grant,
    name: &str,
    path: &Path,
    range: std::ops::Range<u64>,
    headers: &[(String, String)],
) -> Result<Option<String>, Failed> {
    let mut file = File::open(path).map_err(|e| local(path, e))?;
    file.seek(SeekFrom::Start(range.start))
        .map_err(|e| local(path, e))?;
    let mut body = Hashing {
        inner: io::BufReader::with_capacity(CHUNK_SIZE, file).take(range.end - range.start),
        md5: Md5::new(),
        engine,
    };
    let url = url_of(grant, name);
    let mut all = auth(grant);
    all.extend_from_slice(headers);
    let head = engine.http.put(&url, &all, &mut body).map_err(transient)?;
    if head.status != 201 {
        return Err(refused("PUT", &url, head.status, &[201]));
    }
    let md5 = hex(&body.md5.finalize());
    if !etag_matches(head.header("etag"), &md5) {
        let error = Error::protocol(format!(
            "the storage cloud stored {name} with ETag {:?}, not the MD5 of what was sent ({md5})",
            head.header("etag").unwrap_or_default()
        ));
        return Err((Outcome::Transient, error));
    }
    Ok(head.header("last-modified").and_then(names::iso_date))
}

/// The object's own headers: type, encoding, metadata.
fn object_headers(content: &Content) -> Vec<(String, String)> {
    let mut headers = vec![("Content-Type".to_owned(), content.content_type.clone())];
    if let Some(encoding) = &content.encoding {
        headers.push(("Content-Encoding".to_owned(), encoding.clone()));
    }
    for (key, value) in &content.metadata {
        headers.push((format!("X-Object-Meta-{key}"), value.clone()));
    }
    headers
}

/// Uploads `path` as `object`: one `PUT`, or segments and a manifest.
fn upload(engine: &Engine, object: &StorageObject, path: &Path) -> Result<Facts, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let length = meta.len();
    let headers = object_headers(&object.lock().clone());
    let plan = Plan::new(length, engine.segment_size);
    let date = if plan.is_segmented() {
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        upload_segments(engine, object, path, (length, modified), plan, &headers)?
    } else {
        let name = object.name();
        attempt(engine, |grant| {
            put_range(engine, grant, name, path, 0..length, &headers)
        })?
    };
    progress(engine, object, length, length);
    Ok(Facts {
        length: Some(length),
        date,
        ..Facts::default()
    })
}

/// Where the progress of uploading `name` is recorded.
fn record_path(engine: &Engine, name: &str) -> PathBuf {
    engine
        .progress_dir
        .join(format!("{}.json", hex(&Md5::digest(name.as_bytes()))))
}

/// The recorded progress of this upload, if it is about this file as it
/// is now; a fresh record otherwise.
fn resume(
    engine: &Engine,
    name: &str,
    source: &str,
    file: (u64, u128),
    plan: Plan,
) -> UploadProgress {
    let (length, modified) = file;
    let record = record_path(engine, name);
    let recorded = std::fs::read(&record)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<UploadProgress>(&bytes).ok())
        .filter(|p| p.segment_size == plan.segment_size())
        .filter(|p| p.resume_at(name, source, length, modified).is_some());
    match recorded {
        Some(progress) => {
            log::info!(target: "iotcs::device::storage",
                "resuming the upload of {name} at segment {} ({} of {length} bytes acknowledged)",
                progress.segment,
                progress.offset
            );
            progress
        }
        None => UploadProgress::start(name, source, length, modified, plan),
    }
}

/// Uploads the segments not yet acknowledged, recording each, then the
/// manifest; the record is removed once the manifest is stored.
fn upload_segments(
    engine: &Engine,
    object: &StorageObject,
    path: &Path,
    file: (u64, u128),
    plan: Plan,
    headers: &[(String, String)],
) -> Result<Option<String>, Error> {
    let name = object.name();
    let source = path.to_string_lossy();
    let mut record_of = resume(engine, name, &source, file, plan);
    let plan = record_of.plan();
    let record = record_path(engine, name);
    for index in record_of.segment..plan.segments() {
        let segment = segment_name(name, index);
        attempt(engine, |grant| {
            put_range(engine, grant, &segment, path, plan.segment(index), &[])
        })?;
        record_of.acknowledge(index);
        // A lost record only costs re-sending segments: log, go on.
        let json = serde_json::to_vec(&record_of).unwrap_or_default();
        if let Err(e) = write_atomically(&record, &json) {
            log::warn!(target: "iotcs::device::storage", "cannot record the upload progress of {name}: {e}");
        }
        progress(engine, object, record_of.offset, record_of.length);
    }
    let date = attempt(engine, |grant| put_manifest(engine, grant, name, headers))?;
    let _ = std::fs::remove_file(&record);
    Ok(date)
}

/// `PUT`s the manifest of a segmented upload: an empty object whose
/// `X-Object-Manifest` names the segments' prefix.
fn put_manifest(
    engine: &Engine,
    grant: &Grant,
    name: &str,
    headers: &[(String, String)],
) -> Result<Option<String>, Failed> {
    let url = url_of(grant, name);
    let mut all = auth(grant);
    all.extend_from_slice(headers);
    let prefix = format!(
        "{}/{}/",
        names::container_name(&grant.container_url),
        names::encode(name)
    );
    all.push(("X-Object-Manifest".to_owned(), prefix));
    let head = engine
        .http
        .put(&url, &all, &mut io::empty())
        .map_err(transient)?;
    if head.status != 201 {
        return Err(refused("PUT", &url, head.status, &[201]));
    }
    Ok(head.header("last-modified").and_then(names::iso_date))
}

/// Tells the object's progress callback, on the callback pool.
fn progress(engine: &Engine, object: &StorageObject, done: u64, total: u64) {
    let callback = object.lock().on_progress.clone();
    if let Some(callback) = callback {
        engine
            .context
            .spawner()
            .spawn(Box::new(move || callback(done, total)));
    }
}

/// The partial file a download writes before it is complete.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

/// Downloads `object` to `path`, resuming a partial file left by an
/// earlier attempt.
fn download(engine: &Engine, object: &StorageObject, path: &Path) -> Result<Facts, Error> {
    let part = partial_path(path);
    let name = object.name();
    let total = object.length();
    let facts = attempt(engine, |grant| {
        download_once(engine, grant, name, &part, |done| {
            if let Some(total) = total {
                progress(engine, object, done, total);
            }
        })
    })?;
    std::fs::rename(&part, path).map_err(|e| Error::io(path, e))?;
    Ok(facts)
}

/// One `GET` of the object, from where the partial file ends.
fn download_once(
    engine: &Engine,
    grant: &Grant,
    name: &str,
    part: &Path,
    on_progress: impl Fn(u64),
) -> Result<Facts, Failed> {
    let have = std::fs::metadata(part).map_or(0, |m| m.len());
    let url = url_of(grant, name);
    let mut headers = auth(grant);
    if let Some(range) = range_from(have) {
        headers.push(("Range".to_owned(), range));
    }
    let (head, mut body) = engine.http.get(&url, &headers).map_err(transient)?;
    let Some(append) = resumes_at(head.status, head.header("content-range"), have) else {
        if head.status == 416 {
            // The partial file is not a prefix of the object any more.
            let _ = std::fs::remove_file(part);
        }
        return Err(refused("GET", &url, head.status, &[200, 206]));
    };
    let mut md5 = Md5::new();
    let mut file = open_partial(part, append, &mut md5).map_err(|e| local(part, e))?;
    let mut done = if append { have } else { 0 };
    let mut buf = vec![0u8; CHUNK_SIZE];
    let mut reported = done;
    loop {
        if engine.stopping.is_set() {
            let _ = file.flush();
            return Err((Outcome::Permanent, Error::Closed));
        }
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let _ = file.sync_data();
                return Err(transient(Error::Network {
                    reason: format!("GET {url} broke off after {done} bytes"),
                    source: Some(Arc::new(e)),
                }));
            }
        };
        file.write_all(&buf[..n]).map_err(|e| local(part, e))?;
        md5.update(&buf[..n]);
        done += n as u64;
        if done - reported >= 1024 * 1024 {
            reported = done;
            on_progress(done);
        }
    }
    file.sync_all().map_err(|e| local(part, e))?;
    check_download_etag(&head, &hex(&md5.finalize()), part, name)?;
    on_progress(done);
    Ok(Facts {
        length: Some(done),
        content_type: head.header("content-type").map(str::to_owned),
        encoding: head.header("content-encoding").map(str::to_owned),
        date: head.header("last-modified").and_then(names::iso_date),
    })
}

/// Opens the partial file: appending (after hashing what it has) or
/// from scratch.
fn open_partial(part: &Path, append: bool, md5: &mut Md5) -> io::Result<File> {
    if append {
        let mut existing = File::open(part)?;
        let mut buf = vec![0u8; CHUNK_SIZE];
        loop {
            let n = existing.read(&mut buf)?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
        }
        std::fs::OpenOptions::new().append(true).open(part)
    } else {
        File::create(part)
    }
}

/// Checks a downloaded object against its `ETag`. A manifest's `ETag` is
/// not the MD5 of the concatenation (Swift), so only plain objects are
/// checked; a mismatch deletes the partial file and retries from scratch.
fn check_download_etag(
    head: &crate::storage::http::Head,
    md5: &str,
    part: &Path,
    name: &str,
) -> Result<(), Failed> {
    if head.header("x-object-manifest").is_some() {
        return Ok(());
    }
    let Some(etag) = head.header("etag") else {
        return Ok(());
    };
    if etag_matches(Some(etag), md5) {
        return Ok(());
    }
    let _ = std::fs::remove_file(part);
    Err((
        Outcome::Transient,
        Error::protocol(format!(
            "downloaded {name} has MD5 {md5}, not the storage cloud's ETag {etag:?}"
        )),
    ))
}

/// The name and description of the object at `uri`, from a `HEAD`.
///
/// # Errors
///
/// [`Error::Argument`] when `uri` is not under our container;
/// [`Error::Transport`] for an answer other than 200.
pub(crate) fn describe(engine: &Engine, uri: &str) -> Result<(String, Content), Error> {
    let grant = engine.authority.grant()?;
    let name = uri
        .strip_prefix(&format!("{}/", grant.container_url))
        .and_then(names::decode)
        .ok_or_else(|| {
            Error::argument(format!(
                "{uri} is not an object of the storage container {}",
                grant.container_url
            ))
        })?;
    let head = attempt(engine, |grant| {
        let url = url_of(grant, &name);
        let head = engine.http.head(&url, &auth(grant)).map_err(transient)?;
        if head.status != 200 {
            return Err(refused("HEAD", &url, head.status, &[200]));
        }
        Ok(head)
    })?;
    let mut content = Content::new(head.header("content-type"));
    content.length = head.header("content-length").and_then(|l| l.parse().ok());
    content.encoding = head.header("content-encoding").map(str::to_owned);
    content.date = head.header("last-modified").and_then(names::iso_date);
    for (header, value) in &head.headers {
        if let Some(key) = header.strip_prefix("x-object-meta-") {
            content.metadata.insert(key.to_owned(), value.clone());
        }
    }
    Ok((name, content))
}
