//! Storing messages: the rows the ingest writer inserts, counted against their tenants' quotas
//! in the same statement, the trimming of overfull inboxes, and the newest `seq`s that link a
//! listened inbox's events ([`crate::events::MessageStored::follows`]). The `messages` table's
//! reads are in [`super::message`].

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_types::{
        Array, BigInt, Bool, Bytea, Date, Integer, Jsonb, Nullable, Text, Timestamptz,
        Uuid as SqlUuid,
    },
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{
    attachment::NewAttachment,
    inbox::{under_catch_all_cap, Inbox},
    message::Message,
    quota::Limits,
    raw_source::NewRawSource,
    tenant::TenantLimits,
    webhook::webhook_sends,
};
use crate::prepared::{column, text_array, Prepared};

/// One row per inbox that received a mail.
#[derive(Debug)]
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub tenant_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub mail_from: Option<&'a str>,
    pub rcpt_to: &'a [String],
    pub from_addr: &'a serde_json::Value,
    pub from_text: &'a str,
    pub to_text: &'a str,
    pub subject: Option<&'a str>,
    pub size: i32,
    /// The raw source, in the row or shared (see [`super::raw_source`]).
    pub raw: RawCopy<'a>,
    pub tags: &'a [String],
    pub has_attachments: bool,
    /// The inbox's expiry bucket.
    pub purge_at: DateTime<Utc>,
}

/// Where a message's raw source is stored.
#[derive(Debug, Clone, Copy)]
pub enum RawCopy<'a> {
    /// In the message's row: its zstd bytes. A mail with one message in its bucket.
    Inline(&'a [u8]),
    /// In a row of `raw_sources` that its mail's messages in one bucket share: its SHA-256.
    Shared(&'a [u8]),
}

impl<'a> RawCopy<'a> {
    fn inline(self) -> Option<&'a [u8]> {
        match self {
            Self::Inline(zstd) => Some(zstd),
            Self::Shared(_) => None,
        }
    }

    fn shared(self) -> Option<&'a [u8]> {
        match self {
            Self::Shared(sha256) => Some(sha256),
            Self::Inline(_) => None,
        }
    }
}

impl NewMessage<'_> {
    /// The message as reading its row back, once inserted with `seq`, would give it.
    pub fn stored(&self, seq: i64) -> Message {
        let texts = |values: &[String]| values.iter().cloned().map(Some).collect();
        Message {
            id: self.id,
            seq,
            inbox_id: self.inbox_id,
            received_at: self.received_at,
            mail_from: self.mail_from.map(str::to_owned),
            rcpt_to: texts(self.rcpt_to),
            from_addr: self.from_addr.clone(),
            subject: self.subject.map(str::to_owned),
            size: self.size,
            tags: texts(self.tags),
            seen: false,
            has_attachments: self.has_attachments,
        }
    }
}

/// A batch's mails to one tenant's inboxes, counted against its daily and storage quotas by the
/// statement that inserts them ([`insert_all`]): in the transaction
/// that stores exactly those messages, so that a rolled-back mail is not counted.
#[derive(Debug, Clone, Copy)]
pub struct MailCount {
    pub tenant_id: Uuid,
    pub mails: i32,
    pub bytes: i64,
    pub limits: Limits,
}

/// A batch's mails counted per tenant, in one order for every writer (their counters rows are
/// locked in that order).
pub struct Counting {
    pub tenants: Vec<MailCount>,
    /// When the mails are stored: they count for its UTC day.
    pub now: DateTime<Utc>,
    /// One tenant whose mails do not all fit fails the statement, and with it the transaction
    /// ([`exceeded`] tells that error). Otherwise only the mails of the tenants that have room
    /// are stored.
    pub all_or_nothing: bool,
}

impl Counting {
    pub fn new(
        tenants: impl IntoIterator<Item = MailCount>,
        now: DateTime<Utc>,
        all_or_nothing: bool,
    ) -> Self {
        let mut tenants: Vec<MailCount> = tenants.into_iter().collect();
        tenants.sort_unstable_by_key(|count| count.tenant_id);
        Self {
            tenants,
            now,
            all_or_nothing,
        }
    }
}

/// Whether `error` is the one an all-or-nothing [`Counting`] raises (migration 15's
/// `raise_quota_exceeded`).
pub fn exceeded(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(_, info)
            if info.message() == "ephemail: a tenant's quota would be exceeded"
    )
}

