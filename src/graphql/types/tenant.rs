use async_graphql::{Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::{
    auth::{api_key::scope_of, Scope},
    db::models::{api_key, tenant},
};

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

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
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
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::ApiKey> for ApiKey {
    fn from(key: api_key::ApiKey) -> Self {
        Self {
            id: ID(key.id.to_string()),
            tenant_id: ID(key.tenant_id.to_string()),
            scope: scope_of(&key),
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
        }
    }
}
