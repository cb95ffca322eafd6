//! Settings. Every one is a flag with an `EPHEMAIL_*` environment variable (`DATABASE_URL` for
//! the database), listed in `.env.example` and the README, and a key of the `--config` file
//! ([`file`]); all are validated before any port is bound.

pub mod file;

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use clap::Args;

use crate::{
    secret::Secret,
    webhooks::{target::TargetGuard, WebhookSettings},
};

use ephemail_mail::address::DomainName;
use ephemail_store::{
    delivery::DeliverySettings,
    models::{domain::DomainMode, quota::Limits},
    retention::RetentionSettings,
    DatabaseSettings,
};

#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// A TOML file of settings: its keys are `serve`'s flags' long names
    /// (`smtp-addr = "0.0.0.0:25"`). Flags and environment variables override it.
    #[arg(long, env = "EPHEMAIL_CONFIG")]
    pub config: Option<PathBuf>,

    /// PostgreSQL URL. Without it, ephemail runs a private PostgreSQL cluster under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// Directory of the embedded PostgreSQL cluster (used when DATABASE_URL is not set).
    #[arg(long, env = "EPHEMAIL_DATA_DIR", default_value = "ephemail-data")]
    pub data_dir: PathBuf,

    /// Directory holding `initdb` and `pg_ctl`; found on PATH or under /usr/lib/postgresql by default.
    #[arg(long, env = "EPHEMAIL_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "EPHEMAIL_DB_POOL_SIZE", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub db_pool_size: u16,
}

#[derive(Debug, Clone, Args)]
pub struct SmtpConfig {
    /// Address the SMTP server listens on (port 0 picks a free port).
    #[arg(long, env = "EPHEMAIL_SMTP_ADDR", default_value = "127.0.0.1:2525")]
    pub smtp_addr: SocketAddr,

    /// Host name announced in the SMTP greeting.
    #[arg(long, env = "EPHEMAIL_HOSTNAME", default_value = "localhost")]
    pub hostname: String,

    /// Largest message accepted, in bytes; larger ones get `552 5.3.4`.
    #[arg(long, env = "EPHEMAIL_MAX_MESSAGE_SIZE", default_value_t = 25 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub max_message_size: u64,

    /// Longest command line accepted, in bytes with its CRLF (RFC 5321 asks for at least 512);
    /// longer ones get `500 5.5.6`.
    #[arg(long, env = "EPHEMAIL_SMTP_MAX_LINE_LENGTH", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u16).range(512..=16 * 1024))]
    pub smtp_max_line_length: u16,

    /// Most recipients accepted for one message; more get `452 4.5.3`.
    #[arg(long, env = "EPHEMAIL_MAX_RECIPIENTS", default_value_t = 100,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_recipients: u16,

    /// Seconds a client may stay silent while we wait for a command.
    #[arg(long, env = "EPHEMAIL_SMTP_COMMAND_TIMEOUT", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub smtp_command_timeout: u64,

    /// Seconds allowed for receiving one message's DATA, from `354` to the final dot.
    #[arg(long, env = "EPHEMAIL_SMTP_DATA_TIMEOUT", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub smtp_data_timeout: u64,

    /// SMTP sessions open at once, in total; past it new connections get `421 4.7.0`.
    #[arg(long, env = "EPHEMAIL_SMTP_MAX_CONNECTIONS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub smtp_max_connections: u32,

    /// SMTP sessions open at once from one client IP address; past it `421 4.7.0`.
    #[arg(long, env = "EPHEMAIL_SMTP_MAX_CONNECTIONS_PER_IP", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub smtp_max_connections_per_ip: u32,

    /// New SMTP connections per minute from one client IP address; past it `421 4.7.0`.
    #[arg(long, env = "EPHEMAIL_SMTP_CONNECTIONS_PER_MINUTE_PER_IP", default_value_t = 6000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub smtp_connections_per_minute_per_ip: u32,

    /// Messages per minute from one client IP address; past it `MAIL FROM` gets `450 4.7.1`.
    #[arg(long, env = "EPHEMAIL_SMTP_MESSAGES_PER_MINUTE_PER_IP", default_value_t = 60000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub smtp_messages_per_minute_per_ip: u32,

