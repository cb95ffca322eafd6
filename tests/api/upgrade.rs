//! Upgrading a database of the previous release: messages stored with their bodies and their
//! `To:`, `Cc:`, `Date:`, `Message-ID:` and `In-Reply-To:` headers beside their raw sources
//! (before migrations `one_copy_of_mail` and `message_headers_from_raw_source`) read the same
//! afterwards, from the raw source alone, and count in their inbox's bound of messages; and a
//! rollback keeps every raw source where the release before reads it.

use diesel::migration::{MigrationConnection, MigrationSource};
use diesel::{
    sql_query,
    sql_types::{Bytea, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{
    async_connection_wrapper::AsyncConnectionWrapper, AsyncConnection, AsyncPgConnection,
    RunQueryDsl,
};
use diesel_migrations::MigrationHarness;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use ephemail_mail::{parse, sanitize::Sanitizer};
use ephemail_store::{models::raw_source, MIGRATIONS};

use crate::helpers::{empty_database, number, TestApp};

/// The last migration of the previous release, as diesel writes versions.
const PREVIOUS_RELEASE: &str = "20261205000000";

const VERIFICATION: &str = "Received: from mx.example (127.0.0.1) by ephemail; Sat, 28 Nov 2026 11:00:00 +0000\r\n\
From: Shop <noreply@shop.example>\r\n\
To: Old <old@localhost>\r\n\
Cc: audit@shop.example\r\n\
Subject: Your code\r\n\
Date: Sat, 28 Nov 2026 10:59:58 +0000\r\n\
Message-ID: <v1@shop.example>\r\n\
In-Reply-To: <signup@shop.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=b\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Your code is 482910. Confirm: https://shop.example/confirm?t=abc\r\n\
--b\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Your code is <b>482910</b>.</p><p><a href=\"https://shop.example/confirm?t=abc\">Confirm</a></p><script>x()</script>\r\n\
--b--\r\n";

const PLAIN: &str =
    "Received: from mx.example (127.0.0.1) by ephemail; Sat, 28 Nov 2026 11:01:00 +0000\r\n\
From: bob@example.com\r\n\
Subject: =?utf-8?q?Caf=C3=A9?=\r\n\
\r\n\
Stored before raw sources were compressed.\r\n";

/// The database as the previous release left it: every migration up to its last.
async fn previous_release_database() -> String {
    let url = empty_database().await;
    let conn = AsyncPgConnection::establish(&url).await.unwrap();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        MigrationConnection::setup(&mut conn).unwrap();
        for migration in MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).unwrap() {
            let version = migration.name().version().to_string().replace('-', "");
            if version.as_str() > PREVIOUS_RELEASE {
                break;
            }
            conn.run_migration(&*migration).unwrap();
        }
    })
    .await
    .unwrap();
    url
}

