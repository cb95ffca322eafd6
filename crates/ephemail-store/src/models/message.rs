use chrono::{DateTime, Utc};
use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{
    filters::{bind_viewer, contains_pattern, source_of_message, visible_at_2_to_4},
    raw_source::{self, RawSource},
    InboxBucket, MessageAt, Viewer,
};
use crate::{
    prepared::Prepared,
    schema::{inboxes, messages, raw_sources},
};

/// The columns of [`Message`], for the prepared statements that return messages.
macro_rules! message_columns {
    () => {
        "id, seq, inbox_id, received_at, mail_from, rcpt_to, from_addr, subject, size, tags,
         seen, has_attachments"
    };
}

/// The prepared statements' inbox `$1` when it is live and visible ([`visible_at_2_to_4`]): its
/// bucket (`purge_at`), one row or none.
macro_rules! visible_inbox {
    () => {
        concat!(
            "(SELECT purge_at FROM inboxes WHERE id = $1 AND ",
            visible_at_2_to_4!(),
            ")"
        )
    };
}

/// The prepared statements' conditions, on `messages`, of inbox `$1`'s messages in bucket `$5`
/// (a parameter, which PostgreSQL prunes the other buckets' partitions by when the statement
/// starts) that match the filter, whose conditions [`bind_matching`] puts in place of `{filter}`
/// (left in, that is a syntax error, not a filter silently dropped).
macro_rules! matching {
    () => {
        "inbox_id = $1 AND purge_at = $5{filter}"
    };
}

/// A prepared statement that reads `$read` (a query on `messages`, with [`matching`]) when
/// inbox `$1` is live and visible: each row is the inbox's bucket (`bucket`) and one of the
/// read's rows (all NULL when it has none); no row when the inbox is not visible. A bucket
/// other than `$5` means the inbox has moved, and the read found nothing there (the messages
/// moved in the same transaction). See [`following_moves`].
macro_rules! read_in_bucket {
    ($($read:tt)+) => {
        concat!(
            "SELECT i.purge_at AS bucket, m.* FROM ",
            visible_inbox!(),
            " i LEFT JOIN LATERAL (",
            $($read)+,
            ") m ON true"
        )
    };
}

/// A [`read_in_bucket`] statement of inbox `$1`'s messages in bucket `$5` that match the filter
/// ([`matching`]), with `$rest` (the statement's cursor, order and limit, from `$14`).
macro_rules! read_matching_messages {
    ($rest:expr) => {
        read_in_bucket!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE ",
            matching!(),
            $rest
        )
    };
}

/// The prepared statements' query of the id of the oldest message after seq `$14` (with
/// [`matching`]) that a claim may take: when `$15`, an unseen one, else one no wait has returned.
macro_rules! oldest_claimable {
    () => {
        concat!(
            "SELECT id FROM messages WHERE ",
            matching!(),
            " AND seq > $14 AND CASE WHEN $15 THEN NOT seen ELSE waited_at IS NULL END
             ORDER BY seq LIMIT 1"
        )
    };
}

/// A condition that is true and lets the statement's transaction commit without waiting for
/// its WAL to reach the disk (`synchronous_commit` is read at commit; a volatile function is
/// evaluated for every row the other conditions pass, so for any row the statement changes).
/// For a wait's bookkeeping (which message it returned or marked seen), whose flush every
/// wake-up waited for (0.2 ms of `pgbench` latency on this machine's disk). The commit is visible to other transactions at once, so
/// concurrent waits still each claim a different message; a database crash within a fraction
/// of a second of it may forget the claim, and a later wait then returns that message again.
macro_rules! commit_without_waiting_for_disk {
    () => {
        "set_config('synchronous_commit', 'off', true) = 'off'"
    };
}

