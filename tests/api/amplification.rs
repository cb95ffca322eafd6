//! One read-key request cannot take the server's CPU and memory: queries that would multiply
//! expensive fields (sanitized HTML, decoded headers) over pages, aliases and fragment spreads
//! are refused before they run; heavy ones that are allowed end at the operation timeout, and
//! the server's memory comes back afterwards.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{fresh_database, ServeProcess, SmtpConversation};

const MAILS: usize = 20;

/// A mail with about 436 KB of HTML: paragraphs, remote images and links.
fn big_html_mail(n: usize) -> String {
    let paragraph = "<p>Your code is <b>482913</b>. <img src=\"http://tracker.example/p.png\"> \
                     <a href=\"https://example.com/verify?n=1\">verify</a> lorem ipsum dolor \
                     sit amet, consectetur adipiscing elit.</p>\r\n";
    let body = paragraph.repeat(436_000 / paragraph.len());
    format!("Subject: big {n}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{body}")
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

#[tokio::test(flavor = "multi_thread")]
async fn amplification_queries_are_refused_or_cut_off_on_time_and_memory_comes_back() {
    let url = fresh_database().await;
    let server = ServeProcess::spawn(&["--database-url", &url, "--operation-timeout", "2"]);
    let key = std::process::Command::new(env!("CARGO_BIN_EXE_ephemail"))
        .args(["key", "create", "--tenant", "dev", "--scopes", "read"])
        .args(["--database-url", &url])
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let mut smtp = SmtpConversation::connect(server.smtp_addr()).await;
    smtp.command("EHLO client.test").await;
    for n in 0..MAILS {
        let reply = smtp
            .deliver("a@example.com", &["amp@localhost"], &big_html_mail(n))
            .await;
        assert!(reply.starts_with("250"), "{reply}");
    }
    let client = reqwest::Client::new();
    let run = |query: String| {
        let request = client
            .post(server.graphql_url())
            .bearer_auth(&key)
            .json(&json!({ "query": query }));
        async move {
            let started = Instant::now();
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            (body, started.elapsed())
        }
    };
    let (warm, _) = run(r#"{ inbox(address: "amp@localhost") { messages(first: 20) {
        nodes { subject } } } }"#
        .into())
    .await;
    assert!(warm["errors"].is_null(), "{warm}");
    let before = resident_kib(server.child.id());

    // 20 messages x 10 aliased sanitized bodies: refused by complexity, before running.
    let aliases: String = (0..10)
        .map(|i| format!("h{i}: html(blockRemoteImages: true) "))
        .collect();
    let (refused, took) = run(format!(
        r#"{{ inbox(address: "amp@localhost") {{ messages(first: {MAILS}) {{ nodes {{ {aliases} }} }} }} }}"#
    ))
    .await;
    assert_eq!(code(&refused), Some("BAD_USER_INPUT"), "{refused}");
    assert!(refused["data"].is_null(), "nothing ran: {refused}");
    assert!(
        took < Duration::from_secs(1),
        "refused before running: {took:?}"
    );

    // A fragment of 50 aliases spread under nested pages: refused too.
    let fragment: String = (0..50).map(|i| format!("f{i}: subject ")).collect();
    let (refused, _) = run(format!(
        r#"{{ inbox(address: "amp@localhost") {{ messages(first: 100) {{ nodes {{ inbox {{
            messages(first: 100) {{ nodes {{ ...F }} }} }} }} }} }} }}
           fragment F on Message {{ {fragment} }}"#
    ))
    .await;
    assert_eq!(code(&refused), Some("BAD_USER_INPUT"), "{refused}");

    // Allowed but heavy, four at once: each ends by the timeout (2 s) plus one second.
    let heavy = r#"{ inbox(address: "amp@localhost") { messages(first: 20) { nodes {
        html(blockRemoteImages: true) plain: html codes links headers { name } } } } }"#;
    let answers = futures::future::join_all((0..4).map(|_| run(heavy.to_owned()))).await;
    for (answer, took) in &answers {
        assert!(took < &Duration::from_secs(3), "took {took:?}: {answer}");
        if let Some(code) = code(answer) {
            assert!(matches!(code, "TIMEOUT" | "BAD_USER_INPUT"), "{answer}");
        }
    }
    // What was running when the deadline came finishes soon after; then memory is back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = resident_kib(server.child.id());
    assert!(
        after * 10 <= before * 12,
        "resident memory {before} KiB before, {after} KiB after"
    );
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.wait().await.success());
}
