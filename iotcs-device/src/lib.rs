//! The directly-connected device of iotcs and its virtual devices: a device
//! program opens its trusted assets store, activates, and from then on works
//! with virtual devices whose attributes are validated against the device
//! model, sends data and alerts, and reacts to attribute changes and actions
//! coming from the cloud. Everything is blocking; the network work happens on
//! a few named OS threads that [`DirectlyConnectedDevice::close`] joins.
//!
//! ```no_run
//! use iotcs_device::{DirectlyConnectedDevice, Value};
//!
//! const THERMOSTAT: &str = "urn:com:example:iotcs:temperature_sensor";
//!
//! let mut device = DirectlyConnectedDevice::open("thermostat.tas", "changeit")?;
//! if !device.is_activated() {
//!     device.activate(&[THERMOSTAT])?;
//! }
//! let model = device.device_model(THERMOSTAT)?.expect("the cloud knows the model");
//! let endpoint_id = device.endpoint_id().expect("activated").to_owned();
//! let thermostat = device.create_virtual_device(&endpoint_id, &model)?;
//!
//! // The cloud changes a writable attribute: the attribute's callback runs,
//! // then the general one, on a callback thread. `Err` refuses the change:
//! // the cloud's request is answered 400 with the message, the value stays.
//! thermostat.on_change("maxThreshold", |event| {
//!     match event.named_value().value().as_f64() {
//!         Some(max) if max > 90.0 => Err("too hot for this room".into()),
//!         _ => Ok(()),
//!     }
//! })?;
//! thermostat.on_change_any(|event| {
//!     println!("the cloud changed {}", event.named_value().name());
//!     Ok(())
//! });
//! // The cloud invokes an action.
//! thermostat.on_action("reset", |event| {
//!     let device = event.virtual_device();
//!     let now = device.get("temp")?.unwrap_or(Value::Number(20.0));
//!     device.update().set("minTemp", now.clone())?.set("maxTemp", now)?.finish()?;
//!     Ok(())
//! })?;
//!
//! // One DATA message per `set`; one for a whole `update`.
//! thermostat.set("temp", 21.5)?;
//! thermostat.update().set("minTemp", 18.0)?.set("maxTemp", 24.0)?.finish()?;
//! thermostat
//!     .create_alert("urn:com:example:iotcs:temperature_sensor:too_hot")?
//!     .set("temp", 81.0)?
//!     .set("maxThreshold", 70.0)?
//!     .raise()?;
//!
//! device.close()?;
//! # Ok::<(), iotcs_device::Error>(())
//! ```
//!
//! A complete program that starts a local cloud and plays a thermostat is
//! `examples/directly_connected_device.rs` in the repository.
//!
//! # Device policies
//!
//! The cloud can assign a device policy to a device for one of its models
//! (spec §7): per attribute, a pipeline of functions that filter, sample,
//! average over time windows, drop duplicates, hash private values, compute
//! a value from others, raise an alert or call one of the device's own
//! actions on a condition; and for the whole model, a batch that holds
//! messages until there are enough, a delay expired or the network is
//! cheap enough. [`VirtualDevice::offer`] is where they act:
//!
//! ```no_run
//! # fn f(thermostat: &iotcs_device::VirtualDevice) -> Result<(), iotcs_device::Error> {
//! // With a policy such as "temp: mean over 5 s; alert too_hot when
//! // $(temp) > 80", these three calls send one alert now and, 5 s after the
//! // first, one DATA message whose temp is the mean of 21 and 22 and whose
//! // eventTime is the end of the window. Without a policy, each is a `set`.
//! thermostat.offer("temp", 21.0)?;
//! thermostat.offer("temp", 22.0)?;
//! thermostat.offer("temp", 85.0)?;
//! # Ok(()) }
//! ```
//!
//! What iotcs does, where the spec or Oracle's libraries leave room:
//! - The policy is fetched once per virtual device, at its first `offer`,
//!   on the device's policy thread (`offer` never touches the network);
//!   values offered (and messages `set`) until the cloud answers wait and
//!   then run through it in order. They wait durably, in the store of held
//!   batches (`[batchby_persistence]`), synced before `offer` returns, and
//!   wait again when the virtual device is created after a kill or
//!   restart, so a GUARANTEED_DELIVERY promise holds from the first
//!   `offer`; if the fetch fails they are sent as `set` sends them.
//!   "No policy" is cached until the cloud sends `policyChanged` for the
//!   model (but for the unassignment of a policy the device does not run);
//!   a notification also stops a running policy of that id, and
//!   the next `offer` fetches it again with every function's state fresh.
//!   A gateway's indirectly-connected devices ask for their own policy at
//!   their first `offer`; when a policy is then assigned or unassigned, the
//!   gateway asks the cloud once which of them have it (§7.1's third call)
//!   and starts or stops it for exactly those with open virtual devices.
//!   [`VirtualDevice::fetch_policy`] asks ahead of the first `offer`.
//! - A `computedMetric` (or any function) whose formula reads other
//!   attributes runs after them among values offered together (§7.2,
//!   §7.4), reading what their pipelines let out; the pipeline runner does
//!   this. But the reference's `offer(attributeName, value)` offers one
//!   value at a time, and `update` (several values in one message) skips
//!   attribute pipelines, as the reference and Oracle's Java library do
//!   (§7.5), so through this API the order never comes up: a formula's
//!   `$(other)` reads the other attribute's current value, and offering the
//!   inputs before the metric is the caller's way to order them. (Oracle's
//!   Java library computes such a metric only for values that arrive in
//!   one message, which its `update().finish()` makes; ours does not run
//!   policies there.)
//! - `set`, `update`, alerts and custom data skip attribute pipelines but
//!   pass the model-level (`*`) batch, as Oracle's Java library does; only the first
//!   function of the `*` pipeline counts, and only a `batchBy*` one.
//! - Windows (`mean`, `min`, `max`, `standardDeviation`, the last the
//!   sample one) emit at their end from the policy thread, nothing for an
//!   empty window; `batchByTime` releases at its delay the same way.
//! - Held batches are durable before `offer` returns
//!   (`[batchby_persistence]`, in `<state>/bbps.db` by default) and are
//!   held again after a restart; an ALERT at or above the batch's
//!   `alertSeverity` (default CRITICAL) is never held. A batch the policy
//!   change replaces is let out at once.
//! - A disabled policy does not run. `privacyPolicy` hashes any value's
//!   text (a STRING comes out). A window's result for an INTEGER attribute
//!   is rounded.
//! - `batchByCost` compares `[device_policy] network_cost`, or what
//!   [`DirectlyConnectedDevice::set_network_cost`] set since, with the
//!   policy's cost.
//!
//! # Layout
//!
//! Three layers, each importing only the ones below it:
//!
//! - **The user API**, at the crate root: [`DirectlyConnectedDevice`]
//!   (`device.rs`, with `client.rs` for the [`Client`] trait, `state.rs`
//!   for the state directory and `close_once.rs` for `close(&self)`),
//!   [`VirtualDevice`] (`virtual_device.rs`: its
//!   state, the registry of open devices, delivery reports) and what grows
//!   on it, one file each: `set_path.rs` (`set`'s fast path, straight to
//!   the wire JSON), `update.rs` ([`Update`], with `open_update.rs`
//!   for the state it shares), `alert.rs` ([`Alert`], [`Data`]),
//!   `callbacks.rs` (`on_change`, `on_error`, `on_action` and running them),
//!   `offer.rs` (`offer` and what a device policy does to the messages;
//!   `device_policies.rs` is the device's side: the fetch and the
//!   `policyChanged` resource),
//!   `rejection.rs` ([`Rejection`], a callback's refusal),
//!   `events.rs` and `named_value.rs` (what callbacks receive), `remote.rs`
//!   (the cloud's attribute writes and action calls), `external.rs`,
//!   `status.rs` ([`Status`], what `status()` reports), [`logging`].
//!   `clock.rs` is the server-adjusted clock every layer reads.
//! - **`storage/`**, storage objects: [`StorageObject`] (`object.rs`) and
//!   [`SyncStatus`], [`SyncEvent`] (`status.rs`) for the user;
//!   `attach.rs` (objects as values of a virtual device); `hub.rs` (the
//!   device's storage and its `iotcs-storage-<n>` threads), `transfer.rs` (the
//!   uploads and downloads), `stop.rs` (the close signal), `authority.rs` (container and storage token),
//!   `http.rs` (streamed HTTPS), and, without IO, `plan.rs` (segments,
//!   resume records, retries) and `names.rs`.
//! - **`cloud/`**, talking to the cloud: `activation.rs`, `token.rs` (the
//!   token's lifecycle, no IO), `rest.rs` (authenticated calls),
//!   `transport.rs` (HTTPS), `models.rs` (device models, fetched and cached),
//!   `policies.rs` (a device's policy, fetched).
//! - **`policy/`**, device policies, no IO but the store of held batches:
//!   one file per function (`window.rs`, `sample.rs`, `duplicates.rs`,
//!   `batch.rs`, `privacy.rs`), `pipeline.rs` (an attribute's functions in
//!   order; `expression.rs` is its seam to the core's formulas, `build.rs`
//!   turns the core's policy model into running units), `model_level.rs`
//!   (whole messages through a batch, kept durable by `held.rs`),
//!   `active.rs` and `slot.rs` (a virtual device's policy and its state),
//!   `waiting.rs` (what waits, durably, for the policy),
//!   `context.rs` (what a device's virtual devices share), `timer.rs` (the
//!   one policy thread), `notification.rs` (the `policyChanged` handler).
//! - **`messaging/`**, the engine: `dispatcher.rs` owns its threads and
//!   builds `context.rs` (what virtual devices reach it through); outgoing,
//!   `outbox.rs` (with `admission.rs`, `durable.rs` over `persist.rs`,
//!   `overflow.rs`, `queue.rs`, `room.rs`), `sender.rs` (with `fate.rs`,
//!   `backoff.rs`, `batch_wait.rs`) and `restored.rs`; incoming, `receiver.rs`, `inbound.rs`
//!   (with `router.rs`, `tickets.rs`), `pool.rs` and `watchdog.rs`; and
//!   `capability.rs`, `counters.rs`, `health.rs` (the link's state and its
//!   lost/restored log lines), `worker.rs`; `hold.rs` holds messages
//!   until the storage objects they carry are uploaded.
//!
//!
//! # Logging
//!
//! The SDK logs through the `log` crate. Install the logger with
//! [`logging::install`] (any `log` backend) or, with the `env_logger` feature,
//! `logging::init("warn")`: both wrap it in [`logging::RedactingLogger`],
//! which keeps the HTTP and TLS stacks' protocol dumps (written at `trace`,
//! with every bearer token and password in them) and credentials out of the
//! log. A logger installed any other way writes those dumps whenever `trace`
//! is enabled for `ureq_proto`.
//!
//! Every line has a target under `iotcs::` (`iotcs::device::transport`: one
//! DEBUG line per HTTP request with method, path, status, bytes and
//! milliseconds; `iotcs::device::sender` and `iotcs::device::inbound`: message
//! bodies at TRACE; `iotcs::device::health`: INFO when the connection to the
//! cloud is lost and when it is restored, with how long and how many messages
//! went through), so `RUST_LOG=iotcs=debug` shows the protocol alone. A healthy
//! device logs nothing at INFO after activation.
//!
//! # Threads
//!
//! An activated, open device runs:
//! - `iotcs-sender`: drains the outgoing queue (highest priority first, FIFO
//!   within a priority) in batches of `dispatcher_max_messages_per_connection`,
//!   waiting up to `dispatcher_batch_wait` (3 ms) for a batch to fill;
//! - `iotcs-receiver`: long-polls the cloud for requests (or polls every
//!   `dispatcher_polling_interval` with `disable_long_polling`);
//! - `iotcs-callback-1` .. `N` (`request_dispatcher_thread_pool_size`): answer
//!   requests and run every user callback. Callbacks never run on the sender
//!   or receiver, so a callback may call `set` (which only queues);
//! - `iotcs-watchdog`: answers `503` for a request whose callback has not
//!   returned within `request_callback_timeout`;
//! - `iotcs-storage-<n>`: run the storage objects' uploads and downloads,
//!   `[media_storage] max_concurrent_transfers` of them (default 1), each
//!   one transfer at a time, taken in the order of their `sync`; they start
//!   at the first `sync`.
//! - `iotcs-policy-timer`, once a device policy runs (one per device, a
//!   gateway's devices included): fetches policies, lets out windows and
//!   batches whose time came; `close` stops it before the sender's last
//!   attempt (interrupting a fetch still running after 10 s).
//!
//! Every request from the cloud is answered: 200 (with a DATA echo of changed
//! attributes), 400 for a bad body or value or a read-only attribute, 404
//! for an unknown resource or an action without callback, 405 for a wrong
//! method, the status and message of a [`Rejection`] a callback returns
//! (400 unless it says otherwise; nothing is changed), 500 when a callback
//! panics, 503 when it does not return within `request_callback_timeout`
//! (its late answer is then dropped). A callback still running then keeps
//! its thread, so the pool starts another in its place: the requests behind
//! it are served. The stuck thread ends when its callback returns; at most
//! 8 such threads are kept, and `close` reports any still stuck.
//!
//! The callback threads have Rust's default stack (2 MiB, or the
//! `RUST_MIN_STACK` environment variable's size), because user callbacks run
//! on them; every other thread runs only this crate's code and has 512 KiB.
//! Only the pages a thread touches count in its resident memory.
//!
//! `close` (and `Drop`) joins every thread within 20 s, also when the cloud
//! never answers: requests get their answer within the first 10 s, requests
//! still in flight at 18 s are interrupted. A callback thread stuck in user
//! code is the exception: it cannot be interrupted, so it is left running
//! detached (it ends when the callback returns) and `close` reports it.
//!
//! # Configuration
//!
//! [`Config`] (the reference's `iotcs.ini`, see [`Config::load`]) is honoured
//! where this crate acts: `[device_model]` (`device_model_store`, `prefix`,
//! `suffix`, `allow_draft_device_models`), `[message_persistence]`
//! (`db_name`, `enabled`, `max_messages`, and this crate's `sync_interval`, the durability
//! mode; see "Where state lives"), `[device_messaging]` (queue size,
//! batch size, polling, long polling and its offset, retries, pool size,
//! request buffer, back-off pause, response timeout, token retries, default
//! reliabilities, and this crate's `request_callback_timeout`),
//! `[device_policy]` (`network_cost`), `[batchby_persistence]` (`db_name`,
//! `enabled`; see "Where state lives"), `[http]` (connection and read timeouts, `proxy`,
//! `proxy_auth`), `[media_storage]` (all four keys and the extension
//! `max_concurrent_transfers`: see "Storage objects")
//! and `[logging]` (`pretty_print_messages` for the trace log
//! of sent messages). Tokens, keys and secrets are never logged.
//!
//! # Storage objects
//!
//! A [`StorageObject`] is a file in the cloud's storage service (protocol
//! §9.1), the value of a URI attribute or field. Create it with
//! [`DirectlyConnectedDevice::create_storage_object`] (or
//! [`VirtualDevice::create_storage_object`] for a gateway's
//! indirectly-connected device, uploaded under its own endpoint id), set its
//! input path, and `set` it: the upload starts, and the message carrying it
//! is held until the object is `IN_SYNC`; the source's later messages wait
//! behind it, other sources do not. A failed upload reports "content sync
//! failed" to `on_error` and `SYNC_FAILED` to `on_sync`, and the messages
//! behind it go on. When the cloud sets a URI attribute to a storage
//! object, the device describes it (`HEAD`) before the change callbacks run,
//! and the callback's [`ChangeEvent::storage_object`] hands it over to be
//! downloaded (set its output path and `sync`); outside a callback,
//! [`VirtualDevice::storage_object`] does (any other URI is an
//! [`ExternalObject`]).
//!
//! Transfers stream through 64 KiB buffers (memory does not grow with the
//! file) and check the MD5 against the `ETag`. Uploads above 8 MiB go in
//! 8 MiB segments plus a manifest, and the progress is recorded in the state
//! directory (`storage/`) after each acknowledged segment, so an upload cut
//! by the network or by a restart resumes from its last segment at the next
//! `sync` of the same name and file. Downloads go to `<file>.part` and
//! resume with `Range`. Each request is retried
//! `storage_connection_retry_limit` times; a 401 fetches a new storage token
//! (as does a token 30 minutes old). Storage TLS trusts the provisioning
//! file's anchors only, like the cloud's. `storage_connection_host_name`
//! decides, with the container URL, which URIs are storage objects;
//! `disable_storage_object_prefix` drops the endpoint id from names;
//! `proxy` is the storage requests' proxy; `max_concurrent_transfers` (an
//! iotcs extension, default 1, at most 16) is how many transfers run at
//! once, each on its own `iotcs-storage-<n>` thread. `close` interrupts a transfer in
//! progress (it resumes at the next sync). A held `GUARANTEED_DELIVERY`
//! message is durable (in the message store's database, with what it takes
//! to upload its objects again) before `set`/`raise`/`submit` returns, like
//! any guaranteed message: `close` keeps it, and so does a crash; the next
//! open resumes its objects' uploads (from their last segment) and sends it
//! once they are in sync, or reports it to `on_error` when an object's file
//! is gone or its upload fails. `close` reports the other held messages to
//! `on_error`.
//!
//! # Randomness and start-up time
//!
//! Message ids, TLS keys and the JWT assertions draw on aws-lc's random
//! generator, which seeds itself once per process, at the first draw (in
//! `open`). By default it seeds from aws-lc's CPU Jitter entropy source
//! mixed with the kernel's `getrandom`, which costs tens of milliseconds of
//! CPU, most of what `open` spends. Building with the environment variable
//! `AWS_LC_SYS_NO_JITTER_ENTROPY=1` (a build-time switch of `aws-lc-sys`,
//! not a [`Config`] setting) leaves the kernel as the only source: sound
//! where the kernel's pool is well seeded (a hardware random number
//! generator, a seed carried across boots), weaker on a board that has
//! neither, early in its first boot. `docs/cross-compiling.md` in the
//! repository has the figures.
//!
//! # Features
//!
//! - `persistence` (default): the sled store of `GUARANTEED_DELIVERY`
//!   messages. Without it sled is not built; a [`Config`] with
//!   `[message_persistence] enabled` (its default) makes
//!   [`DirectlyConnectedDevice::open_with_config`] return an
//!   [`Error::Config`] that says the feature is off. Set it to `false`:
//!   guaranteed messages are then kept in memory only, as with persistence
//!   disabled at run time. [`DirectlyConnectedDevice::open`] uses a default
//!   configuration with it off in such a build. Nothing else changes.
//! - `env_logger` (off): `logging::init` and friends.
//!
//! # Where state lives
//!
//! A device keeps its state in a directory beside its provisioning file,
//! named after it (`thermostat.tas` → `thermostat.tas.state/`, see
//! [`DirectlyConnectedDevice::state_directory`]): the message store
//! (`msps.db/`), the batches device policies hold (`bbps.db/`), the device models it used (`models/`), the models it was
//! activated with (`device.json`), and a gateway's registrations. That
//! directory must be writable anyway (activation rewrites the provisioning
//! file through a temporary file beside it), needs no `HOME` (systemd
//! services have none), and is never shared by two devices of one host.
//! So a device, or a gateway with its indirectly-connected devices, that
//! boots without network still creates its virtual devices and buffers
//! their messages: `GUARANTEED_DELIVERY` ones on disk, the others in memory
//! while the process lives; everything goes out once the cloud answers.
//!
//! Deviations from the reference's `iotcs.ini`, where it could not work in
//! the field:
//! - `[message_persistence] db_name` is empty by default, meaning the state
//!   directory. The reference's default, `iotcs/msps.db` under `HOME`, made
//!   every device of a host share one database (the second process fails
//!   on its lock) and could not be placed without `HOME`. An absolute
//!   `db_name` is used as written; a relative one is under `HOME` as in the
//!   reference when `HOME` is set, else under the state directory.
//! - `[batchby_persistence] db_name` at the reference's default,
//!   `iotcs/bbps.db`, or empty, means `<state>/bbps.db`, for the same
//!   reasons; another relative name is under `HOME` as in the reference.
//! - `[device_model] device_model_store` empty stores models in the state
//!   directory instead of disabling the store: a device restarted offline
//!   needs its models. Draft models are never stored.
//!
//! [`DirectlyConnectedDevice::activate`] opens the message store and checks
//! that the state directory and the provisioning file's directory are
//! writable *before* it talks to the cloud, so a device is never left
//! activated in the cloud but unusable locally.
//!
//! # Errors to match
//!
//! Each situation is one [`Error`] variant, whichever method meets it (the
//! `# Errors` section of each method lists its own; `tests/it/error_kinds.rs`
//! pins them). Errors are `Clone` and `PartialEq`, so a test can
//! `assert_eq!` one.
//!
//! | Situation | Variant |
//! |---|---|
//! | an attribute the model does not have (`get`, `last_known`, `set`, `offer`, `update().set`, `on_change`, `on_error`, their `remove_*`) | [`Error::UnknownAttribute`] |
//! | a format the model does not have, or not of that type (`create_alert`, `create_data`) | [`Error::UnknownFormat`] |
//! | an action the model does not have (`on_action`, `remove_on_action`) | [`Error::UnknownAction`] |
//! | a value of the wrong type, out of range, or a field the format does not have (`set`, `update().set`, `Alert::set`, `Data::set`), a required field not set (`raise`, `submit`) | [`Error::Validation`] |
//! | the device is not activated yet (`device_model`, `create_virtual_device`, gateways' `register_device`) | [`Error::State`] |
//! | the device is closed: methods that need the cloud | [`Error::Closed`] |
//! | the device is closed, the queue or the store is full: methods that send (`set`, `raise`, `submit`, `Update::finish`) | [`Error::Unsent`] handing the messages back; its [`Error::unsent_reason`] is [`Error::Closed`], [`Error::QueueFull`] or [`Error::StoreFull`] |
//!
//! Match `e.unsent_reason()` to treat a closed device alike from both
//! kinds of method: for any error but [`Error::Unsent`] it is the error
//! itself.
//!
//! # From the reference API to Rust
//!
//! The reference is Oracle's Python library. Getters lose their `get`
//! prefix, callbacks are closures (change and action callbacks return
//! `Result<(), Rejection>`), a `None` attribute or action name becomes an
//! `_any` method, a `None` callback a `remove_` method, builders are owned
//! values, and failures are [`Error`] values whose [`Error::kind`] names the
//! reference exception.
//!
//! | Reference | Rust |
//! |---|---|
//! | **`Client`** | trait [`Client`], implemented by [`DirectlyConnectedDevice`] |
//! | `Client.createVirtualDevice(deviceId, deviceModel)` | [`Client::create_virtual_device`] |
//! | `Client.getDeviceModel(deviceModelUrn)` | [`Client::device_model`] |
//! | `Client.createStorageObject(name, contentType)` | [`Client::create_storage_object`] |
//! | **`DirectlyConnectedDevice(path, passphrase)`** | [`DirectlyConnectedDevice::open`], [`DirectlyConnectedDevice::open_with_config`] |
//! | `DirectlyConnectedDevice.activate(deviceModels)` | [`DirectlyConnectedDevice::activate`] (a second call is [`Error::State`]) |
//! | `DirectlyConnectedDevice.close()` | [`DirectlyConnectedDevice::close`], and `Drop` |
//! | `DirectlyConnectedDevice.createStorageObject(name, contentType)` | [`DirectlyConnectedDevice::create_storage_object`]; for an indirectly-connected device [`VirtualDevice::create_storage_object`] |
//! | `DirectlyConnectedDevice.createVirtualDevice(endpointId, deviceModel)` | [`DirectlyConnectedDevice::create_virtual_device`] |
//! | `DirectlyConnectedDevice.getDeviceModel(urn)` | [`DirectlyConnectedDevice::device_model`] |
//! | `DirectlyConnectedDevice.getEndpointId()` | [`DirectlyConnectedDevice::endpoint_id`] (`None` before activation) |
//! | `DirectlyConnectedDevice.isActivated()` | [`DirectlyConnectedDevice::is_activated`] |
//! | (none: an iotcs addition) | [`DirectlyConnectedDevice::status`] → [`Status`] (link, queue, store, last delivery, [`MessageCounters`]) |
//! | **`AbstractVirtualDevice`** | [`VirtualDevice`] (the one concrete kind on the device side) |
//! | `AbstractVirtualDevice.finish()` | [`Update::finish`] (sends what the update gathered, also from `set`) |
//! | `AbstractVirtualDevice.get(attributeName)` | [`VirtualDevice::get`] |
//! | `AbstractVirtualDevice.getDeviceModel()` | [`VirtualDevice::device_model`] |
//! | `AbstractVirtualDevice.getEndpointId()` | [`VirtualDevice::endpoint_id`] |
//! | `AbstractVirtualDevice.getLastKnown(attributeName)` | [`VirtualDevice::last_known`] |
//! | `AbstractVirtualDevice.set(attributeName, value)` | [`VirtualDevice::set`] (joins the open update, if any); also [`Update::set`] |
//! | `AbstractVirtualDevice.setOnChange(callback, attributeName)` | [`VirtualDevice::on_change`]`(attribute, callback)`; without `attributeName` [`VirtualDevice::on_change_any`]; with `callback=None` [`VirtualDevice::remove_on_change`] / [`VirtualDevice::remove_on_change_any`] |
//! | `AbstractVirtualDevice.setOnError(callback, attributeName)` | [`VirtualDevice::on_error`]`(attribute, callback)` (an attribute's callback hears of failed alerts too); without `attributeName` [`VirtualDevice::on_error_any`]; with `callback=None` [`VirtualDevice::remove_on_error`] / [`VirtualDevice::remove_on_error_any`] |
//! | `AbstractVirtualDevice.update()` | [`VirtualDevice::update`], returning an [`Update`] handle to the virtual device's one open update (owned and `Send`: it may be finished on another thread) |
//! | `AbstractVirtualDevice.ChangeCallback` / `.onChange(event)` | `impl Fn(&ChangeEvent) -> Result<(), Rejection> + Send + Sync`; `Err` refuses the change (the reference: "the new value is not set") |
//! | `AbstractVirtualDevice.ErrorCallback` / `.onError(event)` | `impl Fn(&ErrorEvent) + Send + Sync` |
//! | `AbstractVirtualDevice.Event` | the accessors shared by [`ChangeEvent`], [`ErrorEvent`], [`ActionEvent`] |
//! | `Event.getNamedValue()` | [`ChangeEvent::named_value`], [`ErrorEvent::named_value`], [`ActionEvent::named_value`] |
//! | `Event.getVirtualDevice()` | [`ChangeEvent::virtual_device`], [`ErrorEvent::virtual_device`], [`ActionEvent::virtual_device`] |
//! | `AbstractVirtualDevice.ChangeEvent` | [`ChangeEvent`] |
//! | `AbstractVirtualDevice.ErrorEvent` / `.getMessage()` | [`ErrorEvent`] / [`ErrorEvent::message`] |
//! | `AbstractVirtualDevice.NamedValue` | [`NamedValue`] (also iterable: [`NamedValue::iter`]) |
//! | `NamedValue.getName()` / `.getValue()` / `.next()` | [`NamedValue::name`] / [`NamedValue::value`] / [`NamedValue::next`] |
//! | **`VirtualDevice`** | [`VirtualDevice`] |
//! | `VirtualDevice.createAlert(alertformaturn)` | [`VirtualDevice::create_alert`] |
//! | `VirtualDevice.createData(messageformaturn)` | [`VirtualDevice::create_data`] |
//! | `VirtualDevice.offer(attributeName, value)` | [`VirtualDevice::offer`]: the device policy's pipelines decide what is sent (see "Device policies"); [`VirtualDevice::fetch_policy`] and [`DirectlyConnectedDevice::set_network_cost`] are additions |
//! | `VirtualDevice.setOnAction(callback, actionName)` | [`VirtualDevice::on_action`]`(action, callback)`; without `actionName` [`VirtualDevice::on_action_any`]; with `callback=None` [`VirtualDevice::remove_on_action`] / [`VirtualDevice::remove_on_action_any`] |
//! | `VirtualDevice.setCallable(actionName, callable)` (deprecated) | [`VirtualDevice::set_callable`] (deprecated) |
//! | `VirtualDevice.ActionCallback` / `.onAction(actionEvent)` | `impl Fn(&ActionEvent) -> Result<(), Rejection> + Send + Sync` |
//! | (an exception raised in a callback) | [`Rejection`]: `Err("message".into())`, or [`Rejection::new`] with [`Rejection::with_status`]; answered with that status (400 by default) and message |
//! | `VirtualDevice.ActionEvent` / `.getName()` | [`ActionEvent`] / [`ActionEvent::name`] (and [`ActionEvent::argument`]) |
//! | `VirtualDevice.Callable` / `.call(virtualDevice, data)` (deprecated) | `impl Fn(&VirtualDevice, Option<&Value>) + Send + Sync` |
//! | **`Alert`** | [`Alert`] |
//! | `Alert.set(field, value)` | [`Alert::set`] (and [`Alert::set_severity`]), taking and handing back the owned builder |
//! | `Alert.raise_()` | [`Alert::raise`] (consumes it; `clone` to raise again) |
//! | **`Data`** | [`Data`] |
//! | `Data.set(field, value)` | [`Data::set`] |
//! | `Data.submit()` | [`Data::submit`] (consumes it) |
//! | **`DeviceModel`** | [`DeviceModel`] (from `iotcs_core::model`) |
//! | `DeviceModel.getURN()` / `.getName()` / `.getDescription()` | [`DeviceModel::urn`] / [`DeviceModel::name`] / [`DeviceModel::description`] |
//! | **`ExternalObject(uri)`** | [`ExternalObject::new`] (converts into a URI [`Value`]) |
//! | `ExternalObject.getURI()` | [`ExternalObject::uri`] |
//! | **`StorageObject`** | [`StorageObject`] (converts into a URI [`Value`]); from a cloud-set URI: [`ChangeEvent::storage_object`] / [`ChangeEvent::storage_object_of`] in the change callback (the value stays a URI [`Value`]), [`VirtualDevice::storage_object`] elsewhere |
//! | `StorageObject.getURI()` / `.getName()` / `.getLength()` | [`StorageObject::uri`] / [`StorageObject::name`] / [`StorageObject::length`] (`None` for -1) |
//! | `StorageObject.getContentType()` / `.getEncoding()` / `.getDate()` | [`StorageObject::content_type`] / [`StorageObject::encoding`] / [`StorageObject::date`] |
//! | `StorageObject.getCustomMetadata()` / `.setCustomMetadata(key, value)` | [`StorageObject::custom_metadata`] / [`StorageObject::set_custom_metadata`] |
//! | `StorageObject.getInputPath()` / `.setInputPath(inputPath)` | [`StorageObject::input_path`] / [`StorageObject::set_input_path`] |
//! | `StorageObject.getOutputPath()` / `.setOutputPath(outputPath)` | [`StorageObject::output_path`] / [`StorageObject::set_output_path`] |
//! | `StorageObject.getSyncStatus()` | [`StorageObject::sync_status`] (`setSyncStatus` is internal) |
//! | `StorageObject.setOnSync(callback)` / `getSyncCallback()` | [`StorageObject::on_sync`]; with `None` [`StorageObject::remove_on_sync`] (also [`StorageObject::on_progress`]) |
//! | `StorageObject.sync()` | [`StorageObject::sync`] (non-blocking, on an `iotcs-storage-<n>` thread) |
//! | `StorageObject.SyncCallback` / `.onSync(event)` | `impl Fn(&SyncEvent) + Send + Sync` |
//! | `StorageObject.SyncEvent` / `.getName()` / `.getSource()` / `.getVirtualDevice()` | [`SyncEvent`] / [`SyncEvent::name`] / [`SyncEvent::source`] / [`SyncEvent::virtual_device`] |
//! | `StorageObject.SyncStatus` (`IN_SYNC`, `NOT_IN_SYNC`, `SYNC_FAILED`, `SYNC_PENDING`) | [`SyncStatus`] |
//! | `ValueError` / `ArgumentException` | [`Error::Argument`], [`Error::Validation`], [`Error::UnknownAttribute`], [`Error::UnknownFormat`], [`Error::UnknownAction`] ([`ErrorKind::Argument`]) |
//! | `IllegalStateException` / `StateException` | [`Error::State`], [`Error::Closed`]; for refused messages [`Error::Unsent`] handing them back, whose [`Error::unsent_reason`] is [`Error::QueueFull`], [`Error::StoreFull`] or [`Error::Closed`] ([`ErrorKind::State`]) |
//! | `TransportException.getStatusCode()` | [`Error::Transport`] / [`Error::status_code`] |
//! | `IOError` | [`Error::Io`] |
//!
//! Differences worth knowing: success answers to the cloud are 200 (Oracle's
//! Java library sends 202, its JavaScript library 200; the cloud takes both);
//! `last_known` is the last value the cloud is known to have rather than
//! always the current one; `create_virtual_device` of a directly-connected
//! device accepts only the device's own endpoint id; an [`Update`] dropped
//! without `finish` (the reference cannot abandon one) sends nothing and
//! hands its values to `on_error`. `dispatcher_max_queue_size` counts every
//! message from `set` until it is delivered or given up, as in the reference,
//! so the queue plus the batch being sent never exceed it.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