/// Whether `error` is the one [`insert_all`] raises when what was [`Assumed`] does not hold.
pub fn remembered_changed(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(_, info)
            if info.message() == "ephemail: a batch's remembered inboxes or limits changed"
    )
}

/// What a batch stored from memory assumed instead of reading it (see the ingest writer's
/// `remembered`), checked by [`insert_all`] before anything it stores is kept: if one does not
/// hold, the statement raises the error [`remembered_changed`] tells, which aborts the
/// transaction (migration `batches_stored_from_memory`). A batch that read them assumes nothing
/// (`Assumed::default()`).
#[derive(Default)]
pub struct Assumed<'a> {
    /// New catch-all inboxes (from [`super::inbox::made_by_mail`]): each address free, and its
    /// tenant under `catch_all_cap`, so that the statement makes every one of them.
    pub fresh: &'a [Inbox],
    /// The cap on a tenant's live inboxes made by mail.
    pub catch_all_cap: i32,
    /// Inboxes (ids with their expiry buckets) still live in that bucket; they are locked as
    /// the inbox look-ups lock them (`FOR KEY SHARE`, until commit).
    pub inboxes: Vec<(Uuid, DateTime<Utc>)>,
    /// Tenants with these limits still.
    pub tenants: Vec<(Uuid, &'a TenantLimits)>,
    /// That the tenants counted have no webhook for `MESSAGE_RECEIVED` events: the statement
    /// checks that instead of recording deliveries for each message, which costs more to set up
    /// on every run.
    pub no_message_webhooks: bool,
}

impl Assumed<'_> {
    fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.inboxes.is_empty() && self.tenants.is_empty()
    }
}

/// The cap on each inbox's messages, which the insert checks the bounds of the inboxes it stores
/// in against ([`BOUNDS_CHECKED`]).
#[derive(Debug, Clone, Copy)]
pub struct Capped<'a> {
    /// `--max-messages-per-inbox`.
    pub keep: i32,
    /// The inboxes the batch trims to it after the insert ([`keep_newest`]), which sets their
    /// bounds.
    pub trimmed: &'a [Uuid],
}

/// What [`insert_all`] stored.
#[derive(Debug, Default)]
pub struct Inserted {
    /// Each stored message's `(id, seq)`.
    pub messages: Vec<(Uuid, i64)>,
    /// How many webhook deliveries of their `MESSAGE_RECEIVED` events it recorded.
    pub webhook_deliveries: i64,
}

/// [`insert_all`]'s statement, with only the parts a batch needs: the insert of new catch-all
/// inboxes and its counting if it makes any; the attachments' insert if it has attachments; the
/// webhook deliveries' insert, or else the check that there is no webhook to record them for;
/// the shared raw sources' insert if a mail has several messages in one bucket; the bounds'
/// update and check if a message goes to an inbox that existed. Each of the thirty-two is
/// prepared on its own: a part left out is not set up on every run, even to change nothing
/// (`docs/performance.md`).
fn insert_all_sql(
    fresh_inboxes: bool,
    attachments: bool,
    message_webhooks: bool,
    shared_sources: bool,
    existing_inboxes: bool,
) -> &'static str {
    static VARIANTS: LazyLock<Vec<String>> = LazyLock::new(|| {
        (0..32_u8)
            .map(|shape| {
                let (check, hooked, deliveries) = if shape & 1 != 0 {
                    ("", HOOKED, "(SELECT count(*) FROM hooked)")
                } else {
                    (NO_MESSAGE_WEBHOOKS, "", "0::int8")
                };
                let attached = if shape & 2 != 0 { ATTACHED } else { "" };
                let shared = if shape & 8 != 0 { SHARED_SOURCES } else { "" };
                let (tallied, bounds_checked) = if shape & 16 != 0 {
                    (TALLIED, BOUNDS_CHECKED)
                } else {
                    ("", "")
                };
                let (made, made_counted, made_checked) = if shape & 4 != 0 {
                    (MADE, MADE_COUNTED, MADE_CHECKED)
                } else {
                    ("", "", "")
                };
                // Driven by the lock's row, so that it and the checks are run even with no
                // rows to insert (mails too large for a tenant that makes inboxes here).
                format!(
                    "{HEAD}{check} AS holds){made}{COUNTED}{made_counted}{COUNTED_WHERE}\
                     {made_checked}{IN_COMMIT_ORDER}{tallied}{shared}{attached}{hooked}
 SELECT s.id, s.seq, {deliveries} AS webhook_deliveries
 FROM in_commit_order LEFT JOIN stored s ON true{bounds_checked}"
                )
            })
            .collect()
    });
    let shape = usize::from(existing_inboxes) << 4
        | usize::from(shared_sources) << 3
        | usize::from(fresh_inboxes) << 2
        | usize::from(attachments) << 1
        | usize::from(message_webhooks);
    &VARIANTS[shape]
}

