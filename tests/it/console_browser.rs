//! The local cloud's web console in a real browser: headless Chromium,
//! driven through ChromeDriver (`webdriver.rs`), sees a device's message
//! arrive without a reload, sets a writable attribute from the page, and the
//! SDK device in this process runs its change callback; the page shows the
//! request COMPLETED. Then it lists an object the device uploads (and
//! deletes it), and creates a device policy from the page (a refused one
//! shows the server's reason), assigns it to the device, and the cloud sends
//! the device its `policyChanged` request.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test
//! says SKIPPED on stderr and passes, except in CI (`CI=true`), where it
//! fails: CI installs them (`.ci/run`). With `IOTCS_SCREENSHOTS=DIR` it
//! saves the screenshots of the README there (`console.png`,
//! `console-policies.png`).

#![allow(
    clippy::unwrap_used,
    reason = "the helpers below fail the test on a failed step, which is what a panic reports"
)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use iotcs_core::__private::encoding::base64_decode;
use iotcs_core::message::MessageType;
use iotcs_core::policy::{POLICY_CHANGED_PATH, PolicyChange, PolicyOp};
use iotcs_device::SyncStatus;
use iotcs_server::{DeviceRegistration, MessageFilter};

use crate::util::{self, PATIENCE, THERMOSTAT, TestCloud, Thermostat};
use crate::webdriver::{Browser, find_browser};

#[test]
fn the_console_shows_devices_messages_storage_objects_and_policies() {
    let Some((chromium, chromedriver)) = browser_or_skip() else {
        return;
    };
    let cloud = TestCloud::start("console");
    let t = util::thermostat(&cloud, "console-thermostat");
    let (tx, rx) = mpsc::channel();
    t.vd.on_change("maxThreshold", move |e| {
        tx.send(e.named_value().value().to_string()).unwrap();
        Ok(())
    })
    .unwrap();
    cloud.wait_for(&t.endpoint, MessageType::ResourcesReport, 1);
    let gateway = DeviceRegistration::new("porch-gateway")
        .gateway(true)
        .icd("porch-light", Some(b"light-secret"));
    cloud.admin.register_device(&gateway).unwrap();

    let browser = Browser::start(&chromium, &chromedriver, PATIENCE);
    browser.open(&console_url(&cloud));
    let row_css = "#devices tr[data-hardware-id='console-thermostat']";
    let row = browser.wait_for(row_css, PATIENCE);
    assert!(browser.text(&row).contains("ACTIVATED"));
    let gateway = browser.wait_for("#devices tr[data-hardware-id='porch-gateway']", PATIENCE);
    assert!(
        browser.text(&gateway).contains("porch-light"),
        "a gateway lists its devices"
    );

    // A reading sent after the page loaded appears in the feed by itself.
    t.vd.set("temp", 21.75).unwrap();
    let message = browser.wait_for(
        "#feed li[data-hardware-id='console-thermostat'][data-type='DATA']",
        PATIENCE,
    );
    assert!(browser.text(&message).contains("21.75"));

    // Set maxThreshold from the page; the device's callback runs.
    browser.click(row_css, PATIENCE);
    let form = "form.set[data-attribute='maxThreshold']";
    browser.type_into(&format!("{form} input"), "42.5", PATIENCE);
    browser.click(&format!("{form} button"), PATIENCE);
    assert_eq!(util::recv(&rx), "42.5");
    let fate = browser.wait_for("#fates li[data-status='COMPLETED']", PATIENCE);
    assert!(
        browser.text(&fate).contains("COMPLETED 200"),
        "{}",
        browser.text(&fate)
    );
    // The echo of the change is the attribute's last reported value.
    util::eventually("the page shows the new maxThreshold", || {
        let value = browser.wait_for("#attributes tr[data-attribute='maxThreshold']", PATIENCE);
        browser.text_if_there(&value).contains("42.5")
    });

    let object = storage_objects_are_listed(&cloud, &t, &browser);
    policies_are_created_and_assigned_from_the_page(&cloud, &t, &browser);

    browser.scroll_to("header", PATIENCE);
    screenshot(&browser, "console.png");

    downloaded_and_deleted_from_the_page(&cloud, &browser, &object);
    drop(browser);
    t.device.close().unwrap();
}