// The user API (see "Layout" above).
mod alert;
mod callbacks;
mod client;
mod clock;
mod close_once;
mod device;
mod device_policies;
mod events;
mod external;
pub mod logging;
mod named_value;
mod offer;
mod open_update;
mod rejection;
mod remote;
mod set_path;
mod state;
mod status;
mod update;
mod virtual_device;

// Talking to the cloud.
mod cloud;

// The messaging engine.
mod messaging;

// Device policies: the functions of a policy's pipelines.
mod policy;
// Storage objects and their transfers.
mod storage;

pub use alert::{Alert, Data};
pub use client::Client;
pub use device::DirectlyConnectedDevice;
pub use events::{ActionEvent, ChangeEvent, ErrorEvent};
pub use external::ExternalObject;
pub use iotcs_core::message::Severity;
pub use iotcs_core::model::DeviceModel;
pub use iotcs_core::{Config, Error, ErrorKind, NetworkCost, Value, ValueType};
pub use named_value::{NamedValue, NamedValues};
pub use rejection::Rejection;
pub use status::{MessageCounters, Status};
pub use storage::{StorageObject, SyncEvent, SyncStatus};
pub use update::Update;
pub use virtual_device::VirtualDevice;

#[cfg(test)]
mod tests {
    use super::*;

