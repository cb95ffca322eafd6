//! The web inbox served at `/`, end to end in headless Chromium (`tests/node/web-inbox.mjs`)
//! against `ephemail serve` as a user starts it: one server in public mode without `--domain`
//! (so on its default shared `localhost`), one in developer mode with an API key. And the
//! checked-in build of `web/` must be what its sources build to.

use std::{path::Path, process::Stdio, time::Duration};

use ephemail::scope::Scope;
use serde_json::{json, Value};

use crate::helpers::{create_key, fresh_database, ServeProcess, TestApp};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `ephemail serve` on a fresh database; the base URL of its HTTP server.
async fn serve(extra: &[&str]) -> (ServeProcess, String, String) {
    let database_url = fresh_database().await;
    let mut args = vec!["--database-url", &database_url];
    args.extend_from_slice(extra);
    let server = ServeProcess::spawn(&args);
    let base = server
        .graphql_url()
        .strip_suffix("/graphql")
        .expect("a /graphql URL")
        .to_owned();
    (server, base, database_url)
}

#[tokio::test(flavor = "multi_thread")]
async fn web_inbox_works_in_chromium_in_public_and_developer_mode() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    // A failure, not a skip: a missing browser must not let the page pass unjudged.
    assert!(
        Path::new(&chromium).exists(),
        "headless Chromium not found at {chromium}: apt-get install chromium, or set CHROMIUM \
         (scripts/test.sh installs it)"
    );
    let node_dir = format!("{ROOT}/tests/node");
    assert!(
        Path::new(&format!("{node_dir}/node_modules/axe-core")).exists(),
        "install the Node test dependencies first: npm ci --prefix tests/node (scripts/test.sh does)"
    );
    let (public, public_url, _) = serve(&["--public-inboxes"]).await;
    let (developer, developer_url, database_url) = serve(&[]).await;
    let key = create_key(&database_url, "dev", Scope::Write).await;
    let mut setup = json!({
        "public": { "url": public_url, "smtp": public.smtp_addr().to_string() },
        "developer": { "url": developer_url, "smtp": developer.smtp_addr().to_string(), "key": key },
    });
    // `EPHEMAIL_SCREENSHOTS=docs/screenshots` renews the screenshots docs/ui.md shows.
    if let Ok(dir) = std::env::var("EPHEMAIL_SCREENSHOTS") {
        setup["screenshots"] = Path::new(ROOT).join(dir).to_string_lossy().into();
    }
    let file = std::env::temp_dir().join(format!("ephemail-web-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, setup.to_string()).unwrap();
    let run = tokio::process::Command::new("node")
        .arg(format!("{node_dir}/web-inbox.mjs"))
        .arg(&file)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the browser test within 5 minutes")
        .expect("running node");
    let _ = std::fs::remove_file(&file);
    for server in [public, developer] {
        server.signal(nix::sys::signal::Signal::SIGTERM);
        assert!(server.wait().await.success());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    let failures: Vec<Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("the browser test broke ({}): {error}", output.status));
    assert!(
        failures.is_empty() && output.status.success(),
        "{} web inbox scenarios failed:\n{}",
        failures.len(),
        serde_json::to_string_pretty(&failures).unwrap()
    );
}

/// The pages and their assets come from the binary: gzip-compressed for clients that take it,
/// revalidated by ETag, assets cached for good; unknown assets are 404.
#[tokio::test(flavor = "multi_thread")]
async fn web_files_are_served_compressed_cached_and_with_strict_headers() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let page = http
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header(&page, "content-encoding"), "gzip");
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let policy = header(&page, "content-security-policy");
    for directive in [
        "script-src 'self';",
        "frame-ancestors 'none'",
        "default-src 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    let etag = header(&page, "etag");
    let body = page.bytes().await.unwrap();
    assert_eq!(&body[..2], [0x1f, 0x8b], "a gzip stream");

    let revalidated = http
        .get(app.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);

    let plain = http.get(app.url("/")).send().await.unwrap();
    assert_eq!(header(&plain, "content-encoding"), "");
    let html = plain.text().await.unwrap();
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script in the page");
    let asset = http.get(app.url(script)).send().await.unwrap();
    assert_eq!(asset.status(), 200);
    assert!(header(&asset, "content-type").contains("javascript"));
    assert!(header(&asset, "cache-control").contains("immutable"));

    let graphiql = http.get(app.url("/graphql")).send().await.unwrap();
    assert!(header(&graphiql, "content-security-policy").contains("script-src 'self';"));
    assert!(graphiql.text().await.unwrap().contains("/assets/graphiql-"));
    let missing = http
        .get(app.url("/assets/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

/// web/dist is checked in (so that building ephemail needs no Node.js) and must be what
/// `vite build` makes of web/: rebuilt here into a scratch directory and compared file by file.
#[test]
fn checked_in_web_bundle_is_built_from_its_sources() {
    let web = format!("{ROOT}/web");
    let vite = format!("{web}/node_modules/.bin/vite");
    assert!(
        Path::new(&vite).exists(),
        "install the web build first: npm ci --prefix web (scripts/test.sh does)"
    );
    let scratch = std::env::temp_dir().join(format!("ephemail-dist-{}", uuid::Uuid::new_v4()));
    let built = std::process::Command::new(vite)
        .args(["build", "--logLevel", "error", "--emptyOutDir", "--outDir"])
        .arg(&scratch)
        .current_dir(&web)
        .stdin(Stdio::null())
        .output()
        .expect("running vite");
    assert!(
        built.status.success(),
        "vite build failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let checked_in = files(Path::new(&format!("{web}/dist")));
    let rebuilt = files(&scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let names = |files: &Vec<(String, Vec<u8>)>| -> Vec<String> {
        files.iter().map(|(name, _)| name.clone()).collect()
    };
    assert_eq!(
        names(&checked_in),
        names(&rebuilt),
        "web/dist is stale: run `npm run build --prefix web` and commit web/dist"
    );
    for ((name, old), (_, new)) in checked_in.iter().zip(&rebuilt) {
        assert!(
            old == new,
            "web/dist/{name} is stale: run `npm run build --prefix web` and commit web/dist"
        );
    }
}

/// Every file under `dir`, by path relative to it, sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("reading a directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.push((name, std::fs::read(&path).expect("reading a file")));
            }
        }
    }
    found.sort();
    found
}
