//! The callbacks of a [`VirtualDevice`]: registering them (`on_change`,
//! `on_error`, `on_action` and their `remove_` twins) and running them.
//!
//! For one event the specific callback (of the attribute or action) runs
//! first, then the general one, as the reference says. Callbacks are cloned
//! out of the lock before they run, so a callback may register callbacks;
//! they always run on a callback-pool thread (or, during close, on the
//! closing thread), never on the sender or receiver.

use std::sync::Arc;

use iotcs_core::{Error, Value};

use crate::events::{ActionEvent, ChangeEvent, ErrorEvent};
use crate::named_value::NamedValue;
use crate::virtual_device::{
    ActionCallback, Callbacks, ChangeCallback, Content, ErrorCallback, VirtualDevice,
};

impl VirtualDevice {
    /// Calls `callback` when the cloud changes `attribute` (or, with `None`,
    /// any attribute). For one change the attribute's callback runs first,
    /// then the general one. Replaces a callback registered before for the
    /// same attribute. Reference: `setOnChange(callback, attributeName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute.
    pub fn on_change(
        &self,
        attribute: Option<&str>,
        callback: impl Fn(&ChangeEvent) + Send + Sync + 'static,
    ) -> Result<&Self, Error> {
        let callback: ChangeCallback = Arc::new(move |device, value| {
            callback(&ChangeEvent::new(device.clone(), value));
        });
        match attribute {
            Some(a) => {
                let name = self.attribute_name(a)?;
                self.callbacks_mut().change.insert(name, callback);
            }
            None => self.callbacks_mut().change_all = Some(callback),
        }
        Ok(self)
    }

    /// Removes the `on_change` callback of `attribute` (or the general one).
    /// Reference: `setOnChange(None, attributeName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute.
    pub fn remove_on_change(&self, attribute: Option<&str>) -> Result<&Self, Error> {
        match attribute {
            Some(a) => {
                let name = self.attribute_name(a)?;
                self.callbacks_mut().change.remove(&name);
            }
            None => self.callbacks_mut().change_all = None,
        }
        Ok(self)
    }

    /// Calls `callback` when a message of this virtual device could not be
    /// delivered. With `Some(attribute)`: a message carrying that attribute's
    /// value, or any alert. With `None`: any message (attribute values,
    /// alerts, custom data). The attributes' callbacks run first (for an
    /// alert, every attribute's, in model order), then the general one.
    /// Reference: `setOnError(callback, attributeName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute.
    pub fn on_error(
        &self,
        attribute: Option<&str>,
        callback: impl Fn(&ErrorEvent) + Send + Sync + 'static,
    ) -> Result<&Self, Error> {
        let callback: ErrorCallback = Arc::new(move |device, values, message| {
            callback(&ErrorEvent::new(device.clone(), values, message.to_owned()));
        });
        match attribute {
            Some(a) => {
                let name = self.attribute_name(a)?;
                self.callbacks_mut().error.insert(name, callback);
            }
            None => self.callbacks_mut().error_all = Some(callback),
        }
        Ok(self)
    }

    /// Removes the `on_error` callback of `attribute` (or the general one).
    /// Reference: `setOnError(None, attributeName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute.
    pub fn remove_on_error(&self, attribute: Option<&str>) -> Result<&Self, Error> {
        match attribute {
            Some(a) => {
                let name = self.attribute_name(a)?;
                self.callbacks_mut().error.remove(&name);
            }
            None => self.callbacks_mut().error_all = None,
        }
        Ok(self)
    }

    /// Calls `callback` when the cloud invokes `action` (or, with `None`, any
    /// action). The action's callback runs first, then the general one; an
    /// action with neither is answered 404. A panic in the callback is
    /// answered 500. Reference: `setOnAction(callback, actionName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAction`] if the model has no such action.
    pub fn on_action(
        &self,
        action: Option<&str>,
        callback: impl Fn(&ActionEvent) + Send + Sync + 'static,
    ) -> Result<&Self, Error> {
        let callback: ActionCallback = Arc::new(move |device, name, arguments| {
            callback(&ActionEvent::new(
                device.clone(),
                name.to_owned(),
                arguments,
            ));
        });
        match action {
            Some(a) => {
                let name = self.action_name(a)?;
                self.callbacks_mut().action.insert(name, callback);
            }
            None => self.callbacks_mut().action_all = Some(callback),
        }
        Ok(self)
    }