/// Chromium and ChromeDriver, or `None` (after saying SKIPPED) when they
/// are missing, unless in CI (`CI=true`), where the test fails instead.
fn browser_or_skip() -> Option<(PathBuf, PathBuf)> {
    let found = find_browser();
    if found.is_none() {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !in_ci,
            "CI=true but chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "SKIPPED console_browser: no /usr/bin/chromium or /usr/bin/chromedriver \
             (apt-get install chromium chromium-driver, or set IOTCS_CHROMIUM/IOTCS_CHROMEDRIVER)"
        );
    }
    found
}

/// With `IOTCS_SCREENSHOTS=DIR`, saves the window as `DIR/name`.
fn screenshot(browser: &Browser, name: &str) {
    if let Some(dir) = std::env::var_os("IOTCS_SCREENSHOTS") {
        let path = Path::new(&dir).join(name);
        std::fs::write(&path, browser.screenshot()).unwrap();
        eprintln!("wrote {}", path.display());
    }
}

/// The console's address, with the admin credentials in it.
fn console_url(cloud: &TestCloud) -> String {
    let address = cloud.server.addr();
    let password = cloud.server.admin_password();
    format!("https://admin:{password}@{address}/console")
}

/// What the device uploads.
const NOTE: &str = "calibrated at 21.5 C\n";

/// The device uploads an object; the storage list shows it with its size,
/// content type and owner by hardware id. Returns its name.
fn storage_objects_are_listed(cloud: &TestCloud, t: &Thermostat, browser: &Browser) -> String {
    let path = cloud.dir.path().join("notes.txt");
    std::fs::write(&path, NOTE).unwrap();
    let object = t
        .device
        .create_storage_object("notes.txt", Some("text/plain"))
        .unwrap();
    object.set_input_path(Some(&path)).unwrap();
    let synced = crate::storage_objects::statuses(&object);
    object.sync().unwrap();
    assert_eq!(util::recv(&synced), SyncStatus::InSync);
    let name = object.name().to_owned();
    let row = browser.wait_for(
        &format!("#storage tr[data-name='{name}'][data-owner='console-thermostat']"),
        PATIENCE,
    );
    let text = browser.text(&row);
    let size = format!("{} B", NOTE.len());
    assert!(
        text.contains("text/plain") && text.contains(&size),
        "{text}"
    );
    name
}

/// The object's link serves its bytes with the console's credentials (the
/// browser opens it: a download would leave nothing to look at), and the
/// page deletes it (two clicks: the first arms the button).
fn downloaded_and_deleted_from_the_page(cloud: &TestCloud, browser: &Browser, object: &str) {
    let row = format!("#storage tr[data-name='{object}']");
    let link = browser.wait_for(&format!("{row} a"), PATIENCE);
    let href = browser.property(&link, "href");
    assert!(href.contains("/iot/admin/storage/content/"), "{href}");
    assert!(!href.contains('@'), "no password in the link: {href}");
    browser.open(&href);
    let body = browser.wait_for("body", PATIENCE);
    assert_eq!(browser.text(&body), NOTE.trim_end());
    browser.open(&console_url(cloud));
    let delete = format!("{row} button.delete");
    browser.click(&delete, PATIENCE);
    browser.click(&delete, PATIENCE);
    util::eventually("the object is deleted", || {
        cloud.admin.storage_objects(object).unwrap().is_empty()
    });
}

