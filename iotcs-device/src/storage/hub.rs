//! The device's storage: the grant (`authority.rs`), the HTTPS client
//! (`http.rs`), the live objects by URI, and the transfer threads,
//! `iotcs-storage-<n>`, which the device owns through this hub and joins at
//! close. There are `[media_storage] max_concurrent_transfers` of them
//! (default 1, at most [`MAX_TRANSFER_THREADS`]), taking syncs from one
//! queue in the order `sync` was called: a fixed set bounds the memory and
//! the sockets a device spends on files (each transfer streams through one
//! 64 KiB buffer), and with one, transfers end in the order they started.
//! They start at the first sync, not with the device: most devices never
//! transfer a file, and an idle thread still costs its stack and a malloc
//! arena.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use iotcs_core::{Config, Error};

use crate::cloud::rest::RestClient;
use crate::messaging::context::DeviceContext;
use crate::messaging::worker::{Joined, Worker};
use crate::storage::authority::Authority;
use crate::storage::http::StorageHttp;
use crate::storage::object::{Content, Direction, StorageObject};
use crate::storage::plan::SEGMENT_SIZE;
use crate::storage::status::{SyncEvent, SyncStatus};
use crate::storage::stop::Stop;
use crate::storage::{names, transfer};

/// The most transfer threads a device runs, whatever the configuration says
/// (the configuration refuses more).
pub(crate) const MAX_TRANSFER_THREADS: usize = 16;

/// One sync to run.
pub(crate) struct Job {
    pub(crate) object: StorageObject,
    pub(crate) direction: Direction,
    pub(crate) event: SyncEvent,
}

/// What the transfer thread works with.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) authority: Authority,
    pub(crate) http: StorageHttp,
    pub(crate) context: Arc<DeviceContext>,
    /// `storage_connection_retry_limit`.
    pub(crate) retry_limit: u32,
    /// Segment size of uploads ([`SEGMENT_SIZE`]; smaller in unit tests).
    pub(crate) segment_size: u64,
    /// Where upload progress records live: `<state>/storage/`.
    pub(crate) progress_dir: PathBuf,
    /// Set by `close`: transfers stop between chunks.
    pub(crate) stopping: Stop,
}

/// The device's storage.
pub(crate) struct Hub {
    engine: Arc<Engine>,
    /// `disable_storage_object_prefix`.
    prefix_disabled: bool,
    /// `storage_connection_host_name`.
    host_name: String,
    /// Objects by URI, so that a message's URI value finds its object.
    objects: Mutex<HashMap<String, Weak<crate::storage::object::Shared>>>,
    /// The latest object the cloud set each attribute to, by
    /// `endpoint/attribute`, kept alive until the next one.
    pinned: Mutex<HashMap<String, StorageObject>>,
    /// Dropped at close: the thread sees a disconnected inbox.
    jobs: Mutex<Option<Sender<Job>>>,
    /// Where the transfer threads take their jobs from.
    inbox: Receiver<Job>,
    /// How many transfer threads the first sync starts
    /// (`max_concurrent_transfers`, clamped).
    threads: usize,
    /// The transfer threads, started at the first sync (under the `jobs`
    /// lock, so never after `stop`), taken by `stop`.
    workers: Mutex<Vec<Worker<()>>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// The storage of a device whose REST client is `rest`, trusting
    /// `trust_anchors`, with progress records under `state`. The transfer
    /// threads start at the first sync.
    ///
    /// # Errors
    ///
    /// As [`StorageHttp::new`].
    pub(crate) fn start(
        rest: Arc<RestClient>,
        context: Arc<DeviceContext>,
        config: &Config,
        trust_anchors: &[Vec<u8>],
        state: &std::path::Path,
    ) -> Result<Arc<Hub>, Error> {
        let media = &config.media_storage;
        let engine = Arc::new(Engine {
            authority: Authority::new(rest),
            http: StorageHttp::new(trust_anchors, config)?,
            context,
            retry_limit: media.storage_connection_retry_limit,
            segment_size: SEGMENT_SIZE,
            progress_dir: state.join("storage"),
            stopping: Stop::default(),
        });
        let (jobs, inbox) = crossbeam_channel::unbounded();
        Ok(Arc::new(Hub {
            engine,
            prefix_disabled: media.disable_storage_object_prefix,
            host_name: media.storage_connection_host_name.clone(),
            objects: Mutex::default(),
            pinned: Mutex::default(),
            jobs: Mutex::new(Some(jobs)),
            inbox,
            threads: media
                .max_concurrent_transfers
                .clamp(1, MAX_TRANSFER_THREADS),
            workers: Mutex::default(),
        }))
    }

