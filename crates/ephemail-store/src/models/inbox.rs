use chrono::{DateTime, Utc};

use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{Array, BigInt, Bytea, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{
    bucket_move,
    filters::{bind_viewer, contains_pattern, visible, visible_at_2_to_4},
    InboxBucket, Viewer,
};
use crate::{
    partitions::ExpiryBuckets,
    prepared::{column, Prepared},
    schema::{attachments, inboxes, messages},
};
use ephemail_mail::address::{DomainName, EmailAddress, LocalPart};

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
    /// The expiry bucket its messages are stored in (see [`crate::partitions`]).
    pub purge_at: DateTime<Utc>,
    /// At least as many as its messages: ingest adds what it stores and counts again when it
    /// trims the inbox to `--max-messages-per-inbox` (migration `inbox_message_bounds`).
    pub message_bound: i32,
}

impl Inbox {
    pub fn new(
        address: &EmailAddress,
        tenant_id: Uuid,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
        buckets: &ExpiryBuckets,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            tenant_id,
            local_part: address.local.as_str().to_owned(),
            domain: address.domain.as_str().to_owned(),
            created_at: now,
            expires_at: now + ttl,
            tags: Vec::new(),
            purge_at: buckets.purge_at(now + ttl),
            message_bound: 0,
        }
    }

    /// Where its messages are.
    pub fn bucket(&self) -> InboxBucket {
        InboxBucket {
            inbox_id: self.id,
            purge_at: self.purge_at,
        }
    }

    pub fn address(&self) -> String {
        format!("{}@{}", self.local_part, self.domain)
    }

    /// Whether `viewer` may see this inbox at `now`, in memory: what [`visible`] asks the
    /// database, for an inbox in hand.
    pub fn is_visible_to(&self, viewer: Viewer, now: DateTime<Utc>) -> bool {
        self.expires_at > now
            && match viewer {
                Viewer::System => true,
                Viewer::Tenant(tenant_id) => self.tenant_id == tenant_id,
                Viewer::Inbox {
                    tenant_id,
                    inbox_id,
                } => self.tenant_id == tenant_id && self.id == inbox_id,
            }
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

/// A live inbox by id.
#[tracing::instrument(name = "db.inbox.find", level = "debug", skip_all, fields(inbox_id = %id))]
pub async fn find(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<Inbox>> {
    // Prepared: a subscription's or wait's checks and look-ups run it.
    bind_viewer(
        Prepared::new(concat!(
            "SELECT * FROM inboxes WHERE id = $1 AND ",
            visible_at_2_to_4!()
        ))
        .bind::<SqlUuid, _>(id),
        viewer,
        now,
    )
    .get_result(conn)
    .await
    .optional()
}

/// The live inboxes among `ids` that `viewer` may see, in no order.
pub async fn find_all(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> QueryResult<Vec<Inbox>> {
    visible(viewer, now)
        .filter(inboxes::id.eq_any(ids.to_vec()))
        .select(Inbox::as_select())
        .load(conn)
        .await
}

/// The newest live inboxes `viewer` may see, at most `limit`; with `search`, only those whose
/// address contains it (case-insensitive).
pub async fn list(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    search: Option<&str>,
    limit: i64,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Inbox>> {
    let mut query = visible(viewer, now);
    if let Some(search) = search.map(str::trim).filter(|search| !search.is_empty()) {
        let address = inboxes::local_part.concat("@").concat(inboxes::domain);
        query = query.filter(address.ilike(contains_pattern(search)));
    }
    query
        .order((inboxes::created_at.desc(), inboxes::id))
        .limit(limit)
        .select(Inbox::as_select())
        .load(conn)
        .await
}

/// A live inbox by address.
#[tracing::instrument(name = "db.inbox.find_by_address", level = "debug", skip_all)]
pub async fn find_by_address(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    local: &LocalPart,
    domain: &DomainName,
    now: DateTime<Utc>,
) -> QueryResult<Option<Inbox>> {
    // Prepared: a wait on a catch-all address looks it up again when it is created.
    bind_viewer(
        Prepared::new(concat!(
            "SELECT * FROM inboxes WHERE domain = $1 AND local_part = $5 AND ",
            visible_at_2_to_4!()
        ))
        .bind::<Text, _>(domain.as_str().to_owned()),
        viewer,
        now,
    )
    .bind::<Text, _>(local.as_str().to_owned())
    .get_result(conn)
    .await
    .optional()
}

/// The live inboxes for catch-all addresses (with their domains' tenants), each created for the
/// domain's tenant if it does not exist, in one statement whatever their number. An expired
/// inbox at an address is replaced by a fresh, empty one; its id comes back too (its listeners
/// must be told once this commits). Each inbox comes with whether this call created it. A
/// tenant with `catch_all_cap` live inboxes made by mail gets no new one (a batch may take it
/// past by its own new addresses); its address is left out.
pub async fn find_or_create_all(
    conn: &AsyncPgConnection,
    addresses: &[(&EmailAddress, Uuid)],
    now: DateTime<Utc>,
    ttl: chrono::Duration,
    buckets: &ExpiryBuckets,
    catch_all_cap: i32,
) -> QueryResult<(Vec<(Inbox, bool)>, Vec<Uuid>)> {
    let fresh = made_by_mail(addresses, now, ttl, buckets);
    let creation = Creation::new(now, ttl, buckets, catch_all_cap);
    let (mut found, left) = find_or_insert(conn, &fresh, &creation).await?;
    if left.is_empty() {
        return Ok((found, Vec::new()));
    }
    // Rarely: an expired inbox at the address, a new one another batch committed meanwhile
    // (the statement's snapshot predates it), or the tenant at its cap. Once the expired ones
    // are gone, the same statement again, with a new snapshot; what it still leaves out is over
    // the cap.
    // In the order of `fresh`: sorted, distinct.
    let left_addresses = AddressPairs {
        domains: left.iter().map(|inbox| inbox.domain.as_str()).collect(),
        locals: left.iter().map(|inbox| inbox.local_part.as_str()).collect(),
    };
    let (replaced, (again, _)) = futures::try_join!(
        delete_all_expired_at(conn, &left_addresses, now),
        find_or_insert(conn, &left, &creation),
    )?;
    found.extend(again);
    Ok((found, replaced))
}

/// The inboxes mail to catch-all `addresses` (with their domains' tenants) would make, in one
/// order for every writer (so that concurrent batches wait on each other's new addresses in the
/// same order and cannot deadlock), one per address.
pub fn made_by_mail(
    addresses: &[(&EmailAddress, Uuid)],
    now: DateTime<Utc>,
    ttl: chrono::Duration,
    buckets: &ExpiryBuckets,
) -> Vec<Inbox> {
    let mut fresh: Vec<Inbox> = addresses
        .iter()
        .map(|&(address, tenant_id)| Inbox::new(address, tenant_id, now, ttl, buckets))
        .collect();
    fresh.sort_by(|a, b| (&a.domain, &a.local_part).cmp(&(&b.domain, &b.local_part)));
    fresh.dedup_by(|a, b| (&a.domain, &a.local_part) == (&b.domain, &b.local_part));
    fresh
}

/// Whether an inbox made by mail for the tenant `t.tenant_id` is admitted under the cap `$cap`
/// at `$now` (both SQL parameters): the tenant's counter of inboxes made by mail, never below
/// the live ones, admits without counting while under the cap; at the cap the live ones are
/// counted, on the tenant index (by whether made by mail, then expiry) and no further than the
/// cap (migration catch_all_inboxes_counted).
macro_rules! under_catch_all_cap {
    ($now:literal, $cap:literal) => {
        concat!(
            "((SELECT u.mail_inboxes FROM tenant_usage u WHERE u.tenant_id = t.tenant_id) < ",
            $cap,
            " OR (SELECT count(*) FROM (SELECT 1 FROM inboxes i WHERE i.tenant_id = t.tenant_id",
            " AND i.created_by_mail AND i.expires_at > ",
            $now,
            " LIMIT ",
            $cap,
            ") made) < ",
            $cap,
            ")"
        )
    };
}
pub(crate) use under_catch_all_cap;

/// What [`find_or_insert`] gives the inboxes it creates.
struct Creation {
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    purge_at: DateTime<Utc>,
    catch_all_cap: i32,
}

impl Creation {
    fn new(
        now: DateTime<Utc>,
        ttl: chrono::Duration,
        buckets: &ExpiryBuckets,
        catch_all_cap: i32,
    ) -> Self {
        Self {
            now,
            expires_at: now + ttl,
            purge_at: buckets.purge_at(now + ttl),
            catch_all_cap,
        }
    }
}

/// The live inbox at each of `fresh`'s addresses, or `fresh` itself inserted if the address is
/// free and the tenant under its cap, each with whether it was inserted; and those of `fresh`
/// that got neither (an expired inbox, one committed by another batch since this statement's
/// snapshot, or the cap).
async fn find_or_insert(
    mut conn: &AsyncPgConnection,
    fresh: &[Inbox],
    creation: &Creation,
) -> QueryResult<(Vec<(Inbox, bool)>, Vec<Inbox>)> {
    #[derive(QueryableByName)]
    struct Resolved {
        #[diesel(embed)]
        inbox: Inbox,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        created: bool,
    }
    if fresh.is_empty() {
        return Ok(Default::default());
    }
    // One statement: the address look-ups lock what exists (`FOR KEY SHARE`, as
    // [`find_all_by_address`]) and the insert takes the rest, under the cap. The statement adds
    // what it made to the counter itself, as the only other insert of inboxes made by mail
    // does (migration made_by_mail_counted_by_ingest), locking counters rows in tenant order as
    // every writer of them does.
    let resolved: Vec<Resolved> = Prepared::new(concat!(
        "WITH wanted AS MATERIALIZED (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])
               AS t(id, tenant_id, local_part, domain)),
         existing AS MATERIALIZED (
             SELECT found.* FROM wanted CROSS JOIN LATERAL (
                 SELECT * FROM inboxes
                 WHERE domain = wanted.domain AND local_part = wanted.local_part
                 LIMIT 1 FOR KEY SHARE) found),
         created AS (
             INSERT INTO inboxes (id, tenant_id, local_part, domain, created_at, expires_at,
                 tags, purge_at, created_by_mail)
             SELECT id, tenant_id, local_part, domain, $5, $6, '{}', $7, true FROM wanted t
             WHERE NOT EXISTS (SELECT 1 FROM existing e
                               WHERE e.domain = t.domain AND e.local_part = t.local_part)
               AND ",
        under_catch_all_cap!("$5", "$8"),
        "
             ON CONFLICT DO NOTHING
             RETURNING *),
         made AS (SELECT tenant_id, count(*) AS n FROM created GROUP BY tenant_id),
         locked AS (
             SELECT u.tenant_id FROM tenant_usage u JOIN made USING (tenant_id)
             ORDER BY u.tenant_id FOR NO KEY UPDATE OF u),
         counted AS (
             UPDATE tenant_usage u SET mail_inboxes = u.mail_inboxes + made.n
             FROM made JOIN locked USING (tenant_id)
             WHERE u.tenant_id = made.tenant_id)
         SELECT existing.*, false AS created FROM existing WHERE expires_at > $5
         UNION ALL
         SELECT created.*, true FROM created"
    ))
    .bind::<Array<SqlUuid>, _>(column(fresh, |inbox| inbox.id))
    .bind::<Array<SqlUuid>, _>(column(fresh, |inbox| inbox.tenant_id))
    .bind::<Array<Text>, _>(column(fresh, |inbox| inbox.local_part.as_str()))
    .bind::<Array<Text>, _>(column(fresh, |inbox| inbox.domain.as_str()))
    .bind::<Timestamptz, _>(creation.now)
    .bind::<Timestamptz, _>(creation.expires_at)
    .bind::<Timestamptz, _>(creation.purge_at)
    .bind::<diesel::sql_types::Integer, _>(creation.catch_all_cap)
    .load(&mut conn)
    .await?;
    let got: std::collections::HashSet<(&str, &str)> = (resolved.iter())
        .map(|r| (r.inbox.domain.as_str(), r.inbox.local_part.as_str()))
        .collect();
    let left = (fresh.iter())
        .filter(|inbox| !got.contains(&(inbox.domain.as_str(), inbox.local_part.as_str())))
        .cloned()
        .collect();
    let found = resolved.into_iter().map(|r| (r.inbox, r.created)).collect();
    Ok((found, left))
}

/// The live inboxes at `addresses`, whoever owns them (for mail delivery), in one statement.
/// Locks them `FOR KEY SHARE` until the transaction ends: an inbox's expiry (and with it the
/// partition its messages go to, `purge_at`) does not change under a delivery (see
/// [`set_expiry`]).
pub async fn find_all_by_address(
    mut conn: &AsyncPgConnection,
    addresses: &AddressPairs<'_>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Inbox>> {
    if addresses.domains.is_empty() {
        return Ok(Vec::new());
    }
    Prepared::new(
        "SELECT found.* FROM unnest($1::text[], $2::text[]) AS wanted(domain, local_part)
         CROSS JOIN LATERAL (
             SELECT * FROM inboxes
             WHERE domain = wanted.domain AND local_part = wanted.local_part
               AND expires_at + interval '0' > $3
             LIMIT 1 FOR KEY SHARE) found",
    )
    .bind::<Array<Text>, _>(addresses.domains.as_slice())
    .bind::<Array<Text>, _>(addresses.locals.as_slice())
    .bind::<Timestamptz, _>(now)
    .load(&mut conn)
    .await
}

/// Distinct `(domain, local part)` pairs as two parallel columns, for `unnest` into one address
/// index lookup per pair. (`domain = ANY(..) AND local_part = ANY(..)` is cached as a generic
/// plan that walks every inbox of the domain.) Built once per batch, bound by every statement
/// that looks its addresses up.
pub struct AddressPairs<'a> {
    pub domains: Vec<&'a str>,
    pub locals: Vec<&'a str>,
}

impl<'a> AddressPairs<'a> {
    pub fn of(addresses: impl IntoIterator<Item = &'a EmailAddress>) -> Self {
        let mut pairs: Vec<(&str, &str)> = addresses
            .into_iter()
            .map(|address| (address.domain.as_str(), address.local.as_str()))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let (domains, locals) = pairs.into_iter().unzip();
        Self { domains, locals }
    }
}

/// Moves a live inbox's expiry; `None` if there is no such live inbox. When that moves it to
/// another expiry bucket, its messages, their attachments and raw sources move along, in the
/// same transaction. The inbox is locked first (see [`lock`]), so no delivery puts a message in
/// the bucket it leaves.
pub async fn set_expiry(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    buckets: &ExpiryBuckets,
) -> QueryResult<Option<Inbox>> {
    let purge_at = buckets.purge_at(expires_at);
    // Outside the transaction: partitions made inside it would keep their locks until it ends.
    buckets.ensure(conn, [purge_at]).await?;
    conn.transaction(async |conn| {
        let Some(old) = lock(conn, viewer, id, now).await? else {
            return Ok(None);
        };
        if old.purge_at != purge_at {
            move_messages(conn, id, old.purge_at, purge_at).await?;
        }
        diesel::update(inboxes::table.find(id))
            .set((
                inboxes::expires_at.eq(expires_at),
                inboxes::purge_at.eq(purge_at),
            ))
            .returning(Inbox::as_returning())
            .get_result(conn)
            .await
            .map(Some)
    })
    .await
}

/// A live inbox by id, locked `FOR UPDATE` until the transaction ends: deliveries to it (which
/// lock it `FOR KEY SHARE`, see [`find_all_by_address`]) wait, and those under way finish first.
async fn lock(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<Inbox>> {
    inboxes::table
        .filter(inboxes::id.eq_any(visible(viewer, now).select(inboxes::id)))
        .filter(inboxes::id.eq(id))
        .select(Inbox::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Moves an inbox's messages with their attachments and raw sources from one bucket to another.
async fn move_messages(
    conn: &mut AsyncPgConnection,
    inbox_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<()> {
    let moved: Vec<(Uuid, Option<Vec<u8>>)> = diesel::update(
        messages::table
            .filter(messages::inbox_id.eq(inbox_id))
            .filter(messages::purge_at.eq(from)),
    )
    .set(messages::purge_at.eq(to))
    .returning((messages::id, messages::raw_sha256))
    .get_results(conn)
    .await?;
    if moved.is_empty() {
        return Ok(());
    }
    // Their ids (and their attachments') still tell the bucket they were stored in.
    bucket_move::record(conn, from, to).await?;
    let (ids, sources): (Vec<Uuid>, Vec<Option<Vec<u8>>>) = moved.into_iter().unzip();
    // A source in its message's row moved with it; a shared one has a row of its own.
    let mut sources: Vec<Vec<u8>> = sources.into_iter().flatten().collect();
    sources.sort_unstable();
    sources.dedup();
    diesel::update(
        attachments::table
            .filter(attachments::message_id.eq_any(&ids))
            .filter(attachments::purge_at.eq(from)),
    )
    .set(attachments::purge_at.eq(to))
    .execute(conn)
    .await?;
    if sources.is_empty() {
        return Ok(());
    }
    // Copied, not moved: other inboxes' messages of the old bucket may share a source.
    Prepared::new(
        "INSERT INTO raw_sources (sha256, encoding, content, purge_at)
         SELECT sha256, encoding, content, $3 FROM raw_sources
         WHERE purge_at = $2 AND sha256 = ANY($1)
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<Bytea>, _>(&sources)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .execute(&mut &*conn)
    .await?;
    Prepared::new(
        "DELETE FROM raw_sources r WHERE r.purge_at = $2 AND r.sha256 = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM messages m
                           WHERE m.purge_at = r.purge_at AND m.raw_sha256 = r.sha256)",
    )
    .bind::<Array<Bytea>, _>(&sources)
    .bind::<Timestamptz, _>(from)
    .execute(&mut &*conn)
    .await
    .map(drop)
}

/// Removes an expired inbox at `address`, so the address can be used afresh; returns its id
/// (its listeners must be told once this commits). Its messages stay, invisible, in their
/// expiry bucket until the sweeper drops it.
pub async fn delete_expired_at(
    conn: &mut AsyncPgConnection,
    address: &EmailAddress,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Uuid>> {
    delete_all_expired_at(conn, &AddressPairs::of([address]), now).await
}

/// [`delete_expired_at`] for many addresses in one statement.
async fn delete_all_expired_at(
    mut conn: &AsyncPgConnection,
    addresses: &AddressPairs<'_>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Uuid>> {
    #[derive(QueryableByName)]
    struct Deleted {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let deleted: Vec<Deleted> = Prepared::new(concat!(
        "WITH deleted AS (
             DELETE FROM inboxes USING unnest($1::text[], $2::text[]) AS wanted(domain, local_part)
             WHERE inboxes.domain = wanted.domain AND inboxes.local_part = wanted.local_part
               AND inboxes.expires_at <= $3
             RETURNING inboxes.*), ",
        super::webhook::inbox_expired_deliveries!("$3"),
        " SELECT id FROM deleted"
    ))
    .bind::<Array<Text>, _>(addresses.domains.as_slice())
    .bind::<Array<Text>, _>(addresses.locals.as_slice())
    .bind::<Timestamptz, _>(now)
    .load(&mut conn)
    .await?;
    Ok(deleted.into_iter().map(|row| row.id).collect())
}

/// Deletes at most `limit` inboxes expired at `now`, those expired longest first, with a
/// delivery of their `INBOX_EXPIRED` events per matching webhook; returns their ids. Their messages stay, invisible, in their expiry bucket until the sweeper drops it.
pub async fn delete_expired(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Uuid>> {
    #[derive(QueryableByName)]
    struct Deleted {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let deleted: Vec<Deleted> = Prepared::new(concat!(
        "WITH deleted AS (
             DELETE FROM inboxes WHERE expires_at <= $1 AND id IN (
                 SELECT id FROM inboxes WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)
             RETURNING *), ",
        super::webhook::inbox_expired_deliveries!("$1"),
        " SELECT id FROM deleted"
    ))
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(limit)
    .load(&mut &*conn)
    .await?;
    Ok(deleted.into_iter().map(|row| row.id).collect())
}

/// Deletes the inbox with its messages (their attachments and raw sources go with them, see
/// the `messages_deleted` trigger). The inbox is locked first (see [`lock`]), so that no
/// delivery adds a message the deletion would miss.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let Some(inbox) = lock(conn, viewer, id, now).await? else {
            return Ok(false);
        };
        diesel::delete(
            messages::table
                .filter(messages::inbox_id.eq(inbox.id))
                .filter(messages::purge_at.eq(inbox.purge_at)),
        )
        .execute(conn)
        .await?;
        diesel::delete(inboxes::table.find(inbox.id))
            .execute(conn)
            .await?;
        Ok(true)
    })
    .await
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn a_viewer_sees_a_live_inbox_of_its_own_only() {
        let now = DateTime::UNIX_EPOCH + Duration::days(1);
        let inbox = Inbox {
            id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            local_part: "a".into(),
            domain: "b.test".into(),
            created_at: now,
            expires_at: now + Duration::seconds(1),
            tags: Vec::new(),
            purge_at: now + Duration::hours(1),
            message_bound: 0,
        };
        let (tenant_id, inbox_id) = (inbox.tenant_id, inbox.id);
        let other = Uuid::new_v4();
        for (viewer, sees) in [
            (Viewer::System, true),
            (Viewer::Tenant(tenant_id), true),
            (Viewer::Tenant(other), false),
            (
                Viewer::Inbox {
                    tenant_id,
                    inbox_id,
                },
                true,
            ),
            (
                Viewer::Inbox {
                    tenant_id,
                    inbox_id: other,
                },
                false,
            ),
            (
                Viewer::Inbox {
                    tenant_id: other,
                    inbox_id,
                },
                false,
            ),
        ] {
            assert_eq!(inbox.is_visible_to(viewer, now), sees, "{viewer:?}");
            let later = now + Duration::seconds(1);
            assert!(!inbox.is_visible_to(viewer, later), "expired");
        }
    }
}
