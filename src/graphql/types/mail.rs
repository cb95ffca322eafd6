//! The objects mail is read through: an `Inbox`, its `Message`s with their `Attachment`s, and
//! pages of messages. Inbox and Message name each other (`Inbox.messages`, `Message.inbox`), so
//! they live together.

use async_graphql::{
    connection::{Connection, CursorType, Edge, EmptyFields, OpaqueCursor},
    dataloader::DataLoader,
    Context, ErrorExtensions, InputObject, Object, Result, ID,
};

use super::{timestamp::Timestamp, StorableText};
use ephemail_mail::{
    codes,
    links::{self, Link},
    parse::{ContentLimit, Correspondence, HeaderField, MailContent, Mailbox},
    sanitize::{self, Sanitizer},
};
use std::sync::Arc;

use crate::{
    content::ReadWork,
    error::{ApiResult, AppError},
    graphql::{
        context::ContextExt,
        limits::ContentBudget,
        loader::{AttachmentLoader, ContentLoader},
        lookup::Named,
    },
    scope::Scope,
};
use ephemail_store::models::{attachment, inbox, message as model, InboxBucket, MessageAt, Viewer};

const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

/// A position in an inbox's message order, opaque to clients.
pub type MessageCursor = OpaqueCursor<i64>;

pub fn decode_cursor(cursor: &str) -> Result<i64, AppError> {
    MessageCursor::decode_cursor(cursor)
        .map(|cursor| cursor.0)
        .map_err(|_| AppError::BadUserInput(format!("`{cursor}` is not a valid cursor")))
}

pub fn encode_cursor(seq: i64) -> String {
    OpaqueCursor(seq).encode_cursor()
}

/// Which messages to return; every criterion given must hold.
#[derive(InputObject, Debug, Clone, Default)]
#[graphql(name = "MessageFilter")]
pub struct MessageFilterInput {
    /// Case-insensitive substring of the From: header (name or address).
    #[graphql(validator(custom = "StorableText"))]
    from: Option<String>,
    /// Case-insensitive substring of To:, Cc: or the envelope recipients.
    #[graphql(validator(custom = "StorableText"))]
    to: Option<String>,
    /// Case-insensitive substring of the subject.
    #[graphql(validator(custom = "StorableText"))]
    subject: Option<String>,
    received_after: Option<Timestamp>,
    received_before: Option<Timestamp>,
    seen: Option<bool>,
    has_attachments: Option<bool>,
    /// The plus-address tag: mail to `local+signup@domain` carries the tag `signup`.
    #[graphql(validator(custom = "StorableText"))]
    tag: Option<String>,
}

impl MessageFilterInput {
    /// The store's filter for an optional input (none: every message).
    pub fn into_filter(input: Option<Self>) -> model::MessageFilter {
        let input = input.unwrap_or_default();
        model::MessageFilter {
            from: input.from,
            to: input.to,
            subject: input.subject,
            received_after: input.received_after.map(|t| t.0),
            received_before: input.received_before.map(|t| t.0),
            seen: input.seen,
            has_attachments: input.has_attachments,
            tag: input.tag,
        }
    }
}

/// Complexity of the fields that sanitize HTML or decode the raw source, against the schema's
/// limit: so that a page of 100 messages with their HTML passes, and the same field repeated
/// under aliases across a page does not.
pub const EXPENSIVE_FIELD: usize = 30;
/// Fields that read the sanitized HTML once it is made (it is made once per message object).
pub const DERIVED_FIELD: usize = 15;

/// A disposable mailbox: one address, until it expires. Looked up by a plus-address
/// (`local+tag@domain`), its `messages` are those tagged `tag`.
pub struct Inbox(Named);

impl From<inbox::Inbox> for Inbox {
    fn from(inbox: inbox::Inbox) -> Self {
        Self(Named { inbox, tag: None })
    }
}

impl From<Named> for Inbox {
    fn from(named: Named) -> Self {
        Self(named)
    }
}

#[Object]
impl Inbox {
    async fn id(&self) -> ID {
        ID(self.0.inbox.id.to_string())
    }

    /// The full address, lower-case.
    async fn address(&self) -> String {
        self.0.inbox.address()
    }

    async fn local_part(&self) -> &str {
        &self.0.inbox.local_part
    }

    async fn domain(&self) -> &str {
        &self.0.inbox.domain
    }

