//! Expiry and retention: what the sweeper deletes, in bounded batches, and that only one
//! sweeper runs at a time on a database.

use chrono::Duration;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ephemail_store::{
    ids,
    retention::{self, SweepReport},
};
use serde_json::{json, Value};

use crate::helpers::{
    count, metric_value, number, scrape_metrics, GraphqlWs, TestApp, MAIL_WITH_PDF,
};

#[tokio::test(flavor = "multi_thread")]
async fn expired_inboxes_vanish_at_once_and_their_bucket_is_dropped_whole_once_it_ends() {
    let app = TestApp::spawn_with(&[
        "--sweep-batch",
        "2",
        "--default-ttl",
        "600",
        "--purge-bucket",
        "60",
    ])
    .await;
    for n in 0..5 {
        app.send_mail("old@localhost", &format!("old {n}"), "body")
            .await;
    }
    app.send_mail("other@localhost", "other", "body").await;
    app.clock.advance(Duration::seconds(550));
    app.send_mail("young@localhost", "young", "body").await;
    app.clock.advance(Duration::seconds(51));

    // Expired, so gone for readers before any sweep.
    let gone = app
        .graphql(r#"{ inbox(address: "old@localhost") { id } }"#, json!({}))
        .await;
    assert_eq!(gone["errors"][0]["extensions"]["code"], "NOT_FOUND");
    assert_eq!(count(&app, "messages").await, 7);

    // The two expired inboxes two at a time (2, then 0), then one look for finished webhook
    // deliveries to prune. Their bucket has not ended yet: their messages stay, invisible, for
    // a few minutes more.
    let report = app.app.sweeper.sweep().await.unwrap().unwrap();
    assert_eq!(
        report,
        SweepReport {
            inboxes: 2,
            batches: 3,
            ..SweepReport::default()
        }
    );
    assert_eq!(count(&app, "inboxes").await, 1);
    assert_eq!(count(&app, "messages").await, 7);

    // Once it has ended (and the grace for late deliveries has passed), the bucket goes whole:
    // the six messages with the raw sources in their rows, without a row delete (the other
    // batches: the looks for expired inboxes and finished webhook deliveries).
    app.clock.advance(Duration::seconds(360));
    let report = app.app.sweeper.sweep().await.unwrap().unwrap();
    assert_eq!(
        report,
        SweepReport {
            messages: 6,
            buckets: 1,
            batches: 2,
            ..SweepReport::default()
        }
    );
    assert_eq!(count(&app, "messages WHERE raw IS NOT NULL").await, 1);
    assert_eq!(count(&app, "raw_sources").await, 0);
    assert_eq!(app.messages_of("young@localhost").await.len(), 1);
    // The storage counter follows the dropped bucket.
    let young = app.messages_of("young@localhost").await;
    assert_eq!(
        count(&app, "stored_bytes").await,
        young[0]["size"].as_i64().unwrap()
    );
    // A catch-all address whose inbox was swept starts afresh.
    app.send_mail("old@localhost", "new life", "body").await;
    let fresh = app.messages_of("old@localhost").await;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0]["subject"], "new life");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_past_the_retention_age_are_swept_from_live_inboxes_in_small_batches() {
    let app = TestApp::spawn_with(&["--max-message-age", "600", "--sweep-batch", "2"]).await;
    for n in 0..5 {
        app.send_mail("keep@localhost", &format!("old {n}"), "body")
            .await;
    }
    app.clock.advance(Duration::seconds(601));
    app.send_mail("keep@localhost", "second", "body").await;
    let report = app.app.sweeper.sweep().await.unwrap().unwrap();
    // One look for expired inboxes, the old messages two at a time (2, 2, 1), and one look for
    // finished webhook deliveries.
    assert_eq!(
        report,
        SweepReport {
            messages: 5,
            batches: 5,
            ..SweepReport::default()
        }
    );
    let left = app.messages_of("keep@localhost").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["subject"], "second");
    // Their raw sources, in their rows, went with them.
    assert_eq!(count(&app, "messages WHERE raw IS NOT NULL").await, 1);
    assert_eq!(
        count(&app, "stored_bytes").await,
        left[0]["size"].as_i64().unwrap()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inbox_keeps_only_its_newest_messages() {
    let app = TestApp::spawn_with(&["--max-messages-per-inbox", "3"]).await;
    for n in 1..=5 {
        app.send_mail("full@localhost", &format!("mail {n}"), "body")
            .await;
    }
    let subjects: Vec<_> = app
        .messages_of("full@localhost")
        .await
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = subjects.clone();
    sorted.sort();
    assert_eq!(sorted, ["mail 3", "mail 4", "mail 5"]);
    app.stop().await;
}

/// Subjects of `address`'s messages, sorted.
async fn subjects_of(app: &TestApp, address: &str) -> Vec<String> {
    let mut subjects: Vec<String> = (app.messages_of(address).await.iter())
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    subjects
}

/// The bound on the messages of the inbox at `local_part@localhost`.
async fn message_bound(app: &TestApp, local_part: &str) -> i64 {
    let sql = format!(
        "SELECT message_bound::int8 AS n FROM inboxes \
         WHERE domain = 'localhost' AND local_part = '{local_part}'"
    );
    number(app, &sql).await
}

/// Each process's writer trims an inbox by the bound it remembers: mail stored meanwhile by
/// another process fails that bound's check, and the batch is stored again with it read. A
/// deletion through the API leaves the bound high until the next trim counts again.
#[tokio::test(flavor = "multi_thread")]
async fn an_inbox_keeps_its_newest_messages_when_two_processes_fill_it() {
    let cap = ["--max-messages-per-inbox", "3"];
    let first = TestApp::spawn_with(&cap).await;
    let second = TestApp::spawn_on(first.database_url.clone(), &cap).await;
    for n in 1..=2 {
        first
            .send_mail("full@localhost", &format!("mail {n}"), "body")
            .await;
    }
    for n in 3..=4 {
        second
            .send_mail("full@localhost", &format!("mail {n}"), "body")
            .await;
    }
    assert_eq!(
        subjects_of(&first, "full@localhost").await,
        ["mail 2", "mail 3", "mail 4"]
    );
    // The first process remembers two messages: its mail would not trim but for the check.
    let [_, changed_before, _] = first.batches_by_recipients_source().await;
    first.send_mail("full@localhost", "mail 5", "body").await;
    let [_, changed_after, _] = first.batches_by_recipients_source().await;
    assert_eq!(changed_after, changed_before + 1.0);
    assert_eq!(
        subjects_of(&first, "full@localhost").await,
        ["mail 3", "mail 4", "mail 5"]
    );
    assert_eq!(message_bound(&first, "full").await, 3);

    for message in first.messages_of("full@localhost").await.iter().take(2) {
        first
            .data(
                "mutation($id: ID!) { deleteMessage(id: $id) { status } }",
                json!({ "id": message["id"] }),
            )
            .await;
    }
    assert_eq!(message_bound(&first, "full").await, 3);
    first.send_mail("full@localhost", "mail 6", "body").await;
    assert_eq!(
        subjects_of(&first, "full@localhost").await,
        ["mail 3", "mail 6"]
    );
    assert_eq!(message_bound(&first, "full").await, 2);
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_one_sweeper_runs_at_a_time_on_a_database() {
    let app = TestApp::spawn().await;
    // Another process's sweeper, holding the lock.
    let mut other = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    assert!(retention::try_lock(&mut other).await.unwrap());
    assert_eq!(app.app.sweeper.sweep().await.unwrap(), None);
    drop(other);
    // Its session is gone, and with it the lock (the server notices on its next query).
    let mut swept = None;
    for _ in 0..50 {
        swept = app.app.sweeper.sweep().await.unwrap();
        if swept.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(swept.is_some(), "the lock was not released");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_to_fifty_recipients_stores_its_source_and_attachment_once() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    // 30 KB that do not compress, so a second copy would show.
    let bytes: Vec<u8> = (0..30_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let body = format!(
        "Subject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=report.bin\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n"
    );
    let recipients: Vec<String> = (0..50).map(|n| format!("r{n}@localhost")).collect();
    let to: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let reply = smtp.deliver("sender@example.com", &to, &body).await;
    assert!(reply.starts_with("250"), "{reply}");

    assert_eq!(count(&app, "messages").await, 50);
    assert_eq!(count(&app, "attachments").await, 50);
    // One raw source, which holds the attachment's only stored copy.
    assert_eq!(count(&app, "raw_sources").await, 1);
    // Every inbox's copy downloads the same bytes.
    for address in ["r0@localhost", "r49@localhost"] {
        let found = app
            .data(
                "query($a: String!) { inbox(address: $a) { messages { edges { node { attachments { id } } } } } }",
                json!({ "a": address }),
            )
            .await;
        let node = &found["inbox"]["messages"]["edges"][0]["node"];
        let id = node["attachments"][0]["id"].as_str().unwrap().to_owned();
        let downloaded = app.download(&app.url(&format!("/attachments/{id}"))).await;
        assert_eq!(downloaded, bytes, "{address}");
    }
    // The source stays while any message points at it, and goes with the last one.
    app.clock.advance(Duration::days(8));
    let report = app.app.sweeper.sweep().await.unwrap().unwrap();
    assert_eq!((report.messages, report.raw_sources), (50, 1));
    assert_eq!(count(&app, "raw_sources").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_background_sweeper_reports_what_it_deleted_in_metrics() {
    let app = TestApp::spawn_with(&["--sweep-interval", "1"]).await;
    app.send_mail("brief@localhost", "soon gone", "body").await;
    app.clock.advance(Duration::days(8));
    let deleted = |scrape: &prometheus_parse::Scrape, kind| {
        metric_value(scrape, "ephemail_sweeper_deleted_total", &[("kind", kind)])
    };
    let mut scrape = scrape_metrics(&app.url("/metrics")).await;
    for _ in 0..50 {
        if deleted(&scrape, "message") == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        scrape = scrape_metrics(&app.url("/metrics")).await;
    }
    assert_eq!(deleted(&scrape, "message"), Some(1.0));
    assert_eq!(deleted(&scrape, "inbox"), Some(1.0));
    let value = |metric| metric_value(&scrape, metric, &[]);
    assert_eq!(value("ephemail_sweeper_buckets_dropped_total"), Some(1.0));
    assert_eq!(value("ephemail_sweeper_failures_total"), Some(0.0));
    assert!(value("ephemail_sweeper_last_run_timestamp_seconds") > Some(0.0));
    assert_eq!(count(&app, "messages").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_extended_inbox_takes_its_messages_to_its_new_bucket() {
    let app = TestApp::spawn_with(&["--default-ttl", "600", "--purge-bucket", "60"]).await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let reply = smtp
        .deliver(
            "a@example.com",
            &["long@localhost", "short@localhost"],
            MAIL_WITH_PDF,
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    // Each row's id tells the bucket it is stored in.
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: uuid::Uuid,
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        purge_at: chrono::DateTime<chrono::Utc>,
    }
    let stored: Vec<Stored> = diesel::sql_query(
        "SELECT id, purge_at FROM messages UNION ALL SELECT id, purge_at FROM attachments",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(stored.len(), 4);
    for row in stored {
        assert_eq!(ids::bucket_of(row.id), Some(row.purge_at));
    }
    let long = app.inbox_id("long@localhost").await;
    let extend = async |ttl: i64| {
        let extended = app
            .data(
                "mutation($id: ID!, $ttl: Int!) { extendInbox(input: {id: $id, ttlSeconds: $ttl}) { status } }",
                json!({ "id": long, "ttl": ttl }),
            )
            .await;
        assert_eq!(extended["extendInbox"]["status"], "EXTENDED");
    };
    extend(7200).await;
    // Both copies were in one bucket with one raw source; now each bucket has its own.
    assert_eq!(count(&app, "raw_sources").await, 2);
    // Look-ups by id follow the move: from the bucket the ids tell to the new one.
    assert_eq!(count(&app, "bucket_moves").await, 1);
    // Moved again: from the bucket moved to, and from the one the ids tell.
    extend(14400).await;
    assert_eq!(count(&app, "bucket_moves").await, 3);

    // Past the end of the old bucket and its grace: it is dropped with the short-lived copy.
    app.clock.advance(Duration::seconds(1000));
    let report = app.app.sweeper.sweep().await.unwrap().unwrap();
    assert_eq!((report.inboxes, report.buckets, report.messages), (1, 1, 1));
    let kept = app.messages_of("long@localhost").await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["subject"], "with file");
    let found = app
        .data(
            "query($id: ID!) { message(id: $id) { attachments { id } } }",
            json!({ "id": kept[0]["id"] }),
        )
        .await;
    let attachment = found["message"]["attachments"][0]["id"].as_str().unwrap();
    let downloaded = reqwest::Client::new()
        .get(app.url(&format!("/attachments/{attachment}")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), b"%PDF-1.4\n");
    assert_eq!(count(&app, "messages").await, 1);
    assert_eq!(count(&app, "attachments").await, 1);
    assert_eq!(count(&app, "raw_sources").await, 1);

    // The bucket of the first move ends, empty: the move into it is forgotten with it (those
    // out of it stay, for ids that tell it).
    app.clock.advance(Duration::seconds(7000));
    let report = app.app.sweeper.sweep().await.unwrap().unwrap();
    assert_eq!((report.buckets, report.messages), (1, 0));
    assert_eq!(count(&app, "bucket_moves").await, 2);

    // Its id tells the bucket it was stored in; every look-up by id finds it in its new one.
    let id = kept[0]["id"].as_str().unwrap();
    let found = app
        .data(
            "query($id: ID!) { message(id: $id) { subject } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(found["message"]["subject"], "with file");
    let raw = reqwest::Client::new()
        .get(app.url(&format!("/messages/{id}/raw")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert!(raw.text().await.unwrap().contains("with file"));
    let marked = app
        .data(
            "mutation($id: ID!) { markSeen(ids: [$id]) { count } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(marked["markSeen"]["count"], 1);
    let deleted = app
        .data(
            "mutation($id: ID!) { deleteMessage(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(deleted["deleteMessage"]["status"], "DELETED");
    assert_eq!(count(&app, "messages").await, 0);
    app.stop().await;
}

/// Where inboxes are extended often, one bucket's rows go to many: past a few, a look-up that
/// misses the told bucket reads every partition at once rather than each of them.
#[tokio::test(flavor = "multi_thread")]
async fn look_ups_by_id_find_messages_whose_bucket_went_to_many() {
    let app = TestApp::spawn_with(&["--default-ttl", "600", "--purge-bucket", "60"]).await;
    let mut ids = Vec::new();
    for n in 0..10 {
        let address = format!("spread{n}@localhost");
        app.send_mail(&address, &format!("mail {n}"), "body").await;
        let extended = app
            .data(
                "mutation($id: ID!, $ttl: Int!) { extendInbox(input: {id: $id, ttlSeconds: $ttl}) { status } }",
                json!({ "id": app.inbox_id(&address).await, "ttl": 600 + 120 * (n + 1) }),
            )
            .await;
        assert_eq!(extended["extendInbox"]["status"], "EXTENDED");
        ids.push(app.messages_of(&address).await[0]["id"].clone());
    }
    assert_eq!(count(&app, "bucket_moves").await, 10);
    for (n, id) in ids.iter().enumerate() {
        let found = app
            .data(
                "query($id: ID!) { message(id: $id) { subject } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(found["message"]["subject"], format!("mail {n}"));
    }
    let marked = app
        .data(
            "mutation($ids: [ID!]!) { markSeen(ids: $ids) { count } }",
            json!({ "ids": ids }),
        )
        .await;
    assert_eq!(marked["markSeen"]["count"], 10);
    let deleted = app
        .data(
            "mutation($id: ID!) { deleteMessage(id: $id) { status } }",
            json!({ "id": ids[3] }),
        )
        .await;
    assert_eq!(deleted["deleteMessage"]["status"], "DELETED");
    let gone = app
        .graphql(
            "query($id: ID!) { message(id: $id) { subject } }",
            json!({ "id": ids[3] }),
        )
        .await;
    assert_eq!(gone["data"]["message"], Value::Null);
    assert_eq!(gone["errors"][0]["extensions"]["code"], "NOT_FOUND");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_finishes_a_bucket_an_interrupted_sweep_left_detached() {
    let app = TestApp::spawn_with(&["--default-ttl", "600", "--purge-bucket", "60"]).await;
    app.send_mail("brief@localhost", "soon gone", "body").await;
    // As if a sweep had stopped after detaching the bucket's messages partition.
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    #[derive(diesel::QueryableByName)]
    struct Partition {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let partition: Partition = diesel::sql_query(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'messages'::regclass",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    diesel::sql_query(format!(
        "ALTER TABLE messages DETACH PARTITION {}",
        partition.name
    ))
    .execute(&mut conn)
    .await
    .unwrap();

    app.clock.advance(Duration::seconds(1000));
    let report = app.app.sweeper.sweep().await.unwrap().unwrap();
    assert_eq!(
        (report.buckets, report.messages, report.raw_sources),
        (1, 1, 0)
    );
    let left: Vec<Partition> = diesel::sql_query(
        "SELECT relname AS name FROM pg_class WHERE relname ~ '_p[0-9]{8}t[0-9]{6}$'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert!(
        left.is_empty(),
        "{:?}",
        left.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
    assert_eq!(count(&app, "stored_bytes").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_message_is_left_behind_in_a_bucket_its_inbox_moved_out_of_during_delivery() {
    let app = TestApp::spawn_with(&["--default-ttl", "600", "--purge-bucket", "60"]).await;
    app.send_mail("moving@localhost", "mail 0", "body").await;
    let id = app.inbox_id("moving@localhost").await;
    let extend = |ttl: i64| {
        let id = id.clone();
        let app = &app;
        async move {
            let extended = app
                .data(
                    "mutation($id: ID!, $ttl: Int!) { extendInbox(input: {id: $id, ttlSeconds: $ttl}) { status } }",
                    json!({ "id": id, "ttl": ttl }),
                )
                .await;
            assert_eq!(extended["extendInbox"]["status"], "EXTENDED");
        }
    };
    // Deliveries while the inbox moves back and forth between a bucket that ends in minutes
    // and one that ends in two hours.
    let deliveries = futures::future::join_all((0..6).map(|sender| {
        let app = &app;
        async move {
            for n in 0..10 {
                app.send_mail("moving@localhost", &format!("mail {sender}.{n}"), "body")
                    .await;
            }
        }
    }));
    let moves = async {
        for round in 0..40 {
            extend(if round % 2 == 0 { 120 } else { 7200 }).await;
        }
    };
    tokio::join!(deliveries, moves);
    extend(7200).await;

    // The short bucket has ended: dropping it must not take any of the inbox's messages.
    app.clock.advance(Duration::seconds(1000));
    let report = app.app.sweeper.sweep().await.unwrap().unwrap();
    assert_eq!(report.messages, 0, "{report:?}");
    assert_eq!(app.messages_of("moving@localhost").await.len(), 61);
    // Each with its raw source, which moved in its row.
    assert_eq!(count(&app, "messages WHERE raw IS NOT NULL").await, 61);
    app.stop().await;
}

/// Two tenants' copies of one mail share its raw source. One tenant deletes its copies while
/// the other's are being stored: the raw source must survive for the copies that commit.
#[tokio::test(flavor = "multi_thread")]
async fn deleting_one_tenants_copies_keeps_a_raw_source_another_tenant_is_storing() {
    let app = TestApp::spawn().await;
    let other = app.key_for("beta", ephemail::scope::Scope::Write).await;
    for local in ["b1", "b2"] {
        let created = app
            .graphql_as(
                Some(&other),
                r#"mutation($l: String) { createInbox(input: {domain: "registered.test", localPart: $l}) { status } }"#,
                json!({ "l": local }),
            )
            .await;
        assert_eq!(
            created["data"]["createInbox"]["status"], "CREATED",
            "{created}"
        );
    }
    // The clock stands still, so both transactions' bytes (trace header included) are equal.
    let mail = "Subject: shared\r\n\r\nthe same bytes for everyone\r\n";
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let first = smtp
        .deliver("a@example.com", &["a1@localhost", "a2@localhost"], mail)
        .await;
    assert!(first.starts_with("250"), "{first}");
    let (a1, a2) = (
        app.inbox_id("a1@localhost").await,
        app.inbox_id("a2@localhost").await,
    );
    let delete = "mutation($i: ID!) { deleteMessages(inboxId: $i) { count } }";
    app.data(delete, json!({ "i": a1 })).await;

    // Hold the shared raw source, so that the delete and the storing line up behind it.
    let mut holder = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    diesel::sql_query("BEGIN")
        .execute(&mut holder)
        .await
        .unwrap();
    let held = diesel::sql_query("SELECT sha256 FROM raw_sources FOR UPDATE")
        .execute(&mut holder)
        .await
        .unwrap();
    assert_eq!(held, 1);
    let deleting = {
        let (url, key, a2) = (app.url("/graphql"), app.key.clone(), a2.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&json!({ "query": delete, "variables": { "i": a2 } }))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let storing = {
        let addr = app.smtp_addr;
        tokio::spawn(async move {
            let mut smtp = crate::helpers::SmtpConversation::connect(addr).await;
            smtp.command("EHLO client.test").await;
            smtp.deliver(
                "a@example.com",
                &["b1@registered.test", "b2@registered.test"],
                mail,
            )
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    diesel::sql_query("COMMIT")
        .execute(&mut holder)
        .await
        .unwrap();
    let deleted = deleting.await.unwrap();
    assert_eq!(deleted["data"]["deleteMessages"]["count"], 1, "{deleted}");
    let stored = storing.await.unwrap();
    assert!(stored.starts_with("250"), "{stored}");

    #[derive(diesel::QueryableByName)]
    struct Orphans {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let orphans: Orphans = diesel::sql_query(
        "SELECT count(*) AS n FROM messages m WHERE m.raw IS NULL AND NOT EXISTS
             (SELECT 1 FROM raw_sources r WHERE r.sha256 = m.raw_sha256 AND r.purge_at = m.purge_at)",
    )
    .get_result(&mut holder)
    .await
    .unwrap();
    assert_eq!(orphans.n, 0, "a message lost its raw source");
    let b1 = app
        .graphql_as(
            Some(&other),
            r#"{ inbox(address: "b1@registered.test") { messages { nodes { rawUrl } } } }"#,
            json!({}),
        )
        .await;
    let raw_url = b1["data"]["inbox"]["messages"]["nodes"][0]["rawUrl"]
        .as_str()
        .unwrap();
    let raw = reqwest::Client::new()
        .get(raw_url)
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_age_sweep_across_buckets_deletes_each_bucket_s_attachments_and_shared_sources() {
    let app = TestApp::spawn_with(&["--default-ttl", "86400", "--max-message-age", "600"]).await;
    // Two mails with an attachment, each to two inboxes: the second's inboxes made an hour
    // later, so each mail's copies share a raw source in a bucket of its own.
    for (n, to) in [
        ["a1@localhost", "a2@localhost"],
        ["b1@localhost", "b2@localhost"],
    ]
    .iter()
    .enumerate()
    {
        if n > 0 {
            app.clock.advance(Duration::minutes(61));
        }
        let mut smtp = app.smtp().await;
        smtp.command("EHLO client.test").await;
        let reply = smtp.deliver("sender@example.com", to, MAIL_WITH_PDF).await;
        assert!(reply.starts_with("250"), "{reply}");
    }
    let buckets = "SELECT count(DISTINCT purge_at) AS n FROM messages";
    assert_eq!(number(&app, buckets).await, 2);
    assert_eq!(count(&app, "raw_sources").await, 2);
    assert_eq!(count(&app, "attachments").await, 4);
    // Both mails are past the age limit: one delete takes the four messages, and its trigger
    // each bucket's attachments and raw sources, and their bytes from the tenant's count.
    app.clock.advance(Duration::seconds(601));
    let report = app.app.sweeper.sweep().await.unwrap().unwrap();
    assert_eq!(report.messages, 4);
    for table in ["messages", "attachments", "raw_sources", "stored_bytes"] {
        assert_eq!(count(&app, table).await, 0, "{table}");
    }
    app.stop().await;
}

/// Readers hold an inbox's expiry bucket, and extending the inbox moves its messages to
/// another: a subscription, a wait and a read that started before the move still get every
/// message, in the inbox's new bucket.
#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_waits_and_reads_follow_an_inbox_that_moves_to_another_bucket() {
    use ephemail_store::{
        clock::Clock,
        models::{message, InboxBucket, Viewer},
    };
    let app = TestApp::spawn_with(&["--default-ttl", "600", "--purge-bucket", "60"]).await;
    let (id, address, _) = app.create_inbox("moving").await;
    app.send_mail(&address, "before", "body").await;
    let old = InboxBucket {
        inbox_id: id.parse().unwrap(),
        purge_at: bucket_of(&app, &id).await,
    };
    // A filtered subscription reads the database on every wake-up; an unfiltered one takes
    // what the wake-up brings, and reads the attachments of the bucket it knows.
    let mut ws = GraphqlWs::connect(&app, false).await;
    let subscription = r#"subscription($a: String, $f: MessageFilter) {
        messageReceived(address: $a, filter: $f) { subject attachments { filename } } }"#;
    ws.subscribe(
        "1",
        subscription,
        json!({ "a": address, "f": { "subject": "with" } }),
    )
    .await;
    ws.subscribe("2", subscription, json!({ "a": address }))
        .await;
    // The unfiltered one first replays the mail of the last minutes.
    assert_eq!(ws.next_data().await["messageReceived"]["subject"], "before");
    let wait = |query: &'static str| {
        let variables = json!({ "a": address });
        let app = &app;
        async move {
            let response = app.graphql(query, variables).await;
            assert!(response.get("errors").is_none(), "{response}");
            response["data"]["waitForMessage"].clone()
        }
    };
    let claiming = wait(
        r#"query($a: String) { waitForMessage(address: $a, filter: {subject: "with"}, timeoutMs: 20000) {
            subject attachments { filename } } }"#,
    );
    let moving_and_sending = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let extended = app
            .data(
                "mutation($id: ID!) { extendInbox(input: {id: $id, ttlSeconds: 7200}) { status } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(extended["extendInbox"]["status"], "EXTENDED");
        assert_ne!(bucket_of(&app, &id).await, old.purge_at, "the inbox moved");
        app.send_raw(&address, MAIL_WITH_PDF).await;
    };
    let (claimed, ()) = tokio::join!(claiming, moving_and_sending);
    assert_eq!(claimed["subject"], "with file");
    assert_eq!(claimed["attachments"][0]["filename"], "a.pdf");
    for _ in 0..2 {
        let received = &ws.next_data().await["messageReceived"];
        assert_eq!(received["subject"], "with file");
        assert_eq!(received["attachments"][0]["filename"], "a.pdf");
    }

    let listed = app
        .data(
            r#"query($a: String) { inbox(address: $a) {
                messages { totalCount edges { node { subject text } } }
                filtered: messages(filter: {hasAttachments: true}) { totalCount } } }"#,
            json!({ "a": address }),
        )
        .await;
    let messages = &listed["inbox"]["messages"];
    assert_eq!(messages["totalCount"], 2, "{listed}");
    assert_eq!(messages["edges"][0]["node"]["text"], "see attached");
    assert_eq!(listed["inbox"]["filtered"]["totalCount"], 1);

    // Reads given the bucket from before the move find the messages in the new one, and keep it.
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    let now = app.clock.now();
    let any = message::MessageFilter::default();
    let mut at = old;
    let page = message::page(&mut conn, Viewer::System, &mut at, &any, None, 10, now).await;
    assert_eq!(page.unwrap().len(), 2);
    assert_eq!(at.purge_at, bucket_of(&app, &id).await);
    let mut at = old;
    let counted = message::count(&mut conn, Viewer::System, &mut at, &any, now).await;
    assert_eq!(counted.unwrap(), 2);
    let mut at = old;
    let latest = message::latest_seq(&mut conn, Viewer::System, &mut at, now).await;
    assert!(latest.unwrap() > 0);
    let mut at = old;
    let after = message::stored_after(&mut conn, Viewer::System, &mut at, &any, 0, 10, now).await;
    assert_eq!(after.unwrap().len(), 2);
    let mut at = old;
    let deleted = message::delete_matching(&mut conn, Viewer::System, &mut at, &any, now).await;
    assert_eq!(deleted.unwrap(), 2);
    assert_eq!(count(&app, "messages").await, 0);
    app.stop().await;
}

/// The expiry bucket inbox `id` is in.
async fn bucket_of(app: &TestApp, id: &str) -> chrono::DateTime<chrono::Utc> {
    #[derive(diesel::QueryableByName)]
    struct Bucket {
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        purge_at: chrono::DateTime<chrono::Utc>,
    }
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    let bucket: Bucket = diesel::sql_query("SELECT purge_at FROM inboxes WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(id.parse::<uuid::Uuid>().unwrap())
        .get_result(&mut conn)
        .await
        .unwrap();
    bucket.purge_at
}