    /// Failed commands one session may send (bad syntax, bad sequence, refused recipients);
    /// the next gets `421 4.7.0` and the connection is closed.
    #[arg(long, env = "EPHEMAIL_SMTP_MAX_ERRORS", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub smtp_max_errors: u16,

    /// PEM certificate chain for TLS; with `--tls-key`, EHLO offers `STARTTLS`.
    #[arg(long, env = "EPHEMAIL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "EPHEMAIL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Optional second SMTP address speaking implicit TLS from the first byte (port 465 style);
    /// needs `--tls-cert`.
    #[arg(long, env = "EPHEMAIL_SMTPS_ADDR", requires = "tls_cert")]
    pub smtps_addr: Option<SocketAddr>,
}

impl SmtpConfig {
    pub fn command_timeout(&self) -> Duration {
        Duration::from_secs(self.smtp_command_timeout)
    }

    pub fn data_timeout(&self) -> Duration {
        Duration::from_secs(self.smtp_data_timeout)
    }
}

#[derive(Debug, Clone, Args)]
pub struct HttpConfig {
    /// Address the HTTP server (GraphQL, downloads, health checks) listens on (port 0 picks a
    /// free port). Every API call needs an API key or inbox token; serve it to the internet
    /// with TLS (--http-tls-cert) or behind a TLS-terminating proxy.
    #[arg(long, env = "EPHEMAIL_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,

    /// Base URL clients reach the HTTP server at, for download links (e.g. https://mail.example.com).
    /// By default taken from each request's Host header.
    #[arg(long, env = "EPHEMAIL_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Public mode, for a temp-mail website: anonymous callers may create inboxes on shared
    /// domains and read them with the inbox token they get back.
    #[arg(long, env = "EPHEMAIL_PUBLIC_INBOXES")]
    pub public_inboxes: bool,

    /// In public mode, the longest lifetime in seconds of an anonymous caller's inbox (also when
    /// it is extended): an address on a shared domain is held for no longer than this.
    #[arg(long, env = "EPHEMAIL_PUBLIC_MAX_TTL", default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(60..))]
    pub public_max_ttl: u32,

    /// In public mode, anonymous inboxes one client IP address may create per minute.
    #[arg(long, env = "EPHEMAIL_PUBLIC_INBOXES_PER_MINUTE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub public_inboxes_per_minute: u32,

    /// Longest time in seconds a `waitForMessage` may hold a request; longer timeouts are capped.
    #[arg(long, env = "EPHEMAIL_MAX_WAIT", default_value_t = 120,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub max_wait: u32,

    /// How far back, in seconds, a `waitForMessage` or `messageReceived` without a cursor
    /// looks for mail no wait has returned yet (mail that landed just before the wait began).
    #[arg(long, env = "EPHEMAIL_WAIT_LOOKBACK", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub wait_lookback: u32,

    /// GraphQL introspection and "did you mean" field suggestions in errors. By default on,
    /// and off in public mode (`--public-inboxes`).
    #[arg(long, env = "EPHEMAIL_GRAPHQL_INTROSPECTION")]
    pub graphql_introspection: Option<bool>,

    /// Largest HTTP request body in bytes; larger ones get `413`.
    #[arg(long, env = "EPHEMAIL_MAX_REQUEST_BYTES", default_value_t = 256 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..))]
    pub max_request_bytes: u32,

    /// Longest time in seconds a GraphQL query or mutation may run (a `waitForMessage` may
    /// run `--max-wait` longer); past it the operation fails with `TIMEOUT`.
    #[arg(long, env = "EPHEMAIL_OPERATION_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub operation_timeout: u32,

    /// PEM certificate chain for HTTPS; with `--http-tls-key`, the HTTP server speaks only
    /// HTTPS and sends `Strict-Transport-Security`.
    #[arg(long, env = "EPHEMAIL_HTTP_TLS_CERT", requires = "http_tls_key")]
    pub http_tls_cert: Option<PathBuf>,

    /// PEM private key of `--http-tls-cert`.
    #[arg(long, env = "EPHEMAIL_HTTP_TLS_KEY", requires = "http_tls_cert")]
    pub http_tls_key: Option<PathBuf>,

    /// Seconds a client has to send a request's headers (slowloris); a kept-alive connection
    /// idle for 60 s is closed too.
    #[arg(long, env = "EPHEMAIL_HTTP_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub http_header_timeout: u32,

