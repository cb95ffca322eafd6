use async_graphql::{Context, Object, Result, ID};

use crate::{
    auth::Scope,
    error::ApiResult,
    graphql::{
        types::inbox::{self, Inbox},
        ContextExt,
    },
};

#[derive(Default)]
pub struct InboxQuery;

#[Object]
impl InboxQuery {
    /// A live inbox, by `id` or by `address` (give exactly one). One that does not exist, has
    /// expired or belongs to another tenant is null with a `NOT_FOUND` error; the three are
    /// indistinguishable. A plus-address (`local+tag@domain`) names the inbox `local@domain`,
    /// whose `messages` are then those sent to the plus-address (tagged `tag`).
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        address: Option<String>,
    ) -> Result<Option<Inbox>> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        let found = inbox::resolve(ctx.app(), viewer, id, address).await.api()?;
        // Nullable, so a NOT_FOUND nulls this field and not the whole response.
        Ok(Some(Inbox::from(found)))
    }
}
