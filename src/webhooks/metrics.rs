//! What webhook deliveries tell `/metrics`.

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AttemptOutcome {
    /// The endpoint answered 2xx.
    succeeded,
    /// It failed and the delivery will be tried again.
    retried,
    /// It failed for the last time.
    dead,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: AttemptOutcome,
}

/// Seconds, from a local receiver's millisecond to the timeout's range.
const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Clone)]
pub struct WebhookMetrics {
    attempts: Family<OutcomeLabel, Counter>,
    latency: Histogram,
    in_flight: Gauge,
}

impl WebhookMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            attempts: Family::default(),
            latency: Histogram::new(LATENCY_BUCKETS),
            in_flight: Gauge::default(),
        };
        // Every outcome shows from the start, at zero.
        for outcome in [
            AttemptOutcome::succeeded,
            AttemptOutcome::retried,
            AttemptOutcome::dead,
        ] {
            drop(metrics.attempts.get_or_create(&OutcomeLabel { outcome }));
        }
        registry.register(
            "ephemail_webhook_attempts",
            "Webhook delivery attempts by outcome: succeeded, retried (failed, to be tried again) \
             or dead (failed for the last time)",
            metrics.attempts.clone(),
        );
        registry.register(
            "ephemail_webhook_attempt_duration_seconds",
            "Time from sending a webhook delivery to its endpoint's answer (or the timeout)",
            metrics.latency.clone(),
        );
        registry.register(
            "ephemail_webhook_in_flight",
            "Webhook deliveries this process has claimed: being sent, or waiting for a send slot",
            metrics.in_flight.clone(),
        );
        metrics
    }

    pub fn attempted(&self, outcome: AttemptOutcome, seconds: f64) {
        self.attempts.get_or_create(&OutcomeLabel { outcome }).inc();
        self.latency.observe(seconds);
    }

    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }
}
