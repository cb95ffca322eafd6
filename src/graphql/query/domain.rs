use async_graphql::{Context, Object, Result};

use crate::{
    auth::Scope, db::models::domain, error::ApiResult, graphql::types::domain::Domain,
    graphql::ContextExt,
};

#[derive(Default)]
pub struct DomainQuery;

#[Object]
impl DomainQuery {
    /// The domains the caller may create inboxes on: shared ones and its own.
    async fn domains(&self, ctx: &Context<'_>) -> Result<Vec<Domain>> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let domains = domain::list(&mut conn, viewer).await.api()?;
        Ok(domains.into_iter().map(Domain).collect())
    }
}
