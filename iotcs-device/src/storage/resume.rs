//! At open, the guaranteed messages a previous run held for storage uploads
//! (`messaging/held_store.rs`): each object they wait for is made again
//! from its record and its upload restarted (resuming from its last
//! acknowledged segment, `transfer.rs`), and the message is held again until
//! it is in sync. An object whose file is gone, or whose upload fails,
//! reports the message through `on_error` ("content sync failed") as in the
//! run that held it.

use std::sync::Arc;

use iotcs_core::Error;

use crate::messaging::held_store::ObjectRecord;
use crate::messaging::outbox::{DeliveryListener, Outgoing};
use crate::storage::hub::Hub;
use crate::storage::object::{Content, StorageObject};

/// Restores what the previous run left held; `listener` hears of the
/// restored messages (the listener of every restored message).
pub(crate) fn restore_held(hub: &Arc<Hub>, listener: &Arc<dyn DeliveryListener>) {
    let context = Arc::clone(hub.context());
    let Some(store) = &context.held_store else {
        return;
    };
    let left = store.take_left();
    if !left.is_empty() {
        log::info!(target: "iotcs::device::storage",
            "resuming the uploads of {} guaranteed message(s) held by an earlier run",
            left.len()
        );
    }
    for held in left {
        let item = Outgoing::with_listener(held.message, Arc::clone(listener));
        match restart(hub, &held.objects) {
            Ok(uris) => context.restore_held(item, &uris, held.key),
            Err((uri, e)) => {
                let error = Error::state(format!("content sync failed for {uri}: {e}"));
                listener.failed(item.kind(), &item.json(), &error);
                store.forget(&[held.key]);
            }
        }
    }
}

/// Restarts the uploads of `objects`; their URIs, or the first that cannot
/// start and why.
fn restart(hub: &Arc<Hub>, objects: &[ObjectRecord]) -> Result<Vec<String>, (String, Error)> {
    let mut uris = Vec::with_capacity(objects.len());
    for record in objects {
        let object = revive(hub, record);
        let started = object
            .set_input_path(Some(&record.input))
            .and_then(|o| o.sync_for(None, None));
        match started {
            Ok(_) => uris.push(record.uri.clone()),
            Err(e) => return Err((record.uri.clone(), e)),
        }
    }
    Ok(uris)
}

/// The live object at the record's URI, or a new one made from the record.
fn revive(hub: &Arc<Hub>, record: &ObjectRecord) -> StorageObject {
    if let Some(object) = hub.find(&record.uri) {
        return object;
    }
    let mut content = Content::new(Some(&record.content_type));
    content.encoding.clone_from(&record.encoding);
    content.metadata.clone_from(&record.metadata);
    hub.adopt(StorageObject::new(
        record.name.clone(),
        record.uri.clone(),
        Arc::downgrade(hub),
        content,
    ))
}