    /// Addresses or networks (CIDR) of the reverse proxies in front of the HTTP server, repeat
    /// or separate with commas. A request from one of them is taken to come from the address
    /// its `X-Forwarded-For` names (the last one not itself a trusted proxy), for the limits
    /// per client address and the logs; from anyone else the header is ignored.
    #[arg(long, env = "EPHEMAIL_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Origins (scheme://host[:port]) whose web pages may call the API from a browser (CORS);
    /// repeat or separate with commas. Without it no cross-origin page may.
    #[arg(long, env = "EPHEMAIL_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
}

impl HttpConfig {
    pub fn tls(&self) -> bool {
        self.http_tls_cert.is_some()
    }

    /// `http`, or `https` when served over TLS itself (behind a TLS-terminating proxy only
    /// --public-url can say so).
    pub fn scheme(&self) -> &'static str {
        if self.tls() {
            "https"
        } else {
            "http"
        }
    }

    /// Where clients reach the server, for links made outside a request (webhook payloads):
    /// --public-url, or the address the HTTP listener got (`bound`), or was given.
    pub fn base_url(&self, bound: Option<SocketAddr>) -> String {
        match &self.public_url {
            Some(public) => public.trim_end_matches('/').to_owned(),
            None => format!("{}://{}", self.scheme(), bound.unwrap_or(self.http_addr)),
        }
    }

    pub fn introspection(&self) -> bool {
        self.graphql_introspection.unwrap_or(!self.public_inboxes)
    }
}

#[derive(Debug, Clone, Args)]
pub struct InboxConfig {
    /// Lifetime in seconds of an inbox created without a TTL, or created by mail to a catch-all domain.
    #[arg(long, env = "EPHEMAIL_DEFAULT_TTL", default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub default_ttl: u32,

    /// Longest inbox lifetime in seconds that `createInbox` grants.
    #[arg(long, env = "EPHEMAIL_MAX_TTL", default_value_t = 7 * 24 * 3600,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_ttl: u32,
}

/// How long mail is kept, and the sweeper that deletes what has expired.
#[derive(Debug, Clone, Args)]
pub struct RetentionConfig {
    /// Oldest message kept, in seconds; older ones are deleted by the sweeper even if their
    /// inbox lives on. Without it, messages live as long as their inbox.
    #[arg(long, env = "EPHEMAIL_MAX_MESSAGE_AGE",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_message_age: Option<u32>,

    /// Messages kept per inbox; each new one past it deletes the oldest.
    #[arg(long, env = "EPHEMAIL_MAX_MESSAGES_PER_INBOX", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_messages_per_inbox: u32,

    /// Seconds between sweeps for expired inboxes and messages.
    #[arg(long, env = "EPHEMAIL_SWEEP_INTERVAL", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub sweep_interval: u32,

    /// Expired mail is freed in buckets of this many seconds of inbox expiry time: each bucket's
    /// messages are stored in partitions of their own, which the sweeper drops whole once every
    /// inbox in the bucket has expired (expired inboxes vanish from the API at once; their
    /// storage goes within this long). Fewer, wider buckets make lookups by message id cheaper.
    #[arg(long, env = "EPHEMAIL_PURGE_BUCKET", default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(60..=86_400))]
    pub purge_bucket: u32,

    /// Rows one sweep statement deletes at most: bounds how long it holds its locks.
    #[arg(long, env = "EPHEMAIL_SWEEP_BATCH", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub sweep_batch: u32,
}

/// Limits on GraphQL subscription connections (WebSocket).
#[derive(Debug, Clone, Args)]
pub struct WebSocketConfig {
    /// Seconds a new connection has to send an accepted `connection_init`; then it is closed
    /// with `4408`.
    #[arg(long, env = "EPHEMAIL_WS_INIT_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_init_timeout: u32,

    /// Seconds between the server's WebSocket pings. A connection from which nothing (not
    /// even a pong) arrived for three intervals is closed.
    #[arg(long, env = "EPHEMAIL_WS_PING_INTERVAL", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_ping_interval: u32,

    /// Seconds a message to a subscriber may take to be sent. A subscriber that stops reading
    /// is cut off after it, instead of having messages buffered for it; it resumes with `after`.
    #[arg(long, env = "EPHEMAIL_WS_SEND_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_send_timeout: u32,

