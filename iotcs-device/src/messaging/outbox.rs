//! The outbox: where virtual devices, alerts, data and request handlers put
//! messages for the sender thread.
//!
//! It is the [`OutboundQueue`] behind a mutex plus a wake-up channel; a
//! message enters it as its wire JSON ([`Queued`]), written once outside the
//! lock and used as is by the sender's batches and by the store. Pushes
//! are synchronous, so a caller learns at once that the queue is full or the
//! device is closing; the sender thread is woken through a one-slot channel
//! (a full slot already means "there is work"). A push into a full queue
//! waits up to `message_queue_waittime` for the sender to settle messages
//! before it fails.
//!
//! `GUARANTEED_DELIVERY` messages are also written to the
//! [`crate::messaging::persist::MessageStore`] (when persistence is enabled)
//! and made durable before the push returns ([`crate::messaging::durable`]);
//! the sender deletes them once the cloud accepted them (or rejected them for
//! good), and [`Outbox::restore`] queues what a previous run left. A stored
//! message waits in the queue without its JSON, which the sender's
//! [`Outbox::pop_batch`] reads back from the store: a device holding
//! thousands through an outage keeps each once, not twice. Bounds:
//! the dispatcher holds at most `dispatcher_max_queue_size` messages, queued
//! or in flight until their fate is settled ([`crate::messaging::room`]), and
//! the store at most [`PersistSettings::max_messages`]; whether a push fits is
//! [`crate::messaging::admission`]'s decision. A push beyond either bound is
//! refused with an error, its messages are handed back ([`Refused`]) and their
//! error callbacks run, and a `message_dispatcher:overflow` alert is queued
//! ([`crate::messaging::overflow`]). Nothing already queued or stored is ever
//! dropped to make room.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use iotcs_core::message::{Message, MessageType, Priority, Reliability};
use iotcs_core::{Error, Value};

use crate::clock::Clock;
use crate::messaging::admission;
use crate::messaging::batch_wait;
use crate::messaging::durable::{Durable, PersistSettings};
use crate::messaging::overflow::{Overflow, Pending};
use crate::messaging::persist::MessageStore;
use crate::messaging::queue::{Entry, OutboundQueue};
use crate::messaging::room::{Place, Room};

/// Told what became of a message once the sender is done with it. Called on
/// the sender thread, so implementations only record state or hand work to
/// the callback pool; they never run user code.
pub(crate) trait DeliveryListener: Send + Sync {
    /// The server accepted the message.
    fn delivered(&self);
    /// The message, of type `kind` and with wire JSON `json`, was given up:
    /// retries exhausted, rejected by the server, refused by a full queue, or
    /// the device closed before it could be sent.
    fn failed(&self, kind: MessageType, json: &str, error: &Error);
}

/// Told what became of one value sent on its own by a virtual device's
/// `set` (see [`Notify::Value`]): one listener per virtual device, told
/// which value, instead of a listener allocated per message.
pub(crate) trait ValueListener: Send + Sync {
    /// The server accepted the message carrying the value of attribute
    /// `index`.
    fn value_delivered(&self, index: usize, value: &Value);
    /// The message carrying the value, of wire JSON `json`, was given up
    /// (as [`DeliveryListener::failed`]).
    fn value_failed(self: Arc<Self>, index: usize, value: &Value, json: &str, error: &Error);
}

/// Who hears what became of a message, called as a [`DeliveryListener`].
pub(crate) enum Notify {
    /// A listener of its own.
    Own(Arc<dyn DeliveryListener>),
    /// A listener shared by a virtual device's single values, and the
    /// value this message carried: no allocation per message.
    Value {
        listener: Arc<dyn ValueListener>,
        /// The attribute, by its place among the model's attributes.
        index: usize,
        value: Value,
    },
}

impl Notify {
    /// The server accepted the message.
    pub(crate) fn delivered(&self) {
        match self {
            Notify::Own(listener) => listener.delivered(),
            Notify::Value {
                listener,
                index,
                value,
            } => listener.value_delivered(*index, value),
        }
    }

    /// The message, of type `kind` and wire JSON `json`, was given up.
    pub(crate) fn failed(&self, kind: MessageType, json: &str, error: &Error) {
        match self {
            Notify::Own(listener) => listener.failed(kind, json, error),
            Notify::Value {
                listener,
                index,
                value,
            } => Arc::clone(listener).value_failed(*index, value, json, error),
        }
    }
}

/// A message waiting to be sent, and who wants to hear about it.
pub(crate) struct Outgoing {
    /// The message, or its JSON written already.
    body: Body,
    /// Told about delivery or failure; `None` for fire-and-forget messages
    /// (responses to requests).
    pub(crate) listener: Option<Notify>,
    /// The message's key in the [`crate::messaging::persist::MessageStore`] once persisted.
    pub(crate) key: Option<u64>,
}

/// A message as built, or as its wire JSON (a virtual device's `set`
/// writes that directly, see `iotcs_core`'s `DataTemplate`).
enum Body {
    /// Boxed: a built message is the rare path, and ten times the size of
    /// a written one.
    Message(Box<Message>),
    Wire(Wire),
}

/// A message's compact JSON, checked against the wire's limits, with what
/// the hold and the queue need to know of it without parsing it back.
pub(crate) struct Wire {
    json: Box<str>,
    kind: MessageType,
    priority: Priority,
    reliability: Reliability,
    /// Shared with the writer (an `Arc` clone, not a copy).
    source: Arc<str>,
}

