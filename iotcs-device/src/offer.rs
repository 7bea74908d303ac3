//! [`VirtualDevice::offer`] and what a device policy (spec §7) does to a
//! virtual device's messages.
//!
//! `offer` validates the value, then runs it through the attribute's
//! pipeline and the model-level (`*`) one (`crate::policy`); `set`,
//! `update`, alerts and custom data skip attribute pipelines but pass the
//! model-level one, as the reference and Oracle's Java library do (§7.5). Values a
//! pipeline lets out later (a window's aggregate, a batch) go out from the
//! device's policy thread as its DATA messages, with their computed time.
//!
//! The policy is fetched once per virtual device, on the policy thread, at
//! the first `offer`; values offered meanwhile wait in order (durably,
//! `policy/waiting.rs`) and run through it once it is known. "None" is cached until a change
//! notification for the model; a notification also ends a running policy
//! of that id, which is fetched again at the next `offer` with fresh state.

use std::sync::Arc;

use iotcs_core::message::{Message, Severity};
use iotcs_core::policy::PolicyOp;
use iotcs_core::{Error, Value, ValueType};

use crate::messaging::held_store::ObjectRecord;
use crate::messaging::outbox::{DeliveryListener, Outgoing};
use crate::named_value::NamedValue;
use crate::policy::active::ActivePolicy;
use crate::policy::context::Fetched;
use crate::policy::expression::AttributeValues;
use crate::policy::held::Opened;
use crate::policy::model_level::Released;
use crate::policy::pipeline::{Effect, Output};
use crate::policy::slot::{Known, MAX_PENDING, Pending};
use crate::policy::timer::{POLL, Tick};
use crate::policy::waiting::{self, Waiting};
use crate::virtual_device::{Content, Delivery, VirtualDevice, WeakDevice};

/// What a batched message carries: its delivery listener.
pub(crate) type Listener = Arc<dyn DeliveryListener>;

impl VirtualDevice {
    /// Offers a value: it is validated against the model, then the device
    /// policy assigned to this device for its model decides what is sent
    /// (filtered, sampled, aggregated over a window, batched, hashed, an
    /// alert or an action instead...). Without a policy, or for an
    /// attribute without a pipeline, this is [`VirtualDevice::set`].
    /// Reference: `offer(attributeName, value)`.
    ///
    /// The first `offer` asks the cloud for the policy on the device's
    /// policy thread; values offered until it answers wait and then run
    /// through it in order. They wait durably, as held batches do
    /// (`[batchby_persistence]`: written and synced before `offer`
    /// returns; after a kill or restart they wait again from the virtual
    /// device's creation); with that persistence off, in memory. `offer`
    /// itself never touches the network. [`VirtualDevice::fetch_policy`]
    /// asks ahead of time.
    ///
    /// # Errors
    ///
    /// As [`VirtualDevice::set`]; also [`Error::Argument`] naming the
    /// function when the policy cannot process the value (a window given a
    /// text, a formula reading an attribute that has no value yet), and
    /// [`Error::Io`] when a batch, or the store of values waiting for the
    /// policy, cannot keep it durably.
    pub fn offer(&self, attribute: &str, value: impl Into<Value>) -> Result<&Self, Error> {
        let (attribute, value) = self
            .device_model()
            .validate_attribute(attribute, value.into())?;
        let name = attribute.name().to_owned();
        let now = self.context().event_time();
        let policies = &self.context().policies;
        let mut state = self.policy_slot().lock();
        let fetch = matches!(*state, Known::Unknown) && policies.can_fetch();
        if fetch {
            *state = Known::Fetching {
                pending: Waiting::default(),
                changes: Vec::new(),
            };
        }
        match &mut *state {
            Known::Active(policy) => {
                let result = self.run_offer(policy, now, &name, value);
                drop(state);
                policies.wake();
                result?;
            }
            Known::Fetching { pending, .. } if pending.len() < MAX_PENDING => {
                let stored = waiting::offered(self.endpoint_id(), &name, value.clone(), now)?;
                let item = Pending::Offered {
                    attribute: name,
                    value,
                    time: now,
                };
                let held = pending.push(item, &stored, || {
                    self.open_waiting().map(|o| o.map(|(h, _)| h))
                });
                if fetch && held.is_err() {
                    *state = Known::Unknown;
                }
                drop(state);
                held?;
                if fetch {
                    self.start_fetch();
                }
            }
            Known::Fetching { .. } => {
                drop(state);
                log::warn!(target: "iotcs::device::policy",
                    "{MAX_PENDING} values already wait for the device policy; sending {name} as set"
                );
                self.set(&name, value)?;
            }
            Known::Unknown | Known::Absent => {
                drop(state);
                self.set(&name, value)?;
            }
        }
        Ok(self)
    }

