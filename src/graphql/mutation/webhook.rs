//! Webhooks (`write` scope): endpoints that receive the tenant's events.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use crate::{
    error::ApiResult,
    graphql::{
        context::ContextExt,
        types::{
            parse_id,
            timestamp::Timestamp,
            webhook::{Webhook, WebhookEvent},
            DeleteStatus, StorableText,
        },
    },
    scope::Scope,
    service::webhook::{self, CreateOutcome, NewWebhookInput},
    webhooks::signing,
};

#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// An `http` or `https` URL; it must reach a public address unless the server runs with
    /// `--webhook-allow-private`. Redirects are not followed.
    #[graphql(validator(custom = "StorableText", max_length = 2048))]
    url: String,
    #[graphql(validator(min_items = 1))]
    events: Vec<WebhookEvent>,
    /// Only this inbox's events; without it, every inbox of the tenant.
    inbox_id: Option<ID>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateWebhookStatus {
    Created,
    InboxNotFound,
    /// The tenant has `--webhooks-per-tenant` webhooks already.
    LimitReached,
}

#[derive(SimpleObject)]
pub struct CreateWebhookPayload {
    status: CreateWebhookStatus,
    webhook: Option<Webhook>,
    /// The signing secret (`whsec_...`), shown only in this response: give it to your
    /// receiver's Standard Webhooks library.
    secret: Option<String>,
}

#[derive(SimpleObject)]
pub struct DeleteWebhookPayload {
    status: DeleteStatus,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookChangeStatus {
    Done,
    NotFound,
}

#[derive(SimpleObject)]
pub struct RotateWebhookSecretPayload {
    status: WebhookChangeStatus,
    webhook: Option<Webhook>,
    /// The new secret, shown only now; the old one signs too for a day.
    secret: Option<String>,
}

#[derive(SimpleObject)]
pub struct EnableWebhookPayload {
    status: WebhookChangeStatus,
    webhook: Option<Webhook>,
}

#[derive(SimpleObject)]
pub struct TestWebhookPayload {
    status: WebhookChangeStatus,
    /// The test delivery's `webhook-id`, to find it among the webhook's deliveries.
    delivery_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct RedriveWebhookDeliveriesPayload {
    status: WebhookChangeStatus,
    /// Dead deliveries made pending again.
    redriven: i32,
}

fn found(found: bool) -> WebhookChangeStatus {
    if found {
        WebhookChangeStatus::Done
    } else {
        WebhookChangeStatus::NotFound
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Sends the tenant's events (or one inbox's) to `url`, each delivery signed, retried for
    /// about a day until it succeeds, and logged.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> Result<CreateWebhookPayload> {
        let viewer = ctx.viewer(Scope::Write).api()?;
        let inbox_id = input.inbox_id.as_ref().map(parse_id).transpose().api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let request = NewWebhookInput {
            url: &input.url,
            events: input.events.iter().map(|event| event.name()).collect(),
            inbox_id,
        };
        let outcome = webhook::create(&mut conn, viewer, &app.webhooks, request, app.clock.now())
            .await
            .api()?;
        Ok(match outcome {
            CreateOutcome::Created { webhook, secret } => CreateWebhookPayload {
                status: CreateWebhookStatus::Created,
                webhook: Some(webhook.into()),
                secret: Some(secret.expose().to_owned()),
            },
            CreateOutcome::InboxNotFound => CreateWebhookPayload {
                status: CreateWebhookStatus::InboxNotFound,
                webhook: None,
                secret: None,
            },
            CreateOutcome::LimitReached => CreateWebhookPayload {
                status: CreateWebhookStatus::LimitReached,
                webhook: None,
                secret: None,
            },
        })
    }

    /// Deletes the webhook with its deliveries, sent or not.
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<DeleteWebhookPayload> {
        let viewer = ctx.viewer(Scope::Write).api()?;
        let id = parse_id(&id).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let deleted = webhook::delete(&mut conn, viewer, id).await.api()?;
        Ok(DeleteWebhookPayload {
            status: deleted.into(),
        })
    }

    /// Replaces the signing secret. For a day, deliveries carry a signature by the old secret
    /// beside the new one's, so receivers can switch over without refusing any.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<RotateWebhookSecretPayload> {
        let viewer = ctx.viewer(Scope::Write).api()?;
        let id = parse_id(&id).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let rotated = webhook::rotate_secret(&mut conn, viewer, id, ctx.app().clock.now())
            .await
            .api()?;
        Ok(RotateWebhookSecretPayload {
            status: found(rotated.is_some()),
            secret: rotated.as_ref().map(|(_, s)| s.expose().to_owned()),
            webhook: rotated.map(|(webhook, _)| webhook.into()),
        })
    }

    /// Turns a webhook disabled for failing on again.
    async fn enable_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<EnableWebhookPayload> {
        let viewer = ctx.viewer(Scope::Write).api()?;
        let id = parse_id(&id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let enabled = webhook::enable(&mut conn, viewer, &app.webhooks, id)
            .await
            .api()?;
        Ok(EnableWebhookPayload {
            status: found(enabled.is_some()),
            webhook: enabled.map(Into::into),
        })
    }

    /// Sends a `webhook.test` event now, like any other delivery (signed, retried, logged).
    async fn test_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<TestWebhookPayload> {
        let viewer = ctx.viewer(Scope::Write).api()?;
        let id = parse_id(&id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let sent = webhook::test(&mut conn, viewer, &app.webhooks, id, app.clock.now())
            .await
            .api()?;
        Ok(TestWebhookPayload {
            status: found(sent.is_some()),
            delivery_id: sent.map(signing::webhook_id),
        })
    }

    /// Sends the webhook's dead deliveries again (those created since `since`, if given), each
    /// with a fresh set of attempts and its original `webhook-id`.
    async fn redrive_webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        id: ID,
        since: Option<Timestamp>,
    ) -> Result<RedriveWebhookDeliveriesPayload> {
        let viewer = ctx.viewer(Scope::Write).api()?;
        let id = parse_id(&id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let now = app.clock.now();
        let since = since.map(|since| since.0);
        let redriven = webhook::redrive(&mut conn, viewer, &app.webhooks, id, since, now)
            .await
            .api()?;
        Ok(RedriveWebhookDeliveriesPayload {
            status: found(redriven.is_some()),
            redriven: redriven.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX)),
        })
    }
}
