//! A device's side of device policies (spec §7): the shared policy state
//! its virtual devices use (`crate::policy::context`), the fetch that runs
//! on the policy thread, and the `policyChanged` resource (§5.6, §7.3).
//!
//! A change notification makes every open virtual device of the model
//! forget a cached "no policy" and stop a running policy of that id that
//! is older than the change (or unassigned); each fetches its policy again
//! at its next `offer`. A gateway's indirectly-connected devices are the
//! exception for `assigned` and `unassigned` (§7.3): the gateway asks the
//! cloud once which of them the policy is assigned to (§7.1's third call)
//! and, for `assigned`, the policy by id, then starts it for exactly those
//! that have open virtual devices of the model and stops it for the
//! others; if the cloud cannot be asked, they fall back to asking for
//! their own policy at their next `offer`.

use std::path::Path;
use std::sync::Arc;

use iotcs_core::Config;
use iotcs_core::policy::{PolicyChange, PolicyOp};

use crate::clock::Clock;
use crate::cloud::policies;
use crate::cloud::rest::RestClient;
use crate::messaging::inbound::Inbound;
use crate::policy::build::build;
use crate::policy::context::{Fetch, Fetched, PolicyContext};
use crate::policy::notification;
use crate::policy::timer::Job;
use crate::state;
use crate::virtual_device::{Registry, VirtualDevice};

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
/// in `devices`; for a gateway's indirectly-connected devices, asks the
/// cloud through `rest` on the policy thread of `policies`.
pub(crate) fn register(
    inbound: &Arc<Inbound>,
    endpoint_id: &str,
    devices: Registry,
    policies: Arc<PolicyContext>,
    rest: Arc<RestClient>,
) {
    let own_id = endpoint_id.to_owned();
    let listener: notification::Listener = Arc::new(move |changes: Vec<PolicyChange>| {
        for change in changes {
            log::info!(target: "iotcs::device::policy",
                "device policy {} of {} {:?}",
                change.id,
                change.device_model_urn,
                change.op
            );
            let (own, proxied): (Vec<_>, Vec<_>) = devices
                .of_model(&change.device_model_urn)
                .into_iter()
                .partition(|d| d.endpoint_id() == own_id);
            // An unassignment concerns only devices that run the policy.
            let gateway_asks = match change.op {
                PolicyOp::Assigned => !proxied.is_empty(),
                PolicyOp::Unassigned => proxied.iter().any(|d| d.runs_policy(&change.id)),
                PolicyOp::Changed => false,
            };
            let tell_all = if gateway_asks {
                let job = ask_as_gateway(&rest, &policies, &own_id, change.clone(), proxied);
                // Closed: nobody offers any more.
                policies.run(job);
                own
            } else {
                own.into_iter().chain(proxied).collect()
            };
            for device in tell_all {
                device.policy_changed(&change.id, change.op, change.last_modified);
            }
        }
    });
    notification::register(inbound, endpoint_id, listener);
}

/// The job a gateway runs on the policy thread for an `assigned` or
/// `unassigned` change that concerns its indirectly-connected `devices`.
fn ask_as_gateway(
    rest: &Arc<RestClient>,
    policies: &Arc<PolicyContext>,
    gateway_id: &str,
    change: PolicyChange,
    devices: Vec<VirtualDevice>,
) -> Job {
    let (rest, policies, gateway_id) = (
        Arc::clone(rest),
        Arc::clone(policies),
        gateway_id.to_owned(),
    );
    Box::new(move || {
        let urn = &change.device_model_urn;
        let asked =
            policies::devices_of_policy(&rest, urn, &change.id, &gateway_id).and_then(|ids| {
                let policy = if change.op == PolicyOp::Assigned
                    && devices
                        .iter()
                        .any(|d| ids.iter().any(|id| id == d.endpoint_id()))
                {
                    policies::policy_by_id(&rest, urn, &change.id)?
                } else {
                    None
                };
                Ok((ids, policy))
            });
        let (ids, policy) = match asked {
            Ok(answer) => answer,
            Err(e) => {
                log::warn!(target: "iotcs::device::policy",
                    "cannot ask the cloud which devices of gateway {gateway_id} have device policy {}: {e}; each asks for its own at its next offer",
                    change.id
                );
                for device in &devices {
                    device.policy_changed(&change.id, change.op, change.last_modified);
                }
                return;
            }
        };
        for device in &devices {
            let assigned = ids.iter().any(|id| id == device.endpoint_id());
            match &policy {
                Some(policy) if assigned => match build(policy, policies.network()) {
                    Ok(built) => device.policy_assigned(Fetched {
                        id: policy.id().to_owned(),
                        last_modified: policy.last_modified(),
                        built,
                    }),
                    Err(e) => log::warn!(target: "iotcs::device::policy",
                        "device policy {} for {}: {e}; offer sends as set",
                        change.id,
                        device.endpoint_id()
                    ),
                },
                _ if !assigned => device.policy_unassigned(&change.id),
                _ => {}
            }
        }
    })
}
