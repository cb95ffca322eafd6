//! Many GraphQL subscribers for `bench/subscriptions` (`CLIENT=rust`, the default): the same
//! protocol and output as `bench/subscribers.mjs`, on one thread, at a fraction of Node's CPU
//! per event. The subscribers share the benchmark's two cores with ephemail and its load, so
//! what they spend is taken from the ingest they measure (see docs/performance.md).
//!
//!   EPHEMAIL_API_KEY=ek_... subscribers WS_URL ADDRESSES EVENTS [--pause]
//!
//! Every address in the file ADDRESSES (one a line) gets a WebSocket connection of its own
//! (graphql-transport-ws, the key in `connection_init`) running one
//! `messageReceived(address:)` subscription that selects `FIELDS` (default `id cursor subject`).
//! Prints `connected N` once every connection is acknowledged; with `--pause` it then waits for
//! a line on stdin before subscribing. Prints `subscribed N` once every subscription was sent,
//! then runs until SIGTERM. Every event is appended to the file EVENTS as
//! `address<TAB>subject<TAB>arrival`, the arrival in nanoseconds of CLOCK_MONOTONIC (what
//! `bench/smtp-probe.py` reads for its `250`s). An error, or a subscription or connection that
//! ends, is printed to stderr and exits 1.
#![allow(clippy::unwrap_used)]

use std::{
    cell::RefCell,
    env,
    fmt::Write as _,
    fs::{self, OpenOptions},
    io::{BufRead, Write as _},
    process,
    rc::Rc,
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use nix::time::{clock_gettime, ClockId};
use serde_json::{json, Value};
use tokio::{
    net::TcpStream,
    signal::unix::{signal, SignalKind},
    sync::{watch, Semaphore},
    task::LocalSet,
};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, http::HeaderValue, Message},
    MaybeTlsStream, WebSocketStream,
};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connections being opened at once: enough to be quick, few enough for the listen backlog.
const OPENING: usize = 200;

/// Events not yet written to the file (written every 50 ms, as the Node client does).
type Pending = Rc<RefCell<String>>;

fn fail(what: &str, pending: &Pending, events: &str) -> ! {
    flush(pending, events);
    eprintln!("{what}");
    process::exit(1)
}

fn flush(pending: &Pending, events: &str) {
    let text = std::mem::take(&mut *pending.borrow_mut());
    if !text.is_empty() {
        let mut file = OpenOptions::new().append(true).open(events).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }
}

async fn connect(url: &str, api_key: &str) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let init = json!({"type": "connection_init", "payload": {"apiKey": api_key}});
    socket
        .send(Message::text(init.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("\"connection_ack\"") => Ok(socket),
        other => Err(format!("no connection_ack: {other:?}")),
    }
}

/// Subscribes on the connection and records its events until it fails.
async fn follow(
    mut socket: Socket,
    address: String,
    query: Rc<str>,
    pending: Pending,
    events: Rc<str>,
) {
    let subscribe = json!({
        "id": "1",
        "type": "subscribe",
        "payload": {"query": &*query, "variables": {"address": &address}},
    });
    if let Err(error) = socket.send(Message::text(subscribe.to_string())).await {
        fail(
            &format!("subscription of {address}: {error}"),
            &pending,
            &events,
        );
    }
    while let Some(frame) = socket.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            other => fail(
                &format!("connection of {address} closed: {other:?}"),
                &pending,
                &events,
            ),
        };
        let arrival = clock_gettime(ClockId::CLOCK_MONOTONIC).unwrap();
        let arrival = arrival.tv_sec() * 1_000_000_000 + arrival.tv_nsec();
        let message: Value = serde_json::from_str(&text).unwrap();
        match message["type"].as_str() {
            Some("next") if message["payload"]["errors"].is_null() => {
                let subject = message["payload"]["data"]["messageReceived"]["subject"]
                    .as_str()
                    .unwrap_or("");
                let _ = writeln!(pending.borrow_mut(), "{address}\t{subject}\t{arrival}");
            }
            Some("ping") => {
                let pong = Message::text(json!({"type": "pong"}).to_string());
                if let Err(error) = socket.send(pong).await {
                    fail(
                        &format!("connection of {address}: {error}"),
                        &pending,
                        &events,
                    );
                }
            }
            Some("pong") => {}
            _ => fail(
                &format!("subscription of {address}: {text}"),
                &pending,
                &events,
            ),
        }
    }
    fail(
        &format!("connection of {address} closed"),
        &pending,
        &events,
    )
}

fn main() {
    // `cargo bench` runs every bench target with `--bench`: this one only serves
    // bench/subscriptions, so alone it has nothing to do.
    let args: Vec<String> = env::args().skip(1).filter(|arg| arg != "--bench").collect();
    if args.is_empty() {
        println!("the subscribers' client of bench/subscriptions; run that instead");
        return;
    }
    let [url, address_file, events, flags @ ..] = args.as_slice() else {
        eprintln!("usage: subscribers WS_URL ADDRESSES EVENTS [--pause]");
        process::exit(2)
    };
    let api_key = env::var("EPHEMAIL_API_KEY").unwrap_or_default();
    let fields = env::var("FIELDS").unwrap_or_else(|_| "id cursor subject".into());
    let query: Rc<str> = format!(
        "subscription($address: String!) {{ messageReceived(address: $address) {{ {fields} }} }}"
    )
    .into();
    let addresses: Vec<String> = fs::read_to_string(address_file)
        .unwrap()
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    fs::write(events, "").unwrap();
    let events: Rc<str> = events.as_str().into();
    let pause = flags.iter().any(|flag| flag == "--pause");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    LocalSet::new().block_on(&runtime, async move {
        let pending = Pending::default();
        tokio::task::spawn_local({
            let (pending, events) = (pending.clone(), events.clone());
            async move {
                let mut terminate = signal(SignalKind::terminate()).unwrap();
                let mut tick = tokio::time::interval(Duration::from_millis(50));
                loop {
                    tokio::select! {
                        _ = tick.tick() => flush(&pending, &events),
                        _ = terminate.recv() => {
                            flush(&pending, &events);
                            process::exit(0)
                        }
                    }
                }
            }
        });
        let opening = Rc::new(Semaphore::new(OPENING));
        let (go, started) = watch::channel(false);
        let mut connecting = Vec::with_capacity(addresses.len());
        for address in addresses {
            let opening = opening.clone();
            let (url, api_key) = (url.clone(), api_key.clone());
            let (query, pending, events) = (query.clone(), pending.clone(), events.clone());
            let mut started = started.clone();
            let (connected, is_connected) = tokio::sync::oneshot::channel();
            connecting.push(is_connected);
            tokio::task::spawn_local(async move {
                let permit = opening.acquire().await.unwrap();
                let socket = match connect(&url, &api_key).await {
                    Ok(socket) => socket,
                    Err(error) => fail(
                        &format!("connecting for {address}: {error}"),
                        &pending,
                        &events,
                    ),
                };
                drop(permit);
                let _ = connected.send(());
                let _ = started.wait_for(|go| *go).await;
                follow(socket, address, query, pending, events).await;
            });
        }
        let connections = connecting.len();
        for connected in connecting {
            connected.await.unwrap();
        }
        println!("connected {connections}");
        if pause {
            tokio::task::spawn_blocking(|| std::io::stdin().lock().lines().next())
                .await
                .unwrap();
        }
        go.send(true).unwrap();
        // The connections' tasks run (and send their subscriptions) before this one again.
        tokio::task::yield_now().await;
        println!("subscribed {connections}");
        std::future::pending::<()>().await;
    });
}
