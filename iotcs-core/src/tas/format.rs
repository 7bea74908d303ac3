//! The plaintext of the unified trusted assets store (spec §1.1, protocol-js
//! §1.2): tag (1 byte), length (2 bytes, big-endian), value, for tags 1 to 8,
//! tag 8 nesting the id (2) and secret (3) of an indirectly-connected device.
//! The encryption around it is in `envelope`.
//!
//! Every read error says what is wrong without echoing any decrypted content,
//! and none can panic: a wrong passphrase decrypts to random bytes, which pass
//! the padding check about once in 256 tries, so the TLV walk treats the
//! plaintext as hostile input.

use super::envelope::{IV_LEN, WRONG_PASSPHRASE, check_passphrase, seal, unseal};
use super::secret::Secret;
use super::uri::ServerUri;
use super::{Icd, TrustedAssets};
use crate::Error;
use crate::crypto::RsaKeyPair;

/// The longest value a TLV's 2-byte length can describe.
const MAX_VALUE_LEN: usize = u16::MAX as usize;

const TAG_SERVER_URI: u8 = 1;
const TAG_CLIENT_ID: u8 = 2;
const TAG_SHARED_SECRET: u8 = 3;
const TAG_ENDPOINT_ID: u8 = 4;
const TAG_TRUST_ANCHOR: u8 = 5;
const TAG_PRIVATE_KEY: u8 = 6;
const TAG_PUBLIC_KEY: u8 = 7;
const TAG_ICD: u8 = 8;

/// One tag-length-value entry, borrowed from the plaintext.
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
}

/// Walks a TLV list. The error says where the structure broke.
fn parse_tlvs(mut buf: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    let total = buf.len();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let offset = total - buf.len();
        let [tag, hi, lo, rest @ ..] = buf else {
            return Err(format!("{} stray bytes at offset {offset}", buf.len()));
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if len > rest.len() {
            return Err(format!(
                "tag {tag} at offset {offset} claims {len} bytes but only {} remain",
                rest.len()
            ));
        }
        let (value, next) = rest.split_at(len);
        out.push(Tlv { tag: *tag, value });
        buf = next;
    }
    Ok(out)
}