impl Wire {
    /// The JSON of one message (written by `DataTemplate::write`, which
    /// checks the limits) and its envelope's facts.
    pub(crate) fn new(
        json: Box<str>,
        kind: MessageType,
        priority: Priority,
        reliability: Reliability,
        source: Arc<str>,
    ) -> Self {
        Wire {
            json,
            kind,
            priority,
            reliability,
            source,
        }
    }
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("type", &self.kind())
            .field("wire", &matches!(self.body, Body::Wire(_)))
            .field("listener", &self.listener.is_some())
            .field("key", &self.key)
            .finish()
    }
}

impl Outgoing {
    /// A message with no listener.
    pub(crate) fn new(message: Message) -> Self {
        Outgoing {
            body: Body::Message(Box::new(message)),
            listener: None,
            key: None,
        }
    }

    /// A message whose fate `listener` wants to know.
    pub(crate) fn with_listener(message: Message, listener: Arc<dyn DeliveryListener>) -> Self {
        Outgoing {
            body: Body::Message(Box::new(message)),
            listener: Some(Notify::Own(listener)),
            key: None,
        }
    }

    /// A message written as JSON already, whose fate `listener` wants to
    /// know.
    pub(crate) fn wire(wire: Wire, listener: Notify) -> Self {
        Outgoing {
            body: Body::Wire(wire),
            listener: Some(listener),
            key: None,
        }
    }

    /// The message's type.
    pub(crate) fn kind(&self) -> MessageType {
        match &self.body {
            Body::Message(m) => m.message_type(),
            Body::Wire(w) => w.kind,
        }
    }

    /// The message's reliability.
    pub(crate) fn reliability(&self) -> Reliability {
        match &self.body {
            Body::Message(m) => m.reliability(),
            Body::Wire(w) => w.reliability,
        }
    }

    /// The endpoint the message comes from.
    pub(crate) fn source(&self) -> &str {
        match &self.body {
            Body::Message(m) => m.source(),
            Body::Wire(w) => &w.source,
        }
    }

    /// The message's compact JSON (written now for a built message).
    pub(crate) fn json(&self) -> Cow<'_, str> {
        match &self.body {
            Body::Message(m) => Cow::Owned(m.to_json()),
            Body::Wire(w) => Cow::Borrowed(&w.json),
        }
    }

    /// The message (tests look at what was pushed).
    #[cfg(test)]
    pub(crate) fn message(&self) -> Message {
        match &self.body {
            Body::Message(m) => (**m).clone(),
            Body::Wire(w) => Message::parse(&w.json).expect("the outbox wrote this JSON"),
        }
    }

    /// The message, parsed back from its JSON if need be (to hand a refused
    /// message back to the caller, a rare path).
    pub(crate) fn into_message(self) -> Message {
        match self.body {
            Body::Message(m) => *m,
            Body::Wire(w) => {
                Message::parse(&w.json).expect("the JSON was written from a valid message's values")
            }
        }
    }

    /// Checks a built message against the wire's limits and writes its
    /// JSON, once (a written one was checked by its writer).
    fn pack(self) -> Result<Packed, Refused> {
        if let Body::Message(m) = &self.body
            && let Err(error) = m.check_limits()
        {
            return Err(Refused {
                error,
                items: vec![self],
            });
        }
        Ok(self.written())
    }

    /// The message with its JSON written, unchecked: restored messages
    /// were checked when first pushed, and the overflow alert is ours.
    fn written(self) -> Packed {
        let wire = match self.body {
            Body::Wire(wire) => wire,
            Body::Message(m) => Wire {
                json: m.to_json().into_boxed_str(),
                kind: m.message_type(),
                priority: m.priority(),
                reliability: m.reliability(),
                source: Arc::from(m.source()),
            },
        };
        Packed {
            wire,
            listener: self.listener,
            key: self.key,
        }
    }
}

/// A message checked and written as JSON, on its way into the queue.
struct Packed {
    wire: Wire,
    listener: Option<Notify>,
    key: Option<u64>,
}

impl From<Packed> for Outgoing {
    fn from(packed: Packed) -> Outgoing {
        Outgoing {
            body: Body::Wire(packed.wire),
            listener: packed.listener,
            key: packed.key,
        }
    }
}

impl Packed {
    /// Its place in the queue. A message written to the store leaves its
    /// JSON there: `Outbox::pop_batch` reads it back, so a queue held
    /// through an outage keeps each guaranteed message once.
    fn queue(self, place: Place) -> Queued {
        Queued {
            wire: if self.key.is_some() {
                Box::default()
            } else {
                self.wire.json
            },
            kind: self.wire.kind,
            listener: self.listener,
            key: self.key,
            _place: place,
        }
    }
}

/// Fills in the JSON of a stored `item` from `store` (about a microsecond
/// a message, against the tens of microseconds of writing it). `false`
/// when it
/// cannot be read: the item leaves the batch (freeing its place) but stays
/// in the store, so the next start sends it; no listener hears of it, as it
/// is not given up.
fn read_back(store: &MessageStore, item: &mut Queued) -> bool {
    let Some(key) = item.key.filter(|_| item.wire.is_empty()) else {
        return true;
    };
    match store.get(key) {
        Ok(Some(json)) => {
            item.wire = json;
            true
        }
        Ok(None) => {
            log::warn!(target: "iotcs::device::outbox",
                "{}: guaranteed message {key} is no longer stored; not sending it",
                store.path().display()
            );
            false
        }
        Err(e) => {
            log::error!(target: "iotcs::device::outbox",
                "{e}; guaranteed message {key} stays stored for the next start"
            );
            false
        }
    }
}

