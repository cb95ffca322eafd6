//! What delivery tells `/metrics`: the group-commit writer's batches and queue, and the
//! recipients refused for a quota.

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::models::quota::{QuotaKind, QuotaRefusals};

/// Powers of two up to the writer's largest batch (`writer::MAX_BATCH`).
const BATCH_BUCKETS: [f64; 7] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// The series delivery adds to, registered once by [`DeliveryMetrics::register`].
#[derive(Debug, Clone)]
pub struct DeliveryMetrics {
    batch_size: Histogram,
    queue_depth: Gauge,
    recipients: Family<RecipientsFrom, Counter>,
    quota_refusals: QuotaRefusals,
}

/// Where the writer took a batch's recipient inboxes and tenants' limits from.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RecipientsFrom {
    from: Recalled,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(super) enum Recalled {
    /// Remembered from earlier batches, and still so (one round trip).
    memory,
    /// Remembered, but changed since: read again.
    changed_memory,
    /// Read from the database (two round trips).
    database,
}

impl DeliveryMetrics {
    /// Registers the writer's series; quota refusals go to `quota_refusals`, whose series the
    /// API shares.
    pub fn register(registry: &mut Registry, quota_refusals: QuotaRefusals) -> Self {
        let metrics = Self {
            batch_size: Histogram::new(BATCH_BUCKETS),
            queue_depth: Gauge::default(),
            recipients: Family::default(),
            quota_refusals,
        };
        registry.register(
            "ephemail_ingest_batch_size",
            "Mails per group commit of the ingest writer (one transaction each)",
            metrics.batch_size.clone(),
        );
        registry.register(
            "ephemail_ingest_queue_depth",
            "Mails prepared and waiting for the ingest writer",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "ephemail_ingest_batch_recipients",
            "Batches of the ingest writer by where their recipient inboxes and tenants' limits \
             came from: memory (one round trip), changed_memory (remembered but changed, then \
             read) or database",
            metrics.recipients.clone(),
        );
        // Each from zero, so that a rate over any of them starts at the first scrape.
        for from in [
            Recalled::memory,
            Recalled::changed_memory,
            Recalled::database,
        ] {
            metrics
                .recipients
                .get_or_create(&RecipientsFrom { from })
                .inc_by(0);
        }
        metrics
    }

    /// A mail is on its way to the writer's queue: counted until the writer takes it, or
    /// until the returned guard is dropped without [`Queued::taken_by_writer`].
    pub(super) fn queued(&self) -> Queued<'_> {
        self.queue_depth.inc();
        Queued(Some(&self.queue_depth))
    }

    /// The writer took `mails` off its queue.
    pub(super) fn taken(&self, mails: usize) {
        self.queue_depth.dec_by(mails as i64);
    }

    pub(super) fn batch(&self, mails: usize) {
        self.batch_size.observe(mails as f64);
    }

    pub(super) fn recipients_from(&self, from: Recalled) {
        self.recipients
            .get_or_create(&RecipientsFrom { from })
            .inc();
    }

    pub(super) fn refused(&self, kind: QuotaKind) {
        self.quota_refusals.refused(kind);
    }
}

/// A mail counted in the queue depth: the count is taken back when this is dropped, unless the
/// mail reached the writer, which takes it back itself ([`DeliveryMetrics::taken`]).
pub(super) struct Queued<'a>(Option<&'a Gauge>);

impl Queued<'_> {
    pub(super) fn taken_by_writer(mut self) {
        self.0 = None;
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if let Some(queue_depth) = self.0 {
            queue_depth.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::queue::MAX_BATCH;

    #[test]
    fn the_batch_size_buckets_end_at_the_largest_batch() {
        assert_eq!(BATCH_BUCKETS.last(), Some(&(MAX_BATCH as f64)));
    }
}
