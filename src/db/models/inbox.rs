use chrono::{DateTime, Utc};
use std::collections::HashSet;

use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{Array, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Viewer;
use crate::{
    db::{
        prepared::{column, Prepared},
        schema::inboxes,
    },
    mail::address::{DomainName, EmailAddress, LocalPart},
};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = inboxes, check_for_backend(Pg))]
pub struct Inbox {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub local_part: String,
    pub domain: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub tags: Vec<Option<String>>,
}

impl Inbox {
    pub fn new(
        address: &EmailAddress,
        tenant_id: Uuid,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            tenant_id,
            local_part: address.local.as_str().to_owned(),
            domain: address.domain.as_str().to_owned(),
            created_at: now,
            expires_at: now + ttl,
            tags: Vec::new(),
        }
    }

    pub fn address(&self) -> String {
        format!("{}@{}", self.local_part, self.domain)
    }
}

/// Inserts the inbox; false when its address is already taken.
pub async fn insert(conn: &mut AsyncPgConnection, inbox: &Inbox) -> QueryResult<bool> {
    let inserted = diesel::insert_into(inboxes::table)
        .values(inbox)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted > 0)
}

/// The live inboxes `viewer` may see: expired inboxes are invisible even before they are
/// deleted, and a tenant sees only its own.
pub fn visible(viewer: Viewer, now: DateTime<Utc>) -> inboxes::BoxedQuery<'static, Pg> {
    let query = inboxes::table
        .filter(inboxes::expires_at.gt(now))
        .into_boxed();
    match viewer {
        Viewer::System => query,
        Viewer::Tenant(tenant_id) => query.filter(inboxes::tenant_id.eq(tenant_id)),
        Viewer::Inbox {
            tenant_id,
            inbox_id,
        } => query
            .filter(inboxes::tenant_id.eq(tenant_id))
            .filter(inboxes::id.eq(inbox_id)),
    }
}

/// A live inbox by id.
pub async fn find(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<Inbox>> {
    visible(viewer, now)
        .filter(inboxes::id.eq(id))
        .select(Inbox::as_select())
        .first(conn)
        .await
        .optional()
}

/// A live inbox by address.
pub async fn find_by_address(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    local: &LocalPart,
    domain: &DomainName,
    now: DateTime<Utc>,
) -> QueryResult<Option<Inbox>> {
    visible(viewer, now)
        .filter(inboxes::domain.eq(domain.as_str()))
        .filter(inboxes::local_part.eq(local.as_str()))
        .select(Inbox::as_select())
        .first(conn)
        .await
        .optional()
}

/// The live inbox for `address` on a catch-all domain, created for the domain's tenant if it
/// does not exist. An expired inbox at that address is replaced by a fresh, empty one; its id
/// comes back too (its listeners must be told once this commits).
pub async fn find_or_create(
    conn: &mut AsyncPgConnection,
    address: &EmailAddress,
    tenant_id: Uuid,
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> QueryResult<(Inbox, Vec<Uuid>)> {
    let (mut found, replaced) = find_or_create_all(conn, &[(address, tenant_id)], now, ttl).await?;
    let (inbox, _) = found.pop().ok_or(diesel::result::Error::NotFound)?;
    Ok((inbox, replaced))
}

/// [`find_or_create`] for many catch-all addresses (with their domains' tenants) in three
/// statements, whatever their number, pipelined (one round trip). Each inbox comes with whether
/// this call created it.
pub async fn find_or_create_all(
    conn: &AsyncPgConnection,
    addresses: &[(&EmailAddress, Uuid)],
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> QueryResult<(Vec<(Inbox, bool)>, Vec<Uuid>)> {
    if addresses.is_empty() {
        return Ok(Default::default());
    }
    let mut fresh: Vec<Inbox> = addresses
        .iter()
        .map(|&(address, tenant_id)| Inbox::new(address, tenant_id, now, ttl))
        .collect();
    // One order for every writer, so that concurrent batches wait on each other's new
    // addresses in the same order and cannot deadlock.
    fresh.sort_by(|a, b| (&a.domain, &a.local_part).cmp(&(&b.domain, &b.local_part)));
    fresh.dedup_by(|a, b| (&a.domain, &a.local_part) == (&b.domain, &b.local_part));
    // A prepared statement, one array per column: diesel would plan a multi-row insert anew
    // for every batch.
    let insert = Prepared::new(
        "INSERT INTO inboxes (id, tenant_id, local_part, domain, created_at, expires_at, tags)
         SELECT id, tenant_id, local_part, domain, $5, $6, '{}'
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])
           AS t(id, tenant_id, local_part, domain)
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(column(&fresh, |inbox| inbox.id))
    .bind::<Array<SqlUuid>, _>(column(&fresh, |inbox| inbox.tenant_id))
    .bind::<Array<Text>, _>(column(&fresh, |inbox| inbox.local_part.as_str()))
    .bind::<Array<Text>, _>(column(&fresh, |inbox| inbox.domain.as_str()))
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + ttl);
    let wanted = || addresses.iter().map(|&(address, _)| address);
    // Sent together, run by PostgreSQL in this order: the select sees the inserted rows.
    let (replaced, _, found) = futures::try_join!(
        delete_all_expired_at(conn, wanted(), now),
        insert.execute(&mut { conn }),
        find_all_by_address(conn, wanted(), now),
    )?;
    let created: std::collections::HashSet<Uuid> = fresh.iter().map(|inbox| inbox.id).collect();
    let found = found
        .into_iter()
        .map(|inbox| {
            let new = created.contains(&inbox.id);
            (inbox, new)
        })
        .collect();
    Ok((found, replaced))
}

/// The live inboxes at `addresses`, whoever owns them (for mail delivery), in one statement.
pub async fn find_all_by_address<'a>(
    mut conn: &AsyncPgConnection,
    addresses: impl IntoIterator<Item = &'a EmailAddress>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Inbox>> {
    let wanted: HashSet<(&str, &str)> = addresses
        .into_iter()
        .map(|address| (address.domain.as_str(), address.local.as_str()))
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let (domains, locals) = address_columns(wanted.iter().copied());
    // `= ANY` on both columns walks the address index (a join with `unnest` was planned as a
    // scan of the whole table); the few extra combinations it may match are dropped here.
    let found: Vec<Inbox> = inboxes::table
        .filter(inboxes::domain.eq_any(domains))
        .filter(inboxes::local_part.eq_any(locals))
        .filter(inboxes::expires_at.gt(now))
        .select(Inbox::as_select())
        .load(&mut conn)
        .await?;
    Ok(found
        .into_iter()
        .filter(|inbox| wanted.contains(&(inbox.domain.as_str(), inbox.local_part.as_str())))
        .collect())
}