fn put_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8], what: &str) -> Result<(), Error> {
    let len = u16::try_from(value.len()).map_err(|_| {
        Error::argument(format!(
            "{what} is {} bytes; the trusted assets store format allows at most {MAX_VALUE_LEN} \
             bytes per value",
            value.len()
        ))
    })?;
    out.push(tag);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// Whether `der` is exactly one DER SEQUENCE (a certificate or a key), which
/// catches PEM text passed by mistake and most corruption, without an X.509
/// parser in the core.
fn is_der_sequence(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else {
        return false;
    };
    let (len, body) = match *first {
        n @ 0..=0x7f => (usize::from(n), rest),
        n @ 0x81..=0x84 => {
            let count = usize::from(n & 0x7f);
            if rest.len() < count {
                return false;
            }
            let (len_bytes, body) = rest.split_at(count);
            (
                len_bytes
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
                body,
            )
        }
        _ => return false,
    };
    len == body.len()
}

fn text(value: &[u8], what: &str) -> Result<String, Error> {
    String::from_utf8(value.to_vec())
        .map_err(|_| Error::security(format!("{WRONG_PASSPHRASE}: the {what} is not UTF-8")))
}

fn decode_icd(value: &[u8], index: usize) -> Result<Icd, Error> {
    let corrupted = |why: String| {
        Error::security(format!(
            "{WRONG_PASSPHRASE}: connected device entry {index} (tag 8) {why}"
        ))
    };
    let mut hardware_id = None;
    let mut secret = None;
    for tlv in parse_tlvs(value).map_err(corrupted)? {
        match tlv.tag {
            TAG_CLIENT_ID => hardware_id = Some(text(tlv.value, "connected device's hardware id")?),
            TAG_SHARED_SECRET => secret = Some(Secret::from(tlv.value)),
            other => log::warn!(target: "iotcs::core::tas",
                "trusted assets store: skipping unknown tag {other} in connected device entry {index}"
            ),
        }
    }
    match (hardware_id, secret) {
        (Some(hardware_id), Some(secret)) if !hardware_id.is_empty() => Ok(Icd {
            hardware_id,
            secret,
        }),
        _ => Err(corrupted(
            "lacks a hardware id (tag 2) or a shared secret (tag 3)".to_owned(),
        )),
    }
}

/// Reads a whole store.
pub(super) fn decode(file: &[u8], passphrase: &[u8]) -> Result<TrustedAssets, Error> {
    let (plain, comment) = unseal(file, passphrase)?;
    let tlvs = parse_tlvs(plain.expose())
        .map_err(|why| Error::security(format!("{WRONG_PASSPHRASE}: {why}")))?;

    let mut server = None;
    let mut client_id = None;
    let mut shared_secret = None;
    let mut endpoint_id = None;
    let mut trust_anchors = Vec::new();
    let mut private_key = None;
    let mut public_key = None;
    let mut icds: Vec<Icd> = Vec::new();
    for tlv in tlvs {
        let value = tlv.value;
        match tlv.tag {
            TAG_SERVER_URI => server = Some(ServerUri::parse(&text(value, "server URI")?)?),
            TAG_CLIENT_ID => client_id = Some(text(value, "client id")?),
            TAG_SHARED_SECRET => shared_secret = Some(Secret::from(value)),
            TAG_ENDPOINT_ID => endpoint_id = Some(text(value, "endpoint id")?),
            TAG_TRUST_ANCHOR => {
                if !is_der_sequence(value) {
                    return Err(Error::security(format!(
                        "{WRONG_PASSPHRASE}: trust anchor {} (tag 5) is not a DER certificate",
                        trust_anchors.len() + 1
                    )));
                }
                trust_anchors.push(value.to_vec());
            }
            TAG_PRIVATE_KEY => private_key = Some(Secret::from(value)),
            TAG_PUBLIC_KEY => public_key = Some(value.to_vec()),
            TAG_ICD => {
                let icd = decode_icd(value, icds.len() + 1)?;
                // Later entries win, as in Oracle's readers (a JS object keyed by id).
                icds.retain(|known| known.hardware_id != icd.hardware_id);
                icds.push(icd);
            }
            other => log::warn!(target: "iotcs::core::tas",
                "trusted assets store: skipping unknown tag {other} ({} bytes)",
                value.len()
            ),
        }
    }

    let missing = |what: &str, tag: u8| {
        Error::security(format!("trusted assets store has no {what} (tag {tag})"))
    };
    let server = server.ok_or_else(|| missing("server URI", TAG_SERVER_URI))?;
    let client_id = client_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| missing("client id", TAG_CLIENT_ID))?;
    let shared_secret = shared_secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("shared secret", TAG_SHARED_SECRET))?;
    if let Some(problem) = key_problem(private_key.as_ref(), public_key.as_deref()) {
        return Err(Error::security(format!("{WRONG_PASSPHRASE}: {problem}")));
    }

    Ok(TrustedAssets {
        server,
        client_id,
        shared_secret,
        endpoint_id,
        trust_anchors,
        private_key,
        public_key,
        icds,
        comment,
    })
}

/// Why the keys are unusable, if they are: not loadable by Oracle's readers
/// or not a pair. Checked on read, so corruption surfaces at open and not at
/// the first signature, and on write, so a store is never saved in a state it
/// cannot be opened from.
fn key_problem(private_key: Option<&Secret>, public_key: Option<&[u8]>) -> Option<&'static str> {
    if public_key.is_some_and(|key| !is_der_sequence(key)) {
        return Some("the public key (tag 7) is not DER");
    }
    let private_key = private_key?;
    let Ok(pair) = RsaKeyPair::from_pkcs8(private_key.expose()) else {
        return Some("the private key (tag 6) is not a PKCS#8 RSA key");
    };
    if public_key.is_some_and(|key| !pair.matches_public_key(key)) {
        return Some("the public key (tag 7) does not belong to the private key (tag 6)");
    }
    None
}

