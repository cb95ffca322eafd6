//! From an accepted mail to stored messages: parse (large mails off the async reactor), then one
//! transaction for every recipient inbox, then wake the inboxes' listeners. The caller answers
//! `250` only after that transaction committed.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context;
use chrono::Duration;
use diesel_async::{
    pooled_connection::{deadpool::Object, PoolableConnection},
    AsyncPgConnection, SimpleAsyncConnection,
};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{
    app::App,
    db::models::{
        attachment::NewAttachment,
        domain::{self, Domain, DomainMode},
        inbox::{self, AddressPairs, Inbox},
        message::{self, NewMessage},
        raw_source::{self, NewRawSource},
        tenant, Viewer,
    },
    db::prepared,
    events::{self, MessageStored},
    mail::{address::EmailAddress, parse},
    quota::{self, Counting, Limits, MailCount},
};

/// Whether a recipient can receive mail, decided at `RCPT TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientCheck {
    Accept,
    /// We do not serve the domain: never relay.
    DomainNotServed,
    /// A registered domain without a live inbox at that address.
    NoSuchInbox,
    /// The inbox's tenant is over its daily mail or storage quota.
    OverQuota,
}

/// An accepted `RCPT TO`: the address as sent, and the inbox it delivers to (plus-addressing:
/// `local+tag@domain` goes to `local@domain`, tagged `tag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: EmailAddress,
    pub inbox: EmailAddress,
    pub tag: Option<String>,
}

impl Recipient {
    pub fn new(address: EmailAddress) -> Self {
        let (inbox, tag) = address.clone().split_tag();
        Self {
            address,
            inbox,
            tag,
        }
    }
}

pub async fn check_recipient(app: &App, recipient: &Recipient) -> anyhow::Result<RecipientCheck> {
    let address = &recipient.inbox;
    let now = app.clock.now();
    let domain = match app.recipients.domain(address.domain.as_str()) {
        Some(domain) => domain,
        None => {
            let mut conn = app.pool.get().await?;
            let Some(domain) = domain::find(&mut conn, address.domain.as_str()).await? else {
                return Ok(RecipientCheck::DomainNotServed);
            };
            app.recipients.served(&domain);
            domain
        }
    };
    let tenant_id = match (domain.mode, domain.tenant_id) {
        (DomainMode::CatchAll, Some(owner)) => owner,
        _ => {
            let mut conn = app.pool.get().await?;
            let (local, domain) = (&address.local, &address.domain);
            match inbox::find_by_address(&mut conn, Viewer::System, local, domain, now).await? {
                Some(inbox) => inbox.tenant_id,
                None => return Ok(RecipientCheck::NoSuchInbox),
            }
        }
    };
    if app.recipients.has_room(tenant_id) {
        return Ok(RecipientCheck::Accept);
    }
    let mut conn = app.pool.get().await?;
    let limits = quota::limits_of(&mut conn, &app.config, tenant_id).await?;
    if quota::can_receive(&mut conn, tenant_id, &limits, now).await? {
        app.recipients.had_room(tenant_id);
        Ok(RecipientCheck::Accept)
    } else {
        Ok(RecipientCheck::OverQuota)
    }
}

/// One accepted mail: the envelope and the unescaped bytes.
#[derive(Debug)]
pub struct IncomingMail {
    /// `None` for the null reverse-path `<>`.
    pub mail_from: Option<String>,
    pub recipients: Vec<Recipient>,
    /// Our `Received:` header, then the client's bytes.
    pub raw: Vec<u8>,
    /// Length of that header: the message's size is what the client sent, as in `SIZE=`.
    pub trace_len: usize,
}

/// The envelope recipients that deliver to one inbox, and the tags they carry.
#[derive(Default)]
struct InboxDelivery {
    rcpt_to: Vec<String>,
    tags: Vec<String>,
}

/// What happened to one mail, per recipient inbox.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Ids of the stored messages.
    pub stored: Vec<Uuid>,
    /// Inboxes whose tenant allows smaller messages.
    pub too_large: usize,
    /// Inboxes whose tenant is over its daily mail or storage quota.
    pub over_quota: usize,
}