/// Stores `raw` as the previous release's ingest did: its parsed bodies and header facts in the
/// message row, beside its raw source in `encoding`.
async fn store_the_old_way(
    conn: &mut AsyncPgConnection,
    inbox_id: Uuid,
    tenant_id: Uuid,
    raw: &[u8],
    encoding: &str,
) -> Uuid {
    let parsed = parse::parse(raw);
    let purge_at = chrono::DateTime::parse_from_rfc3339("2026-11-29T13:00:00Z").unwrap();
    let sha256 = Sha256::digest(raw).to_vec();
    let content = match encoding {
        "zstd" => raw_source::compress(raw).unwrap(),
        _ => raw.to_vec(),
    };
    sql_query(
        "INSERT INTO raw_sources (sha256, encoding, content, purge_at) VALUES ($1, $2, $3, $4)",
    )
    .bind::<Bytea, _>(&sha256)
    .bind::<Text, _>(encoding)
    .bind::<Bytea, _>(&content)
    .bind::<Timestamptz, _>(purge_at)
    .execute(conn)
    .await
    .unwrap();
    let id = Uuid::new_v4();
    sql_query(
        "INSERT INTO messages (id, inbox_id, tenant_id, received_at, mail_from, rcpt_to,
             from_addr, to_addr, cc_addr, from_text, to_text, subject, text_body, html_body,
             size, raw_sha256, tags, has_attachments, content_limits, purge_at, sent_at,
             message_id, in_reply_to, parse_error)
         VALUES ($1, $2, $3, '2026-11-28T11:00:00Z', 'sender@example.test', '{old@localhost}',
             $4, $11, $12, '', 'old@localhost', $5, $6, $7, $8, $9, '{}', false, '{}', $10,
             $13, $14, $15, $16)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(inbox_id)
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Jsonb, _>(serde_json::to_value(&parsed.from).unwrap())
    .bind::<Nullable<Text>, _>(parsed.subject.as_deref())
    .bind::<Nullable<Text>, _>(parsed.text.as_deref())
    .bind::<Nullable<Text>, _>(parsed.html.as_deref())
    .bind::<diesel::sql_types::Integer, _>(i32::try_from(raw.len()).unwrap())
    .bind::<Bytea, _>(&sha256)
    .bind::<Timestamptz, _>(purge_at)
    .bind::<Jsonb, _>(serde_json::to_value(&parsed.correspondence.to).unwrap())
    .bind::<Jsonb, _>(serde_json::to_value(&parsed.correspondence.cc).unwrap())
    .bind::<Nullable<Timestamptz>, _>(parsed.correspondence.sent_at)
    .bind::<Nullable<Text>, _>(parsed.correspondence.message_id.as_deref())
    .bind::<Nullable<Text>, _>(parsed.correspondence.in_reply_to.as_deref())
    .bind::<Nullable<Text>, _>(parsed.parse_error.as_deref())
    .execute(conn)
    .await
    .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_stored_by_the_previous_release_read_the_same_from_their_raw_source() {
    let url = previous_release_database().await;
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
        .unwrap()
        .to_utc();
    let tenant = ephemail_store::models::tenant::find_or_create(&mut conn, "dev", now)
        .await
        .unwrap();
    let inbox_id = Uuid::new_v4();
    sql_query(
        "INSERT INTO domains (name, mode, created_at, tenant_id)
         VALUES ('localhost', 'catch_all', now(), $1)",
    )
    .bind::<SqlUuid, _>(tenant.id)
    .execute(&mut conn)
    .await
    .unwrap();
    sql_query("SELECT create_purge_partitions('2026-11-29T13:00:00Z')")
        .execute(&mut conn)
        .await
        .unwrap();
    sql_query(
        "INSERT INTO inboxes (id, local_part, domain, created_at, expires_at, tags, tenant_id,
             purge_at, created_by_mail)
         VALUES ($1, 'old', 'localhost', '2026-11-28T10:00:00Z', '2026-11-29T12:00:00Z', '{}',
             $2, '2026-11-29T13:00:00Z', false)",
    )
    .bind::<SqlUuid, _>(inbox_id)
    .bind::<SqlUuid, _>(tenant.id)
    .execute(&mut conn)
    .await
    .unwrap();
    let verification = store_the_old_way(
        &mut conn,
        inbox_id,
        tenant.id,
        VERIFICATION.as_bytes(),
        "zstd",
    )
    .await;
    let plain = store_the_old_way(&mut conn, inbox_id, tenant.id, PLAIN.as_bytes(), "plain").await;

    let pool = ephemail_store::pool(&url, 2).unwrap();
    ephemail_store::migrate(&pool).await.unwrap();
    let app = TestApp::spawn_on(url, &[]).await;
    let read = "query($id: ID!) { message(id: $id) {
        text html codes links { href } subject headers(name: \"Subject\") { value }
        to { name address } cc { address } date messageId inReplyTo parseError contentLimits } }";
    let message = &app.data(read, json!({ "id": verification })).await["message"];
    let parsed = parse::parse(VERIFICATION.as_bytes());
    assert_eq!(message["text"], json!(parsed.text));
    let sanitized = Sanitizer::default().clean(parsed.html.as_deref().unwrap());
    assert_eq!(message["html"], json!(sanitized));
    assert!(!sanitized.contains("script"), "{sanitized}");
    assert_eq!(message["codes"], json!(["482910"]));
    assert_eq!(
        message["links"],
        json!([{ "href": "https://shop.example/confirm?t=abc" }])
    );
    assert_eq!(message["headers"], json!([{ "value": "Your code" }]));
    assert_eq!(
        message["to"],
        json!([{ "name": "Old", "address": "old@localhost" }])
    );
    assert_eq!(message["cc"], json!([{ "address": "audit@shop.example" }]));
    assert_eq!(message["date"], json!("2026-11-28T10:59:58.000000Z"));
    assert_eq!(message["messageId"], json!("v1@shop.example"));
    assert_eq!(message["inReplyTo"], json!("signup@shop.example"));
    assert_eq!(message["parseError"], json!(null));
    assert_eq!(message["contentLimits"], json!([]));

    let message = &app.data(read, json!({ "id": plain })).await["message"];
    assert_eq!(
        message["text"].as_str().map(str::trim),
        Some("Stored before raw sources were compressed.")
    );
    assert_eq!(message["subject"], json!("Café"));
    assert_eq!(message["html"], json!(null));
    assert_eq!(message["to"], json!([]));
    assert_eq!(message["date"], json!(null));
    assert_eq!(message["messageId"], json!(null));

    // Migration `inbox_message_bounds` counted them into their inbox's bound.
    let bound = format!("SELECT message_bound::int8 AS n FROM inboxes WHERE id = '{inbox_id}'");
    assert_eq!(number(&app, &bound).await, 2);
    app.stop().await;
}

