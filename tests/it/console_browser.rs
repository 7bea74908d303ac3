//! The local cloud's web console in a real browser: headless Chromium,
//! driven through ChromeDriver (`webdriver.rs`), sees a device's message
//! arrive without a reload, sets a writable attribute from the page, and the
//! SDK device in this process runs its change callback; the page shows the
//! request COMPLETED.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test
//! says SKIPPED on stderr and passes, except in CI (`CI=true`), where it
//! fails: CI installs them (`.ci/run`). With `IOTCS_SCREENSHOTS=DIR` it
//! saves the screenshots of the README there.

use std::sync::mpsc;

use iotcs_core::message::MessageType;
use iotcs_server::DeviceRegistration;

use crate::util::{self, PATIENCE, TestCloud};
use crate::webdriver::{Browser, find_browser};

#[test]
fn the_console_shows_messages_live_and_sets_an_attribute() {
    let Some((chromium, chromedriver)) = find_browser() else {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !in_ci,
            "CI=true but chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "SKIPPED console_browser: no /usr/bin/chromium or /usr/bin/chromedriver \
             (apt-get install chromium chromium-driver, or set IOTCS_CHROMIUM/IOTCS_CHROMEDRIVER)"
        );
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
    let address = cloud.server.addr();
    browser.open(&format!(
        "https://admin:{}@{address}/console",
        cloud.server.admin_password()
    ));
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

    if let Some(dir) = std::env::var_os("IOTCS_SCREENSHOTS") {
        let path = std::path::Path::new(&dir).join("console.png");
        std::fs::write(&path, browser.screenshot()).unwrap();
        eprintln!("wrote {}", path.display());
    }
    drop(browser);
    t.device.close().unwrap();
}