/// A message as it waits in the queue: its wire JSON, written once when it
/// is queued, and the little the dispatcher needs without parsing it back.
///
/// Why not the [`Message`]: a queued message is never changed again, the
/// sender and the store need its JSON anyway, and the JSON is about a
/// quarter of the size of the parsed form (whose data items sit in a
/// `BTreeMap`), which is what bounds a device holding thousands of messages
/// through an outage.
pub(crate) struct Queued {
    /// The compact JSON of the one message; empty (no allocation) for a
    /// message in the store, whose JSON `Outbox::pop_batch` reads back
    /// under `key`.
    wire: Box<str>,
    kind: MessageType,
    /// Told about delivery or failure.
    pub(crate) listener: Option<Notify>,
    /// The message's key in the [`crate::messaging::persist::MessageStore`] once persisted.
    pub(crate) key: Option<u64>,
    /// Its place in `dispatcher_max_queue_size`, freed when the message is
    /// dropped.
    _place: Place,
}

impl fmt::Debug for Queued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queued")
            .field("client_id", &self.client_id())
            .field("type", &self.kind)
            .field("listener", &self.listener.is_some())
            .field("key", &self.key)
            .finish()
    }
}

impl Queued {
    /// Writes `item`'s message as JSON.
    fn pack(item: Outgoing, place: Place) -> Queued {
        item.written().queue(place)
    }

    /// The message's compact JSON, as sent and stored.
    pub(crate) fn wire(&self) -> &str {
        &self.wire
    }

    /// The message's type.
    pub(crate) fn kind(&self) -> MessageType {
        self.kind
    }

    /// The message's `clientId`, read from its JSON (for logs).
    pub(crate) fn client_id(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Id {
            #[serde(rename = "clientId")]
            client_id: String,
        }
        serde_json::from_str::<Id>(&self.wire)
            .map(|id| id.client_id)
            .unwrap_or_default()
    }

    /// The message parsed back (tests look at what was queued).
    #[cfg(test)]
    pub(crate) fn message(&self) -> Message {
        Message::parse(&self.wire).expect("the outbox wrote this JSON")
    }
}

/// Messages the outbox would not take, handed back with the reason
/// (crossbeam's `SendError<T>` pattern).
#[derive(Debug)]
pub(crate) struct Refused {
    /// Why.
    pub(crate) error: Error,
    /// The messages, untouched.
    pub(crate) items: Vec<Outgoing>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// The public form hands the messages back too: a caller of `set`, `raise`
/// or `submit` gets them in [`Error::Unsent`] (their listeners have already
/// reported the refusal through `on_error`).
impl From<Refused> for Error {
    fn from(refused: Refused) -> Error {
        Error::Unsent {
            messages: refused
                .items
                .into_iter()
                .map(Outgoing::into_message)
                .collect(),
            source: Box::new(refused.error),
        }
    }
}

/// The queue shared by producers and the sender thread.
pub(crate) struct Outbox {
    queue: Mutex<OutboundQueue<Queued, Priority>>,
    /// The places of `dispatcher_max_queue_size`, for which pushes wait.
    room: Arc<Room>,
    /// `message_queue_waittime`: how long a push waits for room.
    wait: Duration,
    /// One-slot wake-up for the sender thread.
    wake: Sender<()>,
    /// While the sender waits for a batch to fill, the number of queued
    /// messages at which a push wakes it; 0 (idle or sending) wakes it on
    /// every push. See [`Outbox::wake_only_at`].
    wake_at: AtomicUsize,
    /// `max(3, dispatcher_basic_number_of_retries)` (spec §8.4).
    retries_base: u32,
    /// `dispatcher_max_queue_size`, for error messages.
    capacity: usize,
    /// The store of guaranteed messages, when persistence is on.
    durable: Option<Durable>,
    /// The overflow alert's source and its "one at a time" flag.
    overflow: Overflow,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("len", &self.len())
            .field("held", &self.room.held())
            .field("capacity", &self.capacity)
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// An empty outbox whose pushes fail at once when it is full, and the
    /// receiving end of its wake-up channel.
    #[cfg(test)]
    pub(crate) fn new(capacity: usize, retries_base: u32) -> (Arc<Outbox>, Receiver<()>) {
        Outbox::with_wait(capacity, retries_base, Duration::ZERO)
    }

    /// An empty outbox whose pushes wait up to `wait` for room.
    #[cfg(test)]
    pub(crate) fn with_wait(
        capacity: usize,
        retries_base: u32,
        wait: Duration,
    ) -> (Arc<Outbox>, Receiver<()>) {
        let (outbox, woken) = Outbox::build(capacity, retries_base, wait, None);
        (Arc::new(outbox), woken)
    }

    /// An empty outbox whose pushes wait up to `wait` for room, that persists guaranteed messages
    /// in `persist`, and sends overflow alerts as `endpoint_id`.
    pub(crate) fn durable(
        capacity: usize,
        retries_base: u32,
        wait: Duration,
        persist: Option<PersistSettings>,
        endpoint_id: &str,
        clock: Clock,
    ) -> (Arc<Outbox>, Receiver<()>) {
        let (outbox, woken) = Outbox::build(capacity, retries_base, wait, persist);
        outbox.overflow.raise_as(endpoint_id, clock);
        (Arc::new(outbox), woken)
    }

