//! Group commit. Sessions hand their prepared mails to one writer task, which takes every mail
//! waiting, and those about to be ([`queue::next_batch`]), and stores them in one transaction of
//! a few statements, so concurrent sessions share the statements, one commit and one disk flush
//! instead of queueing one mail at a time. Each session is still answered only after its own mail is committed.
//! One writer gives the largest batches: with several, each took fewer mails and the database
//! ran more statements per mail (measured in `docs/performance.md`), and inserts are serialized
//! by the commit-order lock anyway. Opening the next batch while one commits (on a second
//! connection, or in the same round trip) was measured too: smaller batches, more CPU per mail,
//! no gain.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use diesel_async::{
    pooled_connection::{deadpool::Object, PoolableConnection},
    AsyncPgConnection, SimpleAsyncConnection,
};
use futures::future::try_join_all;
use tokio::sync::mpsc;
use tracing::{field, Instrument};
use uuid::Uuid;

use ephemail_mail::address::EmailAddress;

use super::{
    batch::{statement, BatchInboxes},
    cap::{self, Trim},
    envelope::Delivery,
    handles::Handles,
    listened::Listened,
    metrics::Recalled,
    prepare::InboxDelivery,
    queue::{self, Job},
    remembered::FromMemory,
};
use crate::{
    events::{self, MessageStored},
    ids,
    models::{
        attachment::NewAttachment,
        domain::{self, Domain, DomainMode},
        inbox::{self, AddressPairs, Inbox},
        message_insert::{self, Assumed, Capped, Counting, MailCount, NewMessage, RawCopy},
        quota::{self, Limits, QuotaKind},
        raw_source::{ContentSeed, NewRawSource},
        tenant::{self, Receiving},
    },
    prepared,
};

/// What became of one mail of a committed batch: the session's answer, the events to publish,
/// and the quotas of the copies refused.
#[derive(Default)]
struct Outcome {
    delivery: Delivery,
    events: Vec<MessageStored>,
    refused: Vec<QuotaKind>,
}

pub(super) async fn write_batches(handles: Arc<Handles>, mut jobs: mpsc::Receiver<Job>) {
    let mut connection = WriterConnection::default();
    while let Some(batch) = queue::next_batch(&mut jobs, &handles.arrivals).await {
        handles.metrics.taken(batch.len());
        handles.metrics.batch(batch.len());
        let span = tracing::info_span!(
            "ingest.batch",
            size = batch.len(),
            stored = field::Empty,
            duration_ms = field::Empty,
        );
        let started = Instant::now();
        let outcomes = write_batch(&handles, &mut connection, &batch)
            .instrument(span.clone())
            .await;
        let mut stored = 0;
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            let delivery = outcome.map(|outcome| {
                // Listeners about to read the message get what its content derives from.
                let listened = outcome.events.iter().any(|e| e.message.is_some());
                let content = listened
                    .then(|| Arc::new(ContentSeed::new(job.mail.parsed, job.mail.raw_zstd)));
                for mut event in outcome.events {
                    if event.message.is_some() {
                        event.content.clone_from(&content);
                    }
                    handles.events.publish(event);
                }
                for kind in outcome.refused {
                    handles.metrics.refused(kind);
                }
                outcome.delivery
            });
            stored += delivery
                .as_ref()
                .map_or(0, |delivery| delivery.stored.len());
            let _ = job.done.send(delivery);
        }
        handles.load.busy_for(started.elapsed());
        span.record("stored", stored);
        span.record("duration_ms", started.elapsed().as_secs_f64() * 1000.0);
        span.in_scope(|| tracing::debug!("ingest batch written"));
    }
}