/// Writes a whole store in Oracle's write order: 1, 2, 3, 4?, 5*, 6?, 7?, 8*.
pub(super) fn encode(
    assets: &TrustedAssets,
    passphrase: &[u8],
    iv: [u8; IV_LEN],
) -> Result<Vec<u8>, Error> {
    check_passphrase(passphrase)?;
    if let Some(problem) = key_problem(assets.private_key.as_ref(), assets.public_key.as_deref()) {
        return Err(Error::argument(format!(
            "cannot write the trusted assets store: {problem}"
        )));
    }
    let uri = assets.server.to_string();
    // Sized up front so the buffer never reallocates and leaves secret copies behind.
    let mut plain = Secret::new(Vec::with_capacity(plain_len(assets, &uri)));
    put_tlvs(plain.expose_mut(), assets, &uri)?;
    seal(plain.expose(), passphrase, iv, &assets.comment)
}

/// The length of the plaintext [`put_tlvs`] writes.
fn plain_len(assets: &TrustedAssets, uri: &str) -> usize {
    3 * 7
        + uri.len()
        + assets.client_id.len()
        + assets.shared_secret.len()
        + assets.endpoint_id.as_ref().map_or(0, String::len)
        + assets
            .trust_anchors
            .iter()
            .map(|a| 3 + a.len())
            .sum::<usize>()
        + assets.private_key.as_ref().map_or(0, Secret::len)
        + assets.public_key.as_ref().map_or(0, Vec::len)
        + assets
            .icds
            .iter()
            .map(|i| 9 + i.hardware_id.len() + i.secret.len())
            .sum::<usize>()
}

/// Appends every TLV of the store to `out`, in Oracle's write order.
fn put_tlvs(out: &mut Vec<u8>, assets: &TrustedAssets, uri: &str) -> Result<(), Error> {
    put_tlv(out, TAG_SERVER_URI, uri.as_bytes(), "the server URI")?;
    put_tlv(
        out,
        TAG_CLIENT_ID,
        assets.client_id.as_bytes(),
        "the client id",
    )?;
    put_tlv(
        out,
        TAG_SHARED_SECRET,
        assets.shared_secret.expose(),
        "the shared secret",
    )?;
    if let Some(endpoint_id) = &assets.endpoint_id {
        put_tlv(
            out,
            TAG_ENDPOINT_ID,
            endpoint_id.as_bytes(),
            "the endpoint id",
        )?;
    }
    for (i, anchor) in assets.trust_anchors.iter().enumerate() {
        if !is_der_sequence(anchor) {
            return Err(Error::argument(format!(
                "trust anchor {} is not a DER certificate (PEM must be converted to DER)",
                i + 1
            )));
        }
        put_tlv(
            out,
            TAG_TRUST_ANCHOR,
            anchor,
            &format!("trust anchor {}", i + 1),
        )?;
    }
    if let Some(key) = &assets.private_key {
        put_tlv(out, TAG_PRIVATE_KEY, key.expose(), "the private key")?;
    }
    if let Some(key) = &assets.public_key {
        put_tlv(out, TAG_PUBLIC_KEY, key, "the public key")?;
    }
    for icd in &assets.icds {
        put_icd(out, icd)?;
    }
    Ok(())
}

