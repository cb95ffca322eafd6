//! Webhooks against a real receiver over TCP: signed (checked with the `standardwebhooks`
//! Python package), retried with the same `webhook-id`, durable across SIGKILL, shared by two
//! processes, refused for inside addresses, and kept to their tenant.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::Notify,
};

use crate::helpers::{
    create_key, fresh_database, metric_value, post_graphql, scrape_metrics, ServeProcess,
    SmtpConversation, TestApp,
};
use ephemail::scope::Scope;

/// How the receiver answers a request.
#[derive(Clone)]
enum Reply {
    Status(u16, &'static [(&'static str, &'static str)]),
    /// Reads the request and never answers.
    Hang,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    headers: HashMap<String, String>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// An HTTP/1.1 endpoint that records requests and answers them as scripted (200 once the
/// script is used up).
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    arrived: Arc<Notify>,
}

impl Receiver {
    async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
            arrived: Arc::default(),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().connection(stream));
            }
        });
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    async fn connection(self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        loop {
            let mut headers = HashMap::new();
            let mut line = String::new();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            loop {
                line.clear();
                read.read_line(&mut line).await.unwrap();
                let Some((name, value)) = line.trim_end().split_once(": ") else {
                    break;
                };
                headers.insert(name.to_ascii_lowercase(), value.to_owned());
            }
            let length: usize = headers["content-length"].parse().unwrap();
            let mut body = vec![0; length];
            read.read_exact(&mut body).await.unwrap();
            let reply = self.script.lock().unwrap().pop_front();
            let body = String::from_utf8(body).unwrap();
            self.received
                .lock()
                .unwrap()
                .push(Received { headers, body });
            self.arrived.notify_waiters();
            match reply.unwrap_or(Reply::Status(200, &[])) {
                Reply::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                Reply::Status(status, extra) => {
                    let mut head = format!("HTTP/1.1 {status} Scripted\r\ncontent-length: 2\r\n");
                    for (name, value) in extra {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str("\r\nno");
                    if write.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived; returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let arrived = self.arrived.notified();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                tokio::time::timeout_at(deadline, arrived).await.is_ok(),
                "{} of {n} requests arrived",
                received.len()
            );
        }
    }
}

const CREATE: &str = r#"mutation($url: String!, $events: [WebhookEvent!]!, $inbox: ID) {
    createWebhook(input: {url: $url, events: $events, inboxId: $inbox}) {
        status secret webhook { id url events inboxId enabled } } }"#;

const DELIVERIES: &str = r#"query($id: ID!) { webhook(id: $id) { enabled failingSince
    disabledReason deliveries { id eventType state messageId nextAttemptAt
    attempts { statusCode latencyMs error } } } }"#;

