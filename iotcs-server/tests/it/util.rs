//! The harness: a server started in-process on `127.0.0.1:0`, a raw HTTPS
//! client that trusts only its CA, and `TestDevice`, which does what a device
//! does (token, activation, messages) with `iotcs-core`, because the SDK
//! client does not exist yet.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iotcs_core::__private::crypto::RsaKeyPair;
use iotcs_core::__private::crypto::activation::{ActivationPolicy, DirectActivationRequest};
use iotcs_core::__private::crypto::jwt;
use iotcs_core::__private::to_json_array;
use iotcs_core::TrustedAssets;
use iotcs_core::message::Message;
use iotcs_server::{AdminClient, DeviceRegistration, Server, ServerConfig, ServerHandle};
use serde_json::Value;
use tempfile::TempDir;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

pub(crate) const TEMPERATURE: &str = iotcs_core::model::samples::TEMPERATURE_SENSOR_URN;
pub(crate) const HUMIDITY: &str = iotcs_core::model::samples::HUMIDITY_SENSOR_URN;
pub(crate) const PASSPHRASE: &str = "changeit";

/// Epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Epoch seconds.
pub(crate) fn now_secs() -> i64 {
    now_ms() / 1000
}

/// A running server with its data directory and admin client.
pub(crate) struct TestServer {
    pub(crate) server: ServerHandle,
    pub(crate) admin: AdminClient,
    pub(crate) dir: TempDir,
}

impl TestServer {
    /// An in-memory server on port 0 (certificates under a temp dir).
    pub(crate) fn start(name: &str) -> TestServer {
        TestServer::with(name, |c| c)
    }

    /// A server whose config `tweak` adjusts (the data dir is set already).
    pub(crate) fn with(name: &str, tweak: impl FnOnce(ServerConfig) -> ServerConfig) -> TestServer {
        let logger = env_logger::builder().is_test(true).build();
        let max_level = logger.filter();
        let _ = iotcs_core::logging::install(logger, max_level);
        let dir = TempDir::with_prefix(name).unwrap();
        let config = tweak(
            ServerConfig::for_tests()
                .data_dir(dir.path())
                .ephemeral(true),
        );
        let server = Server::start(config).unwrap();
        let admin = server.admin().unwrap();
        TestServer { server, admin, dir }
    }

    /// A raw HTTPS client for this server.
    pub(crate) fn http(&self) -> Http {
        Http::new(&self.server)
    }

    /// Registers a device and returns it ready to activate.
    pub(crate) fn device(&self, hardware_id: &str) -> TestDevice {
        TestDevice::provision(self, DeviceRegistration::new(hardware_id))
    }

    /// Registers, activates with `models` and fetches an RS256 token.
    pub(crate) fn activated(&self, hardware_id: &str, models: &[&str]) -> TestDevice {
        let mut d = self.device(hardware_id);
        d.activate(models);
        d
    }

    /// How many messages the server stores in total.
    pub(crate) fn message_count(&self) -> usize {
        self.admin
            .messages(&iotcs_server::MessageFilter::new())
            .unwrap()
            .len()
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status, showing the body otherwise.
    #[track_caller]
    pub(crate) fn expect(self, status: u16) -> Resp {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

/// A raw HTTPS client trusting only the server's CA.
#[derive(Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    pub(crate) fn new(server: &ServerHandle) -> Http {
        let roots = RootCerts::new_with_certs(&[Certificate::from_der(server.ca_der()).to_owned()]);
        let tls = TlsConfig::builder()
            .root_certs(roots)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Http {
            agent,
            base: server.url().to_owned(),
        }
    }

    /// The agent (TLS trusting only the server's CA), for streamed bodies.
    pub(crate) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// Sends a request; `body` None sends none.
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        self.try_send(method, path, headers, body).unwrap()
    }

    pub(crate) fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Resp, ureq::Error> {
        let url = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let mut response = match body {
            Some(b) => self.agent.run(builder.body(b.to_vec()).unwrap())?,
            None => self.agent.run(builder.body(()).unwrap())?,
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response.body_mut().read_to_vec()?;
        Ok(Resp {
            status,
            headers,
            body,
        })
    }
}

/// A form body for the token endpoint, built the way Oracle's Node client
/// does (no percent-encoding of the values except `:`).
pub(crate) fn token_form(assertion: &str, scope: &str) -> String {
    format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}&scope={scope}"
    )
}

/// A device driven by hand with `iotcs-core`.
pub(crate) struct TestDevice {
    pub(crate) http: Http,
    pub(crate) assets: TrustedAssets,
    pub(crate) id: String,
    pub(crate) key: Option<RsaKeyPair>,
    pub(crate) token: Option<String>,
}

impl TestDevice {
    /// Registers and reads the provisioning file back, as a device would.
    pub(crate) fn provision(server: &TestServer, registration: DeviceRegistration) -> TestDevice {
        let (info, file) = server.admin.provision(&registration, PASSPHRASE).unwrap();
        let assets = TrustedAssets::decode(&file, PASSPHRASE).unwrap();
        assert_eq!(assets.server_uri(), server.server.url());
        assert_eq!(assets.trust_anchors(), &[server.server.ca_der().to_vec()]);
        TestDevice {
            http: server.http(),
            assets,
            id: info.id().to_owned(),
            key: None,
            token: None,
        }
    }

