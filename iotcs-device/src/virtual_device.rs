//! [`VirtualDevice`]: a device's attributes, actions and formats as its
//! device model describes them, with the values it last sent or received.
//!
//! The device reports with [`VirtualDevice::set`] (one DATA message per call,
//! unless an update is open: then it joins it) or [`VirtualDevice::update`]
//! (one message for a whole transaction), raises
//! alerts and submits custom data; the cloud changes writable attributes and
//! invokes actions, which reach the `on_change` and `on_action` callbacks on
//! a callback-pool thread. Failures to deliver reach `on_error`.
//!
//! A `VirtualDevice` is a cheap handle: clones share one state, so callbacks
//! can hold one and call `set` (which only queues).

use std::collections::HashMap;
use std::fmt;
use std::sync::{
    Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak,
};

use iotcs_core::__private::DataTemplate;
use iotcs_core::message::{DataItems, Message, MessageType, Payload};
use iotcs_core::model::DeviceModel;
use iotcs_core::{Error, Value};

use crate::messaging::context::DeviceContext;
use crate::messaging::outbox::{DeliveryListener, Outgoing, ValueListener};
use crate::messaging::restored::Survivors;
use crate::named_value::NamedValue;
use crate::open_update::SharedUpdate;
use crate::policy::slot::PolicySlot;
use crate::rejection::Rejection;
use crate::storage::attach;
use crate::storage::hub::Hub;

// The callbacks as stored: `crate::callbacks` wraps each user callback to
// build its event from these arguments. The events name `VirtualDevice`, so
// storing them by event type here would make this file and the events'
// import each other.
/// An `on_change` callback: the device and the changed values.
pub(crate) type ChangeCallback =
    Arc<dyn Fn(&VirtualDevice, NamedValue) -> Result<(), Rejection> + Send + Sync>;
/// An `on_error` callback: the device, the values tried and what went wrong.
pub(crate) type ErrorCallback = Arc<dyn Fn(&VirtualDevice, Option<NamedValue>, &str) + Send + Sync>;
/// An `on_action` callback: the device, the action's name and its arguments.
pub(crate) type ActionCallback =
    Arc<dyn Fn(&VirtualDevice, &str, Option<NamedValue>) -> Result<(), Rejection> + Send + Sync>;

/// What a failed message of a virtual device carried, which decides whose
/// `on_error` callbacks hear of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// Attribute values: the callbacks of those attributes, then the general
    /// one.
    Attributes,
    /// An alert: the callbacks of every attribute, then the general one (the
    /// reference: an attribute's callback hears "an error when setting the
    /// value for attributeName or an error when raising an Alert").
    Alert,
    /// Custom data: the general callback only (the reference names only
    /// attributes and alerts for an attribute's callback).
    Data,
}

/// The registered callbacks; the specific one runs before the general one.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) change: HashMap<String, ChangeCallback>,
    pub(crate) change_all: Option<ChangeCallback>,
    pub(crate) error: HashMap<String, ErrorCallback>,
    pub(crate) error_all: Option<ErrorCallback>,
    pub(crate) action: HashMap<String, ActionCallback>,
    pub(crate) action_all: Option<ActionCallback>,
}

/// One attribute's values.
#[derive(Clone, Debug, Default)]
struct Slot {
    /// What `get` returns: the last value set by the device or the cloud, or
    /// the model's default.
    value: Option<Value>,
    /// What `last_known` returns: the last value the cloud is known to have
    /// (delivered by us, or sent by it), or the model's default.
    last_known: Option<Value>,
}

/// The state every clone of a virtual device shares.
struct Inner {
    endpoint_id: String,
    model: Arc<DeviceModel>,
    /// By attribute name: those with a default or a value set or received.
    slots: Mutex<HashMap<String, Slot>>,
    /// The open update, if any (see [`crate::Update`]).
    update: SharedUpdate,
    callbacks: RwLock<Callbacks>,
    context: Arc<DeviceContext>,
    /// The device's storage, set once when the device creates this virtual
    /// device; weak, so a virtual device kept past close keeps no transfer
    /// machinery alive.
    storage: OnceLock<Weak<Hub>>,
    /// Its device policy (see `crate::offer`).
    policy: PolicySlot<Arc<dyn DeliveryListener>>,
    /// The fixed fields of its attribute messages, written at the first
    /// `set` (`crate::set_path`); `None` if they cannot be written.
    data_template: OnceLock<Option<DataTemplate>>,
}

