//! [`DirectlyConnectedDevice`]: a device that talks to the cloud itself,
//! from its trusted assets store to activation, device models, virtual
//! devices and close.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use iotcs_core::__private::crypto::RsaKeyPair;
use iotcs_core::__private::crypto::activation::IndirectActivationRequest;
use iotcs_core::model::{DeviceModel, capability};
use iotcs_core::{Config, Error, NetworkCost, TrustedAssets, TrustedAssetsStore};

use crate::client::Client;
use crate::clock::{Clock, system_clock};
use crate::close_once::CloseOnce;
use crate::cloud::activation;
use crate::cloud::models::Models;
use crate::cloud::rest::RestClient;
use crate::cloud::transport::{HttpSettings, Transport, UreqTransport};
use crate::device_policies;
use crate::messaging::context::DeviceContext;
use crate::messaging::dispatcher::{CLOSE_TIMEOUT, Dispatcher};
use crate::messaging::persist::{self, OpenDatabase};
use crate::messaging::restored::{self, Survivors};
use crate::remote;
use crate::state::{self, DeviceRecord};
use crate::status::Status;
use crate::storage::StorageObject;
use crate::storage::hub::Hub;
use crate::virtual_device::{Registry, VirtualDevice};

/// How long `close` waits for the transfer threads, whose requests it
/// interrupts at once: part of `CLOSE_TIMEOUT`, not added to it.
const STORAGE_STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A directly-connected device. Reference: `DirectlyConnectedDevice` (a
/// `Client`).
///
/// ```no_run
/// use iotcs_device::DirectlyConnectedDevice;
///
/// let mut device = DirectlyConnectedDevice::open("device.tas", "passphrase")?;
/// if !device.is_activated() {
///     device.activate(&["urn:com:example:iotcs:temperature_sensor"])?;
/// }
/// let model = device
///     .device_model("urn:com:example:iotcs:temperature_sensor")?
///     .expect("the cloud knows the model");
/// let sensor = device.create_virtual_device(device.endpoint_id().expect("activated"), &model)?;
/// sensor.set("temp", 21.5)?;
/// device.close()?;
/// # Ok::<(), iotcs_core::Error>(())
/// ```
///
/// While the device is activated and open, three kinds of threads run for
/// it (see the crate docs): `iotcs-sender`, `iotcs-receiver` and
/// `iotcs-callback-N`. [`DirectlyConnectedDevice::close`] stops and joins
/// them; dropping the device does the same, logging instead of returning
/// errors.
pub struct DirectlyConnectedDevice {
    store: TrustedAssetsStore,
    config: Config,
    rest: Arc<RestClient>,
    models: Models,
    /// The models given to `activate`, to check `create_virtual_device`
    /// against: recorded in the state directory at activation and read back
    /// at open; unknown for a store activated by another program.
    activated_models: Option<Vec<String>>,
    /// Where the device keeps its state ([`crate::state`]).
    state: PathBuf,
    /// The message store, resolved once at open.
    store_path: PathBuf,
    /// The virtual devices created, to release their callbacks at close and
    /// to hear about messages restored from an earlier run.
    devices: Registry,
    /// The device model of each URN the virtual devices use, shared by all
    /// of them: a gateway's thousand sensors of one model hold one copy of it
    /// instead of one each (a model is several KiB).
    shared_models: Mutex<HashMap<String, Arc<DeviceModel>>>,
    /// Runs while activated and open. Behind a lock so that `close(&self)`
    /// can take it out; held only to take it or clone its context, never
    /// while it stops.
    dispatcher: Mutex<Option<Dispatcher>>,
    /// Whether `close` has run, and its result for every later caller.
    closed: CloseOnce,
    /// Storage objects and the `iotcs-storage-<n>` threads; runs beside the
    /// dispatcher, stopped before it. Behind a lock for `close(&self)`.
    storage: Mutex<Option<Arc<Hub>>>,
}

impl fmt::Debug for DirectlyConnectedDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectlyConnectedDevice")
            .field("store", &self.store.path())
            .field("activation_id", &self.activation_id())
            .field("endpoint_id", &self.endpoint_id())
            .field("running", &self.dispatcher().is_some())
            .finish_non_exhaustive()
    }
}