    /// Labels given at creation.
    async fn tags(&self) -> Vec<&str> {
        self.0
            .inbox
            .tags
            .iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    async fn created_at(&self) -> Timestamp {
        self.0.inbox.created_at.into()
    }

    /// After this instant the inbox is gone: it receives nothing and is no longer visible.
    async fn expires_at(&self) -> Timestamp {
        self.0.inbox.expires_at.into()
    }

    /// Cursor of the newest message (of the empty inbox, if none): pass it as `after` to
    /// `messageReceived` or `waitForMessage` to get exactly the messages stored from now on.
    async fn latest_cursor(&self, ctx: &Context<'_>) -> Result<String> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let mut at = self.0.inbox.bucket();
        let seq = model::latest_seq(&mut conn, viewer, &mut at, app.clock.now())
            .await
            .api()?;
        Ok(encode_cursor(seq))
    }

    /// The inbox's messages, newest first.
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        filter: Option<MessageFilterInput>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last message of the previous page.")] after: Option<String>,
    ) -> Result<MessageConnection> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        let filter = self
            .0
            .narrow(MessageFilterInput::into_filter(filter))
            .api()?;
        message_connection(ctx, viewer, self.0.inbox.bucket(), filter, first, after)
            .await
            .api()
    }
}

/// A received message as one inbox sees it.
pub struct Message {
    row: model::Message,
    /// Its id and the bucket it was read from, which its attachments and contents are read by.
    at: MessageAt,
    /// Its bodies and header fields, read from its raw source once per message object.
    content: tokio::sync::OnceCell<Arc<MailContent>>,
    /// The HTML body sanitized, once per message object: `html`, `links` and `codes` all read it.
    sanitized_html: tokio::sync::OnceCell<Option<String>>,
    /// The same without remote images, for `html(blockRemoteImages: true)`.
    sanitized_html_blocking_images: tokio::sync::OnceCell<Option<String>>,
}

impl Message {
    /// `row` as read from the bucket `purge_at`.
    pub fn new(row: model::Message, purge_at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            at: MessageAt {
                id: row.id,
                purge_at,
            },
            row,
            content: tokio::sync::OnceCell::new(),
            sanitized_html: tokio::sync::OnceCell::new(),
            sanitized_html_blocking_images: tokio::sync::OnceCell::new(),
        }
    }

    /// The bodies and header fields ([`crate::content`]).
    async fn content(&self, ctx: &Context<'_>) -> Result<&MailContent> {
        let content = self
            .content
            .get_or_try_init(|| async {
                ctx.data_unchecked::<DataLoader<ContentLoader>>()
                    .load_one(self.at)
                    .await
                    .map_err(|error| error.extend())?
                    .ok_or(AppError::NotFound("message"))
                    .api()
            })
            .await?;
        Ok(content)
    }

    /// The HTML body is as sent (see [`ephemail_mail::parse::ParsedMail::html`]); the API reads it
    /// only through the display policy (kept for `html`, `links` and `codes`) or the same
    /// without remote images, each made once per message object however often it is asked.
    async fn sanitized_html(
        &self,
        ctx: &Context<'_>,
        block_remote_images: bool,
    ) -> Result<Option<&str>> {
        let (cell, policy): (_, fn(&Sanitizer, &str) -> String) = if block_remote_images {
            (
                &self.sanitized_html_blocking_images,
                Sanitizer::block_remote_images,
            )
        } else {
            (&self.sanitized_html, Sanitizer::clean)
        };
        let sanitized = cell.get_or_try_init(|| self.sanitize(ctx, policy)).await?;
        Ok(sanitized.as_deref())
    }

    /// The HTML body through `policy`, in one pass.
    async fn sanitize(
        &self,
        ctx: &Context<'_>,
        policy: fn(&Sanitizer, &str) -> String,
    ) -> Result<Option<String>> {
        let Some(html) = self.content(ctx).await?.html.clone() else {
            return Ok(None);
        };
        let app = ctx.app().clone();
        ctx.data_unchecked::<ReadWork>()
            .run(html.len(), move || Some(policy(&app.sanitizer, &html)))
            .await
            .map_err(AppError::Internal)
            .api()
    }

    async fn correspondence(&self, ctx: &Context<'_>) -> Result<&Correspondence> {
        Ok(&self.content(ctx).await?.correspondence)
    }

    async fn attachment_rows(&self, ctx: &Context<'_>) -> Result<Vec<attachment::Attachment>> {
        if !self.row.has_attachments {
            return Ok(Vec::new());
        }
        let loader = ctx.data_unchecked::<DataLoader<AttachmentLoader>>();
        let rows = loader
            .load_one(self.at)
            .await
            .map_err(|error| error.extend())?;
        Ok(rows.unwrap_or_default())
    }
}

#[Object]
impl Message {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    /// Resume point for `messageReceived(after:)`, `waitForMessage(after:)` and paging.
    async fn cursor(&self) -> String {
        encode_cursor(self.row.seq)
    }

