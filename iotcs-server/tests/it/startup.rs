//! Certificates, `server.json`, who the server trusts, and shutdown.

use std::time::{Duration, Instant};

use iotcs_server::{Server, ServerConfig};
use tempfile::TempDir;

use crate::util::*;

#[test]
fn the_data_dir_holds_the_ca_the_url_and_a_private_admin_password() {
    let t = TestServer::start("startup");
    let dir = t.dir.path();
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("server.json")).unwrap()).unwrap();
    assert_eq!(info["url"], t.server.url());
    assert_eq!(
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
        t.server.ca_pem()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("admin-password"))
            .unwrap()
            .trim(),
        t.server.admin_password()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for secret in ["admin-password", "ca-key.pem", "server-key.pem"] {
            let mode = std::fs::metadata(dir.join(secret))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{secret}");
        }
    }
    assert_eq!(t.server.data_dir(), Some(dir));
    assert!(t.server.url().starts_with("https://127.0.0.1:"));
    assert_eq!(
        t.server.addr().port(),
        t.server
            .url()
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap()
    );
}

#[test]
fn the_certificate_is_valid_for_localhost_and_untrusted_without_the_ca() {
    let t = TestServer::start("trust");
    t.http().send("GET", "/iot/api", &[], None).expect(200);
    // By name: the certificate has a DNS SAN for localhost.
    let localhost = t.server.url().replace("127.0.0.1", "localhost");
    let admin =
        iotcs_server::AdminClient::new(&localhost, t.server.ca_der(), t.server.admin_password())
            .unwrap();
    assert!(admin.devices().unwrap().is_empty());
    // Another CA is not trusted.
    let other = Server::start(ServerConfig::for_tests()).unwrap();
    let wrong =
        iotcs_server::AdminClient::new(t.server.url(), other.ca_der(), t.server.admin_password())
            .unwrap();
    let e = wrong.devices().unwrap_err();
    assert!(matches!(e, iotcs_core::Error::Network { .. }), "{e}");
}

#[test]
fn dropping_the_server_releases_held_long_polls() {
    let dir = TempDir::with_prefix("release").unwrap();
    let config = ServerConfig::for_tests()
        .data_dir(dir.path())
        .long_poll_limit(Duration::from_secs(120));
    let server = Server::start(config).unwrap();
    let admin = server.admin().unwrap();
    let t = TestServer { server, admin, dir };
    let d = t.activated("dev", &[TEMPERATURE]);
    let poll = d.long_poll("");
    eventually(Duration::from_secs(10), "the long poll", || {
        (t.server.held_long_polls() == 1).then_some(())
    });
    let started = Instant::now();
    drop(t);
    // Answered with [] or cut, either way promptly and not after 120 s.
    let _ = poll.join();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_taken_port_is_an_error() {
    let t = TestServer::start("port");
    let e = Server::start(ServerConfig::for_tests().listen(t.server.addr())).unwrap_err();
    assert!(matches!(e, iotcs_core::Error::Io { .. }), "{e}");
    let models = TempDir::with_prefix("bad-models").unwrap();
    std::fs::write(models.path().join("broken.json"), "{").unwrap();
    let e = Server::start(ServerConfig::for_tests().models_dir(models.path())).unwrap_err();
    assert!(e.to_string().contains("broken.json"), "{e}");
}
