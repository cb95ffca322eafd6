//! Webhooks and their deliveries, a transactional outbox: the statements that store a message
//! ([`super::message_insert::insert_all`]) or delete an expired inbox ([`super::inbox`]) insert a
//! delivery of the event for every matching webhook, so an event that happened always has its
//! deliveries, however the process ends afterwards. Workers in any number of processes
//! [`claim`] due deliveries (`FOR UPDATE SKIP LOCKED`, each claim a lease that lapses if its
//! worker dies) and [`record`] each attempt's outcome.

use chrono::{DateTime, Utc};
use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{
        Array, Bool, Integer, Interval, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
    },
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Viewer;
use crate::{
    prepared::{column, Prepared},
    schema::{tenants, webhook_deliveries, webhooks},
};

/// The SQL that records an `INBOX_EXPIRED` delivery per matching webhook of every inbox in a
/// `deleted` CTE (rows of `inboxes`), as a CTE named `expiry_hooks`, its time the parameter
/// given. One text, so both statements that delete expired inboxes record their events alike.
macro_rules! inbox_expired_deliveries {
    ($now:literal) => {
        concat!(
            "expiry_hooks AS (
                 INSERT INTO webhook_deliveries (id, webhook_id, event, inbox_id, data,
                     created_at, next_attempt_at)
                 SELECT gen_random_uuid(), w.id, 'INBOX_EXPIRED', d.id,
                     jsonb_build_object('address', d.local_part || '@' || d.domain,
                                        'expiredAt', d.expires_at),
                     ",
            $now,
            ", ",
            $now,
            "
                 FROM deleted d JOIN webhooks w ON w.tenant_id = d.tenant_id
                 WHERE (w.inbox_id IS NULL OR w.inbox_id = d.id) AND ",
            $crate::models::webhook::webhook_sends!("INBOX_EXPIRED"),
            ")"
        )
    };
}
pub(crate) use inbox_expired_deliveries;

/// Whether the webhook `w` is to be sent `$event`s: subscribed to them and not disabled.
macro_rules! webhook_sends {
    ($event:literal) => {
        concat!("'", $event, "' = ANY(w.events) AND w.disabled_at IS NULL")
    };
}
pub(crate) use webhook_sends;

/// A partner endpoint (its secret apart: [`secret_of`]).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks, check_for_backend(Pg))]
pub struct Webhook {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub inbox_id: Option<Uuid>,
    pub url: String,
    pub events: Vec<Option<String>>,
    pub created_at: DateTime<Utc>,
    pub failing_since: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhooks)]
pub struct NewWebhook<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub inbox_id: Option<Uuid>,
    pub url: &'a str,
    pub events: Vec<&'a str>,
    pub secret: &'a str,
    pub created_at: DateTime<Utc>,
}

/// The webhooks `viewer` may manage: a tenant its own; an inbox token none.
fn managed_by(viewer: Viewer) -> webhooks::BoxedQuery<'static, Pg> {
    let query = webhooks::table.into_boxed();
    match viewer {
        Viewer::System => query,
        Viewer::Tenant(tenant_id) => query.filter(webhooks::tenant_id.eq(tenant_id)),
        Viewer::Inbox { .. } => query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("false")),
    }
}

/// The webhook `id` if `viewer` manages it, to update or delete.
fn managed(viewer: Viewer, id: Uuid) -> Managed {
    let ids = managed_by(viewer)
        .filter(webhooks::id.eq(id))
        .select(webhooks::id);
    webhooks::table.filter(webhooks::id.eq_any(ids))
}

type Managed = diesel::dsl::Filter<
    webhooks::table,
    diesel::dsl::EqAny<webhooks::id, webhooks::BoxedQuery<'static, Pg, SqlUuid>>,
>;