/// Creates a tenant-wide `MESSAGE_RECEIVED` webhook to `url`; its id and secret.
async fn create_webhook(app: &TestApp, url: &str) -> (String, String) {
    let data = app
        .data(
            CREATE,
            json!({ "url": url, "events": ["MESSAGE_RECEIVED"] }),
        )
        .await;
    let created = &data["createWebhook"];
    assert_eq!(created["status"], "CREATED", "{data}");
    (
        created["webhook"]["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// The server's clock at the real time: receivers check `webhook-timestamp` against theirs.
fn clock_at_real_time(app: &TestApp) {
    use ephemail_store::clock::{Clock, SystemClock};
    app.clock.advance(SystemClock.now() - app.clock.now());
}

/// Verifies each request with the `standardwebhooks` Python package (the specification's own
/// library); returns what it printed, one verified payload's `type` per line.
fn verify_with_standardwebhooks(secret: &str, requests: &[Received]) -> String {
    let python = std::env::var("EPHEMAIL_WEBHOOK_PYTHON")
        .unwrap_or_else(|_| "/var/cache/ephemail/webhook-venv/bin/python".to_owned());
    let requests: Vec<Value> = requests
        .iter()
        .map(|r| json!({ "headers": r.headers, "body": r.body }))
        .collect();
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys\n\
             from standardwebhooks.webhooks import Webhook\n\
             wh = Webhook(sys.argv[1])\n\
             for r in json.loads(sys.argv[2]):\n\
             \x20   print(wh.verify(r['body'], r['headers'])['type'])\n",
            secret,
            &serde_json::to_string(&requests).unwrap(),
        ])
        .output()
        .expect("Python with standardwebhooks (scripts/test.sh installs it)");
    assert!(
        output.status.success(),
        "standardwebhooks refused the signature: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_three_attempts_of_one_signed_delivery() {
    let receiver = Receiver::start(vec![
        Reply::Status(500, &[]),
        Reply::Status(500, &[]),
        Reply::Status(200, &[]),
    ])
    .await;
    let app = TestApp::spawn_with(&["--webhook-allow-private", "--webhook-retries", "1,1"]).await;
    clock_at_real_time(&app);
    let (id, secret) = create_webhook(&app, &receiver.url()).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    app.send_mail(
        "signup@localhost",
        "Your code",
        "Your verification code is 482913. Or open https://app.example/verify?t=abc",
    )
    .await;

    receiver.wait_for(1).await;
    // Each retry comes due once the server's clock passes its time (1 s, up to a fifth more).
    for n in 2..=3 {
        app.clock.advance(chrono::Duration::seconds(2));
        receiver.wait_for(n).await;
    }
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    let ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids[0].starts_with("msg_"), "{ids:?}");
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one id on every attempt: {ids:?}"
    );
    assert_eq!(
        verify_with_standardwebhooks(&secret, &received),
        "message.received\n".repeat(3)
    );
    let payload = received[2].json();
    assert_eq!(payload["type"], "message.received");
    let data = &payload["data"];
    assert_eq!(data["address"], "signup@localhost");
    assert_eq!(data["subject"], "Your code");
    assert_eq!(data["mailFrom"], "sender@example.com");
    assert_eq!(data["codes"][0], "482913", "{payload:#}");
    assert_eq!(data["links"][0]["href"], "https://app.example/verify?t=abc");
    let message_id = data["messageId"].as_str().unwrap();
    assert_eq!(
        data["rawUrl"],
        app.url(&format!("/messages/{message_id}/raw")).as_str()
    );
    // The same body on every attempt.
    assert!(received.iter().all(|r| r.body == received[0].body));

    // One success recorded, after three attempts.
    let log = poll_deliveries(&app, &id, |d| d[0]["state"] == "SUCCEEDED").await;
    let delivery = &log["webhook"]["deliveries"][0];
    assert_eq!(delivery["id"], ids[0]);
    assert_eq!(delivery["messageId"], message_id);
    let codes: Vec<&Value> = (delivery["attempts"].as_array().unwrap().iter())
        .map(|a| &a["statusCode"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(500), &json!(200)], "{log:#}");
    assert_eq!(log["webhook"]["deliveries"].as_array().unwrap().len(), 1);
    assert!(log["webhook"]["failingSince"].is_null(), "{log:#}");
    let metrics = scrape_metrics(&app.url("/metrics")).await;
    let attempts = |outcome| {
        metric_value(
            &metrics,
            "ephemail_webhook_attempts_total",
            &[("outcome", outcome)],
        )
    };
    assert_eq!(attempts("succeeded"), Some(1.0));
    assert_eq!(attempts("retried"), Some(2.0));
    assert_eq!(attempts("dead"), Some(0.0));
    app.stop().await;
}

