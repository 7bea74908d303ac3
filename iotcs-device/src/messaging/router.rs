//! Routing of requests from the cloud to their handlers, by destination
//! endpoint id and resource path, with no IO.
//!
//! A REQUEST message names its target with `destination` (this device, or for
//! a gateway one of its indirectly-connected devices) and `payload.url` (a
//! relative resource path such as `deviceModels/<urn>/attributes/<name>`).
//! Matching is exact, as in Oracle's JavaScript library: no prefixes, no
//! query strings. A path nobody registered gets 404; a registered path asked
//! with a method it does not allow gets 405.
//!
//! Memory: a gateway registers the same dozen paths for each of its
//! thousands of devices of one model, so each path is kept once (interned,
//! shared by every destination) and a route holds no allocation of its own.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What a lookup found.
#[derive(Debug)]
pub(crate) enum Lookup<H> {
    /// A handler that accepts the method.
    Found(H),
    /// Nothing is registered at this destination and path (HTTP 404).
    NotFound,
    /// Something is registered there but not for this method (HTTP 405).
    MethodNotAllowed,
}

/// One registered resource.
#[derive(Debug)]
struct Route<H> {
    /// Upper-case HTTP methods the handler accepts.
    methods: &'static [&'static str],
    handler: H,
}

/// The table of registered resources.
#[derive(Debug)]
pub(crate) struct Router<H> {
    /// destination endpoint id → path → route.
    routes: HashMap<String, HashMap<Arc<str>, Route<H>>>,
    /// Every path registered, once, whatever the destinations.
    paths: HashSet<Arc<str>>,
}

impl<H: Clone> Router<H> {
    /// An empty table: every lookup is 404.
    pub(crate) fn new() -> Self {
        Router {
            routes: HashMap::new(),
            paths: HashSet::new(),
        }
    }

    /// The shared copy of `path`.
    fn intern(&mut self, path: &str) -> Arc<str> {
        if let Some(known) = self.paths.get(path) {
            return Arc::clone(known);
        }
        let path: Arc<str> = Arc::from(path);
        self.paths.insert(Arc::clone(&path));
        path
    }

    /// Registers `handler` for `path` at `destination`, replacing any handler
    /// registered there before (the newest virtual device for an endpoint and
    /// model wins).
    pub(crate) fn register(
        &mut self,
        destination: &str,
        path: &str,
        methods: &'static [&'static str],
        handler: H,
    ) {
        let path = self.intern(normalize(path));
        self.routes
            .entry(destination.to_owned())
            .or_default()
            .insert(path, Route { methods, handler });
    }

    /// Removes every route of `destination` whose path starts with `prefix`.
    #[cfg(test)]
    pub(crate) fn unregister_prefix(&mut self, destination: &str, prefix: &str) {
        if let Some(paths) = self.routes.get_mut(destination) {
            paths.retain(|path, _| !path.starts_with(normalize(prefix)));
            if paths.is_empty() {
                self.routes.remove(destination);
            }
        }
    }

    /// Finds the handler for an incoming request. `method` is the effective
    /// method (`RequestPayload::effective_method`), in any letter case.
    pub(crate) fn lookup(&self, destination: &str, method: &str, path: &str) -> Lookup<H> {
        let Some(route) = self
            .routes
            .get(destination)
            .and_then(|paths| paths.get(normalize(path)))
        else {
            return Lookup::NotFound;
        };
        if route.methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
            Lookup::Found(route.handler.clone())
        } else {
            Lookup::MethodNotAllowed
        }
    }
}

