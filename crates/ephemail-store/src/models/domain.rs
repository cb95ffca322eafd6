use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use diesel::{
    deserialize::{self, FromSql, FromSqlRow},
    expression::AsExpression,
    pg::{Pg, PgValue},
    prelude::*,
    serialize::{self, Output, ToSql},
    sql_types::Text,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Viewer;
use crate::schema::{domains, inboxes};

/// How a domain decides which recipients exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum DomainMode {
    /// Any local part is accepted; its inbox is created by the first mail.
    CatchAll,
    /// Only inboxes created through the API (and not expired) receive mail.
    Registered,
}

impl DomainMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CatchAll => "catch_all",
            Self::Registered => "registered",
        }
    }
}

impl fmt::Display for DomainMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DomainMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "catch_all" => Ok(Self::CatchAll),
            "registered" => Ok(Self::Registered),
            other => Err(format!(
                "unknown domain mode `{other}` (expected catch_all or registered)"
            )),
        }
    }
}

impl ToSql<Text, Pg> for DomainMode {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

impl FromSql<Text, Pg> for DomainMode {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(std::str::from_utf8(value.as_bytes())?.parse()?)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = domains, check_for_backend(Pg))]
pub struct Domain {
    pub name: String,
    pub mode: DomainMode,
    pub created_at: DateTime<Utc>,
    /// The tenant the domain is private to; `None` for a shared domain (registered mode only).
    pub tenant_id: Option<Uuid>,
}

impl Domain {
    /// Whether `viewer` may create inboxes here.
    pub fn usable_by(&self, viewer: Viewer) -> bool {
        match viewer {
            Viewer::System => true,
            Viewer::Tenant(tenant_id) => self.tenant_id.is_none_or(|owner| owner == tenant_id),
            // An inbox token reads one inbox; it creates nothing.
            Viewer::Inbox { .. } => false,
        }
    }
}

/// Adds the domain, or changes its mode and owner if it exists.
pub async fn upsert(conn: &mut AsyncPgConnection, domain: &Domain) -> QueryResult<()> {
    diesel::insert_into(domains::table)
        .values(domain)
        .on_conflict(domains::name)
        .do_update()
        .set((
            domains::mode.eq(domain.mode),
            domains::tenant_id.eq(domain.tenant_id),
        ))
        .execute(conn)
        .await
        .map(drop)
}

#[tracing::instrument(name = "db.domain.find", level = "debug", skip_all)]
pub async fn find(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<Domain>> {
    domains::table
        .find(name)
        .select(Domain::as_select())
        .first(conn)
        .await
        .optional()
}

/// The domains among `names` that exist.
pub async fn find_all(mut conn: &AsyncPgConnection, names: &[&str]) -> QueryResult<Vec<Domain>> {
    domains::table
        .filter(domains::name.eq_any(names))
        .select(Domain::as_select())
        .load(&mut conn)
        .await
}

/// The domains `viewer` may use: all for the system; shared ones and its own for a tenant.
pub async fn list(conn: &mut AsyncPgConnection, viewer: Viewer) -> QueryResult<Vec<Domain>> {
    let mut query = domains::table.order(domains::name).into_boxed();
    if let Viewer::Tenant(tenant_id) | Viewer::Inbox { tenant_id, .. } = viewer {
        query = query.filter(
            domains::tenant_id
                .is_null()
                .or(domains::tenant_id.eq(tenant_id)),
        );
    }
    query.select(Domain::as_select()).load(conn).await
}

/// Removes the domain with all its inboxes and messages; returns the inboxes' ids, or `None`
/// if it did not exist. Run it in a transaction: the inboxes go first (those the domain's
/// removal would cascade to), so that their ids are known.
pub async fn delete(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<Vec<Uuid>>> {
    let inboxes = diesel::delete(inboxes::table.filter(inboxes::domain.eq(name)))
        .returning(inboxes::id)
        .get_results(conn)
        .await?;
    let deleted = diesel::delete(domains::table.find(name))
        .execute(conn)
        .await?;
    Ok((deleted > 0).then_some(inboxes))
}
