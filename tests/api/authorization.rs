//! The authorization matrix: every operation on tenant A's objects, tried by someone else.

use ephemail::scope::Scope;
use serde_json::{json, Value};

use crate::helpers::{GraphqlWs, TestApp};

const MISSING: &str = "00000000-0000-0000-0000-000000000000";

/// Tenant A (`dev`, owner of the catch-all `localhost`) with an inbox holding a message with an
/// attachment; returns (inbox id, address, message id, attachment id).
async fn tenant_a_data(app: &TestApp) -> (String, String, String, String) {
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let raw = "Subject: secret\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
               --b\r\nContent-Type: text/plain\r\n\r\ncode 123456\r\n--b\r\nContent-Type: application/pdf\r\n\
               Content-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
               JVBERi0xLjQK\r\n--b--\r\n";
    let reply = smtp
        .deliver("x@example.com", &["owner@localhost"], raw)
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let data = app
        .data(
            r#"{ inbox(address: "owner@localhost") { id messages { edges { node { id attachments { id } } } } } }"#,
            json!({}),
        )
        .await;
    let inbox = &data["inbox"];
    let message = &inbox["messages"]["edges"][0]["node"];
    (
        inbox["id"].as_str().unwrap().to_owned(),
        "owner@localhost".to_owned(),
        message["id"].as_str().unwrap().to_owned(),
        message["attachments"][0]["id"].as_str().unwrap().to_owned(),
    )
}

