//! Pushed messages over WebSocket (`graphql-transport-ws` and the legacy `graphql-ws`).

use async_graphql::{Context, ErrorExtensions, Result, Subscription as SubscriptionRoot, ID};
use futures::Stream;

use crate::{
    auth::Scope,
    db::models::message,
    error::ApiResult,
    graphql::{
        feed::Feed,
        types::{
            inbox,
            message::{decode_cursor, Message, MessageFilterInput},
        },
        ContextExt,
    },
};

pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// Every matching message stored in the inbox, in order, each exactly once. With `after`
    /// (a message's or inbox's cursor) it first replays the stored messages after it, then goes
    /// live with no gap and no duplicate; without, it starts with the next message stored. A
    /// client that disconnects resumes without loss by passing the last cursor it received.
    /// When the inbox is deleted (or swept after expiry), a final `NOT_FOUND` error is sent and
    /// the stream completes.
    /// An address on a catch-all domain may be watched before its first mail.
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
        let inbox = inbox::resolve(ctx, viewer, inbox_id, address, true)
            .await
            .api()?;
        let after = after.as_deref().map(decode_cursor).transpose().api()?;
        // Listen before reading the starting point, so nothing stored in between is missed.
        let listener = app.events.listen(inbox.id);
        let cursor = match after {
            Some(cursor) => cursor,
            None => {
                let mut conn = app.pool.get().await.api()?;
                message::latest_seq(&mut conn, inbox.id).await.api()?
            }
        };
        let caller = ctx.caller().clone();
        let feed = Feed::new(
            app,
            caller,
            viewer,
            inbox.id,
            filter.into(),
            cursor,
            listener,
        );
        Ok(futures::stream::unfold(Some(feed), |feed| async move {
            let mut feed = feed?;
            match feed.next().await {
                Ok(message) => Some((Ok(Message::new(message)), Some(feed))),
                // Report the failure once and end the stream; the client resumes with `after`.
                Err(error) => Some((Err(error.extend()), None)),
            }
        }))
    }
}