    /// Asks the cloud for this device's policy now, if it is not known yet,
    /// and waits until the answer is in, `timeout` at most; returns whether
    /// a policy runs. An iotcs addition: without it the first
    /// [`offer`](VirtualDevice::offer) asks, and values offered until the
    /// answer comes wait for it (durably, see `offer`).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the cloud has not answered within `timeout`
    /// (the fetch goes on); [`Error::Closed`] once the device is closed.
    pub fn fetch_policy(&self, timeout: std::time::Duration) -> Result<bool, Error> {
        let policies = &self.context().policies;
        {
            let mut state = self.policy_slot().lock();
            if matches!(*state, Known::Unknown) {
                if !policies.can_fetch() {
                    return Err(Error::Closed);
                }
                *state = Known::Fetching {
                    pending: Waiting::default(),
                    changes: Vec::new(),
                };
                drop(state);
                self.start_fetch();
            }
        }
        match &*self.policy_slot().wait_fetched(timeout) {
            Known::Active(_) => Ok(true),
            Known::Absent => Ok(false),
            Known::Unknown => Err(Error::state(
                "the device policy could not be fetched (see the log); the next offer asks again",
            )),
            Known::Fetching { .. } => Err(Error::Timeout {
                operation: format!(
                    "fetching the device policy of {} within {timeout:?}",
                    self.endpoint_id()
                ),
            }),
        }
    }

    /// Sends a message of `set`, `update`, an alert or custom data:
    /// through the model-level pipeline when a policy runs (§7.5; it
    /// applies to whole DATA and ALERT messages), else straight to the
    /// outbox.
    pub(crate) fn push_through_policy(
        &self,
        message: Message,
        listener: Listener,
        refers_to: &[ObjectRecord],
    ) -> Result<(), Error> {
        let context = self.context();
        // A message that refers to storage objects waits for their uploads
        // (`messaging/hold.rs`), not in a batch.
        if !refers_to.is_empty() {
            return context.push(Outgoing::with_listener(message, listener), refers_to);
        }
        let mut state = self.policy_slot().lock();
        match &mut *state {
            Known::Active(policy) => {
                let now = context.event_time();
                let released = policy.offer_message(now, message, Some(listener))?;
                let result = self.push_released(policy, released);
                drop(state);
                context.policies.wake();
                result
            }
            // Behind the values offered before it, which wait for the policy.
            Known::Fetching { pending, .. } if pending.len() < MAX_PENDING => {
                let stored = message.clone();
                pending.push(
                    Pending::Message(Box::new(message), Some(listener)),
                    &stored,
                    || self.open_waiting().map(|o| o.map(|(h, _)| h)),
                )
            }
            _ => {
                drop(state);
                context.push(Outgoing::with_listener(message, listener), &[])
            }
        }
    }

    /// Asks the policy thread for this device's policy.
    fn start_fetch(&self) {
        let weak = self.downgrade();
        let started = self.context().policies.fetch(
            self.endpoint_id(),
            self.device_model().urn(),
            move |result| {
                if let Some(device) = weak.upgrade() {
                    device.install(result);
                }
            },
        );
        if !started {
            self.install(Ok(None));
        }
    }

    /// Takes a fetched policy (or its absence, or why it could not be
    /// fetched) and runs the values that waited for it.
    fn install(&self, result: Result<Option<Fetched>, Error>) {
        let next = match result {
            Ok(Some(Fetched {
                id,
                last_modified,
                built: Some(built),
            })) => match self.activate(id, last_modified, built) {
                Ok(policy) => {
                    log::info!(target: "iotcs::device::policy",
                        "device policy {} (modified {}) runs for {}",
                        policy.id(),
                        policy.last_modified(),
                        self.endpoint_id()
                    );
                    Known::Active(policy)
                }
                Err(e) => {
                    log::warn!(target: "iotcs::device::policy",
                        "device policy for {}: {e}; offer sends as set",
                        self.endpoint_id()
                    );
                    Known::Absent
                }
            },
            Ok(_) => Known::Absent,
            Err(e) => {
                log::warn!(target: "iotcs::device::policy",
                    "cannot fetch the device policy of {} for {}: {e}; values offered meanwhile are sent as set, the next offer asks again",
                    self.endpoint_id(),
                    self.device_model().urn()
                );
                Known::Unknown
            }
        };
        let active = matches!(next, Known::Active(_));
        let mut state = self.policy_slot().lock();
        let (pending, changes) = match std::mem::replace(&mut *state, next) {
            Known::Fetching { pending, changes } => (pending, changes),
            _ => (Waiting::default(), Vec::new()),
        };
        let (items, ran) = pending.take();
        for item in items {
            if let Err((values, e)) = self.replay(&mut state, item) {
                self.report_error(values, Content::Attributes, e.to_string());
            }
        }
        // They ran (what a batch holds of them is durable there) or were
        // reported.
        ran.forget();
        // Notifications that came while the cloud was asked: the answer
        // may predate them.
        for (id, op, last_modified) in changes {
            self.apply_change(&mut state, &id, op, last_modified);
        }
        self.policy_slot().fetch_ended();
        drop(state);
        if active {
            self.start_ticking();
        }
        self.context().policies.wake();
    }