/// Every GraphQL operation that names an inbox or message, with `{inbox}`, `{address}` and
/// `{message}` placeholders.
const OPERATIONS: &[(&str, &str)] = &[
    ("inbox by id", r#"{ inbox(id: "{inbox}") { id } }"#),
    (
        "inbox by address",
        r#"{ inbox(address: "{address}") { id } }"#,
    ),
    (
        "messages",
        r#"{ messages(inboxId: "{inbox}") { totalCount } }"#,
    ),
    ("message", r#"{ message(id: "{message}") { id subject } }"#),
    (
        "wait",
        r#"{ waitForMessage(inboxId: "{inbox}", timeoutMs: 100) { id } }"#,
    ),
    (
        "wait by address",
        r#"{ waitForMessage(address: "{address}", timeoutMs: 100) { id } }"#,
    ),
    (
        "deleteInbox",
        r#"mutation { deleteInbox(id: "{inbox}") { status } }"#,
    ),
    (
        "deleteMessage",
        r#"mutation { deleteMessage(id: "{message}") { status } }"#,
    ),
    (
        "deleteMessages",
        r#"mutation { deleteMessages(inboxId: "{inbox}") { count } }"#,
    ),
    (
        "markSeen",
        r#"mutation { markSeen(ids: ["{message}"]) { count } }"#,
    ),
    (
        "extendInbox",
        r#"mutation { extendInbox(input: {id: "{inbox}", ttlSeconds: 60}) { status } }"#,
    ),
];

fn fill(template: &str, inbox: &str, address: &str, message: &str) -> String {
    template
        .replace("{inbox}", inbox)
        .replace("{address}", address)
        .replace("{message}", message)
}

fn code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tenant_cannot_tell_our_objects_from_missing_ones() {
    let app = TestApp::spawn().await;
    let (inbox, address, message, attachment) = tenant_a_data(&app).await;
    let other = app.key_for("beta", Scope::Write).await;

    for (name, template) in OPERATIONS {
        let ours = app
            .graphql_as(
                Some(&other),
                &fill(template, &inbox, &address, &message),
                json!({}),
            )
            .await;
        let missing = app
            .graphql_as(
                Some(&other),
                &fill(template, MISSING, "nobody@localhost", MISSING),
                json!({}),
            )
            .await;
        assert_eq!(
            ours, missing,
            "{name}: tenant B must see A's object as missing"
        );
        let refused = code(&ours).is_some_and(|c| c == "NOT_FOUND")
            || ours["data"].to_string().contains("NOT_FOUND")
            || ours["data"].to_string().contains("\"count\":0");
        assert!(refused, "{name}: {ours}");
    }
    // Not on A's catch-all domain either, and not in listings.
    let created = app
        .graphql_as(
            Some(&other),
            r#"mutation { createInbox(input: {domain: "localhost"}) { status } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        created["data"]["createInbox"]["status"],
        "DOMAIN_NOT_SERVED"
    );
    let domains = app
        .graphql_as(Some(&other), "{ domains { name } }", json!({}))
        .await;
    assert_eq!(
        domains["data"]["domains"],
        json!([{ "name": "registered.test" }])
    );

    // Downloads: a plain 404, like a missing object.
    let client = reqwest::Client::new();
    for path in [
        format!("/messages/{message}/raw"),
        format!("/attachments/{attachment}"),
    ] {
        let response = client
            .get(app.url(&path))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }

    // Subscriptions.
    let mut ws = GraphqlWs::connect_as(&app, false, Some(&other))
        .await
        .unwrap();
    ws.subscribe(
        "1",
        &fill(
            r#"subscription { messageReceived(inboxId: "{inbox}") { id } }"#,
            &inbox,
            &address,
            &message,
        ),
        json!({}),
    )
    .await;
    let refused = ws.next_message().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    ws.close().await;

    // Nothing was changed by all that: A still has its inbox, message and attachment.
    let data = app
        .data(r#"query($id: ID!) { message(id: $id) { seen attachments { id } inbox { expiresAt } } }"#, json!({ "id": message }))
        .await;
    assert_eq!(data["message"]["seen"], false);
    assert_eq!(data["message"]["attachments"][0]["id"], attachment.as_str());
    assert_eq!(
        data["message"]["inbox"]["expiresAt"],
        "2026-11-28T13:00:00.000000Z"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_key_reads_but_cannot_change_anything() {
    let app = TestApp::spawn().await;
    let (inbox, address, message, _) = tenant_a_data(&app).await;
    let reader = app.key_for("dev", Scope::Read).await;
    for (name, template) in OPERATIONS {
        let response = app
            .graphql_as(
                Some(&reader),
                &fill(template, &inbox, &address, &message),
                json!({}),
            )
            .await;
        if template.starts_with("mutation") {
            assert_eq!(code(&response), Some("FORBIDDEN"), "{name}: {response}");
        } else {
            assert_ne!(code(&response), Some("FORBIDDEN"), "{name}: {response}");
        }
    }
    let consuming = app
        .graphql_as(
            Some(&reader),
            &format!(r#"{{ waitForMessage(inboxId: "{inbox}", markSeen: true) {{ id }} }}"#),
            json!({}),
        )
        .await;
    assert_eq!(code(&consuming), Some("FORBIDDEN"), "{consuming}");
    let admin_only = app
        .graphql_as(Some(&reader), "{ tenants { name } }", json!({}))
        .await;
    assert_eq!(code(&admin_only), Some("FORBIDDEN"));
    let viewer = app
        .graphql_as(
            Some(&reader),
            "{ viewer { tenant { name } scopes } }",
            json!({}),
        )
        .await;
    assert_eq!(
        viewer["data"]["viewer"],
        json!({ "tenant": { "name": "dev" }, "scopes": ["READ"] })
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_garbage_and_revoked_credentials_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let (inbox, address, message, attachment) = tenant_a_data(&app).await;
    let revoked = app.key_for("dev", Scope::Admin).await;
    let keys = app.data("{ apiKeys { id prefix } }", json!({})).await;
    let revoked_id = keys["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| revoked.starts_with(key["prefix"].as_str().unwrap()) && key["prefix"] != "")
        .map(|key| key["id"].clone())
        .unwrap();
    let result = app
        .data(
            "mutation($id: ID!) { revokeApiKey(id: $id) { status } }",
            json!({ "id": revoked_id }),
        )
        .await;
    assert_eq!(result["revokeApiKey"]["status"], "REVOKED");

    let credentials: [Option<&str>; 5] = [
        None,
        Some("ek_garbage"),
        Some("not-a-key"),
        Some(""),
        Some(&revoked),
    ];
    for credential in credentials {
        for (name, template) in OPERATIONS {
            let response = app
                .graphql_as(
                    credential,
                    &fill(template, &inbox, &address, &message),
                    json!({}),
                )
                .await;
            assert_eq!(
                code(&response),
                Some("UNAUTHENTICATED"),
                "{name} with {credential:?}: {response}"
            );
            assert!(
                !response.to_string().contains("secret"),
                "nothing leaks: {response}"
            );
        }
        let mut request =
            reqwest::Client::new().get(app.url(&format!("/attachments/{attachment}")));
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        assert_eq!(request.send().await.unwrap().status(), 401);
        assert!(
            GraphqlWs::connect_as(&app, false, credential)
                .await
                .is_err(),
            "{credential:?}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_key_manages_tenants_and_keys() {
    let app = TestApp::spawn().await;
    let created = app
        .data(
            r#"mutation { createTenant(name: "gamma") { status tenant { id name } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(created["createTenant"]["status"], "CREATED");
    let again = app
        .data(
            r#"mutation { createTenant(name: "gamma") { status } }"#,
            json!({}),
        )
        .await;
    assert_eq!(again["createTenant"]["status"], "NAME_TAKEN");
    let key = app
        .data(
            "mutation($t: ID!) { createApiKey(input: {tenantId: $t, scope: WRITE, name: \"ci\"}) { status key apiKey { prefix scope } } }",
            json!({ "t": created["createTenant"]["tenant"]["id"] }),
        )
        .await;
    let new_key = key["createApiKey"]["key"].as_str().unwrap();
    assert!(new_key.starts_with(key["createApiKey"]["apiKey"]["prefix"].as_str().unwrap()));
    assert_eq!(key["createApiKey"]["apiKey"]["scope"], "WRITE");
    let viewer = app
        .graphql_as(
            Some(new_key),
            "{ viewer { tenant { name } scopes } }",
            json!({}),
        )
        .await;
    assert_eq!(
        viewer["data"]["viewer"],
        json!({ "tenant": { "name": "gamma" }, "scopes": ["READ", "WRITE"] })
    );
    // A key passed as X-API-Key works too.
    let response: Value = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("X-API-Key", new_key)
        .json(&json!({ "query": "{ viewer { scopes } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        response["data"]["viewer"]["scopes"],
        json!(["READ", "WRITE"])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inbox_token_reads_its_inbox_over_http_and_websocket_and_nothing_else() {
    let app = TestApp::spawn().await;
    let (other_inbox, other_address, other_message, _) = tenant_a_data(&app).await;
    let created = app
        .data(
            r#"mutation { createInbox(input: {domain: "localhost", localPart: "tok", ttlSeconds: 600}) {
                token inbox { id latestCursor } } }"#,
            json!({}),
        )
        .await;
    let token = created["createInbox"]["token"].as_str().unwrap().to_owned();
    let inbox = created["createInbox"]["inbox"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = created["createInbox"]["inbox"]["latestCursor"].clone();

    // WebSocket: its own inbox streams; the subscription is opened before the mail.
    let mut ws = GraphqlWs::connect_as(&app, false, Some(&token))
        .await
        .unwrap();
    ws.subscribe(
        "1",
        "subscription($id: ID, $after: String) { messageReceived(inboxId: $id, after: $after) { subject rawUrl } }",
        json!({ "id": inbox, "after": start }),
    )
    .await;
    app.send_mail("tok@localhost", "for the token", "hi").await;
    let streamed = ws.next_data().await["messageReceived"].clone();
    assert_eq!(streamed["subject"], "for the token");
    ws.subscribe(
        "2",
        "subscription($id: ID) { messageReceived(inboxId: $id) { id } }",
        json!({ "id": other_inbox }),
    )
    .await;
    let refused = ws.next_message().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    ws.close().await;

    // HTTP: reads and waits on its inbox.
    let own = app
        .graphql_as(
            Some(&token),
            "query($id: ID!) { messages(inboxId: $id) { totalCount } }",
            json!({ "id": inbox }),
        )
        .await;
    assert_eq!(own["data"]["messages"]["totalCount"], 1, "{own}");
    let waited = app
        .graphql_as(
            Some(&token),
            "query($id: ID) { waitForMessage(inboxId: $id, timeoutMs: 100) { subject } }",
            json!({ "id": inbox }),
        )
        .await;
    assert_eq!(waited["data"]["waitForMessage"]["subject"], "for the token");
    // ... and nothing else.
    for (name, template) in OPERATIONS {
        let response = app
            .graphql_as(
                Some(&token),
                &fill(template, &other_inbox, &other_address, &other_message),
                json!({}),
            )
            .await;
        // Changes to another inbox find nothing, exactly as for a missing one.
        let text = response.to_string();
        assert!(
            code(&response) == Some("NOT_FOUND")
                || text.contains(r#""status":"NOT_FOUND""#)
                || text.contains(r#""count":0"#),
            "{name}: {response}"
        );
    }
    for query in [
        r#"mutation { createInbox(input: {domain: "localhost"}) { status } }"#,
        "{ domains { name } }",
        "{ tenants { name } }",
    ] {
        let response = app.graphql_as(Some(&token), query, json!({})).await;
        assert_eq!(code(&response), Some("FORBIDDEN"), "{query}: {response}");
    }

    // Downloads with ?token= (a browser link): its own message only.
    let client = reqwest::Client::new();
    let raw_url = streamed["rawUrl"].as_str().unwrap();
    assert_eq!(
        client
            .get(format!("{raw_url}?token={token}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let other = app.url(&format!("/messages/{other_message}/raw?token={token}"));
    assert_eq!(client.get(other).send().await.unwrap().status(), 404);

    // Tampered, alg none, expired: refused.
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let claims = token.split('.').nth(1).unwrap();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
    for forged in [tampered.as_str(), alg_none.as_str()] {
        let response = app
            .graphql_as(
                Some(forged),
                "{ messages(inboxId: \"x\") { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(code(&response), Some("UNAUTHENTICATED"), "{response}");
    }
    // Past the inbox's expiry and the few seconds of leeway for clock skew.
    app.clock.advance(chrono::Duration::seconds(610));
    let expired = app
        .graphql_as(
            Some(&token),
            "query($id: ID!) { messages(inboxId: $id) { totalCount } }",
            json!({ "id": inbox }),
        )
        .await;
    assert_eq!(code(&expired), Some("UNAUTHENTICATED"), "{expired}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn public_mode_lets_anonymous_callers_create_inboxes_on_shared_domains_only() {
    let create = r#"mutation($d: String!) { createInbox(input: {domain: $d}) { status token inbox { address } } }"#;
    let closed = TestApp::spawn().await;
    let refused = closed
        .graphql_as(None, create, json!({ "d": "registered.test" }))
        .await;
    assert_eq!(
        code(&refused),
        Some("UNAUTHENTICATED"),
        "public mode is off by default"
    );
    closed.stop().await;

    let app = TestApp::spawn_with(&["--public-inboxes", "--public-inboxes-per-minute", "2"]).await;
    let created = app
        .graphql_as(None, create, json!({ "d": "registered.test" }))
        .await;
    let payload = &created["data"]["createInbox"];
    assert_eq!(payload["status"], "CREATED", "{created}");
    let token = payload["token"].as_str().unwrap();
    let address = payload["inbox"]["address"].as_str().unwrap();
    app.send_mail(address, "hello stranger", "hi").await;
    let read = app
        .graphql_as(
            Some(token),
            "query($a: String) { waitForMessage(address: $a, timeoutMs: 1000) { subject } }",
            json!({ "a": address }),
        )
        .await;
    assert_eq!(
        read["data"]["waitForMessage"]["subject"], "hello stranger",
        "{read}"
    );

    let private = app
        .graphql_as(None, create, json!({ "d": "localhost" }))
        .await;
    assert_eq!(
        private["data"]["createInbox"]["status"], "DOMAIN_NOT_SERVED",
        "a tenant's domain"
    );
    let limited = app
        .graphql_as(None, create, json!({ "d": "registered.test" }))
        .await;
    assert_eq!(
        code(&limited),
        Some("QUOTA_EXCEEDED"),
        "two per minute per address: {limited}"
    );
    assert!(
        limited["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // Two a minute: one more after half a minute on the service's clock.
    app.clock.advance(chrono::Duration::seconds(30));
    let again = app
        .graphql_as(None, create, json!({ "d": "registered.test" }))
        .await;
    assert_eq!(again["data"]["createInbox"]["status"], "CREATED", "{again}");
    let other = app
        .graphql_as(None, "{ tenants { name } }", json!({}))
        .await;
    assert_eq!(
        code(&other),
        Some("UNAUTHENTICATED"),
        "nothing else is open"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inbox_token_marks_deletes_extends_and_removes_its_own_inbox() {
    let app = TestApp::spawn().await;
    let created = app
        .data(
            r#"mutation { createInbox(input: {domain: "localhost", localPart: "own", ttlSeconds: 60}) {
                token inbox { id } } }"#,
            json!({}),
        )
        .await;
    let token = created["createInbox"]["token"].as_str().unwrap().to_owned();
    let inbox = created["createInbox"]["inbox"]["id"].clone();
    for n in 0..3 {
        app.send_mail("own@localhost", &format!("m{n}"), "x").await;
    }
    let as_token = |query: &'static str| {
        let (app, token, inbox) = (&app, token.clone(), inbox.clone());
        async move {
            let response = app
                .graphql_as(Some(&token), query, json!({ "inbox": inbox }))
                .await;
            assert!(response.get("errors").is_none(), "{query}: {response}");
            response["data"].clone()
        }
    };
    let consumed = as_token(
        "query($inbox: ID) { waitForMessage(inboxId: $inbox, markSeen: true, timeoutMs: 1000) { id seen } }",
    )
    .await;
    let first = consumed["waitForMessage"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed =
        as_token("query($inbox: ID!) { messages(inboxId: $inbox) { nodes { id seen } } }").await;
    let ids: Vec<String> = listed["messages"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .filter(|id| *id != first)
        .collect();
    let marked = app
        .graphql_as(
            Some(&token),
            "mutation($ids: [ID!]!) { markSeen(ids: $ids) { count } }",
            json!({ "ids": [ids[0]] }),
        )
        .await;
    assert_eq!(marked["data"]["markSeen"]["count"], 1, "{marked}");
    let deleted = app
        .graphql_as(
            Some(&token),
            "mutation($id: ID!) { deleteMessage(id: $id) { status } }",
            json!({ "id": ids[1] }),
        )
        .await;
    assert_eq!(
        deleted["data"]["deleteMessage"]["status"], "DELETED",
        "{deleted}"
    );
    let emptied =
        as_token("mutation($inbox: ID!) { deleteMessages(inboxId: $inbox) { count } }").await;
    assert_eq!(emptied["deleteMessages"]["count"], 2);
    let extended = as_token(
        "mutation($inbox: ID!) { extendInbox(input: {id: $inbox, ttlSeconds: 3600}) { status token } }",
    )
    .await;
    assert_eq!(extended["extendInbox"]["status"], "EXTENDED");
    let fresh = extended["extendInbox"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Past the first token's expiry, the fresh one still works and says whose it is.
    app.clock.advance(chrono::Duration::seconds(120));
    let viewer = app
        .graphql_as(
            Some(&fresh),
            "{ viewer { kind scopes tenant { id } inbox { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        viewer["data"]["viewer"],
        json!({ "kind": "INBOX_TOKEN", "scopes": [], "tenant": null, "inbox": { "id": inbox } }),
        "{viewer}"
    );
    let old = app
        .graphql_as(Some(&token), "{ viewer { kind } }", json!({}))
        .await;
    assert_eq!(code(&old), Some("UNAUTHENTICATED"), "{old}");
    let removed = app
        .graphql_as(
            Some(&fresh),
            "mutation($inbox: ID!) { deleteInbox(id: $inbox) { status } }",
            json!({ "inbox": inbox }),
        )
        .await;
    assert_eq!(
        removed["data"]["deleteInbox"]["status"], "DELETED",
        "{removed}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn viewer_answers_every_caller() {
    let app = TestApp::spawn_with(&["--public-inboxes"]).await;
    let query =
        "{ viewer { kind scopes publicInboxes tenant { name } inbox { id } limits { inboxes } } }";
    let anonymous = app.graphql_as(None, query, json!({})).await;
    assert_eq!(
        anonymous["data"]["viewer"],
        json!({ "kind": "ANONYMOUS", "scopes": [], "publicInboxes": true, "tenant": null,
                "inbox": null, "limits": null }),
        "{anonymous}"
    );
    let key = app.data(query, json!({})).await;
    assert_eq!(key["viewer"]["kind"], "API_KEY");
    assert_eq!(key["viewer"]["tenant"]["name"], "dev");
    assert_eq!(key["viewer"]["scopes"], json!(["READ", "WRITE", "ADMIN"]));
    let garbage = app.graphql_as(Some("ek_nope"), query, json!({})).await;
    assert_eq!(code(&garbage), Some("UNAUTHENTICATED"));
    // Anonymous callers in public mode see the domains they may create inboxes on.
    let domains = app
        .graphql_as(None, "{ domains { name } }", json!({}))
        .await;
    assert_eq!(
        domains["data"]["domains"],
        json!([{ "name": "registered.test" }]),
        "{domains}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_domains_reserve_role_names_and_the_public_holds_addresses_briefly() {
    let app = TestApp::spawn_with(&["--public-inboxes", "--public-max-ttl", "600"]).await;
    let create = r#"mutation($d: String!, $l: String, $t: Int) {
        createInbox(input: {domain: $d, localPart: $l, ttlSeconds: $t}) { status maxTtlSeconds } }"#;
    let status = |response: Value| response["data"]["createInbox"]["status"].clone();
    for key in [None, Some(app.key.as_str())] {
        let reserved = app
            .graphql_as(
                key,
                create,
                json!({ "d": "registered.test", "l": "Postmaster" }),
            )
            .await;
        assert_eq!(status(reserved), "ADDRESS_RESERVED");
    }
    // A tenant's own domain is its own business.
    let own = app
        .graphql_as(
            Some(&app.key),
            create,
            json!({ "d": "localhost", "l": "admin" }),
        )
        .await;
    assert_eq!(status(own), "CREATED");
    let long = app
        .graphql_as(
            None,
            create,
            json!({ "d": "registered.test", "l": "mine", "t": 3600 }),
        )
        .await;
    assert_eq!(
        long["data"]["createInbox"]["status"], "TTL_TOO_LONG",
        "{long}"
    );
    assert_eq!(long["data"]["createInbox"]["maxTtlSeconds"], 600);
    let keyed = app
        .graphql_as(
            Some(&app.key),
            create,
            json!({ "d": "registered.test", "l": "ours", "t": 3600 }),
        )
        .await;
    assert_eq!(status(keyed), "CREATED", "a tenant's key is not capped");
    app.stop().await;
}
