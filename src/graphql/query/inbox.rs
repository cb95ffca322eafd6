use async_graphql::{Context, Object, Result, ID};

use crate::{
    auth::Scope,
    error::{ApiResult, AppError},
    graphql::{
        types::inbox::{self, Inbox},
        ContextExt,
    },
};

#[derive(Default)]
pub struct InboxQuery;

#[Object]
impl InboxQuery {
    /// A live inbox, by `id` or by `address` (give exactly one); null if none.
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        address: Option<String>,
    ) -> Result<Option<Inbox>> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        match inbox::resolve(ctx, viewer, id, address, false).await {
            Ok(found) => Ok(Some(Inbox(found))),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(error) => Err(error).api(),
        }
    }
}
