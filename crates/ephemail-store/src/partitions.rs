//! Expiry buckets. Messages, attachments and raw sources are stored in partitions by `purge_at`,
//! the end of their inbox's expiry bucket (`--purge-bucket` seconds of expiry time). Once every
//! inbox of a bucket has expired the sweeper drops its partitions whole, instead of deleting a
//! million rows one by one (see the migration `expiry_partitions` for the invariant).

use std::{
    collections::BTreeSet,
    sync::{Mutex, PoisonError},
};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{
    sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid},
    QueryableByName,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use uuid::Uuid;

use super::prepared::{column, Prepared};

/// Tables partitioned by `purge_at`, in the order their partitions are detached.
const TABLES: [&str; 3] = ["attachments", "messages", "raw_sources"];

/// The width of the buckets and the ones this process knows to have partitions.
#[derive(Debug)]
pub struct ExpiryBuckets {
    width_seconds: i64,
    ready: Mutex<BTreeSet<DateTime<Utc>>>,
}

impl ExpiryBuckets {
    pub fn new(width_seconds: u32) -> Self {
        Self {
            width_seconds: i64::from(width_seconds.max(1)),
            ready: Mutex::default(),
        }
    }

    /// Where the messages of an inbox expiring at `expires_at` are stored: the end of its bucket,
    /// a whole number of bucket widths since the Unix epoch, never before `expires_at`.
    pub fn purge_at(&self, expires_at: DateTime<Utc>) -> DateTime<Utc> {
        let seconds = expires_at.timestamp() + i64::from(expires_at.timestamp_subsec_nanos() > 0);
        let end = -(-seconds).div_euclid(self.width_seconds) * self.width_seconds;
        DateTime::from_timestamp(end, 0).unwrap_or(expires_at)
    }

    /// Creates the partitions of those of `buckets` this process has not seen yet (taking a
    /// shared connection, it can run in a pipelined transaction: ingest asks inside its batch).
    pub async fn ensure(
        &self,
        mut conn: &AsyncPgConnection,
        buckets: impl IntoIterator<Item = DateTime<Utc>>,
    ) -> diesel::QueryResult<()> {
        let missing: BTreeSet<DateTime<Utc>> = {
            let ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
            buckets
                .into_iter()
                .filter(|bucket| !ready.contains(bucket))
                .collect()
        };
        for &bucket in &missing {
            Prepared::new("SELECT create_purge_partitions($1)")
                .bind::<Timestamptz, _>(bucket)
                .execute(&mut conn)
                .await?;
        }
        if !missing.is_empty() {
            let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
            ready.extend(missing);
            // Buckets dropped long ago are never asked for again.
            if let Some(&newest) = ready.iter().next_back() {
                let horizon = newest - chrono::Duration::days(400);
                ready.retain(|&bucket| bucket > horizon);
            }
        }
        Ok(())
    }
}

/// One bucket the sweeper dropped, with what was in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedBucket {
    pub purge_at: DateTime<Utc>,
    pub messages: u64,
    pub raw_sources: u64,
}

#[derive(QueryableByName)]
struct PartitionTable {
    #[diesel(sql_type = Text)]
    name: String,
    /// `None`: detached already (a sweep stopped between detaching and dropping).
    #[diesel(sql_type = Nullable<Bool>)]
    detach_pending: Option<bool>,
}

