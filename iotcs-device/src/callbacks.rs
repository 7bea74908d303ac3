//! The callbacks of a [`VirtualDevice`]: registering them (`on_change`,
//! `on_error`, `on_action`, their `_any` forms for every attribute or
//! action, and their `remove_` twins) and running them.
//!
//! For one event the specific callback (of the attribute or action) runs
//! first, then the general one, as the reference says. Change and action
//! callbacks return `Result<(), Rejection>`: the first `Err` stops the
//! callbacks after it and answers the cloud's request with the rejection's
//! status and message (an attribute change is then not applied). Callbacks
//! are cloned out of the lock before they run, so a callback may register
//! callbacks; they always run on a callback-pool thread (or, during close,
//! on the closing thread), never on the sender or receiver.

use std::sync::Arc;

use iotcs_core::{Error, Value};

use crate::events::{ActionEvent, ChangeEvent, ErrorEvent};
use crate::named_value::NamedValue;
use crate::rejection::Rejection;
use crate::virtual_device::{
    ActionCallback, Callbacks, ChangeCallback, Content, ErrorCallback, VirtualDevice,
};

/// Wraps a user's change callback as stored.
fn change_callback(
    callback: impl Fn(&ChangeEvent) -> Result<(), Rejection> + Send + Sync + 'static,
) -> ChangeCallback {
    Arc::new(move |device, value| callback(&ChangeEvent::new(device.clone(), value)))
}

/// Wraps a user's error callback as stored.
fn error_callback(callback: impl Fn(&ErrorEvent) + Send + Sync + 'static) -> ErrorCallback {
    Arc::new(move |device, values, message| {
        callback(&ErrorEvent::new(device.clone(), values, message.to_owned()));
    })
}

/// Wraps a user's action callback as stored.
fn action_callback(
    callback: impl Fn(&ActionEvent) -> Result<(), Rejection> + Send + Sync + 'static,
) -> ActionCallback {
    Arc::new(move |device, name, arguments| {
        callback(&ActionEvent::new(
            device.clone(),
            name.to_owned(),
            arguments,
        ))
    })
}

impl VirtualDevice {
    /// Calls `callback` when the cloud changes `attribute`. Returning
    /// `Err` refuses the change: the cloud's request is answered with the
    /// [`Rejection`]'s status and message and the value is not set (nor are
    /// the others of the same request). For one change the attribute's
    /// callback runs first, then the general one ([`VirtualDevice::on_change_any`]).
    /// Replaces a callback registered before for the same attribute.
    /// Reference: `setOnChange(callback, attributeName)`.
    ///
    /// ```no_run
    /// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
    /// vd.on_change("maxThreshold", |event| {
    ///     match event.named_value().value().as_f64() {
    ///         Some(max) if max > 90.0 => Err("too hot".into()), // answered 400 "too hot"
    ///         _ => Ok(()),
    ///     }
    /// })?;
    /// # Ok(()) }
    /// ```
    ///
    /// A callback must say whether it accepts the change:
    ///
    /// ```compile_fail,E0308
    /// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
    /// vd.on_change("maxThreshold", |event| println!("{:?}", event.named_value()))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute.
    pub fn on_change(
        &self,
        attribute: &str,
        callback: impl Fn(&ChangeEvent) -> Result<(), Rejection> + Send + Sync + 'static,
    ) -> Result<&Self, Error> {
        let name = self.attribute_name(attribute)?;
        self.callbacks_mut()
            .change
            .insert(name, change_callback(callback));
        Ok(self)
    }

    /// Calls `callback` when the cloud changes any attribute, once per
    /// request with every value it changes, after the attributes' own
    /// callbacks. Returning `Err` refuses the whole request, as for
    /// [`VirtualDevice::on_change`]. Replaces the general callback registered
    /// before. Reference: `setOnChange(callback)`.
    pub fn on_change_any(
        &self,
        callback: impl Fn(&ChangeEvent) -> Result<(), Rejection> + Send + Sync + 'static,
    ) -> &Self {
        self.callbacks_mut().change_all = Some(change_callback(callback));
        self
    }

    /// Removes the `on_change` callback of `attribute`.
    /// Reference: `setOnChange(None, attributeName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute.
    pub fn remove_on_change(&self, attribute: &str) -> Result<&Self, Error> {
        let name = self.attribute_name(attribute)?;
        self.callbacks_mut().change.remove(&name);
        Ok(self)
    }

    /// Removes the general `on_change` callback. Reference: `setOnChange(None)`.
    pub fn remove_on_change_any(&self) -> &Self {
        self.callbacks_mut().change_all = None;
        self
    }

    /// Calls `callback` when a message carrying `attribute`'s value, or any
    /// alert, could not be delivered. The attributes' callbacks run first
    /// (for an alert, every attribute's, in model order), then the general
    /// one ([`VirtualDevice::on_error_any`]). Reference:
    /// `setOnError(callback, attributeName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute.
    pub fn on_error(
        &self,
        attribute: &str,
        callback: impl Fn(&ErrorEvent) + Send + Sync + 'static,
    ) -> Result<&Self, Error> {
        let name = self.attribute_name(attribute)?;
        self.callbacks_mut()
            .error
            .insert(name, error_callback(callback));
        Ok(self)
    }

    /// Calls `callback` when any message of this virtual device (attribute
    /// values, alerts, custom data) could not be delivered, after the
    /// attributes' own callbacks. Reference: `setOnError(callback)`.
    pub fn on_error_any(&self, callback: impl Fn(&ErrorEvent) + Send + Sync + 'static) -> &Self {
        self.callbacks_mut().error_all = Some(error_callback(callback));
        self
    }

