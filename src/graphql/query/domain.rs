use async_graphql::{Context, Object, Result};

use crate::{
    db::models::domain, error::ApiResult, graphql::types::domain::Domain, graphql::ContextExt,
};

#[derive(Default)]
pub struct DomainQuery;

#[Object]
impl DomainQuery {
    /// The domains ephemail receives mail for.
    async fn domains(&self, ctx: &Context<'_>) -> Result<Vec<Domain>> {
        let mut conn = ctx.app().pool.get().await.api()?;
        let domains = domain::list(&mut conn).await.api()?;
        Ok(domains.into_iter().map(Domain).collect())
    }
}