    /// The store tree of what waits for this device's policy, and what it
    /// held from an earlier run; `None` when persistence is off.
    fn open_waiting(&self) -> Result<Option<Opened>, Error> {
        self.context().policies.waiting_store(&format!(
            "pending/{}/{}",
            self.endpoint_id(),
            self.device_model().urn()
        ))
    }

    /// At creation: values offered (and messages set) before a restart
    /// that still waited for the policy wait again, and the policy is asked
    /// for at once. A store that cannot be read is logged: they stay on
    /// disk for the next run.
    pub(crate) fn restore_waiting(&self) {
        let policies = &self.context().policies;
        if !policies.has_store_on_disk() || !policies.can_fetch() {
            return;
        }
        let (held, stored) = match self.open_waiting() {
            Ok(Some(opened)) => opened,
            Ok(None) => return,
            Err(e) => {
                log::warn!(target: "iotcs::device::policy",
                    "cannot read the values of {} that waited for a device policy: {e}",
                    self.endpoint_id()
                );
                return;
            }
        };
        if stored.is_empty() {
            return;
        }
        let pending = Waiting::restored(held, stored, |name| self.attribute_type(name));
        log::info!(target: "iotcs::device::policy",
            "{} value(s) of {} offered before a restart wait for its device policy",
            pending.len(),
            self.endpoint_id()
        );
        {
            let mut state = self.policy_slot().lock();
            if !matches!(*state, Known::Unknown) {
                return;
            }
            *state = Known::Fetching {
                pending,
                changes: Vec::new(),
            };
        }
        self.start_fetch();
    }

    /// Has the policy thread drive this device's pipelines, once.
    fn start_ticking(&self) {
        if let Some(tick) = self
            .policy_slot()
            .first_tick(|| Arc::new(PolicyTick(self.downgrade())))
        {
            self.context().policies.drive(tick);
        }
    }

    /// A gateway learnt from the cloud (spec §7.3, "assigned") that the
    /// policy `fetched` is assigned to this indirectly-connected device: it
    /// runs from now on with fresh state, unless this very version runs
    /// already. A fetch under way is left to answer: it asks the cloud
    /// after the assignment. What a replaced policy's batch held goes out.
    pub(crate) fn policy_assigned(&self, fetched: Fetched) {
        let mut state = self.policy_slot().lock();
        match &*state {
            Known::Fetching { .. } => return,
            Known::Active(p)
                if p.id() == fetched.id && p.last_modified() >= fetched.last_modified =>
            {
                return;
            }
            _ => {}
        }
        // The old batch lets go of its store tree before the new one
        // opens it.
        self.release_running(&mut state, Known::Unknown);
        *state = match fetched.built {
            Some(built) => match self.activate(fetched.id, fetched.last_modified, built) {
                Ok(policy) => Known::Active(policy),
                Err(e) => {
                    log::warn!(target: "iotcs::device::policy",
                        "device policy for {}: {e}; offer sends as set",
                        self.endpoint_id()
                    );
                    Known::Absent
                }
            },
            None => Known::Absent,
        };
        let active = matches!(*state, Known::Active(_));
        drop(state);
        if active {
            self.start_ticking();
        }
        self.context().policies.wake();
    }

    /// Whether policy `id` runs for this device.
    pub(crate) fn runs_policy(&self, id: &str) -> bool {
        matches!(&*self.policy_slot().lock(), Known::Active(p) if p.id() == id)
    }

    /// A gateway learnt from the cloud that policy `id` is no longer
    /// assigned to this indirectly-connected device: if it runs, it stops
    /// (what its batch held goes out) and `offer` is `set` again.
    pub(crate) fn policy_unassigned(&self, id: &str) {
        let mut state = self.policy_slot().lock();
        if matches!(&*state, Known::Active(p) if p.id() == id) {
            self.release_running(&mut state, Known::Absent);
        }
    }

    /// Puts `next` in place of the state; a policy that ran lets out what
    /// its batch held.
    fn release_running(&self, state: &mut Known<Listener>, next: Known<Listener>) {
        if let Known::Active(mut old) = std::mem::replace(state, next) {
            let released = old.drain_messages();
            if let Err(e) = self.push_released(&mut old, released) {
                log::warn!(target: "iotcs::device::policy",
                    "messages held by the replaced device policy {}: {e}",
                    old.id()
                );
            }
        }
    }

