//! Talking to the cloud: activation, the access token, the authenticated
//! REST client, the HTTP transport under it, and the device models fetched
//! through it, and device policies. Nothing here knows about queues or threads.

pub(crate) mod activation;
pub(crate) mod models;
pub(crate) mod policies;
pub(crate) mod resolver;
pub(crate) mod rest;
pub(crate) mod token;
pub(crate) mod transport;
