use async_graphql::{Context, Object, Result, ID};

use crate::{
    error::{ApiResult, AppError},
    graphql::{context::ContextExt, lookup, types::mail::Inbox},
    scope::Scope,
};
use ephemail_store::models::inbox as model;

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
        let found = lookup::resolve(ctx.app(), viewer, id, address)
            .await
            .api()?;
        // Nullable, so a NOT_FOUND nulls this field and not the whole response.
        Ok(Some(Inbox::from(found)))
    }

    /// The caller's live inboxes, newest first (an inbox token sees its own). With `search`,
    /// only those whose address contains it (case-insensitive).
    async fn inboxes(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        #[graphql(desc = "At most this many, 1 to 100 (default 50).")] first: Option<i32>,
    ) -> Result<Vec<Inbox>> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        let first = first.unwrap_or(50);
        if !(1..=100).contains(&first) {
            return Err(AppError::BadUserInput("`first` must be 1 to 100".into())).api();
        }
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let found = model::list(
            &mut conn,
            viewer,
            search.as_deref(),
            first.into(),
            app.clock.now(),
        )
        .await
        .api()?;
        Ok(found.into_iter().map(Inbox::from).collect())
    }
}
