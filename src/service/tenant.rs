//! Tenants.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::error::AppError;
use ephemail_store::models::tenant::{self, Tenant, TenantLimits};

pub enum CreateOutcome {
    Created(Tenant),
    NameTaken,
}

/// Creates a tenant called `name`, without its surrounding white space.
pub async fn create(
    conn: &mut AsyncPgConnection,
    name: &str,
    now: DateTime<Utc>,
) -> Result<CreateOutcome, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::BadUserInput("a tenant needs a name".into()));
    }
    let created = Tenant::new(name, now);
    Ok(if tenant::insert(conn, &created).await? {
        CreateOutcome::Created(created)
    } else {
        CreateOutcome::NameTaken
    })
}

/// Every tenant, by name.
pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Tenant>> {
    tenant::list(conn).await
}

/// Replaces the tenant's quota overrides; false if there is no such tenant. The database
/// refuses negative limits.
pub async fn set_limits(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    limits: &TenantLimits,
) -> QueryResult<bool> {
    tenant::set_limits(conn, id, limits).await
}
