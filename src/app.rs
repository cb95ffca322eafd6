//! The composition root: builds every part from the configuration, hands each the narrow
//! handles it needs, and runs the servers as supervised tasks. Nothing else imports this module.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::{net::TcpListener, sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;

use ephemail_mail::sanitize::Sanitizer;
use ephemail_store::{
    clock::Clock,
    delivery::{DeliveryMetrics, MailDelivery},
    events::{self, EventBus, RelayMetrics},
    models::{
        domain::{self, Domain, DomainMode},
        quota::QuotaRefusals,
        tenant, Viewer,
    },
    partitions::ExpiryBuckets,
    retention::Sweeper,
    Pool,
};

use crate::{
    api::{Api, ApiHandles},
    auth::{inbox_token::InboxTokens, per_address::PerAddress, public::PublicInboxes},
    config::ServeConfig,
    content::Contents,
    http::Readiness,
    service::webhook::WebhookRules,
    smtp::{metrics::SmtpMetrics, session::SmtpEdge},
    telemetry::{api::ApiMetrics, metrics::Exposition},
    webhooks::{metrics::WebhookMetrics, Dispatcher},
};

/// The parts, built and wired; cheap to clone.
#[derive(Clone)]
pub struct App {
    pub config: Arc<ServeConfig>,
    /// What GraphQL and HTTP work with.
    pub api: Api,
    /// Where the SMTP edge hands accepted mail.
    pub delivery: MailDelivery,
    pub sweeper: Arc<Sweeper>,
    /// Sends webhook deliveries.
    pub dispatcher: Dispatcher,
    /// Every part's Prometheus series, for `GET /metrics`.
    pub metrics: Exposition,
    /// The series of the parts `Server` starts (registered here, with the others).
    smtp_metrics: SmtpMetrics,
    relay_metrics: RelayMetrics,
}

impl App {
    /// Builds the parts; loads (or on first start generates) the inbox-token signing secret.
    pub async fn build(
        config: ServeConfig,
        pool: Pool,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let inbox_tokens =
            InboxTokens::load(&pool, config.jwt_secret.as_ref(), clock.now()).await?;
        let public_inboxes = if config.http.public_inboxes {
            let mut conn = pool.get().await.context("connecting to the database")?;
            let per_minute = config.http.public_inboxes_per_minute;
            Some(PublicInboxes::open(&mut conn, per_minute, clock.clone()).await?)
        } else {
            None
        };
        let mut registry = Registry::default();
        crate::telemetry::metrics::register_build_info(&mut registry);
        ephemail_store::register_pool_metrics(&mut registry, &pool);
        let events = Arc::new(EventBus::default());
        let buckets = Arc::new(ExpiryBuckets::new(config.retention.purge_bucket));
        // Ingest, the API and the dispatcher share it: deliveries recorded go out at once.
        let webhooks_due = Arc::new(Notify::new());
        // One series for the quota refusals of mail and of the API.
        let quota_refusals = QuotaRefusals::register(&mut registry);
        let delivery = MailDelivery::start(
            pool.clone(),
            clock.clone(),
            events.clone(),
            buckets.clone(),
            config.delivery_settings(),
            DeliveryMetrics::register(&mut registry, quota_refusals.clone()),
            webhooks_due.clone(),
        );
        // One cache of derived message contents for the API and the webhook payloads.
        let contents = Contents::default();
        let dispatcher = Dispatcher::new(
            pool.clone(),
            clock.clone(),
            contents.clone(),
            config.webhook_settings(),
            webhooks_due.clone(),
            WebhookMetrics::register(&mut registry),
            delivery.load(),
        )?;
        let sweeper = Arc::new(Sweeper::new(
            pool.clone(),
            clock.clone(),
            events.clone(),
            config.retention_settings(),
            &mut registry,
        ));
        // Each client address gets as many requests without a tenant (or as a visitor in public
        // mode) as a tenant gets.
        let per_address_requests = PerAddress::new(
            u32::try_from(config.quota.quota_requests_per_minute).unwrap_or(0),
            clock.clone(),
        );
        let api = Api::new(ApiHandles {
            limits: config.server_limits(),
            config: config.clone(),
            pool,
            clock,
            events,
            buckets,
            sanitizer: Sanitizer::default(),
            contents,
            inbox_tokens,
            public_inboxes,
            per_address_requests,
            metrics: ApiMetrics::register(&mut registry),
            quota_refusals,
            webhooks: WebhookRules {
                guard: config.webhook_guard(),
                per_tenant: i64::from(config.webhooks.webhooks_per_tenant),
                due: webhooks_due,
            },
        });
        let smtp_metrics = SmtpMetrics::register(&mut registry);
        let relay_metrics = RelayMetrics::register(&mut registry);
        Ok(Self {
            config,
            api,
            delivery,
            sweeper,
            dispatcher,
            metrics: Exposition::new(registry),
            smtp_metrics,
            relay_metrics,
        })
    }

