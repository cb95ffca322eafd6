//! Webhooks: endpoints that receive the tenant's events, signed as the Standard Webhooks
//! specification says (verify them with its `standardwebhooks` crate or any of its libraries).

use cynic::{MutationBuilder, QueryBuilder};

use crate::{
    client::{deleted, Client},
    error::{Error, ErrorCode, Result},
    generated::{
        self, CreateWebhookInput, CreateWebhookStatus, CreateWebhookVariables,
        DeleteWebhookVariables, TestWebhookVariables, WebhookChangeStatus, WebhookEvent,
    },
};

/// An endpoint that receives the tenant's events.
pub type Webhook = generated::WebhookFields;

/// `create_webhook` options: `CreateWebhook::to(url)` gets every inbox's `MESSAGE_RECEIVED`.
#[derive(Debug, Clone)]
pub struct CreateWebhook {
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub inbox_id: Option<String>,
}

impl CreateWebhook {
    /// To `url`: http(s), reaching a public address (unless the server allows private ones).
    pub fn to(url: impl Into<String>) -> Self {
        Self { url: url.into(), events: vec![WebhookEvent::MessageReceived], inbox_id: None }
    }

    pub fn events(mut self, events: impl IntoIterator<Item = WebhookEvent>) -> Self {
        self.events = events.into_iter().collect();
        self
    }

    /// Only this inbox's events.
    pub fn inbox(mut self, inbox_id: impl Into<String>) -> Self {
        self.inbox_id = Some(inbox_id.into());
        self
    }
}

impl Client {
    /// Creates a webhook; returns it with its signing secret (`whsec_...`), shown only now. Any
    /// status but `CREATED` is an error carrying that status.
    pub async fn create_webhook(&self, options: CreateWebhook) -> Result<(Webhook, String)> {
        let inbox_id = options.inbox_id.as_deref().map(cynic::Id::new);
        let payload = self
            .run(generated::CreateWebhook::build(CreateWebhookVariables {
                input: CreateWebhookInput {
                    url: &options.url,
                    events: options.events,
                    inbox_id: inbox_id.as_ref(),
                },
            }))
            .await?
            .create_webhook;
        match (payload.status, payload.webhook, payload.secret) {
            (CreateWebhookStatus::Created, Some(webhook), Some(secret)) => Ok((webhook, secret)),
            (status, ..) => {
                let code = match status {
                    CreateWebhookStatus::InboxNotFound => ErrorCode::NotFound,
                    _ => ErrorCode::QuotaExceeded,
                };
                Err(Error::new(code, format!("create_webhook: {status:?}")).with_status(status))
            }
        }
    }

    /// The tenant's webhooks, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        Ok(self.run(generated::Webhooks::build(())).await?.webhooks)
    }

    /// Deletes a webhook with its deliveries; `NOT_FOUND` if there is none.
    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        let id = cynic::Id::new(id);
        let status = self
            .run(generated::DeleteWebhook::build(DeleteWebhookVariables { id: &id }))
            .await?
            .delete_webhook
            .status;
        deleted(status, "no such webhook")
    }

    /// Sends a `webhook.test` event to the webhook now; returns its `webhook-id`.
    pub async fn test_webhook(&self, id: &str) -> Result<String> {
        let id = cynic::Id::new(id);
        let payload = self
            .run(generated::TestWebhook::build(TestWebhookVariables { id: &id }))
            .await?
            .test_webhook;
        match (payload.status, payload.delivery_id) {
            (WebhookChangeStatus::Done, Some(id)) => Ok(id),
            (status, _) => {
                Err(Error::new(ErrorCode::NotFound, "no such webhook").with_status(status))
            }
        }
    }
}
