//! Scale check (`bench/scale`): loads MESSAGES messages (default one million) across INBOXES
//! inboxes (default ten thousand, made over BUCKETS hours, default 168: an expiry partition
//! each) into a private PostgreSQL through the same storage code as SMTP ingest
//! (`MailDelivery::deliver`: parse, group commit), then measures over the running server:
//! listing an inbox's newest 20 messages over GraphQL, `waitForMessage` wake-up latency (the
//! first waits apart, as the pool's connections make their plans), the
//! sweeper deleting everything, and ingest throughput with and without the sweeper running
//! beside it.
#![allow(clippy::unwrap_used)]

use std::{
    env,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use clap::Parser;
use ephemail::{
    app::{App, Server},
    auth::api_key,
    config::ServeConfig,
    scope::Scope,
};
use ephemail_mail::address::EmailAddress;
use ephemail_store::{
    clock::{Clock, ManualClock, SystemClock},
    delivery::{IncomingMail, Recipient},
    embedded::EmbeddedPostgres,
    models::tenant,
};
use serde_json::{json, Value};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeConfig,
}

const DOMAIN: &str = "scale.test";
const TTL_SECONDS: i64 = 7 * 24 * 3600;
/// Waits measured apart, before the 200 whose percentiles are the steady state.
const FIRST_WAITS: usize = 50;

