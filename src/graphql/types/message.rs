use async_graphql::{
    connection::{Connection, CursorType, Edge, EmptyFields, OpaqueCursor},
    Context, Object, Result, ID,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::inbox::Inbox;
use crate::{
    db::models::{attachment, inbox, message as model},
    error::{ApiResult, AppError},
    graphql::ContextExt,
    mail::parse::{HeaderField, Mailbox},
};

const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

/// A received message as one inbox sees it.
pub struct Message(pub model::Message);

#[Object]
impl Message {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn inbox(&self, ctx: &Context<'_>) -> Result<Option<Inbox>> {
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let found = inbox::find(&mut conn, self.0.inbox_id, app.clock.now())
            .await
            .api()?;
        Ok(found.map(Inbox))
    }

    /// When ephemail stored it.
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }

    /// Envelope sender (`MAIL FROM`); null for the null sender `<>` of bounces.
    async fn mail_from(&self) -> Option<&str> {
        self.0.mail_from.as_deref()
    }

    /// Envelope recipients (`RCPT TO`) that delivered this message to this inbox.
    async fn rcpt_to(&self) -> Vec<&str> {
        self.0
            .rcpt_to
            .iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// The first `From:` mailbox.
    async fn from(&self) -> Option<Mailbox> {
        model::Message::decode::<Mailbox>(&self.0.from_addr)
            .into_iter()
            .next()
    }

    async fn to(&self) -> Vec<Mailbox> {
        model::Message::decode(&self.0.to_addr)
    }

    async fn cc(&self) -> Vec<Mailbox> {
        model::Message::decode(&self.0.cc_addr)
    }

    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    /// The `Date:` header.
    async fn date(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }

    /// The `Message-ID:` header, without angle brackets.
    async fn message_id(&self) -> Option<&str> {
        self.0.message_id.as_deref()
    }

    /// The plain-text body.
    async fn text(&self) -> Option<&str> {
        self.0.text_body.as_deref()
    }

    /// The HTML body, sanitized: no scripts, event handlers, `javascript:` URLs, forms or frames.
    async fn html(&self) -> Option<&str> {
        self.0.html_body.as_deref()
    }

    /// Header fields in order, unfolded; only those called `name` (case-insensitive) if given.
    async fn headers(&self, name: Option<String>) -> Vec<HeaderField> {
        let headers: Vec<HeaderField> = model::Message::decode(&self.0.headers);
        match name {
            Some(name) => headers
                .into_iter()
                .filter(|header| header.name.eq_ignore_ascii_case(&name))
                .collect(),
            None => headers,
        }
    }

    async fn attachments(&self, ctx: &Context<'_>) -> Result<Vec<Attachment>> {
        let mut conn = ctx.app().pool.get().await.api()?;
        let rows = attachment::for_message(&mut conn, self.0.id).await.api()?;
        Ok(rows.into_iter().map(Attachment).collect())
    }

    /// Size of the raw message in bytes.
    async fn size(&self) -> i32 {
        self.0.size
    }

    /// Why the message could not be parsed; its raw source is stored all the same.
    async fn parse_error(&self) -> Option<&str> {
        self.0.parse_error.as_deref()
    }
}

/// A file attached to (or embedded in) a message.
pub struct Attachment(pub attachment::Attachment);

#[Object]
impl Attachment {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn filename(&self) -> Option<&str> {
        self.0.filename.as_deref()
    }

    async fn content_type(&self) -> &str {
        &self.0.content_type
    }

    /// Size in bytes, decoded.
    async fn size(&self) -> i32 {
        self.0.size
    }

    /// `Content-ID`, without angle brackets: what `cid:` URLs in the HTML refer to.
    async fn content_id(&self) -> Option<&str> {
        self.0.content_id.as_deref()
    }

    /// Whether it is shown inside the message (an inline image) rather than attached.
    async fn inline(&self) -> bool {
        self.0.inline
    }
}

/// Fields of a message list beyond its edges.
pub struct MessageListInfo {
    inbox_id: Uuid,
}

#[Object]
impl MessageListInfo {
    /// Number of messages in the inbox (all pages).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        model::count(&mut conn, self.inbox_id, app.clock.now())
            .await
            .api()
    }
}

pub type MessageConnection = Connection<OpaqueCursor<i64>, Message, MessageListInfo, EmptyFields>;

/// One page of an inbox's messages, newest first.
pub async fn message_connection(
    ctx: &Context<'_>,
    inbox_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> Result<MessageConnection, AppError> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(AppError::BadUserInput(format!(
            "`first` must be between 1 and {MAX_PAGE}"
        )));
    }
    let before = after
        .as_deref()
        .map(OpaqueCursor::<i64>::decode_cursor)
        .transpose()
        .map_err(|_| AppError::BadUserInput("`after` is not a valid cursor".into()))?
        .map(|cursor| cursor.0);
    let app = ctx.app();
    let mut conn = app.pool.get().await?;
    let mut rows = model::page(
        &mut conn,
        inbox_id,
        before,
        i64::from(first) + 1,
        app.clock.now(),
    )
    .await?;
    let has_next = rows.len() > first as usize;
    rows.truncate(first as usize);
    let mut connection = Connection::with_additional_fields(
        before.is_some(),
        has_next,
        MessageListInfo { inbox_id },
    );
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(OpaqueCursor(row.seq), Message(row))),
    );
    Ok(connection)
}
