//! Named background threads that can be joined within a deadline.
//!
//! `std::thread::JoinHandle::join` blocks without limit, but `close` and
//! `Drop` promise a bounded wait. Each worker therefore owns the sending half
//! of a channel that it never sends on: when the thread ends, normally or by
//! panic, the channel disconnects, and `join_until` waits for exactly that
//! with a deadline before calling `join`, which then returns at once.
//!
//! Stacks: a thread that runs only this crate's code (sender, receiver,
//! watchdog, policy timer, storage transfers, connectivity test) gets
//! [`IO_STACK_SIZE`]; the callback pool's threads, which run user callbacks
//! of unknown depth, keep Rust's default (2 MiB, or `RUST_MIN_STACK`).

use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use iotcs_core::Error;

/// The stack of a thread that runs only this crate's code: 512 KiB. The
/// deepest of them (a TLS handshake, an RSA signature, a JSON answer, a
/// sled removal) touched under 64 KiB in a release build, so this leaves
/// eight times that. Only touched pages count in RSS, so the gain is address
/// space (2 MiB per thread by default), which matters on 32-bit devices.
pub(crate) const IO_STACK_SIZE: usize = 512 * 1024;

/// A running named thread whose result is `T`.
#[derive(Debug)]
pub(crate) struct Worker<T> {
    name: String,
    handle: JoinHandle<T>,
    /// Disconnects when the thread has finished (its sender is dropped).
    done: Receiver<()>,
}

/// How a bounded join ended.
#[derive(Debug)]
pub(crate) enum Joined<T> {
    /// The thread finished with this result.
    Finished(T),
    /// The thread panicked.
    Panicked,
    /// The deadline passed first; the thread is left to finish on its own.
    TimedOut,
    /// The caller is the worker itself, which cannot join itself; it is left
    /// to finish on its own.
    OwnThread,
}

impl<T: Send + 'static> Worker<T> {
    /// Spawns `f`, which runs only this crate's code, on a thread called
    /// `name` with a stack of [`IO_STACK_SIZE`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the operating system refuses a new thread.
    pub(crate) fn spawn(name: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<Self, Error> {
        Worker::spawn_with_stack(name, Some(IO_STACK_SIZE), f)
    }

    /// Spawns `f` on a thread called `name` with a stack of `stack` bytes;
    /// `None`: Rust's default, for threads that run user code.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the operating system refuses a new thread.
    pub(crate) fn spawn_with_stack(
        name: &str,
        stack: Option<usize>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Self, Error> {
        let (alive, done): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(0);
        let mut builder = thread::Builder::new().name(name.to_owned());
        if let Some(size) = stack {
            builder = builder.stack_size(size);
        }
        let handle = builder
            .spawn(move || {
                // Dropped when `f` returns or unwinds, which disconnects `done`.
                let _alive = alive;
                f()
            })
            .map_err(|e| Error::Io {
                path: None,
                source: std::sync::Arc::new(e),
            })?;
        Ok(Worker {
            name: name.to_owned(),
            handle,
            done,
        })
    }

    /// The thread's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Waits until the thread ends or `deadline` passes, without joining
    /// it; whether it has ended.
    pub(crate) fn wait_until(&self, deadline: Instant) -> bool {
        matches!(
            self.done.recv_deadline(deadline),
            Ok(()) | Err(RecvTimeoutError::Disconnected)
        )
    }

    /// Waits until the thread ends or `deadline` passes.
    pub(crate) fn join_until(self, deadline: Instant) -> Joined<T> {
        if self.handle.thread().id() == thread::current().id() {
            return Joined::OwnThread;
        }
        match self.done.recv_deadline(deadline) {
            Err(RecvTimeoutError::Timeout) => {
                log::warn!(target: "iotcs::device::worker",
                    "thread {} did not stop in time; leaving it to finish",
                    self.name
                );
                Joined::TimedOut
            }
            // Nobody ever sends, so any other outcome is the disconnection.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => match self.handle.join() {
                Ok(value) => Joined::Finished(value),
                Err(_) => {
                    log::error!(target: "iotcs::device::worker", "thread {} panicked", self.name);
                    Joined::Panicked
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn finished_thread_is_joined_with_its_result() {
        let w = Worker::spawn("iotcs-test-ok", || 42).unwrap();
        assert_eq!(w.name(), "iotcs-test-ok");
        match w.join_until(Instant::now() + Duration::from_secs(10)) {
            Joined::Finished(v) => assert_eq!(v, 42),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn thread_name_is_set() {
        let w = Worker::spawn("iotcs-test-name", || {
            thread::current().name().map(str::to_owned)
        })
        .unwrap();
        assert!(matches!(
            w.join_until(Instant::now() + Duration::from_secs(10)),
            Joined::Finished(Some(n)) if n == "iotcs-test-name"
        ));
    }

    #[test]
    fn panicking_thread_is_reported() {
        let w = Worker::spawn("iotcs-test-panic", || -> u8 { panic!("boom") }).unwrap();
        assert!(matches!(
            w.join_until(Instant::now() + Duration::from_secs(10)),
            Joined::Panicked
        ));
    }

    #[test]
    fn blocked_thread_times_out_and_is_left_alone() {
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        let w = Worker::spawn("iotcs-test-blocked", move || rx.recv().is_err()).unwrap();
        assert!(matches!(
            w.join_until(Instant::now() + Duration::from_millis(50)),
            Joined::TimedOut
        ));
        drop(tx);
    }

    #[test]
    fn waiting_does_not_consume_the_worker() {
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        let w = Worker::spawn("iotcs-test-wait", move || rx.recv().is_err()).unwrap();
        assert!(!w.wait_until(Instant::now() + Duration::from_millis(20)));
        drop(tx);
        assert!(w.wait_until(Instant::now() + Duration::from_secs(10)));
        assert!(matches!(
            w.join_until(Instant::now() + Duration::from_secs(10)),
            Joined::Finished(true)
        ));
    }

    #[test]
    fn a_worker_never_joins_itself() {
        let (tx, rx) = crossbeam_channel::bounded::<Worker<()>>(1);
        let (result_tx, result_rx) = crossbeam_channel::bounded(1);
        let w = Worker::spawn("iotcs-test-self", move || {
            let me = rx.recv().unwrap();
            let joined = me.join_until(Instant::now() + Duration::from_secs(10));
            result_tx.send(matches!(joined, Joined::OwnThread)).unwrap();
        })
        .unwrap();
        tx.send(w).unwrap();
        assert!(result_rx.recv_timeout(Duration::from_secs(10)).unwrap());
    }
}
