//! The HTTP server's transport: HTTPS with a configured certificate (and HSTS), and deadlines
//! that cut off clients trickling their headers without touching long requests.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, TestCertificate};

#[tokio::test(flavor = "multi_thread")]
async fn https_serves_the_api_with_hsts_when_a_certificate_is_configured() {
    let certificate = TestCertificate::generate();
    let (cert, key) = (certificate.cert(), certificate.key());
    let app = TestApp::spawn_with(&["--http-tls-cert", &cert, "--http-tls-key", &key]).await;
    // Python's ssl verifies the chain and the host name against our certificate.
    let script = "import json, ssl, sys, urllib.request\n\
        ctx = ssl.create_default_context(cafile=sys.argv[1])\n\
        base = 'https://localhost:' + sys.argv[2]\n\
        r = urllib.request.urlopen(base + '/healthz', context=ctx)\n\
        assert r.status == 200, r.status\n\
        assert r.headers['Strict-Transport-Security'] == 'max-age=31536000', r.headers\n\
        body = json.dumps({'query': '{ __typename }'}).encode()\n\
        request = urllib.request.Request(base + '/graphql', data=body, headers={\n\
            'Content-Type': 'application/json', 'Authorization': 'Bearer ' + sys.argv[3]})\n\
        answer = json.load(urllib.request.urlopen(request, context=ctx))\n\
        assert answer == {'data': {'__typename': 'Query'}}, answer\n\
        wait = '{ waitForMessage(address: \"tls@localhost\", timeoutMs: 5000) { rawUrl } }'\n\
        request.data = json.dumps({'query': wait}).encode()\n\
        answer = json.load(urllib.request.urlopen(request, context=ctx))\n\
        raw = answer['data']['waitForMessage']['rawUrl']\n\
        assert raw.startswith(base + '/messages/'), raw\n";
    // Its download links are HTTPS too.
    app.send_mail("tls@localhost", "over TLS", "body").await;
    let port = app.http_addr.port().to_string();
    let output = Command::new("python3")
        .args(["-c", script, &cert, &port, &app.key])
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Plain HTTP on the TLS port gets nowhere.
    let plain = reqwest::get(app.url("/healthz")).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_trickling_its_headers_is_cut_off_and_long_requests_are_not() {
    let app = TestApp::spawn_with(&["--http-header-timeout", "1"]).await;
    let mut slow = TcpStream::connect(app.http_addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        // One header line at a time, never the blank line that ends the head.
        if slow.write_all(b"X-Slow: yes\r\n").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0; 256];
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(10), slow.read(&mut buf)).await
        {
            if matches!(read, Ok(0) | Err(_)) {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "the trickling client was disconnected");
    assert!(started.elapsed() < Duration::from_secs(4));

    // A wait longer than the header timeout runs to its end on the same kind of connection.
    let (_, address, start) = app.create_inbox("patient").await;
    let response = app
        .graphql(
            "query($a: String, $after: String) { waitForMessage(address: $a, after: $after, timeoutMs: 2500) { id } }",
            json!({ "a": address, "after": start }),
        )
        .await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"], "TIMEOUT",
        "{response}"
    );
    app.stop().await;
}

/// Behind `--trusted-proxies`, the limits per client address count the address the proxy
/// names in `X-Forwarded-For`; from anyone else that header is ignored, so a client cannot
/// escape its limit by inventing addresses.
#[tokio::test(flavor = "multi_thread")]
async fn limits_per_address_count_the_client_a_trusted_proxy_names() {
    const CREATE: &str =
        r#"mutation { createInbox(input: {domain: "registered.test"}) { status } }"#;
    let create_from = |app: &TestApp, forwarded_for: &'static str| {
        let request = reqwest::Client::new()
            .post(app.url("/graphql"))
            .header("x-forwarded-for", forwarded_for)
            .json(&serde_json::json!({ "query": CREATE }));
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            match body["data"]["createInbox"]["status"].as_str() {
                Some(status) => status.to_owned(),
                None => body["errors"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            }
        }
    };
    let public = ["--public-inboxes", "--public-inboxes-per-minute", "1"];

    let direct = TestApp::spawn_with(&public).await;
    assert_eq!(create_from(&direct, "198.51.100.1").await, "CREATED");
    assert_eq!(
        create_from(&direct, "198.51.100.2").await,
        "QUOTA_EXCEEDED",
        "an untrusted peer's X-Forwarded-For is ignored"
    );
    direct.stop().await;

    let proxied =
        TestApp::spawn_with(&[&public[..], &["--trusted-proxies", "127.0.0.0/8"]].concat()).await;
    assert_eq!(create_from(&proxied, "198.51.100.1").await, "CREATED");
    assert_eq!(create_from(&proxied, "198.51.100.2").await, "CREATED");
    assert_eq!(
        create_from(&proxied, "198.51.100.1").await,
        "QUOTA_EXCEEDED"
    );
    // A client that writes its own header gets the address the proxy appended.
    assert_eq!(
        create_from(&proxied, "203.0.113.50, 198.51.100.2").await,
        "QUOTA_EXCEEDED"
    );
    proxied.stop().await;
}