/// The checks of what a batch assumed, up to where [`NO_MESSAGE_WEBHOOKS`] may add its own.
const HEAD: &str = "WITH held AS MATERIALIZED (
     SELECT (SELECT count(*) FROM unnest($38::uuid[], $39::timestamptz[])
               AS r(id, purge_at)
             CROSS JOIN LATERAL (
                 SELECT 1 FROM inboxes i
                 WHERE i.id = r.id AND i.purge_at = r.purge_at AND i.expires_at > $40
                 FOR KEY SHARE) live) = cardinality($38)
        AND (SELECT count(*)
             FROM unnest($41::uuid[], $42::int4[], $43::int8[], $44::int4[])
               AS r(id, mails_per_day, stored_bytes, message_size)
             JOIN tenants t ON t.id = r.id
             WHERE t.max_mails_per_day IS NOT DISTINCT FROM r.mails_per_day
               AND t.max_stored_bytes IS NOT DISTINCT FROM r.stored_bytes
               AND t.max_message_size IS NOT DISTINCT FROM r.message_size)
            = cardinality($41)";

/// That no tenant counted here has a webhook for `MESSAGE_RECEIVED` events, assumed instead of
/// recording their deliveries: a webhook made since it was read fails the check.
const NO_MESSAGE_WEBHOOKS: &str = concat!(
    "
        AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = ANY($2) AND ",
    webhook_sends!("MESSAGE_RECEIVED"),
    ")"
);

/// The new catch-all inboxes.
const MADE: &str = concat!(
    ",
 made AS (
     INSERT INTO inboxes (id, tenant_id, local_part, domain, created_at, expires_at,
         tags, purge_at, created_by_mail, message_bound)
     SELECT id, tenant_id, local_part, domain, $40, expires_at, '{}', purge_at, true,
         (SELECT count(*) FROM unnest($11::uuid[]) AS m(inbox_id) WHERE m.inbox_id = t.id)
     FROM unnest($45::uuid[], $46::uuid[], $47::text[], $48::text[],
         $49::timestamptz[], $50::timestamptz[])
       AS t(id, tenant_id, local_part, domain, expires_at, purge_at)
     WHERE ",
    under_catch_all_cap!("$40", "$51"),
    "
     ON CONFLICT DO NOTHING
     RETURNING tenant_id)"
);

