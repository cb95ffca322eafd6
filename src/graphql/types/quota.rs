//! The GraphQL faces of a tenant's quotas as the store accounts them.

use async_graphql::SimpleObject;

use ephemail_store::models::quota;

/// The limits in force for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SimpleObject)]
pub struct Limits {
    /// Live (unexpired) inboxes at once.
    pub inboxes: i32,
    /// Mails received per UTC day.
    pub mails_per_day: i32,
    /// API requests per minute (a token bucket: bursts up to this many, refilled evenly).
    pub requests_per_minute: i32,
    /// Bytes of stored raw messages.
    pub stored_bytes: i64,
    /// Longest inbox lifetime.
    pub max_ttl_seconds: i32,
    /// Largest message received.
    pub max_message_size: i64,
}

impl From<quota::Limits> for Limits {
    fn from(limits: quota::Limits) -> Self {
        Self {
            inboxes: limits.inboxes,
            mails_per_day: limits.mails_per_day,
            requests_per_minute: limits.requests_per_minute,
            stored_bytes: limits.stored_bytes,
            max_ttl_seconds: limits.max_ttl_seconds,
            max_message_size: limits.max_message_size,
        }
    }
}

/// Where a tenant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SimpleObject)]
pub struct Usage {
    pub live_inboxes: i32,
    /// Mails received today (UTC).
    pub mails_today: i32,
    pub stored_bytes: i64,
}

impl From<quota::Usage> for Usage {
    fn from(usage: quota::Usage) -> Self {
        Self {
            live_inboxes: usage.live_inboxes,
            mails_today: usage.mails_today,
            stored_bytes: usage.stored_bytes,
        }
    }
}
