//! Starting and stopping the server: a tokio runtime on its own named
//! threads, a TLS listener, one hyper HTTP/1.1 connection task per client,
//! all behind the synchronous [`ServerHandle`].

use std::convert::Infallible;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use iotcs_core::Error;
use iotcs_core::model::DeviceModel;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::client::AdminClient;
use crate::config::ServerConfig;
use crate::device_policies::PolicyReads;
use crate::state::{Limits, State};
use crate::storage::{self, Storage, StorageService, StorageSettings};
use crate::store::Store;
use crate::{files, tls};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for held long polls to send their `[]`.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts servers. See [`Server::start`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Server;

impl Server {
    /// Starts a server and returns once it is listening.
    ///
    /// The certificates (and with a data directory, the admin password and
    /// the database) are created or loaded first; then a tokio runtime with
    /// two worker threads named `iotcs-server` runs the listener until
    /// [`ServerHandle::shutdown`] or the handle is dropped.
    ///
    /// ```
    /// use iotcs_server::{Server, ServerConfig};
    ///
    /// let server = Server::start(ServerConfig::for_tests())?;
    /// assert!(server.url().starts_with("https://127.0.0.1:"));
    /// server.shutdown()?;
    /// # Ok::<(), iotcs_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the data directory, a file in it or the listening
    /// socket cannot be created (e.g. the port is taken); [`Error::Model`] if
    /// a file in the models directory is not a valid device model;
    /// [`Error::State`] if the database cannot be opened (another server may
    /// be using the directory); [`Error::Security`] if the certificates cannot
    /// be made.
    pub fn start(config: ServerConfig) -> Result<ServerHandle, Error> {
        let dir = config.data_dir.clone();
        if let Some(dir) = &dir {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let storage_names: Vec<String> = config.storage_host.iter().cloned().collect();
        let tls = tls::load_or_create(dir.as_deref(), &storage_names)?;
        let admin_password =
            files::admin_password(config.admin_password.as_deref(), dir.as_deref())?;
        let extra_models = match &config.models_dir {
            Some(models) => load_models(models)?,
            None => Vec::new(),
        };
        let store = match (&dir, config.in_memory()) {
            (Some(dir), false) => Some(Store::open(dir)?),
            _ => None,
        };
        let limits = Limits {
            token_lifetime_ms: millis(config.token_lifetime),
            request_expiry_ms: millis(config.request_expiry),
            max_messages: config.max_messages,
        };
        let state = State::new(limits, store, extra_models)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("iotcs-server")
            .enable_all()
            .build()
            .map_err(|e| Error::io(PathBuf::from("<tokio runtime>"), e))?;
        let listener = runtime
            .block_on(TcpListener::bind(config.listen))
            .map_err(|e| Error::io(PathBuf::from(config.listen.to_string()), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io(PathBuf::from(config.listen.to_string()), e))?;
        let url = url_of(addr);
        let storage = open_storage(&config, addr)?;

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let app = Arc::new(App::new(
            state,
            admin_password.clone(),
            url.clone(),
            tls.ca_der.clone(),
            config.long_poll_limit,
            config.max_body_bytes,
            storage,
            shutdown_rx.clone(),
        ));
        let acceptor = TlsAcceptor::from(tls.server_config.clone());
        runtime.spawn(accept_loop(listener, acceptor, app.clone(), shutdown_rx));

        if let Some(dir) = &dir {
            let info = serde_json::json!({
                "url": url,
                "caFile": dir.join("ca.pem"),
                "adminPasswordFile": dir.join("admin-password"),
                "pid": std::process::id(),
            });
            files::write_atomic(
                &dir.join("server.json"),
                format!("{info:#}\n").as_bytes(),
                0o644,
            )?;
        }
        // Not "listening on": the binary prints that line, once, on stdout.
        log::debug!("accepting connections on {addr}");
        Ok(ServerHandle {
            url,
            addr,
            ca_pem: tls.ca_pem,
            ca_der: tls.ca_der,
            admin_password,
            data_dir: dir,
            app: Some(app),
            shutdown_tx,
            runtime: Some(runtime),
        })
    }
}

/// The storage service: under `DATA_DIR/storage`, or for a server that keeps
/// nothing, a directory of its own under the system's temporary directory,
/// removed at shutdown.
fn open_storage(config: &ServerConfig, addr: SocketAddr) -> Result<StorageService, Error> {
    let (root, temporary) = match (&config.data_dir, config.in_memory()) {
        (Some(dir), false) => (dir.join("storage"), false),
        _ => {
            let mut random = [0u8; 6];
            iotcs_core::__private::fill_random(&mut random)?;
            let name = format!(
                "iotcs-server-storage-{}-{}",
                std::process::id(),
                iotcs_core::__private::encoding::hex_encode(&random)
            );
            (std::env::temp_dir().join(name), true)
        }
    };
    let store = Storage::open(StorageSettings {
        root,
        temporary,
        quota: config.storage_quota,
        token_lifetime: config.storage_token_lifetime,
    })?;
    let base = match &config.storage_host {
        Some(host) => format!("https://{host}:{}", addr.port()),
        None => url_of(addr),
    };
    let container_url = format!("{base}/v1/{}/{}", storage::ACCOUNT, storage::CONTAINER);
    Ok(StorageService {
        store,
        container_url,
    })
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `https://HOST:PORT` for a bound address; an unspecified address
/// (`0.0.0.0`, `::`) is reached through loopback.
fn url_of(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    match ip {
        IpAddr::V4(v4) => format!("https://{v4}:{}", addr.port()),
        IpAddr::V6(v6) => format!("https://[{v6}]:{}", addr.port()),
    }
}

/// Every `*.json` file of `dir`, parsed as a device model.
fn load_models(dir: &Path) -> Result<Vec<DeviceModel>, Error> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    paths.sort();
    let mut models = Vec::new();
    for path in paths {
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let model = DeviceModel::from_json(&text).map_err(|e| match e {
            Error::Model { urn, reason } => {
                Error::model(urn, format!("{reason} (in {})", path.display()))
            }
            other => other,
        })?;
        log::info!(
            "loaded device model {} from {}",
            model.urn(),
            path.display()
        );
        models.push(model);
    }
    Ok(models)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    tokio::spawn(serve_connection(tcp, peer, acceptor.clone(), app.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off a little.
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    log::debug!("listener closed");
}

async fn serve_connection(tcp: TcpStream, peer: SocketAddr, acceptor: TlsAcceptor, app: Arc<App>) {
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            log::debug!("TLS handshake with {peer} failed: {e}");
            return;
        }
        Err(_) => {
            log::debug!("TLS handshake with {peer} timed out");
            return;
        }
    };
    let service = service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(crate::router::handle(app, request, peer).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    if let Err(e) = builder.serve_connection(TokioIo::new(tls), service).await {
        log::debug!("connection with {peer} ended: {e}");
    }
}

/// A running server. Dropping it shuts the server down (best effort);
/// [`ServerHandle::shutdown`] does the same and reports errors.
///
/// Held long polls are answered with `[]` at shutdown, so clients (and tests)
/// do not wait for the hold limit. The handle is for synchronous code: do not
/// drop it inside an async runtime (tokio refuses to stop a runtime there).
/// `Debug` leaves the admin password out.
pub struct ServerHandle {
    url: String,
    addr: SocketAddr,
    ca_pem: String,
    ca_der: Vec<u8>,
    admin_password: String,
    data_dir: Option<PathBuf>,
    app: Option<Arc<App>>,
    shutdown_tx: watch::Sender<bool>,
    /// Dropped last: its threads run the tasks that hold the other parts.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("url", &self.url)
            .field("data_dir", &self.data_dir)
            .field("running", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The base URL, `https://127.0.0.1:PORT` (the real port when port 0 was
    /// asked for). It is also the server URI of provisioning files.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The storage container URL handed to devices,
    /// `https://HOST:PORT/v1/Storage-iotcs/iotcs`; an object's URL is this,
    /// `/`, and its name (by convention `<endpointId>/<name>`).
    pub fn storage_url(&self) -> &str {
        self.app
            .as_ref()
            .map_or("", |app| app.storage.container_url.as_str())
    }

    /// Where the storage service keeps objects: `DATA_DIR/storage`, or for a
    /// server without a data directory (or an ephemeral one) a temporary
    /// directory that shutdown removes.
    pub fn storage_dir(&self) -> Option<&Path> {
        self.app.as_ref().map(|app| app.storage.store.root())
    }

    /// The CA certificate (PEM) that signed the server certificate: the trust
    /// anchor of provisioning files.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The admin password (HTTP Basic, user `admin`).
    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }

    /// The data directory, if the server has one.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// How many long polls the server is holding right now (for tests that
    /// must wait until a device is listening).
    pub fn held_long_polls(&self) -> usize {
        self.app
            .as_ref()
            .map_or(0, |app| app.held_polls.load(Ordering::SeqCst))
    }

    /// How many times devices called each of the private API's device
    /// policy reads (spec §7.1) since start, for tests that check which
    /// call a device made. A real cloud has no such door.
    pub fn policy_reads(&self) -> PolicyReads {
        self.app
            .as_ref()
            .map_or_else(PolicyReads::default, |app| app.policy_reads.snapshot())
    }

    /// The access tokens the server holds right now (issued, not yet revoked
    /// or swept), for tests that check no token reaches a log. A real cloud
    /// has no such door; this one is a test double.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.app
            .as_ref()
            .map_or_else(Vec::new, |app| app.state().token_values())
    }

    /// A blocking client for the admin API of this server, trusting only its CA.
    ///
    /// # Errors
    ///
    /// As [`AdminClient::new`].
    pub fn admin(&self) -> Result<AdminClient, Error> {
        AdminClient::new(&self.url, &self.ca_der, &self.admin_password)
    }

    /// Blocks until the process gets SIGINT or SIGTERM (Ctrl-C on other
    /// platforms). For the `iotcs-server serve` command.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the signal handlers cannot be installed.
    pub fn wait_for_signal(&self) -> Result<(), Error> {
        let Some(runtime) = &self.runtime else {
            return Ok(());
        };
        runtime.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let mut term =
                    signal(SignalKind::terminate()).map_err(|e| Error::io("<signal>", e))?;
                tokio::select! {
                    r = tokio::signal::ctrl_c() => r.map_err(|e| Error::io("<signal>", e)),
                    _ = term.recv() => Ok(()),
                }
            }
            #[cfg(not(unix))]
            tokio::signal::ctrl_c()
                .await
                .map_err(|e| Error::io("<signal>", e))
        })
    }

    /// Stops the server: stops accepting, answers held long polls, closes
    /// every connection, and flushes the database.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::State`] if the final database flush fails.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        let Some(runtime) = self.runtime.take() else {
            return Ok(());
        };
        let _ = self.shutdown_tx.send(true);
        if let Some(app) = &self.app {
            // Let held long polls send their `[]` before the connections go.
            let deadline = Instant::now() + DRAIN_TIMEOUT;
            while app.held_polls.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
        let result = match self.app.take() {
            Some(app) => app.state().flush(),
            None => Ok(()),
        };
        log::info!("iotcs-server on {} stopped", self.url);
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            log::warn!("iotcs-server shutdown: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_has_no_password() {
        let server = Server::start(ServerConfig::for_tests().admin_password("hunter2")).unwrap();
        assert_eq!(server.admin_password(), "hunter2");
        assert!(!format!("{server:?}").contains("hunter2"));
        assert!(!format!("{:?}", server.app).contains("hunter2"));
        server.shutdown().unwrap();
    }

    #[test]
    fn urls_use_loopback_for_unspecified_addresses() {
        assert_eq!(
            url_of("0.0.0.0:7443".parse().unwrap()),
            "https://127.0.0.1:7443"
        );
        assert_eq!(url_of("[::]:1".parse().unwrap()), "https://[::1]:1");
        assert_eq!(
            url_of("127.0.0.1:5".parse().unwrap()),
            "https://127.0.0.1:5"
        );
    }

    #[test]
    fn bad_model_files_name_the_file() {
        let dir = tempfile::TempDir::with_prefix("models").unwrap();
        fs::write(
            dir.path().join("ok.json"),
            iotcs_core::model::samples::HUMIDITY_SENSOR_JSON,
        )
        .unwrap();
        fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        assert_eq!(load_models(dir.path()).unwrap().len(), 1);
        fs::write(dir.path().join("bad.json"), "{\"urn\": 5}").unwrap();
        let e = load_models(dir.path()).unwrap_err().to_string();
        assert!(e.contains("bad.json"), "{e}");
        assert!(load_models(&dir.path().join("missing")).is_err());
    }
}
