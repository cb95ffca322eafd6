//! Credentials for their whole life, on every transport: a revoked key or an expired token stops
//! working on connections and waits that are already open, WebSocket operations count against
//! the request rate like HTTP ones, and no credential ever reaches the log.

use std::{process::Command, time::Duration};

use ephemail_store::models::tenant::TenantLimits;
use serde_json::{json, Value};

use crate::helpers::{fresh_database, post_graphql, GraphqlWs, ServeProcess, TestApp};

const WATCH: &str = r#"subscription($a: String!) { messageReceived(address: $a) { id } }"#;

/// A new key of the `dev` tenant made through the API: (id, key).
async fn new_key(app: &TestApp, scope: &str) -> (String, String) {
    let tenant = app.data("{ viewer { tenant { id } } }", json!({})).await;
    let created = app
        .data(
            r#"mutation($t: ID!, $s: Scope!) { createApiKey(input: {tenantId: $t, scope: $s}) {
                key apiKey { id } } }"#,
            json!({ "t": tenant["viewer"]["tenant"]["id"], "s": scope }),
        )
        .await;
    let created = &created["createApiKey"];
    (
        created["apiKey"]["id"].as_str().unwrap().to_owned(),
        created["key"].as_str().unwrap().to_owned(),
    )
}

/// Starts a 60-second `waitForMessage` as `credential`; its response body.
fn long_wait(app: &TestApp, credential: &str, address: &str) -> tokio::task::JoinHandle<Value> {
    let (url, credential) = (app.url("/graphql"), credential.to_owned());
    let query = json!({ "query": format!(
        r#"{{ waitForMessage(address: "{address}", timeoutMs: 60000) {{ id }} }}"#) });
    tokio::spawn(async move { post_graphql(&url, &credential, query).await })
}

async fn ended_unauthenticated(wait: tokio::task::JoinHandle<Value>) {
    let response = tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("the wait ends within 5 s")
        .unwrap();
    assert_eq!(
        response["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{response}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_stops_open_websockets_and_long_waits_within_seconds() {
    let app = TestApp::spawn().await;
    for (legacy, from_another_process) in [(false, false), (true, true)] {
        let (id, key) = new_key(&app, "WRITE").await;
        let mut ws = GraphqlWs::connect_as(&app, legacy, Some(&key))
            .await
            .unwrap();
        ws.subscribe("watch", WATCH, json!({ "a": "revoked@localhost" }))
            .await;
        let wait = long_wait(&app, &key, "revoked-wait@localhost");
        tokio::time::sleep(Duration::from_millis(300)).await;
        if from_another_process {
            // The CLI is another process on the same database: servers hear it via NOTIFY.
            let output = Command::new(env!("CARGO_BIN_EXE_ephemail"))
                .args(["key", "revoke", &id, "--database-url", &app.database_url])
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
        } else {
            let revoked = app
                .data(
                    "mutation($id: ID!) { revokeApiKey(id: $id) { status } }",
                    json!({ "id": id }),
                )
                .await;
            assert_eq!(revoked["revokeApiKey"]["status"], "REVOKED");
        }
        let closed = ws.closed_within(Duration::from_secs(5)).await;
        assert!(
            closed
                .as_deref()
                .is_some_and(|c| c.starts_with("closed: 4403")),
            "legacy {legacy}: {closed:?}"
        );
        ended_unauthenticated(wait).await;
        let refused = GraphqlWs::connect_as(&app, legacy, Some(&key)).await;
        assert!(refused.is_err(), "a new connection with the key is refused");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inbox_token_past_its_expiry_stops_on_an_open_websocket_and_in_a_wait() {
    let app = TestApp::spawn().await;
    let created = app
        .data(
            r#"mutation { createInbox(input: {domain: "localhost", localPart: "short", ttlSeconds: 60}) {
                token inbox { id } } }"#,
            json!({}),
        )
        .await;
    let token = created["createInbox"]["token"].as_str().unwrap().to_owned();
    let inbox = created["createInbox"]["inbox"]["id"].clone();
    // The inbox lives on; the token keeps the expiry it was issued with.
    app.data(
        "mutation($id: ID!) { extendInbox(input: {id: $id, ttlSeconds: 3600}) { status } }",
        json!({ "id": inbox }),
    )
    .await;
    let mut ws = GraphqlWs::connect_with(app.http_addr, false, json!({ "token": token }))
        .await
        .unwrap();
    ws.subscribe("watch", WATCH, json!({ "a": "short@localhost" }))
        .await;
    let wait = long_wait(&app, &token, "short@localhost");
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.clock.advance(chrono::Duration::seconds(70));
    let closed = ws.closed_within(Duration::from_secs(5)).await;
    assert!(
        closed
            .as_deref()
            .is_some_and(|c| c.starts_with("closed: 4403")),
        "{closed:?}"
    );
    ended_unauthenticated(wait).await;
    app.send_mail("short@localhost", "after expiry", "x").await;
    let response = app
        .graphql_as(Some(&token), "{ viewer { scopes } }", json!({}))
        .await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_operations_count_against_the_request_rate() {
    let app = TestApp::spawn().await;
    let (_, key) = new_key(&app, "WRITE").await;
    app.set_limits(
        "dev",
        TenantLimits {
            max_requests_per_minute: Some(5),
            ..TenantLimits::default()
        },
    )
    .await;
    for legacy in [false, true] {
        let mut ws = GraphqlWs::connect_as(&app, legacy, Some(&key))
            .await
            .unwrap();
        let (mut ran, mut refused) = (0, 0);
        for n in 0..15 {
            let result = ws
                .execute(
                    &n.to_string(),
                    r#"mutation { createInbox(input: {domain: "localhost"}) { status } }"#,
                )
                .await;
            if result["type"] == "error" {
                assert_eq!(
                    result["payload"][0]["extensions"]["code"], "QUOTA_EXCEEDED",
                    "{result}"
                );
                assert!(result["payload"][0]["extensions"]["retryAfter"].as_u64() > Some(0));
                refused += 1;
            } else {
                assert_eq!(
                    result["payload"]["data"]["createInbox"]["status"], "CREATED",
                    "{result}"
                );
                ran += 1;
                // graphql-transport-ws ends each operation with `complete`.
                if !legacy {
                    assert_eq!(ws.next_message().await["type"], "complete");
                }
            }
        }
        assert!(ran <= 5, "legacy {legacy}: {ran} ran over a limit of 5");
        assert!(refused >= 10, "legacy {legacy}: {refused} refused");
        ws.close().await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_init_takes_every_documented_credential_field_and_refuses_with_4403() {
    let app = TestApp::spawn().await;
    let key = app.key.clone();
    for payload in [
        json!({ "apiKey": key }),
        json!({ "token": key }),
        json!({ "Authorization": format!("Bearer {key}") }),
        json!({ "authorization": format!("Bearer {key}") }),
        json!({ "X-API-Key": key }),
    ] {
        for legacy in [false, true] {
            let ws = GraphqlWs::connect_with(app.http_addr, legacy, payload.clone()).await;
            assert!(ws.is_ok(), "{payload}: {:?}", ws.err());
        }
    }
    for payload in [json!({}), json!({ "apiKey": "ek_not-a-key" })] {
        let refused = GraphqlWs::connect_with(app.http_addr, false, payload.clone()).await;
        let reason = refused.err().expect("refused");
        assert!(reason.starts_with("closed: 4403"), "{payload}: {reason}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_credential_ever_reaches_the_log() {
    let url = fresh_database().await;
    let log = std::env::temp_dir().join(format!("ephemail-log-{}.txt", uuid::Uuid::new_v4()));
    let server = ServeProcess::spawn_logging(&["--database-url", &url], Some(&log), &[]);
    let http = server.graphql_url().trim_end_matches("/graphql").to_owned();
    let http_addr = http.trim_start_matches("http://").parse().unwrap();
    let admin = Command::new(env!("CARGO_BIN_EXE_ephemail"))
        .args(["key", "create", "--tenant", "dev", "--scopes", "admin"])
        .args(["--database-url", &url])
        .output()
        .unwrap();
    let admin = String::from_utf8(admin.stdout).unwrap().trim().to_owned();
    let client = reqwest::Client::new();
    let post = |headers: Vec<(&'static str, String)>, query: &str| {
        let mut request = client
            .post(server.graphql_url())
            .json(&json!({ "query": query }));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let mut secrets = vec![admin.clone()];
    let created = post(
        vec![("Authorization", format!("Bearer {admin}"))],
        r#"mutation { createInbox(input: {domain: "localhost", localPart: "logged"}) { token inbox { id } } }"#,
    )
    .await;
    let token = created["data"]["createInbox"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(token.clone());
    let tenant = post(
        vec![("X-API-Key", admin.clone())],
        "{ viewer { tenant { id } } }",
    )
    .await;
    let tenant = tenant["data"]["viewer"]["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let another = post(
        vec![("X-API-Key", admin.clone())],
        &format!(
            r#"mutation {{ createApiKey(input: {{tenantId: "{tenant}", scope: READ}}) {{ key }} }}"#
        ),
    )
    .await;
    secrets.push(
        another["data"]["createApiKey"]["key"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let garbage = "ek_garbage-that-looks-like-a-key-000000000000000".to_owned();
    post(
        vec![("Authorization", format!("Bearer {garbage}"))],
        "{ domains { name } }",
    )
    .await;
    secrets.push(garbage);

    let mut smtp = crate::helpers::SmtpConversation::connect(server.smtp_addr()).await;
    smtp.command("EHLO client.test").await;
    smtp.deliver(
        "a@example.com",
        &["logged@localhost"],
        "Subject: x\r\n\r\ny\r\n",
    )
    .await;
    let listed = post(
        vec![("Authorization", format!("Bearer {token}"))],
        "{ waitForMessage(address: \"logged@localhost\", timeoutMs: 5000) { rawUrl } }",
    )
    .await;
    let raw_url = listed["data"]["waitForMessage"]["rawUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    for credential in [&token, &admin] {
        client
            .get(format!("{raw_url}?token={credential}"))
            .send()
            .await
            .unwrap();
    }
    for payload in [
        json!({ "apiKey": admin }),
        json!({ "token": token }),
        json!({ "Authorization": format!("Bearer {admin}") }),
    ] {
        GraphqlWs::connect_with(http_addr, false, payload)
            .await
            .unwrap()
            .close()
            .await;
    }
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.wait().await.success());

    let logged = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        logged.contains("/messages/") && logged.contains("token=[redacted]"),
        "the requests were logged: {logged}"
    );
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "{secret} is in the log");
        // Nor a recognizable part of it.
        assert!(
            !logged.contains(&secret[..secret.len() / 2]),
            "part of {secret} is in the log"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_key_is_refused_in_a_download_url() {
    let app = TestApp::spawn().await;
    app.send_mail("url@localhost", "s", "b").await;
    let waited = app
        .data(
            r#"{ waitForMessage(address: "url@localhost", timeoutMs: 5000) { rawUrl } }"#,
            json!({}),
        )
        .await;
    let raw_url = waited["waitForMessage"]["rawUrl"].as_str().unwrap();
    let response = reqwest::get(format!("{raw_url}?token={}", app.key))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("inbox token"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bootstrap_api_key_becomes_the_first_admin_key_unprinted_and_unlogged() {
    let data_dir = format!("/tmp/ephemail-boot-{}", uuid::Uuid::new_v4().simple());
    let log = std::env::temp_dir().join(format!("ephemail-boot-{}.txt", uuid::Uuid::new_v4()));
    let key = format!("ek_{}", "Bootstrap-key_0123456789abcdefghijklmnopqrs");
    let server = ServeProcess::spawn_logging(
        &["--data-dir", &data_dir],
        Some(&log),
        &[("EPHEMAIL_BOOTSTRAP_API_KEY", &key)],
    );
    assert_eq!(
        server.printed_key, None,
        "the operator's key is not printed"
    );
    let viewer = post_graphql(
        server.graphql_url(),
        &key,
        json!({ "query": "{ viewer { tenant { name } scopes } }" }),
    )
    .await;
    assert_eq!(
        viewer["data"]["viewer"]["tenant"]["name"], "dev",
        "{viewer}"
    );
    assert_eq!(viewer["data"]["viewer"]["scopes"][2], "ADMIN");
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.wait().await.success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains(&key[3..20]), "the key is in the log");
    // A key of another shape is refused before anything starts, without echoing it.
    let refused = Command::new(env!("CARGO_BIN_EXE_ephemail"))
        .args(["serve", "--data-dir", &data_dir])
        .env("EPHEMAIL_BOOTSTRAP_API_KEY", "ek_short-secret-value")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("EPHEMAIL_BOOTSTRAP_API_KEY must be"),
        "{stderr}"
    );
    assert!(!stderr.contains("short-secret-value"), "{stderr}");
    let _ = std::fs::remove_file(&log);
    std::fs::remove_dir_all(&data_dir).unwrap();
}
