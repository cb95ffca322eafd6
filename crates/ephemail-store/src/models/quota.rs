//! Per-tenant quotas: the server's defaults (`--quota-*`, `--max-ttl`, `--max-message-size`)
//! with per-tenant overrides, enforced by single conditional statements in PostgreSQL so that
//! they hold under concurrency and across several ephemail processes (no overshoot). Refusals
//! are counted by kind for `/metrics` ([`QuotaRefusals`]), wherever they happen.

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_types::{BigInt, Date, Double, Integer, Timestamptz, Uuid as SqlUuid},
    QueryableByName,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};
use uuid::Uuid;

use crate::{
    models::{
        filters,
        tenant::{self, TenantLimits},
    },
    prepared::Prepared,
    schema::{inboxes, tenants},
};

/// The limits in force for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
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

impl Limits {
    /// The server's limits (`server`: every tenant's defaults, whose lifetime and message size
    /// are also server-wide maximums) with one tenant's overrides.
    pub fn resolve(server: &Limits, overrides: &TenantLimits) -> Self {
        Self {
            inboxes: overrides.max_inboxes.unwrap_or(server.inboxes),
            mails_per_day: overrides.max_mails_per_day.unwrap_or(server.mails_per_day),
            requests_per_minute: overrides
                .max_requests_per_minute
                .unwrap_or(server.requests_per_minute),
            stored_bytes: overrides.max_stored_bytes.unwrap_or(server.stored_bytes),
            max_ttl_seconds: overrides
                .max_ttl_seconds
                .map_or(server.max_ttl_seconds, |t| t.min(server.max_ttl_seconds)),
            max_message_size: overrides
                .max_message_size
                .map_or(server.max_message_size, |s| {
                    i64::from(s).min(server.max_message_size)
                }),
        }
    }
}

/// What a refusal was for: a tenant's limit, or the allowance of anonymous callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    /// Live inboxes made by the API (`createInbox`).
    Inboxes,
    /// Inboxes made by mail to a catch-all domain (`--quota-catch-all-inboxes`).
    CatchAllInboxes,
    MailsPerDay,
    StoredBytes,
    /// A tenant's own message size limit, below the server's (which the SMTP edge applies to
    /// everyone, as a protocol limit, not a quota).
    MessageSize,
    RequestsPerMinute,
    /// Inboxes anonymous callers may create per minute from one address (public mode).
    PublicInboxesPerMinute,
}

