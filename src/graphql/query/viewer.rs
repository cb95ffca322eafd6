use async_graphql::{Context, Enum, Object, Result, SimpleObject};

use crate::{
    auth::{Caller, Scope},
    db::models::{api_key, inbox, tenant},
    error::{ApiResult, AppError},
    graphql::{
        types::{
            inbox::Inbox,
            tenant::{ApiKey, Tenant},
        },
        ContextExt,
    },
    quota::{self, Limits, Usage},
};

/// Who is calling.
#[derive(SimpleObject)]
pub struct ViewerInfo {
    kind: CallerKind,
    /// Whether the server runs in public mode (`--public-inboxes`): anonymous callers may
    /// create inboxes on the shared domains that `domains` lists.
    public_inboxes: bool,
    /// The API key's tenant; null for anonymous callers and inbox tokens.
    tenant: Option<Tenant>,
    /// Every scope the caller holds, lowest first (a `write` key also reads).
    scopes: Vec<Scope>,
    /// The inbox token's inbox; null otherwise.
    inbox: Option<Inbox>,
    /// Where the tenant stands against its quotas; null without an API key.
    usage: Option<Usage>,
    /// The tenant's quotas; null without an API key.
    limits: Option<Limits>,
}

/// What kind of credential the caller sent.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    Anonymous,
    ApiKey,
    InboxToken,
}

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who is calling: answers every caller, with or without credentials.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<ViewerInfo> {
        let app = ctx.app();
        let mut info = ViewerInfo {
            kind: CallerKind::Anonymous,
            public_inboxes: app.public_inboxes.is_some(),
            tenant: None,
            scopes: Vec::new(),
            inbox: None,
            usage: None,
            limits: None,
        };
        match ctx.caller() {
            Caller::Anonymous => {}
            Caller::Invalid => return Err(AppError::Unauthenticated).api(),
            Caller::InboxToken(grant) => {
                let viewer = ctx.viewer(Scope::Write).api()?;
                let mut conn = app.pool.get().await.api()?;
                let found = inbox::find(&mut conn, viewer, grant.inbox_id, app.clock.now())
                    .await
                    .api()?;
                info.kind = CallerKind::InboxToken;
                info.scopes = Scope::Write.granted();
                info.inbox = found.map(Inbox);
            }
            Caller::Key(key) => {
                let mut conn = app.pool.get().await.api()?;
                let found = tenant::find(&mut conn, key.tenant_id).await.api()?;
                let tenant = found.ok_or(AppError::Unauthenticated).api()?;
                let usage = quota::usage(&mut conn, tenant.id, app.clock.now())
                    .await
                    .api()?;
                info.kind = CallerKind::ApiKey;
                info.scopes = key.scope.granted();
                info.limits = Some(Limits::resolve(&app.config, &tenant.limits));
                info.usage = Some(usage);
                info.tenant = Some(Tenant(tenant));
            }
        }
        Ok(info)
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
