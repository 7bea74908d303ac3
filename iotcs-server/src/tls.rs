//! The local CA and the server certificate: made with rcgen on first start,
//! written to the data directory, reused afterwards while they still verify.
//!
//! Provisioning files carry the CA as their trust anchor, so the CA must stay
//! stable across restarts: a server certificate that no longer verifies (e.g.
//! expired) is re-issued by the *same* CA when its key is still there, and
//! only a missing or unusable CA is replaced (with a warning, since stores
//! provisioned before then stop trusting the server).
//!
//! RSA 2048 is used rather than ECDSA because Oracle's JavaScript library reads
//! trust anchors with node-forge, which only understands RSA certificates.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use iotcs_core::Error;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_RSA_SHA256, date_time_ymd,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// The subject common name of the local CA.
const CA_NAME: &str = "iotcs-server local CA";
/// The names the server certificate is valid for.
const SERVER_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// The certificates the server runs with.
pub(crate) struct TlsMaterial {
    /// The CA certificate, DER.
    pub(crate) ca_der: Vec<u8>,
    /// The CA certificate, PEM.
    pub(crate) ca_pem: String,
    /// The listener's rustls configuration (server certificate and key).
    pub(crate) server_config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca_der_len", &self.ca_der.len())
            .finish()
    }
}

/// PEM texts of a CA or server certificate and its key.
struct Pair {
    cert_pem: String,
    key_pem: String,
}

/// Loads the certificates from `dir` (or makes them), or makes fresh ones in
/// memory when there is no data directory. The server certificate is valid
/// for [`SERVER_NAMES`] and `extra_names` (the storage host name); a stored
/// one that lacks a name is re-issued by the same CA.
pub(crate) fn load_or_create(
    dir: Option<&Path>,
    extra_names: &[String],
) -> Result<TlsMaterial, Error> {
    let names: Vec<String> = SERVER_NAMES
        .iter()
        .map(|s| (*s).to_owned())
        .chain(extra_names.iter().cloned())
        .collect();
    let (ca, server) = match dir {
        None => {
            let ca = new_ca()?;
            let server = new_server_cert(&ca, &names)?;
            (ca, server)
        }
        Some(dir) => load_or_create_in(dir, &names)?,
    };
    material(&ca, &server)
}

fn load_or_create_in(dir: &Path, names: &[String]) -> Result<(Pair, Pair), Error> {
    let stored_ca = read_pair(dir, "ca.pem", "ca-key.pem");
    let stored_server = read_pair(dir, "server.pem", "server-key.pem");
    if let (Some(ca), Some(server)) = (&stored_ca, &stored_server)
        && verifies(ca, server, names)
    {
        log::debug!("reusing the CA and server certificate in {}", dir.display());
        return Ok((clone(ca), clone(server)));
    }
    if let Some(ca) = stored_ca {
        match new_server_cert(&ca, names) {
            Ok(server) if verifies(&ca, &server, names) => {
                log::info!("issued a new server certificate with the existing CA");
                write_pair(dir, "server.pem", "server-key.pem", &server)?;
                return Ok((ca, server));
            }
            _ => log::warn!(
                "the CA in {} is unusable; making a new one (provisioning files made before \
                 no longer trust this server)",
                dir.display()
            ),
        }
    }
    let ca = new_ca()?;
    let server = new_server_cert(&ca, names)?;
    write_pair(dir, "ca.pem", "ca-key.pem", &ca)?;
    write_pair(dir, "server.pem", "server-key.pem", &server)?;
    log::info!(
        "created a local CA and server certificate in {}",
        dir.display()
    );
    Ok((ca, server))
}

fn clone(p: &Pair) -> Pair {
    Pair {
        cert_pem: p.cert_pem.clone(),
        key_pem: p.key_pem.clone(),
    }
}

fn read_pair(dir: &Path, cert: &str, key: &str) -> Option<Pair> {
    let cert_pem = fs::read_to_string(dir.join(cert)).ok()?;
    let key_pem = fs::read_to_string(dir.join(key)).ok()?;
    Some(Pair { cert_pem, key_pem })
}

fn write_pair(dir: &Path, cert: &str, key: &str, pair: &Pair) -> Result<(), Error> {
    crate::files::write_atomic(&dir.join(cert), pair.cert_pem.as_bytes(), 0o644)?;
    crate::files::write_atomic(&dir.join(key), pair.key_pem.as_bytes(), 0o600)
}

/// The current year, for certificate validity (a day's precision is plenty).
fn this_year() -> i32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // 31 556 952 s is the mean Gregorian year.
    1970 + i32::try_from(secs / 31_556_952).unwrap_or(0)
}

fn rcgen_error(what: &str, e: rcgen::Error) -> Error {
    Error::security(format!("cannot create the {what}: {e}"))
}

fn validity(params: &mut CertificateParams) {
    let year = this_year();
    params.not_before = date_time_ymd(year - 1, 1, 1);
    params.not_after = date_time_ymd(year + 30, 1, 1);
}

/// The CA's parameters. They are rebuilt identically when re-issuing, which
/// is all rcgen's `Issuer` needs (name, key usages, key identifier method).
fn ca_params() -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(|e| rcgen_error("CA certificate", e))?;
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params);
    Ok(params)
}

