use async_graphql::{Context, Object, Result, SimpleObject, ID};

use crate::{
    db::models::message,
    error::ApiResult,
    graphql::{
        types::{parse_id, DeleteStatus},
        ContextExt,
    },
};

#[derive(SimpleObject)]
pub struct DeleteMessagePayload {
    status: DeleteStatus,
}

#[derive(Default)]
pub struct MessageMutation;

#[Object]
impl MessageMutation {
    /// Deletes a message with its attachments.
    async fn delete_message(&self, ctx: &Context<'_>, id: ID) -> Result<DeleteMessagePayload> {
        let id = parse_id(&id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let deleted = message::delete(&mut conn, id, app.clock.now())
            .await
            .api()?;
        Ok(DeleteMessagePayload {
            status: deleted.into(),
        })
    }
}
