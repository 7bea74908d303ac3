//! The trusted assets store: the provisioning file that holds a device's
//! server, identity and credentials, in Oracle's unified format (spec §1.1,
//! protocol-js §1.2).
//!
//! [`TrustedAssets`] is the content, in memory and IO-free, with
//! [`TrustedAssets::decode`] and [`TrustedAssets::encode`] for the file format.
//! [`TrustedAssetsStore`] ties it to a file and rewrites that file atomically.
//! Secrets are held in [`Secret`], so they never show up in `Debug` output.

mod envelope;
mod format;
mod secret;
mod store;
mod uri;

use std::fmt;

pub use secret::Secret;
pub use store::TrustedAssetsStore;

use crate::Error;
use uri::ServerUri;

/// The credentials of one indirectly-connected device that a gateway may
/// register (TAS tag 8): its hardware (activation) id and shared secret.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Icd {
    hardware_id: String,
    secret: Secret,
}

impl Icd {
    /// The device's hardware id, the `hardwareId` of indirect activation.
    pub fn hardware_id(&self) -> &str {
        &self.hardware_id
    }

    /// The device's shared secret: the HMAC key of its registration
    /// signature (spec §4).
    pub fn secret(&self) -> &[u8] {
        self.secret.expose()
    }
}

/// Everything a trusted assets store holds: the server, the activation id and
/// shared secret, the trust anchors, and after activation the endpoint id and
/// the device's RSA key pair; for a gateway also the credentials of its
/// indirectly-connected devices.
///
/// Pure data: reading and writing files is [`TrustedAssetsStore`]'s job.
/// `Debug` shows ids and counts, never secrets or keys.
#[derive(Clone, Eq, PartialEq)]
pub struct TrustedAssets {
    server: ServerUri,
    client_id: String,
    shared_secret: Secret,
    endpoint_id: Option<String>,
    trust_anchors: Vec<Vec<u8>>,
    private_key: Option<Secret>,
    public_key: Option<Vec<u8>>,
    icds: Vec<Icd>,
    /// Everything from the first `#` of the file, written back unchanged
    /// (Oracle's JS library does the same; Java puts `#serverUri:`-style notes
    /// there).
    comment: Vec<u8>,
}

impl TrustedAssets {
    /// New, not yet activated assets for the device `client_id` (its activation
    /// id) with its `shared_secret`, talking to `server_uri`.
    ///
    /// `server_uri` is `https://host[:port]` (port 443 when absent; an IPv6
    /// host in brackets). `mqtts://` is accepted and stored as given, because
    /// Oracle's Java library provisions it, but this SDK connects only over
    /// https.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] if the URI is not of that form;
    /// [`Error::Argument`] if `client_id` or `shared_secret` is empty.
    pub fn new(server_uri: &str, client_id: &str, shared_secret: &[u8]) -> Result<Self, Error> {
        let server = ServerUri::parse(server_uri)?;
        if client_id.is_empty() {
            return Err(Error::argument("client id is empty"));
        }
        if shared_secret.is_empty() {
            return Err(Error::argument("shared secret is empty"));
        }
        Ok(TrustedAssets {
            server,
            client_id: client_id.to_owned(),
            shared_secret: Secret::from(shared_secret),
            endpoint_id: None,
            trust_anchors: Vec::new(),
            private_key: None,
            public_key: None,
            icds: Vec::new(),
            comment: b"#".to_vec(),
        })
    }

    /// Adds a trust anchor: a CA certificate in DER (not PEM) that the server's
    /// certificate must chain to. When a store has anchors they are the only
    /// CAs the client trusts.
    #[must_use]
    pub fn with_trust_anchor(mut self, der: Vec<u8>) -> Self {
        self.trust_anchors.push(der);
        self
    }

    /// Adds the credentials of an indirectly-connected device, replacing any
    /// earlier secret for the same hardware id.
    #[must_use]
    pub fn with_icd(mut self, hardware_id: &str, secret: &[u8]) -> Self {
        self.set_icd(hardware_id, secret);
        self
    }

    /// Adds or replaces the credentials of an indirectly-connected device.
    pub fn set_icd(&mut self, hardware_id: &str, secret: &[u8]) {
        let secret = Secret::from(secret);
        match self
            .icds
            .iter_mut()
            .find(|icd| icd.hardware_id == hardware_id)
        {
            Some(icd) => icd.secret = secret,
            None => self.icds.push(Icd {
                hardware_id: hardware_id.to_owned(),
                secret,
            }),
        }
    }

    /// Removes an indirectly-connected device's credentials; returns whether
    /// there were any.
    pub fn remove_icd(&mut self, hardware_id: &str) -> bool {
        let before = self.icds.len();
        self.icds.retain(|icd| icd.hardware_id != hardware_id);
        self.icds.len() != before
    }

    /// The server as `scheme://host:port`, always with the port.
    pub fn server_uri(&self) -> String {
        self.server.to_string()
    }

