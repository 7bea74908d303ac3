//! The server's settings: one struct, one `Default`, builder-style setters.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to run an `iotcs-server`.
///
/// Every setting has a default, so `ServerConfig::default()` is a working
/// configuration: an in-memory server on `127.0.0.1:7443`. Tests usually
/// want [`ServerConfig::for_tests`] (in memory, port 0).
///
/// ```
/// use std::time::Duration;
/// use iotcs_server::ServerConfig;
///
/// let config = ServerConfig::default()
///     .data_dir("/tmp/iotcs-data")
///     .listen("127.0.0.1:0".parse().unwrap())
///     .long_poll_limit(Duration::from_secs(5));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) listen: SocketAddr,
    pub(crate) models_dir: Option<PathBuf>,
    pub(crate) admin_password: Option<String>,
    pub(crate) ephemeral: bool,
    pub(crate) long_poll_limit: Duration,
    pub(crate) token_lifetime: Duration,
    pub(crate) request_expiry: Duration,
    pub(crate) max_messages: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) storage_quota: u64,
    pub(crate) storage_token_lifetime: Duration,
    pub(crate) storage_host: Option<String>,
}

/// Every setting but the admin password, which shows as `Some("<hidden>")`.
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("models_dir", &self.models_dir)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<hidden>"),
            )
            .field("ephemeral", &self.ephemeral)
            .field("long_poll_limit", &self.long_poll_limit)
            .field("token_lifetime", &self.token_lifetime)
            .field("request_expiry", &self.request_expiry)
            .field("max_messages", &self.max_messages)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_dir: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 7443)),
            models_dir: None,
            admin_password: None,
            ephemeral: false,
            long_poll_limit: Duration::from_secs(20),
            token_lifetime: Duration::from_secs(3600),
            request_expiry: Duration::from_secs(600),
            max_messages: 50_000,
            max_body_bytes: 1024 * 1024,
            storage_quota: 4 * 1024 * 1024 * 1024,
            storage_token_lifetime: Duration::from_secs(3600),
            storage_host: None,
        }
    }
}

impl ServerConfig {
    /// An in-memory server on `127.0.0.1:0` with a 2-second long-poll limit:
    /// what an in-process test wants. Add [`data_dir`](Self::data_dir) to test
    /// persistence.
    pub fn for_tests() -> Self {
        ServerConfig::default()
            .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
            .long_poll_limit(Duration::from_secs(2))
    }

    /// Where certificates, the admin password, `server.json` and the database
    /// live. Defaults to none: nothing is written anywhere, the CA is made
    /// fresh on each start and the state lives in memory only.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The address to listen on. Defaults to `127.0.0.1:7443`; port 0 picks a
    /// free port ([`ServerHandle::url`](crate::ServerHandle::url) tells which).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// A directory whose `*.json` files are device models to load at start,
    /// in addition to the built-in ones. Defaults to none.
    pub fn models_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.models_dir = Some(dir.into());
        self
    }

    /// The admin password (HTTP Basic, user `admin`). Defaults to the one in
    /// `DATA_DIR/admin-password`, generated at first start.
    pub fn admin_password(mut self, password: impl Into<String>) -> Self {
        self.admin_password = Some(password.into());
        self
    }

    /// Keep devices, models, messages and requests in memory only, even with a
    /// data directory (which still holds the certificates and `server.json`).
    /// Nothing is synced to disk then, so answers do not wait for a sync, and
    /// a restart forgets everything. Defaults to false.
    pub fn ephemeral(mut self, ephemeral: bool) -> Self {
        self.ephemeral = ephemeral;
        self
    }

    /// How long a long poll (`POST /messages?iot.sync`) is held when nothing
    /// is pending before it is answered with `[]`. Defaults to 20 s.
    pub fn long_poll_limit(mut self, limit: Duration) -> Self {
        self.long_poll_limit = limit;
        self
    }

    /// How long an access token is valid. Defaults to 1 h. The token response
    /// states it in milliseconds, as Oracle's cloud did.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How long a request to a device may stay undelivered or unanswered
    /// before its status becomes `EXPIRED`. Defaults to 10 min.
    pub fn request_expiry(mut self, expiry: Duration) -> Self {
        self.request_expiry = expiry;
        self
    }

    /// How many messages (both directions) are kept; the oldest are dropped
    /// beyond that. Defaults to 50 000.
    pub fn max_messages(mut self, max: usize) -> Self {
        self.max_messages = max.max(1);
        self
    }

    /// The largest request body accepted; larger ones get 413. Defaults to
    /// 1 MiB.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// The most bytes the storage service keeps: all objects plus the uploads
    /// in progress. An upload that would go over is refused with 413 (as soon
    /// as its `Content-Length` says so, or when its bytes reach the limit).
    /// Defaults to 4 GiB.
    pub fn storage_quota(mut self, bytes: u64) -> Self {
        self.storage_quota = bytes;
        self
    }

    /// How long a storage token (`authToken` of `GET
    /// /iot/api/v2/provisioner/storage`, sent back as `X-Auth-Token`) is
    /// valid; after that the storage service answers 401 and the device
    /// fetches a new one. Defaults to 1 h (Oracle's JS library refreshes
    /// its token every 30 min anyway).
    pub fn storage_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.storage_token_lifetime = lifetime;
        self
    }

    /// The host name in the storage container URL the server hands out
    /// (`https://HOST:PORT/v1/Storage-iotcs/iotcs`); the server certificate
    /// is then valid for it too. Oracle's libraries take a URI for a storage
    /// object only if its host contains `storage.oraclecloud.com`, so a test
    /// that lets them download from this server sets e.g.
    /// `storage.oraclecloud.com.localhost` and resolves it to the listen
    /// address. Defaults to none: the listen address, as in
    /// [`ServerHandle::url`](crate::ServerHandle::url).
    pub fn storage_host(mut self, host: impl Into<String>) -> Self {
        self.storage_host = Some(host.into());
        self
    }

    /// Whether the state is kept in memory only: asked for, or no data directory.
    pub(crate) fn in_memory(&self) -> bool {
        self.ephemeral || self.data_dir.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_docs() {
        let c = ServerConfig::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7443");
        assert_eq!(c.long_poll_limit, Duration::from_secs(20));
        assert_eq!(c.token_lifetime, Duration::from_secs(3600));
        assert!(c.in_memory(), "no data dir means in memory");
        assert!(c.data_dir.is_none());
    }

    #[test]
    fn debug_hides_the_admin_password() {
        let c = ServerConfig::for_tests().admin_password("hunter2");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("<hidden>") && shown.contains("max_body_bytes"),
            "{shown}"
        );
    }

    #[test]
    fn setters_chain() {
        let c = ServerConfig::for_tests()
            .data_dir("/x")
            .ephemeral(false)
            .max_messages(0);
        assert_eq!(c.listen.port(), 0);
        assert!(!c.in_memory());
        assert_eq!(c.max_messages, 1, "a cap of zero is raised to one");
        assert!(
            ServerConfig::for_tests()
                .data_dir("/x")
                .ephemeral(true)
                .in_memory()
        );
    }
}