impl DirectlyConnectedDevice {
    /// Opens the device of the trusted assets store at `path`, with the
    /// default configuration. To use an `iotcs.ini`, load it with
    /// [`Config::load`] and call [`DirectlyConnectedDevice::open_with_config`].
    /// Reference: `DirectlyConnectedDevice(path, passphrase)`.
    ///
    /// If the store is activated, the messaging threads start at once.
    ///
    /// Built without the `persistence` feature, the default configuration
    /// has `[message_persistence] enabled` off.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the store cannot be read; [`Error::Security`] for a
    /// wrong passphrase, a corrupted store or one without trust anchors;
    /// [`Error::Argument`] for a server scheme other than https.
    pub fn open(path: impl AsRef<Path>, passphrase: &str) -> Result<Self, Error> {
        let mut config = Config::default();
        config.message_persistence.enabled = cfg!(feature = "persistence");
        DirectlyConnectedDevice::open_with_config(path, passphrase, config)
    }

    /// As [`DirectlyConnectedDevice::open`], with `config`.
    ///
    /// # Errors
    ///
    /// As [`DirectlyConnectedDevice::open`], plus [`Error::Config`] for an
    /// unusable `[http] proxy`, or for `[message_persistence] enabled` when
    /// the crate is built without its `persistence` feature (checked before
    /// the store is read).
    pub fn open_with_config(
        path: impl AsRef<Path>,
        passphrase: &str,
        config: Config,
    ) -> Result<Self, Error> {
        check_features(&config)?;
        let store = TrustedAssetsStore::open(path, passphrase)?;
        let assets = store.assets();
        let transport = UreqTransport::new(
            assets.server_scheme(),
            assets.server_host(),
            assets.server_port(),
            assets.trust_anchors(),
            &HttpSettings::from_config(&config),
        )?
        .with_anchors_from(store.path());
        DirectlyConnectedDevice::with_transport(store, config, Arc::new(transport), system_clock())
    }

    /// Opens with a given transport and clock (unit tests use a fake).
    pub(crate) fn with_transport(
        store: TrustedAssetsStore,
        config: Config,
        transport: Arc<dyn Transport>,
        clock: Clock,
    ) -> Result<Self, Error> {
        let assets = store.assets();
        let state = state::state_directory(store.path());
        let store_path = state::message_store_path(&config, &state, std::env::var_os("HOME"));
        let rest = Arc::new(RestClient::for_activation(
            transport,
            assets.client_id(),
            assets.shared_secret(),
            clock,
            config.device_messaging.access_token_max_retries,
        ));
        let mut device = DirectlyConnectedDevice {
            models: Models::new(
                config.device_model.clone(),
                state::model_store_path(&config, &state),
            ),
            store,
            config,
            rest,
            activated_models: None,
            state,
            store_path,
            devices: Registry::default(),
            shared_models: Mutex::default(),
            dispatcher: Mutex::new(None),
            closed: CloseOnce::default(),
            storage: Mutex::new(None),
        };
        if let (Some(endpoint_id), Some(key)) = (
            device.store.assets().endpoint_id(),
            device.store.assets().private_key(),
        ) {
            let key = Arc::new(RsaKeyPair::from_pkcs8(key)?);
            device.rest.set_endpoint(endpoint_id, key);
            device.activated_models =
                state::read_device_record(&device.state, endpoint_id).map(|r| r.device_models);
            let dispatcher = device.start_dispatcher()?;
            *device.dispatcher() = Some(dispatcher);
            device.start_storage()?;
        }
        Ok(device)
    }

    /// Tells `batchByCost` device policies what the network now costs
    /// (`[device_policy] network_cost` at start): messages they hold while
    /// the network is costlier than their policy allows go out once it is
    /// not, within a second. An iotcs addition: the reference reads the
    /// cost only from its configuration.
    ///
    /// # Errors
    ///
    /// [`Error::State`] if the device is not activated; [`Error::Closed`]
    /// once it is closed.
    pub fn set_network_cost(&self, cost: NetworkCost) -> Result<(), Error> {
        let context = self.running()?;
        context.policies.network().set(cost);
        context.policies.wake();
        Ok(())
    }