/// A mail ready to store: recipients grouped per inbox, parsed, with its derived columns.
struct PreparedMail {
    mail_from: Option<String>,
    deliveries: BTreeMap<String, (EmailAddress, InboxDelivery)>,
    parsed: parse::ParsedMail,
    from_addr: serde_json::Value,
    to_addr: serde_json::Value,
    cc_addr: serde_json::Value,
    from_text: String,
    to_text: String,
    size: i32,
    attachment_sizes: Vec<i32>,
    /// The raw source is stored once under it, however many inboxes the mail goes to.
    raw_sha256: [u8; 32],
    /// The raw source as stored.
    raw_zstd: Vec<u8>,
    content_limits: Vec<&'static str>,
}

impl PreparedMail {
    /// Groups the recipients per inbox and parses the mail (CPU work, see [`crate::mail::cpu_bound`]).
    fn prepare(mail: IncomingMail) -> anyhow::Result<Self> {
        let IncomingMail {
            mail_from,
            recipients,
            raw,
            trace_len,
        } = mail;
        let mut deliveries: BTreeMap<String, (EmailAddress, InboxDelivery)> = BTreeMap::new();
        for recipient in recipients {
            let (_, delivery) = deliveries
                .entry(recipient.inbox.to_string())
                .or_insert_with(|| (recipient.inbox.clone(), InboxDelivery::default()));
            let rcpt = recipient.address.to_string();
            if !delivery.rcpt_to.contains(&rcpt) {
                delivery.rcpt_to.push(rcpt);
            }
            if let Some(tag) = recipient.tag.filter(|tag| !delivery.tags.contains(tag)) {
                delivery.tags.push(tag);
            }
        }
        let parsed = parse::parse(&raw);
        Ok(Self {
            mail_from,
            deliveries,
            from_addr: serde_json::to_value(&parsed.from)?,
            to_addr: serde_json::to_value(&parsed.to)?,
            cc_addr: serde_json::to_value(&parsed.cc)?,
            from_text: join(&parsed.from),
            to_text: join(parsed.to.iter().chain(&parsed.cc)),
            size: i32::try_from(raw.len().saturating_sub(trace_len))
                .context("message over 2 GiB")?,
            attachment_sizes: parsed
                .attachments
                .iter()
                .map(|a| i32::try_from(a.content.len()))
                .collect::<Result<Vec<_>, _>>()
                .context("attachment over 2 GiB")?,
            raw_sha256: Sha256::digest(&raw).into(),
            raw_zstd: raw_source::compress(&raw).context("compressing the raw source")?,
            content_limits: parsed.limits.iter().map(|limit| limit.as_str()).collect(),
            parsed,
        })
    }
}

/// Stores the mail in every recipient inbox whose tenant has room for it, and returns once that
/// is committed. A recipient inbox deleted or expired between `RCPT TO` and the end of DATA is
/// skipped.
pub async fn deliver(app: &App, mail: IncomingMail) -> anyhow::Result<Delivery> {
    let prepared = crate::mail::cpu_bound(mail.raw.len(), || PreparedMail::prepare(mail)).await??;
    app.ingest.store(prepared).await
}

/// Group commit. Sessions hand their parsed mails to one writer task, which takes every mail
/// waiting (up to [`MAX_BATCH`]) and stores them in one transaction of a few statements, so
/// concurrent sessions share the statements, one commit and one disk flush instead of queueing
/// one mail at a time. Each session is still answered only after its own mail is committed.
/// One writer gives the largest batches: with several, each took fewer mails and the database
/// ran more statements per mail (measured in `docs/performance.md`), and inserts are serialized
/// by the commit-order lock anyway. Opening the next batch while one commits (on a second
/// connection, or in the same round trip) was measured too: smaller batches, more CPU per mail,
/// no gain.
pub struct IngestQueue {
    jobs: mpsc::Sender<Job>,
}

struct Job {
    mail: PreparedMail,
    done: oneshot::Sender<anyhow::Result<Delivery>>,
}

