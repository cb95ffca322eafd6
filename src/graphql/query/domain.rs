use async_graphql::{Context, Object, Result};

use crate::{
    auth::Caller,
    error::{ApiResult, AppError},
    graphql::{context::ContextExt, types::domain::Domain},
    scope::Scope,
    service,
};
use ephemail_store::models::Viewer;

#[derive(Default)]
pub struct DomainQuery;

#[Object]
impl DomainQuery {
    /// The domains the caller may create inboxes on: shared ones and its own. In public mode an
    /// anonymous caller gets those of the public. An inbox token is refused: it reads its inbox
    /// and nothing else.
    async fn domains(&self, ctx: &Context<'_>) -> Result<Vec<Domain>> {
        let viewer = match (ctx.caller(), &ctx.app().public_inboxes) {
            (Caller::Anonymous, Some(public)) => Viewer::Tenant(public.tenant_id),
            (Caller::InboxToken(_), _) => return Err(AppError::Forbidden(Scope::Read)).api(),
            (caller, _) => caller.require(Scope::Read).api()?,
        };
        let mut conn = ctx.app().pool.get().await.api()?;
        let domains = service::domain::list(&mut conn, viewer).await.api()?;
        Ok(domains.into_iter().map(Domain).collect())
    }
}
