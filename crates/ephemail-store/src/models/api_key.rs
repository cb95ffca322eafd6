use chrono::{DateTime, Utc};
use diesel::{pg::Pg, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::api_keys;

/// A stored API key: its hash, never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys, check_for_backend(Pg))]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub token_hash: Vec<u8>,
    pub scopes: Vec<Option<String>>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut AsyncPgConnection, key: &ApiKey) -> QueryResult<()> {
    diesel::insert_into(api_keys::table)
        .values(key)
        .execute(conn)
        .await
        .map(drop)
}

/// Until the end of the current transaction, no other process runs what follows this call
/// for the first key: processes starting together on an empty database create one between them.
pub async fn lock_first_key(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    /// Arbitrary constant naming "the first key" among advisory locks.
    const FIRST_KEY_LOCK: i64 = 0x6669_7273_745f_6b65;
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(FIRST_KEY_LOCK)
        .execute(conn)
        .await
        .map(drop)
}

/// Whether any key was ever created.
pub async fn any(conn: &mut AsyncPgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(api_keys::table.select(api_keys::id)))
        .get_result(conn)
        .await
}

/// The unrevoked key with this hash.
pub async fn find_active(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .filter(api_keys::token_hash.eq(token_hash))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKey::as_select())
        .first(conn)
        .await
        .optional()
}

/// All keys, or a tenant's, oldest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant_id: Option<Uuid>,
) -> QueryResult<Vec<ApiKey>> {
    let mut query = api_keys::table.order(api_keys::created_at).into_boxed();
    if let Some(tenant_id) = tenant_id {
        query = query.filter(api_keys::tenant_id.eq(tenant_id));
    }
    query.select(ApiKey::as_select()).load(conn).await
}

/// Revokes the key; false if it did not exist or was already revoked.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let revoked = diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(now))
    .execute(conn)
    .await?;
    Ok(revoked > 0)
}

/// Whether the key `id` exists and is not revoked.
pub async fn is_active(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        api_keys::table
            .find(id)
            .filter(api_keys::revoked_at.is_null()),
    ))
    .get_result(conn)
    .await
}