/// Mails per transaction at most; bounds the work lost to a failed batch and its latency.
const MAX_BATCH: usize = 64;

impl IngestQueue {
    /// Starts the writer. It holds the state weakly and stops once the last `App` is gone.
    pub fn start(app: &std::sync::Weak<crate::app::AppState>) -> Self {
        let (jobs, receiver) = mpsc::channel(2 * MAX_BATCH);
        tokio::spawn(write_batches(app.clone(), receiver));
        Self { jobs }
    }

    async fn store(&self, mail: PreparedMail) -> anyhow::Result<Delivery> {
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Job { mail, done })
            .await
            .map_err(|_| anyhow::anyhow!("the ingest writers have stopped"))?;
        outcome
            .await
            .context("the ingest writer dropped the mail")?
    }
}

async fn write_batches(app: std::sync::Weak<crate::app::AppState>, mut jobs: mpsc::Receiver<Job>) {
    let mut connection = WriterConnection::default();
    loop {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if jobs.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let Some(app) = app.upgrade() else { return };
        let app = App::from(app);
        let outcomes = match store_batch(&app, &mut connection, &batch).await {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            // Again one by one, so one mail the database refuses cannot fail the others.
            Err(_) if batch.len() > 1 => {
                let mut outcomes = Vec::with_capacity(batch.len());
                for job in &batch {
                    let alone = store_batch(&app, &mut connection, std::slice::from_ref(job)).await;
                    outcomes.push(alone.map(|mut outcome| outcome.remove(0)));
                }
                outcomes
            }
            Err(error) => vec![Err(error)],
        };
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            let delivery = outcome.map(|(delivery, events)| {
                for event in events {
                    app.events.publish(event);
                }
                delivery
            });
            let _ = job.done.send(delivery);
        }
    }
}

/// The writer's own connection, taken out of the pool for good: its session is set up once for
/// the writer's statements ([`plan_for_indexes`]), and no API request inherits that setup. A
/// broken one (the database restarted) is replaced before the next batch.
#[derive(Default)]
struct WriterConnection(Option<AsyncPgConnection>);

impl WriterConnection {
    async fn get(&mut self, app: &App) -> anyhow::Result<&AsyncPgConnection> {
        if let Some(mut conn) = self.0.take() {
            if !conn.is_broken() {
                return Ok(self.0.insert(conn));
            }
        }
        let mut conn = Object::take(app.pool.get().await?);
        plan_for_indexes(&mut conn).await?;
        Ok(self.0.insert(conn))
    }

    /// Closes a connection left in an unknown state.
    fn discard(&mut self) {
        self.0 = None;
    }
}

/// A batch's live recipient inboxes, by address, which of them the batch created, the expired
/// inboxes it replaced at catch-all addresses, and the catch-all addresses whose tenant had no
/// room for another inbox made by mail.
struct BatchInboxes {
    by_address: HashMap<String, Inbox>,
    created: HashSet<Uuid>,
    replaced: Vec<Uuid>,
    over_catch_all_quota: HashSet<String>,
}

/// One inbox's copy of one mail of a batch.
struct Target<'b> {
    job: usize,
    inbox: &'b Inbox,
    delivery: &'b InboxDelivery,
    /// Of the inbox's tenant.
    limits: Limits,
}