    /// Whether the store holds an activation. Reference: `isActivated()`.
    pub fn is_activated(&self) -> bool {
        self.store.assets().is_activated()
    }

    /// Activates the device with the device models it implements (the
    /// capability URNs of the library are added), writes the endpoint id and
    /// key to the store atomically, and starts the messaging threads.
    /// Reference: `activate(deviceModels)`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after close; [`Error::State`] if the device is
    /// already activated (the reference
    /// raises too; check [`DirectlyConnectedDevice::is_activated`] first) or
    /// the server says it is; [`Error::Security`] if the server refuses the
    /// credentials; [`Error::Transport`] / [`Error::Network`] /
    /// [`Error::Protocol`] if the exchange fails; [`Error::Io`] if the
    /// provisioning file's directory, the state directory
    /// ([`DirectlyConnectedDevice::state_directory`]) or the message store
    /// cannot be used: that is checked before the cloud is asked, so the
    /// device is then still unactivated on both sides and `activate` can be
    /// called again once the cause is fixed.
    pub fn activate(&mut self, device_models: &[&str]) -> Result<(), Error> {
        if !self.closed.is_open() {
            return Err(Error::Closed);
        }
        if self.is_activated() {
            return Err(Error::state(format!(
                "device {} is already activated as endpoint {}",
                self.activation_id(),
                self.endpoint_id().unwrap_or_default()
            )));
        }
        if let Some(empty) = device_models.iter().find(|m| m.trim().is_empty()) {
            return Err(Error::argument(format!(
                "device model URN {empty:?} is empty"
            )));
        }
        // Held open until the dispatcher has opened its tree in it.
        let _store = self.check_state()?;
        let (endpoint_id, _) = activation::activate(
            &self.rest,
            &mut self.store,
            device_models,
            self.config.device_model.allow_draft_device_models,
        )?;
        let models: Vec<String> = device_models.iter().map(|m| (*m).to_owned()).collect();
        let record = DeviceRecord {
            endpoint_id,
            device_models: models.clone(),
        };
        if let Err(e) = state::write_device_record(&self.state, &record) {
            // Only the model check of a later run is lost: not worth failing
            // an activation the cloud has already made.
            log::warn!(target: "iotcs::device::device", "{e}; after a restart create_virtual_device will not check the models");
        }
        self.activated_models = Some(models);
        let dispatcher = self.start_dispatcher()?;
        *self.dispatcher() = Some(dispatcher);
        self.start_storage()
    }

    /// Starts the storage beside a running dispatcher.
    fn start_storage(&self) -> Result<(), Error> {
        let Some(context) = self.dispatcher().as_ref().map(|d| Arc::clone(d.context())) else {
            return Ok(());
        };
        let hub = Hub::start(
            Arc::clone(&self.rest),
            context,
            &self.config,
            self.store.assets().trust_anchors(),
            &self.state,
        )?;
        // Messages held for uploads when the last run ended are held again
        // and their uploads resumed; they report as restored messages do.
        let survivors: Arc<dyn Survivors> = Arc::new(self.devices.clone());
        crate::storage::resume::restore_held(&hub, &restored::listener(survivors));
        *self.storage() = Some(hub);
        Ok(())
    }

    /// A new storage object `name` (prefixed with this device's endpoint id
    /// and `/`, unless `[media_storage] disable_storage_object_prefix`), of
    /// `content_type` (`None`: `application/octet-stream`). Its URI is under
    /// the container the cloud names, which is asked for the first time (and
    /// every 30 minutes). Give it an input path and make it the value of a
    /// URI attribute or field, or call [`StorageObject::sync`]. Reference:
    /// `createStorageObject(name, contentType)`.
    ///
    /// # Errors
    ///
    /// [`Error::State`] before activation, [`Error::Closed`] after close;
    /// [`Error::Argument`] for an empty name, one with a control character,
    /// a leading or trailing `/`, or a `.`/`..` segment; [`Error::Transport`]
    /// / [`Error::Network`] / [`Error::Security`] / [`Error::Protocol`] when
    /// the cloud does not hand out a storage container.
    pub fn create_storage_object(
        &self,
        name: &str,
        content_type: Option<&str>,
    ) -> Result<StorageObject, Error> {
        self.running()?;
        let hub = self.storage().clone().ok_or(Error::Closed)?;
        hub.create(self.endpoint_id().unwrap_or_default(), name, content_type)
    }