    /// `https` (or `mqtts` for a store provisioned for MQTT), lower case.
    pub fn server_scheme(&self) -> &str {
        self.server.scheme()
    }

    /// The server's host name or IP address; an IPv6 address without brackets.
    pub fn server_host(&self) -> &str {
        self.server.host()
    }

    /// The server's port.
    pub fn server_port(&self) -> u16 {
        self.server.port()
    }

    /// The activation id (also called client id or hardware id) the device
    /// was registered with.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The shared secret, the raw HMAC key of the HS256 client assertion and of
    /// the activation signature.
    pub fn shared_secret(&self) -> &[u8] {
        self.shared_secret.expose()
    }

    /// The endpoint id the server assigned at activation, if activated.
    pub fn endpoint_id(&self) -> Option<&str> {
        self.endpoint_id.as_deref()
    }

    /// The trust anchors, each a DER X.509 certificate.
    pub fn trust_anchors(&self) -> &[Vec<u8>] {
        &self.trust_anchors
    }

    /// The device's RSA private key (PKCS#8 DER), once generated at activation.
    pub fn private_key(&self) -> Option<&[u8]> {
        self.private_key.as_ref().map(Secret::expose)
    }

    /// The device's RSA public key (X.509 SubjectPublicKeyInfo DER).
    pub fn public_key(&self) -> Option<&[u8]> {
        self.public_key.as_deref()
    }

    /// The shared secret of the indirectly-connected device `hardware_id`.
    ///
    /// Only the tag-8 list is searched: Oracle's JS library also answers with
    /// the gateway's own secret when `hardware_id` is the gateway's activation
    /// id, which a caller can do with [`TrustedAssets::client_id`].
    pub fn icd_secret(&self, hardware_id: &str) -> Option<&[u8]> {
        self.icds
            .iter()
            .find(|icd| icd.hardware_id == hardware_id)
            .map(Icd::secret)
    }

    /// All indirectly-connected devices' credentials, in store order.
    pub fn icds(&self) -> &[Icd] {
        &self.icds
    }

    /// Whether the device has been activated: it has a non-empty endpoint id
    /// (the JS library's rule).
    pub fn is_activated(&self) -> bool {
        self.endpoint_id.as_deref().is_some_and(|id| !id.is_empty())
    }

    /// The comment section of the file (from its first `#`), written back
    /// unchanged. A new store's is `#`.
    pub fn comment(&self) -> &[u8] {
        &self.comment
    }

    /// Replaces the comment section, e.g. with `#serverUri:...\n` notes.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] unless `comment` starts with `#`: readers find the
    /// end of the encrypted part at the first `#`, and Oracle's JS reader
    /// cannot load a file without one.
    pub fn set_comment(&mut self, comment: &str) -> Result<(), Error> {
        if !comment.starts_with('#') {
            return Err(Error::argument(
                "a trusted assets store comment must start with '#'",
            ));
        }
        self.comment = comment.as_bytes().to_vec();
        Ok(())
    }

    /// Records a successful activation: the endpoint id and the key pair
    /// (PKCS#8 private key, SubjectPublicKeyInfo public key, both DER), as
    /// Oracle's libraries store them (tags 4, 6, 7).
    pub fn set_activation(
        &mut self,
        endpoint_id: &str,
        private_key_pkcs8: &[u8],
        public_key_spki: &[u8],
    ) {
        self.endpoint_id = Some(endpoint_id.to_owned());
        self.private_key = Some(Secret::from(private_key_pkcs8));
        self.public_key = Some(public_key_spki.to_vec());
    }

    /// Forgets the activation (endpoint id and keys), like the reference
    /// library's `reset`, so that the device activates again.
    pub fn reset_activation(&mut self) {
        self.endpoint_id = None;
        self.private_key = None;
        self.public_key = None;
    }

    /// Reads the unified store format from the file's bytes.
    ///
    /// Base64 may be wrapped (Java writes CRLF every 76 columns); unknown tags
    /// are skipped with a warning; the comment section is kept. The format has
    /// no integrity check besides the CBC padding, so a modified ciphertext is
    /// detected only when it breaks the padding or the TLV structure.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for an empty passphrase. [`Error::Security`] for a
    /// wrong passphrase, an unknown version byte, a truncated or corrupted
    /// file, a missing server URI, client id or shared secret, a server URI
    /// that is not `https://host:port`, or keys that are not valid RSA keys or
    /// do not belong together. The reason never contains a secret.
    pub fn decode(bytes: &[u8], passphrase: &str) -> Result<Self, Error> {
        format::decode(bytes, passphrase.as_bytes())
    }

    /// Writes the unified store format, encrypted under `passphrase` with a
    /// fresh random IV.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for an empty passphrase, a value longer than the
    /// format's 65535 bytes, or a trust anchor or public key that is not DER;
    /// [`Error::Security`] if the random source fails.
    pub fn encode(&self, passphrase: &str) -> Result<Vec<u8>, Error> {
        let mut iv = [0u8; 16];
        crate::random::fill_random(&mut iv)?;
        format::encode(self, passphrase.as_bytes(), iv)
    }

