//! Test harness: one throwaway PostgreSQL cluster per test process (started from the machine's
//! binaries through ephemail's own embedded-cluster code), a migrated template database, and a
//! fresh database cloned from it for every test. Servers bind 127.0.0.1:0.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, OnceLock},
};

use chrono::{TimeZone, Utc};
use clap::Parser;
use ephemail::{
    app::{App, Server},
    auth::api_key,
    config::ServeConfig,
    scope::Scope,
};
use ephemail_store::{clock::ManualClock, embedded::EmbeddedPostgres, models::tenant};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpStream,
    },
};

const TEMPLATE: &str = "ephemail_template";

struct TestCluster {
    cluster: EmbeddedPostgres,
}

/// The cluster, started once per test process and removed when the process exits.
fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        // A runtime of its own: the cluster outlives every test's runtime.
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                let dir = PathBuf::from(format!("/tmp/ephemail-test-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                let cluster = EmbeddedPostgres::start(&dir, None)
                    .await
                    .expect("starting the test PostgreSQL cluster");
                remove_when_process_exits(&dir, &cluster);
                cluster
                    .create_database(TEMPLATE, None)
                    .await
                    .expect("creating the template database");
                let pool = ephemail_store::pool(&cluster.database_url(TEMPLATE), 2).expect("pool");
                ephemail_store::migrate(&pool)
                    .await
                    .expect("migrating the template database");
                pool.close();
                TestCluster { cluster }
            })
        })
        .join()
        .expect("test cluster thread")
    })
}

/// A watchdog outside this process stops the cluster and deletes its files once we are gone.
pub fn remove_when_process_exits(dir: &std::path::Path, cluster: &EmbeddedPostgres) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         kill -QUIT $(head -n 1 '{pgdata}/postmaster.pid') 2>/dev/null; sleep 2; rm -rf '{dir}'",
        pid = std::process::id(),
        pgdata = cluster.pgdata().display(),
        dir = dir.display()
    );
    // `setsid --fork` detaches the watchdog into its own session and returns at once.
    let started = Command::new("setsid")
        .args(["--fork", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("starting the cluster watchdog");
    assert!(started.success(), "setsid failed: {started}");
}

/// A fresh, migrated database; returns its URL.
pub async fn fresh_database() -> String {
    new_database(Some(TEMPLATE)).await
}

/// A fresh database without any tables; returns its URL.
pub async fn empty_database() -> String {
    new_database(None).await
}

async fn new_database(template: Option<&str>) -> String {
    let cluster = &cluster().cluster;
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    cluster
        .create_database(&name, template)
        .await
        .expect("creating a test database");
    cluster.database_url(&name)
}

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    serve: ServeConfig,
}

pub struct TestApp {
    pub clock: ManualClock,
    /// An admin key of tenant `dev`, which owns the catch-all domain `localhost`.
    pub key: String,
    pub smtp_addr: SocketAddr,
    /// The implicit-TLS port, with `--smtps-addr`.
    pub smtps_addr: Option<SocketAddr>,
    pub http_addr: SocketAddr,
    pub database_url: String,
    /// The running server's state, for calling the library directly (e.g. one sweep).
    pub app: App,
    server: Server,
    http: reqwest::Client,
}

impl TestApp {
    /// Serves `localhost` (catch-all) and `registered.test` (registered).
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// As [`TestApp::spawn`], with extra `serve` flags.
    pub async fn spawn_with(extra: &[&str]) -> Self {
        Self::spawn_on(fresh_database().await, extra).await
    }