    /// Subscriptions one connection may run at once.
    #[arg(long, env = "EPHEMAIL_WS_MAX_SUBSCRIPTIONS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_max_subscriptions: u32,

    /// Connections one API key, or one inbox token, may hold open at once.
    #[arg(long, env = "EPHEMAIL_WS_MAX_CONNECTIONS_PER_CREDENTIAL", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_max_connections_per_credential: u32,

    /// Connections one client IP address may hold open at once; more get HTTP `429`.
    #[arg(long, env = "EPHEMAIL_WS_MAX_CONNECTIONS_PER_IP", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_max_connections_per_ip: u32,
}

impl WebSocketConfig {
    pub fn init_timeout(&self) -> Duration {
        Duration::from_secs(self.ws_init_timeout.into())
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ws_ping_interval.into())
    }

    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.ws_send_timeout.into())
    }
}

/// Default per-tenant quotas; `ephemail tenant quota` overrides them per tenant.
#[derive(Debug, Clone, Args)]
pub struct QuotaConfig {
    /// Live inboxes a tenant may have at once (those the API created).
    #[arg(long, env = "EPHEMAIL_QUOTA_INBOXES", default_value_t = 1000,
          value_parser = clap::value_parser!(i32).range(0..))]
    pub quota_inboxes: i32,

    /// Live inboxes that mail to a tenant's catch-all domains may create; past it, mail to a new
    /// address gets `452 4.2.2` while existing inboxes still receive.
    #[arg(long, env = "EPHEMAIL_QUOTA_CATCH_ALL_INBOXES", default_value_t = 10_000,
          value_parser = clap::value_parser!(i32).range(0..))]
    pub quota_catch_all_inboxes: i32,

    /// Mails a tenant may receive per UTC day; more get `452 4.2.2`.
    #[arg(long, env = "EPHEMAIL_QUOTA_MAILS_PER_DAY", default_value_t = 10_000,
          value_parser = clap::value_parser!(i32).range(0..))]
    pub quota_mails_per_day: i32,

    /// API requests a tenant may make per minute; more get HTTP 429.
    #[arg(long, env = "EPHEMAIL_QUOTA_REQUESTS_PER_MINUTE", default_value_t = 600,
          value_parser = clap::value_parser!(i32).range(0..))]
    pub quota_requests_per_minute: i32,

    /// Bytes of stored messages a tenant may keep; mail past it gets `452 4.2.2`.
    #[arg(long, env = "EPHEMAIL_QUOTA_STORED_BYTES", default_value_t = 1 << 30,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub quota_stored_bytes: i64,
}

/// A network in CIDR notation, or one address (a network of one).
fn parse_network(value: &str) -> Result<ipnet::IpNet, String> {
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{value}` is neither an IP address nor a network like 10.0.0.0/8"))
}

/// `NAME[:catch_all|:registered]`, as given to `--domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    pub name: DomainName,
    pub mode: DomainMode,
}

impl FromStr for DomainSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, mode) = match s.split_once(':') {
            Some((name, mode)) => (name, mode.parse()?),
            None => (s, DomainMode::CatchAll),
        };
        let name = DomainName::parse(name).map_err(|e| e.to_string())?;
        Ok(Self { name, mode })
    }
}

/// What this process serves. By default everything; processes with different roles can share
/// one database (`DATABASE_URL`), so that the SMTP edge and the API scale and sit apart.
#[derive(Debug, Clone, Copy, Args)]
pub struct RoleConfig {
    /// Do not receive mail: no SMTP listener (an API-only process).
    #[arg(long, env = "EPHEMAIL_NO_SMTP")]
    pub no_smtp: bool,

    /// Do not serve the API: no HTTP listener at all (an SMTP-only process; scrape it on
    /// --metrics-addr).
    #[arg(long, env = "EPHEMAIL_NO_HTTP")]
    pub no_http: bool,

    /// Do not sweep expired mail here. Of the processes that may, one sweeps (the holder of a
    /// PostgreSQL advisory lock) and another takes over when it stops: this only keeps the work
    /// off this process.
    #[arg(long, env = "EPHEMAIL_NO_SWEEPER")]
    pub no_sweeper: bool,