/// Appends the tag-8 entry of one indirectly-connected device: its id (2)
/// and secret (3) nested in one value.
fn put_icd(out: &mut Vec<u8>, icd: &Icd) -> Result<(), Error> {
    let mut nested = Secret::new(Vec::with_capacity(
        6 + icd.hardware_id.len() + icd.secret.len(),
    ));
    put_tlv(
        nested.expose_mut(),
        TAG_CLIENT_ID,
        icd.hardware_id.as_bytes(),
        "an ICD id",
    )?;
    put_tlv(
        nested.expose_mut(),
        TAG_SHARED_SECRET,
        icd.secret.expose(),
        "an ICD secret",
    )?;
    let what = format!("the entry of connected device {:?}", icd.hardware_id);
    put_tlv(out, TAG_ICD, nested.expose(), &what)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::*;
    use crate::ErrorKind;
    use crate::crypto::test_key;
    use crate::encoding::{base64_decode, base64_encode};

    const IV: [u8; 16] = *b"0123456789abcdef";

    fn fixture(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn fixture_ca_der() -> Vec<u8> {
        let pem = String::from_utf8(fixture("fixture-ca.pem")).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64_decode(&body).unwrap()
    }

    fn security_reason(result: Result<TrustedAssets, Error>) -> String {
        match result {
            Err(e @ Error::Security { .. }) => e.to_string(),
            other => panic!("expected a security error, got {other:?}"),
        }
    }

    fn sample() -> TrustedAssets {
        TrustedAssets::new("https://iot.example.com:8443", "GW-1", b"gwSecret")
            .unwrap()
            .with_trust_anchor(fixture_ca_der())
            .with_icd("ICD-A", b"icdSecretA")
    }

    /// A store whose plaintext is exactly `plain`.
    fn sealed(plain: &[u8]) -> Vec<u8> {
        seal(plain, b"pw", IV, b"#").unwrap()
    }

    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_tlv(&mut out, tag, value, "test").unwrap();
        out
    }

    fn minimal_plain() -> Vec<u8> {
        [tlv(1, b"https://h:1"), tlv(2, b"id"), tlv(3, b"s")].concat()
    }

    #[test]
    fn reads_oracle_dcd_fixture() {
        let a = TrustedAssets::decode(&fixture("oracle-dcd.tas"), "changeit").unwrap();
        assert_eq!(a.server_uri(), "https://127.0.0.1:7443");
        assert_eq!(
            (a.server_scheme(), a.server_host(), a.server_port()),
            ("https", "127.0.0.1", 7443)
        );
        assert_eq!(a.client_id(), "FIXTURE-DCD-1");
        assert_eq!(a.shared_secret(), b"sharedSecret123");
        assert_eq!(a.trust_anchors(), &[fixture_ca_der()]);
        assert!(a.icds().is_empty());
        assert!(!a.is_activated());
        assert_eq!((a.private_key(), a.public_key()), (None, None));
        assert_eq!(a.comment(), b"#");
    }

    #[test]
    fn reads_oracle_gateway_fixture() {
        let a = TrustedAssets::decode(&fixture("oracle-gateway.tas"), "gw-pass").unwrap();
        assert_eq!(a.server_uri(), "https://iot.example.com:443");
        assert_eq!(a.client_id(), "FIXTURE-GW-1");
        assert_eq!(a.shared_secret(), b"gwSecret456");
        assert_eq!(a.trust_anchors(), &[fixture_ca_der()]);
        let icds: Vec<(&str, &[u8])> = a
            .icds()
            .iter()
            .map(|i| (i.hardware_id(), i.secret()))
            .collect();
        assert_eq!(
            icds,
            [
                ("ICD-A", b"icdSecretA".as_slice()),
                ("ICD-B", b"icdSecretB".as_slice())
            ]
        );
        assert_eq!(a.icd_secret("ICD-B"), Some(b"icdSecretB".as_slice()));
        assert!(!a.is_activated());
    }

    #[test]
    fn fixture_with_the_other_passphrase_fails() {
        let reason = security_reason(TrustedAssets::decode(&fixture("oracle-dcd.tas"), "gw-pass"));
        assert!(reason.contains("wrong passphrase or corrupted"), "{reason}");
        assert!(!reason.contains("gw-pass"), "{reason}");
    }

    #[test]
    fn writes_oracle_layout_in_oracle_order() {
        let mut a = sample()
            .with_trust_anchor(vec![0x30, 0x00])
            .with_icd("ICD-B", b"b");
        a.set_activation("EP-1", test_key().pkcs8_der(), test_key().public_key_der());
        let file = a.encode_with_iv("pw", IV).unwrap();
        assert_eq!(file[0], b'!');
        assert!(file.ends_with(b"\n#"));
        let body = &file[1..file.len() - 2];
        assert!(
            body.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b)),
            "one unwrapped line"
        );
        assert_eq!(
            base64_decode(std::str::from_utf8(body).unwrap()).unwrap()[..16],
            IV
        );
        let (plain, comment) = unseal(&file, b"pw").unwrap();
        assert_eq!(comment, b"#");
        let tlvs = parse_tlvs(plain.expose()).unwrap();
        let tags: Vec<u8> = tlvs.iter().map(|t| t.tag).collect();
        assert_eq!(tags, [1, 2, 3, 4, 5, 5, 6, 7, 8, 8]);
        assert_eq!(tlvs[0].value, b"https://iot.example.com:8443");
        assert_eq!(
            tlvs[8].value,
            [tlv(2, b"ICD-A"), tlv(3, b"icdSecretA")].concat()
        );
        assert_eq!(TrustedAssets::decode(&file, "pw").unwrap(), a);
        // Deterministic with a fixed IV, fresh otherwise.
        assert_eq!(a.encode_with_iv("pw", IV).unwrap(), file);
        assert_ne!(a.encode("pw").unwrap(), a.encode("pw").unwrap());
    }

    #[test]
    fn server_uri_is_written_with_its_port() {
        let a = TrustedAssets::new("https://[::1]", "id", b"s").unwrap();
        let (plain, _) = unseal(&a.encode("pw").unwrap(), b"pw").unwrap();
        assert_eq!(
            parse_tlvs(plain.expose()).unwrap()[0].value,
            b"https://[::1]:443"
        );
        // Oracle's Java writer drops the port only for "no port"; readers default to 443.
        let plain = [tlv(1, b"https://h"), tlv(2, b"id"), tlv(3, b"s")].concat();
        let b = TrustedAssets::decode(&sealed(&plain), "pw").unwrap();
        assert_eq!(b.server_uri(), "https://h:443");
        // mqtts is kept as given.
        let plain = [tlv(1, b"mqtts://h:8883"), tlv(2, b"id"), tlv(3, b"s")].concat();
        let c = TrustedAssets::decode(&sealed(&plain), "pw").unwrap();
        assert_eq!(c.server_uri(), "mqtts://h:8883");
    }

    #[test]
    fn reads_java_style_wrapped_base64_and_keeps_comments() {
        let file = sample().encode_with_iv("pw", IV).unwrap();
        let text = std::str::from_utf8(&file[1..file.len() - 2]).unwrap();
        let wrapped: Vec<&str> = text
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let comment = "#serverUri:https://iot.example.com:8443\n#clientId:GW-1\n";
        let java = format!("!{}\n{comment}", wrapped.join("\r\n"));
        let a = TrustedAssets::decode(java.as_bytes(), "pw").unwrap();
        assert_eq!(a.client_id(), "GW-1");
        assert_eq!(a.comment(), comment.as_bytes());
        let rewritten = a.encode("pw").unwrap();
        assert!(rewritten.ends_with(format!("\n{comment}").as_bytes()));
        // A file without any '#' still loads (Java without comments); we add one on write.
        let bare = &file[..file.len() - 2];
        let b = TrustedAssets::decode(bare, "pw").unwrap();
        assert!(b.encode("pw").unwrap().ends_with(b"\n#"));
    }

    #[test]
    fn unknown_tags_are_skipped() {
        let plain = [
            tlv(1, b"https://h:1"),
            tlv(9, b"future"),
            tlv(2, b"id"),
            tlv(3, b"s"),
        ]
        .concat();
        let icd = [tlv(2, b"I"), tlv(42, b"?"), tlv(3, b"x")].concat();
        let plain = [plain, tlv(8, &icd)].concat();
        let a = TrustedAssets::decode(&sealed(&plain), "pw").unwrap();
        assert_eq!(a.client_id(), "id");
        assert_eq!(a.icd_secret("I"), Some(b"x".as_slice()));
    }

    #[test]
    fn wrong_passphrase_with_valid_padding_is_still_reported_as_such() {
        // About one wrong passphrase in 256 decrypts to bytes that end in
        // valid PKCS#7 padding; find one and check the TLV walk copes.
        let file = sample().encode_with_iv("right", IV).unwrap();
        let lucky = (0..5000)
            .map(|i| format!("wrong-{i}"))
            .find(|pw| unseal(&file, pw.as_bytes()).is_ok())
            .expect("some passphrase among 5000 passes the padding check");
        let reason = security_reason(TrustedAssets::decode(&file, &lucky));
        assert!(
            reason.contains("wrong passphrase or corrupted"),
            "{lucky}: {reason}"
        );
    }

    #[test]
    fn tampered_ciphertext() {
        let file = sample().encode_with_iv("pw", IV).unwrap();
        let text = std::str::from_utf8(&file[1..file.len() - 2]).unwrap();
        let blob = base64_decode(text).unwrap();
        // The IV, the first block (tag 1's header) and the last (the padding).
        for at in [0, 5, 16, 18, blob.len() - 1, blob.len() - 16] {
            let mut tampered = blob.clone();
            tampered[at] ^= 0x01;
            let file = [b"!".as_slice(), base64_encode(&tampered).as_bytes(), b"\n#"].concat();
            let reason = security_reason(TrustedAssets::decode(&file, "pw"));
            assert!(
                reason.contains("wrong passphrase or corrupted") || reason.contains("server URI"),
                "byte {at}: {reason}"
            );
        }
    }

    #[test]
    fn tlv_overrun_and_stray_bytes() {
        let mut overrun = minimal_plain();
        overrun.extend_from_slice(&[5, 0x01, 0x00, 0x30]);
        let reason = security_reason(TrustedAssets::decode(&sealed(&overrun), "pw"));
        assert!(
            reason.contains("tag 5 at offset 23 claims 256 bytes but only 1 remain"),
            "{reason}"
        );
        let mut stray = minimal_plain();
        stray.extend_from_slice(&[4, 0]);
        let reason = security_reason(TrustedAssets::decode(&sealed(&stray), "pw"));
        assert!(reason.contains("2 stray bytes at offset 23"), "{reason}");
        let bad_icd = [minimal_plain(), tlv(8, &[2, 0, 9, b'x'])].concat();
        let reason = security_reason(TrustedAssets::decode(&sealed(&bad_icd), "pw"));
        assert!(
            reason.contains("connected device entry 1 (tag 8) tag 2"),
            "{reason}"
        );
        let half_icd = [minimal_plain(), tlv(8, &tlv(2, b"only-id"))].concat();
        let reason = security_reason(TrustedAssets::decode(&sealed(&half_icd), "pw"));
        assert!(
            reason.contains("lacks a hardware id (tag 2) or a shared secret (tag 3)"),
            "{reason}"
        );
    }

    #[test]
    fn missing_or_invalid_required_tags() {
        let cases: [(Vec<u8>, &str); 6] = [
            (
                [tlv(2, b"id"), tlv(3, b"s")].concat(),
                "has no server URI (tag 1)",
            ),
            (
                [tlv(1, b"https://h:1"), tlv(3, b"s")].concat(),
                "has no client id (tag 2)",
            ),
            (
                [tlv(1, b"https://h:1"), tlv(2, b"id")].concat(),
                "has no shared secret (tag 3)",
            ),
            (
                [tlv(1, b"https://h:1"), tlv(2, b""), tlv(3, b"s")].concat(),
                "has no client id (tag 2)",
            ),
            (
                [tlv(1, b"http://h:80"), tlv(2, b"id"), tlv(3, b"s")].concat(),
                "is not https://host:port",
            ),
            (
                [tlv(1, b"https://h:1"), tlv(2, &[0xff]), tlv(3, b"s")].concat(),
                "client id is not UTF-8",
            ),
        ];
        for (plain, expected) in cases {
            let reason = security_reason(TrustedAssets::decode(&sealed(&plain), "pw"));
            assert!(reason.contains(expected), "{expected}: {reason}");
        }
        let bad_anchor = [minimal_plain(), tlv(5, b"-----BEGIN CERTIFICATE-----")].concat();
        let reason = security_reason(TrustedAssets::decode(&sealed(&bad_anchor), "pw"));
        assert!(
            reason.contains("trust anchor 1 (tag 5) is not a DER certificate"),
            "{reason}"
        );
    }

    #[test]
    fn keys_must_be_valid_and_match_on_read() {
        let (key, other) = (test_key(), crate::crypto::other_test_key());
        let cases = [
            (tlv(7, b"\x30\x05"), "the public key (tag 7) is not DER"),
            (
                tlv(6, b"\x30\x00"),
                "the private key (tag 6) is not a PKCS#8 RSA key",
            ),
            (
                [tlv(6, key.pkcs8_der()), tlv(7, other.public_key_der())].concat(),
                "does not belong to the private key",
            ),
        ];
        for (extra, expected) in cases {
            let file = sealed(&[minimal_plain(), extra].concat());
            let reason = security_reason(TrustedAssets::decode(&file, "pw"));
            assert!(reason.contains(expected), "{expected}: {reason}");
        }
        let pair = [tlv(6, key.pkcs8_der()), tlv(7, key.public_key_der())].concat();
        let a = TrustedAssets::decode(&sealed(&[minimal_plain(), pair].concat()), "pw").unwrap();
        assert_eq!(a.private_key(), Some(key.pkcs8_der()));
    }

    #[test]
    fn keys_must_be_valid_and_match_on_write() {
        let (key, other) = (test_key(), crate::crypto::other_test_key());
        let mut a = sample();
        for (private, public) in [
            (key.pkcs8_der(), other.public_key_der()),
            (key.pkcs8_der(), b"\x30\x01".as_slice()),
            (b"\x30\x00".as_slice(), key.public_key_der()),
        ] {
            a.set_activation("EP", private, public);
            let e = a.encode("pw").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Argument);
            assert!(
                e.to_string()
                    .contains("cannot write the trusted assets store: the "),
                "{e}"
            );
        }
    }

    #[test]
    fn write_errors_name_the_value() {
        let big = sample().with_trust_anchor({
            let mut der = vec![0x30, 0x83, 0x01, 0x11, 0x70];
            der.resize(5 + 70_000, 0);
            der
        });
        let e = big.encode("pw").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Argument);
        assert!(
            e.to_string().contains("trust anchor 2 is 70005 bytes"),
            "{e}"
        );
        let pem = sample().with_trust_anchor(b"-----BEGIN CERTIFICATE-----".to_vec());
        assert!(
            pem.encode("pw")
                .unwrap_err()
                .to_string()
                .contains("PEM must be converted to DER")
        );
        let e = sample().encode("").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument: the trusted assets store passphrase is empty"
        );
    }

    #[test]
    fn der_sequence_check() {
        assert!(is_der_sequence(&[0x30, 0x00]));
        assert!(is_der_sequence(&[0x30, 0x02, 1, 2]));
        assert!(is_der_sequence(&[0x30, 0x81, 0x01, 9]));
        assert!(!is_der_sequence(&[0x30, 0x81]));
        assert!(!is_der_sequence(&[0x30, 0x03, 1, 2]));
        assert!(!is_der_sequence(&[0x31, 0x00]));
        assert!(!is_der_sequence(&[0x30, 0x80]));
        assert!(is_der_sequence(&fixture_ca_der()));
    }

    fn arb_text() -> impl Strategy<Value = String> {
        "[A-Za-z0-9:._ -]{1,24}"
    }

    fn arb_assets() -> impl Strategy<Value = TrustedAssets> {
        (
            (
                prop_oneof![Just("https"), Just("mqtts")],
                prop_oneof![
                    "[a-z][a-z0-9.-]{0,20}",
                    Just("[::1]".to_owned()),
                    Just("10.0.0.1".to_owned())
                ],
                1u16..,
            ),
            arb_text(),
            proptest::collection::vec(any::<u8>(), 1..80),
            proptest::option::of(arb_text()),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..3),
            any::<bool>(),
            proptest::collection::vec(
                (arb_text(), proptest::collection::vec(any::<u8>(), 1..40)),
                0..4,
            ),
            proptest::option::of("#[ -~\n]{0,30}"),
        )
            .prop_map(
                |((scheme, host, port), id, secret, endpoint, anchors, keys, icds, comment)| {
                    let mut a =
                        TrustedAssets::new(&format!("{scheme}://{host}:{port}"), &id, &secret)
                            .unwrap();
                    for body in anchors {
                        let mut der = vec![0x30, 0x81, body.len() as u8];
                        der.extend_from_slice(&body[..body.len().min(255)]);
                        der[2] = (der.len() - 3) as u8;
                        a = a.with_trust_anchor(der);
                    }
                    for (hw, s) in icds {
                        a.set_icd(&hw, &s);
                    }
                    if keys {
                        a.set_activation(
                            endpoint.as_deref().unwrap_or("EP"),
                            test_key().pkcs8_der(),
                            test_key().public_key_der(),
                        );
                    } else if let Some(ep) = endpoint {
                        a.endpoint_id = Some(ep);
                    }
                    if let Some(c) = comment {
                        a.set_comment(&c).unwrap();
                    }
                    a
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn write_read_round_trip(a in arb_assets(), pw in "[ -~]{1,20}") {
            let file = a.encode(&pw).unwrap();
            prop_assert_eq!(TrustedAssets::decode(&file, &pw).unwrap(), a);
        }

        #[test]
        fn any_plaintext_decodes_or_fails_cleanly(plain in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = TrustedAssets::decode(&sealed(&plain), "pw");
        }
    }
}
