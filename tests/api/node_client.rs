//! The public `graphql-ws` npm client against the running server, as a test author uses it.

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn the_graphql_ws_npm_client_prints_the_code_of_a_mail_sent_with_smtp() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node");
    assert!(
        std::path::Path::new(&format!("{dir}/node_modules/graphql-ws")).exists(),
        "install the Node test client first: npm ci --prefix tests/node (scripts/test.sh does)"
    );
    let app = TestApp::spawn().await;
    let mut node = tokio::process::Command::new("node")
        .arg(format!("{dir}/wait-for-code.mjs"))
        .arg(app.url(""))
        .env("EPHEMAIL_API_KEY", &app.key)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("running node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let first = lines
        .next_line()
        .await
        .unwrap()
        .expect("the script prints the address");
    let address = first
        .strip_prefix("address ")
        .expect("address line")
        .to_owned();

    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let reply = smtp
        .deliver(
            "app@example.com",
            &[&address],
            "Subject: Confirm your sign-up\r\n\r\nHi! Your one-time code: 731 904\r\nIt expires in 10 minutes.\r\n",
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");

    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("the code within 30 s")
        .unwrap();
    assert_eq!(line.as_deref(), Some("code 731904"));
    let status = node.wait().await.unwrap();
    assert!(status.success(), "{status}");
    app.stop().await;
}