    /// Do not send webhook deliveries from this process. Every process that sends them claims
    /// due deliveries from the database, so any number may, and none sends one twice at once.
    #[arg(long, env = "EPHEMAIL_NO_WEBHOOKS")]
    pub no_webhooks: bool,
}

impl RoleConfig {
    pub fn smtp(&self) -> bool {
        !self.no_smtp
    }

    pub fn http(&self) -> bool {
        !self.no_http
    }

    pub fn sweeper(&self) -> bool {
        !self.no_sweeper
    }

    pub fn webhooks(&self) -> bool {
        !self.no_webhooks
    }

    /// The roles served, by name, for logs and `/readyz`.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.smtp(), "smtp"),
            (self.http(), "http"),
            (self.sweeper(), "sweeper"),
            (self.webhooks(), "webhooks"),
        ]
        .into_iter()
        .filter_map(|(served, name)| served.then_some(name))
        .collect()
    }
}

/// Webhook deliveries: how they are sent and retried (docs/webhooks.md).
#[derive(Debug, Clone, Args)]
pub struct WebhookConfig {
    /// Let webhooks target loopback, private-network and link-local addresses. Without it,
    /// such URLs are refused, and so is a name that resolves to such an address when a
    /// delivery is sent (a name that changes its answer cannot reach inside either).
    #[arg(long, env = "EPHEMAIL_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,

    /// Seconds an endpoint has to answer a delivery; then the attempt failed.
    #[arg(long, env = "EPHEMAIL_WEBHOOK_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=120))]
    pub webhook_timeout: u32,

    /// Deliveries sent to one endpoint at once, per process.
    #[arg(long, env = "EPHEMAIL_WEBHOOK_CONCURRENCY", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub webhook_concurrency: u32,

    /// Seconds before each retry of a failed delivery, comma-separated (each with up to a fifth
    /// of random jitter); after the last, the delivery is dead. A 429 or 503 answer's
    /// Retry-After is honoured instead, up to a day. The default spreads ten attempts over
    /// about a day.
    #[arg(long, env = "EPHEMAIL_WEBHOOK_RETRIES", value_delimiter = ',',
          default_value = "5,30,120,600,1800,3600,10800,21600,43200",
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub webhook_retries: Vec<u32>,

    /// Seconds an endpoint may fail every attempt before it is disabled (its events are then
    /// not recorded until `enableWebhook`).
    #[arg(long, env = "EPHEMAIL_WEBHOOK_DISABLE_AFTER", default_value_t = 5 * 86_400,
          value_parser = clap::value_parser!(u32).range(60..))]
    pub webhook_disable_after: u32,

    /// Seconds finished deliveries (and their attempts' log) are kept.
    #[arg(long, env = "EPHEMAIL_WEBHOOK_LOG_RETENTION", default_value_t = 7 * 86_400,
          value_parser = clap::value_parser!(u32).range(60..))]
    pub webhook_log_retention: u32,

    /// Webhooks a tenant may have.
    #[arg(long, env = "EPHEMAIL_WEBHOOKS_PER_TENANT", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub webhooks_per_tenant: u32,
}

/// What an operator sees of the process: metrics and logs.
#[derive(Debug, Clone, Args)]
pub struct TelemetryConfig {
    /// Address of a listener of its own for `/metrics`, `/healthz` and `/readyz`, so that a
    /// process without HTTP can be scraped. With it, --http-addr serves the health checks but
    /// not `/metrics`, which then stays off the listener that faces clients.
    #[arg(long, env = "EPHEMAIL_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// `pretty` (text lines) or `json` (one JSON object per line, with the fields of the
    /// enclosing spans). The level and filters come from `EPHEMAIL_LOG` (default `info`).
    #[arg(long, env = "EPHEMAIL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub roles: RoleConfig,
    #[command(flatten)]
    pub telemetry: TelemetryConfig,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub smtp: SmtpConfig,
    #[command(flatten)]
    pub http: HttpConfig,
    #[command(flatten)]
    pub inbox: InboxConfig,
    #[command(flatten)]
    pub quota: QuotaConfig,
    #[command(flatten)]
    pub retention: RetentionConfig,
    #[command(flatten)]
    pub websocket: WebSocketConfig,
    #[command(flatten)]
    pub webhooks: WebhookConfig,