    /// Removes the `on_error` callback of `attribute`.
    /// Reference: `setOnError(None, attributeName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute.
    pub fn remove_on_error(&self, attribute: &str) -> Result<&Self, Error> {
        let name = self.attribute_name(attribute)?;
        self.callbacks_mut().error.remove(&name);
        Ok(self)
    }

    /// Removes the general `on_error` callback. Reference: `setOnError(None)`.
    pub fn remove_on_error_any(&self) -> &Self {
        self.callbacks_mut().error_all = None;
        self
    }

    /// Calls `callback` when the cloud invokes `action`. The action's
    /// callback runs first, then the general one
    /// ([`VirtualDevice::on_action_any`]); an action with neither is answered
    /// 404. Returning `Err` answers the request with the [`Rejection`]'s
    /// status and message (and skips the general callback); a panic is
    /// answered 500. Reference: `setOnAction(callback, actionName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAction`] if the model has no such action.
    pub fn on_action(
        &self,
        action: &str,
        callback: impl Fn(&ActionEvent) -> Result<(), Rejection> + Send + Sync + 'static,
    ) -> Result<&Self, Error> {
        let name = self.action_name(action)?;
        self.callbacks_mut()
            .action
            .insert(name, action_callback(callback));
        Ok(self)
    }

    /// Calls `callback` when the cloud invokes any action, after the
    /// action's own callback. Reference: `setOnAction(callback)`.
    pub fn on_action_any(
        &self,
        callback: impl Fn(&ActionEvent) -> Result<(), Rejection> + Send + Sync + 'static,
    ) -> &Self {
        self.callbacks_mut().action_all = Some(action_callback(callback));
        self
    }

    /// Removes the `on_action` callback of `action`.
    /// Reference: `setOnAction(None, actionName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAction`] if the model has no such action.
    pub fn remove_on_action(&self, action: &str) -> Result<&Self, Error> {
        let name = self.action_name(action)?;
        self.callbacks_mut().action.remove(&name);
        Ok(self)
    }

    /// Removes the general `on_action` callback. Reference: `setOnAction(None)`.
    pub fn remove_on_action_any(&self) -> &Self {
        self.callbacks_mut().action_all = None;
        self
    }

    /// The reference's older way to handle one action: `callable` receives
    /// the virtual device and the action's argument (`None` for an action
    /// without one); it cannot reject the request. Reference:
    /// `setCallable(actionName, callable)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAction`] if the model has no such action.
    #[deprecated(note = "use `on_action(action, ..)`, as the reference deprecates `setCallable`")]
    pub fn set_callable(
        &self,
        action: &str,
        callable: impl Fn(&VirtualDevice, Option<&Value>) + Send + Sync + 'static,
    ) -> Result<&Self, Error> {
        self.on_action(action, move |event| {
            callable(event.virtual_device(), event.argument());
            Ok(())
        })
    }

    /// Runs the change callbacks for values the cloud sent: each attribute's
    /// own callback, then the general one once with all of them, stopping at
    /// the first rejection. Returns whether any callback ran.
    pub(crate) fn run_change_callbacks(
        &self,
        values: &[(String, Value)],
    ) -> Result<bool, Rejection> {
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
            callback(self, NamedValue::new(name.clone(), value.clone()))?;
        }
        if let (Some(callback), Some(list)) =
            (general, NamedValue::from_pairs(values.iter().cloned()))
        {
            callback(self, list)?;
        }
        Ok(ran)
    }

    /// Runs the callbacks of `action` (specific first), cloned out of the
    /// lock, with its `arguments`, stopping at the first rejection; whether
    /// there was any.
    pub(crate) fn run_action_callbacks(
        &self,
        action: &str,
        arguments: Option<NamedValue>,
    ) -> Result<bool, Rejection> {
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
            callback(self, action, arguments.clone())?;
        }
        Ok(!callbacks.is_empty())
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
        assert!(vd.on_change("nosuch", |_| { Ok(()) }).is_err());
        assert!(vd.on_error("nosuch", |_| {}).is_err());
        assert!(vd.on_action("nosuch", |_| { Ok(()) }).is_err());
        assert!(vd.remove_on_change("nosuch").is_err());
        vd.on_change("temperature", |_| Ok(()))
            .unwrap()
            .on_change_any(|_| Ok(()));
        vd.remove_on_change("temp").unwrap().remove_on_change_any();
        vd.on_action("reset", |_| Ok(()))
            .unwrap()
            .remove_on_action("reset")
            .unwrap()
            .remove_on_action_any();
        vd.on_error_any(|_| {})
            .remove_on_error_any()
            .remove_on_error("temp")
            .unwrap();
    }

    #[test]
    fn delivery_failure_runs_the_error_callbacks_specific_first() {
        let (vd, mut pool) = device();
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        vd.on_error("temp", move |e| {
            o.lock()
                .unwrap()
                .push(format!("temp:{}", e.named_value().unwrap().name()))
        })
        .unwrap();
        let o = order.clone();
        vd.on_error_any(move |e| {
            assert!(e.message().contains("boom"), "{}", e.message());
            o.lock().unwrap().push("all".to_owned());
        });
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
            let callback = move |e: &ErrorEvent| {
                let fields: Vec<&str> = e.named_value().unwrap().iter().map(|v| v.name()).collect();
                h.lock().unwrap().push(format!(
                    "{}:{}",
                    attribute.unwrap_or("all"),
                    fields.join(",")
                ));
            };
            match attribute {
                Some(name) => drop(vd.on_error(name, callback).unwrap()),
                None => drop(vd.on_error_any(callback)),
            }
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
        assert_eq!(
            vd.run_action_callbacks("power", arguments.clone()),
            Ok(true)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        vd.clear_callbacks();
        assert_eq!(vd.run_action_callbacks("power", arguments), Ok(false));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
