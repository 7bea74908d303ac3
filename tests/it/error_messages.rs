//! Errors a person can act on, end to end: a provisioning file of another
//! cloud fails at once with a security error naming the file and the host
//! (not retried as a network blip), and a refused credential carries the
//! cloud's `detail`.

#![allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]

use iotcs_core::{ErrorKind, TrustedAssets};
use iotcs_device::DirectlyConnectedDevice;
use iotcs_server::DeviceRegistration;

use crate::util::{PASSPHRASE, THERMOSTAT, TestCloud, config};

/// Writes a provisioning file for `cloud` whose credentials and trust
/// anchor are `assets`' (from another cloud, or tampered).
fn rewritten(
    cloud: &TestCloud,
    name: &str,
    change: impl FnOnce(TrustedAssets) -> TrustedAssets,
) -> std::path::PathBuf {
    let (_, store) = cloud
        .admin
        .provision(&DeviceRegistration::new(name), PASSPHRASE)
        .unwrap();
    let assets = change(TrustedAssets::decode(&store, PASSPHRASE).unwrap());
    let path = cloud.dir.path().join(format!("{name}.tas"));
    std::fs::write(&path, assets.encode(PASSPHRASE).unwrap()).unwrap();
    path
}

#[test]
fn a_provisioning_file_for_another_cloud_says_the_anchor_differs() {
    let ours = TestCloud::start("anchor-ours");
    let other = TestCloud::start("anchor-other");
    let other_uri = {
        let (_, store) = other
            .admin
            .provision(&DeviceRegistration::new("anchor-probe"), PASSPHRASE)
            .unwrap();
        TrustedAssets::decode(&store, PASSPHRASE)
            .unwrap()
            .server_uri()
    };
    // Our cloud's credentials and trust anchor, the other cloud's address.
    let path = rewritten(&ours, "anchor-1", |assets| {
        let mut moved =
            TrustedAssets::new(&other_uri, assets.client_id(), assets.shared_secret()).unwrap();
        for anchor in assets.trust_anchors() {
            moved = moved.with_trust_anchor(anchor.clone());
        }
        moved
    });
    let mut device =
        DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, config()).unwrap();
    let e = device.activate(&[THERMOSTAT]).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Security,
        "permanent, not a network blip: {e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "the server's certificate is not signed by the trust anchor in {}",
            path.display()
        )),
        "{text}"
    );
    let host = other_uri.trim_start_matches("https://");
    assert!(text.contains(host), "names the host {host}: {text}");
    assert!(
        other.server.issued_tokens().is_empty(),
        "no request got through"
    );
}

#[test]
fn a_refused_credential_carries_the_clouds_detail() {
    let cloud = TestCloud::start("detail-401");
    let path = rewritten(&cloud, "detail-1", |assets| {
        let mut wrong =
            TrustedAssets::new(&assets.server_uri(), assets.client_id(), b"not the secret")
                .unwrap();
        for anchor in assets.trust_anchors() {
            wrong = wrong.with_trust_anchor(anchor.clone());
        }
        wrong
    });
    let mut device =
        DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, config()).unwrap();
    let e = device.activate(&[THERMOSTAT]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Security, "{e:?}");
    let text = e.to_string();
    assert!(text.contains("token endpoint answered 401: "), "{text}");
    let detail = text.split("answered 401: ").nth(1).unwrap_or("");
    assert!(
        detail.len() > 5 && !detail.starts_with('{'),
        "the cloud's detail, not its JSON: {text}"
    );
}

#[test]
fn a_file_that_is_not_a_store_says_so() {
    let cloud = TestCloud::start("not-a-store");
    let path = cloud.dir.path().join("README.md");
    std::fs::write(&path, "# hello\nthis is not a store\n").unwrap();
    let e = DirectlyConnectedDevice::open(&path, PASSPHRASE).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("not a trusted assets store"), "{text}");
    assert!(
        text.contains(&path.display().to_string()),
        "names the file: {text}"
    );
}
