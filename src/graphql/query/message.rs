use std::time::Duration;

use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};

use crate::{
    auth::Scope,
    db::models::message::{self, MessageFilter},
    error::{ApiResult, AppError},
    graphql::{
        feed::Feed,
        types::{
            inbox,
            message::{
                decode_cursor, message_connection, page_complexity, Message, MessageConnection,
                MessageFilterInput,
            },
            parse_id,
        },
        ContextExt,
    },
};

const DEFAULT_WAIT_MS: u64 = 30_000;

#[derive(Default)]
pub struct MessageQuery;

#[Object]
impl MessageQuery {
    /// The matching messages of a live inbox, newest first. `NOT_FOUND` if there is no such inbox.
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        inbox_id: ID,
        filter: Option<MessageFilterInput>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last message of the previous page.")] after: Option<String>,
    ) -> Result<MessageConnection> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        let inbox = inbox::resolve(ctx, viewer, Some(inbox_id), None, false)
            .await
            .api()?;
        message_connection(ctx, viewer, inbox.id, filter.into(), first, after)
            .await
            .api()
    }

    /// A message of a live inbox. One that does not exist or is not the caller's is null with
    /// a `NOT_FOUND` error.
    async fn message(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Message>> {
        let app = ctx.app();
        let id = parse_id(&id).api()?;
        let mut conn = app.pool.get().await.api()?;
        let viewer = ctx.viewer(Scope::Read).api()?;
        let found = message::find(&mut conn, viewer, id, app.clock.now())
            .await
            .api()?;
        // Nullable, so a NOT_FOUND nulls this field and not the whole response.
        let found = found.ok_or(AppError::NotFound("message")).api()?;
        Ok(Some(Message::new(found)))
    }

    /// Holds the request until a matching message is stored after `after` (a message cursor)
    /// or newer than `since` (give at most one; with neither, any stored message counts), and
    /// returns the oldest such message. On timeout the result is null with a `TIMEOUT` error.
    /// With `markSeen`, only unseen messages count and the returned one is marked seen, so
    /// successive waits return successive messages. An address on a catch-all domain may be
    /// waited on before its first mail. If the inbox is deleted meanwhile (or swept after
    /// expiry), the wait ends at once with a `NOT_FOUND` error.
    #[allow(clippy::too_many_arguments)] // one per GraphQL argument
    async fn wait_for_message(
        &self,
        ctx: &Context<'_>,
        inbox_id: Option<ID>,
        address: Option<String>,
        filter: Option<MessageFilterInput>,
        since: Option<DateTime<Utc>>,
        after: Option<String>,
        #[graphql(desc = "How long to wait (default 30000); capped by the server's --max-wait.")]
        timeout_ms: Option<u32>,
        #[graphql(
            desc = "Consume: only unseen messages count, and the one returned is marked seen (default false)."
        )]
        mark_seen: Option<bool>,
    ) -> Result<Option<Message>> {
        let mark_seen = mark_seen.unwrap_or(false);
        let wait = async {
            let app = ctx.app();
            let mut filter = MessageFilter::from(filter);
            let cursor = match (since, after) {
                (Some(_), Some(_)) => {
                    return Err(AppError::BadUserInput(
                        "give at most one of `since` and `after`".into(),
                    ))
                }
                (Some(since), None) => {
                    filter.received_after = filter.received_after.max(Some(since));
                    0
                }
                (None, Some(after)) => decode_cursor(&after)?,
                (None, None) => 0,
            };
            let cap_ms = u64::from(app.config.http.max_wait) * 1000;
            let timeout_ms = timeout_ms.map_or(DEFAULT_WAIT_MS, u64::from).min(cap_ms);
            // Consuming changes data: a `write` key, or the inbox's own token.
            let viewer = if mark_seen {
                ctx.inbox_changer()?
            } else {
                ctx.viewer(Scope::Read)?
            };
            let inbox = inbox::resolve(ctx, viewer, inbox_id, address, true).await?;
            // Listen before the first read (inside the feed), so nothing stored meanwhile is missed.
            let listener = app.events.listen(inbox.id);
            let caller = ctx.caller().clone();
            let mut feed = Feed::new(
                app.clone(),
                caller,
                viewer,
                inbox.id,
                filter,
                cursor,
                listener,
            );
            let next = async {
                if mark_seen {
                    feed.next_unseen().await
                } else {
                    feed.next().await
                }
            };
            tokio::time::timeout(Duration::from_millis(timeout_ms), next)
                .await
                .map_err(|_| AppError::Timeout(timeout_ms))?
        };
        wait.await.map(|message| Some(Message::new(message))).api()
    }
}
