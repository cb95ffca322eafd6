//! The binary as a user runs it: the embedded PostgreSQL default, domain management, serve.

use std::{process::Command, time::Duration};

use nix::sys::signal;
use serde_json::json;

use crate::helpers::{fresh_database, ServeProcess, SmtpConversation, TestApp};

fn ephemail(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ephemail"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("running ephemail")
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "ephemail failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `ephemail ARGS` printed on the database at `url`; the test fails if the command does.
fn run_on(url: &str, args: &[&str]) -> String {
    stdout(&ephemail(&[args, &["--database-url", url]].concat()))
}

/// The error `ephemail ARGS` printed on the database at `url`; the test fails if the command
/// succeeds.
fn failure_on(url: &str, args: &[&str]) -> String {
    let output = ephemail(&[args, &["--database-url", url]].concat());
    assert!(!output.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn domain_tenant_and_key_commands_manage_the_service() {
    let url = fresh_database().await;
    let run = |args: &[&str]| run_on(&url, args);
    let fails = |args: &[&str]| failure_on(&url, args);

    assert!(run(&["tenant", "create", "acme"]).ends_with(" acme\n"));
    assert!(fails(&["tenant", "create", "acme"]).contains("exists already"));
    assert!(fails(&["domain", "add", "Mail.Example.com"]).contains("give --tenant"));
    assert_eq!(
        run(&["domain", "add", "Mail.Example.com", "--tenant", "acme"]),
        "mail.example.com catch_all acme\n"
    );
    assert_eq!(
        run(&["domain", "add", "tests.example:registered"]),
        "tests.example registered shared\n"
    );
    assert_eq!(
        run(&["domain", "list"]),
        "mail.example.com catch_all acme\ntests.example registered shared\n"
    );
    assert_eq!(
        run(&["domain", "remove", "mail.example.com"]),
        "removed mail.example.com\n"
    );
    assert_eq!(
        run(&["domain", "list"]),
        "tests.example registered shared\n"
    );
    fails(&["domain", "remove", "nope.example"]);
    assert!(fails(&["domain", "add", "bad_name:catch_all"]).contains("not a valid host name"));

    assert!(run(&[
        "tenant",
        "limits",
        "acme",
        "--inboxes",
        "5",
        "--mails-per-day",
        "50"
    ])
    .contains("max_inboxes: Some(5)"));
    fails(&["tenant", "limits", "acme", "--inboxes", "-1"]);
    let key = run(&[
        "key", "create", "--tenant", "acme", "--scopes", "read", "--name", "ci",
    ]);
    let key = key.trim();
    assert!(key.starts_with("ek_") && key.len() >= 46, "{key}");
    assert!(fails(&["key", "create", "--tenant", "nobody"]).contains("no tenant named nobody"));
    let listed = run(&["key", "list", "--tenant", "acme"]);
    assert!(
        listed.contains(" read active ") && listed.contains(&key[..9]),
        "{listed}"
    );
    assert!(
        !listed.contains(key),
        "the key itself is never shown again: {listed}"
    );
    let id = listed.split_whitespace().next().unwrap();
    assert_eq!(run(&["key", "revoke", id]), format!("revoked {id}\n"));
    assert!(run(&["key", "list"]).contains(" read revoked "));
}

/// The CLI and the API call the same operations: each sees what the other made, and both apply
/// the same rules to a tenant's name (trimmed, not empty).
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_and_the_api_share_tenant_key_and_domain_operations() {
    let app = TestApp::spawn().await;
    let url = app.database_url.as_str();
    let create_tenant =
        "mutation($name: String!) { createTenant(name: $name) { status tenant { id name } } }";

    assert!(run_on(url, &["tenant", "create", "  acme "]).ends_with(" acme\n"));
    let taken = app.data(create_tenant, json!({ "name": "acme" })).await;
    assert_eq!(taken["createTenant"]["status"], "NAME_TAKEN");
    let created = app.data(create_tenant, json!({ "name": " beta  " })).await;
    let beta = &created["createTenant"]["tenant"];
    assert_eq!(beta["name"], "beta");
    assert!(failure_on(url, &["tenant", "create", "beta"]).contains("a tenant named beta exists"));
    let unnamed = app.graphql(create_tenant, json!({ "name": "  " })).await;
    assert_eq!(unnamed["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(unnamed["errors"][0]["message"], "a tenant needs a name");
    assert!(failure_on(url, &["tenant", "create", "  "]).contains("a tenant needs a name"));

    let key = run_on(url, &["key", "create", "--tenant", "beta", "--name", "cli"]);
    let listed = app
        .data("{ apiKeys { name scope tenantId } }", json!({}))
        .await;
    assert!(
        listed["apiKeys"]
            .as_array()
            .unwrap()
            .contains(&json!({ "name": "cli", "scope": "WRITE", "tenantId": beta["id"] })),
        "{listed:#}"
    );
    run_on(url, &["domain", "add", "shared.example:registered"]);
    let inbox = app
        .graphql_as(
            Some(key.trim()),
            r#"mutation { createInbox(input: { domain: "shared.example", localPart: "ci" }) {
                status inbox { address } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        inbox["data"]["createInbox"],
        json!({ "status": "CREATED", "inbox": { "address": "ci@shared.example" } }),
        "{inbox:#}"
    );
    app.stop().await;
}

#[test]
fn invalid_settings_are_refused_before_starting() {
    let output = ephemail(&["serve", "--default-ttl", "100", "--max-ttl", "10"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("--default-ttl (100s) must not exceed --max-ttl (10s)"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = ephemail(&["serve", "--smtp-addr", "not-an-address"]);
    assert!(!output.status.success());
    for (args, error) in [
        (
            &["--no-smtp", "--no-http", "--no-sweeper", "--no-webhooks"][..],
            "leave this process nothing to do",
        ),
        (
            &[
                "--smtp-addr",
                "127.0.0.1:9999",
                "--metrics-addr",
                "127.0.0.1:9999",
            ],
            "--smtp-addr and --metrics-addr must differ",
        ),
        (&["--tls-cert", "cert.pem"], "--tls-key"),
    ] {
        let output = ephemail(&[&["serve"], args].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(error),
            "{args:?}: {stderr}"
        );
    }
    // A role left out frees its address for another listener.
    let output = ephemail(&[
        "config",
        "print",
        "--no-http",
        "--metrics-addr",
        "127.0.0.1:8080",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// After a `kill -9`, the next `serve` adopts the cluster the dead one started, and its clean
/// stop leaves no PostgreSQL behind; a second command beside a live server leaves it running,
/// whatever the server's executable is called.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_after_kill_9_adopts_the_cluster_and_stops_it_at_exit() {
    let data_dir = format!("/tmp/ephemail-kill-{}", uuid::Uuid::new_v4().simple());
    let postmaster = format!("{data_dir}/postgres/postmaster.pid");
    let killed = ServeProcess::spawn(&["--data-dir", &data_dir]);
    let key = killed
        .printed_key
        .clone()
        .expect("the first start prints a key");
    killed.signal(signal::Signal::SIGKILL);
    killed.wait().await;
    assert!(std::path::Path::new(&postmaster).exists(), "left running");
    // Installed under another name (a versioned copy, say).
    let renamed = format!("{data_dir}-ephemail-1.0");
    std::fs::copy(env!("CARGO_BIN_EXE_ephemail"), &renamed).unwrap();
    let restarted =
        ServeProcess::spawn_program(renamed.as_ref(), &["--data-dir", &data_dir], None, &[]);
    // A command beside the live server does not take the cluster over.
    stdout(&ephemail(&["tenant", "list", "--data-dir", &data_dir]));
    assert!(std::path::Path::new(&postmaster).exists(), "still serving");
    let query = json!({ "query": "{ domains { name } }" });
    let served = crate::helpers::post_graphql(restarted.graphql_url(), &key, query).await;
    assert_eq!(
        served["data"]["domains"][0]["name"], "localhost",
        "{served}"
    );
    restarted.signal(signal::Signal::SIGTERM);
    assert!(restarted.wait().await.success());
    assert!(
        !std::path::Path::new(&postmaster).exists(),
        "the adopted PostgreSQL is stopped with ephemail"
    );
    std::fs::remove_dir_all(&data_dir).unwrap();
    std::fs::remove_file(&renamed).unwrap();
}

/// The README's first command: `serve` with no DATABASE_URL runs on a private cluster, receives
/// mail, stops the cluster on SIGTERM, and reuses it on the next start.
#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_on_the_embedded_postgres_and_stops_it_on_sigterm() {
    let data_dir = format!("/tmp/ephemail-cli-{}", uuid::Uuid::new_v4().simple());
    let pgdata = format!("{data_dir}/postgres");
    // The first start of the empty database prints an admin key, once.
    let mut first_key = String::new();
    for round in 0..2 {
        let server = ServeProcess::spawn(&["--data-dir", &data_dir]);
        let (smtp, graphql, key) = (
            server.smtp_addr(),
            server.graphql_url().to_owned(),
            server.printed_key.clone(),
        );
        match (round, &key) {
            (0, Some(printed)) => first_key = printed.clone(),
            (0, None) => panic!("the first start prints an admin key"),
            (_, Some(_)) => panic!("the key is printed only once"),
            (_, None) => {}
        }

        let mut conversation = SmtpConversation::connect(smtp).await;
        conversation.command("EHLO client.test").await;
        let subject = format!("round {round}");
        let reply = conversation
            .deliver(
                "a@example.com",
                &["readme@localhost"],
                &format!("Subject: {subject}\r\n\r\nhi\r\n"),
            )
            .await;
        assert!(reply.starts_with("250 2.0.0"), "{reply}");
        let response = crate::helpers::post_graphql(
            &graphql,
            key.as_deref().unwrap_or(&first_key),
            serde_json::json!({ "query": r#"{ inbox(address: "readme@localhost") { messages { totalCount edges { node { subject } } } } }"# }),
        )
        .await;
        let messages = &response["data"]["inbox"]["messages"];
        assert_eq!(
            messages["totalCount"],
            round + 1,
            "the cluster's data survives restarts: {response}"
        );
        assert_eq!(messages["edges"][0]["node"]["subject"], subject.as_str());

        server.signal(signal::Signal::SIGTERM);
        let status = server.wait().await;
        assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
        assert!(
            !std::path::Path::new(&format!("{pgdata}/postmaster.pid")).exists(),
            "the embedded PostgreSQL is stopped with ephemail"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::remove_dir_all(&data_dir).unwrap();
}

/// `ephemail wait` and `ephemail tail` against a running server, as a shell script uses them.
#[tokio::test(flavor = "multi_thread")]
async fn wait_prints_the_code_or_link_and_tail_follows_an_address() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let app = crate::helpers::TestApp::spawn().await;
    let client = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ephemail"));
        command
            .args(args)
            .env("EPHEMAIL_URL", app.url(""))
            .env("EPHEMAIL_API_KEY", &app.key)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        command.spawn().unwrap()
    };
    let code = client(&[
        "wait",
        "--address",
        "cli+signup@localhost",
        "--code",
        "--timeout",
        "20",
    ]);
    let tail = client(&["tail", "--address", "cli@localhost"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.send_mail(
        "cli+signup@localhost",
        "Welcome",
        "Your code is 482 913. Verify at https://app.example.com/verify?t=abc",
    )
    .await;
    let code = code.wait_with_output().await.unwrap();
    assert!(code.status.success(), "{code:?}");
    assert_eq!(String::from_utf8_lossy(&code.stdout), "482913\n");

    app.send_mail(
        "cli@localhost",
        "Second",
        "see https://app.example.com/verify?t=def",
    )
    .await;
    let link = client(&[
        "wait",
        "--address",
        "cli@localhost",
        "--link",
        "--match",
        "verify",
    ]);
    let link = link.wait_with_output().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&link.stdout),
        "https://app.example.com/verify?t=def\n"
    );
    let timed_out = client(&["wait", "--address", "nobody@localhost", "--timeout", "1"]);
    let timed_out = timed_out.wait_with_output().await.unwrap();
    assert!(!timed_out.status.success(), "a timeout fails the command");

    let mut tail = tail;
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    for subject in ["Welcome", "Second"] {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("a line per mail")
            .unwrap()
            .unwrap();
        assert!(line.contains(subject), "{line}");
    }
    tail.kill().await.unwrap();
    app.stop().await;
}
