//! PostgreSQL: the connection pool, embedded migrations, the optional private cluster, and the
//! table models. Model functions return diesel's `QueryResult`; mapping to API errors happens in
//! [`crate::error`].

pub mod embedded;
pub mod models;
pub mod partitions;
pub mod prepared;
pub mod schema;

use anyhow::Context;
use diesel_async::{
    pooled_connection::{deadpool, AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod},
    AsyncMigrationHarness, AsyncPgConnection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseConfig;
use embedded::EmbeddedPostgres;

pub type Pool = deadpool::Pool<AsyncPgConnection>;
pub type PoolError = deadpool::PoolError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub fn pool(url: &str, size: usize) -> anyhow::Result<Pool> {
    let mut config = ManagerConfig::default();
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

/// Applies pending migrations. Needs the multi-threaded tokio runtime (diesel's migration
/// harness is synchronous and runs under `block_in_place`).
pub async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    let conn = pool.get().await.context("connecting to the database")?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
    for version in applied {
        tracing::info!(%version, "applied migration");
    }
    Ok(())
}

/// A migrated database, and the private cluster behind it when there is one.
pub struct Database {
    pub pool: Pool,
    pub url: String,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts (or reuses) the embedded cluster; then migrates.
    pub async fn open(config: &DatabaseConfig) -> anyhow::Result<Self> {
        let (url, embedded) = match &config.database_url {
            Some(url) => (url.expose().to_owned(), None),
            None => {
                let cluster =
                    EmbeddedPostgres::start(&config.data_dir, config.pg_bin_dir.as_deref()).await?;
                (cluster.database_url("ephemail"), Some(cluster))
            }
        };
        let pool = pool(&url, usize::from(config.db_pool_size))?;
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
