//! [`Update`]: the transaction of attribute values a virtual device has
//! open, sent as one DATA message by [`Update::finish`].
//!
//! As in the reference, the open update belongs to the virtual device, not to
//! the handle: while one is open, [`VirtualDevice::set`] (from any thread)
//! adds to it instead of sending, and `finish` sends everything gathered. The
//! gathered values live in the device's shared state ([`crate::open_update::SharedUpdate`]),
//! behind one lock that `set` and the handles take; nothing is sent under
//! it. So that a thread's values reach the queue in the order it set them, a
//! `set` or `finish` that would queue while another thread's `finish` is
//! queueing what it took waits until that message is queued (at most as
//! long as that push waits for room).

use std::fmt;

use std::thread;

use iotcs_core::{Error, Value};

use crate::open_update::Queueing;
use crate::virtual_device::{Content, VirtualDevice};

impl VirtualDevice {
    /// Opens this virtual device's update (or joins the one open): values
    /// set on the returned [`Update`], or with [`VirtualDevice::set`] until it
    /// is finished, are sent together in one DATA message by
    /// [`Update::finish`]. Reference: `update()`.
    pub fn update(&self) -> Update {
        Update::new(self.clone())
    }

    /// Adds a validated value to the open update; hands it back when no
    /// update is open (then the caller sends it; another thread's `finish`
    /// has queued its message by then).
    pub(crate) fn join_update(&self, name: &str, value: Value) -> Option<Value> {
        let mut state = self.shared_update().lock();
        if state.holders == 0 {
            drop(state);
            state = self.shared_update().lock_when_queued();
            if state.holders == 0 {
                return Some(value);
            }
        }
        state.put(name.to_owned(), value);
        None
    }
}

/// An open update of a virtual device: values set on it, or with
/// [`VirtualDevice::set`] while it is open, are sent together in one DATA
/// message by [`Update::finish`]. Reference: `update()` ... `finish()`.
///
/// ```no_run
/// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
/// vd.update().set("minThreshold", 10)?.set("maxThreshold", 20)?.finish()?;
/// // The same, as the reference writes it:
/// let update = vd.update();
/// vd.set("minThreshold", 10)?.set("maxThreshold", 20)?;
/// update.finish()?;
/// # Ok(()) }
/// ```
///
/// A virtual device has at most one open update: a second
/// [`VirtualDevice::update`] while one is open joins it, so two threads
/// updating the same virtual device share one transaction. It stays open
/// while any handle lives; each `finish` sends what was gathered so far.
///
/// Dropping the last handle without `finish` (also when [`Update::set`]
/// refuses a value) closes the update and sends nothing: its values, with
/// any that `set` added, are handed to the `on_error` callbacks (and logged),
/// since each `set` that joined it had returned `Ok`. The reference has no
/// way to abandon an update.
///
/// An `Update` owns a handle of its virtual device (no lifetime), so it is
/// `Send`: it can be opened on one thread and finished on another.
///
/// ```no_run
/// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
/// let update = vd.update().set("minThreshold", 10)?;
/// let finisher = std::thread::spawn(move || update.set("maxThreshold", 20)?.finish());
/// finisher.join().expect("no panic")?;
/// # Ok(()) }
/// ```
///
/// A finished update is gone:
///
/// ```compile_fail,E0382
/// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
/// let update = vd.update();
/// update.finish()?;
/// update.set("minThreshold", 10)?;
/// # Ok(()) }
/// ```
#[must_use = "nothing is sent until `finish` is called"]
pub struct Update {
    device: VirtualDevice,
    finished: bool,
}

impl fmt::Debug for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Update")
            .field("device", &self.device)
            .field("values", &self.device.shared_update().lock().values)
            .finish()
    }
}

impl Update {
    /// Opens `device`'s update, or joins the one open.
    pub(crate) fn new(device: VirtualDevice) -> Self {
        device.shared_update().lock().holders += 1;
        Update {
            device,
            finished: false,
        }
    }

    /// Validates and adds a value; a second value for the same attribute
    /// replaces the first. Reference: `set` inside a transaction.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] or [`Error::Validation`] as
    /// [`VirtualDevice::set`]; this handle is then
    /// dropped unfinished (see [`Update`]).
    pub fn set(self, attribute: &str, value: impl Into<Value>) -> Result<Self, Error> {
        let (attribute, value) = self
            .device
            .device_model()
            .validate_attribute(attribute, value.into())?;
        self.device
            .shared_update()
            .lock()
            .put(attribute.name().to_owned(), value);
        Ok(self)
    }

