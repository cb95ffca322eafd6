//! Webhooks and their delivery log.

use async_graphql::{ComplexObject, Context, Enum, Result, SimpleObject, ID};

use super::timestamp::Timestamp;
use crate::{
    error::ApiResult,
    graphql::context::ContextExt,
    service,
    webhooks::{payload::event_type, signing},
};
use ephemail_store::models::webhook as model;
use uuid::Uuid;

/// What a webhook can be told.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A message arrived (`message.received`): its sender, subject, codes, links and download
    /// URLs.
    MessageReceived,
    /// An inbox expired and its mail is gone (`inbox.expired`).
    InboxExpired,
}

impl WebhookEvent {
    pub fn name(self) -> &'static str {
        match self {
            Self::MessageReceived => "MESSAGE_RECEIVED",
            Self::InboxExpired => "INBOX_EXPIRED",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::MessageReceived, Self::InboxExpired]
            .into_iter()
            .find(|event| event.name() == name)
    }
}

/// A partner endpoint that receives events, signed as the Standard Webhooks specification
/// says (see docs/webhooks.md).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Webhook {
    #[graphql(skip)]
    row_id: Uuid,
    id: ID,
    url: String,
    events: Vec<WebhookEvent>,
    /// Only this inbox's events; null: every inbox of the tenant.
    inbox_id: Option<ID>,
    created_at: Timestamp,
    /// False once it failed every attempt for `--webhook-disable-after`; `enableWebhook`
    /// turns it on again. Events are not recorded for it meanwhile.
    enabled: bool,
    /// Since when every attempt has failed; null if the last one succeeded.
    failing_since: Option<Timestamp>,
    /// Why it was disabled.
    disabled_reason: Option<String>,
}

impl From<model::Webhook> for Webhook {
    fn from(row: model::Webhook) -> Self {
        Self {
            row_id: row.id,
            id: row.id.into(),
            url: row.url,
            events: (row.events.iter().flatten())
                .filter_map(|name| WebhookEvent::from_name(name))
                .collect(),
            inbox_id: row.inbox_id.map(ID::from),
            created_at: row.created_at.into(),
            enabled: row.disabled_at.is_none(),
            failing_since: row.failing_since.map(Timestamp::from),
            disabled_reason: row.disabled_reason,
        }
    }
}

#[ComplexObject]
impl Webhook {
    /// Its deliveries, newest first, with every attempt; finished ones are kept for
    /// `--webhook-log-retention`.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        state: Option<WebhookDeliveryState>,
        #[graphql(default = 20, validator(minimum = 1, maximum = 100))] first: i32,
    ) -> Result<Vec<WebhookDelivery>> {
        let mut conn = ctx.app().pool.get().await.api()?;
        let (id, state) = (self.row_id, state.map(Into::into));
        let rows = service::webhook::deliveries(&mut conn, id, state, first.into())
            .await
            .api()?;
        Ok(rows.into_iter().map(WebhookDelivery::from).collect())
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "ephemail_store::models::webhook::DeliveryState")]
pub enum WebhookDeliveryState {
    /// Not delivered yet: due, being sent, or waiting for its next attempt.
    Pending,
    Succeeded,
    /// Every attempt failed; `redriveWebhookDeliveries` sends it again.
    Dead,
}

/// One event sent (or to be sent) to one webhook.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    /// The `webhook-id` header: the same on every attempt, so receivers can drop repeats.
    id: String,
    /// The payload's `type`, such as `message.received`.
    event_type: String,
    state: WebhookDeliveryState,
    message_id: Option<ID>,
    inbox_id: Option<ID>,
    created_at: Timestamp,
    /// When it is tried next, while pending.
    next_attempt_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    /// Every attempt, oldest first.
    attempts: Vec<WebhookAttempt>,
}

impl From<model::DeliveryRow> for WebhookDelivery {
    fn from(row: model::DeliveryRow) -> Self {
        let state = row.state();
        Self {
            id: signing::webhook_id(row.id),
            event_type: event_type(&row.event).to_owned(),
            state: state.into(),
            message_id: row.message_id.map(ID::from),
            inbox_id: row.inbox_id.map(ID::from),
            created_at: row.created_at.into(),
            next_attempt_at: (state == model::DeliveryState::Pending)
                .then(|| row.next_attempt_at.into()),
            finished_at: row.finished_at.map(Timestamp::from),
            attempts: row.log().into_iter().map(WebhookAttempt::from).collect(),
        }
    }
}

/// One attempt of a delivery.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    at: Timestamp,
    /// The endpoint's answer; null when none came (timeout, refused connection).
    status_code: Option<i32>,
    latency_ms: i32,
    /// Why it failed, with the start of the answer's body.
    error: Option<String>,
}

impl From<model::Attempt> for WebhookAttempt {
    fn from(attempt: model::Attempt) -> Self {
        Self {
            at: attempt.at.into(),
            status_code: attempt.status_code,
            latency_ms: attempt.latency_ms,
            error: attempt.error,
        }
    }
}
