//! The storage cloud's address and credentials: `GET
//! /iot/api/v2/provisioner/storage` (device token) answers the container URL
//! and a storage token. Fetched lazily, at the first storage object, and
//! again every 30 minutes and after a 401 from the storage cloud (protocol
//! §9.1: Node refreshes every 30 min and on 401).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iotcs_core::__private::protocol::Endpoint;
use iotcs_core::Error;
use serde::Deserialize;

use crate::cloud::rest::{RestClient, transport_error};
use crate::cloud::transport::HttpRequest;

/// How long a storage token is used before a new one is fetched.
pub(crate) const TOKEN_PERIOD: Duration = Duration::from_secs(30 * 60);

/// Where objects go and the token they go with.
#[derive(Clone)]
pub(crate) struct Grant {
    /// `https://host:port/v1/<account>/<container>`, no trailing slash.
    pub(crate) container_url: String,
    /// The `X-Auth-Token` value.
    pub(crate) token: String,
    fetched_at: Instant,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("container_url", &self.container_url)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Grant {
    /// Whether the grant is still to be used at `now`.
    pub(crate) fn is_fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.fetched_at) < TOKEN_PERIOD
    }
}

/// The answer of the provisioner call.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    storage_container_url: String,
    auth_token: String,
}

/// Reads the provisioner's answer, checking what the transfers rely on: an
/// https container URL (our storage TLS is the cloud's) and a token.
///
/// # Errors
///
/// [`Error::Protocol`] naming what is wrong.
pub(crate) fn parse_grant(body: &[u8], now: Instant) -> Result<Grant, Error> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        Error::protocol(format!(
            "the storage provisioner's answer is not a container and token: {e}"
        ))
    })?;
    let url = answer.storage_container_url.trim_end_matches('/');
    if !url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        || url.len() <= 8
    {
        return Err(Error::protocol(format!(
            "the storage container url {url:?} is not an https url"
        )));
    }
    if answer.auth_token.is_empty() {
        return Err(Error::protocol(
            "the storage provisioner answered an empty token",
        ));
    }
    Ok(Grant {
        container_url: url.to_owned(),
        token: answer.auth_token,
        fetched_at: now,
    })
}

/// The current grant, shared by the transfers and `create_storage_object`.
#[derive(Debug)]
pub(crate) struct Authority {
    rest: Arc<RestClient>,
    current: Mutex<Option<Grant>>,
}

impl Authority {
    pub(crate) fn new(rest: Arc<RestClient>) -> Self {
        Authority {
            rest,
            current: Mutex::new(None),
        }
    }

    /// The grant in force, fetched if there is none or it is 30 minutes old.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] when the cloud refuses, [`Error::Network`] /
    /// [`Error::Security`] when it cannot be asked, [`Error::Protocol`] for
    /// an answer without container or token.
    pub(crate) fn grant(&self) -> Result<Grant, Error> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some(grant) = current.as_ref().filter(|g| g.is_fresh(now)) {
            return Ok(grant.clone());
        }
        let grant = self.fetch()?;
        *current = Some(grant.clone());
        Ok(grant)
    }

    /// Forgets `refused` (the storage cloud answered 401 to it), unless a
    /// newer grant replaced it already, and returns the grant to retry with.
    ///
    /// # Errors
    ///
    /// As [`Authority::grant`].
    pub(crate) fn refresh(&self, refused: &Grant) -> Result<Grant, Error> {
        {
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            if current.as_ref().is_some_and(|g| g.token == refused.token) {
                *current = None;
            }
        }
        self.grant()
    }

    fn fetch(&self) -> Result<Grant, Error> {
        let endpoint = Endpoint::ProvisionerStorage;
        let path = endpoint.path();
        let response = self.rest.call(HttpRequest::get(path.clone()))?;
        if response.status != 200 {
            return Err(transport_error(endpoint.method(), &path, &response));
        }
        parse_grant(&response.body, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_read_and_checked() {
        let now = Instant::now();
        let grant = parse_grant(
            br#"{"storageContainerUrl":"https://127.0.0.1:9/v1/acct/c/","authToken":"t"}"#,
            now,
        )
        .expect("valid");
        assert_eq!(grant.container_url, "https://127.0.0.1:9/v1/acct/c");
        assert!(grant.is_fresh(now + Duration::from_secs(60)));
        assert!(!grant.is_fresh(now + TOKEN_PERIOD));
        assert!(!format!("{grant:?}").contains("\"t\""));
        for bad in [
            r#"{"storageContainerUrl":"http://h:1/v1/a/c","authToken":"t"}"#,
            r#"{"storageContainerUrl":"https://h:1/v1/a/c","authToken":""}"#,
            r#"{"authToken":"t"}"#,
            "not json",
        ] {
            let e = parse_grant(bad.as_bytes(), now).expect_err(bad);
            assert!(matches!(e, Error::Protocol { .. }), "{bad}: {e}");
        }
    }
}
