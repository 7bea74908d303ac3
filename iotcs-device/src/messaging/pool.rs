//! The pool of threads that run user callbacks (`request_dispatcher_thread_pool_size`
//! of them, named `iotcs-callback-N`).
//!
//! Callbacks never run on an IO thread: the receiver hands each request to
//! the pool and goes back to polling, and the sender hands delivery failures
//! to the pool. So a callback may block, call `set` (which only queues), or
//! take its time without stalling the network. A panicking job is caught and
//! logged; the thread lives on.
//!
//! Stopping: every job queued before [`CallbackPool::stop`] runs first; the
//! threads are then joined by the deadline. A thread still inside a user
//! callback at the deadline cannot be interrupted: it is left running,
//! detached, and ends by itself when the callback returns (it then finds
//! the pool stopped and exits; process exit ends it otherwise). Jobs it
//! kept from running are counted and reported, never dropped silently.
//! After the stop a job runs on the thread that submits it, unless that is
//! an IO thread (see [`mark_io_thread`]), where it is dropped with an error
//! log rather than run user code there.
//!
//! Replacing a stuck thread: when the watchdog answers a request whose
//! callback is still running past `request_callback_timeout`, it retires
//! that thread ([`Spawner::replace`]): a new named thread takes its place,
//! so the requests behind it are served, and the retired one exits as soon
//! as its callback returns instead of taking more jobs. At most
//! [`MAX_RETIRED`] retired threads may be alive at once; past that a stuck
//! thread is not replaced (its requests still get their 503). Every thread,
//! replacements and retired ones alike, is owned by the pool and joined by
//! [`CallbackPool::stop`] within its deadline; a retired thread still stuck
//! then is left running detached and reported, as any stuck thread.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use iotcs_core::Error;

use crate::messaging::worker::{Joined, Worker};

/// A unit of work for the pool.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// How many retired threads (stuck in a callback, replaced) may be alive
/// at once: a bound on the threads a callback that never returns can cost.
pub(crate) const MAX_RETIRED: usize = 8;

thread_local! {
    /// Set on the sender and receiver threads.
    static IO_THREAD: Cell<bool> = const { Cell::new(false) };
    /// On a pool thread: the flag that retires it.
    static RETIRE: RefCell<Option<Retire>> = const { RefCell::new(None) };
}

/// The flag that retires one pool thread: set, the thread exits once its
/// current job returns.
#[derive(Clone, Debug)]
pub(crate) struct Retire(Arc<AtomicBool>);

/// The retire flag of the calling thread when it is a pool thread, so that
/// a job can say which thread runs it.
pub(crate) fn current_thread() -> Option<Retire> {
    RETIRE.with(|r| r.borrow().clone())
}

/// The pool's threads, shared by the pool (which joins them) and its
/// spawners (which add replacements).
#[derive(Debug)]
struct Threads {
    workers: Mutex<Vec<Worker<()>>>,
    /// The number the next thread's name gets.
    next_name: AtomicUsize,
    /// Retired threads still alive (stuck in their callback).
    retired: Arc<AtomicUsize>,
}

impl Threads {
    fn workers(&self) -> MutexGuard<'_, Vec<Worker<()>>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts one more pool thread taking jobs from `jobs`.
    fn spawn(&self, jobs: &Receiver<Command>) -> Result<(), Error> {
        let n = self.next_name.fetch_add(1, Ordering::SeqCst);
        let (jobs, retired) = (jobs.clone(), Arc::clone(&self.retired));
        // User callbacks run here, as deep as they like: Rust's default
        // stack, which `RUST_MIN_STACK` changes (crate docs, "Threads").
        let worker = Worker::spawn_with_stack(&format!("iotcs-callback-{n}"), None, move || {
            run(&jobs, &retired);
        })?;
        self.workers().push(worker);
        Ok(())
    }
}

/// Marks the calling thread as an IO thread (sender, receiver): no job
/// ever runs on it, even after the pool has stopped.
pub(crate) fn mark_io_thread() {
    IO_THREAD.with(|flag| flag.set(true));
}

/// What the pool's inbox carries.
enum Command {
    /// Run this job.
    Run(Job),
    /// Finish: sent once per thread, after every job queued before it.
    Stop,
}

/// A cheap handle to submit jobs; clones go to the receiver and sender threads.
#[derive(Clone, Debug)]
pub(crate) struct Spawner {
    inbox: Sender<Command>,
    /// Set (under the write lock) when the pool stops; a job is queued only
    /// under the read lock with this unset, so none lands behind the stop
    /// commands, and a thread is added only so, so none outlives the stop.
    stopped: Arc<RwLock<bool>>,
    threads: Arc<Threads>,
    /// The pool's inbox, for the threads a replacement starts.
    jobs: Receiver<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Run(_) => "Run",
            Command::Stop => "Stop",
        })
    }
}

