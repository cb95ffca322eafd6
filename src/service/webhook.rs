//! Webhooks: partner endpoints that receive a tenant's events (docs/webhooks.md). Only API keys
//! manage them: an inbox token reads its inbox and nothing else.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    error::AppError,
    scope::Scope,
    secret::Secret,
    webhooks::{
        payload::{EVENT_TYPES, TEST_EVENT},
        signing,
        target::TargetGuard,
    },
};
use ephemail_store::models::{
    inbox,
    webhook::{self, DeliveryRow, DeliveryState, NewWebhook, Webhook},
    Viewer,
};

/// What creating a webhook checks, and whom to wake when deliveries are recorded.
#[derive(Clone)]
pub struct WebhookRules {
    pub guard: TargetGuard,
    /// Webhooks per tenant (`--webhooks-per-tenant`).
    pub per_tenant: i64,
    /// The dispatcher's wake-up (see `crate::webhooks`).
    pub due: Arc<Notify>,
}

/// The tenant whose webhooks `viewer` manages.
fn tenant_of(viewer: Viewer) -> Result<Uuid, AppError> {
    match viewer {
        Viewer::Tenant(tenant_id) => Ok(tenant_id),
        Viewer::Inbox { .. } | Viewer::System => Err(AppError::Forbidden(Scope::Read)),
    }
}

pub struct NewWebhookInput<'a> {
    pub url: &'a str,
    /// Event names, as [`EVENT_TYPES`] lists them.
    pub events: Vec<&'a str>,
    /// One inbox's events only.
    pub inbox_id: Option<Uuid>,
}

pub enum CreateOutcome {
    /// `secret` is shown only now.
    Created {
        webhook: Webhook,
        secret: Secret,
    },
    InboxNotFound,
    /// The tenant has `--webhooks-per-tenant` already.
    LimitReached,
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    rules: &WebhookRules,
    input: NewWebhookInput<'_>,
    now: DateTime<Utc>,
) -> Result<CreateOutcome, AppError> {
    let tenant_id = tenant_of(viewer)?;
    let mut events = input.events;
    events.sort_unstable_by_key(|event| EVENT_TYPES.iter().position(|(name, _)| name == event));
    events.dedup();
    if events.is_empty() {
        return Err(AppError::BadUserInput(
            "a webhook needs at least one event".to_owned(),
        ));
    }
    let url = rules
        .guard
        .check(input.url)
        .await
        .map_err(|error| AppError::BadUserInput(error.to_string()))?;
    if let Some(inbox_id) = input.inbox_id {
        if inbox::find(conn, viewer, inbox_id, now).await?.is_none() {
            return Ok(CreateOutcome::InboxNotFound);
        }
    }
    let secret = signing::generate_secret(&mut rand::rng());
    let new = NewWebhook {
        id: Uuid::new_v4(),
        tenant_id,
        inbox_id: input.inbox_id,
        url: url.as_str(),
        events,
        secret: secret.expose(),
        created_at: now,
    };
    let Some(webhook) = webhook::insert_within(conn, &new, rules.per_tenant).await? else {
        return Ok(CreateOutcome::LimitReached);
    };
    Ok(CreateOutcome::Created { webhook, secret })
}

pub async fn list(conn: &mut AsyncPgConnection, viewer: Viewer) -> Result<Vec<Webhook>, AppError> {
    tenant_of(viewer)?;
    Ok(webhook::list(conn, viewer).await?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
) -> Result<Option<Webhook>, AppError> {
    tenant_of(viewer)?;
    Ok(webhook::find(conn, viewer, id).await?)
}

/// Deletes the webhook and its deliveries, sent or not; whether it existed.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
) -> Result<bool, AppError> {
    tenant_of(viewer)?;
    Ok(webhook::delete(conn, viewer, id).await?)
}

/// How long deliveries carry the old secret's signature beside the new one's after a rotation.
const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::days(1);

/// A new secret, signing every attempt from now on; for [`ROTATION_OVERLAP`] the old one signs
/// too, so a receiver that still verifies with it refuses nothing while it switches over.
pub async fn rotate_secret(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<(Webhook, Secret)>, AppError> {
    tenant_of(viewer)?;
    let secret = signing::generate_secret(&mut rand::rng());
    let rotated =
        webhook::set_secret(conn, viewer, id, secret.expose(), now + ROTATION_OVERLAP).await?;
    Ok(rotated.map(|webhook| (webhook, secret)))
}

/// Enables a webhook that was disabled for failing.
pub async fn enable(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    rules: &WebhookRules,
    id: Uuid,
) -> Result<Option<Webhook>, AppError> {
    tenant_of(viewer)?;
    let enabled = webhook::enable(conn, viewer, id).await?;
    if enabled.is_some() {
        rules.due.notify_one();
    }
    Ok(enabled)
}

/// Records a `webhook.test` delivery, sent at once; its id.
pub async fn test(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    rules: &WebhookRules,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, AppError> {
    tenant_of(viewer)?;
    let Some(hook) = webhook::find(conn, viewer, id).await? else {
        return Ok(None);
    };
    let data = serde_json::json!({ "webhookId": hook.id, "url": hook.url });
    let delivery = webhook::enqueue(conn, hook.id, TEST_EVENT, &data, now).await?;
    rules.due.notify_one();
    Ok(Some(delivery))
}

/// Sends the webhook's dead deliveries (created since `since`, if given) again; how many, if
/// the webhook exists.
pub async fn redrive(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    rules: &WebhookRules,
    id: Uuid,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<usize>, AppError> {
    tenant_of(viewer)?;
    if webhook::find(conn, viewer, id).await?.is_none() {
        return Ok(None);
    }
    let redriven = webhook::redrive(conn, id, since, now).await?;
    if redriven > 0 {
        rules.due.notify_one();
    }
    Ok(Some(redriven))
}

/// The webhook's deliveries, newest first, with their attempts.
pub async fn deliveries(
    conn: &mut AsyncPgConnection,
    webhook_id: Uuid,
    state: Option<DeliveryState>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, AppError> {
    Ok(webhook::deliveries(conn, webhook_id, state, limit).await?)
}
