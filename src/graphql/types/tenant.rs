use async_graphql::{Object, SimpleObject, ID};

use super::timestamp::Timestamp;
use crate::{auth::api_key::scope_of, scope::Scope};
use ephemail_store::models::{api_key, tenant};

/// An isolated customer: its own inboxes, messages and keys.
pub struct Tenant(pub tenant::Tenant);

#[Object]
impl Tenant {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }
}

/// An API key as listed: never the key itself.
#[derive(SimpleObject)]
pub struct ApiKey {
    id: ID,
    tenant_id: ID,
    name: String,
    /// The first characters of the key, to recognize it.
    prefix: String,
    /// The highest scope granted (scopes include the lower ones).
    scope: Option<Scope>,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
}

impl From<api_key::ApiKey> for ApiKey {
    fn from(key: api_key::ApiKey) -> Self {
        Self {
            id: ID(key.id.to_string()),
            tenant_id: ID(key.tenant_id.to_string()),
            scope: scope_of(&key),
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at.into(),
            revoked_at: key.revoked_at.map(Timestamp),
        }
    }
}