/// The webhook's delivery log once `done` holds for its deliveries.
async fn poll_deliveries(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let log = app.data(DELIVERIES, json!({ "id": id })).await;
        if done(&log["webhook"]["deliveries"]) {
            // The webhook and its deliveries are read by two statements, and the commit that
            // made `done` true may fall between them: read again, all after it.
            return app.data(DELIVERIES, json!({ "id": id })).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{:#}", app.data(DELIVERIES, json!({ "id": id })).await);
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_and_is_retried() {
    let receiver = Receiver::start(vec![Reply::Hang]).await;
    let app = TestApp::spawn_with(&[
        "--webhook-allow-private",
        "--webhook-timeout",
        "1",
        "--webhook-retries",
        "1,1",
    ])
    .await;
    let (id, _) = create_webhook(&app, &receiver.url()).await;
    app.send_mail("slow@localhost", "hello", "hi").await;
    receiver.wait_for(1).await;
    let log = poll_deliveries(&app, &id, |d| {
        d[0]["attempts"].as_array().unwrap().len() == 1
    })
    .await;
    let attempt = &log["webhook"]["deliveries"][0]["attempts"][0];
    assert!(attempt["statusCode"].is_null(), "{log:#}");
    assert!(
        attempt["error"].as_str().unwrap().contains("timed out"),
        "{log:#}"
    );
    assert_eq!(log["webhook"]["deliveries"][0]["state"], "PENDING");
    app.clock.advance(chrono::Duration::seconds(2));
    let received = receiver.wait_for(2).await;
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    poll_deliveries(&app, &id, |d| d[0]["state"] == "SUCCEEDED").await;
    app.stop().await;
}

#[tokio::test]
async fn retry_after_is_honoured_redirects_fail_the_last_failure_is_dead_and_a_redrive_delivers() {
    let receiver = Receiver::start(vec![
        Reply::Status(503, &[("retry-after", "120")]),
        // Redirects are not followed: a failure like any other answer but 2xx.
        Reply::Status(302, &[("location", "http://127.0.0.1:1/elsewhere")]),
    ])
    .await;
    let app = TestApp::spawn_with(&["--webhook-allow-private", "--webhook-retries", "1"]).await;
    let (id, _) = create_webhook(&app, &receiver.url()).await;
    app.send_mail("later@localhost", "hello", "hi").await;
    receiver.wait_for(1).await;
    let log = poll_deliveries(&app, &id, |d| {
        d[0]["attempts"].as_array().unwrap().len() == 1
    })
    .await;
    let next = log["webhook"]["deliveries"][0]["nextAttemptAt"]
        .as_str()
        .unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(next).unwrap();
    use ephemail_store::clock::Clock;
    let wait = next.with_timezone(&chrono::Utc) - app.clock.now();
    assert!(
        wait >= chrono::Duration::seconds(119),
        "Retry-After: 120, due in {wait}"
    );
    // Not sooner than the endpoint asked.
    app.clock.advance(chrono::Duration::seconds(60));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1);
    app.clock.advance(chrono::Duration::seconds(61));
    receiver.wait_for(2).await;
    // That was the last retry.
    let log = poll_deliveries(&app, &id, |d| d[0]["state"] == "DEAD").await;
    let attempt = &log["webhook"]["deliveries"][0]["attempts"][1];
    assert_eq!(attempt["statusCode"], 302, "{log:#}");
    assert!(
        attempt["error"].as_str().unwrap().contains("302"),
        "{log:#}"
    );
    assert_eq!(receiver.received().len(), 2);

    let redriven = app
        .data(
            "mutation($id: ID!) { redriveWebhookDeliveries(id: $id) { status redriven } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        redriven["redriveWebhookDeliveries"]["redriven"], 1,
        "{redriven}"
    );
    let received = receiver.wait_for(3).await;
    assert_eq!(
        received[2].header("webhook-id"),
        received[0].header("webhook-id")
    );
    poll_deliveries(&app, &id, |d| d[0]["state"] == "SUCCEEDED").await;
    app.stop().await;
}

#[tokio::test]
async fn a_delivery_recorded_before_a_sigkill_is_sent_after_the_restart() {
    let receiver = Receiver::start(Vec::new()).await;
    let database_url = fresh_database().await;
    let key = create_key(&database_url, "dev", Scope::Admin).await;
    let base = ["--database-url", &database_url, "--webhook-allow-private"];
    // No sender in the first process: the mail's delivery can only be in the database.
    let first = ServeProcess::spawn(&[&base[..], &["--no-webhooks"]].concat());
    let created = post_graphql(
        first.graphql_url(),
        &key,
        json!({ "query": CREATE, "variables": { "url": receiver.url(), "events": ["MESSAGE_RECEIVED"] } }),
    )
    .await;
    assert_eq!(
        created["data"]["createWebhook"]["status"], "CREATED",
        "{created}"
    );
    let mut smtp = SmtpConversation::connect(first.smtp_addr()).await;
    smtp.command("EHLO client.test").await;
    let reply = smtp
        .deliver(
            "a@example.com",
            &["kill@localhost"],
            "Subject: before the kill\r\n\r\nhi\r\n",
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    first.signal(nix::sys::signal::Signal::SIGKILL);
    first.wait().await;
    assert!(receiver.received().is_empty());

    let second = ServeProcess::spawn(&base);
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].json()["data"]["subject"], "before the kill");
    second.signal(nix::sys::signal::Signal::SIGTERM);
    second.wait().await;
}

#[tokio::test]
async fn two_processes_on_one_database_deliver_each_event_once_between_them() {
    const MAILS: usize = 40;
    let receiver = Receiver::start(Vec::new()).await;
    let database_url = fresh_database().await;
    let key = create_key(&database_url, "dev", Scope::Admin).await;
    let args = ["--database-url", &database_url, "--webhook-allow-private"];
    let (one, two) = (ServeProcess::spawn(&args), ServeProcess::spawn(&args));
    let created = post_graphql(
        one.graphql_url(),
        &key,
        json!({ "query": CREATE, "variables": { "url": receiver.url(), "events": ["MESSAGE_RECEIVED"] } }),
    )
    .await;
    assert_eq!(
        created["data"]["createWebhook"]["status"], "CREATED",
        "{created}"
    );
    for (n, process) in [&one, &two].iter().cycle().take(MAILS).enumerate() {
        let mut smtp = SmtpConversation::connect(process.smtp_addr()).await;
        smtp.command("EHLO client.test").await;
        let to = format!("both{n}@localhost");
        let reply = smtp
            .deliver(
                "a@example.com",
                &[&to],
                &format!("Subject: mail {n}\r\n\r\nhi\r\n"),
            )
            .await;
        assert!(reply.starts_with("250"), "{reply}");
    }
    let received = receiver.wait_for(MAILS).await;
    // A little longer: a second copy of any would show now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received_later = receiver.received();
    let mut ids: Vec<&str> = received_later
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), MAILS, "every event delivered");
    assert_eq!(received_later.len(), received.len(), "and none twice");
    for process in [one, two] {
        process.signal(nix::sys::signal::Signal::SIGTERM);
        process.wait().await;
    }
}