impl QuotaKind {
    const ALL: [Self; 7] = [
        Self::Inboxes,
        Self::CatchAllInboxes,
        Self::MailsPerDay,
        Self::StoredBytes,
        Self::MessageSize,
        Self::RequestsPerMinute,
        Self::PublicInboxesPerMinute,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inboxes => "inboxes",
            Self::CatchAllInboxes => "catch_all_inboxes",
            Self::MailsPerDay => "mails_per_day",
            Self::StoredBytes => "stored_bytes",
            Self::MessageSize => "message_size",
            Self::RequestsPerMinute => "requests_per_minute",
            Self::PublicInboxesPerMinute => "public_inboxes_per_minute",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// `ephemail_quota_refusals_total{kind}`: one series for every part that refuses for a quota
/// (delivery, per recipient; the API, per request), each holding a clone.
#[derive(Debug, Clone, Default)]
pub struct QuotaRefusals(Family<KindLabel, Counter>);

impl QuotaRefusals {
    pub fn register(registry: &mut Registry) -> Self {
        let refusals = Self::default();
        registry.register(
            "ephemail_quota_refusals",
            "Refusals for a quota, by kind: per recipient for mail (at RCPT TO or after DATA), \
             per request for the API",
            refusals.0.clone(),
        );
        // Every kind from zero: a series that appears only with its first refusal hides that
        // refusal from `rate()` and from alerts.
        for kind in QuotaKind::ALL {
            refusals
                .0
                .get_or_create(&KindLabel {
                    kind: kind.as_str(),
                })
                .inc_by(0);
        }
        refusals
    }

    pub fn refused(&self, kind: QuotaKind) {
        self.0
            .get_or_create(&KindLabel {
                kind: kind.as_str(),
            })
            .inc();
    }
}

/// The limits in force for the tenant `tenant_id`.
pub async fn limits_of(
    conn: &mut AsyncPgConnection,
    server: &Limits,
    tenant_id: Uuid,
) -> QueryResult<Limits> {
    let overrides = tenant::find(conn, tenant_id)
        .await?
        .map(|tenant| tenant.limits)
        .unwrap_or_default();
    Ok(Limits::resolve(server, &overrides))
}

/// The outcome of taking one API request from a tenant's bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: i32,
    /// Requests left right now.
    pub remaining: i64,
    /// Seconds until the bucket is full again.
    pub reset_seconds: u64,
    /// Seconds until the next request is allowed (0 when allowed).
    pub retry_after: u64,
}

/// Takes one request from the tenant's bucket (`limit` per minute, refilled continuously).
pub async fn take_request(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    default_limit: i32,
    now: DateTime<Utc>,
) -> QueryResult<RateDecision> {
    #[derive(QueryableByName)]
    struct Bucket {
        #[diesel(sql_type = Double)]
        tokens: f64,
        #[diesel(sql_type = Integer)]
        cap: i32,
    }
    let bucket: Bucket = Prepared::new(
        "WITH current AS (
             SELECT u.tenant_id, COALESCE(t.max_requests_per_minute, $2) AS cap,
                    LEAST(COALESCE(t.max_requests_per_minute, $2)::float8,
                          u.request_tokens + GREATEST(0, EXTRACT(EPOCH FROM ($3 - u.tokens_updated_at)))::float8
                              * COALESCE(t.max_requests_per_minute, $2) / 60.0) AS tokens
             FROM tenant_usage u JOIN tenants t ON t.id = u.tenant_id
             WHERE u.tenant_id = $1
             FOR UPDATE OF u
         )
         UPDATE tenant_usage u
         SET request_tokens = CASE WHEN c.tokens >= 1 THEN c.tokens - 1 ELSE c.tokens END,
             tokens_updated_at = GREATEST(u.tokens_updated_at, $3)
         FROM current c WHERE u.tenant_id = c.tenant_id
         RETURNING c.tokens AS tokens, c.cap AS cap",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Integer, _>(default_limit)
    .bind::<Timestamptz, _>(now)
    .get_result(conn)
    .await?;
    Ok(decide(bucket.tokens, bucket.cap))
}

/// The decision for a bucket that held `tokens` (before this request) of `cap` per minute.
fn decide(tokens: f64, cap: i32) -> RateDecision {
    let per_second = f64::from(cap.max(1)) / 60.0;
    let allowed = tokens >= 1.0;
    let left = if allowed { tokens - 1.0 } else { tokens };
    let seconds = |missing: f64| (missing.max(0.0) / per_second).ceil() as u64;
    RateDecision {
        allowed,
        limit: cap,
        remaining: left.floor() as i64,
        reset_seconds: seconds(f64::from(cap) - left),
        retry_after: if allowed {
            0
        } else {
            seconds(1.0 - tokens).max(1)
        },
    }
}

/// Where a tenant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Usage {
    #[diesel(sql_type = Integer)]
    pub live_inboxes: i32,
    /// Mails received today (UTC).
    #[diesel(sql_type = Integer)]
    pub mails_today: i32,
    #[diesel(sql_type = BigInt)]
    pub stored_bytes: i64,
}

