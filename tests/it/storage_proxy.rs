//! `[media_storage] proxy`: storage requests go through an HTTP CONNECT
//! proxy. The cloud's storage URLs name a host under
//! `storage.oraclecloud.com` (as Oracle's libraries require) that only the
//! proxy can reach: it tunnels every CONNECT to 127.0.0.1, as the Oracle JS
//! conformance step's proxy does.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers are part of the tests: a panic is a failed test"
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use iotcs_device::SyncStatus;
use iotcs_server::{Server, ServerConfig};
use tempfile::TempDir;

use crate::storage_objects::{camera, file, statuses, stored_md5};
use crate::util::{self, TestCloud};

const STORAGE_HOST: &str = "iotcs.storage.oraclecloud.com";

/// A CONNECT proxy on 127.0.0.1 tunnelling every target to 127.0.0.1 at
/// its port; returns its URL and the targets it was asked for. Its threads
/// are detached and end with the test process (a test helper).
fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::Builder::new()
        .name("test-connect-proxy".into())
        .spawn(move || {
            for client in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                let _ = std::thread::Builder::new()
                    .name("test-connect-tunnel".into())
                    .spawn(move || tunnel(client, &log));
            }
        })
        .unwrap();
    (url, seen)
}

/// Reads a CONNECT request from `client`, answers 200 and copies bytes both
/// ways between it and 127.0.0.1 at the requested port.
fn tunnel(mut client: TcpStream, log: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        if client.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let Some(target) = head
        .strip_prefix("CONNECT ")
        .and_then(|r| r.split_whitespace().next())
    else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return;
    };
    log.lock().unwrap().push(target.to_owned());
    let port = target.rsplit_once(':').map_or("443", |(_, p)| p);
    let Ok(upstream) = TcpStream::connect(format!("127.0.0.1:{port}")) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (mut up_read, mut client_write) =
        (upstream.try_clone().unwrap(), client.try_clone().unwrap());
    let _ = std::thread::Builder::new()
        .name("test-connect-down".into())
        .spawn(move || {
            let _ = std::io::copy(&mut up_read, &mut client_write);
            let _ = client_write.shutdown(std::net::Shutdown::Both);
        });
    let mut upstream = upstream;
    let _ = std::io::copy(&mut client, &mut upstream);
    let _ = upstream.shutdown(std::net::Shutdown::Both);
}

#[test]
fn storage_goes_through_the_media_storage_proxy_to_a_storage_host() {
    let _ = iotcs::logging::try_init_from(env_logger::builder().is_test(true));
    let server = Server::start(ServerConfig::for_tests().storage_host(STORAGE_HOST)).unwrap();
    let cloud = TestCloud {
        admin: server.admin().unwrap(),
        dir: TempDir::with_prefix("it-storage-proxy").unwrap(),
        server,
    };
    let (proxy, seen) = connect_proxy();
    let mut config = util::config();
    config.media_storage.proxy = Some(proxy);
    let cam = camera(&cloud, "cam-proxy", config);
    let (path, md5) = file(&cloud, "proxied.bin", 120_000);
    let object = cam
        .device
        .create_storage_object("proxied.bin", None)
        .unwrap();
    assert!(
        object
            .uri()
            .starts_with(&format!("https://{STORAGE_HOST}:")),
        "{}",
        object.uri()
    );
    object.set_input_path(Some(&path)).unwrap();
    let synced = statuses(&object);
    object.sync().unwrap();
    assert_eq!(util::recv(&synced), SyncStatus::InSync);
    assert_eq!(stored_md5(&cloud, object.name()), md5);
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.is_empty()
            && seen
                .iter()
                .all(|t| t.starts_with(&format!("{STORAGE_HOST}:"))),
        "the storage requests went through the proxy, only they: {seen:?}"
    );
    cam.device.close().unwrap();
}