#[tokio::test]
async fn inside_addresses_are_refused_without_the_flag() {
    let app = TestApp::spawn().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
    ] {
        let response = app
            .graphql(
                CREATE,
                json!({ "url": url, "events": ["MESSAGE_RECEIVED"] }),
            )
            .await;
        let error = &response["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{url}: {response}"
        );
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("--webhook-allow-private"),
            "{url}: {response}"
        );
    }
    for (url, says) in [
        ("ftp://example.com/hook", "only http and https"),
        ("https://user:pass@example.com/hook", "credentials"),
        ("not a url", "not valid"),
    ] {
        let response = app
            .graphql(
                CREATE,
                json!({ "url": url, "events": ["MESSAGE_RECEIVED"] }),
            )
            .await;
        let message = response["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(says), "{url}: {response}");
    }
    assert_eq!(
        app.data("{ webhooks { id } }", json!({})).await["webhooks"],
        json!([])
    );
    app.stop().await;
}

/// Mail stored from the writer's memory, which had its tenant without webhooks, checks that
/// still holds: the first mail after a webhook is made records its delivery, and so does every
/// later one. On the way, every form of the inserting statement stores one mail alone (to a new
/// or a known inbox, with or without an attachment, with or without webhooks), so a form the
/// database refused would fail that mail.
#[tokio::test]
async fn a_webhook_made_while_the_writer_remembers_its_tenant_gets_the_next_message() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn_with(&["--webhook-allow-private"]).await;
    // Two new inboxes, then a known one, with and without an attachment.
    let send_all = |prefix: &'static str| {
        let app = &app;
        async move {
            let mails = [
                ("new", PLAIN),
                ("new-attached", ATTACHED),
                ("new", PLAIN),
                ("new", ATTACHED),
            ];
            for (local, raw) in mails {
                app.send_raw(&format!("{prefix}-{local}@localhost"), raw)
                    .await;
            }
        }
    };
    // Read, then from memory: the tenant has no webhook.
    app.send_mail("before@localhost", "before", "hi").await;
    send_all("before").await;
    assert_eq!(app.batches_by_recipients_source().await, [4.0, 0.0, 1.0]);
    create_webhook(&app, &receiver.url()).await;
    // The memory no longer holds, and is read again; then it holds the webhook.
    app.send_mail("after@localhost", "after", "hi").await;
    assert_eq!(app.batches_by_recipients_source().await, [4.0, 1.0, 2.0]);
    send_all("after").await;
    assert_eq!(app.batches_by_recipients_source().await, [8.0, 1.0, 2.0]);
    let received = receiver.wait_for(5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut addresses: Vec<String> = (receiver.received().iter())
        .map(|r| r.json()["data"]["address"].as_str().unwrap().to_owned())
        .collect();
    addresses.sort();
    assert_eq!(
        addresses,
        [
            "after-new-attached@localhost",
            "after-new@localhost",
            "after-new@localhost",
            "after-new@localhost",
            "after@localhost",
        ],
        "{received:?}"
    );
    let attached = app.messages_of("before-new@localhost").await;
    let names: Vec<&Value> = attached
        .iter()
        .map(|m| &m["attachments"][0]["filename"])
        .collect();
    assert!(names.contains(&&json!("note.txt")), "{attached:?}");
    app.stop().await;
}

