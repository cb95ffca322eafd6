//! Every example in `README.md` and `docs/` runs against a live server, as a reader would run
//! it: shell, Python and JavaScript blocks are executed in order, one server per file, with
//! `EPHEMAIL_API_KEY`, `EPHEMAIL_URL` and `DATABASE_URL` set and the documented ports replaced
//! by the server's; GraphQL blocks are sent as operations. A block that must not run (it starts
//! the server itself, runs a benchmark for minutes, or is a signature rather than an operation)
//! says so, and why, in an HTML comment on the line before it:
//! `<!-- not run: the reason -->`. A block that waits for the reader's application to send a
//! mail says so the same way, `<!-- while it runs: a sign-up mail to ADDRESS -->`, and the test
//! plays that application. A block whose output is JSON with `errors` fails too. A document
//! whose examples need a server flag says so once, `<!-- examples serve with: --flag -->`.
//! TypeScript blocks run in Node with their types stripped (`tests/node/run-ts.mjs`). The SDK quick
//! starts (fences tagged `quickstart` in `docs/sdk.md`) need their packages installed from the
//! artefacts: `scripts/test-sdk.sh` runs those.

use std::{path::Path, process::Stdio};

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::helpers::{fresh_database, post_graphql, ServeProcess, SmtpConversation};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The admin key the examples' server starts with (EPHEMAIL_BOOTSTRAP_API_KEY).
const KEY: &str = "ek_docs-examples-0123456789abcdefghijklmnopqrs";

struct Example {
    line: usize,
    language: String,
    code: String,
    /// Where the reader's application sends a sign-up mail while the example runs.
    mail_to: Option<String>,
}

/// The fenced blocks of `markdown` in a language we run, except those marked not to run.
fn examples(markdown: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut lines = markdown.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((number, line)) = lines.next() {
        if let Some(language) = line.strip_prefix("```").filter(|l| !l.is_empty()) {
            let mut code = String::new();
            for (_, body) in lines.by_ref() {
                if body.starts_with("```") {
                    break;
                }
                code.push_str(body);
                code.push('\n');
            }
            let runnable = matches!(language, "sh" | "bash" | "python" | "js" | "ts" | "graphql");
            let marked = previous.trim_start().starts_with("<!-- not run:");
            let mail_to = previous
                .trim_start()
                .strip_prefix("<!-- while it runs: a sign-up mail to ")
                .map(|rest| rest.trim_end_matches("-->").trim().to_owned());
            if runnable && !marked {
                found.push(Example {
                    line: number + 1,
                    language: language.to_owned(),
                    code,
                    mail_to,
                });
            }
        }
        previous = line;
    }
    found
}

fn documents() -> Vec<std::path::PathBuf> {
    let mut paths = vec![Path::new(MANIFEST_DIR).join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(Path::new(MANIFEST_DIR).join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
}

#[test]
fn every_block_marked_not_to_run_says_why() {
    for path in documents() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            if let Some(rest) = line.trim_start().strip_prefix("<!-- not run:") {
                let reason = rest.trim_end_matches("-->").trim();
                assert!(
                    reason.len() > 10,
                    "{}:{}: say why the block does not run",
                    path.display(),
                    number + 1
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_in_the_readme_and_docs_runs_against_a_live_server() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_ephemail")).parent().unwrap();
    let path_var = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let mut ran = 0;
    for path in documents() {
        let text = std::fs::read_to_string(&path).unwrap();
        let examples = examples(&text);
        if examples.is_empty() {
            continue;
        }
        let url = fresh_database().await;
        let mut args = vec!["--database-url", url.as_str()];
        args.extend(serve_flags(&text));
        let server =
            ServeProcess::spawn_logging(&args, None, &[("EPHEMAIL_BOOTSTRAP_API_KEY", KEY)]);
        let http = server.graphql_url().trim_end_matches("/graphql").to_owned();
        let http_port = http.rsplit(':').next().unwrap().to_owned();
        let smtp_port = server.smtp_addr().port().to_string();
        for example in examples {
            let code = example
                .code
                .replace("8080", &http_port)
                .replace("2525", &smtp_port);
            let place = format!("{}:{}", path.display(), example.line);
            let running = run(&example.language, &code, &http, &url, &path_var);
            let application = async {
                if let Some(to) = &example.mail_to {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    let mut smtp = SmtpConversation::connect(server.smtp_addr()).await;
                    smtp.command("EHLO app.example.com").await;
                    let mail = "Subject: Your code\r\n\r\nYour verification code is 482913\r\n";
                    let reply = smtp.deliver("app@example.com", &[to.as_str()], mail).await;
                    assert!(reply.starts_with("250"), "{place}: {reply}");
                }
            };
            let (output, ()) = tokio::join!(running, application);
            assert!(output.0, "{place} failed:\n{code}\n{}", output.1);
            if let Ok(body) = serde_json::from_str::<Value>(output.1.trim()) {
                assert!(body.get("errors").is_none(), "{place}: {body}");
            }
            ran += 1;
        }
        server.signal(nix::sys::signal::Signal::SIGTERM);
        assert!(server.wait().await.success());
    }
    assert!(ran >= 5, "only {ran} examples ran");
}

/// The server flags a document's examples need (`<!-- examples serve with: ... -->`).
fn serve_flags(markdown: &str) -> Vec<&str> {
    markdown
        .lines()
        .filter_map(|line| line.trim().strip_prefix("<!-- examples serve with:"))
        .flat_map(|rest| rest.trim_end_matches("-->").split_whitespace())
        .collect()
}

/// Runs one example; whether it succeeded, and what it printed.
async fn run(language: &str, code: &str, http: &str, database: &str, path: &str) -> (bool, String) {
    if language == "graphql" {
        let body = post_graphql(&format!("{http}/graphql"), KEY, json!({ "query": code })).await;
        return (body.get("errors").is_none(), body.to_string());
    }
    let (program, args): (&str, &[&str]) = match language {
        "python" => ("python3", &["-"]),
        "js" => ("node", &["--input-type=module", "-"]),
        "ts" => ("node", &["run-ts.mjs"]),
        _ => ("bash", &["-euo", "pipefail", "-s"]),
    };
    // Node resolves the examples' packages (graphql-ws, ws, standardwebhooks) from the test
    // tools' folder; the others run where what they write (`ephemail schema > schema.graphql`)
    // harms nothing.
    let dir = if matches!(language, "js" | "ts") {
        Path::new(MANIFEST_DIR).join("tests/node")
    } else {
        std::env::temp_dir()
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("EPHEMAIL_API_KEY", KEY)
        .env("EPHEMAIL_URL", http)
        .env("DATABASE_URL", database)
        .env("PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(code.as_bytes()).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("an example finishes within 60 s")
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}
