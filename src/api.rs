//! The handles the API works with (GraphQL resolvers, HTTP routes): built once by `app`, the
//! composition root, and shared by every request. Nothing here is SMTP's or the sweeper's.

use std::{future::Future, ops::Deref, sync::Arc};

use ephemail_mail::sanitize::Sanitizer;
use ephemail_store::{
    clock::Clock,
    events::EventBus,
    models::quota::{Limits, QuotaRefusals},
    partitions::ExpiryBuckets,
    Pool,
};

use crate::{
    auth::{
        credential, inbox_token::InboxTokens, liveness, per_address::PerAddress,
        public::PublicInboxes, Caller,
    },
    config::ServeConfig,
    content::Contents,
    error::AppError,
    service::webhook::WebhookRules,
    telemetry::api::ApiMetrics,
};

pub struct ApiHandles {
    pub config: Arc<ServeConfig>,
    pub pool: Pool,
    pub clock: Arc<dyn Clock>,
    pub events: Arc<EventBus>,
    /// The expiry buckets messages are stored in, and those with partitions ready (shared with
    /// delivery, which creates inboxes too).
    pub buckets: Arc<ExpiryBuckets>,
    /// Every tenant's limits unless overridden.
    pub limits: Limits,
    pub sanitizer: Sanitizer,
    /// Messages' bodies and header fields, derived from their raw sources (shared with the
    /// webhook dispatcher).
    pub contents: Contents,
    pub inbox_tokens: InboxTokens,
    /// Set in public mode.
    pub public_inboxes: Option<PublicInboxes>,
    /// The request buckets, per client IP address, of callers without a tenant and of public
    /// mode's visitors.
    pub per_address_requests: PerAddress,
    pub metrics: ApiMetrics,
    /// `ephemail_quota_refusals_total`, shared with delivery.
    pub quota_refusals: QuotaRefusals,
    pub webhooks: WebhookRules,
}

/// Cheap to clone: one per request, subscription and loader.
#[derive(Clone)]
pub struct Api(Arc<ApiHandles>);

impl Api {
    pub fn new(handles: ApiHandles) -> Self {
        Self(Arc::new(handles))
    }

    /// Who sent `credential` ([`credential::identify`] with these handles).
    pub async fn identify(&self, credential: Option<&str>) -> Result<Caller, AppError> {
        credential::identify(&self.pool, &*self.clock, &self.inbox_tokens, credential).await
    }

    /// Whether `caller`'s credential still works ([`liveness::still_valid`]).
    pub async fn still_valid(&self, caller: &Caller) -> Result<bool, AppError> {
        liveness::still_valid(&self.pool, &*self.clock, caller).await
    }

    /// Resolves when `caller`'s credential stops working ([`liveness::ended`]).
    pub fn credential_ended(
        &self,
        caller: Caller,
    ) -> impl Future<Output = AppError> + Send + 'static {
        liveness::ended(&self.pool, &self.clock, &self.events, caller)
    }
}

impl Deref for Api {
    type Target = ApiHandles;
    fn deref(&self) -> &ApiHandles {
        &self.0
    }
}
