use chrono::{DateTime, Utc};
use diesel::{pg::Pg, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{inbox, Viewer};
use crate::db::schema::{attachment_contents, attachments, inboxes, messages};

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

/// One message's attachment; its bytes are stored apart, once (see [`NewContent`]).
#[derive(Debug, Insertable)]
#[diesel(table_name = attachments)]
pub struct NewAttachment<'a> {
    pub id: Uuid,
    pub message_id: Uuid,
    pub position: i32,
    pub filename: Option<&'a str>,
    pub content_type: &'a str,
    pub content_id: Option<&'a str>,
    pub inline: bool,
    pub size: i32,
    pub content_sha256: &'a [u8],
}

/// Attachment bytes, named by their SHA-256.
#[derive(Debug, Insertable)]
#[diesel(table_name = attachment_contents)]
pub struct NewContent<'a> {
    pub sha256: &'a [u8],
    pub content: &'a [u8],
}

/// Stores the contents not stored yet, then the attachments, with as few statements as
/// PostgreSQL's bind-parameter limit allows.
pub async fn insert_all(
    conn: &mut AsyncPgConnection,
    contents: &mut [NewContent<'_>],
    rows: &[NewAttachment<'_>],
) -> QueryResult<()> {
    // One order for every writer, so that concurrent inserts of the same contents cannot
    // deadlock; well under the 65,535 parameters of one statement per chunk.
    contents.sort_unstable_by(|a, b| a.sha256.cmp(b.sha256));
    for chunk in contents.chunks(4096) {
        diesel::insert_into(attachment_contents::table)
            .values(chunk)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    for chunk in rows.chunks(4096) {
        diesel::insert_into(attachments::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Deletes at most `limit` contents no attachment points at; returns how many.
pub async fn delete_unreferenced_contents(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM attachment_contents WHERE sha256 IN (
             SELECT c.sha256 FROM attachment_contents c
             WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.content_sha256 = c.sha256)
             LIMIT $1)",
    )
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .execute(conn)
    .await
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

/// An attachment's metadata and bytes, if `viewer` may see its message's live inbox.
pub async fn content(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<(Attachment, Vec<u8>)>> {
    attachments::table
        .inner_join(messages::table)
        .inner_join(attachment_contents::table)
        .filter(attachments::id.eq(id))
        .filter(messages::inbox_id.eq_any(inbox::visible(viewer, now).select(inboxes::id)))
        .select((Attachment::as_select(), attachment_contents::content))
        .first(conn)
        .await
        .optional()
}