/// Binds `$1` to `$5` of a statement with [`visible_inbox`]: the inbox, who reads it and when,
/// and its bucket.
fn bind_inbox(
    statement: Prepared<'static>,
    viewer: Viewer,
    at: InboxBucket,
    now: DateTime<Utc>,
) -> Prepared<'static> {
    bind_viewer(statement.bind::<SqlUuid, _>(at.inbox_id), viewer, now)
        .bind::<Timestamptz, _>(at.purge_at)
}

/// The statement `sql`, with [`visible_inbox`] and [`matching`], for `filter`, with `$1` to
/// `$13` bound. With one criterion or none, its text has that criterion's condition alone (a
/// value the text does not name is not sent), which PostgreSQL plans faster than the text for
/// two or more, where each criterion reads `($n IS NULL OR ...)` (`docs/performance.md`, Scale).
/// Each form is prepared once per connection, and PostgreSQL keeps its plans in that session, so
/// the forms are bounded: ten per statement, not one per combination of criteria.
fn bind_matching(
    sql: &'static str,
    viewer: Viewer,
    at: InboxBucket,
    filter: &MessageFilter,
    now: DateTime<Utc>,
) -> Prepared<'static> {
    let criteria = filter.criteria();
    let given = criteria.iter().filter(|criterion| criterion.given).count();
    let conditions: String = criteria
        .iter()
        .filter(|criterion| given > 1 || criterion.given)
        .map(|criterion| match given {
            0 | 1 => format!(" AND {}", criterion.condition),
            _ => format!(
                " AND ({} IS NULL OR {})",
                criterion.parameter, criterion.condition
            ),
        })
        .collect();
    let statement = Prepared::new(sql.replace("{filter}", &conditions));
    let pattern = |text: &Option<String>| text.as_deref().map(contains_pattern);
    bind_inbox(statement, viewer, at, now)
        .bind::<Nullable<Text>, _>(pattern(&filter.from))
        .bind::<Nullable<Text>, _>(pattern(&filter.to))
        .bind::<Nullable<Text>, _>(pattern(&filter.subject))
        .bind::<Nullable<Timestamptz>, _>(filter.received_after)
        .bind::<Nullable<Timestamptz>, _>(filter.received_before)
        .bind::<Nullable<Bool>, _>(filter.seen)
        .bind::<Nullable<Bool>, _>(filter.has_attachments)
        .bind::<Nullable<Text>, _>(filter.tag.as_deref().map(str::to_lowercase))
}

/// A row of a [`read_in_bucket`] statement.
#[derive(QueryableByName)]
struct InBucket<T> {
    #[diesel(sql_type = Timestamptz)]
    bucket: DateTime<Utc>,
    #[diesel(embed)]
    read: T,
}

/// A count or a `seq` read by a [`read_in_bucket`] statement.
#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

/// A message id read by a [`read_in_bucket`] statement.
#[derive(QueryableByName)]
struct Candidate {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    id: Option<Uuid>,
}

/// The rows the [`read_in_bucket`] statement `in_bucket` makes for `at` read, in the inbox's
/// bucket: after a move, read again in the new one, which `at` keeps from then on. None when
/// the inbox is not visible. Each answer is of one snapshot, so a read is never short for a
/// move it did not see.
async fn following_moves<T>(
    conn: &mut AsyncPgConnection,
    at: &mut InboxBucket,
    in_bucket: impl Fn(InboxBucket) -> Prepared<'static>,
) -> QueryResult<Vec<T>>
where
    T: Send + 'static,
    InBucket<T>: QueryableByName<Pg>,
{
    loop {
        let rows: Vec<InBucket<T>> = in_bucket(*at).load(conn).await?;
        match rows.as_slice() {
            [row, ..] if row.bucket != at.purge_at => at.purge_at = row.bucket,
            _ => return Ok(rows.into_iter().map(|row| row.read).collect()),
        }
    }
}

