use serde_json::{json, Value};

use crate::helpers::{without_trace_header, TestApp};

const LIST: &str = r#"query($id: ID!, $filter: MessageFilter) {
    messages(inboxId: $id, filter: $filter, first: 100) { totalCount edges { node { subject } } } }"#;

async fn subjects(app: &TestApp, inbox: &str, filter: Value) -> Vec<String> {
    let data = app
        .data(LIST, json!({ "id": inbox, "filter": filter }))
        .await;
    let messages = &data["messages"];
    let subjects: Vec<String> = messages["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["subject"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        messages["totalCount"],
        subjects.len(),
        "totalCount honours the filter"
    );
    subjects
}

async fn deliver(app: &TestApp, to: &str, raw: &str) {
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let reply = smtp.deliver("bounce@example.com", &[to], raw).await;
    assert!(reply.starts_with("250"), "{reply}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plus_addressing_and_every_filter() {
    let app = TestApp::spawn().await;
    let (inbox, _, _) = app.create_inbox("qa").await;
    deliver(&app, "qa+signup@localhost", "From: Shop <shop@store.example>\r\nTo: qa+signup@localhost\r\nSubject: Welcome to Store\r\n\r\nhi\r\n").await;
    deliver(&app, "QA+Reset@localhost", "From: Security <no-reply@auth.example>\r\nTo: qa@localhost\r\nCc: boss@corp.example\r\nSubject: Reset your password\r\n\r\nhi\r\n").await;
    deliver(
        &app,
        "qa@localhost",
        "From: Billing <billing@store.example>\r\nSubject: Invoice 42\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nattached\r\n--b\r\nContent-Type: application/pdf\r\n\
         Content-Disposition: attachment; filename=i.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n",
    )
    .await;

    assert_eq!(
        subjects(&app, &inbox, json!({})).await,
        ["Invoice 42", "Reset your password", "Welcome to Store"]
    );
    assert_eq!(
        subjects(&app, &inbox, json!({ "tag": "signup" })).await,
        ["Welcome to Store"]
    );
    assert_eq!(
        subjects(&app, &inbox, json!({ "tag": "RESET" })).await,
        ["Reset your password"]
    );
    assert_eq!(
        subjects(&app, &inbox, json!({ "from": "STORE.example" })).await,
        ["Invoice 42", "Welcome to Store"]
    );
    assert_eq!(
        subjects(&app, &inbox, json!({ "from": "security" })).await,
        ["Reset your password"]
    );
    assert_eq!(
        subjects(&app, &inbox, json!({ "to": "boss@" })).await,
        ["Reset your password"]
    );
    assert_eq!(
        subjects(&app, &inbox, json!({ "to": "qa+signup" })).await,
        ["Welcome to Store"]
    );
    assert_eq!(
        subjects(&app, &inbox, json!({ "subject": "PASSWORD" })).await,
        ["Reset your password"]
    );
    assert_eq!(
        subjects(&app, &inbox, json!({ "subject": "%" })).await,
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
    assert_eq!(
        subjects(&app, &inbox, json!({ "hasAttachments": true })).await,
        ["Invoice 42"]
    );
    assert_eq!(
        subjects(
            &app,
            &inbox,
            json!({ "hasAttachments": false, "from": "store" })
        )
        .await,
        ["Welcome to Store"]
    );
    assert_eq!(
        subjects(
            &app,
            &inbox,
            json!({ "receivedAfter": "2026-11-28T11:59:59Z" })
        )
        .await
        .len(),
        3
    );
    assert_eq!(
        subjects(
            &app,
            &inbox,
            json!({ "receivedBefore": "2026-11-28T12:00:00Z" })
        )
        .await
        .len(),
        0
    );

    let tags = app
        .data(
            r#"{ inbox(address: "qa@localhost") { messages { edges { node { tags rcptTo } } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        tags["inbox"]["messages"]["edges"][1]["node"],
        json!({ "tags": ["reset"], "rcptTo": ["qa+reset@localhost"] })
    );

    // Seen / unseen, and markSeen.
    let all = app
        .data(
            r#"{ inbox(address: "qa@localhost") { messages { edges { node { id } } } } }"#,
            json!({}),
        )
        .await;
    let newest = all["inbox"]["messages"]["edges"][0]["node"]["id"].clone();
    let marked = app
        .data(
            "mutation($ids: [ID!]!) { markSeen(ids: $ids) { count } }",
            json!({ "ids": [newest] }),
        )
        .await;
    assert_eq!(marked["markSeen"]["count"], 1);
    assert_eq!(
        subjects(&app, &inbox, json!({ "seen": true })).await,
        ["Invoice 42"]
    );
    assert_eq!(
        subjects(&app, &inbox, json!({ "seen": false })).await.len(),
        2
    );

    // Bulk delete by filter.
    let deleted = app
        .data(
            "mutation($id: ID!) { deleteMessages(inboxId: $id, filter: { from: \"store.example\" }) { count } }",
            json!({ "id": inbox }),
        )
        .await;
    assert_eq!(deleted["deleteMessages"]["count"], 2);
    assert_eq!(
        subjects(&app, &inbox, json!({})).await,
        ["Reset your password"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn extend_inbox_moves_its_expiry() {
    let app = TestApp::spawn_with(&["--max-ttl", "7200"]).await;
    let created = app
        .data(
            r#"mutation { createInbox(input: {domain: "localhost", ttlSeconds: 60, tags: ["CI", "run-7"]}) { inbox { id tags } } }"#,
            json!({}),
        )
        .await;
    let id = created["createInbox"]["inbox"]["id"].clone();
    assert_eq!(
        created["createInbox"]["inbox"]["tags"],
        json!(["ci", "run-7"])
    );
    let extend = r#"mutation($id: ID!, $ttl: Int!) { extendInbox(input: {id: $id, ttlSeconds: $ttl}) { status inbox { expiresAt } } }"#;
    let extended = app.data(extend, json!({ "id": id, "ttl": 3600 })).await;
    assert_eq!(
        extended["extendInbox"],
        json!({ "status": "EXTENDED", "inbox": { "expiresAt": "2026-11-28T13:00:00.000000Z" } })
    );
    let too_long = app.data(extend, json!({ "id": id, "ttl": 7201 })).await;
    assert_eq!(too_long["extendInbox"]["status"], "TTL_TOO_LONG");
    app.clock.advance(chrono::Duration::seconds(3600));
    let gone = app.data(extend, json!({ "id": id, "ttl": 60 })).await;
    assert_eq!(
        gone["extendInbox"]["status"], "NOT_FOUND",
        "an expired inbox cannot be revived"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_download_is_byte_identical_and_attachments_are_downloads() {
    let app = TestApp::spawn().await;
    let raw = "Subject: bytes\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
               --b\r\nContent-Type: text/html\r\n\r\n<p>see <img src=\"cid:logo@x\"></p>\r\n\
               --b\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Disposition: inline; filename=logo.png\r\n\
               Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
               --b\r\nContent-Type: text/html; name=evil.html\r\nContent-Disposition: attachment; filename=\"evil.html\"\r\n\r\n\
               <script>alert(1)</script>\r\n--b--\r\n \r\n..dot line and trailing spaces  \r\n";
    deliver(&app, "files@localhost", raw).await;
    let data = app
        .data(
            r#"{ inbox(address: "files@localhost") { messages { edges { node { rawUrl html
                attachments { filename contentType contentId url } } } } } }"#,
            json!({}),
        )
        .await;
    let node = &data["inbox"]["messages"]["edges"][0]["node"];
    let client = reqwest::Client::new();

    let response = client
        .get(node["rawUrl"].as_str().unwrap())
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "message/rfc822");
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let expected = raw.replace("\r\n..dot", "\r\n.dot");
    let stored = response.bytes().await.unwrap();
    assert_eq!(
        without_trace_header(&stored),
        expected.as_bytes(),
        "raw source is byte-identical after our Received: header"
    );

    let logo = &node["attachments"][0];
    assert_eq!(logo["contentId"], "logo@x");
    let html = node["html"].as_str().unwrap();
    assert!(
        html.contains(logo["url"].as_str().unwrap()),
        "cid: image points at its attachment: {html}"
    );

    let evil = &node["attachments"][1];
    assert_eq!(evil["filename"], "evil.html");
    let response = client
        .get(evil["url"].as_str().unwrap())
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/html");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"evil.html\""));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));

    let missing = client
        .get(app.url("/attachments/00000000-0000-0000-0000-000000000000"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let malformed = client
        .get(app.url("/messages/not-an-id/raw"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 404);
    app.stop().await;
}
