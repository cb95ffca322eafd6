use chrono::{DateTime, Utc};
use diesel::{pg::Pg, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::tenants;

/// An isolated customer of the service: it sees only its own inboxes and messages.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenants, check_for_backend(Pg))]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Inserts the tenant; false if the name is taken.
pub async fn insert(conn: &mut AsyncPgConnection, tenant: &Tenant) -> QueryResult<bool> {
    let inserted = diesel::insert_into(tenants::table)
        .values(tenant)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted > 0)
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
    insert(
        conn,
        &Tenant {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            created_at: now,
        },
    )
    .await?;
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