    /// As [`TestApp::spawn_with`], on a given migrated database.
    pub async fn spawn_on(database_url: String, extra: &[&str]) -> Self {
        let mut args = vec![
            "ephemail",
            "--database-url",
            &database_url,
            "--smtp-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--domain",
            "localhost:catch_all",
            "--domain",
            "registered.test:registered",
            "--shutdown-grace",
            "5",
        ];
        args.extend_from_slice(extra);
        let config = TestCli::try_parse_from(args).expect("test flags").serve;
        config.validate().expect("valid test config");
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap());
        let pool = ephemail_store::pool(&database_url, 8).expect("pool");
        let app = App::build(config, pool, Arc::new(clock.clone()))
            .await
            .expect("app state");
        let server = Server::start(app.clone()).await.expect("server start");
        let key = create_key(&database_url, "dev", Scope::Admin).await;
        Self {
            clock,
            key,
            smtp_addr: server.smtp_addr.expect("serving SMTP"),
            smtps_addr: server.smtps_addr,
            http_addr: server.http_addr.expect("serving HTTP"),
            database_url,
            app,
            server,
            http: reqwest::Client::new(),
        }
    }

    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    /// The body of a download (a raw source or an attachment) at `url`, with the default key.
    pub async fn download(&self, url: &str) -> Vec<u8> {
        let response = self.http.get(url).bearer_auth(&self.key).send().await;
        let response = response.unwrap().error_for_status().unwrap();
        response.bytes().await.unwrap().to_vec()
    }

    /// A new key of `scope` for the tenant called `tenant` (created if needed).
    pub async fn key_for(&self, tenant: &str, scope: Scope) -> String {
        create_key(&self.database_url, tenant, scope).await
    }

    /// Posts a GraphQL request with the default key and returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(Some(&self.key), query, variables).await
    }

    /// Posts a GraphQL request with `key` (`None`: no credentials).
    pub async fn graphql_as(&self, key: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self.http.post(self.url("/graphql"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("POST /graphql")
            .json()
            .await
            .expect("JSON response")
    }

    /// Like [`TestApp::graphql`], failing the test on any GraphQL error.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.graphql(query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// The messages of `address`'s inbox, newest first (empty if the inbox does not exist).
    pub async fn messages_of(&self, address: &str) -> Vec<Value> {
        let response = self
            .graphql(
                r#"query($a: String!) { inbox(address: $a) { messages(first: 100) {
                    edges { node { id subject text html size rcptTo mailFrom
                        attachments { filename contentType size } } } } } }"#,
                json!({ "a": address }),
            )
            .await;
        if let Some(errors) = response.get("errors") {
            assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{response:#}");
        }
        response["data"]["inbox"]["messages"]["edges"]
            .as_array()
            .map(|edges| edges.iter().map(|edge| edge["node"].clone()).collect())
            .unwrap_or_default()
    }

    pub async fn smtp(&self) -> SmtpConversation {
        SmtpConversation::connect(self.smtp_addr).await
    }

    /// The id of the live inbox at `address`, as GraphQL gives it.
    pub async fn inbox_id(&self, address: &str) -> Value {
        let found = self
            .data(
                "query($a: String!) { inbox(address: $a) { id } }",
                serde_json::json!({ "a": address }),
            )
            .await;
        found["inbox"]["id"].clone()
    }

    /// The ingest writer's batches so far by where their recipients came from
    /// (`ephemail_ingest_batch_recipients_total`): memory, changed memory, database.
    pub async fn batches_by_recipients_source(&self) -> [f64; 3] {
        let scrape = scrape_metrics(&self.url("/metrics")).await;
        ["memory", "changed_memory", "database"].map(|from| {
            let labels = [("from", from)];
            metric_value(&scrape, "ephemail_ingest_batch_recipients_total", &labels)
                .unwrap_or_else(|| panic!("no batches from {from}"))
        })
    }
}

/// Posts a GraphQL request (`{"query": ..., "variables": ...}`) to `url` as `credential` and
/// returns the whole response body: for servers other than a [`TestApp`].
pub async fn post_graphql(url: &str, credential: &str, request: Value) -> Value {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(credential)
        .json(&request)
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("JSON response")
}

/// A mail with a text part and a small PDF attachment (`a.pdf`, the bytes `%PDF-1.4\n`).
pub const MAIL_WITH_PDF: &str = "Subject: with file\r\nMIME-Version: 1.0\r\n\
    Content-Type: multipart/mixed; boundary=b\r\n\r\n\
    --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
    --b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\
    Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";

/// A new key of `scope` for the tenant called `tenant_name` (created if needed) in the database at
/// `database_url`.
pub async fn create_key(database_url: &str, tenant_name: &str, scope: Scope) -> String {
    use diesel_async::{AsyncConnection, AsyncPgConnection};
    let mut conn = AsyncPgConnection::establish(database_url).await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    let tenant = tenant::find_or_create(&mut conn, tenant_name, now)
        .await
        .unwrap();
    let (key, _) = api_key::create(&mut conn, tenant.id, "test", scope, now)
        .await
        .unwrap();
    key.expose().to_owned()
}

/// `ephemail serve` as a child process, with what it printed at start-up.
pub struct ServeProcess {
    pub child: std::process::Child,
    /// The SMTP address, unless it runs with `--no-smtp`.
    pub smtp: Option<SocketAddr>,
    /// The GraphQL URL, unless it runs with `--no-http`.
    pub graphql: Option<String>,
    /// The `--metrics-addr` listener's `/metrics` URL.
    pub metrics: Option<String>,
    /// The admin key printed on the first start of an empty embedded database.
    pub printed_key: Option<String>,
}