/// The counters, up to where [`MADE_COUNTED`] counts the new inboxes. A tenant that only makes
/// inboxes here (its mails too large for it) counts no mails, whatever its usage.
const COUNTED: &str = ",
 counted AS MATERIALIZED (
     UPDATE tenant_usage u
     SET mails_today = CASE WHEN u.mail_day = $1 THEN u.mails_today + q.mails
                            ELSE q.mails END,
         mail_day = $1,
         stored_bytes = u.stored_bytes + q.bytes";

const MADE_COUNTED: &str = ",
         mail_inboxes = u.mail_inboxes
             + (SELECT count(*) FROM made WHERE made.tenant_id = u.tenant_id)";

/// The rest of the counters, and the commit-order lock's checks up to where [`MADE_CHECKED`]
/// checks the new inboxes.
const COUNTED_WHERE: &str = "
     FROM unnest($2::uuid[], $3::int4[], $4::int8[], $5::int4[], $6::int8[])
       AS q(tenant_id, mails, bytes, mails_per_day, stored_bytes)
     WHERE u.tenant_id = q.tenant_id
       AND (q.mails = 0
            OR CASE WHEN u.mail_day = $1 THEN u.mails_today ELSE 0 END + q.mails
                   <= q.mails_per_day
               AND u.stored_bytes + q.bytes <= q.stored_bytes)
     RETURNING u.tenant_id),
 in_commit_order AS MATERIALIZED (
     SELECT pg_advisory_xact_lock($7), c.tenants
     FROM (SELECT count(*) AS n, array_agg(tenant_id) AS tenants FROM counted) c
     WHERE CASE WHEN (SELECT holds FROM held)";

/// That every new inbox was made (each address free, its tenant under the cap).
const MADE_CHECKED: &str = "
                  AND (SELECT count(*) FROM made) = cardinality($45)";

/// The rest of the lock's checks, then the messages (with their raw sources, unless shared).
// The lock is taken once every counters row is (it reads all of `counted`), and the messages'
// rows come out of a join with it, so their `seq` (a default of the insert, computed per row)
// is drawn only once the lock is held. The join's condition needs the lock's row, so the lock
// (and the quota check) is read whatever the join order.
const IN_COMMIT_ORDER: &str = "
                THEN true ELSE raise_remembered_changed() END
       AND CASE WHEN c.n = $8 OR NOT $9 THEN true ELSE raise_quota_exceeded() END),
 stored AS (
     INSERT INTO messages (id, inbox_id, tenant_id, received_at, mail_from, rcpt_to,
         from_addr, from_text, to_text, subject, size, raw_sha256, raw, tags,
         has_attachments, purge_at)
     SELECT id, inbox_id, tenant_id, received_at, mail_from, rcpt_to::text[], from_addr,
         from_text, to_text, subject, size, raw_sha256, raw, tags::text[], has_attachments,
         purge_at
     FROM in_commit_order, unnest($10::uuid[], $11::uuid[], $12::uuid[],
         $13::timestamptz[], $14::text[], $15::text[], $16::jsonb[], $17::text[],
         $18::text[], $19::text[], $20::int4[], $21::bytea[], $22::bytea[], $23::text[],
         $24::bool[], $25::timestamptz[])
       AS t(id, inbox_id, tenant_id, received_at, mail_from, rcpt_to, from_addr, from_text,
         to_text, subject, size, raw_sha256, raw, tags, has_attachments, purge_at)
     WHERE t.tenant_id = ANY(in_commit_order.tenants)
     RETURNING id, seq, inbox_id, tenant_id, received_at, raw_sha256, purge_at)";

/// The stored messages added to their inboxes' bounds, but for the inboxes the batch trims
/// after it (`$53`, [`keep_newest`] sets their bounds) and those [`MADE`] made (not seen here,
/// they have their copies from it). Run under the commit-order lock, so that writers add in
/// turn.
const TALLIED: &str = ",
 tallied AS (
     UPDATE inboxes i SET message_bound = i.message_bound + s.n
     FROM (SELECT inbox_id, count(*)::int4 AS n FROM stored GROUP BY inbox_id) s
     WHERE i.id = s.inbox_id AND i.id = ANY($11::uuid[]) AND NOT i.id = ANY($53::uuid[])
     RETURNING i.id, i.message_bound)";

/// That no inbox it added to is past the cap (`$52`): otherwise another process stored in one
/// since the writer last knew its bound, and the batch is run again with the bounds read.
const BOUNDS_CHECKED: &str = "
 WHERE CASE WHEN NOT EXISTS (SELECT 1 FROM tallied WHERE message_bound > $52)
       THEN true ELSE raise_remembered_changed() END";

/// The raw sources of the mails with several messages in one bucket, shared by them.
const SHARED_SOURCES: &str = ",
 sources AS (
     INSERT INTO raw_sources (sha256, encoding, content, purge_at)
     SELECT sha256, 'zstd', content, purge_at
     FROM unnest($26::bytea[], $27::bytea[], $28::timestamptz[])
       AS t(sha256, content, purge_at)
     WHERE (sha256, purge_at) IN (SELECT raw_sha256, purge_at FROM stored)
     -- Locks a raw source it shares until commit, without writing it: a delete of
     -- another copy's message waits for this one (see migration 2026-12-04-100001).
     ON CONFLICT (sha256, purge_at) DO UPDATE SET sha256 = EXCLUDED.sha256 WHERE false)";

const ATTACHED: &str = ",
 attached AS (
     INSERT INTO attachments (id, message_id, position, filename, content_type,
         content_id, inline, size, purge_at)
     SELECT * FROM unnest($29::uuid[], $30::uuid[], $31::int4[], $32::text[],
         $33::text[], $34::text[], $35::bool[], $36::int4[], $37::timestamptz[])
       AS t(id, message_id, position, filename, content_type, content_id, inline, size,
         purge_at)
     WHERE message_id IN (SELECT id FROM stored))";