    /// Sends every value gathered in one DATA message (nothing when none
    /// was), and closes the update unless another handle holds it.
    /// Reference: `finish()`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsent`] handing the message back if the device is closed or
    /// its queue or store is full ([`Error::Closed`], [`Error::QueueFull`],
    /// [`Error::StoreFull`] as its [`unsent_reason`](Error::unsent_reason));
    /// the `on_error` callbacks hear of it too.
    pub fn finish(mut self) -> Result<(), Error> {
        self.finished = true;
        let shared = self.device.shared_update();
        let mut state = shared.lock_when_queued();
        state.holders = state.holders.saturating_sub(1);
        let values = std::mem::take(&mut state.values);
        if values.is_empty() {
            return Ok(());
        }
        let _queueing = Queueing {
            shared,
            previous: state.queueing.replace(thread::current().id()),
        };
        drop(state);
        self.device.send_attributes(values)
    }
}

impl Drop for Update {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let values = {
            let mut state = self.device.shared_update().lock();
            state.holders = state.holders.saturating_sub(1);
            if state.holders > 0 {
                // Another handle will finish what was gathered.
                return;
            }
            std::mem::take(&mut state.values)
        };
        if values.is_empty() {
            return;
        }
        log::warn!(target: "iotcs::device::update",
            "an update of {} attribute(s) of {} was dropped without finish(); nothing was sent",
            values.len(),
            self.device.endpoint_id()
        );
        self.device.report_error(
            values,
            Content::Attributes,
            "the update was dropped without finish(): these values were not sent".to_owned(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtual_device::tests::{data_of, device, queued};

    #[test]
    fn an_update_is_one_message_and_an_empty_one_is_none() {
        let (vd, _pool) = device();
        vd.update()
            .set("minThreshold", 10)
            .unwrap()
            .set("maxThreshold", 20)
            .unwrap()
            .set("minThreshold", 11)
            .unwrap()
            .finish()
            .unwrap();
        let sent = queued(&vd);
        assert_eq!(sent.len(), 1);
        let (_, data) = data_of(&sent[0].message());
        assert_eq!(
            data,
            [
                ("maxThreshold".to_owned(), serde_json::json!(20.0)),
                ("minThreshold".to_owned(), serde_json::json!(11.0))
            ]
        );
        vd.update().finish().unwrap();
        assert!(queued(&vd).is_empty());
        drop(vd.update().set("minThreshold", 5).unwrap());
        assert!(queued(&vd).is_empty());
        assert_eq!(vd.get("minThreshold").unwrap(), Some(Value::Number(11.0)));
    }

    #[test]
    fn set_while_an_update_is_open_joins_it_from_any_thread() {
        let (vd, _pool) = device();
        let update = vd.update();
        vd.set("temp", 20.0).unwrap();
        let other = vd.clone();
        std::thread::spawn(move || {
            other.set("unit", "Kelvin").unwrap();
        })
        .join()
        .unwrap();
        assert!(queued(&vd).is_empty(), "nothing is sent before finish()");
        update
            .set("minThreshold", 10)
            .unwrap()
            .set("temp", 21.0)
            .unwrap()
            .finish()
            .unwrap();
        let sent = queued(&vd);
        assert_eq!(sent.len(), 1);
        let (_, data) = data_of(&sent[0].message());
        assert_eq!(
            data,
            [
                ("minThreshold".to_owned(), serde_json::json!(10.0)),
                ("temp".to_owned(), serde_json::json!(21.0)),
                ("unit".to_owned(), serde_json::json!("Kelvin")),
            ]
        );
        assert_eq!(vd.get("unit").unwrap(), Some(Value::from("Kelvin")));
        // finish() closed the update: a set goes at once again.
        vd.set("temp", 22.0).unwrap();
        assert_eq!(queued(&vd).len(), 1);
    }

    #[test]
    fn sets_racing_updates_lose_nothing_and_keep_their_order() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        const SETS: i64 = 30;
        let (vd, _pool) = device();
        let attributes = ["temp", "minTemp", "maxTemp"];
        let done = Arc::new(AtomicUsize::new(0));
        let setters: Vec<_> = attributes
            .into_iter()
            .map(|attribute| {
                let (vd, done) = (vd.clone(), Arc::clone(&done));
                std::thread::spawn(move || {
                    for n in 1..=SETS {
                        vd.set(attribute, n).unwrap();
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        let mut sent = Vec::new();
        while done.load(Ordering::SeqCst) < attributes.len() {
            let update = vd.update();
            std::thread::yield_now();
            update.finish().unwrap();
            sent.extend(queued(&vd));
        }
        for setter in setters {
            setter.join().unwrap();
        }
        sent.extend(queued(&vd));
        for attribute in attributes {
            let values: Vec<f64> = sent
                .iter()
                .filter_map(|q| {
                    data_of(&q.message())
                        .1
                        .into_iter()
                        .find(|(n, _)| n == attribute)
                        .and_then(|(_, v)| v.as_f64())
                })
                .collect();
            assert!(
                values.windows(2).all(|w| w[0] < w[1]),
                "{attribute} out of order: {values:?}"
            );
            assert_eq!(values.last(), Some(&(SETS as f64)), "{attribute}");
        }
    }

    #[test]
    fn an_error_callback_run_inline_by_finish_may_call_set() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (vd, mut pool) = device();
        // With the pool stopped, a refused push runs the error callbacks on
        // the pushing thread: here, inside `finish`.
        pool.stop(std::time::Instant::now() + std::time::Duration::from_secs(10));
        while vd.set("temp", 20.0).is_ok() {}
        let once = AtomicBool::new(false);
        vd.on_error_any(move |event| {
            if !once.swap(true, Ordering::SeqCst) {
                let _ = event.virtual_device().set("unit", "Kelvin");
            }
        });
        let (tx, finished) = std::sync::mpsc::channel();
        let other = vd.clone();
        std::thread::spawn(move || {
            let result = other.update().set("minThreshold", 1).unwrap().finish();
            tx.send(result.is_err()).unwrap();
        });
        let refused = finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("finish returned (a set from its own inline callback must not wait for it)");
        assert!(refused);
    }

    #[test]
    fn an_update_stays_open_while_any_of_its_handles_lives() {
        let (vd, _pool) = device();
        let first = vd.update().set("minThreshold", 1).unwrap();
        let second = vd.update().set("maxThreshold", 2).unwrap();
        // One transaction per virtual device: the first finish sends what
        // both handles and `set` gathered so far...
        first.finish().unwrap();
        let sent = queued(&vd);
        assert_eq!(sent.len(), 1);
        assert_eq!(data_of(&sent[0].message()).1.len(), 2);
        // ...and the transaction stays open for the second handle.
        vd.set("temp", 20.0).unwrap();
        assert!(queued(&vd).is_empty());
        second.finish().unwrap();
        let sent = queued(&vd);
        assert_eq!(
            data_of(&sent[0].message()).1,
            [("temp".to_owned(), serde_json::json!(20.0))]
        );
    }

    #[test]
    fn an_update_dropped_unfinished_reports_what_it_held() {
        let (vd, mut pool) = device();
        let (tx, errors) = std::sync::mpsc::channel();
        vd.on_error_any(move |event| {
            let names: Vec<String> = event
                .named_value()
                .unwrap()
                .iter()
                .map(|v| v.name().to_owned())
                .collect();
            tx.send((names, event.message().to_owned())).unwrap();
        });
        let update = vd.update().set("minThreshold", 5).unwrap();
        vd.set("temp", 20.0).unwrap();
        drop(update);
        // A validation error drops the update it was called on.
        let update = vd.update().set("maxThreshold", 6).unwrap();
        assert!(update.set("maxThreshold", 900).is_err());
        pool.stop(std::time::Instant::now() + std::time::Duration::from_secs(10));
        assert!(queued(&vd).is_empty());
        let (names, message) = errors.try_recv().unwrap();
        assert_eq!(names, ["minThreshold", "temp"]);
        assert!(message.contains("without finish()"), "{message}");
        assert_eq!(errors.try_recv().unwrap().0, ["maxThreshold"]);
        // Nothing was sent: `get` still has the defaults.
        assert_eq!(vd.get("temp").unwrap(), None);
        // The update is closed: a set goes at once.
        vd.set("temp", 21.0).unwrap();
        assert_eq!(queued(&vd).len(), 1);
    }
}