    /// One thing that waited for the policy, through it (or as `set` sends
    /// it, when there is none); what failed comes back with its values.
    fn replay(
        &self,
        state: &mut Known<Listener>,
        item: Pending<Listener>,
    ) -> Result<(), (Vec<(String, Value)>, Error)> {
        match (state, item) {
            (
                Known::Active(policy),
                Pending::Offered {
                    attribute,
                    value,
                    time,
                },
            ) => self
                .run_offer(policy, time, &attribute, value.clone())
                .map_err(|e| (vec![(attribute, value)], e)),
            (Known::Active(policy), Pending::Message(message, listener)) => {
                let now = self.context().event_time();
                policy
                    .offer_message(now, *message, listener)
                    .and_then(|released| self.push_released(policy, released))
                    .map_err(|e| (Vec::new(), e))
            }
            (
                _,
                Pending::Offered {
                    attribute,
                    value,
                    time,
                },
            ) => self
                .send_plain(&attribute, value.clone(), time)
                .map_err(|e| (vec![(attribute, value)], e)),
            (_, Pending::Message(message, listener)) => {
                let item = match listener {
                    Some(listener) => Outgoing::with_listener(*message, listener),
                    None => Outgoing::new(*message),
                };
                self.context().push(item, &[]).map_err(|e| (Vec::new(), e))
            }
        }
    }

    /// A running policy from its pipelines, with a batch whose store tree
    /// is this device's for this model.
    fn activate(
        &self,
        id: String,
        last_modified: i64,
        built: crate::policy::context::Built,
    ) -> Result<ActivePolicy<Listener>, Error> {
        let batch = match &built.messages {
            Some(rule) => Some(self.context().policies.batch(
                rule,
                &format!(
                    "batchby/{}/{}",
                    self.endpoint_id(),
                    self.device_model().urn()
                ),
            )?),
            None => None,
        };
        Ok(ActivePolicy::new(
            id,
            last_modified,
            built.attributes,
            batch,
        ))
    }

    /// A change notification for this device's model and policy `id`
    /// (§7.3): a cached "none", or a running policy of that id changed
    /// since it was fetched, or unassigned, is forgotten, so the next `offer`
    /// fetches the policy again and starts it afresh; what the old batch
    /// held goes out now. A change during a fetch applies to its answer.
    pub(crate) fn policy_changed(&self, id: &str, op: PolicyOp, last_modified: i64) {
        let mut state = self.policy_slot().lock();
        if let Known::Fetching { changes, .. } = &mut *state {
            changes.push((id.to_owned(), op, last_modified));
            return;
        }
        self.apply_change(&mut state, id, op, last_modified);
    }

    /// [`VirtualDevice::policy_changed`] on a known state.
    fn apply_change(
        &self,
        state: &mut Known<Listener>,
        id: &str,
        op: PolicyOp,
        last_modified: i64,
    ) {
        let reset = match &*state {
            // Unassigning a policy it does not run leaves it with none.
            Known::Absent => op != PolicyOp::Unassigned,
            // `assigned` of the policy running changes nothing (it is most
            // often the notification of the assignment the device already
            // fetched); a `changed` older than the running copy neither.
            Known::Active(policy) => {
                policy.id() == id
                    && match op {
                        PolicyOp::Assigned => false,
                        PolicyOp::Unassigned => true,
                        _ => last_modified > policy.last_modified(),
                    }
            }
            Known::Fetching { .. } | Known::Unknown => false,
        };
        if !reset {
            return;
        }
        self.release_running(state, Known::Unknown);
    }

    /// Runs one offered value through the running policy and sends what
    /// comes out.
    fn run_offer(
        &self,
        policy: &mut ActivePolicy<Listener>,
        now: i64,
        attribute: &str,
        value: Value,
    ) -> Result<(), Error> {
        let out = policy.offer_value(now, attribute, value, &Values(self))?;
        self.emit(policy, now, attribute, out)
    }

