//! The command line: `serve` and `config print`, `migrate`, `schema`, `domain add|list|remove`,
//! `tenant create|list` and `key create|list|revoke` on the database; `wait` and `tail` against
//! a running server ([`remote`]).

mod remote;

use std::{collections::HashMap, sync::Arc};

use anyhow::{bail, Context};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use uuid::Uuid;

use crate::{
    app::{App, Server},
    auth::api_key,
    config::{file::ConfigFile, DatabaseConfig, DomainSpec, LogFormat, ServeConfig},
    scope::Scope,
    service,
};
use ephemail_store::{
    clock::{Clock, SystemClock},
    events::EventBus,
    models::{
        domain::Domain,
        tenant::{self, Tenant, TenantLimits},
        Viewer,
    },
    Database,
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
    /// Show the settings `serve` would run with.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Apply pending database migrations, then exit.
    Migrate(DatabaseConfig),
    /// Print the GraphQL schema (SDL), as checked in at schema.graphql.
    Schema,
    /// Manage the domains ephemail receives mail for.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Manage tenants (isolated customers, each with its own inboxes and keys).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Wait for the next mail to an address on a running server and print its code (--code),
    /// a link (--link) or a summary line; fails after --timeout seconds.
    Wait(remote::WaitCommand),
    /// Print every mail to an address on a running server as it lands.
    Tail(remote::TailCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective settings (flags over environment over --config file over defaults)
    /// as a configuration file, each with where it came from; secrets are redacted.
    Print(Box<ServeConfig>),
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Serve a domain, or change it: NAME[:catch_all|:registered]. A catch-all domain belongs
    /// to a tenant; a registered domain without --tenant is shared by all tenants.
    Add {
        domain: DomainSpec,
        /// The tenant the domain is private to.
        #[arg(long)]
        tenant: Option<String>,
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

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        name: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// List the tenants.
    List {
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Set a tenant's quota overrides (each one not given goes back to the server default).
    Limits {
        name: String,
        /// Live inboxes at once.
        #[arg(long)]
        inboxes: Option<i32>,
        /// Mails received per UTC day.
        #[arg(long)]
        mails_per_day: Option<i32>,
        /// API requests per minute.
        #[arg(long)]
        requests_per_minute: Option<i32>,
        /// Bytes of stored messages.
        #[arg(long)]
        stored_bytes: Option<i64>,
        /// Longest inbox lifetime in seconds (capped by the server's --max-ttl).
        #[arg(long)]
        max_ttl: Option<i32>,
        /// Largest message in bytes (capped by the server's --max-message-size).
        #[arg(long)]
        max_message_size: Option<i32>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key and print it (once: only its hash is stored).
    Create {
        /// The tenant the key acts for.
        #[arg(long)]
        tenant: String,
        /// read, write (includes read) or admin (includes write, and manages tenants and keys).
        #[arg(long, default_value = "write")]
        scopes: Scope,
        /// A label to recognize the key by.
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// List keys (their ids and prefixes, never the keys).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Revoke a key by id; it stops working at once.
    Revoke {
        id: Uuid,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

/// The parsed command line, with the configuration file it named, if any.
pub struct Invocation {
    pub cli: Cli,
    matches: ArgMatches,
    file: Option<ConfigFile>,
}

impl Invocation {
    /// Parses `args` over the `--config` file's settings. On a bad command line or file it
    /// prints the problem and exits, as clap does.
    pub fn parse(args: Vec<std::ffi::OsString>) -> Self {
        let file = ConfigFile::find(&args).unwrap_or_else(|error| exit_with(&error));
        let command = match &file {
            Some(file) => file
                .apply_to_all(Cli::command())
                .unwrap_or_else(|error| exit_with(&error)),
            None => Cli::command(),
        };
        let matches = command.get_matches_from(args);
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
        Self { cli, matches, file }
    }

    /// How `serve` logs; other commands print for a person.
    pub fn log_format(&self) -> LogFormat {
        match &self.cli.command {
            Command::Serve(config) => config.telemetry.log_format,
            _ => LogFormat::Pretty,
        }
    }
}

/// Reports a bad configuration file as clap reports a bad flag, and exits with its code.
fn exit_with(error: &crate::config::file::FileError) -> ! {
    clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{error}\n")).exit()
}

pub async fn run(invocation: Invocation) -> anyhow::Result<()> {
    let Invocation { cli, matches, file } = invocation;
    match cli.command {
        Command::Serve(config) => serve(*config).await,
        Command::Config(ConfigCommand::Print(config)) => {
            config.validate()?;
            // The settings' names, actions and variables, for the values in the matches.
            let settings = <ServeConfig as clap::Args>::augment_args(clap::Command::new("print"));
            let print_matches = matches
                .subcommand_matches("config")
                .and_then(|config| config.subcommand_matches("print"))
                .context("config print's arguments")?;
            print!(
                "{}",
                crate::config::file::render(&settings, print_matches, file.as_ref())
            );
            Ok(())
        }
        Command::Migrate(database) => with_database(&database, async |_| Ok(())).await,
        Command::Schema => {
            print!("{}", crate::graphql::schema::sdl());
            Ok(())
        }
        Command::Domain(command) => domain_command(command).await,
        Command::Tenant(command) => tenant_command(command).await,
        Command::Key(command) => key_command(command).await,
        Command::Wait(command) => remote::wait(command).await,
        Command::Tail(command) => remote::tail(command).await,
    }
}

/// Opens (and migrates) the database, runs `work`, then closes it, stopping an embedded cluster
/// this process started, whether `work` succeeded or not.
async fn with_database(
    config: &DatabaseConfig,
    work: impl AsyncFnOnce(&Database) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let database = Database::open(&config.settings()).await?;
    let result = work(&database).await;
    let closed = database.close().await;
    result.and(closed)
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    config.validate()?;
    let database_config = config.database.clone();
    with_database(&database_config, async |database| {
        // A fresh embedded database gets a tenant and an admin key, so a first run just works;
        // any fresh database gets the operator's bootstrap key, which is not printed.
        let bootstrap = config.bootstrap_api_key.as_ref();
        let first_key = if database.embedded.is_some() || bootstrap.is_some() {
            let mut conn = database.pool.get().await?;
            let tenant = &config.domain_tenant;
            api_key::create_first(&mut conn, tenant, bootstrap, SystemClock.now())
                .await?
                .filter(|_| bootstrap.is_none())
        } else {
            None
        };
        let config_roles = config.roles;
        let app = App::build(config, database.pool.clone(), Arc::new(SystemClock)).await?;
        let server = Server::start(app).await?;
        match &database.embedded {
            Some(cluster) => println!(
                "database  embedded PostgreSQL in {}",
                cluster.pgdata().display()
            ),
            None => println!("database  DATABASE_URL"),
        }
        println!("roles     {}", config_roles.names().join(", "));
        if let Some(addr) = server.smtp_addr {
            println!("smtp      {addr}");
        }
        if let Some(addr) = server.smtps_addr {
            println!("smtps     {addr}");
        }
        if let Some(addr) = server.http_addr {
            println!("web       http://{addr}/");
            println!("graphql   http://{addr}/graphql");
            println!("health    http://{addr}/healthz");
        }
        if let Some(addr) = server.metrics_addr {
            println!("metrics   http://{addr}/metrics");
        }
        if let Some(key) = first_key {
            println!(
                "api key   {}  (admin key of tenant \"dev\"; shown only now)",
                key.expose()
            );
        }
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

async fn find_tenant(
    conn: &mut diesel_async::AsyncPgConnection,
    name: &str,
) -> anyhow::Result<Tenant> {
    tenant::find_by_name(conn, name)
        .await?
        .with_context(|| format!("no tenant named {name} (ephemail tenant create {name})"))
}

async fn domain_command(command: DomainCommand) -> anyhow::Result<()> {
    match command {
        DomainCommand::Add {
            domain: spec,
            tenant,
            database,
        } => {
            with_database(&database, async |db| {
                let mut conn = db.pool.get().await?;
                let owner = match tenant {
                    Some(name) => Some(find_tenant(&mut conn, &name).await?),
                    None => None,
                };
                let owner_id = owner.as_ref().map(|owner| owner.id);
                let now = SystemClock.now();
                match service::domain::add(&mut conn, &spec.name, spec.mode, owner_id, now).await? {
                    service::domain::AddOutcome::Added(added) => {
                        let owner_name = owner.map(|owner| owner.name);
                        println!("{}", describe(&added, owner_name.as_deref()));
                        Ok(())
                    }
                    service::domain::AddOutcome::CatchAllNeedsTenant => bail!(
                        "a catch-all domain creates inboxes by itself, so it belongs to a tenant: give --tenant"
                    ),
                }
            })
            .await
        }
        DomainCommand::List { database } => {
            with_database(&database, async |db| {
                let mut conn = db.pool.get().await?;
                let tenant_names: HashMap<Uuid, String> = service::tenant::list(&mut conn)
                    .await?
                    .into_iter()
                    .map(|tenant| (tenant.id, tenant.name))
                    .collect();
                for domain in service::domain::list(&mut conn, Viewer::System).await? {
                    // A tenant created since the tenants were read shows as its id.
                    let owner = domain.tenant_id.map(|id| {
                        tenant_names
                            .get(&id)
                            .cloned()
                            .unwrap_or_else(|| id.to_string())
                    });
                    println!("{}", describe(&domain, owner.as_deref()));
                }
                Ok(())
            })
            .await
        }
        DomainCommand::Remove { name, database } => with_database(&database, async |db| {
            let mut conn = db.pool.get().await?;
            // A process of its own: the servers on the database hear of the removed inboxes
            // through the notification sent with the removal.
            let events = EventBus::default();
            let removed = service::domain::remove(&mut conn, &events, &name).await?;
            let name = name.to_ascii_lowercase();
            anyhow::ensure!(removed, "domain {name} is not served");
            println!("removed {name}");
            Ok(())
        })
        .await
        .context("removing the domain"),
    }
}

/// `name mode owner`, the owner being a tenant's name or `shared`.
fn describe(domain: &Domain, owner: Option<&str>) -> String {
    let owner = owner.unwrap_or("shared");
    format!("{} {} {owner}", domain.name, domain.mode)
}

async fn tenant_command(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { name, database } => {
            with_database(&database, async |db| {
                let mut conn = db.pool.get().await?;
                match service::tenant::create(&mut conn, &name, SystemClock.now()).await? {
                    service::tenant::CreateOutcome::Created(created) => {
                        println!("{} {}", created.id, created.name);
                        Ok(())
                    }
                    service::tenant::CreateOutcome::NameTaken => {
                        bail!("a tenant named {} exists already", name.trim())
                    }
                }
            })
            .await
        }
        TenantCommand::Limits {
            name,
            inboxes,
            mails_per_day,
            requests_per_minute,
            stored_bytes,
            max_ttl,
            max_message_size,
            database,
        } => {
            with_database(&database, async |db| {
                let mut conn = db.pool.get().await?;
                let tenant = find_tenant(&mut conn, &name).await?;
                let limits = TenantLimits {
                    max_inboxes: inboxes,
                    max_mails_per_day: mails_per_day,
                    max_requests_per_minute: requests_per_minute,
                    max_stored_bytes: stored_bytes,
                    max_ttl_seconds: max_ttl,
                    max_message_size,
                };
                service::tenant::set_limits(&mut conn, tenant.id, &limits)
                    .await
                    .context("setting the limits (they must not be negative)")?;
                println!("{name} {limits:?}");
                Ok(())
            })
            .await
        }
        TenantCommand::List { database } => {
            with_database(&database, async |db| {
                let mut conn = db.pool.get().await?;
                for row in service::tenant::list(&mut conn).await? {
                    println!("{} {}", row.id, row.name);
                }
                Ok(())
            })
            .await
        }
    }
}

async fn key_command(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create {
            tenant,
            scopes,
            name,
            database,
        } => {
            with_database(&database, async |db| {
                let mut conn = db.pool.get().await?;
                let tenant = find_tenant(&mut conn, &tenant).await?;
                let now = SystemClock.now();
                match service::keys::create(&mut conn, tenant.id, &name, scopes, now).await? {
                    service::keys::CreateOutcome::Created { key, record } => {
                        eprintln!(
                            "created key {} ({scopes}) for tenant {}; it is shown only now:",
                            record.id, tenant.name
                        );
                        println!("{}", key.expose());
                        Ok(())
                    }
                    service::keys::CreateOutcome::TenantNotFound => {
                        bail!("no tenant named {}", tenant.name)
                    }
                }
            })
            .await
        }
        KeyCommand::List { tenant, database } => {
            with_database(&database, async |db| {
                let mut conn = db.pool.get().await?;
                let tenant_id = match tenant {
                    Some(name) => Some(find_tenant(&mut conn, &name).await?.id),
                    None => None,
                };
                for key in service::keys::list(&mut conn, tenant_id).await? {
                    let scope = api_key::scope_of(&key).map_or("none", Scope::as_str);
                    let state = if key.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{} {}… {scope} {state} {} {}",
                        key.id, key.prefix, key.tenant_id, key.name
                    );
                }
                Ok(())
            })
            .await
        }
        KeyCommand::Revoke { id, database } => {
            with_database(&database, async |db| {
                let mut conn = db.pool.get().await?;
                // A bus of its own: no work runs under keys here, but the servers on the
                // database hear the revocation through it.
                let events = EventBus::default();
                anyhow::ensure!(
                    service::keys::revoke(&mut conn, &events, id, SystemClock.now()).await?,
                    "no active key with id {id}"
                );
                println!("revoked {id}");
                Ok(())
            })
            .await
        }
    }
}
