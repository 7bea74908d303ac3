//! **Not part of the API.** What the sibling crates of the workspace
//! (`iotcs-device`, `iotcs-gateway`, `iotcs-server`) and their tests need
//! from the core but a program using iotcs does not: the protocol's edges,
//! its cryptography, base64/hex, ISO-8601, randomness (message `clientId`s
//! included), the wire form of message arrays and the fast writer of DATA
//! messages. Hidden from the docs and outside semver: anything here
//! may change or go in any release. Programs use the crate root,
//! [`crate::message`], [`crate::model`] and [`crate::logging`].

pub mod crypto {
    //! The protocol's cryptography: JWT client assertions ([`jwt`], spec
    //! §2.2), the activation signature and wire types ([`activation`], spec
    //! §3), the indirect-activation (ICD registration) signatures (spec §4),
    //! RSA keys and HMAC-SHA256.
    pub use crate::crypto::{
        RsaKeyPair, SUPPORTED_RSA_KEY_SIZES, activation, hmac_sha256, icd_signature_hmac,
        icd_signature_rsa, jwt, verify_hmac_sha256, verify_icd_signature_hmac,
        verify_icd_signature_rsa, verify_rsa_sha256,
    };
}

pub mod encoding {
    //! Base64 (lenient where the protocol needs it) and hex.
    pub use crate::encoding::{
        DecodeError, base64_decode, base64_encode, base64url_encode, hex_decode, hex_encode,
    };
}

pub mod time {
    //! ISO-8601 time of the wire, to and from epoch milliseconds.
    pub use crate::time::{format_iso8601, parse_iso8601};
}

pub mod protocol {
    //! The protocol's edges, spelled once for the SDK and the local cloud.
    pub use crate::protocol::{
        Endpoint, Method, StatusClass, header, path, percent_encode, query, status,
    };
}

pub use crate::message::template::DataTemplate;
pub use crate::message::wire::{parse_array, to_json_array, write_json_array};
pub use crate::random::{ClientId, fill_random, uuid_v4};