/// Stores a batch in one transaction of two round trips whatever its size, each a pipeline of
/// statements: `BEGIN` with every inbox resolved (or created) and the tenants' limits; then the
/// mails counted against their tenants' quotas with every raw source, message and attachment
/// inserted (after the commit-order lock), the oldest messages of inboxes past
/// `--max-messages-per-inbox` deleted, and `COMMIT`. When a tenant's mails do not all fit, that
/// transaction rolls back and the batch is stored again one copy at a time.
async fn store_batch(
    app: &App,
    connection: &mut WriterConnection,
    batch: &[Job],
) -> anyhow::Result<Vec<(Delivery, Vec<MessageStored>)>> {
    let now = app.clock.now();
    let conn = connection.get(app).await?;
    // The partitions for the inboxes this batch may create, before its transaction: made inside
    // it, they would keep their locks until the batch commits.
    app.buckets
        .ensure(conn, [app.buckets.purge_at(now + catch_all_ttl(app))])
        .await?;
    let mut result = store_in_transaction(conn, app, batch, now, Admission::AllAtOnce).await;
    if matches!(&result, Err(error) if quota::exceeded(error)) {
        result = match prepared::rollback(conn).await {
            Ok(()) => store_in_transaction(conn, app, batch, now, Admission::OneByOne).await,
            Err(error) => Err(error),
        };
    }
    match result {
        Ok((stored, changed)) => {
            for id in changed.replaced {
                app.events.inbox_deleted(id);
            }
            app.events.addresses_created(&changed.created_at);
            Ok(stored)
        }
        Err(error) => {
            // The pipeline may have stopped before its COMMIT: a connection that cannot even
            // roll back is not used again.
            if prepared::rollback(conn).await.is_err() {
                connection.discard();
            }
            Err(error).context("storing the message")
        }
    }
}

/// How a batch's copies are counted against their tenants' quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// All of them by the statement that inserts them, pipelined with the commit: one round
    /// trip. A tenant without room for all of its copies aborts the transaction.
    AllAtOnce,
    /// One at a time, each with a round trip, so that the earliest copies that fit are stored.
    OneByOne,
}

/// The inboxes a committed batch replaced (expired ones at catch-all addresses) and the
/// [`events::address_key`]s of the addresses it created inboxes at: their listeners are told.
struct InboxesChanged {
    replaced: Vec<Uuid>,
    created_at: Vec<Uuid>,
}

async fn store_in_transaction(
    conn: &AsyncPgConnection,
    app: &App,
    batch: &[Job],
    now: chrono::DateTime<chrono::Utc>,
    admission: Admission,
) -> diesel::QueryResult<(Vec<(Delivery, Vec<MessageStored>)>, InboxesChanged)> {
    let (inboxes, limits) = resolve(conn, app, batch, now).await?;
    // The partitions of the inboxes' expiry buckets (made when the inbox was), checked once per
    // process and bucket: the inbox may come from another process.
    app.buckets
        .ensure(
            conn,
            inboxes.by_address.values().map(|inbox| inbox.purge_at),
        )
        .await?;
    let (mut outcomes, copies) = copies(app, batch, &inboxes, &limits);
    let (targets, mut stored) = match admission {
        Admission::AllAtOnce => (copies, Vec::new()),
        Admission::OneByOne => {
            let mut admitted = Vec::with_capacity(copies.len());
            let mut stored = Vec::with_capacity(copies.len());
            for target in copies {
                let alone = insert(conn, batch, std::slice::from_ref(&target), false, now).await?;
                if alone.is_empty() {
                    app.recipients.out_of_room(target.inbox.tenant_id);
                    outcomes[target.job].0.over_quota += 1;
                } else {
                    stored.extend(alone);
                    admitted.push(target);
                }
            }
            (admitted, stored)
        }
    };
    // The copies the pipeline below inserts: one by one, they are in already.
    let pending = match admission {
        Admission::AllAtOnce => targets.as_slice(),
        Admission::OneByOne => &[],
    };
    let overfull = possibly_overfull(&targets, &inboxes.created, app);
    let keep = i64::from(app.config.retention.max_messages_per_inbox);
    let mut stored_in: Vec<Uuid> = targets.iter().map(|target| target.inbox.id).collect();
    stored_in.sort_unstable();
    stored_in.dedup();
    let created_at: Vec<Uuid> = (inboxes.by_address.iter())
        .filter(|(_, inbox)| inboxes.created.contains(&inbox.id))
        .map(|(address, _)| events::address_key(address))
        .collect();
    let (inserted, (), (), ()) = futures::try_join!(
        insert(conn, batch, pending, true, now),
        async {
            if !overfull.is_empty() {
                message::keep_newest(conn, &overfull, keep).await?;
            }
            Ok(())
        },
        app.events.notify_others(
            conn,
            events::Changes {
                stored_in: &stored_in,
                created_at: &created_at,
                deleted: &inboxes.replaced,
                revoked: &[],
            }
        ),
        prepared::commit(conn),
    )?;
    stored.extend(inserted);
    for (job, id, event) in stored {
        outcomes[job].0.stored.push(id);
        outcomes[job].1.push(event);
    }
    let changed = InboxesChanged {
        replaced: inboxes.replaced,
        created_at,
    };
    Ok((outcomes, changed))
}

