//! [`Status`]: how a device is doing, for a person or a health check:
//! its link to the cloud, its queue and store, its counters. A snapshot
//! read without touching the network.

use std::time::SystemTime;

use iotcs_core::Error;

use crate::messaging::dispatcher::Report;

/// How a device is doing, from [`DirectlyConnectedDevice::status`]
/// (and the gateway's `status()`). A snapshot: read it again for news.
///
/// [`DirectlyConnectedDevice::status`]: crate::DirectlyConnectedDevice::status
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// Whether the device's messaging runs: activated, and not closed.
    /// When it does not, every other field is empty.
    pub running: bool,
    /// Whether the last exchange with the cloud (a POST of messages or a
    /// poll for requests) succeeded; `false` before the first one.
    pub connected: bool,
    /// Since when the cloud could not be reached, while it cannot.
    pub disconnected_since: Option<SystemTime>,
    /// Until when the sender waits before trying again, while it backs
    /// off after a failure.
    pub backing_off_until: Option<SystemTime>,
    /// The last failure of an exchange with the cloud (kept once the link
    /// is back, for diagnosis).
    pub last_error: Option<Error>,
    /// When the cloud last accepted messages of this device.
    pub last_delivery: Option<SystemTime>,
    /// Messages accepted and not yet delivered or given up: waiting in
    /// memory, or in the batch being posted. What counts against
    /// `dispatcher_max_queue_size`.
    pub queued: usize,
    /// GUARANTEED_DELIVERY messages in the message store (0 without
    /// `[message_persistence] enabled`); they are also among `queued`
    /// while this run holds them.
    pub persisted: usize,
    /// The message dispatcher's counters since open (or since the cloud
    /// last reset them through the `message_dispatcher` capability).
    pub counters: MessageCounters,
}

/// The message dispatcher's counters, as its `message_dispatcher`
/// capability serves them to the cloud (spec §8.6).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct MessageCounters {
    /// Messages the cloud accepted (`totalMessagesSent`).
    pub messages_sent: u64,
    /// Bytes of those messages (`totalBytesSent`).
    pub bytes_sent: u64,
    /// Requests received from the cloud (`totalMessagesReceived`).
    pub messages_received: u64,
    /// Bytes of those requests (`totalBytesReceived`).
    pub bytes_received: u64,
    /// Messages put back in the queue after a failed POST
    /// (`totalMessagesRetried`).
    pub messages_retried: u64,
    /// Failed POSTs of messages (`totalProtocolErrors`).
    pub protocol_errors: u64,
}

impl Status {
    /// The status of a device whose messaging does not run.
    pub(crate) fn stopped() -> Self {
        Status::default()
    }

    /// The status of a running device, from its dispatcher's report.
    pub(crate) fn from_report(report: Report) -> Self {
        let c = report.counters;
        Status {
            running: true,
            connected: report.health.connected,
            disconnected_since: report.health.lost_since,
            backing_off_until: report.health.backing_off_until,
            last_error: report.health.last_error,
            last_delivery: report.health.last_delivery,
            queued: report.queued,
            persisted: report.persisted,
            counters: MessageCounters {
                messages_sent: c.messages_sent,
                bytes_sent: c.bytes_sent,
                messages_received: c.messages_received,
                bytes_received: c.bytes_received,
                messages_retried: c.messages_retried,
                protocol_errors: c.protocol_errors,
            },
        }
    }
}
