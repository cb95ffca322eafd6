//! The team's third-party MIME corpus (`../shared/corpora/mime/`, beside the checkout as in CI)
//! through real SMTP: every message is accepted, stored, its raw source served byte for byte and
//! its parsed fields read over GraphQL within a time bound, and ingest keeps flowing after it.

use std::{
    future::Future,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::helpers::{without_trace_header, SmtpConversation, TestApp};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpora/mime");
/// The corpus's `.eml` files: a missing or moved corpus must fail, not pass with nothing tested.
const FIXTURES: usize = 16;
/// For each message's delivery, and again for reading it back: a bound against hangs (such as
/// a sanitizer quadratic in nesting depth), not a benchmark.
const BOUND: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_message_is_stored_byte_for_byte_and_served_in_bounded_time() {
    let fixtures = eml_files(Path::new(CORPUS));
    assert_eq!(fixtures.len(), FIXTURES, "{CORPUS}: {fixtures:?}");
    let app = TestApp::spawn().await;
    // One session for the whole corpus: no message may break it for the next.
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    for (n, path) in fixtures.iter().enumerate() {
        let name = path.strip_prefix(CORPUS).unwrap().display().to_string();
        let expected = as_stored(&std::fs::read(path).unwrap());
        let address = format!("corpus{n}@localhost");

        let (reply, delivered) = timed(
            &format!("{name}: delivery"),
            deliver(&mut smtp, &address, &expected),
        )
        .await;
        assert!(reply.starts_with("250 2.0.0"), "{name}: {reply}");
        let ((message, raw), read) =
            timed(&format!("{name}: reading"), read_back(&app, &address)).await;
        eprintln!(
            "{name}: {} bytes, delivered in {delivered:?}, read in {read:?}, parseError {}, contentLimits {}",
            expected.len(),
            message["parseError"],
            message["contentLimits"],
        );

        assert_eq!(message["size"], expected.len(), "{name}");
        let stored = without_trace_header(&raw);
        assert!(
            stored == expected.as_slice(),
            "{name}: the raw download ({} bytes) differs from what was sent ({} bytes) at byte {}",
            stored.len(),
            expected.len(),
            stored
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(stored.len().min(expected.len())),
        );
        if let Some(html) = message["html"].as_str() {
            assert!(!html.contains("<script"), "{name}: unsanitized html");
        }
    }
    smtp.command("QUIT").await;

    timed(
        "an ordinary mail after the corpus",
        app.send_mail("after@localhost", "after the corpus", "still flowing"),
    )
    .await;
    let messages = app.messages_of("after@localhost").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["subject"], "after the corpus");
    app.stop().await;
}

/// The `.eml` files under `dir`, recursively, sorted.
fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(eml_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "eml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// What ephemail stores for `file`: its bytes with line endings untouched (bare LF and bare CR
/// are data, never normalized; most of the corpus uses bare LF), plus the CRLF that must end
/// the last line before the final dot when the file does not end with one.
fn as_stored(file: &[u8]) -> Vec<u8> {
    let mut message = file.to_vec();
    if !message.ends_with(b"\r\n") {
        message.extend_from_slice(b"\r\n");
    }
    message
}

/// Sends `message` (ending with CRLF) in one transaction; returns the reply to the final dot.
async fn deliver(smtp: &mut SmtpConversation, to: &str, message: &[u8]) -> String {
    let reply = smtp
        .command("MAIL FROM:<corpus@example.com> BODY=8BITMIME")
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let reply = smtp.command(&format!("RCPT TO:<{to}>")).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(smtp.command("DATA").await.starts_with("354"));
    // Dot-stuffing (RFC 5321 4.5.2): ephemail unstuffs only a dot opening a CRLF line, so
    // only those are doubled; a dot after a bare LF is sent, and stored, as is.
    let mut wire = Vec::with_capacity(message.len() + 64);
    let mut line_start = true;
    for &byte in message {
        if line_start && byte == b'.' {
            wire.push(b'.');
        }
        wire.push(byte);
        line_start = byte == b'\n' && wire.ends_with(b"\r\n");
    }
    smtp.send(&wire).await;
    smtp.command(".").await
}

/// The only message of `address`, with every parsed field, and its raw download.
async fn read_back(app: &TestApp, address: &str) -> (Value, Vec<u8>) {
    let data = app
        .data(
            r#"query($a: String!) { inbox(address: $a) { messages(first: 2) { totalCount nodes {
                size subject text html parseError contentLimits rawUrl
                from { address } headers { name value }
                attachments { filename contentType size url } } } } }"#,
            json!({ "a": address }),
        )
        .await;
    let messages = &data["inbox"]["messages"];
    assert_eq!(messages["totalCount"], 1, "{address}: {data}");
    let message = messages["nodes"][0].clone();
    let response = reqwest::Client::new()
        .get(message["rawUrl"].as_str().unwrap())
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{address}: raw download");
    (message, response.bytes().await.unwrap().to_vec())
}

/// Runs `step`, failing it after [`BOUND`]; returns its output and how long it took.
async fn timed<T>(what: &str, step: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let output = tokio::time::timeout(BOUND, step)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {BOUND:?}"));
    (output, started.elapsed())
}
