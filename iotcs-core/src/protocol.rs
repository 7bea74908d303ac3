//! The edges of the device protocol, spelled once for the SDK and the local
//! cloud (spec protocol.md §2-§6): the device API's endpoints with their one
//! method, the query parameters and headers they read, HTTP methods as a
//! type, and the statuses that decide what becomes of posted messages.
//!
//! The SDK builds requests from these ([`Endpoint::path`],
//! [`Endpoint::method`]); the local cloud routes with the same enum
//! ([`Endpoint::from_segments`]), so a path cannot be spelled two ways.

use std::borrow::Cow;
use std::fmt;

/// An HTTP method of the protocol.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the methods the protocol uses; sibling crates match them exhaustively"
)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name, upper case as on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// The method named `name`, in any case; `None` for one the protocol
    /// does not use.
    pub fn parse(name: &str) -> Option<Method> {
        [
            Method::Get,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The paths of the device API, from the server root.
pub mod path {
    /// `POST`: the OAuth2 token, for a JWT client assertion (spec §2).
    pub const TOKEN: &str = "/iot/api/v2/oauth2/token";
    /// `GET`: the activation policy (spec §3.1).
    pub const ACTIVATION_POLICY: &str = "/iot/api/v2/activation/policy";
    /// `POST`: direct activation (spec §3.2).
    pub const ACTIVATION_DIRECT: &str = "/iot/api/v2/activation/direct";
    /// `POST`: indirect activation of a gateway's device (spec §4).
    pub const ACTIVATION_INDIRECT: &str = "/iot/api/v2/activation/indirect/device";
    /// `POST`: messages up, requests from the cloud down (spec §5).
    pub const MESSAGES: &str = "/iot/api/v2/messages";
    /// The device models; `GET` of `{DEVICE_MODELS}/{urn}` fetches one
    /// (spec §6).
    pub const DEVICE_MODELS: &str = "/iot/api/v2/deviceModels";
    /// The private API's device models, under which device policies live
    /// (spec §7.1): `{PRIVATE_DEVICE_MODELS}/{urn}/devicePolicies…`.
    pub const PRIVATE_DEVICE_MODELS: &str = "/iot/privateapi/v2/deviceModels";
    /// `GET`: the storage container URL and a storage token (§9.1).
    pub const PROVISIONER_STORAGE: &str = "/iot/api/v2/provisioner/storage";
}

/// The query parameters of the device API.
pub mod query {
    /// `POST messages`: how many bytes of requests the device takes back.
    pub const ACCEPT_BYTES: &str = "acceptBytes";
    /// `POST messages`: hold the answer until a request is waiting (long
    /// poll); a flag without a value.
    pub const SYNC: &str = "iot.sync";
    /// `POST messages` with [`SYNC`]: the longest hold, in seconds.
    pub const TIMEOUT: &str = "iot.timeout";
    /// Activation: `false` forbids the cloud to make draft models of URNs it
    /// does not know.
    pub const CREATE_DRAFT: &str = "createDraft";
    /// `GET activation/policy`: the device's operating system.
    pub const OS_NAME: &str = "OSName";
    /// `GET activation/policy`: the operating system's version.
    pub const OS_VERSION: &str = "OSVersion";
    /// Device policies: a JSON filter, e.g. [`policy_of_device`].
    pub const Q: &str = "q";
    /// Device policies: the fields the answer carries, e.g. [`POLICY_FIELDS`].
    pub const FIELDS: &str = "fields";
    /// The `fields` a device asks for with a policy (spec §7.1).
    pub const POLICY_FIELDS: &str = "id,pipelines,enabled,lastModified";
    /// The `fields` a gateway asks for with its devices of a policy.
    pub const DEVICE_FIELDS: &str = "id";

    /// The `q` of `GET …/devicePolicies` for the policy of one device:
    /// `{"devices.id":"<endpoint id>"}` (not yet percent-encoded).
    pub fn policy_of_device(endpoint_id: &str) -> String {
        serde_json::json!({ "devices.id": endpoint_id }).to_string()
    }

    /// The `q` of `GET …/devicePolicies/{id}/devices` for a gateway's own
    /// devices: `{"directlyConnectedOwner":"<gateway id>"}`.
    pub fn devices_of_gateway(gateway_id: &str) -> String {
        serde_json::json!({ "directlyConnectedOwner": gateway_id }).to_string()
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a
/// path segment or a query value (spec §7.1: the URN *is* encoded there).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The protocol's own request and response headers.
pub mod header {
    /// The endpoint a device-scope call is made for.
    pub const ENDPOINT_ID: &str = "X-EndpointId";
    /// The device an activation-scope call is made for.
    pub const ACTIVATION_ID: &str = "X-ActivationId";
    /// In the answer to a poll: the `acceptBytes` the next waiting request
    /// needs.
    pub const MIN_ACCEPT_BYTES: &str = "X-min-acceptBytes";
}

/// An endpoint of the device API (not the administration API the local
/// cloud adds for tests).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the local cloud's router matches every endpoint; a new one must fail its build"
)]
pub enum Endpoint<'a> {
    /// [`path::TOKEN`].
    Token,
    /// [`path::ACTIVATION_POLICY`].
    ActivationPolicy,
    /// [`path::ACTIVATION_DIRECT`].
    ActivationDirect,
    /// [`path::ACTIVATION_INDIRECT`].
    ActivationIndirect,
    /// [`path::MESSAGES`].
    Messages,
    /// One device model, by URN, under [`path::DEVICE_MODELS`].
    DeviceModel(&'a str),
    /// `GET`: the device policies of a model (by URN), filtered by `q`
    /// (spec §7.1).
    DevicePolicies(&'a str),
    /// `GET`: one device policy: model URN, policy id.
    DevicePolicy(&'a str, &'a str),
    /// `GET`: the devices of a policy (model URN, policy id), filtered by
    /// `q`: what a gateway asks about its own devices.
    DevicePolicyDevices(&'a str, &'a str),
    /// [`path::PROVISIONER_STORAGE`].
    ProvisionerStorage,
}

impl<'a> Endpoint<'a> {
    /// The path, without a query. A URN goes in as it is: URNs have no `/`,
    /// and the cloud takes `:` raw or percent-encoded.
    pub fn path(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Endpoint::Token => path::TOKEN,
            Endpoint::ActivationPolicy => path::ACTIVATION_POLICY,
            Endpoint::ActivationDirect => path::ACTIVATION_DIRECT,
            Endpoint::ActivationIndirect => path::ACTIVATION_INDIRECT,
            Endpoint::Messages => path::MESSAGES,
            Endpoint::ProvisionerStorage => path::PROVISIONER_STORAGE,
            Endpoint::DeviceModel(urn) => {
                return Cow::Owned(format!("{}/{urn}", path::DEVICE_MODELS));
            }
            Endpoint::DevicePolicies(urn) => {
                return Cow::Owned(format!(
                    "{}/{}/devicePolicies",
                    path::PRIVATE_DEVICE_MODELS,
                    percent_encode(urn)
                ));
            }
            Endpoint::DevicePolicy(urn, id) => {
                return Cow::Owned(format!(
                    "{}/{}/devicePolicies/{}",
                    path::PRIVATE_DEVICE_MODELS,
                    percent_encode(urn),
                    percent_encode(id)
                ));
            }
            Endpoint::DevicePolicyDevices(urn, id) => {
                return Cow::Owned(format!(
                    "{}/{}/devicePolicies/{}/devices",
                    path::PRIVATE_DEVICE_MODELS,
                    percent_encode(urn),
                    percent_encode(id)
                ));
            }
        })
    }

    /// The one method the endpoint answers.
    pub const fn method(&self) -> Method {
        match self {
            Endpoint::ActivationPolicy
            | Endpoint::DeviceModel(_)
            | Endpoint::DevicePolicies(_)
            | Endpoint::DevicePolicy(..)
            | Endpoint::DevicePolicyDevices(..)
            | Endpoint::ProvisionerStorage => Method::Get,
            Endpoint::Token
            | Endpoint::ActivationDirect
            | Endpoint::ActivationIndirect
            | Endpoint::Messages => Method::Post,
        }
    }

    /// The endpoint of a path given as its decoded, non-empty segments
    /// (`["iot", "api", "v2", "messages"]`); `None` for any other path.
    pub fn from_segments(segments: &[&'a str]) -> Option<Endpoint<'a>> {
        if let [
            "iot",
            "privateapi",
            "v2",
            "deviceModels",
            urn,
            "devicePolicies",
            rest @ ..,
        ] = segments
        {
            return match rest {
                [] => Some(Endpoint::DevicePolicies(urn)),
                [id] => Some(Endpoint::DevicePolicy(urn, id)),
                [id, "devices"] => Some(Endpoint::DevicePolicyDevices(urn, id)),
                _ => None,
            };
        }
        let ["iot", "api", "v2", rest @ ..] = segments else {
            return None;
        };
        Some(match rest {
            ["oauth2", "token"] => Endpoint::Token,
            ["activation", "policy"] => Endpoint::ActivationPolicy,
            ["activation", "direct"] => Endpoint::ActivationDirect,
            ["activation", "indirect", "device"] => Endpoint::ActivationIndirect,
            ["messages"] => Endpoint::Messages,
            ["deviceModels", urn] => Endpoint::DeviceModel(urn),
            ["provisioner", "storage"] => Endpoint::ProvisionerStorage,
            _ => return None,
        })
    }
}

/// HTTP statuses the protocol gives a meaning, by name.
pub mod status {
    /// 200.
    pub const OK: u16 = 200;
    /// 202: the answer to a POST of messages.
    pub const ACCEPTED: u16 = 202;
    /// 400.
    pub const BAD_REQUEST: u16 = 400;
    /// 401: the token is missing, unknown or expired; get a new one.
    pub const UNAUTHORIZED: u16 = 401;
    /// 403.
    pub const FORBIDDEN: u16 = 403;
    /// 404.
    pub const NOT_FOUND: u16 = 404;
    /// 405.
    pub const METHOD_NOT_ALLOWED: u16 = 405;
    /// 408.
    pub const REQUEST_TIMEOUT: u16 = 408;
    /// 409.
    pub const CONFLICT: u16 = 409;
    /// 413.
    pub const PAYLOAD_TOO_LARGE: u16 = 413;
    /// 422.
    pub const UNPROCESSABLE: u16 = 422;
    /// 429.
    pub const TOO_MANY_REQUESTS: u16 = 429;
    /// 500.
    pub const INTERNAL_SERVER_ERROR: u16 = 500;
    /// 503: also what a device answers for a request whose callback is too
    /// slow.
    pub const SERVICE_UNAVAILABLE: u16 = 503;
}

/// What the status of the cloud's answer to a POST of messages says about
/// those messages: the statuses behind the fate table of the SDK's sender
/// (`iotcs-device/src/messaging/fate.rs`, copied in ARCHITECTURE.md), which adds what
/// depends on the batch (its sources, its length).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the fate table matches every class; a new one must fail its build"
)]
pub enum StatusClass {
    /// 2xx: the messages were taken.
    Accepted,
    /// 401: about the token, not the messages.
    Unauthorized,
    /// 403 or 404: the cloud does not take messages from that source (from
    /// us), or no longer knows it.
    RefusesSource,
    /// 400, 409, 413 or 422: something in the messages is wrong.
    RefusesMessage,
    /// Anything else (3xx, 408, 429, 5xx, another 4xx): says nothing about
    /// particular messages; try again later.
    Other,
}

impl StatusClass {
    /// The class of `status`.
    pub const fn of(status: u16) -> StatusClass {
        match status {
            200..=299 => StatusClass::Accepted,
            status::UNAUTHORIZED => StatusClass::Unauthorized,
            status::FORBIDDEN | status::NOT_FOUND => StatusClass::RefusesSource,
            status::BAD_REQUEST
            | status::CONFLICT
            | status::PAYLOAD_TOO_LARGE
            | status::UNPROCESSABLE => StatusClass::RefusesMessage,
            _ => StatusClass::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_in_any_case() {
        for m in [
            Method::Get,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
        ] {
            assert_eq!(Method::parse(m.as_str()), Some(m));
            assert_eq!(Method::parse(&m.as_str().to_ascii_lowercase()), Some(m));
            assert_eq!(m.to_string(), m.as_str());
        }
        assert_eq!(Method::parse("HEAD"), None);
        assert_eq!(Method::parse(""), None);
    }

    #[test]
    fn every_endpoint_routes_back_from_its_path() {
        for endpoint in [
            Endpoint::Token,
            Endpoint::ActivationPolicy,
            Endpoint::ActivationDirect,
            Endpoint::ActivationIndirect,
            Endpoint::Messages,
            Endpoint::DeviceModel("urn:com:example:x"),
            Endpoint::DevicePolicies("urn:com:example:x"),
            Endpoint::DevicePolicy("urn:com:example:x", "P 1"),
            Endpoint::DevicePolicyDevices("urn:com:example:x", "P1"),
            Endpoint::ProvisionerStorage,
        ] {
            let path = endpoint.path();
            let decoded: Vec<String> = path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| s.replace("%3A", ":").replace("%20", " "))
                .collect();
            let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
            assert_eq!(Endpoint::from_segments(&segments), Some(endpoint), "{path}");
        }
        assert_eq!(
            Endpoint::DevicePolicies("urn:x:y").path(),
            "/iot/privateapi/v2/deviceModels/urn%3Ax%3Ay/devicePolicies"
        );
        assert_eq!(Endpoint::DevicePolicy("u", "P").method(), Method::Get);
        assert_eq!(
            percent_encode(&query::policy_of_device("D-1")),
            "%7B%22devices.id%22%3A%22D-1%22%7D"
        );
        assert_eq!(
            query::devices_of_gateway("G"),
            r#"{"directlyConnectedOwner":"G"}"#
        );
        assert_eq!(Endpoint::Messages.method(), Method::Post);
        assert_eq!(Endpoint::DeviceModel("u").method(), Method::Get);
        assert_eq!(Endpoint::ProvisionerStorage.method(), Method::Get);
        for other in [
            &["iot", "api", "v2"][..],
            &["iot", "api", "v2", "messages", "x"],
            &["iot", "api", "v1", "messages"],
            &["iot", "api", "v2", "deviceModels"],
            &["iot", "admin", "faults"],
            &[
                "iot",
                "privateapi",
                "v2",
                "deviceModels",
                "u",
                "devicePolicies",
                "p",
                "x",
            ],
            &["iot", "privateapi", "v2", "deviceModels", "u"],
            &[],
        ] {
            assert_eq!(Endpoint::from_segments(other), None, "{other:?}");
        }
    }

    #[test]
    fn status_classes_follow_the_fate_table() {
        let cases = [
            (200, StatusClass::Accepted),
            (202, StatusClass::Accepted),
            (401, StatusClass::Unauthorized),
            (403, StatusClass::RefusesSource),
            (404, StatusClass::RefusesSource),
            (400, StatusClass::RefusesMessage),
            (409, StatusClass::RefusesMessage),
            (413, StatusClass::RefusesMessage),
            (422, StatusClass::RefusesMessage),
            (302, StatusClass::Other),
            (405, StatusClass::Other),
            (408, StatusClass::Other),
            (429, StatusClass::Other),
            (500, StatusClass::Other),
            (503, StatusClass::Other),
        ];
        for (status, class) in cases {
            assert_eq!(StatusClass::of(status), class, "{status}");
        }
    }
}