    /// Checks, before activation talks to the cloud, that what the device
    /// needs afterwards can be used: the provisioning file's directory (the
    /// file is rewritten through a temporary file there), the state
    /// directory, and the message store, which is opened and returned open.
    fn check_state(&self) -> Result<Option<OpenDatabase>, Error> {
        let provisioning =
            std::path::absolute(self.store.path()).map_err(|e| Error::io(self.store.path(), e))?;
        if let Some(dir) = provisioning.parent() {
            state::check_writable(dir)?;
        }
        state::check_writable(&self.state)?;
        if !self.config.message_persistence.enabled {
            return Ok(None);
        }
        persist::open_database(&self.store_path).map(Some)
    }

    /// The directory where the device keeps its state, beside its
    /// provisioning file: `gateway.tas` keeps it in `gateway.tas.state/`.
    /// It holds the message store (`msps.db/`, unless `[message_persistence]
    /// db_name` says otherwise), the device models it used (`models/`,
    /// unless `[device_model] device_model_store` says otherwise), the
    /// device models it was activated with (`device.json`) and the files
    /// written with [`DirectlyConnectedDevice::write_state_file`]. Back it
    /// up with the provisioning file; delete it with the provisioning file.
    pub fn state_directory(&self) -> &Path {
        &self.state
    }

    /// The content of the state file `name` in
    /// [`DirectlyConnectedDevice::state_directory`]; `None` if there is none.
    /// Gateways keep their registrations there.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for a name that is not a plain file name (letters,
    /// digits, `.`, `-`, `_`, not starting with `.`) or that the library
    /// uses itself; [`Error::Io`] naming the file when it cannot be read.
    pub fn read_state_file(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        state::read_file(&state::state_file(&self.state, name)?)
    }

    /// Replaces the state file `name` with `contents` atomically and
    /// durably: a temporary file, `fsync`, a rename over the old one, `fsync`
    /// of the directory, so a reader (or the next boot, after a power cut)
    /// sees the old or the new content, never a mix.
    ///
    /// # Errors
    ///
    /// As [`DirectlyConnectedDevice::read_state_file`], for writing.
    pub fn write_state_file(&self, name: &str, contents: &[u8]) -> Result<(), Error> {
        state::write_atomically(&state::state_file(&self.state, name)?, contents)
    }

    /// The endpoint id the server assigned at activation; `None` before.
    /// Reference: `getEndpointId()`.
    pub fn endpoint_id(&self) -> Option<&str> {
        self.store.assets().endpoint_id()
    }

