//! HTTPS to the storage cloud, streamed: bodies go out from a reader and
//! come back as a reader, so no transfer holds a file in memory. The agent
//! trusts the provisioning file's anchors, as the cloud's transport does:
//! the storage service of the local cloud (and of a private deployment) is
//! served under the same CA, and a device trusts nothing else.

use std::fmt;
use std::io::Read;

use iotcs_core::{Config, Error};

use crate::cloud::transport::{HttpSettings, proxy, tls_config};

/// A storage answer's status and headers (names lower-cased).
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (lower-case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The storage cloud's HTTPS client.
pub(crate) struct StorageHttp {
    agent: ureq::Agent,
}

impl fmt::Debug for StorageHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageHttp").finish_non_exhaustive()
    }
}

impl StorageHttp {
    /// A client trusting `trust_anchors` (DER), with `[http]`'s timeouts
    /// applied per read and per write (a transfer may take long as a whole,
    /// a stalled connection may not) and `[media_storage] proxy`.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] without trust anchors; [`Error::Config`] for an
    /// unusable proxy.
    pub(crate) fn new(trust_anchors: &[Vec<u8>], config: &Config) -> Result<Self, Error> {
        let tls = tls_config(trust_anchors, "the storage cloud")?;
        let mut settings = HttpSettings::from_config(config);
        settings.proxy = config.media_storage.proxy.clone();
        let proxy = proxy(&settings).map_err(|e| match e {
            Error::Config { value, reason, .. } => Error::Config {
                section: "media_storage".into(),
                key: "proxy".into(),
                value,
                reason,
            },
            other => other,
        })?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(true)
            .tls_config(tls)
            .proxy(proxy)
            .max_redirects(0)
            .user_agent(concat!("iotcs-device/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(settings.connect_timeout)
            .timeout_per_read(settings.response_timeout)
            .timeout_per_write(settings.response_timeout)
            .build()
            .new_agent();
        Ok(StorageHttp { agent })
    }

    /// `PUT url` with `headers` and the body read from `body` (chunked).
    ///
    /// # Errors
    ///
    /// [`Error::Network`] / [`Error::Timeout`] when no answer arrives, and
    /// the reader's error when the file cannot be read.
    pub(crate) fn put(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &mut dyn Read,
    ) -> Result<Head, Error> {
        // A storage cloud that refuses (401 for a stale token, 413 over
        // quota) answers before the body; without `Expect` the refusal races
        // the upload and may arrive as a broken pipe instead of a status.
        let mut request = self.agent.put(url).header("Expect", "100-continue");
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .send(ureq::SendBody::from_reader(body))
            .map_err(|e| network_error("PUT", url, e))?;
        Ok(head_of(&response))
    }

    /// `HEAD url` with `headers`.
    ///
    /// # Errors
    ///
    /// As [`StorageHttp::put`].
    pub(crate) fn head(&self, url: &str, headers: &[(String, String)]) -> Result<Head, Error> {
        let mut request = self.agent.head(url);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.call().map_err(|e| network_error("HEAD", url, e))?;
        Ok(head_of(&response))
    }

    /// `GET url` with `headers`; the body is read from the returned reader.
    ///
    /// # Errors
    ///
    /// As [`StorageHttp::put`].
    pub(crate) fn get(
        &self,
        url: &str,
        headers: &[(String, String)],
    ) -> Result<(Head, impl Read + use<>), Error> {
        let mut request = self.agent.get(url);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.call().map_err(|e| network_error("GET", url, e))?;
        let head = head_of(&response);
        let reader = response
            .into_body()
            .into_with_config()
            .limit(u64::MAX)
            .reader();
        Ok((head, reader))
    }

    /// Interrupts every request in flight and refuses new ones: `close`.
    pub(crate) fn shutdown(&self) {
        self.agent.clone().shutdown();
    }
}

fn head_of(response: &ureq::http::Response<ureq::Body>) -> Head {
    Head {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .filter_map(|(n, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (n.as_str().to_ascii_lowercase(), v.to_owned()))
            })
            .collect(),
    }
}

/// The storage URL without its query, for error messages.
fn path_of(url: &str) -> &str {
    url.split_once('?').map_or(url, |(p, _)| p)
}

fn network_error(method: &str, url: &str, e: ureq::Error) -> Error {
    match e {
        ureq::Error::Timeout(which) => Error::Timeout {
            operation: format!("{method} {} ({which})", path_of(url)),
        },
        ureq::Error::Io(io) => Error::Network {
            reason: format!("{method} {} failed", path_of(url)),
            source: Some(std::sync::Arc::new(io)),
        },
        other => Error::Network {
            reason: format!("{method} {} failed", path_of(url)),
            source: Some(std::sync::Arc::new(other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_proxy_is_media_storages_and_errors_name_it() {
        let anchors = vec![vec![0u8; 4]];
        let mut config = Config::default();
        config.media_storage.proxy = Some("not a url at all".into());
        let e = StorageHttp::new(&anchors, &config).expect_err("unusable proxy");
        assert!(
            matches!(&e, Error::Config { section, key, .. } if section == "media_storage" && key == "proxy"),
            "{e}"
        );
        // `[http] proxy` is the cloud's, not the storage's.
        let mut config = Config::default();
        config.http.proxy = Some("not a url at all".into());
        StorageHttp::new(&anchors, &config).expect("no storage proxy");
        config.media_storage.proxy = Some("http://proxy.example.com:9090/".into());
        StorageHttp::new(&anchors, &config).expect("a usable storage proxy");
        assert!(matches!(
            StorageHttp::new(&[], &Config::default()),
            Err(Error::Security { .. })
        ));
    }
}
