//! Limits on subscription connections: the `connection_init` deadline, subscriptions per
//! connection, connections per credential and per client IP address, and the cut-off of a
//! subscriber that stops reading (which then resumes without loss).

use std::{collections::HashSet, time::Duration};

use futures::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

use crate::helpers::{GraphqlWs, TestApp};

const WATCH: &str = r#"subscription($address: String, $after: String) {
    messageReceived(address: $address, after: $after) { id cursor text } }"#;

async fn raw_socket(
    app: &TestApp,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let mut request = format!("ws://{}/graphql", app.http_addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_without_connection_init_is_closed_in_time() {
    let app = TestApp::spawn_with(&["--ws-init-timeout", "1"]).await;
    let mut socket = raw_socket(&app).await.unwrap();
    let started = std::time::Instant::now();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let frame = close.expect("a close code");
    assert_eq!(u16::from(frame.code), 4408, "{frame:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_per_connection_are_capped() {
    let app = TestApp::spawn_with(&["--ws-max-subscriptions", "2"]).await;
    let mut ws = GraphqlWs::connect(&app, false).await;
    for id in ["1", "2", "3"] {
        ws.subscribe(
            id,
            WATCH,
            json!({ "address": format!("cap{id}@localhost") }),
        )
        .await;
    }
    let refusal = ws.next_message().await;
    assert_eq!(refusal["type"], "error", "{refusal}");
    assert_eq!(refusal["id"], "3", "{refusal}");
    assert_eq!(
        refusal["payload"][0]["extensions"]["code"], "QUOTA_EXCEEDED",
        "{refusal}"
    );
    // The two running subscriptions still work.
    app.send_mail("cap2@localhost", "two", "hello").await;
    let data = ws.next_data().await;
    assert_eq!(
        data["messageReceived"]["text"].as_str().map(str::trim),
        Some("hello")
    );
    ws.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_per_credential_and_per_address_are_capped() {
    let app = TestApp::spawn_with(&["--ws-max-connections-per-credential", "2"]).await;
    let first = GraphqlWs::connect(&app, false).await;
    let _second = GraphqlWs::connect(&app, false).await;
    let refused = GraphqlWs::connect_as(&app, false, Some(&app.key)).await;
    let reason = refused.err().expect("third connection refused");
    assert!(reason.contains("connections per credential"), "{reason}");
    // Another key of the tenant has its own share.
    let other = app.key_for("dev", ephemail::scope::Scope::Read).await;
    GraphqlWs::connect_as(&app, false, Some(&other))
        .await
        .expect("another key connects");
    // A closed connection gives its place back.
    first.close().await;
    let mut reconnected = None;
    for _ in 0..50 {
        if let Ok(ws) = GraphqlWs::connect_as(&app, false, Some(&app.key)).await {
            reconnected = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reconnected.is_some(), "a place was freed");
    app.stop().await;

    let app = TestApp::spawn_with(&["--ws-max-connections-per-ip", "1"]).await;
    let _held = raw_socket(&app).await.unwrap();
    match raw_socket(&app).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("expected HTTP 429, got {other:?}"),
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_that_stops_reading_is_cut_off_and_resumes_without_loss() {
    const MAILS: usize = 40;
    let app = TestApp::spawn_with(&["--ws-send-timeout", "1"]).await;
    let (_, address, start) = app.create_inbox("stalled").await;
    let mut ws = GraphqlWs::connect(&app, false).await;
    ws.subscribe("1", WATCH, json!({ "address": address, "after": start }))
        .await;
    // Big enough that the socket buffers fill up long before the last one.
    let line = format!("{}\r\n", "x".repeat(998));
    for n in 0..MAILS {
        app.send_mail(&address, &format!("big {n}"), &line.repeat(400))
            .await;
    }
    // The server gives up on the stalled subscriber after its send timeout.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut seen = Vec::new();
    while let Some(data) = ws.try_next_data().await {
        seen.push(
            data["messageReceived"]["cursor"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(
        seen.len() < MAILS,
        "the connection was cut off before the end"
    );
    // Resuming after the last cursor received delivers the rest, each once.
    let mut ws = GraphqlWs::connect(&app, false).await;
    let after = seen.last().cloned().unwrap_or(start);
    ws.subscribe("1", WATCH, json!({ "address": address, "after": after }))
        .await;
    while seen.len() < MAILS {
        let data = ws.next_data().await;
        seen.push(
            data["messageReceived"]["cursor"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), MAILS);
    ws.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_pings_keep_live_connections_and_close_silent_ones() {
    let app = TestApp::spawn_with(&["--ws-ping-interval", "1"]).await;
    // A client that reads answers the pings (tungstenite pongs automatically) and stays.
    let mut live = GraphqlWs::connect(&app, false).await;
    live.subscribe("1", WATCH, json!({ "address": "alive@localhost" }))
        .await;
    // One that never reads sends no pongs and is closed after three silent intervals.
    let mut silent = raw_socket(&app).await.unwrap();
    futures::SinkExt::send(
        &mut silent,
        Message::text(
            json!({ "type": "connection_init", "payload": { "apiKey": app.key } }).to_string(),
        ),
    )
    .await
    .unwrap();
    let live_reader = tokio::spawn(async move {
        // Reading for five seconds, across five pings.
        let data = live.try_next_data().await;
        (live, data)
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut ended = false;
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(2), silent.next()).await
    {
        if matches!(message, Err(_) | Ok(Message::Close(_))) {
            ended = true;
            break;
        }
    }
    assert!(ended, "the silent connection was closed");
    app.send_mail("alive@localhost", "still here", "hi").await;
    let (live, data) = live_reader.await.unwrap();
    assert!(data.is_some(), "the live connection still delivers");
    live.close().await;
    app.stop().await;
}
