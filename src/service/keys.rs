//! API keys.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use crate::{auth, scope::Scope, secret::Secret};
use ephemail_store::{
    events::{Changes, EventBus},
    models::{
        api_key::{self, ApiKey},
        tenant,
    },
};

pub enum CreateOutcome {
    /// `key` is shown only now: only its hash is stored.
    Created {
        key: Secret,
        record: ApiKey,
    },
    TenantNotFound,
}

/// Creates a key with `scope` for the tenant `tenant_id`, labelled `name`.
pub async fn create(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    name: &str,
    scope: Scope,
    now: DateTime<Utc>,
) -> diesel::QueryResult<CreateOutcome> {
    if tenant::find(conn, tenant_id).await?.is_none() {
        return Ok(CreateOutcome::TenantNotFound);
    }
    let (key, record) = auth::api_key::create(conn, tenant_id, name, scope, now).await?;
    Ok(CreateOutcome::Created { key, record })
}

/// Every key, or the tenant's, oldest first, revoked ones included.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant_id: Option<Uuid>,
) -> diesel::QueryResult<Vec<ApiKey>> {
    api_key::list(conn, tenant_id).await
}

/// Revokes key `id`; false if it did not exist or was already revoked. Work running under the
/// key stops in this process at once and in the other processes on the database when they hear
/// the notification sent with the revocation.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    events: &EventBus,
    id: Uuid,
    now: DateTime<Utc>,
) -> diesel::QueryResult<bool> {
    let revoked = conn
        .transaction(async |conn| {
            let revoked = api_key::revoke(conn, id, now).await?;
            if revoked {
                let revoked = Changes {
                    revoked: &[id],
                    ..Default::default()
                };
                events.notify_others(conn, revoked).await?;
            }
            Ok::<_, diesel::result::Error>(revoked)
        })
        .await?;
    if revoked {
        events.key_revoked(id);
    }
    Ok(revoked)
}