/// The inboxes this batch may have filled past `--max-messages-per-inbox`: all it delivered
/// to, except those it created with no more copies than the cap (most catch-all inboxes).
fn possibly_overfull(
    targets: &[Target<'_>],
    created: &HashSet<Uuid>,
    app: &App,
) -> Vec<(Uuid, chrono::DateTime<chrono::Utc>)> {
    let mut copies: BTreeMap<(Uuid, chrono::DateTime<chrono::Utc>), u32> = BTreeMap::new();
    for target in targets {
        *copies
            .entry((target.inbox.id, target.inbox.purge_at))
            .or_default() += 1;
    }
    let cap = app.config.retention.max_messages_per_inbox;
    copies
        .into_iter()
        .filter(|((id, _), copies)| !created.contains(id) || *copies > cap)
        .map(|(inbox, _)| inbox)
        .collect()
}

/// The lifetime of an inbox that mail to a catch-all domain creates.
fn catch_all_ttl(app: &App) -> Duration {
    Duration::seconds(i64::from(app.config.inbox.default_ttl))
}

/// Begins the batch's transaction, resolves (or on a catch-all domain creates) every recipient
/// inbox of the batch and reads the limits of their tenants, in one round trip. An address
/// without a live inbox (deleted or expired since `RCPT TO`) is left out.
async fn resolve(
    conn: &AsyncPgConnection,
    app: &App,
    batch: &[Job],
    now: chrono::DateTime<chrono::Utc>,
) -> diesel::QueryResult<(BatchInboxes, HashMap<Uuid, Limits>)> {
    let addresses: BTreeMap<&str, &EmailAddress> = batch
        .iter()
        .flat_map(|job| job.mail.deliveries.iter())
        .map(|(key, (address, _))| (key.as_str(), address))
        .collect();
    // Domains as `RCPT TO` saw them moments ago (see `recipients`): one removed since then
    // fails the inbox insert's foreign key, and the sender gets a temporary error.
    let mut domains: HashMap<String, Domain> = HashMap::new();
    let mut unknown: Vec<&str> = Vec::new();
    for name in addresses.values().map(|a| a.domain.as_str()) {
        match app.recipients.domain(name) {
            Some(domain) => drop(domains.insert(domain.name.clone(), domain)),
            None => unknown.push(name),
        }
    }
    unknown.sort_unstable();
    unknown.dedup();
    if !unknown.is_empty() {
        for domain in domain::find_all(conn, &unknown).await? {
            app.recipients.served(&domain);
            domains.insert(domain.name.clone(), domain);
        }
    }
    let (mut catch_all, mut registered) = (Vec::new(), Vec::new());
    for &address in addresses.values() {
        match domains.get(address.domain.as_str()) {
            // A catch-all domain's inboxes belong to the domain's tenant.
            Some(Domain {
                mode: DomainMode::CatchAll,
                tenant_id: Some(owner),
                ..
            }) => catch_all.push((address, *owner)),
            Some(Domain {
                mode: DomainMode::Registered,
                ..
            }) => registered.push(address),
            _ => {}
        }
    }
    let owners: Vec<Uuid> = catch_all.iter().map(|&(_, owner)| owner).collect();
    let registered_addresses = AddressPairs::of(registered);
    let ((), (mut found, replaced), registered, tenants) = futures::try_join!(
        prepared::begin(conn),
        inbox::find_or_create_all(
            conn,
            &catch_all,
            now,
            catch_all_ttl(app),
            &app.buckets,
            app.config.quota.quota_catch_all_inboxes,
        ),
        inbox::find_all_by_address(conn, &registered_addresses, now),
        tenant::find_all_receiving(conn, &owners, &registered_addresses),
    )?;
    let limits = tenants
        .into_iter()
        .map(|tenant| (tenant.id, Limits::resolve(&app.config, &tenant.limits)))
        .collect();
    found.extend(registered.into_iter().map(|inbox| (inbox, false)));
    let created = found
        .iter()
        .filter(|(_, created)| *created)
        .map(|(inbox, _)| inbox.id)
        .collect();
    let by_address: HashMap<String, Inbox> = found
        .into_iter()
        .map(|(inbox, _)| (inbox.address(), inbox))
        .collect();
    let over_catch_all_quota = catch_all
        .iter()
        .map(|(address, _)| address.to_string())
        .filter(|address| !by_address.contains_key(address))
        .collect();
    let inboxes = BatchInboxes {
        by_address,
        created,
        replaced,
        over_catch_all_quota,
    };
    Ok((inboxes, limits))
}

/// The writer's statements are prepared once per connection and designed for generic plans:
/// arrays in, one index lookup per row. PostgreSQL would plan some of them again for every batch
/// (their arrays' lengths make a custom plan look cheaper), and a generic plan made while a table
/// or a new partition was nearly empty would scan it whole, slower as it grows, until autoanalyze
/// replans it. So, for the writer's session: generic plans always, built without sequential or
/// bitmap scans, and no JIT (it would compile any plan that still has to scan).
async fn plan_for_indexes(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    conn.batch_execute(
        "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off;
         SET enable_bitmapscan = off; SET jit = off",
    )
    .await
}

/// The copies of the batch's mails to store, in batch order: one per live recipient inbox whose
/// tenant allows the mail's size, with the tenant's limits. Also returns each mail's outcome so
/// far, with the copies too large for their tenants counted.
fn copies<'b>(
    app: &App,
    batch: &'b [Job],
    inboxes: &'b BatchInboxes,
    limits: &HashMap<Uuid, Limits>,
) -> (Vec<(Delivery, Vec<MessageStored>)>, Vec<Target<'b>>) {
    let mut outcomes: Vec<(Delivery, Vec<MessageStored>)> =
        batch.iter().map(|_| Default::default()).collect();
    let mut copies = Vec::new();
    for (job, Job { mail, .. }) in batch.iter().enumerate() {
        for (key, (_, delivery)) in &mail.deliveries {
            let Some(inbox) = inboxes.by_address.get(key) else {
                // A temporary refusal: the tenant's catch-all inboxes expire and make room.
                if inboxes.over_catch_all_quota.contains(key) {
                    outcomes[job].0.over_quota += 1;
                }
                continue;
            };
            // A tenant deleted since its inbox was read has no limits, and no counters row
            // either: its copies are not counted, so not stored (over quota, a temporary
            // refusal), whatever limits are used here.
            let limits = limits
                .get(&inbox.tenant_id)
                .copied()
                .unwrap_or_else(|| Limits::resolve(&app.config, &tenant::TenantLimits::default()));
            if i64::from(mail.size) > limits.max_message_size {
                outcomes[job].0.too_large += 1;
                continue;
            }
            copies.push(Target {
                job,
                inbox,
                delivery,
                limits,
            });
        }
    }
    (outcomes, copies)
}

