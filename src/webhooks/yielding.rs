//! Deliveries yield to ingest: while the ingest writer of this process has been busy most of
//! the time (so mail is queueing for the database), the dispatcher waits before its next claim,
//! for up to [`MAX_YIELD`] in a row, then claims once anyway, so that deliveries never stop.
//! They catch up when the load eases; a process without SMTP never waits.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_util::sync::CancellationToken;

use ephemail_store::delivery::IngestLoad;

/// The writer busy more than this share of the time: ingest is saturated.
const BUSY: f64 = 0.5;
/// The window the share is measured over, and how often it is looked at while waiting.
const SAMPLE: Duration = Duration::from_millis(100);
/// Waiting in a row at most this long.
pub const MAX_YIELD: Duration = Duration::from_secs(2);

pub struct YieldToIngest {
    load: Arc<IngestLoad>,
    /// The writer's busy time at the last sample, and when it was taken.
    last: (u64, Instant),
    busy: f64,
    /// Since when the dispatcher has waited, if it is waiting.
    since: Option<Instant>,
}

impl YieldToIngest {
    pub fn new(load: Arc<IngestLoad>) -> Self {
        let last = (load.busy_micros(), Instant::now());
        Self {
            load,
            last,
            busy: 0.0,
            since: None,
        }
    }

    /// Returns once ingest is not saturated, or after [`MAX_YIELD`] of waiting, or at `stop`.
    pub async fn wait(&mut self, stop: &CancellationToken) {
        loop {
            self.sample();
            let waited = self.since.map_or(Duration::ZERO, |since| since.elapsed());
            if self.busy < BUSY || waited >= MAX_YIELD {
                self.since = None;
                return;
            }
            self.since.get_or_insert_with(Instant::now);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(SAMPLE) => {}
            }
        }
    }

    /// The writer's busy share since the last sample, if a window has passed since.
    fn sample(&mut self) {
        let (busy_before, at) = self.last;
        let elapsed = at.elapsed();
        if elapsed < SAMPLE {
            return;
        }
        let busy = self.load.busy_micros();
        self.busy = busy.saturating_sub(busy_before) as f64 / elapsed.as_micros() as f64;
        self.last = (busy, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_while_the_writer_is_busy_but_not_longer_than_the_limit() {
        let load = Arc::new(IngestLoad::default());
        let stop = CancellationToken::new();
        let mut yielding = YieldToIngest::new(load.clone());
        tokio::time::sleep(SAMPLE).await;
        let started = Instant::now();
        yielding.wait(&stop).await;
        assert!(started.elapsed() < SAMPLE, "idle: no wait");

        // The writer busy all the time, as under a saturating load.
        let writer = tokio::spawn({
            let load = load.clone();
            async move {
                // Busy for all the time that passed, however late a loaded machine wakes it.
                loop {
                    let slept = Instant::now();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    load.busy_for(slept.elapsed());
                }
            }
        });
        tokio::time::sleep(SAMPLE * 2).await;
        let started = Instant::now();
        yielding.wait(&stop).await;
        let waited = started.elapsed();
        assert!(waited >= MAX_YIELD && waited < MAX_YIELD * 2, "{waited:?}");
        writer.abort();
    }
}