    /// Stores the `--domain`s. Without any, a first run just works: with no domain stored,
    /// `localhost` is served as catch-all; in public mode, with no shared domain stored,
    /// `localhost` is served as registered instead, so that anonymous visitors have a domain to
    /// create inboxes on (a catch-all domain belongs to one tenant, and would let anyone read
    /// mail sent to any address). Catch-all domains belong to `--domain-tenant`; registered ones
    /// are shared by all tenants.
    async fn configure_domains(&self) -> anyhow::Result<()> {
        let mut conn = (self.api.pool.get().await).context("connecting to the database")?;
        let now = self.api.clock.now();
        let mut wanted: Vec<(&str, DomainMode)> = self
            .config
            .domains
            .iter()
            .map(|spec| (spec.name.as_str(), spec.mode))
            .collect();
        if wanted.is_empty() {
            let stored = domain::list(&mut conn, Viewer::System).await?;
            if self.api.public_inboxes.is_some() {
                if !stored.iter().any(|domain| domain.tenant_id.is_none()) {
                    wanted.push(("localhost", DomainMode::Registered));
                }
            } else if stored.is_empty() {
                wanted.push(("localhost", DomainMode::CatchAll));
            }
        }
        for (name, mode) in wanted {
            // Catch-all domains create inboxes by themselves, so they need an owner.
            let tenant_id = match mode {
                DomainMode::CatchAll => {
                    let owner = &self.config.domain_tenant;
                    Some(tenant::find_or_create(&mut conn, owner, now).await?.id)
                }
                DomainMode::Registered => None,
            };
            let domain = Domain {
                name: name.to_owned(),
                mode,
                created_at: now,
                tenant_id,
            };
            domain::upsert(&mut conn, &domain).await?;
        }
        for domain in domain::list(&mut conn, Viewer::System).await? {
            tracing::info!(domain = %domain.name, mode = %domain.mode, "serving domain");
        }
        Ok(())
    }
}

/// The servers of this process's roles (SMTP, HTTP, the sweeper, webhooks, and the metrics listener),
/// running as supervised tasks under one cancellation token.
pub struct Server {
    /// The SMTP address, unless `--no-smtp`.
    pub smtp_addr: Option<SocketAddr>,
    /// The implicit-TLS SMTP port, when configured (and SMTP is served).
    pub smtps_addr: Option<SocketAddr>,
    /// The HTTP address, unless `--no-http`.
    pub http_addr: Option<SocketAddr>,
    /// The `--metrics-addr` listener's address.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
}

