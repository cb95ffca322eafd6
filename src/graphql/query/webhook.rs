use async_graphql::{Context, Object, Result, ID};

use crate::{
    error::{ApiResult, AppError},
    graphql::{
        context::ContextExt,
        types::{parse_id, webhook::Webhook},
    },
    scope::Scope,
    service,
};

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The tenant's webhooks, oldest first (API keys only).
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Vec<Webhook>> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let webhooks = service::webhook::list(&mut conn, viewer).await.api()?;
        Ok(webhooks.into_iter().map(Webhook::from).collect())
    }

    /// One of the tenant's webhooks, with its delivery log; null with a `NOT_FOUND` error if
    /// there is no such webhook (or it is another tenant's).
    async fn webhook(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Webhook>> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        let id = parse_id(&id).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let webhook = service::webhook::find(&mut conn, viewer, id).await.api()?;
        // Nullable, so a NOT_FOUND nulls this field and not the whole response.
        let webhook = webhook.ok_or(AppError::NotFound("webhook")).api()?;
        Ok(Some(webhook.into()))
    }
}