const HOOKED: &str = concat!(
    ",
 hooked AS (
     INSERT INTO webhook_deliveries (id, webhook_id, event, inbox_id, message_id,
         created_at, next_attempt_at)
     SELECT gen_random_uuid(), w.id, 'MESSAGE_RECEIVED', s.inbox_id, s.id,
         s.received_at, s.received_at
     FROM stored s JOIN webhooks w ON w.tenant_id = s.tenant_id
     WHERE (w.inbox_id IS NULL OR w.inbox_id = s.inbox_id) AND ",
    webhook_sends!("MESSAGE_RECEIVED"),
    "
     RETURNING 1)"
);

/// Counts the mails against their tenants' quotas and inserts the messages of the tenants that
/// have room for theirs, with their raw sources (`sources`: those shared by several of `rows`)
/// and attachments, in one prepared statement
/// whatever their number (the rows go in as one array per column), with a delivery of its
/// `MESSAGE_RECEIVED` event per matching webhook (the transactional outbox of
/// [`super::webhook`]). A raw source already stored in its bucket is kept. With
/// `all_or_nothing`, a tenant without room fails the statement ([`exceeded`]). The same
/// statement makes the `assumed` new catch-all inboxes, counting them on their tenants'
/// counters, and checks the rest of what was `assumed`: one statement for a batch stored from
/// memory, where three cost a tenth more of PostgreSQL's time (`docs/performance.md`).
///
/// The messages are inserted after taking the commit-order lock, which orders this
/// transaction's message inserts after every other transaction's, across all processes on the
/// database, until commit. With it, `seq` order is commit order, so a reader that has seen
/// `seq = n` has seen every message with a smaller `seq`: cursors never skip a message
/// committed late. Every writer locks its tenants' counters rows first, then takes that lock.
pub async fn insert_all(
    mut conn: &AsyncPgConnection,
    counting: &Counting,
    sources: &mut [NewRawSource<'_>],
    rows: &[NewMessage<'_>],
    attachments: &[NewAttachment<'_>],
    assumed: &Assumed<'_>,
    capped: Capped<'_>,
) -> QueryResult<Inserted> {
    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = Nullable<SqlUuid>)]
        id: Option<Uuid>,
        #[diesel(sql_type = Nullable<BigInt>)]
        seq: Option<i64>,
        #[diesel(sql_type = BigInt)]
        webhook_deliveries: i64,
    }
    // Arbitrary constant naming "message insert order" among advisory locks.
    const MESSAGE_ORDER_LOCK: i64 = 0x6570_6865_6d61_696c;
    if rows.is_empty() && assumed.is_empty() {
        return Ok(Inserted::default());
    }
    // The order in which every writer and the delete trigger (migration
    // `deletes_pruned_to_their_buckets`) lock raw sources, so that none of them can deadlock.
    sources.sort_unstable_by(|a, b| (a.purge_at, a.sha256).cmp(&(b.purge_at, b.sha256)));
    let tenants = &counting.tenants;
    let (fresh, tenants_held) = (assumed.fresh, &assumed.tenants);
    let sql = insert_all_sql(
        !fresh.is_empty(),
        !attachments.is_empty(),
        !assumed.no_message_webhooks,
        !sources.is_empty(),
        (rows.iter()).any(|row| !fresh.iter().any(|inbox| inbox.id == row.inbox_id)),
    );
    let stored: Vec<Stored> = Prepared::new(sql)
        .bind::<Date, _>(counting.now.date_naive())
        .bind::<Array<SqlUuid>, _>(column(tenants, |count| count.tenant_id))
        .bind::<Array<Integer>, _>(column(tenants, |count| count.mails))
        .bind::<Array<BigInt>, _>(column(tenants, |count| count.bytes))
        .bind::<Array<Integer>, _>(column(tenants, |count| count.limits.mails_per_day))
        .bind::<Array<BigInt>, _>(column(tenants, |count| count.limits.stored_bytes))
        .bind::<BigInt, _>(MESSAGE_ORDER_LOCK)
        .bind::<BigInt, _>(i64::try_from(tenants.len()).unwrap_or(i64::MAX))
        .bind::<Bool, _>(counting.all_or_nothing)
        .bind::<Array<SqlUuid>, _>(column(rows, |r| r.id))
        .bind::<Array<SqlUuid>, _>(column(rows, |r| r.inbox_id))
        .bind::<Array<SqlUuid>, _>(column(rows, |r| r.tenant_id))
        .bind::<Array<Timestamptz>, _>(column(rows, |r| r.received_at))
        .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.mail_from))
        .bind::<Array<Text>, _>(column(rows, |r| text_array(r.rcpt_to)))
        .bind::<Array<Jsonb>, _>(column(rows, |r| r.from_addr))
        .bind::<Array<Text>, _>(column(rows, |r| r.from_text))
        .bind::<Array<Text>, _>(column(rows, |r| r.to_text))
        .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.subject))
        .bind::<Array<Integer>, _>(column(rows, |r| r.size))
        .bind::<Array<Nullable<Bytea>>, _>(column(rows, |r| r.raw.shared()))
        .bind::<Array<Nullable<Bytea>>, _>(column(rows, |r| r.raw.inline()))
        .bind::<Array<Text>, _>(column(rows, |r| text_array(r.tags)))
        .bind::<Array<Bool>, _>(column(rows, |r| r.has_attachments))
        .bind::<Array<Timestamptz>, _>(column(rows, |r| r.purge_at))
        .bind::<Array<Bytea>, _>(column(sources, |source| source.sha256))
        .bind::<Array<Bytea>, _>(column(sources, |source| source.zstd))
        .bind::<Array<Timestamptz>, _>(column(sources, |source| source.purge_at))
        .bind::<Array<SqlUuid>, _>(column(attachments, |a| a.id))
        .bind::<Array<SqlUuid>, _>(column(attachments, |a| a.message_id))
        .bind::<Array<Integer>, _>(column(attachments, |a| a.position))
        .bind::<Array<Nullable<Text>>, _>(column(attachments, |a| a.filename))
        .bind::<Array<Text>, _>(column(attachments, |a| a.content_type))
        .bind::<Array<Nullable<Text>>, _>(column(attachments, |a| a.content_id))
        .bind::<Array<Bool>, _>(column(attachments, |a| a.inline))
        .bind::<Array<Integer>, _>(column(attachments, |a| a.size))
        .bind::<Array<Timestamptz>, _>(column(attachments, |a| a.purge_at))
        .bind::<Array<SqlUuid>, _>(column(&assumed.inboxes, |&(id, _)| id))
        .bind::<Array<Timestamptz>, _>(column(&assumed.inboxes, |&(_, purge_at)| purge_at))
        .bind::<Timestamptz, _>(counting.now)
        .bind::<Array<SqlUuid>, _>(column(tenants_held, |&(id, _)| id))
        .bind::<Array<Nullable<Integer>>, _>(column(tenants_held, |(_, l)| l.max_mails_per_day))
        .bind::<Array<Nullable<BigInt>>, _>(column(tenants_held, |(_, l)| l.max_stored_bytes))
        .bind::<Array<Nullable<Integer>>, _>(column(tenants_held, |(_, l)| l.max_message_size))
        .bind::<Array<SqlUuid>, _>(column(fresh, |inbox| inbox.id))
        .bind::<Array<SqlUuid>, _>(column(fresh, |inbox| inbox.tenant_id))
        .bind::<Array<Text>, _>(column(fresh, |inbox| inbox.local_part.as_str()))
        .bind::<Array<Text>, _>(column(fresh, |inbox| inbox.domain.as_str()))
        .bind::<Array<Timestamptz>, _>(column(fresh, |inbox| inbox.expires_at))
        .bind::<Array<Timestamptz>, _>(column(fresh, |inbox| inbox.purge_at))
        .bind::<Integer, _>(assumed.catch_all_cap)
        .bind::<Integer, _>(capped.keep)
        .bind::<Array<SqlUuid>, _>(capped.trimmed)
        .load(&mut conn)
        .await?;
    Ok(Inserted {
        webhook_deliveries: stored
            .as_slice()
            .first()
            .map_or(0, |row| row.webhook_deliveries),
        messages: (stored.into_iter())
            .filter_map(|row| Some((row.id?, row.seq?)))
            .collect(),
    })
}

