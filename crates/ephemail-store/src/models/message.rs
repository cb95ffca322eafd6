use chrono::{DateTime, Utc};
use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{BigInt, Bool, Nullable, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{
    filters::{
        bind_viewer, contains_pattern, in_visible_inbox, source_of_message, visible_at_2_to_4,
    },
    raw_source::{self, RawSource},
    Viewer,
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

/// The prepared statements' look-up of the expiry bucket of inbox `$1`, when it is live and
/// visible ([`visible_at_2_to_4`]): `purge_at = ` it.
macro_rules! visible_bucket {
    () => {
        concat!(
            "(SELECT purge_at FROM inboxes WHERE id = $1 AND ",
            visible_at_2_to_4!(),
            ")"
        )
    };
}

/// The prepared statements' read of inbox `$1`'s messages, when it is live and visible (`$2` to
/// `$4`, [`visible_bucket`]); the statement adds its conditions (` AND ...`) and order.
macro_rules! select_visible_inbox_messages {
    () => {
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE inbox_id = $1 AND purge_at = ",
            visible_bucket!()
        )
    };
}

/// The prepared statements' conditions, on `messages`, of the oldest message of inbox `$1`
/// (visible: `$2` to `$4`) after seq `$5`, received after `$6` (NULL: any time), that a claim
/// may take: when `$7`, an unseen one, else one no wait has returned.
macro_rules! oldest_claimable_where {
    () => {
        concat!(
            "inbox_id = $1 AND purge_at = ",
            visible_bucket!(),
            " AND seq > $5 AND ($6::timestamptz IS NULL OR received_at > $6)
              AND CASE WHEN $7 THEN NOT seen ELSE waited_at IS NULL END
             ORDER BY seq LIMIT 1"
        )
    };
}

/// The values of [`oldest_claimable_where`]'s `$1` to `$7`.
#[derive(Clone, Copy)]
struct OldestClaimable {
    inbox_id: Uuid,
    viewer: Viewer,
    now: DateTime<Utc>,
    after: i64,
    received_after: Option<DateTime<Utc>>,
    consume: bool,
}

impl OldestClaimable {
    /// The values, when `filter` is at most a received-after time (a prepared statement's).
    fn of(
        viewer: Viewer,
        inbox_id: Uuid,
        filter: &MessageFilter,
        after: i64,
        claim: Claim,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        filter.only_received_after().map(|received_after| Self {
            inbox_id,
            viewer,
            now,
            after,
            received_after,
            consume: claim == Claim::Seen,
        })
    }
}

fn bind_oldest_claimable(
    statement: Prepared<'static>,
    values: OldestClaimable,
) -> Prepared<'static> {
    let OldestClaimable {
        inbox_id,
        viewer,
        now,
        after,
        received_after,
        consume,
    } = values;
    bind_visible_bucket(statement, inbox_id, viewer, now)
        .bind::<BigInt, _>(after)
        .bind::<Nullable<Timestamptz>, _>(received_after)
        .bind::<Bool, _>(consume)
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

/// Binds `$1` to `$4` of a statement with [`visible_bucket`].
fn bind_visible_bucket(
    statement: Prepared<'static>,
    inbox_id: Uuid,
    viewer: Viewer,
    now: DateTime<Utc>,
) -> Prepared<'static> {
    bind_viewer(statement.bind::<SqlUuid, _>(inbox_id), viewer, now)
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

impl MessageFilter {
    /// Whether every message matches.
    pub fn is_empty(&self) -> bool {
        self.only_received_after() == Some(None)
    }

    /// `Some(received_after)` when no other criterion is given: the filters of feeds and
    /// waits that run as prepared statements (waits without a cursor look back from a time).
    fn only_received_after(&self) -> Option<Option<DateTime<Utc>>> {
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
        let others_none = from.is_none()
            && to.is_none()
            && subject.is_none()
            && received_before.is_none()
            && seen.is_none()
            && has_attachments.is_none()
            && tag.is_none();
        others_none.then_some(*received_after)
    }
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
    // Prepared when unfiltered, the common listing: a boxed query is parsed and planned anew
    // for every page. The cursor is an index condition (`seq <`), not an `OR` with NULL.
    if filter.is_empty() {
        return bind_visible_bucket(
            Prepared::new(concat!(
                select_visible_inbox_messages!(),
                " AND seq < coalesce($5, 9223372036854775807) ORDER BY seq DESC LIMIT $6"
            )),
            inbox_id,
            viewer,
            now,
        )
        .bind::<Nullable<BigInt>, _>(before)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await;
    }
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
    if let Some(received_after) = filter.only_received_after() {
        return bind_visible_bucket(
            Prepared::new(concat!(
                select_visible_inbox_messages!(),
                " AND seq > $5 AND ($6::timestamptz IS NULL OR received_at > $6)
                 ORDER BY seq LIMIT $7"
            )),
            inbox_id,
            viewer,
            now,
        )
        .bind::<BigInt, _>(after)
        .bind::<Nullable<Timestamptz>, _>(received_after)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await;
    }
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
    let prepared = OldestClaimable::of(viewer, inbox_id, filter, after, claim, now);
    loop {
        let claimed = match prepared {
            // One statement: the oldest candidate, taken if it still is one under the row lock.
            // Nothing taken means no candidate, or another wait took it first: asked after.
            Some(values) => {
                let claimed = bind_oldest_claimable(
                    Prepared::new(concat!(
                        "UPDATE messages SET waited_at = $8, seen = seen OR $7
                         WHERE purge_at = ",
                        visible_bucket!(),
                        " AND id = (SELECT id FROM messages WHERE ",
                        oldest_claimable_where!(),
                        ") AND CASE WHEN $7 THEN NOT seen ELSE waited_at IS NULL END AND ",
                        commit_without_waiting_for_disk!(),
                        " RETURNING ",
                        message_columns!()
                    )),
                    values,
                )
                .bind::<Timestamptz, _>(now)
                .get_result(conn)
                .await
                .optional()?;
                if claimed.is_none() && oldest_claimable_by_values(conn, values).await?.is_none() {
                    return Ok(None);
                }
                claimed
            }
            // The oldest candidate, then taken if it still is one under the row lock.
            None => {
                let oldest = oldest_claimable(conn, viewer, inbox_id, filter, after, claim, now);
                let Some((id, purge_at)) = oldest.await? else {
                    return Ok(None);
                };
                Prepared::new(concat!(
                    "UPDATE messages SET waited_at = $1, seen = seen OR $2
                     WHERE id = $3 AND purge_at = $4
                       AND CASE WHEN $2 THEN NOT seen ELSE waited_at IS NULL END AND ",
                    commit_without_waiting_for_disk!(),
                    " RETURNING ",
                    message_columns!()
                ))
                .bind::<Timestamptz, _>(now)
                .bind::<Bool, _>(claim == Claim::Seen)
                .bind::<SqlUuid, _>(id)
                .bind::<Timestamptz, _>(purge_at)
                .get_result(conn)
                .await
                .optional()?
            }
        };
        if claimed.is_some() {
            return Ok(claimed);
        }
    }
}

/// The id and bucket of the oldest message of [`OldestClaimable`]'s values, by the prepared
/// statement.
async fn oldest_claimable_by_values(
    conn: &mut AsyncPgConnection,
    values: OldestClaimable,
) -> QueryResult<Option<(Uuid, DateTime<Utc>)>> {
    #[derive(QueryableByName)]
    struct Candidate {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Timestamptz)]
        purge_at: DateTime<Utc>,
    }
    let candidate: Option<Candidate> = bind_oldest_claimable(
        Prepared::new(concat!(
            "SELECT id, purge_at FROM messages WHERE ",
            oldest_claimable_where!()
        )),
        values,
    )
    .get_result(conn)
    .await
    .optional()?;
    Ok(candidate.map(|c| (c.id, c.purge_at)))
}

