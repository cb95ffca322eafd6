use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{
        Array, BigInt, Bool, Bytea, Date, Integer, Jsonb, Nullable, Text, Timestamptz,
        Uuid as SqlUuid,
    },
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{
    attachment::NewAttachment,
    filters::{contains_pattern, in_visible_inbox, source_of_message},
    quota::Limits,
    raw_source::{NewRawSource, RawSource},
    Viewer,
};
use crate::{
    prepared::{column, text_array, Prepared},
    schema::{inboxes, messages, raw_sources},
};

/// A stored message without its raw bytes (those are loaded only for downloads).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages, check_for_backend(Pg))]
pub struct Message {
    pub id: Uuid,
    pub seq: i64,
    pub inbox_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<Option<String>>,
    pub from_addr: serde_json::Value,
    pub to_addr: serde_json::Value,
    pub cc_addr: serde_json::Value,
    pub subject: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub size: i32,
    pub parse_error: Option<String>,
    pub tags: Vec<Option<String>>,
    pub seen: bool,
    pub has_attachments: bool,
    /// [`ephemail_mail::parse::ContentLimit`] names.
    pub content_limits: Vec<Option<String>>,
}

impl Message {
    /// Decodes one of the JSON columns written from [`ephemail_mail::parse::ParsedMail`].
    pub fn decode<T: DeserializeOwned>(value: &serde_json::Value) -> Vec<T> {
        serde_json::from_value(value.clone()).unwrap_or_else(|error| {
            tracing::error!(%error, "undecodable JSON column in messages");
            Vec::new()
        })
    }
}

/// One row per inbox that received a mail.
#[derive(Debug)]
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub tenant_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub mail_from: Option<&'a str>,
    pub rcpt_to: &'a [String],
    pub from_addr: &'a serde_json::Value,
    pub to_addr: &'a serde_json::Value,
    pub cc_addr: &'a serde_json::Value,
    pub from_text: &'a str,
    pub to_text: &'a str,
    pub subject: Option<&'a str>,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<&'a str>,
    pub in_reply_to: Option<&'a str>,
    pub size: i32,
    /// The raw source, stored once per mail (see [`super::raw_source`]).
    pub raw_sha256: &'a [u8],
    pub parse_error: Option<&'a str>,
    pub tags: &'a [String],
    pub has_attachments: bool,
    pub content_limits: &'a [&'static str],
    /// The inbox's expiry bucket.
    pub purge_at: DateTime<Utc>,
}

/// A batch's mails to one tenant's inboxes, counted against its daily and storage quotas by the
/// statement that inserts them ([`insert_all`]): in the transaction
/// that stores exactly those messages, so that a rolled-back mail is not counted.
#[derive(Debug, Clone, Copy)]
pub struct MailCount {
    pub tenant_id: Uuid,
    pub mails: i32,
    pub bytes: i64,
    pub limits: Limits,
}

/// A batch's mails counted per tenant, in one order for every writer (their counters rows are
/// locked in that order).
pub struct Counting {
    pub tenants: Vec<MailCount>,
    /// The UTC day the mails count for.
    pub day: NaiveDate,
    /// One tenant whose mails do not all fit fails the statement, and with it the transaction
    /// ([`exceeded`] tells that error). Otherwise only the mails of the tenants that have room
    /// are stored.
    pub all_or_nothing: bool,
}

impl Counting {
    pub fn new(
        tenants: impl IntoIterator<Item = MailCount>,
        now: DateTime<Utc>,
        all_or_nothing: bool,
    ) -> Self {
        let mut tenants: Vec<MailCount> = tenants.into_iter().collect();
        tenants.sort_unstable_by_key(|count| count.tenant_id);
        Self {
            tenants,
            day: now.date_naive(),
            all_or_nothing,
        }
    }
}

/// Whether `error` is the one an all-or-nothing [`Counting`] raises (migration 15's
/// `raise_quota_exceeded`).
pub fn exceeded(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(_, info)
            if info.message() == "ephemail: a tenant's quota would be exceeded"
    )
}

/// What [`insert_all`] stored.
#[derive(Debug, Default)]
pub struct Inserted {
    /// Each stored message's `(id, seq)`.
    pub messages: Vec<(Uuid, i64)>,
    /// How many webhook deliveries of their `MESSAGE_RECEIVED` events it recorded.
    pub webhook_deliveries: i64,
}

