//! [`AdminClient`]: a blocking client for the admin API, used by tests, the
//! examples and `iotcs-server provision`. It trusts only the server's CA.
//! The values it sends and returns are in `types`.

mod policies;
mod storage;
mod types;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iotcs_core::__private::encoding::base64_encode;
use iotcs_core::Error;
use serde_json::{Value, json};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::http::percent_encode;
use crate::state::RequestStatus;

pub use policies::PolicyInfo;
pub use storage::StorageObjectInfo;
pub use types::{
    DeviceInfo, DeviceRegistration, Fault, MessageFilter, ReceivedMessage, RequestInfo,
};

/// How often the `wait_for_*` helpers poll.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// A blocking client for the admin API of one server.
///
/// ```
/// use iotcs_server::{DeviceRegistration, Server, ServerConfig};
///
/// let server = Server::start(ServerConfig::for_tests())?;
/// let admin = server.admin()?;
/// let device = admin.register_device(&DeviceRegistration::new("sensor-1").shared_secret("s3cr3t"))?;
/// assert_eq!(device.hardware_id(), "sensor-1");
/// let store = admin.provisioning_file(device.id(), "changeit")?;
/// assert_eq!(store[0], b'!');
/// # Ok::<(), iotcs_core::Error>(())
/// ```
#[derive(Clone)]
pub struct AdminClient {
    agent: ureq::Agent,
    base: String,
    authorization: String,
}

impl fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn network(e: ureq::Error) -> Error {
    Error::Network {
        reason: e.to_string(),
        source: Some(std::sync::Arc::new(e)),
    }
}

pub(crate) fn bad_answer(what: &str, detail: impl fmt::Display) -> Error {
    Error::protocol(format!("unexpected admin API answer ({what}): {detail}"))
}

impl AdminClient {
    /// A client for the server at `url` (`https://HOST:PORT`) whose CA is
    /// `ca_der`, authenticating as `admin` with `admin_password`.
    ///
    /// # Errors
    ///
    /// None today (the connection is made per request); the `Result` leaves
    /// room for validating the certificate up front.
    pub fn new(url: &str, ca_der: &[u8], admin_password: &str) -> Result<AdminClient, Error> {
        let roots = RootCerts::new_with_certs(&[Certificate::from_der(ca_der).to_owned()]);
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
        let credentials = base64_encode(format!("admin:{admin_password}").as_bytes());
        Ok(AdminClient {
            agent,
            base: url.trim_end_matches('/').to_owned(),
            authorization: format!("Basic {credentials}"),
        })
    }

