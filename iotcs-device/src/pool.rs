//! The pool of threads that run user callbacks (`request_dispatcher_thread_pool_size`
//! of them, named `iotcs-callback-N`).
//!
//! Callbacks never run on an IO thread: the receiver hands each request to
//! the pool and goes back to polling, and the sender hands delivery failures
//! to the pool. So a callback may block, call `set` (which only queues), or
//! take its time without stalling the network. A panicking job is caught and
//! logged; the thread lives on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use iotcs_core::Error;

use crate::worker::{Joined, Worker};

/// A unit of work for the pool.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

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
    /// Queues `job`; runs it inline when the pool has stopped, so that no
    /// request goes unanswered and no failure unreported during shutdown.
    pub(crate) fn spawn(&self, job: Job) {
        if let Err(crossbeam_channel::SendError(Command::Run(job))) =
            self.inbox.send(Command::Run(job))
        {
            log::debug!("callback pool stopped; running a job on the calling thread");
            if catch_unwind(AssertUnwindSafe(job)).is_err() {
                log::error!("a callback panicked");
            }
        }
    }
}

/// The owner of the pool threads, which joins them in [`CallbackPool::stop`].
#[derive(Debug)]
pub(crate) struct CallbackPool {
    spawner: Spawner,
    workers: Vec<Worker<()>>,
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
            spawner: Spawner { inbox },
            workers: Vec::new(),
        };
        for n in 1..=size.max(1) {
            let jobs: Receiver<Command> = jobs.clone();
            match Worker::spawn(&format!("iotcs-callback-{n}"), move || run(&jobs)) {
                Ok(worker) => pool.workers.push(worker),
                Err(e) => {
                    pool.stop(Instant::now() + std::time::Duration::from_secs(5));
                    return Err(e);
                }
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
        for _ in &self.workers {
            // The receiving threads are alive until they see a Stop, so the
            // send cannot fail while a worker remains to receive it.
            let _ = self.spawner.inbox.send(Command::Stop);
        }
        let mut clean = true;
        for worker in self.workers.drain(..) {
            match worker.join_until(deadline) {
                Joined::Finished(()) => {}
                Joined::OwnThread => {
                    log::debug!("callback pool stopped from one of its own callbacks");
                }
                Joined::Panicked | Joined::TimedOut => clean = false,
            }
        }
        clean
    }
}

/// The body of a pool thread.
fn run(jobs: &Receiver<Command>) {
    while let Ok(Command::Run(job)) = jobs.recv() {
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            log::error!("a callback panicked; the callback thread carries on");
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
    fn a_blocked_callback_bounds_the_stop() {
        let mut pool = CallbackPool::start(1).unwrap();
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        pool.spawner().spawn(Box::new(move || {
            let _ = rx.recv();
        }));
        assert!(!pool.stop(Instant::now() + Duration::from_millis(50)));
        drop(tx);
    }
}
