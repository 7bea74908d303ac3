//! Direct activation (spec §3): activation-scoped token (HS256) → activation
//! policy → an RSA key of the policy's size → the signed activation request
//! with the device's models and the capability URNs → the endpoint id and
//! key written to the trusted assets store atomically → the client switches
//! to its endpoint identity (RS256).
//!
//! The request itself is built and signed by `iotcs_core::__private::crypto::activation`;
//! this module only drives the exchange.

use std::sync::Arc;

use iotcs_core::__private::crypto::RsaKeyPair;
use iotcs_core::__private::crypto::activation::{
    ActivationPolicy, DirectActivationRequest, DirectActivationResponse, IndirectActivationRequest,
};
use iotcs_core::__private::protocol::query::{CREATE_DRAFT, OS_NAME, OS_VERSION};
use iotcs_core::__private::protocol::{Method, path, percent_encode, status};
use iotcs_core::model::capability;
use iotcs_core::{Error, TrustedAssetsStore};

use crate::cloud::rest::{RestClient, transport_error};
use crate::cloud::transport::HttpRequest;

/// The capability URNs the high-level API adds to every activation (spec
/// §3.4): what the device serves besides its own models.
pub(crate) const CAPABILITIES: [&str; 4] = [
    capability::DIRECT_ACTIVATION,
    capability::DIAGNOSTICS,
    capability::MESSAGE_DISPATCHER,
    capability::DEVICE_POLICY,
];

/// Activates the device of `store` with `models` and returns its endpoint id
/// and key; `rest` must hold the activation identity.
///
/// # Errors
///
/// [`Error::State`] when the server says the device is already activated
/// (401 on the policy or the activation); [`Error::Security`] when the
/// credentials are refused; [`Error::Transport`] / [`Error::Network`] /
/// [`Error::Protocol`] for other failures; [`Error::Io`] when the store
/// cannot be rewritten (the server then knows the endpoint but the device
/// does not, so the activation must be reset on the server).
pub(crate) fn activate(
    rest: &RestClient,
    store: &mut TrustedAssetsStore,
    models: &[&str],
    allow_drafts: bool,
) -> Result<(String, Arc<RsaKeyPair>), Error> {
    let activation_id = store.assets().client_id().to_owned();
    let policy_path = format!(
        "{}?{OS_NAME}={}&{OS_VERSION}={}",
        path::ACTIVATION_POLICY,
        percent_encode(os_name()),
        percent_encode(&os_version())
    );
    let response = rest.call(HttpRequest::get(policy_path.clone()))?;
    if response.status == status::UNAUTHORIZED {
        return Err(already_activated(&activation_id));
    }
    if !response.is_success() {
        return Err(transport_error(
            Method::Get,
            path::ACTIVATION_POLICY,
            &response,
        ));
    }
    let policy: ActivationPolicy = serde_json::from_slice(&response.body)
        .map_err(|e| Error::protocol(format!("activation policy is not the expected JSON: {e}")))?;
    log::debug!(target: "iotcs::device::activation",
        "activation policy: {} {} bits, {}",
        policy.key_type,
        policy.key_size,
        policy.hash_algorithm
    );

    let key = RsaKeyPair::generate(policy.key_size)?;
    let mut urns: Vec<String> = models.iter().map(|m| (*m).to_owned()).collect();
    for capability in CAPABILITIES {
        if !urns.iter().any(|u| u == capability) {
            urns.push(capability.to_owned());
        }
    }
    let request = DirectActivationRequest::new(
        &activation_id,
        store.assets().shared_secret(),
        &key,
        urns,
        &policy,
    )?;
    let body = serde_json::to_vec(&request)
        .map_err(|e| Error::protocol(format!("cannot serialise the activation request: {e}")))?;
    let path = if allow_drafts {
        path::ACTIVATION_DIRECT.to_owned()
    } else {
        format!("{}?{CREATE_DRAFT}=false", path::ACTIVATION_DIRECT)
    };
    let response = rest.call(HttpRequest::post(path, body))?;
    if response.status == status::UNAUTHORIZED {
        return Err(already_activated(&activation_id));
    }
    if !response.is_success() {
        return Err(transport_error(
            Method::Post,
            path::ACTIVATION_DIRECT,
            &response,
        ));
    }
    let answer: DirectActivationResponse = serde_json::from_slice(&response.body).map_err(|e| {
        Error::protocol(format!("activation response is not the expected JSON: {e}"))
    })?;
    let endpoint_id = answer.ensure_activated()?.to_owned();
    store.update(|assets| {
        assets.set_activation(&endpoint_id, key.pkcs8_der(), key.public_key_der())
    })?;
    let key = Arc::new(key);
    rest.set_endpoint(&endpoint_id, Arc::clone(&key));
    log::info!(target: "iotcs::device::activation", "activated {activation_id} as endpoint {endpoint_id}");
    Ok((endpoint_id, key))
}