/// A device model instance for one endpoint. Reference: `VirtualDevice`
/// (and `AbstractVirtualDevice`, whose methods it has).
///
/// Attribute, action and field names may be given by name or by alias.
#[derive(Clone)]
pub struct VirtualDevice {
    inner: Arc<Inner>,
}

impl fmt::Debug for VirtualDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualDevice")
            .field("endpoint_id", &self.inner.endpoint_id)
            .field("model", &self.inner.model.urn())
            .finish()
    }
}

impl VirtualDevice {
    /// A virtual device of `endpoint_id` implementing `model`, with every
    /// attribute at its default value.
    pub(crate) fn new(
        endpoint_id: &str,
        model: Arc<DeviceModel>,
        context: Arc<DeviceContext>,
    ) -> Self {
        // Only attributes with a default start with a slot: an empty slot
        // and none read the same, every write makes the slot it needs, and a
        // gateway's thousands of devices do not each hold a slot for every
        // attribute they never set.
        let slots = model
            .attributes()
            .iter()
            .filter_map(|a| {
                let default = a.default_value()?.clone();
                Some((
                    a.name().to_owned(),
                    Slot {
                        value: Some(default.clone()),
                        last_known: Some(default),
                    },
                ))
            })
            .collect();
        VirtualDevice {
            inner: Arc::new(Inner {
                endpoint_id: endpoint_id.to_owned(),
                model,
                slots: Mutex::new(slots),
                update: SharedUpdate::default(),
                callbacks: RwLock::new(Callbacks::default()),
                context,
                storage: OnceLock::new(),
                policy: PolicySlot::default(),
                data_template: OnceLock::new(),
            }),
        }
    }

    /// The endpoint id of the device this virtual device represents.
    /// Reference: `getEndpointId()`.
    pub fn endpoint_id(&self) -> &str {
        &self.inner.endpoint_id
    }

    /// The device model. Reference: `getDeviceModel()`.
    pub fn device_model(&self) -> &DeviceModel {
        &self.inner.model
    }

    /// The current value of an attribute: the last one set by the device or
    /// the cloud, else the model's default, else `None`. No network call.
    /// Reference: `get(attributeName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute.
    pub fn get(&self, attribute: &str) -> Result<Option<Value>, Error> {
        let name = self.attribute_name(attribute)?;
        Ok(self.slots().get(&name).and_then(|s| s.value.clone()))
    }

    /// The last value of an attribute the cloud is known to have: the last
    /// value the device delivered or the cloud set, else the model's default.
    /// It lags [`VirtualDevice::get`] only while a `set` is on its way.
    /// Reference: `getLastKnown(attributeName)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute.
    pub fn last_known(&self, attribute: &str) -> Result<Option<Value>, Error> {
        let name = self.attribute_name(attribute)?;
        Ok(self.slots().get(&name).and_then(|s| s.last_known.clone()))
    }

