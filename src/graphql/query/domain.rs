use async_graphql::{Context, Object, Result};

use crate::{
    auth::{Caller, Scope},
    db::models::{domain, Viewer},
    error::{ApiResult, AppError},
    graphql::{types::domain::Domain, ContextExt},
};

#[derive(Default)]
pub struct DomainQuery;

#[Object]
impl DomainQuery {
    /// The domains the caller may create inboxes on: shared ones and its own. Anonymous
    /// callers in public mode get the shared ones.
    async fn domains(&self, ctx: &Context<'_>) -> Result<Vec<Domain>> {
        let public = ctx.app().public_inboxes.as_ref();
        let viewer = match (ctx.caller(), public) {
            (Caller::Anonymous, Some(public)) => Viewer::Tenant(public.tenant_id),
            (Caller::InboxToken(_), _) => return Err(AppError::Forbidden(Scope::Read)).api(),
            _ => ctx.viewer(Scope::Read).api()?,
        };
        let mut conn = ctx.app().pool.get().await.api()?;
        let domains = domain::list(&mut conn, viewer).await.api()?;
        Ok(domains.into_iter().map(Domain).collect())
    }
}