const PLAIN: &str = "Subject: plain\r\n\r\nhi\r\n";

const ATTACHED: &str = "Subject: attached\r\nMIME-Version: 1.0\r\n\
    Content-Type: multipart/mixed; boundary=b\r\n\r\n\
    --b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
    --b\r\nContent-Type: text/plain\r\n\
    Content-Disposition: attachment; filename=note.txt\r\n\r\nnote\r\n--b--\r\n";

#[tokio::test]
async fn a_tenants_webhook_never_fires_for_another_tenants_mail() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn_with(&["--webhook-allow-private"]).await;
    // `dev` owns the catch-all domain; `other` has an inbox on the shared registered domain.
    let other = app.key_for("other", Scope::Write).await;
    let inbox = app
        .graphql_as(
            Some(&other),
            r#"mutation { createInbox(input: {domain: "registered.test", localPart: "theirs"}) {
                status } }"#,
            json!({}),
        )
        .await;
    assert_eq!(inbox["data"]["createInbox"]["status"], "CREATED", "{inbox}");
    let (id, _) = create_webhook(&app, &receiver.url()).await;
    // The other tenant neither sees nor changes it.
    let theirs = app
        .graphql_as(Some(&other), "{ webhooks { id } }", json!({}))
        .await;
    assert_eq!(theirs["data"]["webhooks"], json!([]), "{theirs}");
    let theirs = app
        .graphql_as(Some(&other), DELIVERIES, json!({ "id": id }))
        .await;
    assert_eq!(theirs["data"]["webhook"], Value::Null, "{theirs}");
    assert_eq!(
        theirs["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{theirs}"
    );
    let deleted = app
        .graphql_as(
            Some(&other),
            "mutation($id: ID!) { deleteWebhook(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        deleted["data"]["deleteWebhook"]["status"], "NOT_FOUND",
        "{deleted}"
    );

    app.send_mail("theirs@registered.test", "not yours", "hi")
        .await;
    app.send_mail("ours@localhost", "yours", "hi").await;
    let received = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received_later = receiver.received();
    assert_eq!(received_later.len(), 1, "{received_later:?}");
    assert_eq!(received[0].json()["data"]["subject"], "yours");
    app.stop().await;
}