/// Deletes the oldest messages of each of `inboxes`, all of the expiry bucket `purge_at`, past
/// the newest `keep`, and sets each one's bound to the messages it keeps, which it returns.
pub async fn keep_newest(
    mut conn: &AsyncPgConnection,
    purge_at: DateTime<Utc>,
    inboxes: &[Uuid],
    keep: i32,
) -> QueryResult<Vec<(Uuid, i32)>> {
    #[derive(QueryableByName)]
    struct Bound {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Integer)]
        message_bound: i32,
    }
    // Each inbox's cutoff first, by its index alone, then the deletion by the index too:
    // planned together, PostgreSQL chose a scan of the whole partition for a generic plan made
    // while the partition was new and small, and kept it as the partition grew. The bucket is a
    // parameter so that every part reads its partition alone (see `newest_seqs`); the deletion
    // also joins it from `cut`, without which its generic plan made a trim at the cap cost half
    // as much again (`bench/write-cost`, shape `trim-api` with `EXISTING=4`). An inbox with
    // a cutoff keeps `keep`; only one without (its bound was high) is counted, and only a bound
    // that changes is written: an inbox at the cap stays at it.
    let bounds: Vec<Bound> = Prepared::new(
        "WITH cut AS MATERIALIZED (
             SELECT t.inbox_id, $2::timestamptz AS purge_at,
                 (SELECT n.seq FROM messages n WHERE n.inbox_id = t.inbox_id AND n.purge_at = $2
                  ORDER BY n.seq DESC OFFSET $3 LIMIT 1) AS seq
             FROM unnest($1::uuid[]) AS t(inbox_id)),
         kept AS MATERIALIZED (
             SELECT cut.inbox_id, CASE WHEN cut.seq IS NOT NULL THEN $3 ELSE
                 (SELECT count(*)::int4 FROM messages n
                  WHERE n.inbox_id = cut.inbox_id AND n.purge_at = $2) END
                 AS bound
             FROM cut),
         trimmed AS (
             DELETE FROM messages m USING cut
             WHERE cut.seq IS NOT NULL AND m.inbox_id = cut.inbox_id
               AND m.purge_at = cut.purge_at AND m.purge_at = $2 AND m.seq <= cut.seq),
         bounded AS (
             UPDATE inboxes i SET message_bound = kept.bound FROM kept
             WHERE i.id = kept.inbox_id AND i.id = ANY($1::uuid[])
               AND i.message_bound <> kept.bound)
         SELECT inbox_id AS id, bound AS message_bound FROM kept",
    )
    .bind::<Array<SqlUuid>, _>(inboxes)
    .bind::<Timestamptz, _>(purge_at)
    .bind::<Integer, _>(keep)
    .load(&mut conn)
    .await?;
    Ok(bounds
        .into_iter()
        .map(|b| (b.id, b.message_bound))
        .collect())
}

