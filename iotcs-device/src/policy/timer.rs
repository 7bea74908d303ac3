//! The one policy timer of a device (and of a gateway with all its
//! indirectly-connected devices): a named thread, `iotcs-policy-timer`,
//! that lets out expired windows and `batchByTime` batches, and
//! `batchByCost` batches once the network got cheap enough, without
//! waiting for the next `offer` (spec §7.5: Oracle's library flushes on a
//! per-device timer too, but two windows with the same slide shared one
//! entry there and one never fired; here every pipeline is asked).
//!
//! The timer holds its pipelines weakly: a device's policies that are
//! replaced or dropped leave it without a call. It sleeps until the
//! earliest deadline any of them reported, or [`POLL`] at most, which is
//! also how a change of the network's cost is noticed; [`PolicyTimer::wake`]
//! makes it ask again at once (a new window or batch opened).
//!
//! [`PolicyTimer::close_with`] stops it: the thread finishes the tick it is in
//! (a tick pushes to the outbox, which waits at most
//! `message_queue_waittime` for room) and is joined by the deadline given.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use iotcs_core::Error;

use crate::messaging::worker::{Joined, Worker};

/// The longest the timer sleeps between two rounds.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// What the timer drives: the pipelines of one virtual device.
pub(crate) trait Tick: Send + Sync {
    /// Lets out what is due at `now` (epoch milliseconds); returns when
    /// it next is due, if ever.
    fn tick(&self, now: i64) -> Option<i64>;
}

/// The clock the timer reads (the server-adjusted clock; a fake in tests).
pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Work the policy thread does besides ticking: fetching a policy.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

enum Command {
    Add(Weak<dyn Tick>),
    Wake,
    Run(Job),
}

/// The handle of the timer thread.
#[derive(Debug)]
pub(crate) struct PolicyTimer {
    // Drop order: the sender goes first, so the thread sees its inbox
    // disconnected and ends before anyone joins it.
    commands: Sender<Command>,
    worker: Option<Worker<()>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Add(_) => "Add",
            Command::Wake => "Wake",
            Command::Run(_) => "Run",
        })
    }
}

impl PolicyTimer {
    /// Starts the thread.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the thread cannot be spawned.
    pub(crate) fn start(clock: Clock) -> Result<Self, Error> {
        let (commands, inbox) = crossbeam_channel::unbounded();
        let worker = Worker::spawn("iotcs-policy-timer", move || run(&inbox, &clock))?;
        Ok(PolicyTimer {
            commands,
            worker: Some(worker),
        })
    }

    /// Drives `pipelines` from now on, for as long as they live.
    pub(crate) fn add(&self, pipelines: Weak<dyn Tick>) {
        let _ = self.commands.send(Command::Add(pipelines));
    }

    /// Runs `job` on the timer's thread (a fetch, which must not run in
    /// `offer`); the ticks wait meanwhile.
    pub(crate) fn run(&self, job: Job) {
        let _ = self.commands.send(Command::Run(job));
    }

    /// Asks every pipeline for its deadline again.
    pub(crate) fn wake(&self) {
        let _ = self.commands.send(Command::Wake);
    }

    /// Stops the thread and joins it by `deadline`; `false` if it was still
    /// in a tick then (it is left to finish on its own).
    #[cfg(test)]
    pub(crate) fn close(self, deadline: Instant) -> bool {
        self.close_with(deadline, deadline, || {})
    }

    /// Stops the thread; if it is still busy at `busy_by` (a fetch the
    /// cloud does not answer), calls `interrupt` (which breaks off its
    /// request), then joins it by `deadline`.
    pub(crate) fn close_with(
        mut self,
        busy_by: Instant,
        deadline: Instant,
        interrupt: impl FnOnce(),
    ) -> bool {
        let worker = self.worker.take();
        drop(self);
        let Some(worker) = worker else {
            return true;
        };
        if !worker.wait_until(busy_by) {
            interrupt();
        }
        !matches!(worker.join_until(deadline), Joined::TimedOut)
    }
}