impl Spawner {
    /// Queues `job`. Once the pool has stopped, runs it on the calling
    /// thread so that no failure goes unreported after close, except on an
    /// IO thread, where it is dropped with an error log.
    pub(crate) fn spawn(&self, job: Job) {
        {
            let stopped = self.stopped.read().unwrap_or_else(|e| e.into_inner());
            if !*stopped {
                // The pool keeps a receiver until it is dropped, and it is
                // not dropped before it is stopped.
                let _ = self.inbox.send(Command::Run(job));
                return;
            }
        }
        if IO_THREAD.with(Cell::get) {
            log::error!(target: "iotcs::device::pool",
                "a callback was not run: the callback pool has stopped and {} is an IO thread",
                std::thread::current().name().unwrap_or("this")
            );
            return;
        }
        log::debug!(target: "iotcs::device::pool", "callback pool stopped; running a job on the calling thread");
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            log::error!(target: "iotcs::device::pool", "a callback panicked");
        }
    }

    /// Retires the pool thread `stuck` (still inside a callback the
    /// watchdog gave up on) and starts a thread in its place, unless the
    /// pool has stopped or [`MAX_RETIRED`] retired threads are still alive.
    /// Returns whether a replacement started.
    pub(crate) fn replace(&self, stuck: &Retire) -> bool {
        let stopped = self.stopped.read().unwrap_or_else(|e| e.into_inner());
        if *stopped || stuck.0.load(Ordering::SeqCst) {
            return false;
        }
        let retired = &self.threads.retired;
        if retired
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_RETIRED).then_some(n + 1)
            })
            .is_err()
        {
            log::error!(target: "iotcs::device::pool",
                "a callback thread is stuck and {MAX_RETIRED} others already are: \
                 it is not replaced, and requests wait behind it"
            );
            return false;
        }
        stuck.0.store(true, Ordering::SeqCst);
        match self.threads.spawn(&self.jobs) {
            Ok(()) => {
                log::warn!(target: "iotcs::device::pool",
                    "a callback did not return within request_callback_timeout: its thread \
                     is retired (it exits when the callback returns) and a new one serves \
                     the requests behind it"
                );
                true
            }
            Err(e) => {
                log::error!(target: "iotcs::device::pool", "no thread could replace a stuck callback thread: {e}");
                false
            }
        }
    }
}

/// The owner of the pool threads, which joins them in [`CallbackPool::stop`].
#[derive(Debug)]
pub(crate) struct CallbackPool {
    spawner: Spawner,
}

impl CallbackPool {
    /// Starts `size` threads (at least one).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a thread cannot be spawned; those already started
    /// are stopped again.
    pub(crate) fn start(size: usize) -> Result<Self, Error> {
        let (inbox, jobs) = crossbeam_channel::unbounded();
        let mut pool = CallbackPool {
            spawner: Spawner {
                inbox,
                stopped: Arc::new(RwLock::new(false)),
                threads: Arc::new(Threads {
                    workers: Mutex::new(Vec::new()),
                    next_name: AtomicUsize::new(1),
                    retired: Arc::new(AtomicUsize::new(0)),
                }),
                jobs,
            },
        };
        for _ in 0..size.max(1) {
            if let Err(e) = pool.spawner.threads.spawn(&pool.spawner.jobs) {
                pool.stop(Instant::now() + std::time::Duration::from_secs(5));
                return Err(e);
            }
        }
        Ok(pool)
    }

    /// A handle to submit jobs.
    pub(crate) fn spawner(&self) -> Spawner {
        self.spawner.clone()
    }

    /// Lets every job queued so far run, then stops and joins the threads,
    /// waiting no longer than `deadline`. Returns whether every thread ended
    /// cleanly in time.
    pub(crate) fn stop(&mut self, deadline: Instant) -> bool {
        self.stop_checked(deadline).is_ok()
    }

