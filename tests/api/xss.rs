//! The team's XSS corpus, judged by behaviour: every vector is mailed in, and the `html` the API
//! serves is rendered in headless Chromium (`tests/node/xss-render.mjs`) with the vector's
//! trigger. No script may run, and no request may leave the page except remote `<img src>`
//! loads, which the default `html` allows (and `html(blockRemoteImages: true)` does not).

use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const NODE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node");
const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/corpora/xss/vectors.jsonl"
);

/// Raw payloads the renderer must flag, one per way of detection, with a word of the reason it
/// must give: proof that a passing corpus run means something. (id, html, trigger,
/// remoteImages, expected reason).
const DETECTOR_CHECKS: &[(&str, &str, Option<&str>, bool, &str)] = &[
    (
        "event-handler",
        "<img src=x onerror=alert(1)>",
        None,
        false,
        "alert() called",
    ),
    (
        "silent-inline-script",
        "<p>x</p><script>document.title = 'owned'</script>",
        None,
        false,
        "script-src-elem",
    ),
    (
        "javascript-url-clicked",
        r#"<a href="javascript:document.title='owned'">x</a>"#,
        Some("document.links[0].click()"),
        false,
        "script-src-elem",
    ),
    (
        "autofocus-handler",
        r#"<input autofocus onfocus="document.title='owned'">"#,
        None,
        false,
        "script-src-attr",
    ),
    (
        "remote-image-when-blocked",
        r#"<img src="https://tracker.example/p.gif">"#,
        None,
        false,
        "request left the page: image https://tracker.example/p.gif",
    ),
    (
        "css-image-despite-remote-images",
        r#"<div style="background:url(https://tracker.example/bg.png)">x</div>"#,
        None,
        true,
        "request left the page: image https://tracker.example/bg.png",
    ),
    (
        "meta-refresh",
        r#"<meta http-equiv="refresh" content="0;url=https://evil.example/">"#,
        None,
        false,
        "request left the page: document https://evil.example/",
    ),
];

/// Must not be flagged: remote images where the policy allows them (Chromium upgrades the http
/// one to https), a raster `data:` image, and a trigger that throws.
const DETECTOR_CLEAN: &str = concat!(
    r#"<p>Hi <img src="https://images.example/logo.png" alt="logo">"#,
    r#"<img src="http://images.example/pixel.gif">"#,
    r#"<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></p>"#
);

#[tokio::test(flavor = "multi_thread")]
async fn xss_corpus_renders_in_chromium_without_script_or_stray_requests() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    // A failure, not a skip: a missing browser must not let the corpus pass unjudged.
    assert!(
        std::path::Path::new(&chromium).exists(),
        "headless Chromium not found at {chromium}: apt-get install chromium, or set CHROMIUM \
         (scripts/test.sh installs it)"
    );
    assert!(
        std::path::Path::new(&format!("{NODE_DIR}/node_modules/playwright-core")).exists(),
        "install the Node test dependencies first: npm ci --prefix tests/node (scripts/test.sh does)"
    );
    let vectors: Vec<Value> = std::fs::read_to_string(CORPUS)
        .expect("the team's XSS corpus, ../shared/corpora beside this checkout (see README)")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(vectors.len(), 644);

    let app = TestApp::spawn().await;
    let (_, address, _) = app.create_inbox("xss").await;
    // Refused mails are reported at the end, with the rendering results of all the others.
    let started = std::time::Instant::now();
    let refused = deliver_all(&app, &address, &vectors).await;
    let served = served_html(&app, &address).await;
    eprintln!(
        "mailed and read back {} vectors in {:.1?}",
        vectors.len(),
        started.elapsed()
    );
    assert_eq!(served.len() + refused.len(), vectors.len());

    let mut documents = Vec::new();
    for vector in &vectors {
        let id = vector["id"].as_str().expect("an id");
        let Some((html, blocked)) = served.get(id) else {
            continue;
        };
        let trigger = &vector["trigger"];
        documents.push(json!({
            "id": id,
            "html": html,
            "trigger": trigger,
            "remoteImages": true,
        }));
        // Rendered too when it differs: with remote images blocked no request may leave at all.
        if blocked != html {
            documents.push(json!({
                "id": format!("{id} (blockRemoteImages)"),
                "html": blocked,
                "trigger": trigger,
            }));
        }
    }
    for &(id, html, trigger, remote_images, _) in DETECTOR_CHECKS {
        documents.push(json!({
            "id": format!("detector-check/{id}"),
            "html": html,
            "trigger": trigger,
            "remoteImages": remote_images,
        }));
    }
    documents.push(json!({
        "id": "detector-check/clean",
        "html": DETECTOR_CLEAN,
        "trigger": "missing.click()",
        "remoteImages": true,
    }));
    let failures = render(&documents).await;

    let (checks, corpus): (Vec<&Value>, Vec<&Value>) = failures.iter().partition(|failure| {
        failure["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("detector-check/"))
    });
    for &(id, _, _, _, expected) in DETECTOR_CHECKS {
        let id = format!("detector-check/{id}");
        let reason = checks
            .iter()
            .find(|failure| failure["id"] == id.as_str())
            .map(|failure| failure["reason"].as_str().unwrap_or_default());
        assert!(
            reason.is_some_and(|reason| reason.contains(expected)),
            "the renderer is blind: {id} should fail with {expected:?}, got {reason:?}"
        );
    }
    assert_eq!(
        checks.len(),
        DETECTOR_CHECKS.len(),
        "false alarm on a clean document: {checks:#?}"
    );
    assert!(
        corpus.is_empty() && refused.is_empty(),
        "{} sanitized vectors ran script or made requests:\n{}\n{} vectors were refused over SMTP:\n{}",
        corpus.len(),
        serde_json::to_string_pretty(&corpus).unwrap(),
        refused.len(),
        refused.join("\n")
    );
    app.stop().await;
}

