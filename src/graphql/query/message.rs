use std::time::Duration;

use async_graphql::{Context, Object, Result, ID};

use crate::{
    error::{ApiResult, AppError},
    graphql::{
        context::ContextExt,
        feed::Feed,
        lookup::{self, Watched},
        types::{
            mail::{
                decode_cursor, message_connection, page_complexity, Message, MessageConnection,
                MessageFilterInput,
            },
            parse_id,
            timestamp::Timestamp,
        },
    },
    scope::Scope,
    telemetry::metrics::GaugeHold,
};
use ephemail_store::models::{message::Claim, message_by_id};

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
        let inbox = lookup::resolve(ctx.app(), viewer, Some(inbox_id), None)
            .await
            .api()?
            .inbox;
        message_connection(
            ctx,
            viewer,
            inbox.bucket(),
            MessageFilterInput::into_filter(filter),
            first,
            after,
        )
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
        let found = message_by_id::find(&mut conn, viewer, id, app.clock.now())
            .await
            .api()?;
        // Nullable, so a NOT_FOUND nulls this field and not the whole response.
        let (found, purge_at) = found.ok_or(AppError::NotFound("message")).api()?;
        Ok(Some(Message::new(found, purge_at)))
    }

    /// Holds the request until a matching message exists and returns the oldest such one: with
    /// neither `after` nor `since`, a message of the last `--wait-lookback` seconds (300 by
    /// default) that no earlier wait has returned; with `after` (a message cursor), the next
    /// message stored after it; with `since`, the first received after that instant (give at
    /// most one). Every wait records that it returned its message, so two waits in a row get
    /// two different mails and a re-run never gets an earlier run's mail. On timeout the result
    /// is null with a `TIMEOUT` error. With `markSeen`, only unseen messages count (of any age)
    /// and the returned one is marked seen. A plus-address (`local+tag@domain`) waits for mail
    /// sent to it (the inbox `local@domain`, messages tagged `tag`). An address on a catch-all
    /// domain may be waited on before its first mail: the wait does not create the inbox, the
    /// mail that arrives does. If the inbox is deleted meanwhile (or swept after expiry), the
    /// wait ends at once with a `NOT_FOUND` error.
    #[allow(clippy::too_many_arguments)] // one per GraphQL argument
    async fn wait_for_message(
        &self,
        ctx: &Context<'_>,
        inbox_id: Option<ID>,
        address: Option<String>,
        filter: Option<MessageFilterInput>,
        since: Option<Timestamp>,
        after: Option<String>,
        #[graphql(
            desc = "How long to wait in milliseconds, a positive number (default 30000); capped by the server's --max-wait."
        )]
        timeout_ms: Option<i32>,
        #[graphql(
            desc = "Consume: only unseen messages count, and the one returned is marked seen (default false)."
        )]
        mark_seen: Option<bool>,
    ) -> Result<Option<Message>> {
        let mark_seen = mark_seen.unwrap_or(false);
        let wait = async {
            let app = ctx.app();
            let mut filter = MessageFilterInput::into_filter(filter);
            // Where the wait starts, and whether it claims what it returns (see `Claim`).
            let (cursor, claim) = match (since, after) {
                (Some(_), Some(_)) => {
                    return Err(AppError::BadUserInput(
                        "give at most one of `since` and `after`".into(),
                    ))
                }
                (Some(since), None) => {
                    filter.received_after = filter.received_after.max(Some(since.0));
                    (0, None)
                }
                (None, Some(after)) => (decode_cursor(&after)?, None),
                (None, None) => {
                    let lookback = Duration::from_secs(app.config.http.wait_lookback.into());
                    let window = app.clock.now() - lookback;
                    filter.received_after = filter.received_after.max(Some(window));
                    (0, Some(Claim::Unreturned))
                }
            };
            let claim = if mark_seen { Some(Claim::Seen) } else { claim };
            let cap_ms = u64::from(app.config.http.max_wait) * 1000;
            let timeout_ms = match timeout_ms.map(u64::try_from) {
                None => DEFAULT_WAIT_MS,
                Some(Ok(ms)) if ms > 0 => ms,
                Some(_) => {
                    return Err(AppError::BadUserInput(
                        "`timeoutMs` must be a positive number of milliseconds".into(),
                    ))
                }
            }
            .min(cap_ms);
            // Consuming changes data: a `write` key, or the inbox's own token. Recording which
            // message a wait returned is bookkeeping of waits, which `read` may do.
            let viewer = if mark_seen {
                ctx.inbox_changer()?
            } else {
                ctx.viewer(Scope::Read)?
            };
            let caller = ctx.caller().clone();
            let found = async {
                let named = match lookup::watch(app, viewer, inbox_id, address).await? {
                    Watched::Inbox(named) => named,
                    Watched::Address(awaited) => awaited.created(app, viewer, &caller).await?,
                };
                let filter = named.narrow(filter)?;
                // Listen before the first read (inside the feed), so nothing stored meanwhile
                // is missed.
                let listener = app.events.listen(named.inbox.id);
                let mut feed = Feed::new(
                    app.clone(),
                    caller.clone(),
                    viewer,
                    named.inbox.bucket(),
                    filter,
                    cursor,
                    listener,
                );
                let message = match claim {
                    Some(claim) => feed.next_claimed(claim).await?,
                    None => {
                        let message = feed.next().await?;
                        feed.record_returned(&message).await?;
                        message
                    }
                };
                Ok(Message::new(message, feed.bucket()))
            };
            let _waiting = GaugeHold::new(&app.metrics.waits);
            tokio::time::timeout(Duration::from_millis(timeout_ms), found)
                .await
                .map_err(|_| AppError::Timeout(timeout_ms))?
        };
        wait.await.map(Some).api()
    }
}
