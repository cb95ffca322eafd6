use ephemail::scope::Scope;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const WAIT: &str = r#"query($address: String, $after: String, $since: DateTime, $filter: MessageFilter,
                           $timeout: Int, $markSeen: Boolean) {
    waitForMessage(address: $address, after: $after, since: $since, filter: $filter,
                   timeoutMs: $timeout, markSeen: $markSeen) { id subject codes links { href text } } }"#;

const VERIFICATION: &str = "Subject: Verify your account\r\nContent-Type: text/html\r\n\r\n\
    <p>Welcome! Your verification code is <b>482913</b>.</p>\
    <p><a href=\"https://app.example.com/verify?token=abc&amp;u=1\">Verify email</a></p>\r\n";

/// The subject of the message `WAIT` with `variables` returns (called with `key`) while
/// `meanwhile` runs, which starts after giving the wait a head start it must not depend on.
async fn subject_waited_while(
    app: &TestApp,
    key: Option<&str>,
    variables: Value,
    meanwhile: impl std::future::Future<Output = ()>,
) -> Value {
    let waiting = app.graphql_as(key, WAIT, variables);
    let (response, ()) = tokio::join!(waiting, async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        meanwhile.await;
    });
    assert!(response.get("errors").is_none(), "{response}");
    response["data"]["waitForMessage"]["subject"].clone()
}

/// The response to the wait `query` with `variables`, while `VERIFICATION` is delivered to
/// `variables.address` once the wait has had time to start listening.
async fn verification_waited(app: &TestApp, query: &str, variables: Value) -> Value {
    let address = variables["address"].as_str().unwrap().to_owned();
    let waiting = app.graphql(query, variables);
    let sending = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let mut smtp = app.smtp().await;
        smtp.command("EHLO client.test").await;
        smtp.deliver("app@example.com", &[&address], VERIFICATION)
            .await
    };
    let (response, reply) = tokio::join!(waiting, sending);
    assert!(reply.starts_with("250"), "{reply}");
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_returns_the_mail_sent_after_it_started_with_its_code_and_links() {
    let app = TestApp::spawn().await;
    let (_, address, start) = app.create_inbox("signup").await;
    let response = verification_waited(
        &app,
        WAIT,
        json!({ "address": address, "after": start, "timeout": 30000 }),
    )
    .await;
    let message = &response["data"]["waitForMessage"];
    assert_eq!(message["subject"], "Verify your account", "{response}");
    assert_eq!(message["codes"][0], "482913");
    assert_eq!(
        message["links"],
        json!([{ "href": "https://app.example.com/verify?token=abc&u=1", "text": "Verify email" }])
    );
    app.stop().await;
}

