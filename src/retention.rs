//! Retention: the sweeper deletes expired inboxes and messages older than
//! `--max-message-age`, in statements of at most `--sweep-batch` rows, so that a backlog of
//! millions never holds long locks or stalls ingest. With several processes on one database,
//! one sweeps at a time: a sweep runs only while it holds a PostgreSQL advisory lock. (The cap
//! on messages per inbox is applied at ingest, where the inbox is at hand.)
//!
//! Readers never wait for the sweeper: an expired inbox and its messages are invisible from the
//! moment it expires (see `inbox::visible`).

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::{sql_types::Bool, QueryableByName};
use diesel_async::{pooled_connection::deadpool::Object, AsyncPgConnection, RunQueryDsl};
use tokio_util::sync::CancellationToken;

use crate::{
    app::App,
    db::models::{inbox, message, raw_source},
};

/// Arbitrary constant naming "the sweeper" among advisory locks.
const SWEEPER_LOCK: i64 = 0x7377_6565_7065_7221;

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub inboxes: u64,
    pub messages: u64,
    /// Raw sources (with the attachments in them) no message points at any more.
    pub raw_sources: u64,
    /// Bounded delete statements run.
    pub statements: u64,
}

/// Sweeps every `--sweep-interval` seconds until `shutdown`.
pub async fn run(app: App, shutdown: CancellationToken) -> anyhow::Result<()> {
    let interval = Duration::from_secs(u64::from(app.config.retention.sweep_interval));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        match sweep(&app).await {
            Ok(Some(report)) => tracing::info!(
                inboxes = report.inboxes,
                messages = report.messages,
                raw_sources = report.raw_sources,
                statements = report.statements,
                "swept expired mail"
            ),
            Ok(None) => tracing::debug!("another process is sweeping"),
            Err(error) => tracing::error!(error = format!("{error:#}"), "sweeping failed"),
        }
    }
}

/// One sweep at the injected clock's now; `None` when another process is sweeping.
pub async fn sweep(app: &App) -> anyhow::Result<Option<SweepReport>> {
    let mut conn = app.pool.get().await.context("connecting to the database")?;
    if !try_lock(&mut conn).await? {
        return Ok(None);
    }
    let swept = sweep_locked(app, &mut conn).await;
    if unlock(&mut conn).await.is_err() {
        // Closing the connection releases the lock; it must not go back to the pool holding it.
        drop(Object::take(conn));
    }
    swept.map(Some)
}

async fn sweep_locked(app: &App, conn: &mut AsyncPgConnection) -> anyhow::Result<SweepReport> {
    let now = app.clock.now();
    let limit = i64::from(app.config.retention.sweep_batch);
    let mut sweep = Sweep {
        app,
        conn,
        limit,
        report: SweepReport::default(),
    };
    // Messages first, so that deleting an inbox never cascades to more than a few leftovers.
    sweep.report.messages += sweep
        .drain(Target::MessagesOfExpiredInboxes(now))
        .await
        .context("deleting messages of expired inboxes")?;
    sweep.report.inboxes += sweep
        .drain(Target::ExpiredInboxes(now))
        .await
        .context("deleting expired inboxes")?;
    if let Some(age) = app.config.retention.max_message_age {
        let cutoff = now - chrono::Duration::seconds(i64::from(age));
        sweep.report.messages += sweep
            .drain(Target::MessagesBefore(cutoff))
            .await
            .context("deleting messages past the retention age")?;
    }
    // A raw source is shared by the messages of one mail: it goes when the last one is gone.
    sweep.report.raw_sources += sweep
        .drain(Target::UnreferencedRawSources)
        .await
        .context("deleting unreferenced raw sources")?;
    Ok(sweep.report)
}

enum Target {
    MessagesOfExpiredInboxes(DateTime<Utc>),
    ExpiredInboxes(DateTime<Utc>),
    MessagesBefore(DateTime<Utc>),
    UnreferencedRawSources,
}

/// One sweep's connection, batch size and running totals.
struct Sweep<'a> {
    app: &'a App,
    conn: &'a mut AsyncPgConnection,
    limit: i64,
    report: SweepReport,
}

impl Sweep<'_> {
    /// Deletes `target` in statements of at most `limit` rows until none is left; returns how
    /// many. Listeners of a deleted inbox are told it is gone.
    async fn drain(&mut self, target: Target) -> diesel::QueryResult<u64> {
        let (conn, limit) = (&mut *self.conn, self.limit);
        let mut deleted = 0;
        loop {
            let batch = match target {
                Target::MessagesOfExpiredInboxes(now) => {
                    message::delete_of_expired_inboxes(conn, now, limit).await?
                }
                Target::ExpiredInboxes(now) => {
                    let ids = inbox::delete_expired(conn, now, limit).await?;
                    for &id in &ids {
                        self.app.events.inbox_deleted(id);
                    }
                    ids.len()
                }
                Target::MessagesBefore(cutoff) => {
                    message::delete_received_before(conn, cutoff, limit).await?
                }
                Target::UnreferencedRawSources => {
                    raw_source::delete_unreferenced(conn, limit).await?
                }
            };
            self.report.statements += 1;
            deleted += batch as u64;
            if (batch as i64) < limit {
                return Ok(deleted);
            }
            // Each batch commits on its own; let ingest and readers in between.
            tokio::task::yield_now().await;
        }
    }
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