    /// Like [`TrustedAssets::encode`] with a given IV, for reproducible test
    /// files. The IV is also the PBKDF2 salt, so reusing one with the same
    /// passphrase reuses the key: never use this for real stores.
    ///
    /// # Errors
    ///
    /// As [`TrustedAssets::encode`].
    pub fn encode_with_iv(&self, passphrase: &str, iv: [u8; 16]) -> Result<Vec<u8>, Error> {
        format::encode(self, passphrase.as_bytes(), iv)
    }
}

impl fmt::Debug for TrustedAssets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let icds: Vec<&str> = self.icds.iter().map(Icd::hardware_id).collect();
        f.debug_struct("TrustedAssets")
            .field("server_uri", &self.server.to_string())
            .field("client_id", &self.client_id)
            .field("shared_secret", &self.shared_secret)
            .field("endpoint_id", &self.endpoint_id)
            .field("trust_anchors", &self.trust_anchors.len())
            .field("private_key", &self.private_key)
            .field(
                "public_key",
                &self
                    .public_key
                    .as_ref()
                    .map(|k| format!("<{} bytes>", k.len())),
            )
            .field("icds", &icds)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn sample() -> TrustedAssets {
        TrustedAssets::new("https://iot.example.com", "GW-1", b"gwSecret")
            .unwrap()
            .with_trust_anchor(vec![0x30, 0x00])
            .with_icd("ICD-A", b"secretA")
            .with_icd("ICD-B", b"secretB")
    }

    #[test]
    fn new_and_accessors() {
        let a = sample();
        assert_eq!(a.server_uri(), "https://iot.example.com:443");
        assert_eq!(a.server_scheme(), "https");
        assert_eq!(a.server_host(), "iot.example.com");
        assert_eq!(a.server_port(), 443);
        assert_eq!(a.client_id(), "GW-1");
        assert_eq!(a.shared_secret(), b"gwSecret");
        assert_eq!(a.endpoint_id(), None);
        assert!(!a.is_activated());
        assert_eq!(a.trust_anchors(), &[vec![0x30, 0x00]]);
        assert_eq!(a.private_key(), None);
        assert_eq!(a.public_key(), None);
        assert_eq!(a.icd_secret("ICD-B"), Some(b"secretB".as_slice()));
        assert_eq!(a.icd_secret("GW-1"), None);
        assert_eq!(a.icds().len(), 2);
        assert_eq!(a.icds()[0].hardware_id(), "ICD-A");
        assert_eq!(a.comment(), b"#");
    }

    #[test]
    fn new_rejects_bad_arguments() {
        let e = TrustedAssets::new("http://h:80", "id", b"s").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Security);
        let e = TrustedAssets::new("https://h", "", b"s").unwrap_err();
        assert_eq!(e.to_string(), "invalid argument: client id is empty");
        let e = TrustedAssets::new("https://h", "id", b"").unwrap_err();
        assert_eq!(e.to_string(), "invalid argument: shared secret is empty");
    }

    #[test]
    fn icds_replace_and_remove() {
        let mut a = sample().with_icd("ICD-A", b"newA");
        assert_eq!(a.icds().len(), 2);
        assert_eq!(a.icd_secret("ICD-A"), Some(b"newA".as_slice()));
        assert!(a.remove_icd("ICD-A"));
        assert!(!a.remove_icd("ICD-A"));
        assert_eq!(a.icds().len(), 1);
    }

    #[test]
    fn activation_set_and_reset() {
        let mut a = sample();
        a.set_activation("EP-1", b"private", b"public");
        assert!(a.is_activated());
        assert_eq!(a.endpoint_id(), Some("EP-1"));
        assert_eq!(a.private_key(), Some(b"private".as_slice()));
        assert_eq!(a.public_key(), Some(b"public".as_slice()));
        a.reset_activation();
        assert!(!a.is_activated());
        assert_eq!(a.private_key(), None);
        a.set_activation("", b"k", b"p");
        assert!(
            !a.is_activated(),
            "an empty endpoint id is not an activation"
        );
    }

    #[test]
    fn comment_must_start_with_hash() {
        let mut a = sample();
        assert!(a.set_comment("no hash").is_err());
        a.set_comment("#serverUri:x\n").unwrap();
        assert_eq!(a.comment(), b"#serverUri:x\n");
    }

    #[test]
    fn debug_hides_secrets_and_keys() {
        let mut a = sample();
        a.set_activation("EP-1", b"PRIVATEKEYBYTES", b"pub");
        let text = format!("{a:?}");
        assert!(
            text.contains("GW-1") && text.contains("EP-1") && text.contains("ICD-A"),
            "{text}"
        );
        for secret in [
            "gwSecret",
            "secretA",
            "secretB",
            "PRIVATEKEYBYTES",
            "80, 82",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        assert!(text.contains("<redacted>"));
    }
}