    async fn inbox(&self, ctx: &Context<'_>) -> Result<Option<Inbox>> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let found = inbox::find(&mut conn, viewer, self.row.inbox_id, app.clock.now())
            .await
            .api()?;
        Ok(found.map(Inbox::from))
    }

    /// When ephemail stored it.
    async fn received_at(&self) -> Timestamp {
        self.row.received_at.into()
    }

    /// Envelope sender (`MAIL FROM`); null for the null sender `<>` of bounces.
    async fn mail_from(&self) -> Option<&str> {
        self.row.mail_from.as_deref()
    }

    /// Envelope recipients (`RCPT TO`) that delivered this message to this inbox.
    async fn rcpt_to(&self) -> Vec<&str> {
        self.row
            .rcpt_to
            .iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// Plus-address tags of the recipients (`local+tag@domain`).
    async fn tags(&self) -> Vec<&str> {
        self.row.tags.iter().flatten().map(String::as_str).collect()
    }

    async fn seen(&self) -> bool {
        self.row.seen
    }

    /// The first `From:` mailbox.
    async fn from(&self) -> Option<Mailbox> {
        model::Message::decode::<Mailbox>(&self.row.from_addr)
            .into_iter()
            .next()
    }

    async fn to(&self, ctx: &Context<'_>) -> Result<&[Mailbox]> {
        Ok(&self.correspondence(ctx).await?.to)
    }

    async fn cc(&self, ctx: &Context<'_>) -> Result<&[Mailbox]> {
        Ok(&self.correspondence(ctx).await?.cc)
    }

    async fn subject(&self) -> Option<&str> {
        self.row.subject.as_deref()
    }

    /// The `Date:` header.
    async fn date(&self, ctx: &Context<'_>) -> Result<Option<Timestamp>> {
        Ok(self.correspondence(ctx).await?.sent_at.map(Timestamp))
    }

    /// The `Message-ID:` header, without angle brackets.
    async fn message_id(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(self.correspondence(ctx).await?.message_id.as_deref())
    }

    /// The `In-Reply-To:` header, without angle brackets.
    async fn in_reply_to(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(self.correspondence(ctx).await?.in_reply_to.as_deref())
    }

    /// The plain-text body; a text rendering of the HTML when the mail has no text part.
    async fn text(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        let text = self.content(ctx).await?.text.as_deref();
        charge(ctx, text.map_or(0, str::len))?;
        Ok(text)
    }

    /// The HTML body, sanitized for direct display: no scripts, event handlers, `javascript:`
    /// or `data:` links, forms, frames, objects, `<base>` or meta refresh; only safe inline
    /// styles; links open in a new tab without referrer; `cid:` images point at their
    /// attachment's download URL.
    #[graphql(complexity = "EXPENSIVE_FIELD")]
    async fn html(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = false,
            desc = "Drop remote (http/https) images, such as tracking pixels."
        )]
        block_remote_images: bool,
    ) -> Result<Option<String>> {
        let Some(html) = self.sanitized_html(ctx, block_remote_images).await? else {
            return Ok(None);
        };
        charge(ctx, html.len())?;
        let base = ctx.base_url();
        let inline: Vec<(String, String)> = self
            .attachment_rows(ctx)
            .await?
            .into_iter()
            .filter_map(|a| Some((a.content_id?, format!("{base}/attachments/{}", a.id))))
            .collect();
        // Linked after blocking: the attachment URLs it puts in are http(s) URLs too.
        Ok(Some(sanitize::link_inline_images(html, &inline)))
    }

    /// Links in the message: href and link text from the HTML, then URLs from the text part;
    /// de-duplicated, in document order.
    #[graphql(complexity = "DERIVED_FIELD")]
    async fn links(&self, ctx: &Context<'_>) -> Result<Vec<Link>> {
        let html = self.sanitized_html(ctx, false).await?;
        let text = self.content(ctx).await?.text.as_deref();
        Ok(links::links(html, text))
    }

    /// One-time-code candidates (verification codes, PINs), best first.
    #[graphql(complexity = "DERIVED_FIELD")]
    async fn codes(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let html = self.sanitized_html(ctx, false).await?;
        Ok(codes::codes(
            self.row.subject.as_deref(),
            self.content(ctx).await?.text.as_deref(),
            html,
        ))
    }

    /// Header fields in order, unfolded; only those called `name` (case-insensitive) if given.
    #[graphql(complexity = "EXPENSIVE_FIELD")]
    async fn headers(&self, ctx: &Context<'_>, name: Option<String>) -> Result<Vec<HeaderField>> {
        ctx.viewer(Scope::Read).api()?;
        let headers = &self.content(ctx).await?.headers;
        let headers: Vec<HeaderField> = headers
            .iter()
            .filter(|header| {
                name.as_ref()
                    .is_none_or(|name| header.name.eq_ignore_ascii_case(name))
            })
            .cloned()
            .collect();
        charge(
            ctx,
            headers.iter().map(|h| h.name.len() + h.value.len()).sum(),
        )?;
        Ok(headers)
    }

    async fn attachments(&self, ctx: &Context<'_>) -> Result<Vec<Attachment>> {
        Ok(self
            .attachment_rows(ctx)
            .await?
            .into_iter()
            .map(Attachment)
            .collect())
    }

    /// Size of the message in bytes as the sender sent it (the raw download also holds our
    /// `Received:` header).
    async fn size(&self) -> i32 {
        self.row.size
    }

    /// Download URL of the exact bytes received (`message/rfc822`).
    async fn raw_url(&self, ctx: &Context<'_>) -> String {
        format!("{}/messages/{}/raw", ctx.base_url(), self.row.id)
    }

    /// The content limits this message's parsed fields were cut at (hostile or oversized
    /// mail); empty for ordinary mail. The raw source at `rawUrl` is always complete.
    async fn content_limits(&self, ctx: &Context<'_>) -> Result<&[ContentLimit]> {
        Ok(&self.content(ctx).await?.limits)
    }

    /// Why the message could not be parsed; its raw source is stored all the same.
    async fn parse_error(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(self.content(ctx).await?.parse_error.as_deref())
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

    /// Download URL; always served as a download, never rendered.
    async fn url(&self, ctx: &Context<'_>) -> String {
        format!("{}/attachments/{}", ctx.base_url(), self.0.id)
    }
}