/// Counts the mails against their tenants' quotas and inserts the messages of the tenants that
/// have room for theirs, with their raw sources and attachments, in one prepared statement
/// whatever their number (the rows go in as one array per column), with a delivery of its
/// `MESSAGE_RECEIVED` event per matching webhook (the transactional outbox of
/// [`super::webhook`]). A raw source already stored in its bucket is kept. With
/// `all_or_nothing`, a tenant without room fails the statement ([`exceeded`]).
///
/// The messages are inserted after taking the commit-order lock, which orders this
/// transaction's message inserts after every other transaction's, across all processes on the
/// database, until commit. With it, `seq` order is commit order, so a reader that has seen
/// `seq = n` has seen every message with a smaller `seq`: cursors never skip a message
/// committed late. Every writer locks its tenants' counters rows first, then takes that lock.
pub async fn insert_all(
    mut conn: &AsyncPgConnection,
    counting: &Counting,
    sources: &mut [NewRawSource<'_>],
    rows: &[NewMessage<'_>],
    attachments: &[NewAttachment<'_>],
) -> QueryResult<Inserted> {
    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = BigInt)]
        seq: i64,
        #[diesel(sql_type = BigInt)]
        webhook_deliveries: i64,
    }
    // Arbitrary constant naming "message insert order" among advisory locks.
    const MESSAGE_ORDER_LOCK: i64 = 0x6570_6865_6d61_696c;
    if rows.is_empty() {
        return Ok(Inserted::default());
    }
    // One order for every writer, so that concurrent inserts of one source cannot deadlock.
    sources.sort_unstable_by(|a, b| (a.sha256, a.purge_at).cmp(&(b.sha256, b.purge_at)));
    let tenants = &counting.tenants;
    // The lock is taken once every counters row is (it reads all of `counted`), and the
    // messages' rows come out of a join with it, so their `seq` (a default of the insert,
    // computed per row) is drawn only once the lock is held. The join's condition needs the
    // lock's row, so the lock (and the quota check) is read whatever the join order.
    let stored: Vec<Stored> = Prepared::new(
        "WITH counted AS MATERIALIZED (
             UPDATE tenant_usage u
             SET mails_today = CASE WHEN u.mail_day = $1 THEN u.mails_today + q.mails
                                    ELSE q.mails END,
                 mail_day = $1,
                 stored_bytes = u.stored_bytes + q.bytes
             FROM unnest($2::uuid[], $3::int4[], $4::int8[], $5::int4[], $6::int8[])
               AS q(tenant_id, mails, bytes, mails_per_day, stored_bytes)
             WHERE u.tenant_id = q.tenant_id
               AND CASE WHEN u.mail_day = $1 THEN u.mails_today ELSE 0 END + q.mails
                   <= q.mails_per_day
               AND u.stored_bytes + q.bytes <= q.stored_bytes
             RETURNING u.tenant_id),
         in_commit_order AS MATERIALIZED (
             SELECT pg_advisory_xact_lock($7), c.tenants
             FROM (SELECT count(*) AS n, array_agg(tenant_id) AS tenants FROM counted) c
             WHERE CASE WHEN c.n = $8 OR NOT $9 THEN true ELSE raise_quota_exceeded() END),
         stored AS (
             INSERT INTO messages (id, inbox_id, tenant_id, received_at, mail_from, rcpt_to,
                 from_addr, to_addr, cc_addr, from_text, to_text, subject, sent_at, message_id,
                 in_reply_to, size, raw_sha256, parse_error, tags, has_attachments,
                 content_limits, purge_at)
             SELECT id, inbox_id, tenant_id, received_at, mail_from, rcpt_to::text[], from_addr,
                 to_addr, cc_addr, from_text, to_text, subject, sent_at, message_id, in_reply_to,
                 size, raw_sha256, parse_error, tags::text[], has_attachments,
                 content_limits::text[], purge_at
             FROM in_commit_order, unnest($10::uuid[], $11::uuid[], $12::uuid[],
                 $13::timestamptz[], $14::text[], $15::text[], $16::jsonb[], $17::jsonb[],
                 $18::jsonb[], $19::text[], $20::text[], $21::text[], $22::timestamptz[],
                 $23::text[], $24::text[], $25::int4[], $26::bytea[], $27::text[], $28::text[],
                 $29::bool[], $30::text[], $31::timestamptz[])
               AS t(id, inbox_id, tenant_id, received_at, mail_from, rcpt_to, from_addr, to_addr,
                 cc_addr, from_text, to_text, subject, sent_at, message_id, in_reply_to, size,
                 raw_sha256, parse_error, tags, has_attachments, content_limits, purge_at)
             WHERE t.tenant_id = ANY(in_commit_order.tenants)
             RETURNING id, seq, inbox_id, tenant_id, received_at, raw_sha256, purge_at),
         sources AS (
             INSERT INTO raw_sources (sha256, encoding, content, purge_at)
             SELECT sha256, 'zstd', content, purge_at
             FROM unnest($32::bytea[], $33::bytea[], $34::timestamptz[])
               AS t(sha256, content, purge_at)
             WHERE (sha256, purge_at) IN (SELECT raw_sha256, purge_at FROM stored)
             -- Locks a raw source it shares until commit, without writing it: a delete of
             -- another copy's message waits for this one (see migration 2026-12-04-100001).
             ON CONFLICT (sha256, purge_at) DO UPDATE SET sha256 = EXCLUDED.sha256 WHERE false),
         attached AS (
             INSERT INTO attachments (id, message_id, position, filename, content_type,
                 content_id, inline, size, purge_at)
             SELECT * FROM unnest($35::uuid[], $36::uuid[], $37::int4[], $38::text[],
                 $39::text[], $40::text[], $41::bool[], $42::int4[], $43::timestamptz[])
               AS t(id, message_id, position, filename, content_type, content_id, inline, size,
                 purge_at)
             WHERE message_id IN (SELECT id FROM stored)),
         hooked AS (
             INSERT INTO webhook_deliveries (id, webhook_id, event, inbox_id, message_id,
                 created_at, next_attempt_at)
             SELECT gen_random_uuid(), w.id, 'MESSAGE_RECEIVED', s.inbox_id, s.id,
                 s.received_at, s.received_at
             FROM stored s JOIN webhooks w ON w.tenant_id = s.tenant_id
             WHERE (w.inbox_id IS NULL OR w.inbox_id = s.inbox_id)
               AND 'MESSAGE_RECEIVED' = ANY(w.events) AND w.disabled_at IS NULL
             RETURNING 1)
         SELECT id, seq, (SELECT count(*) FROM hooked) AS webhook_deliveries FROM stored",
    )
    .bind::<Date, _>(counting.day)
    .bind::<Array<SqlUuid>, _>(column(tenants, |count| count.tenant_id))
    .bind::<Array<Integer>, _>(column(tenants, |count| count.mails))
    .bind::<Array<BigInt>, _>(column(tenants, |count| count.bytes))
    .bind::<Array<Integer>, _>(column(tenants, |count| count.limits.mails_per_day))
    .bind::<Array<BigInt>, _>(column(tenants, |count| count.limits.stored_bytes))
    .bind::<BigInt, _>(MESSAGE_ORDER_LOCK)
    .bind::<BigInt, _>(i64::try_from(tenants.len()).unwrap_or(i64::MAX))
    .bind::<Bool, _>(counting.all_or_nothing)
    .bind::<Array<SqlUuid>, _>(column(rows, |r| r.id))
    .bind::<Array<SqlUuid>, _>(column(rows, |r| r.inbox_id))
    .bind::<Array<SqlUuid>, _>(column(rows, |r| r.tenant_id))
    .bind::<Array<Timestamptz>, _>(column(rows, |r| r.received_at))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.mail_from))
    .bind::<Array<Text>, _>(column(rows, |r| text_array(r.rcpt_to)))
    .bind::<Array<Jsonb>, _>(column(rows, |r| r.from_addr))
    .bind::<Array<Jsonb>, _>(column(rows, |r| r.to_addr))
    .bind::<Array<Jsonb>, _>(column(rows, |r| r.cc_addr))
    .bind::<Array<Text>, _>(column(rows, |r| r.from_text))
    .bind::<Array<Text>, _>(column(rows, |r| r.to_text))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.subject))
    .bind::<Array<Nullable<Timestamptz>>, _>(column(rows, |r| r.sent_at))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.message_id))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.in_reply_to))
    .bind::<Array<Integer>, _>(column(rows, |r| r.size))
    .bind::<Array<Bytea>, _>(column(rows, |r| r.raw_sha256))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.parse_error))
    .bind::<Array<Text>, _>(column(rows, |r| text_array(r.tags)))
    .bind::<Array<Bool>, _>(column(rows, |r| r.has_attachments))
    .bind::<Array<Text>, _>(column(rows, |r| text_array(r.content_limits)))
    .bind::<Array<Timestamptz>, _>(column(rows, |r| r.purge_at))
    .bind::<Array<Bytea>, _>(column(sources, |source| source.sha256))
    .bind::<Array<Bytea>, _>(column(sources, |source| source.zstd))
    .bind::<Array<Timestamptz>, _>(column(sources, |source| source.purge_at))
    .bind::<Array<SqlUuid>, _>(column(attachments, |a| a.id))
    .bind::<Array<SqlUuid>, _>(column(attachments, |a| a.message_id))
    .bind::<Array<Integer>, _>(column(attachments, |a| a.position))
    .bind::<Array<Nullable<Text>>, _>(column(attachments, |a| a.filename))
    .bind::<Array<Text>, _>(column(attachments, |a| a.content_type))
    .bind::<Array<Nullable<Text>>, _>(column(attachments, |a| a.content_id))
    .bind::<Array<Bool>, _>(column(attachments, |a| a.inline))
    .bind::<Array<Integer>, _>(column(attachments, |a| a.size))
    .bind::<Array<Timestamptz>, _>(column(attachments, |a| a.purge_at))
    .load(&mut conn)
    .await?;
    Ok(Inserted {
        webhook_deliveries: stored
            .as_slice()
            .first()
            .map_or(0, |row| row.webhook_deliveries),
        messages: stored.into_iter().map(|row| (row.id, row.seq)).collect(),
    })
}