impl Server {
    /// Binds the listeners of the configured roles (port 0 picks a free port) and starts
    /// serving. Every listener is bound before any task starts, so that a taken port fails
    /// the start rather than a half-started process.
    pub async fn start(app: App) -> anyhow::Result<Self> {
        app.configure_domains().await?;
        let config = &app.config;
        let roles = config.roles;
        let smtp = match roles.smtp() {
            true => Some(bind_smtp(&app).await?),
            false => None,
        };
        let http = match roles.http() {
            true => Some(bind("HTTP", config.http.http_addr).await?),
            false => None,
        };
        let metrics = match config.telemetry.metrics_addr {
            Some(addr) => Some(bind("metrics", addr).await?),
            None => None,
        };
        let mut server = Self {
            smtp_addr: smtp.as_ref().map(|l| l.plain.local_addr()).transpose()?,
            smtps_addr: (smtp.as_ref().and_then(|l| l.implicit_tls.as_ref()))
                .map(TcpListener::local_addr)
                .transpose()?,
            http_addr: http.as_ref().map(TcpListener::local_addr).transpose()?,
            metrics_addr: metrics.as_ref().map(TcpListener::local_addr).transpose()?,
            shutdown: CancellationToken::new(),
            tasks: JoinSet::new(),
        };
        let readiness = Readiness {
            pool: app.api.pool.clone(),
            events: app.api.events.clone(),
            roles,
        };
        if let Some(listeners) = smtp {
            let edge = SmtpEdge {
                config: Arc::new(config.smtp.clone()),
                clock: app.api.clock.clone(),
                delivery: app.delivery.clone(),
                shutdown_grace: config.shutdown_grace(),
                metrics: app.smtp_metrics.clone(),
            };
            server.spawn("smtp", |stop| crate::smtp::serve(listeners, edge, stop));
        }
        if roles.sweeper() {
            let sweeper = app.sweeper.clone();
            server.spawn("sweeper", |stop| async move { sweeper.run(stop).await });
        }
        if roles.webhooks() {
            let dispatcher = app.dispatcher.clone();
            let base_url = config.http.base_url(server.http_addr);
            server.spawn("webhooks", |stop| {
                dispatcher.run_in_background(base_url, stop)
            });
        }
        if let Some(listener) = http {
            // The API's waits and subscriptions learn of mail stored by other processes
            // through the relay; a process without the API has nobody to tell.
            let (pool, bus) = (app.api.pool.clone(), app.api.events.clone());
            let relay_metrics = app.relay_metrics.clone();
            server.spawn("events", |stop| {
                events::relay(pool, bus, relay_metrics, stop)
            });
            let (api, metrics, readiness) =
                (app.api.clone(), app.metrics.clone(), readiness.clone());
            server.spawn("http", |stop| {
                crate::http::serve(listener, api, metrics, readiness, stop)
            });
        }
        if let Some(listener) = metrics {
            let metrics = app.metrics.clone();
            server.spawn("metrics", |stop| {
                crate::http::serve_operations(listener, metrics, readiness, stop)
            });
        }
        tracing::info!(roles = ?roles.names(), "serving");
        Ok(server)
    }

    fn spawn<F>(&mut self, name: &'static str, task: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let running = task(self.shutdown.clone());
        self.tasks.spawn(async move { (name, running.await) });
    }

    /// Runs until `stop` resolves or a server dies, then shuts both down gracefully. Fails if
    /// any server failed.
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let mut failure = None;
        tokio::select! {
            () = stop => tracing::info!("shutting down"),
            Some(joined) = self.tasks.join_next() => {
                failure = Some(task_outcome(joined).err().unwrap_or_else(|| {
                    anyhow::anyhow!("a server stopped unexpectedly")
                }));
            }
        }
        self.shutdown.cancel();
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(error) = task_outcome(joined) {
                failure.get_or_insert(error);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.run_until(std::future::ready(())).await
    }
}

async fn bind(what: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {what} to {addr}"))
}

/// The SMTP listener, and the implicit-TLS one when configured, with the TLS acceptor.
async fn bind_smtp(app: &App) -> anyhow::Result<crate::smtp::Listeners> {
    let smtp = &app.config.smtp;
    let tls = match (&smtp.tls_cert, &smtp.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
        _ => None,
    };
    let implicit_tls = match smtp.smtps_addr {
        Some(addr) => Some(bind("SMTPS", addr).await?),
        None => None,
    };
    Ok(crate::smtp::Listeners {
        plain: bind("SMTP", smtp.smtp_addr).await?,
        implicit_tls,
        tls,
    })
}

fn task_outcome(
    joined: Result<(&'static str, anyhow::Result<()>), tokio::task::JoinError>,
) -> anyhow::Result<()> {
    let (name, result) = joined.context("server task panicked")?;
    result.with_context(|| format!("{name} server failed"))
}
