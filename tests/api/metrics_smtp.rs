//! `/metrics` after known SMTP traffic, over real sockets: sessions, every reply by class and
//! reason, the mail stored, the ingest latency and batches, quota refusals and the event relay
//! have exact values; and Prometheus's own linter (`promtool check metrics`) accepts the
//! exposition.

use std::{
    collections::BTreeMap,
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ephemail::scope::Scope;
use ephemail_store::models::tenant::TenantLimits;
use prometheus_parse::Scrape;
use serde_json::json;

use crate::helpers::{metric_value, promtool, scrape_metrics, SmtpConversation, TestApp};

/// `promtool check metrics` on `exposition`: it parses, and has no lint problem.
fn assert_promtool_accepts(exposition: &str) {
    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool");
    (check.stdin.take().unwrap())
        .write_all(exposition.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        checked.status.success() && said.is_empty(),
        "promtool check metrics: {said}\n{exposition}"
    );
}

/// Scrapes until `settled` holds, for at most ten seconds: what a session counts after its
/// last reply is written (its end, a refusal written on the side) can trail what the client
/// saw by a moment.
async fn scrape_when(app: &TestApp, settled: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = scrape_metrics(&app.url("/metrics")).await;
        if settled(&scrape) || tokio::time::Instant::now() > deadline {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every sample of `metric`, keyed by the values of `labels` joined with spaces.
fn series(scrape: &Scrape, metric: &str, labels: &[&str]) -> BTreeMap<String, f64> {
    let value = |sample: &prometheus_parse::Sample| match sample.value {
        prometheus_parse::Value::Counter(value) | prometheus_parse::Value::Gauge(value) => value,
        _ => panic!("{metric} is not a counter or gauge"),
    };
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == metric)
        .map(|sample| {
            let key = labels
                .iter()
                .map(|label| sample.labels.get(label).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ");
            (key, value(sample))
        })
        .collect()
}

fn expected(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs
        .iter()
        .map(|&(key, value)| (key.to_owned(), value))
        .collect()
}

fn value(scrape: &Scrape, metric: &str) -> f64 {
    metric_value(scrape, metric, &[]).unwrap_or_else(|| panic!("no {metric}"))
}

fn sessions_open(scrape: &Scrape) -> f64 {
    series(scrape, "ephemail_smtp_sessions_open", &["listener"])
        .values()
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn known_smtp_traffic_gives_exact_series_that_promtool_accepts() {
    let app = TestApp::spawn_with(&[
        "--max-message-size",
        "4096",
        "--smtp-max-connections-per-ip",
        "1",
    ])
    .await;
    // A tenant with an inbox on the shared domain, allowed no mail and no second inbox.
    let tight = app.key_for("tight", Scope::Write).await;
    app.set_limits(
        "tight",
        TenantLimits {
            max_inboxes: Some(1),
            max_mails_per_day: Some(0),
            ..TenantLimits::default()
        },
    )
    .await;
    let create = r#"mutation($l: String) {
        createInbox(input: {domain: "registered.test", localPart: $l}) { status } }"#;
    let created = app
        .graphql_as(Some(&tight), create, json!({ "l": "full" }))
        .await;
    assert_eq!(
        created["data"]["createInbox"]["status"], "CREATED",
        "{created}"
    );
    let refused = app
        .graphql_as(Some(&tight), create, json!({ "l": "second" }))
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "QUOTA_EXCEEDED",
        "{refused}"
    );

    // Session 1: three mails stored, then a refusal of each kind RCPT TO and the protocol give.
    let mails = [
        ("one@localhost", "Subject: one\r\n\r\nthe first\r\n"),
        (
            "two@localhost",
            "Subject: two\r\n\r\n..a dot-stuffed line\r\n",
        ),
        ("three@localhost", "Subject: three\r\n\r\nthe third\r\n"),
    ];
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    for (to, mail) in mails {
        let reply = smtp.deliver("sender@example.com", &[to], mail).await;
        assert!(reply.starts_with("250 2.0.0"), "{reply}");
    }
    assert!(smtp
        .command("MAIL FROM:<sender@example.com>")
        .await
        .starts_with("250"));
    for (rcpt, refusal) in [
        ("somebody@unserved.test", "550 5.7.1"),
        ("nobody@registered.test", "550 5.1.1"),
        ("full@registered.test", "452 4.2.2"),
    ] {
        let reply = smtp.command(&format!("RCPT TO:<{rcpt}>")).await;
        assert!(reply.starts_with(refusal), "{rcpt}: {reply}");
    }
    assert!(smtp.command("RSET").await.starts_with("250"));
    let out_of_sequence = smtp.command("RCPT TO:<one@localhost>").await;
    assert!(out_of_sequence.starts_with("503"), "{out_of_sequence}");
    assert!(smtp.command("XYZZY").await.starts_with("500"));
    assert!(smtp.command("STARTTLS").await.starts_with("502"));
    assert!(smtp.command("QUIT").await.starts_with("221"));
    // One session per address: the next must not find this one's place still taken.
    scrape_when(&app, |scrape| sessions_open(scrape) == 0.0).await;

    // Session 2: a mail over the server's size limit, one over its tenant's, and meanwhile a
    // second connection turned away at the door.
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let turned_away = SmtpConversation::connect(app.smtp_addr).await;
    assert!(
        turned_away.greeting.starts_with("421 4.7.0"),
        "{}",
        turned_away.greeting
    );
    let oversized = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(5000));
    let reply = smtp
        .deliver("sender@example.com", &["big@localhost"], &oversized)
        .await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    app.set_limits(
        "dev",
        TenantLimits {
            max_message_size: Some(100),
            ..TenantLimits::default()
        },
    )
    .await;
    let over_tenant_limit = format!("Subject: four\r\n\r\n{}\r\n", "x".repeat(200));
    let reply = smtp
        .deliver(
            "sender@example.com",
            &["four@localhost"],
            &over_tenant_limit,
        )
        .await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    assert!(smtp.command("QUIT").await.starts_with("221"));

    let connection_limit = |scrape: &Scrape| {
        let replies = series(scrape, "ephemail_smtp_replies_total", &["class", "reason"]);
        replies.get("4xx connection_limit").copied()
    };
    let scrape = scrape_when(&app, |scrape| {
        sessions_open(scrape) == 0.0 && connection_limit(scrape) == Some(1.0)
    })
    .await;
    assert_eq!(
        series(&scrape, "ephemail_smtp_sessions_total", &["listener"]),
        expected(&[("smtp", 2.0), ("smtps", 0.0)]),
        "the connection turned away is no session"
    );
    assert_eq!(
        series(&scrape, "ephemail_smtp_sessions_open", &["listener"]),
        expected(&[("smtp", 0.0), ("smtps", 0.0)])
    );
    assert_eq!(
        series(&scrape, "ephemail_smtp_replies_total", &["class", "reason"]),
        expected(&[
            // Session 1: banner, EHLO, 3 x (MAIL, RCPT, end of DATA), MAIL, RSET, QUIT;
            // session 2: banner, EHLO, 2 x (MAIL, RCPT), QUIT.
            ("2xx ok", 21.0),
            // 354 to each DATA.
            ("3xx ok", 5.0),
            ("4xx connection_limit", 1.0),
            ("4xx quota", 1.0),
            ("5xx relay_refused", 1.0),
            ("5xx sequence", 1.0),
            ("5xx size", 2.0),
            ("5xx syntax", 1.0),
            ("5xx tls", 1.0),
            ("5xx unknown_inbox", 1.0),
        ])
    );
    assert_eq!(value(&scrape, "ephemail_smtp_mails_stored_total"), 3.0);
    let sent_bytes: usize = mails.iter().map(|(_, mail)| mail.len()).sum();
    // The dot-stuffed line arrives with one dot less.
    assert_eq!(
        value(&scrape, "ephemail_smtp_received_bytes_total"),
        (sent_bytes - 1) as f64
    );
    assert_eq!(value(&scrape, "ephemail_ingest_latency_seconds"), 3.0);
    assert!(value(&scrape, "ephemail_ingest_latency_seconds_sum") > 0.0);
    // One batch per mail that reached the writer: the three stored and the one its tenant
    // refused (the one over the server's limit never did).
    assert_eq!(value(&scrape, "ephemail_ingest_batch_size"), 4.0);
    assert_eq!(value(&scrape, "ephemail_ingest_batch_size_sum"), 4.0);
    assert_eq!(value(&scrape, "ephemail_ingest_queue_depth"), 0.0);
    // The first batch read the inbox and limits; the next two were stored from memory; the
    // last found its tenant's limits changed since, and read them again.
    assert_eq!(
        series(&scrape, "ephemail_ingest_batch_recipients_total", &["from"]),
        expected(&[("changed_memory", 1.0), ("database", 2.0), ("memory", 2.0)])
    );
    assert_eq!(
        series(&scrape, "ephemail_quota_refusals_total", &["kind"]),
        expected(&[
            ("catch_all_inboxes", 0.0),
            ("inboxes", 1.0),
            ("mails_per_day", 1.0),
            ("message_size", 1.0),
            ("public_inboxes_per_minute", 0.0),
            ("requests_per_minute", 0.0),
            ("stored_bytes", 0.0),
        ])
    );

    let exposition = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_promtool_accepts(&exposition);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_relay_counts_listening_again_and_the_notifications_it_receives() {
    let app = TestApp::spawn().await;
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    // The relay's LISTEN session on this database, once it has one, is ended.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ended = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %'",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        if ended == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no LISTEN session");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reconnects = |scrape: &Scrape| value(scrape, "ephemail_events_relay_reconnects_total");
    let scrape = scrape_when(&app, |scrape| reconnects(scrape) == 1.0).await;
    assert_eq!(reconnects(&scrape), 1.0);
    // Listening again: the notification of one stored mail comes back to this process.
    app.send_mail("relayed@localhost", "relayed", "hi").await;
    let notifications = |scrape: &Scrape| value(scrape, "ephemail_events_notifications_total");
    let scrape = scrape_when(&app, |scrape| notifications(scrape) == 1.0).await;
    assert_eq!(notifications(&scrape), 1.0);
    assert_eq!(reconnects(&scrape), 1.0);
    app.stop().await;
}