    /// Sends what a pipeline let out: each value as a DATA message of its
    /// time, each alert, through the model-level batch; actions go to the
    /// callback pool.
    fn emit(
        &self,
        policy: &mut ActivePolicy<Listener>,
        now: i64,
        attribute: &str,
        out: Output,
    ) -> Result<(), Error> {
        for (value, time) in out.values {
            let value = coerce(value, self.attribute_type(attribute));
            let (attr, value) = self.device_model().validate_attribute(attribute, value)?;
            let pair = vec![(attr.name().to_owned(), value)];
            let message = self.data_message(pair.clone(), time)?;
            let listener: Listener = Arc::new(Delivery {
                device: self.clone(),
                values: pair.clone(),
                content: Content::Attributes,
            });
            let released = policy.offer_message(now, message, Some(listener))?;
            self.push_released(policy, released)?;
            self.record_current(pair);
        }
        for effect in out.effects {
            match effect {
                Effect::Alert {
                    urn,
                    fields,
                    severity,
                } => {
                    let (message, values) = self.policy_alert(&urn, fields, severity, now)?;
                    let listener: Listener = Arc::new(Delivery {
                        device: self.clone(),
                        values,
                        content: Content::Alert,
                    });
                    let released = policy.offer_message(now, message, Some(listener))?;
                    self.push_released(policy, released)?;
                }
                Effect::Action { name, arguments } => self.policy_action(name, arguments),
            }
        }
        Ok(())
    }

