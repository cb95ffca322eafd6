//! The API's series: GraphQL operations by root field and outcome, their latency, open
//! WebSocket connections, running subscriptions and waits, and what rate and connection limits
//! refused. Registered once per process by `app`; the handles travel in [`crate::api::Api`].

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

/// Operations take from a millisecond to `--max-wait` (a `waitForMessage` that times out, 120 s
/// by default): buckets from 1 ms to 131 s, each twice the last.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationOutcome {
    operation: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationName {
    operation: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

/// Where a subscription or wait got a message from (`ephemail_feed_messages_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedSource {
    /// The event of mail this process stored, which carried it.
    Event,
    /// A read from the database.
    Database,
}

impl FeedSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Database => "database",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

/// The limits whose refusals `ephemail_http_rate_limited_total` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// The tenant's API requests per minute: `POST /graphql` (a `429`) and WebSocket operations.
    ApiRequests,
    /// WebSocket connections from one client IP address (a `429` to the upgrade).
    WebsocketConnectionsPerIp,
    /// WebSocket connections of one credential (`connection_init` refused).
    WebsocketConnectionsPerCredential,
    /// Subscriptions running on one WebSocket connection.
    SubscriptionsPerConnection,
    /// Anonymous inboxes per client IP address in public mode.
    PublicInboxes,
}

impl RateLimit {
    const ALL: [Self; 5] = [
        Self::ApiRequests,
        Self::WebsocketConnectionsPerIp,
        Self::WebsocketConnectionsPerCredential,
        Self::SubscriptionsPerConnection,
        Self::PublicInboxes,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::ApiRequests => "api_requests",
            Self::WebsocketConnectionsPerIp => "websocket_connections_per_ip",
            Self::WebsocketConnectionsPerCredential => "websocket_connections_per_credential",
            Self::SubscriptionsPerConnection => "subscriptions_per_connection",
            Self::PublicInboxes => "public_inboxes",
        }
    }
}

/// Cheap to clone: every handle is shared.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    operations: Family<OperationOutcome, Counter>,
    durations: Family<OperationName, Histogram, fn() -> Histogram>,
    rate_limited: Family<LimitLabel, Counter>,
    feed_messages: Family<SourceLabel, Counter>,
    /// WebSocket connections being served.
    pub websocket_connections: Gauge,
    /// GraphQL subscriptions running.
    pub subscriptions: Gauge,
    /// `waitForMessage` calls waiting.
    pub waits: Gauge,
}

impl ApiMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            operations: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            rate_limited: Family::default(),
            feed_messages: Family::default(),
            websocket_connections: Gauge::default(),
            subscriptions: Gauge::default(),
            waits: Gauge::default(),
        };
        registry.register(
            "ephemail_graphql_operations",
            "GraphQL operations by root field (`multiple` for several, `introspection`, \
             `invalid` for documents refused before running) and outcome (`ok`, the error's \
             code, or `cancelled`); a subscription counts once, when it ends",
            metrics.operations.clone(),
        );
        registry.register(
            "ephemail_graphql_operation_duration_seconds",
            "How long GraphQL queries and mutations took, by root field (subscriptions are \
             not timed: they last as long as their client stays)",
            metrics.durations.clone(),
        );
        registry.register(
            "ephemail_http_rate_limited",
            "Requests, operations and connections refused by a rate or connection limit, by limit",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "ephemail_websocket_connections_open",
            "WebSocket connections being served",
            metrics.websocket_connections.clone(),
        );
        registry.register(
            "ephemail_subscriptions_active",
            "GraphQL subscriptions running",
            metrics.subscriptions.clone(),
        );
        registry.register(
            "ephemail_waits_active",
            "waitForMessage calls waiting",
            metrics.waits.clone(),
        );
        registry.register(
            "ephemail_feed_messages",
            "Messages handed to subscriptions and waits, by where they came from: `event` (the \
             event of mail this process stored carried it) or `database` (read)",
            metrics.feed_messages.clone(),
        );
        // Every limit from zero, so that its first refusal shows in `rate()` and alerts.
        for limit in RateLimit::ALL {
            metrics
                .rate_limited
                .get_or_create(&LimitLabel {
                    limit: limit.as_str(),
                })
                .inc_by(0);
        }
        metrics
    }

    /// Counts one finished operation; `duration` is `None` for subscriptions.
    pub fn operation_done(
        &self,
        operation: &str,
        outcome: &'static str,
        duration: Option<Duration>,
    ) {
        let operation = operation.to_owned();
        if let Some(duration) = duration {
            self.durations
                .get_or_create(&OperationName {
                    operation: operation.clone(),
                })
                .observe(duration.as_secs_f64());
        }
        self.operations
            .get_or_create(&OperationOutcome { operation, outcome })
            .inc();
    }

    pub fn feed_messages(&self, source: FeedSource, count: usize) {
        self.feed_messages
            .get_or_create(&SourceLabel {
                source: source.as_str(),
            })
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    pub fn rate_limited(&self, limit: RateLimit) {
        self.rate_limited
            .get_or_create(&LimitLabel {
                limit: limit.as_str(),
            })
            .inc();
    }
}