/// Deletes the oldest messages of each of `inboxes` (ids with their expiry buckets) past the
/// newest `keep`.
pub async fn keep_newest(
    mut conn: &AsyncPgConnection,
    inboxes: &[(Uuid, DateTime<Utc>)],
    keep: i64,
) -> QueryResult<usize> {
    // Each inbox's cutoff first, by its index alone, then the deletion by the index too:
    // planned together, PostgreSQL chose a scan of the whole partition for a generic plan made
    // while the partition was new and small, and kept it as the partition grew.
    Prepared::new(
        "WITH cut AS MATERIALIZED (
             SELECT t.inbox_id, t.purge_at,
                 (SELECT n.seq FROM messages n WHERE n.inbox_id = t.inbox_id
                  ORDER BY n.seq DESC OFFSET $3 LIMIT 1) AS seq
             FROM unnest($1::uuid[], $2::timestamptz[]) AS t(inbox_id, purge_at))
         DELETE FROM messages m USING cut
         WHERE cut.seq IS NOT NULL AND m.inbox_id = cut.inbox_id AND m.purge_at = cut.purge_at
           AND m.seq <= cut.seq",
    )
    .bind::<Array<SqlUuid>, _>(column(inboxes, |&(id, _)| id))
    .bind::<Array<Timestamptz>, _>(column(inboxes, |&(_, purge_at)| purge_at))
    .bind::<BigInt, _>(keep)
    .execute(&mut conn)
    .await
}

