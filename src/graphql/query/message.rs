use async_graphql::{Context, ErrorExtensions, Object, Result, ID};

use crate::{
    db::models::{inbox, message},
    error::{ApiResult, AppError},
    graphql::{
        types::{
            message::{message_connection, Message, MessageConnection},
            parse_id,
        },
        ContextExt,
    },
};

#[derive(Default)]
pub struct MessageQuery;

#[Object]
impl MessageQuery {
    /// The messages of a live inbox, newest first. `NOT_FOUND` if there is no such inbox.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        inbox_id: ID,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last message of the previous page.")] after: Option<String>,
    ) -> Result<MessageConnection> {
        let inbox_id = parse_id(&inbox_id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        if inbox::find(&mut conn, inbox_id, app.clock.now())
            .await
            .api()?
            .is_none()
        {
            return Err(AppError::NotFound("inbox").extend());
        }
        drop(conn);
        message_connection(ctx, inbox_id, first, after).await.api()
    }

    /// A message of a live inbox; null if none.
    async fn message(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Message>> {
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let found = message::find(&mut conn, parse_id(&id).api()?, app.clock.now())
            .await
            .api()?;
        Ok(found.map(Message))
    }
}
