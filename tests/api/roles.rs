//! Scale-out: processes with different roles on one database. An SMTP-only process (no HTTP
//! listener at all, scraped on `--metrics-addr`) and an API-only process pass mail between them
//! through PostgreSQL; a SIGKILLed SMTP process replaced mid-stream loses no acknowledged mail;
//! one process sweeps, and another takes over when it stops.

use std::{collections::HashSet, net::SocketAddr, time::Duration};

use nix::sys::signal::Signal;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{
    fresh_database, metric_value, post_graphql, scrape_metrics, GraphqlWs, ServeProcess,
};

/// The admin key the API process starts with (EPHEMAIL_BOOTSTRAP_API_KEY).
const KEY: &str = "ek_roles-test-0123456789abcdefghijklmnopqrstuv";

const SUBSCRIBE: &str = r#"subscription($address: String) {
    messageReceived(address: $address) { subject } }"#;

const WAIT: &str = r#"query($address: String) {
    waitForMessage(address: $address, timeoutMs: 30000) { subject } }"#;

fn spawn(url: &str, roles: &[&str]) -> ServeProcess {
    let mut args = vec![
        "--database-url",
        url,
        "--domain",
        "localhost:catch_all",
        "--sweep-interval",
        "1",
        "--metrics-addr",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(roles);
    ServeProcess::spawn_logging(&args, None, &[("EPHEMAIL_BOOTSTRAP_API_KEY", KEY)])
}

#[tokio::test(flavor = "multi_thread")]
async fn an_smtp_process_and_an_api_process_on_one_database_pass_mail_between_them() {
    let url = fresh_database().await;
    // The API process starts first, so it is the first to compete for the sweeper lock.
    let api = spawn(&url, &["--no-smtp"]);
    let smtp = spawn(&url, &["--no-http"]);
    assert!(api.smtp.is_none() && smtp.graphql.is_none());
    let api_http: SocketAddr = api.graphql_url()["http://".len()..]
        .trim_end_matches("/graphql")
        .parse()
        .unwrap();
    let metrics_port = |process: &ServeProcess| -> u16 {
        let url = process.metrics.as_deref().expect("a metrics listener");
        url.trim_end_matches("/metrics")
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        listening_ports(&smtp),
        HashSet::from([smtp.smtp_addr().port(), metrics_port(&smtp)]),
        "an SMTP-only process opens no HTTP listener"
    );
    assert_eq!(
        listening_ports(&api),
        HashSet::from([api_http.port(), metrics_port(&api)])
    );
    // With a metrics listener of its own, the listener that faces clients keeps the health
    // checks but not the metrics.
    let public = |path: &str| format!("http://{api_http}{path}");
    assert_eq!(
        reqwest::get(public("/metrics")).await.unwrap().status(),
        404
    );
    assert_eq!(reqwest::get(public("/readyz")).await.unwrap().status(), 200);
    for process in [&api, &smtp] {
        let metrics = process.metrics.as_deref().unwrap();
        let readyz = reqwest::get(metrics.replace("/metrics", "/readyz"))
            .await
            .unwrap();
        assert_eq!(readyz.status(), 200);
        let body: Value = readyz.json().await.unwrap();
        assert_eq!(body["status"], "ready", "{body}");
    }

    // A wait and a subscription on the API process, for mail the SMTP process receives.
    let mut subscription = GraphqlWs::connect_with(api_http, false, json!({ "apiKey": KEY }))
        .await
        .unwrap();
    subscription
        .subscribe("flow", SUBSCRIBE, json!({ "address": "flow@localhost" }))
        .await;
    let graphql = api.graphql_url().to_owned();
    let wait = tokio::spawn(async move {
        let request = json!({ "query": WAIT, "variables": { "address": "first@localhost" } });
        post_graphql(&graphql, KEY, request).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(deliver(smtp.smtp_addr(), "first@localhost", "first").await);
    let waited = wait.await.unwrap();
    assert_eq!(
        waited["data"]["waitForMessage"]["subject"], "first",
        "{waited}"
    );

    // A stream of mail; the SMTP process is killed in the middle of it and replaced.
    let mut acknowledged = Vec::new();
    let mut n = 0;
    while acknowledged.len() < 10 {
        n += 1;
        let subject = format!("flow {n}");
        if deliver(smtp.smtp_addr(), "flow@localhost", &subject).await {
            acknowledged.push(subject);
        }
    }
    let in_flight = tokio::spawn(deliver(smtp.smtp_addr(), "flow@localhost", "in flight"));
    smtp.signal(Signal::SIGKILL);
    assert!(!smtp.wait().await.success());
    // Not acknowledged either way, so a real sender would send it again.
    let _ = in_flight.await;
    let replacement = spawn(&url, &["--no-http"]);
    while acknowledged.len() < 20 {
        n += 1;
        let subject = format!("flow {n}");
        assert!(deliver(replacement.smtp_addr(), "flow@localhost", &subject).await);
        acknowledged.push(subject);
    }
    let mut received = HashSet::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while !acknowledged
            .iter()
            .all(|subject| received.contains(subject))
        {
            let data = subscription.next_data().await;
            received.insert(
                data["messageReceived"]["subject"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    })
    .await
    .unwrap_or_else(|_| panic!("acknowledged {acknowledged:?}, received {received:?}"));

    // The replacement's own count: the ten mails it stored.
    let scrape = scrape_metrics(replacement.metrics.as_deref().unwrap()).await;
    let stored = metric_value(&scrape, "ephemail_smtp_mails_stored_total", &[]);
    assert_eq!(stored, Some(10.0));

    // One process sweeps: the API process, which took the lock first; when it stops, the
    // SMTP process takes over.
    let sweeping = |process: &ServeProcess| {
        let url = process.metrics.clone().unwrap();
        async move {
            let scrape = scrape_metrics(&url).await;
            let value = |name| metric_value(&scrape, name, &[]).unwrap();
            (
                value("ephemail_sweeper_leader"),
                value("ephemail_sweeper_runs_total"),
            )
        }
    };
    // The leader is known from when it takes the lock, its first run only once that is done.
    let (leader, _) = eventually(
        || sweeping(&api),
        |(leader, runs)| *leader == 1.0 && *runs >= 1.0,
    )
    .await;
    assert_eq!(leader, 1.0);
    assert_eq!(sweeping(&replacement).await, (0.0, 0.0));
    api.signal(Signal::SIGTERM);
    assert!(api.wait().await.success());
    let (leader, _) = eventually(
        || sweeping(&replacement),
        |(leader, runs)| *leader == 1.0 && *runs >= 1.0,
    )
    .await;
    assert_eq!(leader, 1.0);
    replacement.signal(Signal::SIGTERM);
    assert!(replacement.wait().await.success());
}

/// Polls `probe` until `done` holds of its result (20 s at most), and returns that result.
async fn eventually<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    probe: impl Fn() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let mut last = probe().await;
    for _ in 0..100 {
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        last = probe().await;
    }
    panic!("never came to pass; last {last:?}")
}

/// One mail in one connection; whether it was acknowledged with `250`.
async fn deliver(smtp: SocketAddr, to: &str, subject: &str) -> bool {
    let Ok(stream) = tokio::net::TcpStream::connect(smtp).await else {
        return false;
    };
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let script =
        format!("EHLO roles.test\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<{to}>\r\nDATA\r\n");
    if write.write_all(script.as_bytes()).await.is_err() {
        return false;
    }
    // Pipelined: the greeting, then the replies to EHLO, MAIL, RCPT and DATA.
    let mut replies = 0;
    while replies < 5 {
        match lines.next_line().await {
            Ok(Some(line)) if line.as_bytes().get(3) != Some(&b'-') => replies += 1,
            Ok(Some(_)) => {}
            _ => return false,
        }
    }
    let body = format!("Subject: {subject}\r\n\r\nhello\r\n.\r\nQUIT\r\n");
    if write.write_all(body.as_bytes()).await.is_err() {
        return false;
    }
    matches!(lines.next_line().await, Ok(Some(reply)) if reply.starts_with("250"))
}

/// The TCP ports `process` listens on, read from /proc: its socket inodes, matched against
/// the listening sockets of /proc/net/tcp and tcp6.
fn listening_ports(process: &ServeProcess) -> HashSet<u16> {
    let pid = process.child.id();
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut ports = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table).unwrap().lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is field 9.
            if fields[3] == "0A" && inodes.contains(fields[9]) {
                let port = fields[1].rsplit(':').next().unwrap();
                ports.insert(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

/// docs/deployment.md's walk-through, the block tagged `bash two-roles`, run word for word but
/// for its ports (free ones instead of 2525, 8080 and 9091) on a fresh database.
#[tokio::test(flavor = "multi_thread")]
async fn the_deployment_guides_two_process_walk_through_runs() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deployment.md"))
        .unwrap();
    let block: String = guide
        .split("```bash two-roles\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("docs/deployment.md has a ```bash two-roles block")
        .to_owned();
    let url = fresh_database().await;
    let ports = free_ports::<3>();
    let script = block
        .replace("2525", &ports[0].to_string())
        .replace("8080", &ports[1].to_string())
        .replace("9091", &ports[2].to_string());
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_ephemail"))
        .parent()
        .unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let dir = std::env::temp_dir().join(format!("ephemail-two-roles-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(&dir)
            .env("PATH", path)
            .env("DATABASE_URL", &url)
            .env("EPHEMAIL_API_KEY", KEY)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the walk-through finishes within two minutes")
    .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the walk-through failed:\n{script}\n{printed}"
    );
    assert!(
        printed.contains("ephemail_smtp_mails_stored_total"),
        "{printed}"
    );
}

/// `N` distinct free ports, all held open while picking so that no two are the same.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|index| held[index].local_addr().unwrap().port())
}

/// A fleet started together on an empty database, every process with the same bootstrap key
/// (as replicas of one deployment are): they take turns at the migrations and at the first
/// key, so all of them start and there is one key.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_started_together_on_an_empty_database_migrates_once_and_makes_one_key() {
    let url = crate::helpers::empty_database().await;
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || spawn(&url, &["--no-smtp", "--no-sweeper"]))
        })
        .collect();
    let fleet: Vec<ServeProcess> = starting.into_iter().map(|s| s.join().unwrap()).collect();
    for process in &fleet {
        let body = post_graphql(
            process.graphql_url(),
            KEY,
            json!({ "query": "{ apiKeys { name } }" }),
        )
        .await;
        assert_eq!(
            body["data"]["apiKeys"],
            json!([{ "name": "bootstrap admin key" }]),
            "{body}"
        );
    }
    for process in fleet {
        process.signal(Signal::SIGTERM);
        assert!(process.wait().await.success());
    }
}