impl ServeProcess {
    /// Runs `ephemail serve` with `args` (and without any inherited `DATABASE_URL`) and waits
    /// until it is ready.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_logging(args, None, &[])
    }

    /// As [`ServeProcess::spawn`], writing its log (stderr, at debug level) to `log` if given,
    /// with the environment variables `envs`.
    pub fn spawn_logging(
        args: &[&str],
        log: Option<&std::path::Path>,
        envs: &[(&str, &str)],
    ) -> Self {
        Self::spawn_program(env!("CARGO_BIN_EXE_ephemail").as_ref(), args, log, envs)
    }

    /// As [`ServeProcess::spawn_logging`], running the executable at `program`.
    pub fn spawn_program(
        program: &std::path::Path,
        args: &[&str],
        log: Option<&std::path::Path>,
        envs: &[(&str, &str)],
    ) -> Self {
        use std::io::BufRead;
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
            None => Stdio::null(),
        };
        let mut child = Command::new(program)
            .arg("serve")
            .args(["--smtp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("DATABASE_URL")
            .env("EPHEMAIL_LOG", "debug")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawning ephemail serve");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let (mut smtp, mut graphql, mut metrics, mut printed_key) = (None, None, None, None);
        for line in stdout.lines() {
            let line = line.expect("reading serve's output");
            if let Some(addr) = line.strip_prefix("smtp      ") {
                smtp = Some(addr.parse().expect("smtp address"));
            }
            if let Some(url) = line.strip_prefix("graphql   ") {
                graphql = Some(url.to_owned());
            }
            if let Some(url) = line.strip_prefix("metrics   ") {
                metrics = Some(url.to_owned());
            }
            if let Some(printed) = line.strip_prefix("api key   ") {
                printed_key = printed.split_whitespace().next().map(str::to_owned);
            }
            if line.starts_with("ephemail is ready") {
                break;
            }
        }
        Self {
            child,
            smtp,
            graphql,
            metrics,
            printed_key,
        }
    }

    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp.expect("the process serves SMTP")
    }

    pub fn graphql_url(&self) -> &str {
        self.graphql.as_deref().expect("the process serves HTTP")
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).expect("signal");
    }

    pub async fn wait(mut self) -> std::process::ExitStatus {
        tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .expect("join")
            .expect("wait")
    }
}

/// A process still running when its test ends, passed or failed, is killed: a failing
/// assertion otherwise left a server (and its database connections) running after the suite.
impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The stored source without the `Received:` header ephemail put in front of it.
pub fn without_trace_header(raw: &[u8]) -> &[u8] {
    assert!(raw.starts_with(b"Received: from "), "no trace header");
    let mut rest = raw;
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("header line")
            + 2;
        rest = &rest[end..];
        if !rest.starts_with(b"\t") {
            return rest;
        }
    }
}

/// A raw SMTP client for asserting exact replies.
pub struct SmtpConversation {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    pub greeting: String,
}

impl SmtpConversation {
    pub async fn connect(addr: SocketAddr) -> Self {
        let (read, writer) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        let mut conversation = Self {
            reader: BufReader::new(read),
            writer,
            greeting: String::new(),
        };
        conversation.greeting = conversation.reply().await;
        conversation
    }

