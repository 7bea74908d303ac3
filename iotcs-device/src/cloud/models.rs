//! Device models: fetched from the cloud (`GET
//! /iot/api/v2/deviceModels/<urn>`), kept in memory for the life of the
//! device, and in a local directory (files `<prefix><url-encoded urn><suffix>`,
//! as Oracle's Java library names them) so a restarted device need not fetch
//! them again, and can start without the network: `[device_model]
//! device_model_store` when set, else the device's own `models/` directory
//! (see [`crate::state`]). The reference stores models only when
//! `device_model_store` is set; a device that must boot offline needs them,
//! so iotcs always does.
//!
//! A draft model counts as unknown unless `allow_draft_device_models` is set,
//! and is never written to the directory: a draft is replaced by the real
//! model once that is provisioned, and a stored copy would hide it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use iotcs_core::__private::protocol::{Endpoint, Method, status};
use iotcs_core::model::DeviceModel;
use iotcs_core::{DeviceModelConfig, Error};

use crate::cloud::rest::{RestClient, transport_error};
use crate::cloud::transport::HttpRequest;
use crate::state::write_atomically;

/// The device model cache.
#[derive(Debug)]
pub(crate) struct Models {
    config: DeviceModelConfig,
    /// The local directory of models.
    dir: PathBuf,
    /// Models fetched or read so far, by URN.
    memory: Mutex<HashMap<String, Arc<DeviceModel>>>,
}