/// A policy from the page's textarea: a refused one shows the server's
/// detail; an accepted one is listed, and assigned to the device from the
/// page it reaches the device as a `policyChanged` request.
fn policies_are_created_and_assigned_from_the_page(
    cloud: &TestCloud,
    t: &Thermostat,
    browser: &Browser,
) {
    let textarea = "#new-policy textarea";
    browser.click(
        &format!("#new-policy option[value='{THERMOSTAT}']"),
        PATIENCE,
    );
    browser.type_into(
        textarea,
        r#"{"pipelines": [{"attributeName": "temp", "pipeline": [{"id": "noSuchFunction"}]}]}"#,
        PATIENCE,
    );
    browser.click("#new-policy button", PATIENCE);
    let error = browser.wait_for("#policy-error", PATIENCE);
    util::eventually("the page shows why the policy is refused", || {
        browser.text_if_there(&error).contains("noSuchFunction")
    });
    browser.clear(textarea, PATIENCE);
    browser.type_into(
        textarea,
        r#"{"description": "every 2nd reading", "pipelines": [{"attributeName": "temp", "pipeline": [{"id": "sampleQuality", "parameters": {"rate": 2}}]}]}"#,
        PATIENCE,
    );
    browser.click("#new-policy button", PATIENCE);
    let policy = format!(".model[data-urn='{THERMOSTAT}'] tr.policy");
    let row = browser.wait_for(&policy, PATIENCE);
    let text = browser.text(&row);
    assert!(
        text.contains("every 2nd reading") && text.contains("temp: sampleQuality"),
        "{text}"
    );
    let created = cloud.admin.policies(THERMOSTAT).unwrap();
    assert_eq!(created.len(), 1, "the refused policy was not created");
    let id = created[0].id().to_owned();

    browser.click(
        &format!("{policy} option[data-hardware-id='console-thermostat']"),
        PATIENCE,
    );
    browser.click(&format!("{policy} button.assign"), PATIENCE);
    browser.wait_for(
        &format!("{policy} .assigned[data-hardware-id='console-thermostat']"),
        PATIENCE,
    );
    assert_eq!(
        cloud.admin.policy_devices(THERMOSTAT, &id).unwrap(),
        std::slice::from_ref(&t.endpoint)
    );
    let request = policy_changed(cloud, &t.endpoint);
    let changes = PolicyChange::parse_array(&request.1).unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c.id == id && c.op == PolicyOp::Assigned),
        "{changes:?}"
    );
    // The device fetched the request and accepted it: its SDK serves the
    // device-policy capability resource.
    let fate = cloud.admin.wait_for_request(&request.0, PATIENCE).unwrap();
    assert_eq!(fate.response_status(), Some(200), "{:?}", fate.json());
    browser.wait_for("#feed li[data-type='REQUEST']", PATIENCE);
    browser.scroll_to("#storage-section", PATIENCE);
    screenshot(browser, "console-policies.png");

    browser.click(&format!("{policy} button.toggle"), PATIENCE);
    browser.wait_for(&format!("{policy}[data-enabled='false']"), PATIENCE);
    assert!(!cloud.admin.policies(THERMOSTAT).unwrap()[0].enabled());
    browser.click(&format!("{policy} button.unassign"), PATIENCE);
    util::eventually("the policy is unassigned", || {
        cloud
            .admin
            .policy_devices(THERMOSTAT, &id)
            .unwrap()
            .is_empty()
    });
}

/// The first `policyChanged` request the cloud queued for `endpoint`: its
/// id and its body.
fn policy_changed(cloud: &TestCloud, endpoint: &str) -> (String, Vec<u8>) {
    let filter = MessageFilter::new()
        .device(endpoint)
        .message_type(MessageType::Request);
    let mut found = None;
    util::eventually("the cloud queues a policyChanged request", || {
        found = cloud
            .admin
            .messages(&filter)
            .unwrap()
            .into_iter()
            .find(|m| {
                m.json()["payload"]["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(POLICY_CHANGED_PATH))
            });
        found.is_some()
    });
    let m = found.unwrap();
    let body = m.json()["payload"]["body"].as_str().unwrap_or_default();
    (m.id().to_owned(), base64_decode(body).unwrap())
}