/// The `seq`s of each inbox's newest messages: `(inbox, how many)` in, all of the expiry bucket
/// `purge_at`, `(inbox, seq)` out, newest first per inbox. Run after a batch's insert, in its
/// transaction and so under the commit-order lock: no message can be committed before one of
/// these unseen. The bucket is one parameter, not one per inbox, so that PostgreSQL sets up only
/// its partition: given per row, it would set up every bucket's for each statement.
pub async fn newest_seqs(
    mut conn: &AsyncPgConnection,
    purge_at: DateTime<Utc>,
    inboxes: &[(Uuid, i32)],
) -> QueryResult<Vec<(Uuid, i64)>> {
    #[derive(QueryableByName)]
    struct Newest {
        #[diesel(sql_type = SqlUuid)]
        inbox_id: Uuid,
        #[diesel(sql_type = BigInt)]
        seq: i64,
    }
    let newest: Vec<Newest> = Prepared::new(
        "SELECT i.inbox_id, m.seq
         FROM unnest($1::uuid[], $3::int4[]) AS i(inbox_id, n)
         CROSS JOIN LATERAL (
             SELECT seq FROM messages
             WHERE inbox_id = i.inbox_id AND purge_at = $2
             ORDER BY seq DESC LIMIT i.n) m",
    )
    .bind::<Array<SqlUuid>, _>(column(inboxes, |i| i.0))
    .bind::<Timestamptz, _>(purge_at)
    .bind::<Array<Integer>, _>(column(inboxes, |i| i.1))
    .load(&mut conn)
    .await?;
    Ok(newest.into_iter().map(|n| (n.inbox_id, n.seq)).collect())
}
