//! `persist.rs` when the `persistence` feature is off: the same API over a
//! store that cannot exist (it holds an [`Infallible`]), so the outbox keeps
//! its one code path, sled is not built, and opening a store refuses with
//! the [`Error::Config`] of [`feature_off`].

use std::convert::Infallible;
use std::path::Path;

use iotcs_core::Error;
use iotcs_core::message::Message;

/// The refusal of a configuration that asks for persistence: `[message_persistence]
/// enabled` while the feature is off.
pub(crate) fn feature_off() -> Error {
    Error::Config {
        section: "message_persistence".into(),
        key: "enabled".into(),
        value: "true".into(),
        reason: "iotcs-device was built without its `persistence` feature; set it to false \
                 (GUARANTEED_DELIVERY messages are then kept in memory only) or build with \
                 the feature"
            .into(),
    }
}

/// Never constructed: [`MessageStore::open`] always refuses.
#[derive(Debug)]
pub(crate) struct MessageStore {
    never: Infallible,
}

impl MessageStore {
    /// Refuses: the feature is off.
    ///
    /// # Errors
    ///
    /// Always [`feature_off`]'s.
    pub(crate) fn open(_path: &Path, _endpoint_id: &str) -> Result<Self, Error> {
        Err(feature_off())
    }

    pub(crate) fn path(&self) -> &Path {
        match self.never {}
    }

    pub(crate) fn insert(&self, _messages: &[(u64, &str)]) -> Result<(), Error> {
        match self.never {}
    }

    pub(crate) fn flush(&self) -> Result<(), Error> {
        match self.never {}
    }

    pub(crate) fn defer_syncs(&self, _defer: bool) {
        match self.never {}
    }

    pub(crate) fn sync_written(&self) -> Result<(), Error> {
        match self.never {}
    }

    pub(crate) fn remove(&self, _keys: &[u64]) -> Result<(), Error> {
        match self.never {}
    }

    pub(crate) fn get(&self, _key: u64) -> Result<Option<Box<str>>, Error> {
        match self.never {}
    }

    pub(crate) fn load_all(&self) -> Result<Vec<(u64, Message)>, Error> {
        match self.never {}
    }

    pub(crate) fn load_each(&self, _each: impl FnMut(u64, &str, Message)) -> Result<(), Error> {
        match self.never {}
    }

    pub(crate) fn load_records(&self) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        match self.never {}
    }
}

/// Never constructed: [`open_database`] always refuses.
#[derive(Debug)]
pub(crate) struct OpenDatabase {
    _never: Infallible,
}

/// Refuses: the feature is off.
///
/// # Errors
///
/// Always [`feature_off`]'s.
pub(crate) fn open_database(_path: &Path) -> Result<OpenDatabase, Error> {
    Err(feature_off())
}