/// Inserts the webhook unless its tenant has `limit` webhooks already (then `None`). They are
/// counted under a lock of the tenant's row, so that creations at once cannot pass the limit
/// together; `FOR NO KEY UPDATE`, which ingest (sharing the key for its foreign keys) never
/// waits for.
pub async fn insert_within(
    conn: &mut AsyncPgConnection,
    webhook: &NewWebhook<'_>,
    limit: i64,
) -> QueryResult<Option<Webhook>> {
    conn.transaction(async |conn| {
        tenants::table
            .find(webhook.tenant_id)
            .select(tenants::id)
            .for_no_key_update()
            .first::<Uuid>(conn)
            .await?;
        let existing: i64 = webhooks::table
            .filter(webhooks::tenant_id.eq(webhook.tenant_id))
            .count()
            .get_result(conn)
            .await?;
        if existing >= limit {
            return Ok(None);
        }
        diesel::insert_into(webhooks::table)
            .values(webhook)
            .returning(Webhook::as_returning())
            .get_result(conn)
            .await
            .map(Some)
    })
    .await
}

/// The tenant's webhooks, oldest first.
pub async fn list(conn: &mut AsyncPgConnection, viewer: Viewer) -> QueryResult<Vec<Webhook>> {
    managed_by(viewer)
        .order((webhooks::created_at, webhooks::id))
        .select(Webhook::as_select())
        .load(conn)
        .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
) -> QueryResult<Option<Webhook>> {
    managed_by(viewer)
        .filter(webhooks::id.eq(id))
        .select(Webhook::as_select())
        .first(conn)
        .await
        .optional()
}

/// Deletes the webhook with its deliveries; whether it existed.
pub async fn delete(conn: &mut AsyncPgConnection, viewer: Viewer, id: Uuid) -> QueryResult<bool> {
    let deleted = diesel::delete(managed(viewer, id)).execute(conn).await?;
    Ok(deleted > 0)
}

/// Replaces the signing secret; the old one keeps signing too until `old_until`. The webhook,
/// if `viewer` manages it.
pub async fn set_secret(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    secret: &str,
    old_until: DateTime<Utc>,
) -> QueryResult<Option<Webhook>> {
    diesel::update(managed(viewer, id))
        .set((
            webhooks::previous_secret.eq(webhooks::secret.nullable()),
            webhooks::previous_secret_until.eq(old_until),
            webhooks::secret.eq(secret),
        ))
        .returning(Webhook::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Enables a disabled webhook again, as if it had never failed.
pub async fn enable(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
) -> QueryResult<Option<Webhook>> {
    diesel::update(managed(viewer, id))
        .set((
            webhooks::disabled_at.eq(None::<DateTime<Utc>>),
            webhooks::disabled_reason.eq(None::<String>),
            webhooks::failing_since.eq(None::<DateTime<Utc>>),
        ))
        .returning(Webhook::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Records a delivery of an event that no message or inbox stands behind (a test), its facts in
/// `data`; its id.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    webhook_id: Uuid,
    event: &str,
    data: &serde_json::Value,
    now: DateTime<Utc>,
) -> QueryResult<Uuid> {
    let id = Uuid::new_v4();
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::id.eq(id),
            webhook_deliveries::webhook_id.eq(webhook_id),
            webhook_deliveries::event.eq(event),
            webhook_deliveries::data.eq(Some(data)),
            webhook_deliveries::created_at.eq(now),
            webhook_deliveries::next_attempt_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// Makes the webhook's dead deliveries (those created at or after `since`, if given) pending
/// again, due now, with a fresh set of attempts; how many.
pub async fn redrive(
    conn: &mut AsyncPgConnection,
    webhook_id: Uuid,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let mut dead = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .filter(webhook_deliveries::state.eq(DeliveryState::Dead.as_str()))
        .select(webhook_deliveries::id)
        .into_boxed();
    if let Some(since) = since {
        dead = dead.filter(webhook_deliveries::created_at.ge(since));
    }
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(dead)))
        .set((
            webhook_deliveries::state.eq(DeliveryState::Pending.as_str()),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::finished_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet: due, waiting for its next attempt, or being attempted.
    Pending,
    Succeeded,
    /// Every attempt failed; [`redrive`] tries again.
    Dead,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
        }
    }

    fn parse(state: &str) -> Self {
        match state {
            "succeeded" => Self::Succeeded,
            "dead" => Self::Dead,
            _ => Self::Pending,
        }
    }
}

/// One attempt of a delivery, as its log keeps it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The response's status; none when no response came.
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// Why it failed (the status, a timeout, a refused target), with the response body's start.
    pub error: Option<String>,
}

/// A delivery with its log.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(Pg))]
pub struct DeliveryRow {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event: String,
    pub inbox_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    log: serde_json::Value,
}

impl DeliveryRow {
    pub fn state(&self) -> DeliveryState {
        DeliveryState::parse(&self.state)
    }

    pub fn log(&self) -> Vec<Attempt> {
        serde_json::from_value(self.log.clone()).unwrap_or_default()
    }
}

/// The webhook's deliveries, newest first: up to `limit`, in `state` if given.
pub async fn deliveries(
    conn: &mut AsyncPgConnection,
    webhook_id: Uuid,
    state: Option<DeliveryState>,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .into_boxed();
    if let Some(state) = state {
        query = query.filter(webhook_deliveries::state.eq(state.as_str()));
    }
    query
        .order((
            webhook_deliveries::created_at.desc(),
            webhook_deliveries::id.desc(),
        ))
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(conn)
        .await
}

/// A delivery a worker claimed, with what it needs to send it. No `Debug`: it holds the secret.
#[derive(QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub webhook_id: Uuid,
    #[diesel(sql_type = Text)]
    pub event: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub inbox_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub message_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub data: Option<serde_json::Value>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    /// This attempt's number, from 1.
    #[diesel(sql_type = Integer)]
    pub attempt: i32,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
    /// The secret before the last rotation, while it still signs too.
    #[diesel(sql_type = Nullable<Text>)]
    pub previous_secret: Option<String>,
}

