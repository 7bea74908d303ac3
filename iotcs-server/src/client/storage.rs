//! The storage part of [`AdminClient`]: list, fetch and delete stored
//! objects, read the per-object byte counts, and point a device's URI
//! attribute at an object.

use std::collections::BTreeMap;
use std::io::Read;

use iotcs_core::Error;
use serde_json::{Value, json};

use super::{AdminClient, bad_answer, network};
use crate::http::percent_encode;

/// A stored object, as the admin listing shows it.
#[derive(Clone, Debug)]
pub struct StorageObjectInfo {
    json: Value,
}

impl StorageObjectInfo {
    /// The object's name in the container (by convention
    /// `<endpointId>/<name>`).
    pub fn name(&self) -> &str {
        self.json["name"].as_str().unwrap_or_default()
    }

    /// Its length in bytes (0 for a manifest, whose content is its segments').
    pub fn bytes(&self) -> u64 {
        self.json["bytes"].as_u64().unwrap_or_default()
    }

    /// Lower-case hex MD5 of its bytes (its `ETag`).
    pub fn hash(&self) -> &str {
        self.json["hash"].as_str().unwrap_or_default()
    }

    /// Its `Content-Type`.
    pub fn content_type(&self) -> &str {
        self.json["content_type"].as_str().unwrap_or_default()
    }

    /// Its `Content-Encoding`, if the upload had one.
    pub fn content_encoding(&self) -> Option<&str> {
        self.json["content_encoding"].as_str()
    }

    /// Its `X-Object-Meta-*` metadata (keys lower case, without the prefix).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        serde_json::from_value(self.json["metadata"].clone()).unwrap_or_default()
    }

    /// The URL a device reads it from.
    pub fn url(&self) -> &str {
        self.json["url"].as_str().unwrap_or_default()
    }

    /// For a manifest, the prefix of its segments.
    pub fn manifest(&self) -> Option<&str> {
        self.json["manifest"].as_str()
    }
}

impl AdminClient {
    /// The stored objects whose name starts with `prefix`, in name order.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] or [`Error::Transport`].
    pub fn storage_objects(&self, prefix: &str) -> Result<Vec<StorageObjectInfo>, Error> {
        let path = format!(
            "/iot/admin/storage/objects?prefix={}",
            percent_encode(prefix)
        );
        let items = self.items(&path)?;
        Ok(items
            .into_iter()
            .map(|json| StorageObjectInfo { json })
            .collect())
    }

    /// The content of an object (a manifest's: its segments, concatenated),
    /// read whole into memory: for tests and small objects.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with status 404 if there is no such object.
    pub fn storage_object_bytes(&self, name: &str) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.read_storage_object(name, &mut out)?;
        Ok(out)
    }

    /// Streams the content of an object into `sink`; returns its length.
    ///
    /// # Errors
    ///
    /// As [`AdminClient::storage_object_bytes`]; [`Error::Io`] if `sink`
    /// fails.
    pub fn read_storage_object(
        &self,
        name: &str,
        sink: &mut dyn std::io::Write,
    ) -> Result<u64, Error> {
        let path = format!("/iot/admin/storage/content/{}", encode_name(name));
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.authorization)
            .call()
            .map_err(network)?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.body_mut().read_to_string().unwrap_or_default();
            return Err(Error::Transport {
                status,
                method: "GET".into(),
                path,
                body,
            });
        }
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| bad_answer(&path, format!("the download broke off: {e}")))?;
            if n == 0 {
                return Ok(total);
            }
            sink.write_all(&buf[..n])
                .map_err(|e| Error::io("<storage object sink>", e))?;
            total += n as u64;
        }
    }

    /// Deletes an object (a manifest alone, not its segments).
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] with status 404 if there is no such object.
    pub fn delete_storage_object(&self, name: &str) -> Result<(), Error> {
        let path = format!("/iot/admin/storage/objects/{}", encode_name(name));
        self.call("DELETE", &path, None).map(|_| ())
    }

    /// The body bytes the storage service has received per object name since
    /// it started, every attempt counted (a resumed upload's segments are
    /// separate names).
    ///
    /// # Errors
    ///
    /// [`Error::Network`] or [`Error::Transport`].
    pub fn storage_bytes_received(&self) -> Result<BTreeMap<String, u64>, Error> {
        let path = "/iot/admin/storage/received";
        let v = self.call_json("GET", path, None)?;
        serde_json::from_value(v).map_err(|e| bad_answer(path, e))
    }

    /// Queues a request setting a URI attribute of a device to the URL of
    /// the stored object `name` (which must exist), the same request as
    /// [`AdminClient::set_attribute`] sends; returns the request id.
    ///
    /// # Errors
    ///
    /// As [`AdminClient::set_attribute`]; 404 also when there is no such
    /// object.
    pub fn set_attribute_to_storage_object(
        &self,
        device_id: &str,
        urn: &str,
        attribute: &str,
        name: &str,
    ) -> Result<String, Error> {
        let path = format!(
            "{}/attributes/{}",
            Self::device_model_path(device_id, urn),
            percent_encode(attribute)
        );
        self.request_id("PUT", &path, &json!({"storageObject": name}))
    }
}

/// An object name in a URL path: each `/`-separated part percent-encoded.
fn encode_name(name: &str) -> String {
    name.split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}
