//! The API's series on `/metrics` after a known sequence of operations over every transport,
//! and the request id that responses and log lines carry.

use std::time::Duration;

use ephemail::scope::Scope;
use ephemail_store::models::tenant::TenantLimits;
use serde_json::{json, Value};

use crate::helpers::{
    fresh_database, metric_value, scrape_metrics, GraphqlWs, ServeProcess, TestApp,
};

const OPERATIONS: &str = "ephemail_graphql_operations_total";
const DURATIONS: &str = "ephemail_graphql_operation_duration_seconds";

/// Scrapes until `metric{labels}` is `expected` (gauges follow connections and waits a moment
/// later than the client sees them), failing after 10 s.
async fn until_metric(url: &str, metric: &str, labels: &[(&str, &str)], expected: f64) {
    let mut last = None;
    for _ in 0..200 {
        last = metric_value(&scrape_metrics(url).await, metric, labels);
        if last == Some(expected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{metric}{labels:?} stayed {last:?}, expected {expected}");
}

fn error_code(response: &Value) -> &Value {
    &response["errors"][0]["extensions"]["code"]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_series_count_a_known_sequence_exactly() {
    let app = TestApp::spawn().await;
    let metrics = app.url("/metrics");

    // Over POST: queries and mutations, a failing one, refused documents, introspection.
    let (_, address, _) = app.create_inbox("counted").await;
    app.data("{ domains { name } }", json!({})).await;
    app.data("{ domains { name } viewer { scopes } }", json!({}))
        .await;
    app.data("{ __schema { queryType { name } } }", json!({}))
        .await;
    let missing = app
        .graphql(
            r#"{ inbox(address: "nobody@registered.test") { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND", "{missing}");
    for invalid in ["{ domains { name }", "{ noSuchField }"] {
        let refused = app.graphql(invalid, json!({})).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    }

    // A wait, counted as waiting until the mail it returns arrives.
    let wait = app.graphql(
        "query($a: String!) { waitForMessage(address: $a, timeoutMs: 20000) { subject } }",
        json!({ "a": address }),
    );
    let deliver = async {
        until_metric(&metrics, "ephemail_waits_active", &[], 1.0).await;
        app.send_mail(&address, "waited for", "body").await;
    };
    let (waited, ()) = tokio::join!(wait, deliver);
    assert_eq!(
        waited["data"]["waitForMessage"]["subject"], "waited for",
        "{waited}"
    );
    let scrape = scrape_metrics(&metrics).await;
    assert_eq!(
        metric_value(&scrape, "ephemail_waits_active", &[]),
        Some(0.0)
    );

    // A subscription over graphql-transport-ws that receives a mail, and a query over the
    // legacy graphql-ws.
    let mut subscriber = GraphqlWs::connect(&app, false).await;
    subscriber
        .subscribe(
            "1",
            "subscription { messageReceived(address: \"pushed@localhost\") { subject } }",
            json!({}),
        )
        .await;
    until_metric(&metrics, "ephemail_subscriptions_active", &[], 1.0).await;
    app.send_mail("pushed@localhost", "pushed", "body").await;
    assert_eq!(
        subscriber.next_data().await["messageReceived"]["subject"],
        "pushed"
    );
    let mut legacy = GraphqlWs::connect(&app, true).await;
    let listed = legacy.execute("1", "{ domains { name } }").await;
    assert_eq!(listed["type"], "data", "{listed}");
    let scrape = scrape_metrics(&metrics).await;
    let gauge = |name| metric_value(&scrape, name, &[]);
    assert_eq!(gauge("ephemail_websocket_connections_open"), Some(2.0));
    assert_eq!(gauge("ephemail_subscriptions_active"), Some(1.0));
    assert_eq!(
        metric_value(&scrape, OPERATIONS, &[("operation", "messageReceived")]),
        None,
        "a subscription counts when it ends"
    );
    subscriber.close().await;
    legacy.close().await;
    until_metric(&metrics, "ephemail_websocket_connections_open", &[], 0.0).await;
    until_metric(&metrics, "ephemail_subscriptions_active", &[], 0.0).await;

    // A tenant allowed one request a minute: its second request is refused with a 429.
    app.set_limits(
        "limited",
        TenantLimits {
            max_requests_per_minute: Some(1),
            ..TenantLimits::default()
        },
    )
    .await;
    let limited = app.key_for("limited", Scope::Read).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let response = client
            .post(app.url("/graphql"))
            .bearer_auth(&limited)
            .json(&json!({ "query": "{ domains { name } }" }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 429]);

    let scrape = scrape_metrics(&metrics).await;
    let expected = [
        ("createInbox", "ok", 1.0),
        // POST, legacy WebSocket, and the limited tenant's first request.
        ("domains", "ok", 3.0),
        ("multiple", "ok", 1.0),
        ("introspection", "ok", 1.0),
        ("inbox", "NOT_FOUND", 1.0),
        ("invalid", "BAD_USER_INPUT", 2.0),
        ("waitForMessage", "ok", 1.0),
        ("messageReceived", "ok", 1.0),
    ];
    for (operation, outcome, count) in expected {
        assert_eq!(
            metric_value(
                &scrape,
                OPERATIONS,
                &[("operation", operation), ("outcome", outcome)]
            ),
            Some(count),
            "{operation} {outcome}"
        );
    }
    let counted: f64 = scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == OPERATIONS)
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(value) => value,
            _ => panic!("{OPERATIONS} is a counter"),
        })
        .sum();
    assert_eq!(counted, 11.0, "nothing else was counted");
    for (operation, timed) in [
        ("domains", Some(3.0)),
        ("createInbox", Some(1.0)),
        ("waitForMessage", Some(1.0)),
        ("invalid", Some(2.0)),
        ("messageReceived", None),
    ] {
        assert_eq!(
            metric_value(&scrape, DURATIONS, &[("operation", operation)]),
            timed,
            "{operation}"
        );
    }
    assert_eq!(
        metric_value(
            &scrape,
            "ephemail_http_rate_limited_total",
            &[("limit", "api_requests")]
        ),
        Some(1.0)
    );

    // The pool (8 connections in tests) is read at the scrape.
    let pool = |name, labels: &[(&str, &str)]| metric_value(&scrape, name, labels).unwrap();
    assert_eq!(pool("ephemail_db_pool_max_connections", &[]), 8.0);
    assert_eq!(pool("ephemail_db_pool_waiting", &[]), 0.0);
    let idle = pool("ephemail_db_pool_connections", &[("state", "idle")]);
    let in_use = pool("ephemail_db_pool_connections", &[("state", "in_use")]);
    assert!(
        idle >= 1.0 && idle + in_use <= 8.0,
        "{idle} idle, {in_use} in use"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carries_a_request_id_that_its_log_lines_carry() {
    let url = fresh_database().await;
    let log = std::env::temp_dir().join(format!("ephemail-log-{}.txt", uuid::Uuid::new_v4()));
    let server = ServeProcess::spawn_logging(&["--database-url", &url], Some(&log), &[]);
    let base = server.graphql_url().trim_end_matches("/graphql").to_owned();
    let client = reqwest::Client::new();
    let request_id = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };

    // A proxy's id is kept.
    let given = client
        .get(format!("{base}/healthz"))
        .header("x-request-id", "proxy-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&given), "proxy-4711");
    let operation = client
        .post(server.graphql_url())
        .header("x-request-id", "proxy-4712")
        .json(&json!({ "query": "{ domains { name } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&operation), "proxy-4712");
    let operation: Value = operation.json().await.unwrap();
    assert_eq!(error_code(&operation), "UNAUTHENTICATED", "{operation}");
    // Without one, or with one that could be a credential, a new one is made.
    let generated = request_id(&client.get(format!("{base}/nowhere")).send().await.unwrap());
    let key_like = format!("ek_{}", "x".repeat(43));
    let replaced = client
        .get(format!("{base}/healthz"))
        .header("x-request-id", &key_like)
        .send()
        .await
        .unwrap();
    let replaced = request_id(&replaced);
    for made in [&generated, &replaced] {
        assert_eq!(made.len(), 32, "{made}");
        assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
    }
    assert_ne!(generated, replaced);
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.wait().await.success());

    let logged = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let lines_with =
        |id: &str| -> Vec<&str> { logged.lines().filter(|l| l.contains(id)).collect() };
    let healthz = lines_with("proxy-4711");
    assert!(
        healthz.iter().any(|line| line.contains("/healthz")),
        "{healthz:?}"
    );
    let graphql = lines_with("proxy-4712");
    assert!(
        graphql
            .iter()
            .any(|line| line.contains("graphql operation done")
                && line.contains("domains")
                && line.contains("UNAUTHENTICATED")),
        "the operation's line carries the request id: {graphql:?}"
    );
    for made in [&generated, &replaced] {
        assert!(!lines_with(made).is_empty(), "{made} is not logged");
    }
    assert!(!logged.contains(&key_like), "the key-like id is logged");
}