    /// A domain to serve, `NAME[:catch_all|:registered]` (repeatable; catch_all by default).
    /// Added to the stored domains at start-up. With none given and none stored, `localhost`
    /// is served as catch-all; in public mode, with none given and no registered domain stored,
    /// as registered (shared), for the anonymous visitors' inboxes.
    #[arg(long = "domain", env = "EPHEMAIL_DOMAINS", value_delimiter = ',')]
    pub domains: Vec<DomainSpec>,

    /// Tenant that owns the catch-all domains given with --domain (created if missing); the
    /// registered ones are shared by all tenants.
    #[arg(long, env = "EPHEMAIL_DOMAIN_TENANT", default_value = "dev")]
    pub domain_tenant: String,

    /// An API key (`ek_` and 43 base64url characters) that becomes the admin key of
    /// --domain-tenant when the database has no key yet, instead of a random one printed at
    /// start: so that automation knows the key without reading output. Never logged.
    #[arg(long, env = "EPHEMAIL_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub bootstrap_api_key: Option<Secret>,

    /// Secret (at least 32 bytes) that signs inbox tokens. Without it, the first start generates
    /// one and stores it in the database, shared by every process on it.
    #[arg(long, env = "EPHEMAIL_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Seconds to let in-flight SMTP sessions and HTTP requests finish on shutdown.
    #[arg(long, env = "EPHEMAIL_SHUTDOWN_GRACE", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "EPHEMAIL_BOOTSTRAP_API_KEY must be `ek_` followed by 43 base64url characters (A-Z, \
         a-z, 0-9, - and _), as `ephemail key create` makes them"
    )]
    BootstrapApiKey,
    #[error("--default-ttl ({default}s) must not exceed --max-ttl ({max}s)")]
    DefaultTtlOverMax { default: u32, max: u32 },
    #[error("{0} and {1} must differ (both are {2})")]
    SameAddress(&'static str, &'static str, SocketAddr),
    #[error(
        "--no-smtp, --no-http, --no-sweeper and --no-webhooks together leave this process \
         nothing to do"
    )]
    NothingToServe,
    #[error("{0} and {1} go together: give both or neither")]
    HalfTls(&'static str, &'static str),
    #[error("--hostname `{0}` is not a valid host name")]
    Hostname(String),
    #[error(
        "--jwt-secret must be at least {} bytes",
        crate::auth::inbox_token::MIN_SECRET_LEN
    )]
    ShortJwtSecret,
    #[error("--public-url `{0}` must start with http:// or https://")]
    PublicUrl(String),
}