/// Deletes at most `limit` messages received before `cutoff` (with their attachments and the raw
/// sources no other message uses, by trigger); returns how many.
pub async fn delete_received_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    Prepared::new(
        "DELETE FROM messages WHERE received_at < $1 AND id IN (
             SELECT id FROM messages WHERE received_at < $1 LIMIT $2)",
    )
    .bind::<Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(limit)
    .execute(&mut &*conn)
    .await
}

/// Search criteria; every one given must hold. Text matches are case-insensitive substrings.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub received_after: Option<DateTime<Utc>>,
    pub received_before: Option<DateTime<Utc>>,
    pub seen: Option<bool>,
    pub has_attachments: Option<bool>,
    pub tag: Option<String>,
}

/// Messages of the live inboxes `viewer` may see.
fn live(viewer: Viewer, now: DateTime<Utc>) -> messages::BoxedQuery<'static, Pg> {
    messages::table
        .filter(in_visible_inbox(viewer, now))
        .into_boxed()
}

/// Narrows `query` to one inbox's messages, read from its expiry bucket's partition only (the
/// bucket is a subquery, so PostgreSQL prunes the other partitions when it executes).
fn of_inbox(
    query: messages::BoxedQuery<'static, Pg>,
    inbox_id: Uuid,
) -> messages::BoxedQuery<'static, Pg> {
    let bucket = inboxes::table
        .filter(inboxes::id.eq(inbox_id))
        .select(inboxes::purge_at)
        .single_value();
    query
        .filter(messages::inbox_id.eq(inbox_id))
        .filter(messages::purge_at.nullable().eq(bucket))
}