/// What one tenant had in a partition.
#[derive(QueryableByName)]
struct TenantShare {
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
    #[diesel(sql_type = BigInt)]
    messages: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// A partition table's bucket, from its name (`messages_p20261129t130000`).
fn bucket_of(name: &str) -> Option<DateTime<Utc>> {
    let (_, suffix) = name.rsplit_once("_p")?;
    let at = NaiveDateTime::parse_from_str(suffix, "%Y%m%dt%H%M%S").ok()?;
    Some(at.and_utc())
}

/// Drops every bucket that ended at or before `cutoff`: detaches its partitions without
/// blocking readers or ingest (`DETACH ... CONCURRENTLY`), then, in one transaction, takes their
/// bytes off their tenants' storage and drops them. Resumes buckets a stopped sweep left half
/// done. Returns the buckets dropped, oldest first. Call with no transaction open.
pub async fn drop_ended(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
) -> diesel::QueryResult<Vec<DroppedBucket>> {
    let tables: Vec<PartitionTable> = diesel::sql_query(
        "SELECT c.relname AS name, i.inhdetachpending AS detach_pending
         FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
         WHERE c.relkind = 'r' AND c.relnamespace = to_regnamespace(current_schema())
           AND c.relname ~ '^(messages|attachments|raw_sources)_p[0-9]{8}t[0-9]{6}$'",
    )
    .load(conn)
    .await?;
    let mut ended: Vec<DateTime<Utc>> = tables
        .iter()
        .filter_map(|table| bucket_of(&table.name))
        .filter(|&bucket| bucket <= cutoff)
        .collect();
    ended.sort_unstable();
    ended.dedup();
    let mut dropped = Vec::with_capacity(ended.len());
    for bucket in ended {
        let suffix = bucket.format("_p%Y%m%dt%H%M%S").to_string();
        for parent in TABLES {
            let name = format!("{parent}{suffix}");
            let Some(table) = tables.iter().find(|table| table.name == name) else {
                continue;
            };
            let detach = match table.detach_pending {
                None => continue,
                Some(true) => "FINALIZE",
                Some(false) => "CONCURRENTLY",
            };
            conn.batch_execute(&format!(
                "ALTER TABLE {parent} DETACH PARTITION {name} {detach}"
            ))
            .await?;
        }
        let has = |parent: &str| {
            tables
                .iter()
                .any(|table| table.name == format!("{parent}{suffix}"))
        };
        let (has_messages, has_sources) = (has("messages"), has("raw_sources"));
        let suffix = &suffix;
        let (messages, raw_sources) = conn
            .transaction(async |conn| {
                let mut counts = (0, 0);
                if has_messages {
                    // One pass over the partition, then the counters rows locked in tenant order
                    // (as ingest locks them) and reduced.
                    let shares: Vec<TenantShare> = diesel::sql_query(format!(
                        "SELECT tenant_id, sum(size)::int8 AS bytes, count(*) AS messages
                         FROM messages{suffix} GROUP BY tenant_id ORDER BY tenant_id"
                    ))
                    .load(conn)
                    .await?;
                    let tenants: Vec<Uuid> = shares.iter().map(|share| share.tenant_id).collect();
                    Prepared::new(
                        "SELECT 1 FROM tenant_usage WHERE tenant_id = ANY($1)
                         ORDER BY tenant_id FOR UPDATE",
                    )
                    .bind::<Array<SqlUuid>, _>(&tenants)
                    .execute(&mut &*conn)
                    .await?;
                    Prepared::new(
                        "UPDATE tenant_usage u SET stored_bytes = u.stored_bytes - d.bytes
                         FROM unnest($1::uuid[], $2::int8[]) AS d(tenant_id, bytes)
                         WHERE u.tenant_id = d.tenant_id",
                    )
                    .bind::<Array<SqlUuid>, _>(&tenants)
                    .bind::<Array<BigInt>, _>(column(&shares, |share| share.bytes))
                    .execute(&mut &*conn)
                    .await?;
                    counts.0 = shares
                        .iter()
                        .map(|share| share.messages.unsigned_abs())
                        .sum();
                }
                if has_sources {
                    counts.1 = count(conn, &format!("raw_sources{suffix}")).await?;
                }
                conn.batch_execute(&format!(
                    "DROP TABLE IF EXISTS attachments{suffix}, messages{suffix}, \
                         raw_sources{suffix}"
                ))
                .await?;
                // Look-ups by id no longer follow rows into it (`models::bucket_move`).
                Prepared::new("DELETE FROM bucket_moves WHERE to_bucket = $1")
                    .bind::<Timestamptz, _>(bucket)
                    .execute(&mut &*conn)
                    .await?;
                Ok::<_, diesel::result::Error>(counts)
            })
            .await?;
        dropped.push(DroppedBucket {
            purge_at: bucket,
            messages,
            raw_sources,
        });
    }
    Ok(dropped)
}

async fn count(conn: &mut AsyncPgConnection, table: &str) -> diesel::QueryResult<u64> {
    let row: Count = diesel::sql_query(format!("SELECT count(*) AS count FROM {table}"))
        .get_result(conn)
        .await?;
    Ok(row.count.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn an_inbox_is_purged_at_the_end_of_its_bucket_never_before_it_expires() {
        let hourly = ExpiryBuckets::new(3600);
        assert_eq!(
            hourly.purge_at(at("2026-11-29T12:00:00Z")),
            at("2026-11-29T12:00:00Z")
        );
        assert_eq!(
            hourly.purge_at(at("2026-11-29T12:00:00.001Z")),
            at("2026-11-29T13:00:00Z")
        );
        assert_eq!(
            hourly.purge_at(at("2026-11-29T12:59:59Z")),
            at("2026-11-29T13:00:00Z")
        );
        let minutes = ExpiryBuckets::new(600);
        assert_eq!(
            minutes.purge_at(at("2026-11-29T12:01:00Z")),
            at("2026-11-29T12:10:00Z")
        );
    }

    #[test]
    fn partition_names_give_their_bucket() {
        assert_eq!(
            bucket_of("raw_sources_p20261129t130000"),
            Some(at("2026-11-29T13:00:00Z"))
        );
        assert_eq!(
            bucket_of("messages_p20261129t130000"),
            Some(at("2026-11-29T13:00:00Z"))
        );
        assert_eq!(bucket_of("messages"), None);
    }
}