/// What a worker may take.
pub struct Claim<'a> {
    pub now: DateTime<Utc>,
    /// A claimed delivery is due again after this, unless its outcome is recorded first.
    pub lease: chrono::Duration,
    /// Deliveries per endpoint claimed at once, in this process.
    pub per_endpoint: i32,
    /// This process's deliveries claimed and not finished, per endpoint.
    pub in_flight: &'a [(Uuid, i32)],
    pub limit: i32,
}

/// Claims due deliveries of enabled endpoints, up to each endpoint's room and `limit` in all,
/// skipping those another worker is claiming; each attempt counted.
pub async fn claim(conn: &mut AsyncPgConnection, claim: &Claim<'_>) -> QueryResult<Vec<Claimed>> {
    Prepared::new(
        "WITH endpoints AS (
             SELECT w.id, $3 - coalesce(busy.n, 0) AS room
             FROM webhooks w
             LEFT JOIN unnest($4::uuid[], $5::int4[]) AS busy(id, n) ON busy.id = w.id
             WHERE w.disabled_at IS NULL),
         due AS (
             SELECT d.id FROM endpoints e CROSS JOIN LATERAL (
                 SELECT d.id FROM webhook_deliveries d
                 WHERE d.webhook_id = e.id AND d.state = 'pending' AND d.next_attempt_at <= $1
                 ORDER BY d.next_attempt_at
                 LIMIT greatest(e.room, 0)
                 FOR UPDATE SKIP LOCKED) d
             LIMIT $6)
         UPDATE webhook_deliveries d
         SET attempts = d.attempts + 1, next_attempt_at = $1 + $2
         FROM due, webhooks w
         WHERE d.id = due.id AND w.id = d.webhook_id
         RETURNING d.id, d.webhook_id, d.event, d.inbox_id, d.message_id, d.data, d.created_at,
             d.attempts AS attempt, w.url, w.secret,
             CASE WHEN w.previous_secret_until > $1 THEN w.previous_secret END AS previous_secret",
    )
    .bind::<Timestamptz, _>(claim.now)
    .bind::<Interval, _>(pg_interval(claim.lease))
    .bind::<Integer, _>(claim.per_endpoint)
    .bind::<Array<SqlUuid>, _>(column(claim.in_flight, |&(id, _)| id))
    .bind::<Array<Integer>, _>(column(claim.in_flight, |&(_, n)| n))
    .bind::<Integer, _>(claim.limit)
    .load(&mut &*conn)
    .await
}

fn pg_interval(duration: chrono::Duration) -> diesel::pg::data_types::PgInterval {
    diesel::pg::data_types::PgInterval::from_microseconds(
        duration.num_microseconds().unwrap_or(i64::MAX),
    )
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    /// The attempt's number, as claimed: a later claim's outcome is not overwritten.
    pub attempt: i32,
    pub log: Attempt,
    /// Pending (with its next attempt's time), succeeded or dead.
    pub state: DeliveryState,
    pub next_attempt_at: DateTime<Utc>,
    /// Whether it tells of the endpoint's health: not when the endpoint was not called
    /// (the event could not be read, its message is gone).
    pub endpoint_called: bool,
}

