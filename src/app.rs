//! The composition root: builds every part from the configuration, hands each the narrow
//! handles it needs, and runs the servers as supervised tasks. Nothing else imports this module.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::{net::TcpListener, task::JoinSet};
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
    auth::{inbox_token::InboxTokens, public::PublicInboxes},
    config::ServeConfig,
    smtp::{metrics::SmtpMetrics, session::SmtpEdge},
    telemetry::metrics::Exposition,
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
            Some(PublicInboxes::open(&mut conn, per_minute, clock.now()).await?)
        } else {
            None
        };
        let mut registry = Registry::default();
        crate::telemetry::metrics::register_build_info(&mut registry);
        let events = Arc::new(EventBus::default());
        let buckets = Arc::new(ExpiryBuckets::new(config.retention.purge_bucket));
        // One series for the quota refusals of mail and of the API.
        let quota_refusals = QuotaRefusals::register(&mut registry);
        let delivery = MailDelivery::start(
            pool.clone(),
            clock.clone(),
            events.clone(),
            buckets.clone(),
            config.delivery_settings(),
            DeliveryMetrics::register(&mut registry, quota_refusals.clone()),
        );
        let sweeper = Arc::new(Sweeper::new(
            pool.clone(),
            clock.clone(),
            events.clone(),
            config.retention_settings(),
            &mut registry,
        ));
        let api = Api::new(ApiHandles {
            limits: config.server_limits(),
            config: config.clone(),
            pool,
            clock,
            events,
            buckets,
            sanitizer: Sanitizer::default(),
            inbox_tokens,
            public_inboxes,
            quota_refusals,
        });
        let smtp_metrics = SmtpMetrics::register(&mut registry);
        let relay_metrics = RelayMetrics::register(&mut registry);
        Ok(Self {
            config,
            api,
            delivery,
            sweeper,
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

/// The SMTP and HTTP servers and the sweeper, running as supervised tasks under one cancellation token.
pub struct Server {
    pub smtp_addr: SocketAddr,
    /// The implicit-TLS SMTP port, when configured.
    pub smtps_addr: Option<SocketAddr>,
    pub http_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
}

impl Server {
    /// Binds both listeners (port 0 picks a free port) and starts serving.
    pub async fn start(app: App) -> anyhow::Result<Self> {
        app.configure_domains().await?;
        let smtp = TcpListener::bind(app.config.smtp.smtp_addr)
            .await
            .with_context(|| format!("binding SMTP to {}", app.config.smtp.smtp_addr))?;
        let http = TcpListener::bind(app.config.http.http_addr)
            .await
            .with_context(|| format!("binding HTTP to {}", app.config.http.http_addr))?;
        let tls = match (&app.config.smtp.tls_cert, &app.config.smtp.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
            _ => None,
        };
        let smtps = match app.config.smtp.smtps_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding SMTPS to {addr}"))?,
            ),
            None => None,
        };
        let smtp_addr = smtp.local_addr()?;
        let smtps_addr = smtps.as_ref().map(TcpListener::local_addr).transpose()?;
        let listeners = crate::smtp::Listeners {
            plain: smtp,
            implicit_tls: smtps,
            tls,
        };
        let http_addr = http.local_addr()?;
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let edge = SmtpEdge {
            config: Arc::new(app.config.smtp.clone()),
            clock: app.api.clock.clone(),
            delivery: app.delivery.clone(),
            shutdown_grace: app.config.shutdown_grace(),
            metrics: app.smtp_metrics.clone(),
        };
        let smtp_stop = shutdown.clone();
        tasks.spawn(async move { ("smtp", crate::smtp::serve(listeners, edge, smtp_stop).await) });
        let (sweeper, sweeper_stop) = (app.sweeper.clone(), shutdown.clone());
        tasks.spawn(async move { ("sweeper", sweeper.run(sweeper_stop).await) });
        let (relay_pool, relay_bus, relay_metrics, relay_stop) = (
            app.api.pool.clone(),
            app.api.events.clone(),
            app.relay_metrics.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            let relayed = events::relay(relay_pool, relay_bus, relay_metrics, relay_stop);
            ("events", relayed.await)
        });
        let http_stop = shutdown.clone();
        let (api, metrics) = (app.api.clone(), app.metrics.clone());
        tasks.spawn(async move {
            (
                "http",
                crate::http::serve(http, api, metrics, http_stop).await,
            )
        });
        Ok(Self {
            smtp_addr,
            smtps_addr,
            http_addr,
            shutdown,
            tasks,
        })
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

fn task_outcome(
    joined: Result<(&'static str, anyhow::Result<()>), tokio::task::JoinError>,
) -> anyhow::Result<()> {
    let (name, result) = joined.context("server task panicked")?;
    result.with_context(|| format!("{name} server failed"))
}
