//! [`ExternalObject`], the value of a URI attribute whose content lives
//! elsewhere. Content the library uploads and downloads itself is a
//! [`crate::StorageObject`] (`storage/`).

use std::fmt;

use iotcs_core::Value;

/// A URI value whose content the application uploads or downloads itself.
/// Reference: `ExternalObject`.
///
/// ```
/// use iotcs_device::ExternalObject;
/// use iotcs_core::Value;
///
/// let image = ExternalObject::new("https://example.com/images/1.png");
/// assert_eq!(image.uri(), "https://example.com/images/1.png");
/// assert_eq!(Value::from(image), Value::Uri("https://example.com/images/1.png".into()));
/// ```
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ExternalObject {
    uri: String,
}

impl ExternalObject {
    /// An external object for `uri`. Reference: `ExternalObject(uri)`.
    pub fn new(uri: impl Into<String>) -> Self {
        ExternalObject { uri: uri.into() }
    }

    /// The URI. Reference: `getURI()`.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

impl fmt::Display for ExternalObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

impl From<ExternalObject> for Value {
    fn from(object: ExternalObject) -> Self {
        Value::Uri(object.uri)
    }
}

impl From<&ExternalObject> for Value {
    fn from(object: &ExternalObject) -> Self {
        Value::Uri(object.uri.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn becomes_a_uri_value() {
        let o = ExternalObject::new("urn:x");
        assert_eq!(Value::from(&o), Value::Uri("urn:x".into()));
        assert_eq!(o.to_string(), "urn:x");
    }
}