impl ServeConfig {
    /// Checks what clap's per-flag parsers cannot: relations between settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.inbox.default_ttl > self.inbox.max_ttl {
            return Err(ConfigError::DefaultTtlOverMax {
                default: self.inbox.default_ttl,
                max: self.inbox.max_ttl,
            });
        }
        if self.roles.names().is_empty() {
            return Err(ConfigError::NothingToServe);
        }
        self.check_addresses_differ()?;
        if self.smtp.tls_cert.is_some() != self.smtp.tls_key.is_some() {
            return Err(ConfigError::HalfTls("--tls-cert", "--tls-key"));
        }
        if self.http.http_tls_cert.is_some() != self.http.http_tls_key.is_some() {
            return Err(ConfigError::HalfTls("--http-tls-cert", "--http-tls-key"));
        }
        if let Some(url) = &self.http.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::PublicUrl(url.clone()));
            }
        }
        if self
            .jwt_secret
            .as_ref()
            .is_some_and(|secret| secret.expose().len() < crate::auth::inbox_token::MIN_SECRET_LEN)
        {
            return Err(ConfigError::ShortJwtSecret);
        }
        if DomainName::parse(&self.smtp.hostname).is_err() {
            return Err(ConfigError::Hostname(self.smtp.hostname.clone()));
        }
        if self
            .bootstrap_api_key
            .as_ref()
            .is_some_and(|key| !crate::auth::api_key::is_well_formed(key.expose()))
        {
            return Err(ConfigError::BootstrapApiKey);
        }
        Ok(())
    }

    /// The listeners this process opens must not share a fixed address (port 0 picks a free one).
    fn check_addresses_differ(&self) -> Result<(), ConfigError> {
        let roles = &self.roles;
        let listeners = [
            (roles.smtp(), "--smtp-addr", Some(self.smtp.smtp_addr)),
            (roles.smtp(), "--smtps-addr", self.smtp.smtps_addr),
            (roles.http(), "--http-addr", Some(self.http.http_addr)),
            (true, "--metrics-addr", self.telemetry.metrics_addr),
        ];
        let open: Vec<(&'static str, SocketAddr)> = listeners
            .into_iter()
            .filter_map(|(served, flag, addr)| addr.filter(|_| served).map(|addr| (flag, addr)))
            .filter(|(_, addr)| addr.port() != 0)
            .collect();
        for (index, (flag, addr)) in open.iter().enumerate() {
            if let Some((other, _)) = open[index + 1..].iter().find(|(_, a)| a == addr) {
                return Err(ConfigError::SameAddress(flag, other, *addr));
            }
        }
        Ok(())
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace)
    }

    /// Every tenant's limits unless overridden (`--quota-*`), and the server-wide maximums of
    /// lifetime and message size.
    pub fn server_limits(&self) -> Limits {
        let quota = &self.quota;
        Limits {
            inboxes: quota.quota_inboxes,
            mails_per_day: quota.quota_mails_per_day,
            requests_per_minute: quota.quota_requests_per_minute,
            stored_bytes: quota.quota_stored_bytes,
            max_ttl_seconds: i32::try_from(self.inbox.max_ttl).unwrap_or(i32::MAX),
            max_message_size: i64::try_from(self.smtp.max_message_size).unwrap_or(i64::MAX),
        }
    }

    pub fn delivery_settings(&self) -> DeliverySettings {
        DeliverySettings {
            limits: self.server_limits(),
            catch_all_ttl: chrono::Duration::seconds(i64::from(self.inbox.default_ttl)),
            catch_all_inboxes: self.quota.quota_catch_all_inboxes,
            max_messages_per_inbox: self.retention.max_messages_per_inbox,
        }
    }

    pub fn webhook_settings(&self) -> WebhookSettings {
        let webhooks = &self.webhooks;
        WebhookSettings {
            guard: self.webhook_guard(),
            timeout: Duration::from_secs(u64::from(webhooks.webhook_timeout)),
            per_endpoint: webhooks.webhook_concurrency,
            retries: (webhooks.webhook_retries.iter())
                .map(|&seconds| Duration::from_secs(u64::from(seconds)))
                .collect(),
            disable_after: chrono::Duration::seconds(i64::from(webhooks.webhook_disable_after)),
            poll: Duration::from_secs(1),
        }
    }

    pub fn webhook_guard(&self) -> TargetGuard {
        TargetGuard {
            allow_private: self.webhooks.webhook_allow_private,
        }
    }

    pub fn retention_settings(&self) -> RetentionSettings {
        let retention = &self.retention;
        RetentionSettings {
            interval: Duration::from_secs(u64::from(retention.sweep_interval)),
            batch: i64::from(retention.sweep_batch),
            max_message_age: retention
                .max_message_age
                .map(|age| chrono::Duration::seconds(i64::from(age))),
            webhook_log_retention: chrono::Duration::seconds(i64::from(
                self.webhooks.webhook_log_retention,
            )),
        }
    }
}

impl DatabaseConfig {
    pub fn settings(&self) -> DatabaseSettings {
        DatabaseSettings {
            url: self
                .database_url
                .as_ref()
                .map(|url| url.expose().to_owned()),
            data_dir: self.data_dir.clone(),
            pg_bin_dir: self.pg_bin_dir.clone(),
            pool_size: usize::from(self.db_pool_size),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_specs_default_to_catch_all() {
        let spec: DomainSpec = "Mail.Example.com".parse().expect("valid");
        assert_eq!(spec.name.as_str(), "mail.example.com");
        assert_eq!(spec.mode, DomainMode::CatchAll);
        let spec: DomainSpec = "example.org:registered".parse().expect("valid");
        assert_eq!(spec.mode, DomainMode::Registered);
        assert!("example.org:open".parse::<DomainSpec>().is_err());
        assert!("bad domain:catch_all".parse::<DomainSpec>().is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let secret: Secret = "postgres://u:hunter2@db/x".parse().expect("infallible");
        assert_eq!(format!("{secret:?}"), "[redacted]");
    }
}