/// Registers an indirectly-connected device (spec §4) with the identity
/// `rest` holds, which must be an activated gateway's; returns the device's
/// endpoint id. The request arrives built and signed: the signature rules
/// belong to the gateway.
///
/// # Errors
///
/// [`Error::Transport`] when the server refuses the registration (its
/// answer names why); [`Error::Network`] / [`Error::Security`] when it
/// cannot be asked; [`Error::Protocol`] when its answer is not an activated
/// endpoint.
pub(crate) fn activate_indirect(
    rest: &RestClient,
    request: &IndirectActivationRequest,
    allow_drafts: bool,
) -> Result<String, Error> {
    let body = serde_json::to_vec(request).map_err(|e| {
        Error::protocol(format!(
            "cannot serialise the indirect activation request: {e}"
        ))
    })?;
    let path = if allow_drafts {
        path::ACTIVATION_INDIRECT.to_owned()
    } else {
        format!("{}?{CREATE_DRAFT}=false", path::ACTIVATION_INDIRECT)
    };
    let response = rest.call(HttpRequest::post(path, body))?;
    if !response.is_success() {
        return Err(transport_error(
            Method::Post,
            path::ACTIVATION_INDIRECT,
            &response,
        ));
    }
    let answer: DirectActivationResponse = serde_json::from_slice(&response.body).map_err(|e| {
        Error::protocol(format!(
            "indirect activation response is not the expected JSON: {e}"
        ))
    })?;
    let endpoint_id = answer.ensure_activated()?.to_owned();
    log::debug!(target: "iotcs::device::activation",
        "registered indirectly-connected device {} as endpoint {endpoint_id}",
        request.hardware_id
    );
    Ok(endpoint_id)
}

fn already_activated(activation_id: &str) -> Error {
    Error::state(format!(
        "the server says {activation_id} is already activated; use the store written at that activation"
    ))
}

/// The operating system's name, as Node's `os.type()` spells the common ones.
fn os_name() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "windows" => "Windows_NT",
        other => other,
    }
}

