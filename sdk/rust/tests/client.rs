//! The client against a real ephemail, with real mail over SMTP. One server for the tests of
//! this file (they use separate inboxes) and one with a low request quota for the 429 test.

mod support;

use std::time::{Duration, Instant};

use ephemail_client::{Client, CreateInbox, CreateWebhook, ErrorCode, Filter, Subscribe, Wait};
use futures::{StreamExt, TryStreamExt};
use regex::Regex;
use support::Server;

/// Sends after a short delay, so that the wait it is joined with has started.
async fn send_later(server: &Server, to: &str, subject: &str, text: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.send(to, subject, text).await;
}

fn client(server: &Server) -> Client {
    Client::new(&server.url, &server.api_key)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_against_a_real_server() {
    // Private targets allowed: the webhook test's receiver is on 127.0.0.1.
    let mut server = Server::start(&["--webhook-allow-private"]);
    create_extend_and_delete(&server).await;
    webhooks(&server).await;
    wait_started_before_the_mail_code_and_link(&server).await;
    two_waits_in_a_row_and_the_guard(&server).await;
    pagination(&server).await;
    raw_is_byte_identical(&server).await;
    each_error_code(&server).await;
    subscription_resumes_after_a_restart(&mut server).await;
}

async fn create_extend_and_delete(server: &Server) {
    let client = client(server);
    let inbox = client
        .create_inbox(CreateInbox::default().ttl_seconds(600).tag("signup"))
        .await
        .expect("created");
    assert!(inbox.address.ends_with("@localhost"));
    assert!(inbox.token.is_some());
    assert_eq!(inbox.tags, ["signup"]);
    assert_eq!((inbox.expires_at - inbox.created_at).num_seconds(), 600);
    let extended = client.extend_inbox(&inbox.id, 1200).await.expect("extended");
    assert!(extended.expires_at > inbox.expires_at);
    assert!(extended.token.is_some(), "a fresh token, valid until the new expiry");
    client.delete_inbox(&inbox.id).await.expect("deleted");
    let again = client.delete_inbox(&inbox.id).await.expect_err("already deleted");
    assert_eq!(again.code, ErrorCode::NotFound);
}

/// A webhook gets a test event and a new mail's codes (read off the raw HTTP request by a
/// receiver of a few lines), then is deleted.
async fn webhooks(server: &Server) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let client = client(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (requests, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let length = Regex::new(r"(?i)content-length: (\d+)").unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (requests, length) = (requests.clone(), length.clone());
            tokio::spawn(async move {
                // One request per connection: answered with `Connection: close`.
                let mut request = Vec::new();
                let mut buffer = [0; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let wanted: usize = length.captures(head).unwrap()[1].parse().unwrap();
                        if body.len() >= wanted {
                            let _ = requests.send(text.into_owned());
                            let _ = stream
                                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                                .await;
                            return;
                        }
                    }
                }
            });
        }
    });
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(30), received.recv()).await.unwrap().unwrap()
    };

    let inbox = client.create_inbox(CreateInbox::default()).await.expect("inbox");
    let (webhook, secret) =
        client.create_webhook(CreateWebhook::to(&url).inbox(&inbox.id)).await.expect("webhook");
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(webhook.enabled);
    assert_eq!(webhook.inbox_id.as_ref().map(|id| id.inner()), Some(inbox.id.as_str()));
    let listed = client.webhooks().await.expect("listed");
    assert!(listed.iter().any(|listed| listed.id == webhook.id));

    let delivery_id = client.test_webhook(webhook.id.inner()).await.expect("test event");
    let request = next().await;
    assert!(request.contains(&format!("webhook-id: {delivery_id}")), "{request}");
    assert!(request.contains(r#""type":"webhook.test""#), "{request}");
    server.send(&inbox.address, "Your code", "Your code is 482913").await;
    let request = next().await;
    assert!(request.contains(r#""type":"message.received""#), "{request}");
    assert!(request.contains(r#""codes":["482913"]"#), "{request}");

    client.delete_webhook(webhook.id.inner()).await.expect("deleted");
    let gone = client.delete_webhook(webhook.id.inner()).await.unwrap_err();
    assert_eq!(gone.code, ErrorCode::NotFound);
    let gone = client.test_webhook(webhook.id.inner()).await.unwrap_err();
    assert_eq!(gone.code, ErrorCode::NotFound);
}

async fn wait_started_before_the_mail_code_and_link(server: &Server) {
    let client = client(server);
    let inbox =
        client.create_inbox(CreateInbox::on("localhost").ttl_seconds(600)).await.expect("created");
    let (message, ()) = tokio::join!(
        client.wait_for_message(Wait::inbox(&inbox.id).timeout_ms(30_000)),
        send_later(
            server,
            &inbox.address,
            "Verify your email",
            "Your verification code is 482 913."
        ),
    );
    let message = message.expect("the mail");
    assert_eq!(message.subject.as_deref(), Some("Verify your email"));
    assert_eq!(message.codes.first().map(String::as_str), Some("482913"));

    let (code, ()) = tokio::join!(
        client.wait_for_code(Wait::inbox(&inbox.id).timeout_ms(30_000)),
        send_later(server, &inbox.address, "Your code", "Your code: 4 8 2 9 1 3"),
    );
    assert_eq!(code.expect("code"), "482913");

    let verify = Regex::new("verify").expect("pattern");
    let (link, ()) = tokio::join!(
        client.wait_for_link(Wait::address(&inbox.address).link_matching(verify)),
        send_later(
            server,
            &inbox.address,
            "Links",
            "Help: https://app.example/help\nConfirm: https://app.example/verify?t=xyz"
        ),
    );
    assert_eq!(link.expect("link"), "https://app.example/verify?t=xyz");
}

async fn two_waits_in_a_row_and_the_guard(server: &Server) {
    let client = client(server);
    let inbox = client.temporary_inbox(CreateInbox::default()).await.expect("created");
    server.send(&inbox.address, "first", "one").await;
    server.send(&inbox.address, "second", "two").await;
    let first = client.wait_for_message(Wait::inbox(&inbox.id)).await.expect("first");
    let second = client.wait_for_message(Wait::inbox(&inbox.id)).await.expect("second");
    assert_eq!(first.subject.as_deref(), Some("first"));
    assert_eq!(second.subject.as_deref(), Some("second"));
    let none = client
        .wait_for_message(Wait::inbox(&inbox.id).timeout_ms(300))
        .await
        .expect_err("no third mail");
    assert_eq!(none.code, ErrorCode::Timeout);
    let id = inbox.id.clone();
    inbox.delete().await.expect("guard deletes");
    let gone = client.delete_inbox(&id).await.expect_err("gone");
    assert_eq!(gone.code, ErrorCode::NotFound);
}

async fn pagination(server: &Server) {
    let client = client(server);
    let inbox = client.create_inbox(CreateInbox::default()).await.expect("created");
    for index in 0..5 {
        server.send(&inbox.address, &format!("page mail {index}"), "x").await;
    }
    let last = Filter { subject: Some("page mail 4".into()), ..Filter::default() };
    client.wait_for_message(Wait::inbox(&inbox.id).filter(last)).await.expect("all arrived");
    let (first_page, next) =
        client.messages_page(&inbox.id, None, None, 2).await.expect("first page");
    assert_eq!(first_page.len(), 2);
    assert!(next.is_some());
    let subjects: Vec<_> = client
        .messages(&inbox.id, None)
        .map_ok(|message| message.subject.unwrap_or_default())
        .try_collect()
        .await
        .expect("all pages");
    let expected: Vec<_> = (0..5).rev().map(|index| format!("page mail {index}")).collect();
    assert_eq!(subjects, expected);
}

async fn raw_is_byte_identical(server: &Server) {
    let client = client(server);
    let inbox = client.create_inbox(CreateInbox::default()).await.expect("created");
    let sent = format!(
        "From: a@example.com\r\nTo: {}\r\nSubject: raw\r\n\r\nbody line\r\n.dot line\r\n\u{e9} 8bit\r\n",
        inbox.address
    );
    // lettre ends the DATA with a line break of its own, so it gets the text without the last.
    server.send_raw(&inbox.address, sent.trim_end().as_bytes()).await;
    let message = client.wait_for_message(Wait::inbox(&inbox.id)).await.expect("mail");
    let raw = client.raw(message.id.inner()).await.expect("raw");
    // The server puts its own `Received:` header in front of the bytes it received.
    assert!(raw.starts_with(b"Received: "));
    assert!(raw.ends_with(sent.as_bytes()), "{}", String::from_utf8_lossy(&raw));
    client.delete_message(message.id.inner()).await.expect("deleted");
    let gone = client.message(message.id.inner()).await.expect_err("gone");
    assert_eq!(gone.code, ErrorCode::NotFound);
    let gone = client.raw(message.id.inner()).await.expect_err("gone");
    assert_eq!(gone.code, ErrorCode::NotFound);
}

async fn each_error_code(server: &Server) {
    let client = client(server);
    let stranger = Client::new(&server.url, "ek_wrong");
    let refused = stranger.create_inbox(CreateInbox::on("localhost")).await.expect_err("bad key");
    assert_eq!(refused.code, ErrorCode::Unauthenticated);
    let inbox = client.create_inbox(CreateInbox::default()).await.expect("created");
    // An inbox token may read its own inbox but not create inboxes.
    let token = Client::new(&server.url, inbox.token.clone().expect("token"));
    let forbidden = token.create_inbox(CreateInbox::on("localhost")).await.expect_err("token");
    assert_eq!(forbidden.code, ErrorCode::Forbidden);
    let missing = client.message("00000000-0000-4000-8000-000000000000").await.expect_err("none");
    assert_eq!(missing.code, ErrorCode::NotFound);
    let malformed = client.message("not-an-id").await.expect_err("bad id");
    assert_eq!(malformed.code, ErrorCode::BadUserInput);
    client
        .create_inbox(CreateInbox::on("localhost").local_part("taken-rs"))
        .await
        .expect("created");
    let taken = client
        .create_inbox(CreateInbox::on("localhost").local_part("taken-rs"))
        .await
        .expect_err("taken");
    assert_eq!(
        (taken.code, taken.status.as_deref()),
        (ErrorCode::BadUserInput, Some("ADDRESS_TAKEN"))
    );
    let timeout =
        client.wait_for_message(Wait::inbox(&inbox.id).timeout_ms(200)).await.expect_err("nothing");
    assert_eq!(timeout.code, ErrorCode::Timeout);
    // Nothing listens on port 9: a transport failure is INTERNAL.
    let unreachable = Client::new("http://127.0.0.1:9", "x").message(&inbox.id).await;
    assert_eq!(unreachable.expect_err("no server").code, ErrorCode::Internal);
}

async fn subscription_resumes_after_a_restart(server: &mut Server) {
    let client = client(server);
    let inbox = client.create_inbox(CreateInbox::default()).await.expect("created");
    let mut stream = Box::pin(client.subscribe(Subscribe::inbox(&inbox.id)));
    server.send(&inbox.address, "live 1", "x").await;
    server.send(&inbox.address, "live 2", "x").await;
    let mut received = Vec::new();
    while received.len() < 2 {
        let message = stream.next().await.expect("open").expect("message");
        received.push(message.subject.unwrap_or_default());
    }
    tokio::task::block_in_place(|| server.restart());
    server.send(&inbox.address, "live 3", "x").await;
    server.send(&inbox.address, "live 4", "x").await;
    while received.len() < 4 {
        let message = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .expect("resumed in time")
            .expect("open")
            .expect("message");
        received.push(message.subject.unwrap_or_default());
    }
    assert_eq!(received, ["live 1", "live 2", "live 3", "live 4"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_429_is_retried_after_retry_after() {
    // 120 requests a minute: a burst of 120, then one more every half second.
    let server = Server::start(&["--quota-requests-per-minute", "120"]);
    let impatient = Client::new(&server.url, &server.api_key).with_max_retries(0);
    let inbox = impatient.create_inbox(CreateInbox::on("localhost")).await.expect("created");
    let mut refused = None;
    for _ in 0..200 {
        if let Err(error) = impatient.extend_inbox(&inbox.id, 600).await {
            refused = Some(error);
            break;
        }
    }
    let refused = refused.expect("the quota ran out");
    assert_eq!(refused.code, ErrorCode::QuotaExceeded);
    assert!(refused.retry_after.is_some_and(|seconds| seconds >= 1));
    let patient = Client::new(&server.url, &server.api_key);
    // Right after the refusal the bucket holds less than one request; three need a second and
    // a half of refill, so at least one of them is answered 429 first and retried.
    let started = Instant::now();
    for _ in 0..3 {
        let extended = patient.extend_inbox(&inbox.id, 600).await.expect("after a retry");
        assert_eq!(extended.id, inbox.id);
    }
    assert!(started.elapsed() >= Duration::from_millis(900), "answered only after Retry-After");
}