fn run(inbox: &Receiver<Command>, clock: &Clock) {
    let mut ticks: Vec<Weak<dyn Tick>> = Vec::new();
    let mut next: Option<i64> = None;
    loop {
        let now = clock();
        let wait = next.map_or(POLL, |at| {
            Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0)).min(POLL)
        });
        match inbox.recv_timeout(wait) {
            Ok(command) => obey(command, &mut ticks),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Commands that came together are one round.
        while let Ok(command) = inbox.try_recv() {
            obey(command, &mut ticks);
        }
        let now = clock();
        ticks.retain(|t| t.strong_count() > 0);
        next = ticks
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|t| t.tick(now))
            .min();
    }
}

fn obey(command: Command, ticks: &mut Vec<Weak<dyn Tick>>) {
    match command {
        Command::Add(tick) => ticks.push(tick),
        Command::Wake => {}
        Command::Run(job) => job(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    /// Records the times it was ticked at and reports a fixed deadline.
    struct Recorder {
        seen: Mutex<Vec<i64>>,
        due: AtomicI64,
        told: Sender<i64>,
    }

    impl Tick for Recorder {
        fn tick(&self, now: i64) -> Option<i64> {
            self.seen.lock().unwrap().push(now);
            let _ = self.told.send(now);
            let due = self.due.load(Ordering::SeqCst);
            (due > now).then_some(due)
        }
    }

    fn recorder(due: i64) -> (Arc<Recorder>, Receiver<i64>) {
        let (told, heard) = crossbeam_channel::unbounded();
        let r = Arc::new(Recorder {
            seen: Mutex::new(Vec::new()),
            due: AtomicI64::new(due),
            told,
        });
        (r, heard)
    }

    #[test]
    fn a_deadline_is_ticked_without_any_other_call() {
        let clock = Arc::new(AtomicI64::new(0));
        let c = clock.clone();
        let timer = PolicyTimer::start(Arc::new(move || c.load(Ordering::SeqCst))).unwrap();
        let (r, heard) = recorder(1_000);
        let weak: Weak<dyn Tick> = Arc::downgrade(&(r.clone() as Arc<dyn Tick>));
        timer.add(weak);
        // The first round asks for the deadline.
        assert_eq!(heard.recv_timeout(Duration::from_secs(10)).unwrap(), 0);
        // Time passes the deadline: a later round, with no wake, ticks at it.
        clock.store(1_000, Ordering::SeqCst);
        assert_eq!(heard.recv_timeout(Duration::from_secs(10)).unwrap(), 1_000);
        assert!(timer.close(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn dropped_pipelines_are_forgotten_and_close_joins() {
        let timer = PolicyTimer::start(Arc::new(|| 0)).unwrap();
        let (r, heard) = recorder(0);
        let tick: Arc<dyn Tick> = r;
        timer.add(Arc::downgrade(&tick));
        heard.recv_timeout(Duration::from_secs(10)).unwrap();
        drop(tick);
        timer.wake();
        // The timer holds no strong reference: the recorder (and its
        // sender) is gone, so no tick can come any more.
        while heard.try_recv().is_ok() {}
        assert!(matches!(
            heard.recv_timeout(Duration::from_secs(10)),
            Err(RecvTimeoutError::Disconnected)
        ));
        assert!(timer.close(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn jobs_run_on_the_timer_thread() {
        let timer = PolicyTimer::start(Arc::new(|| 0)).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1);
        timer.run(Box::new(move || {
            let _ = tx.send(std::thread::current().name().map(str::to_owned));
        }));
        let name = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(name.as_deref(), Some("iotcs-policy-timer"));
        assert!(timer.close(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn the_thread_is_named() {
        let timer = PolicyTimer::start(Arc::new(|| 0)).unwrap();
        assert_eq!(timer.worker.as_ref().unwrap().name(), "iotcs-policy-timer");
        assert!(timer.close(Instant::now() + Duration::from_secs(10)));
    }
}