/// Mails every vector's payload as the whole `text/html` body, in base64 so that its bytes
/// arrive exactly as written, with the vector's id as the subject. Several SMTP sessions at once,
/// so that the server commits their mails together. Returns "id: reply" for each mail refused.
async fn deliver_all(app: &TestApp, address: &str, vectors: &[Value]) -> Vec<String> {
    const SESSIONS: usize = 8;
    let sessions = vectors
        .chunks(vectors.len().div_ceil(SESSIONS))
        .map(|chunk| async move {
            let mut refused = Vec::new();
            let mut smtp = app.smtp().await;
            smtp.command("EHLO client.test").await;
            for vector in chunk {
                let reply = smtp
                    .deliver("corpus@example.com", &[address], &mail(address, vector))
                    .await;
                if !reply.starts_with("250") {
                    refused.push(format!("{}: {reply}", vector["id"]));
                }
            }
            smtp.command("QUIT").await;
            refused
        });
    futures::future::join_all(sessions)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn mail(address: &str, vector: &Value) -> String {
    let payload = vector["payload"].as_str().expect("a payload");
    let body = base64::engine::general_purpose::STANDARD.encode(payload);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "From: corpus@example.com\r\nTo: {address}\r\nSubject: {id}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {body}\r\n",
        id = vector["id"].as_str().expect("an id"),
        body = lines.join("\r\n"),
    )
}

/// Subject → (`html`, `html(blockRemoteImages: true)`) of every message in the inbox.
async fn served_html(
    app: &TestApp,
    address: &str,
) -> std::collections::HashMap<String, (String, String)> {
    let mut served = std::collections::HashMap::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .data(
                r#"query($a: String!, $after: String) { inbox(address: $a) {
                    messages(first: 50, after: $after) { pageInfo { hasNextPage endCursor }
                        edges { node { subject html blocked: html(blockRemoteImages: true) } } } } }"#,
                json!({ "a": address, "after": after }),
            )
            .await;
        let page = &data["inbox"]["messages"];
        for edge in page["edges"].as_array().expect("edges") {
            let node = &edge["node"];
            let subject = node["subject"].as_str().expect("a subject").to_owned();
            let html = |field: &str| {
                node[field]
                    .as_str()
                    .unwrap_or_else(|| panic!("{subject}: no {field}: {node}"))
                    .to_owned()
            };
            let pair = (html("html"), html("blocked"));
            assert!(
                served.insert(subject.clone(), pair).is_none(),
                "{subject} twice"
            );
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return served;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// Runs the renderer on `documents`; its list of failures.
async fn render(documents: &[Value]) -> Vec<Value> {
    let file = std::env::temp_dir().join(format!("ephemail-xss-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, serde_json::to_vec(documents).unwrap()).unwrap();
    let run = tokio::process::Command::new("node")
        .arg(format!("{NODE_DIR}/xss-render.mjs"))
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(600), run)
        .await
        .expect("the renderer within 10 minutes")
        .expect("running node");
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    // Exit status 1 with a list of failures is an answer; anything else is a broken run.
    let failures: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("the renderer broke ({}): {error}\n{stderr}", output.status)
    });
    assert_eq!(
        output.status.success(),
        failures.is_empty(),
        "exit status {} with {} failures",
        output.status,
        failures.len()
    );
    failures
}