    fn build(
        capacity: usize,
        retries_base: u32,
        wait: Duration,
        persist: Option<PersistSettings>,
    ) -> (Outbox, Receiver<()>) {
        let (wake, woken) = crossbeam_channel::bounded(1);
        let outbox = Outbox {
            queue: Mutex::new(OutboundQueue::new()),
            room: Room::new(capacity),
            wait,
            wake,
            wake_at: AtomicUsize::new(0),
            retries_base: retries_base.max(3),
            capacity: capacity.max(1),
            durable: persist.map(Durable::new),
            overflow: Overflow::new(),
        };
        (outbox, woken)
    }

    /// How many failed attempts a message of `reliability` survives (spec
    /// §8.4): the base for `NO_GUARANTEE`, twice that for `BEST_EFFORT`,
    /// unlimited for `GUARANTEED_DELIVERY`.
    pub(crate) fn retries_for(&self, reliability: Reliability) -> Option<u32> {
        match reliability {
            Reliability::NoGuarantee => Some(self.retries_base),
            Reliability::BestEffort => Some(self.retries_base * 2),
            Reliability::GuaranteedDelivery => None,
        }
    }

    /// Queues what a previous run left in the store (in store order, beyond
    /// the capacity if need be: refusing them now would lose them), all with
    /// `listener`. Returns how many were queued.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the store cannot be read.
    pub(crate) fn restore(&self, listener: &Arc<dyn DeliveryListener>) -> Result<usize, Error> {
        let Some(durable) = &self.durable else {
            return Ok(0);
        };
        // Queued as read, each parsed only for its type and priority, and
        // without its JSON: reading the tree leaves every record in sled's
        // memory anyway, so a copy here would hold each message twice
        // (about 3.5 MiB for 10,000). `pop_batch` reads it back.
        let mut queue = self.lock();
        let count = durable.load(|key, _, message| {
            let item = Queued {
                wire: Box::default(),
                kind: message.message_type(),
                listener: Some(Notify::Own(Arc::clone(listener))),
                key: Some(key),
                _place: self.room.force(),
            };
            queue.force_push(item, message.priority(), None);
        })?;
        drop(queue);
        if count > 0 {
            log::info!(target: "iotcs::device::outbox",
                "{}: resending {count} guaranteed message(s) from an earlier run",
                durable.store().path().display()
            );
            let _ = self.wake.try_send(());
        }
        Ok(count)
    }

    /// Queues `items` all together or not at all, and wakes the sender.
    /// Guaranteed messages are durable in the store when this returns.
    ///
    /// When the queue or the store is full the refused messages' listeners
    /// hear of it (their error callbacks run) and an overflow alert is
    /// queued.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if a message breaks the wire's size limits;
    /// [`Error::Unsent`] handing the messages back, whose source is
    /// [`Error::QueueFull`] (`dispatcher_max_queue_size`),
    /// [`Error::StoreFull`], [`Error::Closed`] (the device is closing), or
    /// [`Error::Io`] if the store cannot write.
    pub(crate) fn push(&self, items: Vec<Outgoing>) -> Result<(), Error> {
        self.try_push(items).map_err(Error::from)
    }

    /// As [`Outbox::push`], handing the messages back on failure.
    ///
    /// # Errors
    ///
    /// As [`Outbox::push`]; the messages come back in [`Refused::items`]
    /// (empty when they were queued but could not be made durable).
    pub(crate) fn try_push(&self, items: Vec<Outgoing>) -> Result<(), Refused> {
        self.try_push_by(items, Instant::now() + self.wait)
    }

    /// As [`Outbox::try_push`], waiting for room until `deadline` at most
    /// (close answers requests on a deadline of its own).
    ///
    /// # Errors
    ///
    /// As [`Outbox::try_push`].
    pub(crate) fn try_push_by(
        &self,
        items: Vec<Outgoing>,
        deadline: Instant,
    ) -> Result<(), Refused> {
        let entries = wire_up(items)?;
        self.push_packed(entries, deadline)
    }

    /// As [`Outbox::push`] for one message, with no allocation of its own
    /// (a virtual device's `set`).
    ///
    /// # Errors
    ///
    /// As [`Outbox::push`].
    pub(crate) fn push_one(&self, item: Outgoing) -> Result<(), Error> {
        let packed = item.pack()?;
        self.push_packed([packed], Instant::now() + self.wait)
            .map_err(Error::from)
    }

    /// Queues checked and written messages all together or not at all,
    /// waiting for room until `deadline` at most, and wakes the sender.
    fn push_packed<E>(&self, mut entries: E, deadline: Instant) -> Result<(), Refused>
    where
        E: AsMut<[Packed]> + IntoIterator<Item = Packed>,
    {
        // A place each in the bound, taken before the queue lock; messages
        // being sent hold theirs until settled.
        let places = match self.room.take(
            entries.as_mut().len(),
            deadline.saturating_duration_since(Instant::now()),
        ) {
            Ok(places) => places,
            Err(reason) => {
                return Err(self.refuse(admission::no_room(reason, self.capacity), entries));
            }
        };
        let mut queue = self.lock();
        let guaranteed = entries
            .as_mut()
            .iter()
            .filter(|item| item.wire.reliability == Reliability::GuaranteedDelivery)
            .count();
        let facts = admission::Facts {
            closed: queue.is_closed(),
            persisted: self.durable.as_ref().map(Durable::persisted),
            guaranteed,
            max_persisted: self.durable.as_ref().map_or(0, Durable::max_messages),
        };
        if let Err(refusal) = admission::admit(facts) {
            drop(queue);
            return Err(self.refuse(refusal, entries));
        }
        // The key after the last one this push wrote: durable once the
        // group commit has flushed up to it.
        let wrote_upto = match self.write_guaranteed(entries.as_mut()) {
            Ok(upto) => upto,
            Err(error) => {
                drop(queue);
                return Err(Refused {
                    error,
                    items: entries.into_iter().map(Outgoing::from).collect(),
                });
            }
        };
        let urgent = entries
            .as_mut()
            .iter()
            .any(|item| batch_wait::urgent(item.wire.kind, item.wire.priority));
        // Admitted under this same lock; the places are taken.
        for (item, place) in entries.into_iter().zip(places) {
            let priority = item.wire.priority;
            let retries = self.retries_for(item.wire.reliability);
            queue.force_push(item.queue(place), priority, retries);
        }
        let queued = queue.len();
        drop(queue);
        self.wake_sender(queued, urgent);
        if let (Some(upto), Some(durable)) = (wrote_upto, &self.durable) {
            durable
                .make_durable(upto, || {
                    let _queue = self.lock();
                    durable.next_key()
                })
                .map_err(|error| Refused {
                    error,
                    items: Vec::new(),
                })?;
        }
        Ok(())
    }