    /// The handles users share between threads must stay shareable.
    fn _ensure_send_sync() {
        fn is_send_sync<T: Send + Sync + 'static>() {}
        is_send_sync::<DirectlyConnectedDevice>();
        is_send_sync::<VirtualDevice>();
        is_send_sync::<ChangeEvent>();
        is_send_sync::<ErrorEvent>();
        is_send_sync::<ActionEvent>();
        is_send_sync::<NamedValue>();
        is_send_sync::<Alert>();
        is_send_sync::<Data>();
        is_send_sync::<ExternalObject>();
        is_send_sync::<StorageObject>();
        is_send_sync::<SyncEvent>();
    }

    /// Built without `persistence`, a configuration asking for it is
    /// refused at open, before the provisioning file is read, with the
    /// `Error::Config` that says why.
    #[cfg(not(feature = "persistence"))]
    #[test]
    fn persistence_without_the_feature_is_a_config_error() {
        let e = DirectlyConnectedDevice::open_with_config("no-such.tas", "x", Config::default())
            .unwrap_err();
        assert!(
            matches!(&e, Error::Config { section, key, .. } if section == "message_persistence" && key == "enabled"),
            "{e:?}"
        );
        assert!(e.to_string().contains("`persistence` feature"), "{e}");
        // The default configuration of `open` has persistence off: it gets
        // as far as reading the (missing) file.
        let e = DirectlyConnectedDevice::open("no-such.tas", "x").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
    }

    fn _ensure_update_is_send() {
        fn is_send<T: Send>() {}
        is_send::<Update>();
    }
}