fn new_ca() -> Result<Pair, Error> {
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(|e| rcgen_error("CA key", e))?;
    let cert = ca_params()?
        .self_signed(&key)
        .map_err(|e| rcgen_error("CA certificate", e))?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn new_server_cert(ca: &Pair, names: &[String]) -> Result<Pair, Error> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|e| rcgen_error("CA key", e))?;
    let issuer = Issuer::new(ca_params()?, &ca_key);
    let mut params =
        CertificateParams::new(names.to_vec()).map_err(|e| rcgen_error("server certificate", e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "iotcs-server");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut params);
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(|e| rcgen_error("server key", e))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| rcgen_error("server certificate", e))?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Whether `server` chains to `ca` and is valid now for every one of `names`.
fn verifies(ca: &Pair, server: &Pair, names: &[String]) -> bool {
    let (Ok(ca_der), Ok(server_der)) = (
        CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()),
        CertificateDer::from_pem_slice(server.cert_pem.as_bytes()),
    ) else {
        return false;
    };
    if PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).is_err() {
        return false;
    }
    let mut roots = rustls::RootCertStore::empty();
    if roots.add(ca_der).is_err() {
        return false;
    }
    let Ok(verifier) =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build()
    else {
        return false;
    };
    names.iter().all(|name| {
        let Ok(name) = ServerName::try_from(name.as_str()) else {
            return false;
        };
        verifier
            .verify_server_cert(&server_der, &[], &name, &[], UnixTime::now())
            .is_ok()
    })
}

fn material(ca: &Pair, server: &Pair) -> Result<TlsMaterial, Error> {
    let bad = |what: &str| Error::security(format!("cannot read the {what}"));
    let ca_der = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes())
        .map_err(|_| bad("CA certificate"))?;
    let server_der = CertificateDer::from_pem_slice(server.cert_pem.as_bytes())
        .map_err(|_| bad("server certificate"))?;
    let key =
        PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).map_err(|_| bad("server key"))?;
    let server_config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::security(format!("cannot configure TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(vec![server_der], key)
        .map_err(|e| Error::security(format!("cannot use the server certificate: {e}")))?;
    Ok(TlsMaterial {
        ca_der: ca_der.as_ref().to_vec(),
        ca_pem: ca.cert_pem.clone(),
        server_config: Arc::new(server_config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        SERVER_NAMES.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn in_memory_material_verifies() {
        let ca = new_ca().unwrap();
        let server = new_server_cert(&ca, &names()).unwrap();
        assert!(verifies(&ca, &server, &names()));
        let m = material(&ca, &server).unwrap();
        assert!(m.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!m.ca_der.is_empty());
    }

    #[test]
    fn a_server_cert_from_another_ca_does_not_verify() {
        let ca1 = new_ca().unwrap();
        let ca2 = new_ca().unwrap();
        let server = new_server_cert(&ca2, &names()).unwrap();
        assert!(!verifies(&ca1, &server, &names()));
        let garbage = Pair {
            cert_pem: "nope".into(),
            key_pem: "nope".into(),
        };
        assert!(!verifies(&garbage, &server, &names()));
        assert!(new_server_cert(&garbage, &names()).is_err());
    }

    #[test]
    fn files_are_reused_and_a_bad_server_cert_is_reissued_by_the_same_ca() {
        let dir = tempfile::TempDir::with_prefix("tls").unwrap();
        let first = load_or_create(Some(dir.path()), &[]).unwrap();
        let again = load_or_create(Some(dir.path()), &[]).unwrap();
        assert!(first.ca_der == again.ca_der, "the CA is reused");
        let server_before = fs::read_to_string(dir.path().join("server.pem")).unwrap();

        fs::write(dir.path().join("server.pem"), "garbage").unwrap();
        let third = load_or_create(Some(dir.path()), &[]).unwrap();
        assert!(first.ca_der == third.ca_der, "same CA after re-issuing");
        let server_after = fs::read_to_string(dir.path().join("server.pem")).unwrap();
        assert_ne!(server_before, server_after);

        // A broken CA key does not matter while the server certificate is good...
        fs::write(dir.path().join("ca-key.pem"), "garbage").unwrap();
        assert!(load_or_create(Some(dir.path()), &[]).unwrap().ca_der == first.ca_der);
        // ...but when a new server certificate is needed, the CA is replaced.
        fs::write(dir.path().join("server.pem"), "garbage").unwrap();
        let fourth = load_or_create(Some(dir.path()), &[]).unwrap();
        assert!(first.ca_der != fourth.ca_der, "an unusable CA is replaced");
        // A storage host name the stored certificate lacks: same CA, new certificate.
        let server_before = fs::read_to_string(dir.path().join("server.pem")).unwrap();
        let fifth =
            load_or_create(Some(dir.path()), &["storage.example.localhost".into()]).unwrap();
        assert!(fifth.ca_der == fourth.ca_der);
        assert_ne!(
            server_before,
            fs::read_to_string(dir.path().join("server.pem")).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("ca-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