/// The live messages of one inbox that match `filter`.
fn matching(
    viewer: Viewer,
    inbox_id: Uuid,
    filter: &MessageFilter,
    now: DateTime<Utc>,
) -> messages::BoxedQuery<'static, Pg> {
    let mut query = of_inbox(live(viewer, now), inbox_id);
    if let Some(from) = &filter.from {
        query = query.filter(messages::from_text.ilike(contains_pattern(from)));
    }
    if let Some(to) = &filter.to {
        query = query.filter(messages::to_text.ilike(contains_pattern(to)));
    }
    if let Some(subject) = &filter.subject {
        query = query.filter(messages::subject.ilike(contains_pattern(subject)));
    }
    if let Some(after) = filter.received_after {
        query = query.filter(messages::received_at.gt(after));
    }
    if let Some(before) = filter.received_before {
        query = query.filter(messages::received_at.lt(before));
    }
    if let Some(seen) = filter.seen {
        query = query.filter(messages::seen.eq(seen));
    }
    if let Some(has_attachments) = filter.has_attachments {
        query = query.filter(messages::has_attachments.eq(has_attachments));
    }
    if let Some(tag) = &filter.tag {
        query = query.filter(messages::tags.contains(vec![Some(tag.to_lowercase())]));
    }
    query
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<Message>> {
    live(viewer, now)
        .filter(messages::id.eq(id))
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

/// The messages among `ids`, whatever their inbox: for a caller that reads their inboxes by id
/// and drops the messages of those no longer live (the webhook payloads). Each is an index probe
/// (filtered by the visible inboxes, as the API's reads are, PostgreSQL may instead hash every
/// live inbox, once per call).
pub async fn find_all_by_id(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::id.eq_any(ids.to_vec()))
        .select(Message::as_select())
        .load(conn)
        .await
}

/// Newest first: up to `limit` matching messages older than the `before` cursor.
pub async fn page(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    inbox_id: Uuid,
    filter: &MessageFilter,
    before: Option<i64>,
    limit: i64,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Message>> {
    let mut query = matching(viewer, inbox_id, filter, now);
    if let Some(before) = before {
        query = query.filter(messages::seq.lt(before));
    }
    query
        .order(messages::seq.desc())
        .limit(limit)
        .select(Message::as_select())
        .load(conn)
        .await
}

/// Oldest first: up to `limit` matching messages newer than the `after` cursor.
#[tracing::instrument(name = "db.message.stored_after", level = "debug", skip_all, fields(inbox_id = %inbox_id, after = after))]
pub async fn stored_after(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    inbox_id: Uuid,
    filter: &MessageFilter,
    after: i64,
    limit: i64,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Message>> {
    let query = matching(viewer, inbox_id, filter, now).filter(messages::seq.gt(after));
    oldest_first(conn, query, limit).await
}

async fn oldest_first(
    conn: &mut AsyncPgConnection,
    query: messages::BoxedQuery<'static, Pg>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    query
        .order(messages::seq.asc())
        .limit(limit)
        .select(Message::as_select())
        .load(conn)
        .await
}

/// How a wait takes a message for itself, so that concurrent and successive waits each get a
/// different one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// `markSeen`: only unseen messages count; the one taken is marked seen (and returned).
    Seen,
    /// The default: only messages no wait has returned count; the one taken is recorded as
    /// returned (`waited_at`).
    Unreturned,
}

/// Takes the oldest matching message after `after` that `claim` allows and returns it.
/// Concurrent waits each get a different message: the update re-checks the claim under the row
/// lock, and a wait that lost the race moves on to the next candidate.
#[tracing::instrument(name = "db.message.claim_oldest", level = "debug", skip_all, fields(inbox_id = %inbox_id, after = after, claim = ?claim))]
pub async fn claim_oldest(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    inbox_id: Uuid,
    filter: &MessageFilter,
    after: i64,
    claim: Claim,
    now: DateTime<Utc>,
) -> QueryResult<Option<Message>> {
    loop {
        let candidates = matching(viewer, inbox_id, filter, now).filter(messages::seq.gt(after));
        let candidate: Option<Uuid> = match claim {
            Claim::Seen => candidates.filter(messages::seen.eq(false)),
            Claim::Unreturned => candidates.filter(messages::waited_at.is_null()),
        }
        .order(messages::seq.asc())
        .select(messages::id)
        .first(conn)
        .await
        .optional()?;
        let Some(id) = candidate else {
            return Ok(None);
        };
        let row = messages::table.filter(messages::id.eq(id));
        let claimed = match claim {
            Claim::Seen => {
                diesel::update(row.filter(messages::seen.eq(false)))
                    .set((messages::seen.eq(true), messages::waited_at.eq(now)))
                    .returning(Message::as_returning())
                    .get_result(conn)
                    .await
            }
            Claim::Unreturned => {
                diesel::update(row.filter(messages::waited_at.is_null()))
                    .set(messages::waited_at.eq(now))
                    .returning(Message::as_returning())
                    .get_result(conn)
                    .await
            }
        }
        .optional()?;
        if claimed.is_some() {
            return Ok(claimed);
        }
    }
}

/// Records that a wait returned the message (one it found by cursor, not by claim): waits
/// without a cursor pass it over from now on.
#[tracing::instrument(name = "db.message.record_returned", level = "debug", skip_all, fields(inbox_id = %message.inbox_id))]
pub async fn record_returned(
    conn: &mut AsyncPgConnection,
    message: &Message,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        messages::table
            .filter(messages::inbox_id.eq(message.inbox_id))
            .filter(messages::id.eq(message.id)),
    )
    .set(messages::waited_at.eq(now))
    .execute(conn)
    .await
    .map(drop)
}

