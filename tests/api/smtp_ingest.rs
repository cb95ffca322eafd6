use lettre::{
    message::{header::ContentType, Attachment, MultiPart},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde_json::json;

use crate::helpers::TestApp;

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

#[tokio::test(flavor = "multi_thread")]
async fn multipart_mail_is_stored_with_html_sanitized_and_attachment_metadata() {
    let app = TestApp::spawn().await;
    let mail = Message::builder()
        .from("Sender <sender@example.com>".parse().unwrap())
        .to("Signup@LocalHost".parse().unwrap())
        .subject("Welcome aboard")
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(
                    "Your code is 424242".to_owned(),
                    r#"<p>Your code is <b>424242</b></p><script>alert('xss')</script><img src="https://t.example/p.gif" onerror="alert(1)">"#.to_owned(),
                ))
                .singlepart(
                    Attachment::new("invoice.pdf".to_owned())
                        .body(PDF.to_vec(), ContentType::parse("application/pdf").unwrap()),
                ),
        )
        .unwrap();
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(app.smtp_addr.port())
        .build();
    let response = mailer.send(mail).await.expect("mail accepted");
    assert_eq!(response.code().to_string(), "250");

    let messages = app.messages_of("signup@localhost").await;
    let [message] = messages.as_slice() else {
        panic!("one message expected: {messages:?}")
    };
    assert_eq!(message["subject"], "Welcome aboard");
    assert_eq!(
        message["text"].as_str().unwrap().trim(),
        "Your code is 424242"
    );
    let html = message["html"].as_str().unwrap();
    assert!(html.contains("<b>424242</b>"), "{html}");
    for banned in ["<script", "alert(", "onerror"] {
        assert!(
            !html.contains(banned),
            "{banned} survived sanitizing: {html}"
        );
    }
    assert!(
        html.contains("https://t.example/p.gif"),
        "remote images are kept by default: {html}"
    );
    let blocked = app
        .data(
            r#"query($id: ID!) { message(id: $id) { html(blockRemoteImages: true) } }"#,
            json!({ "id": message["id"] }),
        )
        .await;
    let blocked = blocked["message"]["html"].as_str().unwrap();
    assert!(
        !blocked.contains("t.example") && blocked.contains("<b>424242</b>"),
        "{blocked}"
    );
    assert_eq!(message["mailFrom"], "sender@example.com");
    assert_eq!(message["rcptTo"], json!(["signup@localhost"]));
    assert_eq!(
        message["attachments"],
        json!([{ "filename": "invoice.pdf", "contentType": "application/pdf", "size": PDF.len() }])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn catch_all_domain_creates_the_inbox_on_first_mail() {
    let app = TestApp::spawn().await;
    assert!(app.messages_of("fresh@localhost").await.is_empty());
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let reply = smtp
        .deliver(
            "a@example.com",
            &["Fresh@LOCALHOST"],
            "Subject: hi\r\n\r\nbody\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let data = app
        .data(
            r#"{ inbox(address: "fresh@localhost") { address messages { totalCount } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["inbox"]["address"], "fresh@localhost");
    assert_eq!(data["inbox"]["messages"]["totalCount"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_domain_accepts_only_live_inboxes() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    smtp.command("MAIL FROM:<a@example.com>").await;
    assert_eq!(
        smtp.command("RCPT TO:<nobody@registered.test>").await,
        "550 5.1.1 No such mailbox"
    );

    let created = app
        .data(
            r#"mutation { createInbox(input: {domain: "registered.test", localPart: "Known", ttlSeconds: 60}) {
                status inbox { address } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(created["createInbox"]["status"], "CREATED");
    assert_eq!(
        created["createInbox"]["inbox"]["address"],
        "known@registered.test"
    );
    assert_eq!(
        smtp.command("RCPT TO:<KNOWN@registered.test>").await,
        "250 2.1.5 Recipient OK"
    );

    app.clock.advance(chrono::Duration::seconds(61));
    smtp.command("RSET").await;
    smtp.command("MAIL FROM:<a@example.com>").await;
    assert_eq!(
        smtp.command("RCPT TO:<known@registered.test>").await,
        "550 5.1.1 No such mailbox",
        "an expired inbox must not receive mail"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unserved_domains_are_refused_so_we_are_never_an_open_relay() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    smtp.command("MAIL FROM:<a@example.com>").await;
    assert_eq!(
        smtp.command("RCPT TO:<victim@gmail.com>").await,
        "550 5.7.1 Relaying denied: we do not serve that domain"
    );
    assert_eq!(
        smtp.command("DATA").await,
        "503 5.5.1 Bad sequence of commands"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_mail_to_several_recipients_lands_in_each_inbox() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let reply = smtp
        .deliver(
            "news@example.com",
            &["one@localhost", "two@localhost", "ONE@localhost"],
            "Subject: shared\r\n\r\nfor both\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    for address in ["one@localhost", "two@localhost"] {
        let messages = app.messages_of(address).await;
        assert_eq!(messages.len(), 1, "{address}: {messages:?}");
        assert_eq!(messages[0]["subject"], "shared");
        // Each inbox sees only its own envelope recipient.
        assert_eq!(messages[0]["rcptTo"], json!([address]));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_message_is_refused_with_552_and_nothing_is_stored() {
    let app = TestApp::spawn_with(&["--max-message-size", "2048"]).await;
    let mut smtp = app.smtp().await;
    let ehlo = smtp.command("EHLO client.test").await;
    assert!(ehlo.contains("250-SIZE 2048"), "{ehlo}");
    let body = "x".repeat(70);
    let big = format!("Subject: big\r\n\r\n{}", format!("{body}\r\n").repeat(60));
    let reply = smtp
        .deliver("a@example.com", &["big@localhost"], &big)
        .await;
    assert_eq!(reply, "552 5.3.4 Message too large (limit is 2048 bytes)");
    assert!(app.messages_of("big@localhost").await.is_empty());

    // The session is still usable, and a message within the limit goes through.
    let reply = smtp
        .deliver(
            "a@example.com",
            &["big@localhost"],
            "Subject: small\r\n\r\nok\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let messages = app.messages_of("big@localhost").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["subject"], "small");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn command_lines_over_the_configured_length_get_500_and_the_session_goes_on() {
    let app = TestApp::spawn_with(&["--smtp-max-line-length", "600"]).await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    // 600 bytes with the CRLF is the limit: accepted.
    let local = "a".repeat(600 - "RCPT TO:<@localhost>\r\n".len());
    let at_limit = format!("RCPT TO:<{local}@localhost>");
    assert_eq!(at_limit.len() + 2, 600);
    assert!(smtp
        .command("MAIL FROM:<a@example.com>")
        .await
        .starts_with("250"));
    let reply = smtp.command(&at_limit).await;
    assert!(!reply.starts_with("500 5.5.6"), "{reply}");
    // One byte over, whole in one write; then a line of 20 KiB, over the read buffer too, in
    // pieces; then one over the limit that is not even a command.
    let over = format!("RCPT TO:<a{local}@localhost>");
    assert_eq!(smtp.command(&over).await, "500 5.5.6 Command line too long");
    let huge = format!("RCPT TO:<{}@localhost>\r\n", "b".repeat(20 * 1024));
    for piece in huge.as_bytes().chunks(4096) {
        smtp.send(piece).await;
    }
    assert_eq!(smtp.reply().await, "500 5.5.6 Command line too long");
    assert_eq!(
        smtp.command(&"X".repeat(700)).await,
        "500 5.5.6 Command line too long"
    );
    // The session and its transaction are intact.
    assert!(smtp
        .command("RCPT TO:<short@localhost>")
        .await
        .starts_with("250 2.1.5"));
    assert!(smtp.command("DATA").await.starts_with("354"));
    let reply = smtp.command("Subject: ok\r\n\r\nfine\r\n.").await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    assert_eq!(app.messages_of("short@localhost").await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_reply_carries_an_enhanced_status_code() {
    let app = TestApp::spawn_with(&["--max-recipients", "2"]).await;
    let mut smtp = app.smtp().await;
    assert_eq!(smtp.greeting, "220 localhost ESMTP ephemail");
    let ehlo = smtp.command("EHLO client.test").await;
    for extension in [
        "PIPELINING",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "SIZE 26214400",
    ] {
        assert!(ehlo.contains(extension), "EHLO lacks {extension}: {ehlo}");
    }
    let table = [
        ("RCPT TO:<a@localhost>", "503 5.5.1"),
        ("DATA", "503 5.5.1"),
        ("MAIL FROM:<a@example.com>", "250 2.1.0"),
        ("MAIL FROM:<b@example.com>", "503 5.5.1"),
        ("RCPT TO:<\"quoted\"@localhost>", "501 5.1.3"),
        ("RCPT TO:<box+\"q\"@localhost>", "501 5.1.3"),
        ("rcpt to:<a b@localhost>", "501 5.1.3"),
        ("MAIL FROM:<a b@example.com>", "501 5.1.7"),
        ("EHLO", "501 5.5.4"),
        ("RCPT TO:<a@localhost>", "250 2.1.5"),
        ("RCPT TO:<b@localhost>", "250 2.1.5"),
        ("RCPT TO:<c@localhost>", "452 4.5.3"),
        ("RSET", "250 2.0.0"),
        ("NOOP", "250 2.0.0"),
        ("BOGUS", "500 5.5.1"),
        ("QUIT", "221 2.0.0"),
    ];
    for (line, expected) in table {
        let reply = smtp.command(line).await;
        assert!(
            reply.starts_with(expected),
            "{line}: expected {expected}, got {reply}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dot_stuffed_lines_and_bare_lf_dots_are_stored_as_sent() {
    let app = TestApp::spawn().await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    // `..line` is a dot-stuffed `.line`; a bare `\n.\n` must not end the message.
    let reply = smtp
        .deliver(
            "a@example.com",
            &["dots@localhost"],
            "Subject: dots\r\n\r\n..starts with a dot\r\nbare\n.\nstill here\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let messages = app.messages_of("dots@localhost").await;
    let [message] = messages.as_slice() else {
        panic!("one message expected: {messages:?}")
    };
    let text = message["text"].as_str().unwrap();
    assert!(text.starts_with(".starts with a dot"), "{text:?}");
    assert!(text.contains("still here"), "{text:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_closes_idle_sessions_and_lets_a_transaction_finish() {
    let app = TestApp::spawn().await;
    let database_url = app.database_url.clone();
    let mut idle = app.smtp().await;
    idle.command("EHLO idle.test").await;
    let mut busy = app.smtp().await;
    busy.command("EHLO busy.test").await;
    busy.command("MAIL FROM:<a@example.com>").await;
    busy.command("RCPT TO:<late@localhost>").await;
    assert!(busy.command("DATA").await.starts_with("354"));
    busy.send(b"Subject: late\r\n\r\nfirst half, ").await;

    let stopping = tokio::spawn(app.stop());
    assert_eq!(idle.reply().await, "421 4.3.2 Service shutting down");
    busy.send(b"second half\r\n").await;
    let reply = busy.command(".").await;
    assert!(
        reply.starts_with("250 2.0.0"),
        "the transaction in flight completes: {reply}"
    );
    stopping.await.unwrap();
    assert_eq!(crate::schema::query_counts(&database_url).await, (1, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_per_address_and_message_rates_are_limited() {
    let app = TestApp::spawn_with(&[
        "--smtp-max-connections-per-ip",
        "2",
        "--smtp-messages-per-minute-per-ip",
        "2",
    ])
    .await;
    let mut first = app.smtp().await;
    let second = app.smtp().await;
    let third = app.smtp().await;
    assert_eq!(
        third.greeting,
        "421 4.7.0 Too many connections from your address; try again later"
    );
    drop(second);
    // The freed place is taken back once the server has seen the close.
    let mut again = None;
    for _ in 0..50 {
        let attempt = app.smtp().await;
        if attempt.greeting.starts_with("220") {
            again = Some(attempt);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a closed session frees its place");

    first.command("EHLO client.test").await;
    for _ in 0..2 {
        assert!(first
            .command("MAIL FROM:<a@example.com>")
            .await
            .starts_with("250"));
        first.command("RSET").await;
    }
    assert_eq!(
        first.command("MAIL FROM:<a@example.com>").await,
        "450 4.7.1 Too many messages from your address; try again later"
    );
    app.stop().await;
}

/// A batch from memory takes a catch-all address it does not remember for a new one. When an
/// inbox was made there meanwhile (through the API), the batch's statement finds the address
/// taken and fails, and the batch is stored again after reading: into that inbox, and no other
/// is made.
#[tokio::test(flavor = "multi_thread")]
async fn a_catch_all_address_taken_meanwhile_gets_the_mail_in_the_inbox_there() {
    let app = TestApp::spawn().await;
    app.send_mail("first@localhost", "first", "hi").await;
    let created = app
        .data(
            r#"mutation { createInbox(input: {domain: "localhost", localPart: "taken"}) {
                status } }"#,
            json!({}),
        )
        .await;
    assert_eq!(created["createInbox"]["status"], "CREATED");
    let made_through_the_api = app.inbox_id("taken@localhost").await;
    app.send_mail("taken@localhost", "second", "hi").await;
    // Read, then remembered but changed (and read again).
    assert_eq!(app.batches_by_recipients_source().await, [0.0, 1.0, 2.0]);
    assert_eq!(app.inbox_id("taken@localhost").await, made_through_the_api);
    let stored = app.messages_of("taken@localhost").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["subject"], "second");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_writer_stores_from_memory_until_an_inbox_it_remembers_changes() {
    let app = TestApp::spawn_with(&["--default-ttl", "600", "--purge-bucket", "60"]).await;
    let deliver = |to: &'static str, subject: &'static str| {
        let app = &app;
        async move {
            let mut smtp = app.smtp().await;
            smtp.command("EHLO client.test").await;
            let mail = format!("Subject: {subject}\r\n\r\nbody\r\n");
            let reply = smtp.deliver("a@example.com", &[to], &mail).await;
            assert!(reply.starts_with("250 2.0.0"), "{to}: {reply}");
        }
    };
    // Read, then remembered: the inbox, the tenant's limits, and a new catch-all address.
    deliver("kept@localhost", "one").await;
    deliver("kept@localhost", "two").await;
    deliver("gone@localhost", "three").await;
    assert_eq!(app.batches_by_recipients_source().await, [2.0, 0.0, 1.0]);
    // An inbox of a registered domain, created through the API: `RCPT TO` found it.
    let created = app
        .data(
            r#"mutation { createInbox(input: {domain: "registered.test", localPart: "made"}) {
                status } }"#,
            json!({}),
        )
        .await;
    assert_eq!(created["createInbox"]["status"], "CREATED");
    deliver("made@registered.test", "api").await;
    assert_eq!(app.batches_by_recipients_source().await, [3.0, 0.0, 1.0]);
    assert_eq!(app.messages_of("made@registered.test").await.len(), 1);

    // An inbox deleted through the API: the remembered one is not stored to, a new one is made.
    let deleted = app
        .data(
            "mutation($id: ID!) { deleteInbox(id: $id) { status } }",
            json!({ "id": app.inbox_id("gone@localhost").await }),
        )
        .await;
    assert_eq!(deleted["deleteInbox"]["status"], "DELETED");
    deliver("gone@localhost", "four").await;
    assert_eq!(app.batches_by_recipients_source().await, [3.0, 1.0, 2.0]);
    let again = app.messages_of("gone@localhost").await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["subject"], "four");

    // An inbox moved to a later expiry bucket: the next mail goes to that bucket, not the one
    // remembered, so it outlives the old bucket with the others.
    let extended = app
        .data(
            "mutation($id: ID!) { extendInbox(input: {id: $id, ttlSeconds: 7200}) { status } }",
            json!({ "id": app.inbox_id("kept@localhost").await }),
        )
        .await;
    assert_eq!(extended["extendInbox"]["status"], "EXTENDED");
    deliver("kept@localhost", "five").await;
    deliver("new@localhost", "six").await;
    assert_eq!(app.batches_by_recipients_source().await, [4.0, 2.0, 3.0]);
    app.clock.advance(chrono::Duration::seconds(1000));
    app.app.sweeper.sweep().await.unwrap().unwrap();
    let kept = app.messages_of("kept@localhost").await;
    let subjects: Vec<&str> = kept.iter().filter_map(|m| m["subject"].as_str()).collect();
    assert_eq!(subjects, ["five", "two", "one"]);
    app.stop().await;
}