/// Stores the batch in one transaction, or if that fails each mail in one of its own, so that
/// one mail the database refuses cannot fail the others.
async fn write_batch(
    handles: &Handles,
    connection: &mut WriterConnection,
    batch: &[Job],
) -> Vec<anyhow::Result<Outcome>> {
    match store_batch(handles, connection, batch).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(_) if batch.len() > 1 => {
            let mut outcomes = Vec::with_capacity(batch.len());
            for job in batch {
                let alone = std::slice::from_ref(job);
                let alone = store_batch(handles, connection, alone).await;
                outcomes.push(alone.map(|mut outcome| outcome.remove(0)));
            }
            outcomes
        }
        Err(error) => vec![Err(error)],
    }
}

/// The writer's own connection, taken out of the pool for good: its session is set up once for
/// the writer's statements ([`plan_for_indexes`]), and no API request inherits that setup. A
/// broken one (the database restarted) is replaced before the next batch.
#[derive(Default)]
struct WriterConnection(Option<AsyncPgConnection>);

impl WriterConnection {
    async fn get(&mut self, handles: &Handles) -> anyhow::Result<&AsyncPgConnection> {
        if let Some(mut conn) = self.0.take() {
            if !conn.is_broken() {
                return Ok(self.0.insert(conn));
            }
        }
        let mut conn = Object::take(handles.pool.get().await?);
        plan_for_indexes(&mut conn).await?;
        Ok(self.0.insert(conn))
    }

    /// Closes a connection left in an unknown state.
    fn discard(&mut self) {
        self.0 = None;
    }
}

/// What [`insert`] stored.
#[derive(Default)]
struct Inserted {
    /// Per stored copy: its mail's index in the batch, the new message's id and its event.
    stored: Vec<(usize, Uuid, MessageStored)>,
    /// Webhook deliveries recorded for them.
    webhook_deliveries: i64,
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
/// `--max-messages-per-inbox` deleted, and `COMMIT`. With the inboxes and limits remembered
/// from earlier batches, nothing is read first: the transaction is one round trip, whose
/// inserting statement also makes the new catch-all inboxes and checks what was remembered
/// ([`remembered`]; if that changed, the transaction rolls back and is run again with them
/// read).
/// When a tenant's mails do not all fit, the transaction rolls back and the batch is stored
/// again one copy at a time.
///
/// [`remembered`]: super::remembered
async fn store_batch(
    handles: &Handles,
    connection: &mut WriterConnection,
    batch: &[Job],
) -> anyhow::Result<Vec<Outcome>> {
    let now = handles.clock.now();
    let conn = connection.get(handles).await?;
    // The partitions for the inboxes this batch may create, before its transaction: made inside
    // it, they would keep their locks until the batch commits.
    handles
        .buckets
        .ensure(
            conn,
            [handles
                .buckets
                .purge_at(now + handles.settings.catch_all_ttl)],
        )
        .await?;
    let (recipients, buckets) = (&handles.recipients, &handles.buckets);
    let catch_all_ttl = handles.settings.catch_all_ttl;
    let recalled = (handles.remembered).recall(recipients, buckets, catch_all_ttl, batch, now);
    let mut from = match recalled {
        Some(_) => Recalled::memory,
        None => Recalled::database,
    };
    let all_at_once = QuotaCheck::AllAtOnce;
    let past_bound = Trim::PastBound;
    let mut result =
        store_in_transaction(conn, handles, batch, now, all_at_once, recalled, past_bound).await;
    // Again with the recipients read, and then trimming every inbox: the second can fail only if
    // another process passed a bound in the moment between reading it and this batch's insert.
    for trim in [Trim::PastBound, Trim::Every] {
        if !matches!(&result, Err(error) if message_insert::remembered_changed(error)) {
            break;
        }
        if from == Recalled::memory {
            handles.metrics.recipients_from(Recalled::changed_memory);
            handles.remembered.forget(batch);
        }
        from = Recalled::database;
        result = match statement("rollback", prepared::rollback(conn)).await {
            Ok(()) => {
                store_in_transaction(conn, handles, batch, now, all_at_once, None, trim).await
            }
            Err(error) => Err(error),
        };
    }
    if matches!(&result, Err(error) if message_insert::exceeded(error)) {
        from = Recalled::database;
        result = match statement("rollback", prepared::rollback(conn)).await {
            Ok(()) => {
                let one_by_one = QuotaCheck::OneByOne;
                let every = Trim::Every;
                store_in_transaction(conn, handles, batch, now, one_by_one, None, every).await
            }
            Err(error) => Err(error),
        };
    }
    match result {
        Ok((stored, changed)) => {
            handles.metrics.recipients_from(from);
            for id in changed.replaced {
                handles.events.inbox_deleted(id);
            }
            handles.events.inboxes_made(&changed.made);
            if changed.webhook_deliveries > 0 {
                handles.webhooks_due.notify_one();
            }
            Ok(stored)
        }
        Err(error) => {
            handles.remembered.forget(batch);
            // The pipeline may have stopped before its COMMIT: a connection that cannot even
            // roll back is not used again.
            if statement("rollback", prepared::rollback(conn))
                .await
                .is_err()
            {
                connection.discard();
            }
            Err(error).context("storing the message")
        }
    }
}

/// How a batch's copies are counted against their tenants' quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuotaCheck {
    /// All of them by the statement that inserts them, pipelined with the commit: one round
    /// trip. A tenant without room for all of its copies aborts the transaction.
    AllAtOnce,
    /// One at a time, each with a round trip, so that the earliest copies that fit are stored.
    OneByOne,
}