    /// Removes the `on_action` callback of `action` (or the general one).
    /// Reference: `setOnAction(None, actionName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAction`] if the model has no such action.
    pub fn remove_on_action(&self, action: Option<&str>) -> Result<&Self, Error> {
        match action {
            Some(a) => {
                let name = self.action_name(a)?;
                self.callbacks_mut().action.remove(&name);
            }
            None => self.callbacks_mut().action_all = None,
        }
        Ok(self)
    }

    /// The reference's older way to handle one action: `callable` receives
    /// the virtual device and the action's argument (`None` for an action
    /// without one). Reference: `setCallable(actionName, callable)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAction`] if the model has no such action.
    #[deprecated(
        note = "use `on_action(Some(action), ..)`, as the reference deprecates `setCallable`"
    )]
    pub fn set_callable(
        &self,
        action: &str,
        callable: impl Fn(&VirtualDevice, Option<&Value>) + Send + Sync + 'static,
    ) -> Result<&Self, Error> {
        self.on_action(Some(action), move |event| {
            callable(event.virtual_device(), event.argument())
        })
    }

    /// Runs the change callbacks for values the cloud sent: each attribute's
    /// own callback, then the general one once with all of them. Returns
    /// whether any callback ran.
    pub(crate) fn run_change_callbacks(&self, values: &[(String, Value)]) -> bool {
        let (specific, general) = {
            let callbacks = self.callbacks();
            let specific: Vec<(ChangeCallback, &(String, Value))> = values
                .iter()
                .filter_map(|pair| {
                    callbacks
                        .change
                        .get(&pair.0)
                        .map(|cb| (Arc::clone(cb), pair))
                })
                .collect();
            (specific, callbacks.change_all.clone())
        };
        // Callbacks run without the lock held, so they may register callbacks.
        let ran = !specific.is_empty() || general.is_some();
        for (callback, (name, value)) in specific {
            callback(self, NamedValue::new(name.clone(), value.clone()));
        }
        if let (Some(callback), Some(list)) =
            (general, NamedValue::from_pairs(values.iter().cloned()))
        {
            callback(self, list);
        }
        ran
    }

    /// Runs the callbacks of `action` (specific first), cloned out of the
    /// lock, with its `arguments`; whether there was any.
    pub(crate) fn run_action_callbacks(&self, action: &str, arguments: Option<NamedValue>) -> bool {
        let callbacks: Vec<ActionCallback> = {
            let callbacks = self.callbacks();
            callbacks
                .action
                .get(action)
                .into_iter()
                .chain(callbacks.action_all.as_ref())
                .cloned()
                .collect()
        };
        for callback in &callbacks {
            callback(self, action, arguments.clone());
        }
        !callbacks.is_empty()
    }

    /// Hands the error callbacks for a failed message to the pool:
    /// attribute-specific ones (see [`Content`]), then the general one.
    pub(crate) fn report_error(
        &self,
        values: Vec<(String, Value)>,
        content: Content,
        message: String,
    ) {
        let device = self.clone();
        self.context().spawner().spawn(Box::new(move || {
            let (specific, general) = {
                let callbacks = device.callbacks();
                let specific: Vec<ErrorCallback> = match content {
                    Content::Attributes => values
                        .iter()
                        .filter_map(|(n, _)| callbacks.error.get(n).cloned())
                        .collect(),
                    Content::Alert => device
                        .device_model()
                        .attributes()
                        .iter()
                        .filter_map(|a| callbacks.error.get(a.name()).cloned())
                        .collect(),
                    Content::Data => Vec::new(),
                };
                (specific, callbacks.error_all.clone())
            };
            let values = NamedValue::from_pairs(values);
            for callback in specific.iter().chain(general.as_ref()) {
                callback(&device, values.clone(), &message);
            }
        }));
    }

    /// Forgets every callback: at close, this breaks the reference cycles
    /// callbacks holding a clone of their device would otherwise form.
    pub(crate) fn clear_callbacks(&self) {
        *self.callbacks_mut() = Callbacks::default();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use iotcs_core::model::samples;

    use super::*;
    use crate::virtual_device::tests::{device, queued};

    #[test]
    fn callbacks_need_known_names() {
        let (vd, _pool) = device();
        assert!(vd.on_change(Some("nosuch"), |_| {}).is_err());
        assert!(vd.on_error(Some("nosuch"), |_| {}).is_err());
        assert!(vd.on_action(Some("nosuch"), |_| {}).is_err());
        assert!(vd.remove_on_change(Some("nosuch")).is_err());
        vd.on_change(Some("temperature"), |_| {})
            .unwrap()
            .on_change(None, |_| {})
            .unwrap();
        vd.remove_on_change(Some("temp"))
            .unwrap()
            .remove_on_change(None)
            .unwrap();
        vd.on_action(Some("reset"), |_| {})
            .unwrap()
            .remove_on_action(Some("reset"))
            .unwrap()
            .remove_on_action(None)
            .unwrap();
        vd.on_error(None, |_| {})
            .unwrap()
            .remove_on_error(None)
            .unwrap()
            .remove_on_error(Some("temp"))
            .unwrap();
    }

    #[test]
    fn delivery_failure_runs_the_error_callbacks_specific_first() {
        let (vd, mut pool) = device();
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        vd.on_error(Some("temp"), move |e| {
            o.lock()
                .unwrap()
                .push(format!("temp:{}", e.named_value().unwrap().name()))
        })
        .unwrap();
        let o = order.clone();
        vd.on_error(None, move |e| {
            assert!(e.message().contains("boom"), "{}", e.message());
            o.lock().unwrap().push("all".to_owned());
        })
        .unwrap();
        vd.set("temp", 20.0).unwrap();
        let sent = queued(&vd);
        sent[0].listener.as_ref().unwrap().failed(
            sent[0].kind(),
            sent[0].wire(),
            &Error::state("boom"),
        );
        pool.stop(Instant::now() + Duration::from_secs(10));
        assert_eq!(*order.lock().unwrap(), ["temp:temp", "all"]);
    }

    #[test]
    fn an_alert_failure_reaches_attribute_error_callbacks_too() {
        let (vd, mut pool) = device();
        let heard = Arc::new(Mutex::new(Vec::new()));
        for attribute in [Some("maxThreshold"), Some("temp"), None] {
            let h = heard.clone();
            vd.on_error(attribute, move |e| {
                let fields: Vec<&str> = e.named_value().unwrap().iter().map(|v| v.name()).collect();
                h.lock().unwrap().push(format!(
                    "{}:{}",
                    attribute.unwrap_or("all"),
                    fields.join(",")
                ));
            })
            .unwrap();
        }
        let fail = |vd: &VirtualDevice| {
            for sent in queued(vd) {
                sent.listener.as_ref().unwrap().failed(
                    sent.kind(),
                    sent.wire(),
                    &Error::state("boom"),
                );
            }
        };
        vd.create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)
            .unwrap()
            .set("temp", 80.0)
            .unwrap()
            .set("maxThreshold", 70.0)
            .unwrap()
            .raise()
            .unwrap();
        fail(&vd);
        // Custom data is not an alert: only the general callback hears.
        vd.create_data(samples::TEMPERATURE_SUMMARY_FORMAT)
            .unwrap()
            .set("minTemp", 1.0)
            .unwrap()
            .set("maxTemp", 2.0)
            .unwrap()
            .set("averageTemp", 1.5)
            .unwrap()
            .set("samples", 3)
            .unwrap()
            .submit()
            .unwrap();
        fail(&vd);
        pool.stop(Instant::now() + Duration::from_secs(10));
        // Every attribute's callback (in model order), then the general one.
        assert_eq!(
            *heard.lock().unwrap(),
            [
                "temp:temp,maxThreshold",
                "maxThreshold:temp,maxThreshold",
                "all:temp,maxThreshold",
                "all:minTemp,maxTemp,averageTemp,samples",
            ]
        );
    }

    #[test]
    fn callables_are_action_callbacks() {
        let (vd, _pool) = device();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        #[allow(deprecated)]
        vd.set_callable("power", move |device, arg| {
            assert_eq!(device.endpoint_id(), "EP-1");
            assert_eq!(arg, Some(&Value::Boolean(true)));
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        let arguments = Some(NamedValue::new("value", Value::Boolean(true)));
        assert!(vd.run_action_callbacks("power", arguments.clone()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        vd.clear_callbacks();
        assert!(!vd.run_action_callbacks("power", arguments));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
