//! Pushed messages over WebSocket (`graphql-transport-ws` and the legacy `graphql-ws`).

use async_graphql::{Context, ErrorExtensions, Result, Subscription as SubscriptionRoot, ID};
use futures::{FutureExt, Stream, StreamExt};

use crate::{
    api::Api,
    auth::Caller,
    error::{ApiResult, AppError},
    graphql::{
        context::ContextExt,
        feed::Feed,
        lookup::{self, Named, Watched},
        types::mail::{decode_cursor, Message, MessageFilterInput},
    },
    scope::Scope,
};
use ephemail_store::models::{message, Viewer};

pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// Every matching message stored in the inbox, in order, each exactly once. With `after`
    /// (a message's or inbox's cursor) it first replays the stored messages after it, then goes
    /// live with no gap and no duplicate; without, it first sends the messages of the last
    /// `--wait-lookback` seconds that no `waitForMessage` has returned (as a wait without a
    /// cursor would see them, without recording anything), then goes live. A
    /// client that disconnects resumes without loss by passing the last cursor it received.
    /// When the inbox is deleted (or swept after expiry), a final `NOT_FOUND` error is sent and
    /// the stream completes.
    /// A plus-address (`local+tag@domain`) receives the mail sent to it. An address on a
    /// catch-all domain may be watched before its first mail (watching does not create it).
    async fn message_received(
        &self,
        ctx: &Context<'_>,
        inbox_id: Option<ID>,
        address: Option<String>,
        filter: Option<MessageFilterInput>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Message>>> {
        let app = ctx.app().clone();
        let viewer = ctx.viewer(Scope::Read).api()?;
        let caller = ctx.caller().clone();
        let after = after.as_deref().map(decode_cursor).transpose().api()?;
        let filter = MessageFilterInput::into_filter(filter);
        // An inbox that exists (or an error) is settled before the stream starts; an address
        // still without an inbox is waited for by the stream itself.
        // The round trips are boxed: async-graphql keeps this future's room (a future is as
        // large as its largest state) in every subscription's stream for as long as it runs.
        let watched = Box::pin(lookup::watch(&app, viewer, inbox_id, address));
        let start = match watched.await.api()? {
            Watched::Inbox(named) => {
                let feed = Box::pin(start_feed(app, caller, viewer, named, filter, after))
                    .await
                    .api()?;
                futures::future::Either::Left(futures::future::ready(Ok(feed)))
            }
            Watched::Address(awaited) => futures::future::Either::Right(async move {
                let named = awaited.created(&app, viewer, &caller).await?;
                // Every message of an inbox created since the watch began is new.
                let after = Some(after.unwrap_or(0));
                // Boxed: the stream holds this future while it waits for the inbox, and a
                // future is as large as its largest state (see `Feed`).
                Box::pin(start_feed(app, caller, viewer, named, filter, after)).await
            }),
        };
        // Boxed, so that it is freed once the feed has started.
        Ok(futures::stream::once(start.boxed()).flat_map(|started| {
            let (replay, feed) = match started {
                Ok((replay, feed)) => {
                    let bucket = feed.bucket();
                    let replay = replay.into_iter().map(move |m| Ok(Message::new(m, bucket)));
                    (replay.collect(), Ok(feed))
                }
                Err(error) => (Vec::new(), Err(error.extend())),
            };
            let replay = futures::stream::iter(replay);
            let live = futures::stream::unfold(Some(feed), |feed| async move {
                let mut feed = match feed? {
                    Ok(feed) => feed,
                    Err(error) => return Some((Err(error), None)),
                };
                match feed.next().await {
                    Ok(message) => {
                        let message = Message::new(message, feed.bucket());
                        Some((Ok(message), Some(Ok(feed))))
                    }
                    // Report the failure once and end the stream; the client resumes with
                    // `after`.
                    Err(error) => Some((Err(error.extend()), None)),
                }
            });
            // Boxed: the stream would otherwise hold this room from the start, also while it
            // waits for an address's inbox.
            replay.chain(live).boxed()
        }))
    }
}

/// The feed of `named`'s messages from `after`; without it, the messages of the last
/// `--wait-lookback` seconds that no wait has returned come first (returned here as the
/// replay), and the feed goes on from the newest message.
async fn start_feed(
    app: Api,
    caller: Caller,
    viewer: Viewer,
    named: Named,
    filter: message::MessageFilter,
    after: Option<i64>,
) -> Result<(Vec<message::Message>, Feed), AppError> {
    let filter = named.narrow(filter)?;
    // Listen before reading the starting point, so nothing stored in between is missed.
    let listener = app.events.listen(named.inbox.id);
    let mut at = named.inbox.bucket();
    let (replay, cursor) = match after {
        Some(cursor) => (Vec::new(), cursor),
        None => {
            let mut conn = app.pool.get().await?;
            let now = app.clock.now();
            let latest = message::latest_seq(&mut conn, viewer, &mut at, now).await?;
            let lookback = chrono::Duration::seconds(app.config.http.wait_lookback.into());
            // No inbox holds more messages than this, so the replay is complete.
            let limit = app.config.retention.max_messages_per_inbox.into();
            let replay = message::unreturned_through(
                &mut conn,
                viewer,
                &mut at,
                &filter,
                now - lookback,
                latest,
                limit,
                now,
            )
            .await?;
            (replay, latest)
        }
    };
    let feed = Feed::new(app, caller, viewer, at, filter, cursor, listener);
    Ok((replay, feed))
}