/// The messages a [`read_matching_messages`] statement `sql` reads (see [`following_moves`]),
/// `bind_rest` binding its parameters from `$14`.
async fn matching_messages(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    at: &mut InboxBucket,
    filter: &MessageFilter,
    now: DateTime<Utc>,
    sql: &'static str,
    bind_rest: impl Fn(Prepared<'static>) -> Prepared<'static>,
) -> QueryResult<Vec<Message>> {
    let rows: Vec<Option<Message>> = following_moves(conn, at, |at| {
        bind_rest(bind_matching(sql, viewer, at, filter, now))
    })
    .await?;
    Ok(rows.into_iter().flatten().collect())
}

/// The number a [`read_in_bucket`] statement reads, 0 for none (see [`following_moves`]).
async fn number_following_moves(
    conn: &mut AsyncPgConnection,
    at: &mut InboxBucket,
    in_bucket: impl Fn(InboxBucket) -> Prepared<'static>,
) -> QueryResult<i64> {
    let rows: Vec<Number> = following_moves(conn, at, in_bucket).await?;
    Ok(rows.into_iter().find_map(|row| row.n).unwrap_or_default())
}

/// A stored message's row: what lists, filters and sorting need. What else it shows (bodies,
/// header fields, `To:`, `Date:` and the like) is derived from its raw source when read.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = messages, check_for_backend(Pg))]
pub struct Message {
    pub id: Uuid,
    pub seq: i64,
    pub inbox_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<Option<String>>,
    pub from_addr: serde_json::Value,
    pub subject: Option<String>,
    pub size: i32,
    pub tags: Vec<Option<String>>,
    pub seen: bool,
    pub has_attachments: bool,
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

/// One criterion of a [`MessageFilter`] in a [`matching`] statement.
struct Criterion {
    given: bool,
    /// Its parameter, typed.
    parameter: &'static str,
    condition: &'static str,
}

impl MessageFilter {
    /// Whether every message matches.
    pub fn is_empty(&self) -> bool {
        self.criteria().iter().all(|criterion| !criterion.given)
    }

    /// Every criterion (every field, so that a new one cannot be left out), `$6` to `$13`.
    fn criteria(&self) -> [Criterion; 8] {
        let Self {
            from,
            to,
            subject,
            received_after,
            received_before,
            seen,
            has_attachments,
            tag,
        } = self;
        let criterion = |given, parameter, condition| Criterion {
            given,
            parameter,
            condition,
        };
        [
            criterion(from.is_some(), "$6::text", "from_text ILIKE $6"),
            criterion(to.is_some(), "$7::text", "to_text ILIKE $7"),
            criterion(subject.is_some(), "$8::text", "subject ILIKE $8"),
            criterion(
                received_after.is_some(),
                "$9::timestamptz",
                "received_at > $9",
            ),
            criterion(
                received_before.is_some(),
                "$10::timestamptz",
                "received_at < $10",
            ),
            criterion(seen.is_some(), "$11::bool", "seen = $11"),
            criterion(
                has_attachments.is_some(),
                "$12::bool",
                "has_attachments = $12",
            ),
            criterion(tag.is_some(), "$13::text", "tags @> ARRAY[$13::text]"),
        ]
    }
}

/// Newest first: up to `limit` matching messages older than the `before` cursor.
pub async fn page(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    at: &mut InboxBucket,
    filter: &MessageFilter,
    before: Option<i64>,
    limit: i64,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Message>> {
    // The cursor is an index condition (`seq <`), not an `OR` with NULL.
    let sql = read_matching_messages!(
        " AND seq < coalesce($14, 9223372036854775807) ORDER BY seq DESC LIMIT $15"
    );
    matching_messages(conn, viewer, at, filter, now, sql, |statement| {
        statement
            .bind::<Nullable<BigInt>, _>(before)
            .bind::<BigInt, _>(limit)
    })
    .await
}

/// Oldest first: up to `limit` matching messages newer than the `after` cursor.
#[tracing::instrument(name = "db.message.stored_after", level = "debug", skip_all, fields(inbox_id = %at.inbox_id, after = after))]
pub async fn stored_after(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    at: &mut InboxBucket,
    filter: &MessageFilter,
    after: i64,
    limit: i64,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Message>> {
    let sql = read_matching_messages!(" AND seq > $14 ORDER BY seq LIMIT $15");
    matching_messages(conn, viewer, at, filter, now, sql, |statement| {
        statement.bind::<BigInt, _>(after).bind::<BigInt, _>(limit)
    })
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
#[tracing::instrument(name = "db.message.claim_oldest", level = "debug", skip_all, fields(inbox_id = %at.inbox_id, after = after, claim = ?claim))]
pub async fn claim_oldest(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    at: &mut InboxBucket,
    filter: &MessageFilter,
    after: i64,
    claim: Claim,
    now: DateTime<Utc>,
) -> QueryResult<Option<Message>> {
    let bind = |statement, at| {
        bind_matching(statement, viewer, at, filter, now)
            .bind::<BigInt, _>(after)
            .bind::<Bool, _>(claim == Claim::Seen)
    };
    loop {
        // One statement: the oldest candidate, taken if it still is one under the row lock.
        let claimed = bind(
            concat!(
                "UPDATE messages SET waited_at = $16, seen = seen OR $15
                 WHERE purge_at = $5 AND id = (SELECT m.id FROM ",
                visible_inbox!(),
                " i CROSS JOIN LATERAL (",
                oldest_claimable!(),
                ") m) AND CASE WHEN $15 THEN NOT seen ELSE waited_at IS NULL END AND ",
                commit_without_waiting_for_disk!(),
                " RETURNING ",
                message_columns!()
            ),
            *at,
        )
        .bind::<Timestamptz, _>(now)
        .get_result(conn)
        .await
        .optional()?;
        if claimed.is_some() {
            return Ok(claimed);
        }
        // Nothing taken: no candidate, another wait took it first, or the inbox moved; asked
        // after, in the inbox's bucket.
        let candidates: Vec<Candidate> = following_moves(conn, at, |at| {
            bind(read_in_bucket!(oldest_claimable!()), at)
        })
        .await?;
        if candidates.into_iter().find_map(|c| c.id).is_none() {
            return Ok(None);
        }
    }
}

/// Records that a wait returned the message (one it found by cursor, not by claim) that it read
/// at `at`: waits without a cursor pass it over from now on.
#[tracing::instrument(name = "db.message.record_returned", level = "debug", skip_all, fields(inbox_id = %message.inbox_id))]
pub async fn record_returned(
    conn: &mut AsyncPgConnection,
    message: &Message,
    at: &mut InboxBucket,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    loop {
        let recorded = Prepared::new(concat!(
            "UPDATE messages SET waited_at = $1
             WHERE id = $2 AND inbox_id = $3 AND purge_at = $4 AND ",
            commit_without_waiting_for_disk!()
        ))
        .bind::<Timestamptz, _>(now)
        .bind::<SqlUuid, _>(message.id)
        .bind::<SqlUuid, _>(message.inbox_id)
        .bind::<Timestamptz, _>(at.purge_at)
        .execute(conn)
        .await?;
        if recorded > 0 {
            return Ok(());
        }
        // Not there: deleted, or moved with its inbox since it was read.
        match bucket_of(conn, at.inbox_id).await? {
            Some(bucket) if bucket != at.purge_at => at.purge_at = bucket,
            _ => return Ok(()),
        }
    }
}

/// The bucket of inbox `inbox_id`, whatever its expiry and owner.
async fn bucket_of(
    conn: &mut AsyncPgConnection,
    inbox_id: Uuid,
) -> QueryResult<Option<DateTime<Utc>>> {
    inboxes::table
        .find(inbox_id)
        .select(inboxes::purge_at)
        .first(conn)
        .await
        .optional()
}

/// The matching messages up to `through` (a seq) received after `since` that no wait has
/// returned, oldest first, at most `limit`: where a subscription without a cursor starts.
#[allow(clippy::too_many_arguments)] // the feed's arguments and the window
#[tracing::instrument(name = "db.message.unreturned_through", level = "debug", skip_all, fields(inbox_id = %at.inbox_id, through = through))]
pub async fn unreturned_through(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    at: &mut InboxBucket,
    filter: &MessageFilter,
    since: DateTime<Utc>,
    through: i64,
    limit: i64,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Message>> {
    let sql = read_matching_messages!(
        " AND received_at > $14 AND waited_at IS NULL AND seq <= $15
                 ORDER BY seq LIMIT $16"
    );
    matching_messages(conn, viewer, at, filter, now, sql, |statement| {
        statement
            .bind::<Timestamptz, _>(since)
            .bind::<BigInt, _>(through)
            .bind::<BigInt, _>(limit)
    })
    .await
}

/// The `seq` of the inbox's newest message, 0 when it has none (or the inbox is not visible).
#[tracing::instrument(name = "db.message.latest_seq", level = "debug", skip_all, fields(inbox_id = %at.inbox_id))]
pub async fn latest_seq(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    at: &mut InboxBucket,
    now: DateTime<Utc>,
) -> QueryResult<i64> {
    number_following_moves(conn, at, |at| {
        bind_inbox(
            Prepared::new(read_in_bucket!(
                "SELECT max(seq) AS n FROM messages WHERE inbox_id = $1 AND purge_at = $5"
            )),
            viewer,
            at,
            now,
        )
    })
    .await
}

/// How many messages of the inbox match `filter`.
pub async fn count(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    at: &mut InboxBucket,
    filter: &MessageFilter,
    now: DateTime<Utc>,
) -> QueryResult<i64> {
    number_following_moves(conn, at, |at| {
        bind_matching(
            read_in_bucket!("SELECT count(*) AS n FROM messages WHERE ", matching!()),
            viewer,
            at,
            filter,
            now,
        )
    })
    .await
}

/// The raw sources of several messages at once, with their message ids: one query per bucket
/// (for a page of messages, one), and one for those no longer in the bucket they were read
/// from. The messages are ones the caller has already been allowed to see.
pub async fn raw_of(
    conn: &mut AsyncPgConnection,
    messages: &[MessageAt],
) -> QueryResult<Vec<(Uuid, RawSource)>> {
    let mut found = Vec::with_capacity(messages.len());
    for (bucket, ids) in MessageAt::by_bucket(messages) {
        found.extend(raw_sources_of(conn, &ids, Some(bucket)).await?);
    }
    let moved = MessageAt::missing(messages, found.iter().map(|(id, _)| *id));
    if !moved.is_empty() {
        found.extend(raw_sources_of(conn, &moved, None).await?);
    }
    Ok(found)
}

/// The raw sources of the messages `ids` in `bucket`, or in any bucket.
async fn raw_sources_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    bucket: Option<DateTime<Utc>>,
) -> QueryResult<Vec<(Uuid, RawSource)>> {
    let mut query = messages::table
        .left_join(raw_sources::table.on(source_of_message()))
        .filter(messages::id.eq_any(ids))
        .into_boxed();
    if let Some(bucket) = bucket {
        query = query.filter(messages::purge_at.eq(bucket));
    }
    query
        .select((messages::id, raw_source::of_message()))
        .load(conn)
        .await
}

/// Deletes the inbox's messages that match `filter` (with their attachments and the raw
/// sources no other message uses, by trigger); returns how many.
pub async fn delete_matching(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    at: &mut InboxBucket,
    filter: &MessageFilter,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let deleted = number_following_moves(conn, at, |at| {
        bind_matching(
            concat!(
                "WITH deleted AS (DELETE FROM messages WHERE ",
                matching!(),
                " AND EXISTS ",
                visible_inbox!(),
                " RETURNING 1) ",
                read_in_bucket!("SELECT count(*) AS n FROM deleted")
            ),
            viewer,
            at,
            filter,
            now,
        )
    })
    .await?;
    Ok(usize::try_from(deleted).unwrap_or_default())
}