    /// Pushes what a batch let out and forgets the durable copies the outbox
    /// took.
    fn push_released(
        &self,
        policy: &mut ActivePolicy<Listener>,
        released: Vec<Released<Listener>>,
    ) -> Result<(), Error> {
        let mut taken = Vec::new();
        let mut first_error = None;
        for r in released {
            let item = match r.attached {
                Some(listener) => Outgoing::with_listener(r.message, listener),
                None => Outgoing::new(r.message),
            };
            // Behind any message of this source held for an upload.
            match self.context().push(item, &[]) {
                Ok(()) => taken.extend(r.key),
                // Not taken: its durable copy stays for the next run.
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        policy.release(&taken);
        first_error.map_or(Ok(()), Err)
    }

    /// The ALERT an `alertCondition` or `detectDuplicates` raises: format
    /// `urn` of this device's model, description its name (§7.5), each
    /// field converted to the field's type, the fields the policy leaves
    /// out from the attributes of the same name.
    fn policy_alert(
        &self,
        urn: &str,
        fields: Vec<(String, Value)>,
        severity: Severity,
        time: i64,
    ) -> Result<(Message, Vec<(String, Value)>), Error> {
        let format = self.device_model().format(urn).ok_or_else(|| {
            Error::argument(format!(
                "the policy's alert {urn} is not a format of device model {}",
                self.device_model().urn()
            ))
        })?;
        let mut values = fields
            .into_iter()
            .map(|(name, value)| {
                let wanted = format.field(&name).map(|f| f.value_type());
                let value = coerce(value, wanted);
                Ok((name.clone(), format.validate_field(&name, value)?))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        // A field the policy leaves out takes the device's current value of
        // the attribute of that name, when it has one (a too-hot alert's
        // threshold and unit): the cloud refuses an alert missing a field
        // the format requires.
        for f in format.fields() {
            if values.iter().any(|(n, _)| n == f.name()) {
                continue;
            }
            if let Some(v) = self.get(f.name()).ok().flatten()
                && let Ok(v) = format.validate_field(f.name(), coerce(v, Some(f.value_type())))
            {
                values.push((f.name().to_owned(), v));
            }
        }
        format.check_complete(values.iter().map(|(n, _)| n.as_str()))?;
        let message = Message::alert(
            self.endpoint_id(),
            urn,
            format.name(),
            severity,
            values.clone(),
            time,
        )?
        .with_reliability(self.context().alert_reliability);
        Ok((message, values))
    }

    /// Runs the device's own action on the callback pool, with the
    /// arguments named and typed as the model declares them (a number for a
    /// BOOLEAN argument is true unless 0).
    fn policy_action(&self, name: String, arguments: Vec<Value>) {
        let action = self.device_model().action(&name);
        // An action of one `argType` receives it as `value`, as from the
        // cloud (`remote.rs`); named arguments keep their names.
        let declared: Vec<(String, ValueType)> = match action {
            Some(a) => match a.arg_type() {
                Some(ty) => vec![("value".to_owned(), ty)],
                None => a
                    .arguments()
                    .iter()
                    .map(|x| (x.name().to_owned(), x.value_type()))
                    .collect(),
            },
            None => Vec::new(),
        };
        let pairs: Vec<(String, Value)> = arguments
            .into_iter()
            .enumerate()
            .map(|(i, v)| match declared.get(i) {
                Some((name, ty)) => (name.clone(), coerce(v, Some(*ty))),
                None => (format!("arg{i}"), v),
            })
            .collect();
        let device = self.clone();
        self.context().spawner().spawn(Box::new(move || {
            match device.run_action_callbacks(&name, NamedValue::from_pairs(pairs)) {
                Ok(true) => {}
                Ok(false) => {
                    log::warn!(target: "iotcs::device::policy", "the device policy invokes action {name:?}, which has no callback");
                }
                // No request to answer: the refusal is only logged.
                Err(rejection) => {
                    log::warn!(target: "iotcs::device::policy",
                        "action {name:?}, invoked by the device policy, refused: {rejection}"
                    );
                }
            }
        }));
    }

    /// One round of the policy thread for this device: expired windows and
    /// batches go out; failures reach `on_error`. Returns the next deadline.
    fn policy_tick(&self, now: i64) -> Option<i64> {
        let mut state = self.policy_slot().lock();
        let Known::Active(policy) = &mut *state else {
            return None;
        };
        for (attribute, out) in policy.expire_values(now, &Values(self)) {
            let result = out.and_then(|out| self.emit(policy, now, &attribute, out));
            if let Err(e) = result {
                self.report_error(Vec::new(), Content::Attributes, format!("{attribute}: {e}"));
            }
        }
        let released = policy.expire_messages(now);
        if let Err(e) = self.push_released(policy, released) {
            self.report_error(Vec::new(), Content::Attributes, e.to_string());
        }
        let poll = i64::try_from(POLL.as_millis()).unwrap_or(1000);
        policy.deadline(now, poll)
    }

    fn attribute_type(&self, attribute: &str) -> Option<ValueType> {
        self.device_model()
            .attribute(attribute)
            .map(|a| a.value_type())
    }
}

/// The timer's handle on a virtual device, held weakly by the timer.
struct PolicyTick(WeakDevice);

impl Tick for PolicyTick {
    fn tick(&self, now: i64) -> Option<i64> {
        self.0.upgrade()?.policy_tick(now)
    }
}

/// A virtual device's values as formulas read them: `$(x)` the current
/// value, `$$(x)` the last known one.
struct Values<'a>(&'a VirtualDevice);

impl AttributeValues for Values<'_> {
    fn current(&self, name: &str) -> Option<Value> {
        self.0.get(name).ok().flatten()
    }

    fn last_known(&self, name: &str) -> Option<Value> {
        self.0.last_known(name).ok().flatten()
    }
}

/// A pipeline's number for an attribute or field of type `wanted`: a
/// window's mean for an INTEGER attribute is rounded, an INTEGER becomes a
/// NUMBER where one is wanted; anything else is left for validation to
/// judge.
fn coerce(value: Value, wanted: Option<ValueType>) -> Value {
    match (value, wanted) {
        (Value::Number(x), Some(ValueType::Integer)) if x.is_finite() => {
            Value::Integer(x.round() as i64)
        }
        (Value::Number(x), Some(ValueType::DateTime)) if x.is_finite() => {
            Value::DateTime(x.round() as i64)
        }
        (Value::Integer(i), Some(ValueType::Number)) => Value::Number(i as f64),
        (Value::Number(x), Some(ValueType::Boolean)) => Value::Boolean(x != 0.0),
        (Value::String(s), Some(ValueType::Number)) => match s.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Value::Number(x),
            _ => Value::String(s),
        },
        (value, _) => value,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use iotcs_core::NetworkCost;
    use iotcs_core::message::{Payload, Severity};
    use iotcs_core::model::samples;
    use iotcs_core::policy::DevicePolicy;

    use super::*;
    use crate::messaging::context::test_context_with;
    use crate::messaging::outbox::Queued;
    use crate::messaging::pool::CallbackPool;
    use crate::policy::build::build;
    use crate::policy::context::{Fetch, PolicyContext};

    /// A thermostat whose cloud serves `policy` (`None`: no policy), and
    /// how many times it was asked.
    fn device(policy: Option<&str>) -> (VirtualDevice, CallbackPool, Arc<AtomicUsize>) {
        device_holding_in(policy, None)
    }

    /// As [`device`], keeping held batches in the store at `held`.
    fn device_holding_in(
        policy: Option<&str>,
        held: Option<std::path::PathBuf>,
    ) -> (VirtualDevice, CallbackPool, Arc<AtomicUsize>) {
        let policy = policy.map(|json| DevicePolicy::from_json(json).unwrap());
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        let fetch: Fetch = Arc::new(move |endpoint, urn, network| {
            assert_eq!((endpoint, urn), ("EP-1", samples::TEMPERATURE_SENSOR_URN));
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(match &policy {
                None => None,
                Some(p) => Some(Fetched {
                    id: p.id().to_owned(),
                    last_modified: p.last_modified(),
                    built: build(p, network)?,
                }),
            })
        });
        let policies =
            PolicyContext::new(NetworkCost::Ethernet, held, Arc::new(|| 1_000), Some(fetch));
        let (context, pool) = test_context_with(Arc::new(policies));
        let vd = VirtualDevice::new("EP-1", Arc::new(samples::temperature_sensor()), context);
        (vd, pool, asked)
    }

    /// Waits (10 s at most: the policy thread answers at once) until `n`
    /// messages were queued, and returns them.
    fn sent(vd: &VirtualDevice, n: usize) -> Vec<Queued> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut out = Vec::new();
        while out.len() < n && Instant::now() < deadline {
            out.extend(crate::virtual_device::tests::queued(vd));
            std::thread::sleep(Duration::from_millis(5));
        }
        out.extend(crate::virtual_device::tests::queued(vd));
        out
    }

    fn temps(sent: &[Queued]) -> Vec<(serde_json::Value, i64)> {
        sent.iter()
            .filter_map(|q| match q.message().payload() {
                Payload::Data(d) => Some((d.get("temp")?.clone(), q.message().event_time())),
                _ => None,
            })
            .collect()
    }

    fn policy(pipelines: &str) -> String {
        format!(r#"{{"id":"p1","enabled":true,"lastModified":5,"pipelines":{pipelines}}}"#)
    }

    fn active(vd: &VirtualDevice) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(*vd.policy_slot().lock(), Known::Active(_)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn without_a_policy_offer_is_set_and_the_answer_is_cached() {
        let (vd, _pool, asked) = device(None);
        vd.offer("temp", 20.0).unwrap();
        assert_eq!(temps(&sent(&vd, 1)), vec![(serde_json::json!(20.0), 1_000)]);
        vd.offer("temp", 21.0).unwrap();
        assert_eq!(temps(&sent(&vd, 1)).len(), 1);
        assert_eq!(asked.load(Ordering::SeqCst), 1, "a miss is cached");
        // Unassigning a policy it does not run leaves the miss cached;
        // anything else about the model asks again.
        vd.policy_changed("p9", PolicyOp::Unassigned, 5);
        assert!(matches!(*vd.policy_slot().lock(), Known::Absent));
        vd.policy_changed("p9", PolicyOp::Assigned, 6);
        assert!(matches!(*vd.policy_slot().lock(), Known::Unknown));
    }

    #[test]
    fn an_alert_condition_then_a_mean_window() {
        let json = policy(
            r#"[{"attributeName":"temp","pipeline":[
                {"id":"alertCondition","parameters":{"condition":"$(temp) > 100",
                  "alert":{"urn":"urn:com:example:iotcs:temperature_sensor:too_hot",
                           "fields":{"temp":"$(temp)"},"severity":"CRITICAL"}}},
                {"id":"mean","parameters":{"window":1000}}]}]"#,
        );
        let (vd, _pool, _) = device(Some(&json));
        for t in [10.0, 20.0, 110.0] {
            vd.offer("temp", t).unwrap();
        }
        let alerts = sent(&vd, 1);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let message = alerts[0].message();
        let Payload::Alert(alert) = message.payload() else {
            panic!("{alerts:?}")
        };
        assert_eq!(alert.format(), samples::TEMPERATURE_TOO_HOT_FORMAT);
        assert_eq!(alert.severity(), Severity::Critical);
        assert_eq!(alert.get("temp"), Some(&serde_json::json!(110.0)));
        // The window ends at 2000: the policy thread's tick lets the mean out.
        assert_eq!(vd.policy_tick(2_000), None);
        assert_eq!(temps(&sent(&vd, 1)), vec![(serde_json::json!(15.0), 2_000)]);
        assert_eq!(vd.get("temp").unwrap(), Some(Value::Number(15.0)));
    }