/// The inboxes a committed batch replaced (expired ones at catch-all addresses) and those it
/// made at addresses with listeners here (with the addresses' [`events::address_key`]s): their
/// listeners are told.
struct InboxesChanged {
    replaced: Vec<Uuid>,
    made: Vec<(Uuid, Arc<Inbox>)>,
    /// Webhook deliveries recorded of the stored messages.
    webhook_deliveries: i64,
}

/// Stores the batch in a transaction: the recipients as `recalled` from memory (only then is
/// the transaction begun in the same round trip as the rest), else read (in a round trip of
/// their own), with the inboxes `trim` says trimmed to the cap. Once committed, they are
/// remembered.
async fn store_in_transaction(
    conn: &AsyncPgConnection,
    handles: &Handles,
    batch: &[Job],
    now: chrono::DateTime<chrono::Utc>,
    quota_check: QuotaCheck,
    recalled: Option<FromMemory>,
    trim: Trim,
) -> diesel::QueryResult<(Vec<Outcome>, InboxesChanged)> {
    let read;
    let (inboxes, tenants) = match &recalled {
        Some(recalled) => (&recalled.inboxes, &recalled.tenants),
        None => {
            read = resolve(conn, handles, batch, now).await?;
            (&read.0, &read.1)
        }
    };
    let limits: HashMap<Uuid, Limits> = (tenants.iter())
        .map(|(&id, tenant)| {
            (
                id,
                Limits::resolve(&handles.settings.limits, &tenant.limits),
            )
        })
        .collect();
    // The partitions of the inboxes' expiry buckets (made when the inbox was), checked once per
    // process and bucket: the inbox may come from another process.
    handles
        .buckets
        .ensure(
            conn,
            inboxes.by_address.values().map(|inbox| inbox.purge_at),
        )
        .await?;
    let (mut outcomes, copies) = copies(handles, batch, inboxes, &limits);
    let per_inbox = cap::Copies::of(copies.iter().map(|copy| copy.inbox));
    let keep = i32::try_from(handles.settings.max_messages_per_inbox).unwrap_or(i32::MAX);
    let to_trim = per_inbox.to_trim(&inboxes.created, keep, trim);
    let trimmed: Vec<Uuid> = to_trim.values().flatten().copied().collect();
    let capped = Capped {
        keep,
        trimmed: &trimmed,
    };
    let listened = Listened::of(
        copies.iter().map(|c| (c.inbox.id, c.inbox.purge_at)),
        |inbox_id| handles.events.is_listened(inbox_id),
    );
    let mut webhook_deliveries = 0;
    let (targets, mut stored) = match quota_check {
        QuotaCheck::AllAtOnce => (copies, Vec::new()),
        QuotaCheck::OneByOne => {
            let mut admitted = Vec::with_capacity(copies.len());
            let mut stored = Vec::with_capacity(copies.len());
            for target in copies {
                let alone = std::slice::from_ref(&target);
                let quotas = Quotas::WhereRoom;
                let alone = insert(conn, batch, alone, &listened, quotas, capped, now).await?;
                webhook_deliveries += alone.webhook_deliveries;
                if alone.stored.is_empty() {
                    let tenant_id = target.inbox.tenant_id;
                    handles.recipients.out_of_room(tenant_id);
                    let outcome = &mut outcomes[target.job];
                    outcome.delivery.over_quota += 1;
                    let size = i64::from(batch[target.job].mail.size);
                    let exhausted = quota::exhausted(conn, tenant_id, &target.limits, size, now);
                    // None: the tenant was deleted meanwhile; its copies are not stored, but
                    // not for a quota.
                    outcome
                        .refused
                        .extend(statement("quota.exhausted", exhausted).await?);
                } else {
                    stored.extend(alone.stored);
                    admitted.push(target);
                }
            }
            (admitted, stored)
        }
    };
    // The copies the pipeline below inserts: one by one, they are in already.
    let pending = match quota_check {
        QuotaCheck::AllAtOnce => targets.as_slice(),
        QuotaCheck::OneByOne => &[],
    };
    let mut stored_in: Vec<Uuid> = targets.iter().map(|target| target.inbox.id).collect();
    stored_in.sort_unstable();
    stored_in.dedup();
    let created: Vec<(Uuid, &Inbox)> = (inboxes.by_address.iter())
        .filter(|(_, inbox)| inboxes.created.contains(&inbox.id))
        .map(|(address, inbox)| (events::address_key(address), inbox))
        .collect();
    let created_at: Vec<Uuid> = created.iter().map(|&(key, _)| key).collect();
    let assumed = (recalled.as_ref())
        .map(|recalled| recalled.assumed(handles.settings.catch_all_inboxes))
        .unwrap_or_default();
    let ((), inserted, trimmed, newest, (), ()) = futures::try_join!(
        async {
            match &recalled {
                Some(_) => statement("begin", prepared::begin(conn)).await,
                None => Ok(()),
            }
        },
        insert(
            conn,
            batch,
            pending,
            &listened,
            Quotas::AllOrNothing(&limits, &assumed),
            capped,
            now
        ),
        async {
            let trims = (to_trim.iter()).map(|(&purge_at, inboxes)| {
                message_insert::keep_newest(conn, purge_at, inboxes, keep)
            });
            let bounds = statement("message.keep_newest", try_join_all(trims)).await?;
            Ok(bounds.into_iter().flatten().collect::<Vec<_>>())
        },
        statement("message.newest_seqs", listened.newest(conn)),
        statement(
            "events.notify_others",
            handles.events.notify_others(
                conn,
                events::Changes {
                    stored_in: &stored_in,
                    created_at: &created_at,
                    deleted: &inboxes.replaced,
                    revoked: &[],
                }
            )
        ),
        statement("commit", prepared::commit(conn)),
    )?;
    stored.extend(inserted.stored);
    webhook_deliveries += inserted.webhook_deliveries;
    listened.link(newest, stored.iter_mut().map(|(_, _, event)| event));
    for (job, id, event) in stored {
        outcomes[job].delivery.stored.push(id);
        outcomes[job].events.push(event);
    }
    let made = (created.into_iter())
        .filter(|&(key, _)| handles.events.is_listened(key))
        .map(|(key, inbox)| (key, Arc::new(inbox.clone())))
        .collect();
    (handles.remembered).learn(inboxes, tenants, &per_inbox.bounds_after(trimmed));
    let changed = InboxesChanged {
        replaced: inboxes.replaced.clone(),
        made,
        webhook_deliveries,
    };
    Ok((outcomes, changed))
}