/// Counts the copies against their tenants' quotas and inserts those whose tenants have room
/// for theirs (all of them, or an error, when `all_or_nothing`), with their raw sources and
/// attachments, in one statement; returns per stored copy its mail's index in the batch, the new
/// message's id and its event.
async fn insert(
    conn: &AsyncPgConnection,
    batch: &[Job],
    targets: &[Target<'_>],
    all_or_nothing: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> diesel::QueryResult<Vec<(usize, Uuid, MessageStored)>> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let mut per_tenant: HashMap<Uuid, MailCount> = HashMap::new();
    for target in targets {
        let tenant_id = target.inbox.tenant_id;
        let count = per_tenant.entry(tenant_id).or_insert(MailCount {
            tenant_id,
            mails: 0,
            bytes: 0,
            limits: target.limits,
        });
        count.mails += 1;
        count.bytes += i64::from(batch[target.job].mail.size);
    }
    let counting = Counting::new(per_tenant.into_values(), now, all_or_nothing);
    let ids: Vec<Uuid> = targets.iter().map(|_| Uuid::new_v4()).collect();
    let to_texts: Vec<String> = targets
        .iter()
        .map(|t| {
            format!(
                "{}, {}",
                batch[t.job].mail.to_text,
                t.delivery.rcpt_to.join(", ")
            )
        })
        .collect();
    let rows: Vec<NewMessage<'_>> = targets
        .iter()
        .zip(&ids)
        .zip(&to_texts)
        .map(|((target, &id), to_text)| {
            let mail = &batch[target.job].mail;
            let parsed = &mail.parsed;
            NewMessage {
                id,
                inbox_id: target.inbox.id,
                tenant_id: target.inbox.tenant_id,
                received_at: now,
                mail_from: mail.mail_from.as_deref(),
                // Each inbox sees only its own envelope recipients, never the others (Bcc).
                rcpt_to: &target.delivery.rcpt_to,
                from_addr: &mail.from_addr,
                to_addr: &mail.to_addr,
                cc_addr: &mail.cc_addr,
                from_text: &mail.from_text,
                to_text,
                subject: parsed.subject.as_deref(),
                sent_at: parsed.sent_at,
                message_id: parsed.message_id.as_deref(),
                in_reply_to: parsed.in_reply_to.as_deref(),
                text_body: parsed.text.as_deref(),
                html_body: parsed.html.as_deref(),
                size: mail.size,
                raw_sha256: &mail.raw_sha256,
                parse_error: parsed.parse_error.as_deref(),
                tags: &target.delivery.tags,
                has_attachments: !parsed.attachments.is_empty(),
                content_limits: &mail.content_limits,
                purge_at: target.inbox.purge_at,
            }
        })
        .collect();
    // Each mail's raw source once per expiry bucket, however many inboxes it went to.
    let mut copies: Vec<(usize, chrono::DateTime<chrono::Utc>)> = targets
        .iter()
        .map(|target| (target.job, target.inbox.purge_at))
        .collect();
    copies.sort_unstable();
    copies.dedup();
    let mut sources: Vec<NewRawSource<'_>> = copies
        .into_iter()
        .map(|(job, purge_at)| NewRawSource {
            sha256: &batch[job].mail.raw_sha256,
            zstd: &batch[job].mail.raw_zstd,
            purge_at,
        })
        .collect();
    let attachments: Vec<NewAttachment<'_>> = targets
        .iter()
        .zip(&ids)
        .flat_map(|(target, &message_id)| {
            let mail = &batch[target.job].mail;
            let purge_at = target.inbox.purge_at;
            mail.parsed
                .attachments
                .iter()
                .zip(&mail.attachment_sizes)
                .zip(0..)
                .map(move |((a, &size), position)| NewAttachment {
                    id: Uuid::new_v4(),
                    message_id,
                    position,
                    filename: a.filename.as_deref(),
                    content_type: &a.content_type,
                    content_id: a.content_id.as_deref(),
                    inline: a.inline,
                    size,
                    purge_at,
                })
        })
        .collect();
    let stored = message::insert_all(conn, &counting, &mut sources, &rows, &attachments).await?;
    let seqs: HashMap<Uuid, i64> = stored.into_iter().collect();
    // The copies of tenants without room are missing.
    Ok(targets
        .iter()
        .zip(ids)
        .filter_map(|(target, id)| {
            let seq = *seqs.get(&id)?;
            let inbox_id = target.inbox.id;
            Some((target.job, id, MessageStored { inbox_id, seq }))
        })
        .collect())
}

fn join<'a>(mailboxes: impl IntoIterator<Item = &'a parse::Mailbox>) -> String {
    mailboxes
        .into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