    /// Sends one command line and returns the reply (lines joined with `\n`).
    pub async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// Reads one (possibly multi-line) reply.
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = self.reader.read_line(&mut line).await.expect("read reply");
            assert!(read > 0, "connection closed; replies so far: {lines:?}");
            let line = line.trim_end().to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Whether the server closed the connection (within 5 s, with nothing more said).
    pub async fn closed(&mut self) -> bool {
        let mut line = String::new();
        let read = self.reader.read_line(&mut line);
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), read).await,
            Ok(Ok(0) | Err(_))
        )
    }

    /// A whole transaction; returns the reply to the end of DATA.
    pub async fn deliver(&mut self, from: &str, to: &[&str], message: &str) -> String {
        assert!(self
            .command(&format!("MAIL FROM:<{from}>"))
            .await
            .starts_with("250"));
        for rcpt in to {
            let reply = self.command(&format!("RCPT TO:<{rcpt}>")).await;
            assert!(reply.starts_with("250"), "RCPT {rcpt}: {reply}");
        }
        assert!(self.command("DATA").await.starts_with("354"));
        self.send(message.as_bytes()).await;
        self.command(".").await
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A minimal GraphQL-over-WebSocket client speaking either protocol, for subscription tests.
pub struct GraphqlWs {
    socket: Socket,
    legacy: bool,
}

impl GraphqlWs {
    /// Connects with `graphql-transport-ws` (or the legacy `graphql-ws` protocol) and
    /// completes the `connection_init` handshake.
    pub async fn connect(app: &TestApp, legacy: bool) -> Self {
        Self::connect_as(app, legacy, Some(&app.key))
            .await
            .expect("connection accepted")
    }

    /// Connects with `key` in the `connection_init` payload; the close frame's reason if the
    /// server refuses the connection.
    pub async fn connect_as(
        app: &TestApp,
        legacy: bool,
        key: Option<&str>,
    ) -> Result<Self, String> {
        let payload = key.map_or(json!({}), |key| json!({ "apiKey": key }));
        Self::connect_with(app.http_addr, legacy, payload).await
    }

    /// Connects to the server at `http_addr` with `payload` in `connection_init`; `closed: CODE
    /// REASON` if the server refuses the connection.
    pub async fn connect_with(
        http_addr: SocketAddr,
        legacy: bool,
        payload: Value,
    ) -> Result<Self, String> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{http_addr}/graphql")
            .into_client_request()
            .unwrap();
        let protocol = if legacy {
            "graphql-ws"
        } else {
            "graphql-transport-ws"
        };
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket");
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
        let mut client = Self { socket, legacy };
        client
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let ack = client.receive_or_close().await?;
        match ack["type"].as_str() {
            Some("connection_ack") => Ok(client),
            _ => Err(ack.to_string()),
        }
    }

    async fn send(&mut self, message: Value) {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("ws send");
    }

    async fn receive(&mut self) -> Value {
        self.receive_or_close().await.expect("socket open")
    }

    /// The next protocol message, or the close reason.
    async fn receive_or_close(&mut self) -> Result<Value, String> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message =
                tokio::time::timeout(std::time::Duration::from_secs(30), self.socket.next())
                    .await
                    .expect("a WebSocket message within 30 s")
                    .ok_or("socket ended")?
                    .map_err(|error| error.to_string())?;
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    match value["type"].as_str() {
                        Some("ping") => self.send(json!({ "type": "pong" })).await,
                        Some("ka") => {}
                        _ => return Ok(value),
                    }
                }
                Message::Close(frame) => {
                    return Err(frame.map_or("closed: no frame".to_owned(), |frame| {
                        format!("closed: {} {}", u16::from(frame.code), frame.reason)
                    }))
                }
                _ => {}
            }
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.legacy { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The `data` of the next result, failing on errors.
    pub async fn next_data(&mut self) -> Value {
        let message = self.receive().await;
        let expected = if self.legacy { "data" } else { "next" };
        assert_eq!(message["type"], expected, "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"].clone()
    }

    /// The `data` of the next result, or `None` once the connection has ended (or nothing
    /// came for 10 s).
    pub async fn try_next_data(&mut self) -> Option<Value> {
        let message =
            tokio::time::timeout(std::time::Duration::from_secs(10), self.receive_or_close())
                .await
                .ok()?
                .ok()?;
        Some(message["payload"]["data"].clone())
    }

    /// The next protocol message as is (for error cases).
    pub async fn next_message(&mut self) -> Value {
        self.receive().await
    }

    /// Runs a query or mutation over the connection; its whole result message.
    pub async fn execute(&mut self, id: &str, query: &str) -> Value {
        self.subscribe(id, query, json!({})).await;
        self.receive().await
    }

    /// The close (`closed: CODE REASON`) that ends the connection within `within`, skipping
    /// whatever else comes first; `None` if it is still open then.
    pub async fn closed_within(&mut self, within: std::time::Duration) -> Option<String> {
        let closed = async {
            loop {
                if let Err(closed) = self.receive_or_close().await {
                    return closed;
                }
            }
        };
        tokio::time::timeout(within, closed).await.ok()
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

impl TestApp {
    /// Creates an inbox on the catch-all domain; returns (id, address, latestCursor).
    pub async fn create_inbox(&self, local_part: &str) -> (String, String, String) {
        let data = self
            .data(
                r#"mutation($l: String) { createInbox(input: {domain: "localhost", localPart: $l}) {
                    status inbox { id address latestCursor } } }"#,
                json!({ "l": local_part }),
            )
            .await;
        let inbox = &data["createInbox"]["inbox"];
        assert_eq!(data["createInbox"]["status"], "CREATED", "{data}");
        (
            inbox["id"].as_str().unwrap().to_owned(),
            inbox["address"].as_str().unwrap().to_owned(),
            inbox["latestCursor"].as_str().unwrap().to_owned(),
        )
    }

    /// Sends one simple mail over a fresh SMTP connection, asserting `250`.
    pub async fn send_mail(&self, to: &str, subject: &str, body: &str) {
        (self.send_raw(to, &format!("Subject: {subject}\r\n\r\n{body}\r\n"))).await;
    }

    /// Sends `raw` (CRLF lines) to `to` over a fresh SMTP connection, asserting `250`.
    pub async fn send_raw(&self, to: &str, raw: &str) {
        let mut smtp = self.smtp().await;
        smtp.command("EHLO client.test").await;
        let reply = smtp.deliver("sender@example.com", &[to], raw).await;
        assert!(reply.starts_with("250 2.0.0"), "{to}: {reply}");
        smtp.command("QUIT").await;
    }
}