/// Addresses as two parallel columns, for `unnest`.
/// The distinct domains and local parts of `addresses`, for `= ANY` on each column.
/// The distinct domains and local parts of `(domain, local part)` pairs, for `= ANY` on each
/// column of the address index.
pub fn address_columns<'a>(
    addresses: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let (mut domains, mut locals): (Vec<&str>, Vec<&str>) = addresses.into_iter().unzip();
    for column in [&mut domains, &mut locals] {
        column.sort_unstable();
        column.dedup();
    }
    (domains, locals)
}

/// Moves a live inbox's expiry; `None` if there is no such live inbox.
pub async fn set_expiry(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<Option<Inbox>> {
    let target = visible(viewer, now)
        .filter(inboxes::id.eq(id))
        .select(inboxes::id);
    diesel::update(inboxes::table.filter(inboxes::id.eq_any(target)))
        .set(inboxes::expires_at.eq(expires_at))
        .returning(Inbox::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Removes an expired inbox at `address`, so the address can be used afresh; returns its id
/// (its listeners must be told once this commits).
pub async fn delete_expired_at(
    conn: &mut AsyncPgConnection,
    address: &EmailAddress,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Uuid>> {
    delete_all_expired_at(conn, [address], now).await
}

/// [`delete_expired_at`] for many addresses in one statement.
async fn delete_all_expired_at<'a>(
    mut conn: &AsyncPgConnection,
    addresses: impl IntoIterator<Item = &'a EmailAddress>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Uuid>> {
    let wanted: HashSet<(&str, &str)> = addresses
        .into_iter()
        .map(|address| (address.domain.as_str(), address.local.as_str()))
        .collect();
    let (domains, locals) = address_columns(wanted.iter().copied());
    // By the address index, as in `find_all_by_address`. It may also take an expired inbox at
    // another combination of these domains and local parts: expired inboxes are invisible
    // already and would be swept anyway.
    diesel::delete(
        inboxes::table
            .filter(inboxes::domain.eq_any(domains))
            .filter(inboxes::local_part.eq_any(locals))
            .filter(inboxes::expires_at.le(now)),
    )
    .returning(inboxes::id)
    .get_results(&mut conn)
    .await
}

/// At most `limit` inboxes expired at `now`, those expired longest first.
pub async fn expired(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Uuid>> {
    inboxes::table
        .filter(inboxes::expires_at.le(now))
        .order(inboxes::expires_at)
        .select(inboxes::id)
        .limit(limit)
        .load(conn)
        .await
}

/// Deletes those of `ids` that are expired at `now` (an inbox given a new expiry meanwhile
/// stays), with whatever messages they still have; returns the ids deleted.
pub async fn delete_expired(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> QueryResult<Vec<Uuid>> {
    diesel::delete(
        inboxes::table
            .filter(inboxes::id.eq_any(ids))
            .filter(inboxes::expires_at.le(now)),
    )
    .returning(inboxes::id)
    .get_results(conn)
    .await
}

/// Deletes the inbox with its messages and attachments (foreign keys cascade).
pub async fn delete(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let target = visible(viewer, now)
        .filter(inboxes::id.eq(id))
        .select(inboxes::id);
    let deleted = diesel::delete(inboxes::table.filter(inboxes::id.eq_any(target)))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}