/// Begins the batch's transaction, resolves (or on a catch-all domain creates) every recipient
/// inbox of the batch and reads the limits of their tenants, in one round trip. An address
/// without a live inbox (deleted or expired since `RCPT TO`) is left out.
async fn resolve(
    conn: &AsyncPgConnection,
    handles: &Handles,
    batch: &[Job],
    now: chrono::DateTime<chrono::Utc>,
) -> diesel::QueryResult<(BatchInboxes, HashMap<Uuid, Receiving>)> {
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
        match handles.recipients.domain(name) {
            Some(domain) => drop(domains.insert(domain.name.clone(), domain)),
            None => unknown.push(name),
        }
    }
    unknown.sort_unstable();
    unknown.dedup();
    if !unknown.is_empty() {
        for domain in statement("domain.find_all", domain::find_all(conn, &unknown)).await? {
            handles.recipients.served(&domain);
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
        statement("begin", prepared::begin(conn)),
        statement(
            "inbox.find_or_create_all",
            inbox::find_or_create_all(
                conn,
                &catch_all,
                now,
                handles.settings.catch_all_ttl,
                &handles.buckets,
                handles.settings.catch_all_inboxes,
            )
        ),
        statement(
            "inbox.find_all_by_address",
            inbox::find_all_by_address(conn, &registered_addresses, now)
        ),
        statement(
            "tenant.find_all_receiving",
            tenant::find_all_receiving(conn, &owners, &registered_addresses)
        ),
    )?;
    let tenants = (tenants.into_iter())
        .map(|tenant| (tenant.id, tenant))
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
        .map(|&(address, owner)| (address.to_string(), owner))
        .filter(|(address, _)| !by_address.contains_key(address))
        .collect();
    let inboxes = BatchInboxes {
        by_address,
        created,
        replaced,
        over_catch_all_quota,
    };
    Ok((inboxes, tenants))
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
    handles: &Handles,
    batch: &'b [Job],
    inboxes: &'b BatchInboxes,
    limits: &HashMap<Uuid, Limits>,
) -> (Vec<Outcome>, Vec<Target<'b>>) {
    let mut outcomes: Vec<Outcome> = batch.iter().map(|_| Outcome::default()).collect();
    let mut copies = Vec::new();
    for (job, Job { mail, .. }) in batch.iter().enumerate() {
        for (key, (_, delivery)) in &mail.deliveries {
            let Some(inbox) = inboxes.by_address.get(key) else {
                // A temporary refusal: the tenant's catch-all inboxes expire and make room.
                if inboxes.over_catch_all_quota.contains_key(key) {
                    outcomes[job].delivery.over_quota += 1;
                    outcomes[job].refused.push(QuotaKind::CatchAllInboxes);
                }
                continue;
            };
            // A tenant deleted since its inbox was read has no limits, and no counters row
            // either: its copies are not counted, so not stored (over quota, a temporary
            // refusal), whatever limits are used here.
            let limits = limits.get(&inbox.tenant_id).copied().unwrap_or_else(|| {
                Limits::resolve(&handles.settings.limits, &tenant::TenantLimits::default())
            });
            if i64::from(mail.size) > limits.max_message_size {
                outcomes[job].delivery.too_large += 1;
                outcomes[job].refused.push(QuotaKind::MessageSize);
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

/// How [`insert`] counts its copies against their tenants' quotas.
enum Quotas<'a> {
    /// All of them, or the statement fails. With the tenants' limits (a tenant that only makes
    /// inboxes is counted too) and what a batch stored from memory assumed (nothing, for a
    /// batch read), which the statement makes and checks.
    AllOrNothing(&'a HashMap<Uuid, Limits>, &'a Assumed<'a>),
    /// Only those of the tenants with room are inserted.
    WhereRoom,
}

/// Counts the copies against their tenants' quotas and inserts those whose tenants have room
/// for theirs (see [`Quotas`]), with their raw sources and attachments and the webhook
/// deliveries of their events, in one statement ([`message_insert::insert_all`]).
async fn insert(
    conn: &AsyncPgConnection,
    batch: &[Job],
    targets: &[Target<'_>],
    listened: &Listened,
    quotas: Quotas<'_>,
    capped: Capped<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> diesel::QueryResult<Inserted> {
    let nothing_assumed = Assumed::default();
    let (all_or_nothing, assumed, makers) = match quotas {
        Quotas::AllOrNothing(limits, assumed) => (true, assumed, Some(limits)),
        Quotas::WhereRoom => (false, &nothing_assumed, None),
    };
    let mut per_tenant: HashMap<Uuid, MailCount> = HashMap::new();
    for (inbox, limits) in (assumed.fresh.iter()).filter_map(|inbox| {
        let limits = makers?.get(&inbox.tenant_id)?;
        Some((inbox, *limits))
    }) {
        per_tenant.entry(inbox.tenant_id).or_insert(MailCount {
            tenant_id: inbox.tenant_id,
            mails: 0,
            bytes: 0,
            limits,
        });
    }
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
    let ids: Vec<Uuid> = (targets.iter())
        .map(|target| ids::stored(now, target.inbox.purge_at))
        .collect();
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
    // Each mail's raw source once per expiry bucket: in its message's row, or shared by its
    // messages there when it went to several inboxes of the bucket.
    let mut copies: HashMap<(usize, chrono::DateTime<chrono::Utc>), usize> = HashMap::new();
    for target in targets {
        *copies
            .entry((target.job, target.inbox.purge_at))
            .or_default() += 1;
    }
    let shared_sha256 = |job: usize, purge_at| {
        let sha256 = batch[job].mail.raw_sha256.as_ref()?;
        (copies[&(job, purge_at)] > 1).then_some(sha256.as_slice())
    };
    let mut sources: Vec<NewRawSource<'_>> = copies
        .keys()
        .filter_map(|&(job, purge_at)| {
            Some(NewRawSource {
                sha256: shared_sha256(job, purge_at)?,
                zstd: &batch[job].mail.raw_zstd,
                purge_at,
            })
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
                from_text: &mail.from_text,
                to_text,
                subject: parsed.subject.as_deref(),
                size: mail.size,
                raw: shared_sha256(target.job, target.inbox.purge_at)
                    .map_or(RawCopy::Inline(&mail.raw_zstd), RawCopy::Shared),
                tags: &target.delivery.tags,
                has_attachments: !parsed.attachments.is_empty(),
                purge_at: target.inbox.purge_at,
            }
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
                    id: ids::stored(now, purge_at),
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
    let insert_all = message_insert::insert_all(
        conn,
        &counting,
        &mut sources,
        &rows,
        &attachments,
        assumed,
        capped,
    );
    let inserted = statement("message.insert_all", insert_all).await?;
    let seqs: HashMap<Uuid, i64> = inserted.messages.into_iter().collect();
    // The copies of tenants without room are missing.
    let stored = targets
        .iter()
        .zip(&rows)
        .filter_map(|(target, row)| {
            let seq = *seqs.get(&row.id)?;
            let inbox_id = target.inbox.id;
            let message = listened
                .contains(inbox_id)
                .then(|| Arc::new(row.stored(seq)));
            let event = MessageStored {
                inbox_id,
                seq,
                message,
                content: None,
                previous: None,
            };
            Some((target.job, row.id, event))
        })
        .collect();
    Ok(Inserted {
        stored,
        webhook_deliveries: inserted.webhook_deliveries,
    })
}