    pub(crate) fn hardware_id(&self) -> &str {
        self.assets.client_id()
    }

    /// POSTs a token request; returns the raw answer.
    pub(crate) fn request_token(&self, assertion: &str, scope: &str) -> Resp {
        let form = token_form(assertion, scope);
        self.http.send(
            "POST",
            "/iot/api/v2/oauth2/token",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
            Some(form.as_bytes()),
        )
    }

    /// An activation-scope token (HS256 with the shared secret).
    pub(crate) fn activation_token(&self) -> String {
        let a = jwt::client_assertion_hs256(
            self.hardware_id(),
            self.assets.shared_secret(),
            now_secs() + 900,
        );
        let r = self.request_token(&a, "oracle/iot/activation").expect(200);
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// Policy, key, signed direct activation, then an RS256 token.
    pub(crate) fn activate(&mut self, models: &[&str]) {
        let token = self.activation_token();
        let auth = format!("Bearer {token}");
        let hw = self.hardware_id().to_owned();
        let headers = [
            ("Authorization", auth.as_str()),
            ("X-ActivationId", hw.as_str()),
        ];
        let policy = self.http.send(
            "GET",
            "/iot/api/v2/activation/policy?OSName=Linux&OSVersion=6",
            &headers,
            None,
        );
        let policy: ActivationPolicy = serde_json::from_slice(&policy.expect(200).body).unwrap();
        let key = RsaKeyPair::generate(policy.key_size).unwrap();
        let models: Vec<String> = models.iter().map(|s| (*s).to_owned()).collect();
        let req =
            DirectActivationRequest::new(&hw, self.assets.shared_secret(), &key, models, &policy)
                .unwrap();
        let body = serde_json::to_vec(&req).unwrap();
        let r = self.http.send(
            "POST",
            "/iot/api/v2/activation/direct?createDraft=false",
            &headers,
            Some(&body),
        );
        let endpoint = r.expect(200).json()["endpointId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(endpoint, self.id);
        self.assets
            .set_activation(&endpoint, key.pkcs8_der(), key.public_key_der());
        self.key = Some(key);
        self.refresh_token();
    }

    /// An RS256 assertion for this activated device.
    pub(crate) fn rs256_assertion(&self, exp_secs: i64) -> String {
        jwt::client_assertion_rs256(&self.id, self.key.as_ref().unwrap(), exp_secs).unwrap()
    }

    /// Fetches a new device token.
    pub(crate) fn refresh_token(&mut self) {
        let r = self
            .request_token(&self.rs256_assertion(now_secs() + 900), "")
            .expect(200);
        self.token = Some(r.json()["access_token"].as_str().unwrap().to_owned());
    }

    /// The device's identity headers.
    pub(crate) fn auth(&self) -> String {
        format!("Bearer {}", self.token.as_deref().unwrap())
    }

    /// A device-API call with this device's token and endpoint id.
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
        let auth = self.auth();
        let headers = [
            ("Authorization", auth.as_str()),
            ("X-EndpointId", self.id.as_str()),
            ("Content-Type", "application/json"),
        ];
        self.http.send(method, path, &headers, body)
    }

    /// POSTs messages (`query` like `?acceptBytes=4190`).
    pub(crate) fn post(&self, messages: &[Message], query: &str) -> Resp {
        let body = to_json_array(messages);
        self.call(
            "POST",
            &format!("/iot/api/v2/messages{query}"),
            Some(body.as_bytes()),
        )
    }

    /// Starts a long poll (`POST /messages?acceptBytes=4190&iot.sync{extra}`
    /// with `[]`) on another thread.
    pub(crate) fn long_poll(&self, extra: &str) -> std::thread::JoinHandle<Resp> {
        let http = self.http.clone();
        let auth = self.auth();
        let id = self.id.clone();
        let path = format!("/iot/api/v2/messages?acceptBytes=4190&iot.sync{extra}");
        std::thread::spawn(move || {
            let headers = [
                ("Authorization", auth.as_str()),
                ("X-EndpointId", id.as_str()),
            ];
            http.send("POST", &path, &headers, Some(b"[]"))
        })
    }

    /// A DATA message of the temperature model's attributes.
    pub(crate) fn temperature(&self, source: &str, temp: f64) -> Message {
        Message::data(
            source,
            format!("{TEMPERATURE}:attributes"),
            [("temp", temp)],
            now_ms(),
        )
        .unwrap()
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes.
#[track_caller]
pub(crate) fn eventually<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A reader of `len` pseudo-random bytes that hashes what it hands out, so a
/// large body never exists in memory (the storage tests and bench).
pub(crate) struct Generated {
    left: u64,
    state: u64,
    pub(crate) md5: md5::Md5,
}

impl Generated {
    pub(crate) fn new(len: u64, seed: u64) -> Self {
        use md5::Digest;
        Generated {
            left: len,
            state: seed,
            md5: md5::Md5::new(),
        }
    }
}

impl std::io::Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use md5::Digest;
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for chunk in buf[..n].chunks_mut(8) {
            self.state = self
                .state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let bytes = self.state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        self.md5.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}
