//! Response shapes exactly as the GraphQL specification places errors, checked against
//! graphql-js (the reference implementation, `tests/node/spec-shapes.mjs`): a failing nullable
//! field is present as `null` beside the others and alone, a failing non-null field nulls its
//! nearest nullable parent, partial errors with two root fields; and fields in the order asked.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn field_errors_are_placed_as_graphql_js_places_them() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node");
    assert!(
        std::path::Path::new(&format!("{dir}/node_modules/graphql")).exists(),
        "install the Node test tools first: npm ci --prefix tests/node (scripts/test.sh does)"
    );
    let app = TestApp::spawn().await;
    app.send_mail("shapes@localhost", "hello", "code 123456")
        .await;
    let queries = json!([
        // A nullable root field failing, beside another root field and alone.
        r#"{ inbox(address: "nobody@registered.test") { id } domains { name } }"#,
        r#"{ inbox(address: "nobody@registered.test") { id } }"#,
        // Two root fields failing, one succeeding.
        r#"{ a: message(id: "00000000-0000-0000-0000-000000000000") { id }
             b: inbox(address: "shapes@localhost") { address }
             c: inbox(address: "nobody@registered.test") { address } }"#,
        // A non-null field failing nulls its nearest nullable parent.
        r#"{ inbox(address: "shapes@localhost") { id messages(first: 0) { totalCount } } domains { name } }"#,
        r#"{ inbox(address: "shapes@localhost") { messages(first: 1) { edges { node { subject
             headers(name: "Subject") { value } } } } } }"#,
        // A mutation: the failing nullable field is null, the others stand.
        r#"mutation { deleteMessage(id: "not-an-id") { status } markSeen(ids: []) { count } }"#,
    ]);
    let mut node = tokio::process::Command::new("node")
        .arg(format!("{dir}/spec-shapes.mjs"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .arg(app.url("/graphql"))
        .arg(&app.key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("running node");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = node.stdin.take().unwrap();
        stdin
            .write_all(queries.to_string().as_bytes())
            .await
            .unwrap();
    }
    let output = node.wait_with_output().await.unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let failed: Vec<serde_json::Value> = report
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|checked: &serde_json::Value| checked["ok"] != true)
        .collect();
    assert!(failed.is_empty(), "{:#}", serde_json::Value::from(failed));
    assert_eq!(report.lines().count(), 6, "{report}");
    assert!(output.status.success());
    app.stop().await;
}

/// Fields read from the raw source complete after the row's; the response still lists every
/// field where the query asked for it ("Serialized Map Ordering").
#[tokio::test(flavor = "multi_thread")]
async fn response_fields_come_in_the_order_the_query_asked_for_them() {
    let app = TestApp::spawn().await;
    app.send_raw(
        "order@localhost",
        "From: Shop <noreply@shop.example>\r\nTo: order@localhost\r\nSubject: Your code\r\n\
         Date: Sun, 06 Dec 2026 22:00:00 +0000\r\n\r\nYour code is 731904.\r\n",
    )
    .await;
    let query = r#"{ inbox(address: "order@localhost") { messages(first: 1) { nodes {
        text to { address } subject codes date seen messageId size } } address } }"#;
    let body = reqwest::Client::new()
        .post(app.url("/graphql"))
        .bearer_auth(&app.key)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let keys = [
        "\"text\"",
        "\"to\"",
        "\"subject\"",
        "\"codes\"",
        "\"date\"",
        "\"seen\"",
        "\"messageId\"",
        "\"size\"",
        "]},\"address\"",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|key| {
            body.find(key)
                .unwrap_or_else(|| panic!("{key} not in {body}"))
        })
        .collect();
    assert!(positions.is_sorted(), "{body}");
    app.stop().await;
}
