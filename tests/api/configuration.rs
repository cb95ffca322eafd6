//! How an operator configures and watches a process: a `--config` file layered under the
//! environment and flags, `ephemail config print`, and `--log-format json`.

use std::process::Command;

use serde_json::{json, Value};

use crate::helpers::{fresh_database, post_graphql, ServeProcess, SmtpConversation};

/// A configuration file in a fresh temporary directory.
fn config_file(text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ephemail-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ephemail.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn ephemail(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ephemail"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("EPHEMAIL_CONFIG")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn flags_override_the_environment_which_overrides_the_file_and_secrets_stay_hidden() {
    let path = config_file(
        r#"
hostname = "mx.file.test"
max-wait = 90
max-recipients = 7
domain = ["one.test", "two.test:registered"]
public-inboxes = true
database-url = "postgres://ephemail:hunter2@db.internal/ephemail"
jwt-secret = "a-secret-of-at-least-thirty-two-bytes!"
"#,
    );
    let output = ephemail(
        &[
            "config",
            "print",
            "--config",
            path.to_str().unwrap(),
            "--max-wait",
            "30",
        ],
        &[("EPHEMAIL_MAX_RECIPIENTS", "9")],
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "hostname = \"mx.file.test\"  # file",
        "max-wait = 30  # flag",
        "max-recipients = 9  # EPHEMAIL_MAX_RECIPIENTS",
        "domain = [\"one.test\", \"two.test:registered\"]  # file",
        "public-inboxes = true  # file",
        "# database-url = [redacted]  # file",
        "# jwt-secret = [redacted]  # file",
        "smtp-addr = \"127.0.0.1:2525\"  # default",
    ] {
        assert!(
            printed.lines().any(|printed| printed == line),
            "no `{line}` in\n{printed}"
        );
    }
    assert!(!printed.contains("hunter2") && !printed.contains("a-secret-of"));

    // What it prints is a configuration file that gives the same settings.
    let reprinted_path = config_file(&printed);
    let output = ephemail(
        &[
            "config",
            "print",
            "--config",
            reprinted_path.to_str().unwrap(),
        ],
        &[],
    );
    let reprinted = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(reprinted.contains("max-wait = 30  # file\n"), "{reprinted}");
}

#[test]
fn a_misspelt_or_invalid_setting_in_the_file_is_refused_with_its_name() {
    let check = |text: &str, expected: &str| {
        let path = config_file(text);
        let output = ephemail(&["serve"], &[("EPHEMAIL_CONFIG", path.to_str().unwrap())]);
        assert_eq!(output.status.code(), Some(2), "{text}");
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains(expected), "{text}: {error}");
    };
    check("smtp_addr = \"0.0.0.0:25\"\n", "did you mean `smtp-addr`?");
    check(
        "smtp-adress = \"0.0.0.0:25\"\n",
        "`smtp-adress` is not a setting",
    );
    check("smtp-addr = \"nowhere\"\n", "invalid value 'nowhere'");
    check("max-wait = [\n", "is not valid TOML");
    check("[smtp]\naddr = \"0.0.0.0:25\"\n", "`smtp` must be a string");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_and_the_database_commands_take_their_settings_from_the_file() {
    let url = fresh_database().await;
    let path = config_file(&format!(
        "hostname = \"mx.file.test\"\ndatabase-url = \"{url}\"\ndomain = [\"file.test\"]\n"
    ));
    let config = path.to_str().unwrap();
    let server = ServeProcess::spawn(&["--config", config]);
    let smtp = SmtpConversation::connect(server.smtp_addr()).await;
    assert!(
        smtp.greeting.starts_with("220 mx.file.test "),
        "{}",
        smtp.greeting
    );
    // `domain list` has no --hostname, so it takes the database from the file and leaves
    // the rest.
    let output = ephemail(&["domain", "list"], &[("EPHEMAIL_CONFIG", config)]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("file.test"));
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.wait().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line_with_the_span_fields() {
    let url = fresh_database().await;
    let log = std::env::temp_dir().join(format!("ephemail-json-{}.log", uuid::Uuid::new_v4()));
    let key = "ek_json-logs-0123456789abcdefghijklmnopqrstuvw";
    let server = ServeProcess::spawn_logging(
        &["--database-url", &url, "--log-format", "json"],
        Some(&log),
        &[("EPHEMAIL_BOOTSTRAP_API_KEY", key)],
    );
    let mut smtp = SmtpConversation::connect(server.smtp_addr()).await;
    smtp.command("EHLO client.test").await;
    let reply = smtp
        .deliver(
            "app@example.com",
            &["logged@localhost"],
            "Subject: logged\r\n\r\nhi\r\n",
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    smtp.command("QUIT").await;
    let request = json!({ "query": "{ domains { name } }" });
    let body = post_graphql(server.graphql_url(), key, request).await;
    assert!(body.get("errors").is_none(), "{body}");
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.wait().await.success());

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(lines
        .iter()
        .all(|line| line["level"].is_string() && line["timestamp"].is_string()));
    let response = lines
        .iter()
        .find(|line| line["fields"]["message"] == "response" && line["span"]["path"] == "/graphql")
        .unwrap_or_else(|| panic!("no logged GraphQL response in\n{text}"));
    assert_eq!(response["span"]["name"], "request");
    assert_eq!(response["span"]["method"], "POST");
    assert!(
        response["span"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() >= 16),
        "{response}"
    );
    assert!(response["spans"]
        .as_array()
        .is_some_and(|spans| !spans.is_empty()));
    assert!(!text.contains(key), "the key reached the log");
    let session = lines
        .iter()
        .find_map(|line| {
            let spans = line["spans"].as_array()?;
            spans
                .iter()
                .find(|span| span["name"] == "smtp.session")
                .cloned()
        })
        .unwrap_or_else(|| panic!("no line inside an SMTP session span in\n{text}"));
    assert!(session["peer"]
        .as_str()
        .is_some_and(|peer| peer.starts_with("127.0.0.1:")));
    assert_eq!(session["listener"], "smtp");
}