    /// As [`CallbackPool::stop`], saying what went wrong.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming the threads still inside a callback at
    /// `deadline` (left running, see the module docs) and the jobs they kept
    /// from running; [`Error::State`] if a thread panicked.
    pub(crate) fn stop_checked(&mut self, deadline: Instant) -> Result<(), Error> {
        {
            let mut stopped = self
                .spawner
                .stopped
                .write()
                .unwrap_or_else(|e| e.into_inner());
            *stopped = true;
            // Retired threads take no stop command; the extra ones stay unread.
            for _ in 0..self.spawner.threads.workers().len() {
                let _ = self.spawner.inbox.send(Command::Stop);
            }
        }
        let mut stuck = Vec::new();
        let mut panicked = false;
        let mut own = false;
        let workers = std::mem::take(&mut *self.spawner.threads.workers());
        for worker in workers {
            let name = worker.name().to_owned();
            match worker.join_until(deadline) {
                Joined::Finished(()) => {}
                Joined::OwnThread => {
                    log::debug!(target: "iotcs::device::pool", "callback pool stopped from one of its own callbacks");
                    // It runs what is left once its callback returns.
                    own = true;
                }
                Joined::Panicked => panicked = true,
                Joined::TimedOut => stuck.push(name),
            }
        }
        // Left only when a thread is stuck: jobs queued behind its callback.
        let mut not_run = 0;
        if !own {
            not_run = self
                .spawner
                .jobs
                .try_iter()
                .filter(|command| matches!(command, Command::Run(_)))
                .count();
            // The drain took their stop commands too: a stuck thread that
            // comes back must find one, or it would wait for jobs forever.
            for _ in &stuck {
                let _ = self.spawner.inbox.send(Command::Stop);
            }
        }
        if stuck.is_empty() && !panicked {
            return Ok(());
        }
        if stuck.is_empty() {
            return Err(Error::state("a callback thread panicked"));
        }
        let text = format!(
            "stopping {}: a user callback did not return; the thread is left running \
             until it does, and {not_run} queued callback(s) were not run",
            stuck.join(", ")
        );
        log::error!(target: "iotcs::device::pool", "{text}");
        Err(Error::Timeout { operation: text })
    }
}

