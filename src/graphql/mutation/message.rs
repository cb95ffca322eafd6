use async_graphql::{Context, Object, Result, SimpleObject, ID};

use crate::{
    error::ApiResult,
    graphql::{
        context::ContextExt,
        lookup,
        types::{mail::MessageFilterInput, parse_id, DeleteStatus},
    },
};
use ephemail_store::models::{message, message_by_id};

#[derive(SimpleObject)]
pub struct DeleteMessagePayload {
    status: DeleteStatus,
}

#[derive(SimpleObject)]
pub struct DeleteMessagesPayload {
    /// How many messages were deleted.
    count: u64,
}

#[derive(SimpleObject)]
pub struct MarkSeenPayload {
    /// How many of the given messages exist (and now have the flag).
    count: u64,
}

#[derive(Default)]
pub struct MessageMutation;

#[Object]
impl MessageMutation {
    /// Deletes a message with its attachments.
    async fn delete_message(&self, ctx: &Context<'_>, id: ID) -> Result<DeleteMessagePayload> {
        let viewer = ctx.inbox_changer().api()?;
        let id = parse_id(&id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let deleted = message_by_id::delete(&mut conn, viewer, id, app.clock.now())
            .await
            .api()?;
        Ok(DeleteMessagePayload {
            status: deleted.into(),
        })
    }

    /// Deletes the inbox's messages that match `filter` (all of them without one).
    async fn delete_messages(
        &self,
        ctx: &Context<'_>,
        inbox_id: ID,
        filter: Option<MessageFilterInput>,
    ) -> Result<DeleteMessagesPayload> {
        let viewer = ctx.inbox_changer().api()?;
        let inbox = lookup::resolve(ctx.app(), viewer, Some(inbox_id), None)
            .await
            .api()?
            .inbox;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let deleted = message::delete_matching(
            &mut conn,
            viewer,
            &mut inbox.bucket(),
            &MessageFilterInput::into_filter(filter),
            app.clock.now(),
        )
        .await
        .api()?;
        Ok(DeleteMessagesPayload {
            count: deleted as u64,
        })
    }

    /// Sets or clears the seen flag of messages.
    async fn mark_seen(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        #[graphql(default = true)] seen: bool,
    ) -> Result<MarkSeenPayload> {
        let viewer = ctx.inbox_changer().api()?;
        let ids = ids
            .iter()
            .map(parse_id)
            .collect::<Result<Vec<_>, _>>()
            .api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let marked = message_by_id::mark_seen(&mut conn, viewer, &ids, seen, app.clock.now())
            .await
            .api()?;
        Ok(MarkSeenPayload {
            count: marked as u64,
        })
    }
}