    /// Writes the guaranteed messages of `entries` to the store (called
    /// under the queue lock, so store order is queue order); the key after
    /// the last one written, `None` when nothing was.
    fn write_guaranteed(&self, entries: &mut [Packed]) -> Result<Option<u64>, Error> {
        let Some(durable) = &self.durable else {
            return Ok(None);
        };
        let mut records = entries
            .iter_mut()
            .filter(|item| item.wire.reliability == Reliability::GuaranteedDelivery)
            .map(|item| (&mut item.key, &*item.wire.json))
            .peekable();
        if records.peek().is_none() {
            return Ok(None);
        }
        durable.write(records).map(Some)
    }

    /// Builds the refusal; for an overflow, first reports the refused
    /// messages to their listeners and raises the overflow alert.
    fn refuse(
        &self,
        refusal: admission::Refusal,
        entries: impl IntoIterator<Item = Packed>,
    ) -> Refused {
        let entries: Vec<Packed> = entries.into_iter().collect();
        let error = refusal.error;
        if refusal.overflow {
            log::warn!(target: "iotcs::device::outbox", "refusing {} message(s): {error}", entries.len());
            for item in &entries {
                if let Some(listener) = &item.listener {
                    listener.failed(item.wire.kind, &item.wire.json, &error);
                }
            }
            self.raise_overflow_alert(&error);
        }
        Refused {
            error,
            items: entries.into_iter().map(Outgoing::from).collect(),
        }
    }

    /// Queues one `message_dispatcher:overflow` alert, beyond the capacity,
    /// unless one is still on its way.
    fn raise_overflow_alert(&self, error: &Error) {
        let Some((alert, pending)) = self.overflow.alert(error, self.capacity) else {
            return;
        };
        let retries = self.retries_for(Reliability::BestEffort);
        let mut queue = self.lock();
        if queue.is_closed() {
            pending.settle();
            return;
        }
        queue.force_push(
            Queued::pack(
                Outgoing::with_listener(alert, Arc::new(pending)),
                self.room.force(),
            ),
            Priority::Highest,
            retries,
        );
        drop(queue);
        let _ = self.wake.try_send(());
    }

    /// Removes up to `max` messages, highest priority first, each with its
    /// JSON (read back from the store for restored ones, outside the queue
    /// lock). They keep their places in the bound until dropped.
    pub(crate) fn pop_batch(&self, max: usize) -> Vec<Entry<Queued, Priority>> {
        let mut batch = self.lock().pop_batch(max);
        if let Some(durable) = &self.durable {
            batch.retain_mut(|entry| read_back(durable.store(), &mut entry.item));
        }
        batch
    }

    /// Puts a failed batch back; returns the entries out of retries.
    pub(crate) fn requeue(
        &self,
        batch: Vec<Entry<Queued, Priority>>,
    ) -> Vec<Entry<Queued, Priority>> {
        self.lock().requeue(batch)
    }

    /// Deletes the stored copies of `items` (delivered, or rejected for
    /// good). A failure is logged: the message would only be resent and
    /// de-duplicated by the cloud.
    pub(crate) fn forget<'a>(&self, items: impl Iterator<Item = &'a Queued>) {
        let Some(durable) = &self.durable else {
            return;
        };
        let keys: Vec<u64> = items.filter_map(|item| item.key).collect();
        durable.forget(&keys);
    }

    /// Refuses new messages from now on; queued ones can still be drained.
    pub(crate) fn close(&self) {
        self.lock().close();
        self.room.close();
    }

    /// Messages waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Wakes the sender after a push that left `queued` messages waiting,
    /// `urgent` when one it pushed must go at once
    /// ([`crate::messaging::batch_wait::urgent`]); while the sender waits
    /// for a batch to fill, only a full batch or an urgent message wakes
    /// it, so a trickle does not cost it a wake-up per message.
    fn wake_sender(&self, queued: usize, urgent: bool) {
        let at = self.wake_at.load(Ordering::SeqCst);
        if at == 0 || queued >= at || urgent {
            // A full slot means a wake-up is pending already.
            let _ = self.wake.try_send(());
        }
    }

    /// The sender waits for `queued` messages (a full batch) and wants no
    /// wake-up for fewer, unless urgent; 0 asks for a wake-up on every push
    /// again, which it must before it looks for work and idles. A push
    /// reads this after its messages are queued, and the sender sets it
    /// before it looks at the queue, so no push that fills the batch goes
    /// unseen.
    pub(crate) fn wake_only_at(&self, queued: usize) {
        self.wake_at.store(queued, Ordering::SeqCst);
    }

