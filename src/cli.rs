//! The command line: `serve`, `migrate`, `schema` and `domain add|list|remove`.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::{
    app::{App, Server},
    clock::{Clock, SystemClock},
    config::{DatabaseConfig, DomainSpec, ServeConfig},
    db::{
        models::domain::{self, Domain},
        Database,
    },
};

#[derive(Debug, Parser)]
#[command(
    name = "ephemail",
    version,
    about = "Disposable email for developers: SMTP in, GraphQL out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the SMTP and HTTP servers (on a private PostgreSQL unless DATABASE_URL is set).
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations, then exit.
    Migrate(DatabaseConfig),
    /// Print the GraphQL schema (SDL), as checked in at schema.graphql.
    Schema,
    /// Manage the domains ephemail receives mail for.
    #[command(subcommand)]
    Domain(DomainCommand),
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Serve a domain, or change its mode: NAME[:catch_all|:registered].
    Add {
        domain: DomainSpec,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// List the served domains.
    List {
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Stop serving a domain, deleting its inboxes and messages.
    Remove {
        name: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(config) => serve(*config).await,
        Command::Migrate(database) => with_database(&database, async |_| Ok(())).await,
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Domain(command) => domain_command(command).await,
    }
}

/// Opens (and migrates) the database, runs `work`, then closes it, stopping an embedded cluster
/// this process started, whether `work` succeeded or not.
async fn with_database(
    config: &DatabaseConfig,
    work: impl AsyncFnOnce(&Database) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let database = Database::open(config).await?;
    let result = work(&database).await;
    let closed = database.close().await;
    result.and(closed)
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    config.validate()?;
    let database_config = config.database.clone();
    with_database(&database_config, async |database| {
        let app = App::new(config, database.pool.clone(), Arc::new(SystemClock));
        let server = Server::start(app).await?;
        match &database.embedded {
            Some(cluster) => println!(
                "database  embedded PostgreSQL in {}",
                cluster.pgdata().display()
            ),
            None => println!("database  DATABASE_URL"),
        }
        println!("smtp      {}", server.smtp_addr);
        println!("graphql   http://{}/graphql", server.http_addr);
        println!("health    http://{}/healthz", server.http_addr);
        println!("ephemail is ready; Ctrl-C stops it");
        server.run_until(shutdown_signal()).await
    })
    .await
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

async fn domain_command(command: DomainCommand) -> anyhow::Result<()> {
    match command {
        DomainCommand::Add {
            domain: spec,
            database,
        } => {
            with_database(&database, async |db| {
                let mut conn = db.pool.get().await?;
                let row = Domain {
                    name: spec.name.as_str().to_owned(),
                    mode: spec.mode,
                    created_at: SystemClock.now(),
                };
                domain::upsert(&mut conn, &row).await?;
                println!("{} {}", row.name, row.mode);
                Ok(())
            })
            .await
        }
        DomainCommand::List { database } => {
            with_database(&database, async |db| {
                let mut conn = db.pool.get().await?;
                for row in domain::list(&mut conn).await? {
                    println!("{} {}", row.name, row.mode);
                }
                Ok(())
            })
            .await
        }
        DomainCommand::Remove { name, database } => with_database(&database, async |db| {
            let mut conn = db.pool.get().await?;
            let name = name.to_ascii_lowercase();
            let removed = domain::delete(&mut conn, &name).await?;
            anyhow::ensure!(removed, "domain {name} is not served");
            println!("removed {name}");
            Ok(())
        })
        .await
        .context("removing the domain"),
    }
}