impl TestApp {
    /// Sets quota overrides of the tenant called `tenant` (created if needed).
    pub async fn set_limits(
        &self,
        tenant: &str,
        limits: ephemail_store::models::tenant::TenantLimits,
    ) {
        use diesel_async::{AsyncConnection, AsyncPgConnection};
        let mut conn = AsyncPgConnection::establish(&self.database_url)
            .await
            .unwrap();
        let row = tenant::find_or_create(&mut conn, tenant, self.clock_now())
            .await
            .unwrap();
        assert!(tenant::set_limits(&mut conn, row.id, &limits)
            .await
            .unwrap());
    }

    fn clock_now(&self) -> chrono::DateTime<Utc> {
        use ephemail_store::clock::Clock;
        self.clock.now()
    }
}

/// A self-signed certificate for `localhost`, written to a fresh directory.
pub struct TestCertificate {
    dir: PathBuf,
}

impl TestCertificate {
    pub fn generate() -> Self {
        let dir = std::env::temp_dir().join(format!("ephemail-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), certified.key_pair.serialize_pem()).unwrap();
        Self { dir }
    }

    pub fn cert(&self) -> String {
        self.dir.join("cert.pem").display().to_string()
    }

    pub fn key(&self) -> String {
        self.dir.join("key.pem").display().to_string()
    }
}

impl Drop for TestCertificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Scrapes a `/metrics` endpoint and parses it as Prometheus text, as a scraper would.
pub async fn scrape_metrics(url: &str) -> prometheus_parse::Scrape {
    let response = reqwest::get(url).await.expect("scraping /metrics");
    assert_eq!(response.status(), 200, "GET {url}");
    parse_metrics(&response.text().await.expect("metrics body"))
}

/// Parses a Prometheus text exposition.
pub fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
        .expect("the exposition parses")
}

/// The value of the sample `metric` whose labels include `labels`, if there is one (a counter's
/// or a gauge's value; a histogram's count).
pub fn metric_value(
    scrape: &prometheus_parse::Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == metric
                && labels
                    .iter()
                    .all(|(name, value)| sample.labels.get(name) == Some(value))
        })
        .map(|sample| match &sample.value {
            prometheus_parse::Value::Counter(value)
            | prometheus_parse::Value::Gauge(value)
            | prometheus_parse::Value::Untyped(value) => *value,
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.last().map_or(0.0, |bucket| bucket.count)
            }
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

/// Where promtool is: `$PROMTOOL`, else where scripts/test.sh unpacks it, else on `PATH`.
pub fn promtool() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("PROMTOOL") {
        return path.into();
    }
    let unpacked = std::path::PathBuf::from("/var/cache/ephemail/promtool/usr/bin/promtool");
    if unpacked.exists() {
        return unpacked;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("promtool"))
                .find(|path| path.exists())
        })
        .expect("promtool is missing: scripts/test.sh unpacks it (or set PROMTOOL)")
}

/// Rows in `table`, or one of the `dev` tenant's counters (`stored_bytes`, `mail_inboxes`),
/// read directly from the database.
pub async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = match table {
        counter @ ("stored_bytes" | "mail_inboxes") => format!(
            "SELECT {counter}::int8 AS n FROM tenant_usage u JOIN tenants t \
             ON t.id = u.tenant_id WHERE t.name = 'dev'"
        ),
        table => format!("SELECT count(*) AS n FROM {table}"),
    };
    number(app, &sql).await
}

/// The `bigint` column `n` of the one row `sql` selects, read directly from the database.
pub async fn number(app: &TestApp, sql: &str) -> i64 {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Number {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    let row: Number = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
    row.n
}
