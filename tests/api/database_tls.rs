//! PostgreSQL over TLS with libpq's `sslmode`: a real cluster on a TCP port, with a certificate
//! for `localhost` from a CA of the test's own, that refuses unencrypted TCP connections
//! (`hostnossl ... reject`); and a cluster without TLS for what `prefer` falls back to.

use std::{
    net::TcpListener,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};

use diesel::{sql_types::Bool, QueryableByName};
use diesel_async::RunQueryDsl;
use ephemail_store::{connect::ConnectionSettings, embedded::EmbeddedPostgres};
use nix::{sys::signal::Signal, unistd::User};
use serde_json::json;

use crate::helpers::{post_graphql, remove_when_process_exits, ServeProcess, SmtpConversation};

/// A PostgreSQL cluster listening on 127.0.0.1, and the files a client needs.
struct TcpCluster {
    dir: PathBuf,
    pgdata: PathBuf,
    port: u16,
}

impl TcpCluster {
    /// Creates a cluster with ephemail's embedded-cluster code (databases `ephemail` and
    /// `serve`), stops it, and starts it again on a TCP port: with `tls`, only over TLS (and
    /// `ca.pem` and `other-ca.pem` beside it for clients).
    fn start(tls: bool) -> Self {
        let dir = PathBuf::from(format!(
            "/tmp/ephemail-pgtls-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        // A runtime of its own: the cluster outlives the test that starts it.
        let pgdata = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Runtime::new().unwrap().block_on(async {
                        let cluster = EmbeddedPostgres::start(&dir, None).await.unwrap();
                        remove_when_process_exits(&dir, &cluster);
                        cluster.create_database("serve", None).await.unwrap();
                        let pgdata = cluster.pgdata().to_owned();
                        cluster.stop().await.unwrap();
                        pgdata
                    })
                })
                .join()
                .unwrap()
        });
        let postgres = nix::unistd::Uid::effective()
            .is_root()
            .then(|| User::from_name("postgres").unwrap().unwrap());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k '{}'",
            pgdata.display()
        );
        if tls {
            write_certificates(&dir, &pgdata, postgres.as_ref());
            std::fs::write(
                pgdata.join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 trust\n\
                 hostnossl all all 127.0.0.1/32 reject\n",
            )
            .unwrap();
            options.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let bin = ephemail_store::embedded::find_bin_dir(None).unwrap();
        let mut pg_ctl = Command::new(bin.join("pg_ctl"));
        pg_ctl
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&pgdata)
            .arg("-l")
            .arg(pgdata.join("server.log"))
            .args(["-o", &options])
            .current_dir("/");
        if let Some(user) = &postgres {
            pg_ctl.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let output = pg_ctl.output().unwrap();
        assert!(
            output.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self { dir, pgdata, port }
    }

    /// A URL of database `ephemail` on `host` over TCP, with `params` added to its query.
    fn url(&self, host: &str, params: &str) -> String {
        let url = format!(
            "postgres://ephemail@{host}:{}/ephemail?connect_timeout=10",
            self.port
        );
        match params {
            "" => url,
            params => format!("{url}&{params}"),
        }
    }

    /// The `sslrootcert` parameter naming `file` beside the cluster.
    fn root(&self, file: &str) -> String {
        format!("sslrootcert={}", encode(&self.dir.join(file)))
    }

    /// A URL of `database` over the cluster's Unix socket (trusted, never TLS).
    fn socket_url(&self, database: &str) -> String {
        format!(
            "postgres://ephemail@/{database}?host={}&port={}",
            encode(&self.pgdata),
            self.port
        )
    }
}

/// The cluster that speaks only TLS over TCP, shared by this file's tests.
fn tls_cluster() -> &'static TcpCluster {
    static CLUSTER: OnceLock<TcpCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| TcpCluster::start(true))
}

/// A CA (`ca.pem`) and a certificate it issued for `localhost` only (not `127.0.0.1`) with its
/// key, which PostgreSQL wants private to the account it runs as; and an unrelated CA
/// (`other-ca.pem`).
fn write_certificates(dir: &Path, pgdata: &Path, postgres: Option<&User>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params("ephemail test CA").self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let other_key = rcgen::KeyPair::generate().unwrap();
    let other_ca = ca_params("another CA").self_signed(&other_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("other-ca.pem"), other_ca.pem()).unwrap();
    for (file, content) in [
        ("server.crt", server.pem()),
        ("server.key", server_key.serialize_pem()),
    ] {
        let path = pgdata.join(file);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some(user) = postgres {
            std::os::unix::fs::chown(&path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .unwrap();
        }
    }
}

fn ca_params(name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params
}

fn encode(path: &Path) -> String {
    path.to_string_lossy().replace('/', "%2F")
}

/// Connects as ephemail does; whether the session is encrypted, or why connecting failed.
async fn connect(url: &str) -> Result<bool, String> {
    #[derive(QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = Bool)]
        ssl: bool,
    }
    let settings = ConnectionSettings::parse(url).map_err(|error| format!("{error:#}"))?;
    let mut conn = settings
        .connect()
        .await
        .map_err(|error| error.to_string())?;
    let row: Ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result(&mut conn)
        .await
        .unwrap();
    Ok(row.ssl)
}