    /// Starts the transfer threads unless they run already. Called under
    /// the `jobs` lock while the hub is open.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when not one thread could be spawned (some is enough:
    /// the syncs then wait their turn on fewer threads).
    fn start_workers(&self) -> Result<(), Error> {
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        if !workers.is_empty() {
            return Ok(());
        }
        for n in 1..=self.threads {
            let (engine, inbox) = (Arc::clone(&self.engine), self.inbox.clone());
            match Worker::spawn(&format!("iotcs-storage-{n}"), move || {
                run(&engine, &inbox);
            }) {
                Ok(worker) => workers.push(worker),
                Err(e) if workers.is_empty() => return Err(e),
                Err(e) => {
                    log::warn!(target: "iotcs::device::storage",
                        "running {} of {} transfer threads: {e}", workers.len(), self.threads);
                    break;
                }
            }
        }
        Ok(())
    }

    /// A new object `name` of `endpoint_id` (prefixed with it unless
    /// `disable_storage_object_prefix`).
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for an unusable name; the grant's errors (the
    /// container URL comes from the cloud).
    pub(crate) fn create(
        self: &Arc<Self>,
        endpoint_id: &str,
        name: &str,
        content_type: Option<&str>,
    ) -> Result<StorageObject, Error> {
        names::check(name)?;
        let full = if self.prefix_disabled {
            name.to_owned()
        } else {
            format!("{endpoint_id}/{name}")
        };
        let grant = self.engine.authority.grant()?;
        let uri = format!("{}/{}", grant.container_url, names::encode(&full));
        let object =
            StorageObject::new(full, uri, Arc::downgrade(self), Content::new(content_type));
        self.remember(&object);
        Ok(object)
    }

    /// Whether `uri` names an object of the storage cloud: its host contains
    /// `storage_connection_host_name` (as Oracle's libraries decide), or it
    /// is under our container.
    pub(crate) fn is_storage_uri(&self, uri: &str) -> bool {
        let host = names::host_of(uri);
        if !self.host_name.is_empty() && host.is_some_and(|h| h.contains(&self.host_name)) {
            return true;
        }
        match self.engine.authority.grant() {
            Ok(grant) => uri.starts_with(&format!("{}/", grant.container_url)),
            Err(e) => {
                log::warn!(target: "iotcs::device::storage", "cannot tell whether {uri} is a storage object: {e}");
                false
            }
        }
    }

    /// The object at `uri`: the one already known, or a new one described
    /// by a `HEAD` (length, type, encoding, date), to download.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] when `uri` is not under our container; the
    /// `HEAD`'s errors ([`Error::Transport`] for a status other than 200).
    pub(crate) fn open(self: &Arc<Self>, uri: &str) -> Result<StorageObject, Error> {
        if let Some(object) = self.find(uri) {
            return Ok(object);
        }
        let (name, content) = transfer::describe(&self.engine, uri)?;
        let object = StorageObject::new(name, uri.to_owned(), Arc::downgrade(self), content);
        self.remember(&object);
        Ok(object)
    }

    /// The live object at `uri`, if any.
    pub(crate) fn find(&self, uri: &str) -> Option<StorageObject> {
        self.lock_objects()
            .get(uri)
            .and_then(Weak::upgrade)
            .map(StorageObject::from_shared)
    }