    /// Whether any waiting message passes `test` (given the message and its
    /// priority): the sender's batching wait asks whether something urgent
    /// is queued ([`crate::messaging::batch_wait`]).
    pub(crate) fn any_queued(&self, mut test: impl FnMut(&Queued, Priority) -> bool) -> bool {
        self.lock().any(|entry| test(&entry.item, entry.priority))
    }

    /// Messages accepted and not yet settled: waiting, or in a batch being
    /// sent (the places of [`crate::messaging::room`]).
    pub(crate) fn unsettled(&self) -> usize {
        self.room.held()
    }

    /// `dispatcher_max_queue_size`.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether guaranteed messages are persisted.
    #[cfg(all(test, feature = "persistence"))]
    pub(crate) fn is_durable(&self) -> bool {
        self.durable.is_some()
    }

    /// Messages in the store.
    pub(crate) fn persisted(&self) -> usize {
        self.durable.as_ref().map_or(0, Durable::persisted)
    }

    fn lock(&self) -> MutexGuard<'_, OutboundQueue<Queued, Priority>> {
        // Every queue operation leaves it consistent before it can panic
        // (there is nothing in them that panics), so a poisoned lock still
        // guards a sound queue.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Checks `items` against the wire's limits and writes each one's wire JSON
/// (unless written already), outside the queue lock. A refusal hands back
/// every message.
fn wire_up(items: Vec<Outgoing>) -> Result<Vec<Packed>, Refused> {
    let mut packed = Vec::with_capacity(items.len());
    let mut items = items.into_iter();
    while let Some(item) = items.next() {
        match item.pack() {
            Ok(p) => packed.push(p),
            Err(refused) => {
                let items = packed
                    .into_iter()
                    .map(Outgoing::from)
                    .chain(refused.items)
                    .chain(items)
                    .collect();
                return Err(Refused {
                    error: refused.error,
                    items,
                });
            }
        }
    }
    Ok(packed)
}

/// The overflow alert's settling: delivered or given up, the next overflow
/// may raise another.
impl DeliveryListener for Pending {
    fn delivered(&self) {
        self.settle();
    }

    fn failed(&self, _: MessageType, _: &str, _: &Error) {
        self.settle();
    }
}

#[cfg(test)]
#[cfg_attr(
    not(feature = "persistence"),
    allow(dead_code, unused_imports, reason = "the helpers of the durable tests")
)]
mod tests {
    use std::time::Instant;

    use iotcs_core::model::capability;

    use super::*;

    fn data(n: i64) -> Message {
        Message::data("EP-1", "urn:x:attributes", [("n", n)], 0).unwrap()
    }

    #[test]
    fn retry_budget_follows_reliability() {
        let (outbox, _) = Outbox::new(10, 1);
        assert_eq!(outbox.retries_for(Reliability::NoGuarantee), Some(3));
        assert_eq!(outbox.retries_for(Reliability::BestEffort), Some(6));
        assert_eq!(outbox.retries_for(Reliability::GuaranteedDelivery), None);
        let (outbox, _) = Outbox::new(10, 5);
        assert_eq!(outbox.retries_for(Reliability::BestEffort), Some(10));
    }

    #[test]
    fn send_wakes_the_sender_once_and_orders_by_priority() {
        let (outbox, woken) = Outbox::new(10, 3);
        outbox.push(vec![Outgoing::new(data(1))]).unwrap();
        outbox
            .push(vec![Outgoing::new(
                data(2).with_priority(Priority::Highest),
            )])
            .unwrap();
        assert!(woken.try_recv().is_ok());
        assert!(woken.try_recv().is_err());
        let batch = outbox.pop_batch(10);
        let first = batch[0].item.message();
        assert_eq!(first.priority(), Priority::Highest);
        assert_eq!(batch[0].retries_left, Some(6));
        assert_eq!(outbox.len(), 0);
    }

    #[test]
    fn while_the_sender_waits_for_a_batch_only_a_full_one_or_urgency_wakes_it() {
        let (outbox, woken) = Outbox::new(10, 3);
        outbox.wake_only_at(3);
        outbox.push(vec![Outgoing::new(data(1))]).unwrap();
        outbox.push(vec![Outgoing::new(data(2))]).unwrap();
        assert!(woken.try_recv().is_err());
        outbox.push(vec![Outgoing::new(data(3))]).unwrap();
        assert!(woken.try_recv().is_ok());
        drop(outbox.pop_batch(10));
        outbox
            .push(vec![Outgoing::new(
                data(4).with_priority(Priority::Highest),
            )])
            .unwrap();
        assert!(woken.try_recv().is_ok());
        drop(outbox.pop_batch(10));
        outbox.push(vec![Outgoing::new(data(5))]).unwrap();
        assert!(woken.try_recv().is_err());
        // Idle or sending: every push wakes it.
        outbox.wake_only_at(0);
        outbox.push(vec![Outgoing::new(data(6))]).unwrap();
        assert!(woken.try_recv().is_ok());
    }

    #[test]
    fn a_send_of_several_is_queued_whole_or_handed_back_whole() {
        let (outbox, _) = Outbox::new(3, 3);
        outbox.push(vec![Outgoing::new(data(1))]).unwrap();
        let refused = outbox
            .try_push((2..=4).map(|n| Outgoing::new(data(n))).collect())
            .unwrap_err();
        assert_eq!(refused.items.len(), 3);
        assert_eq!(outbox.len(), 1);
        outbox
            .push((2..=3).map(|n| Outgoing::new(data(n))).collect())
            .unwrap();
        assert_eq!(outbox.len(), 3);
    }

