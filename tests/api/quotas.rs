//! Quotas hold under concurrency: exactly the limit, never more.

use ephemail::scope::Scope;
use ephemail_store::models::tenant::TenantLimits;
use serde_json::json;

use crate::helpers::{count, SmtpConversation, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_creations_under_a_limit_of_ten_create_exactly_ten() {
    let app = TestApp::spawn().await;
    app.set_limits(
        "dev",
        TenantLimits {
            max_inboxes: Some(10),
            ..TenantLimits::default()
        },
    )
    .await;
    let create =
        r#"mutation { createInbox(input: {domain: "localhost", ttlSeconds: 600}) { status } }"#;
    let responses =
        futures::future::join_all((0..50).map(|_| app.graphql(create, json!({})))).await;
    let created = responses
        .iter()
        .filter(|r| r["data"]["createInbox"]["status"] == "CREATED")
        .count();
    assert_eq!(created, 10, "{responses:?}");
    for refused in responses
        .iter()
        .filter(|r| r["data"]["createInbox"].is_null())
    {
        let extensions = &refused["errors"][0]["extensions"];
        assert_eq!(extensions["code"], "QUOTA_EXCEEDED", "{refused}");
        assert_eq!(
            extensions["retryAfter"], 600,
            "the first inbox expires in 600 s: {refused}"
        );
    }
    let viewer = app
        .data(
            "{ viewer { usage { liveInboxes } limits { inboxes } } }",
            json!({}),
        )
        .await;
    assert_eq!(viewer["viewer"]["usage"]["liveInboxes"], 10);
    assert_eq!(viewer["viewer"]["limits"]["inboxes"], 10);
    app.stop().await;
}

/// One mail over its own connection; the reply that decided it (RCPT or end of DATA).
async fn deliver_one(app: &TestApp, n: usize) -> String {
    let mut smtp = SmtpConversation::connect(app.smtp_addr).await;
    smtp.command("EHLO load.test").await;
    smtp.command("MAIL FROM:<load@example.com>").await;
    let rcpt = smtp
        .command(&format!("RCPT TO:<load{}@localhost>", n % 7))
        .await;
    if !rcpt.starts_with("250") {
        return rcpt;
    }
    assert!(smtp.command("DATA").await.starts_with("354"));
    smtp.send(format!("Subject: mail {n}\r\n\r\nbody\r\n").as_bytes())
        .await;
    smtp.command(".").await
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_deliveries_under_a_daily_limit_of_one_hundred_store_exactly_one_hundred(
) {
    // 200 sessions at once from one address: above the default per-address limit.
    let app = TestApp::spawn_with(&["--smtp-max-connections-per-ip", "300"]).await;
    app.set_limits(
        "dev",
        TenantLimits {
            max_mails_per_day: Some(100),
            ..TenantLimits::default()
        },
    )
    .await;
    let replies = futures::future::join_all((0..200).map(|n| deliver_one(&app, n))).await;
    let stored = replies
        .iter()
        .filter(|r| r.starts_with("250 2.0.0"))
        .count();
    let deferred = replies
        .iter()
        .filter(|r| r.as_str() == "452 4.2.2 Mailbox over quota; try again later")
        .count();
    assert_eq!((stored, deferred), (100, 100), "{replies:?}");
    let (messages, _) = crate::schema::query_counts(&app.database_url).await;
    assert_eq!(messages, 100, "exactly the quota is stored");
    let usage = app
        .data("{ viewer { usage { mailsToday storedBytes } } }", json!({}))
        .await;
    assert_eq!(usage["viewer"]["usage"]["mailsToday"], 100);

    // A new day, new mail.
    app.clock.advance(chrono::Duration::days(1));
    assert!(deliver_one(&app, 0).await.starts_with("250 2.0.0"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_quota_defers_mail_once_full() {
    let app = TestApp::spawn().await;
    app.set_limits(
        "dev",
        TenantLimits {
            max_stored_bytes: Some(40),
            ..TenantLimits::default()
        },
    )
    .await;
    assert!(
        deliver_one(&app, 1).await.starts_with("250"),
        "the first mail (25 bytes) fits"
    );
    assert_eq!(
        deliver_one(&app, 2).await,
        "452 4.2.2 Mailbox over quota; try again later"
    );
    // Deleting frees the space again.
    let inbox = app
        .data(r#"{ inbox(address: "load1@localhost") { id } }"#, json!({}))
        .await;
    app.data(
        "mutation($id: ID!) { deleteInbox(id: $id) { status } }",
        json!({ "id": inbox["inbox"]["id"] }),
    )
    .await;
    assert!(deliver_one(&app, 3).await.starts_with("250"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_rate_limit_answers_429_with_a_correct_retry_after() {
    let app = TestApp::spawn().await;
    app.set_limits(
        "dev",
        TenantLimits {
            max_requests_per_minute: Some(3),
            ..TenantLimits::default()
        },
    )
    .await;
    let client = reqwest::Client::new();
    let request = || {
        client
            .post(app.url("/graphql"))
            .bearer_auth(&app.key)
            .json(&json!({ "query": "{ domains { name } }" }))
            .send()
    };
    for remaining in ["2", "1", "0"] {
        let response = request().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-ratelimit-limit"], "3");
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining);
    }
    let refused = request().await.unwrap();
    assert_eq!(refused.status(), 429);
    // One request's worth of tokens at 3 per minute takes 20 s.
    assert_eq!(refused.headers()["retry-after"], "20");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUOTA_EXCEEDED");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 20);

    app.clock.advance(chrono::Duration::seconds(19));
    assert_eq!(request().await.unwrap().status(), 429, "not yet");
    app.clock.advance(chrono::Duration::seconds(1));
    let again = request().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["x-ratelimit-remaining"], "0");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_without_a_tenant_and_public_visitors_share_a_request_bucket_per_address() {
    let app = TestApp::spawn_with(&["--public-inboxes", "--quota-requests-per-minute", "4"]).await;
    let client = reqwest::Client::new();
    let request = |credential: Option<&str>, query: &str| {
        let request = client
            .post(app.url("/graphql"))
            .json(&json!({ "query": query }));
        match credential {
            Some(credential) => request.bearer_auth(credential),
            None => request,
        }
    };
    let domains = "{ domains { name } }";
    let created = request(
        None,
        r#"mutation { createInbox(input: {domain: "registered.test"}) { token } }"#,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(created.headers()["x-ratelimit-remaining"], "3");
    let created: serde_json::Value = created.json().await.unwrap();
    let token = created["data"]["createInbox"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A wrong key, and the token of a public inbox (its tenant is everyone's), count alike.
    for (credential, remaining) in [
        (Some("ek_wrong"), "2"),
        (Some(token.as_str()), "1"),
        (None, "0"),
    ] {
        let response = request(credential, domains).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-ratelimit-limit"], "4");
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining);
    }
    let refused = request(Some(&token), domains).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "15");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUOTA_EXCEEDED");
    // A tenant's key from the same address has its own bucket.
    let tenant = request(Some(&app.key), domains).send().await.unwrap();
    assert_eq!(tenant.status(), 200);
    assert_eq!(tenant.headers()["x-ratelimit-remaining"], "3");
    // The bucket refills on the service's clock.
    app.clock.advance(chrono::Duration::seconds(14));
    assert_eq!(
        request(None, domains).send().await.unwrap().status(),
        429,
        "not yet"
    );
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(request(None, domains).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_ttl_limit_caps_its_inboxes() {
    let app = TestApp::spawn().await;
    app.set_limits(
        "dev",
        TenantLimits {
            max_ttl_seconds: Some(120),
            ..TenantLimits::default()
        },
    )
    .await;
    let too_long = app
        .data(r#"mutation { createInbox(input: {domain: "localhost", ttlSeconds: 121}) { status maxTtlSeconds } }"#, json!({}))
        .await;
    assert_eq!(
        too_long["createInbox"],
        json!({ "status": "TTL_TOO_LONG", "maxTtlSeconds": 120 })
    );
    let default = app
        .data(
            r#"mutation { createInbox(input: {domain: "localhost"}) { inbox { expiresAt } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        default["createInbox"]["inbox"]["expiresAt"],
        "2026-11-28T12:02:00.000000Z"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_message_size_limit_refuses_larger_mail() {
    let app = TestApp::spawn().await;
    app.set_limits(
        "dev",
        TenantLimits {
            max_message_size: Some(100),
            ..TenantLimits::default()
        },
    )
    .await;
    let mut smtp = SmtpConversation::connect(app.smtp_addr).await;
    smtp.command("EHLO client.test").await;
    let small = "Subject: small\r\n\r\nok\r\n";
    let reply = smtp
        .deliver("a@example.com", &["first@localhost"], small)
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    // To a new catch-all address, stored from memory: its inbox is made (and counted) though
    // no copy fits, as when the batch is read.
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(200));
    let reply = smtp
        .deliver("a@example.com", &["sized@localhost"], &big)
        .await;
    assert_eq!(reply, "552 5.3.4 Message too large for this recipient");
    assert_eq!(app.batches_by_recipients_source().await, [1.0, 0.0, 1.0]);
    assert_eq!(count(&app, "mail_inboxes").await, 2);
    let reply = smtp
        .deliver("a@example.com", &["sized@localhost"], small)
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(app.batches_by_recipients_source().await, [2.0, 0.0, 1.0]);
    assert_eq!(app.messages_of("sized@localhost").await.len(), 1);
    assert_eq!(count(&app, "inboxes").await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_over_one_tenants_quota_is_stored_for_its_other_tenant_and_up_to_the_limit() {
    let app = TestApp::spawn().await;
    app.set_limits(
        "dev",
        TenantLimits {
            max_mails_per_day: Some(1),
            ..TenantLimits::default()
        },
    )
    .await;
    let other = app.key_for("other", Scope::Admin).await;
    let created = app
        .graphql_as(
            Some(&other),
            r#"mutation { createInbox(input: {domain: "registered.test", localPart: "o"}) {
                status } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        created["data"]["createInbox"]["status"], "CREATED",
        "{created:#}"
    );

    // Both of dev's recipients pass `RCPT TO` (it has room for one more mail), but only one of
    // its copies fits at the end of DATA; the other tenant's copy is not held back by that.
    let mut smtp = app.smtp().await;
    smtp.command("EHLO load.test").await;
    let reply = smtp
        .deliver(
            "load@example.com",
            &["a@localhost", "b@localhost", "o@registered.test"],
            "Subject: three inboxes\r\n\r\nbody\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");

    let stored =
        app.messages_of("a@localhost").await.len() + app.messages_of("b@localhost").await.len();
    assert_eq!(stored, 1, "dev's copies up to its limit");
    let usage = app
        .data("{ viewer { usage { mailsToday } } }", json!({}))
        .await;
    assert_eq!(usage["viewer"]["usage"]["mailsToday"], 1);
    let theirs = app
        .graphql_as(
            Some(&other),
            r#"{ inbox(address: "o@registered.test") { messages(first: 10) {
                edges { node { subject } } } } viewer { usage { mailsToday } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        theirs["data"]["inbox"]["messages"]["edges"][0]["node"]["subject"], "three inboxes",
        "{theirs:#}"
    );
    assert_eq!(theirs["data"]["viewer"]["usage"]["mailsToday"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_to_random_catch_all_addresses_cannot_lock_create_inbox_out() {
    let app = TestApp::spawn().await;
    app.set_limits(
        "dev",
        TenantLimits {
            max_inboxes: Some(2),
            ..TenantLimits::default()
        },
    )
    .await;
    // Anyone on the internet can make inboxes on a catch-all domain by mailing them.
    for n in 0..5 {
        app.send_mail(&format!("flood{n}@localhost"), "x", "y")
            .await;
    }
    assert_eq!(app.messages_of("flood4@localhost").await.len(), 1);
    let create = r#"mutation { createInbox(input: {domain: "localhost"}) { status } }"#;
    for _ in 0..2 {
        let created = app.data(create, json!({})).await;
        assert_eq!(created["createInbox"]["status"], "CREATED");
    }
    let over = app.graphql(create, json!({})).await;
    assert_eq!(
        over["errors"][0]["extensions"]["code"], "QUOTA_EXCEEDED",
        "{over}"
    );
    let usage = app
        .data("{ viewer { usage { liveInboxes } } }", json!({}))
        .await;
    assert_eq!(usage["viewer"]["usage"]["liveInboxes"], 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_to_an_address_another_writer_is_making_lands_in_that_inbox_counted_once() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let app = TestApp::spawn().await;
    app.send_mail("seed@localhost", "first", "x").await;
    // Another process's writer making `raced@` (as this one made `seed@`), not yet committed:
    // this process's statement waits on it, and its snapshot, older than that commit, does not
    // see the inbox it then finds taken.
    let mut other = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    other
        .batch_execute(
            "BEGIN;
             INSERT INTO inboxes (id, tenant_id, local_part, domain, created_at, expires_at,
                 tags, purge_at, created_by_mail)
             SELECT gen_random_uuid(), tenant_id, 'raced', domain, created_at, expires_at, tags,
                 purge_at, true
             FROM inboxes WHERE local_part = 'seed';
             UPDATE tenant_usage SET mail_inboxes = mail_inboxes + 1;",
        )
        .await
        .unwrap();
    let commit_later = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        other.batch_execute("COMMIT").await.unwrap();
    };
    tokio::join!(
        app.send_mail("raced@localhost", "to the other's inbox", "x"),
        commit_later
    );
    assert_eq!(app.messages_of("raced@localhost").await.len(), 1);
    assert_eq!(count(&app, "inboxes").await, 2);
    assert_eq!(count(&app, "mail_inboxes").await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inboxes_made_by_mail_have_a_bound_of_their_own() {
    let app = TestApp::spawn_with(&["--quota-catch-all-inboxes", "3"]).await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let mut replies = Vec::new();
    for n in 0..6 {
        let to = format!("made{n}@localhost");
        assert!(smtp
            .command("MAIL FROM:<a@example.com>")
            .await
            .starts_with("250"));
        assert!(smtp
            .command(&format!("RCPT TO:<{to}>"))
            .await
            .starts_with("250"));
        assert!(smtp.command("DATA").await.starts_with("354"));
        smtp.send(b"Subject: x\r\n\r\ny\r\n").await;
        replies.push(smtp.command(".").await);
    }
    assert!(
        replies[..3].iter().all(|r| r.starts_with("250")),
        "{replies:?}"
    );
    assert!(
        replies[3..].iter().all(|r| r.starts_with("452 4.2.2")),
        "a temporary refusal past the bound: {replies:?}"
    );
    // The writer stored the second and third from memory; it tried the fourth so, found the
    // tenant at its bound, and read; after that it reads while the tenant stays at its bound.
    assert_eq!(app.batches_by_recipients_source().await, [2.0, 1.0, 4.0]);
    // Inboxes that exist still receive, and the API still creates.
    app.send_mail("made0@localhost", "again", "z").await;
    assert_eq!(app.messages_of("made0@localhost").await.len(), 2);
    assert_eq!(app.batches_by_recipients_source().await, [3.0, 1.0, 4.0]);
    let created = app
        .data(
            r#"mutation { createInbox(input: {domain: "localhost"}) { status } }"#,
            json!({}),
        )
        .await;
    assert_eq!(created["createInbox"]["status"], "CREATED");
    assert_eq!(count(&app, "mail_inboxes").await, 3);

    // Expired but not yet swept, the three still count in the tenant's counter; the live count
    // it falls back to at the bound admits a new address all the same.
    app.clock.advance(chrono::Duration::seconds(3601));
    app.send_mail("made9@localhost", "after expiry", "z").await;
    assert_eq!(app.messages_of("made9@localhost").await.len(), 1);
    assert_eq!(count(&app, "mail_inboxes").await, 4);
    // The sweeper's deletes take the expired ones off the counter.
    app.app.sweeper.sweep().await.unwrap();
    assert_eq!(count(&app, "mail_inboxes").await, 1);
    app.stop().await;
}
