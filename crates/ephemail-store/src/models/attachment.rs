use chrono::{DateTime, Utc};
use diesel::{pg::Pg, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{
    filters,
    raw_source::{self, RawSource},
    Viewer,
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

/// The attachments of several messages at once (one query for a whole page of messages).
pub async fn for_messages(
    conn: &mut AsyncPgConnection,
    message_ids: &[Uuid],
) -> QueryResult<Vec<Attachment>> {
    attachments::table
        .filter(attachments::message_id.eq_any(message_ids.to_vec()))
        .order((attachments::message_id, attachments::position))
        .select(Attachment::as_select())
        .load(conn)
        .await
}

/// An attachment's metadata and the stored raw source of its message (which holds its bytes), if
/// `viewer` may see the message's live inbox.
pub async fn with_raw_source(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<(Attachment, RawSource)>> {
    attachments::table
        .inner_join(
            messages::table.on(messages::id
                .eq(attachments::message_id)
                .and(messages::purge_at.eq(attachments::purge_at))),
        )
        .left_join(raw_sources::table.on(filters::source_of_message()))
        .filter(attachments::id.eq(id))
        .filter(filters::in_visible_inbox(viewer, now))
        .select((Attachment::as_select(), raw_source::of_message()))
        .first(conn)
        .await
        .optional()
}
