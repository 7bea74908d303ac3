//! Time as the protocol needs it: local epoch milliseconds (injected, so
//! tests can move time), and the server's clock, which is local time plus
//! the skew the token endpoint taught the REST client.
//!
//! Its own module because both sides use it: the REST client writes the
//! offset (`crate::cloud::rest`), and `set`, `raise`, `submit` and the
//! request answers read it for `eventTime` without going through the HTTP
//! client, so the data path never calls into `cloud/` for the time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in epoch milliseconds; injected so tests can move time.
pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub(crate) fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })
}

/// Local time and the server's, sharing one offset: clones see the offset
/// the REST client learns.
#[derive(Clone)]
pub(crate) struct ServerClock {
    local: Clock,
    /// Server time minus local time, in ms. An atomic rather than a read of
    /// the token state: a token fetch holds that lock across a request, and
    /// readers of the server's clock must never wait on the network.
    offset_ms: Arc<AtomicI64>,
}

impl ServerClock {
    /// A server clock over `local`, with no known offset.
    pub(crate) fn new(local: Clock) -> Self {
        ServerClock {
            local,
            offset_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Local now, epoch ms.
    pub(crate) fn local_now(&self) -> i64 {
        (self.local)()
    }

    /// Now in the server's clock, epoch ms. Lock-free.
    pub(crate) fn now(&self) -> i64 {
        self.local_now()
            .saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Records the server's clock offset (server minus local, ms).
    pub(crate) fn set_offset(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// The server's clock as a [`Clock`], for parts that take one.
    pub(crate) fn as_clock(&self) -> Clock {
        let clock = self.clone();
        Arc::new(move || clock.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_offset() {
        let clock = ServerClock::new(Arc::new(|| 1_000));
        let reader = clock.clone().as_clock();
        assert_eq!(reader(), 1_000);
        clock.set_offset(250);
        assert_eq!(reader(), 1_250);
        assert_eq!(clock.local_now(), 1_000);
    }
}