/// Strips what the protocol says a request path never carries but a sloppy
/// sender might: a leading slash and a query string.
fn normalize(path: &str) -> &str {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    path.trim_start_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    const URN: &str = "urn:test:thermostat";

    fn router() -> Router<&'static str> {
        let mut r = Router::new();
        r.register(
            "EP-1",
            &format!("deviceModels/{URN}/attributes/target"),
            &["PUT"],
            "target",
        );
        r.register(
            "EP-1",
            &format!("deviceModels/{URN}/attributes"),
            &["PATCH"],
            "patch",
        );
        r.register(
            "EP-1",
            &format!("deviceModels/{URN}/actions/reset"),
            &["POST"],
            "reset",
        );
        r.register(
            "EP-2",
            &format!("deviceModels/{URN}/attributes/target"),
            &["PUT"],
            "other",
        );
        r
    }

    #[test]
    fn exact_destination_path_and_method_find_the_handler() {
        let r = router();
        let path = format!("deviceModels/{URN}/attributes/target");
        assert!(matches!(
            r.lookup("EP-1", "PUT", &path),
            Lookup::Found("target")
        ));
        assert!(matches!(
            r.lookup("EP-2", "put", &path),
            Lookup::Found("other")
        ));
        let action = format!("deviceModels/{URN}/actions/reset");
        assert!(matches!(
            r.lookup("EP-1", "POST", &action),
            Lookup::Found("reset")
        ));
    }

    #[test]
    fn unknown_destination_or_path_is_not_found() {
        let r = router();
        let path = format!("deviceModels/{URN}/attributes/target");
        assert!(matches!(r.lookup("EP-3", "PUT", &path), Lookup::NotFound));
        assert!(matches!(
            r.lookup("EP-1", "PUT", "deviceModels/urn:x/attributes/t"),
            Lookup::NotFound
        ));
        // No prefix matching: a longer path is a different resource.
        assert!(matches!(
            r.lookup("EP-1", "PUT", &format!("{path}/more")),
            Lookup::NotFound
        ));
    }

    #[test]
    fn wrong_method_is_not_allowed() {
        let r = router();
        let path = format!("deviceModels/{URN}/attributes/target");
        assert!(matches!(
            r.lookup("EP-1", "POST", &path),
            Lookup::MethodNotAllowed
        ));
        let action = format!("deviceModels/{URN}/actions/reset");
        assert!(matches!(
            r.lookup("EP-1", "GET", &action),
            Lookup::MethodNotAllowed
        ));
    }

    #[test]
    fn leading_slash_and_query_are_ignored() {
        let r = router();
        let path = format!("/deviceModels/{URN}/attributes/target?x=1");
        assert!(matches!(
            r.lookup("EP-1", "PUT", &path),
            Lookup::Found("target")
        ));
    }

    #[test]
    fn registering_again_replaces_and_unregister_removes() {
        let mut r = router();
        let path = format!("deviceModels/{URN}/attributes/target");
        r.register("EP-1", &path, &["PUT"], "newer");
        assert!(matches!(
            r.lookup("EP-1", "PUT", &path),
            Lookup::Found("newer")
        ));
        r.unregister_prefix("EP-1", &format!("deviceModels/{URN}/"));
        assert!(matches!(r.lookup("EP-1", "PUT", &path), Lookup::NotFound));
        assert!(matches!(
            r.lookup("EP-2", "PUT", &path),
            Lookup::Found("other")
        ));
        r.unregister_prefix("EP-2", "deviceModels/");
        assert!(r.routes.is_empty());
    }

    #[test]
    fn a_path_registered_for_many_destinations_is_kept_once() {
        let mut r = router();
        let path = format!("/deviceModels/{URN}/attributes/target");
        for n in 0..100 {
            r.register(&format!("ICD-{n}"), &path, &["PUT"], "icd");
        }
        let keys: Vec<&Arc<str>> = (0..100)
            .map(|n| {
                r.routes[format!("ICD-{n}").as_str()]
                    .keys()
                    .next()
                    .expect("one route")
            })
            .collect();
        assert!(keys.iter().all(|k| Arc::ptr_eq(k, keys[0])));
        assert_eq!(r.paths.len(), 3, "the three paths of `router()`");
        assert!(matches!(
            r.lookup("ICD-42", "PUT", &path),
            Lookup::Found("icd")
        ));
    }
}