/// Rolling back to the release before migration `raw_source_in_message_row` moves every raw
/// source kept in its message's row into `raw_sources`, where that release reads it: a mail to
/// one inbox (in its row) and a mail to two (shared) both keep their exact bytes.
#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_past_raw_sources_in_message_rows_keeps_every_raw_source() {
    const IN_ROWS: &str = "20261207000000";
    let app = TestApp::spawn().await;
    app.send_mail("alone@localhost", "alone", "one inbox").await;
    let mut smtp = app.smtp().await;
    smtp.command("EHLO client.test").await;
    let reply = smtp
        .deliver(
            "a@example.com",
            &["one@localhost", "two@localhost"],
            "Subject: shared\r\n\r\ntwo inboxes\r\n",
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let mut received = Vec::new();
    for address in ["alone@localhost", "one@localhost", "two@localhost"] {
        let id = app.messages_of(address).await[0]["id"].clone();
        let found = app
            .data(
                "query($id: ID!) { message(id: $id) { rawUrl } }",
                json!({ "id": id }),
            )
            .await;
        let raw = app
            .download(found["message"]["rawUrl"].as_str().unwrap())
            .await;
        assert!(raw.starts_with(b"Received: "), "{raw:?}");
        let id: Uuid = id.as_str().unwrap().parse().unwrap();
        received.push((id, raw));
    }
    let url = app.database_url.clone();
    app.stop().await;

    let conn = AsyncPgConnection::establish(&url).await.unwrap();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        while conn
            .applied_migrations()
            .unwrap()
            .iter()
            .any(|v| v.to_string().as_str() >= IN_ROWS)
        {
            conn.revert_last_migration(MIGRATIONS).unwrap();
        }
    })
    .await
    .unwrap();
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        encoding: String,
        #[diesel(sql_type = Bytea)]
        content: Vec<u8>,
    }
    // As that release reads a message's raw source.
    let stored: Vec<Stored> = sql_query(
        "SELECT m.id, r.encoding, r.content FROM messages m
         JOIN raw_sources r ON r.sha256 = m.raw_sha256 AND r.purge_at = m.purge_at
         ORDER BY m.id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    received.sort();
    let read: Vec<(Uuid, Vec<u8>)> = (stored.into_iter())
        .map(|s| {
            let source = raw_source::RawSource {
                encoding: s.encoding,
                content: s.content,
            };
            (s.id, source.decode().unwrap())
        })
        .collect();
    assert_eq!(read, received);
}