    /// The activation id (client id) of the store.
    pub fn activation_id(&self) -> &str {
        self.store.assets().client_id()
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The device model `urn`, from the cloud or the local model store;
    /// `None` if the cloud does not know it, or it is a draft and
    /// `allow_draft_device_models` is off. Reference:
    /// `getDeviceModel(deviceModelUrn)`.
    ///
    /// # Errors
    ///
    /// [`Error::State`] before activation; [`Error::Closed`] after close;
    /// [`Error::Argument`] for an empty URN; [`Error::Transport`] / [`Error::Network`] when the cloud fails;
    /// [`Error::Model`] when its answer is not a valid model.
    pub fn device_model(&self, urn: &str) -> Result<Option<DeviceModel>, Error> {
        self.running()?;
        Ok(self
            .models
            .get(&self.rest, urn)?
            .map(|m| DeviceModel::clone(&m)))
    }

    /// A new virtual device for `endpoint_id` (this device's endpoint id)
    /// implementing `model`. Requests from the cloud for its attributes and
    /// actions are routed to it from now on (replacing an earlier virtual
    /// device for the same endpoint and model). Reference:
    /// `createVirtualDevice(endpointId, deviceModel)`.
    ///
    /// # Errors
    ///
    /// [`Error::State`] before activation; [`Error::Closed`] after close;
    /// [`Error::Argument`] if `endpoint_id` is not this device's, or the
    /// device was activated in this process without `model`.
    pub fn create_virtual_device(
        &self,
        endpoint_id: &str,
        model: &DeviceModel,
    ) -> Result<VirtualDevice, Error> {
        let context = self.running()?;
        let own = self.endpoint_id().unwrap_or_default();
        if endpoint_id != own {
            return Err(Error::argument(format!(
                "endpoint id {endpoint_id:?} is not this device's ({own}); a directly-connected device models only itself"
            )));
        }
        if let Some(models) = &self.activated_models
            && !models.iter().any(|m| m == model.urn())
            && !capability::is_capability_urn(model.urn())
        {
            return Err(Error::argument(format!(
                "device {own} does not implement device model {} (it was activated with {})",
                model.urn(),
                models.join(", ")
            )));
        }
        Ok(self.new_virtual_device(&context, endpoint_id, model))
    }

    /// For gateways: a virtual device for `endpoint_id`, an
    /// indirectly-connected device this device proxies. Its messages carry
    /// `endpoint_id` as `source` and go out on this device's connection;
    /// requests whose `destination` is `endpoint_id` reach it. Nothing here
    /// checks that the endpoint was registered through this device (the
    /// cloud refuses the messages if not): `iotcs_gateway::GatewayDevice`
    /// does, and is the API to use.
    ///
    /// # Errors
    ///
    /// [`Error::State`] before activation; [`Error::Closed`] after close;
    /// [`Error::Argument`] for an empty `endpoint_id`.
    pub fn create_proxy_virtual_device(
        &self,
        endpoint_id: &str,
        model: &DeviceModel,
    ) -> Result<VirtualDevice, Error> {
        let context = self.running()?;
        if endpoint_id.trim().is_empty() {
            return Err(Error::argument(
                "the endpoint id of a proxied device is empty",
            ));
        }
        Ok(self.new_virtual_device(&context, endpoint_id, model))
    }

    /// For gateways: sends an indirect activation request (spec §4), built
    /// and signed by the caller, with this device's identity, and returns the
    /// endpoint id of the indirectly-connected device. `?createDraft=false`
    /// is added unless `allow_draft_device_models` is set.
    /// `iotcs_gateway::GatewayDevice::register_device` builds the request
    /// and is the API to use.
    ///
    /// # Errors
    ///
    /// [`Error::State`] before activation; [`Error::Closed`] after close;
    /// [`Error::Transport`] when the cloud refuses the registration (the
    /// error carries its reason); [`Error::Network`] / [`Error::Security`]
    /// when it cannot be asked; [`Error::Protocol`] for an answer that is
    /// not an activated endpoint.
    // Hidden: its argument type lives in `iotcs_core::__private`, so only
    // the gateway crate can call it; users call `register_device`.
    #[doc(hidden)]
    pub fn activate_indirect(&self, request: &IndirectActivationRequest) -> Result<String, Error> {
        self.running()?;
        activation::activate_indirect(
            &self.rest,
            request,
            self.config.device_model.allow_draft_device_models,
        )
    }

    /// For gateways: `Ok` while activated and open; else the error every
    /// method that needs the cloud returns ([`Error::State`] before
    /// activation, [`Error::Closed`] after close), so that a gateway checks
    /// its state before its arguments, as this device does.
    ///
    /// # Errors
    ///
    /// As above.
    // Hidden: gateways call it; users see the same errors from the methods.
    #[doc(hidden)]
    pub fn ensure_running(&self) -> Result<(), Error> {
        self.running().map(drop)
    }

    /// The trusted assets (read-only): for gateways, the provisioned secrets
    /// of indirectly-connected devices and the key that signs their
    /// registration. Their `Debug` output shows no secret.
    pub fn trusted_assets(&self) -> &TrustedAssets {
        self.store.assets()
    }

    /// Starts the messaging threads and serves `policyChanged`.
    fn start_dispatcher(&self) -> Result<Dispatcher, Error> {
        let policies = device_policies::context(
            &self.config,
            &self.state,
            &self.rest,
            self.rest.server_clock().as_clock(),
        );
        let dispatcher = Dispatcher::start(
            Arc::clone(&self.rest),
            &self.config,
            &self.store_path,
            Arc::new(self.devices.clone()),
            policies,
        )?;
        if let Some(endpoint_id) = self.rest.endpoint_id() {
            device_policies::register(
                &dispatcher.context().inbound,
                &endpoint_id,
                self.devices.clone(),
                Arc::clone(&dispatcher.context().policies),
                Arc::clone(&self.rest),
            );
        }
        Ok(dispatcher)
    }

    /// A virtual device routed and released at close like every other.
    fn new_virtual_device(
        &self,
        context: &Arc<DeviceContext>,
        endpoint_id: &str,
        model: &DeviceModel,
    ) -> VirtualDevice {
        let device = VirtualDevice::new(endpoint_id, self.shared_model(model), Arc::clone(context));
        remote::register(&context.inbound, &device);
        if let Some(hub) = self.storage().as_ref() {
            device.attach_storage(hub);
        }
        self.devices.add(&device);
        device.restore_waiting();
        device
    }

    /// The shared copy of `model`: the one already in use for its URN if it
    /// is equal, else a new one, which later virtual devices share.
    fn shared_model(&self, model: &DeviceModel) -> Arc<DeviceModel> {
        // Entries are inserted whole; a panic cannot leave one torn.
        let mut shared = self
            .shared_models
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match shared.get(model.urn()) {
            Some(known) if **known == *model => Arc::clone(known),
            _ => {
                let fresh = Arc::new(model.clone());
                shared.insert(model.urn().to_owned(), Arc::clone(&fresh));
                fresh
            }
        }
    }

    /// Stops the messaging threads: no more requests are taken, those
    /// received are answered, queued messages get one last attempt, and
    /// every thread is joined, within 20 s in total, also when the cloud
    /// never answers (requests still in flight 2 s before the end are
    /// interrupted). Requests received get their answer within the first
    /// 10 s: `503` for those whose callback has not returned by then.
    /// Virtual devices of this device refuse to send afterwards. Reference:
    /// `close()`.
    ///
    /// A callback thread stuck in a user callback that never returns is the
    /// one thread `close` cannot join: it is left running, detached, and
    /// ends when the callback returns (its late answer is dropped); the
    /// error says so.
    ///
    /// `close` takes `&self`, so a device shared in an `Arc` closes without
    /// unwrapping it. It is idempotent and thread-safe: the first call does
    /// the work; calls made meanwhile from other threads wait for it (within
    /// the same bound, plus a second) and every call, then or later, returns
    /// an equal result (an [`Error::Unsent`] hands the same messages back to
    /// each). Afterwards [`DirectlyConnectedDevice::activate`],
    /// [`DirectlyConnectedDevice::device_model`] and the
    /// `create_*virtual_device` methods return [`Error::Closed`], and the
    /// device's virtual devices refuse to send with an [`Error::Unsent`]
    /// whose [`unsent_reason`](Error::unsent_reason) is [`Error::Closed`].
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use iotcs_device::DirectlyConnectedDevice;
    ///
    /// let device = Arc::new(DirectlyConnectedDevice::open("device.tas", "passphrase")?);
    /// let worker = {
    ///     let device = Arc::clone(&device);
    ///     std::thread::spawn(move || device.close())
    /// };
    /// device.close()?;
    /// assert_eq!(worker.join().expect("no panic"), Ok(()));
    /// # Ok::<(), iotcs_device::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first problem met: queued messages that could not be sent
    /// ([`Error::Unsent`] handing them back; their `on_error` callbacks have
    /// run by then, and its source is [`Error::Timeout`] when the cloud did
    /// not answer before the deadline), a thread that panicked or did not
    /// stop in time ([`Error::Timeout`] naming it); [`Error::Timeout`] for a
    /// concurrent caller whose wait for the first ran out.
    pub fn close(&self) -> Result<(), Error> {
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        self.closed.run(deadline, || self.shutdown(deadline))
    }

    /// How the device is doing: its link to the cloud (connected, backing
    /// off until when, the last error), its queued and persisted messages,
    /// its last delivery and its counters. Reads a snapshot, never touches
    /// the network; before activation and after `close` it says
    /// `running: false`.
    ///
    /// ```no_run
    /// # let device = iotcs_device::DirectlyConnectedDevice::open("device.conf", "pass")?;
    /// let status = device.status();
    /// if !status.connected {
    ///     eprintln!("offline, {} message(s) waiting; last error: {:?}", status.queued, status.last_error);
    /// }
    /// # Ok::<(), iotcs_device::Error>(())
    /// ```
    pub fn status(&self) -> Status {
        if !self.closed.is_open() {
            return Status::stopped();
        }
        self.dispatcher()
            .as_ref()
            .map_or_else(Status::stopped, |d| Status::from_report(d.report()))
    }

    fn shutdown(&self, deadline: Instant) -> Result<(), Error> {
        // Transfers stop first (interrupted at once; an upload resumes from
        // its last segment next time), so that the messages they held are
        // reported while the callback pool still runs.
        let storage = self.storage().take();
        let storage = match storage {
            Some(hub) => hub.stop((Instant::now() + STORAGE_STOP_TIMEOUT).min(deadline)),
            None => Ok(()),
        };
        // Taken out under the lock, stopped outside it: the stop can take
        // seconds, and `running` must not wait for it.
        let dispatcher = self.dispatcher().take();
        let result = match dispatcher {
            Some(mut dispatcher) => {
                dispatcher.context().drain_held();
                dispatcher.stop(deadline)
            }
            None => Ok(()),
        };
        self.devices.release_all();
        storage.and(result)
    }

    fn storage(&self) -> MutexGuard<'_, Option<Arc<Hub>>> {
        // The guarded value is one `Option`, whole whatever panicked.
        self.storage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn dispatcher(&self) -> MutexGuard<'_, Option<Dispatcher>> {
        // The guarded value is one `Option`, whole whatever panicked.
        self.dispatcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The running engine's context, or why there is none.
    fn running(&self) -> Result<Arc<DeviceContext>, Error> {
        if !self.closed.is_open() {
            return Err(Error::Closed);
        }
        let dispatcher = self.dispatcher();
        dispatcher
            .as_ref()
            .map(|d| Arc::clone(d.context()))
            .ok_or_else(|| {
                if self.is_activated() {
                    Error::Closed
                } else {
                    Error::state(format!(
                        "device {} is not activated; call activate first",
                        self.activation_id()
                    ))
                }
            })
    }
}

/// Refuses a configuration that needs a feature this build lacks.
fn check_features(config: &Config) -> Result<(), Error> {
    #[cfg(not(feature = "persistence"))]
    if config.message_persistence.enabled {
        return Err(persist::feature_off());
    }
    let _ = config;
    Ok(())
}

impl Drop for DirectlyConnectedDevice {
    /// The best-effort [`DirectlyConnectedDevice::close`]; nothing to do
    /// when it has run.
    fn drop(&mut self) {
        if self.closed.is_open()
            && let Err(e) = self.close()
        {
            log::warn!(target: "iotcs::device::device", "closing device {}: {e}", self.activation_id());
        }
    }
}

impl Client for DirectlyConnectedDevice {
    fn create_virtual_device(
        &self,
        endpoint_id: &str,
        model: &DeviceModel,
    ) -> Result<VirtualDevice, Error> {
        DirectlyConnectedDevice::create_virtual_device(self, endpoint_id, model)
    }

    fn device_model(&self, urn: &str) -> Result<Option<DeviceModel>, Error> {
        DirectlyConnectedDevice::device_model(self, urn)
    }

    fn create_storage_object(
        &self,
        name: &str,
        content_type: Option<&str>,
    ) -> Result<StorageObject, Error> {
        DirectlyConnectedDevice::create_storage_object(self, name, content_type)
    }
}
