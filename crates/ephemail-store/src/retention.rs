//! Retention: the sweeper deletes expired inboxes, drops the expiry buckets (partitions of
//! messages, attachments and raw sources, see [`crate::partitions`]) whose inboxes have all
//! expired, and deletes messages older than `--max-message-age`. Row deletes go in statements of
//! at most `--sweep-batch` rows, paced so that a backlog never holds long locks or stalls ingest;
//! a bucket of a million expired messages is dropped whole, without touching its rows. With
//! several processes on one database, one sweeps: the one holding a PostgreSQL advisory lock,
//! which another takes over when it stops. (The cap on messages per inbox is applied at ingest, where the
//! inbox is at hand.)
//!
//! Readers never wait for the sweeper: an expired inbox and its messages are invisible from the
//! moment it expires (see `inbox::visible`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::{sql_types::Bool, QueryResult, QueryableByName};
use diesel_async::{pooled_connection::deadpool::Object, AsyncPgConnection, RunQueryDsl};
use futures::future::BoxFuture;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::Clock,
    events::EventBus,
    models::{inbox, message, webhook},
    partitions, Pool,
};

/// After each full batch the sweeper pauses this many times as long as the batch took: with a
/// backlog it is busy a fifth of the time (measured in `docs/performance.md`: ingest beside an
/// unpaced sweep of a million messages ran at half its speed).
const PAUSE_PER_BUSY: u32 = 4;

/// Arbitrary constant naming "the sweeper" among advisory locks.
const SWEEPER_LOCK: i64 = 0x7377_6565_7065_7221;

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub inboxes: u64,
    /// Messages in dropped buckets and messages past `--max-message-age`.
    pub messages: u64,
    /// Raw sources (with the attachments in them) in dropped buckets.
    pub raw_sources: u64,
    /// Expiry buckets dropped, each a partition of messages, attachments and raw sources.
    pub buckets: u64,
    /// Finished webhook deliveries past `--webhook-log-retention`.
    pub webhook_deliveries: u64,
    /// Bounded deletes run (each a statement that commits on its own).
    pub batches: u64,
}

/// What this process's sweeper has done, as Prometheus series (`ephemail_sweeper_*`).
#[derive(Debug, Clone, Default)]
struct SweeperMetrics {
    /// Sweeps this process ran (only the process holding the sweeper lock sweeps).
    runs: Counter,
    /// 1 while this process holds the sweeper lock.
    leader: Gauge,
    failures: Counter,
    /// When the last sweep that ran finished, in Unix seconds.
    last_run: Gauge,
    deleted: Family<DeletedKind, Counter>,
    buckets_dropped: Counter,
}

/// The `kind`s of `ephemail_sweeper_deleted_total`, each from zero.
const DELETED_KINDS: [&str; 3] = ["inbox", "message", "raw_source"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeletedKind {
    kind: &'static str,
}

impl SweeperMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "ephemail_sweeper_runs",
            "Sweeps this process ran (only the process holding the sweeper lock sweeps)",
            metrics.runs.clone(),
        );
        registry.register(
            "ephemail_sweeper_leader",
            "1 while this process is the one sweeping (holds the sweeper lock), else 0",
            metrics.leader.clone(),
        );
        registry.register(
            "ephemail_sweeper_failures",
            "Sweeps that failed",
            metrics.failures.clone(),
        );
        registry.register(
            "ephemail_sweeper_last_run_timestamp_seconds",
            "When the last sweep finished (0: never)",
            metrics.last_run.clone(),
        );
        registry.register(
            "ephemail_sweeper_deleted",
            "Rows the sweeper deleted, by kind",
            metrics.deleted.clone(),
        );
        registry.register(
            "ephemail_sweeper_buckets_dropped",
            "Expiry buckets (partitions) the sweeper dropped whole",
            metrics.buckets_dropped.clone(),
        );
        for kind in DELETED_KINDS {
            metrics
                .deleted
                .get_or_create(&DeletedKind { kind })
                .inc_by(0);
        }
        metrics
    }

    fn record(&self, outcome: &anyhow::Result<SweepReport>, at: DateTime<Utc>) {
        match outcome {
            Ok(report) => {
                self.runs.inc();
                self.last_run.set(at.timestamp());
                for (kind, rows) in DELETED_KINDS.into_iter().zip([
                    report.inboxes,
                    report.messages,
                    report.raw_sources,
                ]) {
                    self.deleted
                        .get_or_create(&DeletedKind { kind })
                        .inc_by(rows);
                }
                self.buckets_dropped.inc_by(report.buckets);
            }
            Err(_) => {
                self.failures.inc();
            }
        }
    }
}

