//! The GraphQL edge refuses abuse before it runs: alias bombs, batches,
//! operations over GET, non-JSON bodies (cross-site forms), oversized bodies; introspection
//! follows the configuration.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {response}"))
}

#[tokio::test]
async fn alias_bombs_are_refused_before_they_run() {
    let app = TestApp::spawn().await;
    let aliases: String = (0..60).map(|i| format!("a{i}: __typename ")).collect();
    let response = app.graphql(&format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(code(&response), "BAD_USER_INPUT", "{response}");
    assert!(response["data"].is_null(), "nothing ran: {response}");
    let fewer: String = (0..10).map(|i| format!("a{i}: __typename ")).collect();
    let response = app.graphql(&format!("{{ {fewer} }}"), json!({})).await;
    assert_eq!(response["data"]["a9"], "Query", "{response}");
}

#[tokio::test]
async fn batches_get_operations_forms_and_oversized_bodies_are_refused() {
    let app = TestApp::spawn_with(&["--max-request-bytes", "4096"]).await;
    let http = reqwest::Client::new();
    let post = |content_type: &'static str, body: String| {
        http.post(app.url("/graphql"))
            .bearer_auth(&app.key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let create =
        r#"mutation { createInbox(input: {domain: "localhost", localPart: "csrf"}) { status } }"#;

    let batch = json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]);
    let response = post("application/json", batch.to_string()).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    // What a cross-site HTML form can send without a CORS preflight.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = post(content_type, json!({ "query": create }).to_string())
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    }

    let response = http
        .get(app.url("/graphql"))
        .query(&[("query", create)])
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    let padding = " ".repeat(5000);
    let response = post(
        "application/json",
        format!(r#"{{"query": "{{ __typename {padding} }}"}}"#),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    // None of the refused requests created the inbox; a proper POST does.
    let data = app.data(create, json!({})).await;
    assert_eq!(data["createInbox"]["status"], "CREATED", "{data}");
    let response = post(
        "application/graphql-response+json; charset=utf-8",
        json!({ "query": "{ __typename }" }).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn introspection_and_suggestions_are_off_in_public_mode_unless_enabled() {
    const INTROSPECTION: &str = "{ __schema { queryType { name } } }";
    let app = TestApp::spawn().await;
    let response = app.graphql(INTROSPECTION, json!({})).await;
    assert_eq!(response["data"]["__schema"]["queryType"]["name"], "Query");

    let public = TestApp::spawn_with(&["--public-inboxes"]).await;
    let response = public.graphql(INTROSPECTION, json!({})).await;
    assert!(response["data"]["__schema"].is_null(), "{response}");
    let response = public.graphql("{ inboxs { id } }", json!({})).await;
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");

    let enabled =
        TestApp::spawn_with(&["--public-inboxes", "--graphql-introspection", "true"]).await;
    let response = enabled.graphql(INTROSPECTION, json!({})).await;
    assert_eq!(response["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn every_response_carries_security_headers_and_cors_is_closed_by_default() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let page = http.get(app.url("/graphql")).send().await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(!policy.contains("script-src 'unsafe-inline'"), "{policy}");
    for response in [page, http.get(app.url("/healthz")).send().await.unwrap()] {
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(response.headers().contains_key("content-security-policy"));
        assert!(!response.headers().contains_key("strict-transport-security"));
    }
    let preflight = http
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!preflight
        .headers()
        .contains_key("access-control-allow-origin"));

    let open = TestApp::spawn_with(&["--cors-origins", "https://app.example"]).await;
    for (origin, allowed) in [
        ("https://app.example", true),
        ("https://evil.example", false),
    ] {
        let preflight = http
            .request(reqwest::Method::OPTIONS, open.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        let allow_origin = preflight.headers().get("access-control-allow-origin");
        assert_eq!(allow_origin.is_some(), allowed, "{origin}");
        assert!(!preflight
            .headers()
            .contains_key("access-control-allow-credentials"));
    }
}

#[tokio::test]
async fn nul_bytes_in_input_are_bad_user_input_and_hostile_headers_are_kept_lossily() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    smtp.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<nul@localhost>\r\nDATA\r\n")
        .await;
    for _ in 0..3 {
        smtp.reply().await;
    }
    smtp.send(b"Subject: bad \xff byte\r\nFrom: a\x00b <a@example.com>\r\n\r\nbody\r\n")
        .await;
    assert!(smtp.command(".").await.starts_with("250"));
    let message = app
        .data(
            r#"{ waitForMessage(address: "nul@localhost", timeoutMs: 5000) {
                headers { name value } } }"#,
            json!({}),
        )
        .await;
    let headers = message["waitForMessage"]["headers"].as_array().unwrap();
    let value = |name: &str| {
        headers
            .iter()
            .find(|header| header["name"] == name)
            .map(|header| header["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(value("Subject").as_deref(), Some("bad \u{fffd} byte"));
    assert_eq!(value("From").as_deref(), Some("a\u{0}b <a@example.com>"));
    for query in [
        "mutation { createInbox(input: {domain: \"localhost\", tags: [\"a\\u0000b\"]}) { status } }",
        "{ inbox(address: \"nul@localhost\") { messages(filter: {subject: \"x\\u0000\"}) { totalCount } } }",
        "{ waitForMessage(address: \"nul@localhost\", filter: {tag: \"\\u0000\"}, timeoutMs: 10) { id } }",
    ] {
        let response = app.graphql(query, json!({})).await;
        assert_eq!(code(&response), "BAD_USER_INPUT", "{query}: {response}");
        assert!(response.to_string().contains("NUL"), "{response}");
    }
    app.stop().await;
}

#[tokio::test]
async fn refused_requests_carry_rate_limit_headers_and_no_line_zero_locations() {
    let app = TestApp::spawn_with(&["--max-request-bytes", "4096"]).await;
    let http = reqwest::Client::new();
    let refusals = [
        (
            http.post(app.url("/graphql"))
                .header("content-type", "text/plain")
                .body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            http.post(app.url("/graphql"))
                .header("content-type", "application/json")
                .body("x".repeat(5000)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            http.post(app.url("/graphql"))
                .header("content-type", "application/json")
                .body("not json"),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (request, status) in refusals {
        let response = request.bearer_auth(&app.key).send().await.unwrap();
        assert_eq!(response.status(), status);
        assert!(
            response.headers().contains_key("x-ratelimit-remaining"),
            "{status}"
        );
        let body: Value = response.json().await.unwrap();
        assert!(body["errors"][0].get("locations").is_none(), "{body}");
    }
    let get = http
        .get(app.url("/graphql?query={__typename}"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = get.json().await.unwrap();
    assert!(body["errors"][0].get("locations").is_none(), "{body}");
    app.stop().await;
}
