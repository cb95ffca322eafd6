//! ephemail's storage: every SQL statement of the project. The connection pool, embedded
//! migrations and the optional private cluster (here); the table models (`models`), expiry
//! partitions, quota accounting, the event bus and its relay between processes, retention, and
//! `delivery` (recipient checks and the group-commit writer that stores accepted mail).
//!
//! Parts take the narrow handles they need (pool, clock, event bus, limits); nothing here knows
//! of SMTP, HTTP or GraphQL. Model functions return diesel's `QueryResult`; the API maps errors.

pub mod clock;
pub mod connect;
pub mod delivery;
pub mod embedded;
pub mod events;
pub mod ids;
pub mod models;
pub mod partitions;
pub mod prepared;

pub mod retention;
pub mod schema;

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use diesel_async::{
    pooled_connection::{deadpool, AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod},
    AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures::FutureExt;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{gauge::ConstGauge, TypedMetric},
    registry::Registry,
};

use connect::ConnectionSettings;
use embedded::EmbeddedPostgres;

pub type Pool = deadpool::Pool<AsyncPgConnection>;
pub type PoolError = deadpool::PoolError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// A pool of connections to `url`, over TLS as its `sslmode` asks ([`connect`]); a malformed
/// URL or TLS setting is an error here, before anything connects.
pub fn pool(url: &str, size: usize) -> anyhow::Result<Pool> {
    let settings = Arc::new(ConnectionSettings::parse(url)?);
    tracing::info!(sslmode = %settings.ssl_mode(), max_connections = size, "database pool");
    let mut config = ManagerConfig::default();
    // Every connection, the ones taken out of the pool for good included (the ingest writer's,
    // the event relay's, the sweeper's), is made from the settings parsed once above; the URL
    // the manager is given is not read again.
    config.custom_setup = Box::new(move |_url| {
        let settings = settings.clone();
        async move { settings.connect().await }.boxed()
    });
    // No test query on every checkout (a round trip per use, two per mail on ingest): the pool
    // still drops connections whose socket has closed, and a failure on a connection that died
    // in between is a failed query like any other (SMTP answers 451, GraphQL INTERNAL).
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    deadpool::Pool::builder(manager)
        .max_size(size)
        // The connection used last is handed out next: the ingest writer takes one per batch,
        // and round-robin over the pool (FIFO) moved every batch to a PostgreSQL backend whose
        // caches had gone cold (measured in `docs/performance.md`).
        .queue_mode(::deadpool::managed::QueueMode::Lifo)
        .build()
        .context("building the database pool")
}

/// The pool's state as Prometheus gauges, read at every scrape: `ephemail_db_pool_connections`
/// by `state` (`idle`, `in_use`), `ephemail_db_pool_max_connections`, and
/// `ephemail_db_pool_waiting` (callers waiting for a connection). The connections that the
/// ingest writer and the event relay took out of the pool for good are not in it.
pub fn register_pool_metrics(registry: &mut Registry, pool: &Pool) {
    registry.register_collector(Box::new(PoolCollector(pool.clone())));
}

struct PoolCollector(Pool);

/// Not derived: the pool's manager holds the database URL, password included.
impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolCollector")
    }
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = self.0.status();
        let mut connections = encoder.encode_descriptor(
            "ephemail_db_pool_connections",
            "Database connections in the pool, by state.",
            None,
            ConstGauge::<usize>::TYPE,
        )?;
        for (state, count) in [
            ("idle", status.available),
            ("in_use", status.size.saturating_sub(status.available)),
        ] {
            ConstGauge::new(count).encode(connections.encode_family(&[("state", state)])?)?;
        }
        for (name, help, value) in [
            (
                "ephemail_db_pool_max_connections",
                "The most connections the pool opens (--db-pool-size).",
                status.max_size,
            ),
            (
                "ephemail_db_pool_waiting",
                "Callers waiting for a database connection.",
                status.waiting,
            ),
        ] {
            let gauge = encoder.encode_descriptor(name, help, None, ConstGauge::<usize>::TYPE)?;
            ConstGauge::new(value).encode(gauge)?;
        }
        Ok(())
    }
}

/// Applies pending migrations. Needs the multi-threaded tokio runtime (diesel's migration
/// harness is synchronous and runs under `block_in_place`).
pub async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.get().await.context("connecting to the database")?;
    // Processes starting together on one database take turns: the first applies what is
    // pending, the others then find nothing to do (rather than racing to create the same
    // tables). The lock is the session's, so it goes with the connection if anything fails.
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .await
        .context("waiting for other processes' migrations")?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
        .map_err(|error| error.to_string());
    let mut conn = harness.into_inner();
    let applied = match applied {
        Ok(applied) => applied,
        Err(error) => {
            // Closed rather than pooled: it holds the lock.
            drop(diesel_async::pooled_connection::deadpool::Object::take(
                conn,
            ));
            anyhow::bail!("running migrations: {error}");
        }
    };
    for version in applied {
        tracing::info!(%version, "applied migration");
    }
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .await
        .context("ending the migrations")?;
    Ok(())
}

/// Arbitrary constant naming "migrations" among advisory locks.
const MIGRATION_LOCK: i64 = 0x6d69_6772_6174_6521;

/// Whether the database answers a query.
pub async fn ping(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}

/// Where the database is, and how many connections to keep.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// A PostgreSQL URL; without one, a private cluster under `data_dir`.
    pub url: Option<String>,
    pub data_dir: PathBuf,
    /// Where `initdb` and `pg_ctl` are, when not on PATH or under /usr/lib/postgresql.
    pub pg_bin_dir: Option<PathBuf>,
    pub pool_size: usize,
}

/// A migrated database, and the private cluster behind it when there is one.
pub struct Database {
    pub pool: Pool,
    pub url: String,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts (or reuses) the embedded cluster; then migrates.
    pub async fn open(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let (url, embedded) = match &settings.url {
            Some(url) => (url.clone(), None),
            None => {
                let cluster =
                    EmbeddedPostgres::start(&settings.data_dir, settings.pg_bin_dir.as_deref())
                        .await?;
                (cluster.database_url("ephemail"), Some(cluster))
            }
        };
        let pool = pool(&url, settings.pool_size)?;
        migrate(&pool).await?;
        Ok(Self {
            pool,
            url,
            embedded,
        })
    }

    /// Stops the embedded cluster if this process started it.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close();
        match self.embedded {
            Some(cluster) => cluster.stop().await,
            None => Ok(()),
        }
    }
}