#[tokio::test]
async fn one_inbox_webhooks_tests_rotation_expiry_and_scopes() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn_with(&["--webhook-allow-private"]).await;
    clock_at_real_time(&app);
    let (inbox_id, address, _) = app.create_inbox("watched").await;
    let data = app
        .data(
            CREATE,
            json!({ "url": receiver.url(), "events": ["MESSAGE_RECEIVED", "INBOX_EXPIRED"],
                    "inbox": inbox_id }),
        )
        .await;
    let webhook = &data["createWebhook"]["webhook"];
    assert_eq!(webhook["inboxId"], inbox_id.as_str());
    assert_eq!(
        webhook["events"],
        json!(["MESSAGE_RECEIVED", "INBOX_EXPIRED"])
    );
    let id = webhook["id"].as_str().unwrap().to_owned();

    // A test event, signed with the rotated secret.
    let rotated = app
        .data(
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { status secret } }",
            json!({ "id": id }),
        )
        .await;
    let secret = rotated["rotateWebhookSecret"]["secret"].as_str().unwrap();
    assert_ne!(secret, data["createWebhook"]["secret"].as_str().unwrap());
    let tested = app
        .data(
            "mutation($id: ID!) { testWebhook(id: $id) { status deliveryId } }",
            json!({ "id": id }),
        )
        .await;
    let received = receiver.wait_for(1).await;
    assert_eq!(
        received[0].header("webhook-id"),
        tested["testWebhook"]["deliveryId"].as_str().unwrap()
    );
    // Signed by the new secret and, for a day, by the old one too.
    assert_eq!(
        verify_with_standardwebhooks(secret, &received),
        "webhook.test\n"
    );
    let old_secret = data["createWebhook"]["secret"].as_str().unwrap();
    assert_eq!(
        verify_with_standardwebhooks(old_secret, &received),
        "webhook.test\n"
    );

    // Only this inbox's mail.
    app.send_mail("elsewhere@localhost", "not watched", "hi")
        .await;
    app.send_mail(&address, "watched", "hi").await;
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].json()["data"]["subject"], "watched");

    // Its expiry, when the sweeper deletes it.
    app.clock.advance(chrono::Duration::days(2));
    app.app.sweeper.sweep().await.unwrap();
    let received = receiver.wait_for(3).await;
    let expired = received[2].json();
    assert_eq!(expired["type"], "inbox.expired", "{expired:#}");
    assert_eq!(expired["data"]["address"], address.as_str());
    assert_eq!(expired["data"]["inboxId"], inbox_id.as_str());
    assert_eq!(receiver.received().len(), 3);

    // Reading needs `read`, changing `write`; an inbox token does neither.
    let reader = app.key_for("dev", Scope::Read).await;
    let listed = app
        .graphql_as(Some(&reader), "{ webhooks { id } }", json!({}))
        .await;
    assert_eq!(listed["data"]["webhooks"][0]["id"], id.as_str(), "{listed}");
    let refused = app
        .graphql_as(
            Some(&reader),
            CREATE,
            json!({ "url": receiver.url(), "events": ["MESSAGE_RECEIVED"] }),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    let token = app
        .data(
            r#"mutation { createInbox(input: {domain: "localhost"}) { token } }"#,
            json!({}),
        )
        .await["createInbox"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = app
        .graphql_as(Some(&token), "{ webhooks { id } }", json!({}))
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_endpoint_failing_for_longer_than_allowed_is_disabled_and_can_be_enabled() {
    let receiver = Receiver::start(vec![Reply::Status(500, &[]); 2]).await;
    let app = TestApp::spawn_with(&[
        "--webhook-allow-private",
        "--webhook-retries",
        "100,100",
        "--webhook-disable-after",
        "60",
    ])
    .await;
    let (id, _) = create_webhook(&app, &receiver.url()).await;
    app.send_mail("down@localhost", "hello", "hi").await;
    receiver.wait_for(1).await;
    poll_deliveries(&app, &id, |d| {
        d[0]["attempts"].as_array().unwrap().len() == 1
    })
    .await;
    app.clock.advance(chrono::Duration::seconds(130));
    receiver.wait_for(2).await;
    let log = poll_deliveries(&app, &id, |d| {
        d[0]["attempts"].as_array().unwrap().len() == 2
    })
    .await;
    assert_eq!(log["webhook"]["enabled"], false, "{log:#}");
    assert!(
        (log["webhook"]["disabledReason"].as_str().unwrap())
            .starts_with("every attempt failed since"),
        "{log:#}"
    );
    // Disabled: its pending delivery waits, and new events are not recorded.
    app.send_mail("down@localhost", "while disabled", "hi")
        .await;
    app.clock.advance(chrono::Duration::seconds(130));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 2);

    let enabled = app
        .data(
            "mutation($id: ID!) { enableWebhook(id: $id) { status webhook { enabled } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        enabled["enableWebhook"]["webhook"]["enabled"], true,
        "{enabled}"
    );
    let received = receiver.wait_for(3).await;
    assert_eq!(received[2].json()["data"]["subject"], "hello");
    let log = poll_deliveries(&app, &id, |d| d[0]["state"] == "SUCCEEDED").await;
    assert_eq!(
        log["webhook"]["deliveries"].as_array().unwrap().len(),
        1,
        "{log:#}"
    );
    app.stop().await;
}

const RECEIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webhooks/receiver.py");

#[test]
fn the_guide_shows_the_receiver_that_is_tested() {
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/webhooks.md")).unwrap();
    let receiver = std::fs::read_to_string(RECEIVER).unwrap();
    assert!(
        guide.contains(&format!("```python\n{receiver}```")),
        "docs/webhooks.md's Python receiver differs from examples/webhooks/receiver.py"
    );
}

/// The guide's Python receiver, as its reader runs it.
struct PythonReceiver {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl PythonReceiver {
    async fn start(port: u16, secret: &str) -> Self {
        let python = std::env::var("EPHEMAIL_WEBHOOK_PYTHON")
            .unwrap_or_else(|_| "/var/cache/ephemail/webhook-venv/bin/python".to_owned());
        let mut child = tokio::process::Command::new(python)
            .arg(RECEIVER)
            .env("PORT", port.to_string())
            .env("WEBHOOK_SECRET", secret)
            .stdout(std::process::Stdio::piped())
            // http.server's access log.
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Listening once it accepts a connection.
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, lines }
    }

    async fn printed(&mut self) -> String {
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line());
        line.await
            .expect("the receiver printed within 30 s")
            .unwrap()
            .unwrap()
    }

    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

#[tokio::test]
async fn the_guides_python_receiver_prints_every_code_though_killed_and_restarted() {
    let database_url = fresh_database().await;
    let key = create_key(&database_url, "dev", Scope::Admin).await;
    let server = ServeProcess::spawn(&[
        "--database-url",
        &database_url,
        "--webhook-allow-private",
        "--webhook-retries",
        "1,1,1,1,1,1,1,1,1,1",
    ]);
    let port = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().port()
    };
    let gql = |query: &'static str, variables: Value| {
        let (url, key) = (server.graphql_url().to_owned(), key.clone());
        async move {
            let body = post_graphql(
                &url,
                &key,
                json!({ "query": query, "variables": variables }),
            )
            .await;
            assert!(body.get("errors").is_none(), "{body}");
            body["data"].clone()
        }
    };
    let inbox = gql(
        r#"mutation { createInbox(input: {domain: "localhost", localPart: "pushed"}) { inbox { id } } }"#,
        json!({}),
    )
    .await;
    let created = gql(
        CREATE,
        json!({ "url": format!("http://127.0.0.1:{port}/webhook"), "events": ["MESSAGE_RECEIVED"],
                "inbox": inbox["createInbox"]["inbox"]["id"] }),
    )
    .await;
    let secret = created["createWebhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let send = |code: &'static str| {
        let smtp_addr = server.smtp_addr();
        async move {
            let mut smtp = SmtpConversation::connect(smtp_addr).await;
            smtp.command("EHLO app.example.com").await;
            let mail = format!("Subject: Your code\r\n\r\nYour verification code is {code}\r\n");
            let reply = smtp
                .deliver("app@example.com", &["pushed@localhost"], &mail)
                .await;
            assert!(reply.starts_with("250"), "{reply}");
        }
    };

    let mut receiver = PythonReceiver::start(port, &secret).await;
    send("482913").await;
    assert_eq!(
        receiver.printed().await,
        "pushed@localhost Your code ['482913']"
    );
    // Its answer recorded first: killed before answering, the receiver would get that mail
    // again after its restart (at least once), and print it again (it dedupes in memory).
    let webhook_id = created["createWebhook"]["webhook"]["id"].clone();
    for _ in 0..100 {
        let log = gql(DELIVERIES, json!({ "id": webhook_id })).await;
        if log["webhook"]["deliveries"][0]["state"] == "SUCCEEDED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Down while two mails arrive: both come once it is back.
    receiver.kill().await;
    send("550123").await;
    send("661234").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut receiver = PythonReceiver::start(port, &secret).await;
    let mut printed = vec![receiver.printed().await, receiver.printed().await];
    printed.sort();
    assert_eq!(
        printed,
        [
            "pushed@localhost Your code ['550123']",
            "pushed@localhost Your code ['661234']"
        ]
    );
    receiver.kill().await;
    server.signal(nix::sys::signal::Signal::SIGTERM);
    server.wait().await;
}

