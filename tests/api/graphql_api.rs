use serde_json::{json, Value};

use crate::helpers::{TestApp, MAIL_WITH_PDF};

const CREATE: &str = r#"mutation($input: CreateInboxInput!) {
    createInbox(input: $input) { status maxTtlSeconds inbox { id address localPart domain createdAt expiresAt } } }"#;

async fn create(app: &TestApp, input: Value) -> Value {
    app.data(CREATE, json!({ "input": input })).await["createInbox"].clone()
}

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

#[tokio::test(flavor = "multi_thread")]
async fn create_inbox_reports_expected_outcomes_as_status() {
    let app = TestApp::spawn_with(&["--default-ttl", "600", "--max-ttl", "3600"]).await;
    let random = create(&app, json!({ "domain": "localhost" })).await;
    assert_eq!(random["status"], "CREATED");
    let local = random["inbox"]["localPart"].as_str().unwrap();
    assert_eq!(local.len(), 10);
    assert!(
        local
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{local}"
    );
    assert_eq!(random["inbox"]["expiresAt"], "2026-11-28T12:10:00.000000Z");

    let chosen = create(
        &app,
        json!({ "domain": "LocalHost", "localPart": "Alice", "ttlSeconds": 120 }),
    )
    .await;
    assert_eq!(chosen["status"], "CREATED");
    assert_eq!(chosen["inbox"]["address"], "alice@localhost");

    let taken = create(&app, json!({ "domain": "localhost", "localPart": "ALICE" })).await;
    assert_eq!(taken["status"], "ADDRESS_TAKEN");
    assert_eq!(taken["inbox"], Value::Null);

    let not_served = create(&app, json!({ "domain": "example.org" })).await;
    assert_eq!(not_served["status"], "DOMAIN_NOT_SERVED");

    let too_long = create(&app, json!({ "domain": "localhost", "ttlSeconds": 3601 })).await;
    assert_eq!(too_long["status"], "TTL_TOO_LONG");
    assert_eq!(too_long["maxTtlSeconds"], 3600);

    // Once expired, the address can be taken afresh.
    app.clock.advance(chrono::Duration::seconds(121));
    let again = create(&app, json!({ "domain": "localhost", "localPart": "alice" })).await;
    assert_eq!(again["status"], "CREATED");
    assert_ne!(again["inbox"]["id"], chosen["inbox"]["id"]);

    let bad = app
        .graphql(
            CREATE,
            json!({ "input": { "domain": "localhost", "localPart": "a b" } }),
        )
        .await;
    assert_eq!(code(&bad), "BAD_USER_INPUT", "{bad}");
    let bad = app
        .graphql(
            CREATE,
            json!({ "input": { "domain": "localhost", "ttlSeconds": 0 } }),
        )
        .await;
    assert_eq!(code(&bad), "BAD_USER_INPUT", "{bad}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inboxes_are_found_by_id_or_case_insensitive_address_until_they_expire() {
    let app = TestApp::spawn().await;
    let created = create(
        &app,
        json!({ "domain": "localhost", "localPart": "bob", "ttlSeconds": 60 }),
    )
    .await;
    let id = created["inbox"]["id"].clone();
    let by_id = app
        .data(
            "query($id: ID) { inbox(id: $id) { address } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(by_id["inbox"]["address"], "bob@localhost");
    let by_address = app
        .data(r#"{ inbox(address: "BOB@LocalHost") { id } }"#, json!({}))
        .await;
    assert_eq!(by_address["inbox"]["id"], id);

    let both = app
        .graphql(r#"{ inbox(id: "x", address: "a@b.c") { id } }"#, json!({}))
        .await;
    assert_eq!(code(&both), "BAD_USER_INPUT");
    let bad_id = app
        .graphql(r#"{ inbox(id: "not-a-uuid") { id } }"#, json!({}))
        .await;
    assert_eq!(code(&bad_id), "BAD_USER_INPUT");
    let unknown_field = app.graphql("{ inbox { nope } }", json!({})).await;
    assert_eq!(code(&unknown_field), "BAD_USER_INPUT");

    app.clock.advance(chrono::Duration::seconds(60));
    let expired = app
        .graphql(
            "query($id: ID) { inbox(id: $id) { address } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        (&expired["data"]["inbox"], code(&expired)),
        (&Value::Null, "NOT_FOUND"),
        "an expired inbox is gone at once"
    );
    let messages = app
        .graphql(
            "query($id: ID!) { messages(inboxId: $id) { totalCount } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(code(&messages), "NOT_FOUND", "{messages}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_are_paged_newest_first_with_opaque_cursors() {
    let app = TestApp::spawn().await;
    for n in 1..=5 {
        app.send_mail("pages@localhost", &format!("mail {n}"), "body")
            .await;
    }
    let inbox = app
        .data(r#"{ inbox(address: "pages@localhost") { id } }"#, json!({}))
        .await;
    let query = r#"query($id: ID!, $after: String) { messages(inboxId: $id, first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { subject } } } }"#;
    let mut subjects = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .data(query, json!({ "id": inbox["inbox"]["id"], "after": after }))
            .await["messages"]
            .clone();
        assert_eq!(page["totalCount"], 5);
        for edge in page["edges"].as_array().unwrap() {
            subjects.push(edge["node"]["subject"].as_str().unwrap().to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(subjects, ["mail 5", "mail 4", "mail 3", "mail 2", "mail 1"]);

    let bad = app
        .graphql(
            query,
            json!({ "id": inbox["inbox"]["id"], "after": "garbage!" }),
        )
        .await;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn message_exposes_headers_and_envelope() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let raw = "From: \"Ann\" <ann@example.com>\r\nTo: x@localhost\r\nCc: cc@example.com\r\n\
               Subject: headers\r\nDate: Fri, 27 Nov 2026 09:30:00 +0100\r\n\
               Message-ID: <abc@example.com>\r\nX-Trace: one\r\n two\r\n\r\nhello\r\n";
    smtp.deliver("bounce@example.com", &["x@localhost"], raw)
        .await;
    let id = app.messages_of("x@localhost").await[0]["id"].clone();
    let data = app
        .data(
            r#"query($id: ID!) { message(id: $id) { from { name address } to { address } cc { address }
                date messageId mailFrom rcptTo size parseError inbox { address }
                trace: headers(name: "x-trace") { name value } all: headers { name } } }"#,
            json!({ "id": id }),
        )
        .await["message"]
        .clone();
    assert_eq!(
        data["from"],
        json!({ "name": "Ann", "address": "ann@example.com" })
    );
    assert_eq!(data["to"], json!([{ "address": "x@localhost" }]));
    assert_eq!(data["cc"], json!([{ "address": "cc@example.com" }]));
    assert_eq!(data["date"], "2026-11-27T08:30:00.000000Z");
    assert_eq!(data["messageId"], "abc@example.com");
    assert_eq!(data["mailFrom"], "bounce@example.com");
    assert_eq!(data["size"], raw.len());
    assert_eq!(data["parseError"], Value::Null);
    assert_eq!(data["inbox"]["address"], "x@localhost");
    assert_eq!(
        data["trace"],
        json!([{ "name": "X-Trace", "value": "one two" }])
    );
    // The sender's seven header fields and our Received: trace header.
    let all = data["all"].as_array().unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(all[0]["name"], "Received");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_messages_lists_each_ones_own_headers() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    for n in 1..=3 {
        let raw =
            format!("From: a@example.com\r\nSubject: mail {n}\r\nX-Number: {n}\r\n\r\nhi\r\n");
        smtp.deliver("a@example.com", &["x@localhost"], &raw).await;
    }
    let page = app
        .data(
            r#"{ inbox(address: "x@localhost") { messages(first: 10) {
                edges { node { subject number: headers(name: "x-number") { value } } } } } }"#,
            json!({}),
        )
        .await;
    let pairs: Vec<(String, String)> = page["inbox"]["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            let node = &edge["node"];
            let value = node["number"][0]["value"].as_str().unwrap().to_owned();
            (node["subject"].as_str().unwrap().to_owned(), value)
        })
        .collect();
    let expected: Vec<(String, String)> = (1..=3)
        .rev()
        .map(|n| (format!("mail {n}"), n.to_string()))
        .collect();
    assert_eq!(pairs, expected);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_inbox_removes_its_messages_and_attachments() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    smtp.deliver(
        "a@example.com",
        &["gone@localhost", "kept@localhost"],
        MAIL_WITH_PDF,
    )
    .await;
    let gone = app.messages_of("gone@localhost").await;
    let message_id = gone[0]["id"].clone();
    let inbox = app.inbox_id("gone@localhost").await;

    let deleted = app
        .data(
            "mutation($id: ID!) { deleteInbox(id: $id) { status } }",
            json!({ "id": inbox }),
        )
        .await;
    assert_eq!(deleted["deleteInbox"]["status"], "DELETED");
    let message = app
        .graphql(
            "query($id: ID!) { message(id: $id) { id } }",
            json!({ "id": message_id }),
        )
        .await;
    assert_eq!(
        (&message["data"]["message"], code(&message)),
        (&Value::Null, "NOT_FOUND")
    );
    let again = app
        .data(
            "mutation($id: ID!) { deleteInbox(id: $id) { status } }",
            json!({ "id": inbox }),
        )
        .await;
    assert_eq!(again["deleteInbox"]["status"], "NOT_FOUND");

    // The rows are gone from the database, not just hidden; the other inbox keeps its copy.
    let counts = crate::schema::query_counts(&app.database_url).await;
    assert_eq!(counts, (1, 1), "(messages, attachments) left");
    assert_eq!(app.messages_of("kept@localhost").await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_message_removes_only_that_message() {
    let app = TestApp::spawn().await;
    app.send_mail("two@localhost", "first", "body").await;
    app.send_mail("two@localhost", "second", "body").await;
    let messages = app.messages_of("two@localhost").await;
    let deleted = app
        .data(
            "mutation($id: ID!) { deleteMessage(id: $id) { status } }",
            json!({ "id": messages[0]["id"] }),
        )
        .await;
    assert_eq!(deleted["deleteMessage"]["status"], "DELETED");
    let left = app.messages_of("two@localhost").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["subject"], "first");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_queries_are_refused_before_they_run() {
    let app = TestApp::spawn().await;
    let mut query = String::from("id");
    for _ in 0..4 {
        query = format!("messages(first: 1) {{ edges {{ node {{ inbox {{ {query} }} }} }} }}");
    }
    let response = app
        .graphql(
            &format!(r#"{{ inbox(address: "x@localhost") {{ {query} }} }}"#),
            json!({}),
        )
        .await;
    assert_eq!(code(&response), "BAD_USER_INPUT", "{response}");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{response}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_endpoints_and_graphiql_answer() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let healthz = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
    // Ready once the relay of other processes' events listens, which it starts on after the
    // server: as an operator does, wait for it.
    let mut readyz = client.get(app.url("/readyz")).send().await.unwrap();
    for _ in 0..100 {
        if readyz.status() == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        readyz = client.get(app.url("/readyz")).send().await.unwrap();
    }
    assert_eq!(readyz.status(), 200);
    let graphiql = client.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(graphiql.status(), 200);
    assert!(graphiql.text().await.unwrap().contains("graphiql"));
    let domains = app.data("{ domains { name mode } }", json!({})).await;
    assert_eq!(
        domains["domains"],
        json!([{ "name": "localhost", "mode": "CATCH_ALL" }, { "name": "registered.test", "mode": "REGISTERED" }])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn date_times_round_trip_at_the_microsecond_precision_postgresql_stores() {
    let app = TestApp::spawn().await;
    // A clock with nanoseconds, as the system clock has.
    app.clock
        .advance(chrono::Duration::nanoseconds(123_456_789));
    let created = app
        .data(
            r#"mutation { createInbox(input: {domain: "localhost", localPart: "precise", ttlSeconds: 60}) {
                inbox { id createdAt expiresAt } } }"#,
            json!({}),
        )
        .await;
    let inbox = &created["createInbox"]["inbox"];
    assert_eq!(inbox["expiresAt"], "2026-11-28T12:01:00.123456Z");
    let read = app
        .data(
            "query($id: ID!) { inbox(id: $id) { createdAt expiresAt } }",
            json!({ "id": inbox["id"] }),
        )
        .await;
    assert_eq!(read["inbox"]["createdAt"], inbox["createdAt"]);
    assert_eq!(read["inbox"]["expiresAt"], inbox["expiresAt"]);

    app.send_mail("precise@localhost", "timed", "x").await;
    let received = app
        .data(
            r#"{ inbox(address: "precise@localhost") { messages { edges { node { receivedAt } } } } }"#,
            json!({}),
        )
        .await;
    let received_at = received["inbox"]["messages"]["edges"][0]["node"]["receivedAt"].clone();
    assert_eq!(received_at, "2026-11-28T12:00:00.123456Z");
    // Passed back, the value is exactly the stored instant: both bounds are exclusive.
    for bound in ["receivedAfter", "receivedBefore"] {
        let count = app
            .data(
                &format!(
                    r#"query($t: DateTime) {{ inbox(address: "precise@localhost") {{
                        messages(filter: {{ {bound}: $t }}) {{ totalCount }} }} }}"#
                ),
                json!({ "t": received_at }),
            )
            .await;
        assert_eq!(count["inbox"]["messages"]["totalCount"], 0, "{bound}");
    }
    // The same instant in another offset matches the same way.
    let count = app
        .data(
            r#"{ inbox(address: "precise@localhost") {
                messages(filter: { receivedAfter: "2026-11-28T13:00:00.123455+01:00" }) { totalCount } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(count["inbox"]["messages"]["totalCount"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_date_times_and_timeouts_are_refused_saying_what_is_expected() {
    let app = TestApp::spawn().await;
    for (query, variables) in [
        (
            r#"query($t: DateTime) { waitForMessage(address: "x@localhost", since: $t, timeoutMs: 10) { id } }"#,
            json!({ "t": "2026-11-28 12:00:00" }),
        ),
        (
            r#"{ waitForMessage(address: "x@localhost", since: "2026-11-28T12:00:00", timeoutMs: 10) { id } }"#,
            json!({}),
        ),
    ] {
        let response = app.graphql(query, variables).await;
        let error = &response["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{response}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("is not an RFC 3339 date-time with an offset, such as \"2026-12-04T15:54:01.123456Z\""),
            "{response}"
        );
    }
    for timeout in [-5, 0] {
        let response = app
            .graphql(
                r#"query($t: Int) { waitForMessage(address: "x@localhost", timeoutMs: $t) { id } }"#,
                json!({ "t": timeout }),
            )
            .await;
        let error = &response["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{response}");
        assert_eq!(
            error["message"], "`timeoutMs` must be a positive number of milliseconds",
            "{response}"
        );
    }
    app.stop().await;
}