/// Records attempts' outcomes in one statement: each delivery's state and log, and each
/// endpoint's health: an endpoint whose attempts have all failed since longer than
/// `disable_after` is disabled.
pub async fn record(
    conn: &mut AsyncPgConnection,
    outcomes: &[Outcome],
    now: DateTime<Utc>,
    disable_after: chrono::Duration,
) -> QueryResult<()> {
    let logs: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|outcome| serde_json::to_value(&outcome.log).unwrap_or_default())
        .collect();
    Prepared::new(
        "WITH outcome AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::jsonb[], $5::text[],
                 $6::timestamptz[], $7::timestamptz[], $10::bool[])
               AS t(id, webhook_id, attempt, entry, state, next_attempt_at, at, endpoint_called)),
         delivered AS (
             UPDATE webhook_deliveries d
             SET state = o.state, next_attempt_at = o.next_attempt_at,
                 finished_at = CASE WHEN o.state = 'pending' THEN NULL ELSE o.at END,
                 log = d.log || jsonb_build_array(o.entry)
             FROM outcome o
             WHERE d.id = o.id AND d.attempts = o.attempt),
         health AS (
             SELECT webhook_id, bool_or(state = 'succeeded') AS ok, min(at) AS first_failure
             FROM outcome WHERE endpoint_called GROUP BY webhook_id)
         UPDATE webhooks w
         SET failing_since = CASE WHEN h.ok THEN NULL
                                  ELSE coalesce(w.failing_since, h.first_failure) END,
             disabled_at = CASE WHEN NOT h.ok AND w.failing_since < $8 - $9 THEN $8
                                ELSE w.disabled_at END,
             disabled_reason = CASE WHEN NOT h.ok AND w.failing_since < $8 - $9
                 THEN 'every attempt failed since ' || to_char(w.failing_since AT TIME ZONE 'UTC',
                                                           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                 ELSE w.disabled_reason END
         FROM health h
         WHERE w.id = h.webhook_id
           -- Only an endpoint whose health changes: rewriting the row of every healthy endpoint
           -- on every batch makes a new version of a row that every ingest statement reads.
           AND CASE WHEN h.ok THEN w.failing_since IS NOT NULL
                    ELSE w.failing_since IS NULL OR w.failing_since < $8 - $9 END",
    )
    .bind::<Array<SqlUuid>, _>(column(outcomes, |o| o.delivery_id))
    .bind::<Array<SqlUuid>, _>(column(outcomes, |o| o.webhook_id))
    .bind::<Array<Integer>, _>(column(outcomes, |o| o.attempt))
    .bind::<Array<Jsonb>, _>(&logs)
    .bind::<Array<Text>, _>(column(outcomes, |o| o.state.as_str()))
    .bind::<Array<Timestamptz>, _>(column(outcomes, |o| o.next_attempt_at))
    .bind::<Array<Timestamptz>, _>(column(outcomes, |o| o.log.at))
    .bind::<Timestamptz, _>(now)
    .bind::<Interval, _>(pg_interval(disable_after))
    .bind::<Array<Bool>, _>(column(outcomes, |o| o.endpoint_called))
    .execute(&mut &*conn)
    .await
    .map(drop)
}

/// Deletes up to `limit` deliveries that finished before `cutoff`; how many.
pub async fn prune(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    Prepared::new(
        "DELETE FROM webhook_deliveries WHERE id IN (
             SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND finished_at < $1
             LIMIT $2)",
    )
    .bind::<Timestamptz, _>(cutoff)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .execute(&mut &*conn)
    .await
}

/// Deletes the webhooks of inboxes that no longer exist once their last delivery is pruned too:
/// their log stays readable as long as any other's.
pub async fn delete_orphans(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    Prepared::new(
        "DELETE FROM webhooks w
         WHERE w.inbox_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM inboxes i WHERE i.id = w.inbox_id)
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id)",
    )
    .execute(&mut &*conn)
    .await
}