pub async fn usage(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Usage> {
    Prepared::new(
        // The liveness test as in `inbox::live_at`, so that it is not answered from the
        // expiry index.
        "SELECT (SELECT count(*) FROM inboxes
                 WHERE tenant_id = $1 AND expires_at + interval '0' > $2
                   AND NOT created_by_mail)::int AS live_inboxes,
                CASE WHEN u.mail_day = $3 THEN u.mails_today ELSE 0 END AS mails_today,
                u.stored_bytes
         FROM tenant_usage u WHERE u.tenant_id = $1",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Timestamptz, _>(now)
    .bind::<Date, _>(now.date_naive())
    .get_result(conn)
    .await
}

/// Which limit keeps the tenant from receiving one more mail of `bytes` bytes today, if any:
/// mails per day first, then stored bytes (a cheap early check at `RCPT TO`, where the size is
/// not known and one byte stands for it, and the reason for a copy the binding check,
/// [`crate::models::message_insert::insert_all`]'s, refused). Reads only the counters row: unlike
/// [`usage`], it never counts inboxes, so its cost does not grow with them. A tenant without a
/// counters row (deleted meanwhile) is over no limit.
pub async fn exhausted(
    mut conn: &AsyncPgConnection,
    tenant_id: Uuid,
    limits: &Limits,
    bytes: i64,
    now: DateTime<Utc>,
) -> QueryResult<Option<QuotaKind>> {
    #[derive(QueryableByName)]
    struct Room {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        out_of_mails: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        out_of_bytes: bool,
    }
    let found: Option<Room> = Prepared::new(
        "SELECT CASE WHEN mail_day = $2 THEN mails_today ELSE 0 END >= $3 AS out_of_mails,
                stored_bytes + $5 > $4 AS out_of_bytes
         FROM tenant_usage WHERE tenant_id = $1",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Date, _>(now.date_naive())
    .bind::<Integer, _>(limits.mails_per_day)
    .bind::<BigInt, _>(limits.stored_bytes)
    .bind::<BigInt, _>(bytes)
    .get_result(&mut conn)
    .await
    .optional()?;
    Ok(found.and_then(|room| {
        if room.out_of_mails {
            Some(QuotaKind::MailsPerDay)
        } else {
            room.out_of_bytes.then_some(QuotaKind::StoredBytes)
        }
    }))
}

/// Locks the tenant's row until the end of the transaction and tells whether another live
/// inbox fits; otherwise the seconds until the first live inbox expires (`retry_after`).
/// Concurrent creators of one tenant queue on the lock, so the limit is never overshot. Only
/// the inboxes the API created count: those that mail to a catch-all domain made have a bound
/// of their own, so mail from outside cannot lock `createInbox` out.
pub async fn reserve_inbox(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    limits: &Limits,
    now: DateTime<Utc>,
) -> QueryResult<Result<(), u64>> {
    tenants::table
        .find(tenant_id)
        .select(tenants::id)
        .for_update()
        .first::<Uuid>(conn)
        .await?;
    let (live, first_expiry): (i64, Option<DateTime<Utc>>) = inboxes::table
        .filter(inboxes::tenant_id.eq(tenant_id))
        .filter(filters::live_at(now))
        .filter(inboxes::created_by_mail.eq(false))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(inboxes::expires_at),
        ))
        .first(conn)
        .await?;
    if live < i64::from(limits.inboxes) {
        return Ok(Ok(()));
    }
    let wait = first_expiry.map_or(60, |expiry| (expiry - now).num_seconds().max(1) as u64);
    Ok(Err(wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_and_counts_down() {
        let decision = decide(60.0, 60);
        assert!(decision.allowed);
        assert_eq!(
            (
                decision.remaining,
                decision.retry_after,
                decision.reset_seconds
            ),
            (59, 0, 1)
        );
    }

    #[test]
    fn an_empty_bucket_says_when_to_retry() {
        let decision = decide(0.25, 60);
        assert!(!decision.allowed);
        assert_eq!(decision.remaining, 0);
        assert_eq!(decision.retry_after, 1, "0.75 tokens at 1 per second");
        let slow = decide(0.0, 6);
        assert_eq!(slow.retry_after, 10, "one token at 6 per minute");
    }
}