    /// As [`AdminClient::new`], with the CA given as PEM (e.g. `DATA_DIR/ca.pem`).
    ///
    /// # Errors
    ///
    /// [`Error::Security`] if `ca_pem` holds no certificate.
    pub fn from_pem(url: &str, ca_pem: &str, admin_password: &str) -> Result<AdminClient, Error> {
        let cert = Certificate::from_pem(ca_pem.as_bytes())
            .map_err(|e| Error::security(format!("the CA PEM holds no certificate: {e}")))?;
        AdminClient::new(url, cert.der(), admin_password)
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Sends a request; returns the status and body of a 2xx answer.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>), Error> {
        let url = format!("{}{path}", self.base);
        let auth = self.authorization.as_str();
        let result = match (method, body) {
            // Resource requests may carry a body with any method.
            ("GET", Some(b)) => self
                .agent
                .get(&url)
                .header("Authorization", auth)
                .force_send_body()
                .send_json(b),
            ("DELETE", Some(b)) => self
                .agent
                .delete(&url)
                .header("Authorization", auth)
                .force_send_body()
                .send_json(b),
            ("GET", _) => self.agent.get(&url).header("Authorization", auth).call(),
            ("DELETE", _) => self.agent.delete(&url).header("Authorization", auth).call(),
            ("PUT", Some(b)) => self
                .agent
                .put(&url)
                .header("Authorization", auth)
                .send_json(b),
            ("POST", Some(b)) => self
                .agent
                .post(&url)
                .header("Authorization", auth)
                .send_json(b),
            ("PATCH", Some(b)) => self
                .agent
                .patch(&url)
                .header("Authorization", auth)
                .send_json(b),
            _ => self
                .agent
                .post(&url)
                .header("Authorization", auth)
                .send_empty(),
        };
        let mut response = result.map_err(network)?;
        let status = response.status().as_u16();
        let bytes = response.body_mut().read_to_vec().map_err(network)?;
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&bytes);
            let body: String = text.chars().take(500).collect();
            return Err(Error::Transport {
                status,
                method: method.to_owned(),
                path: path.to_owned(),
                body,
            });
        }
        Ok((status, bytes))
    }

    fn call_json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        let (_, bytes) = self.call(method, path, body)?;
        serde_json::from_slice(&bytes).map_err(|e| bad_answer(path, e))
    }

    fn items(&self, path: &str) -> Result<Vec<Value>, Error> {
        match self.call_json("GET", path, None)? {
            Value::Object(mut m) => match m.remove("items") {
                Some(Value::Array(items)) => Ok(items),
                _ => Err(bad_answer(path, "no items array")),
            },
            _ => Err(bad_answer(path, "not an object")),
        }
    }

    /// Registers a device (`POST /iot/api/v2/devices`).
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with status 409 if the hardware id is taken, 400
    /// if the registration is invalid; [`Error::Network`] if the server cannot
    /// be reached.
    pub fn register_device(&self, registration: &DeviceRegistration) -> Result<DeviceInfo, Error> {
        DeviceInfo::from_json(self.call_json(
            "POST",
            "/iot/api/v2/devices",
            Some(&registration.to_json()),
        )?)
    }

    /// The device with this id.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with status 404 if there is none.
    pub fn device(&self, id: &str) -> Result<DeviceInfo, Error> {
        DeviceInfo::from_json(self.call_json(
            "GET",
            &format!("/iot/api/v2/devices/{}", percent_encode(id)),
            None,
        )?)
    }

    /// The device with this hardware id, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] or [`Error::Transport`] if the query fails.
    pub fn device_by_hardware_id(&self, hardware_id: &str) -> Result<Option<DeviceInfo>, Error> {
        let path = format!(
            "/iot/api/v2/devices?hardwareId={}",
            percent_encode(hardware_id)
        );
        self.items(&path)?
            .into_iter()
            .next()
            .map(DeviceInfo::from_json)
            .transpose()
    }

    /// Every device.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] or [`Error::Transport`] if the query fails.
    pub fn devices(&self) -> Result<Vec<DeviceInfo>, Error> {
        self.items("/iot/api/v2/devices")?
            .into_iter()
            .map(DeviceInfo::from_json)
            .collect()
    }

    /// Deletes a device, so its hardware id can be registered again; a
    /// gateway's indirectly activated devices go with it. Returns the
    /// hardware ids deleted.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with status 404 for an unknown device.
    pub fn delete_device(&self, id: &str) -> Result<Vec<String>, Error> {
        let path = format!("/iot/api/v2/devices/{}", percent_encode(id));
        let answer = self.call_json("DELETE", &path, None)?;
        let deleted = answer["deleted"]
            .as_array()
            .ok_or_else(|| bad_answer(&path, "no deleted array"))?;
        Ok(deleted
            .iter()
            .filter_map(|h| h.as_str().map(str::to_owned))
            .collect())
    }

    /// The provisioning file (unified trusted assets store) of a device,
    /// encrypted with `passphrase`.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with status 404 for an unknown device, 409 for a
    /// device without a shared secret.
    pub fn provisioning_file(&self, id: &str, passphrase: &str) -> Result<Vec<u8>, Error> {
        let path = format!(
            "/iot/api/v2/devices/{}/provisioningFile",
            percent_encode(id)
        );
        Ok(self
            .call("POST", &path, Some(&json!({"passphrase": passphrase})))?
            .1)
    }

    /// Registers a device and returns it with its provisioning file.
    ///
    /// # Errors
    ///
    /// As [`AdminClient::register_device`] and [`AdminClient::provisioning_file`].
    pub fn provision(
        &self,
        registration: &DeviceRegistration,
        passphrase: &str,
    ) -> Result<(DeviceInfo, Vec<u8>), Error> {
        let device = self.register_device(registration)?;
        let file = self.provisioning_file(device.id(), passphrase)?;
        Ok((device, file))
    }

    /// Uploads a device model (`POST /iot/api/v2/deviceModels`).
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with status 400 for an invalid model, 409 if the
    /// URN exists (other than as a draft).
    pub fn upload_model(&self, model: &Value) -> Result<(), Error> {
        self.call("POST", "/iot/api/v2/deviceModels", Some(model))
            .map(|_| ())
    }

    /// The device model with this URN, if the server has it.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] or [`Error::Transport`] (other than 404).
    pub fn model(&self, urn: &str) -> Result<Option<Value>, Error> {
        match self.call_json(
            "GET",
            &format!("/iot/api/v2/deviceModels/{}", percent_encode(urn)),
            None,
        ) {
            Ok(v) => Ok(Some(v)),
            Err(Error::Transport { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stored messages matching `filter`, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] or [`Error::Transport`] if the query fails.
    pub fn messages(&self, filter: &MessageFilter) -> Result<Vec<ReceivedMessage>, Error> {
        let path = format!("/iot/api/v2/messages{}", filter.query());
        self.items(&path)?
            .into_iter()
            .map(ReceivedMessage::from_json)
            .collect()
    }

    /// Polls until at least `count` messages match `filter`, and returns them.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if fewer match after `timeout`; otherwise as
    /// [`AdminClient::messages`].
    pub fn wait_for_messages(
        &self,
        filter: &MessageFilter,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.messages(filter)?;
            if found.len() >= count {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    operation: format!(
                        "waiting for {count} messages ({filter:?}), found {}",
                        found.len()
                    ),
                });
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    fn device_model_path(device_id: &str, urn: &str) -> String {
        format!(
            "/iot/api/v2/devices/{}/deviceModels/{}",
            percent_encode(device_id),
            percent_encode(urn)
        )
    }

    fn request_id(&self, method: &str, path: &str, body: &Value) -> Result<String, Error> {
        let answer = self.call_json(method, path, Some(body))?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad_answer(path, "no request id"))
    }

    /// Queues a request setting one attribute (`PUT .../attributes/{name}`);
    /// returns the request id.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`]: 400 if the attribute is read-only or the value
    /// has the wrong type or range, 404 for an unknown device, model or
    /// attribute, 409 if the device is not activated.
    pub fn set_attribute(
        &self,
        device_id: &str,
        urn: &str,
        attribute: &str,
        value: Value,
    ) -> Result<String, Error> {
        let path = format!(
            "{}/attributes/{}",
            Self::device_model_path(device_id, urn),
            percent_encode(attribute)
        );
        self.request_id("PUT", &path, &json!({"value": value}))
    }

    /// Queues a request setting several attributes at once (sent to the
    /// device as PATCH); `values` is an object `{"name": value, ...}`.
    ///
    /// # Errors
    ///
    /// As [`AdminClient::set_attribute`].
    pub fn set_attributes(
        &self,
        device_id: &str,
        urn: &str,
        values: &Value,
    ) -> Result<String, Error> {
        let path = format!("{}/attributes", Self::device_model_path(device_id, urn));
        self.request_id("POST", &path, values)
    }

    /// Queues an action invocation, with its argument if it takes one.
    ///
    /// # Errors
    ///
    /// As [`AdminClient::set_attribute`], for the action and its argument.
    pub fn invoke_action(
        &self,
        device_id: &str,
        urn: &str,
        action: &str,
        value: Option<Value>,
    ) -> Result<String, Error> {
        let path = format!(
            "{}/actions/{}",
            Self::device_model_path(device_id, urn),
            percent_encode(action)
        );
        let body = value.map_or_else(|| json!({}), |v| json!({"value": v}));
        self.request_id("POST", &path, &body)
    }

    /// Queues a request to any resource of a device (Oracle's enterprise
    /// form `devices/{id}/resources/{path}`), e.g. a capability resource such
    /// as `deviceModels/urn:oracle:iot:dcd:capability:diagnostics/info`; the
    /// device receives `method`, url `path` (without a leading slash) and the
    /// JSON `body` (`{}` when `None`). Returns the request id; follow it with
    /// [`AdminClient::wait_for_request`].
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `method` is not `GET`, `PUT`, `POST` or
    /// `DELETE` or `path` is empty; [`Error::Transport`] with status 404 for
    /// an unknown device, 409 if the device is not activated.
    pub fn request_resource(
        &self,
        endpoint_id: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<String, Error> {
        if !matches!(method, "GET" | "PUT" | "POST" | "DELETE") {
            return Err(Error::argument(format!(
                "resource request method {method:?} is not GET, PUT, POST or DELETE"
            )));
        }
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_encode)
            .collect();
        if segments.is_empty() {
            return Err(Error::argument(format!(
                "resource request path {path:?} is empty"
            )));
        }
        let url = format!(
            "/iot/api/v2/devices/{}/resources/{}",
            percent_encode(endpoint_id),
            segments.join("/")
        );
        let empty = json!({});
        let body = match (method, body) {
            // PUT and POST always carry a body so the server sees a JSON
            // request rather than an empty POST.
            ("PUT" | "POST", None) => Some(&empty),
            (_, b) => b,
        };
        let answer = self.call_json(method, &url, body)?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad_answer(&url, "no request id"))
    }

    /// The status of a request to a device.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with status 404 for an unknown request id.
    pub fn request(&self, request_id: &str) -> Result<RequestInfo, Error> {
        let path = format!("/iot/api/v2/requests/{}", percent_encode(request_id));
        RequestInfo::from_json(self.call_json("GET", &path, None)?)
    }

    /// Polls until the request is answered or expired, and returns it.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if it is still open after `timeout`; otherwise as
    /// [`AdminClient::request`].
    pub fn wait_for_request(
        &self,
        request_id: &str,
        timeout: Duration,
    ) -> Result<RequestInfo, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let info = self.request(request_id)?;
            if !matches!(
                info.status(),
                RequestStatus::Received | RequestStatus::Dispatched
            ) {
                return Ok(info);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    operation: format!(
                        "waiting for request {request_id} ({})",
                        info.status().as_str()
                    ),
                });
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// Adds a fault rule for the next device-API requests.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with status 400 if the server refuses the rule.
    pub fn inject_fault(&self, fault: &Fault) -> Result<(), Error> {
        self.call("POST", "/iot/admin/faults", Some(&fault.to_json()))
            .map(|_| ())
    }

    /// Invalidates every access token now.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] or [`Error::Transport`].
    pub fn expire_tokens(&self) -> Result<(), Error> {
        self.call(
            "POST",
            "/iot/admin/faults",
            Some(&json!({"expireTokens": true})),
        )
        .map(|_| ())
    }

    /// The active fault rules, as the server shows them (`status`,
    /// `delayMs`, `drop`, `count`, `path`).
    ///
    /// # Errors
    ///
    /// [`Error::Network`] or [`Error::Transport`].
    pub fn faults(&self) -> Result<Vec<Value>, Error> {
        self.items("/iot/admin/faults")
    }

    /// Removes every fault rule.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] or [`Error::Transport`].
    pub fn clear_faults(&self) -> Result<(), Error> {
        self.call("DELETE", "/iot/admin/faults", None).map(|_| ())
    }
}
