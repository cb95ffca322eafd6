use async_graphql::{Context, Enum, Object, Result, SimpleObject};

use crate::{
    auth::Caller,
    error::{ApiResult, AppError},
    graphql::{
        context::ContextExt,
        types::{
            mail::Inbox,
            tenant::{ApiKey, Tenant},
        },
    },
    scope::Scope,
    service,
};
use ephemail_store::models::{
    inbox,
    quota::{self, Limits, Usage},
    tenant, Viewer,
};

/// What kind of credential the caller sent.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    /// None: in public mode such a caller may create inboxes on the public's domains.
    Anonymous,
    ApiKey,
    /// A token for one inbox.
    InboxToken,
}

/// Who is calling.
#[derive(SimpleObject)]
pub struct ViewerInfo {
    kind: CallerKind,
    /// Every scope the key grants, lowest first (a `write` key also reads); empty for anonymous
    /// callers and inbox tokens.
    scopes: Vec<Scope>,
    /// Whether the server lets anonymous callers create inboxes (`--public-inboxes`).
    public_inboxes: bool,
    /// The key's tenant.
    tenant: Option<Tenant>,
    /// The inbox of an inbox token, while it lives.
    inbox: Option<Inbox>,
    /// Where the key's tenant stands against its quotas.
    usage: Option<Usage>,
    /// The key's tenant's quotas.
    limits: Option<Limits>,
}

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who the caller is, for every caller: an API key's tenant, scopes and quotas; an inbox
    /// token's inbox; or nobody. Invalid credentials are `UNAUTHENTICATED`.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<ViewerInfo> {
        let app = ctx.app();
        let nobody = ViewerInfo {
            kind: CallerKind::Anonymous,
            scopes: Vec::new(),
            public_inboxes: app.public_inboxes.is_some(),
            tenant: None,
            inbox: None,
            usage: None,
            limits: None,
        };
        let mut conn = app.pool.get().await.api()?;
        let now = app.clock.now();
        match ctx.caller() {
            Caller::Anonymous => Ok(nobody),
            Caller::Invalid => Err(AppError::Unauthenticated).api(),
            // Inbox tokens read their inbox, nothing about the tenant.
            Caller::InboxToken(grant) => {
                let viewer = Viewer::Inbox {
                    tenant_id: grant.tenant_id,
                    inbox_id: grant.inbox_id,
                };
                let found = inbox::find(&mut conn, viewer, grant.inbox_id, now)
                    .await
                    .api()?;
                Ok(ViewerInfo {
                    kind: CallerKind::InboxToken,
                    inbox: found.map(Inbox::from),
                    ..nobody
                })
            }
            Caller::Key(key) => {
                let found = tenant::find(&mut conn, key.tenant_id).await.api()?;
                let tenant = found.ok_or(AppError::Unauthenticated).api()?;
                let usage = quota::usage(&mut conn, tenant.id, now).await.api()?;
                Ok(ViewerInfo {
                    kind: CallerKind::ApiKey,
                    scopes: key.scope.granted(),
                    limits: Some(quota::Limits::resolve(&app.limits, &tenant.limits)),
                    tenant: Some(Tenant(tenant)),
                    usage: Some(usage),
                    ..nobody
                })
            }
        }
    }

    /// Every tenant (admin scope).
    async fn tenants(&self, ctx: &Context<'_>) -> Result<Vec<Tenant>> {
        ctx.viewer(Scope::Admin).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let tenants = service::tenant::list(&mut conn).await.api()?;
        Ok(tenants.into_iter().map(Tenant).collect())
    }

    /// Every API key, without the keys themselves (admin scope).
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        ctx.viewer(Scope::Admin).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let keys = service::keys::list(&mut conn, None).await.api()?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }
}