/// Takes `bytes` of message content from the request's budget (none for a subscription event).
fn charge(ctx: &Context<'_>, bytes: usize) -> Result<()> {
    match ctx.data_opt::<ContentBudget>() {
        Some(budget) => budget.charge(bytes).api(),
        None => Ok(()),
    }
}

/// Complexity of a page of `first` messages (default [`DEFAULT_PAGE`]) whose fields cost
/// `child_complexity` each.
pub fn page_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let size = first.map_or(DEFAULT_PAGE, |first| first.clamp(1, MAX_PAGE));
    usize::try_from(size)
        .unwrap_or_default()
        .saturating_mul(child_complexity)
}

/// Fields of a message list beyond its edges.
pub struct MessageListInfo {
    viewer: Viewer,
    at: InboxBucket,
    filter: model::MessageFilter,
}

#[Object]
impl MessageListInfo {
    /// Number of matching messages (all pages).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        model::count(
            &mut conn,
            self.viewer,
            &mut self.at.clone(),
            &self.filter,
            app.clock.now(),
        )
        .await
        .api()
    }
}

pub type MessageConnection = Connection<MessageCursor, Message, MessageListInfo, EmptyFields>;

/// One page of an inbox's matching messages, newest first.
pub async fn message_connection(
    ctx: &Context<'_>,
    viewer: Viewer,
    mut at: InboxBucket,
    filter: model::MessageFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<MessageConnection, AppError> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(AppError::BadUserInput(format!(
            "`first` must be between 1 and {MAX_PAGE}"
        )));
    }
    let before = after.as_deref().map(decode_cursor).transpose()?;
    let app = ctx.app();
    let mut conn = app.pool.get().await?;
    let limit = usize::try_from(first).unwrap_or_default();
    let mut rows = model::page(
        &mut conn,
        viewer,
        &mut at,
        &filter,
        before,
        i64::from(first) + 1,
        app.clock.now(),
    )
    .await?;
    let has_next = rows.len() > limit;
    rows.truncate(limit);
    let mut connection = Connection::with_additional_fields(
        before.is_some(),
        has_next,
        MessageListInfo { viewer, at, filter },
    );
    connection.edges.extend(rows.into_iter().map(|row| {
        let cursor = OpaqueCursor(row.seq);
        Edge::new(cursor, Message::new(row, at.purge_at))
    }));
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use ephemail_mail::parse::{
        MAX_ATTACHMENTS, MAX_BODY_BYTES, MAX_HEADER_FIELDS, MAX_HTML_DEPTH,
    };

    #[test]
    fn content_limits_are_described_with_their_values() {
        let sdl = crate::graphql::schema::sdl();
        assert_eq!(MAX_BODY_BYTES, 2 << 20, "the descriptions say 2 MiB");
        for described in [
            format!("deeper than {MAX_HTML_DEPTH} elements"),
            format!("more than {MAX_ATTACHMENTS} attachments"),
            format!("more than {MAX_HEADER_FIELDS} header fields"),
        ] {
            assert!(sdl.contains(&described), "{described}");
        }
    }
}