    #[test]
    fn a_model_level_batch_holds_offers_and_sets_alike() {
        let json = policy(
            r#"[{"attributeName":"*","pipeline":[{"id":"batchBySize","parameters":{"batchSize":3}}]}]"#,
        );
        let (vd, _pool, _) = device(Some(&json));
        vd.offer("temp", 1.0).unwrap();
        assert!(active(&vd));
        vd.set("temp", 2.0).unwrap();
        assert!(crate::virtual_device::tests::queued(&vd).is_empty(), "held");
        vd.offer("temp", 3.0).unwrap();
        let out = temps(&sent(&vd, 3));
        assert_eq!(
            out.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>(),
            [1.0, 2.0, 3.0].map(|x| serde_json::json!(x))
        );
    }

    #[test]
    fn raised_alerts_pass_the_model_level_batch_and_critical_ones_bypass_it() {
        let json = policy(
            r#"[{"attributeName":"*","pipeline":[{"id":"batchBySize","parameters":{"batchSize":3}}]}]"#,
        );
        let (vd, _pool, _) = device(Some(&json));
        assert!(vd.fetch_policy(Duration::from_secs(10)).unwrap());
        let raise = |severity| {
            vd.create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)
                .unwrap()
                .set("temp", 90.0)
                .unwrap()
                .set("maxThreshold", 80.0)
                .unwrap()
                .set("unit", "C")
                .unwrap()
                .set_severity(severity)
                .raise()
        };
        raise(Severity::Significant).unwrap();
        assert!(crate::virtual_device::tests::queued(&vd).is_empty(), "held");
        raise(Severity::Critical).unwrap();
        assert_eq!(
            crate::virtual_device::tests::queued(&vd).len(),
            1,
            "bypassed"
        );
    }

    #[test]
    fn a_held_batch_survives_the_device() {
        let json = policy(
            r#"[{"attributeName":"*","pipeline":[{"id":"batchBySize","parameters":{"batchSize":3}}]}]"#,
        );
        let dir = std::env::temp_dir().join(format!(
            "iotcs-offer-held-{}-{}",
            std::process::id(),
            iotcs_core::__private::uuid_v4().unwrap()
        ));
        let held = Some(dir.join("bbps.db"));
        {
            let (vd, mut pool, _) = device_holding_in(Some(&json), held.clone());
            vd.offer("temp", 1.0).unwrap();
            assert!(active(&vd));
            vd.offer("temp", 2.0).unwrap();
            assert!(crate::virtual_device::tests::queued(&vd).is_empty(), "held");
            pool.stop(Instant::now() + Duration::from_secs(10));
        }
        // A new run of the device: the batch it opens holds both again.
        let (vd, _pool, _) = device_holding_in(Some(&json), held);
        vd.offer("temp", 3.0).unwrap();
        let out = temps(&sent(&vd, 3));
        assert_eq!(
            out.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>(),
            [1.0, 2.0, 3.0].map(|x| serde_json::json!(x))
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_change_notification_restarts_the_policy_with_fresh_state() {
        let json = policy(
            r#"[{"attributeName":"temp","pipeline":[{"id":"sampleQuality","parameters":{"rate":2}}]}]"#,
        );
        let (vd, _pool, asked) = device(Some(&json));
        vd.offer("temp", 1.0).unwrap();
        assert!(active(&vd));
        assert!(sent(&vd, 0).is_empty(), "the first of two is dropped");
        vd.policy_changed("another policy", PolicyOp::Changed, 99);
        vd.offer("temp", 2.0).unwrap();
        assert_eq!(temps(&sent(&vd, 1)).len(), 1, "same policy, same count");
        vd.policy_changed("p1", PolicyOp::Assigned, 5);
        assert!(
            matches!(*vd.policy_slot().lock(), Known::Active(_)),
            "not newer"
        );
        vd.policy_changed("p1", PolicyOp::Changed, 6);
        assert!(matches!(*vd.policy_slot().lock(), Known::Unknown));
        vd.offer("temp", 3.0).unwrap();
        assert!(active(&vd));
        assert!(sent(&vd, 0).is_empty(), "the count started again");
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn fetch_policy_waits_for_the_answer() {
        let (none, _pool, asked) = device(None);
        assert!(!none.fetch_policy(Duration::from_secs(10)).unwrap());
        assert!(
            !none.fetch_policy(Duration::from_secs(10)).unwrap(),
            "cached"
        );
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        let json = policy(
            r#"[{"attributeName":"temp","pipeline":[{"id":"sampleQuality","parameters":{"rate":2}}]}]"#,
        );
        let (some, _pool, _) = device(Some(&json));
        assert!(some.fetch_policy(Duration::from_secs(10)).unwrap());
        some.offer("temp", 1.0).unwrap();
        assert!(
            sent(&some, 0).is_empty(),
            "the policy ran on the first offer"
        );
    }

    #[test]
    fn a_disabled_policy_does_not_run() {
        let json = r#"{"id":"p1","enabled":false,"lastModified":5,"pipelines":[
            {"attributeName":"temp","pipeline":[{"id":"filterCondition","parameters":{"condition":"1"}}]}]}"#;
        let (vd, _pool, _) = device(Some(json));
        vd.offer("temp", 5.0).unwrap();
        assert_eq!(temps(&sent(&vd, 1)).len(), 1);
    }

    #[test]
    fn offer_validates_before_any_policy() {
        let (vd, _pool, asked) = device(None);
        assert!(vd.offer("temp", 500.0).is_err());
        assert!(vd.offer("nope", 1.0).is_err());
        assert_eq!(asked.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn coercion_fits_the_attribute_type() {
        assert_eq!(
            coerce(Value::Number(2.6), Some(ValueType::Integer)),
            Value::Integer(3)
        );
        assert_eq!(
            coerce(Value::Integer(2), Some(ValueType::Number)),
            Value::Number(2.0)
        );
        assert_eq!(
            coerce(Value::Number(1.0), Some(ValueType::Boolean)),
            Value::Boolean(true)
        );
        assert_eq!(
            coerce(Value::String("x".into()), Some(ValueType::Number)),
            Value::String("x".into())
        );
    }
}
