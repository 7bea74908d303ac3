//! A device's side of device policies (spec §7): the shared policy state
//! its virtual devices use (`crate::policy::context`), the fetch that runs
//! on the policy thread, and the `policyChanged` resource (§5.6, §7.3).
//!
//! A change notification makes every open virtual device of the model
//! forget a cached "no policy" and stop a running policy of that id that
//! is older than the change (or unassigned); each fetches its policy again
//! at its next `offer` (a gateway's
//! indirectly-connected devices each ask for their own, which also covers
//! `assigned` and `unassigned` for them).

use std::path::Path;
use std::sync::Arc;

use iotcs_core::Config;
use iotcs_core::policy::PolicyChange;

use crate::clock::Clock;
use crate::cloud::policies;
use crate::cloud::rest::RestClient;
use crate::messaging::inbound::Inbound;
use crate::policy::build::build;
use crate::policy::context::{Fetch, Fetched, PolicyContext};
use crate::policy::notification;
use crate::state;
use crate::virtual_device::Registry;

/// The policy state of a device whose state directory is `state_dir`,
/// fetching through `rest`.
pub(crate) fn context(
    config: &Config,
    state_dir: &Path,
    rest: &Arc<RestClient>,
    clock: Clock,
) -> Arc<PolicyContext> {
    let held = config
        .batchby_persistence
        .enabled
        .then(|| state::batch_store_path(config, state_dir, std::env::var_os("HOME")));
    let rest = Arc::clone(rest);
    let fetch: Fetch = Arc::new(move |endpoint_id, urn, network| {
        let Some(policy) = policies::policy_of_device(&rest, urn, endpoint_id)? else {
            return Ok(None);
        };
        Ok(Some(Fetched {
            id: policy.id().to_owned(),
            last_modified: policy.last_modified(),
            built: build(&policy, network)?,
        }))
    });
    Arc::new(PolicyContext::new(
        config.device_policy.network_cost,
        held,
        clock,
        Some(fetch),
    ))
}

/// Serves `policyChanged` for `endpoint_id`, telling the virtual devices
/// in `devices`.
pub(crate) fn register(inbound: &Arc<Inbound>, endpoint_id: &str, devices: Registry) {
    let listener: notification::Listener = Arc::new(move |changes: Vec<PolicyChange>| {
        for change in changes {
            log::info!(target: "iotcs::device::policy",
                "device policy {} of {} {:?}",
                change.id,
                change.device_model_urn,
                change.op
            );
            for device in devices.of_model(&change.device_model_urn) {
                device.policy_changed(&change.id, change.op, change.last_modified);
            }
        }
    });
    notification::register(inbound, endpoint_id, listener);
}