#[tokio::test(flavor = "multi_thread")]
async fn require_encrypts_and_checks_the_chain_only_when_given_a_ca() {
    let cluster = tls_cluster();
    // The test CA is in no trusted store: without sslrootcert nothing is checked.
    assert_eq!(
        connect(&cluster.url("127.0.0.1", "sslmode=require")).await,
        Ok(true)
    );
    let with_root = format!("sslmode=require&{}", cluster.root("ca.pem"));
    assert_eq!(
        connect(&cluster.url("127.0.0.1", &with_root)).await,
        Ok(true)
    );
    // With one, as in libpq, `require` is `verify-ca`.
    let other_root = format!("sslmode=require&{}", cluster.root("other-ca.pem"));
    let refused = connect(&cluster.url("localhost", &other_root)).await;
    assert!(
        refused.as_ref().unwrap_err().contains("UnknownIssuer"),
        "{refused:?}"
    );
    // `prefer`, the default, encrypts when the server offers TLS.
    assert_eq!(connect(&cluster.url("127.0.0.1", "")).await, Ok(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_checks_the_chain_and_the_host_name() {
    let cluster = tls_cluster();
    let root = cluster.root("ca.pem");
    let verify_full = format!("sslmode=verify-full&{root}");
    assert_eq!(
        connect(&cluster.url("localhost", &verify_full)).await,
        Ok(true)
    );

    let wrong_ca = format!("sslmode=verify-full&{}", cluster.root("other-ca.pem"));
    let refused = connect(&cluster.url("localhost", &wrong_ca)).await;
    let refused = refused.unwrap_err();
    assert!(
        refused.contains("TLS handshake") && refused.contains("UnknownIssuer"),
        "{refused}"
    );
    // Without sslrootcert the system's roots are used, and they do not know the test CA.
    let system = connect(&cluster.url("localhost", "sslmode=verify-full")).await;
    assert!(system.unwrap_err().contains("UnknownIssuer"));

    // The certificate names `localhost`, not the address.
    let by_address = connect(&cluster.url("127.0.0.1", &verify_full)).await;
    let by_address = by_address.unwrap_err();
    assert!(
        by_address.contains("not valid for name") && by_address.contains("127.0.0.1"),
        "{by_address}"
    );
    // `verify-ca` checks the chain alone.
    let verify_ca = format!("sslmode=verify-ca&{root}");
    assert_eq!(
        connect(&cluster.url("127.0.0.1", &verify_ca)).await,
        Ok(true)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_is_refused_by_a_server_that_requires_tls() {
    let cluster = tls_cluster();
    let refused = connect(&cluster.url("127.0.0.1", "sslmode=disable")).await;
    let refused = refused.unwrap_err();
    assert!(
        refused.contains("pg_hba.conf rejects connection") && refused.contains("no encryption"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prefer_connects_in_plain_text_to_a_server_without_tls_and_require_does_not() {
    let cluster = TcpCluster::start(false);
    assert_eq!(connect(&cluster.url("127.0.0.1", "")).await, Ok(false));
    assert_eq!(
        connect(&cluster.url("127.0.0.1", "sslmode=prefer")).await,
        Ok(false)
    );
    let refused = connect(&cluster.url("127.0.0.1", "sslmode=require")).await;
    assert!(
        refused
            .as_ref()
            .unwrap_err()
            .contains("server does not support TLS"),
        "{refused:?}"
    );
}

/// The admin key both processes start with (EPHEMAIL_BOOTSTRAP_API_KEY).
const KEY: &str = "ek_pg-tls-test-123456789abcdefghijklmnopqrstuv";

#[tokio::test(flavor = "multi_thread")]
async fn processes_on_verify_full_pass_mail_between_them_through_the_relay() {
    let cluster = tls_cluster();
    let url = format!(
        "postgres://ephemail@localhost:{}/serve?sslmode=verify-full&{}",
        cluster.port,
        cluster.root("ca.pem")
    );
    let spawn = |role: &str| {
        ServeProcess::spawn_logging(
            &[
                "--database-url",
                &url,
                "--domain",
                "localhost:catch_all",
                role,
            ],
            None,
            &[("EPHEMAIL_BOOTSTRAP_API_KEY", KEY)],
        )
    };
    // The API process hears of the mail the SMTP process stores through LISTEN/NOTIFY.
    let api = spawn("--no-smtp");
    let smtp = spawn("--no-http");
    let graphql = api.graphql_url().to_owned();
    let wait = tokio::spawn(async move {
        let query = r#"query($address: String) {
            waitForMessage(address: $address, timeoutMs: 30000) { subject } }"#;
        let request = json!({ "query": query, "variables": { "address": "tls@localhost" } });
        post_graphql(&graphql, KEY, request).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut conversation = SmtpConversation::connect(smtp.smtp_addr()).await;
    conversation.command("EHLO client.test").await;
    let reply = conversation
        .deliver(
            "a@example.com",
            &["tls@localhost"],
            "Subject: over TLS\r\n\r\nhello\r\n",
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let waited = wait.await.unwrap();
    assert_eq!(
        waited["data"]["waitForMessage"]["subject"], "over TLS",
        "{waited}"
    );

    // Every connection the two processes hold (pool, writer, relay, sweeper) is encrypted.
    #[derive(QueryableByName)]
    struct Sessions {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        encrypted: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        plain: i64,
    }
    let mut admin = ConnectionSettings::parse(&cluster.socket_url("postgres"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let sessions: Sessions = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE s.ssl) AS encrypted, \
                count(*) FILTER (WHERE NOT s.ssl) AS plain \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = 'serve' AND a.backend_type = 'client backend'",
    )
    .get_result(&mut admin)
    .await
    .unwrap();
    // At least each process's relay and the API process's pool connection.
    assert!(sessions.encrypted >= 3, "{}", sessions.encrypted);
    assert_eq!(sessions.plain, 0);
    for process in [api, smtp] {
        process.signal(Signal::SIGTERM);
        assert!(process.wait().await.success());
    }
}
