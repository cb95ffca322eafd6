use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::{metric_value, scrape_metrics, GraphqlWs, TestApp};

const SUBSCRIBE: &str = r#"subscription($address: String, $after: String) {
    messageReceived(address: $address, after: $after) { id cursor subject } }"#;

/// Creates an inbox and subscribes to it from its start; returns the client and the address.
async fn watch_new_inbox(app: &TestApp, local_part: &str, legacy: bool) -> (GraphqlWs, String) {
    let (_, address, start) = app.create_inbox(local_part).await;
    let mut ws = GraphqlWs::connect(app, legacy).await;
    ws.subscribe(
        "1",
        SUBSCRIBE,
        json!({ "address": address, "after": start }),
    )
    .await;
    (ws, address)
}

/// Sends `count` mails to `to` over `parallel` SMTP connections; subjects are `mail <n>`.
async fn burst(app: &TestApp, to: &str, count: usize, parallel: usize) {
    let mut senders = tokio::task::JoinSet::new();
    for lane in 0..parallel {
        let mut smtp = app.smtp().await;
        let to = to.to_owned();
        senders.spawn(async move {
            smtp.command("EHLO burst.test").await;
            for n in (lane..count).step_by(parallel) {
                let reply = smtp
                    .deliver(
                        "load@example.com",
                        &[&to],
                        &format!("Subject: mail {n}\r\n\r\nbody {n}\r\n"),
                    )
                    .await;
                assert!(reply.starts_with("250"), "{reply}");
            }
        });
    }
    while let Some(joined) = senders.join_next().await {
        joined.unwrap();
    }
}

fn assert_in_cursor_order(received: &[Value]) {
    let seqs: Vec<String> = received
        .iter()
        .map(|m| m["cursor"].as_str().unwrap().to_owned())
        .collect();
    let ids: HashSet<&str> = received.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), received.len(), "no message twice");
    let mut sorted = received.to_vec();
    sorted.sort_by_key(|m| decode(m["cursor"].as_str().unwrap()));
    let sorted_cursors: Vec<String> = sorted
        .iter()
        .map(|m| m["cursor"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seqs, sorted_cursors, "messages arrive in store order");
}

/// Cursors are opaque to clients; the test peeks to check ordering.
fn decode(cursor: &str) -> i64 {
    use async_graphql::connection::CursorType;
    async_graphql::connection::OpaqueCursor::<i64>::decode_cursor(cursor)
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_that_resumes_with_after_gets_every_message_of_a_burst_exactly_once() {
    let app = TestApp::spawn().await;
    let (mut ws, address) = watch_new_inbox(&app, "burst", false).await;

    let sending = {
        let address = address.clone();
        let app = &app;
        async move { burst(app, &address, 500, 10).await }
    };
    let receiving_first_part = async {
        let mut received = Vec::new();
        for _ in 0..200 {
            received.push(ws.next_data().await["messageReceived"].clone());
        }
        received
    };
    let ((), mut received) = tokio::join!(sending, receiving_first_part);
    ws.close().await;

    // Resume on a new connection from the last cursor received.
    let last = received.last().unwrap()["cursor"].clone();
    let mut ws = GraphqlWs::connect(&app, false).await;
    ws.subscribe("2", SUBSCRIBE, json!({ "address": address, "after": last }))
        .await;
    while received.len() < 500 {
        received.push(ws.next_data().await["messageReceived"].clone());
    }
    assert_in_cursor_order(&received);
    let subjects: HashSet<String> = received
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect();
    let expected: HashSet<String> = (0..500).map(|n| format!("mail {n}")).collect();
    assert_eq!(subjects, expected);
    ws.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_that_stops_reading_still_gets_every_message() {
    let app = TestApp::spawn().await;
    let (mut ws, address) = watch_new_inbox(&app, "slow", false).await;
    // Far more mail than the per-inbox event buffer holds arrives while nobody reads.
    burst(&app, &address, 300, 10).await;
    let mut received = Vec::new();
    while received.len() < 300 {
        received.push(ws.next_data().await["messageReceived"].clone());
        if received.len() % 50 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    assert_in_cursor_order(&received);
    ws.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_message_reads_as_the_same_message_queried_afterwards() {
    let app = TestApp::spawn().await;
    const FIELDS: &str = "id cursor subject from { name address } to { address } cc { address }
        date messageId inReplyTo mailFrom rcptTo receivedAt seen size tags parseError
        contentLimits attachments { filename contentType size } text codes";
    let (_, address, start) = app.create_inbox("pushed").await;
    let mut ws = GraphqlWs::connect(&app, false).await;
    let subscribe = format!(
        "subscription($address: String, $after: String) {{
            messageReceived(address: $address, after: $after) {{ {FIELDS} }} }}"
    );
    ws.subscribe(
        "1",
        &subscribe,
        json!({ "address": address, "after": start }),
    )
    .await;
    let query = format!("query($id: ID!) {{ message(id: $id) {{ {FIELDS} }} }}");
    for n in 0..2 {
        let mut smtp = app.smtp().await;
        smtp.command("EHLO pushed.test").await;
        let body = format!(
            "From: Sender <sender@example.com>\r\nTo: {address}\r\nCc: cc@example.com\r\n\
             Subject: code {n}\r\nMessage-ID: <m{n}@example.com>\r\n\
             In-Reply-To: <earlier@example.com>\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\n\
             \r\nYour code is 12345{n}\r\n"
        );
        let reply = smtp.deliver("bounce@example.com", &[&address], &body).await;
        assert!(reply.starts_with("250"), "{reply}");
        let pushed = ws.next_data().await["messageReceived"].clone();
        let read = app.graphql(&query, json!({ "id": pushed["id"] })).await;
        assert_eq!(read["data"]["message"], pushed, "{read}");
    }
    // The second mail came while the subscriber was live, right after the first: its event
    // carried it.
    let scrape = scrape_metrics(&app.url("/metrics")).await;
    let from_events = metric_value(
        &scrape,
        "ephemail_feed_messages_total",
        &[("source", "event")],
    );
    assert!(from_events >= Some(1.0), "{from_events:?}");
    ws.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_stored_by_two_processes_at_once_reaches_a_subscriber_in_order_without_loss() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.database_url.clone(), &[]).await;
    let (mut ws, address) = watch_new_inbox(&second, "both", false).await;
    // The second process's own events are immediate, the first's come through the database: a
    // message of the first must not be passed over for a later one of the second's.
    let sending = async {
        tokio::join!(
            burst(&first, &address, 150, 5),
            burst(&second, &address, 150, 5)
        )
    };
    let receiving = async {
        let mut received = Vec::new();
        while received.len() < 300 {
            received.push(ws.next_data().await["messageReceived"].clone());
        }
        received
    };
    let (_, received) = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        tokio::join!(sending, receiving)
    })
    .await
    .expect("every message reaches the subscriber");
    assert_in_cursor_order(&received);
    ws.close().await;
    second.stop().await;
    first.stop().await;
}