/// The message a waiter woke for comes with its content, derived from ingest's parse: its
/// code and links are read without fetching and decoding its raw source (shown here by
/// deleting the row first: the content is still there to read).
#[tokio::test(flavor = "multi_thread")]
async fn a_waiter_gets_the_content_of_its_message_from_ingest_not_the_raw_source() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let app = TestApp::spawn().await;
    let (_, address, start) = app.create_inbox("seeded").await;
    let response = verification_waited(
        &app,
        "query($address: String, $after: String) {
             waitForMessage(address: $address, after: $after, timeoutMs: 30000) { id } }",
        json!({ "address": address, "after": start }),
    )
    .await;
    let id: uuid::Uuid = response["data"]["waitForMessage"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{response}"));
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .unwrap();
    diesel::sql_query("DELETE FROM messages WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(id)
        .execute(&mut conn)
        .await
        .unwrap();
    // Any bucket: a content from the cache is not read from one.
    let at = ephemail_store::models::MessageAt {
        id,
        purge_at: chrono::DateTime::UNIX_EPOCH,
    };
    let contents = ephemail::content::Contents::load(&app.app.api.contents, &mut conn, &[at])
        .await
        .unwrap();
    let content = contents.get(&id).expect("the content came with the event");
    let stored = ephemail_mail::parse::content(VERIFICATION.as_bytes());
    assert_eq!(content.html, stored.html);
    assert!(content.html.as_deref().unwrap().contains("482913"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_on_a_catch_all_address_works_before_its_first_mail() {
    let app = TestApp::spawn().await;
    let waited = subject_waited_while(
        &app,
        Some(&app.key),
        json!({ "address": "later@localhost", "timeout": 30000 }),
        app.send_mail("later@localhost", "first mail", "hello"),
    )
    .await;
    assert_eq!(waited, "first mail");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_times_out_with_null_and_the_timeout_code() {
    let app = TestApp::spawn().await;
    let (_, address, start) = app.create_inbox("quiet").await;
    let response = app
        .graphql(
            WAIT,
            json!({ "address": address, "after": start, "timeout": 200 }),
        )
        .await;
    assert_eq!(
        response["data"]["waitForMessage"],
        Value::Null,
        "{response}"
    );
    assert_eq!(
        response["errors"][0]["extensions"]["code"], "TIMEOUT",
        "{response}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_waits_on_one_inbox_all_return() {
    let app = TestApp::spawn().await;
    let (_, address, start) = app.create_inbox("many").await;
    let waits = futures::future::join_all((0..8).map(|_| {
        app.graphql(
            WAIT,
            json!({ "address": address, "after": start, "timeout": 30000 }),
        )
    }));
    let sending = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        app.send_mail(&address, "for everyone", "hi").await;
    };
    let (responses, ()) = tokio::join!(waits, sending);
    for response in responses {
        assert_eq!(
            response["data"]["waitForMessage"]["subject"], "for everyone",
            "{response}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_waits_without_a_cursor_each_claim_a_different_mail() {
    let app = TestApp::spawn().await;
    for mark_seen in [false, true] {
        let (_, address, _) = app.create_inbox(&format!("claims-{mark_seen}")).await;
        let waits = futures::future::join_all((0..6).map(|_| {
            app.graphql(
                WAIT,
                json!({ "address": address, "markSeen": mark_seen, "timeout": 30000 }),
            )
        }));
        let sending = async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            for n in 0..6 {
                app.send_mail(&address, &format!("mail {n}"), "x").await;
            }
        };
        let (responses, ()) = tokio::join!(waits, sending);
        let subjects: std::collections::BTreeSet<String> = (responses.iter())
            .map(|response| {
                let subject = &response["data"]["waitForMessage"]["subject"];
                subject.as_str().expect("a message").to_owned()
            })
            .collect();
        let expected = (0..6).map(|n| format!("mail {n}")).collect();
        assert_eq!(subjects, expected, "markSeen {mark_seen}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn consuming_waits_return_successive_messages() {
    let app = TestApp::spawn().await;
    let (_, address, _) = app.create_inbox("queue").await;
    for n in 1..=3 {
        app.send_mail(&address, &format!("mail {n}"), "x").await;
    }
    for n in 1..=3 {
        let response = app
            .graphql(
                WAIT,
                json!({ "address": address, "markSeen": true, "timeout": 1000 }),
            )
            .await;
        assert_eq!(
            response["data"]["waitForMessage"]["subject"],
            format!("mail {n}"),
            "{response}"
        );
    }
    let response = app
        .graphql(
            WAIT,
            json!({ "address": address, "markSeen": true, "timeout": 100 }),
        )
        .await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"], "TIMEOUT",
        "all consumed: {response}"
    );

    // A consuming wait records what it returned too: a plain wait passes those over.
    let response = app
        .graphql(WAIT, json!({ "address": address, "timeout": 100 }))
        .await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"], "TIMEOUT",
        "{response}"
    );
    // With `since`, any stored message after it counts; a filter narrows it down.
    let response = app
        .graphql(
            WAIT,
            json!({ "address": address, "filter": { "subject": "MAIL 3" },
                    "since": "2026-11-28T11:59:59.999999Z", "timeout": 100 }),
        )
        .await;
    assert_eq!(response["data"]["waitForMessage"]["subject"], "mail 3");
    let response = app
        .graphql(
            WAIT,
            json!({ "address": address, "since": "2026-11-28T12:00:01Z", "timeout": 100 }),
        )
        .await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"], "TIMEOUT",
        "{response}"
    );
    let both = app
        .graphql(WAIT, json!({ "address": address, "since": "2026-11-28T12:00:00Z", "after": "MA", "timeout": 100 }))
        .await;
    assert_eq!(both["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_on_an_inbox_that_is_deleted_ends_with_not_found_at_once() {
    let app = TestApp::spawn().await;
    let (id, _, _) = app.create_inbox("gone").await;
    let waiting = app.graphql(
        "query($id: ID!) { waitForMessage(inboxId: $id, timeoutMs: 60000) { id } }",
        json!({ "id": id }),
    );
    let deleting = async {
        // Let the wait start listening first.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.data(
            "mutation($id: ID!) { deleteInbox(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await
    };
    let started = std::time::Instant::now();
    let (waited, _) = tokio::join!(waiting, deleting);
    assert_eq!(
        waited["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{waited}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the wait ended early"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_key_s_wait_on_a_new_catch_all_address_creates_nothing_yet_gets_its_first_mail() {
    let app = TestApp::spawn().await;
    let reader = app.key_for("dev", Scope::Read).await;
    let timed_out = app
        .graphql_as(
            Some(&reader),
            WAIT,
            json!({ "address": "nobody-yet@localhost", "timeout": 200 }),
        )
        .await;
    assert_eq!(
        timed_out["errors"][0]["extensions"]["code"], "TIMEOUT",
        "{timed_out}"
    );
    let lookup = app
        .graphql(
            "query { inbox(address: \"nobody-yet@localhost\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        lookup["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "the wait created the inbox: {lookup}"
    );

    let sending = async {
        let lookup = app
            .graphql(
                "query { inbox(address: \"arrives@localhost\") { id } }",
                json!({}),
            )
            .await;
        assert_eq!(
            lookup["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{lookup}"
        );
        app.send_mail("arrives@localhost", "created by mail", "hi")
            .await;
    };
    let waited = subject_waited_while(
        &app,
        Some(&reader),
        json!({ "address": "arrives@localhost", "timeout": 30000 }),
        sending,
    )
    .await;
    assert_eq!(waited, "created by mail");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_on_an_address_that_create_inbox_then_creates_finds_its_mail() {
    let app = TestApp::spawn().await;
    let creating = async {
        app.create_inbox("made-later").await;
        app.send_mail("made-later@localhost", "after createInbox", "hi")
            .await;
    };
    let waited = subject_waited_while(
        &app,
        Some(&app.key),
        json!({ "address": "made-later@localhost", "timeout": 30000 }),
        creating,
    )
    .await;
    assert_eq!(waited, "after createInbox");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plus_address_names_its_inbox_narrowed_to_its_tag_in_waits_and_lookups() {
    let app = TestApp::spawn().await;
    app.send_mail("zed+t2@localhost", "for t2", "x").await;
    let waited = subject_waited_while(
        &app,
        Some(&app.key),
        json!({ "address": "zed+t1@localhost", "timeout": 30000 }),
        app.send_mail("zed+t1@localhost", "for t1", "x"),
    )
    .await;
    assert_eq!(waited, "for t1");

    let lookup = |address: &'static str| {
        app.data(
            r#"query($a: String!) { inbox(address: $a) { address
                messages { edges { node { subject } } } } }"#,
            json!({ "a": address }),
        )
    };
    let tagged = lookup("Zed+T1@localhost").await;
    assert_eq!(tagged["inbox"]["address"], "zed@localhost");
    assert_eq!(
        tagged["inbox"]["messages"]["edges"],
        json!([{ "node": { "subject": "for t1" } }])
    );
    let whole = lookup("zed@localhost").await;
    assert_eq!(
        whole["inbox"]["messages"]["edges"].as_array().map(Vec::len),
        Some(2)
    );

    let conflicting = app
        .graphql(
            WAIT,
            json!({ "address": "zed+t1@localhost", "filter": { "tag": "t2" }, "timeout": 100 }),
        )
        .await;
    assert_eq!(
        conflicting["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{conflicting}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_inbox_refuses_a_plus_address_local_part() {
    let app = TestApp::spawn().await;
    let refused = app
        .data(
            r#"mutation { createInbox(input: {domain: "localhost", localPart: "qa+x"}) {
                status inbox { id } token } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        refused["createInbox"],
        json!({ "status": "INVALID_LOCAL_PART", "inbox": null, "token": null })
    );
    app.stop().await;
}

/// A sign-up whose verification mail carries `code`.
fn signup_mail(code: &str) -> String {
    format!("Subject: Your code\r\n\r\nYour verification code is {code}.\r\n")
}

async fn send_signup(app: &TestApp, to: &str, code: &str) {
    let mut smtp = app.smtp().await;
    smtp.command("EHLO app.test").await;
    let reply = smtp
        .deliver("app@example.com", &[to], &signup_mail(code))
        .await;
    assert!(reply.starts_with("250"), "{reply}");
}

async fn wait_for_code(app: &TestApp, address: &str, timeout_ms: u32) -> Value {
    let response = app
        .graphql(
            "query($a: String!, $t: Int) { waitForMessage(address: $a, timeoutMs: $t) { codes } }",
            json!({ "a": address, "t": timeout_ms }),
        )
        .await;
    if response["data"]["waitForMessage"].is_null() {
        return response["errors"][0]["extensions"]["code"].clone();
    }
    response["data"]["waitForMessage"]["codes"][0].clone()
}

/// The code a wait without a cursor returns when the sign-up mail with `code` lands while the
/// wait is held.
async fn code_sent_during_a_wait(app: &TestApp, address: &str, code: &str) -> Value {
    let (waited, ()) = tokio::join!(wait_for_code(app, address, 30000), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        send_signup(app, address, code).await;
    });
    waited
}

#[tokio::test(flavor = "multi_thread")]
async fn three_sign_ups_in_a_row_with_one_address_get_their_own_codes_without_a_cursor() {
    let app = TestApp::spawn().await;
    let address = "signup@localhost";
    // The first and second mails land before their waits are made.
    send_signup(&app, address, "111111").await;
    assert_eq!(wait_for_code(&app, address, 5000).await, "111111");
    send_signup(&app, address, "222222").await;
    assert_eq!(wait_for_code(&app, address, 5000).await, "222222");
    // The third lands while its wait is held.
    assert_eq!(
        code_sent_during_a_wait(&app, address, "333333").await,
        "333333"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_re_run_never_gets_an_earlier_run_s_mail() {
    let app = TestApp::spawn().await;
    let address = "rerun@localhost";
    // The first run.
    send_signup(&app, address, "100001").await;
    assert_eq!(wait_for_code(&app, address, 5000).await, "100001");
    // The re-run, moments later: its wait is made before its mail lands.
    assert_eq!(
        code_sent_during_a_wait(&app, address, "200002").await,
        "200002"
    );
    // A run that crashed before its wait left a mail nobody waited for; once it is older than
    // `--wait-lookback` (300 s by default), a later run's wait passes it over too.
    send_signup(&app, address, "300003").await;
    app.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(wait_for_code(&app, address, 200).await, "TIMEOUT");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_waits_in_a_row_get_two_different_mails_then_time_out() {
    let app = TestApp::spawn().await;
    let (_, address, _) = app.create_inbox("twice").await;
    send_signup(&app, &address, "123456").await;
    send_signup(&app, &address, "654321").await;
    assert_eq!(wait_for_code(&app, &address, 5000).await, "123456");
    assert_eq!(wait_for_code(&app, &address, 5000).await, "654321");
    assert_eq!(wait_for_code(&app, &address, 200).await, "TIMEOUT");
    // A wait by cursor returns a message already returned, as asked.
    let response = app
        .graphql(
            WAIT,
            json!({ "address": address, "after": null, "since": "2026-11-28T11:00:00Z", "timeout": 200 }),
        )
        .await;
    assert_eq!(
        response["data"]["waitForMessage"]["codes"][0], "123456",
        "{response}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_by_cursor_records_what_it_returned() {
    let app = TestApp::spawn().await;
    let (_, address, start) = app.create_inbox("by-cursor").await;
    send_signup(&app, &address, "777777").await;
    let response = app
        .graphql(
            WAIT,
            json!({ "address": address, "after": start, "timeout": 5000 }),
        )
        .await;
    assert_eq!(
        response["data"]["waitForMessage"]["codes"][0], "777777",
        "{response}"
    );
    assert_eq!(wait_for_code(&app, &address, 200).await, "TIMEOUT");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_on_a_new_catch_all_address_hears_its_creation_from_another_process() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.database_url.clone(), &[]).await;
    let waited = subject_waited_while(
        &second,
        Some(&second.key),
        json!({ "address": "elsewhere@localhost", "timeout": 30000 }),
        first.send_mail("elsewhere@localhost", "via the first", "hi"),
    )
    .await;
    assert_eq!(waited, "via the first");
    second.stop().await;
    first.stop().await;
}
