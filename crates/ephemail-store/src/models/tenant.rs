use chrono::{DateTime, Utc};
use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{Array, Bool, Text, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{inbox::AddressPairs, webhook::webhook_sends};
use crate::{
    prepared::Prepared,
    schema::{tenant_usage, tenants},
};

/// An isolated customer of the service: it sees only its own inboxes and messages.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = tenants, check_for_backend(Pg))]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[diesel(embed)]
    pub limits: TenantLimits,
}

/// Overrides of the server's default quotas; `None` keeps the default.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Queryable,
    QueryableByName,
    Selectable,
    Insertable,
    AsChangeset,
)]
#[diesel(table_name = tenants, check_for_backend(Pg), treat_none_as_null = true)]
pub struct TenantLimits {
    pub max_inboxes: Option<i32>,
    pub max_mails_per_day: Option<i32>,
    pub max_requests_per_minute: Option<i32>,
    pub max_stored_bytes: Option<i64>,
    pub max_ttl_seconds: Option<i32>,
    pub max_message_size: Option<i32>,
}

impl Tenant {
    pub fn new(name: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            created_at: now,
            limits: TenantLimits::default(),
        }
    }
}

/// A tenant a batch of mail goes to, as ingest needs it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Receiving {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(embed)]
    pub limits: TenantLimits,
    /// Whether it has a webhook to be sent `MESSAGE_RECEIVED` events.
    #[diesel(sql_type = Bool)]
    pub message_webhooks: bool,
}

/// The tenants a batch of mail goes to: `owners` (of its catch-all domains) and the owners of
/// the inboxes at `addresses`. Takes a shared connection so that it can be pipelined.
pub async fn find_all_receiving(
    mut conn: &AsyncPgConnection,
    owners: &[Uuid],
    addresses: &AddressPairs<'_>,
) -> QueryResult<Vec<Receiving>> {
    Prepared::new(concat!(
        // A UNION, not `OR id IN (..)`: the OR is planned as a scan of every tenant.
        "SELECT t.*, EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = t.id AND ",
        webhook_sends!("MESSAGE_RECEIVED"),
        ") AS message_webhooks
         FROM (SELECT * FROM tenants WHERE id = ANY($1)
               UNION
               SELECT tenants.* FROM unnest($2::text[], $3::text[]) AS wanted(domain, local_part)
               CROSS JOIN LATERAL (
                   SELECT tenant_id FROM inboxes
                   WHERE domain = wanted.domain AND local_part = wanted.local_part
                   LIMIT 1) found
               JOIN tenants ON tenants.id = found.tenant_id) t"
    ))
    .bind::<Array<SqlUuid>, _>(owners)
    .bind::<Array<Text>, _>(addresses.domains.as_slice())
    .bind::<Array<Text>, _>(addresses.locals.as_slice())
    .load(&mut conn)
    .await
}

/// Inserts the tenant with its usage counters; false if the name is taken.
pub async fn insert(conn: &mut AsyncPgConnection, tenant: &Tenant) -> QueryResult<bool> {
    let inserted = diesel::insert_into(tenants::table)
        .values(tenant)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted > 0 {
        diesel::insert_into(tenant_usage::table)
            .values((
                tenant_usage::tenant_id.eq(tenant.id),
                tenant_usage::mail_day.eq(tenant.created_at.date_naive()),
                tenant_usage::mails_today.eq(0),
                tenant_usage::stored_bytes.eq(0),
                // A full bucket: it is capped at the limit on first use.
                tenant_usage::request_tokens.eq(f64::INFINITY),
                tenant_usage::tokens_updated_at.eq(tenant.created_at),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(inserted > 0)
}

/// Replaces the tenant's quota overrides; false if there is no such tenant.
pub async fn set_limits(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    limits: &TenantLimits,
) -> QueryResult<bool> {
    let updated = diesel::update(tenants::table.find(id))
        .set(limits)
        .execute(conn)
        .await?;
    Ok(updated > 0)
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Tenant>> {
    tenants::table
        .find(id)
        .select(Tenant::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_by_name(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<Tenant>> {
    tenants::table
        .filter(tenants::name.eq(name))
        .select(Tenant::as_select())
        .first(conn)
        .await
        .optional()
}

/// The tenant called `name`, created if it does not exist.
pub async fn find_or_create(
    conn: &mut AsyncPgConnection,
    name: &str,
    now: DateTime<Utc>,
) -> QueryResult<Tenant> {
    insert(conn, &Tenant::new(name, now)).await?;
    tenants::table
        .filter(tenants::name.eq(name))
        .select(Tenant::as_select())
        .first(conn)
        .await
}

pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Tenant>> {
    tenants::table
        .order(tenants::name)
        .select(Tenant::as_select())
        .load(conn)
        .await
}

pub async fn count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    tenants::table.count().get_result(conn).await
}