/// A name that resolved to a public address when its webhook was created and resolves inside
/// now (DNS rebinding) is refused when the delivery connects. Played by a webhook row stored
/// with a `localhost` URL behind the API's back.
#[tokio::test]
async fn a_name_resolving_inside_when_a_delivery_is_sent_is_refused() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    let url = format!("http://localhost:{}/hook", receiver.addr.port());
    diesel::sql_query(
        "INSERT INTO webhooks (id, tenant_id, url, events, secret, created_at)
         SELECT gen_random_uuid(), id, $1, '{MESSAGE_RECEIVED}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now()
         FROM tenants WHERE name = 'dev'",
    )
    .bind::<diesel::sql_types::Text, _>(&url)
    .execute(&mut conn)
    .await
    .unwrap();
    let listed = app.data("{ webhooks { id url } }", json!({})).await;
    let id = listed["webhooks"][0]["id"].as_str().unwrap().to_owned();
    app.send_mail("rebound@localhost", "hello", "hi").await;
    let log = poll_deliveries(&app, &id, |d| {
        d[0]["attempts"].as_array().unwrap().len() == 1
    })
    .await;
    let error = log["webhook"]["deliveries"][0]["attempts"][0]["error"]
        .as_str()
        .unwrap();
    assert!(error.contains("--webhook-allow-private"), "{log:#}");
    assert!(receiver.received().is_empty());
    app.stop().await;
}

