//! How busy the ingest writer is, for work of lower priority that should yield to it (webhook
//! deliveries): the time it has spent writing batches, in all.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

#[derive(Debug, Default)]
pub struct IngestLoad {
    busy_micros: AtomicU64,
}

impl IngestLoad {
    /// The writer spent `busy` on a batch.
    pub fn busy_for(&self, busy: Duration) {
        let micros = u64::try_from(busy.as_micros()).unwrap_or(u64::MAX);
        self.busy_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Microseconds the writer has spent on batches since it started.
    pub fn busy_micros(&self) -> u64 {
        self.busy_micros.load(Ordering::Relaxed)
    }
}
