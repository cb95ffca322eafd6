//! The handles delivery works with, shared by the sessions' side and the writer.

use std::sync::Arc;

use super::{
    load::IngestLoad, metrics::DeliveryMetrics, queue::Arrivals, recipients::RecipientCache,
    remembered::Remembered,
};
use crate::{
    clock::Clock, events::EventBus, models::quota::Limits, partitions::ExpiryBuckets, Pool,
};

/// The server's settings delivery follows.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// Every tenant's limits unless overridden (see [`Limits::resolve`]).
    pub limits: Limits,
    /// The lifetime of an inbox that mail to a catch-all domain creates.
    pub catch_all_ttl: chrono::Duration,
    /// Live inboxes made by mail per tenant (`--quota-catch-all-inboxes`).
    pub catch_all_inboxes: i32,
    /// Oldest messages beyond this many per inbox are deleted (`--max-messages-per-inbox`).
    pub max_messages_per_inbox: u32,
}

/// What the sessions' side and the writer share.
pub(super) struct Handles {
    pub(super) pool: Pool,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) events: Arc<EventBus>,
    pub(super) buckets: Arc<ExpiryBuckets>,
    pub(super) recipients: RecipientCache,
    /// What the writer remembers of earlier batches, and `RCPT TO` of the inboxes it found.
    pub(super) remembered: Remembered,
    pub(super) settings: DeliverySettings,
    pub(super) metrics: DeliveryMetrics,
    /// Woken when a batch recorded webhook deliveries, so they go out at once.
    pub(super) webhooks_due: Arc<tokio::sync::Notify>,
    pub(super) load: Arc<IngestLoad>,
    /// Mails whose DATA has begun, for the writer to wait for.
    pub(super) arrivals: Arc<Arrivals>,
}