    #[test]
    fn full_and_closed_are_state_errors() {
        let (outbox, _) = Outbox::new(1, 3);
        outbox.push(vec![Outgoing::new(data(1))]).unwrap();
        let e = outbox.push(vec![Outgoing::new(data(2))]).unwrap_err();
        assert!(
            e.to_string().contains("dispatcher_max_queue_size = 1"),
            "{e}"
        );
        outbox.close();
        let e = outbox.push(vec![Outgoing::new(data(3))]).unwrap_err();
        assert_eq!(e.kind(), iotcs_core::ErrorKind::State);
        assert_eq!(outbox.pop_batch(5).len(), 1);
    }

    #[test]
    fn messages_in_flight_count_against_the_bound_until_settled() {
        let (outbox, _) = Outbox::new(5, 3);
        for n in 1..=5 {
            outbox.push(vec![Outgoing::new(data(n))]).unwrap();
        }
        // The sender took them all: they are in flight, not gone.
        let batch = outbox.pop_batch(5);
        assert_eq!(batch.len(), 5);
        let e = outbox.push(vec![Outgoing::new(data(6))]).unwrap_err();
        assert!(
            e.to_string().contains("dispatcher_max_queue_size = 5"),
            "{e}"
        );
        // A failed attempt puts them back: still held.
        assert!(outbox.requeue(batch).is_empty());
        assert!(outbox.push(vec![Outgoing::new(data(6))]).is_err());
        // Two are settled (delivered or given up): two places free up.
        drop(outbox.pop_batch(2));
        outbox
            .push((6..=7).map(|n| Outgoing::new(data(n))).collect())
            .unwrap();
        assert!(outbox.push(vec![Outgoing::new(data(8))]).is_err());
        assert_eq!(outbox.len(), 5);
    }