/// How the sweeper works: when, how much per statement, and what else it deletes.
#[derive(Debug, Clone, Copy)]
pub struct RetentionSettings {
    /// Between sweeps (`--sweep-interval`).
    pub interval: Duration,
    /// Rows per delete statement (`--sweep-batch`).
    pub batch: i64,
    /// Messages older than this are deleted whatever their inbox (`--max-message-age`).
    pub max_message_age: Option<chrono::Duration>,
    /// Finished webhook deliveries are kept this long (`--webhook-log-retention`).
    pub webhook_log_retention: chrono::Duration,
}

/// The sweeper, with the handles it works with.
pub struct Sweeper {
    pool: Pool,
    clock: Arc<dyn Clock>,
    events: Arc<EventBus>,
    settings: RetentionSettings,
    metrics: SweeperMetrics,
}

impl Sweeper {
    pub fn new(
        pool: Pool,
        clock: Arc<dyn Clock>,
        events: Arc<EventBus>,
        settings: RetentionSettings,
        registry: &mut Registry,
    ) -> Self {
        Self {
            pool,
            clock,
            events,
            settings,
            metrics: SweeperMetrics::register(registry),
        }
    }

    /// Sweeps every `--sweep-interval` until `shutdown`, while this process is the sweeper: it
    /// holds the sweeper lock on a connection of its own for as long as it can, so that of
    /// several processes on the database one sweeps, and another takes over within an interval
    /// of its stopping or losing its connection (which releases the lock).
    pub async fn run(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut lead: Option<AsyncPgConnection> = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.settings.interval) => {}
            }
            if lead.is_none() {
                lead = self.take_lead().await;
                self.metrics.leader.set(i64::from(lead.is_some()));
            }
            let Some(conn) = lead.as_mut() else {
                continue;
            };
            let outcome = self.sweep_locked(conn).await;
            match &outcome {
                Ok(report) => tracing::info!(
                    inboxes = report.inboxes,
                    messages = report.messages,
                    raw_sources = report.raw_sources,
                    buckets = report.buckets,
                    webhook_deliveries = report.webhook_deliveries,
                    batches = report.batches,
                    "swept expired mail"
                ),
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "sweeping failed");
                    // The connection may be the trouble: drop it (and the lock with it) and
                    // compete for the lead again.
                    lead = None;
                    self.metrics.leader.set(0);
                }
            }
            self.metrics.record(&outcome, self.clock.now());
        }
    }

    /// A connection of its own (out of the pool) holding the sweeper lock, or `None` when
    /// another process holds it or the database cannot be reached.
    async fn take_lead(&self) -> Option<AsyncPgConnection> {
        let taken = async {
            let mut conn = Object::take(self.pool.get().await?);
            if !try_lock(&mut conn).await? {
                return anyhow::Ok(None);
            }
            // See `sweep`: the sweeper's commits need not wait for the disk.
            diesel::sql_query("SET synchronous_commit = off")
                .execute(&mut conn)
                .await?;
            tracing::info!("this process is the sweeper now");
            Ok(Some(conn))
        };
        match taken.await {
            Ok(lead) => lead,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot compete for the sweeper lock"
                );
                None
            }
        }
    }

    /// One sweep at the injected clock's now, under the sweeper lock for its duration; `None`
    /// when another process (or this one's background task) holds the lock. (The background
    /// task's sweeps are counted in its metrics; a direct call is not.)
    pub async fn sweep(&self) -> anyhow::Result<Option<SweepReport>> {
        let mut conn = self
            .pool
            .get()
            .await
            .context("connecting to the database")?;
        if !try_lock(&mut conn).await? {
            return Ok(None);
        }
        // The sweeper's commits need not wait for their WAL to reach the disk: one lost in a
        // crash is redone by the next sweep. Not waiting keeps its many small commits from
        // queueing behind, and adding flushes to, the commits of ingest, whose `250` depends
        // on them.
        let swept = match diesel::sql_query("SET synchronous_commit = off")
            .execute(&mut conn)
            .await
        {
            Ok(_) => self.sweep_locked(&mut conn).await,
            Err(error) => Err(error.into()),
        };
        let restored = diesel::sql_query("RESET synchronous_commit")
            .execute(&mut conn)
            .await;
        if restored.is_err() || unlock(&mut conn).await.is_err() {
            // Closing the connection releases the lock; it must not go back to the pool
            // holding it.
            drop(Object::take(conn));
        }
        swept.map(Some)
    }

    async fn sweep_locked(&self, conn: &mut AsyncPgConnection) -> anyhow::Result<SweepReport> {
        let now = self.clock.now();
        let limit = self.settings.batch;
        let mut report = SweepReport::default();
        // Expired inboxes: their rows in batches, their listeners told. Their messages are
        // invisible already and stay in their expiry bucket until it is dropped below.
        loop {
            let started = Instant::now();
            let deleted = inbox::delete_expired(conn, now, limit)
                .await
                .context("deleting expired inboxes")?;
            report.batches += 1;
            report.inboxes += deleted.len() as u64;
            self.events.inboxes_deleted(conn, &deleted).await;
            if !more_after_pause(started, deleted.len(), limit).await {
                break;
            }
        }
        // Buckets whose inboxes have all expired, whole; a grace period for a delivery that
        // found its inbox live just before the end of its bucket and is still inserting into it.
        let cutoff = now - chrono::Duration::seconds(DROP_GRACE_SECONDS);
        for bucket in partitions::drop_ended(conn, cutoff)
            .await
            .context("dropping expired buckets")?
        {
            report.buckets += 1;
            report.messages += bucket.messages;
            report.raw_sources += bucket.raw_sources;
        }
        if let Some(age) = self.settings.max_message_age {
            let cutoff = now - age;
            let deleted = in_paced_batches(conn, limit, &mut report.batches, |conn| {
                Box::pin(message::delete_received_before(conn, cutoff, limit))
            });
            report.messages += deleted
                .await
                .context("deleting messages past the retention age")?;
        }
        let cutoff = now - self.settings.webhook_log_retention;
        let pruned = in_paced_batches(conn, limit, &mut report.batches, |conn| {
            Box::pin(webhook::prune(conn, cutoff, limit))
        });
        report.webhook_deliveries += pruned.await.context("deleting old webhook deliveries")?;
        webhook::delete_orphans(conn)
            .await
            .context("deleting the webhooks of deleted inboxes")?;
        Ok(report)
    }
}

