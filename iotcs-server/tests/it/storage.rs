//! The storage service (protocol.md §9.1): the provisioner's container URL
//! and token, objects with their headers, `Range`, Swift manifests and
//! listings, the quota, the faults that cut uploads, the admin's view, and a
//! 64 MiB object streamed both ways.

use std::io::Read;
use std::time::Duration;

use md5::{Digest, Md5};
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

use iotcs_server::Fault;

use crate::util::*;

/// A device's view of the storage service: the container on this server
/// and a storage token.
struct Storage {
    http: Http,
    /// The server's base URL.
    base: String,
    /// `/v1/<account>/<container>`.
    container: String,
    token: String,
}

impl Storage {
    fn of(t: &TestServer, d: &TestDevice) -> Storage {
        let answer = d
            .call("GET", "/iot/api/v2/provisioner/storage", None)
            .expect(200)
            .json();
        let url = answer["storageContainerUrl"].as_str().unwrap();
        let container = url
            .strip_prefix(t.server.url())
            .unwrap_or_else(|| panic!("{url} is not on {}", t.server.url()))
            .to_owned();
        Storage {
            http: t.http(),
            base: t.server.url().to_owned(),
            container,
            token: answer["authToken"].as_str().unwrap().to_owned(),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.container)
    }

    fn send(
        &self,
        method: &str,
        name: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let mut all = vec![("X-Auth-Token", self.token.as_str())];
        all.extend_from_slice(headers);
        self.http.send(method, &self.path(name), &all, body)
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Resp {
        self.send("PUT", name, &[], Some(bytes))
    }

    fn get(&self, name: &str, headers: &[(&str, &str)]) -> Resp {
        self.send("GET", name, headers, None)
    }

    /// A `PUT` whose body is sent chunked from `reader`, never whole.
    fn put_streamed(&self, name: &str, mut reader: impl Read) -> Result<u16, ureq::Error> {
        let url = format!("{}{}", self.base, self.path(name));
        let r = self
            .http
            .agent()
            .put(&url)
            .header("X-Auth-Token", &self.token)
            .send(ureq::SendBody::from_reader(&mut reader))?;
        Ok(r.status().as_u16())
    }

    /// The container listing with `query` (e.g. `?prefix=a/&format=json`).
    fn list(&self, query: &str) -> Resp {
        let path = format!("{}{query}", self.container);
        self.http
            .send("GET", &path, &[("X-Auth-Token", self.token.as_str())], None)
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

#[test]
fn the_provisioner_hands_out_a_container_url_and_a_token() {
    let t = TestServer::start("storage-provisioner");
    let d = t.activated("cam", &[TEMPERATURE]);
    let answer = d
        .call("GET", "/iot/api/v2/provisioner/storage", None)
        .expect(200)
        .json();
    let url = answer["storageContainerUrl"].as_str().unwrap();
    assert_eq!(url, t.server.storage_url());
    // https with an explicit port (Oracle's JS library assumes 443 otherwise).
    assert!(url.starts_with(&format!("{}/v1/", t.server.url())), "{url}");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert!(!answer["authToken"].as_str().unwrap().is_empty());
    assert_eq!(answer["expiresIn"], 3_600_000);
    // A missing bearer is a 401 (JS relies on it to fetch a token), a POST
    // (OCI storage) a 405 (JS then falls back to classic storage).
    let missing = t.http().send(
        "GET",
        "/iot/api/v2/provisioner/storage",
        &[("X-EndpointId", d.id.as_str())],
        None,
    );
    assert_eq!(missing.status, 401);
    assert_eq!(
        d.call("POST", "/iot/api/v2/provisioner/storage", Some(b"{}"))
            .status,
        405
    );
}

#[test]
fn an_object_keeps_its_bytes_type_encoding_and_metadata() {
    let t = TestServer::start("storage-object");
    let d = t.activated("cam", &[TEMPERATURE]);
    let s = Storage::of(&t, &d);
    let name = format!("{}/snapshot.jpg", d.id);
    let bytes = pattern(100_000, 7);
    let put = s
        .send(
            "PUT",
            &name,
            &[
                ("Content-Type", "image/jpeg"),
                ("Content-Encoding", "gzip"),
                ("X-Object-Meta-Camera", "front"),
            ],
            Some(&bytes),
        )
        .expect(201);
    // The bare lower-case hex MD5 (Java compares it as a plain string).
    assert_eq!(put.header("etag"), Some(md5_hex(&bytes).as_str()));
    assert!(put.header("last-modified").unwrap().ends_with(" GMT"));

    let head = s.send("HEAD", &name, &[], None).expect(200);
    assert_eq!(head.header("content-length"), Some("100000"));
    assert_eq!(head.header("content-type"), Some("image/jpeg"));
    assert_eq!(head.header("content-encoding"), Some("gzip"));
    assert_eq!(head.header("x-object-meta-camera"), Some("front"));
    assert_eq!(head.header("etag"), Some(md5_hex(&bytes).as_str()));
    assert!(head.body.is_empty());

    let get = s.get(&name, &[]).expect(200);
    assert_eq!(get.body, bytes);
    assert_eq!(get.header("accept-ranges"), Some("bytes"));

    // Without an encoding, no Content-Encoding header; the type defaults.
    s.put("plain", b"x").expect(201);
    let head = s.send("HEAD", "plain", &[], None).expect(200);
    assert_eq!(head.header("content-encoding"), None);
    assert_eq!(
        head.header("content-type"),
        Some("application/octet-stream")
    );

    // The admin sees the same object, byte for byte.
    let listed = t.admin.storage_objects(&d.id).unwrap();
    assert_eq!(listed.len(), 1);
    let o = &listed[0];
    assert_eq!((o.name(), o.bytes()), (name.as_str(), 100_000));
    assert_eq!(o.hash(), md5_hex(&bytes));
    assert_eq!(o.content_type(), "image/jpeg");
    assert_eq!(o.content_encoding(), Some("gzip"));
    assert_eq!(o.metadata()["camera"], "front");
    assert_eq!(o.url(), format!("{}/{name}", t.server.storage_url()));
    assert_eq!(t.admin.storage_object_bytes(&name).unwrap(), bytes);

    // An ETag sent with the upload is checked against the bytes' MD5.
    let wrong = s.send(
        "PUT",
        "checked",
        &[("ETag", &md5_hex(b"other"))],
        Some(b"mine"),
    );
    assert_eq!(wrong.status, 422);
    assert!(t.admin.storage_objects("checked").unwrap().is_empty());
    let quoted = format!("\"{}\"", md5_hex(b"mine"));
    s.send("PUT", "checked", &[("ETag", &quoted)], Some(b"mine"))
        .expect(201);

    // A new PUT replaces it; DELETE removes it.
    s.put(&name, b"second").expect(201);
    assert_eq!(s.get(&name, &[]).expect(200).body, b"second");
    s.send("DELETE", &name, &[], None).expect(204);
    s.get(&name, &[]).expect(404);
    s.send("DELETE", &name, &[], None).expect(404);
    assert_eq!(
        t.admin
            .storage_object_bytes(&name)
            .unwrap_err()
            .status_code(),
        Some(404)
    );
}

#[test]
fn bad_expired_and_revoked_tokens_are_401() {
    let t = TestServer::with("storage-tokens", |c| {
        c.storage_token_lifetime(Duration::from_millis(1))
    });
    let d = t.activated("cam", &[TEMPERATURE]);
    let s = Storage::of(&t, &d);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(s.put("a", b"x").status, 401, "expired");
    let path = s.path("a");
    let none = t.http().send("PUT", &path, &[], Some(b"x"));
    assert_eq!(none.status, 401);
    let bad = t
        .http()
        .send("PUT", &path, &[("X-Auth-Token", "nope")], Some(b"x"));
    assert_eq!(bad.status, 401);

    let t = TestServer::start("storage-tokens-2");
    let mut d = t.activated("cam", &[TEMPERATURE]);
    let s = Storage::of(&t, &d);
    s.put("a", b"x").expect(201);
    t.admin.expire_tokens().unwrap();
    assert_eq!(s.put("a", b"x").status, 401, "revoked");
    // A fresh token works; a 401 injected once is answered once.
    d.refresh_token();
    let s = Storage::of(&t, &d);
    t.admin
        .inject_fault(&Fault::status(401).on_path("/v1/"))
        .unwrap();
    assert_eq!(s.put("a", b"y").status, 401);
    s.put("a", b"y").expect(201);
}

#[test]
fn ranges_give_206_or_416() {
    let t = TestServer::start("storage-range");
    let d = t.activated("cam", &[TEMPERATURE]);
    let s = Storage::of(&t, &d);
    let bytes = pattern(1000, 1);
    s.put("r", &bytes).expect(201);
    let cases: [(&str, usize, usize); 4] = [
        ("bytes=0-9", 0, 9),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=500-5000", 500, 999),
    ];
    for (range, start, end) in cases {
        let r = s.get("r", &[("Range", range)]).expect(206);
        assert_eq!(r.body, &bytes[start..=end], "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {start}-{end}/1000").as_str())
        );
    }
    let r = s.get("r", &[("Range", "bytes=1000-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1000"));
    // Several ranges are not supported: the whole object, as RFC 9110 allows.
    let r = s.get("r", &[("Range", "bytes=0-1,5-6")]).expect(200);
    assert_eq!(r.body, bytes);
}

#[test]
fn a_manifest_streams_its_segments_and_the_listing_finds_them() {
    let t = TestServer::start("storage-manifest");
    let d = t.activated("cam", &[TEMPERATURE]);
    let s = Storage::of(&t, &d);
    let name = format!("{}/video", d.id);
    let segments = [pattern(70_000, 1), pattern(70_000, 2), pattern(5, 3)];
    // Uploaded out of order, and chunked: the manifest orders them by name.
    for i in [2, 0, 1] {
        let status = s
            .put_streamed(&format!("{name}/seg/{i:08}"), &segments[i][..])
            .unwrap();
        assert_eq!(status, 201);
    }
    let manifest = format!("iotcs/{name}/seg/");
    s.send(
        "PUT",
        &name,
        &[
            ("X-Object-Manifest", manifest.as_str()),
            ("Content-Type", "video/mp4"),
        ],
        Some(b""),
    )
    .expect(201);
    let all = segments.concat();
    let get = s.get(&name, &[]).expect(200);
    assert_eq!(get.body, all);
    assert_eq!(get.header("content-type"), Some("video/mp4"));
    assert_eq!(get.header("x-object-manifest"), Some(manifest.as_str()));
    // Swift's rule: the quoted MD5 of the segments' ETags, in order.
    let etags: String = segments.iter().map(|b| md5_hex(b)).collect();
    let expected = format!("\"{}\"", md5_hex(etags.as_bytes()));
    assert_eq!(get.header("etag"), Some(expected.as_str()));
    let head = s.send("HEAD", &name, &[], None).expect(200);
    assert_eq!(head.header("content-length"), Some("140005"));
    // A range across a segment boundary.
    let r = s.get(&name, &[("Range", "bytes=69990-70009")]).expect(206);
    assert_eq!(r.body, &all[69_990..70_010]);

    // Resuming: the listing tells which segments are stored.
    let listed = s
        .list(&format!("?prefix={name}/seg/&format=json"))
        .expect(200)
        .json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2]["name"], format!("{name}/seg/00000002"));
    assert_eq!(listed[2]["bytes"], 5);
    assert_eq!(listed[2]["hash"], md5_hex(&segments[2]));
    let text = s.list(&format!("?prefix={name}/seg/&marker={name}/seg/00000000"));
    assert_eq!(
        String::from_utf8(text.expect(200).body).unwrap(),
        format!("{name}/seg/00000001\n{name}/seg/00000002\n")
    );
    assert_eq!(
        s.list("?prefix=nothing/&format=json").expect(200).json(),
        json!([])
    );
    s.list("?prefix=nothing/").expect(204);
    // A manifest naming another container is refused.
    let bad = s.send("PUT", "m2", &[("X-Object-Manifest", "other/x")], Some(b""));
    assert_eq!(bad.status, 400);
}

