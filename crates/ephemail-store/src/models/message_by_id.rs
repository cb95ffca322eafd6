//! Look-ups of messages by id alone, whatever their inbox: each reads the expiry bucket that the
//! message's id tells first (one partition; see [`crate::ids`]), then the buckets its rows moved
//! to ([`bucket_move`](super::bucket_move)).

use chrono::{DateTime, Utc};
use diesel::{pg::Pg, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{
    bucket_move::{BucketSearch, Search},
    filters::{in_visible_inbox, source_of_message},
    message::Message,
    missing,
    raw_source::{self, RawSource},
    MessageAt, Viewer,
};
use crate::schema::{messages, raw_sources};

/// Messages of the live inboxes `viewer` may see.
fn live(viewer: Viewer, now: DateTime<Utc>) -> messages::BoxedQuery<'static, Pg> {
    messages::table
        .filter(in_visible_inbox(viewer, now))
        .into_boxed()
}

/// [`live`], in `bucket` when given (else in every bucket).
fn live_in(
    viewer: Viewer,
    now: DateTime<Utc>,
    bucket: Option<DateTime<Utc>>,
) -> messages::BoxedQuery<'static, Pg> {
    match bucket {
        Some(bucket) => live(viewer, now).filter(messages::purge_at.eq(bucket)),
        None => live(viewer, now),
    }
}

/// A live message by id alone, with its bucket: looked up in the bucket its id tells first.
pub async fn find(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<(Message, DateTime<Utc>)>> {
    let mut search = BucketSearch::new(id);
    while let Some(bucket) = search.next(conn).await? {
        let found = live_in(viewer, now, bucket)
            .filter(messages::id.eq(id))
            .select((Message::as_select(), messages::purge_at))
            .first(conn)
            .await
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The messages among `ids`, whatever their inbox, with their buckets: for a caller that reads
/// their inboxes by id and drops the messages of those no longer live (the webhook payloads).
/// Each is an index probe (filtered by the visible inboxes, as the API's reads are, PostgreSQL
/// may instead hash every live inbox, once per call).
pub async fn find_all_by_id(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<(Message, DateTime<Utc>)>> {
    let mut found: Vec<(Message, DateTime<Utc>)> = Vec::new();
    let mut left = ids.to_vec();
    let mut search = Search::new();
    while let Some(round) = search.next(conn, &left).await? {
        if !round.told.is_empty() {
            let buckets: Vec<DateTime<Utc>> =
                MessageAt::by_bucket(&round.told).into_keys().collect();
            found.extend(
                messages::table
                    .filter(messages::purge_at.eq_any(buckets))
                    .filter(messages::id.eq_any(round.told.iter().map(|at| at.id)))
                    .select((Message::as_select(), messages::purge_at))
                    .load::<(Message, DateTime<Utc>)>(conn)
                    .await?,
            );
        }
        if !round.anywhere.is_empty() {
            found.extend(
                messages::table
                    .filter(messages::id.eq_any(round.anywhere))
                    .select((Message::as_select(), messages::purge_at))
                    .load::<(Message, DateTime<Utc>)>(conn)
                    .await?,
            );
        }
        left = missing(left, found.iter().map(|(message, _)| message.id));
    }
    Ok(found)
}

/// The stored raw source of a live message (decode it for the exact bytes received): looked up
/// in the bucket its id tells first.
pub async fn raw(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<RawSource>> {
    let mut search = BucketSearch::new(id);
    while let Some(bucket) = search.next(conn).await? {
        let mut query = messages::table
            .left_join(raw_sources::table.on(source_of_message()))
            .filter(in_visible_inbox(viewer, now))
            .filter(messages::id.eq(id))
            .into_boxed();
        if let Some(bucket) = bucket {
            query = query.filter(messages::purge_at.eq(bucket));
        }
        let found = (query.select(raw_source::of_message()).first(conn).await).optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Sets the seen flag of the live messages among `ids`; returns how many there were. Each
/// bucket's are set by a statement on its partition alone (an update of the whole table plans
/// and locks every partition: 20 to 40 ms with a week of buckets).
pub async fn mark_seen(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    ids: &[Uuid],
    seen: bool,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let mut marked = 0;
    let mut left = ids.to_vec();
    let mut search = Search::new();
    while let Some(round) = search.next(conn, &left).await? {
        let mut set = set_seen(conn, viewer, &round.told, seen, now).await?;
        set.extend(set_seen_anywhere(conn, viewer, round.anywhere, seen, now).await?);
        marked += set.len();
        left = missing(left, set);
    }
    Ok(marked)
}

/// [`set_seen`] for ids that tell no bucket: looked up in every bucket's partition, then set in
/// the buckets they were found in; returns their ids.
async fn set_seen_anywhere(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    mut left: Vec<Uuid>,
    seen: bool,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Uuid>> {
    let mut set_all = Vec::new();
    while !left.is_empty() {
        let found: Vec<(Uuid, DateTime<Utc>)> = live(viewer, now)
            .filter(messages::id.eq_any(left))
            .select((messages::id, messages::purge_at))
            .load(conn)
            .await?;
        let found: Vec<MessageAt> = (found.into_iter())
            .map(|(id, purge_at)| MessageAt { id, purge_at })
            .collect();
        let set = set_seen(conn, viewer, &found, seen, now).await?;
        // Those that moved with their inbox meanwhile, looked up again.
        left = MessageAt::missing(&found, set.iter().copied());
        set_all.extend(set);
    }
    Ok(set_all)
}

/// Sets the seen flag of those of `messages` that are live and in the bucket given; returns
/// their ids.
async fn set_seen(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    messages: &[MessageAt],
    seen: bool,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Uuid>> {
    let mut set = Vec::with_capacity(messages.len());
    for (bucket, ids) in MessageAt::by_bucket(messages) {
        let in_bucket = messages::table
            .filter(messages::purge_at.eq(bucket))
            .filter(messages::id.eq_any(ids))
            .filter(in_visible_inbox(viewer, now));
        let updated: Vec<Uuid> = diesel::update(in_bucket)
            .set(messages::seen.eq(seen))
            .returning(messages::id)
            .get_results(conn)
            .await?;
        set.extend(updated);
    }
    Ok(set)
}

/// Deletes the message and its attachments; false if there was no live message with that id.
/// Looked up in the bucket its id tells first.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let mut search = BucketSearch::new(id);
    while let Some(bucket) = search.next(conn).await? {
        let live_id = messages::table
            .filter(messages::id.eq(id))
            .filter(in_visible_inbox(viewer, now));
        let deleted = match bucket {
            Some(bucket) => {
                let in_bucket = live_id.filter(messages::purge_at.eq(bucket));
                diesel::delete(in_bucket).execute(conn).await?
            }
            None => diesel::delete(live_id).execute(conn).await?,
        };
        if deleted > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}