/// See `sweep_locked`: longer than any delivery takes from reading its inbox to its commit.
const DROP_GRACE_SECONDS: i64 = 300;

/// Runs `delete`, a bounded delete of up to `limit` rows that commits on its own, until one is
/// not full ([`more_after_pause`] between them), each counted in `batches`; how many rows in all.
async fn in_paced_batches(
    conn: &mut AsyncPgConnection,
    limit: i64,
    batches: &mut u64,
    mut delete: impl for<'c> FnMut(&'c mut AsyncPgConnection) -> BoxFuture<'c, QueryResult<usize>>,
) -> QueryResult<u64> {
    let mut deleted = 0;
    loop {
        let started = Instant::now();
        let batch = delete(conn).await?;
        *batches += 1;
        deleted += batch as u64;
        if !more_after_pause(started, batch, limit).await {
            return Ok(deleted);
        }
    }
}

/// After a bounded delete that commits on its own (started at `started`): whether it was full,
/// so there may be more. If so it first pauses, so that a backlog is worked off at a fraction of
/// the database's time and ingest beside it keeps most of its speed.
async fn more_after_pause(started: Instant, deleted: usize, limit: i64) -> bool {
    if (deleted as i64) < limit {
        return false;
    }
    tokio::time::sleep(started.elapsed() * PAUSE_PER_BUSY).await;
    true
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Takes the sweeper lock for this connection's session, if no other session holds it.
pub async fn try_lock(conn: &mut AsyncPgConnection) -> diesel::QueryResult<bool> {
    let row: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<diesel::sql_types::BigInt, _>(SWEEPER_LOCK)
        .get_result(conn)
        .await?;
    Ok(row.locked)
}

async fn unlock(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    let row: Locked = diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked")
        .bind::<diesel::sql_types::BigInt, _>(SWEEPER_LOCK)
        .get_result(conn)
        .await?;
    if row.locked {
        Ok(())
    } else {
        Err(diesel::result::Error::NotFound)
    }
}