#[test]
fn the_quota_refuses_uploads_with_413() {
    let t = TestServer::with("storage-quota", |c| c.storage_quota(1000));
    let d = t.activated("cam", &[TEMPERATURE]);
    let s = Storage::of(&t, &d);
    s.put("a", &[1; 600]).expect(201);
    // Announced by Content-Length, or found while streaming.
    assert_eq!(s.put("b", &[2; 600]).status, 413);
    match s.put_streamed("c", &[3u8; 600][..]) {
        Ok(status) => assert_eq!(status, 413),
        Err(e) => panic!("the chunked upload should get an answer: {e}"),
    }
    assert_eq!(
        t.admin.storage_objects("").unwrap().len(),
        1,
        "nothing else stored"
    );
    s.put("a", &[1; 400]).expect(201);
    s.put("b", &[2; 500]).expect(201);
}

#[test]
fn faults_fail_or_cut_an_upload_after_n_bytes_and_bytes_are_counted() {
    let t = TestServer::start("storage-faults");
    let d = t.activated("cam", &[TEMPERATURE]);
    let s = Storage::of(&t, &d);
    let bytes = pattern(300_000, 9);
    let path = s.path("cut");
    t.admin
        .inject_fault(&Fault::drop_connection().after_bytes(100_000).on_path(&path))
        .unwrap();
    let first = s.put_streamed("cut", &bytes[..]);
    assert!(!matches!(first, Ok(201)), "{first:?}");
    assert!(
        t.admin.storage_objects("cut").unwrap().is_empty(),
        "nothing stored"
    );
    let after_cut = t.admin.storage_bytes_received().unwrap()["cut"];
    assert!(after_cut >= 100_000, "{after_cut}");
    assert!(after_cut < 300_000, "{after_cut}");

    // A failed upload is read to its end (and counted), then refused.
    t.admin
        .inject_fault(&Fault::status(503).after_bytes(1).on_path(&path))
        .unwrap();
    assert_eq!(s.put("cut", &bytes).status, 503);
    assert!(t.admin.storage_objects("cut").unwrap().is_empty());
    s.put("cut", &bytes).expect(201);
    assert_eq!(t.admin.storage_object_bytes("cut").unwrap(), bytes);
    let received = t.admin.storage_bytes_received().unwrap()["cut"];
    assert_eq!(received, after_cut + 2 * 300_000);

    // A cut download: the client sees an error, not a short object.
    t.admin
        .inject_fault(&Fault::drop_connection().on_path(&path))
        .unwrap();
    let r = s
        .http
        .try_send("GET", &path, &[("X-Auth-Token", &s.token)], None);
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn the_admin_points_a_uri_attribute_at_an_object() {
    let t = TestServer::start("storage-admin-uri");
    let model = json!({"urn": "urn:test:camera", "name": "Camera",
        "attributes": [{"name": "image", "type": "URI", "writable": true}]});
    t.admin.upload_model(&model).unwrap();
    let d = t.activated("cam", &["urn:test:camera"]);
    let s = Storage::of(&t, &d);
    s.put("firmware.bin", b"new firmware").expect(201);
    let missing = t
        .admin
        .set_attribute_to_storage_object(&d.id, "urn:test:camera", "image", "nope")
        .unwrap_err();
    assert_eq!(missing.status_code(), Some(404));
    let id = t
        .admin
        .set_attribute_to_storage_object(&d.id, "urn:test:camera", "image", "firmware.bin")
        .unwrap();
    let answer = d.post(&[], "").expect(202).json();
    let request = &answer.as_array().unwrap()[0];
    assert_eq!(request["id"], id.as_str());
    assert_eq!(request["payload"]["method"], "PUT");
    assert_eq!(
        request["payload"]["url"],
        "deviceModels/urn:test:camera/attributes/image"
    );
    let body = iotcs_core::__private::encoding::base64_decode(
        request["payload"]["body"].as_str().unwrap(),
    )
    .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    let url = format!("{}/firmware.bin", t.server.storage_url());
    assert_eq!(body, json!({"value": url}));
    t.admin.delete_storage_object("firmware.bin").unwrap();
    assert!(t.admin.storage_objects("").unwrap().is_empty());
}

#[test]
fn a_64_mib_object_is_streamed_both_ways() {
    const LEN: u64 = 64 * 1024 * 1024;
    let t = TestServer::start("storage-64mib");
    let d = t.activated("cam", &[TEMPERATURE]);
    let s = Storage::of(&t, &d);
    let mut source = Generated::new(LEN, 42);
    assert_eq!(s.put_streamed("big", &mut source).unwrap(), 201);
    let sent = source.md5.finalize();
    let url = format!("{}{}", s.base, s.path("big"));
    let mut response = s
        .http
        .agent()
        .get(&url)
        .header("X-Auth-Token", &s.token)
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        total += n as u64;
    }
    assert_eq!(total, LEN);
    assert_eq!(md5.finalize(), sent);
    let listed = t.admin.storage_objects("big").unwrap();
    assert_eq!(listed[0].bytes(), LEN);
}

