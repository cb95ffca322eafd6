use chrono::{DateTime, Utc};
use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{Array, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{message, raw_source::RawSource, Viewer};
use crate::db::{
    prepared::{column, Prepared},
    schema::{attachments, messages, raw_sources},
};

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

/// Inserts the attachments in one prepared statement (one array per column). Takes a shared
/// connection so that it can be pipelined with the message insert before it.
pub async fn insert_all(
    mut conn: &AsyncPgConnection,
    rows: &[NewAttachment<'_>],
) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    Prepared::new(
        "INSERT INTO attachments (id, message_id, position, filename, content_type, content_id,
             inline, size, purge_at)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::text[],
             $6::text[], $7::bool[], $8::int4[], $9::timestamptz[])",
    )
    .bind::<Array<SqlUuid>, _>(column(rows, |r| r.id))
    .bind::<Array<SqlUuid>, _>(column(rows, |r| r.message_id))
    .bind::<Array<Integer>, _>(column(rows, |r| r.position))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.filename))
    .bind::<Array<Text>, _>(column(rows, |r| r.content_type))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.content_id))
    .bind::<Array<Bool>, _>(column(rows, |r| r.inline))
    .bind::<Array<Integer>, _>(column(rows, |r| r.size))
    .bind::<Array<Timestamptz>, _>(column(rows, |r| r.purge_at))
    .execute(&mut conn)
    .await
    .map(drop)
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
        .inner_join(raw_sources::table.on(message::source_of_message()))
        .filter(attachments::id.eq(id))
        .filter(message::in_visible_inbox(viewer, now))
        .select((Attachment::as_select(), RawSource::as_select()))
        .first(conn)
        .await
        .optional()
}
