use async_graphql::{Context, Object, Result, SimpleObject};

use crate::{
    auth::{Caller, Scope},
    db::models::{api_key, tenant},
    error::{ApiResult, AppError},
    graphql::{
        types::tenant::{ApiKey, Tenant},
        ContextExt,
    },
    quota::{self, Limits, Usage},
};

/// Who is calling.
#[derive(SimpleObject)]
pub struct ViewerInfo {
    tenant: Tenant,
    /// Every scope the key grants, lowest first (a `write` key also reads).
    scopes: Vec<Scope>,
    /// Where the tenant stands against its quotas.
    usage: Usage,
    /// The tenant's quotas.
    limits: Limits,
}

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The caller's tenant and scope.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<ViewerInfo> {
        ctx.viewer(Scope::Read).api()?;
        // Inbox tokens read their inbox, nothing about the tenant.
        let Caller::Key(key) = ctx.caller() else {
            return Err(AppError::Forbidden(Scope::Read)).api();
        };
        let mut conn = ctx.app().pool.get().await.api()?;
        let found = tenant::find(&mut conn, key.tenant_id).await.api()?;
        let tenant = found.ok_or(AppError::Unauthenticated).api()?;
        let app = ctx.app();
        let usage = quota::usage(&mut conn, tenant.id, app.clock.now())
            .await
            .api()?;
        Ok(ViewerInfo {
            limits: Limits::resolve(&app.config, &tenant.limits),
            tenant: Tenant(tenant),
            scopes: key.scope.granted(),
            usage,
        })
    }

    /// Every tenant (admin scope).
    async fn tenants(&self, ctx: &Context<'_>) -> Result<Vec<Tenant>> {
        ctx.viewer(Scope::Admin).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let tenants = tenant::list(&mut conn).await.api()?;
        Ok(tenants.into_iter().map(Tenant).collect())
    }

    /// Every API key, without the keys themselves (admin scope).
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        ctx.viewer(Scope::Admin).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let keys = api_key::list(&mut conn, None).await.api()?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }
}
