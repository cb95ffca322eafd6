//! `250` means committed: a database outage is a `451` with nothing half-stored and mail flows
//! again once the database is back; neither a SIGKILL nor a SIGTERM under load loses an
//! acknowledged message.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use diesel::sql_types::{Array, BigInt, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use ephemail_store::embedded::EmbeddedPostgres;
use nix::sys::signal::Signal;

use crate::helpers::{
    fresh_database, remove_when_process_exits, ServeProcess, SmtpConversation, TestApp,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_answers_451_stores_nothing_and_recovers_without_restart() {
    // A cluster of its own, since this test stops it.
    let dir = std::path::PathBuf::from(format!(
        "/tmp/ephemail-outage-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let cluster = EmbeddedPostgres::start(&dir, None).await.unwrap();
    remove_when_process_exits(&dir, &cluster);
    cluster.create_database("outage", None).await.unwrap();
    let url = cluster.database_url("outage");
    let pool = ephemail_store::pool(&url, 2).unwrap();
    ephemail_store::migrate(&pool).await.unwrap();
    pool.close();
    let app = TestApp::spawn_on(url, &[]).await;
    app.send_mail("before@localhost", "before", "stored").await;

    // Mid-transaction: the recipient was accepted, then the database goes away.
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    smtp.command("MAIL FROM:<a@example.com>").await;
    assert!(smtp
        .command("RCPT TO:<during@localhost>")
        .await
        .starts_with("250"));
    cluster.stop().await.unwrap();
    assert!(smtp.command("DATA").await.starts_with("354"));
    smtp.send(b"Subject: during\r\n\r\nlost?\r\n").await;
    let reply = smtp.command(".").await;
    assert!(reply.starts_with("451 4.3.0"), "{reply}");
    // A new transaction is deferred at RCPT once the answers `RCPT TO` keeps in memory are
    // stale (until then it is deferred at the end of DATA, as above); the session stays usable.
    tokio::time::sleep(ephemail_store::delivery::recipients::FRESH_FOR).await;
    smtp.command("MAIL FROM:<a@example.com>").await;
    let reply = smtp.command("RCPT TO:<during@localhost>").await;
    assert!(reply.starts_with("451 4.3.0"), "{reply}");
    smtp.command("RSET").await;

    let cluster = EmbeddedPostgres::start(&dir, None).await.unwrap();
    // The same session, and the same server process, deliver again.
    let reply = smtp
        .deliver(
            "a@example.com",
            &["after@localhost"],
            "Subject: after\r\n\r\nstored\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    assert_eq!(app.messages_of("before@localhost").await.len(), 1);
    assert!(app.messages_of("during@localhost").await.is_empty());
    assert_eq!(app.messages_of("after@localhost").await.len(), 1);
    app.stop().await;
    cluster.stop().await.unwrap();
}

/// Eight senders, each delivering one mail per connection until stopped or refused.
struct Load {
    acked: Arc<Mutex<Vec<uuid::Uuid>>>,
    stop: Arc<AtomicBool>,
    senders: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(smtp: std::net::SocketAddr) -> Self {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let senders = (0..8)
            .map(|worker| tokio::spawn(sender(smtp, worker, acked.clone(), stop.clone())))
            .collect();
        Self {
            acked,
            stop,
            senders,
        }
    }

    /// Waits until `count` mails are acknowledged (a minute at most).
    async fn until_acknowledged(&self, count: usize) {
        let started = Instant::now();
        while self.acked.lock().unwrap().len() < count
            && started.elapsed() < Duration::from_secs(60)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the senders; the ids of the messages acknowledged with `250`.
    async fn stop(self) -> Vec<uuid::Uuid> {
        self.stop.store(true, Ordering::SeqCst);
        for sender in self.senders {
            sender.await.unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

/// The server flags of the load tests: a catch-all domain and limits the load stays under.
fn load_flags(url: &str) -> [&str; 10] {
    [
        "--database-url",
        url,
        "--domain",
        "localhost:catch_all",
        "--smtp-connections-per-minute-per-ip",
        "1000000",
        "--quota-mails-per-day",
        "1000000",
        "--quota-inboxes",
        "1000000",
    ]
}

/// Sends one mail per connection until `stop`, recording the id of every acknowledged message.
async fn sender(
    smtp: std::net::SocketAddr,
    worker: usize,
    acked: Arc<Mutex<Vec<uuid::Uuid>>>,
    stop: Arc<AtomicBool>,
) {
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(smtp))
                .await
        else {
            return;
        };
        let Some(id) = deliver_one(stream, worker, n).await else {
            return;
        };
        acked.lock().unwrap().push(id);
    }
}

/// One transaction on a raw socket; the id from `250 ... stored as <id>`, or `None` once the
/// server is gone.
async fn deliver_one(stream: tokio::net::TcpStream, worker: usize, n: usize) -> Option<uuid::Uuid> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let script = format!(
        "EHLO load.test\r\nMAIL FROM:<load@example.com>\r\nRCPT TO:<w{worker}n{n}@localhost>\r\nDATA\r\n"
    );
    write.write_all(script.as_bytes()).await.ok()?;
    // Pipelined: the greeting, then the replies to EHLO, MAIL, RCPT and DATA.
    let mut replies = 0;
    while replies < 5 {
        let line = lines.next_line().await.ok()??;
        if line.as_bytes().get(3) != Some(&b'-') {
            replies += 1;
        }
    }
    let body = format!(
        "Subject: load {worker}/{n}\r\n\r\n{}\r\n.\r\n",
        "x".repeat(2000)
    );
    write.write_all(body.as_bytes()).await.ok()?;
    let reply = lines.next_line().await.ok()??;
    let id = reply.strip_prefix("250 2.0.0 OK: stored as ")?.parse().ok();
    let _ = write.write_all(b"QUIT\r\n").await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn every_message_acknowledged_before_a_sigkill_is_stored() {
    let url = fresh_database().await;
    let flags = load_flags(&url);
    let server = ServeProcess::spawn(&flags);
    let load = Load::start(server.smtp_addr());
    // Kill mid-load: once a good number of mails are acknowledged, with many more in flight.
    load.until_acknowledged(1000).await;
    server.signal(Signal::SIGKILL);
    let status = server.wait().await;
    assert!(!status.success(), "killed: {status}");
    let acked = load.stop().await;
    assert!(acked.len() >= 1000, "only {} acknowledged", acked.len());

    // A restart comes up on the same database and finds every acknowledged message.
    let restarted = ServeProcess::spawn(&flags);
    let mut smtp = SmtpConversation::connect(restarted.smtp_addr()).await;
    smtp.command("EHLO client.test").await;
    assert_eq!(
        stored_among(&url, &acked).await,
        acked.len(),
        "every message that got 250 survived the SIGKILL"
    );
    restarted.signal(Signal::SIGTERM);
    assert!(restarted.wait().await.success());
}

/// How many of the messages `ids` are in the database at `url`.
async fn stored_among(url: &str, ids: &[uuid::Uuid]) -> usize {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let found: Count = diesel::sql_query("SELECT count(*) AS n FROM messages WHERE id = ANY($1)")
        .bind::<Array<SqlUuid>, _>(ids)
        .get_result(&mut conn)
        .await
        .unwrap();
    usize::try_from(found.n).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_refuses_new_clients_finishes_data_and_loses_nothing() {
    let url = fresh_database().await;
    let server = ServeProcess::spawn(&load_flags(&url));
    let load = Load::start(server.smtp_addr());
    // A session in the middle of its DATA when the signal comes.
    let mut late = SmtpConversation::connect(server.smtp_addr()).await;
    late.command("EHLO late.test").await;
    late.command("MAIL FROM:<a@example.com>").await;
    late.command("RCPT TO:<late@localhost>").await;
    assert!(late.command("DATA").await.starts_with("354"));
    late.send(b"Subject: late\r\n\r\nfirst half, ").await;
    load.until_acknowledged(300).await;

    server.signal(Signal::SIGTERM);
    // New clients are told to come back later while that session finishes.
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let fresh = SmtpConversation::connect(server.smtp_addr()).await;
            if fresh.greeting.starts_with("421") {
                return fresh.greeting;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("a new client refused during shutdown");
    assert_eq!(refused, "421 4.3.2 Service shutting down");
    late.send(b"second half\r\n").await;
    let reply = late.command(".").await;
    let late_id: uuid::Uuid = reply
        .strip_prefix("250 2.0.0 OK: stored as ")
        .unwrap_or_else(|| panic!("the transaction in flight completes: {reply}"))
        .parse()
        .unwrap();
    assert!(server.wait().await.success(), "a clean exit");
    // The load's senders have met refusals and a closed port by now.
    let mut acked = load.stop().await;
    assert!(acked.len() >= 300, "only {} acknowledged", acked.len());
    acked.push(late_id);
    assert_eq!(
        stored_among(&url, &acked).await,
        acked.len(),
        "every message that got 250 is stored"
    );
}