/// The subject of the mail a wait without a cursor returns.
async fn waited_subject(app: &TestApp, address: &str) -> Value {
    let waited = app
        .data(
            "query($a: String!) { waitForMessage(address: $a, timeoutMs: 1000) { subject } }",
            json!({ "a": address }),
        )
        .await;
    waited["waitForMessage"]["subject"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_after_a_subscription_starts_with_the_recent_mail_no_wait_has_returned() {
    let app = TestApp::spawn().await;
    let address = "live@localhost";
    app.send_mail(address, "too old", "x").await;
    app.clock.advance(chrono::Duration::seconds(301));
    app.send_mail(address, "returned", "x").await;
    assert_eq!(waited_subject(&app, address).await, "returned");
    app.send_mail(address, "recent", "x").await;
    let mut ws = GraphqlWs::connect(&app, false).await;
    ws.subscribe("1", SUBSCRIBE, json!({ "address": address }))
        .await;
    assert_eq!(ws.next_data().await["messageReceived"]["subject"], "recent");
    app.send_mail(address, "live", "x").await;
    assert_eq!(ws.next_data().await["messageReceived"]["subject"], "live");
    ws.close().await;
    // The subscription recorded nothing: a wait still gets the recent mail first.
    assert_eq!(waited_subject(&app, address).await, "recent");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plus_address_subscription_gets_only_the_mail_sent_to_it() {
    let app = TestApp::spawn().await;
    let mut ws = GraphqlWs::connect(&app, false).await;
    // Before the inbox exists: watching a catch-all address creates nothing.
    ws.subscribe("1", SUBSCRIBE, json!({ "address": "zed+t1@localhost" }))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let reader = app
        .graphql(
            r#"query { inbox(address: "zed@localhost") { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        reader["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{reader}"
    );
    app.send_mail("zed+t2@localhost", "for t2", "x").await;
    app.send_mail("zed+t1@localhost", "for t1", "x").await;
    app.send_mail("zed@localhost", "untagged", "x").await;
    app.send_mail("zed+T1@localhost", "for t1 again", "x").await;
    assert_eq!(ws.next_data().await["messageReceived"]["subject"], "for t1");
    assert_eq!(
        ws.next_data().await["messageReceived"]["subject"],
        "for t1 again"
    );
    ws.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_legacy_graphql_ws_protocol_is_served_too() {
    let app = TestApp::spawn().await;
    let (mut ws, address) = watch_new_inbox(&app, "legacy", true).await;
    app.send_mail(&address, "legacy hello", "hi").await;
    assert_eq!(
        ws.next_data().await["messageReceived"]["subject"],
        "legacy hello"
    );
    ws.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribing_to_an_unknown_inbox_is_not_found() {
    let app = TestApp::spawn().await;
    let mut ws = GraphqlWs::connect(&app, false).await;
    ws.subscribe(
        "1",
        "subscription { messageReceived(inboxId: \"00000000-0000-0000-0000-000000000000\") { id } }",
        json!({}),
    )
    .await;
    let message = ws.next_message().await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["payload"]["data"], Value::Null, "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{message}"
    );
    ws.close().await;
    app.stop().await;
}

/// The next two protocol messages: a final `NOT_FOUND` for the inbox, then `complete`.
async fn assert_ends_with_not_found(ws: &mut GraphqlWs) {
    let last = ws.next_message().await;
    assert_eq!(last["type"], "next", "{last}");
    assert_eq!(
        last["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{last}"
    );
    let end = ws.next_message().await;
    assert_eq!(end["type"], "complete", "{end}");
    assert_eq!(end["id"], "1", "{end}");
}

/// Deletes the inbox at `address` through `app`'s API.
async fn delete_inbox_at(app: &TestApp, address: &str) {
    let deleted = app
        .data(
            "mutation($id: ID!) { deleteInbox(id: $id) { status } }",
            json!({ "id": app.inbox_id(address).await }),
        )
        .await;
    assert_eq!(deleted["deleteInbox"]["status"], "DELETED");
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_of_a_deleted_inbox_get_a_final_not_found_and_the_stream_ends() {
    let app = TestApp::spawn().await;
    let (mut ws, address) = watch_new_inbox(&app, "doomed", false).await;
    app.send_mail(&address, "first", "hi").await;
    assert_eq!(ws.next_data().await["messageReceived"]["subject"], "first");
    delete_inbox_at(&app, &address).await;
    assert_ends_with_not_found(&mut ws).await;
    ws.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_of_an_inbox_whose_domain_the_cli_removes_are_ended_too() {
    let app = TestApp::spawn().await;
    let (mut ws, address) = watch_new_inbox(&app, "unserved", false).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, domain) = address.split_once('@').unwrap();
    // The CLI is a process of its own: the server hears of the removal by notification.
    let removed = std::process::Command::new(env!("CARGO_BIN_EXE_ephemail"))
        .args([
            "domain",
            "remove",
            domain,
            "--database-url",
            &app.database_url,
        ])
        .output()
        .unwrap();
    assert!(removed.status.success(), "{removed:?}");
    assert_ends_with_not_found(&mut ws).await;
    ws.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_of_an_inbox_the_sweeper_removes_are_ended_too() {
    let app = TestApp::spawn().await;
    let (mut ws, _) = watch_new_inbox(&app, "expiring", false).await;
    // graphql-transport-ws has no "subscribed" acknowledgement: give the server a moment.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    app.clock.advance(chrono::Duration::days(8));
    let report = app.app.sweeper.sweep().await.unwrap().unwrap();
    assert_eq!(report.inboxes, 1);
    assert_ends_with_not_found(&mut ws).await;
    ws.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_of_an_expired_catch_all_inbox_end_when_new_mail_replaces_it() {
    let app = TestApp::spawn().await;
    let (mut ws, address) = watch_new_inbox(&app, "reborn", false).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    app.clock.advance(chrono::Duration::days(8));
    // No sweep: the mail itself replaces the expired inbox with a fresh one.
    app.send_mail(&address, "to the new inbox", "hi").await;
    assert_ends_with_not_found(&mut ws).await;
    ws.close().await;
    let fresh = app.messages_of(&address).await;
    assert_eq!(fresh.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_on_one_process_hear_mail_and_deletions_from_another_on_the_same_database() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.database_url.clone(), &[]).await;
    // Subscribed on the second process; the mail and the deletion go through the first.
    let (mut ws, address) = watch_new_inbox(&second, "shared", false).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    first.send_mail(&address, "via the first", "hi").await;
    let received = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next_data())
        .await
        .expect("the other process's mail wakes the subscriber");
    assert_eq!(received["messageReceived"]["subject"], "via the first");
    delete_inbox_at(&first, &address).await;
    assert_ends_with_not_found(&mut ws).await;
    ws.close().await;
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_missed_while_the_event_relay_reconnects_still_ends_the_subscribers() {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.database_url.clone(), &[]).await;
    let (mut ws, address) = watch_new_inbox(&second, "missed", false).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // Both processes lose their LISTEN sessions; the deletion's notification reaches nobody.
    // (Only this test's database: other tests' relays go on listening.)
    let mut conn = diesel_async::AsyncPgConnection::establish(&first.database_url)
        .await
        .unwrap();
    let ended = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN %' \
           AND pid <> pg_backend_pid()",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(ended, 2, "both relays' sessions");
    delete_inbox_at(&first, &address).await;
    // Listening again, the second process wakes its subscribers, which find the inbox gone.
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        assert_ends_with_not_found(&mut ws),
    )
    .await
    .expect("the subscription ends after the relay listens again");
    ws.close().await;
    second.stop().await;
    first.stop().await;
}