/// The body of a pool thread: runs jobs until a stop command, or until the
/// job it ran retired it (then `retired` counts it no more).
fn run(jobs: &Receiver<Command>, retired: &AtomicUsize) {
    let retire = Retire(Arc::new(AtomicBool::new(false)));
    RETIRE.with(|r| *r.borrow_mut() = Some(retire.clone()));
    while let Ok(Command::Run(job)) = jobs.recv() {
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            log::error!(target: "iotcs::device::pool", "a callback panicked; the callback thread carries on");
        }
        if retire.0.load(Ordering::SeqCst) {
            log::info!(target: "iotcs::device::pool", "a retired callback thread's callback returned; the thread ends");
            retired.fetch_sub(1, Ordering::SeqCst);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn jobs_run_on_named_pool_threads() {
        let mut pool = CallbackPool::start(2).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        for _ in 0..4 {
            let tx = tx.clone();
            pool.spawner().spawn(Box::new(move || {
                tx.send(std::thread::current().name().unwrap().to_owned())
                    .unwrap();
            }));
        }
        for _ in 0..4 {
            let name = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert!(name.starts_with("iotcs-callback-"), "{name}");
        }
        assert!(pool.stop(deadline()));
    }

    #[test]
    fn a_panicking_job_does_not_kill_the_thread() {
        let mut pool = CallbackPool::start(1).unwrap();
        pool.spawner()
            .spawn(Box::new(|| panic!("user callback bug")));
        let (tx, rx) = crossbeam_channel::bounded(1);
        pool.spawner().spawn(Box::new(move || tx.send(()).unwrap()));
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(pool.stop(deadline()));
    }

    #[test]
    fn stop_runs_what_was_queued_first() {
        let mut pool = CallbackPool::start(1).unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let count = count.clone();
            pool.spawner().spawn(Box::new(move || {
                count.fetch_add(1, Ordering::SeqCst);
            }));
        }
        assert!(pool.stop(deadline()));
        assert_eq!(count.load(Ordering::SeqCst), 50);
    }

    #[test]
    fn after_stop_jobs_run_inline() {
        let mut pool = CallbackPool::start(1).unwrap();
        let spawner = pool.spawner();
        assert!(pool.stop(deadline()));
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        spawner.spawn(Box::new(move || {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn jobs_behind_a_stuck_callback_are_reported_and_later_ones_run_inline() {
        let mut pool = CallbackPool::start(1).unwrap();
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        let (started_tx, started) = crossbeam_channel::bounded::<()>(1);
        pool.spawner().spawn(Box::new(move || {
            started_tx.send(()).unwrap();
            let _ = rx.recv();
        }));
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        pool.spawner().spawn(Box::new(move || {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        let e = pool
            .stop_checked(Instant::now() + Duration::from_millis(50))
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("iotcs-callback-1") && text.contains("1 queued callback(s) were not run"),
            "{text}"
        );
        // A job submitted after the stop runs on the submitting thread.
        let r = ran.clone();
        pool.spawner().spawn(Box::new(move || {
            r.fetch_add(10, Ordering::SeqCst);
        }));
        assert_eq!(ran.load(Ordering::SeqCst), 10);
        drop(tx);
    }

    #[test]
    fn after_stop_no_job_runs_on_an_io_thread() {
        let mut pool = CallbackPool::start(1).unwrap();
        let spawner = pool.spawner();
        assert!(pool.stop(deadline()));
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        std::thread::spawn(move || {
            mark_io_thread();
            spawner.spawn(Box::new(move || {
                r.fetch_add(1, Ordering::SeqCst);
            }));
        })
        .join()
        .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_stop_from_a_callback_leaves_the_queued_jobs_to_that_thread() {
        let pool = Arc::new(std::sync::Mutex::new(Some(CallbackPool::start(1).unwrap())));
        let spawner = pool.lock().unwrap().as_ref().unwrap().spawner();
        let (gate_tx, gate) = crossbeam_channel::bounded::<()>(1);
        let (tx, rx) = crossbeam_channel::bounded(2);
        let (p, t) = (pool.clone(), tx.clone());
        spawner.spawn(Box::new(move || {
            gate.recv().unwrap();
            let mut pool = p.lock().unwrap().take().unwrap();
            t.send(format!("stopped cleanly: {}", pool.stop(deadline())))
                .unwrap();
        }));
        // Queued behind the stopping callback.
        spawner.spawn(Box::new(move || tx.send("ran".to_owned()).unwrap()));
        gate_tx.send(()).unwrap();
        let got: Vec<String> = (0..2)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(got, ["stopped cleanly: true", "ran"]);
    }

    #[test]
    fn a_blocked_callback_bounds_the_stop() {
        let mut pool = CallbackPool::start(1).unwrap();
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        pool.spawner().spawn(Box::new(move || {
            let _ = rx.recv();
        }));
        assert!(!pool.stop(Instant::now() + Duration::from_millis(50)));
        drop(tx);
    }

    #[test]
    fn a_replaced_thread_serves_the_jobs_behind_a_stuck_one_and_the_stuck_one_retires() {
        let mut pool = CallbackPool::start(1).unwrap();
        let spawner = pool.spawner();
        let (release, stuck) = crossbeam_channel::bounded::<()>(0);
        let (running_tx, running) = crossbeam_channel::bounded(1);
        spawner.spawn(Box::new(move || {
            running_tx.send(current_thread()).unwrap();
            let _ = stuck.recv();
        }));
        let retire = running
            .recv_timeout(Duration::from_secs(10))
            .unwrap()
            .expect("a pool thread has a retire flag");
        let (tx, rx) = crossbeam_channel::unbounded();
        let t = tx.clone();
        spawner.spawn(Box::new(move || {
            t.send(std::thread::current().name().unwrap().to_owned())
                .unwrap();
        }));
        assert!(spawner.replace(&retire));
        assert!(!spawner.replace(&retire), "a thread is replaced once");
        let name = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(name, "iotcs-callback-2", "served by the replacement");
        assert_eq!(spawner.threads.retired.load(Ordering::SeqCst), 1);
        // The stuck callback returns: its thread ends instead of serving.
        release.send(()).unwrap();
        let workers = std::mem::take(&mut *spawner.threads.workers());
        let (retired, rest): (Vec<_>, Vec<_>) = workers
            .into_iter()
            .partition(|w| w.name() == "iotcs-callback-1");
        *spawner.threads.workers() = rest;
        for worker in retired {
            assert!(matches!(
                worker.join_until(deadline()),
                Joined::Finished(())
            ));
        }
        assert_eq!(spawner.threads.retired.load(Ordering::SeqCst), 0);
        spawner.spawn(Box::new(move || {
            tx.send(std::thread::current().name().unwrap().to_owned())
                .unwrap();
        }));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            "iotcs-callback-2"
        );
        assert!(pool.stop(deadline()));
    }

    #[test]
    fn stuck_threads_are_replaced_up_to_a_bound_and_never_after_the_stop() {
        let mut pool = CallbackPool::start(1).unwrap();
        let spawner = pool.spawner();
        let flags: Vec<Retire> = (0..=MAX_RETIRED)
            .map(|_| Retire(Arc::new(AtomicBool::new(false))))
            .collect();
        let replaced = flags.iter().filter(|f| spawner.replace(f)).count();
        assert_eq!(replaced, MAX_RETIRED);
        // These flags belong to no thread: nothing will ever decrement the
        // count, so the stop finds MAX_RETIRED + 1 threads, all idle.
        assert!(pool.stop(deadline()));
        let fresh = Retire(Arc::new(AtomicBool::new(false)));
        spawner.threads.retired.store(0, Ordering::SeqCst);
        assert!(!spawner.replace(&fresh), "no thread starts after the stop");
    }
}
