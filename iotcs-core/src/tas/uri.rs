//! The server URI of a trusted assets store (tag 1), split into scheme, host
//! and port once at load time so that the transport never re-parses text.
//!
//! Hand-written rather than the `url` crate, on purpose: the grammar here is
//! `scheme://host[:port][/]` and nothing more, and most of this file is
//! refusing what `url` would accept and we would then have to refuse again
//! (paths, queries, user names, other schemes, port 0); `url` would also
//! rewrite the host (IDNA, percent-decoding, IPv4 shorthand such as
//! `https://127.1`) where a store must keep what was provisioned, and it is
//! not otherwise in the SDK's dependency tree (it brings `idna` and its
//! Unicode tables onto every gateway for one line of input).

use std::fmt;
use std::net::Ipv6Addr;

use crate::Error;

/// The default port when a stored URI has none: Oracle's JS reader uses 443 for
/// https (protocol-js §1.2); 8883 is the registered port of MQTT over TLS.
const HTTPS_PORT: u16 = 443;
const MQTTS_PORT: u16 = 8883;

/// A parsed `scheme://host:port`. The host is kept without IPv6 brackets
/// (what a socket address and TLS name check need); [`fmt::Display`] adds them.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) struct ServerUri {
    scheme: String,
    host: String,
    port: u16,
}

impl ServerUri {
    /// Parses `https://host[:port][/]` or `mqtts://host[:port][/]`.
    ///
    /// Only the two TLS schemes Oracle's clients accept are allowed; `mqtts` is
    /// stored as given even though this SDK speaks only https, so a store
    /// provisioned for MQTT survives a rewrite unchanged.
    pub(crate) fn parse(uri: &str) -> Result<ServerUri, Error> {
        let bad = |why: &str| {
            Error::security(format!(
                "server URI {uri:?} is not https://host:port (or mqtts://host:port): {why}"
            ))
        };
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => HTTPS_PORT,
            "mqtts" => MQTTS_PORT,
            _ => return Err(bad("the scheme must be https or mqtts")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(bad("a path, query, fragment or user name is not allowed"));
        }
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| bad("unclosed '['"))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(bad("the bracketed host is not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("junk after ']'"))?,
                ),
            };
            (host, port)
        } else {
            let (host, port) = match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            };
            let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
            if host.is_empty() || !host.chars().all(valid) {
                return Err(bad(
                    "the host name is empty or has characters other than letters, digits, '-', '.', '_' (IPv6 needs brackets)",
                ));
            }
            (host, port)
        };
        let port = match port {
            None => default_port,
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => port,
                _ => return Err(bad("the port must be a number from 1 to 65535")),
            },
        };
        Ok(ServerUri {
            scheme,
            host: host.to_owned(),
            port,
        })
    }

    pub(crate) fn scheme(&self) -> &str {
        &self.scheme
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for ServerUri {
    /// Always with an explicit port, as Oracle's JS writer does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn parts(uri: &str) -> (String, String, u16) {
        let u = ServerUri::parse(uri).unwrap();
        (u.scheme().to_owned(), u.host().to_owned(), u.port())
    }

    #[test]
    fn parses_host_port_and_defaults() {
        assert_eq!(
            parts("https://127.0.0.1:7443"),
            ("https".into(), "127.0.0.1".into(), 7443)
        );
        assert_eq!(
            parts("https://iot.example.com"),
            ("https".into(), "iot.example.com".into(), 443)
        );
        assert_eq!(
            parts("HTTPS://iot.example.com/"),
            ("https".into(), "iot.example.com".into(), 443)
        );
        assert_eq!(
            parts("mqtts://broker:8883"),
            ("mqtts".into(), "broker".into(), 8883)
        );
        assert_eq!(
            parts("mqtts://broker"),
            ("mqtts".into(), "broker".into(), 8883)
        );
        assert_eq!(
            parts("https://[::1]:443"),
            ("https".into(), "::1".into(), 443)
        );
        assert_eq!(
            parts("https://[fe80::1]"),
            ("https".into(), "fe80::1".into(), 443)
        );
    }

    #[test]
    fn display_always_has_the_port() {
        let show = |s: &str| ServerUri::parse(s).unwrap().to_string();
        assert_eq!(
            show("https://iot.example.com"),
            "https://iot.example.com:443"
        );
        assert_eq!(show("https://[::1]"), "https://[::1]:443");
        assert_eq!(show("https://h:8443/"), "https://h:8443");
    }

    #[test]
    fn rejects_what_clients_cannot_use() {
        for uri in [
            "",
            "iot.example.com:443",
            "http://h:80",
            "ftp://h",
            "https://",
            "https://:443",
            "https://h:0",
            "https://h:65536",
            "https://h:+44",
            "https://h:x",
            "https://h/path",
            "https://u@h",
            "https://::1:443",
            "https://[::1",
            "https://[nothex]:1",
            "https://[::1]x",
            "https://h o",
        ] {
            let e = ServerUri::parse(uri).expect_err(uri);
            assert_eq!(e.kind(), ErrorKind::Security, "{uri}");
            assert!(e.to_string().contains("is not https://host:port"), "{e}");
        }
    }
}