impl Models {
    /// An empty cache following `config`, storing models in `dir`.
    pub(crate) fn new(config: DeviceModelConfig, dir: PathBuf) -> Self {
        Models {
            config,
            dir,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The model `urn`: from memory, the local store or the cloud; `None`
    /// when the cloud does not know it, or it is a draft and drafts are not
    /// allowed.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for an empty URN; [`Error::Transport`] /
    /// [`Error::Network`] when the cloud fails; [`Error::Model`] when its
    /// answer is not a valid model.
    pub(crate) fn get(
        &self,
        rest: &RestClient,
        urn: &str,
    ) -> Result<Option<Arc<DeviceModel>>, Error> {
        if urn.trim().is_empty() {
            return Err(Error::argument("the device model URN is empty"));
        }
        let cached = self
            .memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(urn)
            .cloned();
        let model = match cached {
            Some(model) => model,
            None => {
                let model = match self.read_local(urn) {
                    Some(model) => model,
                    None => match fetch(rest, urn)? {
                        Some(model) => {
                            self.write_local(&model);
                            model
                        }
                        None => return Ok(None),
                    },
                };
                let model = Arc::new(model);
                self.memory
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(urn.to_owned(), Arc::clone(&model));
                model
            }
        };
        if model.is_draft() && !self.config.allow_draft_device_models {
            log::info!(target: "iotcs::device::models", "device model {urn} is a draft and allow_draft_device_models is off");
            return Ok(None);
        }
        Ok(Some(model))
    }

    /// The local store file of `urn`.
    fn local_path(&self, urn: &str) -> PathBuf {
        self.dir.join(format!(
            "{}{}{}",
            self.config.prefix,
            url_encode(urn),
            self.config.suffix
        ))
    }

    /// The model from the local store; a file that cannot be read or parsed
    /// is ignored with a warning (it is refetched and rewritten).
    fn read_local(&self, urn: &str) -> Option<DeviceModel> {
        let path = self.local_path(urn);
        let text = std::fs::read_to_string(&path).ok()?;
        match DeviceModel::from_json(&text) {
            Ok(model) if model.urn() == urn => Some(model),
            Ok(model) => {
                log::warn!(target: "iotcs::device::models",
                    "{} holds model {}, not {urn}; ignoring it",
                    path.display(),
                    model.urn()
                );
                None
            }
            Err(e) => {
                log::warn!(target: "iotcs::device::models",
                    "{} is not a valid device model ({e}); ignoring it",
                    path.display()
                );
                None
            }
        }
    }

    /// Writes `model` to the local store, durably (an offline boot depends
    /// on it); a draft is not stored (see the module docs). Failures are
    /// logged, since the model is usable anyway.
    pub(crate) fn write_local(&self, model: &DeviceModel) {
        if model.is_draft() {
            return;
        }
        let path = self.local_path(model.urn());
        if let Err(e) = write_atomically(&path, model.to_value().to_string().as_bytes()) {
            log::warn!(target: "iotcs::device::models",
                "could not store device model {}: {e}; a restart without network will not \
                 find it",
                model.urn()
            );
        }
    }
}

/// Fetches `urn` from the cloud; 404 means unknown.
fn fetch(rest: &RestClient, urn: &str) -> Result<Option<DeviceModel>, Error> {
    let path = Endpoint::DeviceModel(urn).path();
    let response = rest.call(HttpRequest::get(path.clone()))?;
    match response.status {
        status::NOT_FOUND => Ok(None),
        status::OK => {
            let text = String::from_utf8_lossy(&response.body);
            DeviceModel::from_json(&text).map(Some)
        }
        _ => Err(transport_error(Method::Get, &path, &response)),
    }
}

/// Percent-encodes everything but ASCII letters, digits and `.-_*` (a space
/// becomes `+`), as Java's `URLEncoder` does for the model store's file names.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'*') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use iotcs_core::model::samples;

    use super::*;
    use crate::cloud::transport::memory::{MemoryTransport, json};

    fn rest(
        answer: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
    ) -> (RestClient, Arc<AtomicUsize>) {
        let gets = Arc::new(AtomicUsize::new(0));
        let g = gets.clone();
        let transport = Arc::new(MemoryTransport::new(move |req| {
            if req.path.contains("oauth2") {
                return json(
                    200,
                    r#"{"access_token":"t","token_type":"Bearer","expires_in":3600000}"#,
                );
            }
            g.fetch_add(1, Ordering::SeqCst);
            let (status, body) = answer(&req.path);
            json(status, &body)
        }));
        (
            RestClient::for_activation(transport, "EP", b"s", crate::clock::system_clock(), 1),
            gets,
        )
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("iotcs-models-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn fetched_once_then_from_memory() {
        let (rest, gets) = rest(|path| {
            assert_eq!(
                path,
                format!(
                    "/iot/api/v2/deviceModels/{}",
                    samples::TEMPERATURE_SENSOR_URN
                )
            );
            (200, samples::TEMPERATURE_SENSOR_JSON.to_owned())
        });
        let dir = temp_dir("once");
        let models = Models::new(DeviceModelConfig::default(), dir.clone());
        let m = models
            .get(&rest, samples::TEMPERATURE_SENSOR_URN)
            .unwrap()
            .unwrap();
        assert_eq!(m.urn(), samples::TEMPERATURE_SENSOR_URN);
        models
            .get(&rest, samples::TEMPERATURE_SENSOR_URN)
            .unwrap()
            .unwrap();
        assert_eq!(gets.load(Ordering::SeqCst), 1);
        // A fresh cache (a restart) finds it on disk: no cloud needed.
        let restarted = Models::new(DeviceModelConfig::default(), dir.clone());
        assert!(
            restarted
                .get(&rest, samples::TEMPERATURE_SENSOR_URN)
                .unwrap()
                .is_some()
        );
        assert_eq!(gets.load(Ordering::SeqCst), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_is_none_and_errors_are_errors() {
        let (rest, _) = rest(|path| {
            if path.ends_with("missing") {
                (404, "{}".into())
            } else {
                (500, "x".into())
            }
        });
        let dir = temp_dir("unknown");
        let models = Models::new(DeviceModelConfig::default(), dir.clone());
        assert!(models.get(&rest, "urn:missing").unwrap().is_none());
        assert_eq!(
            models.get(&rest, "urn:broken").unwrap_err().status_code(),
            Some(500)
        );
        assert!(models.get(&rest, " ").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn drafts_need_permission() {
        let draft = samples::TEMPERATURE_SENSOR_JSON.replace("\"draft\": false", "\"draft\": true");
        let (rest, gets) = rest(move |_| (200, draft.clone()));
        let dir = temp_dir("drafts");
        let models = Models::new(DeviceModelConfig::default(), dir.clone());
        assert!(
            models
                .get(&rest, samples::TEMPERATURE_SENSOR_URN)
                .unwrap()
                .is_none()
        );
        let mut config = DeviceModelConfig::default();
        config.allow_draft_device_models = true;
        let allowed = Models::new(config.clone(), dir.clone());
        assert!(
            allowed
                .get(&rest, samples::TEMPERATURE_SENSOR_URN)
                .unwrap()
                .unwrap()
                .is_draft()
        );
        // Drafts are not kept on disk: a restart asks the cloud again.
        let restarted = Models::new(config, dir.clone());
        restarted
            .get(&rest, samples::TEMPERATURE_SENSOR_URN)
            .unwrap();
        assert_eq!(gets.load(Ordering::SeqCst), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn local_store_is_read_before_the_cloud() {
        let dir = temp_dir("store");
        let mut config = DeviceModelConfig::default();
        config.device_model_store = Some(dir.clone());
        let (rest, gets) = rest(|_| (404, "{}".into()));
        let models = Models::new(config.clone(), dir.clone());
        models.write_local(&samples::temperature_sensor());
        let file = dir.join("dm-urn%3Acom%3Aexample%3Aiotcs%3Atemperature_sensor.json");
        assert!(file.exists(), "{}", file.display());
        assert!(
            models
                .get(&rest, samples::TEMPERATURE_SENSOR_URN)
                .unwrap()
                .is_some()
        );
        assert_eq!(gets.load(Ordering::SeqCst), 0);
        // A corrupt file falls back to the cloud.
        std::fs::write(&file, "garbage").unwrap();
        assert!(
            Models::new(config, dir.clone())
                .get(&rest, samples::TEMPERATURE_SENSOR_URN)
                .unwrap()
                .is_none()
        );
        assert_eq!(gets.load(Ordering::SeqCst), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn url_encoding_matches_java() {
        assert_eq!(url_encode("urn:a:b c/d"), "urn%3Aa%3Ab+c%2Fd");
        assert_eq!(url_encode("A.z-_*9"), "A.z-_*9");
    }
}