#[test]
fn objects_survive_a_restart_and_an_ephemeral_store_leaves_nothing() {
    let dir = tempfile::TempDir::with_prefix("storage-restart").unwrap();
    let config = || iotcs_server::ServerConfig::for_tests().data_dir(dir.path());
    let server = iotcs_server::Server::start(config()).unwrap();
    let t = TestServer {
        admin: server.admin().unwrap(),
        server,
        dir: tempfile::TempDir::with_prefix("unused").unwrap(),
    };
    let d = t.activated("cam", &[TEMPERATURE]);
    let s = Storage::of(&t, &d);
    let bytes = pattern(10_000, 4);
    s.send("PUT", "kept", &[("X-Object-Meta-K", "v")], Some(&bytes))
        .expect(201);
    t.server.shutdown().unwrap();

    let server = iotcs_server::Server::start(config()).unwrap();
    let admin = server.admin().unwrap();
    assert_eq!(admin.storage_object_bytes("kept").unwrap(), bytes);
    assert_eq!(admin.storage_objects("").unwrap()[0].metadata()["k"], "v");
    assert!(server.storage_url().starts_with(server.url()));

    assert_eq!(
        server.storage_dir(),
        Some(dir.path().join("storage").as_path())
    );
    server.shutdown().unwrap();

    // An ephemeral server keeps objects in a directory of its own that is
    // removed at shutdown.
    let t = TestServer::with("storage-ephemeral", |c| c);
    let d = t.activated("cam", &[TEMPERATURE]);
    Storage::of(&t, &d).put("gone", b"x").expect(201);
    let store = t.server.storage_dir().unwrap().to_path_buf();
    assert!(!store.starts_with(t.dir.path()), "{}", store.display());
    assert!(store.join("objects").read_dir().unwrap().count() == 2);
    t.server.shutdown().unwrap();
    assert!(!store.exists());
}

#[test]
fn a_storage_host_name_goes_into_the_container_url() {
    let t = TestServer::with("storage-host", |c| {
        c.storage_host("iotcs.storage.oraclecloud.com")
    });
    let d = t.activated("cam", &[TEMPERATURE]);
    let answer = d
        .call("GET", "/iot/api/v2/provisioner/storage", None)
        .expect(200)
        .json();
    let port = t.server.addr().port();
    assert_eq!(
        answer["storageContainerUrl"],
        format!("https://iotcs.storage.oraclecloud.com:{port}/v1/Storage-iotcs/iotcs")
    );
    // The certificate names it too (re-issued by the same CA).
    let pem = std::fs::read_to_string(t.dir.path().join("server.pem")).unwrap();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let needle = b"iotcs.storage.oraclecloud.com";
    assert!(der.windows(needle.len()).any(|w| w == needle));
}
