//! Host name resolution for the ureq agents, remembered for a short while.
//!
//! Why: ureq resolves the host of every request, pooled connection or not,
//! and when a timeout applies (ours always does) its default resolver spawns
//! a thread per lookup so that it can give up on a slow one. That was one
//! short-lived thread per POST: thousands of thread starts per thousand
//! messages, their cost in every message's CPU. Remembering the answer for
//! [`REMEMBER`] keeps ureq's bounded lookup (a thread that can be abandoned)
//! for the first request and for one every [`REMEMBER`] after it.
//!
//! This uses ureq's `unversioned` resolver interface, which may change in a
//! minor ureq release; it is the one place that depends on it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long an answer is used before the host is looked up again.
pub(crate) const REMEMBER: Duration = Duration::from_secs(30);

/// [`DefaultResolver`] with its last answer remembered for [`REMEMBER`].
#[derive(Debug, Default)]
pub(crate) struct RememberingResolver {
    inner: DefaultResolver,
    /// The URI's scheme and authority, when it was resolved, and the answer.
    last: Mutex<Option<(String, Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for RememberingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map(|a| a.as_str()).unwrap_or_default()
        );
        if let Some((k, at, addrs)) = &*self.last.lock().unwrap_or_else(|e| e.into_inner())
            && *k == key
            && at.elapsed() < REMEMBER
        {
            return Ok(addrs.clone());
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((key, Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_reused_for_the_same_host_only() {
        let resolver = RememberingResolver::default();
        let config = Config::default();
        let uri: Uri = "https://127.0.0.1:4443/x".parse().unwrap();
        let first = resolver
            .resolve(&uri, &config, NextTimeout::default())
            .unwrap();
        assert_eq!(first[0].port(), 4443);
        let again: Uri = "https://127.0.0.1:4443/y".parse().unwrap();
        assert_eq!(
            resolver
                .resolve(&again, &config, NextTimeout::default())
                .unwrap()[0],
            first[0]
        );
        let other: Uri = "https://127.0.0.1:5443/x".parse().unwrap();
        let answer = resolver
            .resolve(&other, &config, NextTimeout::default())
            .unwrap();
        assert_eq!(answer[0].port(), 5443, "another authority is looked up");
    }
}