    /// Validates `value` against the model and sends it in one DATA message
    /// (format `<urn>:attributes`), or, while an [`update`](Self::update) is
    /// open on this virtual device (from any thread), adds it to that update,
    /// which sends it with the rest at [`crate::Update::finish`]. The device may set
    /// any attribute of its model, writable or not. Returns `self` for
    /// chaining. Reference: `set(attributeName, value)`.
    ///
    /// A value sent on its own is queued after any update of this virtual
    /// device another thread is finishing (waiting, at most, as long as that
    /// push waits for room), so a thread's values arrive in the order it set
    /// them.
    ///
    /// ```no_run
    /// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
    /// vd.set("temp", 21.5)?.set("unit", "Celsius")?; // two messages
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAttribute`] if the model has no such attribute,
    /// [`Error::Validation`] if the value breaks its type or range (nothing
    /// is sent); [`Error::Unsent`] handing the message back if the device is
    /// closed or its outgoing queue or store is full (its
    /// [`unsent_reason`](Error::unsent_reason) is [`Error::Closed`],
    /// [`Error::QueueFull`] or [`Error::StoreFull`]; a value that joined an
    /// update cannot fail here: `finish` reports).
    pub fn set(&self, attribute: &str, value: impl Into<Value>) -> Result<&Self, Error> {
        let (attribute, value) = self
            .inner
            .model
            .validate_attribute(attribute, value.into())?;
        let name = attribute.name();
        if let Some(value) = self.join_update(name, value) {
            let index = self
                .inner
                .model
                .attributes()
                .iter()
                .position(|a| std::ptr::eq(a, attribute));
            match index {
                Some(index) => self.send_one(index, value)?,
                None => self.send_attributes(vec![(name.to_owned(), value)])?,
            }
        }
        Ok(self)
    }

    /// Sends validated `(canonical name, value)` pairs in one DATA message
    /// (through the model-level policy pipeline, if one runs) and records
    /// them as current values once queued.
    pub(crate) fn send_attributes(&self, values: Vec<(String, Value)>) -> Result<(), Error> {
        let message = self.data_message(values.clone(), self.inner.context.event_time())?;
        let refers_to = attach::uploads_for(self, values.iter().map(|(n, v)| (n.as_str(), v)))?;
        let listener = Arc::new(Delivery {
            device: self.clone(),
            values: values.clone(),
            content: Content::Attributes,
        });
        self.push_through_policy(message, listener, &refers_to)?;
        self.record_current(values);
        Ok(())
    }

    /// Sends validated pairs in one DATA message of time `time` straight to
    /// the outbox, bypassing every policy (values that waited for a policy
    /// that turned out to be none).
    pub(crate) fn send_plain(&self, attribute: &str, value: Value, time: i64) -> Result<(), Error> {
        let values = vec![(attribute.to_owned(), value)];
        let message = self.data_message(values.clone(), time)?;
        let listener = Arc::new(Delivery {
            device: self.clone(),
            values: values.clone(),
            content: Content::Attributes,
        });
        let refers_to = attach::uploads_for(self, values.iter().map(|(n, v)| (n.as_str(), v)))?;
        self.inner
            .context
            .push(Outgoing::with_listener(message, listener), &refers_to)?;
        self.record_current(values);
        Ok(())
    }

    /// The DATA message of validated pairs, of time `time`.
    pub(crate) fn data_message(
        &self,
        values: Vec<(String, Value)>,
        time: i64,
    ) -> Result<Message, Error> {
        Ok(Message::data(
            &self.inner.endpoint_id,
            self.inner.model.attributes_format_urn(),
            values,
            time,
        )?
        .with_reliability(self.inner.context.data_reliability))
    }

    /// Records values sent as the current ones.
    pub(crate) fn record_current(&self, values: Vec<(String, Value)>) {
        let mut slots = self.slots();
        for (name, value) in values {
            slots.entry(name).or_default().value = Some(value);
        }
    }

    /// Records one value sent as the current one.
    pub(crate) fn record_one(&self, name: &str, value: Value) {
        let mut slots = self.slots();
        match slots.get_mut(name) {
            Some(slot) => slot.value = Some(value),
            None => slots.entry(name.to_owned()).or_default().value = Some(value),
        }
    }

    /// This virtual device as the listener of its values sent on the fast
    /// path (`crate::set_path`): the queue item holds it, as a
    /// `Delivery` would hold a clone of the device.
    pub(crate) fn value_listener(&self) -> Arc<dyn ValueListener> {
        Arc::clone(&self.inner) as Arc<dyn ValueListener>
    }

    /// The fixed fields of this virtual device's attribute messages,
    /// written once.
    pub(crate) fn data_template(&self) -> Option<&DataTemplate> {
        self.inner
            .data_template
            .get_or_init(|| {
                DataTemplate::new(
                    &self.inner.endpoint_id,
                    &self.inner.model.attributes_format_urn(),
                    self.inner.context.data_reliability,
                )
                .ok()
            })
            .as_ref()
    }

    /// Its device policy's state (see `crate::offer`).
    pub(crate) fn policy_slot(&self) -> &PolicySlot<Arc<dyn DeliveryListener>> {
        &self.inner.policy
    }

    /// A handle that does not keep the virtual device alive.
    pub(crate) fn downgrade(&self) -> WeakDevice {
        WeakDevice(Arc::downgrade(&self.inner))
    }

    /// Records values the cloud set (current and last known at once).
    pub(crate) fn store_remote(&self, values: &[(String, Value)]) {
        let mut slots = self.slots();
        for (name, value) in values {
            let slot = slots.entry(name.clone()).or_default();
            slot.value = Some(value.clone());
            slot.last_known = Some(value.clone());
        }
    }

    pub(crate) fn attribute_name(&self, name: &str) -> Result<String, Error> {
        self.inner
            .model
            .attribute(name)
            .map(|a| a.name().to_owned())
            .ok_or_else(|| Error::UnknownAttribute {
                model: self.inner.model.urn().to_owned(),
                name: name.to_owned(),
            })
    }

    pub(crate) fn action_name(&self, name: &str) -> Result<String, Error> {
        self.inner
            .model
            .action(name)
            .map(|a| a.name().to_owned())
            .ok_or_else(|| Error::UnknownAction {
                model: self.inner.model.urn().to_owned(),
                name: name.to_owned(),
            })
    }

    /// What the device shares with the engine: the outbox, the inbound
    /// side, the server's clock.
    /// Gives this virtual device its device's storage (once).
    pub(crate) fn attach_storage(&self, hub: &Arc<Hub>) {
        let _ = self.inner.storage.set(Arc::downgrade(hub));
    }

    /// The device's storage, while the device is open.
    pub(crate) fn storage(&self) -> Option<Arc<Hub>> {
        self.inner.storage.get().and_then(Weak::upgrade)
    }

    pub(crate) fn context(&self) -> &DeviceContext {
        &self.inner.context
    }

    /// The virtual device's one open update (see [`crate::Update`]).
    pub(crate) fn shared_update(&self) -> &SharedUpdate {
        &self.inner.update
    }

    /// The registered callbacks, to read (see `crate::callbacks`).
    pub(crate) fn callbacks(&self) -> RwLockReadGuard<'_, Callbacks> {
        self.inner
            .callbacks
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The registered callbacks, to change.
    pub(crate) fn callbacks_mut(&self) -> RwLockWriteGuard<'_, Callbacks> {
        self.inner
            .callbacks
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // Slot updates are plain assignments; a panic cannot leave one torn.
        self.inner.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Records a value the cloud now has (delivered by us), without a copy of
/// the name when its slot exists (every attribute of the model has one).
fn set_last_known(slots: &mut HashMap<String, Slot>, name: &str, value: &Value) {
    match slots.get_mut(name) {
        Some(slot) => slot.last_known = Some(value.clone()),
        None => slots.entry(name.to_owned()).or_default().last_known = Some(value.clone()),
    }
}

/// A virtual device that may be gone (what the policy timer holds).
#[derive(Clone, Debug)]
pub(crate) struct WeakDevice(Weak<Inner>);

impl WeakDevice {
    pub(crate) fn upgrade(&self) -> Option<VirtualDevice> {
        self.0.upgrade().map(|inner| VirtualDevice { inner })
    }
}

/// Records delivery of a virtual device's message, or reports its failure.
pub(crate) struct Delivery {
    pub(crate) device: VirtualDevice,
    /// The values the message carried.
    pub(crate) values: Vec<(String, Value)>,
    /// What the message carried.
    pub(crate) content: Content,
}

impl DeliveryListener for Delivery {
    fn delivered(&self) {
        if self.content == Content::Attributes {
            let mut slots = self.device.slots();
            for (name, value) in &self.values {
                set_last_known(&mut slots, name, value);
            }
        }
    }

    fn failed(&self, kind: MessageType, _: &str, error: &Error) {
        let text = format!("{kind} message could not be delivered: {error}");
        self.device
            .report_error(self.values.clone(), self.content, text);
    }
}

impl ValueListener for Inner {
    /// Records the value as the cloud's (as `Delivery::delivered`).
    fn value_delivered(&self, index: usize, value: &Value) {
        let name = self.model.attributes()[index].name();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        set_last_known(&mut slots, name, value);
    }

    fn value_failed(self: Arc<Self>, index: usize, value: &Value, _: &str, error: &Error) {
        VirtualDevice { inner: self }.value_failed(index, value, error);
    }
}

/// The virtual devices of an open device, shared by the device (which adds
/// to it, and releases their callbacks at close) and the listener of
/// restored messages (which looks in it, see [`Survivors`]).
#[derive(Clone, Default)]
pub(crate) struct Registry(Arc<Mutex<Vec<Weak<Inner>>>>);

impl Registry {
    /// Adds `device`, forgetting those dropped since.
    pub(crate) fn add(&self, device: &VirtualDevice) {
        let mut devices = self.lock();
        devices.retain(|d| d.strong_count() > 0);
        devices.push(Arc::downgrade(&device.inner));
    }

    /// Forgets every device, releasing its callbacks: at close, this breaks
    /// the reference cycles callbacks holding a clone of their device would
    /// otherwise form.
    pub(crate) fn release_all(&self) {
        let devices = std::mem::take(&mut *self.lock());
        for inner in devices.iter().filter_map(Weak::upgrade) {
            VirtualDevice { inner }.clear_callbacks();
        }
    }

    /// The open virtual devices of device model `urn` (a policy change
    /// notification concerns them).
    pub(crate) fn of_model(&self, urn: &str) -> Vec<VirtualDevice> {
        self.lock()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|inner| inner.model.urn() == urn)
            .map(|inner| VirtualDevice { inner })
            .collect()
    }

    /// The open virtual devices a message of `source` and `format` belongs to.
    fn matching(&self, source: &str, format: &str) -> Vec<VirtualDevice> {
        self.lock()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|inner| {
                inner.endpoint_id == source
                    && (inner.model.attributes_format_urn() == format
                        || inner.model.format(format).is_some())
            })
            .map(|inner| VirtualDevice { inner })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Weak<Inner>>> {
        // Pushes and removals only; a panic cannot tear the list.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("devices", &self.lock().len())
            .finish()
    }
}

impl Survivors for Registry {
    fn given_up(&self, message: &Message, text: &str) -> usize {
        let (format, data) = match message.payload() {
            Payload::Data(p) => (p.format(), p.data()),
            Payload::Alert(p) => (p.format(), p.data()),
            // Responses and reports are not a virtual device's.
            _ => return 0,
        };
        let devices = self.matching(message.source(), format);
        for device in &devices {
            let attributes = device.inner.model.attributes_format_urn() == format;
            let values = typed_values(device, format, data, attributes);
            let content = match message.payload() {
                _ if attributes => Content::Attributes,
                Payload::Alert(_) => Content::Alert,
                _ => Content::Data,
            };
            device.report_error(values, content, text.to_owned());
        }
        devices.len()
    }
}

/// `data` as typed values of `device`'s model; items the model does not
/// type (or that no longer fit it) are left out.
fn typed_values(
    device: &VirtualDevice,
    format: &str,
    data: &DataItems,
    attributes: bool,
) -> Vec<(String, Value)> {
    let model = &device.inner.model;
    data.iter()
        .filter_map(|(name, json)| {
            let ty = if attributes {
                model.attribute(name)?.value_type()
            } else {
                model.format(format)?.field(name)?.value_type()
            };
            Value::from_json(json, ty).ok().map(|v| (name.clone(), v))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use iotcs_core::message::{Payload, Priority, Reliability, Severity};
    use iotcs_core::model::samples;

    use super::*;
    use crate::messaging::context::test_context;
    use crate::messaging::pool::CallbackPool;

    pub(crate) fn device() -> (VirtualDevice, CallbackPool) {
        let (context, pool) = test_context();
        (
            VirtualDevice::new("EP-1", Arc::new(samples::temperature_sensor()), context),
            pool,
        )
    }

    pub(crate) fn queued(device: &VirtualDevice) -> Vec<crate::messaging::outbox::Queued> {
        device
            .inner
            .context
            .outbox
            .pop_batch(100)
            .into_iter()
            .map(|e| e.item)
            .collect()
    }

    pub(crate) fn data_of(message: &Message) -> (String, Vec<(String, serde_json::Value)>) {
        match message.payload() {
            Payload::Data(d) => (
                d.format().to_owned(),
                d.data().clone().into_iter().collect(),
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn set_sends_one_attributes_message_and_updates_get() {
        let (vd, _pool) = device();
        assert_eq!(vd.get("unit").unwrap(), Some(Value::from("Celsius")));
        assert_eq!(vd.get("temp").unwrap(), None);
        vd.set("temperature", 21.5)
            .unwrap()
            .set("unit", "Kelvin")
            .unwrap();
        let sent = queued(&vd);
        assert_eq!(sent.len(), 2);
        let (format, data) = data_of(&sent[0].message());
        assert_eq!(
            format,
            "urn:com:example:iotcs:temperature_sensor:attributes"
        );
        assert_eq!(data, [("temp".to_owned(), serde_json::json!(21.5))]);
        assert_eq!(sent[0].message().source(), "EP-1");
        assert_eq!(sent[0].message().event_time(), 1_000);
        assert_eq!(sent[0].message().reliability(), Reliability::BestEffort);
        assert_eq!(sent[0].message().priority(), Priority::Medium);
        assert_eq!(vd.get("temp").unwrap(), Some(Value::Number(21.5)));
        // Not delivered yet: the cloud's view is unchanged.
        assert_eq!(vd.last_known("temp").unwrap(), None);
        sent[0].listener.as_ref().unwrap().delivered();
        assert_eq!(vd.last_known("temp").unwrap(), Some(Value::Number(21.5)));
    }

    #[test]
    fn invalid_values_are_refused_and_nothing_is_sent() {
        let (vd, _pool) = device();
        for (name, value) in [
            ("temp", Value::Number(500.0)),
            ("temp", Value::from("hot")),
            ("reportingInterval", Value::Number(1.5)),
            ("nosuch", Value::Integer(1)),
        ] {
            let e = vd.set(name, value).unwrap_err();
            assert_eq!(e.kind(), iotcs_core::ErrorKind::Argument, "{e}");
        }
        assert!(
            vd.update()
                .set("minThreshold", 1.0)
                .unwrap()
                .set("maxThreshold", 900.0)
                .is_err()
        );
        assert!(queued(&vd).is_empty());
        assert_eq!(vd.get("temp").unwrap(), None);
        assert!(vd.get("nosuch").is_err());
        assert!(vd.last_known("nosuch").is_err());
    }

    #[test]
    fn a_closed_outbox_refuses_set() {
        let (vd, _pool) = device();
        vd.inner.context.outbox.close();
        assert_eq!(
            vd.set("temp", 20.0).unwrap_err().kind(),
            iotcs_core::ErrorKind::State
        );
        assert_eq!(vd.get("temp").unwrap(), None);
    }

    #[test]
    fn alerts_and_data_check_their_formats() {
        let (vd, _pool) = device();
        assert!(
            vd.create_alert(samples::TEMPERATURE_SUMMARY_FORMAT)
                .is_err()
        );
        assert!(vd.create_data(samples::TEMPERATURE_TOO_HOT_FORMAT).is_err());
        assert!(vd.create_alert("urn:nosuch").is_err());
        let alert = vd
            .create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)
            .unwrap();
        assert_eq!(alert.format_urn(), samples::TEMPERATURE_TOO_HOT_FORMAT);
        assert!(alert.clone().set("nosuch", 1).is_err());
        assert!(alert.clone().set("temp", "hot").is_err());
        let alert = alert.set("temp", 80.0).unwrap();
        let e = alert.clone().raise().unwrap_err();
        assert!(e.to_string().contains("maxThreshold"), "{e}");
        assert!(queued(&vd).is_empty());
        let alert = alert.set("maxThreshold", 0.0).unwrap();
        alert.clone().raise().unwrap();
        alert.set_severity(Severity::Critical).raise().unwrap();
        let sent = queued(&vd);
        assert_eq!(sent.len(), 2);
        match sent[1].message().payload() {
            Payload::Alert(a) => {
                assert_eq!(a.format(), samples::TEMPERATURE_TOO_HOT_FORMAT);
                assert_eq!(a.severity(), Severity::Critical);
                assert_eq!(
                    a.description(),
                    "Temperature has risen above the maximum threshold"
                );
                assert_eq!(a.get("maxThreshold"), Some(&serde_json::json!(0.0)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            sent[0].message().reliability(),
            Reliability::GuaranteedDelivery
        );
        assert_eq!(sent[0].message().priority(), Priority::Highest);

        let data = vd
            .create_data(samples::TEMPERATURE_SUMMARY_FORMAT)
            .unwrap()
            .set("minTemp", 1.0)
            .unwrap()
            .set("maxTemp", 2.0)
            .unwrap()
            .set("averageTemp", 1.5)
            .unwrap();
        assert!(data.clone().submit().is_err());
        data.set("samples", 3).unwrap().submit().unwrap();
        let sent = queued(&vd);
        let (format, values) = data_of(&sent[0].message());
        assert_eq!(format, samples::TEMPERATURE_SUMMARY_FORMAT);
        assert_eq!(values.len(), 4);
    }
}

/// The registry as the listener of restored messages sees it.
#[cfg(test)]
mod restored_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use iotcs_core::model::samples;

    use super::*;
    use crate::messaging::restored::listener;

    #[test]
    fn a_restored_message_reports_to_the_matching_virtual_device() {
        let (device, mut pool) = tests::device();
        let other = VirtualDevice::new(
            "EP-2",
            Arc::clone(&device.inner.model),
            Arc::clone(&device.inner.context),
        );
        let registry = Registry::default();
        registry.add(&device);
        registry.add(&other);
        let (heard_tx, heard) = crossbeam_channel::unbounded();
        device.on_error_any(move |event| {
            let _ = heard_tx.send((
                event.message().to_owned(),
                event
                    .named_value()
                    .map(|v| v.iter().map(|v| v.name().to_owned()).collect::<Vec<_>>())
                    .unwrap_or_default(),
            ));
        });
        let wrong = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&wrong);
        other.on_error_any(move |_| {
            w.fetch_add(1, Ordering::SeqCst);
        });
        let message = Message::data(
            "EP-1",
            format!("{}:attributes", samples::TEMPERATURE_SENSOR_URN),
            [("maxThreshold", 70)],
            1,
        )
        .unwrap();
        listener(Arc::new(registry.clone())).failed(
            MessageType::Data,
            &message.to_json(),
            &Error::state("rejected"),
        );
        let (text, names) = heard.recv_timeout(Duration::from_secs(10)).unwrap();
        // The pool has run every callback once it stops.
        pool.stop(Instant::now() + Duration::from_secs(10));
        assert!(heard.try_recv().is_err(), "reported once");
        assert!(text.contains("earlier run"), "{text}");
        assert!(text.contains("rejected"), "{text}");
        assert_eq!(names, ["maxThreshold"]);
        assert_eq!(wrong.load(Ordering::SeqCst), 0, "another endpoint heard it");
    }

    #[test]
    fn a_restored_alert_reaches_the_attribute_error_callbacks() {
        let (device, mut pool) = tests::device();
        let registry = Registry::default();
        registry.add(&device);
        let (heard_tx, heard) = crossbeam_channel::unbounded();
        device
            .on_error("unit", move |event| {
                let _ = heard_tx.send(event.message().to_owned());
            })
            .unwrap();
        let alert = Message::alert(
            "EP-1",
            samples::TEMPERATURE_TOO_HOT_FORMAT,
            "too hot",
            iotcs_core::message::Severity::Critical,
            vec![("temp".to_owned(), Value::Number(90.0))],
            1,
        )
        .unwrap();
        listener(Arc::new(registry.clone())).failed(
            MessageType::Alert,
            &alert.to_json(),
            &Error::state("rejected"),
        );
        // The pool has run every callback once it stops.
        pool.stop(Instant::now() + Duration::from_secs(10));
        let text = heard.try_recv().expect("the attribute's callback heard");
        assert!(text.contains("ALERT"), "{text}");
    }

    #[test]
    fn messages_no_virtual_device_sends_are_left_to_the_log() {
        let (device, mut pool) = tests::device();
        let registry = Registry::default();
        registry.add(&device);
        let (heard_tx, heard) = crossbeam_channel::unbounded();
        device.on_error_any(move |_| {
            let _ = heard_tx.send(());
        });
        let request = Message::request(
            "EP-1",
            "cloud",
            "GET",
            "x",
            iotcs_core::message::Headers::new(),
            Vec::new(),
            1,
        )
        .unwrap();
        let listener = listener(Arc::new(registry.clone()));
        listener.failed(
            MessageType::Request,
            &request.to_json(),
            &Error::state("no"),
        );
        listener.failed(MessageType::Data, "not json", &Error::state("no"));
        // The pool has run every callback once it stops.
        pool.stop(Instant::now() + Duration::from_secs(10));
        assert!(heard.try_recv().is_err(), "no error callback ran");
    }
}
