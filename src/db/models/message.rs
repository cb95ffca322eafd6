use chrono::{DateTime, Utc};
use diesel::{pg::Pg, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::db::schema::{inboxes, messages};

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
    pub headers: serde_json::Value,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub size: i32,
    pub parse_error: Option<String>,
}

impl Message {
    /// Decodes one of the JSON columns written from [`crate::mail::parse::ParsedMail`].
    pub fn decode<T: DeserializeOwned>(value: &serde_json::Value) -> Vec<T> {
        serde_json::from_value(value.clone()).unwrap_or_else(|error| {
            tracing::error!(%error, "undecodable JSON column in messages");
            Vec::new()
        })
    }
}

/// One row per inbox that received a mail; the raw bytes are borrowed, not copied, per inbox.
#[derive(Debug, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub mail_from: Option<&'a str>,
    pub rcpt_to: &'a [String],
    pub from_addr: &'a serde_json::Value,
    pub to_addr: &'a serde_json::Value,
    pub cc_addr: &'a serde_json::Value,
    pub subject: Option<&'a str>,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<&'a str>,
    pub headers: &'a serde_json::Value,
    pub text_body: Option<&'a str>,
    pub html_body: Option<&'a str>,
    pub size: i32,
    pub raw: &'a [u8],
    pub parse_error: Option<&'a str>,
}

pub async fn insert(conn: &mut AsyncPgConnection, message: &NewMessage<'_>) -> QueryResult<()> {
    diesel::insert_into(messages::table)
        .values(message)
        .execute(conn)
        .await
        .map(drop)
}

/// Live messages only: a message is visible while its inbox has not expired.
fn live(now: DateTime<Utc>) -> messages::BoxedQuery<'static, Pg> {
    messages::table
        .filter(
            messages::inbox_id.eq_any(
                inboxes::table
                    .filter(inboxes::expires_at.gt(now))
                    .select(inboxes::id),
            ),
        )
        .into_boxed()
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<Message>> {
    live(now)
        .filter(messages::id.eq(id))
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

/// Newest first: up to `limit` messages of the inbox older than the `before` cursor.
pub async fn page(
    conn: &mut AsyncPgConnection,
    inbox_id: Uuid,
    before: Option<i64>,
    limit: i64,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Message>> {
    let mut query = live(now).filter(messages::inbox_id.eq(inbox_id));
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

pub async fn count(
    conn: &mut AsyncPgConnection,
    inbox_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<i64> {
    live(now)
        .filter(messages::inbox_id.eq(inbox_id))
        .count()
        .get_result(conn)
        .await
}

/// Deletes the message and its attachments; false if there was no live message with that id.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        messages::table.filter(messages::id.eq(id)).filter(
            messages::inbox_id.eq_any(
                inboxes::table
                    .filter(inboxes::expires_at.gt(now))
                    .select(inboxes::id),
            ),
        ),
    )
    .execute(conn)
    .await?;
    Ok(deleted > 0)
}