/// The matching messages up to `through` (a seq) received after `since` that no wait has
/// returned, oldest first, at most `limit`: where a subscription without a cursor starts.
#[allow(clippy::too_many_arguments)] // the feed's arguments and the window
#[tracing::instrument(name = "db.message.unreturned_through", level = "debug", skip_all, fields(inbox_id = %inbox_id, through = through))]
pub async fn unreturned_through(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    inbox_id: Uuid,
    filter: &MessageFilter,
    since: DateTime<Utc>,
    through: i64,
    limit: i64,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Message>> {
    let query = matching(viewer, inbox_id, filter, now)
        .filter(messages::received_at.gt(since))
        .filter(messages::waited_at.is_null())
        .filter(messages::seq.le(through));
    oldest_first(conn, query, limit).await
}

/// The `seq` of the inbox's newest message, 0 when it has none.
#[tracing::instrument(name = "db.message.latest_seq", level = "debug", skip_all, fields(inbox_id = %inbox_id))]
pub async fn latest_seq(conn: &mut AsyncPgConnection, inbox_id: Uuid) -> QueryResult<i64> {
    of_inbox(messages::table.into_boxed(), inbox_id)
        .select(diesel::dsl::max(messages::seq))
        .first::<Option<i64>>(conn)
        .await
        .map(Option::unwrap_or_default)
}

pub async fn count(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    inbox_id: Uuid,
    filter: &MessageFilter,
    now: DateTime<Utc>,
) -> QueryResult<i64> {
    matching(viewer, inbox_id, filter, now)
        .count()
        .get_result(conn)
        .await
}

/// The stored raw source of a live message (decode it for the exact bytes received).
pub async fn raw(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<RawSource>> {
    messages::table
        .inner_join(raw_sources::table.on(source_of_message()))
        .filter(in_visible_inbox(viewer, now))
        .filter(messages::id.eq(id))
        .select(RawSource::as_select())
        .first(conn)
        .await
        .optional()
}

/// The raw sources of several messages at once, with their message ids (one query for a page
/// of messages). The ids are of messages the caller has already been allowed to see.
pub async fn raw_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, RawSource)>> {
    messages::table
        .inner_join(raw_sources::table.on(source_of_message()))
        .filter(messages::id.eq_any(ids))
        .select((messages::id, RawSource::as_select()))
        .load(conn)
        .await
}

/// Sets the seen flag of the live messages among `ids`; returns how many there were.
pub async fn mark_seen(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    ids: &[Uuid],
    seen: bool,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let live_ids = live(viewer, now)
        .filter(messages::id.eq_any(ids.to_vec()))
        .select(messages::id);
    diesel::update(messages::table.filter(messages::id.eq_any(live_ids)))
        .set(messages::seen.eq(seen))
        .execute(conn)
        .await
}

/// Deletes the message and its attachments; false if there was no live message with that id.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let live_id = live(viewer, now)
        .filter(messages::id.eq(id))
        .select(messages::id);
    let deleted = diesel::delete(messages::table.filter(messages::id.eq_any(live_id)))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}

/// Deletes the inbox's messages that match `filter`; returns how many.
pub async fn delete_matching(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    inbox_id: Uuid,
    filter: &MessageFilter,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let ids = matching(viewer, inbox_id, filter, now).select(messages::id);
    diesel::delete(messages::table.filter(messages::id.eq_any(ids)))
        .execute(conn)
        .await
}