/// A process stopping does not wait for every claimed delivery: the attempts under way get one
/// timeout, those queued behind them are left for their claims to lapse.
#[tokio::test]
async fn shutting_down_waits_one_timeout_at_most_for_deliveries() {
    let receiver = Receiver::start(vec![Reply::Hang; 3]).await;
    let app = TestApp::spawn_with(&[
        "--webhook-allow-private",
        "--webhook-concurrency",
        "1",
        "--webhook-timeout",
        "3",
    ])
    .await;
    create_webhook(&app, &receiver.url()).await;
    for n in 0..3 {
        app.send_mail(&format!("queued{n}@localhost"), "hello", "hi")
            .await;
    }
    receiver.wait_for(1).await;
    let started = std::time::Instant::now();
    app.stop().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "stopping took {took:?}");
    assert_eq!(
        receiver.received().len(),
        1,
        "the queued ones were not sent"
    );
}

#[tokio::test]
async fn twenty_concurrent_creations_under_a_limit_of_three_create_exactly_three() {
    let app = TestApp::spawn_with(&["--webhook-allow-private", "--webhooks-per-tenant", "3"]).await;
    let created = futures::future::join_all((0..20).map(|n| {
        let url = format!("http://127.0.0.1:9/hook{n}");
        let app = &app;
        async move {
            app.data(
                CREATE,
                json!({ "url": url, "events": ["MESSAGE_RECEIVED"] }),
            )
            .await["createWebhook"]["status"]
                .clone()
        }
    }))
    .await;
    let count = |status: &str| created.iter().filter(|s| *s == status).count();
    assert_eq!(
        (count("CREATED"), count("LIMIT_REACHED")),
        (3, 17),
        "{created:?}"
    );
    let listed = app.data("{ webhooks { id } }", json!({})).await;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 3);
    app.stop().await;
}
