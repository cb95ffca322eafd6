//! The web inbox served at `/`, end to end in headless Chromium (`tests/node/web-inbox.mjs`)
//! against `ephemail serve` as a user starts it: one server in public mode without `--domain`
//! (so on its default shared `localhost`), one in developer mode with an API key. And the
//! checked-in build of `web/` must be what its sources build to.

use std::{path::Path, process::Stdio, time::Duration};

use ephemail::auth::Scope;
use serde_json::{json, Value};

use crate::helpers::{create_key, fresh_database, ServeProcess};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `ephemail serve` on a fresh database; the base URL of its HTTP server.
async fn serve(extra: &[&str]) -> (ServeProcess, String, String) {
    let database_url = fresh_database().await;
    let mut args = vec!["--database-url", &database_url];
    args.extend_from_slice(extra);
    let server = ServeProcess::spawn(&args);
    let base = server
        .graphql_url
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
        "public": { "url": public_url, "smtp": public.smtp_addr.to_string() },
        "developer": { "url": developer_url, "smtp": developer.smtp_addr.to_string(), "key": key },
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