    /// Keeps `object` as the latest the cloud set `attribute` of
    /// `endpoint_id` to (replacing the one before).
    pub(crate) fn pin(&self, endpoint_id: &str, attribute: &str, object: StorageObject) {
        self.pinned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("{endpoint_id}/{attribute}"), object);
    }

    /// The object pinned for `attribute` of `endpoint_id`, when it is the
    /// one at `uri` (a later change may have replaced it).
    pub(crate) fn pinned(
        &self,
        endpoint_id: &str,
        attribute: &str,
        uri: &str,
    ) -> Option<StorageObject> {
        self.pinned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&format!("{endpoint_id}/{attribute}"))
            .filter(|o| o.uri() == uri)
            .cloned()
    }

    /// Makes `object` (restored, not described again) the live object at
    /// its URI.
    pub(crate) fn adopt(&self, object: StorageObject) -> StorageObject {
        self.remember(&object);
        object
    }

    /// The device's shared messaging state.
    pub(crate) fn context(&self) -> &Arc<DeviceContext> {
        &self.engine.context
    }

    fn remember(&self, object: &StorageObject) {
        let mut objects = self.lock_objects();
        objects.retain(|_, o| o.strong_count() > 0);
        objects.insert(object.uri().to_owned(), object.downgrade());
    }

    /// Queues a sync (starting the transfer threads at the first); an
    /// upload holds the messages referring to the object from now until it
    /// ends.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the device is closing; [`Error::Io`] when no
    /// transfer thread can be started.
    pub(crate) fn submit(
        &self,
        object: StorageObject,
        direction: Direction,
        event: SyncEvent,
    ) -> Result<(), Error> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(jobs) = jobs.as_ref() else {
            return Err(Error::Closed);
        };
        self.start_workers()?;
        let upload = matches!(direction, Direction::Upload(_));
        if upload {
            self.engine.context.expect_upload(object.uri());
        }
        let uri = object.uri().to_owned();
        if jobs
            .send(Job {
                object,
                direction,
                event,
            })
            .is_err()
        {
            if upload {
                self.engine
                    .context
                    .settle_upload(&uri, Some(&Error::Closed));
            }
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Stops the transfer threads: a transfer in progress is interrupted
    /// (an upload resumes from its last segment at the next sync, a
    /// download from its partial file), syncs not started go back to
    /// `NOT_IN_SYNC`, and the threads are joined by `deadline`. Idempotent.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] / [`Error::State`] when a thread did not stop
    /// in time or panicked (the first such error; every thread is waited
    /// for until `deadline`).
    pub(crate) fn stop(&self, deadline: Instant) -> Result<(), Error> {
        self.engine.stopping.set();
        drop(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take());
        self.engine.http.shutdown();
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        stop_workers(workers, deadline)
    }

    fn lock_objects(
        &self,
    ) -> MutexGuard<'_, HashMap<String, Weak<crate::storage::object::Shared>>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Joins `workers` by `deadline`, whose inbox is closed; the first error.
fn stop_workers(workers: Vec<Worker<()>>, deadline: Instant) -> Result<(), Error> {
    let mut first = Ok(());
    for worker in workers {
        let name = worker.name().to_owned();
        let result = match worker.join_until(deadline) {
            Joined::Finished(()) => Ok(()),
            Joined::Panicked => Err(Error::state(format!("thread {name} panicked"))),
            Joined::TimedOut => Err(Error::Timeout {
                operation: format!("stopping thread {name}"),
            }),
            Joined::OwnThread => Err(Error::state(format!("thread {name} cannot stop itself"))),
        };
        if first.is_ok() {
            first = result;
        }
    }
    first
}

/// A transfer thread: one job at a time until the inbox disconnects;
/// after `close`, the jobs left go back to `NOT_IN_SYNC`.
fn run(engine: &Arc<Engine>, inbox: &Receiver<Job>) {
    crate::messaging::pool::mark_io_thread();
    while let Ok(job) = inbox.recv() {
        if engine.stopping.is_set() {
            abandon(engine, job);
            continue;
        }
        transfer::run(engine, job);
    }
}

/// A job the device closed before: not failed, just not done.
fn abandon(engine: &Engine, job: Job) {
    job.object.lock().status = SyncStatus::NotInSync;
    if matches!(job.direction, Direction::Upload(_)) {
        engine
            .context
            .settle_upload(job.object.uri(), Some(&Error::Closed));
    }
}