/// The kernel release where it can be read, else `unknown`.
fn os_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use iotcs_core::__private::crypto::jwt;
    use iotcs_core::TrustedAssets;

    use super::*;
    use crate::cloud::transport::memory::{MemoryTransport, json};

    fn store(name: &str) -> (TrustedAssetsStore, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "iotcs-activation-{name}-{}.tas",
            std::process::id()
        ));
        let assets = TrustedAssets::new("https://127.0.0.1:9", "ACT-1", b"secret")
            .unwrap()
            .with_trust_anchor(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        (
            TrustedAssetsStore::create(&path, "pass", assets).unwrap(),
            path,
        )
    }

    fn token() -> Result<crate::cloud::transport::HttpResponse, Error> {
        json(
            200,
            r#"{"access_token":"t","token_type":"Bearer","expires_in":3600000}"#,
        )
    }

    #[test]
    fn activation_exchange_and_store_rewrite() {
        let (mut store, path) = store("ok");
        let transport = Arc::new(MemoryTransport::new(|req| {
            if req.path.contains("oauth2") {
                return token();
            }
            if req
                .path
                .starts_with("/iot/api/v2/activation/policy?OSName=")
            {
                return json(
                    200,
                    r#"{"keyType":"RSA","keySize":2048,"hashAlgorithm":"SHA256withRSA"}"#,
                );
            }
            assert_eq!(req.path, "/iot/api/v2/activation/direct?createDraft=false");
            let request: DirectActivationRequest = serde_json::from_slice(&req.body).unwrap();
            request.verify(b"secret").unwrap();
            assert_eq!(request.device_models[0], "urn:test:model");
            assert!(
                request
                    .device_models
                    .iter()
                    .any(|u| u == capability::DIRECT_ACTIVATION)
            );
            assert!(
                request
                    .device_models
                    .iter()
                    .any(|u| u == capability::MESSAGE_DISPATCHER)
            );
            json(200, r#"{"endpointId":"EP-9","endpointState":"ACTIVATED"}"#)
        }));
        let rest = RestClient::for_activation(
            transport.clone(),
            "ACT-1",
            b"secret",
            crate::clock::system_clock(),
            1,
        );
        let (endpoint, key) = activate(&rest, &mut store, &["urn:test:model"], false).unwrap();
        assert_eq!(endpoint, "EP-9");
        let reopened = TrustedAssetsStore::open(&path, "pass").unwrap();
        assert_eq!(reopened.assets().endpoint_id(), Some("EP-9"));
        assert_eq!(reopened.assets().public_key(), Some(key.public_key_der()));
        // The two tokens: HS256 for activation, none yet for the endpoint.
        let log = transport.log.lock().unwrap();
        let first = std::str::from_utf8(&log[0].3).unwrap();
        let assertion = first
            .split('&')
            .find_map(|p| p.strip_prefix("client_assertion="))
            .unwrap();
        assert_eq!(jwt::parse(assertion).unwrap().alg(), jwt::Algorithm::Hs256);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn already_activated_is_a_state_error_and_the_store_is_untouched() {
        let (mut store, path) = store("twice");
        let before = std::fs::read(&path).unwrap();
        let transport = Arc::new(MemoryTransport::new(|req| {
            if req.path.contains("oauth2") {
                token()
            } else {
                json(401, "{}")
            }
        }));
        let rest = RestClient::for_activation(
            transport,
            "ACT-1",
            b"secret",
            crate::clock::system_clock(),
            1,
        );
        let e = activate(&rest, &mut store, &[], true).unwrap_err();
        assert_eq!(e.kind(), iotcs_core::ErrorKind::State);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_refused_activation_state_is_an_error() {
        let (mut store, path) = store("refused");
        let transport = Arc::new(MemoryTransport::new(|req| {
            if req.path.contains("oauth2") {
                token()
            } else if req.path.contains("policy") {
                json(
                    200,
                    r#"{"keyType":"RSA","keySize":2048,"hashAlgorithm":"SHA256withRSA"}"#,
                )
            } else {
                assert_eq!(req.path, "/iot/api/v2/activation/direct");
                json(200, r#"{"endpointId":"EP-9","endpointState":"DISABLED"}"#)
            }
        }));
        let rest = RestClient::for_activation(
            transport,
            "ACT-1",
            b"secret",
            crate::clock::system_clock(),
            1,
        );
        assert!(activate(&rest, &mut store, &[], true).is_err());
        assert!(
            !TrustedAssetsStore::open(&path, "pass")
                .unwrap()
                .assets()
                .is_activated()
        );
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn indirect_activation_posts_the_request_and_returns_the_endpoint() {
        let transport = Arc::new(MemoryTransport::new(|req| {
            if req.path.contains("oauth2") {
                return token();
            }
            assert_eq!(
                req.path,
                "/iot/api/v2/activation/indirect/device?createDraft=false"
            );
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            assert_eq!(body["hardwareId"], "ICD-1");
            assert_eq!(body["manufacturer"], "Acme");
            if body["deviceModels"][0] == "urn:test:unknown" {
                return json(400, r#"{"detail":"unknown device model urn:test:unknown"}"#);
            }
            json(
                200,
                r#"{"endpointId":"EP-ICD","endpointState":"ACTIVATED"}"#,
            )
        }));
        let rest = RestClient::for_activation(
            transport,
            "GW-1",
            b"secret",
            crate::clock::system_clock(),
            1,
        );
        let request = IndirectActivationRequest::new("ICD-1", vec!["urn:test:model".into()])
            .with_metadata("manufacturer", "Acme")
            .unwrap();
        assert_eq!(activate_indirect(&rest, &request, false).unwrap(), "EP-ICD");
        let refused = IndirectActivationRequest::new("ICD-1", vec!["urn:test:unknown".into()])
            .with_metadata("manufacturer", "Acme")
            .unwrap();
        let e = activate_indirect(&rest, &refused, false).unwrap_err();
        assert_eq!(e.status_code(), Some(400));
        assert!(e.to_string().contains("urn:test:unknown"), "{e}");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(percent_encode("6.1.0-13 amd64"), "6.1.0-13%20amd64");
        assert!(!os_name().is_empty());
    }
}