fn setting(name: &str, default: usize) -> usize {
    env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A verification mail like the ingest benchmark's (text and HTML alternatives, ~5 KB).
fn mail(to: &str, n: usize) -> IncomingMail {
    let paragraph = "Hello, thanks for signing up. Use the code below to verify your address. \
                     If you did not request this, ignore this message. "
        .repeat(15);
    let code = (n * 7919) % 1_000_000;
    let raw = format!(
        "From: Sender <sender@example.test>\r\nTo: {to}\r\nSubject: Your code is {code:06}\r\n\
         Message-ID: <scale-{n}@example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\n{paragraph}\r\nYour code: {code:06}\r\n\
         --b\r\nContent-Type: text/html\r\n\r\n<p>{paragraph}</p><p>Your code: <b>{code:06}</b></p>\
         <a href=\"https://app.example.com/verify?n={n}\">Verify</a>\r\n--b--\r\n"
    );
    IncomingMail {
        mail_from: Some("sender@example.test".into()),
        recipients: vec![Recipient::new(EmailAddress::parse(to).unwrap())],
        raw: raw.into_bytes(),
        trace_len: 0,
    }
}

/// Delivers `count` mails from `tasks` concurrent senders; `address(n)` names the recipient of
/// mail `n`. Returns mails per second.
async fn load(
    app: &App,
    count: usize,
    tasks: usize,
    address: impl Fn(usize) -> String + Send + Sync + 'static,
) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let address = Arc::new(address);
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (app, next, address) = (app.clone(), next.clone(), address.clone());
        senders.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return;
                }
                let arriving = app.delivery.arriving();
                let delivery =
                    (app.delivery.deliver(mail(&address(n), n), arriving).await).unwrap();
                assert_eq!(
                    delivery.stored.len(),
                    1,
                    "mail {n} not stored: {delivery:?}"
                );
            }
        });
    }
    while let Some(joined) = senders.join_next().await {
        joined.unwrap();
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn median(samples: &mut [f64]) -> f64 {
    quantile(samples, 0.5)
}

fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

/// Lists the newest 20 messages of 1,000 inboxes, `address(n)` of them, over GraphQL; each must
/// have `expected` messages. Prints p50 and p99.
async fn list_newest(api: &Api, when: &str, address: impl Fn(usize) -> String, expected: usize) {
    let list = "query($a: String!) { inbox(address: $a) { messages(first: 20) {
                    edges { node { id subject receivedAt } } } } }";
    let mut latencies = Vec::new();
    for n in 0..1000 {
        let started = Instant::now();
        let page = api.post(list, json!({ "a": address(n) })).await;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let edges = page["data"]["inbox"]["messages"]["edges"]
            .as_array()
            .unwrap();
        assert_eq!(edges.len(), expected, "{page}");
    }
    println!(
        "list newest 20 of an inbox{when} (GraphQL over HTTP, 1000 requests): p50 {:.2} ms, p99 {:.2} ms",
        quantile(&mut latencies, 0.5),
        quantile(&mut latencies, 0.99)
    );
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Api {
    async fn post(&self, query: &str, variables: Value) -> Value {
        let response: Value = self
            .http
            .post(&self.url)
            .bearer_auth(&self.key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(response.get("errors").is_none(), "{response}");
        response
    }
}

#[tokio::main]
async fn main() {
    let messages = setting("MESSAGES", 1_000_000);
    let inboxes = setting("INBOXES", 10_000);
    let measure = setting("MEASURE", 20_000);
    let tasks = setting("SENDERS", 32);
    let dir = std::path::PathBuf::from(
        env::var("DATA").unwrap_or_else(|_| format!("/tmp/ephemail-scale-{}", std::process::id())),
    );
    let cluster = EmbeddedPostgres::start(&dir, None).await.unwrap();
    cluster.create_database("scale", None).await.unwrap();
    let url = cluster.database_url("scale");
    let ttl = TTL_SECONDS.to_string();
    let config = Cli::try_parse_from([
        "ephemail",
        "--database-url",
        &url,
        "--smtp-addr",
        "127.0.0.1:0",
        "--http-addr",
        "127.0.0.1:0",
        "--domain",
        &format!("{DOMAIN}:catch_all"),
        "--default-ttl",
        &ttl,
        "--quota-mails-per-day",
        "2000000000",
        "--quota-stored-bytes",
        "1000000000000000",
        "--quota-inboxes",
        "2000000000",
        // The measured rounds create an inbox per mail, past the default's 10,000 made by mail.
        "--quota-catch-all-inboxes",
        "2000000000",
        "--quota-requests-per-minute",
        "100000000",
        "--sweep-interval",
        "86400",
    ])
    .unwrap()
    .serve;
    let pool = ephemail_store::pool(&url, 16).unwrap();
    ephemail_store::migrate(&pool).await.unwrap();
    let clock = ManualClock::new(SystemClock.now());
    let app = App::build(config, pool.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let server = Server::start(app.clone()).await.unwrap();
    let key = {
        let mut conn = pool.get().await.unwrap();
        let owner = tenant::find_or_create(&mut conn, "dev", clock.now())
            .await
            .unwrap();
        let (key, _) = api_key::create(&mut conn, owner.id, "bench", Scope::Admin, clock.now())
            .await
            .unwrap();
        key.expose().to_owned()
    };
    let api = Api {
        http: reqwest::Client::new(),
        url: format!("http://{}/graphql", server.http_addr.expect("serving HTTP")),
        key,
    };

    // A store whose inboxes live a week has a partition for each hour (`--purge-bucket`) of
    // their lives: the inboxes are made over BUCKETS hours of the clock, each hour's in a
    // partition of its own, so that the reads below choose among as many.
    let buckets = setting("BUCKETS", 168).clamp(1, inboxes.min(messages));
    println!(
        "# loading {messages} messages into {inboxes} inboxes made over {buckets} hours \
         ({tasks} concurrent senders)"
    );
    let started = Instant::now();
    for bucket in 0..buckets {
        if bucket > 0 {
            clock.advance(chrono::Duration::hours(1));
        }
        let first = inboxes * bucket / buckets;
        let made = inboxes * (bucket + 1) / buckets - first;
        load(&app, made, tasks, move |n| {
            format!("box{}@{DOMAIN}", first + n)
        })
        .await;
    }
    load(&app, messages - inboxes.min(messages), tasks, move |n| {
        format!("box{}@{DOMAIN}", n % inboxes)
    })
    .await;
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    println!("loaded: {messages} messages at {rate:.0} mails/s");
    // Measure from a steady state, not in the wake of the bulk load (autovacuum, checkpoint).
    {
        let mut conn = pool.get().await.unwrap();
        for statement in ["VACUUM (ANALYZE)", "CHECKPOINT"] {
            diesel_async::RunQueryDsl::execute(diesel::sql_query(statement), &mut conn)
                .await
                .unwrap();
        }
    }

    list_newest(
        &api,
        "",
        |n| format!("box{}@{DOMAIN}", (n * 7) % inboxes),
        20.min(messages / inboxes),
    )
    .await;

    // waitForMessage: from the storing commit to the waiting client's response. The first waits
    // are measured apart: a pooled connection's sixth run of a prepared statement also makes a
    // generic plan once, to compare it with the plans made with the values, which takes tens of
    // milliseconds with 168 partitions (`docs/performance.md`, Scale); the later ones show the
    // steady state.
    let wait = "query($a: String!) { waitForMessage(address: $a, timeoutMs: 10000) { id } }";
    let (mut wake, mut end_to_end) = (Vec::new(), Vec::new());
    for n in 0..FIRST_WAITS + 200 {
        let address = format!("wait{n}@{DOMAIN}");
        let waiting = {
            let (api, address) = (api.clone(), address.clone());
            tokio::spawn(async move {
                let response = api.post(wait, json!({ "a": address })).await;
                (Instant::now(), response)
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sent = Instant::now();
        let arriving = app.delivery.arriving();
        app.delivery
            .deliver(mail(&address, n), arriving)
            .await
            .unwrap();
        let committed = Instant::now();
        let (answered, response) = waiting.await.unwrap();
        assert!(
            response["data"]["waitForMessage"]["id"].is_string(),
            "{response}"
        );
        wake.push(answered.saturating_duration_since(committed).as_secs_f64() * 1000.0);
        end_to_end.push((answered - sent).as_secs_f64() * 1000.0);
    }
    let mut first = wake.drain(..FIRST_WAITS).collect::<Vec<_>>();
    end_to_end.drain(..FIRST_WAITS);
    println!(
        "waitForMessage wake-up, the first {FIRST_WAITS} waits: p50 {:.2} ms, max {:.2} ms",
        quantile(&mut first, 0.5),
        quantile(&mut first, 1.0),
    );
    println!(
        "waitForMessage wake-up, commit to response (the next 200 waits): p50 {:.2} ms, p99 {:.2} ms; \
         delivery start to response: p50 {:.2} ms, p99 {:.2} ms",
        quantile(&mut wake, 0.5),
        quantile(&mut wake, 0.99),
        quantile(&mut end_to_end, 0.5),
        quantile(&mut end_to_end, 0.99)
    );

    // Ingest alone, then beside the sweeper deleting everything loaded above, in rounds of
    // MEASURE mails (ROUNDS alone; beside, as many as the sweep lasts, up to ROUNDS): medians.
    let rounds = setting("ROUNDS", 3);
    let mut alone = Vec::new();
    for round in 0..rounds {
        alone.push(
            load(&app, measure, tasks, move |n| {
                format!("fresh{round}x{n}@{DOMAIN}")
            })
            .await,
        );
    }
    // Past the expiry of everything loaded, the end of its expiry bucket (`--purge-bucket`, an
    // hour) and the sweeper's grace period for late deliveries (five minutes).
    clock.advance(chrono::Duration::seconds(TTL_SECONDS + 3600 + 301));
    let sweeping = {
        let app = app.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let report = app.sweeper.sweep().await.unwrap().unwrap();
            (report, started.elapsed())
        })
    };
    let mut beside = Vec::new();
    let mut overlapped = true;
    while beside.len() < rounds && !sweeping.is_finished() {
        let round = beside.len();
        beside.push(
            load(&app, measure, tasks, move |n| {
                format!("later{round}x{n}@{DOMAIN}")
            })
            .await,
        );
        overlapped &= !sweeping.is_finished();
    }
    let (report, took) = sweeping.await.unwrap();
    let after = load(&app, measure, tasks, |n| format!("after{n}@{DOMAIN}")).await;
    // Again where everything loaded has just expired: the statistics still describe it.
    list_newest(
        &api,
        " after the sweep",
        |n| format!("after{n}@{DOMAIN}"),
        1,
    )
    .await;
    let (alone_median, beside_median) = (median(&mut alone), median(&mut beside));
    println!(
        "ingest in rounds of {measure} mails: alone {alone:.0?} (median {alone_median:.0}) mails/s, \
         beside the sweeper {beside:.0?} (median {beside_median:.0}) mails/s: {:.2}x{}; after the \
         sweep {after:.0} mails/s",
        beside_median / alone_median,
        if overlapped {
            ""
        } else {
            " (the sweep ended during the last round)"
        }
    );
    println!(
        "sweeper: {} messages, {} inboxes, {} raw sources deleted in {:.1} s ({} expiry buckets \
         dropped, {} row batches)",
        report.messages,
        report.inboxes,
        report.raw_sources,
        took.as_secs_f64(),
        report.buckets,
        report.batches
    );
    server.shutdown().await.unwrap();
    pool.close();
    cluster.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
