use chrono::{DateTime, Utc};
use diesel::{pg::Pg, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{
    bucket_move::BucketSearch,
    filters,
    raw_source::{self, RawSource},
    MessageAt, Viewer,
};
use crate::schema::{attachments, messages, raw_sources};

/// Attachment metadata; the bytes are loaded only for downloads.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = attachments, check_for_backend(Pg))]
pub struct Attachment {
    pub id: Uuid,
    pub message_id: Uuid,
    pub position: i32,
    pub filename: Option<String>,
    pub content_type: String,
    pub content_id: Option<String>,
    pub inline: bool,
    pub size: i32,
}

/// One message's attachment: metadata only, the bytes stay in the raw source.
#[derive(Debug)]
pub struct NewAttachment<'a> {
    pub id: Uuid,
    pub message_id: Uuid,
    pub position: i32,
    pub filename: Option<&'a str>,
    pub content_type: &'a str,
    pub content_id: Option<&'a str>,
    pub inline: bool,
    pub size: i32,
    /// Its message's expiry bucket.
    pub purge_at: DateTime<Utc>,
}

/// The attachments of several messages at once, each of which has some (`has_attachments`):
/// one query per bucket (for a page of messages, one), and one for the messages none were found
/// for in the bucket they were read from (their inbox has moved since).
pub async fn for_messages(
    conn: &mut AsyncPgConnection,
    messages: &[MessageAt],
) -> QueryResult<Vec<Attachment>> {
    let mut found = Vec::new();
    for (bucket, ids) in MessageAt::by_bucket(messages) {
        found.extend(of_messages(conn, ids, Some(bucket)).await?);
    }
    let moved = MessageAt::missing(messages, found.iter().map(|a| a.message_id));
    if !moved.is_empty() {
        found.extend(of_messages(conn, moved, None).await?);
    }
    Ok(found)
}

/// The attachments of the messages `ids` in `bucket`, or in any bucket.
async fn of_messages(
    conn: &mut AsyncPgConnection,
    ids: Vec<Uuid>,
    bucket: Option<DateTime<Utc>>,
) -> QueryResult<Vec<Attachment>> {
    let mut query = attachments::table
        .filter(attachments::message_id.eq_any(ids))
        .into_boxed();
    if let Some(bucket) = bucket {
        query = query.filter(attachments::purge_at.eq(bucket));
    }
    query
        .order((attachments::message_id, attachments::position))
        .select(Attachment::as_select())
        .load(conn)
        .await
}

/// An attachment's metadata and the stored raw source of its message (which holds its bytes), if
/// `viewer` may see the message's live inbox: looked up in the bucket its id tells first.
pub async fn with_raw_source(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<(Attachment, RawSource)>> {
    let mut search = BucketSearch::new(id);
    while let Some(bucket) = search.next(conn).await? {
        let mut query = attachments::table
            .inner_join(
                messages::table.on(messages::id
                    .eq(attachments::message_id)
                    .and(messages::purge_at.eq(attachments::purge_at))),
            )
            .left_join(raw_sources::table.on(filters::source_of_message()))
            .filter(attachments::id.eq(id))
            .filter(filters::in_visible_inbox(viewer, now))
            .into_boxed();
        if let Some(bucket) = bucket {
            query = query.filter(attachments::purge_at.eq(bucket));
        }
        let found = query
            .select((Attachment::as_select(), raw_source::of_message()))
            .first(conn)
            .await
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}