/// The id and bucket of the oldest message after `after` that matches and `claim` allows, for a
/// filter the prepared statement cannot take.
async fn oldest_claimable(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    inbox_id: Uuid,
    filter: &MessageFilter,
    after: i64,
    claim: Claim,
    now: DateTime<Utc>,
) -> QueryResult<Option<(Uuid, DateTime<Utc>)>> {
    let candidates = matching(viewer, inbox_id, filter, now).filter(messages::seq.gt(after));
    match claim {
        Claim::Seen => candidates.filter(messages::seen.eq(false)),
        Claim::Unreturned => candidates.filter(messages::waited_at.is_null()),
    }
    .order(messages::seq.asc())
    .select((messages::id, messages::purge_at))
    .first(conn)
    .await
    .optional()
}

/// Records that a wait returned the message (one it found by cursor, not by claim): waits
/// without a cursor pass it over from now on.
#[tracing::instrument(name = "db.message.record_returned", level = "debug", skip_all, fields(inbox_id = %message.inbox_id))]
pub async fn record_returned(
    conn: &mut AsyncPgConnection,
    message: &Message,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    Prepared::new(concat!(
        "UPDATE messages SET waited_at = $1 WHERE id = $2 AND inbox_id = $3 AND ",
        commit_without_waiting_for_disk!()
    ))
    .bind::<Timestamptz, _>(now)
    .bind::<SqlUuid, _>(message.id)
    .bind::<SqlUuid, _>(message.inbox_id)
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
        .left_join(raw_sources::table.on(source_of_message()))
        .filter(in_visible_inbox(viewer, now))
        .filter(messages::id.eq(id))
        .select(raw_source::of_message())
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
        .left_join(raw_sources::table.on(source_of_message()))
        .filter(messages::id.eq_any(ids))
        .select((messages::id, raw_source::of_message()))
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
