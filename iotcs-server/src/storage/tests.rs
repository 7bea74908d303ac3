//! The object store without HTTP: commit, replace, list, manifests, delete,
//! reload, quota.

use std::io::Read;

use super::*;

fn settings(dir: &Path, quota: u64) -> StorageSettings {
    StorageSettings {
        root: dir.to_path_buf(),
        temporary: false,
        quota,
        token_lifetime: Duration::from_secs(60),
    }
}

fn put(s: &Storage, name: &str, bytes: &[u8]) -> ObjectMeta {
    s.reserve(bytes.len() as u64).unwrap();
    let mut u = s.begin().unwrap();
    u.write(bytes).unwrap();
    let new = NewObject {
        name: name.into(),
        content_type: "text/plain".into(),
        ..NewObject::default()
    };
    s.commit(new, u.finish().unwrap(), 1).unwrap()
}

fn read(content: Content) -> Vec<u8> {
    let mut out = Vec::new();
    for mut p in content.parts {
        let mut buf = vec![0; p.len as usize];
        p.file.read_exact(&mut buf).unwrap();
        out.extend(buf);
    }
    out
}

#[test]
fn objects_are_stored_replaced_listed_and_deleted() {
    let dir = tempfile::TempDir::with_prefix("storage").unwrap();
    let s = Storage::open(settings(dir.path(), 1000)).unwrap();
    let m = put(&s, "dev/a", b"hello");
    assert_eq!(m.hash, "5d41402abc4b2a76b9719d911017c592");
    put(&s, "dev/a", b"hello again");
    put(&s, "dev/b", b"b");
    put(&s, "other", b"o");
    assert_eq!(read(s.content("dev/a").unwrap()), b"hello again");
    let names: Vec<String> = s
        .list("dev/", None, 10)
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["dev/a", "dev/b"]);
    assert_eq!(s.list("dev/", Some("dev/a"), 10).len(), 1);
    assert_eq!(s.list("", None, 2).len(), 2);
    assert_eq!(lock(&s.index).used, 13, "the replaced bytes are given back");
    s.delete("dev/b").unwrap();
    assert!(matches!(s.delete("dev/b"), Err(DomainError::NotFound(_))));
    assert!(s.object("dev/b").is_none());
    drop(s);

    let s = Storage::open(settings(dir.path(), 1000)).unwrap();
    assert_eq!(read(s.content("dev/a").unwrap()), b"hello again");
    assert_eq!(
        lock(&s.index).used,
        12,
        "the index is rebuilt from the sidecars"
    );
    let files = fs::read_dir(dir.path().join("objects")).unwrap().count();
    assert_eq!(files, 4, "two sidecars, two data files, nothing stale");
}

#[test]
fn a_manifest_concatenates_its_segments_in_name_order() {
    let dir = tempfile::TempDir::with_prefix("storage").unwrap();
    let s = Storage::open(settings(dir.path(), 1000)).unwrap();
    put(&s, "dev/big/002", b"cc");
    put(&s, "dev/big/000", b"aa");
    put(&s, "dev/big/001", b"bb");
    let staged = s.begin().unwrap().finish().unwrap();
    let new = NewObject {
        name: "dev/big".into(),
        manifest: Some("dev/big/".into()),
        ..NewObject::default()
    };
    s.commit(new, staged, 2).unwrap();
    let c = s.content("dev/big").unwrap();
    assert_eq!(c.len, 6);
    assert!(c.etag.starts_with('"'), "{}", c.etag);
    assert_eq!(read(c), b"aabbcc");
}

#[test]
fn the_quota_counts_objects_and_uploads_in_progress() {
    let dir = tempfile::TempDir::with_prefix("storage").unwrap();
    let s = Storage::open(settings(dir.path(), 10)).unwrap();
    put(&s, "a", b"123456");
    s.reserve(4).unwrap();
    assert!(matches!(s.reserve(1), Err(DomainError::TooLarge(_))));
    s.release(4);
    s.reserve(1).unwrap();
}

#[test]
fn leftovers_of_a_crash_are_removed_at_open() {
    let dir = tempfile::TempDir::with_prefix("storage").unwrap();
    let s = Storage::open(settings(dir.path(), 1000)).unwrap();
    put(&s, "a", b"1");
    drop(s);
    fs::write(dir.path().join("objects/stale-1.data"), b"x").unwrap();
    fs::write(dir.path().join("objects/bad.json"), b"{").unwrap();
    fs::write(dir.path().join("tmp/cut.part"), b"x").unwrap();
    let s = Storage::open(settings(dir.path(), 1000)).unwrap();
    assert_eq!(s.list("", None, 10).len(), 1);
    assert_eq!(fs::read_dir(dir.path().join("objects")).unwrap().count(), 2);
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn a_temporary_store_is_removed_when_dropped() {
    let dir = tempfile::TempDir::with_prefix("storage").unwrap();
    let root = dir.path().join("s");
    let mut st = settings(&root, 10);
    st.temporary = true;
    drop(Storage::open(st).unwrap());
    assert!(!root.exists());
}