    #[test]
    fn a_push_waiting_for_room_goes_through_once_messages_settle() {
        let (outbox, _) = Outbox::with_wait(1, 3, Duration::from_secs(60));
        outbox.push(vec![Outgoing::new(data(1))]).unwrap();
        let in_flight = outbox.pop_batch(1);
        let o = outbox.clone();
        let waiting = std::thread::spawn(move || o.push(vec![Outgoing::new(data(2))]));
        drop(in_flight);
        waiting.join().unwrap().unwrap();
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn a_full_queue_waits_for_room_then_gives_up() {
        let (outbox, _) = Outbox::with_wait(1, 3, Duration::from_secs(10));
        outbox.push(vec![Outgoing::new(data(1))]).unwrap();
        let o = outbox.clone();
        let waiting = std::thread::spawn(move || o.push(vec![Outgoing::new(data(2))]));
        // The sender makes room: the waiting push goes through.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut popped = 0;
        while popped == 0 && Instant::now() < deadline {
            popped = outbox.pop_batch(1).len();
        }
        assert_eq!(popped, 1);
        waiting.join().unwrap().unwrap();
        assert_eq!(outbox.len(), 1);
        // Without room it gives up after the wait.
        let (outbox, _) = Outbox::with_wait(1, 3, Duration::from_millis(20));
        outbox.push(vec![Outgoing::new(data(1))]).unwrap();
        assert!(outbox.push(vec![Outgoing::new(data(2))]).is_err());
        // Closing wakes a waiting push, which then fails.
        let (outbox, _) = Outbox::with_wait(1, 3, Duration::from_secs(60));
        outbox.push(vec![Outgoing::new(data(1))]).unwrap();
        let o = outbox.clone();
        let waiting = std::thread::spawn(move || o.push(vec![Outgoing::new(data(2))]));
        while outbox.len() == 1 && !waiting.is_finished() {
            outbox.close();
        }
        let e = waiting.join().unwrap().unwrap_err();
        assert!(e.to_string().contains("closed"), "{e}");
    }

    struct Failed(Mutex<Vec<String>>);

    impl DeliveryListener for Failed {
        fn delivered(&self) {}
        fn failed(&self, kind: MessageType, _: &str, error: &Error) {
            self.0.lock().unwrap().push(format!("{kind} {error}"));
        }
    }

    fn durable(dir: &std::path::Path, capacity: usize, max: usize) -> Arc<Outbox> {
        let store = MessageStore::open(&dir.join("msps.db"), "EP-1").unwrap();
        let persist = PersistSettings {
            store: Arc::new(store),
            max_messages: max,
        };
        Outbox::durable(
            capacity,
            3,
            Duration::ZERO,
            Some(persist),
            "EP-1",
            Arc::new(|| 5),
        )
        .0
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "iotcs-outbox-{name}-{}",
            iotcs_core::__private::uuid_v4().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn guaranteed(n: i64) -> Message {
        data(n).with_reliability(Reliability::GuaranteedDelivery)
    }

    #[cfg(feature = "persistence")] // a durable outbox needs sled
    #[test]
    fn guaranteed_messages_are_persisted_forgotten_and_restored() {
        let dir = temp_dir("restore");
        let outbox = durable(&dir, 10, 100);
        assert!(outbox.is_durable());
        let kept = guaranteed(1).with_priority(Priority::Low);
        let kept_id = kept.client_id().to_owned();
        outbox
            .push(vec![
                Outgoing::new(kept),
                Outgoing::new(data(2)),
                Outgoing::new(guaranteed(3).with_priority(Priority::High)),
            ])
            .unwrap();
        assert_eq!(outbox.persisted(), 2);
        let batch = outbox.pop_batch(10);
        // The HIGH one is delivered; the LOW one is not.
        assert_eq!(batch[0].item.key, Some(1));
        assert_eq!(batch[1].item.key, None);
        outbox.forget(std::iter::once(&batch[0].item));
        assert_eq!(outbox.persisted(), 1);
        drop((batch, outbox));
        // A new run gets the undelivered one back, keys continuing.
        let outbox = durable(&dir, 10, 100);
        let listener: Arc<dyn DeliveryListener> = Arc::new(Failed(Mutex::new(Vec::new())));
        assert_eq!(outbox.restore(&listener).unwrap(), 1);
        outbox.push(vec![Outgoing::new(guaranteed(4))]).unwrap();
        let batch = outbox.pop_batch(10);
        assert_eq!(batch.len(), 2);
        // Priority order still holds: the restored LOW one comes second.
        assert_eq!(batch[0].item.key, Some(1));
        assert_eq!(batch[1].item.client_id(), kept_id);
        assert!(
            batch[1].item.listener.is_some(),
            "the restored one has its listener"
        );
        assert_eq!(batch[1].item.key, Some(0));
        drop((batch, outbox));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(feature = "persistence")] // a durable outbox needs sled
    #[test]
    fn restored_messages_wait_without_their_json_and_are_read_back() {
        let dir = temp_dir("read-back");
        let outbox = durable(&dir, 10, 100);
        let sent = [guaranteed(1), guaranteed(2)];
        let json: Vec<String> = sent.iter().map(Message::to_json).collect();
        outbox
            .push(sent.iter().cloned().map(Outgoing::new).collect())
            .unwrap();
        drop(outbox);
        let outbox = durable(&dir, 10, 100);
        let listener: Arc<dyn DeliveryListener> = Arc::new(Failed(Mutex::new(Vec::new())));
        assert_eq!(outbox.restore(&listener).unwrap(), 2);
        assert!(
            !outbox.any_queued(|item, _| !item.wire().is_empty()),
            "a restored message holds no JSON while queued"
        );
        // The first read fails: that message leaves the batch, stays stored.
        let store = outbox.durable.as_ref().unwrap().store();
        store.fail.arm("get");
        let batch = outbox.pop_batch(10);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].item.wire(), json[1]);
        assert_eq!(outbox.persisted(), 2);
        assert_eq!(store.get(0).unwrap().as_deref(), Some(json[0].as_str()));
        drop((batch, outbox));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(feature = "persistence")] // a durable outbox needs sled
    #[test]
    fn overflow_hands_messages_back_reports_them_and_alerts_once() {
        let dir = temp_dir("overflow");
        let outbox = durable(&dir, 2, 1);
        let listener = Arc::new(Failed(Mutex::new(Vec::new())));
        outbox.push(vec![Outgoing::new(guaranteed(1))]).unwrap();
        // The store is full: a second guaranteed message is refused.
        let refused = outbox
            .try_push(vec![Outgoing::with_listener(
                guaranteed(2),
                listener.clone(),
            )])
            .unwrap_err();
        assert!(
            refused.to_string().contains("max_messages = 1"),
            "{refused}"
        );
        assert_eq!(refused.items.len(), 1);
        assert_eq!(listener.0.lock().unwrap().len(), 1);
        // The memory queue is full (the alert took the second slot).
        assert_eq!(outbox.len(), 2);
        let e = outbox
            .push(vec![Outgoing::with_listener(data(3), listener.clone())])
            .unwrap_err();
        assert!(
            e.to_string().contains("dispatcher_max_queue_size = 2"),
            "{e}"
        );
        assert_eq!(listener.0.lock().unwrap().len(), 2);
        // One alert only, first in line, until it is settled.
        let batch = outbox.pop_batch(10);
        assert_eq!(batch.len(), 2);
        let alert = &batch[0].item;
        assert_eq!(alert.kind(), MessageType::Alert);
        assert_eq!(alert.message().event_time(), 5);
        match alert.message().payload() {
            iotcs_core::message::Payload::Alert(a) => {
                assert_eq!(a.format(), capability::MESSAGE_DISPATCHER_OVERFLOW_FORMAT);
                assert_eq!(a.get("maxNumMessages"), Some(&serde_json::json!(2)));
            }
            other => panic!("{other:?}"),
        }
        alert.listener.as_ref().unwrap().delivered();
        drop((batch, outbox));
        std::fs::remove_dir_all(dir).unwrap();
    }

    // The stand-in store of the build without persistence has no failure
    // sites to arm.
    #[cfg(feature = "persistence")]
    #[test]
    fn a_failing_store_refuses_and_hands_back() {
        let dir = temp_dir("failing");
        let outbox = durable(&dir, 10, 100);
        outbox.durable.as_ref().unwrap().store().fail.arm("put");
        let refused = outbox
            .try_push(vec![Outgoing::new(guaranteed(1))])
            .unwrap_err();
        assert_eq!(refused.items.len(), 1);
        assert_eq!(outbox.len(), 0);
        outbox.durable.as_ref().unwrap().store().fail.arm("flush");
        let refused = outbox
            .try_push(vec![Outgoing::new(guaranteed(2))])
            .unwrap_err();
        // Queued already; only the durability failed.
        assert!(refused.items.is_empty());
        assert_eq!(outbox.len(), 1);
        drop(outbox);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn oversized_values_are_refused_before_queueing() {
        let (outbox, _) = Outbox::new(10, 3);
        let huge = "x".repeat(70_000);
        let message = Message::data("EP-1", "urn:x:attributes", [("s", huge.as_str())], 0).unwrap();
        assert!(outbox.push(vec![Outgoing::new(message)]).is_err());
        assert_eq!(outbox.len(), 0);
    }
}
